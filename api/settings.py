"""Service settings: environment variables with the ``CXLENS_`` prefix, or a ``.env`` file.

Examples: ``CXLENS_DATABASE_URL=postgresql+psycopg://cx:secret@db/cxlens``,
``CXLENS_ALLOW_ANONYMOUS=true`` (local use without API keys), ``CXLENS_MAX_DOCS_PER_REQUEST=200``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from nlp import config as nlp_config

MiB = 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CXLENS_", env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore")

    # storage ---------------------------------------------------------------------------------
    #: SQLAlchemy URL; default: a SQLite file in ``nlp.config.data_dir()``
    database_url: str | None = None
    #: directory for uploaded job/report input files (default: ``<data dir>/spool``)
    spool_dir: Path | None = None
    #: model store root (default: ``nlp.config.models_dir()``)
    models_dir: Path | None = None
    #: model spec used when a request names none (``name`` or ``name@version``)
    default_model: str = nlp_config.DEFAULT_MODEL_NAME
    #: load the default model on start-up (train the bundled fast model when the store is empty)
    load_model_on_startup: bool = True
    #: run ``alembic upgrade head`` when the app starts
    auto_migrate: bool = True

    # limits ----------------------------------------------------------------------------------
    max_docs_per_request: int = Field(100, ge=1)
    max_chars_per_doc: int = Field(5120, ge=1)
    #: JSON request bodies (classify, JSON jobs, keys)
    max_body_bytes: int = Field(8 * MiB, ge=1024)
    #: file uploads (jobs, report waves), streamed to disk
    max_upload_bytes: int = Field(1024 * MiB, ge=1024)
    max_job_rows: int = Field(1_000_000, ge=1)
    #: token bucket per API key: sustained requests per minute and burst size; 0 disables
    rate_limit_per_minute: float = Field(600.0, ge=0)
    rate_limit_burst: int = Field(60, ge=1)
    #: cost budget per API key for ``POST /v1/classify``: characters of text per minute (sustained) and the
    #: bucket size; 0 disables. An empty bucket is answered 429 before the body is read, a request that
    #: does not fit 429 before classification
    char_budget_per_minute: float = Field(600_000.0, ge=0)
    char_budget_burst: int = Field(400_000, ge=1)
    #: characters of text in one ``POST /v1/classify`` (the sum over its documents; more: 413)
    max_chars_per_request: int = Field(200_000, ge=1)
    #: failed authentications (unknown or revoked keys) per client address: per minute and burst; 0 disables
    auth_failures_per_minute: float = Field(10.0, ge=0)
    auth_failure_burst: int = Field(20, ge=1)
    #: what one key may store in feedback datasets in total (``POST /v1/feedback``): rows and characters
    feedback_quota_rows: int = Field(20_000, ge=1)
    feedback_quota_chars: int = Field(10_000_000, ge=1)

    # security --------------------------------------------------------------------------------
    #: allow requests without an API key (local use only)
    allow_anonymous: bool = False
    #: the role given to key-less requests when ``allow_anonymous`` is on
    anonymous_role: Literal["analyst", "admin"] = "analyst"
    #: HMAC secret mixed into stored key hashes (changing it invalidates all keys)
    key_pepper: str = ""
    #: web app (``/``): a signed-in browser session lasts this long (hours), idle or not
    web_session_hours: float = Field(12.0, gt=0, le=24 * 30)
    #: the session cookie's ``Secure`` flag (browsers send it over HTTPS and to http://localhost only);
    #: turn off only behind a plain-HTTP reverse proxy on a trusted network
    web_cookie_secure: bool = True

    # job worker ------------------------------------------------------------------------------
    #: worker threads (0 = no worker in this process); default: one per CPU core
    job_workers: int = Field(default_factory=lambda: max(1, os.cpu_count() or 1), ge=0)
    #: rows classified and committed together (one checkpoint per chunk)
    job_chunk_size: int = Field(500, ge=1)
    #: a running job whose heartbeat is older than this is taken over by another worker
    job_lease_seconds: float = Field(60.0, gt=0)
    #: how often an idle worker looks for queued work (it is also woken on submission)
    job_poll_seconds: float = Field(1.0, gt=0)
    #: attempts before an interrupted job is marked failed instead of resumed
    job_max_attempts: int = Field(3, ge=1)

    @model_validator(mode="after")
    def _defaults(self) -> "Settings":
        if self.models_dir is None:
            self.models_dir = nlp_config.models_dir()
        if self.spool_dir is None:
            self.spool_dir = nlp_config.data_dir() / "spool"
        if not self.database_url:
            self.database_url = f"sqlite:///{(nlp_config.data_dir() / 'cxlens.db').as_posix()}"
        if self.char_budget_per_minute and self.char_budget_burst < self.max_chars_per_request:
            raise ValueError(f"char_budget_burst ({self.char_budget_burst}) must be at least max_chars_per_request "
                             f"({self.max_chars_per_request}), or a request of the allowed size never fits")
        return self

    @property
    def is_sqlite(self) -> bool:
        return str(self.database_url).startswith("sqlite")


def get_settings() -> Settings:
    return Settings()
