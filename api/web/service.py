"""What the web pages do, on the existing services: a wave = an uploaded file + a classify job
(``api.services.jobs``, run by the job worker, with its progress) + a report (``cx.report.build_report``,
stored as a ``reports`` row, so the JSON API and the downloads see it too). Filters rebuild the report on
the subset of answers; corrections go to the caller's feedback dataset (``TrainingService.feedback``);
the review queue is ``nlp.lifecycle.active`` over the wave's comments."""
from __future__ import annotations

import copy
import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nlp.errors import DataError
from nlp.schema import SENTIMENTS, document_from_dict

from ..errors import scrub_paths
from ..models_db import Job, Report, utcnow
from ..services import jobs as jobs_svc
from ..services import reports as reports_svc
from ..services.auth import Principal
from .db import ShortlistMark, Wave

log = logging.getLogger("cxlens.web")

#: report roles the preview lets the analyst map (docs/reports.md, section 1); the rest is auto-detected
TEXT_ROLES = ("company", "contact", "id", "segment", "region", "question", "wave", "date", "comment", "key_account")
SCORE_ROLES = ("nps", "csat", "ces")
ROLES = TEXT_ROLES + SCORE_ROLES
FILTERS = ("segment", "company", "touchpoint", "lang", "zone")
ZONES = ("red", "yellow", "green")
POLARITIES = ("positive", "negative", "neutral")
PREVIEW_ROWS = 8


# -- waves: upload, preview, start ------------------------------------------------------------------
def create_wave(session: Session, principal: Principal, *, path: Path, name: str, model_spec: str) -> Wave:
    suffix = Path(name or "").suffix.lower()
    if suffix not in reports_svc.WAVE_SUFFIXES:
        raise DataError("unsupported file type", field="file",
                        expected=", ".join(sorted(reports_svc.WAVE_SUFFIXES)), found=name or "(no name)")
    final = path.with_name(path.name + suffix)  # cx.waves reads XLSX by its suffix
    path.replace(final)
    wave = Wave(owner_key_id=principal.key_id, status="uploaded", input_name=(name or "")[:300],
                input_path=str(final), options="{}", model_spec=model_spec, row_errors="[]")
    session.add(wave)
    session.commit()
    return wave


def get_wave(session: Session, principal: Principal, wave_id: str) -> Wave:
    return principal.get_owned(session, Wave, wave_id, kind="wave")


def list_waves(session: Session, principal: Principal, limit: int = 100) -> list[Wave]:
    stmt = select(Wave).order_by(Wave.created_at.desc()).limit(limit)
    if not principal.is_admin:
        stmt = stmt.where(Wave.owner_key_id == principal.key_id)
    return list(session.scalars(stmt))


def preview(wave: Wave, n: int = PREVIEW_ROWS) -> dict[str, Any]:
    """Headers, the first rows and the detected column of each role (``cx.config.detect_columns``)."""
    from cx.config import detect_columns
    from cx.waves import load_records

    path = Path(wave.input_path)
    try:
        _, headers, recs = load_records(path)
    except DataError as e:
        raise DataError(_scrub(str(e), wave), field="file") from None
    rows = [[_cell(r.get(h)) for h in headers] for _, r in recs[: n * 2] if isinstance(r, dict)][:n]
    det = detect_columns(headers)
    detected = {**det.get("columns", {}), **{k: (v if isinstance(v, str) else v.get("column"))
                                            for k, v in det.get("scores", {}).items()}}
    chosen = json.loads(wave.options or "{}").get("mapping") or {}
    return {"headers": headers, "rows": rows, "detected": detected,
            "mapping": {r: chosen.get(r, detected.get(r, "")) for r in ROLES},
            "n_rows": sum(1 for _, r in recs if isinstance(r, dict))}


