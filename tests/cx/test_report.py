"""build_report on the tiny hand-checked wave (tests/cx/conftest.py)."""
from __future__ import annotations

import json

import pytest

from cx.config import ReportConfig
from cx.report import SCHEMA_VERSION, build_report, load_question_templates, load_risk_patterns

from .conftest import tiny_answers, tiny_predictions, tiny_raw


def test_schema_and_json_serialisable(tiny_report):
    assert tiny_report["schema_version"] == SCHEMA_VERSION
    json.dumps(tiny_report, allow_nan=False)  # no NaN / numpy types anywhere
    m = tiny_report["meta"]
    assert m["waves"] == ["W1", "W2"] and m["current_wave"] == "W2" and m["previous_wave"] == "W1"
    assert m["n_answers_in_scope"] == 7 and m["n_labeled"] == 5


def test_summary_nps_of_current_wave(tiny_report):
    s = tiny_report["summary"]
    # W2 scores 3,5,10,9,7,6,8: promoters 2, detractors 3 -> NPS = -1/7 = -14.29
    assert s["nps"]["value"] == pytest.approx(-14.29, abs=0.01) and s["nps"]["n"] == 7
    assert s["n_companies"] == 4 and s["n_contacts"] == 7 and s["n_comments"] == 6


def test_traffic_lights_red_first(tiny_report):
    comps = tiny_report["traffic_lights"]["companies"]
    # X: (3+5)/2 = 4 red; Z: e 7 and g mean(6, CSAT 5 -> 10) = 8 -> 7.5 yellow; F: 8 yellow; Y: 9.5 green
    assert [(c["company"], c["zone"], c["satisfaction"]["mean"]) for c in comps] == [
        ("X", "red", 4.0), ("Z", "yellow", 7.5), ("F", "yellow", 8.0), ("Y", "green", 9.5)]
    assert comps[2]["previous"] == 10.0 and comps[2]["change"] == -2.0
    contacts = [(c["contact"], c["zone"]) for c in tiny_report["traffic_lights"]["contacts"]]
    assert contacts[:2] == [("a", "red"), ("b", "red")] and contacts[-1] == ("c", "green")


def test_shortlist_order_and_reasons(tiny_report):
    sl = tiny_report["shortlist"]
    assert [(r["contact"], r["reasons"]) for r in sl] == [
        ("a", ["red_zone", "falling_company", "falling_contact"]),  # 3 now, 6 in W1; X fell 6 -> 4
        ("b", ["red_zone", "falling_company"]),
        ("g", ["key_account_detractor"]),              # Z is a key account, g gave NPS 6 but CSAT 5 -> yellow
        ("h", ["falling_company", "falling_contact"]),  # F: 10 -> 8
    ]
    a = sl[0]
    assert a["negative_touchpoints"] == [{"touchpoint": "field_service", "name": "Field service"}]
    assert a["quotes"][0]["text"] == "Инженер не приехал"
    assert 2 <= len(a["questions"]) <= 4
    assert a["questions"][0] == load_question_templates()["field_service"]["en"][0]
    # no negative touchpoint: generic questions fill up to the minimum
    assert sl[2]["questions"] == load_question_templates()["_generic"]["en"][:2]


def test_theme_impact(tiny_report):
    imp = {r["touchpoint"]: r for r in tiny_report["theme_impact"]}
    # field_service in answers a (3) and h (8); without them 5,10,9,7,6 -> NPS 0; -14.29 - 0
    assert imp["field_service"]["impact_all"] == pytest.approx(-14.29, abs=0.01)
    assert imp["field_service"]["n_negative"] == 2
    # customer_service positive in c, d, h; without them 3,5,7,6 -> -75; -14.29 + 75 = 60.71
    assert imp["customer_service"]["impact_positive"] == pytest.approx(60.71, abs=0.01)
    assert imp["customer_service"]["impact_negative"] is None


def test_stated_importance_matrix_and_ranking(tiny_config):
    cfg = tiny_config
    cfg.importance = "stated"
    cfg.weights = {"field_service": 2, "billing": 1, "customer_service": 1}
    rep = build_report(tiny_answers(cfg), tiny_predictions(), cfg)
    mx = rep["matrix"]
    assert mx["basis"] == "mentions" and mx["importance_method"] == "stated"
    # performance = % positive mentions: field_service 0, billing 0, customer_service 100; cuts: 4/3 and 33.33
    assert mx["cut"]["importance"] == pytest.approx(1.3333, abs=1e-4)
    assert mx["cut"]["performance"] == pytest.approx(33.33, abs=0.01)
    quad = {i["id"]: (i["quadrant"], i["priority"]) for i in mx["items"]}
    assert quad == {"field_service": ("A", 1), "billing": ("B", 2), "customer_service": ("D", 4)}
    # weight = importance / mean importance (4/3): field_service 1.5, billing 0.75
    w = [(x["touchpoint"], x["count"], x["score"]) for x in rep["weaknesses"]]
    assert w == [("field_service", 2, 3.0), ("billing", 1, 0.75)]
    s = rep["strengths"][0]
    assert (s["touchpoint"], s["count"], s["score"]) == ("customer_service", 3, 2.25)
    assert s["share"] == 50.0  # 3 of 6 comments
    assert {q["company"] for q in s["quotes"]} == {"Y", "F"} and len(s["quotes"]) == 3


