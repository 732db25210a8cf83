"""ORM tables (SQLAlchemy 2.x): api_keys, jobs, job_results, reports, training_jobs (and the web app's).

Portable SQL only (SQLite and PostgreSQL): strings, integers, booleans, timestamps and JSON kept as
text. Any change here needs an Alembic revision under ``api/migrations/versions``.
"""
from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def new_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16))  # analyst | admin
    #: HMAC-SHA256 of the token (hex); the token itself is never stored
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: first characters of the token, to recognise a key in listings
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    #: None = created anonymously (local mode)
    owner_key_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("api_keys.id"), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    model_spec: Mapped[str] = mapped_column(String(200))
    model_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(100), nullable=True)
    input_path: Mapped[str] = mapped_column(Text)
    input_format: Mapped[str] = mapped_column(String(8))  # jsonl | csv
    input_name: Mapped[str] = mapped_column(String(300), default="")
    input_bytes: Mapped[int] = mapped_column(Integer, default=0)
    #: the upload's encoding decision (``nlp.labeled.encoding.Decoding.to_dict()`` as JSON text), once read
    input_encoding: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: estimated number of input rows (line count at upload); exact once done
    rows_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: checkpoint: the last input row number whose result is committed
    rows_processed: Mapped[int] = mapped_column(Integer, default=0)
    ok_count: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class JobResult(Base):
    __tablename__ = "job_results"
    __table_args__ = (UniqueConstraint("job_id", "row_no", name="uq_job_results_job_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(32), ForeignKey("jobs.id", ondelete="CASCADE"))
    #: 1-based input row number (JSONL line / CSV data row)
    row_no: Mapped[int] = mapped_column(Integer)
    doc_id: Mapped[str | None] = mapped_column(String(300), nullable=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    #: the prediction row (ok) or the error object, as JSON text
    payload: Mapped[str] = mapped_column(Text)


class Report(Base):
    __tablename__ = "reports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_key_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("api_keys.id"), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    model_spec: Mapped[str] = mapped_column(String(200))
    input_path: Mapped[str] = mapped_column(Text)
    input_name: Mapped[str] = mapped_column(String(300), default="")
    #: report options (JSON text)
    options: Mapped[str] = mapped_column(Text, default="{}")
    #: the JSON report (text) once done
    result: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: row-level input errors (JSON list)
    row_errors: Mapped[str] = mapped_column(Text, default="[]")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)



class TrainingJobRow(Base):
    """A training job (``POST /v1/models/train``): claimed, leased and recovered by the job worker like
    classify and report jobs; a run interrupted by a crash is run again by the next worker (exactly once:
    the version it saved carries the job id)."""

    __tablename__ = "training_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_key_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("api_keys.id"), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    #: the request's training options (JSON text)
    options: Mapped[str] = mapped_column(Text, default="{}")
    by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: the latest progress snapshot (JSON text): stage, done, total, unit, eta_s, ...
    progress: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: version, gate decision, metrics, comparison summary (JSON text) once done
    result: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: what happened to earlier attempts (e.g. "attempt 1 was interrupted; run again")
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
