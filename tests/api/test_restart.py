"""Jobs survive restarts: a graceful shutdown hands the job back, a crash leaves it to be taken over after
its lease; either way it resumes from the checkpoint and every input row has exactly one result."""
import json
import time

import pytest

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.main import create_app
from api.models_db import Job, JobResult
from tests.api.conftest import FakeStore, Keys, make_settings

N_ROWS = 9  # chunk size 2 -> chunks of rows 1-2, 3-4, 5-6, 7-8, 9


def submit(client, h):
    docs = [{"id": f"r{i}", "text": "manager" if i % 3 else "invoice"} for i in range(1, N_ROWS + 1)]
    docs[4] = {"id": "r5", "text": "BOOM"}  # a row that fails: still exactly one result row
    r = client.post("/v1/jobs", json={"documents": docs}, headers=h)
    assert r.status_code == 202
    return r.json()["id"]


def db_state(app, job_id):
    with app.state.sessionmaker() as s:
        job = s.get(Job, job_id)
        rows = s.execute(select(JobResult.row_no).where(JobResult.job_id == job_id)
                         .order_by(JobResult.row_no)).scalars().all()
        return job, rows


def wait_for(pred, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return False


def finish_on_new_app(settings, key_token, job_id, **kw):
    store2 = FakeStore()
    app2 = create_app(settings.model_copy(update=kw), loader=store2)
    with TestClient(app2) as c2:
        h = {"X-API-Key": key_token}
        assert wait_for(lambda: c2.get(f"/v1/jobs/{job_id}", headers=h).json()["status"] == "done")
        job = c2.get(f"/v1/jobs/{job_id}", headers=h).json()
        lines = c2.get(f"/v1/jobs/{job_id}/results", headers=h).text.splitlines()
        with app2.state.sessionmaker() as s:
            n_db = s.scalar(select(func.count()).select_from(JobResult).where(JobResult.job_id == job_id))
    return job, [json.loads(x) for x in lines], n_db, store2


def check_complete(job, rows, n_db):
    assert [r["row"] for r in rows] == list(range(1, N_ROWS + 1))  # none lost, none duplicated, in order
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(1, N_ROWS + 1)]
    assert n_db == N_ROWS
    assert job["progress"]["ok"] == N_ROWS - 1 and job["progress"]["failed"] == 1
    assert rows[4]["error"]["code"] == "prediction_failed"


def test_graceful_shutdown_mid_job_then_resume(tmp_path):
    settings = make_settings(tmp_path, job_chunk_size=2)
    store1 = FakeStore()
    app1 = create_app(settings, loader=store1)
    pipe1 = store1.models["fake-model"]
    with TestClient(app1) as c1:
        keys = Keys(app1)
        worker = app1.state.worker

        def hold_second_chunk(docs):
            if pipe1.calls == 1:  # chunk 1 is committed; wait in chunk 2 until the app shuts down
                worker.stopping.wait(10)

        pipe1.before_predict = hold_second_chunk
        job_id = submit(c1, keys.h(keys.analyst))
        assert wait_for(lambda: pipe1.calls >= 1 and db_state(app1, job_id)[0].rows_processed == 2)
    # shutdown: chunk 2 (in flight) was committed, then the job was handed back to the queue
    job, rows = db_state(app1, job_id)
    assert job.status == "queued" and job.worker_id is None
    assert job.rows_processed == 4 and rows == [1, 2, 3, 4]
    assert (job.ok_count, job.error_count) == (4, 0)
    assert job.attempts == 0  # a graceful hand-back is not a failed attempt

    job, rows, n_db, store2 = finish_on_new_app(settings, keys.analyst, job_id)
    check_complete(job, rows, n_db)
    # the new app classified only the rows after the checkpoint (5..9, in chunks 5-6, 7-8, 9)
    assert store2.models["fake-model"].docs_seen == 4  # row 5 (BOOM) raises instead of returning
    assert job["attempts"] == 1


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_crash_mid_chunk_then_takeover_after_the_lease(tmp_path):
    settings = make_settings(tmp_path, job_chunk_size=2)
    store1 = FakeStore()
    app1 = create_app(settings, loader=store1)
    pipe1 = store1.models["fake-model"]
    with TestClient(app1) as c1:
        keys = Keys(app1)
        worker = app1.state.worker

        def crash_in_second_chunk(docs):
            if pipe1.calls == 1:
                worker.crash()
                raise SystemExit("killed")  # the thread dies mid-chunk: nothing of chunk 2 is written

        pipe1.before_predict = crash_in_second_chunk
        job_id = submit(c1, keys.h(keys.analyst))
        assert wait_for(lambda: worker.stopping.is_set() and not worker.alive)
    job, rows = db_state(app1, job_id)
    assert job.status == "running" and job.worker_id is not None  # as a killed process leaves it
    assert job.rows_processed == 2 and rows == [1, 2]
    time.sleep(0.3)
    job, rows, n_db, store2 = finish_on_new_app(settings, keys.analyst, job_id, job_lease_seconds=0.2)
    check_complete(job, rows, n_db)
    assert job["attempts"] == 2


def test_a_job_interrupted_too_often_is_failed_with_a_reason(tmp_path):
    settings = make_settings(tmp_path, job_workers=0, job_max_attempts=2)
    app = create_app(settings, loader=FakeStore())
    with TestClient(app) as c:
        keys = Keys(app)
        job_id = submit(c, keys.h(keys.analyst))
        with app.state.sessionmaker() as s:
            job = s.get(Job, job_id)
            job.status, job.attempts, job.worker_id = "running", 2, "dead-worker"
            job.heartbeat_at = None
            s.commit()
    app2 = create_app(settings.model_copy(update={"job_workers": 1}), loader=FakeStore())
    with TestClient(app2) as c2:
        h = {"X-API-Key": keys.analyst}
        assert wait_for(lambda: c2.get(f"/v1/jobs/{job_id}", headers=h).json()["status"] == "failed")
        j = c2.get(f"/v1/jobs/{job_id}", headers=h).json()
    assert j["error"] == "interrupted 2 times; giving up"
