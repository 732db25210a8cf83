"""Batch classification jobs: persisted in the DB, processed in chunks by worker threads.

Exactly-once results: every chunk is committed in one transaction together with the checkpoint
(``rows_processed`` = the last input row whose result is stored) and only while this worker still
owns the job (``status='running' AND worker_id=me``); ``(job_id, row_no)`` is unique. A job
interrupted by a shutdown is handed back to the queue; one interrupted by a crash is taken over when
its heartbeat is older than the lease; both resume after the checkpoint.

Leases use one clock: on PostgreSQL the database server's (``now()``), so that workers on several
machines agree on whether a heartbeat is stale however far their own clocks drift; SQLite is one
machine, where the process clock is that clock.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from nlp.labeled.cells import csv_writer
from nlp.errors import CxlensError, DataError, ModelNotFoundError
from nlp.batch.executor import chunk_executor_from_env
from nlp.schema import SENTIMENTS, Document, document_from_dict

from ..db import as_utc, has_server_clock
from ..errors import Conflict, scrub_paths
from ..models_db import Job, JobResult, Report, TrainingJobRow, utcnow
from .auth import Principal
from .classify import failure_message, predict_isolated
from .models import ModelService, check_spec
from .spool import iter_spooled

log = logging.getLogger("cxlens.api.jobs")

ACTIVE = ("queued", "running")
FINAL = ("done", "failed", "cancelled")


# --------------------------------------------------------------------------------------------------
# creating, reading, cancelling
# --------------------------------------------------------------------------------------------------
def create_job(session: Session, principal: Principal, *, input_path: Path, input_format: str, input_name: str,
               input_bytes: int, rows_estimate: int | None, model_spec: str) -> Job:
    job = Job(owner_key_id=principal.key_id, status="queued", model_spec=check_spec(model_spec),
              input_path=str(input_path), input_format=input_format, input_name=(input_name or "")[:300],
              input_bytes=input_bytes, rows_total=rows_estimate, rows_processed=0, ok_count=0, error_count=0,
              attempts=0)
    session.add(job)
    session.commit()
    return job


def get_job(session: Session, principal: Principal, job_id: str) -> Job:
    """The job if the caller may see it; others' jobs are reported as not found."""
    return principal.get_owned(session, Job, job_id, kind="job")


def list_jobs(session: Session, principal: Principal, *, limit: int = 50, status: str | None = None,
              after: tuple[dt.datetime, str] | None = None) -> list[Job]:
    """Newest first; ``after`` = (created_at, id) of the last item of the previous page (keyset cursor)."""
    stmt = select(Job).order_by(Job.created_at.desc(), Job.id).limit(limit)
    if not principal.is_admin:
        stmt = stmt.where(Job.owner_key_id.is_(None) if principal.key_id is None else Job.owner_key_id == principal.key_id)
    if status:
        stmt = stmt.where(Job.status == status)
    if after is not None:
        stmt = stmt.where(or_(Job.created_at < after[0], and_(Job.created_at == after[0], Job.id > after[1])))
    return list(session.scalars(stmt))


def cancel_job(session: Session, principal: Principal, job_id: str) -> Job:
    job = get_job(session, principal, job_id)
    if job.status in FINAL:
        raise Conflict(f"job {job_id} is already {job.status}", code="job_finished")
    res = session.execute(update(Job).where(Job.id == job.id, Job.status.in_(ACTIVE))
                          .values(status="cancelled", finished_at=utcnow(), error="cancelled by the client"))
    session.commit()
    session.refresh(job)
    if res.rowcount != 1 and job.status != "cancelled":
        raise Conflict(f"job {job_id} is already {job.status}", code="job_finished")
    return job


def _eta_s(job: Job, done_n: int, total: int | None) -> float | None:
    """Seconds left at the rate of this run so far (rows since it started); 0 once finished."""
    if job.status in FINAL:
        return 0.0
    started = as_utc(job.started_at)
    if job.status != "running" or started is None or not total or done_n <= 0:
        return None
    elapsed = (as_utc(utcnow()) - started).total_seconds()
    return round(max(0.0, (total - done_n) * elapsed / done_n), 1) if elapsed > 0 else None