def mapping_options(mapping: dict[str, str], headers: list[str], lang: str) -> dict[str, Any]:
    """Report options from the preview's mapping; an unknown column names the role's field."""
    columns, scores = {}, {}
    for role, col in mapping.items():
        if role not in ROLES:
            raise DataError("unknown role", field=f"map_{role}", expected=", ".join(ROLES), found=role)
        if not col:
            continue
        if col not in headers:
            raise DataError("no such column in the file", field=f"map_{role}", expected=", ".join(headers), found=col)
        (scores if role in SCORE_ROLES else columns)[role] = col
    if "company" not in columns:
        raise DataError("the company column is required", field="map_company", expected="one of the file's columns",
                        found=None)
    if "comment" not in columns:
        raise DataError("the comment column is required", field="map_comment", expected="one of the file's columns",
                        found=None)
    used = [c for c in [*columns.values(), *scores.values()]]
    dup = next((c for c in used if used.count(c) > 1), None)
    if dup is not None:
        raise DataError("one column mapped to two roles", field="mapping", expected="a column per role", found=dup)
    options: dict[str, Any] = {"columns": columns, "lang": lang}
    if scores:
        options["scores"] = scores
    reports_svc.validate_options(options)
    return options


def start_wave(factory, principal: Principal, wave_id: str, *, mapping: dict[str, str], lang: str,
               spool_dir: Path, max_rows: int) -> Wave:
    """Read the wave with the chosen mapping, queue its comments as a classify job (the job worker runs it)."""
    from cx.config import ReportConfig
    from cx.waves import answers_to_documents, read_wave

    with factory() as s:
        wave = get_wave(s, principal, wave_id)
        if wave.status not in ("uploaded", "failed"):
            raise DataError("this wave has already been started", field="wave", expected="an uploaded wave",
                            found=wave.status)
        headers = preview(wave, n=0)["headers"]
        options = mapping_options(mapping, headers, lang)
        cfg = ReportConfig.from_dict(options, source="options")
        try:
            answers, errors = read_wave(Path(wave.input_path), cfg)
        except DataError as e:
            raise DataError(_scrub(str(e), wave), field="file") from None
        docs = answers_to_documents(answers)
        if len(docs) > max_rows:
            raise DataError("too many comments", field="file", expected=f"at most {max_rows}", found=len(docs))
        spool_dir.mkdir(parents=True, exist_ok=True)
        jpath = spool_dir / f"web-{wave.id}.jsonl"
        jpath.write_text("".join(json.dumps({"id": d["id"], "text": d["text"]}, ensure_ascii=False) + "\n"
                                 for d in docs), encoding="utf-8")
        job = jobs_svc.create_job(s, principal, input_path=jpath, input_format="jsonl", input_name=wave.input_name,
                                  input_bytes=jpath.stat().st_size, rows_estimate=len(docs),
                                  model_spec=wave.model_spec)
        wave.options = json.dumps({"mapping": mapping, **options}, ensure_ascii=False)
        wave.job_id = job.id
        wave.status = "running"
        wave.error = None
        wave.row_errors = json.dumps([_error_dict(e, wave) for e in errors], ensure_ascii=False)
        s.commit()
        return wave


def wave_progress(factory, principal: Principal, wave_id: str) -> dict[str, Any]:
    """The job's status and progress (``done``, ``total``, ``eta_s``); builds the report once the job is done."""
    with factory() as s:
        wave = get_wave(s, principal, wave_id)
        job = s.get(Job, wave.job_id) if wave.job_id else None
        view = jobs_svc.job_view(job) if job is not None else None
        row_errors = json.loads(wave.row_errors or "[]")
        if job is not None:
            row_errors += [{"row": e.get("row"), "field": (e.get("error") or {}).get("field"),
                            "message": (e.get("error") or {}).get("message")} for e in jobs_svc.job_errors(s, job)]
        status, report_id, error = wave.status, wave.report_id, wave.error
    if view is not None and view["status"] == "done" and report_id is None and status == "running":
        try:
            report_id = finalize(factory, wave_id)
            status = "done"
        except DataError as e:
            status, error = "failed", str(e)
            _set(factory, wave_id, status="failed", error=error)
    elif view is not None and view["status"] in ("failed", "cancelled") and status == "running":
        status, error = "failed", view.get("error") or view["status"]
        _set(factory, wave_id, status="failed", error=error)
    return {"status": status, "job": view, "report_id": report_id, "error": scrub_paths(error),
            "row_errors": row_errors[:200]}


