"""Model-quality floors: the default fast model trained on the seed train split, scored on the held-out
seed dev split (nothing is tuned on dev).
Floors sit just under the measured values in docs/quality.md."""
from __future__ import annotations

TOUCHPOINT_MICRO_F1_FLOOR = 0.70  # measured 0.717
SENTIMENT_MACRO_F1_FLOOR = 0.72  # measured 0.736
PAIR_MICRO_F1_FLOOR = 0.53  # measured 0.555
POLARITY_ACCURACY_FLOOR = 0.74  # measured 0.759


def test_seed_dev_quality_floors(seed_result):
    m = seed_result.metrics
    assert m["n"] >= 250
    assert m["touchpoints"]["micro"]["f1"] >= TOUCHPOINT_MICRO_F1_FLOOR
    assert m["sentiment"]["macro_f1"] >= SENTIMENT_MACRO_F1_FLOOR
    assert m["pairs"]["micro"]["f1"] >= PAIR_MICRO_F1_FLOOR
    assert m["polarity_given_gold"]["accuracy"] >= POLARITY_ACCURACY_FLOOR


def test_every_touchpoint_is_learned(seed_result):
    per = seed_result.metrics["touchpoints"]["per_label"]
    assert set(per) == set(seed_result.pipeline.labels_) and len(per) == 12
    assert all(v["f1"] >= 0.42 for v in per.values()), per


def test_quality_is_stored_with_the_version(seed_result):
    meta = seed_result.pipeline.meta
    assert meta["metrics"]["touchpoint_micro_f1"] == round(seed_result.metrics["touchpoints"]["micro"]["f1"], 4)
    assert meta["training"]["rows"] >= 1000 and len(meta["training"]["sha256"]) == 64
