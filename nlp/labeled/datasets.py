"""Analysts' labeled datasets: import (JSONL, analyst CSV, XLSX, Label Studio and Argilla exports),
validation that lists every bad row and keeps the good ones, and a content-addressed store.

Layout: ``<data_dir>/datasets/<name>/meta.json`` (``kind``, ``owner``, every version: sha256, rows,
label distribution, source, format; ``current`` = the latest) and the rows:

* an **imported** dataset (``cxlens datasets import``, ``POST /v1/datasets``; admins only over the API)
  keeps each distinct imported content once, ``<name>/<sha256>.jsonl`` (rows in the JSONL training
  schema); importing the same content again stores nothing;
* a **feedback** dataset (corrections, :func:`record_feedback`) is an append-only log,
  ``<name>/feedback.jsonl``: one line per accepted correction with who (``by``, ``key``) and when
  (``at``); a version is a prefix of the log (``log_rows``), so each call stores only its own rows (a
  delta), never a copy of the dataset. Reading a version replays the prefix; a later correction of the
  same comment (same normalised text) replaces the earlier one. ``owner`` is the API key that created
  it (``None``: the local CLI user); ``contributors`` counts rows and characters per key (quotas).

A spec is ``NAME`` (the current version) or ``NAME@HASHPREFIX``.

Every analyst dataset has a fixed evaluation split: a row is held out when a hash of its normalised
text falls in the lowest 20 % (:func:`is_eval_row`). The rule depends on the text only, so a comment
stays on the same side whatever dataset, file order or version it comes in, and held-out rows never
enter training (docs/retraining.md).

Taxonomy changes: adding a touchpoint is free; removing or renaming one needs an explicit mapping
(``old=new`` or ``old=`` to drop it), applied to all training and evaluation data
(:func:`parse_mapping`, :func:`apply_mapping`, :func:`check_taxonomy_change`).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from ..config import data_dir
from ..errors import DataError
from ..locks import atomic_write_text, dir_lock
from ..schema import Aspect, Example, example_from_dict
from ..taxonomy import Taxonomy
from .cells import unescape_cell
from .formats import decode_bytes, iter_records, normalize_labeled_record, parse_touchpoints_cell, read_xlsx

FORMATS: tuple[str, ...] = ("auto", "jsonl", "csv", "xlsx", "labelstudio", "argilla")
EVAL_SHARE = 0.2
META_FILE = "meta.json"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: a touchpoints cell that explicitly says "none present"
NONE_CELLS = {"-", "none", "нет", "—"}
#: Label Studio / Argilla question names
SENTIMENT_QUESTIONS = ("sentiment",)
TOUCHPOINT_QUESTIONS = ("touchpoints", "touchpoint")
POLARITY_QUESTIONS = ("polarity",)
FEEDBACK_DATASET = "feedback"
FEEDBACK_LOG = "feedback.jsonl"
KINDS = ("imported", "feedback")


# -- splitting and hashing -------------------------------------------------------------------------
def normalize_text(text: str) -> str:
    return " ".join(text.lower().replace("ё", "е").split())


def text_bucket(text: str, *, salt: str = "cxlens-eval") -> float:
    """Deterministic number in [0, 1) from the normalised text (stable across runs and platforms)."""
    h = hashlib.sha256(f"{salt}:{normalize_text(text)}".encode("utf-8")).hexdigest()
    return int(h[:13], 16) / 16**13


def is_eval_row(text: str, share: float = EVAL_SHARE) -> bool:
    """True for the fixed ~20 % evaluation split of analyst data (never used for training)."""
    return text_bucket(text) < share


def split_eval(examples: Sequence[Example], share: float = EVAL_SHARE) -> tuple[list[Example], list[Example]]:
    """(train, eval) by :func:`is_eval_row`."""
    train, held = [], []
    for e in examples:
        (held if is_eval_row(e.text, share) else train).append(e)
    return train, held


def content_hash(rows: Sequence[Mapping[str, Any]]) -> str:
    h = hashlib.sha256()
    for r in rows:
        h.update(json.dumps(r, ensure_ascii=False, sort_keys=True).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def label_distribution(examples: Sequence[Example]) -> dict[str, Any]:
    return {"sentiment": dict(sorted(Counter(e.sentiment for e in examples if e.sentiment).items())),
            "touchpoints": dict(sorted(Counter(a.category for e in examples for a in e.aspects or []).items())),
            "touchpoint_polarity": dict(sorted(Counter(f"{a.category}:{a.polarity}" for e in examples
                                                       for a in e.aspects or []).items()))}


def taxonomy_hash(taxonomy: Taxonomy) -> str:
    return hashlib.sha256(json.dumps(taxonomy.to_dict(), ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()


def taxonomy_info(taxonomy: Taxonomy) -> dict[str, Any]:
    return {"version": taxonomy.version, "sha256": taxonomy_hash(taxonomy), "ids": taxonomy.ids}


# -- taxonomy changes ------------------------------------------------------------------------------
def parse_mapping(items: Iterable[str] | Mapping[str, str | None] | None) -> dict[str, str | None]:
    """``["old=new", "gone="]`` -> ``{"old": "new", "gone": None}`` (``None`` = drop the label)."""
    if not items:
        return {}
    if isinstance(items, Mapping):
        return {str(k).strip(): (str(v).strip() or None) if v is not None else None for k, v in items.items()}
    out: dict[str, str | None] = {}
    for item in items:
        old, sep, new = str(item).partition("=")
        if not sep or not old.strip():
            raise DataError(field="--map", expected="OLD=NEW (or OLD= to drop a touchpoint)", found=item)
        out[old.strip()] = new.strip() or None
    return out


def apply_mapping(examples: Sequence[Example], mapping: Mapping[str, str | None]) -> list[Example]:
    """Rename / drop touchpoints; two aspects that end up on the same touchpoint keep the first."""
    if not mapping:
        return list(examples)
    out = []
    for e in examples:
        if e.aspects is None:
            out.append(e)
            continue
        aspects, seen = [], set()
        for a in e.aspects:
            cat = mapping.get(a.category, a.category) if a.category in mapping else a.category
            if cat is None:
                continue
            key = (cat, a.polarity, a.start, a.end)
            if key in seen:
                continue
            seen.add(key)
            aspects.append(Aspect(cat, a.polarity, a.start, a.end))
        out.append(Example(text=e.text, sentiment=e.sentiment, aspects=aspects, id=e.id, lang=e.lang,
                           extra=dict(e.extra)))
    return out


def check_taxonomy_change(old_ids: Sequence[str], new_ids: Sequence[str], mapping: Mapping[str, str | None]) -> dict:
    """Adding touchpoints is allowed; each removed (or renamed) one needs ``old=new`` / ``old=``.
    Returns ``{"added", "removed", "mapping"}``; raises :class:`DataError` naming what is missing."""
    old, new = list(old_ids), list(new_ids)
    removed = [t for t in old if t not in new]
    unmapped = [t for t in removed if t not in mapping]
    if unmapped:
        raise DataError(f"touchpoints removed from the taxonomy without a mapping: {', '.join(unmapped)}",
                        field="--map", expected="OLD=NEW for a rename or OLD= to drop, for each removed touchpoint",
                        found="no mapping")
    bad_targets = sorted({v for v in mapping.values() if v is not None and v not in new})
    if bad_targets:
        raise DataError(f"--map targets not in the taxonomy: {', '.join(bad_targets)}", field="--map",
                        expected=f"targets among {new}", found=bad_targets)
    return {"added": [t for t in new if t not in old], "removed": removed,
            "mapping": {k: v for k, v in mapping.items()}}


def unknown_labels(examples: Sequence[Example], known: Iterable[str]) -> dict[str, int]:
    known = set(known)
    return dict(Counter(a.category for e in examples for a in e.aspects or [] if a.category not in known))


# -- reading the formats ---------------------------------------------------------------------------
def detect_labeled_format(path: str | Path) -> str:
    """The format of a labeled file (a superset of :func:`nlp.labeled.formats.detect_format`, which tells
    only JSONL, CSV and Parquet records apart): from the suffix; ``.json`` files are looked into (Label
    Studio tasks, Argilla records)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    if suffix in (".json", ".jsonl", ".ndjson"):
        if not p.exists():
            raise DataError("file not found", source=str(p), expected="an existing file", found=str(p))
        head = decode_bytes(p.read_bytes()[:200_000]).lstrip()
        first = _first_json_object(head)
        if isinstance(first, dict):
            if "annotations" in first or ("data" in first and isinstance(first.get("data"), dict)):
                return "labelstudio"
            if "fields" in first or "responses" in first or "annotation" in first or "inputs" in first:
                return "argilla"
        return "jsonl"
    raise DataError("unknown file type", source=str(p), field="--format",
                    expected="a .jsonl, .csv, .xlsx or .json file, or --format", found=suffix or p.name)


