"""Uploads are streamed to a spool file in the data dir (never held in memory) and read back row by
row: JSONL line by line, CSV through ``csv.DictReader`` over the open file. Row numbers and error
semantics are those of ``nlp.labeled.formats.iter_records`` (1-based data rows; a bad row yields a DataError).
"""
from __future__ import annotations

import csv
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator

from python_multipart.multipart import MultipartParser, parse_options_header

from nlp.labeled.encoding import Decoding, detect_file
from nlp.errors import DataError
from nlp.labeled.formats import RowWarning, sniff_delimiter

from ..errors import ApiError, PayloadTooLarge, UnsupportedMediaType

JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
JSONL_TYPES = {"application/x-ndjson", "application/jsonl", "application/x-jsonlines", "application/ndjson",
               "application/json-seq"}
BINARY_SUFFIXES = {".xlsx", ".xls", ".xlsm", ".ods", ".zip", ".gz", ".bz2", ".xz", ".7z", ".pdf", ".doc", ".docx",
                   ".parquet"}
CSV_TYPES = {"text/csv", "text/tab-separated-values", "application/csv"}
#: form fields other than the file are small
MAX_FIELD_BYTES = 64 * 1024
#: a JSON *array* file has to be parsed whole: only up to this size
MAX_JSON_ARRAY_BYTES = 64 * 1024 * 1024
_CHUNK = 1024 * 1024


@dataclass
class Spooled:
    path: Path
    filename: str = ""
    content_type: str = ""
    size: int = 0
    #: newline count (+1 for a last line without newline): an upper bound of the row count
    lines: int = 0
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def new_spool_path(spool_dir: Path, suffix: str = "") -> Path:
    spool_dir.mkdir(parents=True, exist_ok=True)
    suffix = suffix.lower() if suffix and len(suffix) <= 8 and suffix[1:].isalnum() else ""
    return spool_dir / f"{uuid.uuid4().hex}{suffix}"


