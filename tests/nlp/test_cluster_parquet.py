"""Parquet in and out (issue 18): prediction rows round-trip exactly; Parquet input rows read as the same
documents as CSV / JSONL; plain tables."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("pyarrow")

from nlp.errors import DataError  # noqa: E402
from nlp.labeled.formats import (iter_predictions_parquet, read_documents, read_documents_info, read_table,  # noqa: E402
                                 write_predictions, write_table)

ROWS = [
    {"id": "d01", "lang": "ru",
     "sentiment": {"label": "mixed", "scores": {"mixed": 0.61, "negative": 0.22, "neutral": 0.03, "positive": 0.14}},
     "touchpoints": [
         {"touchpoint": "billing", "polarity": "negative", "confidence": 0.79,
          "evidence": {"start": 22, "end": 46, "text": "счета всегда с ошибками"}},
         {"touchpoint": "customer_service", "polarity": "positive", "confidence": 0.77,
          "evidence": {"start": 0, "end": 17, "text": "Менеджер отличный"}}],
     "model": {"name": "cx-touchpoints", "version": "1"}, "warnings": []},
    {"id": "row-2", "lang": "unknown", "sentiment": {"label": "neutral", "scores": {"neutral": 1.0}}, "touchpoints": [],
     "model": {"name": "cx-touchpoints", "version": "1"}, "warnings": ["empty text: nothing to classify"],
     "text": "", "input": {"region": "north", "n": 3, "nested": {"a": [1, None]}}},
    {"id": "x", "lang": "en", "sentiment": {"label": "positive", "scores": {"positive": 1.0}},
     "touchpoints": [{"touchpoint": "delivery", "polarity": "positive", "confidence": 1.0, "evidence": None,
                      "extra_key": "kept"}],
     "model": {"name": "m", "version": "2"}, "warnings": ["a", "b"], "custom": [1, 2]},
    {"id": "y", "lang": "ru", "sentiment": {"label": "negative", "scores": {"negative": 0.9, "positive": 0.1}},
     "touchpoints": [], "model": {"name": "m", "version": "3", "family": "fast"}, "warnings": [{"code": "w1"}]},
]


def test_prediction_rows_round_trip(tmp_path):
    f = tmp_path / "p.parquet"
    assert write_predictions(ROWS, f) == 4
    assert list(iter_predictions_parquet(f)) == ROWS
    back = list(iter_predictions_parquet(f))
    assert [list(r) for r in back[:2]] == [list(r) for r in ROWS[:2]]  # key order too (JSONL looks the same)
    assert json.dumps(back[1], ensure_ascii=False) == json.dumps(ROWS[1], ensure_ascii=False)
    # typed columns: readable by any Parquet tool
    df = read_table(f)
    assert df["id"].tolist() == ["d01", "row-2", "x", "y"] and df["lang"].tolist()[0] == "ru"
    assert write_predictions([], tmp_path / "empty.parquet") == 0
    assert list(iter_predictions_parquet(tmp_path / "empty.parquet")) == []


def test_parquet_input_reads_as_jsonl(tmp_path):
    recs = [{"id": "a", "text": "Инженер не приехал", "lang": "ru", "region": "north"},
            {"id": None, "text": "Great support", "lang": None, "region": None},
            {"id": "c", "text": None, "lang": None, "region": "x"},  # no text: a bad row
            {"id": "a", "text": "duplicate", "lang": None, "region": None}]
    write_table(recs, tmp_path / "in.parquet")
    with open(tmp_path / "in.jsonl", "w", encoding="utf-8") as fh:
        for r in recs:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    d_pq, e_pq, dec = read_documents_info(tmp_path / "in.parquet")
    d_js, e_js = read_documents(tmp_path / "in.jsonl")
    assert dec is None
    assert d_pq == d_js and [d.id for d in d_pq] == ["a", "row-2"]
    assert [(e.row, e.field) for e in e_pq] == [(e.row, e.field) for e in e_js] == [(3, "text"), (4, "id")]


def test_table_round_trip_and_errors(tmp_path):
    rows = [{"touchpoint": "billing", "mentions": 3, "share": 12.5, "low_n": False, "quadrant": None},
            {"touchpoint": "delivery", "mentions": 1, "share": None, "low_n": True, "quadrant": "A"}]
    write_table(rows, tmp_path / "t.parquet")
    back = read_table(tmp_path / "t.parquet")
    assert back["touchpoint"].tolist() == ["billing", "delivery"] and back["mentions"].tolist() == [3, 1]
    assert back["share"].tolist()[0] == 12.5 and back["share"].isna().tolist() == [False, True]
    assert back["low_n"].tolist() == [False, True] and back["quadrant"].isna().tolist() == [True, False]
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="Parquet"):
        read_documents(tmp_path / "bad.parquet")
    with pytest.raises(DataError, match="not found"):
        read_table(tmp_path / "missing.parquet")