def _set(factory, wave_id: str, **values: Any) -> None:
    with factory() as s:
        s.execute(update(Wave).where(Wave.id == wave_id).values(**values))
        s.commit()


_finalize_lock = threading.Lock()


def finalize(factory, wave_id: str) -> str:
    """Build the full report from the wave file and the job's predictions; store it as a ``reports`` row."""
    with _finalize_lock:
        with factory() as s:
            wave = s.get(Wave, wave_id)
            if wave.report_id:
                return wave.report_id
            data = load_data(factory, wave)
            report = build(data, {})
            rep = Report(owner_key_id=wave.owner_key_id, status="done", model_spec=wave.model_spec,
                         input_path=wave.input_path, input_name=wave.input_name,
                         options=json.dumps({k: v for k, v in json.loads(wave.options).items() if k != "mapping"},
                                            ensure_ascii=False),
                         result=json.dumps(report, ensure_ascii=False, default=str),
                         row_errors=wave.row_errors, attempts=0, finished_at=utcnow())
            s.add(rep)
            s.flush()
            wave.report_id = rep.id
            wave.status = "done"
            s.commit()
            return rep.id


# -- the wave's data and filtered reports ---------------------------------------------------------------
@dataclass
class WaveData:
    answers: Any  #: the canonical answers frame (cx.waves)
    config: Any  #: the ReportConfig completed by read_wave
    errors: list
    options: dict[str, Any]
    predictions: dict[str, dict]  #: answer id -> prediction row
    model: dict[str, str]
    texts: dict[str, str]
    source: str = "wave"
    full: dict[str, Any] | None = None
    reports: OrderedDict = field(default_factory=OrderedDict)
    #: the review queue (answer ids, most uncertain first), made on first use
    review_order: list[str] | None = None


#: (wave id, its classify job, its options) -> data: a wave started again (a new job) or re-mapped is read anew
_cache: OrderedDict[tuple[str, str, str], WaveData] = OrderedDict()
_cache_lock = threading.RLock()
CACHE_WAVES = 8
CACHE_REPORTS = 16


def _cache_key(wave: Wave) -> tuple[str, str, str]:
    return wave.id, wave.job_id or "", wave.options or ""


def load_data(factory, wave: Wave) -> WaveData:
    key = _cache_key(wave)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    from cx.config import ReportConfig
    from cx.waves import read_wave

    options = {k: v for k, v in json.loads(wave.options or "{}").items() if k != "mapping"}
    path = Path(wave.input_path)
    if not path.exists():
        raise DataError("the wave file is no longer on the server", field="file", found=wave.input_name)
    config = ReportConfig.from_dict(options, source="options")
    answers, errors = read_wave(path, config)  # completes ``config`` (detected columns and scales)
    errors = [DataError(e.reason, field=e.field, expected=e.expected, found=e.found, row=e.row,
                        source=wave.input_name or "wave") for e in errors]  # the user's file name, not the spool
    preds: dict[str, dict] = {}
    model = {"name": "unknown", "version": "unknown"}
    if wave.job_id:
        for _, ok, p in jobs_svc.iter_result_payloads(factory, wave.job_id):
            if ok:
                preds[str(p.get("id"))] = p
                model = p.get("model") or model
    texts = {str(i): str(c) for i, c in zip(answers["id"], answers["comment"]) if isinstance(c, str) and c.strip()}
    data = WaveData(answers, config, errors, options, preds, {"name": str(model.get("name")),
                                                      "version": str(model.get("version"))}, texts,
                    source=wave.input_name or "wave")
    with _cache_lock:
        _cache[key] = data
        while len(_cache) > CACHE_WAVES:
            _cache.popitem(last=False)
    return data


def forget(wave_id: str) -> None:
    with _cache_lock:
        for key in [k for k in _cache if k[0] == wave_id]:
            _cache.pop(key, None)


