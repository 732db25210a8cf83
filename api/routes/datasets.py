"""Analysts' labeled data (docs/retraining.md): ``/v1/datasets`` (admin imports; analysts list their own
feedback datasets) and ``POST /v1/feedback`` (any key: analysts correct labels; that changes no model)."""
from __future__ import annotations

from pathlib import Path as FsPath
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from ..deps import AdminKey, CurrentKey, JsonBody, SettingsDep, TrainingDep
from ..errors import UnsupportedMediaType, scrub_paths
from ..pagination import NEXT_HEADERS, CursorQuery, decode_cursor, encode_cursor, set_next
from ..schemas.common import error_responses
from ..schemas.datasets import DatasetImported, FeedbackRequest, FeedbackResult
from ..services.spool import media_type, spool_multipart

router = APIRouter(prefix="/v1", tags=["training"])


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
async def import_dataset(request: Request, training: TrainingDep, principal: AdminKey, settings: SettingsDep) -> DatasetImported:
    """Admins only: an imported dataset is writable by admins only (corrections go to feedback datasets)."""
    ctype = request.headers.get("content-type", "")
    if media_type(ctype) != "multipart/form-data":
        raise UnsupportedMediaType("upload the labeled file as multipart/form-data (fields `file`, `name`)")
    sp = await spool_multipart(request.stream(), ctype, spool_dir=FsPath(settings.spool_dir),
                               max_bytes=settings.max_body_bytes)
    svc = training
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
def list_datasets(request: Request, training: TrainingDep, response: Response, principal: CurrentKey,
                  limit: int = Query(100, ge=1, le=1000), cursor: str | None = CursorQuery) -> list[dict[str, Any]]:
    after = decode_cursor(cursor, keys=("n",))
    rows = [r for r in training.list_datasets(principal) if after is None or r["name"] > after["n"]]
    page = rows[:limit]
    set_next(request, response, encode_cursor({"n": page[-1]["name"]}) if len(rows) > limit and page else None)
    return [{**r, "source": scrub_paths(r.get("source"))} for r in page]


@router.post("/feedback", response_model=FeedbackResult, dependencies=[JsonBody],
             responses=error_responses(400, 401, 403, 409, 413, 415, 422, 429),
             summary="Record corrected labels (any key) in your own feedback dataset (append-only, who/when per "
                     "row); 403 for another key's dataset, an imported one (analysts) or over the quota")
def feedback(training: TrainingDep, principal: CurrentKey, settings: SettingsDep, body: FeedbackRequest) -> FeedbackResult:
    items = [it.model_dump(exclude_none=True) for it in body.items]
    return FeedbackResult.model_validate(training.feedback(
        items, principal=principal, dataset=body.dataset, model=body.model,
        quota_rows=settings.feedback_quota_rows, quota_chars=settings.feedback_quota_chars))
