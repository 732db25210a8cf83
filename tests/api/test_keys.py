import re

from api import cli
from api.services.auth import TOKEN_PREFIX


def test_create_list_revoke_keys_over_http(client, keys):
    h = keys.h(keys.admin)
    r = client.post("/v1/keys", json={"role": "analyst", "name": "Отдел качества"}, headers=h)
    assert r.status_code == 201
    created = r.json()
    assert created["role"] == "analyst" and created["name"] == "Отдел качества"
    token = created["token"]
    assert token.startswith(TOKEN_PREFIX) and len(token) > 40
    assert token.startswith(created["prefix"])
    # the new key works, and the token is never shown again
    assert client.get("/v1/models", headers={"X-API-Key": token}).status_code == 200
    listed = client.get("/v1/keys", headers=h).json()["keys"]
    assert len(listed) == 4
    used = {k["name"]: k["last_used_at"] for k in listed}
    assert used["Отдел качества"] is not None and used["admin"] is not None
    assert used["analyst B"] is None  # never used
    assert all("token" not in k for k in listed)
    assert token not in str(listed)
    # revoke
    assert client.delete(f"/v1/keys/{created['id']}", headers=h).status_code == 204
    assert client.get("/v1/models", headers={"X-API-Key": token}).status_code == 401
    row = [k for k in client.get("/v1/keys", headers=h).json()["keys"] if k["id"] == created["id"]][0]
    assert row["revoked_at"] is not None
    assert client.delete("/v1/keys/does-not-exist", headers=h).status_code == 404


def test_key_create_validation(client, keys):
    h = keys.h(keys.admin)
    r = client.post("/v1/keys", json={"role": "superuser"}, headers=h)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["loc"] == ["body", "role"]
    r = client.post("/v1/keys", json={"role": "admin", "name": "x" * 201}, headers=h)
    assert r.status_code == 422


def test_keys_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CXLENS_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    assert cli.main(["keys", "create", "--role", "admin", "--name", "ops"]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert re.fullmatch(r"cxl_[A-Za-z0-9_-]{40,}", token)
    assert "shown only once" in err
    key_id = re.search(r"admin key ([0-9a-f]{32})", err).group(1)
    assert cli.main(["keys", "list"]) == 0
    out, _ = capsys.readouterr()
    lines = out.strip().splitlines()
    assert lines[0].split("\t")[:3] == ["id", "role", "prefix"]
    assert lines[1].startswith(f"{key_id}\tadmin\t") and lines[1].endswith("\tops")
    assert token not in out
    assert cli.main(["keys", "revoke", key_id]) == 0
    assert cli.main(["keys", "list", "--active"]) == 0
    out, _ = capsys.readouterr()
    assert len(out.strip().splitlines()) == 1  # header only
    assert cli.main(["keys", "revoke", "nope"]) == 2  # a DataError: one line, exit 2
    assert "no such key" in capsys.readouterr().err
