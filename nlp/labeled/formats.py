"""Reading and writing the data contract: JSONL and CSV (UTF-8, UTF-8-BOM; cp1251 from Russian Excel
only when the whole file is in it, :mod:`nlp.labeled.encoding`; `;` or `,` detected). Readers stream rows and
report bad rows without losing the others.
"""
from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Mapping

from ..errors import DataError
from ..schema import Document, Example, document_from_dict, example_from_dict
from .encoding import Decoding, decode, log_decision

JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
TOUCHPOINT_SEP = ";"


def decode_bytes(data: bytes) -> str:
    """Bytes -> text by the rule of :mod:`nlp.labeled.encoding`: strict UTF-8 (with or without BOM); a legacy
    encoding (cp1251 from Russian Excel, ...) only when the whole input is clearly in it; otherwise UTF-8
    with the invalid bytes replaced (:func:`decode_bytes_info` also returns where)."""
    return decode_bytes_info(data)[0]


def decode_bytes_info(data: bytes) -> tuple[str, Decoding]:
    """(text, the decision) — see :func:`nlp.labeled.encoding.decode`."""
    return decode(data)


DELIMITERS = ";,\t"


def _split_counts(rows: list[list[str]]) -> tuple[int, float]:
    """(header width, share of the other rows with that width)."""
    if not rows:
        return 0, 0.0
    width = len(rows[0])
    rest = [r for r in rows[1:] if r]
    if not rest:
        return width, 1.0
    return width, sum(len(r) == width for r in rest) / len(rest)


def _parse_sample(lines: list[str], delim: str, *, complete: bool) -> list[list[str]]:
    try:
        rows = list(csv.reader(io.StringIO("\n".join(lines), newline=""), delimiter=delim))
    except csv.Error:
        return []
    if not complete and len(rows) > 1:
        rows = rows[:-1]  # the sample may end inside the last record
    return rows


def sniff_delimiter(sample: str, *, complete: bool = False) -> str:
    """The CSV delimiter (`;` from Russian Excel, `,` or tab) of a text sample that starts at the header.

    ``csv.Sniffer`` gives the first opinion; it is kept only when it also splits the header line into
    columns and the sampled rows into as many cells as the header. Otherwise the header line decides
    (the candidate that splits it into the most columns and the rows consistently). Delimiters inside
    quoted cells are never counted, so a cell such as ``","`` cannot change the decision. One function
    for every reader (CLI, API spool, report waves). ``complete``: the sample is the whole file.
    """
    lines = [ln for ln in sample.splitlines()[:50] if ln.strip()]
    if not lines:
        return ","
    scores: dict[str, tuple[int, float]] = {}
    for d in DELIMITERS:
        header = _parse_sample(lines[:1], d, complete=True)
        width = len(header[0]) if header else 0
        if width < 2:
            continue
        rows = _parse_sample(lines, d, complete=complete or len(lines) == 1)
        _, share = _split_counts(rows) if rows else (width, 0.0)
        scores[d] = (width, share)
    if not scores:
        return ","
    try:
        sniffed = csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = None
    if sniffed in scores and scores[sniffed][1] >= max(s for _, s in scores.values()):
        return sniffed
    return max(scores, key=lambda d: (scores[d][1] >= 0.9, scores[d][0] if scores[d][1] >= 0.9 else 0,
                                      scores[d][1], -DELIMITERS.index(d)))


def _open_text(source: str | Path | IO[str] | IO[bytes]) -> tuple[str, str]:
    """Return (name, full text) of a path, '-' (stdin) or a file object."""
    name, text, _ = _open_decoded(source)
    return name, text


def _open_decoded(source: str | Path | IO[str] | IO[bytes]) -> tuple[str, str, Decoding | None]:
    """(name, full text, decoding decision or None for text streams) of a path, '-' or a file object."""
    if isinstance(source, (str, Path)) and str(source) == "-":
        data = sys.stdin.buffer.read()
        name = "<stdin>"
    elif isinstance(source, (str, Path)):
        p = Path(source)
        if not p.exists():
            raise DataError("file not found", source=str(p), expected="an existing file", found=str(p))
        name, data = str(p), p.read_bytes()
    else:
        data = source.read()
        name = str(getattr(source, "name", "<stream>"))
        if not isinstance(data, bytes):
            return name, data, None
    text, decision = decode(data)
    log_decision(name, decision)
    return name, text, decision


