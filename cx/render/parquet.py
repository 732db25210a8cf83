"""Parquet export of one report section (the tables of :mod:`cx.render.tables`, typed: numbers stay
numbers, empty cells are nulls), for analysts who load report tables into pandas / Spark / DuckDB."""
from __future__ import annotations

from pathlib import Path

from nlp.labeled.formats import write_table

from .tables import SECTIONS, section_table

__all__ = ["SECTIONS", "write_parquet"]


def _column(values: list):
    """One typed column; a column that mixes kinds (numbers and text) is written as text."""
    import pyarrow as pa

    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def write_parquet(report: dict, path: str | Path, *, section: str = "shortlist") -> int:
    """Write ``section`` (shortlist, labels, companies, ...) to ``path``; returns the number of data rows."""
    import pyarrow as pa

    header, rows = section_table(report, section)
    cols = list(zip(*rows)) if rows else [() for _ in header]
    names = [str(h) for h in header]
    table = pa.table({n: _column(list(c)) for n, c in zip(names, cols)}) if rows else \
        pa.table({n: pa.array([], pa.string()) for n in names})
    write_table(table, path)
    return len(rows)
