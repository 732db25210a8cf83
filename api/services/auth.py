"""API keys: random tokens shown once, stored as HMAC-SHA256 hashes; roles ``analyst`` and ``admin``."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from nlp.errors import DataError

from ..errors import NotFound
from ..models_db import ApiKey, utcnow

ROLES: tuple[str, ...] = ("analyst", "admin")
TOKEN_PREFIX = "cxl_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key (``key_id``) or the anonymous local user (``key_id is None``)."""

    key_id: str | None
    role: str
    name: str = ""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def bucket(self) -> str:
        return self.key_id or "anonymous"

    def can_see(self, owner_key_id: str | None) -> bool:
        """Admins see everything; everyone else only what they created."""
        return self.is_admin or owner_key_id == self.key_id

    def get_owned(self, session: Session, model: type, obj_id: Any, *, kind: str) -> Any:
        """Row ``obj_id`` of ``model`` if this caller may see it; others' rows are reported as not found."""
        obj = session.get(model, obj_id) if isinstance(obj_id, str) and len(obj_id) <= 64 else None
        if obj is None or not self.can_see(obj.owner_key_id):
            raise NotFound(f"no {kind} {obj_id!r}", code=f"{kind}_not_found")
        return obj


def hash_token(token: str, pepper: str = "") -> str:
    return hmac.new(pepper.encode("utf-8"), token.encode("utf-8"), hashlib.sha256).hexdigest()


def create_key(session: Session, *, role: str, name: str = "", pepper: str = "") -> tuple[ApiKey, str]:
    """Create a key; returns the row and the token (the only time it is available)."""
    if role not in ROLES:
        raise DataError(field="role", expected=f"one of {'|'.join(ROLES)}", found=role)
    name = (name or "").strip()
    if len(name) > 200:
        raise DataError(field="name", expected="at most 200 characters", found=name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name, role=role, key_hash=hash_token(token, pepper), prefix=token[: len(TOKEN_PREFIX) + 6])
    session.add(key)
    session.commit()
    return key, token


def list_keys(session: Session, *, include_revoked: bool = True) -> list[ApiKey]:
    stmt = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(stmt))


class LastAdminKey(Exception):
    """Revoking this key would leave no active admin key."""


def revoke_key(session: Session, key_id: str, *, keep_an_admin: bool = False) -> ApiKey | None:
    """Revoke a key by id (idempotent); ``None`` when there is no such key.

    ``keep_an_admin`` (the API): refuse (:class:`LastAdminKey`) to revoke the last active admin key. The
    check and the revocation are one conditional ``UPDATE``, so two admins revoking each other at once
    cannot both succeed on SQLite (writes are serialised there)."""
    key = session.get(ApiKey, key_id)
    if key is None:
        return None
    if key.revoked_at is not None:
        return key
    stmt = update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
    if keep_an_admin:
        others = (select(func.count()).select_from(ApiKey)
                  .where(ApiKey.role == "admin", ApiKey.revoked_at.is_(None), ApiKey.id != key_id)
                  .scalar_subquery())
        stmt = stmt.where(or_(ApiKey.role != "admin", others > 0))
    res = session.execute(stmt.values(revoked_at=utcnow()).execution_options(synchronize_session=False))
    session.commit()
    session.refresh(key)
    if res.rowcount != 1 and key.revoked_at is None:
        raise LastAdminKey(key_id)
    return key


def touch(session: Session, key_id: str) -> None:
    """Record that a key was used (callers throttle this: it is a write)."""
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow()))
    session.commit()


def authenticate(session: Session, token: str, *, pepper: str = "") -> Principal | None:
    """The principal for a presented token, or ``None`` for unknown/revoked tokens."""
    if not token or len(token) > 200:
        return None
    key = session.scalars(select(ApiKey).where(ApiKey.key_hash == hash_token(token, pepper))).first()
    if key is None or key.revoked_at is not None:
        return None
    return Principal(key_id=key.id, role=key.role, name=key.name)