def _first_json_object(text: str) -> Any:
    if text.startswith("["):
        try:
            arr = json.loads(text)
            return arr[0] if isinstance(arr, list) and arr else None
        except json.JSONDecodeError:
            pass  # truncated sample: find the first object by hand
        depth, start = 0, None
        in_str = esc = False
        for i, ch in enumerate(text):
            if in_str:
                if esc:
                    esc = False
                elif ch == "\\":
                    esc = True
                elif ch == '"':
                    in_str = False
            elif ch == '"':
                in_str = True
            elif ch == "{":
                depth += 1
                if depth == 1:
                    start = i
            elif ch == "}":
                depth -= 1
                if depth == 0 and start is not None:
                    try:
                        return json.loads(text[start: i + 1])
                    except json.JSONDecodeError:
                        return None
        return None
    line = text.split("\n", 1)[0]
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None


def _load_json_items(path: Path) -> list[tuple[int, Any]]:
    text = decode_bytes(path.read_bytes())
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            arr = json.loads(stripped)
        except json.JSONDecodeError as e:
            raise DataError(f"invalid JSON: {e.msg} (line {e.lineno})", source=str(path),
                            expected="a JSON array of tasks/records", found="unparseable file") from None
        if not isinstance(arr, list):
            raise DataError(source=str(path), expected="a JSON array", found=type(arr).__name__)
        return list(enumerate(arr, 1))
    if stripped.startswith("{") and "\n" not in stripped.strip():
        return [(1, json.loads(stripped))]
    out: list[tuple[int, Any]] = []
    for i, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            out.append((i, json.loads(line)))
        except json.JSONDecodeError as e:
            out.append((i, DataError(f"invalid JSON: {e.msg}", source=str(path), row=i,
                                     expected="one JSON object per line", found=line)))
    return out


