"""The comparison (paired bootstrap) and the promotion rules, on hand-made predictions (issue #7)."""
from __future__ import annotations

import pytest

from nlp.lifecycle.comparison import compare, compare_group
from nlp.lifecycle.gate import GatePolicy, decide, holm
from nlp.lifecycle.retrain import weight_examples
from nlp.schema import Aspect, Example


def _ex(cats, sentiment=None):
    return Example(text="t", sentiment=sentiment, aspects=[Aspect(c, "negative") for c in cats])


def _pred(cats, sentiment="neutral"):
    return {"sentiment": {"label": sentiment, "scores": {}},
            "touchpoints": [{"touchpoint": c, "polarity": "negative"} for c in cats]}


GOLD = [_ex(["billing"], "positive"), _ex(["billing"], "negative"), _ex(["delivery"], "negative"), _ex([], "neutral")]
CAND = [_pred(["billing"], "positive"), _pred([], "negative"), _pred(["delivery"], "positive"), _pred(["billing"], "neutral")]
PROD = [_pred(["billing"], "positive"), _pred(["billing"], "negative"), _pred([], "negative"), _pred([], "neutral")]


def test_per_label_and_overall_f1_match_hand_counts():
    r = compare_group(GOLD, CAND, PROD, n_boot=200, seed=1)
    # billing: candidate tp 1, fn 1, fp 1 -> 2/4; production tp 2 -> 1.0
    assert r["labels"]["billing"]["candidate"] == 0.5 and r["labels"]["billing"]["production"] == 1.0
    assert r["labels"]["billing"]["delta"] == -0.5 and r["labels"]["billing"]["support"] == 2
    # delivery: candidate tp 1 -> 1.0; production fn 1 -> 0.0
    assert (r["labels"]["delivery"]["candidate"], r["labels"]["delivery"]["production"]) == (1.0, 0.0)
    # micro: candidate tp 2 fp 1 fn 1 -> 4/6; production tp 2 fn 1 -> 4/5
    o = r["overall"]
    assert (o["touchpoint_micro_f1"]["candidate"], o["touchpoint_micro_f1"]["production"]) == (0.6667, 0.8)
    # sentiment: candidate F1 positive 2/3, negative 2/3, neutral 1 -> 0.7778; production all right -> 1.0
    assert (o["sentiment_macro_f1"]["candidate"], o["sentiment_macro_f1"]["production"]) == (0.7778, 1.0)
    assert (o["sentiment_accuracy"]["candidate"], o["sentiment_accuracy"]["production"]) == (0.75, 1.0)
    lo, hi = r["labels"]["billing"]["ci95"]
    assert lo <= -0.5 <= hi


def test_bootstrap_is_paired_and_reproducible():
    same = compare_group(GOLD, CAND, CAND, n_boot=300, seed=0)
    for e in list(same["labels"].values()) + list(same["overall"].values()):
        assert e["delta"] == 0 and e["ci95"] == [0.0, 0.0] and not e["significant"]  # paired: identical -> 0 always
    assert compare_group(GOLD, CAND, PROD, n_boot=300, seed=7) == compare_group(GOLD, CAND, PROD, n_boot=300, seed=7)


def test_a_consistent_drop_is_significant_and_noise_is_not():
    gold = [_ex(["billing"]) for _ in range(20)] + [_ex([]) for _ in range(20)]
    prod = [_pred(["billing"]) for _ in range(20)] + [_pred([]) for _ in range(20)]
    worse = [_pred([]) for _ in range(10)] + [_pred(["billing"]) for _ in range(10)] + [_pred([]) for _ in range(20)]
    r = compare_group(gold, worse, prod, n_boot=1000, seed=0)["labels"]["billing"]
    # candidate misses 10 of 20: F1 = 20/30; the drop shows up in every resample
    assert r["candidate"] == 0.6667 and r["delta"] == -0.3333
    assert r["p_worse"] == 0.0 and r["significant"] and r["ci95"][1] < 0
    # one item flipped each way: a real change of 0 on average, not significant
    noisy = [_pred([])] + [_pred(["billing"]) for _ in range(19)] + [_pred(["billing"])] + [_pred([]) for _ in range(19)]
    r2 = compare_group(gold, noisy, prod, n_boot=1000, seed=0)["labels"]["billing"]
    assert r2["delta"] == pytest.approx(-0.05, abs=1e-3) and not r2["significant"] and r2["p_worse"] > 0.05


def _cmp(seed_micro_delta=0.0, label_delta=0.0, label_support=30, p_worse=0.5):
    def entry(delta, **kw):
        return {"candidate": 0.7 + delta, "production": 0.7, "delta": delta, "ci95": [delta - 0.1, delta + 0.1],
                "p_worse": p_worse, "significant": False, **kw}

    return {"production": {"name": "m", "version": "1"}, "groups": {
        "seed_dev": {"overall": {"touchpoint_micro_f1": entry(seed_micro_delta), "sentiment_macro_f1": entry(0.0)},
                     "labels": {}},
        "all": {"overall": {"touchpoint_micro_f1": entry(0.0), "sentiment_macro_f1": entry(0.0)},
                "labels": {"billing": entry(label_delta, support=label_support)}}}}


