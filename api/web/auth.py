"""Browser sessions for the web app: an API key is exchanged once for a random session token in an
HttpOnly, SameSite=Strict (Secure by default) cookie; the server keeps only its SHA-256 with the key id,
the expiry and the session's CSRF token (table ``web_sessions``). Every POST must carry that CSRF token
(form field ``csrf_token`` or header ``X-CSRF-Token``); the sign-in form itself uses a double-submit
cookie. Revoking the API key ends its sessions at the next request."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import delete

from ..db import as_utc
from ..models_db import ApiKey, utcnow
from ..services.auth import Principal, authenticate
from .db import WebSession

SESSION_COOKIE = "cxlens_session"
LOGIN_COOKIE = "cxlens_login"
LANG_COOKIE = "cxlens_lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
LANGS = ("ru", "en")


class LoginRequired(Exception):
    """No valid session: pages redirect to the sign-in page, htmx requests get ``HX-Redirect``."""


class WebForbidden(Exception):
    """Signed in, but the role does not allow this page or action."""

    def __init__(self, message: str = "admin only") -> None:
        super().__init__(message)
        self.message = message


class CsrfFailed(Exception):
    """A POST without the session's CSRF token (or from another origin)."""


@dataclass(frozen=True)
class WebUser:
    principal: Principal
    csrf: str
    session_id: str

    @property
    def is_admin(self) -> bool:
        return self.principal.is_admin

    @property
    def name(self) -> str:
        return self.principal.name or (self.principal.key_id or "")[:8]

    @property
    def role(self) -> str:
        return self.principal.role


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def sign_in(request: Request, api_key: str) -> tuple[str, WebUser] | None:
    """Check the API key (the failed-authentication limiter of the API applies) and open a session.
    Returns (cookie token, user), or None for an unknown or revoked key."""
    settings = request.app.state.settings
    with request.app.state.sessionmaker() as s:
        principal = authenticate(s, api_key.strip(), pepper=settings.key_pepper)
        if principal is None or principal.key_id is None:
            return None
        token = new_token()
        now = utcnow()
        row = WebSession(id=_digest(token), key_id=principal.key_id, csrf=new_token(), created_at=now,
                         expires_at=now + dt.timedelta(hours=settings.web_session_hours))
        s.add(row)
        s.execute(delete(WebSession).where(WebSession.expires_at < now))  # housekeeping
        s.commit()
        return token, WebUser(principal, row.csrf, row.id)


def sign_out(request: Request) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return
    with request.app.state.sessionmaker() as s:
        s.execute(delete(WebSession).where(WebSession.id == _digest(token)))
        s.commit()


def current_user(request: Request) -> WebUser | None:
    cached = getattr(request.state, "web_user", None)
    if cached is not None:
        return cached
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 200:
        return None
    with request.app.state.sessionmaker() as s:
        row = s.get(WebSession, _digest(token))
        if row is None or as_utc(row.expires_at) <= utcnow():
            return None
        key = s.get(ApiKey, row.key_id)
        if key is None or key.revoked_at is not None:
            return None
        user = WebUser(Principal(key_id=key.id, role=key.role, name=key.name), row.csrf, row.id)
    request.state.web_user = user
    return user


def require_user(request: Request) -> WebUser:
    user = current_user(request)
    if user is None:
        raise LoginRequired()
    return user


def require_admin(request: Request) -> WebUser:
    user = require_user(request)
    if not user.is_admin:
        raise WebForbidden("this page needs an admin key")
    return user


def same_origin(request: Request) -> bool:
    """A POST's ``Origin`` (when the browser sends one) must be this server."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def check_csrf(request: Request, user: WebUser, submitted: str | None) -> None:
    token = submitted or request.headers.get(CSRF_HEADER) or ""
    if not same_origin(request) or not token or not hmac.compare_digest(token, user.csrf):
        raise CsrfFailed()


def lang_of(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE)
    if lang in LANGS:
        return lang
    accept = (request.headers.get("accept-language") or "").lower()
    return "en" if accept.startswith("en") else "ru"


def set_session_cookie(response, token: str, *, secure: bool, max_age: int) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True, secure=secure, samesite="strict",
                        path="/")


#: route dependencies (``Annotated`` aliases, as ``api.deps``)
CurrentUser = Annotated[WebUser, Depends(require_user)]
AdminUser = Annotated[WebUser, Depends(require_admin)]
