"""``/v1/keys``: API keys (admin)."""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field


class KeyCreate(BaseModel):
    role: Literal["analyst", "admin"] = "analyst"
    name: str = Field("", max_length=200, examples=["Отдел качества / QA team"])


class KeyOut(BaseModel):
    id: str
    name: str
    role: str
    prefix: str = Field(description="first characters of the token, to recognise it")
    created_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None


class KeyCreated(KeyOut):
    token: str = Field(description="the API key; shown only once, store it now")


class KeyList(BaseModel):
    keys: list[KeyOut]
