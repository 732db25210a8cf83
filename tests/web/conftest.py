"""Fixtures for the web app tests: the API tests' fake pipeline and settings (tests/api/conftest.py), a
TestClient over https (the session cookie is Secure), signed-in clients per role."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.conftest import FakeStore, Keys, make_settings

REPO = Path(__file__).resolve().parents[2]
DEMO_COMMENTS = REPO / "nlp" / "data" / "demo" / "comments.csv"
DEMO_WAVE = REPO / "cx" / "data" / "demo" / "wave.csv"

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "no CSRF token on the page"
    return m.group(1)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, job_chunk_size=50)


@pytest.fixture
def app(settings, store):
    return create_app(settings, loader=store)


@pytest.fixture
def client(app):
    with TestClient(app, base_url="https://testserver") as c:
        yield c


@pytest.fixture
def keys(client, app) -> Keys:
    return Keys(app)


class Web:
    """A browser-like client: signs in with a key and keeps the page's CSRF token."""

    def __init__(self, client: TestClient) -> None:
        self.c = client
        self.csrf = ""

    def login(self, token: str) -> "Web":
        page = self.c.get("/login")
        r = self.c.post("/login", data={"api_key": token, "csrf_token": csrf_of(page.text), "next": "/waves"},
                        follow_redirects=False)
        assert r.status_code == 303, r.text
        self.csrf = csrf_of(self.c.get("/waves").text)
        return self

    def get(self, url: str, **kw):
        return self.c.get(url, **kw)

    def post(self, url: str, data: dict | None = None, *, csrf: bool = True, **kw):
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.csrf)
        kw.setdefault("follow_redirects", False)
        return self.c.post(url, data=data, **kw)

    def upload(self, path: Path, name: str | None = None, content: bytes | None = None):
        body = content if content is not None else path.read_bytes()
        return self.c.post("/waves", data={"csrf_token": self.csrf}, files={"file": (name or path.name, body)},
                           follow_redirects=False)

    def start(self, wave_id: str, mapping: dict[str, str] | None = None, **extra):
        page = self.get(f"/waves/{wave_id}").text
        data = {}
        for role, col in re.findall(r'<select id="map_(\w+)" name="map_\w+">(?:(?!</select>).)*?<option value="([^"]*)" selected',
                                    page, re.S):
            data[f"map_{role}"] = col
        data.update({f"map_{k}": v for k, v in (mapping or {}).items()})
        data.update(extra)
        return self.post(f"/waves/{wave_id}/start", data)

    def wait_done(self, wave_id: str, timeout: float = 30.0) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            prog = self.get(f"/waves/{wave_id}/progress?format=json").json()
            if prog["status"] in ("done", "failed"):
                return prog
            time.sleep(0.05)
        raise AssertionError(f"wave {wave_id} did not finish: {prog}")

    def run_wave(self, path: Path = DEMO_COMMENTS, **kw) -> str:
        r = self.upload(path)
        assert r.status_code == 303, r.text
        wave_id = r.headers["location"].rsplit("/", 1)[1]
        assert self.start(wave_id, **kw).status_code == 303
        prog = self.wait_done(wave_id)
        assert prog["status"] == "done", prog
        return wave_id


@pytest.fixture
def analyst(client, keys) -> Web:
    return Web(client).login(keys.analyst)


def _second_browser(app) -> TestClient:
    """Another cookie jar on the running app (no second lifespan: one job worker per app)."""
    return TestClient(app, base_url="https://testserver")


@pytest.fixture
def admin(app, keys) -> Web:
    return Web(_second_browser(app)).login(keys.admin)


@pytest.fixture
def other(app, keys) -> Web:
    return Web(_second_browser(app)).login(keys.other)
