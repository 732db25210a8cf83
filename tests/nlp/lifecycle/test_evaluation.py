"""Unit tests of nlp/lifecycle/evaluation.py and classifiers.best_f1_threshold on hand-computed examples."""
from __future__ import annotations

import numpy as np
import pytest

from nlp.families.heads import best_f1_threshold
from nlp.errors import DataError
from nlp.lifecycle.evaluation import (
    _prf,
    evaluate_predictions,
    f1_for,
    format_report,
    sentiment_metrics,
    touchpoint_metrics,
)
from nlp.schema import Aspect, Example

approx = pytest.approx


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
class TestPrf:
    def test_values(self):
        # tp 2, fp 2, fn 1: P = 2/4 = 0.5, R = 2/3, F1 = 2*0.5*(2/3)/(0.5+2/3) = (2/3)/(7/6) = 4/7
        p, r, f = _prf(2, 2, 1)
        assert (p, r, f) == (approx(0.5), approx(2 / 3), approx(4 / 7))

    def test_zero_division(self):
        assert _prf(0, 0, 0) == (0.0, 0.0, 0.0)
        assert _prf(0, 3, 0) == (0.0, 0.0, 0.0)
        assert _prf(0, 0, 2) == (0.0, 0.0, 0.0)

    def test_f1_for(self):
        # label "a": tp = item0, fp = item2, fn = item1 -> P = R = F1 = 0.5
        assert f1_for(["a", "a", "b"], ["a", "b", "a"], "a") == approx(0.5)
        assert f1_for(["a"], ["a"], "zzz") == 0.0


# --------------------------------------------------------------------------------------------------
# sentiment
# --------------------------------------------------------------------------------------------------
GOLD_S = ["positive", "positive", "negative", "neutral"]
PRED_S = ["positive", "negative", "negative", "positive"]
# item 0 pos->pos (ok), 1 pos->neg, 2 neg->neg (ok), 3 neu->pos   -> accuracy 2/4 = 0.5
# positive: tp 1 (0), fp 1 (3), fn 1 (1) -> P 1/2, R 1/2, F1 0.5
# negative: tp 1 (2), fp 1 (1), fn 0     -> P 1/2, R 1,   F1 2*.5*1/1.5 = 2/3
# neutral:  tp 0, fp 0, fn 1 (3)         -> F1 0
# macro over gold classes {negative, neutral, positive} = (2/3 + 0 + 1/2)/3 = 7/18 = 0.38889
# P/N macro = (1/2 + 2/3)/2 = 7/12 = 0.58333


class TestSentimentMetrics:
    def test_hand_example(self):
        m = sentiment_metrics(GOLD_S, PRED_S)
        assert m["n"] == 4
        assert m["accuracy"] == approx(0.5)
        assert m["macro_f1"] == approx(7 / 18)
        assert m["pn_macro_f1"] == approx(7 / 12)
        assert m["per_label"] == {"negative": 0.6667, "neutral": 0.0, "positive": 0.5}
        # rows = gold, columns = predicted, labels sorted
        assert m["confusion"] == {"labels": ["negative", "neutral", "positive"],
                                  "matrix": [[1, 0, 0],    # gold negative: item 2 -> negative
                                             [0, 0, 1],    # gold neutral: item 3 -> positive
                                             [1, 0, 1]]}   # gold positive: item 1 -> negative, item 0 -> positive

    def test_perfect(self):
        m = sentiment_metrics(["positive", "negative", "mixed"], ["positive", "negative", "mixed"])
        assert m["accuracy"] == 1.0 and m["macro_f1"] == approx(1.0) and m["pn_macro_f1"] == approx(1.0)
        assert m["confusion"]["matrix"] == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]

    def test_predicted_label_absent_from_gold(self):
        # gold {positive, negative}; "mixed" only predicted: it is in the confusion matrix but not in macro-F1
        # positive: tp 1, fn 1 (item 1 -> mixed) -> P 1, R 1/2, F1 2/3; negative: tp 1 -> F1 1
        m = sentiment_metrics(["positive", "positive", "negative"], ["positive", "mixed", "negative"])
        assert m["accuracy"] == approx(2 / 3)
        assert m["macro_f1"] == approx((2 / 3 + 1) / 2)
        assert set(m["per_label"]) == {"negative", "positive"}
        assert m["confusion"]["labels"] == ["mixed", "negative", "positive"]
        assert m["confusion"]["matrix"] == [[0, 0, 0], [0, 1, 0], [1, 0, 1]]

    def test_pn_macro_counts_absent_negative_as_zero(self):
        # no negative at all: F1(negative) = 0 -> P/N macro = (1 + 0)/2
        m = sentiment_metrics(["positive", "neutral"], ["positive", "neutral"])
        assert m["pn_macro_f1"] == approx(0.5)
        assert m["macro_f1"] == approx(1.0)

    def test_empty(self):
        assert sentiment_metrics([], []) == {"n": 0}


