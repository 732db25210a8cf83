"""Request dependencies (``Annotated`` aliases used by the routes)."""
from __future__ import annotations

import hashlib
import time
from typing import Annotated, Iterator

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from .errors import Forbidden, RateLimited, Unauthorized
from .services.auth import Principal, authenticate, touch
from .services.models import ModelService
from .services.training import TrainingService
from .settings import Settings

bearer_scheme = HTTPBearer(auto_error=False, description="`Authorization: Bearer <API key>`")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="the API key in `X-API-Key`")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessionmaker() as session:
        yield session


def get_models(request: Request) -> ModelService:
    return request.app.state.models


def get_training(request: Request) -> TrainingService:
    """The app's training service: datasets, feedback, training jobs, promotion (``api.main.create_app``)."""
    return request.app.state.training


SettingsDep = Annotated[Settings, Depends(get_settings)]
TrainingDep = Annotated[TrainingService, Depends(get_training)]
SessionDep = Annotated[Session, Depends(get_session)]
PipelineDep = Annotated[ModelService, Depends(get_models)]


def get_current_key(
    request: Request,
    settings: SettingsDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    header_key: Annotated[str | None, Security(api_key_scheme)],
) -> Principal:
    """The caller: a valid API key, or the anonymous local user when ``allow_anonymous`` is on.
    A presented but unknown/revoked key is always 401. Applies the per-key rate limit."""
    token = (bearer.credentials if bearer is not None else None) or header_key
    client = _client(request)
    if token:
        failures = request.app.state.auth_failures
        wait = failures.wait_for(client)  # cheap: no database lookup for an address that keeps failing
        if wait > 0:
            raise RateLimited("too many failed authentications from this address; retry later",
                              code="auth_rate_limited", headers={"Retry-After": str(failures.retry_after(wait))})
        with request.app.state.sessionmaker() as session:
            principal = authenticate(session, token.strip(), pepper=settings.key_pepper)
            if principal is None:
                failures.acquire(client)
                raise Unauthorized("invalid or revoked API key", code="invalid_api_key")
            _touch_throttled(request, session, principal.key_id)
    elif settings.allow_anonymous:
        principal = Principal(key_id=None, role=settings.anonymous_role, name="anonymous")
    else:
        raise Unauthorized("an API key is required (Authorization: Bearer <key> or X-API-Key)",
                           code="missing_api_key")
    limiter = request.app.state.limiter
    # per key (hashed token, as the middleware that rejects cheaply sees it) or per anonymous address
    wait = limiter.acquire(cost_bucket(token, client) if principal.key_id else f"anon:{client}")
    if wait > 0:
        raise RateLimited("rate limit exceeded; retry later",
                          headers={"Retry-After": str(limiter.retry_after(wait))})
    request.state.principal = principal
    request.state.cost_bucket = cost_bucket(token, client)
    return principal


def cost_bucket(token: str | None, client: str) -> str:
    """The character-budget bucket of a request: the presented key (hashed; the middleware sees the same
    headers before authentication), or the client address for anonymous calls."""
    if token:
        return "k:" + hashlib.sha256(token.strip().encode("utf-8")).hexdigest()[:32]
    return f"anon:{client}"


def token_from_headers(headers: dict[bytes, bytes]) -> str | None:
    """The API key of raw ASGI headers, as ``get_current_key`` reads it (Bearer first, then X-API-Key)."""
    auth = headers.get(b"authorization", b"").decode("latin-1")
    scheme, _, cred = auth.partition(" ")
    if scheme.lower() == "bearer" and cred.strip():
        return cred.strip()
    key = headers.get(b"x-api-key", b"").decode("latin-1").strip()
    return key or None


#: ``last_used_at`` is written at most this often per key (it is a DB write on the request path)
TOUCH_EVERY_S = 60.0


def _touch_throttled(request: Request, session: Session, key_id: str | None) -> None:
    if key_id is None:
        return
    seen: dict[str, float] = request.app.state.key_last_touch
    now = time.monotonic()
    last = seen.get(key_id)
    if last is not None and now - last < TOUCH_EVERY_S:
        return
    seen[key_id] = now
    try:
        touch(session, key_id)
    except Exception:  # noqa: BLE001 - bookkeeping must never fail a request (e.g. a locked SQLite file)
        session.rollback()


def _client(request: Request) -> str:
    return request.client.host if request.client else "local"


CurrentKey = Annotated[Principal, Depends(get_current_key)]


def require_admin(principal: CurrentKey) -> Principal:
    if not principal.is_admin:
        raise Forbidden("this operation needs an admin key", code="admin_required")
    return principal


AdminKey = Annotated[Principal, Depends(require_admin)]


def require_json(request: Request) -> None:
    """415 for a body that is not ``application/json`` on JSON-only routes."""
    from .errors import UnsupportedMediaType
    from .services.spool import media_type

    ctype = media_type(request.headers.get("content-type"))
    if ctype and not (ctype == "application/json" or ctype.endswith("+json")):
        raise UnsupportedMediaType(f"expected application/json, got {ctype!r}")


JsonBody = Depends(require_json)


def who(principal: Principal) -> str:
    """How a key is named in histories and model cards (its name, else its id)."""
    return principal.name or principal.key_id or "anonymous"
