"""Request and response models of the HTTP API (with Russian and English examples for the OpenAPI docs)."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

# ------------------------------------------------------------------------------------------------
# errors
# ------------------------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    loc: list[str | int] = Field(default_factory=list, description="where: e.g. ['body', 'documents', 3, 'text']")
    msg: str


class ErrorInfo(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. `not_found`, `validation_error`")
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """The one error shape of the API."""

    error: ErrorInfo

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"error": {"code": "not_found", "message": "no job 'c0ffee'", "details": []}},
        {"error": {"code": "validation_error", "message": "the request is not valid",
                   "details": [{"loc": ["body", "documents"], "msg": "Field required"}]}},
    ]})


ERROR_DESCRIPTIONS = {400: "Bad request (e.g. a body that is not valid JSON)", 401: "Missing or invalid API key",
                      403: "The key's role does not allow this", 404: "Not found (or not yours)",
                      405: "Method not allowed (see Allow)", 409: "Conflict with the resource's state",
                      413: "Payload too large", 415: "Unsupported media type", 422: "Validation error",
                      429: "Rate limit or budget exceeded (see Retry-After)", 503: "Not ready"}


def error_responses(*codes: int, json_route: bool = True) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entry for the given error statuses. ``json_route=False`` for routes whose
    success answer is not JSON (HTML, Markdown, files): errors are still ``application/json``."""
    if json_route:
        return {c: {"model": ErrorResponse, "description": ERROR_DESCRIPTIONS.get(c, "Error")} for c in codes}
    return {c: {"description": ERROR_DESCRIPTIONS.get(c, "Error"),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
            for c in codes}


#: a model spec: ``name`` or ``name@version`` (api.services.models.SPEC_RE)
SPEC_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}(@[A-Za-z0-9][A-Za-z0-9._+-]{0,49})?$"
#: an optional model spec: empty means the default model
OPTIONAL_SPEC_PATTERN = r"^([A-Za-z0-9][A-Za-z0-9._-]{0,99}(@[A-Za-z0-9][A-Za-z0-9._+-]{0,49})?)?$"


# ------------------------------------------------------------------------------------------------
# classification
# ------------------------------------------------------------------------------------------------
DOCUMENT_SCHEMA: dict[str, Any] = {
    "description": "a document object or a bare string; each item is validated on its own, so a bad item "
                   "(e.g. without `text`) is reported in `errors` and never fails the others",
    "anyOf": [
        {
            "type": "object",
            "title": "Document",
            "properties": {
                "id": {"anyOf": [{"type": "string"}, {"type": "integer"}],
                       "description": "your id (default: the position in the list)"},
                "text": {"type": "string", "description": "the comment (at most `max_chars_per_doc` characters)"},
                "lang": {"type": "string", "description": "language code (ru, en); detected when absent"},
            },
            "additionalProperties": True,
        },
        {"type": "string", "description": "a bare comment text"},
        {"description": "anything else: reported as an invalid document in `errors`"},
    ],
}

#: request items are validated one by one by the service, so that one bad item fails alone
DocumentItem = Annotated[Any, WithJsonSchema(DOCUMENT_SCHEMA)]


class ClassifyRequest(BaseModel):
    documents: list[DocumentItem] = Field(min_length=1, description="at most `max_docs_per_request` documents")
    model: str | None = Field(None, description="model `name` or `name@version`; default: the service's model",
                              examples=["cx-touchpoints"], json_schema_extra={"pattern": OPTIONAL_SPEC_PATTERN})

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"documents": [{"id": "a1", "text": "Менеджер отличный, но счета всегда приходят с ошибками."},
                       {"id": "a2", "text": "The engineer fixed the boiler on the first visit."}]},
    ]})


class Evidence(BaseModel):
    start: int
    end: int
    text: str


# label values are documented as enums but not enforced on output: a model that adds a value must not turn
# a whole response into a 500
class TouchpointLabel(BaseModel):
    touchpoint: str = Field(description="a touchpoint id of the taxonomy (GET /v1/taxonomy)")
    polarity: str = Field(json_schema_extra={"enum": ["positive", "negative", "neutral"]})
    confidence: float = Field(description="0..1")
    evidence: Evidence | None = Field(None, description="character span of the original text")


class Sentiment(BaseModel):
    label: str = Field(json_schema_extra={"enum": ["positive", "negative", "neutral", "mixed"]})
    scores: dict[str, float] = Field(default_factory=dict)


class ModelRef(BaseModel):
    name: str
    version: str


class Prediction(BaseModel):
    index: int = Field(description="position of the document in the request")
    id: str
    lang: str | None = None
    sentiment: Sentiment
    touchpoints: list[TouchpointLabel]
    model: ModelRef
    warnings: list[str] = Field(default_factory=list)


class ItemError(BaseModel):
    index: int
    id: str | None = None
    code: str = Field(description="invalid_document | text_too_long | empty_text | duplicate_id | prediction_failed")
    message: str
    loc: list[str | int] = Field(default_factory=list)


class Counts(BaseModel):
    received: int
    ok: int
    failed: int


