"""The service with the real default model (trained from the bundled seed set into a temp store)."""
import time

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.conftest import Keys, make_settings

store = pytest.importorskip("nlp.lifecycle.store", reason="nlp.lifecycle.store is not available")

TEXT = "Менеджер отличный, но счета всегда приходят с ошибками."


@pytest.fixture(scope="module")
def real_client(tmp_path_factory, models_dir, seed_result):
    """The app with the stock loader (``nlp.lifecycle.store``) over the session's store, where ``seed_result`` (the shared
    fixture of tests/conftest.py) trained the default model once for the whole test session."""
    tmp = tmp_path_factory.mktemp("real")
    settings = make_settings(tmp, default_model="cx-touchpoints", models_dir=models_dir, job_chunk_size=50)
    app = create_app(settings)
    with TestClient(app) as c:
        yield c, Keys(app)


@pytest.mark.slow
def test_real_model_classifies_with_valid_evidence(real_client):
    c, keys = real_client
    assert c.get("/ready").status_code == 200
    r = c.post("/v1/classify", headers=keys.h(keys.analyst),
               json={"documents": [{"id": "1", "text": TEXT},
                                   {"id": "2", "text": "The engineer fixed the boiler on the first visit."},
                                   {"id": "3", "text": "x" * 6000}]})
    assert r.status_code == 200
    body = r.json()
    assert body["model"]["name"] == "cx-touchpoints"
    assert body["counts"] == {"received": 3, "ok": 2, "failed": 1}
    assert body["errors"][0]["code"] == "text_too_long"
    texts = {"1": TEXT, "2": "The engineer fixed the boiler on the first visit."}
    for row in body["results"]:
        assert row["sentiment"]["label"] in ("positive", "negative", "neutral", "mixed")
        assert row["model"] == body["model"]
        for tp in row["touchpoints"]:
            ev = tp["evidence"]
            assert texts[row["id"]][ev["start"]:ev["end"]] == ev["text"]
    ru = body["results"][0]
    assert ru["lang"] == "ru"
    assert "billing" in {t["touchpoint"] for t in ru["touchpoints"]}
    models = c.get("/v1/models", headers=keys.h(keys.analyst)).json()
    assert models["default"]["name"] == "cx-touchpoints"
    assert any(m["default"] and m["loaded"] for m in models["models"])


@pytest.mark.slow
def test_real_model_job(real_client):
    c, keys = real_client
    h = keys.h(keys.analyst)
    docs = [{"id": f"d{i}", "text": t} for i, t in enumerate(
        ["Доставка опять задержалась на неделю.", "Support never answers the hotline.", ""] * 40)]
    r = c.post("/v1/jobs", json={"documents": docs}, headers=h)
    assert r.status_code == 202
    url = r.headers["location"]
    for _ in range(300):
        j = c.get(url, headers=h).json()
        if j["status"] in ("done", "failed"):
            break
        time.sleep(0.05)
    assert j["status"] == "done", j
    assert (j["progress"]["ok"], j["progress"]["failed"]) == (80, 40)
    lines = c.get(url + "/results", headers=h).text.splitlines()
    assert len(lines) == 120