def test_decide_rules():
    assert decide(_cmp()).passed
    assert decide(_cmp(seed_micro_delta=-0.02)).passed  # exactly the tolerance is accepted
    d = decide(_cmp(seed_micro_delta=-0.03))
    assert not d.passed and d.failures[0].startswith("touchpoint_micro_f1 on seed_dev: 0.700 -> 0.670 (-0.030")
    # a label: blocks when the drop is beyond tolerance and significant
    assert not decide(_cmp(label_delta=-0.05, p_worse=0.01)).passed
    assert "label 'billing' (support 30)" in decide(_cmp(label_delta=-0.05, p_worse=0.01)).failures[0]
    assert decide(_cmp(label_delta=-0.05, p_worse=0.30)).passed  # not significant: reported, not blocking
    assert not decide(_cmp(label_delta=-0.05, p_worse=0.30), GatePolicy(require_significance=False)).passed
    assert decide(_cmp(label_delta=-0.5, p_worse=0.0, label_support=9)).passed  # too few mentions to judge
    assert not decide(_cmp(label_delta=-0.5, p_worse=0.0, label_support=9), GatePolicy(min_support=5)).passed
    assert decide(_cmp(seed_micro_delta=-0.04), GatePolicy(tolerance=0.05)).passed
    first = decide({"production": None, "groups": {}})
    assert first.passed and first.checked == ["sanity: no held-out items to check",
                                              "no production version: nothing to compare with"]


def test_compare_adds_an_all_group():
    groups = {"seed_dev": GOLD[:2], "dataset:x": GOLD[2:]}
    rep = compare(groups, {"seed_dev": CAND[:2], "dataset:x": CAND[2:]}, {"seed_dev": PROD[:2], "dataset:x": PROD[2:]},
                  candidate={"name": "m", "version": "2"}, production={"name": "m", "version": "1"}, n_boot=100)
    assert list(rep["groups"]) == ["seed_dev", "dataset:x", "all"]
    assert rep["groups"]["all"]["labels"] == compare_group(GOLD, CAND, PROD, n_boot=100)["labels"]
    assert rep["bootstrap"] == {"resamples": 100, "seed": 0, "unit": "item", "paired": True}


def test_weights_repeat_rows_deterministically():
    ex = [Example(text=f"row {i}", sentiment="neutral") for i in range(400)]
    assert len(weight_examples(ex, 2.0, salt="s")) == 800
    assert weight_examples(ex, 0, salt="s") == []
    half = weight_examples(ex, 0.5, salt="s")
    assert 170 < len(half) < 230 and half == weight_examples(ex, 0.5, salt="s")
    assert len(weight_examples(ex, 1.5, salt="s")) == 400 + len(half)
    with pytest.raises(ValueError):
        weight_examples(ex, -1, salt="s")


def test_holm_correction_over_labels():
    assert holm({"a": 0.01, "b": 0.02, "c": 0.04}, 0.05) == {"a", "b", "c"}  # 0.0167, 0.025, 0.05
    assert holm({"a": 0.02, "b": 0.03, "c": 0.04}, 0.05) == set()  # 0.02 > 0.05/3 stops the procedure
    assert holm({"a": 0.001, "b": 0.03, "c": 0.2}, 0.05) == {"a"}  # 0.03 > 0.025
    # thirteen labels: one with p_worse 0.04 is what chance alone produces; with 0.001 it blocks
    cmp = _cmp()
    entry = dict(cmp["groups"]["all"]["labels"]["billing"])
    cmp["groups"]["all"]["labels"] = {f"l{i}": {**entry, "delta": 0.0, "p_worse": 0.9} for i in range(12)}
    cmp["groups"]["all"]["labels"]["brand"] = {**entry, "candidate": 0.66, "delta": -0.04, "ci95": [-0.14, 0.06],
                                               "p_worse": 0.04}
    assert decide(cmp).passed
    cmp["groups"]["all"]["labels"]["brand"]["p_worse"] = 0.001
    assert decide(cmp).failures == ["label 'brand' (support 30): F1 0.700 -> 0.660 (-0.040, 95% CI -0.140..+0.060, "
                                    "p_worse 0.001)"]


def _balanced(n=40):
    """Gold with two touchpoints and two sentiments, half each, in a fixed pattern."""
    cats = [["billing"] if i % 2 else ["delivery"] for i in range(n)]
    sents = ["negative" if i % 4 < 2 else "positive" for i in range(n)]
    return [_ex(c, s) for c, s in zip(cats, sents)], cats, sents


def test_sanity_floor_refuses_a_model_that_learned_nothing_even_without_production():
    gold, cats, sents = _balanced()
    good = [_pred(c, s) for c, s in zip(cats, sents)]
    r = compare({"dev": gold}, {"dev": good}, None, candidate={"name": "m", "version": "1"}, production=None, n_boot=50)
    san = r["groups"]["all"]["sanity"]
    assert san["touchpoint_micro_f1"]["candidate"] == 1.0 and san["touchpoint_micro_f1"]["permuted"] < 0.8
    assert san["sentiment_macro_f1"]["majority"] < 0.5
    assert decide(r).passed
    # the predictions of a model trained on shuffled labels: its outputs do not follow the gold
    rng = __import__("random").Random(3)
    shuffled = good[:]
    rng.shuffle(shuffled)
    r2 = compare({"dev": gold}, {"dev": shuffled}, None, candidate={"name": "m", "version": "2"}, production=None,
                 n_boot=50)
    d = decide(r2)
    assert not d.passed
    assert any(f.startswith("sanity: touchpoint_micro_f1") and "above chance" in f for f in d.failures)
    assert "sanity:sentiment_macro_f1" in d.checked
    # the margin is a policy setting
    assert decide(r2, GatePolicy(sanity_margin=-1.0)).passed