class ClassifyResponse(BaseModel):
    model: ModelRef
    results: list[Prediction]
    errors: list[ItemError]
    counts: Counts

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "model": {"name": "cx-touchpoints", "version": "1"},
        "results": [{
            "index": 0, "id": "a1", "lang": "ru",
            "sentiment": {"label": "mixed", "scores": {"positive": 0.31, "negative": 0.42, "neutral": 0.05,
                                                       "mixed": 0.22}},
            "touchpoints": [
                {"touchpoint": "customer_service", "polarity": "positive", "confidence": 0.83,
                 "evidence": {"start": 0, "end": 17, "text": "Менеджер отличный"}},
                {"touchpoint": "billing", "polarity": "negative", "confidence": 0.9,
                 "evidence": {"start": 23, "end": 55, "text": "счета всегда приходят с ошибками"}}],
            "model": {"name": "cx-touchpoints", "version": "1"}, "warnings": []}],
        "errors": [{"index": 1, "id": "a2", "code": "text_too_long",
                    "message": "field 'text': text too long; expected at most 5120 characters, found '6000 characters'",
                    "loc": ["body", "documents", 1, "text"]}],
        "counts": {"received": 2, "ok": 1, "failed": 1},
    }]})


# ------------------------------------------------------------------------------------------------
# jobs
# ------------------------------------------------------------------------------------------------
class JobCreateJSON(BaseModel):
    documents: list[DocumentItem] = Field(min_length=1)
    model: str | None = Field(None, description="model `name` or `name@version`",
                              json_schema_extra={"pattern": OPTIONAL_SPEC_PATTERN})

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"documents": [{"id": "r1", "text": "Доставка опять задержалась на неделю."},
                       {"id": "r2", "text": "Invoices are always correct, thanks to the accountant."}],
         "model": "cx-touchpoints"}]})


class JobModel(BaseModel):
    spec: str
    name: str | None = None
    version: str | None = None


class JobInput(BaseModel):
    name: str
    format: str
    bytes: int
    encoding: dict[str, Any] | None = Field(
        None, description="the file-level encoding decision once the worker has read the upload: `encoding` "
                          "(utf-8, cp1251, ...), `bom`, `confidence` (legacy encodings), `invalid_bytes_replaced`, "
                          "`decision` (one readable line)")


class JobProgress(BaseModel):
    rows_total: int | None = Field(None, description="estimated from the upload's line count until done")
    rows_processed: int
    ok: int
    failed: int
    checkpoint_row: int = Field(description="the last input row whose result is committed")
    percent: float
    done: int = Field(description="rows finished (ok + failed), as `rows_processed`")
    total: int | None = Field(None, description="as `rows_total`")
    eta_s: float | None = Field(None, description="estimated seconds left at this run's rate so far (0 when "
                                                  "finished, null before the first chunk)")


class JobRowError(BaseModel):
    row: int | None = None
    id: str | None = None
    code: str
    message: str


class JobLinks(BaseModel):
    self: str
    results_jsonl: str
    results_csv: str


class JobOut(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    model: JobModel
    input: JobInput
    progress: JobProgress
    attempts: int
    error: str | None = None
    errors: list[JobRowError] = Field(default_factory=list, description="the first row errors")
    created_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    links: JobLinks


class JobList(BaseModel):
    jobs: list[JobOut]
    next_cursor: str | None = Field(None, description="pass as `?cursor=` for the next page; null on the last page")


# ------------------------------------------------------------------------------------------------
# reports
# ------------------------------------------------------------------------------------------------
class ReportLinks(BaseModel):
    self: str
    html: str
    xlsx: str


class ReportOut(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    model: str
    input_name: str
    error: str | None = None
    row_errors: list[dict[str, Any]] = Field(default_factory=list)
    created_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    report: dict[str, Any] | None = Field(None, description="the JSON report once done")
    links: ReportLinks


# ------------------------------------------------------------------------------------------------
# models, taxonomy, keys, health
# ------------------------------------------------------------------------------------------------
class ModelOut(BaseModel):
    name: str
    version: str
    created: str | None = None
    model_type: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    aliases: list[str] = Field(default_factory=list)
    loaded: bool = False
    default: bool = False


class ModelList(BaseModel):
    default: ModelRef | None = None
    models: list[ModelOut]


class DefaultModelRequest(BaseModel):
    model: str = Field(description="`name` or `name@version`", examples=["cx-touchpoints@2"],
                       json_schema_extra={"pattern": SPEC_PATTERN})


class TouchpointOut(BaseModel):
    id: str
    name: dict[str, str] = Field(description="display names by language", examples=[{"ru": "Бухгалтерия",
                                                                                      "en": "Billing"}])
    description: dict[str, str] = Field(default_factory=dict)


class TaxonomyOut(BaseModel):
    version: int | str
    model: ModelRef | None = None
    touchpoints: list[TouchpointOut]


class KeyCreate(BaseModel):
    role: Literal["analyst", "admin"] = "analyst"
    name: str = Field("", max_length=200, examples=["Отдел качества / QA team"])


class KeyOut(BaseModel):
    id: str
    name: str
    role: str
    prefix: str = Field(description="first characters of the token, to recognise it")
    created_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None


class KeyCreated(KeyOut):
    token: str = Field(description="the API key; shown only once, store it now")


class KeyList(BaseModel):
    keys: list[KeyOut]


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready", "not_ready"]
    model: ModelRef | None = None
    database: Literal["ok", "unreachable"]
    worker: Literal["running", "stopped", "disabled"]
    detail: str | None = None
