"""Renderers: HTML escaping, spreadsheet formula injection, CSV sections, offline HTML, Chromium screenshot."""
from __future__ import annotations

import csv
import re
import shutil
import subprocess

import openpyxl
import pytest

from cx.config import ReportConfig
from cx.i18n import LABELS, labels
from cx.report import build_report
from cx.render.csv import write_csv
from cx.render.html import render_html
from cx.render.tables import neutralize
from cx.render.xlsx import write_xlsx

from .conftest import HOSTILE_FORMULA, HOSTILE_SCRIPT, REPO, tiny_predictions, tiny_raw


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


def _tp_section(html: str) -> str:
    m = re.search(r'<section id="touchpoints">.*?</section>', html, re.S)
    assert m, "no touchpoint section"
    return m.group(0)


def _tp_cells(section: str, tp: str) -> list[str]:
    """The text of each cell of the touchpoint's row (markup stripped)."""
    row = re.search(rf'<tr data-touchpoint="{tp}"[^>]*>(.*?)</tr>', section, re.S).group(1)
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def test_html_touchpoint_table_matches_the_json(demo_report):
    sec = _tp_section(render_html(demo_report, charts=False))
    assert "<h2>Точки контакта</h2>" in sec  # the demo report is in Russian
    assert sec.count("<tr data-touchpoint=") == len(demo_report["touchpoints"]) > 5
    quad = {i["id"]: i for i in demo_report["matrix"]["items"]}
    flag = labels("ru")["low_n"]
    assert any(tp["low_n"] for tp in demo_report["touchpoints"])  # a small-sample row is among them
    for tp in demo_report["touchpoints"]:
        cells = _tp_cells(sec, tp["touchpoint"])
        nps = tp["nps"]
        assert cells[:6] == [tp["name"] + (flag if tp["low_n"] else ""), str(tp["mentions"]), f"{tp['share']:.1f}",
                             str(tp["positive"]), str(tp["negative"]), str(tp["neutral"])]
        # the NPS of the answers mentioning it, as in the JSON; flagged (not hidden) below min_n
        assert cells[6] == f"{nps['value']:+.0f}" + (flag if nps["low_n"] else "")
        assert cells[7] == f"{nps['ci_low']:+.0f} … {nps['ci_high']:+.0f}" and cells[8] == str(nps["n"])
        neg, pos = tp["impact"]["negative"], tp["impact"]["positive"]
        assert cells[9:11] == [f"{neg:+.1f}" if neg is not None else "–", f"{pos:+.1f}" if pos is not None else "–"]
        assert cells[11] == f"{tp['importance']:.3f}"
        q = quad.get(tp["touchpoint"])  # the demo matrix is rating-based: no item for e.g. "product"
        assert cells[12:] == ([q["quadrant"], str(q["priority"])] if q else ["–", "–"])
    assert {"product", "field_service"} <= {t["touchpoint"] for t in demo_report["touchpoints"]}
    assert _tp_cells(sec, "product")[12:] == ["–", "–"]
    fs = _tp_cells(sec, "field_service")
    assert fs[0] == "Выездной сервис" and fs[6].startswith("-") and fs[12:] == ["A", "1"]


def test_html_touchpoint_table_escapes_a_hostile_name(tiny_report):
    rep = tiny_report
    rep["touchpoints"][0]["name"] = "<img src=x onerror=alert(1)>"
    rep["touchpoints"][1]["touchpoint"] = '"><script>alert(2)</script>'
    sec = _tp_section(render_html(rep, charts=False))
    assert "<h2>Touchpoints</h2>" in sec  # the tiny report is in English
    assert "<img src=x" not in sec and "&lt;img src=x onerror=alert(1)&gt;" in sec
    assert "<script>" not in sec and 'data-touchpoint="&#34;&gt;&lt;script&gt;' in sec


