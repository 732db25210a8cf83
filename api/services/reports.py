"""Report jobs: a survey wave upload + options -> ``cx.report.build_report`` (run by the job worker);
renderers ``cx.render.html`` / ``cx.render.xlsx`` on download."""
from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from nlp.errors import DataError
from nlp.schema import document_from_dict

from ..db import as_utc
from ..errors import Conflict, Unavailable, scrub_paths
from ..models_db import Report, utcnow
from .auth import Principal
from .classify import predict_isolated
from .models import check_spec

log = logging.getLogger("cxlens.api.reports")

WAVE_SUFFIXES = {".csv", ".tsv", ".txt", ".jsonl", ".ndjson", ".json", ".xlsx"}
PREDICT_CHUNK = 500


def parse_options(text: str | None) -> dict[str, Any]:
    """Report options (the ``cx.config.ReportConfig`` mapping, as in a config YAML) from a JSON string."""
    if text is None or not text.strip():
        return {}
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise DataError("options are not valid JSON", field="options", expected="a JSON object",
                        found=text[:60]) from None
    if not isinstance(raw, dict):
        raise DataError(field="options", expected="a JSON object", found=type(raw).__name__)
    return raw


#: config keys that name server-side files: not accepted from API clients
PATH_OPTIONS = ("taxonomy", "risk_patterns", "interview_questions")


def validate_options(options: dict[str, Any]) -> None:
    """Reject bad options at submission (422) instead of failing the report later."""
    from cx.config import ReportConfig

    for key in PATH_OPTIONS:
        if options.get(key) is not None:
            raise DataError("file paths are not accepted over the API", field=f"options.{key}",
                            expected="no value (the server's configured file is used)", found=options[key])

    cfg = ReportConfig.from_dict(options, source="options")
    if hasattr(cfg, "validate"):
        cfg.validate()


def create_report(session: Session, principal: Principal, *, input_path: Path, input_name: str, model_spec: str,
                  options: dict[str, Any]) -> Report:
    rep = Report(owner_key_id=principal.key_id, status="queued", model_spec=check_spec(model_spec),
                 input_path=str(input_path), input_name=(input_name or "")[:300],
                 options=json.dumps(options, ensure_ascii=False), row_errors="[]", attempts=0)
    session.add(rep)
    session.commit()
    return rep


def get_report(session: Session, principal: Principal, report_id: str) -> Report:
    return principal.get_owned(session, Report, report_id, kind="report")


def list_reports(session: Session, principal: Principal, *, limit: int = 50, after=None) -> list[Report]:
    """Newest first; ``after`` = (created_at, id) of the last item of the previous page (keyset cursor)."""
    stmt = select(Report).order_by(Report.created_at.desc(), Report.id).limit(limit)
    if not principal.is_admin:
        stmt = stmt.where(Report.owner_key_id.is_(None) if principal.key_id is None
                          else Report.owner_key_id == principal.key_id)
    if after is not None:
        stmt = stmt.where(or_(Report.created_at < after[0], and_(Report.created_at == after[0], Report.id > after[1])))
    return list(session.scalars(stmt))


def cancel_report(session: Session, principal: Principal, report_id: str) -> Report:
    rep = get_report(session, principal, report_id)
    if rep.status not in ("queued", "running"):
        raise Conflict(f"report {report_id} is already {rep.status}", code="report_finished")
    session.execute(update(Report).where(Report.id == rep.id, Report.status.in_(("queued", "running")))
                    .values(status="cancelled", finished_at=utcnow(), error="cancelled by the client"))
    session.commit()
    session.refresh(rep)
    return rep


def report_view(rep: Report, *, include_report: bool = True) -> dict[str, Any]:
    base = f"/v1/reports/{rep.id}"
    return {
        "id": rep.id, "status": rep.status, "model": rep.model_spec, "input_name": rep.input_name,
        "error": scrub_paths(rep.error),
        "row_errors": [{k: scrub_paths(v) for k, v in e.items()} if isinstance(e, dict) else e
                       for e in json.loads(rep.row_errors or "[]")[:100]],
        "created_at": as_utc(rep.created_at), "finished_at": as_utc(rep.finished_at),
        "report": json.loads(rep.result) if (include_report and rep.result) else None,
        "links": {"self": base, "html": f"{base}.html", "xlsx": f"{base}.xlsx"},
    }


