"""``POST /v1/classify``: documents in, prediction rows out."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from .common import OPTIONAL_SPEC_PATTERN

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
