"""Retraining (docs/retraining.md): labeled datasets, corrections, training jobs, promotion through
the evaluation gate, rollback, model cards. Admin keys, except ``POST /v1/feedback`` (any key:
analysts correct labels; that changes no model)."""
from __future__ import annotations

import logging
import threading
from pathlib import Path as FsPath
from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from nlp.config import DEFAULT_MODEL_NAME, data_dir
from nlp.gate import PromotionRefused

from ..deps import AdminKey, CurrentKey, JsonBody, SettingsDep
from ..errors import Conflict, UnsupportedMediaType, scrub_paths
from ..pagination import NEXT_HEADERS, CursorQuery, decode_cursor, encode_cursor, set_next
from ..schemas import OPTIONAL_SPEC_PATTERN, error_responses
from ..services.spool import media_type, spool_multipart
from ..services.training import TrainingService

router = APIRouter(prefix="/v1", tags=["training"])

Name = Path(max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="model name")
Version = Path(max_length=20, description="version number, or an alias such as `production`")


_CREATE_LOCK = threading.Lock()


def service(request: Request) -> TrainingService:
    """One service per app, created on first use (datasets and jobs under ``CXLENS_DATA_DIR``)."""
    svc = getattr(request.app.state, "training", None)
    if svc is not None:
        return svc
    with _CREATE_LOCK:
        svc = getattr(request.app.state, "training", None)
        if svc is not None:
            return svc
        settings, models = request.app.state.settings, request.app.state.models

        def production_changed(name: str) -> None:
            # serve the new production version without downtime: load it, then swap (ModelService)
            if models.default_spec.split("@")[0] == name and "@" not in models.default_spec:
                try:
                    models.set_default(models.default_spec)
                except Exception as e:  # noqa: BLE001 - the old model keeps serving
                    logging.getLogger("cxlens.api").error("cannot load the new production %s: %s", name, e)
            models.clear_cache()

        svc = TrainingService(models_dir=settings.models_dir, datasets_dir=data_dir() / "datasets",
                              jobs_dir=data_dir() / "training_jobs", on_production_change=production_changed)
        request.app.state.training = svc
        return svc


def _who(principal) -> str:
    return principal.name or principal.key_id or "anonymous"


# -- schemas ---------------------------------------------------------------------------------------
class RowError(BaseModel):
    row: int | str | None = None
    field: str | None = None
    message: str


class DatasetImported(BaseModel):
    name: str
    hash: str = Field(description="first 16 hex digits of the content sha256 (`NAME@HASH` picks this version)")
    sha256: str
    rows: int = Field(description="good rows stored")
    unchanged: bool = Field(description="the same content was already the current version")
    eval_rows: int | None = Field(None, description="rows in the fixed 20 % evaluation split (never trained on)")
    label_distribution: dict[str, Any] | None = None
    errors: list[RowError] = Field(description="every bad row, with the reason; the good rows were imported")


class FeedbackItem(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {"id": "c-17", "text": "Счета приходят с ошибками", "sentiment": "negative",
         "touchpoints": [{"touchpoint": "billing", "polarity": "negative"}]},
        {"text": "The engineer was great", "touchpoints": "field_service:positive"}]})

    id: StrictStr | StrictInt | None = None
    text: str = Field(max_length=20_000, pattern=r"\S",
                      description="the comment (required: the API keeps no input texts)")
    sentiment: Literal["positive", "negative", "neutral", "mixed"] | dict[str, Any] | None = Field(
        None, description="corrected sentiment (or a prediction's `{\"label\": ...}`); absent = not corrected")
    touchpoints: list[Any] | str | None = Field(None, description="corrected touchpoints: prediction-style objects, "
                                                                  "`billing:negative` strings or one `;`-separated "
                                                                  "string; `[]` = none; absent = not corrected")


class FeedbackRequest(BaseModel):
    items: list[FeedbackItem] = Field(min_length=1, max_length=1000)
    dataset: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                                description="a feedback dataset you own (created on first use); default: your "
                                            "own, `feedback-<key id prefix>`. Imported datasets are refused.")
    model: str | None = Field(None, max_length=120, json_schema_extra={"pattern": OPTIONAL_SPEC_PATTERN},
                              description="model whose taxonomy validates the labels")


class FeedbackResult(BaseModel):
    dataset: str
    hash: str
    rows: int = Field(description="rows in the dataset now")
    accepted: int
    errors: list[RowError]


class TrainRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "cx-touchpoints", "datasets": ["acme"],
                                                               "seed_weight": 1, "dataset_weight": 2}]})

    name: str = Field(DEFAULT_MODEL_NAME, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    datasets: list[str] = Field(min_length=1, max_length=50, description="NAME or NAME@HASHPREFIX (at least one: "
                                "retraining on the seed set alone is `cxlens train --seed-set`)")
    seed_weight: float = Field(1.0, ge=0, le=20)
    dataset_weight: float = Field(1.0, ge=0, le=20)
    dataset_weights: dict[str, float] | None = None
    model_type: Literal["fast", "encoder", "ensemble"] | None = Field(
        None, description="model family; default: the production model's, else the server's default family")
    params: dict[str, Any] = Field(default_factory=dict, description="pipeline options, e.g. {\"C\": 8}")
    map: list[str] = Field(default_factory=list, description="touchpoint renames/removals: `old=new`, `old=`")
    taxonomy: dict[str, Any] | None = Field(None, description="a full taxonomy ({version, touchpoints}) to train "
                                                              "with, e.g. with an added touchpoint")
    promote: bool = Field(False, description="promote the new version if the gate passes")
    tolerance: float | None = Field(None, ge=0, le=1)
    min_support: int | None = Field(None, ge=1)
    require_significance: bool | None = None


class TrainingJob(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed"]
    options: dict[str, Any]
    by: str | None = None
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    result: dict[str, Any] | None = Field(None, description="version, gate decision, metrics, comparison summary")
    error: str | None = None
    progress: dict[str, Any] | None = Field(
        None, description="the running stage: `stage` (e.g. embedding, or a step message), `done`, `total`, "
                          "`unit`, `eta_s`, `rate`, `elapsed_s`; updated about once a second")


class PromoteRequest(BaseModel):
    version: str = Field(max_length=20)
    force: bool = False
    reason: str | None = Field(None, max_length=2000)
    tolerance: float | None = Field(None, ge=0, le=1)
    min_support: int | None = Field(None, ge=1)
    require_significance: bool | None = None


class RollbackRequest(BaseModel):
    to: str | None = Field(None, max_length=20, description="version (default: the previous production version)")
    reason: str | None = Field(None, max_length=2000)


class ProductionEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    action: Literal["promote", "rollback"]
    version: str
    from_: str | None = Field(None, alias="from")
    at: str
    by: str
    reason: str | None = None


# -- routes ----------------------------------------------------------------------------------------
@router.post("/datasets", response_model=DatasetImported, responses=error_responses(400, 401, 403, 413, 415, 422, 429),
             openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                 "type": "object", "required": ["file", "name"], "properties": {
                     "file": {"type": "string", "format": "binary",
                              "description": "JSONL, analyst CSV, XLSX, Label Studio or Argilla JSON export"},
                     "name": {"type": "string", "description": "dataset name",
                              "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"},
                     "format": {"type": "string", "enum": ["auto", "jsonl", "csv", "xlsx", "labelstudio", "argilla"]},
                     "map": {"type": "string", "description": "comma-separated `old=new` touchpoint mappings"}}}}}}},
             summary="Import a labeled file as a dataset version (admin): bad rows listed, good rows kept")
async def import_dataset(request: Request, principal: AdminKey, settings: SettingsDep) -> DatasetImported:
    """Admins only: an imported dataset is writable by admins only (corrections go to feedback datasets)."""
    ctype = request.headers.get("content-type", "")
    if media_type(ctype) != "multipart/form-data":
        raise UnsupportedMediaType("upload the labeled file as multipart/form-data (fields `file`, `name`)")
    sp = await spool_multipart(request.stream(), ctype, spool_dir=FsPath(settings.spool_dir),
                               max_bytes=settings.max_body_bytes)
    svc = service(request)
    name = (sp.fields.get("name") or "").strip()
    mapping = [m.strip() for m in (sp.fields.get("map") or "").split(",") if m.strip()]
    try:
        out = await run_in_threadpool(svc.import_dataset, sp.path, name=name, fmt=sp.fields.get("format") or "auto",
                                      filename=sp.filename, mapping=mapping, owner=principal.key_id)
    except BaseException:
        sp.discard()
        raise
    return DatasetImported.model_validate(out)


@router.get("/datasets", responses={**error_responses(401, 422, 429),
                                     200: {"description": "one page, by name", "headers": NEXT_HEADERS}},
            summary="Stored datasets by name (admins: all; analysts: the feedback datasets they own); the next "
                    "page's cursor is in `X-Next-Cursor`")
def list_datasets(request: Request, response: Response, principal: CurrentKey,
                  limit: int = Query(100, ge=1, le=1000), cursor: str | None = CursorQuery) -> list[dict[str, Any]]:
    after = decode_cursor(cursor, keys=("n",))
    rows = [r for r in service(request).list_datasets(principal) if after is None or r["name"] > after["n"]]
    page = rows[:limit]
    set_next(request, response, encode_cursor({"n": page[-1]["name"]}) if len(rows) > limit and page else None)
    return [{**r, "source": scrub_paths(r.get("source"))} for r in page]


