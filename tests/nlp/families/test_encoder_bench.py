"""bench/bench_encoder.py runs end to end (tiny synthetic encoder, a handful of comments)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.nlp.families.test_encoder_convert import write_tiny_bin

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_encoder", ROOT / "bench" / "bench_encoder.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


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
