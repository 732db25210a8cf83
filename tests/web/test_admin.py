"""Models (admin): versions, training from corrections (a job with progress), promote / roll back with a
reason; Taxonomy: view, add a touchpoint (a training job with the extended taxonomy)."""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from api.deps import get_training as training_service


def _feedback(web, wave) -> None:
    page = web.get(f"/waves/{wave}/review").text
    doc_id = re.search(r'name="doc_id" value="([^"]+)"', page).group(1)
    assert web.post(f"/waves/{wave}/review", {"doc_id": doc_id, "sentiment": "negative"}).status_code == 303


@pytest.fixture
def runs(app, admin):
    """The training runner replaced by a recorder (real training is covered by tests/api and tests/nlp)."""
    calls = []

    def runner(**kw):
        calls.append(kw)
        decision = SimpleNamespace(passed=True, failures=[])
        return SimpleNamespace(name=kw["name"], version="7", decision=decision, meta={"metrics": {"f1": 0.5}},
                               promoted=None, warnings=[], comparison={"production": None, "groups": {}})

    svc = training_service(SimpleNamespace(app=app))
    svc.runner = runner
    return calls


def test_the_models_page_lists_versions_and_the_forms(admin):
    page = admin.get("/models").text
    assert "fake-model" in page and 'action="/models/promote"' in page and 'action="/models/rollback"' in page
    assert 'action="/models/train"' in page


def test_training_from_the_corrections_is_a_job_with_a_status_page(admin, runs):
    wave = admin.run_wave()
    _feedback(admin, wave)
    page = admin.get("/models").text
    ds = re.search(r'name="datasets" value="([^"]+)"', page).group(1)
    r = admin.post("/models/train", {"name": "fake-model", "datasets": ds, "map": "delivery=product"})
    assert r.status_code == 303 and r.headers["location"].startswith("/models/train/")
    job_id = r.headers["location"].rsplit("/", 1)[1]
    job = training_service(SimpleNamespace(app=admin.c.app)).wait(job_id, timeout=30)
    assert job["status"] == "done", job
    assert runs[0]["datasets"] == [ds] and runs[0]["mapping"] == {"delivery": "product"}
    status = admin.get(r.headers["location"]).text
    assert "fake-model@7" in status and 'id="training-status"' in status and "hx-trigger" not in status
    frag = admin.get(r.headers["location"], headers={"HX-Request": "true"}).text
    assert frag.lstrip().startswith("<section") and "<html" not in frag
    assert job_id in admin.get("/models").text


def test_training_needs_a_dataset(admin, runs):
    r = admin.post("/models/train", {"name": "fake-model"})
    assert r.status_code == 422 and "<code>datasets</code>" in r.text
    r = admin.post("/models/train", {"name": "fake-model", "datasets": "no-such"})
    assert r.status_code == 422 and runs == []


@pytest.mark.parametrize("path", ["/models/promote", "/models/rollback"])
def test_promotion_and_rollback_need_a_reason(admin, path):
    r = admin.post(path, {"name": "fake-model", "version": "1", "reason": ""})
    assert r.status_code == 422 and "<code>reason</code>" in r.text


def test_promoting_an_unknown_version_is_a_clear_error_not_a_500(admin):
    r = admin.post("/models/promote", {"name": "fake-model", "version": "99", "reason": "try"})
    assert r.status_code == 404 and "fake-model" in r.text  # (the fake models are not in the store)
    r = admin.post("/models/rollback", {"name": "nope", "reason": "try"})
    assert 400 <= r.status_code < 500


def test_the_taxonomy_page_lists_the_touchpoints(analyst):
    page = analyst.get("/taxonomy").text
    assert page.count("<code>") >= 12 and "<code>billing</code>" in page


@pytest.mark.parametrize("fields, field", [({"id": "Bad Id"}, "id"), ({"id": "billing"}, "id"),
                                           ({"id": "warranty", "name_ru": ""}, "name_ru"),
                                           ({"id": "warranty", "examples": ""}, "examples")])
def test_a_bad_new_touchpoint_names_its_field(admin, fields, field):
    data = {"id": "warranty", "name_ru": "Гарантия", "name_en": "Warranty", "examples": "гарант, warrant", **fields}
    r = admin.post("/taxonomy", data)
    assert r.status_code == 422 and f"<code>{field}</code>" in r.text


def test_adding_a_touchpoint_trains_a_version_with_the_extended_taxonomy(admin, runs):
    r = admin.post("/taxonomy", {"id": "warranty", "name_ru": "Гарантия", "name_en": "Warranty",
                                 "examples": "гарант, warrant"})
    assert r.status_code == 422 and "<code>datasets</code>" in r.text  # no corrections yet
    _feedback(admin, admin.run_wave())
    r = admin.post("/taxonomy", {"id": "warranty", "name_ru": "Гарантия", "name_en": "Warranty",
                                 "description_en": "Warranty repairs", "examples": "гарант, warrant"})
    assert r.status_code == 303
    job = training_service(SimpleNamespace(app=admin.c.app)).wait(r.headers["location"].rsplit("/", 1)[1], timeout=30)
    assert job["status"] == "done", job
    tax = runs[-1]["taxonomy"]
    added = tax.get("warranty")
    assert added is not None and added.name == {"ru": "Гарантия", "en": "Warranty"}
    assert "billing" in tax.ids and added.keywords == {"any": ("гарант", "warrant")}
