"""Liveness and readiness (no API key needed)."""
from __future__ import annotations

from fastapi import APIRouter, Request

from ..db import ping
from ..errors import Unavailable
from ..schemas.common import error_responses
from ..schemas.health import Health, Ready
from ..services.models import model_info

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Liveness: the process answers")
def health() -> dict:
    return {"status": "ok"}


@router.get("/ready", response_model=Ready, responses=error_responses(503),
            summary="Readiness: the default model is loaded and the database is reachable")
def ready(request: Request) -> dict:
    state = request.app.state
    models = state.models
    db_ok = ping(state.engine)
    worker = state.worker
    worker_state = "disabled" if worker is None else ("running" if worker.alive else "stopped")
    problems = []
    if not models.ready:
        problems.append({"loc": ["model"], "msg": models.load_error or "the default model is not loaded yet"})
    if not db_ok:
        problems.append({"loc": ["database"], "msg": "the database is unreachable"})
    if worker_state == "stopped":
        problems.append({"loc": ["worker"], "msg": "the job worker is not running"})
    if problems:
        raise Unavailable("the service is not ready", code="not_ready", details=problems)
    return {"status": "ready", "model": model_info(models.default), "database": "ok", "worker": worker_state}
