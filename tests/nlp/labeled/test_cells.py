"""The one spreadsheet-safe cell writer (issue 16): every CSV/XLSX the product writes neutralises
formula-like text cells with a leading apostrophe; numbers stay numbers."""
from __future__ import annotations

import csv
import io

import pytest

from nlp.labeled.cells import FORMULA_PREFIXES, csv_writer, safe_cell, safe_row, unescape_cell


@pytest.mark.parametrize("evil", ["=1+1", "+cmd|' /C calc'!A0", "-2", "@SUM(A1)", "\tx", "\rx",
                                  '=HYPERLINK("http://evil.example","y")'])
def test_formula_like_text_gets_an_apostrophe_and_reads_back(evil):
    assert safe_cell(evil) == "'" + evil and unescape_cell(safe_cell(evil)) == evil


def test_other_values_are_unchanged():
    assert [safe_cell(v) for v in ("ok", "", -0.5, 3, None, True)] == ["ok", "", -0.5, 3, None, True]
    assert safe_row(["a", None, "=x"], none="") == ["a", "", "'=x"]
    assert unescape_cell("'plain") == "'plain" and unescape_cell("'") == "'"


def test_csv_writer_neutralises_every_cell():
    buf = io.StringIO()
    w = csv_writer(buf, delimiter=";")
    w.writerow(["=a", "b", None, -1.5])
    w.writerows([["@c", "+d"]])
    rows = list(csv.reader(io.StringIO(buf.getvalue()), delimiter=";"))
    assert rows == [["'=a", "b", "", "-1.5"], ["'@c", "'+d"]]
    assert not any(c.startswith(FORMULA_PREFIXES) for c in rows[1])


def test_the_labeling_queue_round_trips_through_the_labeled_reader(tmp_path):
    from nlp.labeled.datasets import read_labeled_file

    p = tmp_path / "queue.csv"
    with open(p, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv_writer(fh, delimiter=";")
        w.writerow(["id", "text", "sentiment", "touchpoints"])
        w.writerow(["q1", "=HYPERLINK() в счёте", "negative", "billing:negative"])
    (ex,), errors = read_labeled_file(p)
    assert errors == [] and ex.text == "=HYPERLINK() в счёте"