def test_html_touchpoint_table_flags_small_samples_and_drops_nps_without_nps():
    cfg = ReportConfig.from_dict({"min_n": 5, "lang": "ru", "scores": {"nps": "nps"}})
    sec = _tp_section(render_html(build_report(tiny_raw(), tiny_predictions(), cfg), charts=False))
    row = re.search(r'<tr data-touchpoint="customer_service"[^>]*>.*?</tr>', sec, re.S).group(0)
    assert 'class="lown"' in row and row.count(labels("ru")["low_n"]) == 2  # mentions and NPS n = 3 < 5
    assert "+67" in row  # flagged, not hidden
    cfg = ReportConfig.from_dict({"lang": "en", "scores": {"csat": {"column": "csat", "scale": [1, 5]}}})
    rep = build_report(tiny_raw().drop(columns=["nps"]), tiny_predictions(), cfg)
    sec = _tp_section(render_html(rep, charts=False))
    assert "NPS" not in sec and sec.count("<tr data-touchpoint=") == 3
    assert len(_tp_cells(sec, "customer_service")) == 9  # name, 5 counts, importance, quadrant, priority


def test_labels_cover_both_languages():
    assert all(len(pair) == 2 and all(pair) for pair in LABELS.values())
    ru, en = labels("ru"), labels("en")
    assert ru.keys() == en.keys() and ru["touchpoints"] == "Точки контакта" and en["z_red"] == "red"
    assert labels("fa") == en  # unknown language: English


def test_xlsx_touchpoint_sheet_has_nps_ci_impact_and_quadrant(demo_report, tmp_path):
    p = tmp_path / "r.xlsx"
    write_xlsx(demo_report, p)
    ws = openpyxl.load_workbook(p, read_only=True)["Touchpoints"]
    rows = list(ws.iter_rows(values_only=True))
    header = rows[0]
    got = {r[0]: dict(zip(header, r + (None,) * (len(header) - len(r)))) for r in rows[1:]}  # trailing None cut
    assert list(got) == [t["touchpoint"] for t in demo_report["touchpoints"]]
    quad = {i["id"]: i for i in demo_report["matrix"]["items"]}
    for tp in demo_report["touchpoints"]:
        row = got[tp["touchpoint"]]
        assert (row["mentions"], row["positive"], row["negative"], row["neutral"]) == (
            tp["mentions"], tp["positive"], tp["negative"], tp["neutral"])
        assert (row["nps"], row["nps_ci_low"], row["nps_ci_high"], row["nps_n"]) == (
            tp["nps"]["value"], tp["nps"]["ci_low"], tp["nps"]["ci_high"], tp["nps"]["n"])
        assert (row["impact_all"], row["impact_positive"], row["impact_negative"]) == (
            tp["impact"]["all"], tp["impact"]["positive"], tp["impact"]["negative"])
        q = quad.get(tp["touchpoint"], {})
        assert (row["quadrant"], row["priority"]) == (q.get("quadrant"), q.get("priority"))
    assert (got["field_service"]["quadrant"], got["field_service"]["priority"]) == ("A", 1)


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


def test_report_csv_cells_go_through_the_one_safe_writer(tiny_report, tmp_path):
    import csv as _csv

    from cx.render.csv import write_csv
    from nlp.labeled.cells import FORMULA_PREFIXES

    import copy

    rep = copy.deepcopy(tiny_report)
    for q in rep.get("shortlist") or []:
        if isinstance(q, dict) and "company" in q:
            q["company"] = '=HYPERLINK("http://evil.example","x")'
    out = tmp_path / "s.csv"
    write_csv(rep, out, section="shortlist")
    cells = [c for row in _csv.reader(out.read_text(encoding="utf-8-sig").splitlines(), delimiter=";") for c in row]
    def number(c: str) -> bool:
        try:
            float(c)
            return True
        except ValueError:
            return False

    assert "'=HYPERLINK(\"http://evil.example\",\"x\")" in cells
    assert not any(c.startswith(FORMULA_PREFIXES) and not number(c) for c in cells)  # -0.5 stays a number
