"""``/health``, ``/ready``."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from .classify import ModelRef


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready", "not_ready"]
    model: ModelRef | None = None
    database: Literal["ok", "unreachable"]
    worker: Literal["running", "stopped", "disabled"]
    detail: str | None = None
