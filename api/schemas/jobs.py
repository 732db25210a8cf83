"""``/v1/jobs``: large batches in the background."""
from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .classify import DocumentItem
from .common import OPTIONAL_SPEC_PATTERN


class JobCreateJSON(BaseModel):
    documents: list[DocumentItem] = Field(min_length=1)
    model: str | None = Field(None, description="model `name` or `name@version`",
                              json_schema_extra={"pattern": OPTIONAL_SPEC_PATTERN})

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"documents": [{"id": "r1", "text": "Доставка опять задержалась на неделю."},
                       {"id": "r2", "text": "Invoices are always correct, thanks to the accountant."}],
         "model": "cx-touchpoints"}]})


class JobModel(BaseModel):
    spec: str
    name: str | None = None
    version: str | None = None


class JobInput(BaseModel):
    name: str
    format: str
    bytes: int
    encoding: dict[str, Any] | None = Field(
        None, description="the file-level encoding decision once the worker has read the upload: `encoding` "
                          "(utf-8, cp1251, ...), `bom`, `confidence` (legacy encodings), `invalid_bytes_replaced`, "
                          "`decision` (one readable line)")


class JobProgress(BaseModel):
    rows_total: int | None = Field(None, description="estimated from the upload's line count until done")
    rows_processed: int
    ok: int
    failed: int
    checkpoint_row: int = Field(description="the last input row whose result is committed")
    percent: float
    done: int = Field(description="rows finished (ok + failed), as `rows_processed`")
    total: int | None = Field(None, description="as `rows_total`")
    eta_s: float | None = Field(None, description="estimated seconds left at this run's rate so far (0 when "
                                                  "finished, null before the first chunk)")


class JobRowError(BaseModel):
    row: int | None = None
    id: str | None = None
    code: str
    message: str


class JobLinks(BaseModel):
    self: str
    results_jsonl: str
    results_csv: str


class JobOut(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    model: JobModel
    input: JobInput
    progress: JobProgress
    attempts: int
    error: str | None = None
    errors: list[JobRowError] = Field(default_factory=list, description="the first row errors")
    created_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    links: JobLinks


class JobList(BaseModel):
    jobs: list[JobOut]
    next_cursor: str | None = Field(None, description="pass as `?cursor=` for the next page; null on the last page")
