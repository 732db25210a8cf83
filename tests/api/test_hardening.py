"""Issue 16, "Hardening from an outside probe": one test per finding (each fails on the code before it)."""
from __future__ import annotations

import csv
import io
import json
import re

import pytest
from fastapi.testclient import TestClient

from api.main import create_app

from .conftest import Keys, make_settings
from .test_jobs import wait_done

STRAY_CSV = ("id;text\n1;Менеджер грубый, счета с ошибками\n2;Доставка опоздала ".encode() + b"\xff\n"
             + "3;Иван доволен, счёт пришёл вовремя\n".encode())


def _app(tmp_path, store, **overrides):
    return create_app(make_settings(tmp_path, **overrides), loader=store)


# -- 1. one stray byte no longer switches the whole upload to cp1251 ---------------------------------------
def test_stray_byte_keeps_russian_labels_and_warns_on_its_row(client, keys):
    h = keys.h(keys.analyst)
    r = client.post("/v1/jobs", files={"file": ("stray.csv", STRAY_CSV, "text/csv")}, headers=h)
    assert r.status_code == 202, r.text
    done = wait_done(client, r.headers["location"], h)
    assert done["status"] == "done" and (done["progress"]["ok"], done["progress"]["failed"]) == (3, 0)
    enc = done["input"]["encoding"]
    assert enc["encoding"] == "utf-8" and enc["invalid_bytes_replaced"] == 1
    assert enc["first_invalid"] == [{"line": 3, "byte_offset": STRAY_CSV.index(b"\xff")}]
    rows = [json.loads(line) for line in client.get(r.headers["location"] + "/results", headers=h).text.splitlines()]
    tps = [{t["touchpoint"] for t in row["touchpoints"]} for row in rows]
    assert tps == [{"customer_service", "billing"}, {"delivery"}, {"billing"}]  # the fake model's Russian rules
    assert rows[0]["warnings"] == [] and rows[2]["warnings"] == []
    (w,) = rows[1]["warnings"]
    offset = STRAY_CSV.index(b"\xff")
    assert w.startswith("row 2: ") and f"byte offset {offset}" in w and "U+FFFD" in w


def test_cyrillic_I_plus_stray_byte_no_longer_fails_the_job(client, keys):
    h = keys.h(keys.analyst)
    data = "text\nИгорь помог с доставкой\n".encode() + b"\x98\x98 \xff\n"
    r = client.post("/v1/jobs", content=data, headers={**h, "Content-Type": "text/csv"})
    done = wait_done(client, r.headers["location"], h)
    assert done["status"] == "done" and done["progress"]["ok"] == 2, done


# -- 3. spreadsheet-safe cells in the results CSV --------------------------------------------------------
@pytest.mark.parametrize("evil", ['=HYPERLINK("http://evil.example","click")', "+cmd|' /C calc'!A0", "-2+3",
                                  "@SUM(A1)", "\tTAB", "\rCR"])
def test_results_csv_neutralises_formula_cells(client, keys, evil):
    h = keys.h(keys.analyst)
    body = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in [{"id": evil, "text": "Менеджер молодец"},
                                                                        {"id": "ok", "text": ""}])
    r = client.post("/v1/jobs", content=body.encode(), headers={**h, "Content-Type": "application/x-ndjson"})
    done = wait_done(client, r.headers["location"], h)
    assert done["status"] == "done"
    text = client.get(r.headers["location"] + "/results?format=csv", headers=h).content.decode("utf-8-sig")
    cells = [c for row in csv.reader(io.StringIO(text, newline="")) for c in row]
    assert "'" + evil in cells
    assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells)


# -- 4. cost-based limits ----------------------------------------------------------------------------------
def test_over_budget_request_is_429_before_classification(tmp_path, store):
    app = _app(tmp_path, store, char_budget_per_minute=60, char_budget_burst=1000, max_chars_per_request=1000)
    pipe = store.models["fake-model"]
    with TestClient(app) as c:
        h = Keys(app).h(Keys(app).analyst)
        big = {"documents": ["Менеджер " * 100]}  # 900 characters
        assert c.post("/v1/classify", json=big, headers=h).status_code == 200  # 100 characters left
        assert c.post("/v1/classify", json=big, headers=h).status_code == 200  # the budget is now in debt
        calls = pipe.calls
        r = c.post("/v1/classify", json=big, headers=h)
        assert r.status_code == 429 and r.json()["error"]["code"] == "char_budget_exceeded"
        assert int(r.headers["retry-after"]) >= 1 and pipe.calls == calls  # nothing was classified
        # cheap: the exhausted budget answers before the body is even parsed
        r = c.post("/v1/classify", content=b"{not json", headers={**h, "Content-Type": "application/json"})
        assert r.status_code == 429 and pipe.calls == calls
        # one request may not exceed the per-request cap at all
        other = Keys(app)
        r = c.post("/v1/classify", json={"documents": ["x" * 600, "y" * 600]}, headers=other.h(other.other))
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_many_characters"