class _Writer:
    """Writes upload bytes to a file, counting bytes and lines, enforcing the size cap."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.fh = open(path, "wb")
        self.size = 0
        self.lines = 0
        self.last = b""

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.size += len(data)
        if self.size > self.max_bytes:
            raise PayloadTooLarge(f"the upload is larger than the limit of {self.max_bytes} bytes")
        self.lines += data.count(b"\n")
        self.last = data[-1:]
        self.fh.write(data)

    def close(self) -> None:
        if not self.fh.closed:
            self.fh.close()
        if self.size and self.last != b"\n":
            self.lines += 1


async def spool_raw(stream: AsyncIterator[bytes], *, spool_dir: Path, max_bytes: int, suffix: str = "",
                    content_type: str = "", filename: str = "") -> Spooled:
    """Write a raw request body (e.g. ``application/x-ndjson`` or ``text/csv``) to a spool file."""
    path = new_spool_path(spool_dir, suffix)
    w = _Writer(path, max_bytes)
    try:
        async for chunk in stream:
            w.write(chunk)
    except BaseException:
        w.close()
        path.unlink(missing_ok=True)
        raise
    w.close()
    return Spooled(path=path, filename=filename, content_type=content_type, size=w.size, lines=w.lines)


async def spool_multipart(stream: AsyncIterator[bytes], content_type_header: str, *, spool_dir: Path, max_bytes: int,
                          file_field: str = "file") -> Spooled:
    """Parse a ``multipart/form-data`` body as it arrives: the ``file_field`` part goes to a spool file,
    the other (small) fields are returned as strings. Exactly one file is expected."""
    _, params = parse_options_header(content_type_header)
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError("multipart body without a boundary", code="bad_multipart")
    state: dict[str, Any] = {"headers": {}, "hname": b"", "hvalue": b"", "name": None, "filename": None,
                             "ctype": "", "buf": None, "writer": None}
    fields: dict[str, str] = {}
    result: dict[str, Any] = {}

    def on_part_begin() -> None:
        state.update(headers={}, hname=b"", hvalue=b"", name=None, filename=None, ctype="", buf=None)

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["hname"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["hvalue"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["hname"].decode("latin-1").lower()] = state["hvalue"]
        state["hname"], state["hvalue"] = b"", b""

    def on_headers_finished() -> None:
        disp, opts = parse_options_header(state["headers"].get("content-disposition", b""))
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        state["name"] = name
        if name == file_field:
            if result.get("path") is not None:
                raise ApiError(f"more than one '{file_field}' part", code="bad_multipart")
            fname = opts.get(b"filename", b"").decode("utf-8", "replace")
            state["filename"] = fname
            ctype = state["headers"].get("content-type", b"").decode("latin-1")
            path = new_spool_path(spool_dir, Path(fname).suffix if fname else "")
            state["writer"] = _Writer(path, max_bytes)
            result.update(path=path, filename=fname, content_type=ctype)
        else:
            state["buf"] = bytearray()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["writer"] is not None and state["name"] == file_field:
            state["writer"].write(data[start:end])
        elif state["buf"] is not None:
            state["buf"] += data[start:end]
            if len(state["buf"]) > MAX_FIELD_BYTES:
                raise PayloadTooLarge(f"form field '{state['name']}' is larger than {MAX_FIELD_BYTES} bytes")

    def on_part_end() -> None:
        if state["name"] == file_field and state["writer"] is not None:
            state["writer"].close()
            result.update(size=state["writer"].size, lines=state["writer"].lines)
            state["writer"] = None
        elif state["buf"] is not None and state["name"]:
            fields[state["name"]] = bytes(state["buf"]).decode("utf-8", "replace")

    parser = MultipartParser(boundary, callbacks={
        "on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_part_end": on_part_end,
        "on_header_field": on_header_field, "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished,
    })
    try:
        async for chunk in stream:
            if chunk:
                parser.write(chunk)
        parser.finalize()
    except ApiError:
        _cleanup(state, result)
        raise
    except Exception as e:  # noqa: BLE001 - a malformed multipart body is the client's fault
        _cleanup(state, result)
        raise ApiError(f"malformed multipart body: {type(e).__name__}", code="bad_multipart") from e
    except BaseException:
        _cleanup(state, result)
        raise
    if state["writer"] is not None:  # body ended inside the file part
        _cleanup(state, result)
        raise ApiError("malformed multipart body: the file part is not terminated", code="bad_multipart")
    if result.get("path") is None:
        raise ApiError(f"no '{file_field}' part in the multipart body", code="missing_file",
                       details=[{"loc": ["body", file_field], "msg": "field required"}], status_code=422)
    return Spooled(path=result["path"], filename=result.get("filename", ""), content_type=result.get("content_type", ""),
                   size=result.get("size", 0), lines=result.get("lines", 0), fields=fields)


def _cleanup(state: dict[str, Any], result: dict[str, Any]) -> None:
    w = state.get("writer")
    if w is not None:
        w.close()
    if result.get("path") is not None:
        Path(result["path"]).unlink(missing_ok=True)


def media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def detect_table_format(*, explicit: str | None, filename: str, content_type: str, path: Path) -> str:
    """``jsonl`` or ``csv`` from an explicit choice, the file name, the content type, or the first byte."""
    if explicit:
        fmt = explicit.strip().lower()
        if fmt in ("jsonl", "ndjson", "json"):
            return "jsonl"
        if fmt in ("csv", "tsv"):
            return "csv"
        raise DataError(field="format", expected="jsonl or csv", found=explicit)
    suffix = Path(filename or "").suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in CSV_SUFFIXES:
        return "csv"
    ctype = media_type(content_type)
    if ctype in JSONL_TYPES or ctype == "application/json":
        return "jsonl"
    if ctype in CSV_TYPES:
        return "csv"
    if suffix in BINARY_SUFFIXES:
        raise UnsupportedMediaType(f"unsupported file type '{suffix}': upload JSONL or CSV")
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "jsonl" if head[:1] in (b"{", b"[") else "csv"


def file_encoding(path: Path) -> Decoding:
    """The file-level encoding decision of :mod:`nlp.labeled.encoding` (strict UTF-8 with or without BOM; a legacy
    encoding only when the whole file is clearly in it; else UTF-8 with the bad bytes replaced), made in a
    streaming pass: the upload is never loaded whole."""
    return detect_file(path)


def iter_spooled(path: Path, fmt: str, *, source: str | None = None, on_warning: RowWarning | None = None,
                 on_decoding: Callable[[Decoding], None] | None = None) -> Iterator[tuple[int, dict | DataError]]:
    """Stream ``(row_no, record | DataError)`` from a spool file without loading it whole.

    ``on_decoding(decision)`` is called once with the file's encoding decision (:func:`file_encoding`);
    ``on_warning(row, message)`` for every row whose invalid bytes were replaced (naming the byte offset)."""
    name = source or path.name
    if fmt not in ("jsonl", "csv"):
        raise DataError(field="format", expected="jsonl or csv", found=fmt)
    dec = file_encoding(path)
    if on_decoding is not None:
        on_decoding(dec)
    enc, errors = dec.encoding, dec.errors

    def warn_lines(row: int, first: int, last: int) -> None:
        if dec.bad and on_warning is not None:
            for msg in dec.line_warnings(first, last, row=row):
                on_warning(row, msg)

    if fmt == "jsonl":
        with open(path, "rb") as fh:
            head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        if head[:1] == b"[":
            size = os.path.getsize(path)
            if size > MAX_JSON_ARRAY_BYTES:
                yield 1, DataError("a JSON array file is too large to stream", source=name, row=1,
                                   expected=f"JSON Lines, or an array of at most {MAX_JSON_ARRAY_BYTES} bytes",
                                   found=f"{size} bytes")
                return
            with open(path, "rb") as fh:
                text = fh.read().decode(enc, errors)
            if dec.bad and on_warning is not None:
                for b in dec.bad:
                    on_warning(1, f"line {b.line}: {b.describe()}")
            try:
                arr = json.loads(text)
            except json.JSONDecodeError as e:
                yield 1, DataError(f"invalid JSON: {e.msg}", source=name, row=1, expected="a JSON array of objects",
                                   found=text.lstrip()[:40])
                return
            if not isinstance(arr, list):
                yield 1, DataError(source=name, row=1, expected="a JSON array of objects", found=type(arr).__name__)
                return
            for i, obj in enumerate(arr, 1):
                yield i, obj if isinstance(obj, dict) else DataError(source=name, row=i, expected="a JSON object",
                                                                     found=obj)
            return
        with open(path, "rb") as fh:
            for i, raw in enumerate(fh, 1):
                line = raw.decode(enc if i == 1 else ("utf-8" if enc == "utf-8-sig" else enc), errors)
                if not line.strip():
                    continue
                warn_lines(i, i, i)
                try:
                    obj = json.loads(line)
                except (json.JSONDecodeError, RecursionError) as e:
                    msg = getattr(e, "msg", "too deeply nested")
                    yield i, DataError(f"invalid JSON: {msg}", source=name, row=i, expected="one JSON object per line",
                                       found=line.strip())
                    continue
                yield i, obj if isinstance(obj, dict) else DataError(source=name, row=i, expected="a JSON object",
                                                                     found=obj)
        return
    with open(path, encoding=enc, errors=errors, newline="") as fh:
        sample = fh.read(8192)
        complete = not fh.read(1)
        fh.seek(0)
        delim = sniff_delimiter(sample, complete=complete)
        csv.field_size_limit(16 * 1024 * 1024)
        reader = csv.DictReader(fh, delimiter=delim)
        try:
            fieldnames = reader.fieldnames
        except csv.Error as e:
            yield 1, DataError(f"invalid CSV: {e}", source=name, row=1)
            return
        if fieldnames is None:
            return
        reader.fieldnames = [(f or "").strip() for f in fieldnames]
        warn_lines(0, 1, reader.line_num)
        last_line = reader.line_num
        i = 0
        while True:
            i += 1
            try:
                rec = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                yield i, DataError(f"invalid CSV: {e}", source=name, row=i)
                return
            warn_lines(i, last_line + 1, reader.line_num)
            last_line = reader.line_num
            extra = rec.pop(None, None)
            if extra:
                yield i, DataError("more cells than header columns", source=name, row=i,
                                   expected=f"{len(reader.fieldnames)} columns", found=len(reader.fieldnames) + len(extra))
                continue
            yield i, {k: v for k, v in rec.items() if k}
