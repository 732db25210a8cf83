"""The bundled CX seed set: authored survey comments with touchpoint labels (docs/data.md).

Source files (``nlp/data/cx_seed/source/*.jsonl``) carry each aspect's ``evidence`` as a substring;
``build`` resolves it to ``from``/``to`` offsets, validates, assigns stable ids and writes a fixed,
stratified 80/20 train/dev split (each authoring batch split on its own: rows never move between splits). ``python -m nlp.labeled.seed stats FILE`` checks one source file.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..taxonomy import load_taxonomy

SEED_DIR = Path(__file__).resolve().parents[1] / "data" / "cx_seed"
SOURCE_DIR = SEED_DIR / "source"
DEV_SHARE = 0.2
#: each row's split, fixed when the row is first built (``source/splits.tsv``: text key, train|dev)
SPLITS_FILE = "splits.tsv"
POLARITIES = ("positive", "negative", "neutral")
TAGS = {"contrast", "negation", "sarcasm", "typo", "slang", "caps", "emoji", "short", "long", "request",
        "competitor", "churn_risk", "name_mention", "implicit", "irony", "previous_supplier", "no_punct",
        "code_switch", "mixed_no_touchpoint"}


def seed_split_path(split: str) -> Path:
    """Path of the built ``train`` or ``dev`` split inside the installed package."""
    if split not in ("train", "dev"):
        raise DataError(field="split", expected="'train' or 'dev'", found=split)
    return Path(str(resources.files("nlp.data").joinpath("cx_seed", f"{split}.jsonl")))


def resolve_source_row(raw: dict[str, Any], *, row: int, source: str, labels: set[str]) -> dict[str, Any]:
    """Validate one authored row and turn each aspect's ``evidence`` into ``from``/``to`` offsets."""
    text = raw.get("text")
    if not isinstance(text, str) or not text.strip():
        raise DataError(field="text", expected="a non-empty string", found=text, row=row, source=source)
    if raw.get("lang") not in ("ru", "en"):
        raise DataError(field="lang", expected="'ru' or 'en'", found=raw.get("lang"), row=row, source=source)
    if raw.get("sentiment") not in ("positive", "negative", "neutral", "mixed"):
        raise DataError(field="sentiment", expected="positive|negative|neutral|mixed", found=raw.get("sentiment"),
                        row=row, source=source)
    aspects = raw.get("aspects")
    if not isinstance(aspects, list):
        raise DataError(field="aspects", expected="a list", found=aspects, row=row, source=source)
    out_aspects, seen = [], set()
    for i, a in enumerate(aspects):
        cat, pol, ev = a.get("category"), a.get("polarity"), a.get("evidence")
        if cat not in labels:
            raise DataError("unknown touchpoint", field=f"aspects[{i}].category", expected=f"one of {sorted(labels)}",
                            found=cat, row=row, source=source)
        if cat in seen:
            raise DataError("touchpoint repeated in one comment", field=f"aspects[{i}].category",
                            expected="each category once", found=cat, row=row, source=source)
        seen.add(cat)
        if pol not in POLARITIES:
            raise DataError(field=f"aspects[{i}].polarity", expected="positive|negative|neutral", found=pol,
                            row=row, source=source)
        if not isinstance(ev, str) or not ev.strip():
            raise DataError(field=f"aspects[{i}].evidence", expected="a non-empty substring of text", found=ev,
                            row=row, source=source)
        start = text.find(ev)
        if start < 0:
            raise DataError("evidence not in text", field=f"aspects[{i}].evidence",
                            expected="an exact substring of text", found=ev, row=row, source=source)
        out_aspects.append({"category": cat, "polarity": pol, "target": ev, "from": start, "to": start + len(ev)})
    tags = raw.get("tags") or []
    bad_tags = [t for t in tags if t not in TAGS]
    if bad_tags:
        raise DataError(field="tags", expected=f"tags from {sorted(TAGS)}", found=bad_tags, row=row, source=source)
    return {"text": text, "lang": raw["lang"], "sentiment": raw["sentiment"], "aspects": out_aspects,
            "setting": raw.get("setting"), "tags": tags}