def source_name(source: str | Path | IO) -> str:
    """How errors name a source: its path, ``<stdin>`` for ``-``, or the stream's name."""
    if isinstance(source, (str, Path)):
        return "<stdin>" if str(source) == "-" else str(source)
    return str(getattr(source, "name", "<stream>"))


def is_parquet(source: str | Path | IO, fmt: str | None = None) -> bool:
    """A Parquet file: ``fmt == "parquet"`` or a path with a .parquet / .pq suffix."""
    if fmt is not None:
        return fmt == "parquet"
    return isinstance(source, (str, Path)) and str(source) != "-" and Path(source).suffix.lower() in PARQUET_SUFFIXES


def detect_format(name: str, text: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in CSV_SUFFIXES:
        return "csv"
    head = text.lstrip()[:1]
    return "jsonl" if head in ("{", "[") else "csv"


RowWarning = Callable[[int, str], None]


def iter_records(source: str | Path | IO, *, fmt: str | None = None, on_warning: RowWarning | None = None,
                 on_decoding: Callable[[Decoding], None] | None = None) -> Iterator[tuple[int, dict | DataError]]:
    """Yield ``(row_number, record)`` pairs; a row that cannot be parsed yields a :class:`DataError`.

    Row numbers are 1-based data rows (the CSV header is not counted). ``on_decoding(decision)`` is called
    once with the file's encoding decision; ``on_warning(row, message)`` for each row that had invalid
    bytes replaced (the row is still yielded). Parquet (``.parquet``/``.pq`` or ``fmt="parquet"``) is read
    row group by row group; its cells keep their types (as JSONL), a null cell is ``None``.
    """
    if is_parquet(source, fmt):
        yield from iter_parquet_records(source)
        return
    name, text, decision = _open_decoded(source)
    if decision is not None and on_decoding is not None:
        on_decoding(decision)
    bad = decision if decision is not None and decision.bad else None

    def warn_lines(row: int, first: int, last: int) -> None:
        if bad is not None and on_warning is not None:
            for msg in bad.line_warnings(first, last, row=row):
                on_warning(row, msg)

    fmt = fmt or detect_format(name, text)
    if fmt == "jsonl":
        stripped = text.lstrip()
        if stripped.startswith("["):  # a whole-file JSON array is accepted too
            try:
                arr = json.loads(stripped)
            except json.JSONDecodeError:
                arr = None  # not one array: read it line by line below
            if isinstance(arr, list):
                if bad is not None and on_warning is not None:
                    for b in bad.bad:
                        on_warning(1, f"line {b.line}: {b.describe()}")
                for i, obj in enumerate(arr, 1):
                    yield i, obj if isinstance(obj, dict) else DataError(source=name, row=i, expected="a JSON object", found=obj)
                return
        # only "\n" ends a record: U+2028/U+0085 may stand raw inside JSON strings
        for i, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            warn_lines(i, i, i)
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                yield i, DataError(f"invalid JSON: {e.msg}", source=name, row=i, expected="one JSON object per line", found=line)
                continue
            yield i, obj if isinstance(obj, dict) else DataError(source=name, row=i, expected="a JSON object", found=obj)
        return
    delim = sniff_delimiter(text[:8192], complete=len(text) <= 8192)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delim)
    if reader.fieldnames is None:
        return
    reader.fieldnames = [(f or "").strip() for f in reader.fieldnames]
    warn_lines(0, 1, reader.line_num)
    last_line = reader.line_num
    for i, rec in enumerate(reader, 1):
        warn_lines(i, last_line + 1, reader.line_num)
        last_line = reader.line_num
        extra = rec.pop(None, None)  # more cells than header columns
        if extra:
            yield i, DataError("more cells than header columns", source=name, row=i,
                               expected=f"{len(reader.fieldnames)} columns", found=len(reader.fieldnames) + len(extra))
            continue
        yield i, {k: v for k, v in rec.items() if k}


def read_xlsx(path: str | Path) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """The first sheet of a workbook: header names (blank ones dropped) and ``(row, {header: cell})`` for
    every non-blank data row (row 1 = the first row under the header). Cell values are as openpyxl reads them."""
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # noqa: BLE001 - openpyxl raises several unrelated types for a broken file
        raise DataError(f"cannot read the workbook: {e}", source=str(path), expected="an .xlsx file") from None
    try:
        rows = wb.worksheets[0].iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            return [], []
        names = [str(h).strip() if h is not None else "" for h in header]
        out = []
        for i, values in enumerate(rows, 1):
            if values is None or all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue
            out.append((i, {k: v for k, v in zip(names, values) if k}))
        return [h for h in names if h], out
    finally:
        wb.close()


