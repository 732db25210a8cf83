"""Metric functions on hand-computed examples (METHODOLOGY.md sections 3-4)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from cx import metrics as M


def test_nps_counts_value_and_ci():
    # promoters 10,9,10,9; passives 8,7; detractors 6,0,3,5
    r = M.nps([10, 9, 8, 7, 6, 0, 10, 9, 3, 5])
    assert (r["n"], r["promoters"], r["passives"], r["detractors"]) == (10, 4, 2, 4)
    assert r["value"] == 0.0
    # Var = (0.4 + 0.4 - 0^2) / 10 = 0.08; SE = 100 * sqrt(0.08) = 28.284; CI = +-1.96 * SE = +-55.44
    assert r["se"] == pytest.approx(28.28, abs=0.01)
    assert (r["ci_low"], r["ci_high"]) == (pytest.approx(-55.44, abs=0.01), pytest.approx(55.44, abs=0.01))


def test_nps_asymmetric_and_clipped_ci():
    r = M.nps([10, 10, 10, 9, 8, 2, float("nan")])  # NaN ignored
    assert r["n"] == 6 and r["value"] == 50.0
    # Var = (4/6 + 1/6 - (3/6)^2) / 6 = 0.097222; SE = 31.18; 50 - 1.96 * 31.18 = -11.11; upper clipped at 100
    assert r["se"] == pytest.approx(31.18, abs=0.01)
    assert r["ci_low"] == pytest.approx(-11.11, abs=0.01)
    assert r["ci_high"] == 100.0


def test_nps_empty():
    assert M.nps([])["value"] is None and M.nps([])["n"] == 0


def test_csat_top2_box_and_10_point_threshold():
    r = M.csat_top_box([5, 4, 3, 2, 5], scale=(1, 5))
    assert r["value"] == 60.0 and r["n"] == 5 and r["threshold"] == 4
    # Wald: sqrt(.6 * .4 / 5) = 0.2191 -> 60 - 42.94 = 17.06; upper 102.9 clipped to 100
    assert r["ci_low"] == pytest.approx(17.06, abs=0.01) and r["ci_high"] == 100.0
    assert M.csat_top_box([8, 7, 10, 9], scale=(1, 10))["value"] == 75.0  # 8-10 of 1-10
    assert M.csat_top_box([8, 7, 10, 9], scale=(1, 10), top_box_from=9)["value"] == 50.0


def test_ces_mean_keeps_scale_and_good_end():
    r = M.ces([7, 5, 6], scale=(1, 7), good_end="low")
    assert r["mean"] == 6.0 and r["n"] == 3 and r["scale"] == [1, 7] and r["good_end"] == "low"
    # sd = 1, half-width = 1.96 / sqrt(3) = 1.1316
    assert r["ci_low"] == pytest.approx(4.868, abs=0.001)


def test_to_ten_scales():
    assert list(M.to_ten(np.array([0, 7, 10]), (0, 10))) == [0, 7, 10]
    assert list(M.to_ten(np.array([1, 3, 5]), (1, 5))) == [1.0, 5.5, 10.0]
    assert list(M.to_ten(np.array([1, 7]), (1, 7), good_end="low")) == [10.0, 1.0]


@pytest.mark.parametrize("avg,expected", [(2.5, "systemic"), (3.0, "systemic"), (3.01, "mixed"), (7.99, "mixed"),
                                          (8.0, "individual"), (None, None)])
def test_interpret_average(avg, expected):
    assert M.interpret_average(avg) == expected


def test_interpret_average_thresholds_configurable():
    assert M.interpret_average(4.0, systemic_max=4.5, individual_min=9) == "systemic"
    assert M.interpret_average(8.5, systemic_max=4.5, individual_min=9) == "mixed"


@pytest.mark.parametrize("avg,z", [(6.0, "red"), (6.99, "red"), (7.0, "yellow"), (8.99, "yellow"), (9.0, "green"),
                                   (float("nan"), None)])
def test_zone_defaults(avg, z):
    assert M.zone(avg) == z


def test_zone_configurable():
    assert M.zone(7.5, yellow_from=8, green_from=9.5) == "red"


def test_shapley_hand_example_uncorrelated_predictors():
    # r_y1 = .6, r_y2 = .4, r_12 = 0: shares are the squared correlations, R^2 = .52
    C = np.array([[1, 0, .6], [0, 1, .4], [.6, .4, 1]], float)
    s = M.shapley_r2_from_corr(C)
    assert s == pytest.approx([0.36, 0.16])


def test_shapley_hand_example_correlated_predictors():
    # r_y1 = .6, r_y2 = .5, r_12 = .5: R2(1) = .36, R2(2) = .25,
    # R2(1,2) = (.36 + .25 - 2 * .6 * .5 * .5) / (1 - .25) = .413333
    # share_1 = (R2(1) + R2(1,2) - R2(2)) / 2 = .261667; share_2 = (.25 + .413333 - .36) / 2 = .151667
    C = np.array([[1, .5, .6], [.5, 1, .5], [.6, .5, 1]], float)
    assert M.r2_from_corr(C, [0, 1]) == pytest.approx(0.413333, abs=1e-6)
    assert M.shapley_r2_from_corr(C) == pytest.approx([0.261667, 0.151667], abs=1e-6)


def test_shapley_matches_brute_force_permutations():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 4))
    X[:, 1] += 0.6 * X[:, 0]
    X[:, 3] -= 0.4 * X[:, 2]
    y = X @ np.array([1.0, 0.5, 0.3, 0.0]) + rng.normal(size=300)
    fast = M.shapley_r2(X, y)
    slow = M.brute_force_shapley_r2(X, y)
    assert fast == pytest.approx(slow, abs=1e-9)
    imp, r2, method = M.derived_importance(X, y, method="shapley")
    assert method == "shapley" and imp.sum() == pytest.approx(r2, abs=1e-9)


def test_relative_weights_sum_to_r2_and_equal_r_squared_when_orthogonal():
    C = np.array([[1, 0, .6], [0, 1, .4], [.6, .4, 1]], float)
    assert M.relative_weights_from_corr(C) == pytest.approx([0.36, 0.16])
    C2 = np.array([[1, .5, .6], [.5, 1, .5], [.6, .5, 1]], float)
    assert M.relative_weights_from_corr(C2).sum() == pytest.approx(0.413333, abs=1e-6)


def test_correlation_importance_and_constant_column():
    x = np.array([1, 2, 3, 4, 5], float)
    X = np.column_stack([x, np.ones(5)])
    imp, r2, method = M.derived_importance(X, 2 * x + 1, method="correlation")
    assert method == "correlation" and imp == pytest.approx([1.0, 0.0]) and r2 == pytest.approx(1.0)


def test_shapley_falls_back_to_relative_weights_for_many_predictors():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, M.SHAPLEY_MAX_PREDICTORS + 1))
    imp, r2, method = M.derived_importance(X, X[:, 0] + rng.normal(size=200), method="shapley")
    assert method == "relative_weights" and imp.sum() == pytest.approx(r2, abs=1e-9)


@pytest.mark.parametrize("imp,perf,expected", [(0.3, 5, ("A", 1)), (0.1, 5, ("B", 2)), (0.3, 9, ("C", 3)),
                                               (0.1, 9, ("D", 4)), (0.2, 7, ("C", 3))])
def test_quadrants(imp, perf, expected):
    assert M.quadrant(imp, perf, importance_cut=0.2, performance_cut=7) == expected


def test_cut_values():
    assert M.cut_value([1, 2, 6]) == 3.0
    assert M.cut_value([1, 2, 6], "median") == 2.0
    assert M.cut_value([1, 2, 6], 4.5) == 4.5


def test_theme_impact():
    # all: promoters 10,10,9; detractors 0,0,6 -> NPS 0; without the theme (answers 3, 4): 10,10,9,6 -> 50
    assert M.theme_impact([10, 10, 0, 0, 9, 6], [False, False, True, True, False, False]) == -50.0
    assert M.theme_impact([10, 9], [True, True]) is None


def test_trim_quote_keeps_evidence_whole_words():
    text = ("Вообще сотрудничеством довольны уже много лет, однако в этом квартале счета приходят с ошибками "
            "и бухгалтерия не отвечает на письма, хотя менеджер старается помочь и всё объясняет.")
    ev = "счета приходят с ошибками"
    s = text.index(ev)
    q = M.trim_quote(text, s, s + len(ev), window=60)
    assert ev in q and q.startswith("…") and q.endswith("…")
    assert len(q) <= 62
    for word in q.strip("…").split():
        assert word in text.split()
    assert M.trim_quote("Коротко и ясно", 0, 6, window=60) == "Коротко и ясно"


def test_pick_quotes_diverse_companies_then_dedup():
    cands = [{"text": "Плохо", "company": "A", "confidence": 0.99},
             {"text": "плохо!", "company": "B", "confidence": 0.98},   # duplicate text of the first
             {"text": "Очень долго", "company": "A", "confidence": 0.97},
             {"text": "Ошибки в счетах", "company": "C", "confidence": 0.5}]
    got = [c["text"] for c in M.pick_quotes(cands, k=3)]
    assert got == ["Плохо", "Ошибки в счетах", "Очень долго"]


def test_nps_from_counts_matches_formula():
    r = M.nps_from_counts(30, 50, 20)
    p, d = .3, .2
    se = 100 * math.sqrt((p + d - (p - d) ** 2) / 100)
    assert r["value"] == 10.0 and r["se"] == pytest.approx(se, abs=0.01)


def test_pick_quotes_one_per_answer():
    cands = [{"text": "…счета с ошибками…", "company": "A", "confidence": 0.9, "id": "7"},
             {"text": "…инженер опоздал…", "company": "B", "confidence": 0.8, "id": "7"},  # same answer
             {"text": "Долго", "company": "B", "confidence": 0.5, "id": "8"}]
    assert [c["id"] for c in M.pick_quotes(cands, k=3)] == ["7", "8"]