def load_source(path: Path, labels: set[str]) -> tuple[list[dict], list[DataError]]:
    rows, errors = [], []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(DataError(f"invalid JSON: {e.msg}", row=i, source=str(path)))
            continue
        try:
            rows.append(resolve_source_row(raw, row=i, source=str(path), labels=labels))
        except DataError as e:
            errors.append(e)
    return rows, errors


def stats(rows: list[dict]) -> dict[str, Any]:
    n = len(rows)
    per = {}
    for r in rows:
        for a in r["aspects"]:
            per.setdefault(a["category"], Counter())[a["polarity"]] += 1
    multi = sum(len(r["aspects"]) >= 2 for r in rows)
    none = sum(not r["aspects"] for r in rows)
    return {
        "rows": n,
        "lang": dict(Counter(r["lang"] for r in rows)),
        "sentiment": dict(Counter(r["sentiment"] for r in rows)),
        "touchpoints": {k: {"mentions": sum(c.values()), **{p: c.get(p, 0) for p in POLARITIES}}
                        for k, c in sorted(per.items())},
        "multi_touchpoint_share": round(multi / n, 3) if n else 0.0,
        "no_touchpoint_share": round(none / n, 3) if n else 0.0,
        "tags": dict(Counter(t for r in rows for t in r["tags"]).most_common()),
        "duplicate_texts": n - len({r["text"].strip().lower() for r in rows}),
    }


def _bucket(text: str) -> float:
    """Deterministic pseudo-random number in [0, 1) from the text (stable across runs/platforms)."""
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:12], 16) / 16**12


def split_rows(rows: list[dict], dev_share: float = DEV_SHARE) -> tuple[list[dict], list[dict]]:
    """Stratified split by (language, rarest touchpoint or 'none', sentiment); order inside a stratum is
    by a hash of the text, so the split does not depend on file order."""
    freq = Counter(a["category"] for r in rows for a in r["aspects"])
    strata: dict[tuple, list[dict]] = {}
    for r in rows:
        cats = [a["category"] for a in r["aspects"]]
        key_cat = min(cats, key=lambda c: (freq[c], c)) if cats else "none"
        strata.setdefault((r["lang"], key_cat, r["sentiment"]), []).append(r)
    train, dev = [], []
    carry = 0.0
    for key in sorted(strata):
        group = sorted(strata[key], key=lambda r: _bucket(r["text"]))
        exact = len(group) * dev_share + carry
        k = int(exact)
        carry = exact - k
        dev.extend(group[:k])
        train.extend(group[k:])
    return train, dev


def source_round(path: Path) -> int:
    """The authoring round of a source file: ``name_N.jsonl`` is round N, ``name.jsonl`` round 1."""
    stem = path.stem
    head, sep, tail = stem.rpartition("_")
    return int(tail) if sep and tail.isdigit() else 1


def split_batch(round_no: int) -> int:
    """Rounds 1 and 2 were split together (the v2 split); every later round is split on its own. Ids are
    numbered batch after batch, so rows added as a new round file never change an existing row's id (rows
    added to an existing round renumber that round and the later ones: add rows as a new round); the split
    of a row is kept in :data:`SPLITS_FILE`, so neither new rows nor label corrections move a row between
    train and dev."""
    return 1 if round_no <= 2 else round_no - 1