def test_risks_from_patterns(tiny_report):
    cats = {c["id"]: c for c in tiny_report["risks"]["categories"]}
    assert cats["switching"]["n"] == 1 and cats["switching"]["companies"] == ["Z"]
    assert cats["switching"]["quotes"][0]["text"] == "Рассматриваем других поставщиков"
    assert tiny_report["risks"]["at_risk_companies"][0]["company"] == "Z"
    assert cats["budget"]["n"] == 0


def test_risk_patterns_ru_en():
    pats = {c["id"]: c["regex"] for c in load_risk_patterns()}
    assert pats["competitor"].search("Конкуренты предлагают дешевле")
    assert pats["budget"].search("Бюджет на следующий год урезали")
    assert pats["switching"].search("We are looking at other suppliers")
    assert pats["churn_risk"].search("не будем продлевать договор")
    assert not any(rx.search("Менеджер отлично работает") for rx in pats.values())


def test_trends_between_waves(tiny_report):
    tr = tiny_report["trends"]
    assert tr["available"] and [w["wave"] for w in tr["by_wave"]] == ["W1", "W2"]
    comp = {c["company"]: c for c in tr["companies"]}
    assert comp["F"]["change"] == -2.0 and comp["F"]["falling"]
    assert comp["X"]["change"] == -2.0  # 6 -> 4
    # W1 NPS: 10 and 6 -> 0; W2 -14.29
    assert tr["nps_change"] == pytest.approx(-14.29, abs=0.01)


def test_small_samples_are_flagged(tiny_config):
    cfg = tiny_config
    cfg.min_n = 5
    rep = build_report(tiny_answers(cfg), tiny_predictions(), cfg)
    assert all(c["low_n"] for c in rep["traffic_lights"]["companies"])  # 1-2 answers each
    assert rep["summary"]["nps"]["low_n"] is False  # 7 answers


def test_scope_all_uses_every_wave(tiny_config):
    cfg = tiny_config
    cfg.scope = "all"
    rep = build_report(tiny_answers(cfg), tiny_predictions(), cfg)
    assert rep["summary"]["n_answers"] == 9 and rep["meta"]["scope"] == "all"


def test_raw_frame_is_canonicalised_and_unmatched_predictions_warned():
    cfg = ReportConfig.from_dict({"min_n": 1})
    preds = tiny_predictions() + [{"id": "nope", "touchpoints": []}]
    rep = build_report(tiny_raw(), preds, cfg)
    assert rep["summary"]["n_answers"] == 7
    assert rep["meta"]["predictions"]["unmatched_predictions"] == 1
    assert any("not among the answers" in w for w in rep["warnings"])


def test_no_predictions_still_reports_scores(tiny_config):
    rep = build_report(tiny_answers(tiny_config), [], tiny_config)
    assert rep["strengths"] == [] and rep["summary"]["nps"]["n"] == 7
    assert any("no predictions" in w for w in rep["warnings"])


def test_comments_section_labels(tiny_report):
    rows = {c["id"]: c for c in tiny_report["comments"]}
    assert rows["7"]["touchpoints"] == "field_service:negative;customer_service:positive"
    assert rows["7"]["sentiment"] == "mixed" and rows["6"]["risks"] == "switching"
    assert "5" not in rows  # no comment


def test_group_figures_match_the_metric_functions(demo_report):
    """The vectorised per-group figures equal cx.metrics on each group's own scores."""
    from cx import metrics as M
    from cx.demo import load_demo

    answers, _ = load_demo()
    cur = answers[answers["wave"] == demo_report["meta"]["current_wave"]]
    for row in demo_report["traffic_lights"]["companies"]:
        ref = M.nps(cur.loc[cur["company"] == row["company"], "nps"])
        assert (row["nps"]["value"], row["nps"]["ci_low"], row["nps"]["ci_high"], row["nps"]["n"]) == (
            ref["value"], ref["ci_low"], ref["ci_high"], ref["n"])
    seg = {r["segment"]: r for r in demo_report["breakdowns"]["segment"]}
    for name, r in seg.items():
        sub = cur.loc[cur["segment"] == name, "csat"]
        assert r["csat"]["value"] == M.csat_top_box(sub, scale=(1, 5))["value"]


def test_touchpoint_table_nps_of_mentioning_answers(tiny_report):
    tps = {r["touchpoint"]: r for r in tiny_report["touchpoints"]}
    # customer_service positive in c (10), d (9), h (8): 2 promoters of 3 -> 66.67
    cs = tps["customer_service"]
    assert cs["nps"]["value"] == pytest.approx(66.67, abs=0.01) and cs["nps"]["n"] == 3
    assert cs["satisfaction"] == 9.0 and cs["mentions"] == 3 and cs["positive"] == 3
    assert tps["field_service"]["nps"]["value"] == -50.0  # a (3) detractor, h (8) passive
