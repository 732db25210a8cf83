"""Cursor pagination for the list routes (jobs, reports, datasets).

A page is ``limit`` items; when more follow, the answer names the next page with an opaque cursor: the
``next_cursor`` field (``GET /v1/jobs``), the ``X-Next-Cursor`` header and a ``Link: <...>; rel="next"``
header (every list route). Pass it back as ``?cursor=``. Cursors are keyset positions (``created_at`` and
``id`` of the last item, or a dataset name), so pages stay stable while new items arrive.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

from fastapi import Query, Request, Response

from nlp.errors import DataError

CursorQuery = Query(None, max_length=512, description="the `next_cursor` of the previous page (also in the "
                                                      "`X-Next-Cursor` header)")


def encode_cursor(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), default=str).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None, *, keys: tuple[str, ...]) -> dict[str, Any] | None:
    """The cursor's payload; a cursor this service did not make is a 422 naming ``cursor``."""
    if not cursor:
        return None
    try:
        pad = "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(cursor + pad).decode("utf-8"))
        if not isinstance(data, dict) or any(not isinstance(data.get(k), str) for k in keys):
            raise ValueError
        return data
    except (ValueError, UnicodeDecodeError, json.JSONDecodeError):
        raise DataError("invalid cursor", field="cursor", expected="the next_cursor of a previous page",
                        found=cursor[:40]) from None


def time_cursor(created_at: dt.datetime | None, item_id: str) -> str:
    return encode_cursor({"c": created_at.isoformat() if created_at else "", "i": item_id})


def parse_time_cursor(cursor: str | None) -> tuple[dt.datetime, str] | None:
    data = decode_cursor(cursor, keys=("c", "i"))
    if data is None:
        return None
    try:
        when = dt.datetime.fromisoformat(data["c"])
    except ValueError:
        raise DataError("invalid cursor", field="cursor", expected="the next_cursor of a previous page",
                        found=cursor[:40]) from None
    return when, data["i"]


def set_next(request: Request, response: Response, next_cursor: str | None) -> None:
    """``X-Next-Cursor`` and ``Link: rel="next"`` headers when there is a next page."""
    if not next_cursor:
        return
    params = {k: v for k, v in request.query_params.items() if k != "cursor"}
    params["cursor"] = next_cursor
    response.headers["X-Next-Cursor"] = next_cursor
    response.headers["Link"] = f'<{request.url.path}?{urlencode(params)}>; rel="next"'


NEXT_HEADERS = {
    "X-Next-Cursor": {"schema": {"type": "string"}, "description": "cursor of the next page (absent on the last)"},
    "Link": {"schema": {"type": "string"}, "description": '`<url>; rel="next"` when there is a next page'},
}
