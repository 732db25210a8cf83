"""The report page: server-side filters, drill-down with evidence highlighted, charts, downloads."""
from __future__ import annotations

import io
import json
import re
from urllib.parse import quote

import openpyxl
import pytest

from tests.web.conftest import DEMO_WAVE


def n_comments(page: str) -> int:
    return int(re.search(r'id="n-comments">(\d+)<', page).group(1))


@pytest.fixture
def wave(analyst) -> str:
    return analyst.run_wave()


def test_the_report_has_the_summary_touchpoints_and_links_to_the_comments(analyst, wave):
    page = analyst.get(f"/waves/{wave}/report").text
    assert n_comments(page) == 25
    assert 'id="touchpoints"' in page and 'data-vega="touchpoints"' in page
    assert f'/waves/{wave}/comments?touchpoint_id=billing&amp;polarity=negative' in page
    assert "/static/vendor/vega-embed.min.js" in page


def test_filters_are_applied_on_the_server(analyst, wave):
    full = analyst.get(f"/waves/{wave}/report").text
    billing = analyst.get(f"/waves/{wave}/report?touchpoint=billing").text
    assert n_comments(billing) == 3 < n_comments(full)
    assert '<option value="billing" selected>' in billing
    company = analyst.get(f"/waves/{wave}/report", params={"company": "ООО «ТехноПром»"}).text
    assert n_comments(company) == 2
    en = analyst.get(f"/waves/{wave}/report?lang=en").text
    ru = analyst.get(f"/waves/{wave}/report?lang=ru").text
    assert n_comments(en) + n_comments(ru) == 25 and n_comments(en) > 0
    assert 'id="no-match"' in analyst.get(f"/waves/{wave}/report", params={"company": "nobody"}).text
    # the chart's bars link to the filtered drill-down
    spec = json.loads(re.search(r'id="spec-touchpoints">(.*?)</script>', billing, re.S).group(1))
    assert f"/waves/{wave}/comments?touchpoint=billing&touchpoint_id=billing&polarity=negative" in {
        v["href"] for v in spec["data"]["values"]}
    assert "<" not in re.search(r'id="spec-touchpoints">(.*?)</script>', billing, re.S).group(1)


def test_a_bad_filter_names_its_field(analyst, wave):
    r = analyst.get(f"/waves/{wave}/report?zone=purple")
    assert r.status_code == 422 and "<code>zone</code>" in r.text
    r = analyst.get(f"/waves/{wave}/comments?touchpoint_id=billing&polarity=angry")
    assert r.status_code == 422 and "<code>polarity</code>" in r.text


def test_drill_down_shows_the_comments_behind_a_count_with_the_evidence_marked(analyst, wave):
    page = analyst.get(f"/waves/{wave}/comments?touchpoint_id=billing&polarity=negative").text
    items = re.findall(r"<li>\s*<p class=\"text\".*?</li>", page, re.S)
    assert len(items) == 3
    marks = re.findall(r'<mark class="negative"[^>]*data-tp="billing">([^<]+)</mark>', page)
    assert len(marks) == 3
    assert all(m.lower().startswith(("сч", "invoice")) for m in marks)
    assert len(re.findall(r'<p class="text"', analyst.get(f"/waves/{wave}/comments?touchpoint_id=customer_service&polarity=negative").text)) == 0
    report = analyst.get(f"/waves/{wave}/report").text
    chips = dict((k, int(n)) for k, n in re.findall(r'comments\?sentiment=(\w+)">[^<]* (\d+)</a>', report))
    assert sum(chips.values()) == 25 and set(chips) <= {"positive", "negative", "neutral", "mixed"}
    for k, n in chips.items():
        assert analyst.get(f"/waves/{wave}/comments?sentiment={k}").text.count('<p class="text"') == n
    risky = analyst.get(f"/waves/{wave}/comments?risk=switching").text
    assert len(re.findall(r'<p class="text"', risky)) == 2


def test_downloads_render_the_filtered_report_with_the_existing_renderers(analyst, wave):
    js = analyst.get(f"/waves/{wave}/download/json?touchpoint=billing")
    assert js.status_code == 200 and "attachment" in js.headers["content-disposition"]
    assert js.json()["summary"]["n_comments"] == 3
    html = analyst.get(f"/waves/{wave}/download/html")
    assert html.status_code == 200 and "<html" in html.text.lower()
    assert "script-src" not in html.headers["content-security-policy"]  # the static report runs no script
    xlsx = analyst.get(f"/waves/{wave}/download/xlsx")
    wb = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert len(wb.sheetnames) > 1
    csv = analyst.get(f"/waves/{wave}/download/csv?section=labels").content.decode("utf-8-sig")
    assert csv.count("\n") >= 26 and "billing" in csv
    bad = analyst.get(f"/waves/{wave}/download/pdf")
    assert bad.status_code == 422 and "<code>format</code>" in bad.text
    bad = analyst.get(f"/waves/{wave}/download/csv?section=nope")
    assert bad.status_code == 422 and "<code>section</code>" in bad.text


def test_a_wave_with_scores_gets_nps_zones_and_a_zone_filter(analyst):
    wave = analyst.run_wave(DEMO_WAVE)
    page = analyst.get(f"/waves/{wave}/report").text
    assert "NPS" in page and 'id="companies"' in page and 'id="interpretation"' in page and 'id="contacts"' in page
    assert 'id="trend-touchpoints"' in page and 'id="trend-companies"' in page and "2024 H1" in page
    # every count of the newest wave opens exactly that many comments (the older wave is only in the trends)
    tp = analyst.get(f"/waves/{wave}/download/json").json()["touchpoints"][0]
    drill = analyst.get(f"/waves/{wave}/comments?touchpoint_id={tp['touchpoint']}").text
    assert drill.count('<p class="text"') == tp["mentions"]
    chips = re.findall(r'comments\?sentiment=\w+">[^<]* (\d+)</a>', page)
    assert sum(map(int, chips)) == n_comments(page) and 'id="contacts"' in page
    red = analyst.get(f"/waves/{wave}/report?zone=red").text
    green = analyst.get(f"/waves/{wave}/report?zone=green").text
    assert 0 < n_comments(red) < n_comments(page) and 0 < n_comments(green) < n_comments(page)
    data = analyst.get(f"/waves/{wave}/download/json?zone=red").json()
    assert {c["zone"] for c in data["traffic_lights"]["contacts"]} == {"red"}
    full = analyst.get(f"/waves/{wave}/download/json").json()
    seg = full["breakdowns"]["segment"]
    assert len(seg) > 1  # the demo wave has segments: the segment filter has choices, the table links to them
    name = seg[0]["segment"]
    assert f'<option value="{name}"' in page and f"segment={quote(name)}" in page.replace("+", "%20")
    sub = analyst.get(f"/waves/{wave}/download/json", params={"segment": name}).json()
    assert sub["summary"]["n_answers"] == seg[0]["n"] < full["summary"]["n_answers"]
    assert [b["segment"] for b in sub["breakdowns"]["segment"]] == [name]
    shortlisted = full["shortlist"][0]
    drill = analyst.get(f"/waves/{wave}/comments", params={"in_company": shortlisted["company"],
                                                           "contact": shortlisted["contact"]}).text
    current = full["meta"]["current_wave"]
    assert drill.count('<p class="text"') == len([c for c in full["comments"] if c["company"] == shortlisted["company"]
                                                  and c["contact"] == shortlisted["contact"]
                                                  and c["wave"] == current]) > 0
