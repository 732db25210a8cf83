"""A real PostgreSQL server for the API tests: a throwaway cluster started once per test session.

Where the server comes from, in order:

1. ``CXLENS_TEST_POSTGRES_URL`` (e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/cxtest``): an existing
   server; every test gets that database with all of its tables dropped first (use a scratch database).
2. Otherwise the PostgreSQL server binaries of this machine (``CXLENS_TEST_PG_BINDIR``, else the newest
   ``/usr/lib/postgresql/*/bin`` (the Debian ``postgresql`` package), else ``pg_ctl`` on ``PATH``):
   ``initdb`` into a temporary directory, ``pg_ctl start`` on a free loopback port (trust auth, no fsync),
   one fresh database per test, ``pg_ctl stop`` and the directory removed at the end of the session.
   PostgreSQL refuses to run as root, so under root the server runs as ``nobody``.

When neither is possible (or psycopg, the ``postgres`` extra, is missing) the PostgreSQL tests skip and
say why, unless ``CXLENS_TEST_POSTGRES_REQUIRED=1`` (set by ``.ci/run`` once the server package is
installed): then they fail, so that CI cannot silently lose them.
"""
from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

ENV_URL = "CXLENS_TEST_POSTGRES_URL"
ENV_BINDIR = "CXLENS_TEST_PG_BINDIR"
ENV_REQUIRED = "CXLENS_TEST_POSTGRES_REQUIRED"
#: the unprivileged account that runs the server when the tests run as root
RUN_AS = ("nobody", "cxlens-test")


class Unavailable(Exception):
    """No PostgreSQL for this test session (the message says why)."""


def unavailable(reason: str):
    """Skip (or fail, when PostgreSQL is required) with ``reason``."""
    if os.environ.get(ENV_REQUIRED, "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL is required ({ENV_REQUIRED}) but unavailable: {reason}", pytrace=False)
    pytest.skip(f"no PostgreSQL to test on: {reason}")


def _version_key(path: str) -> tuple:
    m = re.search(r"/postgresql/([\d.]+)/bin$", path)
    return tuple(int(x) for x in m.group(1).split(".") if x) if m else ()


