"""Every error leaves the service in one JSON shape:

    {"error": {"code": "not_found", "message": "...", "details": [{"loc": [...], "msg": "..."}]}}

Domain exceptions (``nlp.errors``) and API exceptions are mapped to HTTP statuses here and only here;
unexpected exceptions become a 500 with no stack trace in the body (it goes to the log).
"""
from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from nlp.errors import CxlensError, DataError, ModelNotFoundError, NotFittedError, PromotionRefused

log = logging.getLogger("cxlens.api")

#: default error codes per status
STATUS_CODES: dict[int, str] = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    406: "not_acceptable", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
    422: "validation_error", 429: "rate_limited", 500: "internal_error", 503: "unavailable",
}


class ApiError(Exception):
    """An error with an HTTP status, a stable machine-readable ``code`` and optional details."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status_code: int | None = None,
                 details: Sequence[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.details = list(details or [])
        self.headers = headers


class Unauthorized(ApiError):
    status_code, code = 401, "unauthorized"

    def __init__(self, message: str = "a valid API key is required", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kw)


class Forbidden(ApiError):
    status_code, code = 403, "forbidden"


class NotFound(ApiError):
    status_code, code = 404, "not_found"


class Conflict(ApiError):
    status_code, code = 409, "conflict"


class PayloadTooLarge(ApiError):
    status_code, code = 413, "payload_too_large"


class UnsupportedMediaType(ApiError):
    status_code, code = 415, "unsupported_media_type"


class Unprocessable(ApiError):
    status_code, code = 422, "validation_error"


class RateLimited(ApiError):
    status_code, code = 429, "rate_limited"


class Unavailable(ApiError):
    status_code, code = 503, "unavailable"


class MethodNotAllowed(ApiError):
    status_code, code = 405, "method_not_allowed"

    def __init__(self, allowed: Sequence[str], message: str = "method not allowed") -> None:
        super().__init__(message, headers={"Allow": ", ".join(sorted(set(allowed)))})


def allowed_methods(request: Request) -> list[str]:
    """Every documented method for this request's path (for the ``Allow`` header of a 405), from the app's
    OpenAPI paths: Starlette alone names only the first route that matched the path."""
    table = getattr(request.app.state, "allow_table", None)
    if table is None:
        table = []
        for template, item in (request.app.openapi().get("paths") or {}).items():
            pattern = "".join("[^/]+" if part.startswith("{") else re.escape(part)
                              for part in re.split(r"(\{[^}]+\})", template))
            table.append((re.compile(f"^{pattern}$"), {m.upper() for m in item if m.lower() in _HTTP_METHODS}))
        request.app.state.allow_table = table
    path = request.url.path
    methods: set[str] = set()
    for rx, ms in table:
        if rx.match(path):
            methods |= ms
    return sorted(methods)


_HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


# -- no server paths in what clients see ---------------------------------------------------------------
SERVER_PATH = "<server path>"
#: absolute POSIX paths (two or more segments) and Windows drive paths; API routes are not paths
_ABS_PATH = re.compile(
    r"(?<![\w.:/~-])(?:/(?!v1/|docs\b|redoc\b|openapi\.json|health\b|ready\b)(?:[^\s'\"/<>|;,()\[\]{}]+/)+"
    r"[^\s'\"/<>|;,()\[\]{}]*|[A-Za-z]:\\(?:[^\s'\"\\<>|]+\\)*[^\s'\"\\<>|]*)")
_server_roots: set[str] = set()


def register_server_paths(paths: Iterable[Any]) -> None:
    """Directories of this service (data, spool, models, ...) that error texts must never show."""
    for p in paths:
        if p:
            try:
                _server_roots.add(str(Path(p).expanduser().resolve()))
            except (OSError, RuntimeError):
                pass
            _server_roots.add(str(p))


register_server_paths([os.getcwd(), Path.home(), sys.prefix, tempfile.gettempdir()])


def scrub_paths(text: Any) -> Any:
    """``text`` with every absolute server path replaced by ``<server path>`` (non-strings unchanged)."""
    if not isinstance(text, str) or ("/" not in text and "\\" not in text):
        return text
    for root in sorted(_server_roots, key=len, reverse=True):
        if len(root) > 1 and root in text:
            text = re.sub(re.escape(root) + r"(?:[/\\][^\s'\"<>|;,()\[\]{}]*)?", SERVER_PATH, text)
    return _ABS_PATH.sub(SERVER_PATH, text)


def error_body(code: str, message: str, details: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The one error shape; messages never carry server paths (the original is logged)."""
    clean = scrub_paths(message)
    out_details = []
    for d in details or []:
        d = dict(d)
        if "msg" in d:
            d["msg"] = scrub_paths(d["msg"])
        out_details.append(d)
    if clean != message or any(a.get("msg") != b.get("msg") for a, b in zip(out_details, details or [])):
        log.info("client error %s (server paths hidden from the client): %s %s", code, message,
                 [d.get("msg") for d in details or []])
    return {"error": {"code": code, "message": clean, "details": out_details}}


