from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.conftest import make_settings


def test_health_needs_no_key(client):
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_ready_reports_model_db_and_worker(client):
    r = client.get("/ready")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ready"
    assert body["model"] == {"name": "fake-model", "version": "1"}
    assert body["database"] == "ok"
    assert body["worker"] == "running"


def test_not_ready_without_a_model_is_503_in_the_error_shape(tmp_path, store):
    app = create_app(make_settings(tmp_path, default_model="missing-model"), loader=store)
    with TestClient(app) as c:
        assert c.get("/health").status_code == 200  # liveness does not depend on the model
        r = c.get("/ready")
        assert r.status_code == 503
        err = r.json()["error"]
        assert err["code"] == "not_ready"
        assert err["details"][0]["loc"] == ["model"]
        assert "missing-model" in err["details"][0]["msg"]


def test_worker_disabled_is_still_ready(tmp_path, store):
    app = create_app(make_settings(tmp_path, job_workers=0), loader=store)
    with TestClient(app) as c:
        r = c.get("/ready")
        assert r.status_code == 200
        assert r.json()["worker"] == "disabled"
