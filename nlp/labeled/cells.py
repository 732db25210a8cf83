"""Spreadsheet-safe cells: the one writer for every CSV and XLSX file the product writes (job results,
report sections and workbooks, the labeling queue).

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be run as a
formula by Excel / LibreOffice / Google Sheets (CSV injection, e.g. ``=HYPERLINK(...)`` or
``+cmd|' /C calc'!A0``); it is written with a leading apostrophe, which spreadsheets show as text and do
not display. Numbers, booleans and empty cells are written unchanged (``-0.5`` stays a number).
docs/formats.md, "Spreadsheet-safe cells".
"""
from __future__ import annotations

import csv
from typing import IO, Any, Iterable

#: first characters that make a spreadsheet evaluate a cell
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` as a spreadsheet shows it as text: an apostrophe before a formula-like string."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_row(values: Iterable[Any], *, none: Any = None) -> list[Any]:
    """:func:`safe_cell` of every value (``None`` -> ``none``)."""
    return [none if v is None else safe_cell(v) for v in values]


def unescape_cell(value: Any) -> Any:
    """The inverse for a file read back (e.g. the labeling queue filled in a text editor): ``'=x`` -> ``=x``.
    Spreadsheets drop the apostrophe themselves when they save."""
    if isinstance(value, str) and len(value) > 1 and value[0] == "'" and value[1:].startswith(FORMULA_PREFIXES):
        return value[1:]
    return value


class SafeCsvWriter:
    """``csv.writer`` whose every cell goes through :func:`safe_cell` (``None`` = empty cell)."""

    def __init__(self, fh: IO[str], **fmtparams: Any) -> None:
        self._w = csv.writer(fh, **fmtparams)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._w.writerow(safe_row(row, none=""))

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for r in rows:
            self.writerow(r)


def csv_writer(fh: IO[str], **fmtparams: Any) -> SafeCsvWriter:
    """The CSV writer to use for any file a person may open in a spreadsheet."""
    return SafeCsvWriter(fh, **fmtparams)


__all__ = ["FORMULA_PREFIXES", "SafeCsvWriter", "csv_writer", "safe_cell", "safe_row", "unescape_cell"]
