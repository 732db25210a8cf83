"""bench/bench_encoder.py runs end to end (tiny synthetic encoder, a handful of comments)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.nlp.families.test_encoder_convert import write_tiny_bin

ROOT = Path(__file__).resolve().parents[3]


def _bench_module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def bench():
    return _bench_module("bench_encoder")


def test_bench_modes_on_a_tiny_model(bench, tmp_path, monkeypatch):
    from nlp.families.encoders.convert import convert

    write_tiny_bin(tmp_path / "t.bin")
    model = str(convert(tmp_path / "t.bin", tmp_path / "m"))
    monkeypatch.setenv("CXLENS_CACHE_DIR", str(tmp_path / "cache"))
    texts = bench.load_texts(10)
    assert len(texts) == 10 and all(isinstance(t, str) and t for t in texts)
    for mode in ("naive", "fp32", "int8", "onnx-int8", "cached"):
        r = bench.run_one(mode, 10, 1, [1, 4], model, 1)
        assert r["mode"] == mode and r["peak_rss_mb"] > 0
        assert r["rates"] and all(v > 0 for v in r["rates"].values())
    assert set(bench.run_one("fp32", 10, 1, [1, 4], model, 1)["rates"]) == {"1", "4"}
    auto = bench.run_one("auto", 10, 1, [1, 4], model, 1)
    assert auto["choice"] in auto["measurement"] and auto["measurement"][auto["choice"]]["ok"]
    settings = dict(bench.quality_settings(["fast", "encoder", "ensemble"]))
    assert settings["encoder"]["model_type"] == "encoder" and settings["ensemble"]["model_type"] == "ensemble"
    with pytest.raises(SystemExit):
        bench.quality_settings(["nope"])


def test_settings_split_outside_json_values(bench):
    text = 'fast,shipped-ensemble:member_params={"fast":{"C":4.0},"encoder":{"C":16.0}}+weights=[1,2],shipped'
    parts = bench.split_settings(text)
    assert parts == ["fast", 'shipped-ensemble:member_params={"fast":{"C":4.0},"encoder":{"C":16.0}}+weights=[1,2]',
                     "shipped"]
    (name, opts), = bench.quality_settings(parts[1:2])
    assert opts["member_params"] == {"fast": {"C": 4.0}, "encoder": {"C": 16.0}} and opts["weights"] == [1, 2]
    assert bench.quality_settings(["shipped"])[0][1]["finetune"] is True


def test_quality_table_side_by_side(tmp_path):
    qt = _bench_module("quality_table")
    metrics = {"category_f1": 0.70, "pair_f1": 0.60, "polarity_acc": None, "sentiment_macro_f1": 0.5,
               "sentiment_pn_f1": 0.8}
    rows = [{"dataset": "semeval16_ru", "setting": s, "n_train": 3240, "n_dev": 396,
             "metrics": {**metrics, "category_f1": v}} for s, v in (("fast", 0.70), ("shipped", 0.75))]
    (tmp_path / "r.json").write_text(json.dumps({"rows": rows}), encoding="utf-8")
    out = qt.table(qt.load_rows([tmp_path / "r.json"]), ["fast", "shipped"]).splitlines()
    assert len(out) == 3 and out[2].startswith("| semeval16_ru (3,240 / 396) |")
    cat = out[2].split(" | ")[1]
    # under the MANIFEST floor (0.742) marked, the best bold, floor / target / published best beside
    assert cat == "0.700↓ / **0.750** (floor 0.742, target 0.800, publ. 0.648)"
    assert out[2].split(" | ")[3] == "–"  # no polarity accuracy recorded


def test_finetune_cv_folds_and_scores():
    from nlp.schema import Aspect, Example

    cv = _bench_module("finetune_cv")
    parts = cv.folds(10, 3)
    assert sorted(i for p in parts for i in p) == list(range(10)) and [len(p) for p in parts] == [4, 3, 3]
    assert cv.folds(10, 3) == parts and cv.folds(10, 3, seed=1) != parts
    ex = [Example(text="a", sentiment="negative", aspects=[Aspect("billing", "negative"), Aspect("price", "positive")]),
          Example(text="b", sentiment="positive", aspects=[Aspect("delivery", "positive")])]
    pol = lambda p: {"positive": p, "negative": 1 - p, "neutral": 0.0}  # noqa: E731
    pred = [{"sentiment": {"negative": 0.9, "positive": 0.1}, "touchpoints": {"billing": 0.9, "price": 0.2},
             "polarity": {"billing": pol(0.1), "price": pol(0.2)}},  # price missed, its polarity wrong
            {"sentiment": {"negative": 0.2, "positive": 0.8}, "touchpoints": {"delivery": 0.7, "billing": 0.6},
             "polarity": {"delivery": pol(0.9), "billing": pol(0.9)}}]  # billing detected by mistake
    s = cv.score(ex, pred)
    assert s["sentiment_macro_f1"] == 1.0
    assert s["touchpoint_micro_f1"] == round(2 * 2 / (2 * 2 + 1 + 1), 4)  # tp 2, fp 1, fn 1
    assert s["polarity_acc_gold"] == round(2 / 3, 4)
    assert s["pair_micro_f1"] == round(2 * 2 / (2 * 2 + 1 + 1), 4)  # billing:neg, delivery:pos right; billing:pos fp
