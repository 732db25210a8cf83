"""Training jobs are durable: a job whose process is killed (SIGKILL) mid-run is taken over after its
lease and finishes exactly once; a re-run of a job whose version was already saved trains nothing."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from api.main import create_app
from api.services.jobs import wait_for
from nlp.lifecycle.store import ModelStore

from .conftest import Keys, make_settings
from .test_training import _rows

REPO = Path(__file__).resolve().parents[2]

#: the worker process: a real app whose training blocks inside fit (so the test can kill it mid-run)
CHILD = r"""
import sys, time
from pathlib import Path
import nlp.families.pipeline as P
marker = Path(sys.argv[2])
def blocked_fit(self, *a, **k):
    marker.write_text("fitting", encoding="utf-8")
    time.sleep(600)
P.CommentPipeline.fit = blocked_fit
from fastapi.testclient import TestClient
from api.main import create_app
from tests.api.conftest import make_settings
settings = make_settings(Path(sys.argv[1]), default_model="cx", load_model_on_startup=False, job_workers=1,
                         job_lease_seconds=1.0)
with TestClient(create_app(settings)):
    time.sleep(600)
"""

OPTS = {"name": "cx", "seed_weight": 0, "params": {"threshold_folds": 0}, "datasets": ["acme"]}


def _submit(tmp_path: Path) -> str:
    """A dataset and a queued training job, made by an app with no job worker."""
    app = create_app(make_settings(tmp_path, default_model="cx", load_model_on_startup=False, job_workers=0))
    with TestClient(app) as client:
        keys = Keys(app)
        admin = keys.h(keys.admin)
        r = client.post("/v1/datasets", files={"file": ("acme.jsonl", _rows(130), "application/json")},
                        data={"name": "acme"}, headers=admin)
        assert r.status_code == 200, r.text
        r = client.post("/v1/models/train", json=OPTS, headers=admin)
        assert r.status_code == 202, r.text
        return r.json()["id"]


def test_a_training_job_killed_mid_run_finishes_after_restart_exactly_once(tmp_path):
    job_id = _submit(tmp_path)
    marker = tmp_path / "fitting"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), str(marker)], cwd=REPO,
                             env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: marker.exists() or child.poll() is not None, timeout=240), "the child never trained"
        assert child.poll() is None, child.stderr.read().decode()[-2000:]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    app = create_app(make_settings(tmp_path, default_model="cx", load_model_on_startup=False, job_workers=1,
                                   job_lease_seconds=1.0))
    with TestClient(app):
        svc = app.state.training
        interrupted = svc.get_job(job_id)
        assert interrupted["status"] == "running" and interrupted["attempts"] == 1  # as the killed process left it
        job = svc.wait(job_id, timeout=300)
    assert job["status"] == "done", job
    assert job["attempts"] == 2 and "attempt 1 was interrupted" in job["note"]
    assert job["result"]["version"] == "1" and job["result"]["promoted"]
    store = ModelStore(tmp_path / "models")
    assert store.versions("cx") == ["1"]  # trained once: the killed attempt saved nothing
    assert store.meta("cx", "1")["training"]["job_id"] == job_id
    assert [(h["action"], h["version"]) for h in store.history("cx")] == [("promote", "1")]


class _Worker:
    """The part of JobWorker a training run talks to."""

    def __init__(self) -> None:
        self.writes: list[dict] = []

    def check_stop(self) -> None:
        pass

    def owns(self, table, item_id) -> bool:
        return True

    def update_owned(self, table, item_id, **values) -> bool:
        self.writes.append(values)
        from sqlalchemy import update

        with app_factory() as s:
            s.execute(update(table).where(table.id == item_id).values(**values))
            s.commit()
        return True


app_factory = None


def test_a_rerun_finds_the_version_an_interrupted_attempt_saved_and_trains_nothing(tmp_path):
    global app_factory
    job_id = _submit(tmp_path)
    app = create_app(make_settings(tmp_path, default_model="cx", load_model_on_startup=False, job_workers=0))
    svc = app.state.training
    app_factory = app.state.sessionmaker
    # the first attempt: a real run, stopped (as by a crash) after the version and its gate were saved
    svc.run_job(job_id, _Worker())
    store = ModelStore(tmp_path / "models")
    assert store.versions("cx") == ["1"]
    from sqlalchemy import update

    from api.models_db import TrainingJobRow

    with app_factory() as s:  # as if the process died before recording "done"
        s.execute(update(TrainingJobRow).where(TrainingJobRow.id == job_id)
                  .values(status="running", result=None, attempts=2))
        s.commit()
    calls = []
    svc.runner = lambda **kw: calls.append(kw)  # must not be called
    svc.run_job(job_id, _Worker())
    assert calls == [] and store.versions("cx") == ["1"]
    job = svc.get_job(job_id)
    assert job["status"] == "done" and job["result"]["version"] == "1" and job["result"]["recovered"]
    assert job["result"]["promoted"] and json.dumps(job["result"]["comparison"])


def test_a_half_written_version_is_marked_abandoned_and_the_job_trains_again(tmp_path):
    """A crash between saving the version and recording the gate's decision: the re-run does not serve
    that version (not even as 'the latest' of a store from before explicit promotion) and trains again."""
    global app_factory
    job_id = _submit(tmp_path)
    app = create_app(make_settings(tmp_path, default_model="cx", load_model_on_startup=False, job_workers=0))
    svc = app.state.training
    app_factory = app.state.sessionmaker
    store = ModelStore(tmp_path / "models")
    svc.run_job(job_id, _Worker())  # attempt 1, then undo what it did after saving the version
    vdir = store.path("cx", "1")
    meta = json.loads((vdir / "meta.json").read_text(encoding="utf-8"))
    for key in ("gate", "promotion", "promotions"):
        meta.pop(key, None)
    (vdir / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    for f in (vdir / "comparison.json", store.root / "cx" / "aliases.json", store.root / "cx" / "history.json"):
        f.unlink()
    svc.run_job(job_id, _Worker())
    assert store.versions("cx") == ["1", "2"]
    assert "interrupted" in store.meta("cx", "1")["abandoned"] and "abandoned" not in store.meta("cx", "2")
    assert svc.get_job(job_id)["result"]["version"] == "2" and store.resolve("cx") == ("cx", "2")
    assert [(h["action"], h["version"]) for h in store.history("cx")] == [("abandoned", "1"), ("promote", "2")]
