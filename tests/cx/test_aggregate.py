"""The report from per-partition aggregates equals the in-memory report on the same data (issue 18)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from cx.aggregate import build_report_partitioned, iter_prediction_rows
from cx.config import load_config, ReportConfig
from cx.report import build_report
from cx.waves import read_predictions, read_wave
from nlp.labeled.formats import write_predictions, write_table

DEMO = Path(__file__).resolve().parents[2] / "cx" / "data" / "demo"


def split_wave(tmp: Path, parts: int = 3) -> list[Path]:
    """The demo wave in ``parts`` files: CSV (as exported), Parquet (all cells as text) and CSV again."""
    text = (DEMO / "wave.csv").read_text(encoding="utf-8-sig")
    header, *rows = text.splitlines()
    size = math.ceil(len(rows) / parts)
    out = []
    for k in range(parts):
        chunk = rows[k * size:(k + 1) * size]
        f = tmp / f"wave-{k}.csv"
        f.write_text("\ufeff" + "\n".join([header, *chunk]) + "\n", encoding="utf-8")
        if k == 1:
            df = pd.read_csv(f, sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig")
            f.unlink()
            f = tmp / f"wave-{k}.parquet"
            write_table(df, f)
        out.append(f)
    return out


def split_predictions(tmp: Path) -> list[Path]:
    preds, errors = read_predictions(DEMO / "predictions.jsonl")
    assert not errors
    half = len(preds) // 2
    a, b = tmp / "p0.jsonl", tmp / "p1.parquet"
    write_predictions(preds[:half], a)
    write_predictions(preds[half:], b)
    return [a, b]


def in_memory(files: list[Path], preds, cfg: ReportConfig) -> dict:
    frames, errors = [], []
    for f in files:
        df, errs = read_wave(f, cfg)
        frames.append(df)
        errors.extend(errs)
    return build_report(pd.concat(frames, ignore_index=True), list(iter_prediction_rows(preds)), cfg,
                        data_errors=errors, source="wave")


def first_difference(a, b, path="") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return f"{path}: keys {list(a)} != {list(b)}"
        for k in a:
            d = first_difference(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    same = a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
    return None if same else f"{path}: {a!r} != {b!r}"


def assert_same_report(a: dict, b: dict) -> None:
    a, b = json.loads(json.dumps(a, default=str)), json.loads(json.dumps(b, default=str))
    for r in (a, b):
        r["meta"].pop("generated_at")
    assert first_difference(a, b) is None, first_difference(a, b)


CONFIGS = {
    "demo (ratings matrix, latest wave, shapley)": lambda: load_config(DEMO / "config.yaml"),
    "mentions matrix, all waves, relative weights": lambda: ReportConfig.from_dict({
        "lang": "en", "scope": "all", "min_n": 3, "matrix": {"basis": "mentions", "importance": "relative_weights"},
        "scores": {"csat": {"column": "CSAT", "scale": [1, 5]}, "ces": {"column": "CES", "scale": [1, 7], "good_end": "low"}},
        "key_accounts": ["Полюс Энерго", "Globex Industries"], "shortlist": {"max": 20}}),
    "correlation importance, no comments section": lambda: ReportConfig.from_dict({
        "matrix": {"basis": "ratings", "importance": "correlation", "cut": "median"}, "include_comments": False,
        "overall": "csat", "scores": {"csat": {"column": "CSAT", "scale": [1, 5]}}}),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_partitioned_report_equals_in_memory(tmp_path, name):
    files = split_wave(tmp_path)
    preds = split_predictions(tmp_path)
    expected = in_memory(files, preds, CONFIGS[name]())
    got = build_report_partitioned(files, preds, CONFIGS[name](), source="wave")
    assert expected["summary"]["n_answers"] > 100 and expected["touchpoints"] and expected["shortlist"]
    assert_same_report(got, expected)


def test_frames_and_duplicates_across_partitions(tmp_path):
    cfg = load_config(DEMO / "config.yaml")
    raw = pd.read_csv(DEMO / "wave.csv", sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    parts = [raw.iloc[:150], raw.iloc[150:300], pd.concat([raw.iloc[300:], raw.iloc[[5, 200]]])]  # 2 repeated ids
    preds = [DEMO / "predictions.jsonl"]
    got = build_report_partitioned(parts, preds, cfg)
    dups = [e for e in got["data_errors"]["first"] if "duplicate id" in e["message"]]
    assert len(dups) == 2 and got["meta"]["n_answers_total"] == len(raw)
    expected = build_report(raw, list(iter_prediction_rows(preds)), load_config(DEMO / "config.yaml"))
    for r in (got, expected):
        r["data_errors"] = None
    assert_same_report(got, expected)


def test_dask_dataframe_partitions(tmp_path):
    dd = pytest.importorskip("dask.dataframe")
    raw = pd.read_csv(DEMO / "wave.csv", sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    ddf = dd.from_pandas(raw, npartitions=4)
    got = build_report_partitioned(ddf, [DEMO / "predictions.jsonl"], load_config(DEMO / "config.yaml"))
    expected = build_report(raw, list(iter_prediction_rows([DEMO / "predictions.jsonl"])),
                            load_config(DEMO / "config.yaml"))
    assert_same_report(got, expected)


def test_parquet_wave_reads_as_csv(tmp_path):
    raw = pd.read_csv(DEMO / "wave.csv", sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    write_table(raw, tmp_path / "wave.parquet")
    a, ea = read_wave(DEMO / "wave.csv", load_config(DEMO / "config.yaml"))
    b, eb = read_wave(tmp_path / "wave.parquet", load_config(DEMO / "config.yaml"))
    pd.testing.assert_frame_equal(a, b)
    assert [e.to_dict() for e in ea] == [e.to_dict() for e in eb] == []
    # typed Parquet cells (numbers as numbers) give the same answers too
    typed = raw.copy()
    typed["NPS"] = pd.to_numeric(typed["NPS"])
    write_table(typed, tmp_path / "typed.parquet")
    c, _ = read_wave(tmp_path / "typed.parquet", load_config(DEMO / "config.yaml"))
    assert c["nps"].tolist() == a["nps"].tolist()


def test_report_sections_as_parquet(tmp_path):
    from cx.render.parquet import write_parquet
    from cx.render.tables import SECTIONS, section_table
    from nlp.labeled.formats import read_table

    cfg = load_config(DEMO / "config.yaml")
    rep = build_report_partitioned(split_wave(tmp_path), split_predictions(tmp_path), cfg)
    for section in SECTIONS:
        f = tmp_path / f"r.{section}.parquet"
        n = write_parquet(rep, f, section=section)
        header, rows = section_table(rep, section)
        back = read_table(f)
        assert list(back.columns) == [str(h) for h in header] and len(back) == n == len(rows)
    comp = read_table(tmp_path / "r.companies.parquet")
    assert comp.select_dtypes("number").shape[1] >= 2  # averages, n, ... stay numbers


def test_partitioned_wave_classified_by_a_model(tmp_path, seed_model):
    """No predictions: each partition's comments are classified by the model (as `cxlens report WAVE_DIR`)."""
    from cx.aggregate import classified, is_partitioned_wave
    from cx.classify import classify

    files = split_wave(tmp_path)
    assert is_partitioned_wave(tmp_path) and is_partitioned_wave(tmp_path / "wave-*") and not is_partitioned_wave(files[0])
    cfg = load_config(DEMO / "config.yaml")
    got = build_report_partitioned(files, classified(files, seed_model, cfg), cfg, source="wave")
    cfg2 = load_config(DEMO / "config.yaml")
    allv = pd.concat([read_wave(f, cfg2)[0] for f in files], ignore_index=True)
    expected = build_report(allv, classify(allv, seed_model), cfg2, source="wave")
    assert got["meta"]["n_labeled"] > 300
    assert_same_report(got, expected)


def test_many_small_partitions(tmp_path, monkeypatch):
    """15 partitions, group sums merged every 4: several merge rounds; still the in-memory report."""
    import cx.aggregate

    monkeypatch.setattr(cx.aggregate, "MERGE_EVERY", 4)
    raw = pd.read_csv(DEMO / "wave.csv", sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    parts = [raw.iloc[i:i + 28] for i in range(0, len(raw), 28)]
    assert len(parts) == 15
    cfg = CONFIGS["mentions matrix, all waves, relative weights"]
    preds = [DEMO / "predictions.jsonl"]
    got = build_report_partitioned(parts, preds, cfg())
    expected = build_report(raw, list(iter_prediction_rows(preds)), cfg())
    assert_same_report(got, expected)