def _cell_text(v: Any) -> str | None:
    """A workbook cell as CSV would have it: text, a whole-number float without ``.0``, empty as None."""
    if v is None or isinstance(v, str):
        return v
    return str(int(v) if isinstance(v, float) and v.is_integer() else v)


def _iter_xlsx(path: Path) -> Iterator[tuple[int, dict | DataError]]:
    for i, rec in read_xlsx(path)[1]:
        yield i, {k: _cell_text(v) for k, v in rec.items()}


def _clean_flat_record(rec: dict) -> dict:
    """CSV/XLSX cells: empty strings are missing values; an explicit 'none' touchpoints cell is []."""
    out = {}
    for k, v in rec.items():
        if isinstance(v, str):
            v = unescape_cell(v.strip())  # a cell this product wrote spreadsheet-safe ('=...) reads back as is
            if not v and k != "text":
                v = None
        out[k] = v
    cell = out.get("touchpoints")
    if isinstance(cell, str) and cell.strip().lower() in NONE_CELLS:
        out["touchpoints"] = ""
    return out


def _flat_record_to_example(rec: dict, *, row: int, source: str, labels, mapping) -> Example:
    rec = _clean_flat_record(rec)
    if rec.get("sentiment") is None and rec.get("touchpoints") is None and rec.get("aspects") is None:
        raise DataError("row has no labels", field="sentiment/touchpoints",
                        expected="a sentiment and/or touchpoints ('-' for none)", found=None, row=row, source=source)
    if rec.get("touchpoints") is None and "aspects" not in rec:
        rec.pop("touchpoints", None)
    return _finish(rec, row=row, source=source, labels=labels, mapping=mapping, flat=True)


def _finish(rec: dict, *, row, source, labels, mapping, flat: bool = False) -> Example:
    """Map labels, then validate with the shared schema (unknown label, polarity, offsets, evidence)."""
    rec = normalize_labeled_record(rec, row=row, source=source, flat=flat)
    if isinstance(rec.get("aspects"), list):
        aspects = []
        for a in rec["aspects"]:
            if isinstance(a, dict):
                a = dict(a)
                if isinstance(a.get("polarity"), str):
                    a["polarity"] = a["polarity"].strip().lower()
                cat = a.get("category")
                if isinstance(cat, str) and mapping and cat.strip() in mapping:
                    new = mapping[cat.strip()]
                    if new is None:
                        continue
                    a["category"] = new
            aspects.append(a)
        rec["aspects"] = aspects
    if rec.get("sentiment") is None and rec.get("aspects") is None:
        raise DataError("row has no labels", field="sentiment/touchpoints",
                        expected="a sentiment and/or touchpoints", found=None, row=row, source=source)
    return example_from_dict(rec, row=row, source=source, labels=labels)


# Label Studio ------------------------------------------------------------------------------------
def _ls_annotation(task: dict) -> dict | None:
    anns = [a for a in task.get("annotations") or task.get("completions") or []
            if isinstance(a, dict) and not a.get("was_cancelled")]
    if not anns:
        return None
    return max(enumerate(anns), key=lambda ia: (str(ia[1].get("updated_at") or ia[1].get("created_at") or ""), ia[0]))[1]


def _split_label(value: str) -> tuple[str, str | None]:
    cat, sep, pol = str(value).partition(":")
    return cat.strip(), (pol.strip().lower() or None) if sep else None


def labelstudio_to_record(task: Any, *, row: int, source: str, text_key: str = "text") -> dict:
    """One Label Studio task (JSON export) -> a training-schema dict (docs/retraining.md)."""
    if not isinstance(task, dict):
        raise DataError(expected="a Label Studio task object", found=type(task).__name__, row=row, source=source)
    data = task.get("data")
    if not isinstance(data, dict):
        raise DataError(field="data", expected="an object with the task's text", found=data, row=row, source=source)
    text = data.get(text_key)
    ann = _ls_annotation(task)
    if ann is None:
        raise DataError("task not annotated (no annotation that is not cancelled)", field="annotations",
                        expected="at least one submitted annotation", found=0, row=row, source=source)
    results = [r for r in ann.get("result") or [] if isinstance(r, dict)]
    sentiment = None
    aspects: list[dict] = []
    region_polarity: dict[str, str] = {}
    spans: list[tuple[str, dict]] = []
    for r in results:
        rtype, name, value = r.get("type"), str(r.get("from_name") or ""), r.get("value") or {}
        if rtype == "choices":
            choices = [str(c) for c in value.get("choices") or []]
            if "start" in value and r.get("id") is not None:  # per-region choice (polarity of a span)
                if choices:
                    region_polarity[str(r["id"])] = choices[0].strip().lower()
                continue
            if name in SENTIMENT_QUESTIONS:
                sentiment = choices[0].strip().lower() if choices else None
            elif name in TOUCHPOINT_QUESTIONS:
                for c in choices:
                    cat, pol = _split_label(c)
                    aspects.append({"category": cat, "polarity": pol})
        elif rtype in ("labels", "hypertextlabels"):
            spans.append((str(r.get("id")), value))
    for rid, value in spans:
        for lab in value.get("labels") or []:
            cat, pol = _split_label(lab)
            pol = pol or region_polarity.get(rid)
            a = {"category": cat, "polarity": pol, "from": value.get("start"), "to": value.get("end")}
            if value.get("text") is not None:
                a["target"] = value.get("text")
            aspects.append(a)
    for a in aspects:
        if a["polarity"] is None:
            raise DataError("touchpoint without polarity", field="touchpoints",
                            expected="'touchpoint:polarity' or a per-region 'polarity' choice", found=a["category"],
                            row=row, source=source)
    rec = {"id": data.get("id", task.get("id")), "text": text, "sentiment": sentiment, "aspects": aspects}
    if data.get("lang"):
        rec["lang"] = data["lang"]
    if not any(r.get("from_name") in TOUCHPOINT_QUESTIONS or r.get("type") in ("labels", "hypertextlabels")
               for r in results):
        rec["aspects"] = None  # decided for the whole file in read_labeled_file
    return rec


