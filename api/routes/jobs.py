"""Asynchronous batch jobs: ``POST /v1/jobs`` (upload or JSON), status, results, cancel."""
from __future__ import annotations

import json
from pathlib import Path as FsPath
from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError

from ..deps import CurrentKey, PipelineDep, SessionDep, SettingsDep
from ..pagination import NEXT_HEADERS, CursorQuery, parse_time_cursor, set_next, time_cursor
from ..errors import ApiError, Conflict, PayloadTooLarge, Unprocessable, UnsupportedMediaType, validation_details
from ..schemas.common import OPTIONAL_SPEC_PATTERN, error_responses
from ..schemas.jobs import JobCreateJSON, JobList, JobOut
from ._accepted import queue_and_accept
from ..services import jobs as svc
from ..services.spool import (CSV_TYPES, JSONL_TYPES, Spooled, detect_table_format, media_type, new_spool_path,
                              spool_multipart, spool_raw)

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

JobId = Path(max_length=64, description="the job id returned by POST /v1/jobs")

CREATE_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "format": "binary",
                             "description": "JSONL (one {id, text, lang?} object per line) or CSV with a `text` "
                                            "column (UTF-8 or cp1251, `;` or `,`)"},
                    "model": {"type": "string", "description": "`name` or `name@version`", "pattern": OPTIONAL_SPEC_PATTERN},
                    "format": {"type": "string", "enum": ["jsonl", "csv"],
                               "description": "default: from the file name / content"},
                },
                "required": ["file"],
            },
        },
        "application/json": {
            "schema": JobCreateJSON.model_json_schema(),  # inline: no dangling $ref in the OpenAPI document
            "examples": {
                "ru": {"summary": "Русские комментарии",
                       "value": {"documents": [{"id": "r1", "text": "Доставка опять задержалась на неделю."},
                                               {"id": "r2", "text": "Бухгалтер быстро прислал закрывающие документы."}]}},
                "en": {"summary": "English comments",
                       "value": {"documents": [{"id": "e1", "text": "Support never answers the hotline."}],
                                 "model": "cx-touchpoints"}},
            },
        },
        "application/x-ndjson": {"schema": {"type": "string", "format": "binary",
                                            "description": "the JSONL file as the raw body"}},
        "text/csv": {"schema": {"type": "string", "format": "binary", "description": "the CSV file as the raw body"}},
    },
}


def job_out(session, job) -> dict[str, Any]:
    view = svc.job_view(job)
    errors = []
    if job.error_count:
        for p in svc.job_errors(session, job):
            err = p.get("error") or {}
            errors.append({"row": p.get("row"), "id": p.get("id"), "code": err.get("code", "error"),
                           "message": err.get("message", "")})
    base = f"/v1/jobs/{job.id}"
    return {**view, "errors": errors,
            "links": {"self": base, "results_jsonl": f"{base}/results?format=jsonl",
                      "results_csv": f"{base}/results?format=csv"}}


async def _spool_request(request: Request, settings, fmt_param: str | None) -> tuple[Spooled, str, str | None]:
    """Write the request's input to a spool file; returns (spooled, format, model from the form)."""
    ctype_header = request.headers.get("content-type", "")
    ctype = media_type(ctype_header)
    spool_dir = FsPath(settings.spool_dir)
    if ctype == "multipart/form-data":
        sp = await spool_multipart(request.stream(), ctype_header, spool_dir=spool_dir,
                                   max_bytes=settings.max_upload_bytes)
        fmt_explicit = sp.fields.get("format") or fmt_param
        model = sp.fields.get("model") or None
    elif ctype == "application/json" or ctype.endswith("+json"):
        body = await request.body()  # capped by max_body_bytes in the middleware
        try:
            raw = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            raise ApiError("the request body is not valid JSON", code="invalid_json") from None
        try:
            req = JobCreateJSON.model_validate(raw)
        except ValidationError as e:
            raise Unprocessable("the request is not valid",
                                details=validation_details([{**d, "loc": ("body", *d["loc"])}
                                                            for d in e.errors()])) from None
        path = new_spool_path(spool_dir, ".jsonl")

        def write() -> int:
            with open(path, "w", encoding="utf-8") as fh:
                for item in req.documents:
                    fh.write(json.dumps({"text": item} if isinstance(item, str) else item, ensure_ascii=False) + "\n")
            return path.stat().st_size

        size = await run_in_threadpool(write)
        sp = Spooled(path=path, filename="request.jsonl", content_type=ctype, size=size, lines=len(req.documents))
        fmt_explicit, model = "jsonl", req.model
    elif ctype in JSONL_TYPES or ctype in CSV_TYPES or ctype in ("text/plain", "application/octet-stream"):
        suffix = ".csv" if ctype in CSV_TYPES else (".jsonl" if ctype in JSONL_TYPES else "")
        sp = await spool_raw(request.stream(), spool_dir=spool_dir, max_bytes=settings.max_upload_bytes,
                             suffix=suffix, content_type=ctype, filename=f"upload{suffix}")
        fmt_explicit, model = fmt_param, None
    else:
        raise UnsupportedMediaType(
            f"unsupported content type {ctype or 'none'!r}: send multipart/form-data (file), application/json "
            f"({{'documents': [...]}}), application/x-ndjson or text/csv")
    try:
        if sp.size == 0:
            raise Unprocessable("the uploaded file is empty", code="empty_upload",
                                details=[{"loc": ["body", "file"], "msg": "empty file"}])
        fmt = detect_table_format(explicit=fmt_explicit, filename=sp.filename, content_type=sp.content_type,
                                  path=sp.path)
        if fmt == "jsonl" and sp.lines > settings.max_job_rows:
            raise PayloadTooLarge(f"{sp.lines} lines; a job takes at most {settings.max_job_rows} rows",
                                  code="too_many_rows")
        if fmt == "csv" and sp.lines > 2 * settings.max_job_rows + 1:  # generous: quoted cells may span lines
            raise PayloadTooLarge(f"about {sp.lines} lines; a job takes at most {settings.max_job_rows} rows",
                                  code="too_many_rows")
    except BaseException:
        sp.discard()
        raise
    return sp, fmt, model