def read_documents(source: str | Path | IO, *, fmt: str | None = None) -> tuple[list[Document], list[DataError]]:
    """Read input rows to classify. Bad rows are returned as errors; the others are kept."""
    return read_documents_info(source, fmt=fmt)[:2]


def read_documents_info(source: str | Path | IO, *, fmt: str | None = None
                        ) -> tuple[list[Document], list[DataError], Decoding | None]:
    """:func:`read_documents` plus the file's encoding decision. A row whose invalid bytes were replaced
    carries the warning in ``Document.warnings`` (naming the row and the byte offset)."""
    docs, errors, seen = [], [], set()
    name = source_name(source)
    row_warnings: dict[int, list[str]] = {}
    decision: list[Decoding] = []
    for i, rec in iter_records(source, fmt=fmt, on_warning=lambda r, m: row_warnings.setdefault(r, []).append(m),
                               on_decoding=decision.append):
        if isinstance(rec, DataError):
            errors.append(rec)
            continue
        try:
            doc = document_from_dict(rec, row=i, source=name, default_id=f"row-{i}")
        except DataError as e:
            errors.append(e)
            continue
        doc.warnings = row_warnings.pop(i, [])
        if doc.id in seen:
            errors.append(DataError("duplicate id", field="id", expected="unique ids", found=doc.id, row=i, source=name))
            continue
        seen.add(doc.id)
        docs.append(doc)
    return docs, errors, (decision[0] if decision else None)


def parse_touchpoints_cell(cell: str, *, row: int | None = None, source: str | None = None) -> list[dict[str, Any]]:
    """``billing:negative;field_service:positive`` -> aspect dicts (no offsets). Empty cell = none."""
    out = []
    for part in (cell or "").replace(",", TOUCHPOINT_SEP).split(TOUCHPOINT_SEP):
        part = part.strip()
        if not part:
            continue
        cat, sep, pol = part.partition(":")
        if not sep or not cat.strip() or not pol.strip():
            raise DataError(field="touchpoints", expected="'touchpoint:polarity' pairs separated by ';'", found=part,
                            row=row, source=source)
        out.append({"category": cat.strip(), "polarity": pol.strip().lower()})
    return out


def normalize_labeled_record(rec: Mapping[str, Any], *, row: int | str | None, source: str | None,
                             flat: bool = True) -> dict[str, Any]:
    """A copy of a labeled row with the analyst CSV's ``touchpoints`` cell turned into ``aspects``
    (when ``flat``) and the sentiment label trimmed and lower-cased (empty = not labeled)."""
    rec = dict(rec)
    if flat and "touchpoints" in rec and "aspects" not in rec:
        cell = rec.pop("touchpoints")
        if cell is not None and not isinstance(cell, str):
            raise DataError(field="touchpoints", expected="a string like 'billing:negative;field_service:positive'",
                            found=cell, row=row, source=source)
        rec["aspects"] = parse_touchpoints_cell(cell or "", row=row, source=source)
    sent = rec.get("sentiment")
    if isinstance(sent, str):
        rec["sentiment"] = sent.strip().lower() or None
    return rec


def labeled_from_record(rec: Mapping[str, Any], *, row: int, source: str, labels: Iterable[str] | None = None) -> Example:
    """One labeled row in either form: JSONL training schema or analyst CSV (``touchpoints`` column)."""
    return example_from_dict(normalize_labeled_record(rec, row=row, source=source), row=row, source=source,
                             labels=labels)


def read_labeled(source: str | Path | IO, *, fmt: str | None = None,
                 labels: Iterable[str] | None = None) -> tuple[list[Example], list[DataError]]:
    """Read labeled rows (training/evaluation). Bad rows are returned as errors; the others are kept."""
    name = source_name(source)
    labels = list(labels) if labels is not None else None
    out, errors = [], []
    for i, rec in iter_records(source, fmt=fmt):
        if isinstance(rec, DataError):
            errors.append(rec)
            continue
        try:
            ex = labeled_from_record(rec, row=i, source=name, labels=labels)
        except DataError as e:
            errors.append(e)
            continue
        if not ex.id:
            ex.id = f"{Path(name).stem if name != '<stdin>' else 'stdin'}-{i}"
        out.append(ex)
    return out, errors