def error_response(status: int, code: str, message: str, details: Sequence[dict[str, Any]] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def data_error_detail(e: DataError, *, loc: Sequence[Any] = ()) -> dict[str, Any]:
    where: list[Any] = list(loc)
    if e.row is not None and not loc:
        where.append(e.row)
    if e.field:
        where.append(e.field)
    return {"loc": where, "msg": str(e)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def validation_details(errors: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"loc": [_jsonable(p) for p in err.get("loc", ())], "msg": str(err.get("msg", "invalid value"))}
            for err in errors]


async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


#: FastAPI's answer when a JSON body cannot be parsed at all (e.g. nested too deeply for the parser)
_BODY_PARSE_ERROR = "There was an error parsing the body"


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = STATUS_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 400 and message == _BODY_PARSE_ERROR:  # one code for every unparseable JSON body
        code, message = "invalid_json", "the request body is not valid JSON (or is nested too deeply)"
    if exc.status_code == 405:  # Starlette names only the first route that matched the path
        allowed = allowed_methods(request)
        if allowed:
            headers["Allow"] = ", ".join(allowed)
        message = f"method {request.method} not allowed here; allowed: {headers.get('Allow', 'none')}"
    return error_response(exc.status_code, code, message, headers=headers or None)


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    details = validation_details(exc.errors())
    # a body that is not JSON at all is a bad request, not a semantic validation failure
    if any(d["msg"].startswith("JSON decode error") for d in details):
        return error_response(400, "invalid_json", "the request body is not valid JSON", details)
    return error_response(422, "validation_error", "the request is not valid", details)


#: HTTP status of each domain error class (the most specific base listed wins); the body's ``code`` is the
#: error's own stable code (nlp/errors.py), passed through
DOMAIN_STATUS: tuple[tuple[type[CxlensError], int], ...] = (
    (DataError, 422), (ModelNotFoundError, 404), (PromotionRefused, 409), (NotFittedError, 409),
)


def domain_status(exc: CxlensError) -> int:
    if exc.code == "database_unavailable":  # api.db.DatabaseError (api.db imports this module's layer)
        return 503
    for cls, status in DOMAIN_STATUS:
        if isinstance(exc, cls):
            return status
    return 400


async def _domain_error(_: Request, exc: CxlensError) -> JSONResponse:
    details = [data_error_detail(exc)] if isinstance(exc, DataError) else None
    if isinstance(exc, PromotionRefused):
        details = [{"loc": ["gate"], "msg": f} for f in exc.failures]
    return error_response(domain_status(exc), exc.code, str(exc) or type(exc).__name__, details)


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(CxlensError, _domain_error)
    app.add_exception_handler(Exception, _unhandled)