# Argilla -----------------------------------------------------------------------------------------
def _argilla_responses(rec: dict) -> dict[str, list[Any]]:
    """question -> submitted values, from the v2 export (``responses: {q: [{value, user_id, status?}]}``)
    or the v1 FeedbackDataset export (``responses: [{values: {q: {value}}, status}]``)."""
    out: dict[str, list[Any]] = {}
    resp = rec.get("responses")
    if isinstance(resp, dict):
        for q, items in resp.items():
            for it in items if isinstance(items, list) else [items]:
                if isinstance(it, dict) and it.get("status", "submitted") == "submitted" and "value" in it:
                    out.setdefault(q, []).append(it["value"])
    elif isinstance(resp, list):
        for it in resp:
            if not isinstance(it, dict) or it.get("status", "submitted") != "submitted":
                continue
            for q, v in (it.get("values") or {}).items():
                if isinstance(v, dict) and "value" in v:
                    out.setdefault(q, []).append(v["value"])
    return out


def _consensus(values: list[Any]) -> Any:
    """The most common answer among annotators (ties: the first given)."""
    keys = [json.dumps(v, sort_keys=True, ensure_ascii=False) for v in values]
    counts = Counter(keys)
    best = max(range(len(values)), key=lambda i: (counts[keys[i]], -i))
    return values[best]


def argilla_to_record(rec: Any, *, row: int, source: str, text_key: str = "text") -> dict:
    """One Argilla record (v2 ``records.to_json`` shape; v1 FeedbackDataset and legacy ``annotation``
    records also read) -> a training-schema dict (docs/retraining.md)."""
    if not isinstance(rec, dict):
        raise DataError(expected="an Argilla record object", found=type(rec).__name__, row=row, source=source)
    fields = rec.get("fields") if isinstance(rec.get("fields"), dict) else {}
    text = fields.get(text_key, rec.get(text_key))
    if text is None and isinstance(rec.get("inputs"), dict):
        text = rec["inputs"].get(text_key)
    rid = rec.get("id") or rec.get("external_id")
    meta = rec.get("metadata") if isinstance(rec.get("metadata"), dict) else {}
    answers = _argilla_responses(rec)
    sentiment, aspects, annotated_tps = None, [], False
    if not answers and "annotation" in rec:  # legacy TextClassificationRecord
        ann = rec.get("annotation")
        if isinstance(ann, str):
            answers = {"sentiment": [ann]}
        elif isinstance(ann, list):
            answers = {"touchpoints": [ann]}
    if not answers:
        raise DataError("record has no submitted response", field="responses",
                        expected="a submitted answer to 'sentiment' and/or 'touchpoints'", found=None,
                        row=row, source=source)
    for q, values in answers.items():
        value = _consensus(values)
        if q in SENTIMENT_QUESTIONS:
            sentiment = str(value).strip().lower() if value is not None else None
        elif q in TOUCHPOINT_QUESTIONS:
            annotated_tps = True
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, dict) and "start" in v:  # SpanQuestion answer
                    cat, pol = _split_label(v.get("label", ""))
                    aspects.append({"category": cat, "polarity": pol, "from": v.get("start"), "to": v.get("end")})
                else:
                    cat, pol = _split_label(str(v))
                    aspects.append({"category": cat, "polarity": pol})
        elif isinstance(value, list) and value and all(isinstance(v, dict) and "start" in v for v in value):
            annotated_tps = True  # a span question under another name: labels are touchpoint:polarity
            for v in value:
                cat, pol = _split_label(v.get("label", ""))
                aspects.append({"category": cat, "polarity": pol, "from": v.get("start"), "to": v.get("end")})
    for a in aspects:
        if a["polarity"] is None:
            raise DataError("touchpoint without polarity", field="touchpoints", expected="'touchpoint:polarity'",
                            found=a["category"], row=row, source=source)
    out = {"id": rid, "text": text, "sentiment": sentiment, "aspects": aspects if annotated_tps else None}
    lang = meta.get("lang") or rec.get("lang")
    if lang:
        out["lang"] = lang
    return out


