"""ASGI middleware: request size limits (a ``Content-Length`` check before anything is read, and a
streaming cap on the bytes actually received; uploads get ``max_upload_bytes``, every other body
``max_body_bytes``), the cheap character-budget gate, and the security headers of every response."""
from __future__ import annotations

import json
from typing import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_body


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, limit_for: Callable[[Scope], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                await _send_error(send, 400, "bad_request", "invalid Content-Length header")
                return
            if n > limit:
                await _send_error(send, 413, "payload_too_large",
                                  f"the request body is larger than the limit of {limit} bytes")
                return
        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _TooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the app's own error response is replaced by the 413 below
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await _send_error(send, 413, "payload_too_large",
                              f"the request body is larger than the limit of {limit} bytes")


async def _send_error(send: Send, status: int, code: str, message: str,
                      headers: dict[str, str] | None = None, close: bool = True) -> None:
    body = json.dumps(error_body(code, message)).encode("utf-8")
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        raw.append((b"connection", b"close"))
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


#: routes that need no key (never limited here)
OPEN_PREFIXES = ("/health", "/ready", "/docs", "/redoc", "/openapi.json")


class CostGateMiddleware:
    """Cheap rejection: a request that would be refused with 429 anyway is refused before its body is
    read or parsed and before authentication touches the database. Checked (nothing is taken here; the
    dependencies and routes take): the failed-authentication bucket of the client address (when a key is
    presented), the key's request bucket, and on the cost-limited routes (``POST /v1/classify``) the key's
    character budget, which the route charges once it knows the characters (``api.routes.classify``)."""

    def __init__(self, app: ASGIApp, *, limiter, paths: set[str], requests=None, auth_failures=None) -> None:
        self.app = app
        self.limiter = limiter
        self.paths = paths
        self.requests = requests
        self.auth_failures = auth_failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if scope["type"] == "http" and not path.startswith(OPEN_PREFIXES):
            from .deps import cost_bucket, token_from_headers

            headers = dict(scope.get("headers") or [])
            client = (scope.get("client") or ("local", 0))[0] or "local"
            token = token_from_headers(headers)
            bucket = cost_bucket(token, client)
            checks = []
            if token and self.auth_failures is not None:
                checks.append((self.auth_failures, client, "auth_rate_limited",
                               "too many failed authentications from this address; retry later"))
            if self.requests is not None:
                checks.append((self.requests, bucket, "rate_limited", "rate limit exceeded; retry later"))
            if scope.get("method") == "POST" and path in self.paths:
                checks.append((self.limiter, bucket, "char_budget_exceeded",
                               "the character budget of this key is used up; retry later"))
            for lim, key, code, message in checks:
                wait = lim.wait_for(key) if lim.enabled else 0.0
                if wait > 0:
                    await _send_error(send, 429, code, message,
                                      headers={"Retry-After": str(lim.retry_after(wait))}, close=False)
                    return
        await self.app(scope, receive, send)


#: Content-Security-Policy per kind of answer: JSON and files load nothing; the docs pages load same-origin
#: scripts only (Swagger UI and ReDoc need inline styles, data: images and a blob: worker); the HTML report
#: is self-contained (inline styles and data: images, no script)
CSP_API = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
CSP_DOCS = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; "
            "base-uri 'self'; form-action 'none'")
CSP_REPORT = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; frame-ancestors 'none'; "
              "base-uri 'none'; form-action 'none'")
DOCS_PREFIXES = ("/docs", "/redoc", "/docs-assets/")


def csp_for(path: str) -> str:
    if path in ("/docs", "/redoc") or path.startswith(DOCS_PREFIXES):
        return CSP_DOCS
    if path.startswith("/v1/reports/") and path.endswith(".html"):
        return CSP_REPORT
    return CSP_API


class SecurityHeadersMiddleware:
    """``X-Content-Type-Options: nosniff``, ``Content-Security-Policy`` (:func:`csp_for`),
    ``Referrer-Policy: no-referrer`` and ``X-Frame-Options: DENY`` on every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [(b"x-content-type-options", b"nosniff"),
                 (b"content-security-policy", csp_for(scope.get("path", "")).encode("latin-1")),
                 (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers") or []}
                message = {**message, "headers": [*(message.get("headers") or []),
                                                  *[(k, v) for k, v in extra if k not in names]]}
            await send(message)

        await self.app(scope, receive, with_headers)