@router.post("/feedback", response_model=FeedbackResult, dependencies=[JsonBody],
             responses=error_responses(400, 401, 403, 409, 413, 415, 422, 429),
             summary="Record corrected labels (any key) in your own feedback dataset (append-only, who/when per "
                     "row); 403 for another key's dataset, an imported one (analysts) or over the quota")
def feedback(request: Request, principal: CurrentKey, settings: SettingsDep, body: FeedbackRequest) -> FeedbackResult:
    items = [it.model_dump(exclude_none=True) for it in body.items]
    return FeedbackResult.model_validate(service(request).feedback(
        items, principal=principal, dataset=body.dataset, model=body.model,
        quota_rows=settings.feedback_quota_rows, quota_chars=settings.feedback_quota_chars))


@router.post("/models/train", status_code=202, response_model=TrainingJob, dependencies=[JsonBody],
             responses={**error_responses(400, 401, 403, 413, 415, 422, 429),
                        202: {"description": "Accepted; poll the `Location`",
                              "headers": {"Location": {"schema": {"type": "string"}}}}},
             summary="Train a new model version on the seed set + datasets, compared with production (admin; a job)")
def train(request: Request, principal: AdminKey, body: TrainRequest) -> JSONResponse:
    job = service(request).submit(body.model_dump(), by=_who(principal))
    return JSONResponse(TrainingJob.model_validate(job).model_dump(mode="json"), status_code=202,
                        headers={"Location": f"/v1/models/train/{job['id']}"})


@router.get("/models/train", response_model=list[TrainingJob], responses=error_responses(401, 403, 422, 429),
            summary="Training jobs, newest first (admin)")
def training_jobs(request: Request, principal: AdminKey, limit: int = Query(50, ge=1, le=500)) -> list[dict]:
    return service(request).list_jobs(limit)


@router.get("/models/train/{job_id}", response_model=TrainingJob, responses=error_responses(401, 403, 404, 422, 429),
            summary="A training job's status and result (admin)")
def training_job(request: Request, principal: AdminKey, job_id: str = Path(max_length=64)) -> dict:
    return service(request).get_job(job_id)


@router.post("/models/{name}/promote", response_model=ProductionEvent, dependencies=[JsonBody],
             responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429),
             summary="Make a version production through the evaluation gate (admin); 409 `gate_refused` names "
                     "the labels that got worse; `force` needs a `reason`")
def promote(request: Request, principal: AdminKey, body: PromoteRequest, name: str = Name) -> dict:
    policy = {k: v for k, v in body.model_dump().items()
              if k in ("tolerance", "min_support", "require_significance") and v is not None}
    try:
        return service(request).promote(name, body.version, force=body.force, reason=body.reason,
                                        by=_who(principal), policy=policy)
    except PromotionRefused as e:
        raise Conflict(str(e), code="gate_refused", details=[{"loc": ["gate"], "msg": f} for f in e.failures]) from e


@router.post("/models/{name}/rollback", response_model=ProductionEvent, dependencies=[JsonBody],
             responses=error_responses(400, 401, 403, 404, 413, 415, 422, 429),
             summary="Point production back to an earlier version (admin)")
def rollback(request: Request, principal: AdminKey, body: RollbackRequest, name: str = Name) -> dict:
    return service(request).rollback(name, to=body.to, reason=body.reason, by=_who(principal))


@router.get("/models/{name}/history", responses=error_responses(401, 403, 404, 422, 429),
            summary="Promotions and rollbacks of a model, oldest first (admin)")
def history(request: Request, principal: AdminKey, name: str = Name) -> list[dict[str, Any]]:
    return service(request).history(name)


@router.get("/models/{name}/{version}/card", response_class=PlainTextResponse,
            responses={**error_responses(401, 403, 404, 422, 429, json_route=False),
                       200: {"content": {"text/markdown": {"schema": {"type": "string"}}}}},
            summary="A version's MODEL_CARD.md (admin)")
def card(request: Request, principal: AdminKey, name: str = Name, version: str = Version) -> PlainTextResponse:
    return PlainTextResponse(service(request).card(name, version), media_type="text/markdown; charset=utf-8")


@router.get("/models/{name}/{version}/comparison", responses=error_responses(401, 403, 404, 422, 429),
            summary="A version's comparison with production (comparison.json; admin)")
def comparison(request: Request, principal: AdminKey, name: str = Name, version: str = Version) -> dict[str, Any]:
    return service(request).comparison(name, version)
