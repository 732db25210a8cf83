"""The same code on PostgreSQL: migrations, keys, a job with per-row errors, a crash takeover, and the job
leases under concurrency (claims, the lease clock, a takeover racing a heartbeat).

The server is a throwaway cluster started for the test session (tests/api/pg.py), or the scratch database
named by ``CXLENS_TEST_POSTGRES_URL``; without either the tests skip and say why."""
import datetime as dt
import json
import multiprocessing
import threading
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select, text, update

from api import db
from api.models_db import Job, JobResult
from api.services import jobs as jobs_mod
from api.services.jobs import JobWorker
from tests.api.conftest import FakeStore, Keys, make_settings
from tests.api.pg import wait_until


@pytest.fixture
def pg_settings(tmp_path, pg_url):
    return make_settings(tmp_path, database_url=pg_url, job_chunk_size=2)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_url(request, tmp_path):
    """The lease tests that mean the same on both back-ends run on both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'leases.db'}"
    return request.getfixturevalue("pg_url")


def test_the_tests_really_run_on_postgresql(pg_url):
    engine = db.make_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.dialect.name == "postgresql"
            assert conn.execute(text("SHOW server_version_num")).scalar_one().isdigit()
    finally:
        engine.dispose()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_postgres_end_to_end_with_crash_takeover(pg_settings):
    from api.main import create_app

    store1 = FakeStore()
    pipe1 = store1.models["fake-model"]
    app1 = create_app(pg_settings, loader=store1)
    with TestClient(app1) as c:
        keys = Keys(app1)
        h = keys.h(keys.analyst)
        assert c.get("/ready").json()["database"] == "ok"
        worker = app1.state.worker
        assert worker.server_clock  # leases on the database server's clock

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


# --------------------------------------------------------------------------------------------------
# migrations
# --------------------------------------------------------------------------------------------------
def _revisions(url):
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(db.alembic_config(url))
    return [r.revision for r in reversed(list(script.walk_revisions()))]  # base -> head


def _orm_metadata():
    """The one declarative metadata with every table module of ``api`` imported (``api.models_db``,
    ``api.web.db``, ...: modules named ``db`` or ``models_db``)."""
    import importlib
    import pkgutil

    import api
    from api.models_db import Base

    for mod in pkgutil.walk_packages(api.__path__, "api."):
        if mod.name.rsplit(".", 1)[-1] in ("db", "models_db"):
            importlib.import_module(mod.name)
    return Base.metadata


def test_migrations_up_and_down_one_revision_at_a_time(pg_url):
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    cfg = db.alembic_config(pg_url)
    revs = _revisions(pg_url)
    assert revs[:2] == ["0001", "0002"]
    engine = db.make_engine(pg_url)
    try:
        for rev in revs:
            command.upgrade(cfg, rev)
        with engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == revs[-1]
            # PostgreSQL reflects everything (types, nullability, indexes, unique constraints): no difference
            assert compare_metadata(MigrationContext.configure(conn), _orm_metadata()) == []
        # data written at head survives a downgrade to the first revision and back
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO jobs (id, status, model_spec, input_path, input_format, input_name, "
                              "input_bytes, rows_processed, ok_count, error_count, attempts, created_at) VALUES "
                              "('j1', 'done', 'm', '/x', 'jsonl', 'x', 1, 0, 0, 0, 0, now())"))
        for rev in reversed(revs[:-1]):
            command.downgrade(cfg, rev)
        with engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == "0001"
            assert conn.execute(text("SELECT id FROM jobs")).scalars().all() == ["j1"]
        command.downgrade(cfg, "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        db.upgrade(pg_url)
        db.upgrade(pg_url)  # idempotent
        assert {"api_keys", "jobs", "job_results", "reports"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _migrate_when_told(url, go) -> None:
    go.wait(60)
    db.upgrade(url)


def test_processes_starting_together_migrate_a_new_database_once(pg_url):
    """Services started at the same time on an empty database all run ``alembic upgrade head``: on
    PostgreSQL the migrations are serialised (an advisory lock), the later ones find the schema at head.

    Made deterministic: the test holds a SHARE lock on ``alembic_version`` so that the first migration
    stops before its commit, and lets go only once the other is waiting too (without the migration lock:
    on the first one's uncommitted ``CREATE TABLE``, which then fails it). Forked processes, not threads:
    Alembic's context is process-global."""
    n = 2
    engine = db.make_engine(pg_url)
    try:
        with engine.connect() as holder, engine.connect() as probe:
            holder.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                                "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"))
            holder.commit()
            holder.execute(text("LOCK TABLE alembic_version IN SHARE MODE"))  # until the rollback below
            ctx = multiprocessing.get_context("fork")
            go = ctx.Event()
            procs = [ctx.Process(target=_migrate_when_told, args=(pg_url, go), daemon=True) for _ in range(n)]
            for p in procs:
                p.start()
            go.set()

            def waiting() -> int:
                probe.rollback()
                return probe.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                          "AND wait_event_type = 'Lock'")).scalar_one()

            both_waiting = wait_until(lambda: waiting() >= n, timeout=60)
            holder.rollback()
        for p in procs:
            p.join(120)
        assert both_waiting
        assert [p.exitcode for p in procs] == [0] * n  # a failed one printed its traceback above
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == \
                [_revisions(pg_url)[-1]]
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------------------
# leases
# --------------------------------------------------------------------------------------------------
def _worker(factory, *, lease=30.0, max_attempts=3):
    return JobWorker(factory=factory, models=None, threads=1, chunk_size=10, lease_seconds=lease, poll_seconds=0.05,
                     max_attempts=max_attempts, max_rows=1000)


