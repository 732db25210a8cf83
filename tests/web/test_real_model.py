"""The review queue on a real (fast-family) model is the active-learning order of nlp.lifecycle.active."""
from __future__ import annotations

import re

import pandas as pd
import pytest

from api.web import service as svc
from nlp.lifecycle import active
from nlp.schema import document_from_dict


@pytest.mark.slow
def test_the_review_queue_is_the_active_learning_order(seed_model):
    texts = ["Счета приходят с ошибками каждый месяц", "Менеджер отличный, всегда на связи",
             "Доставка опоздала на неделю", "Всё нормально", "Инженер приехал быстро, но счёт выставили неверный",
             "Сайт неудобный, заказ не оформить", "Цены высокие, но качество хорошее", "Ок"]
    ids = [f"c{i}" for i in range(len(texts))]
    preds = {p["id"]: p for p in seed_model.predict([{"id": i, "text": t} for i, t in zip(ids, texts)])}
    data = svc.WaveData(answers=pd.DataFrame({"id": ids, "comment": texts}), config=None, errors=[], options={},
                        predictions=preds, model={"name": "m", "version": "1"}, texts=dict(zip(ids, texts)))
    order = svc.review_queue(data, "wave-active-test", seed_model)
    docs = [document_from_dict({"id": i, "text": t}, row=k + 1) for k, (i, t) in enumerate(zip(ids, texts))]
    scored = active.score(seed_model, docs, with_predictions=False)
    expected = [ids[i] for i in active.select(scored, len(docs), diversity=False)]
    assert order == expected and sorted(order) == sorted(ids)
    u = dict(zip(ids, scored.uncertainty))
    assert [u[i] for i in order] == sorted(u.values(), reverse=True)


@pytest.mark.slow
def test_a_wave_with_the_real_model_and_the_admin_model_pages(seed_result, models_dir, tmp_path):
    """The served model is the seed-trained fast model of the model store (no fake loader)."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from tests.api.conftest import Keys, make_settings
    from tests.web.conftest import Web

    spec = f"{seed_result.pipeline.name}"
    app = create_app(make_settings(tmp_path, models_dir=models_dir, default_model=spec, job_chunk_size=50))
    with TestClient(app, base_url="https://testserver") as c:
        keys = Keys(app)
        admin = Web(c).login(keys.admin)
        wave = admin.run_wave()
        report = admin.get(f"/waves/{wave}/download/json").json()
        assert report["meta"]["model"]["name"] == seed_result.pipeline.name
        assert report["summary"]["n_comments"] == 25 and report["touchpoints"]
        review = admin.get(f"/waves/{wave}/review").text
        assert "1 / 25" in review
        page = admin.get("/models").text
        version = str(seed_result.pipeline.version)
        assert seed_result.pipeline.name in page and f"{version} (" in page
        assert re.search(r"<div><small>[a-z_0-9]+</small> [01]\.\d{3}</div>", page)  # the version's metrics
        r = admin.post("/models/promote", {"name": spec, "version": version, "reason": "web test", "force": "on"})
        assert r.status_code == 422 and "already the production version" in r.text  # a clear refusal, not a 500
