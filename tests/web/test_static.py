"""Vendored assets (versions, licences, nothing from outside), security headers, the RU catalogue, the
0003 migration, and the server time of every page on the demo wave."""
from __future__ import annotations

import re
import time
from pathlib import Path

from sqlalchemy import inspect

from api import db
from api.web.i18n import RU, translate

WEB = Path(__file__).resolve().parents[2] / "api" / "web"
VENDOR = WEB / "static" / "vendor"


def test_every_vendored_file_is_listed_with_version_and_licence():
    readme = (VENDOR / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]+)` \| `([^`]+)`[^|]*\| ([0-9][0-9.]*) \| ([^|(]+)\(`([^`]+)`\)", readme, re.M)
    assert {r[0] for r in rows} == {p.name for p in VENDOR.glob("*.js")}
    for file, package, version, licence, licence_file in rows:
        assert (VENDOR / licence_file).is_file() and licence.strip() in ("0BSD", "BSD-3-Clause")
        assert "sourceMappingURL" not in (VENDOR / file).read_text(encoding="utf-8")[-400:]


def test_our_templates_and_scripts_name_no_outside_address():
    own = [*WEB.glob("templates/*.html"), WEB / "static" / "app.js", WEB / "static" / "app.css"]
    for p in own:
        text = p.read_text(encoding="utf-8")
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), p
        assert "<script>" not in text and " on" + "click=" not in text, p  # no inline script or handlers


def test_static_files_are_served_from_the_package(client):
    for name in ("htmx.min.js", "vega.min.js", "vega-lite.min.js", "vega-embed.min.js"):
        r = client.get(f"/static/vendor/{name}")
        assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert client.get("/static/app.css").status_code == 200
    assert client.get("/static/../main.py").status_code == 404


def test_pages_allow_same_origin_scripts_only(analyst):
    wave = analyst.run_wave()
    csp = analyst.get("/waves").headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-eval" not in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    report = analyst.get(f"/waves/{wave}/report").headers["content-security-policy"]
    assert "script-src 'self' 'unsafe-eval';" in report  # Vega compiles its specs; still no outside origin
    assert "http" not in report
    assert analyst.get("/waves").headers["x-frame-options"] == "DENY"
    assert analyst.get("/waves").headers["cache-control"] == "no-store"


def test_every_interface_text_of_the_templates_has_a_russian_translation():
    keys = set()
    for p in WEB.glob("templates/*.html"):
        keys |= set(re.findall(r"""\bt\((?:"([^"]+)"|'([^']+)')\)""", p.read_text(encoding="utf-8")))
    keys = {a or b for a, b in keys}
    assert len(keys) > 100
    missing = sorted(k for k in keys if k not in RU)
    assert missing == []
    for role in ("company", "contact", "comment", "segment", "key_account"):
        assert translate(f"role.{role}", "ru") != translate(f"role.{role}", "en")
    assert translate("zone.red", "ru") == "красная" and translate("zone.red", "en") == "red"  # from cx.i18n


def test_revision_0003_creates_and_drops_the_web_tables(tmp_path):
    from alembic import command

    url = f"sqlite:///{tmp_path / 'w.db'}"
    db.upgrade(url, "0003")
    engine = db.make_engine(url)
    try:
        assert {"web_sessions", "web_waves", "web_shortlist_marks"} <= set(inspect(engine).get_table_names())
        command.downgrade(db.alembic_config(url), "0002")
        assert not {"web_sessions", "web_waves", "web_shortlist_marks"} & set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_every_page_is_served_in_under_300_ms_on_the_demo_wave(admin):
    wave = admin.run_wave()
    doc = re.search(r'name="doc_id" value="([^"]+)"', admin.get(f"/waves/{wave}/review").text).group(1)
    admin.post(f"/waves/{wave}/review", {"doc_id": doc, "sentiment": "negative"})
    pages = ["/waves", f"/waves/{wave}", f"/waves/{wave}/report", f"/waves/{wave}/report?touchpoint=billing",
             f"/waves/{wave}/comments?touchpoint_id=billing&polarity=negative", f"/waves/{wave}/review",
             f"/waves/{wave}/shortlist", "/feedback", "/taxonomy", "/models", "/login"]
    slow = {}
    for p in pages:
        admin.get(p)  # warm: the filtered report is built once, then cached
        best = min(_timed(admin, p) for _ in range(3))
        if best > 0.3:
            slow[p] = round(best, 3)
    assert slow == {}


def _timed(web, path: str) -> float:
    t = time.perf_counter()
    r = web.get(path)
    assert r.status_code == 200, (path, r.status_code)
    return time.perf_counter() - t


def test_errors_are_pages_on_the_web_app_and_json_under_v1(analyst, keys):
    page = analyst.get("/waves/abc/nothing-here")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert analyst.get("/static/vendor/none.js").status_code == 404
    wrong = analyst.c.put("/waves")
    assert wrong.status_code == 405 and "text/html" in wrong.headers["content-type"]
    api = analyst.c.get("/v1/reports/nope", headers=keys.h(keys.analyst))
    assert api.status_code == 404 and api.json()["error"]["code"] == "report_not_found"
    bad = analyst.c.post("/v1/feedback", json={"items": []}, headers=keys.h(keys.analyst))
    assert bad.status_code == 422 and "error" in bad.json()