@router.post("", status_code=202, response_model=JobOut, openapi_extra={"requestBody": CREATE_BODY},
             responses={**error_responses(400, 401, 404, 413, 415, 422, 429),
                        202: {"description": "Accepted; poll the `Location`",
                              "headers": {"Location": {"schema": {"type": "string"},
                                                       "description": "URL of the job"}}}},
             summary="Submit a large batch (up to `max_job_rows` comments) for background classification",
             description="Upload a JSONL/CSV file (multipart field `file`, or the raw body as application/x-ndjson "
                         "or text/csv), or send `{\"documents\": [...]}` as JSON. The upload is streamed to disk, "
                         "never held in memory. Returns 202 with `Location: /v1/jobs/{id}`.")
async def create_job(request: Request, principal: CurrentKey, settings: SettingsDep, models: PipelineDep,
                     model: str | None = Query(None, description="`name` or `name@version`", json_schema_extra={"pattern": OPTIONAL_SPEC_PATTERN}),
                     format: Literal["jsonl", "csv"] | None = Query(None, description="input format")) -> JSONResponse:
    sp, fmt, form_model = await _spool_request(request, settings, format)
    spec = form_model or model or settings.default_model
    factory = request.app.state.sessionmaker

    def create() -> dict[str, Any]:
        models.get(spec)  # unknown model: 404 now rather than a failed job later
        with factory() as session:
            job = svc.create_job(session, principal, input_path=sp.path, input_format=fmt,
                                 input_name=sp.filename, input_bytes=sp.size,
                                 rows_estimate=(max(sp.lines - 1, 0) if fmt == "csv" else sp.lines) or None,
                                 model_spec=spec)
            return job_out(session, job)

    return await queue_and_accept(request, sp, create, JobOut, "/v1/jobs")


@router.get("", response_model=JobList,
            responses={**error_responses(401, 422, 429), 200: {"description": "one page", "headers": NEXT_HEADERS}},
            summary="Your jobs, newest first (admins see all); `cursor` pages through all of them")
def list_jobs(request: Request, response: Response, principal: CurrentKey, session: SessionDep,
              status: Literal["queued", "running", "done", "failed", "cancelled"] | None = None,
              limit: int = Query(50, ge=1, le=500), cursor: str | None = CursorQuery) -> dict:
    jobs = svc.list_jobs(session, principal, limit=limit + 1, status=status, after=parse_time_cursor(cursor))
    page, more = jobs[:limit], len(jobs) > limit
    nxt = time_cursor(page[-1].created_at, page[-1].id) if more and page else None
    set_next(request, response, nxt)
    return {"jobs": [job_out(session, j) for j in page], "next_cursor": nxt}


@router.get("/{job_id}", response_model=JobOut, responses=error_responses(401, 404, 422, 429),
            summary="Job status, progress counts and the first row errors")
def get_job(principal: CurrentKey, session: SessionDep, job_id: str = JobId) -> dict:
    return job_out(session, svc.get_job(session, principal, job_id))


@router.get("/{job_id}/results", responses={
    **error_responses(401, 404, 409, 422, 429),
    200: {"description": "one row per input row, in input order",
          "content": {"application/x-ndjson": {"schema": {"type": "string"}},
                      "text/csv": {"schema": {"type": "string"}}}}},
            summary="Download the results of a finished job (streamed JSONL or CSV)")
def job_results(request: Request, principal: CurrentKey, session: SessionDep, job_id: str = JobId,
                format: Literal["jsonl", "csv"] = Query("jsonl")) -> StreamingResponse:
    job = svc.get_job(session, principal, job_id)
    if job.status != "done":
        raise Conflict(f"job {job_id} is {job.status}; results are available when it is done", code="job_not_done")
    factory = request.app.state.sessionmaker
    if format == "csv":
        return StreamingResponse(svc.results_csv(factory, job.id), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="job-{job.id}.csv"'})
    return StreamingResponse(svc.results_jsonl(factory, job.id), media_type="application/x-ndjson",
                             headers={"Content-Disposition": f'attachment; filename="job-{job.id}.jsonl"'})


@router.delete("/{job_id}", response_model=JobOut, responses=error_responses(401, 404, 409, 422, 429),
               summary="Cancel a queued or running job")
def cancel_job(principal: CurrentKey, session: SessionDep, job_id: str = JobId) -> dict:
    job = svc.cancel_job(session, principal, job_id)
    FsPath(job.input_path).unlink(missing_ok=True)
    return job_out(session, job)