def build(source_dir: Path = SOURCE_DIR, out_dir: Path = SEED_DIR, *, write_splits: bool = True) -> dict[str, Any]:
    """Validate the sources and write ``train.jsonl`` / ``dev.jsonl`` into ``out_dir``; new rows' splits are
    added to ``source_dir/splits.tsv`` (unless ``write_splits`` is false: then they are only counted in the
    result's ``new_splits``)."""
    labels = set(load_taxonomy().ids)
    batches: dict[int, list[dict]] = {}
    errors: list[DataError] = []
    for path in sorted(source_dir.glob("*.jsonl"), key=lambda p: (split_batch(source_round(p)), p.name)):
        r, e = load_source(path, labels)
        batches.setdefault(split_batch(source_round(path)), []).extend(r)
        errors.extend(e)
    if errors:
        raise DataError(f"{len(errors)} bad rows in the seed sources; first: {errors[0]}")
    assigned = read_assigned(source_dir / SPLITS_FILE)
    new_splits = 0
    seen: set[str] = set()
    counters: Counter = Counter()
    unique, train, dev = [], [], []
    for b in sorted(batches):
        rows = []
        for r in batches[b]:  # a text already in an earlier batch (or earlier in this one) is dropped
            key = r["text"].strip().lower()
            if key not in seen:
                seen.add(key)
                rows.append(r)
        for r in sorted(rows, key=lambda r: (r["lang"], _bucket(r["text"]))):  # ids continue batch after batch
            counters[r["lang"]] += 1
            r["id"] = f"cxseed-{r['lang']}-{counters[r['lang']]:04d}"
        # a row keeps the split it was first given (a later label correction never moves it); new rows
        # are split by the stratified rule among themselves
        fresh = [r for r in rows if text_key(r["text"]) not in assigned]
        new_splits += len(fresh)
        tr, dv = split_rows(fresh)
        for part, name in ((tr, "train"), (dv, "dev")):
            for r in part:
                assigned[text_key(r["text"])] = name
        train += [r for r in rows if assigned[text_key(r["text"])] == "train"]
        dev += [r for r in rows if assigned[text_key(r["text"])] == "dev"]
        unique += rows
    for name, part in (("train", train), ("dev", dev)):
        part.sort(key=lambda r: r["id"])
        with open(out_dir / f"{name}.jsonl", "w", encoding="utf-8") as fh:
            for r in part:
                rec = {"id": r["id"], "text": r["text"], "lang": r["lang"], "source": "cx_seed",
                       "sentiment": r["sentiment"], "aspects": r["aspects"],
                       "meta": {"setting": r["setting"], "tags": r["tags"]}}
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    live = {text_key(r["text"]) for r in unique}
    splits = "".join(f"{k}\t{v}\n" for k, v in sorted(assigned.items()) if k in live)
    splits_path = source_dir / SPLITS_FILE
    changed = not splits_path.exists() or splits_path.read_text(encoding="utf-8") != splits
    if changed and write_splits:  # new rows got a split
        splits_path.write_text(splits, encoding="utf-8")
    return {"all": stats(unique), "train": len(train), "dev": len(dev), "new_splits": new_splits}


def text_key(text: str) -> str:
    """The key of a row in :data:`SPLITS_FILE`: a hash of its normalised text."""
    return hashlib.sha256(text.strip().lower().encode("utf-8")).hexdigest()[:16]


def read_assigned(path: Path) -> dict[str, str]:
    """text key -> ``train`` / ``dev`` for every row that already has a split."""
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            key, split = line.split("\t")
            out[key] = split
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nlp.labeled.seed", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("stats", help="validate source files and print counts")
    s.add_argument("files", nargs="+", type=Path)
    sub.add_parser("build", help="rebuild train.jsonl/dev.jsonl from the sources")
    args = ap.parse_args(argv)
    if args.cmd == "build":
        print(json.dumps(build(), ensure_ascii=False, indent=1))
        return 0
    labels = set(load_taxonomy().ids)
    rows, errors = [], []
    for f in args.files:
        r, e = load_source(f, labels)
        rows += r
        errors += e
    for e in errors:
        print(f"ERROR {e}", file=sys.stderr)
    print(json.dumps(stats(rows), ensure_ascii=False, indent=1))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
