"""Report renderers: HTML (self-contained, offline), XLSX (openpyxl), CSV. They read only the report dict.

:func:`write_report` is the one place that picks a renderer for an output path (CLI, demo, benchmarks).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from nlp.errors import DataError

OUT_FORMATS = {".json": "json", ".html": "html", ".htm": "html", ".xlsx": "xlsx", ".csv": "csv",
               ".parquet": "parquet"}


def output_format(dest: str) -> str:
    """The format of an output path (``-`` = JSON on stdout); a clear error for an unknown suffix."""
    if dest == "-":
        return "json"
    fmt = OUT_FORMATS.get(Path(dest).suffix.lower())
    if fmt is None:
        raise DataError("unknown output format", field="--out", expected=f"a file ending in {sorted(OUT_FORMATS)}",
                        found=dest)
    return fmt


def _csv_section(path: Path) -> tuple[str | None, Path | None]:
    """(section named by the file name, or None) and the sibling labels path for a plain report.csv."""
    from .csv import SECTIONS

    suffix = path.suffix  # .csv or .parquet
    stem = path.name[: -len(suffix)]
    for sec in SECTIONS:
        if stem == sec or stem.endswith(f".{sec}") or stem.endswith(f"_{sec}") or stem.endswith(f"-{sec}"):
            return sec, None
    return None, path.with_name(f"{stem}.labels{suffix}")


def write_report(report: dict, fmt: str, dest: str) -> list[str]:
    """Write one output of ``report`` (``dest`` ``-`` = JSON to stdout); returns the paths written. A plain
    ``X.csv`` gets the interview shortlist and ``X.labels.csv`` the per-comment labels; a file name ending in
    a CSV section (``.labels.csv``, ``.shortlist.csv``, ...) gets that section."""
    if fmt == "json":
        if dest == "-":
            json.dump(report, sys.stdout, ensure_ascii=False)
            sys.stdout.write("\n")
            return []
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        indent = 1 if len(report.get("comments", ())) <= 20_000 else None  # big reports: compact
        Path(dest).write_text(json.dumps(report, ensure_ascii=False, indent=indent), encoding="utf-8")
        return [dest]
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    if fmt == "html":
        from .html import render_html

        Path(dest).write_text(render_html(report), encoding="utf-8")
        return [dest]
    if fmt == "xlsx":
        from .xlsx import write_xlsx

        write_xlsx(report, dest)
        return [dest]
    # CSV and Parquet: a section named by the file name, else the shortlist + NAME.labels.<suffix>
    if fmt == "parquet":
        from .parquet import write_parquet as write_table
    else:
        from .csv import write_csv as write_table
    section, labels_path = _csv_section(Path(dest))
    if section:
        write_table(report, dest, section=section)
        return [dest]
    write_table(report, dest, section="shortlist")
    write_table(report, labels_path, section="labels")
    return [dest, str(labels_path)]