# the reader --------------------------------------------------------------------------------------
def read_labeled_file(path: str | Path, *, fmt: str = "auto", labels: Iterable[str] | None = None,
                      mapping: Mapping[str, str | None] | None = None) -> tuple[list[Example], list[DataError]]:
    """Read and validate a labeled file in any supported format.

    Every bad row becomes a :class:`DataError` naming the row and the reason (unknown label, bad
    polarity, empty text, duplicate id, evidence not in text, no labels); the good rows are returned.
    ``labels``: the allowed touchpoint ids (the taxonomy), checked after ``mapping``.
    """
    p = Path(path)
    if not p.exists():
        raise DataError("file not found", source=str(p), expected="an existing file", found=str(p))
    if fmt not in FORMATS:
        raise DataError(field="--format", expected=f"one of {'|'.join(FORMATS)}", found=fmt)
    fmt = detect_labeled_format(p) if fmt == "auto" else fmt
    source = str(p)
    labels = list(labels) if labels is not None else None
    mapping = dict(mapping or {})
    errors: list[DataError] = []

    def items() -> Iterator[tuple[int, Any]]:
        if fmt == "xlsx":
            yield from _iter_xlsx(p)
        elif fmt in ("labelstudio", "argilla"):
            yield from _load_json_items(p)
        else:
            yield from iter_records(p, fmt=fmt)

    parsed: list[tuple[int, Example]] = []
    raw: list[tuple[int, dict]] = []
    for i, rec in items():
        if isinstance(rec, DataError):
            errors.append(rec)
            continue
        try:
            if fmt == "labelstudio":
                raw.append((i, labelstudio_to_record(rec, row=i, source=source)))
            elif fmt == "argilla":
                raw.append((i, argilla_to_record(rec, row=i, source=source)))
            elif fmt in ("csv", "xlsx") or (isinstance(rec, dict) and "touchpoints" in rec and "aspects" not in rec):
                parsed.append((i, _flat_record_to_example(rec, row=i, source=source, labels=labels, mapping=mapping)))
            else:
                parsed.append((i, _finish(rec, row=i, source=source, labels=labels, mapping=mapping)))
        except DataError as e:
            errors.append(e)
    # annotation tools omit unanswered questions: when any item of the file has touchpoints, an item
    # without them means "none present"; a file without any is sentiment-only (touchpoints not annotated)
    any_tps = any(r.get("aspects") is not None for _, r in raw)
    for i, r in raw:
        if any_tps and r.get("aspects") is None:
            r["aspects"] = []
        try:
            parsed.append((i, _finish(r, row=i, source=source, labels=labels, mapping=mapping)))
        except DataError as e:
            errors.append(e)
    parsed.sort(key=lambda t: t[0])
    # duplicate ids: the first occurrence wins, each later one is a bad row
    out, seen = [], set()
    for i, ex in parsed:
        if ex.id is not None:
            if ex.id in seen:
                errors.append(DataError("duplicate id", field="id", expected="unique ids", found=ex.id, row=i,
                                        source=source))
                continue
            seen.add(ex.id)
        out.append((i, ex))
    stem = p.stem
    result = []
    for i, ex in out:
        if not ex.id:
            ex.id = f"{stem}-{i}"
            while ex.id in seen:
                ex.id += "_"
            seen.add(ex.id)
        result.append(ex)
    errors.sort(key=lambda e: (e.row if isinstance(e.row, int) else 0))
    return result, errors


# -- the store -------------------------------------------------------------------------------------
@dataclass
class ImportResult:
    name: str
    hash: str
    rows: int
    errors: list[DataError] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    unchanged: bool = False

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.hash[:16]}"


def check_dataset_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise DataError(field="--name", expected="a dataset name of letters, digits, '-', '_' or '.'", found=name)
    return name


