"""Retraining over HTTP: datasets, feedback, training jobs, the gate, promotion with a live model swap,
rollback (issue #7)."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from nlp.labeled.formats import read_labeled
from nlp.labeled.seed import seed_split_path
from nlp.lifecycle.store import ModelStore

from .conftest import Keys, make_settings

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "retrain"


def _rows(n: int, *, shuffle: bool = False) -> bytes:
    ex, _ = read_labeled(seed_split_path("train"))
    ex = ex[:n]
    labels = [(e.sentiment, [{"category": a.category, "polarity": a.polarity} for a in e.aspects]) for e in ex]
    if shuffle:
        random.Random(0).shuffle(labels)
    return "".join(json.dumps({"id": e.id, "text": e.text, "sentiment": s, "aspects": a}, ensure_ascii=False) + "\n"
                   for e, (s, a) in zip(ex, labels)).encode("utf-8")


@pytest.fixture
def real(tmp_path):
    """An app over a real (empty) model store serving ``cx`` by name: it follows ``production``."""
    settings = make_settings(tmp_path, default_model="cx", load_model_on_startup=False, job_workers=1)
    app = create_app(settings)
    with TestClient(app) as c:
        yield c, Keys(app), app


def test_datasets_import_lists_bad_rows_and_needs_admin(client, keys):
    files = {"file": ("export.json", (FIX / "labelstudio_export.json").read_bytes(), "application/json")}
    r = client.post("/v1/datasets", files=files, data={"name": "ls"}, headers=keys.h(keys.analyst))
    assert r.status_code == 403
    r = client.post("/v1/datasets", files=files, data={"name": "ls"}, headers=keys.h(keys.admin))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["name"], body["rows"], body["unchanged"]) == ("ls", 3, False)
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(4, "annotations"), (5, "annotations"),
                                                                (6, "aspects[0].category"), (7, "aspects[0].target"),
                                                                (8, "touchpoints")]
    assert body["label_distribution"]["touchpoints"] == {"billing": 1, "delivery": 1, "field_service": 1}
    csv = {"file": ("labels.csv", (FIX / "analyst.csv").read_bytes(), "text/csv")}
    r = client.post("/v1/datasets", files=csv, data={"name": "acme", "map": "pricing=price"}, headers=keys.h(keys.admin))
    assert r.status_code == 200 and r.json()["rows"] == 5  # 'pricing' mapped: a4 is a good row now
    r = client.get("/v1/datasets", headers=keys.h(keys.admin))
    assert [(d["name"], d["rows"]) for d in r.json()] == [("acme", 5), ("ls", 3)]
    r = client.post("/v1/datasets", files=csv, data={"name": "../x"}, headers=keys.h(keys.admin))
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_data"


def test_feedback_from_any_key(client, keys):
    body = {"items": [{"id": "c1", "text": "Счета с ошибками", "sentiment": "negative",
                       "touchpoints": [{"touchpoint": "billing", "polarity": "negative"}]},
                      {"text": "Курьер", "touchpoints": "delivery:furious"}]}
    r = client.post("/v1/feedback", json=body, headers=keys.h(keys.analyst))
    assert r.status_code == 200, r.text
    out = r.json()
    # the caller's own feedback dataset (issue 16), not one shared by every key
    assert (out["dataset"], out["rows"], out["accepted"]) == (f"feedback-{keys.analyst_row.id[:12]}", 1, 1)
    assert out["errors"][0]["row"] == 2 and "polarity" in out["errors"][0]["field"]
    r = client.post("/v1/feedback", json={"items": []}, headers=keys.h(keys.analyst))
    assert r.status_code == 422


def _import(client, keys, name="acme"):
    files = {"file": ("labels.csv", (FIX / "analyst.csv").read_bytes(), "text/csv")}
    r = client.post("/v1/datasets", files=files, data={"name": name, "map": "pricing=price"},
                    headers=keys.h(keys.admin))
    assert r.status_code == 200, r.text
    return r.json()


def test_an_analyst_cannot_write_an_admin_dataset(client, keys, app):
    before = _import(client, keys)
    item = {"text": "Менеджер отличный", "sentiment": "negative",
            "touchpoints": [{"touchpoint": "customer_service", "polarity": "negative"}]}
    r = client.post("/v1/feedback", json={"items": [item], "dataset": "acme"}, headers=keys.h(keys.analyst))
    assert r.status_code == 403 and r.json()["error"]["code"] == "dataset_forbidden"
    # an admin does not send feedback into an imported dataset either: it changes only by import
    r = client.post("/v1/feedback", json={"items": [item], "dataset": "acme"}, headers=keys.h(keys.admin))
    assert r.status_code == 409 and r.json()["error"]["code"] == "dataset_not_feedback"
    listed = {d["name"]: d for d in client.get("/v1/datasets", headers=keys.h(keys.admin)).json()}
    assert listed["acme"]["hash"] == before["hash"] and listed["acme"]["kind"] == "imported"
    assert listed["acme"]["source"] == "POST /v1/datasets: labels.csv"  # the upload's name, not a spool path


def test_feedback_datasets_are_owned_append_only_and_quota_bound(tmp_path, store):
    from api.main import create_app as make

    app = make(make_settings(tmp_path, feedback_quota_rows=3), loader=store)
    with TestClient(app) as client:
        keys = Keys(app)
        a, b = keys.h(keys.analyst), keys.h(keys.other)
        item = lambda t: {"text": t, "sentiment": "negative"}  # noqa: E731
        r = client.post("/v1/feedback", json={"items": [item("Счёт с ошибкой")], "dataset": "team-a"}, headers=a)
        assert r.status_code == 200 and r.json()["dataset"] == "team-a"
        # another analyst can neither write nor see it, nor claim the first one's default dataset name
        r = client.post("/v1/feedback", json={"items": [item("Чужой")], "dataset": "team-a"}, headers=b)
        assert r.status_code == 403 and r.json()["error"]["code"] == "dataset_forbidden"
        squat = {"items": [item("Чужой")], "dataset": f"feedback-{keys.analyst_row.id[:12]}"}
        assert client.post("/v1/feedback", json=squat, headers=b).status_code == 403
        assert [d["name"] for d in client.get("/v1/datasets", headers=b).json()] == []
        assert [d["name"] for d in client.get("/v1/datasets", headers=a).json()] == ["team-a"]
        # a correction of the same comment replaces it when read; the log keeps both, with who and when
        r = client.post("/v1/feedback", json={"items": [{"text": "счёт  с ошибкой", "sentiment": "neutral"}],
                                              "dataset": "team-a"}, headers=a)
        assert r.status_code == 200 and r.json()["rows"] == 1
        svc = app.state.training
        ex, entry = svc.datasets.load("team-a")
        assert [e.sentiment for e in ex] == ["neutral"] and ex[0].extra["by"] == "analyst A" and ex[0].extra["at"]
        log = (svc.datasets.root / "team-a" / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(log) == 2 and not list((svc.datasets.root / "team-a").glob("*.jsonl"))[1:]  # one file: the log
        assert all(json.loads(line)["key"] == keys.analyst_row.id for line in log)
        first = svc.datasets.resolve("team-a@" + svc.datasets.meta("team-a")["versions"][0]["hash"][:16])[1]
        assert [e.sentiment for e in svc.datasets._replay("team-a", first["log_rows"])] == ["negative"]
        # quota: 3 rows per key in all its feedback datasets
        r = client.post("/v1/feedback", json={"items": [item("раз"), item("два")]}, headers=a)
        assert r.status_code == 403 and r.json()["error"]["code"] == "quota_exceeded"
        r = client.post("/v1/feedback", json={"items": [item("раз")]}, headers=a)
        assert r.status_code == 200
        assert client.post("/v1/feedback", json={"items": [item("три")]}, headers=b).status_code == 200


@pytest.mark.slow
def test_train_gate_promote_swap_rollback(real):
    client, keys, app = real
    admin = keys.h(keys.admin)
    for name, shuffle in (("acme", False), ("noise", True)):
        r = client.post("/v1/datasets", files={"file": (f"{name}.jsonl", _rows(130, shuffle=shuffle), "application/json")},
                        data={"name": name}, headers=admin)
        assert r.status_code == 200 and r.json()["rows"] == 130
    opts = {"name": "cx", "seed_weight": 0, "params": {"threshold_folds": 0}}
    r = client.post("/v1/models/train", json={**opts, "datasets": ["ghost"]}, headers=admin)
    assert r.status_code == 422 and "no dataset named 'ghost'" in r.json()["error"]["message"]
    assert client.post("/v1/models/train", json={**opts, "datasets": ["acme"]},
                       headers=keys.h(keys.analyst)).status_code == 403

    # v1 (first version: production) -> served by name without a restart
    r = client.post("/v1/models/train", json={**opts, "datasets": ["acme"]}, headers=admin)
    assert r.status_code == 202 and r.headers["location"] == f"/v1/models/train/{r.json()['id']}"
    job = app.state.training.wait(r.json()["id"], timeout=300)
    assert job["status"] == "done", job
    # the job's status showed the work while it ran: its last progress snapshot names a stage and counts
    assert job["progress"]["stage"] and "eta_s" in job["progress"], job.get("progress")
    assert job["result"]["version"] == "1" and job["result"]["promoted"] and job["by"] == "admin"
    r = client.post("/v1/classify", json={"documents": ["Счета всегда с ошибками"]}, headers=keys.h(keys.analyst))
    assert r.status_code == 200 and r.json()["model"] == {"name": "cx", "version": "1"}

    # v2 on shuffled labels: trained, compared, refused
    r = client.post("/v1/models/train", json={**opts, "datasets": ["noise"]}, headers=admin)
    job = app.state.training.wait(r.json()["id"], timeout=300)
    assert job["status"] == "done" and job["result"]["version"] == "2"
    assert not job["result"]["gate"]["passed"] and not job["result"]["promoted"]
    assert job["result"]["comparison"]["production"] == {"name": "cx", "version": "1"}
    r = client.post("/v1/models/cx/promote", json={"version": "2"}, headers=admin)
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "gate_refused" and "refusing to promote cx@2 over production cx@1" in err["message"]
    assert err["details"] and all(d["loc"] == ["gate"] for d in err["details"])
    r = client.post("/v1/models/cx/promote", json={"version": "2", "force": True}, headers=admin)
    assert r.status_code == 422 and "needs a reason" in r.json()["error"]["message"]
    r = client.post("/v1/models/cx/promote", json={"version": "2", "force": True, "reason": "api test"}, headers=admin)
    assert r.status_code == 200, r.text
    ev = r.json()
    assert (ev["version"], ev["from"], ev["by"], ev["forced"], ev["reason"]) == ("2", "1", "admin", True, "api test")
    r = client.post("/v1/classify", json={"documents": ["Счета всегда с ошибками"]}, headers=keys.h(keys.analyst))
    assert r.json()["model"]["version"] == "2"  # swapped in without a restart

    # rollback, history, card, comparison
    r = client.post("/v1/models/cx/rollback", json={"reason": "bad labels"}, headers=admin)
    assert r.status_code == 200 and (r.json()["version"], r.json()["from"]) == ("1", "2")
    r = client.post("/v1/classify", json={"documents": ["Счета всегда с ошибками"]}, headers=keys.h(keys.analyst))
    assert r.json()["model"]["version"] == "1"
    r = client.get("/v1/models/cx/history", headers=admin)
    assert [(h["action"], h["version"]) for h in r.json()] == [("promote", "1"), ("promote", "2"), ("rollback", "1")]
    card_file = ModelStore(app.state.settings.models_dir).path("cx", "2") / "MODEL_CARD.md"
    card_file.unlink()  # a GET renders the card from the store; it writes nothing
    r = client.get("/v1/models/cx/2/card", headers=admin)
    assert r.status_code == 200 and r.text.startswith("# Model card: cx@2") and "api test" in r.text
    assert not card_file.exists()
    r = client.get("/v1/models/cx/2/comparison", headers=admin)
    assert r.status_code == 200 and set(r.json()["groups"]) == {"seed_dev", "dataset:noise", "all"}
    assert client.get("/v1/models/cx/9/card", headers=admin).status_code == 404
    r = client.get("/v1/models/train", headers=admin)
    assert [j["result"]["version"] for j in r.json()] == ["2", "1"]


def test_training_options_that_would_only_fail_in_the_job_are_refused_at_submit(real):
    client, keys, app = real
    admin = keys.h(keys.admin)
    r = client.post("/v1/datasets", files={"file": ("acme.jsonl", _rows(40), "application/json")},
                    data={"name": "acme"}, headers=admin)
    assert r.status_code == 200
    base = {"name": "cx", "datasets": ["acme"]}
    r = client.post("/v1/models/train", json={**base, "params": {"bogus": 1}}, headers=admin)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_data"
    assert "params" in str(r.json()["error"]["details"]) and "bogus" in r.json()["error"]["message"]
    r = client.post("/v1/models/train", json={**base, "taxonomy": {"version": "x", "touchpoints": "nope"}},
                    headers=admin)
    assert r.status_code == 422
    assert client.get("/v1/models/train", headers=admin).json() == []  # nothing was queued