# --------------------------------------------------------------------------------------------------
# touchpoints
# --------------------------------------------------------------------------------------------------
GOLD_T = [{"billing"}, {"billing", "field_service"}, set()]
PRED_T = [{"billing"}, {"field_service", "app"}, {"app"}]
# app:           tp 0, fp 2 (items 1, 2), fn 0 -> P 0, R 0, F1 0, support 0
# billing:       tp 1 (item 0), fp 0, fn 1 (item 1) -> P 1, R 1/2, F1 2/3, support 2
# field_service: tp 1 (item 1), fp 0, fn 0 -> P 1, R 1, F1 1, support 1
# micro: TP 2, FP 2, FN 1 -> P 2/4 = 0.5, R 2/3, F1 4/7 = 0.5714
# macro over labels with support (billing, field_service): P (1+1)/2 = 1, R (0.5+1)/2 = 0.75,
#       F1 (0.6667 + 1)/2 = 0.8333 (the per-label values are rounded to 4 places before averaging)


class TestTouchpointMetrics:
    def test_hand_example(self):
        m = touchpoint_metrics(GOLD_T, PRED_T)
        assert m["n"] == 3
        assert m["micro"] == {"precision": approx(0.5), "recall": approx(2 / 3), "f1": approx(4 / 7)}
        assert m["macro"] == {"precision": approx(1.0), "recall": approx(0.75), "f1": approx(5 / 6, abs=1e-4)}
        assert m["per_label"] == {
            "app": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
            "billing": {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2},
            "field_service": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
        }
        assert list(m["per_label"]) == ["app", "billing", "field_service"]  # sorted

    def test_all_empty(self):
        m = touchpoint_metrics([set(), set()], [set(), set()])
        assert m["micro"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
        assert m["macro"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
        assert m["per_label"] == {} and m["n"] == 2

    def test_perfect(self):
        m = touchpoint_metrics([{"a", "b"}, {"b"}], [{"a", "b"}, {"b"}])
        assert m["micro"]["f1"] == approx(1.0) and m["macro"]["f1"] == approx(1.0)
        assert m["per_label"]["b"]["support"] == 2


# --------------------------------------------------------------------------------------------------
# evaluate_predictions
# --------------------------------------------------------------------------------------------------
def _pred(sentiment: str, tps: list[tuple[str, str]]) -> dict:
    return {"sentiment": {"label": sentiment, "scores": {}},
            "touchpoints": [{"touchpoint": c, "polarity": p} for c, p in tps]}


EXAMPLES = [
    Example("a", sentiment="negative", aspects=[Aspect("billing", "negative")]),
    Example("b", sentiment="mixed", aspects=[Aspect("billing", "negative"), Aspect("field_service", "positive")]),
    Example("c", sentiment=None, aspects=None),  # unlabeled: in neither metric
]
PREDICTIONS = [
    _pred("negative", [("billing", "negative")]),
    _pred("negative", [("billing", "positive")]),
    _pred("positive", [("app", "neutral")]),
]
# sentiment (items a, b): a ok, b mixed->negative -> accuracy 1/2
#   negative: tp 1, fp 1 -> P 1/2, R 1, F1 2/3; mixed: fn 1 -> F1 0; macro over gold {mixed, negative} = 1/3
#   P/N macro = (F1 positive 0 + 2/3)/2 = 1/3
# categories (items a, b): gold {billing}, {billing, field_service}; pred {billing}, {billing}
#   TP 2, FP 0, FN 1 -> P 1, R 2/3, F1 0.8
# pairs: gold {b:neg}, {b:neg, fs:pos}; pred {b:neg}, {b:pos} -> TP 1, FP 1, FN 2 -> P 1/2, R 1/3, F1 0.4


class TestEvaluatePredictions:
    def test_hand_example(self):
        m = evaluate_predictions(EXAMPLES, PREDICTIONS)
        assert m["n"] == 3
        s = m["sentiment"]
        assert s["n"] == 2
        assert s["accuracy"] == approx(0.5)
        assert s["macro_f1"] == approx(1 / 3)
        assert s["pn_macro_f1"] == approx(1 / 3)
        t = m["touchpoints"]
        assert t["n"] == 2
        assert t["micro"] == {"precision": approx(1.0), "recall": approx(2 / 3), "f1": approx(0.8)}
        assert m["pairs"]["micro"] == {"precision": approx(0.5), "recall": approx(1 / 3), "f1": approx(0.4)}
        assert "polarity_given_gold" not in m

    def test_length_mismatch(self):
        with pytest.raises(DataError) as ei:
            evaluate_predictions(EXAMPLES, PREDICTIONS[:2])
        assert ei.value.field == "predictions" and ei.value.found == 2

    def test_no_labels(self):
        assert evaluate_predictions([Example("x")], [_pred("neutral", [])]) == {"n": 1}


# --------------------------------------------------------------------------------------------------
# best_f1_threshold
# --------------------------------------------------------------------------------------------------
class TestBestF1Threshold:
    def test_tie_goes_to_threshold_nearest_default(self):
        scores = np.array([0.2, 0.4, 0.6, 0.8])
        truth = np.array([0, 1, 1, 1])
        # t in (0.2, 0.4] keeps items 1-3: F1 = 1; t in (0.4, 0.6]: F1 = 2*2/(2+3) = 0.8
        # grid points with F1 = 1: 0.225 ... 0.4 -> the nearest to 0.5 is 0.4
        assert best_f1_threshold(scores, truth) == approx(0.4)

    def test_optimum_above_default(self):
        scores = np.array([0.55, 0.6, 0.85])
        truth = np.array([0, 0, 1])
        # t = 0.6: items 1, 2 -> F1 2*1/(2+1) = 2/3; t in (0.6, 0.85]: only item 2 -> F1 1
        # first grid point above 0.6 is 0.625 (step 0.025), nearest to 0.5 among the F1 = 1 points
        assert best_f1_threshold(scores, truth) == approx(0.625)

    def test_no_positives_returns_default(self):
        assert best_f1_threshold(np.array([0.9, 0.1]), np.array([0, 0])) == 0.5
        assert best_f1_threshold(np.array([0.9, 0.1]), np.array([0, 0]), default=0.3) == 0.3

    def test_all_thresholds_equal_keeps_default(self):
        # both positives score above every grid point -> F1 = 1 everywhere; 0.5 is on the grid
        assert best_f1_threshold(np.array([0.95, 0.92]), np.array([1, 1])) == approx(0.5)

    def test_range_limits(self):
        # only t > 0.7 separates (F1 1); hi = 0.7 caps the grid: t = 0.7 keeps both -> F1 2/3 (best available)
        scores = np.array([0.7, 0.8])
        truth = np.array([0, 1])
        assert best_f1_threshold(scores, truth) == approx(0.725)
        assert best_f1_threshold(scores, truth, lo=0.1, hi=0.7) == approx(0.5)  # all ties at 2/3 -> nearest 0.5

    def test_bool_truth(self):
        assert best_f1_threshold(np.array([0.2, 0.4, 0.6, 0.8]), np.array([False, True, True, True])) == approx(0.4)


# --------------------------------------------------------------------------------------------------
# format_report
# --------------------------------------------------------------------------------------------------
class TestFormatReport:
    def test_headline_numbers(self):
        metrics = {"n": 4, "sentiment": sentiment_metrics(GOLD_S, PRED_S),
                   "touchpoints": touchpoint_metrics(GOLD_T, PRED_T),
                   "pairs": {"micro": {"precision": 0.5, "recall": 1 / 3, "f1": 0.4}},
                   "polarity_given_gold": {"accuracy": 0.75, "n": 8}}
        report = format_report(metrics)
        lines = report.splitlines()
        assert lines[0] == "examples: 4"
        assert "sentiment (n=4): accuracy 0.500  macro-F1 0.389  P/N macro-F1 0.583" in report
        assert "touchpoints (n=3): micro P 0.500 R 0.667 F1 0.571  macro P 1.000 R 0.750 F1 0.833" in report
        assert "touchpoint+polarity micro-F1: 0.400" in report
        assert "polarity accuracy given gold touchpoints: 0.750 (n=8)" in report
        billing = next(ln for ln in lines if ln.strip().startswith("billing"))
        assert billing.split() == ["billing", "1.000", "0.500", "0.667", "2"]
        # confusion rows: gold label then counts
        neutral_row = next(ln for ln in lines if ln.strip().startswith("neutral"))
        assert neutral_row.split() == ["neutral", "0", "0", "1"]

    def test_only_count(self):
        assert format_report({"n": 0}) == "examples: 0"

    def test_from_evaluate_predictions(self):
        report = format_report(evaluate_predictions(EXAMPLES, PREDICTIONS))
        assert "examples: 3" in report
        assert "accuracy 0.500" in report
        assert "micro P 1.000 R 0.667 F1 0.800" in report
        assert "touchpoint+polarity micro-F1: 0.400" in report
