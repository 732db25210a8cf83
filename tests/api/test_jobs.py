import json
import time

from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.conftest import Keys, make_settings


def wait_done(client, url, h, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        j = client.get(url, headers=h).json()
        if j["status"] in ("done", "failed", "cancelled"):
            return j
        time.sleep(0.02)
    raise AssertionError(f"job did not finish: {j}")


def results(client, url, h):
    r = client.get(url + "/results", headers=h)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in r.text.splitlines()]


def test_json_job_lifecycle_and_results(client, keys):
    h = keys.h(keys.analyst)
    docs = [{"id": "a", "text": "Менеджер помог"}, {"id": "b", "text": "BOOM"}, {"id": "c", "text": "invoice late"},
            {"id": "d", "text": ""}, {"id": "e", "text": "delivery ok"}, "manager and invoice"]
    r = client.post("/v1/jobs", json={"documents": docs}, headers=h)
    assert r.status_code == 202
    job = r.json()
    assert r.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] == "queued"
    assert job["progress"]["rows_total"] == 6
    done = wait_done(client, r.headers["location"], h)
    assert done["status"] == "done"
    assert done["model"] == {"spec": "fake-model", "name": "fake-model", "version": "1"}
    assert done["progress"] == {"rows_total": 6, "rows_processed": 6, "ok": 4, "failed": 2, "checkpoint_row": 6,
                                "percent": 100.0, "done": 6, "total": 6, "eta_s": 0.0}
    assert [(e["row"], e["id"], e["code"]) for e in done["errors"]] == [(2, "b", "prediction_failed"),
                                                                      (4, "d", "empty_text")]
    rows = results(client, r.headers["location"], h)
    assert [x["row"] for x in rows] == [1, 2, 3, 4, 5, 6]
    assert [x["id"] for x in rows] == ["a", "b", "c", "d", "e", "6"]
    assert rows[0]["touchpoints"][0]["touchpoint"] == "customer_service"
    assert rows[1]["error"]["code"] == "prediction_failed"
    assert rows[5]["sentiment"]["label"] == "mixed"