def job_view(job: Job) -> dict[str, Any]:
    done_n = job.ok_count + job.error_count
    total = done_n if job.status == "done" else job.rows_total
    if total is not None and total < done_n:
        total = done_n
    return {
        "id": job.id,
        "status": job.status,
        "model": {"spec": job.model_spec, "name": job.model_name, "version": job.model_version},
        "input": {"name": job.input_name, "format": job.input_format, "bytes": job.input_bytes,
                  "encoding": json.loads(job.input_encoding) if job.input_encoding else None},
        "progress": {"rows_total": total, "rows_processed": done_n, "ok": job.ok_count,
                     "failed": job.error_count, "checkpoint_row": job.rows_processed,
                     "percent": (round(100.0 * done_n / total, 1) if total else
                                 (100.0 if job.status == "done" else 0.0)),
                     "done": done_n, "total": total, "eta_s": _eta_s(job, done_n, total)},
        "attempts": job.attempts,
        "error": scrub_paths(job.error),
        "created_at": as_utc(job.created_at),
        "started_at": as_utc(job.started_at),
        "finished_at": as_utc(job.finished_at),
    }


def job_errors(session: Session, job: Job, *, limit: int = 20) -> list[dict[str, Any]]:
    rows = session.execute(select(JobResult.row_no, JobResult.payload)
                           .where(JobResult.job_id == job.id, JobResult.ok.is_(False))
                           .order_by(JobResult.row_no).limit(limit)).all()
    out = []
    for r, p in rows:
        payload = json.loads(p)
        if isinstance(payload.get("error"), dict):
            payload["error"]["message"] = scrub_paths(payload["error"].get("message"))
        out.append({"row": r, **payload})
    return out


# --------------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------------
def iter_result_payloads(factory: sessionmaker, job_id: str, *, batch: int = 1000) -> Iterator[tuple[int, bool, dict]]:
    """All results in input order, read in keyset-paginated batches (no long-lived cursor)."""
    last = 0
    while True:
        with factory() as s:
            rows = s.execute(select(JobResult.row_no, JobResult.ok, JobResult.payload)
                             .where(JobResult.job_id == job_id, JobResult.row_no > last)
                             .order_by(JobResult.row_no).limit(batch)).all()
        if not rows:
            return
        for row_no, ok, payload in rows:
            yield row_no, ok, json.loads(payload)
        last = rows[-1][0]


def results_jsonl(factory: sessionmaker, job_id: str) -> Iterator[bytes]:
    buf: list[str] = []
    for row_no, ok, payload in iter_result_payloads(factory, job_id):
        buf.append(json.dumps({"row": row_no, **payload}, ensure_ascii=False))
        if len(buf) >= 500:
            yield ("\n".join(buf) + "\n").encode("utf-8")
            buf = []
    if buf:
        yield ("\n".join(buf) + "\n").encode("utf-8")


CSV_COLUMNS = ["row", "id", "lang", "sentiment", *[f"p_{s}" for s in SENTIMENTS], "touchpoints", "model",
               "warnings", "error"]


def results_csv(factory: sessionmaker, job_id: str) -> Iterator[bytes]:
    """CSV (UTF-8 with BOM for Excel); ``touchpoints`` uses the ``id:polarity;...`` cell format that the
    labeled-data reader accepts back. Every cell goes through the spreadsheet-safe writer (nlp.labeled.cells)."""
    out = io.StringIO()
    w = csv_writer(out, lineterminator="\r\n")  # user text such as "=HYPERLINK(...)" is neutralised
    w.writerow(CSV_COLUMNS)
    yield ("\ufeff" + out.getvalue()).encode("utf-8")
    out.seek(0)
    out.truncate()
    n = 0
    for row_no, ok, p in iter_result_payloads(factory, job_id):
        if ok:
            sent = p.get("sentiment") or {}
            scores = sent.get("scores") or {}
            tps = ";".join(f"{t.get('touchpoint')}:{t.get('polarity')}" for t in p.get("touchpoints") or [])
            model = p.get("model") or {}
            w.writerow([row_no, p.get("id"), p.get("lang"), sent.get("label"),
                        *[scores.get(s, "") for s in SENTIMENTS], tps,
                        f"{model.get('name', '')}@{model.get('version', '')}", "; ".join(p.get("warnings") or []), ""])
        else:
            err = p.get("error") or {}
            w.writerow([row_no, p.get("id"), "", "", *[""] * len(SENTIMENTS), "", "", "", err.get("message", "")])
        n += 1
        if n % 500 == 0:
            yield out.getvalue().encode("utf-8")
            out.seek(0)
            out.truncate()
    if out.tell():
        yield out.getvalue().encode("utf-8")