def find_bindir() -> Path | None:
    """The directory with ``initdb``, ``pg_ctl`` and ``postgres``, or None."""
    if os.environ.get(ENV_BINDIR):
        cands = [os.environ[ENV_BINDIR]]
    else:
        cands = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
        for tool in ("pg_ctl", "initdb"):
            found = shutil.which(tool)
            if found:
                cands.append(str(Path(found).resolve().parent))
    for c in cands:
        p = Path(c)
        if all((p / exe).is_file() and os.access(p / exe, os.X_OK) for exe in ("initdb", "pg_ctl", "postgres")):
            return p
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """An initdb'd data directory and a running postmaster on 127.0.0.1:port (superuser ``postgres``)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        # under root the server's account must reach the directory: /tmp, not a private $TMPDIR
        base = "/tmp" if os.geteuid() == 0 and os.path.isdir("/tmp") else None
        self.root = Path(tempfile.mkdtemp(prefix="cxlens-pg-", dir=base))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self.user: str | None = None
        self.started = False
        if os.geteuid() == 0:
            for name in RUN_AS:
                try:
                    pw = pwd.getpwnam(name)
                except KeyError:
                    continue
                self.user = name
                os.chown(self.root, pw.pw_uid, pw.pw_gid)
                break
            else:
                self.cleanup()
                raise Unavailable(f"running as root and none of the accounts {RUN_AS} exists to run the server")

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C", TZ="UTC")
        kw = {}
        if self.user is not None:
            kw.update(user=self.user, group=pwd.getpwnam(self.user).pw_gid, extra_groups=[])
            env["HOME"] = str(self.root)
        return subprocess.run([str(self.bindir / args[0]), *args[1:]], env=env, cwd=self.root, capture_output=True,
                              text=True, timeout=timeout, **kw)

    def start(self) -> None:
        r = self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                      "--no-locale", "--no-sync")
        if r.returncode != 0:
            raise Unavailable(f"initdb failed ({r.returncode}): {(r.stderr or r.stdout).strip()[-600:]}")
        last = ""
        for _ in range(3):  # the free port may be taken between the probe and the bind
            self.port = free_port()
            # TCP on loopback only (no Unix socket: no path-length or permission surprises)
            opts = (f"-p {self.port} -c unix_socket_directories='' -c listen_addresses=127.0.0.1 -c fsync=off "
                    "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
                    "-c shared_buffers=32MB")
            r = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "-t", "60", "start")
            if r.returncode == 0:
                self.started = True
                return
            last = (self.log.read_text(errors="replace") if self.log.exists() else r.stderr).strip()[-600:]
        raise Unavailable(f"pg_ctl start failed: {last}")

    def stop(self) -> None:
        if self.started:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=60)
            self.started = False
        self.cleanup()

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"


class PgServer:
    """What the tests use: ``new_database()`` gives a URL of an empty database."""

    def __init__(self, *, cluster: Cluster | None = None, external_url: str | None = None) -> None:
        self.cluster = cluster
        self.external_url = external_url

    @property
    def description(self) -> str:
        if self.cluster is not None:
            return f"throwaway cluster {self.cluster.bindir} on port {self.cluster.port}"
        from sqlalchemy.engine import make_url

        return f"existing server {make_url(self.external_url).render_as_string(hide_password=True)}"

    def _admin(self, sql: str) -> None:
        import psycopg

        assert self.cluster is not None
        with psycopg.connect(host="127.0.0.1", port=self.cluster.port, user="postgres", dbname="postgres",
                             autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql)

    def new_database(self) -> str:
        if self.cluster is None:
            return self._clean_external()
        name = f"t_{uuid.uuid4().hex[:16]}"
        self._admin(f'CREATE DATABASE "{name}"')
        return self.cluster.url(name)

    def drop_database(self, url: str) -> None:
        if self.cluster is None:
            return
        name = url.rsplit("/", 1)[1]
        try:
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except Exception:  # noqa: BLE001 - the whole cluster goes at the end anyway
            pass

    def _clean_external(self) -> str:
        from sqlalchemy import MetaData, create_engine

        engine = create_engine(self.external_url)
        try:
            meta = MetaData()
            meta.reflect(engine)
            meta.drop_all(engine)  # includes alembic_version: the test starts from an empty schema
        finally:
            engine.dispose()
        return self.external_url


def start_server() -> PgServer:
    """Raises Unavailable with the reason when there is no PostgreSQL to test on."""
    try:
        import psycopg  # noqa: F401
    except ImportError as e:
        raise Unavailable(f"psycopg (the postgres extra) is not installed: pip install -e '.[postgres]' ({e})")
    url = os.environ.get(ENV_URL)
    if url:
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as e:  # noqa: BLE001
            raise Unavailable(f"{ENV_URL} does not answer: {type(e).__name__}: {e}") from e
        finally:
            engine.dispose()
        return PgServer(external_url=url)
    bindir = find_bindir()
    if bindir is None:
        raise Unavailable(f"no PostgreSQL server binaries (initdb, pg_ctl, postgres) in /usr/lib/postgresql/*/bin or "
                          f"on PATH; install the Debian package `postgresql`, or set {ENV_URL} or {ENV_BINDIR}")
    cluster = Cluster(bindir)
    atexit.register(cluster.stop)  # also when the session ends abnormally
    try:
        cluster.start()
    except Unavailable:
        cluster.stop()
        raise
    except Exception as e:  # noqa: BLE001 - e.g. a timeout
        cluster.stop()
        raise Unavailable(f"the server could not be started: {type(e).__name__}: {e}") from e
    return PgServer(cluster=cluster)


@pytest.fixture(scope="session")
def pg_server():
    """The session's PostgreSQL (started on first use, stopped at the end)."""
    try:
        server = start_server()
    except Unavailable as e:
        unavailable(str(e))
    try:
        yield server
    finally:
        if server.cluster is not None:
            server.cluster.stop()


@pytest.fixture
def pg_url(pg_server):
    """A SQLAlchemy URL of an empty PostgreSQL database for this test."""
    url = pg_server.new_database()
    yield url
    pg_server.drop_database(url)


def wait_until(pred, timeout: float = 10.0, interval: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(interval)
    return bool(pred())
