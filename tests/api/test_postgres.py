"""The same code on PostgreSQL: migrations, keys, a job with per-row errors, and a crash takeover.

Runs only when ``CXLENS_TEST_POSTGRES_URL`` points at a scratch database (its tables are dropped), e.g.
``postgresql+psycopg://postgres@127.0.0.1:55432/cxapi``; needs the ``postgres`` extra (psycopg)."""
import json
import os
import time

import pytest
from fastapi.testclient import TestClient

URL = os.environ.get("CXLENS_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not URL, reason="CXLENS_TEST_POSTGRES_URL is not set (no PostgreSQL to test on)")


@pytest.fixture
def pg_settings(tmp_path):
    pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is not installed")
    from alembic import command

    from api import db
    from tests.api.conftest import make_settings

    db.upgrade(URL)
    command.downgrade(db.alembic_config(URL), "base")  # a clean schema for every test
    return make_settings(tmp_path, database_url=URL, job_chunk_size=2)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_postgres_end_to_end_with_crash_takeover(pg_settings):
    from api.main import create_app
    from api.models_db import Job
    from tests.api.conftest import FakeStore, Keys

    store1 = FakeStore()
    pipe1 = store1.models["fake-model"]
    app1 = create_app(pg_settings, loader=store1)
    with TestClient(app1) as c:
        keys = Keys(app1)
        h = keys.h(keys.analyst)
        assert c.get("/ready").json()["database"] == "ok"
        worker = app1.state.worker

        def crash(docs):
            if pipe1.calls == 1:
                worker.crash()
                raise SystemExit("killed")

        pipe1.before_predict = crash
        docs = [{"id": f"r{i}", "text": "manager" if i != 3 else ""} for i in range(1, 8)]
        r = c.post("/v1/jobs", json={"documents": docs}, headers=h)
        assert r.status_code == 202
        job_id = r.json()["id"]
        end = time.monotonic() + 10
        while (worker.alive or not worker.stopping.is_set()) and time.monotonic() < end:
            time.sleep(0.02)
        assert c.get(f"/v1/jobs/{job_id}", headers=keys.h(keys.other)).status_code == 404
        assert c.get("/v1/jobs", headers=keys.h(keys.admin)).json()["jobs"][0]["id"] == job_id
    with app1.state.sessionmaker() as s:
        job = s.get(Job, job_id)
        assert (job.status, job.rows_processed) == ("running", 2)
    time.sleep(0.3)
    app2 = create_app(pg_settings.model_copy(update={"job_lease_seconds": 0.2}), loader=FakeStore())
    with TestClient(app2) as c2:
        end = time.monotonic() + 10
        while c2.get(f"/v1/jobs/{job_id}", headers=h).json()["status"] != "done" and time.monotonic() < end:
            time.sleep(0.05)
        j = c2.get(f"/v1/jobs/{job_id}", headers=h).json()
        rows = [json.loads(x) for x in c2.get(f"/v1/jobs/{job_id}/results", headers=h).text.splitlines()]
        assert c2.delete(f"/v1/keys/{keys.other_row.id}", headers=keys.h(keys.admin)).status_code == 204
        assert c2.get("/v1/models", headers=keys.h(keys.other)).status_code == 401
    assert j["status"] == "done" and j["attempts"] == 2
    assert [r["row"] for r in rows] == list(range(1, 8))
    assert (j["progress"]["ok"], j["progress"]["failed"]) == (6, 1)
    assert rows[2]["error"]["code"] == "empty_text"