def test_failed_authentication_is_limited_per_address(tmp_path, store):
    app = _app(tmp_path, store, auth_failures_per_minute=1, auth_failure_burst=3)
    with TestClient(app) as c:
        keys = Keys(app)
        for _ in range(3):
            assert c.get("/v1/jobs", headers=keys.h("cxl_wrong")).status_code == 401
        r = c.get("/v1/jobs", headers=keys.h("cxl_wrong"))
        assert r.status_code == 429 and r.json()["error"]["code"] == "auth_rate_limited" and r.headers["retry-after"]
        # no key guessing from that address, not even with a valid key, until the bucket refills
        assert c.get("/v1/jobs", headers=keys.h(keys.analyst)).status_code == 429


# -- 5. the small ones -------------------------------------------------------------------------------------
def test_the_last_admin_key_cannot_be_revoked(client, keys, app):
    from api.services.auth import create_key

    h = keys.h(keys.admin)
    r = client.delete(f"/v1/keys/{keys.admin_row.id}", headers=h)
    assert r.status_code == 409 and r.json()["error"]["code"] == "last_admin_key"
    with app.state.sessionmaker() as s:
        second, token2 = create_key(s, role="admin", name="second")
    assert client.delete(f"/v1/keys/{keys.admin_row.id}", headers=h).status_code == 204
    r = client.delete(f"/v1/keys/{second.id}", headers=keys.h(token2))
    assert r.status_code == 409 and r.json()["error"]["code"] == "last_admin_key"
    assert client.get("/v1/keys", headers=keys.h(token2)).status_code == 200


ABS_PATH = re.compile(r"(?<![\w.:<])/(?:tmp|root|home|srv|var|work|opt|usr|private)/")


def test_no_absolute_server_path_in_any_error_body(tmp_path):
    app = create_app(make_settings(tmp_path, default_model="cx", load_model_on_startup=False, job_workers=1))
    with TestClient(app) as c:
        keys = Keys(app)
        a, adm = keys.h(keys.analyst), keys.h(keys.admin)
        answers = [
            c.post("/v1/classify", json={"documents": ["x"], "model": "nope"}, headers=a),
            c.get("/v1/taxonomy?model=nope", headers=a),
            c.post("/v1/models/train", json={"datasets": ["ghost"]}, headers=adm),
            c.get("/v1/models/nope/1/card", headers=adm),
            c.post("/v1/datasets", files={"file": ("x.csv", b"text;sentiment\n;bad\n", "text/csv")},
                   data={"name": "d1"}, headers=adm),
            c.post("/v1/jobs?model=nope", json={"documents": ["x"]}, headers=a),
        ]
        r = c.post("/v1/jobs", json={"documents": ["x"]}, headers=a)  # the default model is missing: job fails
        answers.append(r)
        answers.append(c.get(r.headers["location"], headers=a) if r.status_code == 202 else r)
        if r.status_code == 202:
            wait_done(c, r.headers["location"], a)
            answers.append(c.get(r.headers["location"], headers=a))
        assert [x.status_code for x in answers[:6]] == [404, 404, 422, 404, 422, 404]
        for x in answers:
            assert str(tmp_path) not in x.text and not ABS_PATH.search(x.text), x.text
        assert "<server path>" in answers[0].text


def test_security_headers_on_every_answer(client, keys):
    for r in (client.get("/health"), client.get("/v1/jobs"), client.get("/docs"), client.get("/nope"),
              client.post("/v1/classify", content=b"x" * (9 * 1024 * 1024), headers=keys.h(keys.analyst))):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY" and r.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert client.get("/v1/jobs").headers["content-security-policy"].startswith("default-src 'none'")


def test_docs_are_served_from_local_assets(client):
    for page in ("/docs", "/redoc"):
        r = client.get(page)
        assert r.status_code == 200 and "http://" not in r.text and "https://" not in r.text
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        for src in re.findall(r'(?:src|href)="([^"]+)"', r.text):
            assert src.startswith("/") and client.get(src).status_code == 200, src
    assert client.get("/docs-assets/swagger-ui-bundle.js").headers["content-type"].startswith(
        ("application/javascript", "text/javascript"))