def clean_filters(raw: dict[str, Any]) -> dict[str, str]:
    out = {}
    for k in FILTERS:
        v = raw.get(k)
        if isinstance(v, str) and v.strip():
            if len(v) > 300:
                raise DataError("filter value too long", field=k, expected="at most 300 characters", found=v[:40])
            out[k] = v.strip()
    if "zone" in out and out["zone"] not in ZONES:
        raise DataError("unknown zone", field="zone", expected="|".join(ZONES), found=out["zone"])
    return out


def _subset(data: WaveData, filters: dict[str, str]):
    df = data.answers
    if "segment" in filters:
        df = df[df["segment"].astype(str) == filters["segment"]]
    if "company" in filters:
        df = df[df["company"].astype(str) == filters["company"]]
    if "lang" in filters:
        ids = {i for i, p in data.predictions.items() if p.get("lang") == filters["lang"]}
        df = df[df["id"].astype(str).isin(ids)]
    if "touchpoint" in filters:
        tp = filters["touchpoint"]
        ids = {i for i, p in data.predictions.items() if any(t.get("touchpoint") == tp for t in p.get("touchpoints") or [])}
        df = df[df["id"].astype(str).isin(ids)]
    if "zone" in filters:
        full = data.full or {}
        pairs = {(c.get("company"), c.get("contact")) for c in (full.get("traffic_lights") or {}).get("contacts", [])
                 if c.get("zone") == filters["zone"]}
        keys = list(zip(df["company"].astype(str), df["contact"].astype(str).where(df["contact"].notna(), None)))
        df = df[[k in pairs or (k[0], None) in pairs for k in keys]]
    return df


def build(data: WaveData, filters: dict[str, str]) -> dict[str, Any] | None:
    """The report of the answers that pass the filters (None when none does); cached per filter set."""
    from cx.report import build_report

    key = json.dumps(filters, sort_keys=True, ensure_ascii=False)
    with _cache_lock:
        if key in data.reports:
            return data.reports[key]
    if filters and data.full is None:
        data.full = build(data, {})
    df = _subset(data, filters) if filters else data.answers
    if len(df) == 0:
        return None
    ids = set(df["id"].astype(str))
    preds = [p for i, p in data.predictions.items() if i in ids]
    report = build_report(df, preds, copy.deepcopy(data.config), data_errors=data.errors if not filters else [],
                          source=data.source, model=data.model)
    report = json.loads(json.dumps(report, ensure_ascii=False, default=str))
    with _cache_lock:
        if not filters:
            data.full = report
        data.reports[key] = report
        while len(data.reports) > CACHE_REPORTS:
            data.reports.popitem(last=False)
    return report


def filter_choices(data: WaveData, taxonomy) -> dict[str, list[str]]:
    a = data.answers

    def uniq(col: str) -> list[str]:
        if col not in a.columns:
            return []
        return sorted({str(v) for v in a[col] if v is not None and str(v).strip() and str(v) != "nan"})

    tps = sorted({t.get("touchpoint") for p in data.predictions.values() for t in p.get("touchpoints") or []},
                 key=lambda t: (taxonomy.ids.index(t) if t in taxonomy.ids else 99, t))
    return {"segment": uniq("segment"), "company": uniq("company"), "touchpoint": tps,
            "lang": sorted({p.get("lang") for p in data.predictions.values() if p.get("lang")}), "zone": list(ZONES)}


# -- drill-down -----------------------------------------------------------------------------------------
def highlight(text: str, touchpoints: list[dict]) -> list[tuple[str, str | None, str | None]]:
    """``text`` cut into (piece, touchpoint or None, polarity) with the evidence spans marked."""
    spans = []
    for t in touchpoints or []:
        ev = t.get("evidence") or {}
        s, e = ev.get("start"), ev.get("end")
        if isinstance(s, int) and isinstance(e, int) and 0 <= s < e <= len(text):
            spans.append((s, e, t.get("touchpoint"), t.get("polarity")))
    spans.sort()
    out, pos = [], 0
    for s, e, tp, pol in spans:
        if s < pos:  # overlapping evidence: keep the first
            continue
        if s > pos:
            out.append((text[pos:s], None, None))
        out.append((text[s:e], tp, pol))
        pos = e
    if pos < len(text):
        out.append((text[pos:], None, None))
    return out


