"""What is served changes only by promotion (issue 14): the first version is promoted as part of its
training when it clears the gate's sanity floor, later versions are candidates; a model trained on
shuffled labels is refused with or without a production version; concurrent writers keep the store's
aliases and history consistent."""
from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import pytest

from nlp.errors import ModelNotFoundError
from nlp.errors import PromotionRefused
from nlp.lifecycle.promotion import promote
from nlp.labeled.seed import seed_split_path
from nlp.lifecycle.store import ModelStore
from nlp.lifecycle.training import train_model


def _rows(split: str, n: int) -> list[dict]:
    lines = Path(seed_split_path(split)).read_text(encoding="utf-8").splitlines()
    return [json.loads(x) for x in lines[:n]]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("lifecycle")
    train = _rows("train", 500)
    # the labels of other rows (their evidence spans dropped: they point into other texts)
    labels = [(r.get("sentiment"), [{"category": a["category"], "polarity": a["polarity"]}
                                     for a in r.get("aspects") or []]) for r in train]
    random.Random(0).shuffle(labels)
    shuffled = [{**r, "sentiment": s, "aspects": a} for r, (s, a) in zip(train, labels)]
    return {"good": _write(d / "good.jsonl", train), "shuffled": _write(d / "shuffled.jsonl", shuffled),
            "dev": _write(d / "dev.jsonl", _rows("dev", 160))}


def _train(store, data, which, name="bar"):
    return train_model([data[which]], dev_path=data["dev"], model_type="fast", name=name, store=store,
                       params={"threshold_folds": 0})


def test_first_version_is_promoted_and_a_plain_train_does_not_change_what_is_served(data, tmp_path):
    store = ModelStore(tmp_path / "models")
    v1 = _train(store, data, "good")
    assert v1.version == "1" and v1.promoted is not None and v1.promoted["reason"].startswith("first version")
    assert store.aliases("bar") == {"production": "1"}
    assert [e["action"] for e in store.history("bar")] == ["promote"]
    v2 = _train(store, data, "good")
    assert v2.version == "2" and v2.promoted is None
    assert store.resolve("bar") == ("bar", "1")  # the new version is a candidate
    assert store.resolve("bar@latest") == ("bar", "2")
    assert store.load("bar").version == "1"


def test_training_from_files_and_retraining_are_one_path(data, tmp_path):
    """``train_model`` (files) runs the same training path as ``retrain``: a later version is compared with
    production on the dev file and the gate is asked at once; every version gets the same artifacts."""
    store = ModelStore(tmp_path / "models")
    v1 = _train(store, data, "good")
    v2 = _train(store, data, "shuffled")
    assert v2.comparison["production"] == {"name": "bar", "version": "1"}
    assert not v2.decision.passed and v2.refused is None  # a refused candidate, not a refused first version
    assert any("sanity" in f for f in v2.decision.failures)
    assert store.resolve("bar") == ("bar", "1")
    for res in (v1, v2):
        meta = store.meta("bar", res.version)
        assert meta["training"]["files"] and meta["dev"]["rows"] == 160 and meta["heldout"] == {"dev": 160}
        assert meta["gate"]["passed"] is res.decision.passed
        for artifact in ("comparison.json", "heldout.jsonl", "MODEL_CARD.md"):
            assert store.read_artifact("bar", res.version, artifact), artifact
    assert v1.metrics["n"] == 160 and "polarity_given_gold" in v1.metrics
    # the dev rows are never trained on: a dev file that repeats every training row is an error, not a model
    from nlp.errors import DataError

    with pytest.raises(DataError, match="every training row is also a held-out row"):
        train_model([data["dev"]], dev_path=data["dev"], model_type="fast", name="same", store=store)


def test_a_shuffled_label_model_is_refused_with_and_without_production(data, tmp_path):
    store = ModelStore(tmp_path / "models")
    # no production version: the first version's sanity floor refuses it; nothing is served
    bad = _train(store, data, "shuffled", name="noise")
    assert bad.promoted is None and any("sanity" in f for f in bad.refused)
    assert store.aliases("noise") == {}
    with pytest.raises(ModelNotFoundError, match="no production version"):
        store.resolve("noise")
    with pytest.raises(PromotionRefused, match="sanity"):
        promote(store, "noise@1")
    # the reproduction: bar@1 on good labels, bar@2 on the same texts with shuffled labels
    _train(store, data, "good")
    _train(store, data, "shuffled")
    with pytest.raises(PromotionRefused) as err:
        promote(store, "bar@2")
    assert any("sanity" in f for f in err.value.failures)
    assert store.resolve("bar") == ("bar", "1")
    assert promote(store, "bar@2", force=True, reason="test")["forced"] is True  # an override stays possible


