"""Fixtures for the API tests: a keyword-rule fake pipeline (the real model is covered in
test_real_model.py), an app on a temporary SQLite database, and API keys."""
from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any, Iterable

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.services.auth import create_key
from api.settings import Settings
from nlp.errors import DataError, ModelNotFoundError
from nlp.schema import Document, prediction_row
from nlp.taxonomy import load_taxonomy

from tests.api.pg import pg_server, pg_url  # noqa: F401 - fixtures: a real PostgreSQL (tests/api/pg.py)

#: (regex, touchpoint, polarity): hand-made rules, so that expected outputs can be checked by hand
RULES = [
    (r"(?i)менеджер\w*", "customer_service", "positive"),
    (r"(?i)manager", "customer_service", "positive"),
    (r"(?i)сч[её]т\w*", "billing", "negative"),
    (r"(?i)invoices?", "billing", "negative"),
    (r"(?i)доставк\w*", "delivery", "negative"),
    (r"(?i)delivery", "delivery", "negative"),
]


class FakePipeline:
    """Deterministic stand-in for ``nlp.families.pipeline`` with the same ``predict`` contract."""

    def __init__(self, name: str = "fake-model", version: str = "1") -> None:
        self.name = name
        self.version = version
        self.meta = {"model_type": "fake"}
        self.taxonomy = load_taxonomy()
        self.labels_ = self.taxonomy.ids
        self.calls = 0
        self.docs_seen = 0
        self.lock = threading.Lock()
        #: test hook: called with the batch before predicting it
        self.before_predict = None

    def predict(self, docs: Iterable[Document | dict | str], *, batch_size: int = 256) -> list[dict[str, Any]]:
        docs = list(docs)
        if self.before_predict is not None:
            self.before_predict(docs)
        with self.lock:
            self.calls += 1
        rows = []
        for i, d in enumerate(docs):
            if isinstance(d, str):
                d = Document(id=str(i), text=d)
            elif isinstance(d, dict):
                d = Document(id=str(d.get("id", i)), text=d["text"], lang=d.get("lang"))
            if "BOOM" in d.text:
                raise RuntimeError("model exploded")
            if "BADDATA" in d.text:
                raise DataError("unsupported script", field="text", expected="Cyrillic or Latin text", found="BADDATA")
            tps = []
            for pattern, tp, pol in RULES:
                m = re.search(pattern, d.text)
                if m and all(t["touchpoint"] != tp for t in tps):
                    tps.append({"touchpoint": tp, "polarity": pol, "confidence": 0.9,
                                "evidence": {"start": m.start(), "end": m.end(), "text": m.group(0)}})
            pols = {t["polarity"] for t in tps}
            label = "mixed" if len(pols) > 1 else (pols.pop() if pols else "neutral")
            scores = {s: (0.7 if s == label else 0.1) for s in ("positive", "negative", "neutral", "mixed")}
            lang = d.lang or ("ru" if re.search("[а-яё]", d.text, re.I) else "en")
            rows.append(prediction_row(id=d.id, lang=lang, sentiment=label, sentiment_scores=scores, touchpoints=tps,
                                       model_name=self.name, model_version=self.version, warnings=[]))
        with self.lock:
            self.docs_seen += len(rows)
        return rows


class FakeStore:
    """``loader(spec)`` over a few fake models: ``fake-model`` (= @1) and ``fake-model@2``."""

    def __init__(self) -> None:
        self.models = {"fake-model@1": FakePipeline("fake-model", "1"), "fake-model@2": FakePipeline("fake-model", "2")}
        self.models["fake-model"] = self.models["fake-model@1"]
        self.loads: list[str] = []

    def __call__(self, spec: str) -> FakePipeline:
        self.loads.append(spec)
        if spec not in self.models:
            raise ModelNotFoundError(f"no model {spec!r} in the store")
        return self.models[spec]


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        database_url=f"sqlite:///{(tmp_path / 'api.db').as_posix()}",
        spool_dir=tmp_path / "spool", models_dir=tmp_path / "models", default_model="fake-model",
        job_workers=1, job_poll_seconds=0.05, job_chunk_size=3, job_lease_seconds=30,
        rate_limit_per_minute=0, allow_anonymous=False,
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def app(settings: Settings, store: FakeStore):
    return create_app(settings, loader=store)


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


class Keys:
    def __init__(self, app) -> None:
        pepper = app.state.settings.key_pepper
        with app.state.sessionmaker() as s:
            self.admin_row, self.admin = create_key(s, role="admin", name="admin", pepper=pepper)
            self.analyst_row, self.analyst = create_key(s, role="analyst", name="analyst A", pepper=pepper)
            self.other_row, self.other = create_key(s, role="analyst", name="analyst B", pepper=pepper)

    @staticmethod
    def h(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def keys(client, app) -> Keys:
    return Keys(app)