def write_jsonl(rows: Iterable[Mapping[str, Any]], dest: str | Path | IO[str]) -> int:
    """Write rows as JSON Lines (UTF-8, non-ASCII kept). ``'-'`` = stdout. Returns the row count."""
    n = 0
    if isinstance(dest, (str, Path)) and str(dest) == "-":
        fh, close = sys.stdout, False
    elif isinstance(dest, (str, Path)):
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        fh, close = open(dest, "w", encoding="utf-8"), True
    else:
        fh, close = dest, False
    try:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    finally:
        if close:
            fh.close()
    return n


# ---------------------------------------------------------------------------------------------------- Parquet
# One place for Parquet too (pyarrow): input rows, prediction rows (a fixed typed schema, so partitions
# written by different processes concatenate and read back as exactly the rows that were written), and
# plain tables (report sections, waves).

def _pq():
    import pyarrow.parquet as pq

    return pq


def _parquet_file(source: str | Path | IO):
    name = source_name(source)
    if isinstance(source, (str, Path)) and not Path(source).exists():
        raise DataError("file not found", source=name, expected="an existing file", found=name)
    try:
        return _pq().ParquetFile(source if not isinstance(source, Path) else str(source))
    except Exception as e:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError, ... for a broken file
        raise DataError(f"cannot read the Parquet file: {e}", source=name, expected="a Parquet file") from None


def parquet_rows(source: str | Path | IO) -> int:
    """Row count of a Parquet file from its footer (nothing else is read)."""
    return int(_parquet_file(source).metadata.num_rows)


def iter_parquet_records(source: str | Path | IO, *, batch_rows: int = 8192) -> Iterator[tuple[int, dict]]:
    """``(row, record)`` of a Parquet file (1-based rows, as :func:`iter_records`), one row group at a time."""
    pf = _parquet_file(source)
    i = 0
    for batch in pf.iter_batches(batch_size=batch_rows):
        for rec in batch.to_pylist():
            i += 1
            yield i, rec


def read_table(source: str | Path | IO, *, columns: list[str] | None = None):
    """A whole Parquet file as a pandas DataFrame (waves, report tables)."""
    name = source_name(source)
    try:
        return _parquet_file(source).read(columns=columns).to_pandas()
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001
        raise DataError(f"cannot read the Parquet file: {e}", source=name, expected="a Parquet file") from None


def write_table(rows: Iterable[Mapping[str, Any]] | Any, dest: str | Path, *, columns: list[str] | None = None) -> int:
    """Write plain rows (dicts; or a pandas DataFrame, or a pyarrow Table) as one Parquet file, atomically
    (temp file + rename). Column types are inferred; nested values (lists, dicts) become lists / structs."""
    import pyarrow as pa

    if isinstance(rows, pa.Table):
        table = rows
    elif hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # a DataFrame
        table = pa.Table.from_pandas(rows, preserve_index=False)
    else:
        rows = list(rows)
        if columns is None:
            columns = list(dict.fromkeys(k for r in rows for k in r))
        table = pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows]) if rows else \
            pa.table({c: pa.array([], pa.null()) for c in columns})
    _write_parquet_atomic(table, dest)
    return table.num_rows


def _write_parquet_atomic(table, dest: str | Path) -> None:
    import os
    import tempfile

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    os.close(fd)
    try:
        _pq().write_table(table, tmp, compression="zstd")
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


#: keys of a prediction row (docs/formats.md) that have typed Parquet columns, in row order
PREDICTION_KEYS = ("id", "lang", "sentiment", "touchpoints", "model", "warnings", "text", "input")


