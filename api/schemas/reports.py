"""``/v1/reports``: a survey wave's strengths-and-weaknesses report."""
from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field


class ReportLinks(BaseModel):
    self: str
    html: str
    xlsx: str


class ReportOut(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    model: str
    input_name: str
    error: str | None = None
    row_errors: list[dict[str, Any]] = Field(default_factory=list)
    created_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    report: dict[str, Any] | None = Field(None, description="the JSON report once done")
    links: ReportLinks
