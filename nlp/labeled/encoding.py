"""Decoding uploaded and local text files without silent guessing (one implementation for the CLI,
the API spool and web uploads).

The rule (docs/formats.md, "Encodings"):

1. strict UTF-8, with or without a BOM: the normal case;
2. a legacy single-byte encoding (cp1251 from Russian Excel, KOI8-R, cp866, cp1252) only when the file
   as a whole is clearly in it: it is not UTF-8 with a few stray bytes (almost no valid UTF-8 multi-byte
   sequences), ``charset-normalizer`` picks one candidate unambiguously with a confidence of at least
   :data:`MIN_CONFIDENCE`, and the whole file decodes strictly in that encoding;
3. otherwise UTF-8 with each invalid byte sequence replaced by U+FFFD, and a warning for every row
   that contained one, naming the row and the byte offset (:meth:`Decoding.line_warnings`).

:func:`detect_stream` makes the decision in one streaming pass over chunks (the spool never holds a
file in memory; only a bounded sample is given to the detector); :func:`decode` does the same for
bytes already in memory and returns the text. The decision (:meth:`Decoding.to_dict`,
:meth:`Decoding.summary`) is reported in the job status and the CLI's messages.
"""
from __future__ import annotations

import bisect
import codecs
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

log = logging.getLogger("cxlens.io")

BOM = codecs.BOM_UTF8
#: legacy encodings that may be chosen for a whole file (Python codec names)
LEGACY_ENCODINGS: tuple[str, ...] = ("cp1251", "koi8_r", "cp866", "cp1252")
#: charset-normalizer confidence (1 - its "chaos" ratio) needed to decode a file in a legacy encoding
MIN_CONFIDENCE = 0.9
#: a second candidate this close to the best one (and decoding to another text) makes the guess ambiguous
AMBIGUITY_MARGIN = 0.01
#: fewer invalid UTF-8 sequences than this are too little evidence for a legacy encoding (stray bytes)
MIN_LEGACY_EVIDENCE = 4
#: bytes of a large file given to the detector (start of the file; the strict re-decode covers the rest)
DETECT_SAMPLE_BYTES = 4 * 1024 * 1024
#: invalid sequences whose positions are kept (the count is always exact)
MAX_BAD_LISTED = 10_000
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class BadBytes:
    """One invalid UTF-8 sequence: ``offset`` = byte offset in the file (0-based, BOM included),
    ``line`` = 1-based physical line (``\\n``, ``\\r\\n`` or ``\\r`` end a line), the bytes themselves."""

    offset: int
    line: int
    raw: bytes

    def describe(self) -> str:
        n = len(self.raw)
        return (f"invalid UTF-8 byte{'s' if n > 1 else ''} {self.raw.hex(' ')} at byte offset {self.offset} "
                f"replaced with U+FFFD")


@dataclass
class Decoding:
    """The file-level decision: which codec reads the file and with which error handling."""

    encoding: str  #: Python codec: ``utf-8``, ``utf-8-sig`` or one of :data:`LEGACY_ENCODINGS`
    errors: str = "strict"  #: ``strict``, or ``replace`` for UTF-8 with bad bytes
    bom: bool = False
    confidence: float | None = None  #: the detector's confidence for a legacy encoding
    detector: str | None = None
    bad: list[BadBytes] = field(default_factory=list)
    bad_total: int = 0
    note: str | None = None  #: why a legacy guess was not taken
    _lines: list[int] = field(default_factory=list, repr=False)

    @property
    def name(self) -> str:
        """The encoding as reported: ``utf-8``, ``cp1251``, ... (the BOM is a separate flag)."""
        return "utf-8" if self.encoding.startswith("utf-8") else self.encoding

    @property
    def replaced(self) -> bool:
        return self.errors == "replace"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"encoding": self.name, "bom": self.bom, "confidence": self.confidence,
                               "invalid_bytes_replaced": self.bad_total, "decision": self.summary()}
        if self.bad:
            out["first_invalid"] = [{"line": b.line, "byte_offset": b.offset} for b in self.bad[:5]]
        return out

    def summary(self) -> str:
        if self.replaced:
            first = self.bad[0] if self.bad else None
            where = f"; first at line {first.line}, byte offset {first.offset}" if first else ""
            why = f" ({self.note})" if self.note else ""
            return (f"utf-8 with {self.bad_total} invalid byte sequence{'s' if self.bad_total != 1 else ''} "
                    f"replaced by U+FFFD{where}{why}")
        if self.encoding in LEGACY_ENCODINGS:
            conf = f", confidence {self.confidence:.2f}" if self.confidence is not None else ""
            return f"{self.encoding} (whole file; detected by {self.detector or 'detector'}{conf})"
        return "utf-8 with BOM" if self.bom else "utf-8"

    def bad_in_lines(self, first: int, last: int) -> list[BadBytes]:
        """Invalid sequences on physical lines ``first..last`` (inclusive)."""
        if not self.bad:
            return []
        lines = self._lines or [b.line for b in self.bad]
        lo = bisect.bisect_left(lines, first)
        hi = bisect.bisect_right(lines, last)
        return self.bad[lo:hi]

    def line_warnings(self, first: int, last: int, *, row: int | None = None) -> list[str]:
        """One warning per invalid sequence on lines ``first..last`` (a row's lines), naming the row."""
        prefix = f"row {row}: " if row is not None else ""
        return [prefix + b.describe() for b in self.bad_in_lines(first, last)]

    def _finish(self) -> "Decoding":
        self._lines = [b.line for b in self.bad]
        return self