def prediction_schema():
    """The Parquet schema of prediction rows. ``text`` / ``input`` (``--with-text``, ``--keep-columns``) are
    null when absent; ``input`` and any key outside the contract are kept as JSON text (``input_json``,
    ``extra_json``) so that every row reads back exactly as it was written."""
    import pyarrow as pa

    evidence = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("text", pa.string())])
    touchpoint = pa.struct([("touchpoint", pa.string()), ("polarity", pa.string()), ("confidence", pa.float64()),
                            ("evidence", evidence)])
    return pa.schema([
        ("id", pa.string()), ("lang", pa.string()),
        ("sentiment", pa.struct([("label", pa.string()), ("scores", pa.map_(pa.string(), pa.float64()))])),
        ("touchpoints", pa.list_(touchpoint)),
        ("model", pa.struct([("name", pa.string()), ("version", pa.string())])),
        ("warnings", pa.list_(pa.string())),
        ("text", pa.string()), ("input_json", pa.string()), ("extra_json", pa.string()),
    ])


_TP_KEYS = ("touchpoint", "polarity", "confidence", "evidence")
_EV_KEYS = ("start", "end", "text")


def _prediction_record(row: Mapping[str, Any]) -> dict[str, Any]:
    extra = {k: v for k, v in row.items() if k not in PREDICTION_KEYS}
    tps = row.get("touchpoints") or []
    for t in tps:  # a key the schema has no column for: the whole row goes to extra_json unchanged
        if set(t) - set(_TP_KEYS) or (isinstance(t.get("evidence"), dict) and set(t["evidence"]) - set(_EV_KEYS)):
            extra["touchpoints"] = tps
            tps = []
            break
    sent = row.get("sentiment")
    if sent is not None and (not isinstance(sent, dict) or set(sent) - {"label", "scores"}):
        extra["sentiment"], sent = sent, None
    model = row.get("model")
    if model is not None and (not isinstance(model, dict) or set(model) - {"name", "version"}):
        extra["model"], model = model, None
    warnings = row.get("warnings")
    if warnings is not None and not (isinstance(warnings, list) and all(isinstance(w, str) for w in warnings)):
        extra["warnings"], warnings = warnings, None
    return {
        "id": None if row.get("id") is None else str(row["id"]), "lang": row.get("lang"),
        "sentiment": None if sent is None else
        {"label": sent.get("label"), "scores": list((sent.get("scores") or {}).items())},
        "touchpoints": tps, "model": model, "warnings": warnings,
        "text": row.get("text"),
        "input_json": json.dumps(row["input"], ensure_ascii=False) if "input" in row else None,
        "extra_json": json.dumps(extra, ensure_ascii=False) if extra else None,
    }


def _prediction_row(rec: Mapping[str, Any]) -> dict[str, Any]:
    extra = json.loads(rec["extra_json"]) if rec.get("extra_json") else {}
    sent = rec.get("sentiment")
    row: dict[str, Any] = {"id": rec.get("id"), "lang": rec.get("lang")}
    row["sentiment"] = extra.pop("sentiment") if "sentiment" in extra else (
        None if sent is None else {"label": sent["label"], "scores": dict(sent["scores"] or [])})
    row["touchpoints"] = extra.pop("touchpoints") if "touchpoints" in extra else rec.get("touchpoints") or []
    row["model"] = extra.pop("model") if "model" in extra else rec.get("model")
    row["warnings"] = extra.pop("warnings") if "warnings" in extra else \
        (rec.get("warnings") if rec.get("warnings") is not None else [])
    if rec.get("text") is not None:
        row["text"] = rec["text"]
    if rec.get("input_json") is not None:
        row["input"] = json.loads(rec["input_json"])
    row.update(extra)
    return row


def write_predictions_parquet(rows: Iterable[Mapping[str, Any]], dest: str | Path) -> int:
    """Prediction rows as one Parquet file (:func:`prediction_schema`), atomically. Returns the row count."""
    import pyarrow as pa

    table = pa.Table.from_pylist([_prediction_record(r) for r in rows], schema=prediction_schema())
    _write_parquet_atomic(table, dest)
    return table.num_rows


def iter_predictions_parquet(source: str | Path | IO) -> Iterator[dict[str, Any]]:
    """The prediction rows of a Parquet file written by :func:`write_predictions_parquet`, in order."""
    for _, rec in iter_parquet_records(source):
        yield _prediction_row(rec)


def write_predictions(rows: Iterable[Mapping[str, Any]], dest: str | Path | IO[str], *, fmt: str | None = None) -> int:
    """Prediction rows to JSONL (default; ``'-'`` = stdout) or Parquet (``fmt="parquet"`` or a .parquet path)."""
    if is_parquet(dest, fmt):
        return write_predictions_parquet(rows, dest)  # type: ignore[arg-type]
    return write_jsonl(rows, dest)
