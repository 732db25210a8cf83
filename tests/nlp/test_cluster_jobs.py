"""``CXLENS_DASK_SCHEDULER``: the API's classify jobs predict their chunks as tasks on a Dask cluster (2
worker processes here); checkpoints, results and counts are those of the job without a cluster (issue 18)."""
from __future__ import annotations

import time

import pytest

pytest.importorskip("distributed")

from api.services.classify import predict_isolated  # noqa: E402
from nlp.batch.executor import ENV, DaskChunkExecutor, chunk_executor_from_env  # noqa: E402
from nlp.batch.worker import cache_info  # noqa: E402
from nlp.schema import Document  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as c:
        yield c


def test_executor_runs_chunks_on_the_cluster(cluster, seed_result, models_dir):
    docs = [Document(id=str(i), text=t) for i, t in enumerate(
        ["Менеджер отличный, но счета всегда с ошибками.", "Delivery was late again.", "Инженер приехал вовремя."])]
    ex = DaskChunkExecutor(cluster.scheduler_address, local=predict_isolated, models_dir=models_dir)
    try:
        assert ex(seed_result.pipeline, docs) == predict_isolated(seed_result.pipeline, docs)
        assert (ex.remote_chunks, ex.local_chunks) == (1, 0)
        infos = ex._get_client().run(cache_info)
        assert sum(i["loads"] for i in infos.values()) == 1  # the worker that ran it loaded the model once

        class NotInStore:  # a pipeline no worker can load (no store version): predicted here
            name, version = "nope", "1"

            def predict(self, docs, batch_size=256):
                return seed_result.pipeline.predict(docs)

        assert ex(NotInStore(), docs) == predict_isolated(seed_result.pipeline, docs)
        assert ex.local_chunks == 1
    finally:
        ex.close()
    unreachable = DaskChunkExecutor("tcp://127.0.0.1:9", local=predict_isolated, models_dir=models_dir,
                                    connect_timeout=0.5)
    assert unreachable(seed_result.pipeline, docs) == predict_isolated(seed_result.pipeline, docs)  # falls back
    t0 = time.monotonic()
    assert unreachable(seed_result.pipeline, docs[:1]) == predict_isolated(seed_result.pipeline, docs[:1])
    assert time.monotonic() - t0 < 0.5 and unreachable.local_chunks == 2  # no new attempt for a while


def test_from_env(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert chunk_executor_from_env(predict_isolated) is predict_isolated
    monkeypatch.setenv(ENV, "tcp://127.0.0.1:8786")
    assert isinstance(chunk_executor_from_env(predict_isolated), DaskChunkExecutor)


@pytest.mark.slow
def test_api_job_on_the_cluster(cluster, seed_result, models_dir, tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from api.main import create_app
    from tests.api.conftest import Keys, make_settings

    texts = ["Доставка опять задержалась на неделю.", "Support never answers the hotline.", "",
             "Менеджер отличный, но счета всегда с ошибками."] * 30
    docs = [{"id": f"d{i}", "text": t} for i, t in enumerate(texts)]

    def run_job() -> tuple[dict, list[str]]:
        settings = make_settings(tmp_path / ENV_STATE["name"], default_model=f"{seed_result.name}",
                                 models_dir=models_dir, job_chunk_size=25)
        app = create_app(settings)
        with TestClient(app) as c:
            keys = Keys(app)
            h = keys.h(keys.analyst)
            r = c.post("/v1/jobs", json={"documents": docs}, headers=h)
            assert r.status_code in (200, 201, 202), r.text
            job_id = r.json()["id"]
            for _ in range(600):
                st = c.get(f"/v1/jobs/{job_id}", headers=h).json()
                if st["status"] in ("done", "failed"):
                    break
                time.sleep(0.1)
            lines = c.get(f"/v1/jobs/{job_id}/results", headers=h).text.splitlines()
            worker = getattr(app.state, "worker", None)
            ENV_STATE["executor"] = getattr(worker, "predict_chunk", None)
        return st, lines

    ENV_STATE = {"name": "local"}
    monkeypatch.delenv(ENV, raising=False)
    local_status, local_rows = run_job()
    ENV_STATE["name"] = "cluster"
    monkeypatch.setenv(ENV, cluster.scheduler_address)
    status, rows = run_job()
    assert status["status"] == local_status["status"] == "done"
    assert (status["counts"] if "counts" in status else None) == (local_status["counts"] if "counts" in local_status else None)
    assert rows == local_rows and len(rows) == len(docs)
    ex = ENV_STATE["executor"]
    assert isinstance(ex, DaskChunkExecutor) and ex.remote_chunks >= 4 and ex.local_chunks == 0