class _LineCounter:
    """Physical lines of a byte stream, as ``open(newline='')`` and ``io.StringIO(newline='')`` see them."""

    def __init__(self) -> None:
        self.breaks = 0
        self.pending_cr = False

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        crlf = chunk.count(b"\r\n")
        self.breaks += chunk.count(b"\n") + chunk.count(b"\r") - crlf
        if self.pending_cr and chunk[:1] == b"\n":
            self.breaks -= 1  # a \r\n split across chunks is one line break
        self.pending_cr = chunk[-1:] == b"\r"

    def line_at(self, chunk: bytes, pos: int) -> int:
        """1-based line of byte ``pos`` of ``chunk`` (the counter has seen everything before ``chunk``)."""
        head = chunk[:pos]
        n = head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n")
        if self.pending_cr and head[:1] == b"\n":
            n -= 1
        return self.breaks + n + 1


def _is_utf8(chunks: Iterable[bytes]) -> bool:
    dec = codecs.getincrementaldecoder("utf-8")()
    try:
        for c in chunks:
            dec.decode(c)
        dec.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _decodes_strictly(chunks: Iterable[bytes], encoding: str) -> bool:
    dec = codecs.getincrementaldecoder(encoding)()
    try:
        for c in chunks:
            dec.decode(c)
        dec.decode(b"", final=True)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _scan_invalid(chunks: Iterable[bytes]) -> tuple[list[BadBytes], int, int]:
    """(listed invalid sequences, their total count, count of valid non-ASCII characters) of UTF-8 data."""
    bad: list[BadBytes] = []
    total = 0
    valid_non_ascii = 0
    lines = _LineCounter()
    offset = 0  # of the start of ``carry + chunk`` in the file
    carry = b""
    for chunk in chunks:
        data = carry + chunk
        # keep an incomplete multi-byte sequence at the end for the next chunk
        cut = len(data)
        for k in range(1, min(4, len(data)) + 1):
            b = data[-k]
            if b < 0x80:
                break
            if b >= 0xC0:
                need = 2 if b < 0xE0 else 3 if b < 0xF0 else 4
                if need > k:
                    cut = len(data) - k
                break
        part, carry = data[:cut], data[cut:]
        t, v = _scan_part(part, offset, lines, bad)
        total += t
        valid_non_ascii += v
        lines.feed(part)
        offset += len(part)
    if carry:
        t, v = _scan_part(carry, offset, lines, bad)
        total += t
        valid_non_ascii += v
    return bad, total, valid_non_ascii


_TLS = threading.local()
_ASCII = bytes(range(128))


def _record_error(e: UnicodeDecodeError) -> tuple[str, int]:
    _TLS.spans.append((e.start, e.end))
    return "\ufffd", e.end


codecs.register_error("cxlens-record", _record_error)


def _scan_part(part: bytes, offset: int, lines: _LineCounter, bad: list[BadBytes]) -> tuple[int, int]:
    """(invalid sequences, valid non-ASCII characters) of ``part``; positions appended to ``bad``."""
    ascii_n = len(part) - len(part.translate(None, _ASCII))
    if len(bad) >= MAX_BAD_LISTED:  # positions no longer kept: count in C
        text = part.decode("utf-8", "replace")
        n_bad = text.count("\ufffd") - part.count("\ufffd".encode("utf-8"))
        return n_bad, len(text) - ascii_n - n_bad
    _TLS.spans = []
    try:
        text = part.decode("utf-8", "cxlens-record")
        spans = _TLS.spans
    finally:
        _TLS.spans = []
    valid = len(text) - ascii_n - len(spans)
    prev, line = 0, None
    for start, end in spans:
        if len(bad) >= MAX_BAD_LISTED:
            break
        if line is None:
            line = lines.line_at(part, start)
        else:
            seg = part[prev:start]
            line += seg.count(b"\n") + seg.count(b"\r") - seg.count(b"\r\n")
            if part[prev - 1:prev] == b"\r" and seg[:1] == b"\n":
                line -= 1
        bad.append(BadBytes(offset=offset + start, line=line, raw=part[start:end]))
        prev = start
    return len(spans), valid


