from fastapi.testclient import TestClient

from api.deps import get_models
from api.main import create_app
from tests.api.conftest import make_settings

TEXT_RU = "Менеджер отличный, но счета всегда с ошибками."


def post(client, keys, body, **kw):
    return client.post("/v1/classify", json=body, headers=keys.h(keys.analyst), **kw)


def test_classify_returns_labels_evidence_and_model(client, keys):
    r = post(client, keys, {"documents": [{"id": "a1", "text": TEXT_RU}, "The delivery was late."]})
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == {"name": "fake-model", "version": "1"}
    assert body["counts"] == {"received": 2, "ok": 2, "failed": 0}
    assert body["errors"] == []
    first, second = body["results"]
    assert (first["index"], first["id"], first["lang"]) == (0, "a1", "ru")
    assert first["sentiment"]["label"] == "mixed"
    assert [(t["touchpoint"], t["polarity"]) for t in first["touchpoints"]] == [
        ("customer_service", "positive"), ("billing", "negative")]
    # evidence offsets point into the original text: "Менеджер" = [0, 8), "счета" = [22, 27)
    ev = [t["evidence"] for t in first["touchpoints"]]
    assert ev == [{"start": 0, "end": 8, "text": "Менеджер"}, {"start": 22, "end": 27, "text": "счета"}]
    assert all(TEXT_RU[e["start"]:e["end"]] == e["text"] for e in ev)
    assert first["model"] == {"name": "fake-model", "version": "1"}
    # a bare string gets its position as id
    assert (second["index"], second["id"], second["sentiment"]["label"]) == (1, "1", "negative")


def test_one_bad_document_never_fails_the_batch(client, keys, settings):
    long_text = "x" * (settings.max_chars_per_doc + 1)
    docs = [
        {"id": "ok1", "text": "manager was helpful"},
        {"id": "long", "text": long_text},
        {"id": "empty", "text": "   "},
        {"id": "notext", "txt": "typo in the field name"},
        {"id": 7, "text": 12345},
        {"id": "ok1", "text": "duplicate id"},
        {"id": "boom", "text": "BOOM breaks the model"},
        {"id": "bad", "text": "BADDATA"},
        ["not", "an", "object"],
        {"id": "ok2", "text": "invoice was wrong"},
    ]
    r = post(client, keys, {"documents": docs})
    assert r.status_code == 200
    body = r.json()
    assert body["counts"] == {"received": 10, "ok": 2, "failed": 8}
    assert [x["id"] for x in body["results"]] == ["ok1", "ok2"]
    assert [x["index"] for x in body["results"]] == [0, 9]
    errs = {e["index"]: e for e in body["errors"]}
    assert sorted(errs) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert errs[1]["code"] == "text_too_long" and errs[1]["loc"] == ["body", "documents", 1, "text"]
    assert f"{settings.max_chars_per_doc + 1} characters" in errs[1]["message"]
    assert errs[2]["code"] == "empty_text"
    assert errs[3]["code"] == "invalid_document" and errs[3]["loc"] == ["body", "documents", 3, "text"]
    assert errs[4]["code"] == "invalid_document" and errs[4]["id"] == "7"
    assert errs[5]["code"] == "duplicate_id" and errs[5]["id"] == "ok1"
    assert errs[6]["code"] == "prediction_failed" and "exploded" not in errs[6]["message"]
    assert errs[7]["code"] == "invalid_document" and "unsupported script" in errs[7]["message"]
    assert errs[8]["code"] == "invalid_document"


def test_text_at_the_limit_is_accepted(client, keys, settings):
    r = post(client, keys, {"documents": [{"text": "я" * settings.max_chars_per_doc}]})
    assert r.status_code == 200
    assert r.json()["counts"]["ok"] == 1


def test_model_selection_and_unknown_model(client, keys):
    r = post(client, keys, {"documents": ["manager"], "model": "fake-model@2"})
    assert r.status_code == 200
    assert r.json()["model"] == {"name": "fake-model", "version": "2"}
    assert r.json()["results"][0]["model"]["version"] == "2"
    r = post(client, keys, {"documents": ["manager"], "model": "nope@9"})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "model_not_found"
    r = post(client, keys, {"documents": ["manager"], "model": "../../etc/passwd"})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_data"


def test_too_many_documents_is_413(client, keys, settings):
    n = settings.max_docs_per_request
    assert post(client, keys, {"documents": ["ok"] * n}).status_code == 200
    r = post(client, keys, {"documents": ["ok"] * (n + 1)})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "too_many_documents"


def test_request_validation_errors(client, keys):
    h = keys.h(keys.analyst)
    r = client.post("/v1/classify", json={"documents": []}, headers=h)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["loc"] == ["body", "documents"]
    r = client.post("/v1/classify", json={"docs": ["x"]}, headers=h)
    assert r.status_code == 422
    r = client.post("/v1/classify", content=b"{not json", headers={**h, "content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_json"
    r = client.post("/v1/classify", content=b"text=hello", headers={**h, "content-type": "text/plain"})
    assert r.status_code == 415
    assert r.json()["error"]["code"] == "unsupported_media_type"


def test_body_size_limit_header_and_stream(tmp_path, store):
    app = create_app(make_settings(tmp_path, max_body_bytes=2048, allow_anonymous=True), loader=store)
    with TestClient(app) as c:
        big = {"documents": [{"text": "a" * 3000}]}
        r = c.post("/v1/classify", json=big)
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "payload_too_large"

        def chunks():  # no Content-Length: the streaming cap applies
            yield b'{"documents": ["'
            for _ in range(10):
                yield b"a" * 500
            yield b'"]}'

        r = c.post("/v1/classify", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "payload_too_large"


def test_unexpected_errors_are_500_without_internals(tmp_path, store):
    app = create_app(make_settings(tmp_path, allow_anonymous=True), loader=store)

    class Broken:
        def get(self, spec=None):
            raise RuntimeError("secret internal detail /srv/cxlens")

    app.dependency_overrides[get_models] = lambda: Broken()
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/v1/classify", json={"documents": ["x"]})
    assert r.status_code == 500
    assert r.json() == {"error": {"code": "internal_error", "message": "internal server error", "details": []}}
    assert "secret" not in r.text and "Traceback" not in r.text


def test_unknown_route_and_method_use_the_error_shape(client, keys):
    r = client.get("/v1/nope", headers=keys.h(keys.analyst))
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.get("/v1/classify", headers=keys.h(keys.analyst))
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