def scoped_comments(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's comments that its counts describe: with ``scope: latest`` (the default) the sections
    describe the newest wave while ``comments`` lists every wave."""
    meta = report.get("meta") or {}
    comments = report.get("comments") or []
    if meta.get("scope") == "latest" and meta.get("current_wave") is not None:
        return [c for c in comments if c.get("wave") == meta["current_wave"]]
    return comments


def drill(data: WaveData, report: dict[str, Any], *, touchpoint: str | None = None, polarity: str | None = None,
          sentiment: str | None = None, risk: str | None = None, company: str | None = None,
          contact: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """The comments behind a count of ``report`` (its ``comments`` section), with their evidence spans."""
    if polarity is not None and polarity not in POLARITIES:
        raise DataError("unknown polarity", field="polarity", expected="|".join(POLARITIES), found=polarity)
    if sentiment is not None and sentiment not in SENTIMENTS:
        raise DataError("unknown sentiment", field="sentiment", expected="|".join(SENTIMENTS), found=sentiment)
    out = []
    for c in scoped_comments(report):
        p = data.predictions.get(str(c.get("id"))) or {}
        tps = p.get("touchpoints") or []
        if touchpoint and not any(t.get("touchpoint") == touchpoint and (polarity is None or t.get("polarity") == polarity)
                                  for t in tps):
            continue
        if sentiment and c.get("sentiment") != sentiment:
            continue
        if risk and risk not in str(c.get("risks") or "").split(";"):
            continue
        if company and c.get("company") != company:
            continue
        if contact and c.get("contact") != contact:
            continue
        text = data.texts.get(str(c.get("id")), c.get("comment") or "")
        out.append({**c, "lang": p.get("lang"), "pieces": highlight(text, tps), "touchpoint_list": tps})
        if len(out) >= limit:
            break
    return out


# -- review queue and corrections -------------------------------------------------------------------------
def review_queue(data: WaveData, wave_id: str, pipeline) -> list[str]:
    """Answer ids, most uncertain first (``nlp.lifecycle.active``: both heads' margins, diverse picks); a
    pipeline without scoring heads falls back to the stored sentiment margin and touchpoint confidence."""
    if data.review_order is not None:  # cached with the wave's data (dropped with it)
        return data.review_order
    ids = [i for i in data.predictions if i in data.texts]
    docs = [document_from_dict({"id": i, "text": data.texts[i]}, row=k + 1) for k, i in enumerate(ids)]
    order: list[str]
    try:
        from nlp.lifecycle import active

        scored = active.score(pipeline, docs, with_predictions=False)
        picks = active.select(scored, len(docs), diversity=False) if docs else []
        order = [ids[i] for i in picks]
    except Exception as e:  # noqa: BLE001 - e.g. a pipeline without probability heads
        log.info("active-learning scores unavailable (%s); ordering by stored confidence", e)

        def margin(i: str) -> float:
            p = data.predictions[i]
            sc = sorted(((p.get("sentiment") or {}).get("scores") or {}).values(), reverse=True) + [0.0, 0.0]
            conf = [abs(2 * float(t.get("confidence") or 0) - 1) for t in p.get("touchpoints") or []]
            return ((sc[0] - sc[1]) + (min(conf) if conf else 1.0)) / 2

        order = sorted(ids, key=margin)
    data.review_order = order
    return order


def correction_item(form: dict[str, str], *, doc_id: str, text: str, taxonomy) -> dict[str, Any]:
    """A feedback item from the review form: ``sentiment``, ``tp_<id>`` = polarity or empty, ``ev_<id>`` =
    ``start-end`` (character offsets into the comment). Bad values name their field."""
    sentiment = form.get("sentiment") or ""
    if sentiment not in SENTIMENTS:
        raise DataError("choose a sentiment", field="sentiment", expected="|".join(SENTIMENTS), found=sentiment)
    tps = []
    for tp in taxonomy.ids:
        pol = form.get(f"tp_{tp}") or ""
        if not pol:
            continue
        if pol not in POLARITIES:
            raise DataError("unknown polarity", field=f"tp_{tp}", expected="|".join(POLARITIES), found=pol)
        item: dict[str, Any] = {"touchpoint": tp, "polarity": pol}
        ev = (form.get(f"ev_{tp}") or "").strip()
        if ev:
            try:
                s, e = (int(x) for x in ev.split("-", 1))
            except ValueError:
                raise DataError("evidence must be start-end offsets", field=f"ev_{tp}", expected="e.g. 12-30",
                                found=ev) from None
            if not (0 <= s < e <= len(text)):
                raise DataError("evidence outside the comment", field=f"ev_{tp}",
                                expected=f"0 <= start < end <= {len(text)}", found=ev)
            item["evidence"] = {"start": s, "end": e, "text": text[s:e]}
        tps.append(item)
    unknown = [k[3:] for k in form if k.startswith("tp_") and k[3:] not in taxonomy.ids]
    if unknown:
        raise DataError("unknown touchpoint", field=f"tp_{unknown[0]}", expected=", ".join(taxonomy.ids),
                        found=unknown[0])
    return {"id": doc_id, "text": text, "sentiment": sentiment, "touchpoints": tps}


def feedback_rows(training, dataset: str, limit: int = 200) -> list[dict[str, Any]]:
    """The newest corrections of a feedback dataset (who, when, labels), newest first."""
    from nlp.labeled.datasets import FEEDBACK_LOG

    path = Path(training.datasets.root) / dataset / FEEDBACK_LOG
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()[-limit:]
    out = []
    for line in reversed(lines):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        row = rec.get("row") or {}
        out.append({"at": rec.get("at"), "by": rec.get("by"), "id": row.get("id"), "text": row.get("text", ""),
                    "sentiment": row.get("sentiment"), "aspects": row.get("aspects") or []})
    return out


# -- shortlist marks ----------------------------------------------------------------------------------------
def marks(session: Session, wave_id: str) -> dict[tuple[str, str], ShortlistMark]:
    rows = session.scalars(select(ShortlistMark).where(ShortlistMark.wave_id == wave_id))
    return {(m.company, m.contact): m for m in rows}


def set_mark(session: Session, wave: Wave, *, company: str, contact: str, contacted: bool, interviewed: bool,
             note: str, by: str, shortlist: list[dict[str, Any]]) -> ShortlistMark:
    if not any(e.get("company") == company and (e.get("contact") or "") == contact for e in shortlist):
        raise DataError("not on this wave's shortlist", field="contact", expected="a shortlisted contact",
                        found=f"{company} / {contact}")
    if len(note) > 5000:
        raise DataError("note too long", field="note", expected="at most 5000 characters", found=len(note))
    for fld, value in (("company", company), ("contact", contact)):  # the columns are String(300)
        if len(value) > 300:
            raise DataError(f"{fld} too long to mark", field=fld, expected="at most 300 characters", found=len(value))
    m = session.scalars(select(ShortlistMark).where(ShortlistMark.wave_id == wave.id, ShortlistMark.company == company,
                                                    ShortlistMark.contact == contact)).first()
    if m is None:
        m = ShortlistMark(wave_id=wave.id, company=company, contact=contact)
        session.add(m)
    m.contacted, m.interviewed, m.note, m.updated_by, m.updated_at = contacted, interviewed, note, by, utcnow()
    session.commit()
    return m


# -- helpers --------------------------------------------------------------------------------------------------
def _cell(v: Any) -> str:
    s = "" if v is None else str(v)
    return s if len(s) <= 200 else s[:199] + "…"


def _scrub(text: str, wave: Wave) -> str:
    return scrub_paths(text.replace(wave.input_path, wave.input_name or "wave"))


def _error_dict(e: DataError, wave: Wave) -> dict[str, Any]:
    return {"row": e.row, "field": e.field, "message": _scrub(str(e), wave)}