class DatasetStore:
    """Content-addressed labeled datasets under ``<data_dir>/datasets``."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else data_dir() / "datasets"

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / META_FILE).exists())

    def meta(self, name: str) -> dict[str, Any]:
        f = self.root / check_dataset_name(name) / META_FILE
        if not f.exists():
            known = self.names()
            raise DataError(f"no dataset named '{name}' in {self.root}", field="--dataset",
                            expected=f"one of {known}" if known else "a dataset imported with `cxlens datasets import`",
                            found=name)
        return json.loads(f.read_text(encoding="utf-8"))

    def resolve(self, spec: str) -> tuple[str, dict[str, Any]]:
        """``NAME`` or ``NAME@HASHPREFIX`` -> (name, version entry)."""
        name, _, prefix = spec.partition("@")
        meta = self.meta(name.strip())
        versions = meta.get("versions") or []
        if not prefix:
            cur = meta.get("current")
            entry = next((v for v in versions if v["hash"] == cur), versions[-1] if versions else None)
        else:
            matches = [v for v in versions if v["hash"].startswith(prefix.strip())]
            if len(matches) != 1:
                raise DataError(f"dataset '{name}' has {'no' if not matches else 'several'} versions matching "
                                f"'{prefix}'", field="--dataset", expected=f"a prefix of one of "
                                f"{[v['hash'][:16] for v in versions]}", found=prefix)
            entry = matches[0]
        if entry is None:
            raise DataError(f"dataset '{name}' has no versions", field="--dataset", found=spec)
        return name.strip(), entry

    def path(self, name: str, entry: Mapping[str, Any]) -> Path:
        return self.root / name / entry["file"]

    def load(self, spec: str) -> tuple[list[Example], dict[str, Any]]:
        """Examples of a stored dataset version and its meta entry (with ``name``)."""
        from .formats import read_labeled

        name, entry = self.resolve(spec)
        if "log_rows" in entry:  # a feedback dataset: replay the log prefix
            return self._replay(name, int(entry["log_rows"])), {"name": name, **entry}
        path = self.path(name, entry)
        if not path.exists():
            raise DataError("dataset file missing", source=str(path), expected="the stored JSONL", found=None)
        examples, errors = read_labeled(path)
        if errors:
            raise DataError(f"stored dataset is corrupt: {errors[0]}", source=str(path))
        return examples, {"name": name, **entry}

    def read_meta(self, name: str) -> dict[str, Any] | None:
        """The dataset's meta, or None when there is no such dataset (no error)."""
        f = self.root / check_dataset_name(name) / META_FILE
        return json.loads(f.read_text(encoding="utf-8")) if f.exists() else None

    def save(self, name: str, examples: Sequence[Example], *, source: str, fmt: str, skipped: int = 0,
             taxonomy: Taxonomy | None = None, note: str | None = None, owner: str | None = None) -> ImportResult:
        """Store ``examples`` as an imported version of ``name`` (no-op when the same content is already
        current). A feedback dataset cannot be overwritten by an import."""
        check_dataset_name(name)
        if not examples:
            raise DataError("no valid rows to store", source=source, expected="at least one good labeled row",
                            found=f"{skipped} bad rows")
        with dataset_lock(self.root, name):
            meta = self.read_meta(name)
            if meta is not None and dataset_kind(meta) == "feedback":
                raise DataError(f"dataset '{name}' holds corrections (feedback); import under another name",
                                field="name", expected="a new or an imported dataset's name", found=name)
            return self._save(name, examples, source=source, fmt=fmt, skipped=skipped, taxonomy=taxonomy, note=note,
                              owner=owner)

    def _save(self, name, examples, *, source, fmt, skipped, taxonomy, note, owner=None) -> ImportResult:
        rows = [e.to_dict() for e in examples]
        digest = content_hash(rows)
        d = self.root / name
        d.mkdir(parents=True, exist_ok=True)
        meta_path = d / META_FILE
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {
            "name": name, "kind": "imported", "owner": owner, "versions": []}
        existing = next((v for v in meta["versions"] if v["hash"] == digest), None)
        if existing is not None and meta.get("current") == digest:
            return ImportResult(name, digest, existing["rows"], meta=existing, unchanged=True)
        n_eval = sum(is_eval_row(e.text) for e in examples)
        entry = existing or {
            "hash": digest, "file": f"{digest}.jsonl", "rows": len(rows),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "source": source, "format": fmt,
            "skipped_rows": skipped, "eval_rows": n_eval, "train_rows": len(rows) - n_eval,
            "label_distribution": label_distribution(examples),
            "taxonomy": taxonomy_info(taxonomy) if taxonomy is not None else None,
        }
        if note:
            entry["note"] = note
        if existing is None:
            _atomic_write(d / entry["file"], "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
            meta["versions"].append(entry)
        meta["current"] = digest
        _atomic_write(meta_path, json.dumps(meta, ensure_ascii=False, indent=2))
        return ImportResult(name, digest, len(rows), meta=entry)

    def import_file(self, path: str | Path, *, name: str, fmt: str = "auto", taxonomy: Taxonomy | None = None,
                    mapping: Mapping[str, str | None] | None = None, owner: str | None = None,
                    source: str | None = None) -> ImportResult:
        """Validate a labeled file against the taxonomy and store its good rows (bad rows in ``errors``)."""
        check_dataset_name(name)
        real_fmt = detect_labeled_format(path) if fmt == "auto" else fmt
        labels = taxonomy.ids if taxonomy is not None else None
        examples, errors = read_labeled_file(path, fmt=real_fmt, labels=labels, mapping=mapping)
        if not examples:
            raise DataError("no valid labeled rows", source=str(path),
                            expected="rows with text and a sentiment and/or touchpoints",
                            found=f"{len(errors)} bad rows" + (f"; first: {errors[0]}" if errors else ""))
        res = self.save(name, examples, source=source or str(path), fmt=real_fmt, skipped=len(errors),
                        taxonomy=taxonomy, owner=owner)
        res.errors = errors
        return res

    def list(self) -> list[dict[str, Any]]:
        out = []
        for name in self.names():
            meta = self.meta(name)
            cur = next((v for v in meta["versions"] if v["hash"] == meta.get("current")), None)
            if cur is None:
                continue
            out.append({"name": name, "hash": cur["hash"][:16], "rows": cur["rows"], "eval_rows": cur.get("eval_rows"),
                        "created": cur.get("created"), "format": cur.get("format"), "source": cur.get("source"),
                        "versions": len(meta["versions"]), "label_distribution": cur.get("label_distribution"),
                        "kind": dataset_kind(meta), "owner": meta.get("owner")})
        return out

    def contributed(self, key: str) -> dict[str, int]:
        """Rows and characters that ``key`` has stored in feedback datasets (for quotas)."""
        rows = chars = 0
        for name in self.names():
            meta = self.read_meta(name) or {}
            c = (meta.get("contributors") or {}).get(key) or {}
            rows += int(c.get("rows", 0))
            chars += int(c.get("chars", 0))
        return {"rows": rows, "chars": chars}

    # -- feedback logs ---------------------------------------------------------------------------
    def _replay(self, name: str, upto: int) -> list[Example]:
        """The rows of the first ``upto`` log lines; a later correction of a comment replaces the earlier."""
        path = self.root / name / FEEDBACK_LOG
        if upto and not path.exists():
            raise DataError("dataset log missing", source=f"{name}/{FEEDBACK_LOG}", expected="the stored log")
        by_text: dict[str, Example] = {}
        if upto:
            with open(path, encoding="utf-8") as fh:
                for k, line in enumerate(fh, 1):
                    if k > upto:
                        break
                    rec = json.loads(line)
                    row = dict(rec["row"])
                    for f in ("by", "at"):
                        if rec.get(f) is not None:
                            row.setdefault(f, rec[f])
                    try:
                        e = example_from_dict(row, row=k, source=f"{name}/{FEEDBACK_LOG}")
                    except DataError as err:
                        raise DataError(f"stored dataset is corrupt: {err}", source=f"{name}/{FEEDBACK_LOG}") from None
                    by_text[normalize_text(e.text)] = e
        merged, ids = [], set()
        for e in by_text.values():
            if not e.id:
                e.id = "fb-" + hashlib.sha256(normalize_text(e.text).encode("utf-8")).hexdigest()[:12]
            if e.id in ids:
                e.id = f"{e.id}-{hashlib.sha256(normalize_text(e.text).encode('utf-8')).hexdigest()[:6]}"
            ids.add(e.id)
            merged.append(e)
        return merged


def dataset_kind(meta: Mapping[str, Any]) -> str:
    """``imported`` or ``feedback`` (datasets stored before kinds existed: from their versions' format)."""
    kind = meta.get("kind")
    if kind in KINDS:
        return kind
    versions = meta.get("versions") or []
    return "feedback" if versions and all(v.get("format") == "feedback" for v in versions) else "imported"


def dataset_lock(root: Path, name: str):
    """Serialise read-modify-write of one dataset: threads of this process, and processes on POSIX
    (an ``flock`` on ``<name>/.lock``), so concurrent corrections never lose each other."""
    return dir_lock(root / name)


_atomic_write = atomic_write_text


# -- feedback (corrections of predictions) ---------------------------------------------------------
def feedback_to_record(item: Any, *, row: int, source: str, texts: Mapping[str, str] | None = None) -> dict:
    """One correction -> a training-schema dict.

    ``{"id": prediction id and/or "text", "sentiment"?, "touchpoints"?}``; ``touchpoints`` is a list of
    prediction-style objects (``{"touchpoint", "polarity", "evidence"?}``) or ``"billing:negative"``
    strings, or one ``;``-separated string; ``aspects`` (training schema) is accepted too. A missing
    ``touchpoints`` means "not corrected" (the row trains sentiment only); ``[]`` means "none present".
    """
    if not isinstance(item, dict):
        raise DataError(expected="a correction object", found=type(item).__name__, row=row, source=source)
    rid = item.get("id")
    text = item.get("text")
    if text is None and rid is not None:
        text = (texts or {}).get(str(rid))
        if text is None:
            raise DataError("unknown prediction id: pass the comment's text or the input file (--texts)",
                            field="id", expected="an id present in --texts, or a 'text' field", found=rid,
                            row=row, source=source)
    rec: dict[str, Any] = {"id": None if rid is None else str(rid), "text": text, "sentiment": item.get("sentiment")}
    if isinstance(rec["sentiment"], dict):  # a whole prediction-style {"label": ...}
        rec["sentiment"] = rec["sentiment"].get("label")
    tps = item.get("touchpoints", item.get("aspects"))
    if tps is not None:
        aspects = []
        if isinstance(tps, str):
            aspects = parse_touchpoints_cell("" if tps.strip().lower() in NONE_CELLS else tps, row=row, source=source)
        elif isinstance(tps, list):
            for k, t in enumerate(tps):
                if isinstance(t, str):
                    aspects += parse_touchpoints_cell(t, row=row, source=source)
                elif isinstance(t, dict):
                    cat = t.get("touchpoint", t.get("category"))
                    a = {"category": cat, "polarity": t.get("polarity")}
                    ev = t.get("evidence")
                    if isinstance(ev, dict) and ev.get("start") is not None:
                        a.update({"from": ev.get("start"), "to": ev.get("end")})
                        if ev.get("text") is not None:
                            a["target"] = ev["text"]
                    elif "from" in t:
                        a.update({"from": t.get("from"), "to": t.get("to"), "target": t.get("target")})
                    aspects.append(a)
                else:
                    raise DataError(field=f"touchpoints[{k}]", expected="an object or 'touchpoint:polarity'",
                                    found=t, row=row, source=source)
        else:
            raise DataError(field="touchpoints", expected="a list or a 'billing:negative;...' string", found=tps,
                            row=row, source=source)
        rec["aspects"] = aspects
    for k in ("lang", "model", "by", "comment"):
        if item.get(k) is not None:
            rec[k] = item[k]
    return rec


def record_feedback(items: Sequence[Any], *, store: DatasetStore | None = None, name: str = FEEDBACK_DATASET,
                    taxonomy: Taxonomy | None = None, texts: Mapping[str, str] | None = None,
                    source: str = "feedback", by: str | None = None, key: str | None = None,
                    check: Any = None) -> ImportResult:
    """Append corrections to the feedback dataset ``name`` (a new version = the log with these rows).

    Each stored row records who (``by``: a name, ``key``: the API key id) and when (``at``). A correction
    of a comment already in the dataset (same normalised text) replaces the older one when the dataset is
    read. ``check(meta_or_None, new_examples)`` runs under the dataset lock before anything is written
    (ownership and quota checks of the API); it raises to refuse. Bad items are returned in ``errors``;
    the good ones are kept. An imported dataset never receives corrections.
    """
    store = store or DatasetStore()
    labels = taxonomy.ids if taxonomy is not None else None
    new, errors = [], []
    for i, item in enumerate(items, 1):
        try:
            rec = feedback_to_record(item, row=i, source=source, texts=texts)
            new.append(_finish(rec, row=i, source=source, labels=labels, mapping=None))
        except DataError as e:
            errors.append(e)
    if not new:
        raise DataError("no valid corrections", source=source, expected="corrections with text (or a known id) "
                        "and corrected labels", found=f"{len(errors)} bad" + (f"; first: {errors[0]}" if errors else ""))
    with dataset_lock(store.root, check_dataset_name(name)):
        meta = store.read_meta(name)
        if check is not None:
            check(meta, new)
        if meta is not None and dataset_kind(meta) != "feedback":
            raise DataError(f"dataset '{name}' is an imported dataset: it changes only by importing a new version",
                            field="dataset", expected="a feedback dataset's name (or none: your own)", found=name)
        return _append_feedback(store, name, meta, new, errors, taxonomy=taxonomy, source=source, by=by, key=key)


def _append_feedback(store: DatasetStore, name: str, meta: dict[str, Any] | None, new: list[Example],
                     errors: list[DataError], *, taxonomy: Taxonomy | None, source: str, by: str | None,
                     key: str | None) -> ImportResult:
    d = store.root / name
    d.mkdir(parents=True, exist_ok=True)
    log_path = d / FEEDBACK_LOG
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if meta is None:
        meta = {"name": name, "kind": "feedback", "owner": key, "owner_name": by, "created": now,
                "versions": [], "contributors": {}}
    else:
        meta.setdefault("kind", "feedback")
        meta.setdefault("contributors", {})
    prev = next((v for v in meta["versions"] if v["hash"] == meta.get("current")), None)
    log_rows = int(prev["log_rows"]) if prev is not None and "log_rows" in prev else 0
    if prev is not None and "log_rows" not in prev:  # stored as full copies before: start the log from it
        old, _ = store.load(name)
        seed = "".join(json.dumps({"at": prev.get("created"), "by": None, "key": None, "row": e.to_dict()},
                                  ensure_ascii=False) + "\n" for e in old)
        _atomic_write(log_path, seed)
        log_rows = len(old)
    elif log_path.exists() and log_rows < _count_lines(log_path):  # a crash after appending: drop the tail
        _truncate_lines(log_path, log_rows)
    lines = []
    for e in new:
        row = e.to_dict()
        who = row.pop("by", None) or by
        row.pop("at", None)
        lines.append(json.dumps({"at": now, "by": who, "key": key, "row": row}, ensure_ascii=False) + "\n")
    chunk = "".join(lines)
    with open(log_path, "a", encoding="utf-8") as fh:
        fh.write(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    log_rows += len(lines)
    examples = store._replay(name, log_rows)
    digest = hashlib.sha256(((prev or {}).get("hash", "") + chunk).encode("utf-8")).hexdigest()
    n_eval = sum(is_eval_row(e.text) for e in examples)
    entry = {"hash": digest, "log_rows": log_rows, "rows": len(examples), "added": len(new), "created": now,
             "by": by, "source": source, "format": "feedback", "skipped_rows": len(errors), "eval_rows": n_eval,
             "train_rows": len(examples) - n_eval, "label_distribution": label_distribution(examples),
             "taxonomy": taxonomy_info(taxonomy) if taxonomy is not None else None,
             "note": f"+{len(new)} corrections"}
    contributor = meta["contributors"].setdefault(key or "local", {"rows": 0, "chars": 0})
    contributor["rows"] += len(new)
    contributor["chars"] += sum(len(e.text) for e in new)
    meta["versions"].append(entry)
    meta["current"] = digest
    _atomic_write(d / META_FILE, json.dumps(meta, ensure_ascii=False, indent=2))
    res = ImportResult(name, digest, len(examples), meta=entry)
    res.errors = errors
    return res


def _count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as fh:
        for _ in fh:
            n += 1
    return n


def _truncate_lines(path: Path, keep: int) -> None:
    with open(path, "rb+") as fh:
        pos = 0
        for k, line in enumerate(fh):
            if k >= keep:
                break
            pos += len(line)
        fh.truncate(pos)


__all__ = [
    "DatasetStore", "ImportResult", "FORMATS", "EVAL_SHARE", "apply_mapping", "check_taxonomy_change",
    "detect_labeled_format", "is_eval_row", "label_distribution", "normalize_text", "parse_mapping", "read_labeled_file",
    "dataset_kind", "record_feedback", "split_eval", "taxonomy_hash", "taxonomy_info", "unknown_labels",
]
