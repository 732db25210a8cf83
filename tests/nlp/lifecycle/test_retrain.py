"""The retraining loop end to end on small data: train -> evaluate -> promote -> rollback through the
CLI; the gate refusing a candidate trained on shuffled labels; a new touchpoint learned from ~30
examples without losing the old ones; predictions during a model swap (issue #7)."""
from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import pytest

from api.cli import main
from nlp.labeled.datasets import DatasetStore
from nlp.errors import PromotionRefused
from nlp.lifecycle.promotion import promote, rollback
from nlp.labeled.formats import read_labeled
from nlp.lifecycle.serving import ModelRegistry
from nlp.lifecycle.retrain import retrain
from nlp.labeled.seed import seed_split_path
from nlp.lifecycle.store import ModelStore
from nlp.taxonomy import load_taxonomy

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "retrain"
FAST = ["--param", "threshold_folds=0"]

pytestmark = pytest.mark.slow


def _seed(split: str, n: int | None = None, *, sentiment: bool = True):
    ex, _ = read_labeled(seed_split_path(split))
    ex = ex[::max(1, len(ex) // n)][:n] if n else ex  # every k-th row: both languages, all touchpoints
    if not sentiment:
        for e in ex:
            e.sentiment = None
    return ex


def _row(e, *, drop_offsets=False):
    aspects = [{"category": a.category, "polarity": a.polarity} if drop_offsets or a.start is None else
               {"category": a.category, "polarity": a.polarity, "from": a.start, "to": a.end}
               for a in e.aspects or []]
    return {"id": e.id, "text": e.text, "lang": e.lang, "sentiment": e.sentiment, "aspects": aspects}


def _write(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _shuffled(examples, seed=0):
    """Same texts, labels of other rows: a deliberately worse training set."""
    rng = random.Random(seed)
    labels = [(e.sentiment, [(a.category, a.polarity) for a in e.aspects or []]) for e in examples]
    rng.shuffle(labels)
    return [{"id": e.id, "text": e.text, "lang": e.lang, "sentiment": s,
             "aspects": [{"category": c, "polarity": p} for c, p in asp]} for e, (s, asp) in zip(examples, labels)]


# -- the CLI loop ----------------------------------------------------------------------------------
def test_cli_train_evaluate_promote_refuse_force_rollback(tmp_path, capsys):
    models, data = tmp_path / "models", tmp_path / "data"
    dirs = ["--models-dir", str(models), "--data-dir", str(data)]
    base = _seed("train", 160)
    _write(tmp_path / "base.jsonl", [_row(e) for e in base])
    _write(tmp_path / "noise.jsonl", _shuffled(base))
    assert main(["datasets", "import", str(tmp_path / "base.jsonl"), "--name", "acme", *dirs]) == 0
    assert main(["datasets", "import", str(tmp_path / "noise.jsonl"), "--name", "noise", *dirs]) == 0
    train = ["train", "--name", "cx", "--seed-weight", "0", *FAST, "--by", "alice", *dirs]

    # v1: the first version is production by construction
    assert main([*train, "--dataset", "acme"]) == 0
    out = capsys.readouterr().out
    assert "trained cx@1" in out and "cx@1 is the first version: production" in out
    vdir = models / "cx" / "1"
    meta = json.loads((vdir / "meta.json").read_text(encoding="utf-8"))
    ds = meta["retrain"]["datasets"][0]
    assert ds["name"] == "acme" and ds["train_rows"] + ds["eval_rows"] == 160 and meta["retrain"]["seed"]["weight"] == 0
    assert meta["training"]["rows"] == ds["train_rows"]  # seed left out, held-out rows never trained on
    assert meta["heldout"] == {"seed_dev": len(_seed("dev")), "dataset:acme": ds["eval_rows"]}
    assert meta["taxonomy"]["ids"] == load_taxonomy().ids and len(meta["taxonomy"]["sha256"]) == 64
    assert {"scikit-learn", "numpy"} <= set(meta["libraries"])
    assert (vdir / "comparison.json").exists() and (vdir / "MODEL_CARD.md").exists()

    # v2: same data, same options -> the same model: the gate passes, promotion works
    assert main([*train, "--dataset", "acme"]) == 0
    assert "gate: passed. Promote with `cxlens models promote cx@2`" in capsys.readouterr().out
    assert ModelStore(models).resolve("cx") == ("cx", "1")  # a candidate never goes live by itself
    cmp2 = json.loads((models / "cx" / "2" / "comparison.json").read_text(encoding="utf-8"))
    assert cmp2["production"] == {"name": "cx", "version": "1"}
    assert all(e["delta"] == 0 for e in cmp2["groups"]["all"]["labels"].values())
    assert main(["models", "promote", "cx@2", "--by", "bob", "--reason", "same data, fresh build", *dirs]) == 0
    assert "production: cx@2 (was 1); gate passed; by bob" in capsys.readouterr().out

    # v3: shuffled labels -> refused with the labels named, exit 2
    assert main([*train, "--dataset", "noise"]) == 0
    assert "gate: would refuse" in capsys.readouterr().out
    assert main(["models", "promote", "cx@3", *dirs]) == 2
    err = capsys.readouterr().err
    assert "refusing to promote cx@3 over production cx@2" in err and "touchpoint_micro_f1 on seed_dev" in err
    assert ModelStore(models).resolve("cx") == ("cx", "2")
    assert main(["models", "promote", "cx@3", "--force", *dirs]) == 2
    assert "a forced promotion needs a reason" in capsys.readouterr().err
    assert main(["models", "promote", "cx@3", "--force", "--reason", "demo of an override", "--by", "carol", *dirs]) == 0
    assert "forced past the gate" in capsys.readouterr().out
    history = ModelStore(models).history("cx")
    forced = history[-1]
    assert (forced["version"], forced["from"], forced["by"], forced["forced"], forced["reason"]) == \
           ("3", "2", "carol", True, "demo of an override")
    assert forced["gate"]["failures"]
    card = (models / "cx" / "3" / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "carol" in card and "demo of an override" in card and "**refused**" in card

    # rollback: one command back to the previous production, or to any version
    assert main(["models", "rollback", "cx", "--by", "dave", *dirs]) == 0
    assert "production: cx@2 (rolled back from 3)" in capsys.readouterr().out
    assert main(["models", "rollback", "cx", "--to", "1", *dirs]) == 0
    assert "production: cx@1 (rolled back from 2)" in capsys.readouterr().out
    assert ModelStore(models).resolve("cx") == ("cx", "1")
    assert main(["models", "--json", "--models-dir", str(models)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["version"], r["aliases"]) for r in rows] == [("1", ["production"]), ("2", []), ("3", [])]
    assert main(["models", "list", "--models-dir", str(models)]) == 0
    assert "production" in capsys.readouterr().out
    assert main(["models", "card", "cx@1", "--models-dir", str(models)]) == 0
    assert "# Model card: cx@1" in capsys.readouterr().out
    assert main(["evaluate", "--data", str(tmp_path / "base.jsonl"), "--model", "cx", "--json",
                 "--models-dir", str(models)]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == {"name": "cx", "version": "1"}
    assert [h["action"] for h in ModelStore(models).history("cx")] == ["promote", "promote", "promote", "rollback",
                                                                       "rollback"]


# -- a new touchpoint, the gate, the registry ------------------------------------------------------
@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    """v1: seed subset (touchpoints only, to keep it fast); v2: + 31 'packaging' examples, new taxonomy."""
    root = tmp_path_factory.mktemp("loop")
    store, dstore = ModelStore(root / "models"), DatasetStore(root / "datasets")
    seed_train, seed_dev = _seed("train", 900, sentiment=False), _seed("dev", sentiment=False)
    params = {"threshold_folds": 0}
    v1 = retrain(name="cx", store=store, dataset_store=dstore, seed_train=seed_train, seed_dev=seed_dev, params=params)
    tax = load_taxonomy(FIX / "taxonomy_packaging.yaml")
    dstore.import_file(FIX / "new_touchpoint.jsonl", name="packaging", taxonomy=tax)
    v2 = retrain(name="cx", store=store, dataset_store=dstore, datasets=["packaging"], taxonomy=tax,
                 seed_train=seed_train, seed_dev=seed_dev, params=params)
    return {"store": store, "dstore": dstore, "v1": v1, "v2": v2, "seed_train": seed_train, "seed_dev": seed_dev,
            "tax": tax}


def _old_label_micro_f1(examples, preds, old):
    tp = fp = fn = 0
    for e, p in zip(examples, preds):
        g = {a.category for a in e.aspects}
        q = {t["touchpoint"] for t in p["touchpoints"]} & set(old)
        tp, fp, fn = tp + len(g & q), fp + len(q - g), fn + len(g - q)
    return 2 * tp / (2 * tp + fp + fn)


def test_new_touchpoint_learned_from_30_examples_old_labels_kept(loop):
    v1, v2 = loop["v1"], loop["v2"]
    ds = v2.meta["retrain"]["datasets"][0]
    assert (ds["train_rows"], ds["eval_rows"]) == (31, 9)
    assert v2.meta["taxonomy"]["added"] == ["packaging"] and v2.meta["taxonomy"]["version"] == 2
    assert "packaging" in v2.pipeline.labels_ and "packaging" not in v1.pipeline.labels_
    # the new touchpoint on its 9 held-out examples (never trained on)
    held = v2.comparison["groups"]["dataset:packaging"]["labels"]["packaging"]
    assert held["support"] == 9 and held["production"] == 0.0 and held["candidate"] >= 0.8
    # the old touchpoints on the seed dev set: within the gate's tolerance
    dev = loop["seed_dev"]
    old = v1.pipeline.labels_
    f1 = [_old_label_micro_f1(dev, m.pipeline.predict([e.text for e in dev]), old) for m in (v1, v2)]
    assert f1[0] > 0.6 and f1[1] >= f1[0] - 0.02
    assert v2.decision.passed, v2.decision.failures
    seed_cmp = v2.comparison["groups"]["seed_dev"]["overall"]["touchpoint_micro_f1"]
    assert seed_cmp["delta"] >= -0.02
    # promotion through the gate, recorded in history, meta and card
    ev = promote(loop["store"], "cx@2", by="alice", reason="adds packaging")
    assert ev["gate"]["passed"] and not ev["forced"] and loop["store"].resolve("cx") == ("cx", "2")
    assert loop["store"].meta("cx", "2")["promotion"]["by"] == "alice"
    assert "adds packaging" in (loop["store"].path("cx", "2") / "MODEL_CARD.md").read_text(encoding="utf-8")


def test_gate_refuses_a_candidate_trained_on_shuffled_labels(loop, tmp_path):
    store = loop["store"]
    if store.aliases("cx").get("production") != "2":
        promote(store, "cx@2", force=True, reason="test order independence", by="t")
    bad_rows = _shuffled(loop["seed_train"][:200], seed=3)
    bad = retrain(name="cx", store=store, dataset_store=loop["dstore"], seed_train=_write_and_read(tmp_path, bad_rows),
                  seed_dev=loop["seed_dev"], params={"threshold_folds": 0})
    assert not bad.decision.passed
    assert any(f.startswith("touchpoint_micro_f1 on seed_dev") for f in bad.decision.failures)
    with pytest.raises(PromotionRefused) as exc:
        promote(store, f"cx@{bad.version}")
    assert f"refusing to promote cx@{bad.version} over production cx@2" in str(exc.value)
    assert exc.value.failures == bad.decision.failures
    assert any("label '" in f for f in exc.value.failures)  # names the labels that got worse
    assert store.resolve("cx") == ("cx", "2")
    # one command back to any earlier version
    ev = rollback(store, "cx", to="1", by="bob", reason="check")
    assert (ev["version"], ev["from"]) == ("1", "2") and store.resolve("cx") == ("cx", "1")
    ev = promote(store, "cx@2", by="bob")  # re-evaluated against the current production (v1)
    assert store.resolve("cx") == ("cx", "2")


def _write_and_read(tmp_path, rows):
    path = _write(tmp_path / "shuffled.jsonl", rows)
    ex, errors = read_labeled(path)
    assert not errors
    return ex


def test_predictions_during_model_swaps_all_succeed(loop):
    store = loop["store"]
    reg = ModelRegistry("cx@1", models_dir=store.root)
    texts = ["Упаковка порвалась, коробка мятая", "Счета всегда с ошибками", "The engineer was late again"] * 4
    errors, seen = [], set()
    stop = threading.Event()

    def client():
        while not stop.is_set():
            try:
                pipe = reg.get()
                rows = pipe.predict(texts)
                assert len(rows) == len(texts)
                versions = {r["model"]["version"] for r in rows}
                assert versions == {pipe.version}  # a batch is made by one version, and says which
                seen.update(versions)
            except Exception as e:  # noqa: BLE001 - collected and asserted below
                errors.append(e)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for spec in ("cx@2", "cx@1", "cx@2"):
        reg.swap(spec)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not errors and reg.swaps == 3 and reg.version == ("cx", "2") and seen <= {"1", "2"}
    # following the production alias
    store.set_alias("cx", "production", "1")
    follow = ModelRegistry("cx", models_dir=store.root)
    assert follow.version == ("cx", "1") and not follow.refresh()
    store.set_alias("cx", "production", "2")
    assert follow.refresh() and follow.version == ("cx", "2")