# --------------------------------------------------------------------------------------------------
# the worker
# --------------------------------------------------------------------------------------------------
class _Stop(Exception):
    """The worker is stopping (or lost the job): leave the job where the last commit left it."""


class JobWorker:
    """Background threads that claim queued jobs (and report jobs) and process them in chunks."""

    def __init__(self, *, factory: sessionmaker, models: ModelService, threads: int, chunk_size: int,
                 lease_seconds: float, poll_seconds: float, max_attempts: int, max_rows: int,
                 max_chars: int | None = None,
                 report_runner: Callable[[Session, Report, "JobWorker"], None] | None = None,
                 training_runner: Callable[[str, "JobWorker"], None] | None = None) -> None:
        self.factory = factory
        self.models = models
        self.n_threads = threads
        self.chunk_size = chunk_size
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.poll = poll_seconds
        self.max_attempts = max_attempts
        self.max_rows = max_rows
        self.max_chars = max_chars
        self.report_runner = report_runner
        #: runs one training job (``api.services.training.TrainingService.run_job``)
        self.training_runner = training_runner
        self.id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        #: heartbeats and lease cut-offs from the database server's clock (PostgreSQL), see the module doc
        self.server_clock = has_server_clock(factory.kw.get("bind"))
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._release = True
        self._threads: list[threading.Thread] = []
        self._active: set[str] = set()
        self._active_lock = threading.Lock()
        #: test hook: called after each committed chunk with (job_id, rows_processed)
        self.on_chunk: Callable[[str, int], None] | None = None
        #: predicts one chunk: here, or as a task on a Dask cluster when CXLENS_DASK_SCHEDULER is set
        self.predict_chunk = chunk_executor_from_env(predict_isolated, models_dir=getattr(models, "models_dir", None))

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        for i in range(self.n_threads):
            t = threading.Thread(target=self._loop, name=f"cxlens-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        hb = threading.Thread(target=self._heartbeat_loop, name="cxlens-heartbeat", daemon=True)
        hb.start()
        self._threads.append(hb)

    def stop(self, *, timeout: float = 30.0, release: bool = True) -> None:
        """Stop after the current chunk. ``release=False`` abandons running jobs as a crash would (tests)."""
        if not release:
            self._release = False
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)
        self._threads = []

    def wake(self) -> None:
        self._wake.set()

    @property
    def stopping(self) -> threading.Event:
        """Set when the worker has been asked to stop."""
        return self._stop

    def crash(self) -> None:
        """Test hook: stop like a killed process would, leaving running jobs as they are (no hand-back)."""
        self._release = False
        self._stop.set()
        self._wake.set()

    def _clock(self):
        """The time written into heartbeats: the database's ``now()`` where it has one, else this process's."""
        return func.now() if self.server_clock else utcnow()

    def _stale(self, table):
        """A running item whose heartbeat is older than the lease (by the same clock as ``_clock``)."""
        cutoff = func.now() - self.lease if self.server_clock else utcnow() - self.lease
        return or_(table.heartbeat_at.is_(None), table.heartbeat_at < cutoff)

    @property
    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                did = self.run_once()
            except Exception:  # noqa: BLE001 - a worker thread must survive (DB hiccups etc.)
                log.exception("job worker error")
                did = False
            if not did:
                self._wake.wait(self.poll)
                self._wake.clear()

    def _heartbeat_loop(self) -> None:
        period = max(0.05, self.lease.total_seconds() / 3)
        while not self._stop.wait(period):
            with self._active_lock:
                active = list(self._active)
            if not active:
                continue
            try:
                with self.factory() as s:
                    now = self._clock()
                    s.execute(update(Job).where(Job.id.in_(active), Job.worker_id == self.id, Job.status == "running")
                              .values(heartbeat_at=now))
                    for table in (Report, TrainingJobRow):
                        s.execute(update(table).where(table.id.in_(active), table.worker_id == self.id,
                                                      table.status == "running").values(heartbeat_at=now))
                    s.commit()
            except Exception:  # noqa: BLE001
                log.exception("heartbeat failed")

    def run_once(self) -> bool:
        """Claim and process one job or report; False when there was nothing to do."""
        job_id = self._claim(Job)
        if job_id is not None:
            self._run_tracked(job_id, self._process_job)
            return True
        if self.report_runner is not None:
            rep_id = self._claim(Report)
            if rep_id is not None:
                self._run_tracked(rep_id, self._process_report)
                return True
        if self.training_runner is not None:
            train_id = self._claim(TrainingJobRow)
            if train_id is not None:
                self._run_tracked(train_id, self._process_training)
                return True
        return False

    def _run_tracked(self, item_id: str, fn: Callable[[str], None]) -> None:
        with self._active_lock:
            self._active.add(item_id)
        try:
            fn(item_id)
        finally:
            with self._active_lock:
                self._active.discard(item_id)

    # -- claiming ------------------------------------------------------------------------------
    def _claim(self, table) -> str | None:
        now = utcnow()
        with self.factory() as s:
            cands = s.execute(
                select(table.id, table.status, table.attempts)
                .where(or_(table.status == "queued", and_(table.status == "running", self._stale(table))))
                .order_by(table.created_at).limit(8)).all()
            for cid, status, attempts in cands:
                if status == "running" and attempts >= self.max_attempts:
                    res = s.execute(update(table).where(table.id == cid, table.status == "running",
                                                        table.attempts == attempts, self._stale(table))
                                    .values(status="failed", finished_at=now, worker_id=None,
                                            error=f"interrupted {attempts} times; giving up"))
                    s.commit()
                    continue
                values: dict[str, Any] = dict(status="running", worker_id=self.id, heartbeat_at=self._clock(),
                                              attempts=attempts + 1)
                if table is not Report:
                    values["started_at"] = now
                # the lease is checked again in the UPDATE itself: a heartbeat renewed since the SELECT
                # (a slow but live worker) keeps its job
                cond = [table.id == cid, table.status == status, table.attempts == attempts]
                if status == "running":
                    cond.append(self._stale(table))
                res = s.execute(update(table).where(*cond).values(**values))
                s.commit()
                if res.rowcount == 1:
                    if status == "running":
                        log.warning("took over %s %s (stale heartbeat; attempt %d)", table.__tablename__, cid,
                                    attempts + 1)
                    return cid
        return None

    def _owned(self, table, item_id: str):
        return and_(table.id == item_id, table.status == "running", table.worker_id == self.id)

    def _release_item(self, table, item_id: str) -> None:
        """Hand a job back to the queue on shutdown (this attempt does not count as a failure)."""
        with self.factory() as s:
            s.execute(update(table).where(self._owned(table, item_id))
                      .values(status="queued", worker_id=None, heartbeat_at=None, attempts=table.attempts - 1))
            s.commit()

    def _fail(self, table, item_id: str, message: str) -> None:
        with self.factory() as s:
            res = s.execute(update(table).where(self._owned(table, item_id))
                            .values(status="failed", worker_id=None, finished_at=utcnow(), error=message[:2000]))
            s.commit()
            item = s.get(table, item_id)
        if res.rowcount == 1 and getattr(item, "input_path", None):
            Path(item.input_path).unlink(missing_ok=True)  # a failed item is not retried: free the spool

    # -- processing jobs -----------------------------------------------------------------------
    def _process_job(self, job_id: str) -> None:
        with self.factory() as s:
            job = s.get(Job, job_id)
            if job is None:
                return
            spec, path, fmt, checkpoint = job.model_spec, Path(job.input_path), job.input_format, job.rows_processed
            name = job.input_name or path.name
        try:
            pipe = self.models.get(spec)
        except (ModelNotFoundError, DataError) as e:
            self._fail(Job, job_id, f"model {spec!r}: {e}")
            return
        except Exception as e:  # noqa: BLE001 - e.g. the default model is not loaded
            self._fail(Job, job_id, f"model {spec!r} unavailable: {getattr(e, 'message', None) or e}")
            return
        info = {"name": str(getattr(pipe, "name", "unknown")), "version": str(getattr(pipe, "version", "unknown"))}
        with self.factory() as s:
            s.execute(update(Job).where(self._owned(Job, job_id))
                      .values(model_name=info["name"], model_version=info["version"]))
            s.commit()
        if not path.exists():
            self._fail(Job, job_id, "the uploaded input file is missing from the spool directory")
            return
        row_warnings: dict[int, list[str]] = {}

        def on_decoding(dec) -> None:
            with self.factory() as s:
                s.execute(update(Job).where(self._owned(Job, job_id))
                          .values(input_encoding=json.dumps(dec.to_dict(), ensure_ascii=False)))
                s.commit()

        try:
            chunk: list[tuple[int, Document | DataError]] = []
            truncated = False
            last_row = checkpoint
            for row_no, rec in iter_spooled(path, fmt, source=name, on_decoding=on_decoding,
                                            on_warning=lambda r, m: row_warnings.setdefault(r, []).append(m)):
                if row_no <= checkpoint:
                    continue
                if row_no > self.max_rows:
                    truncated = True
                    break
                if isinstance(rec, DataError):
                    chunk.append((row_no, rec))
                else:
                    try:
                        doc = document_from_dict(rec, row=row_no, source=name, default_id=str(row_no))
                        doc.warnings = row_warnings.pop(row_no, [])
                        chunk.append((row_no, doc))
                    except DataError as e:
                        chunk.append((row_no, e))
                row_warnings.pop(row_no, None)
                last_row = row_no
                if len(chunk) >= self.chunk_size:
                    self._commit_chunk(job_id, pipe, chunk, last_row)
                    chunk = []
            self._commit_chunk(job_id, pipe, chunk, last_row, final=True,
                               note=f"input truncated after {self.max_rows} rows" if truncated else None)
            path.unlink(missing_ok=True)  # the results are in the DB; the spool file is no longer needed
        except _Stop:
            if self._release and self._stop.is_set():
                self._release_item(Job, job_id)
            return
        except Exception as e:  # noqa: BLE001 - the job fails, the worker goes on
            log.exception("job %s failed", job_id)
            self._fail(Job, job_id, f"processing failed: {type(e).__name__}: {e}")

    def _commit_chunk(self, job_id: str, pipe: Any, chunk: list[tuple[int, Document | DataError]], last_row: int,
                      *, final: bool = False, note: str | None = None) -> None:
        if self._stop.is_set():
            raise _Stop()
        docs = [(r, d) for r, d in chunk if isinstance(d, Document)]
        max_chars = self.max_chars
        preds: dict[int, dict | Exception] = {}
        to_predict = []
        for r, d in docs:
            if max_chars is not None and len(d.text) > max_chars:
                preds[r] = DataError("text too long", field="text", expected=f"at most {max_chars} characters",
                                     found=f"{len(d.text)} characters", row=r)
                preds[r].code = "text_too_long"  # type: ignore[union-attr]
            elif not d.text.strip():
                preds[r] = DataError("empty text", field="text", expected="a non-empty string", found=d.text, row=r)
                preds[r].code = "empty_text"  # type: ignore[union-attr]
            else:
                to_predict.append((r, d))
        for (r, _), p in zip(to_predict, self.predict_chunk(pipe, [d for _, d in to_predict])):
            preds[r] = p
        results = []
        ok_n = err_n = 0
        for r, d in chunk:
            if isinstance(d, DataError):
                payload = {"id": None, "error": {"code": "invalid_row", "message": str(d), "field": d.field}}
                results.append(JobResult(job_id=job_id, row_no=r, doc_id=None, ok=False,
                                         payload=json.dumps(payload, ensure_ascii=False)))
                err_n += 1
                continue
            p = preds[r]
            if isinstance(p, Exception):
                code, msg = failure_message(p)
                payload = {"id": d.id, "error": {"code": code, "message": msg,
                                                 "field": getattr(p, "field", None)}}
                results.append(JobResult(job_id=job_id, row_no=r, doc_id=d.id[:300], ok=False,
                                         payload=json.dumps(payload, ensure_ascii=False)))
                err_n += 1
            else:
                if d.warnings:  # reading warnings (e.g. invalid bytes replaced) go with the prediction
                    p = {**p, "warnings": [*d.warnings, *(p.get("warnings") or [])]}
                results.append(JobResult(job_id=job_id, row_no=r, doc_id=d.id[:300], ok=True,
                                         payload=json.dumps(p, ensure_ascii=False)))
                ok_n += 1
        now = utcnow()
        values: dict[str, Any] = dict(rows_processed=last_row, ok_count=Job.ok_count + ok_n,
                                      error_count=Job.error_count + err_n, heartbeat_at=self._clock())
        if final:
            values.update(status="done", finished_at=now, worker_id=None, error=note)
        owned = self._owned(Job, job_id)
        if results:  # never write rows at or before the checkpoint twice
            owned = and_(owned, Job.rows_processed < results[0].row_no)
        with self.factory() as s:
            res = s.execute(update(Job).where(owned).values(**values))
            if res.rowcount != 1:
                s.rollback()
                raise _Stop()  # cancelled, or taken over by another worker: write nothing
            s.add_all(results)
            s.commit()
        if self.on_chunk is not None:
            self.on_chunk(job_id, last_row)

    # -- processing reports --------------------------------------------------------------------
    def _process_report(self, report_id: str) -> None:
        assert self.report_runner is not None
        try:
            with self.factory() as s:
                rep = s.get(Report, report_id)
                if rep is None:
                    return
                self.report_runner(s, rep, self)
        except _Stop:
            if self._release and self._stop.is_set():
                self._release_item(Report, report_id)
        except CxlensError as e:
            self._fail(Report, report_id, str(e))
        except Exception as e:  # noqa: BLE001
            log.exception("report %s failed", report_id)
            self._fail(Report, report_id, f"report failed: {type(e).__name__}")

    # -- processing training jobs ---------------------------------------------------------------
    def _process_training(self, job_id: str) -> None:
        assert self.training_runner is not None
        try:
            self.training_runner(job_id, self)
        except _Stop:
            if self._release and self._stop.is_set():
                self._release_item(TrainingJobRow, job_id)
        except CxlensError as e:
            self._fail(TrainingJobRow, job_id, str(e))
        except Exception as e:  # noqa: BLE001
            log.exception("training job %s failed", job_id)
            self._fail(TrainingJobRow, job_id, f"training failed: {type(e).__name__}: {scrub_paths(str(e))}")

    def owns(self, table, item_id: str) -> bool:
        """Whether this worker still holds ``item_id`` (a lost lease means another worker took it over)."""
        with self.factory() as s:
            return s.execute(select(table.id).where(self._owned(table, item_id))).first() is not None

    def update_owned(self, table, item_id: str, **values: Any) -> bool:
        """Write ``values`` to an item this worker still owns; False when it does not any more."""
        with self.factory() as s:
            res = s.execute(update(table).where(self._owned(table, item_id)).values(**values))
            s.commit()
            return res.rowcount == 1

    def finish_report(self, report_id: str, *, result: dict[str, Any], row_errors: list[dict[str, Any]]) -> bool:
        with self.factory() as s:
            res = s.execute(update(Report).where(self._owned(Report, report_id))
                            .values(status="done", finished_at=utcnow(), worker_id=None,
                                    result=json.dumps(result, ensure_ascii=False, default=str),
                                    row_errors=json.dumps(row_errors, ensure_ascii=False, default=str)))
            s.commit()
            return res.rowcount == 1

    def check_stop(self) -> None:
        if self._stop.is_set():
            raise _Stop()


def wait_for(predicate: Callable[[], bool], *, timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until true or timeout (tests and tools)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
