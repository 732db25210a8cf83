"""Auth matrix: no key / wrong key / revoked key / wrong role / other user's resources; anonymous mode."""
import time

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.models_db import ApiKey
from api.services.auth import hash_token
from tests.api.conftest import make_settings

DOC = {"documents": ["manager"]}

#: (method, path, body) of routes that need a key of any role
ANALYST_ROUTES = [
    ("POST", "/v1/classify", DOC),
    ("GET", "/v1/models", None),
    ("GET", "/v1/taxonomy", None),
    ("GET", "/v1/jobs", None),
    ("POST", "/v1/jobs", DOC),
    ("GET", "/v1/reports", None),
]
ADMIN_ROUTES = [
    ("GET", "/v1/keys", None),
    ("POST", "/v1/keys", {"role": "analyst", "name": "x"}),
    ("DELETE", "/v1/keys/abc", None),
    ("PUT", "/v1/models/default", {"model": "fake-model@2"}),
]


def call(client, method, path, body, headers=None):
    return client.request(method, path, json=body, headers=headers or {})


@pytest.mark.parametrize("method,path,body", ANALYST_ROUTES + ADMIN_ROUTES)
def test_no_key_is_401(client, keys, method, path, body):
    r = call(client, method, path, body)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "missing_api_key"
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("method,path,body", ANALYST_ROUTES + ADMIN_ROUTES)
def test_wrong_key_is_401(client, keys, method, path, body):
    r = call(client, method, path, body, {"Authorization": "Bearer cxl_not-a-real-key"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize("method,path,body", ANALYST_ROUTES)
def test_analyst_key_works_in_both_headers(client, keys, method, path, body):
    assert call(client, method, path, body, keys.h(keys.analyst)).status_code in (200, 202)
    assert call(client, method, path, body, {"X-API-Key": keys.analyst}).status_code in (200, 202)


@pytest.mark.parametrize("method,path,body", ADMIN_ROUTES)
def test_analyst_on_admin_routes_is_403(client, keys, method, path, body):
    r = call(client, method, path, body, keys.h(keys.analyst))
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "admin_required"


def test_admin_can_do_admin_things(client, keys):
    h = keys.h(keys.admin)
    assert client.get("/v1/keys", headers=h).status_code == 200
    assert client.put("/v1/models/default", json={"model": "fake-model@2"}, headers=h).status_code == 200


def test_revoked_key_is_401(client, keys):
    h = keys.h(keys.other)
    assert client.get("/v1/models", headers=h).status_code == 200
    assert client.delete(f"/v1/keys/{keys.other_row.id}", headers=keys.h(keys.admin)).status_code == 204
    r = client.get("/v1/models", headers=h)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"


def _wait_done(client, url, h):
    for _ in range(200):
        j = client.get(url, headers=h).json()
        if j["status"] in ("done", "failed", "cancelled"):
            return j
        time.sleep(0.02)
    raise AssertionError(f"job not finished: {j}")


def test_jobs_are_visible_only_to_their_owner_or_an_admin(client, keys):
    owner, other, admin = keys.h(keys.analyst), keys.h(keys.other), keys.h(keys.admin)
    r = client.post("/v1/jobs", json={"documents": ["manager", "invoice"]}, headers=owner)
    assert r.status_code == 202
    url = r.headers["location"]
    job_id = r.json()["id"]
    _wait_done(client, url, owner)
    for path in (url, url + "/results", url + "/results?format=csv"):
        r = client.get(path, headers=other)
        assert r.status_code == 404, path
        assert r.json()["error"]["code"] == "job_not_found"
        assert client.get(path, headers=owner).status_code == 200
        assert client.get(path, headers=admin).status_code == 200
    assert client.delete(url, headers=other).status_code == 404
    assert [j["id"] for j in client.get("/v1/jobs", headers=owner).json()["jobs"]] == [job_id]
    assert client.get("/v1/jobs", headers=other).json()["jobs"] == []
    assert [j["id"] for j in client.get("/v1/jobs", headers=admin).json()["jobs"]] == [job_id]


def test_keys_are_stored_hashed(client, keys, app):
    with app.state.sessionmaker() as s:
        rows = s.query(ApiKey).all()
    assert len(rows) == 3
    stored = {r.key_hash for r in rows}
    assert keys.analyst not in stored
    assert hash_token(keys.analyst) in stored
    assert all(len(h) == 64 for h in stored)


def test_anonymous_mode(tmp_path, store):
    app = create_app(make_settings(tmp_path, allow_anonymous=True), loader=store)
    with TestClient(app) as c:
        assert c.post("/v1/classify", json=DOC).status_code == 200
        # admin routes still need an admin (anonymous = analyst by default)
        assert c.get("/v1/keys").status_code == 403
        # a wrong key is still rejected, even in anonymous mode
        assert c.get("/v1/models", headers={"X-API-Key": "wrong"}).status_code == 401


def test_rate_limit_per_key_with_retry_after(tmp_path, store):
    app = create_app(make_settings(tmp_path, rate_limit_per_minute=60, rate_limit_burst=3), loader=store)
    with TestClient(app) as c:
        from tests.api.conftest import Keys

        k = Keys(app)
        codes = [c.get("/v1/models", headers=k.h(k.analyst)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = c.get("/v1/models", headers=k.h(k.analyst))
        assert r.status_code == 429
        assert r.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(r.headers["retry-after"]) <= 2  # one token per second
        # another key has its own bucket
        assert c.get("/v1/models", headers=k.h(k.other)).status_code == 200