def _queue(factory, n):
    ids = []
    with factory() as s:
        for i in range(n):
            job = Job(status="queued", model_spec="fake-model", input_path=f"/nonexistent/{i}", input_format="jsonl",
                      input_name="x", input_bytes=0, rows_processed=0, ok_count=0, error_count=0, attempts=0)
            s.add(job)
            s.flush()
            ids.append(job.id)
        s.commit()
    return ids


@pytest.fixture
def factory(any_url):
    db.upgrade(any_url)
    engine = db.make_engine(any_url)
    yield db.make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def pg_factory(pg_url):
    db.upgrade(pg_url)
    engine = db.make_engine(pg_url)
    yield db.make_sessionmaker(engine)
    engine.dispose()


def test_concurrent_claims_never_give_one_job_to_two_workers(factory):
    ids = _queue(factory, 12)
    workers = [_worker(factory) for _ in range(4)]
    barrier = threading.Barrier(len(workers))
    claimed: dict[str, list[str]] = {w.id: [] for w in workers}

    def claim_all(w):
        barrier.wait()
        while (cid := w._claim(Job)) is not None:
            claimed[w.id].append(cid)

    threads = [threading.Thread(target=claim_all, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    got = [c for cs in claimed.values() for c in cs]
    assert sorted(got) == sorted(ids)  # every job once, none twice
    with factory() as s:
        owners = dict(s.execute(select(Job.id, Job.worker_id)).all())
        assert s.scalar(select(func.max(Job.attempts))) == 1
    assert all(owners[c] == wid for wid, cs in claimed.items() for c in cs)


def test_a_stale_job_is_taken_over_and_a_fresh_one_is_not(factory):
    (job_id,) = _queue(factory, 1)
    a, b = _worker(factory, lease=0.5), _worker(factory, lease=0.5)
    assert a._claim(Job) == job_id
    assert b._claim(Job) is None  # heartbeat fresh
    time.sleep(0.7)
    assert b._claim(Job) == job_id  # a's heartbeat is older than the lease: taken over
    with factory() as s:
        job = s.get(Job, job_id)
        assert (job.worker_id, job.attempts) == (b.id, 2)


def test_a_takeover_rechecks_the_lease_when_it_updates(factory, monkeypatch):
    """Worker B finds A's job stale, but A heartbeats between B's SELECT and B's UPDATE (A was slow, not
    dead): A keeps its job."""
    (job_id,) = _queue(factory, 1)
    a = _worker(factory, lease=0.3)
    assert a._claim(Job) == job_id
    time.sleep(0.5)
    a._active.add(job_id)

    class RenewAfterSelect:
        """B's session: right after its candidate SELECT, A's heartbeat thread renews the lease."""

        def __init__(self):
            self.s = factory()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.s.close()

        def execute(self, stmt, *args, **kw):
            res = self.s.execute(stmt, *args, **kw)
            if getattr(stmt, "is_select", False):
                with factory() as s2:
                    s2.execute(update(Job).where(Job.id == job_id, Job.worker_id == a.id)
                               .values(heartbeat_at=a._clock()))
                    s2.commit()
            return res

        def __getattr__(self, name):
            return getattr(self.s, name)

    b = _worker(factory, lease=0.3)
    b.factory = RenewAfterSelect
    assert b._claim(Job) is None
    with factory() as s:
        job = s.get(Job, job_id)
        assert (job.worker_id, job.attempts) == (a.id, 1)


@pytest.mark.parametrize("skew_minutes", [10, -10])
def test_the_lease_uses_the_database_clock_not_the_workers(pg_factory, monkeypatch, skew_minutes):
    """Workers on several machines: one machine's clock is 10 minutes off. On PostgreSQL leases are timed
    by the server's clock, so a live job is neither stolen by a worker whose clock runs ahead, nor made to
    look stale by the heartbeats of a worker whose clock runs behind."""
    (job_id,) = _queue(pg_factory, 1)
    real = jobs_mod.utcnow
    skewed = lambda: real() + dt.timedelta(minutes=skew_minutes)  # noqa: E731
    a, b = _worker(pg_factory, lease=30), _worker(pg_factory, lease=30)
    if skew_minutes < 0:  # A's clock is behind: its claim and heartbeats
        monkeypatch.setattr(jobs_mod, "utcnow", skewed)
        assert a._claim(Job) == job_id
        monkeypatch.setattr(jobs_mod, "utcnow", real)
        assert b._claim(Job) is None
    else:  # B's clock is ahead
        assert a._claim(Job) == job_id
        monkeypatch.setattr(jobs_mod, "utcnow", skewed)
        assert b._claim(Job) is None
    with pg_factory() as s:
        job = s.get(Job, job_id)
        assert (job.worker_id, job.attempts) == (a.id, 1)
        # the heartbeat is the server's time
        server_now = s.scalar(select(func.now()))
        assert abs((server_now - job.heartbeat_at).total_seconds()) < 60


def test_results_and_keys_with_nul_characters(pg_settings):
    """PostgreSQL text cannot hold NUL (SQLite can): an id with one must not fail the whole job."""
    from api.main import create_app

    app = create_app(pg_settings, loader=FakeStore())
    with TestClient(app) as c:
        keys = Keys(app)
        h = keys.h(keys.analyst)
        docs = [{"id": "a\x00b", "text": "manager"}, {"id": "ok", "text": "invoice"}]
        r = c.post("/v1/jobs", json={"documents": docs}, headers=h)
        assert r.status_code == 202
        job_id = r.json()["id"]
        end = time.monotonic() + 10
        while c.get(f"/v1/jobs/{job_id}", headers=h).json()["status"] not in ("done", "failed") and \
                time.monotonic() < end:
            time.sleep(0.05)
        j = c.get(f"/v1/jobs/{job_id}", headers=h).json()
        assert j["status"] == "done", j
        rows = [json.loads(x) for x in c.get(f"/v1/jobs/{job_id}/results", headers=h).text.splitlines()]
        # any text column: a key's name
        r = c.post("/v1/keys", json={"role": "analyst", "name": "QA\x00team"}, headers=keys.h(keys.admin))
        assert r.status_code == 201, r.text
        listed = c.get("/v1/keys", headers=keys.h(keys.admin)).json()["keys"]
        assert "QA\ufffdteam" in [k["name"] for k in listed]  # stored with U+FFFD in place of NUL
    assert [r["id"] for r in rows] == ["a\x00b", "ok"]  # the payload keeps the id as sent
    with app.state.sessionmaker() as s:
        assert s.scalar(select(func.count()).select_from(JobResult).where(JobResult.job_id == job_id)) == 2
