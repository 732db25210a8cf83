"""The FastAPI application: ``create_app(settings=None)``.

The lifespan migrates the database (``alembic upgrade head``), loads the default model once, and
starts the job worker; on shutdown the worker finishes its current chunk and hands unfinished jobs
back to the queue (they resume from their checkpoint on the next start).

Run it with ``cxlens serve`` or ``uvicorn api.main:app`` (``app`` is built from the environment).
"""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Any, Callable

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from starlette.types import Scope

from nlp import config as nlp_config

from . import db
from .errors import install_error_handlers, register_server_paths
from .middleware import BodyLimitMiddleware, CostGateMiddleware, SecurityHeadersMiddleware
from .routes import classify, datasets, docs, health, jobs, keys, models, reports, taxonomy
from .services.jobs import JobWorker
from .services.models import ModelService
from .services.ratelimit import TokenBucketLimiter
from .services.reports import run_report
from .services.spool import media_type
from .services.training import TrainingService
from .settings import Settings

log = logging.getLogger("cxlens.api")

UPLOAD_PATHS = {"/v1/jobs", "/v1/reports", "/v1/datasets", "/waves"}  # /waves: the web app's upload
#: routes whose CPU cost is paid from the key's character budget
COST_PATHS = {"/v1/classify"}

DESCRIPTION = """
Offline text analysis of customer-experience survey comments (Russian first, English second):
sentiment, touchpoints with polarity and evidence spans, strengths-and-weaknesses reports.

* **Auth**: `Authorization: Bearer <API key>` or `X-API-Key: <API key>` (keys: `cxlens keys create`).
  Analysts classify and report and see their own jobs; admins also manage keys and models.
* **Errors** always have the shape `{"error": {"code", "message", "details": [{"loc", "msg"}]}}`.
* **Small batches** (up to 100 comments): `POST /v1/classify`. **Large batches** (up to 1M):
  `POST /v1/jobs`, poll `GET /v1/jobs/{id}`, download `GET /v1/jobs/{id}/results`.

Анализ комментариев клиентов (русский и английский): тональность, точки контакта, отчёты о сильных и
слабых сторонах.
"""


def _limit_for(settings: Settings) -> Callable[[Scope], int]:
    def limit(scope: Scope) -> int:
        if scope.get("method") == "POST" and scope.get("path") in UPLOAD_PATHS:
            ctype = ""
            for k, v in scope.get("headers") or []:
                if k == b"content-type":
                    ctype = media_type(v.decode("latin-1"))
                    break
            if not (ctype == "application/json" or ctype.endswith("+json")):
                # multipart overhead on top of the file itself
                return settings.max_upload_bytes + 64 * 1024
        return settings.max_body_bytes

    return limit


def create_app(settings: Settings | None = None, *, loader: Callable[[str], Any] | None = None) -> FastAPI:
    """Build the app. ``loader(spec) -> Pipeline`` replaces ``nlp.lifecycle.store.load_pipeline`` (tests, tools)."""
    settings = settings or Settings()
    engine = db.make_engine(str(settings.database_url))
    factory = db.make_sessionmaker(engine)
    model_service = ModelService(default_spec=settings.default_model, models_dir=settings.models_dir, loader=loader)
    training_service = TrainingService(models_dir=settings.models_dir, datasets_dir=nlp_config.data_dir() / "datasets",
                                       factory=factory, on_production_change=model_service.production_changed)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.auto_migrate:
            await run_in_threadpool(db.upgrade, str(settings.database_url))
        if settings.load_model_on_startup:
            try:
                await run_in_threadpool(model_service.load_default)
            except Exception:  # noqa: BLE001 - /ready says why; /health still answers
                log.error("starting without a default model: %s", model_service.load_error)
        worker = None
        if settings.job_workers > 0:
            worker = JobWorker(factory=factory, models=model_service, threads=settings.job_workers,
                               chunk_size=settings.job_chunk_size, lease_seconds=settings.job_lease_seconds,
                               poll_seconds=settings.job_poll_seconds, max_attempts=settings.job_max_attempts,
                               max_rows=settings.max_job_rows, max_chars=settings.max_chars_per_doc,
                               report_runner=run_report, training_runner=training_service.run_job)
            training_service.wake = worker.wake
            worker.start()
        app.state.worker = worker
        try:
            yield
        finally:
            if worker is not None:
                await run_in_threadpool(worker.stop)
            engine.dispose()

    app = FastAPI(title="cxlens API", version="1.0.0", description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None,  # served locally by api.routes.docs (no CDN)
                  openapi_tags=[
                      {"name": "classify", "description": "Classify a few comments now"},
                      {"name": "jobs", "description": "Large batches in the background"},
                      {"name": "reports", "description": "Survey wave -> strengths-and-weaknesses report"},
                      {"name": "models", "description": "Model versions"},
                      {"name": "taxonomy", "description": "Touchpoints"},
                      {"name": "keys", "description": "API keys (admin)"},
                      {"name": "health", "description": "Liveness and readiness"},
                  ])
    app.state.settings = settings
    register_server_paths([settings.spool_dir, settings.models_dir, nlp_config.data_dir()])
    app.state.engine = engine
    app.state.sessionmaker = factory
    app.state.models = model_service
    app.state.training = training_service
    app.state.limiter = TokenBucketLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
    app.state.char_budget = TokenBucketLimiter(settings.char_budget_per_minute, settings.char_budget_burst)
    app.state.auth_failures = TokenBucketLimiter(settings.auth_failures_per_minute, settings.auth_failure_burst)
    app.state.worker = None
    app.state.key_last_touch = {}
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, limit_for=_limit_for(settings))
    app.add_middleware(CostGateMiddleware, limiter=app.state.char_budget, paths=COST_PATHS,
                       requests=app.state.limiter, auth_failures=app.state.auth_failures)
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: every answer gets the headers, errors too
    for r in (health, classify, jobs, reports, models, datasets, taxonomy, keys):
        app.include_router(r.router)
    docs.install(app)  # Swagger UI and ReDoc from local assets
    from . import web

    web.install(app)  # the analyst web app at / (pages, /static); docs/webapp.md
    return app


def __getattr__(name: str):  # ``uvicorn api.main:app`` builds the app lazily from the environment
    if name == "app":
        return create_app()
    raise AttributeError(name)
