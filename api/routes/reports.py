"""Reports: ``POST /v1/reports`` (a survey wave + options -> a report job), JSON / HTML / XLSX downloads."""
from __future__ import annotations

from pathlib import Path as FsPath
from typing import Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from nlp.errors import DataError

from ..deps import CurrentKey, PipelineDep, SessionDep, SettingsDep
from ..errors import MethodNotAllowed, UnsupportedMediaType
from ..pagination import NEXT_HEADERS, CursorQuery, parse_time_cursor, set_next, time_cursor
from ..schemas.common import OPTIONAL_SPEC_PATTERN, error_responses
from ..schemas.reports import ReportOut
from ..services import reports as svc
from ..services.spool import media_type, spool_multipart
from ._accepted import queue_and_accept

router = APIRouter(prefix="/v1/reports", tags=["reports"])

ReportId = Path(max_length=64, description="the report id returned by POST /v1/reports")

CREATE_BODY = {
    "required": True,
    "content": {"multipart/form-data": {"schema": {
        "type": "object",
        "properties": {
            "file": {"type": "string", "format": "binary",
                     "description": "the survey wave: CSV (UTF-8/cp1251, `;` or `,`), XLSX or JSONL; columns such as "
                                    "company, contact, NPS/CSAT/CES scores, comment (RU or EN headers)"},
            "options": {"type": "string",
                        "description": "report options as a JSON object (the report config: columns, scores, "
                                       "thresholds, min_n, lang ...)",
                        "example": '{"lang": "ru", "min_n": 5}'},
            "model": {"type": "string", "description": "`name` or `name@version`", "pattern": OPTIONAL_SPEC_PATTERN},
        },
        "required": ["file"],
    }}},
}


@router.post("", status_code=202, response_model=ReportOut, openapi_extra={"requestBody": CREATE_BODY},
             responses={**error_responses(400, 401, 404, 413, 415, 422, 429),
                        202: {"description": "Accepted; poll the `Location`",
                              "headers": {"Location": {"schema": {"type": "string"}}}}},
             summary="Build a strengths-and-weaknesses report from a survey wave (background job)")
async def create_report(request: Request, principal: CurrentKey, settings: SettingsDep, models: PipelineDep,
                        model: str | None = Query(None, description="`name` or `name@version`",
                                                  json_schema_extra={"pattern": OPTIONAL_SPEC_PATTERN})) -> JSONResponse:
    ctype_header = request.headers.get("content-type", "")
    if media_type(ctype_header) != "multipart/form-data":
        raise UnsupportedMediaType("upload the wave as multipart/form-data (field `file`, optional `options`)")
    sp = await spool_multipart(request.stream(), ctype_header, spool_dir=FsPath(settings.spool_dir),
                               max_bytes=settings.max_upload_bytes)
    factory = request.app.state.sessionmaker

    def create() -> dict[str, Any]:
        suffix = FsPath(sp.filename or "").suffix.lower()
        if suffix not in svc.WAVE_SUFFIXES:
            raise UnsupportedMediaType(f"unsupported wave file {sp.filename or '(no name)'!r}: "
                                       f"use {', '.join(sorted(svc.WAVE_SUFFIXES))}")
        if sp.size == 0:
            raise DataError("empty file", field="file", expected="a wave with a header row", found=None)
        options = svc.parse_options(sp.fields.get("options"))
        svc.validate_options(options)
        spec = sp.fields.get("model") or model or settings.default_model
        models.get(spec)
        with factory() as session:
            rep = svc.create_report(session, principal, input_path=sp.path, input_name=sp.filename,
                                    model_spec=spec, options=options)
            return svc.report_view(rep)

    return await queue_and_accept(request, sp, create, ReportOut, "/v1/reports")


@router.get("/{report_id}.html", response_class=HTMLResponse,
            responses={**error_responses(401, 404, 409, 422, 429, 503, json_route=False),
                       200: {"content": {"text/html": {"schema": {"type": "string"}}}}},
            summary="The report as a self-contained HTML page")
def report_html(principal: CurrentKey, session: SessionDep, report_id: str = ReportId) -> HTMLResponse:
    report = svc.finished_report(session, principal, report_id)
    return HTMLResponse(svc.render_html(report))


@router.get("/{report_id}.xlsx", response_class=Response,
            responses={**error_responses(401, 404, 409, 422, 429, 503, json_route=False),
                       200: {"content": {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
                                         {"schema": {"type": "string", "format": "binary"}}}}},
            summary="The report as an Excel workbook")
def report_xlsx(principal: CurrentKey, session: SessionDep, report_id: str = ReportId) -> Response:
    report = svc.finished_report(session, principal, report_id)
    data = svc.render_xlsx(report)
    return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="report-{report_id}.xlsx"'})


@router.api_route("/{report_id}.html", methods=["POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                  include_in_schema=False)
@router.api_route("/{report_id}.xlsx", methods=["POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                  include_in_schema=False)
def rendered_report_methods(report_id: str) -> Response:
    """The rendered reports are read-only: 405 (not the DELETE of ``/{report_id}`` with a '.html' id)."""
    raise MethodNotAllowed(["GET"])


@router.get("", response_model=list[ReportOut],
            responses={**error_responses(401, 422, 429), 200: {"description": "one page", "headers": NEXT_HEADERS}},
            summary="Your reports, newest first (admins see all); without the report bodies; the next page's "
                    "cursor is in `X-Next-Cursor`")
def list_reports(request: Request, response: Response, principal: CurrentKey, session: SessionDep,
                 limit: int = Query(50, ge=1, le=500), cursor: str | None = CursorQuery) -> list[dict]:
    reps = svc.list_reports(session, principal, limit=limit + 1, after=parse_time_cursor(cursor))
    page = reps[:limit]
    set_next(request, response, time_cursor(page[-1].created_at, page[-1].id) if len(reps) > limit and page else None)
    return [svc.report_view(r, include_report=False) for r in page]


@router.get("/{report_id}", response_model=ReportOut, responses=error_responses(401, 404, 422, 429),
            summary="Report status, and the JSON report once done")
def get_report(principal: CurrentKey, session: SessionDep, report_id: str = ReportId) -> dict:
    return svc.report_view(svc.get_report(session, principal, report_id))


@router.delete("/{report_id}", response_model=ReportOut, responses=error_responses(401, 404, 409, 422, 429),
               summary="Cancel a queued or running report")
def cancel_report(principal: CurrentKey, session: SessionDep, report_id: str = ReportId) -> dict:
    rep = svc.cancel_report(session, principal, report_id)
    FsPath(rep.input_path).unlink(missing_ok=True)
    return svc.report_view(rep)