def test_after_a_refused_first_version_the_next_good_one_is_promoted_and_the_refused_one_never_served(data, tmp_path):
    store = ModelStore(tmp_path / "models")
    assert _train(store, data, "shuffled").promoted is None
    good = _train(store, data, "good")
    assert good.version == "2" and good.promoted is not None  # nothing was served: it goes to production
    assert store.resolve("bar") == ("bar", "2") and store.aliases("bar") == {"production": "2"}
    assert [(e["action"], e["version"]) for e in store.history("bar")] == [("refused", "1"), ("promote", "2")]


def test_a_model_that_serves_nothing_has_nothing_to_roll_back_and_promotes_against_no_baseline(data, tmp_path):
    from nlp.errors import DataError
    from nlp.lifecycle.promotion import rollback

    store = ModelStore(tmp_path / "models")
    _train(store, data, "shuffled")
    assert _train(store, data, "shuffled").promoted is None  # refused too: still nothing is served
    with pytest.raises(DataError, match="no production version to roll back"):
        rollback(store, "bar")
    with pytest.raises(PromotionRefused) as err:  # judged by the sanity floor alone, not against "latest"
        promote(store, "bar@1")
    assert "sanity" in str(err.value) and "over production" not in str(err.value)


def test_a_store_from_before_explicit_promotion_serves_its_latest_until_a_candidate_is_trained(data, tmp_path):
    store = ModelStore(tmp_path / "models")
    _train(store, data, "good")
    for f in ("aliases.json", "history.json"):  # as an old cxlens left it
        (store.root / "bar" / f).unlink()
    assert store.resolve("bar") == ("bar", "1")
    _train(store, data, "good")
    assert store.resolve("bar") == ("bar", "1")  # pinned before the candidate was saved
    assert [e["action"] for e in store.history("bar")] == ["pin"]


def test_concurrent_promotions_and_saves_keep_aliases_and_history_consistent(data, tmp_path):
    root = tmp_path / "models"
    _train(ModelStore(root), data, "good")
    for _ in range(3):
        _train(ModelStore(root), data, "good")
    errors: list[BaseException] = []

    def promoter(k: int) -> None:
        try:
            for i in range(20):
                s = ModelStore(root)  # a new instance each time, as the API's services do
                v = str(1 + (i + k) % 4)
                s.set_alias("bar", "production", v)
                s.append_history("bar", {"action": "promote", "version": v, "by": f"t{k}", "i": i})
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    def saver() -> None:
        try:
            from nlp.lifecycle.store import ModelStore as MS

            store = MS(root)
            pipe = store.load("bar@1")
            for _ in range(3):
                store.save(pipe, "bar", meta={"note": "concurrent"})
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=promoter, args=(k,)) for k in range(4)] + [threading.Thread(target=saver)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    store = ModelStore(root)
    history = store.history("bar")
    promotes = [e for e in history if e.get("by", "").startswith("t")]
    assert len(promotes) == 4 * 20  # no lost read-modify-write
    assert store.versions("bar") == [str(i) for i in range(1, 8)]  # 4 trained + 3 saved, no duplicate version
    assert store.aliases("bar")["production"] in store.versions("bar")
    assert not list(store.root.glob("bar/*.tmp")) and not list(store.root.glob("bar/.*.json.*"))


def test_the_model_card_renders_an_ensembles_thresholds():
    """An ensemble's thresholds are per member (the first version's promotion writes its card)."""
    from nlp.lifecycle.card import render_card

    meta = {"name": "cx", "version": "1", "model_type": "ensemble",
            "thresholds": {"fast": {"billing": 0.41}, "encoder": {"billing": 0.37}}}
    text = render_card(meta)
    assert "Decision thresholds (fast member): billing 0.410" in text
    assert "Decision thresholds (encoder member): billing 0.370" in text
    assert "billing 0.500" in render_card({**meta, "thresholds": {"billing": 0.5}})


def test_retraining_a_first_version_on_shuffled_labels_serves_nothing(data, tmp_path):
    """The same rule on the retraining path (`cxlens train --dataset`, the API): the refused first version
    is recorded, so the store does not fall back to serving it as its latest."""
    from nlp.labeled.datasets import DatasetStore
    from nlp.lifecycle.retrain import retrain

    store = ModelStore(tmp_path / "models")
    res = retrain(name="noise", store=store, dataset_store=DatasetStore(tmp_path / "datasets"),
                  seed_train=data["shuffled"], seed_dev=data["dev"], model_type="fast",
                  params={"threshold_folds": 0})
    assert res.promoted is None and any(w.startswith("not promoted: sanity") for w in res.warnings)
    assert [e["action"] for e in store.history("noise")] == ["refused"]
    with pytest.raises(ModelNotFoundError, match="no production version"):
        store.resolve("noise")


def test_cli_says_once_why_a_first_version_was_not_promoted(data, tmp_path, capsys):
    from api.cli import main

    assert main(["train", "--data", str(data["shuffled"]), "--dev", str(data["dev"]), "--model-type", "fast",
                 "--param", "threshold_folds=0", "--name", "noise", "--models-dir", str(tmp_path / "m")]) == 0
    out, err = capsys.readouterr()
    assert err.count("not promoted: sanity") == 1 and "production" not in out.split("examples:")[0]