def test_multipart_cp1251_csv_upload_and_csv_results(client, keys):
    h = keys.h(keys.analyst)
    csv_bytes = "id;text;segment\n1;Менеджер молодец;A\n2;Счет не пришел;B\n3;;C\n".encode("cp1251")
    r = client.post("/v1/jobs", files={"file": ("wave.csv", csv_bytes, "text/csv")}, data={"model": "fake-model@2"},
                    headers=h)
    assert r.status_code == 202, r.text
    assert r.json()["input"] == {"name": "wave.csv", "format": "csv", "bytes": len(csv_bytes), "encoding": None}
    done = wait_done(client, r.headers["location"], h)
    assert done["model"]["version"] == "2"
    assert done["input"]["encoding"]["encoding"] == "cp1251" and done["input"]["encoding"]["confidence"] >= 0.9
    assert (done["progress"]["ok"], done["progress"]["failed"]) == (2, 1)
    r = client.get(r.headers["location"] + "/results?format=csv", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "row,id,lang,sentiment,p_positive,p_negative,p_neutral,p_mixed,touchpoints,model,warnings,error"
    assert lines[1] == "1,1,ru,positive,0.7,0.1,0.1,0.1,customer_service:positive,fake-model@2,,"
    assert lines[2] == "2,2,ru,negative,0.1,0.7,0.1,0.1,billing:negative,fake-model@2,,"
    assert lines[3].startswith("3,3,,,") and "empty text" in lines[3]


def test_raw_ndjson_body_with_bad_lines(client, keys):
    h = {**keys.h(keys.analyst), "content-type": "application/x-ndjson"}
    body = '{"id": "x", "text": "manager"}\n\n{"text": 1}\nnot json\n[1]\n{"text": "invoice"}\n'.encode()
    r = client.post("/v1/jobs", content=body, headers=h)
    assert r.status_code == 202
    done = wait_done(client, r.headers["location"], h)
    rows = results(client, r.headers["location"], h)
    # line numbers of the upload (line 2 is blank and skipped)
    assert [x["row"] for x in rows] == [1, 3, 4, 5, 6]
    assert [("error" in x) for x in rows] == [False, True, True, True, False]
    assert "invalid JSON" in rows[2]["error"]["message"]
    assert done["progress"]["ok"] == 2 and done["progress"]["failed"] == 3


def test_upload_errors(client, keys):
    h = keys.h(keys.analyst)
    r = client.post("/v1/jobs", content=b"<xml/>", headers={**h, "content-type": "application/xml"})
    assert r.status_code == 415
    r = client.post("/v1/jobs", files={"file": ("a.xlsx", b"PK\x03\x04", "application/octet-stream")}, headers=h)
    assert r.status_code == 415
    r = client.post("/v1/jobs", files={"file": ("a.jsonl", b"", "application/x-ndjson")}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "empty_upload"
    r = client.post("/v1/jobs", files={"other": ("a.jsonl", b"{}", "application/x-ndjson")}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "missing_file"
    r = client.post("/v1/jobs", json={"documents": ["x"], "model": "ghost@3"}, headers=h)
    assert r.status_code == 404
    r = client.post("/v1/jobs", json={"documents": []}, headers=h)
    assert r.status_code == 422
    r = client.post("/v1/jobs", content=b"{oops", headers={**h, "content-type": "application/json"})
    assert r.status_code == 400
    r = client.post("/v1/jobs", content=b"--xx\r\nbroken", headers={**h, "content-type": "multipart/form-data"})
    assert r.status_code == 400
    assert client.get("/v1/jobs/nope", headers=h).status_code == 404
    # nothing is left in the spool after rejected uploads
    spool = client.app.state.settings.spool_dir
    assert not spool.exists() or list(spool.iterdir()) == []


def test_row_and_size_limits(tmp_path, store):
    app = create_app(make_settings(tmp_path, max_job_rows=3, max_upload_bytes=4096), loader=store)
    with TestClient(app) as c:
        k = Keys(app)
        h = k.h(k.analyst)
        four = b"".join(b'{"text": "manager"}\n' for _ in range(4))
        r = c.post("/v1/jobs", files={"file": ("a.jsonl", four, "application/x-ndjson")}, headers=h)
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_many_rows"
        big = b'{"text": "' + b"a" * 5000 + b'"}\n'
        r = c.post("/v1/jobs", files={"file": ("a.jsonl", big, "application/x-ndjson")}, headers=h)
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"

        def stream():  # chunked, no Content-Length
            for _ in range(10):
                yield b'{"text": "' + b"a" * 600 + b'"}\n'

        r = c.post("/v1/jobs", content=stream(), headers={**h, "content-type": "application/x-ndjson"})
        assert r.status_code == 413
        assert list(app.state.settings.spool_dir.iterdir()) == []


def test_results_before_done_is_409_and_cancel(client, keys, store):
    import threading

    gate = threading.Event()
    store.models["fake-model"].before_predict = lambda docs: gate.wait(5)
    h = keys.h(keys.analyst)
    r = client.post("/v1/jobs", json={"documents": [f"manager {i}" for i in range(9)]}, headers=h)
    url = r.headers["location"]
    r = client.get(url + "/results", headers=h)
    assert r.status_code == 409 and r.json()["error"]["code"] == "job_not_done"
    r = client.delete(url, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    gate.set()
    time.sleep(0.3)
    j = client.get(url, headers=h).json()
    assert j["status"] == "cancelled"
    assert j["progress"]["rows_processed"] == 0  # the chunk in flight was not committed
    assert client.delete(url, headers=h).status_code == 409
    assert client.get(url + "/results", headers=h).status_code == 409


def test_job_with_an_unloadable_model_fails_with_a_reason(tmp_path, store):
    from api.services.jobs import JobWorker

    app = create_app(make_settings(tmp_path, job_workers=0), loader=store)
    with TestClient(app) as c:
        k = Keys(app)
        h = k.h(k.analyst)
        r = c.post("/v1/jobs", json={"documents": ["x"], "model": "fake-model@2"}, headers=h)
        assert r.status_code == 202
        del store.models["fake-model@2"]  # gone between submission and processing
        app.state.models.clear_cache()
        worker = JobWorker(factory=app.state.sessionmaker, models=app.state.models, threads=1, chunk_size=10,
                           lease_seconds=30, poll_seconds=1, max_attempts=3, max_rows=100)
        assert worker.run_once() is True
        assert worker.run_once() is False  # nothing left
        j = c.get(r.headers["location"], headers=h).json()
        assert j["status"] == "failed"
        assert j["error"].startswith("model 'fake-model@2'")
        assert "no model 'fake-model@2'" in j["error"]
