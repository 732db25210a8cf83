"""API keys (admin only): create (the token is shown once), list, revoke."""
from __future__ import annotations

from fastapi import APIRouter, Path, Response

from ..db import as_utc
from ..deps import AdminKey, JsonBody, SessionDep, SettingsDep
from ..errors import Conflict, NotFound
from ..models_db import ApiKey
from ..schemas.common import error_responses
from ..schemas.keys import KeyCreate, KeyCreated, KeyList
from ..services import auth as svc

router = APIRouter(prefix="/v1/keys", tags=["keys"])


def key_view(key: ApiKey) -> dict:
    return {"id": key.id, "name": key.name, "role": key.role, "prefix": key.prefix,
            "created_at": as_utc(key.created_at), "last_used_at": as_utc(key.last_used_at),
            "revoked_at": as_utc(key.revoked_at)}


@router.post("", status_code=201, response_model=KeyCreated, dependencies=[JsonBody],
             responses=error_responses(400, 401, 403, 413, 415, 422, 429), summary="Create an API key (admin)")
def create_key(principal: AdminKey, session: SessionDep, settings: SettingsDep, body: KeyCreate) -> dict:
    key, token = svc.create_key(session, role=body.role, name=body.name, pepper=settings.key_pepper)
    return {**key_view(key), "token": token}


@router.get("", response_model=KeyList, responses=error_responses(401, 403, 429), summary="List API keys (admin)")
def list_keys(principal: AdminKey, session: SessionDep) -> dict:
    return {"keys": [key_view(k) for k in svc.list_keys(session)]}


@router.delete("/{key_id}", status_code=204, responses=error_responses(401, 403, 404, 409, 422, 429),
               summary="Revoke an API key (admin); the last active admin key cannot be revoked (409)")
def revoke_key(principal: AdminKey, session: SessionDep,
               key_id: str = Path(max_length=64, description="the key's id (not the token)")) -> Response:
    try:
        revoked = svc.revoke_key(session, key_id, keep_an_admin=True)
    except svc.LastAdminKey:
        raise Conflict("this is the last active admin key: create another admin key first "
                       "(`POST /v1/keys` with role admin, or `cxlens keys create --role admin`)",
                       code="last_admin_key") from None
    if revoked is None:
        raise NotFound(f"no key {key_id!r}", code="key_not_found")
    return Response(status_code=204)