def test_cursor_pagination_walks_every_job_once(client, keys):
    h = keys.h(keys.analyst)
    ids = {client.post("/v1/jobs", json={"documents": [f"Счёт {i}"]}, headers=h).json()["id"] for i in range(5)}
    seen, cursor, pages = [], None, 0
    while True:
        r = client.get("/v1/jobs", params={"limit": 2, **({"cursor": cursor} if cursor else {})}, headers=h)
        assert r.status_code == 200
        body = r.json()
        seen += [j["id"] for j in body["jobs"]]
        pages += 1
        cursor = body["next_cursor"]
        assert (r.headers.get("x-next-cursor") or None) == cursor
        if cursor is None:
            break
        assert 'rel="next"' in r.headers["link"]
    assert pages == 3 and len(seen) == 5 and set(seen) == ids
    r = client.get("/v1/jobs", params={"cursor": "garbage!"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["cursor"]


def test_reports_and_datasets_lists_page_too(client, keys):
    r = client.get("/v1/reports", params={"limit": 1}, headers=keys.h(keys.analyst))
    assert r.status_code == 200 and "x-next-cursor" not in r.headers
    for i in range(3):
        client.post("/v1/feedback", json={"items": [{"text": f"Счёт {i}", "sentiment": "negative"}],
                                          "dataset": f"fb-{i}"}, headers=keys.h(keys.admin))
    r = client.get("/v1/datasets", params={"limit": 2}, headers=keys.h(keys.admin))
    assert [d["name"] for d in r.json()] == ["fb-0", "fb-1"]
    r = client.get("/v1/datasets", params={"limit": 2, "cursor": r.headers["x-next-cursor"]},
                   headers=keys.h(keys.admin))
    assert [d["name"] for d in r.json()] == ["fb-2"] and "x-next-cursor" not in r.headers


def test_openapi_has_no_dangling_refs(app):
    spec = app.openapi()

    def refs(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "$ref":
                    yield v
                else:
                    yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)

    found = set(refs(spec))
    assert found and all(r.startswith("#/components/schemas/") and r.rsplit("/", 1)[1] in spec["components"]["schemas"]
                         for r in found), found
    body = spec["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "documents" in body["properties"]


def test_405_names_every_allowed_method(client, keys):
    r = client.request("PATCH", "/v1/jobs", headers=keys.h(keys.analyst))
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
    r = client.delete("/v1/reports/abc.html", headers=keys.h(keys.analyst))
    assert r.status_code == 405 and r.headers["allow"] == "GET"
    assert r.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("route", ["/v1/classify", "/v1/jobs", "/v1/keys", "/v1/feedback"])
def test_nested_json_is_one_error_code(client, keys, route):
    deep = "[" * 100_000 + "]" * 100_000
    r = client.post(route, content=deep, headers={**keys.h(keys.admin), "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"


def test_request_rate_429_is_answered_before_the_body_is_read(tmp_path, store):
    app = _app(tmp_path, store, rate_limit_per_minute=60, rate_limit_burst=2)
    pipe = store.models["fake-model"]
    with TestClient(app) as c:
        keys = Keys(app)
        h = keys.h(keys.analyst)
        assert [c.post("/v1/classify", json={"documents": ["Счёт"]}, headers=h).status_code for _ in range(2)] == [200, 200]
        calls = pipe.calls
        r = c.post("/v1/classify", content=b"{not json", headers={**h, "Content-Type": "application/json"})
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited" and r.headers["retry-after"]
        assert pipe.calls == calls
        assert c.get("/health", headers=h).status_code == 200  # key-less routes are never limited
        assert c.get("/v1/jobs", headers=keys.h(keys.other)).status_code == 200  # other keys are not affected


def test_a_report_wave_with_a_stray_byte_says_how_it_was_decoded(client, keys):
    h = keys.h(keys.analyst)
    wave = ("Компания;ФИО;Оценка;Комментарий\nАльфа;Иванов;9;Менеджер молодец\n"
            "Бета;Петров;3;Счета с ошибками ").encode() + b"\xff\n"
    r = client.post("/v1/reports", files={"file": ("wave.csv", wave, "text/csv")}, headers=h)
    assert r.status_code == 202, r.text
    done = wait_done(client, r.headers["location"], h)
    assert done["status"] == "done", done
    rep = done["report"]
    assert rep["meta"]["input_encoding"]["invalid_bytes_replaced"] == 1
    assert any("invalid byte" in w and "byte offset" in w for w in rep["warnings"])
    assert "<server path>" not in json.dumps(rep) and "/spool/" not in json.dumps(rep)
