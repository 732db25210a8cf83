"""CSV export of one report section (UTF-8 with BOM and ';' so that Russian Excel opens it as is)."""
from __future__ import annotations

from pathlib import Path

from nlp.labeled.cells import csv_writer

from .tables import SECTIONS, section_table

__all__ = ["SECTIONS", "write_csv"]


def write_csv(report: dict, path: str | Path, *, section: str = "shortlist", delimiter: str = ";") -> int:
    """Write ``section`` (shortlist, labels, companies, ...) to ``path``; returns the number of data rows.
    Text cells that a spreadsheet would run as a formula are prefixed with an apostrophe."""
    header, rows = section_table(report, section)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv_writer(fh, delimiter=delimiter)  # formula-like cells get an apostrophe (nlp.labeled.cells)
        w.writerow(header)
        for r in rows:
            w.writerow(r)
    return len(rows)