def finished_report(session: Session, principal: Principal, report_id: str) -> dict[str, Any]:
    rep = get_report(session, principal, report_id)
    if rep.status != "done" or not rep.result:
        raise Conflict(f"report {report_id} is {rep.status}; it can be rendered when done", code="report_not_done")
    return json.loads(rep.result)


def render_html(report: dict[str, Any]) -> str:
    try:
        from cx.render.html import render_html as render
    except ModuleNotFoundError as e:
        raise Unavailable("the HTML report renderer is not installed", code="renderer_unavailable") from e
    return render(report)


def render_xlsx(report: dict[str, Any]) -> bytes:
    try:
        from cx.render.xlsx import write_xlsx
    except ModuleNotFoundError as e:
        raise Unavailable("the XLSX report renderer is not installed", code="renderer_unavailable") from e
    with tempfile.TemporaryDirectory(prefix="cxlens-xlsx-") as tmp:
        path = Path(tmp) / "report.xlsx"
        write_xlsx(report, path)
        return path.read_bytes()


def run_report(session: Session, rep: Report, worker) -> None:
    """The worker's report runner: read the wave, classify its comments, build the report."""
    from cx.config import ReportConfig
    from cx.report import build_report
    from cx.waves import answers_to_documents, read_wave

    options = json.loads(rep.options or "{}")
    config = ReportConfig.from_dict(options, source="options")
    path = Path(rep.input_path)
    if not path.exists():
        raise DataError("the uploaded wave file is missing from the spool directory", source=rep.input_name)
    name = rep.input_name or path.name
    try:
        answers, errors = read_wave(path, config)
    except DataError as e:  # name the user's file, not the spool path
        raise DataError(_scrub(str(e), path, name)) from None
    errors = [_renamed(e, path, name) for e in errors]
    pipe = worker.models.get(rep.model_spec)
    docs = []
    for i, raw in enumerate(answers_to_documents(answers)):
        try:
            docs.append(document_from_dict(raw, row=i + 1, default_id=str(i + 1)))
        except DataError as e:
            errors.append(e)
    predictions: list[dict[str, Any]] = []
    for start in range(0, len(docs), PREDICT_CHUNK):
        worker.check_stop()
        batch = docs[start:start + PREDICT_CHUNK]
        for d, p in zip(batch, predict_isolated(pipe, batch)):
            if isinstance(p, Exception):
                errors.append(DataError("comment not classified", field="comment", row=d.id, source=name))
            else:
                predictions.append(p)
    worker.check_stop()
    info = {"name": str(getattr(pipe, "name", "unknown")), "version": str(getattr(pipe, "version", "unknown"))}
    report = build_report(answers, predictions, config, data_errors=errors, source=name, model=info)
    if path.suffix.lower() not in (".xlsx", ".xlsm"):  # the upload's encoding decision (nlp.labeled.encoding)
        from nlp.labeled.encoding import detect_file

        dec = detect_file(path)
        report.setdefault("meta", {})["input_encoding"] = dec.to_dict()
        if dec.replaced:
            report.setdefault("warnings", []).append(f"{name}: decoded as {dec.summary()}")
    row_errors = [_error_dict(e, path, name) for e in errors]
    if worker.finish_report(rep.id, result=report, row_errors=row_errors):
        path.unlink(missing_ok=True)


def _renamed(e: DataError, path: Path, name: str) -> DataError:
    if e.source is None or str(path) not in str(e.source):
        return e
    return DataError(e.reason, field=e.field, expected=e.expected, found=e.found, row=e.row, source=name)


def _scrub(text: str, path: Path, name: str) -> str:
    return text.replace(str(path), name or path.name)


def _error_dict(e: DataError, path: Path, name: str) -> dict[str, Any]:
    d = e.to_dict()
    d["source"] = name or path.name
    d["message"] = _scrub(str(d.get("message") or ""), path, name)
    return {k: (v if isinstance(v, (str, int, float, bool)) or v is None else str(v)) for k, v in d.items()}