def _detector_choice(sample: bytes) -> tuple[str | None, float | None, str | None]:
    """(encoding, confidence, reason for refusing) from charset-normalizer on ``sample``."""
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - a pinned dependency
        return None, None, "charset-normalizer is not installed"
    matches = list(from_bytes(sample, cp_isolation=list(LEGACY_ENCODINGS)))
    if not matches:
        return None, None, "no legacy encoding fits the file"
    matches.sort(key=lambda m: m.chaos)
    best = matches[0]
    confidence = round(1.0 - float(best.chaos), 3)
    if confidence < MIN_CONFIDENCE:
        return None, confidence, f"best legacy candidate {best.encoding} has confidence {confidence:.2f}"
    best_text = str(best)
    for other in matches[1:]:
        if other.chaos - best.chaos <= AMBIGUITY_MARGIN and str(other) != best_text:
            return None, confidence, f"ambiguous between {best.encoding} and {other.encoding}"
    return best.encoding, confidence, None


def detect_stream(open_chunks) -> Decoding:
    """Decide the encoding of a file given as ``open_chunks()``: a callable returning a fresh iterator of
    byte chunks (it is called up to four times: UTF-8 check, scan, detector sample, strict re-decode)."""
    head = b""
    for c in open_chunks():
        head = c[:3]
        break
    bom = head.startswith(BOM)
    if _is_utf8(open_chunks()):
        return Decoding(encoding="utf-8-sig" if bom else "utf-8", bom=bom)
    bad, total, valid_non_ascii = _scan_invalid(open_chunks())
    note = None
    if bom:
        note = "the file starts with a UTF-8 BOM"
    elif valid_non_ascii > total // 100:
        note = None  # UTF-8 text with stray bytes: never a legacy file
    elif total < MIN_LEGACY_EVIDENCE:
        note = f"not clearly a legacy encoding: only {total} non-UTF-8 byte sequence{'s' if total != 1 else ''}"
    else:
        sample = bytearray()
        for c in open_chunks():
            sample += c[: DETECT_SAMPLE_BYTES - len(sample)]
            if len(sample) >= DETECT_SAMPLE_BYTES:
                break
        enc, conf, why = _detector_choice(bytes(sample))
        if enc is not None:
            if _decodes_strictly(open_chunks(), enc):
                return Decoding(encoding=enc, confidence=conf, detector="charset-normalizer")
            why = f"{enc} (confidence {conf:.2f}) does not decode the whole file"
        note = f"not clearly a legacy encoding: {why}"
    return Decoding(encoding="utf-8-sig" if bom else "utf-8", errors="replace", bom=bom, bad=bad, bad_total=total,
                    note=note)._finish()


def _chunks_of(data: bytes, size: int = CHUNK) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


def file_chunks(path: str | Path, size: int = CHUNK) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while True:
            c = fh.read(size)
            if not c:
                return
            yield c


def detect_bytes(data: bytes) -> Decoding:
    return detect_stream(lambda: _chunks_of(data))


def detect_file(path: str | Path) -> Decoding:
    """The decision for a file on disk, in a streaming pass (big uploads are never loaded whole)."""
    return detect_stream(lambda: file_chunks(path))


def decode(data: bytes) -> tuple[str, Decoding]:
    """Bytes -> (text, decision). A BOM is dropped; invalid UTF-8 is replaced only per the rule above."""
    d = detect_bytes(data)
    text = data.decode(d.encoding, errors=d.errors)
    return text, d


def log_decision(source: str, d: Decoding) -> None:
    """Say what was done when it is not plain UTF-8 (WARNING: the CLI shows it on stderr)."""
    if d.replaced or d.encoding in LEGACY_ENCODINGS:
        log.warning("%s: decoded as %s", source, d.summary())


__all__ = ["BadBytes", "Decoding", "LEGACY_ENCODINGS", "MIN_CONFIDENCE", "decode", "detect_bytes", "detect_file",
           "detect_stream", "file_chunks", "log_decision"]
