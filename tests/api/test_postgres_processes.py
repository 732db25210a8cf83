"""Two service processes on one PostgreSQL database share the job queue with leases; one is killed with
SIGKILL in the middle of a job and the other finishes it: every input row has exactly one result.

Each process is the app that ``cxlens serve`` runs (tests/api/pg_worker.py: migrations at start-up, the
job worker, uvicorn, SIGTERM = graceful stop), with the keyword-rule fake model slowed to 0.1 s per chunk so
that the kill lands mid-job."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from api import db
from api.models_db import Job, JobResult
from api.services.auth import create_key
from tests.api.conftest import FakePipeline
from tests.api.pg import free_port, wait_until

REPO = Path(__file__).resolve().parents[2]
N_ROWS = 60
CHUNK = 3
PEPPER = "pg-processes-test"


def _docs(tag: str) -> list[dict]:
    docs = [{"id": f"{tag}{i}", "text": ["manager was great", "invoice wrong", "delivery late", "ok"][i % 4]}
            for i in range(1, N_ROWS + 1)]
    docs[9] = {"id": f"{tag}10", "text": "BOOM"}  # the model fails on this row: one error row, the job goes on
    docs[20] = {"id": f"{tag}21", "text": ""}  # empty text: an error row
    return docs


def _expected(docs: list[dict]) -> list[dict]:
    """What one uninterrupted process writes for ``docs`` (the fake model is deterministic)."""
    pipe = FakePipeline()
    out = []
    for i, d in enumerate(docs, start=1):
        if not d["text"]:
            out.append({"row": i, "id": d["id"], "error": "empty_text"})
        elif "BOOM" in d["text"]:
            out.append({"row": i, "id": d["id"], "error": "prediction_failed"})
        else:
            out.append({"row": i, **pipe.predict([d])[0]})
    return out


def _normalise(rows: list[dict]) -> list[dict]:
    return [{"row": r["row"], "id": r["id"], "error": r["error"]["code"]} if "error" in r else r for r in rows]


class Service:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.fh = open(log, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.api.pg_worker", str(self.port)], cwd=REPO,
                                     env=env, stdout=self.fh, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def ready(self) -> bool:
        import httpx

        if self.proc.poll() is not None:
            raise AssertionError(f"service exited ({self.proc.returncode}):\n{self.output()}")
        try:
            return httpx.get(self.url + "/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def output(self) -> str:
        self.fh.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.fh.close()


@pytest.fixture
def services(pg_url, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXLENS_") or k == "CXLENS_CACHE_DIR"}
    env.update({
        "PYTHONPATH": str(REPO), "CXLENS_DATABASE_URL": pg_url, "CXLENS_KEY_PEPPER": PEPPER,
        # one spool directory for both, as on one host (several hosts: a shared file system, docs/deploy.md)
        "CXLENS_SPOOL_DIR": str(tmp_path / "spool"), "CXLENS_DATA_DIR": str(tmp_path / "data"),
        "CXLENS_MODELS_DIR": str(tmp_path / "models"), "CXLENS_DEFAULT_MODEL": "fake-model",
        "CXLENS_JOB_WORKERS": "1", "CXLENS_JOB_CHUNK_SIZE": str(CHUNK), "CXLENS_JOB_LEASE_SECONDS": "1.5",
        "CXLENS_JOB_POLL_SECONDS": "0.05", "CXLENS_RATE_LIMIT_PER_MINUTE": "0", "CXLENS_CHAR_BUDGET_PER_MINUTE": "0",
        "CXLENS_TEST_PREDICT_DELAY": "0.1",
    })
    started: list[Service] = []
    try:
        # both start together on the empty database: both migrate it (serialised by the migration lock)
        started = [Service(env, tmp_path / f"service-{i}.log") for i in range(2)]
        assert wait_until(lambda: all(s.ready() for s in started), timeout=120, interval=0.2), \
            "\n".join(s.output() for s in started)
        yield started
    finally:
        for s in started:
            s.stop()


def test_two_processes_share_the_queue_and_one_finishes_the_job_of_the_other_killed_mid_job(pg_url, services):
    import httpx

    engine = db.make_engine(pg_url)
    factory = db.make_sessionmaker(engine)
    try:
        with factory() as s:
            _, token = create_key(s, role="analyst", name="pg processes", pepper=PEPPER)
        h = {"Authorization": f"Bearer {token}"}
        a, b = services
        inputs = {}
        for tag in ("x", "y"):
            r = httpx.post(a.url + "/v1/jobs", json={"documents": _docs(tag)}, headers=h, timeout=30)
            assert r.status_code == 202, r.text
            inputs[r.json()["id"]] = _docs(tag)

        def jobs():
            with factory() as s:
                return {j.id: j for j in s.scalars(select(Job))}

        # both processes work at once: each has one worker thread, so each holds one of the two jobs
        pids = {s.pid: s for s in services}
        assert wait_until(lambda: {(j.worker_id or "").split("-")[0] for j in jobs().values()} ==
                          {str(p) for p in pids}, timeout=30), jobs()
        # SIGKILL the holder of the first job once it has committed a few chunks (and is not done)
        victim_job = next(iter(inputs))
        assert wait_until(lambda: jobs()[victim_job].rows_processed >= 3 * CHUNK, timeout=30)
        holder = jobs()[victim_job]
        victim = pids[int(holder.worker_id.split("-")[0])]
        survivor = a if victim is b else b
        os.kill(victim.pid, signal.SIGKILL)
        victim.proc.wait(10)
        checkpoint = jobs()[victim_job].rows_processed
        assert 0 < checkpoint < N_ROWS, "the kill did not land mid-job"
        assert jobs()[victim_job].status == "running"  # as a killed process leaves it

        # the survivor finishes its own job, then takes the victim's over once the lease has run out
        assert wait_until(lambda: all(j.status == "done" for j in jobs().values()), timeout=60), \
            (jobs(), survivor.output())
        final = jobs()
        assert final[victim_job].attempts == 2 and final[victim_job].worker_id is None
        assert f"took over jobs {victim_job}" in survivor.output()
        for job_id, docs in inputs.items():
            job = final[job_id]
            assert (job.rows_processed, job.ok_count, job.error_count) == (N_ROWS, N_ROWS - 2, 2)
            with factory() as s:
                row_nos = s.scalars(select(JobResult.row_no).where(JobResult.job_id == job_id)
                                    .order_by(JobResult.row_no)).all()
                dupes = s.execute(select(JobResult.row_no, func.count()).where(JobResult.job_id == job_id)
                                  .group_by(JobResult.row_no).having(func.count() > 1)).all()
            assert row_nos == list(range(1, N_ROWS + 1)) and dupes == []  # every row once: none lost, none twice
            r = httpx.get(f"{survivor.url}/v1/jobs/{job_id}/results", headers=h, timeout=30)
            assert r.status_code == 200
            rows = [json.loads(x) for x in r.text.splitlines()]
            assert _normalise(rows) == _expected(docs)  # identical to one uninterrupted run
        # the survivor stops gracefully on SIGTERM (uvicorn shuts the app down, then re-raises the signal)
        survivor.proc.send_signal(signal.SIGTERM)
        assert survivor.proc.wait(30) in (0, -signal.SIGTERM), survivor.output()
        assert "Traceback" not in survivor.output()
    finally:
        engine.dispose()
