"""Renderers: HTML escaping, spreadsheet formula injection, CSV sections, offline HTML, Chromium screenshot."""
from __future__ import annotations

import csv
import re
import shutil
import subprocess

import openpyxl
import pytest

from cx.render.csv import write_csv
from cx.render.html import render_html
from cx.render.tables import neutralize
from cx.render.xlsx import write_xlsx

from .conftest import HOSTILE_FORMULA, HOSTILE_SCRIPT, REPO


def _hostile(report: dict) -> dict:
    """The tiny report with hostile company/contact names too (quotes and tables carry them)."""
    for c in report["traffic_lights"]["companies"]:
        if c["company"] == "X":
            c["company"] = "<img src=x onerror=alert(1)>"
    for r in report["shortlist"]:
        r["contact"] = "@SUM(A1:A9)" if r["contact"] == "b" else r["contact"]
    return report


def test_html_escapes_user_text(tiny_report):
    rep = _hostile(tiny_report)
    html = render_html(rep, charts=False)
    assert HOSTILE_SCRIPT.split("<")[0] in html  # the comment is quoted ...
    assert "<script>" not in html and "&lt;script&gt;" in html  # ... escaped
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_html_is_self_contained_with_inline_svg(demo_report):
    html = render_html(demo_report)
    assert html.count("<svg") >= 3
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # no CDN, no remote resource
    assert "<link" not in html and "<script" not in html
    assert "Выездной сервис" in html and "Приоритет 1" in html


def test_neutralize():
    for bad in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert neutralize(bad) == "'" + bad
    assert neutralize("ok") == "ok" and neutralize(-5) == -5 and neutralize(None) is None


def test_xlsx_neutralizes_formulas_and_colours_zones(tiny_report, tmp_path):
    rep = _hostile(tiny_report)
    p = tmp_path / "r.xlsx"
    write_xlsx(rep, p)
    wb = openpyxl.load_workbook(p)
    assert {"Summary", "Shortlist", "Companies", "Contacts", "Matrix", "Labels"} <= set(wb.sheetnames)
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    assert not any(c.data_type == "f" for c in cells)  # nothing is stored as a formula
    values = [c.value for c in cells if isinstance(c.value, str)]
    assert "'" + HOSTILE_FORMULA in values and HOSTILE_FORMULA not in values
    assert "'@SUM(A1:A9)" in values
    ws = wb["Companies"]
    header = [c.value for c in ws[1]]
    assert ws.cell(2, header.index("zone") + 1).value == "red"
    assert ws.cell(2, header.index("satisfaction") + 1).value == 4.0  # numbers stay numbers
    rules = [r for rng in ws.conditional_formatting for r in rng.rules]
    assert len(rules) >= 6  # three on the 10-point average, three on the zone


def test_csv_sections_and_injection(tiny_report, tmp_path):
    rep = _hostile(tiny_report)
    p = tmp_path / "labels.csv"
    assert write_csv(rep, p, section="labels") == 8  # answers with a comment: 6 in W2, 2 in W1
    text = p.read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(text.splitlines(), delimiter=";"))
    by_id = {r["id"]: r for r in rows}
    assert by_id["9"]["comment"] == "'" + HOSTILE_FORMULA
    assert by_id["7"]["touchpoints"] == "field_service:negative;customer_service:positive"
    s = tmp_path / "shortlist.csv"
    write_csv(rep, s)
    srows = list(csv.DictReader(s.read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    assert [r["contact"] for r in srows] == ["a", "'@SUM(A1:A9)", "g", "h"]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")
def test_screenshot_with_headless_chromium(demo_report, tmp_path):
    html = tmp_path / "r.html"
    html.write_text(render_html(demo_report), encoding="utf-8")
    png = tmp_path / "r.png"
    subprocess.run(["bash", str(REPO / "bench" / "screenshot_report.sh"), str(html), str(png), "1280x1600"],
                   check=True, timeout=120, capture_output=True)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
