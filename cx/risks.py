"""Risk mentions (METHODOLOGY.md section 8): labelled RU/EN regular expressions from a data file.

Matching 100k comments against a few dozen case-insensitive alternations is slow in Python's ``re`` (every
position tries every branch), so each category also gets *cues*: literal strings derived from the regex syntax
tree such that every match must contain one of them (:func:`required_literals`). A comment is searched with the
regex only when its lower-cased text contains a cue; the result is identical, only faster.
"""
from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

try:  # Python 3.11+
    import re._constants as _c
    import re._parser as _p
except ImportError:  # pragma: no cover - older Pythons
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _p  # type: ignore[no-redef]

from nlp.errors import DataError


def read_data_file(path: str | Path | None, default: str) -> tuple[str, str]:
    if path is None:
        return resources.files("cx.data").joinpath(default).read_text(encoding="utf-8"), f"bundled {default}"
    p = Path(path)
    if not p.exists():
        raise DataError("file not found", source=str(p), expected=f"a YAML file like cx/data/{default}", found=str(p))
    return p.read_text(encoding="utf-8"), str(p)


def _required(seq: Any) -> set[str] | None:
    """Strings of which every match of the parsed sequence contains at least one (None: no such guarantee)."""
    best: set[str] | None = None

    def consider(cand: set[str] | None) -> None:
        nonlocal best
        if not cand or any(not s for s in cand):
            return
        if best is None or (min(map(len, cand)), -len(cand)) > (min(map(len, best)), -len(best)):
            best = cand

    run: list[str] = []
    for op, av in list(seq) + [(None, None)]:
        if op is _c.LITERAL:
            run.append(chr(av))
            continue
        if run:
            consider({"".join(run).lower()})
            run = []
        if op is _c.SUBPATTERN:
            consider(_required(av[-1]))
        elif op is _c.BRANCH:
            alts = [_required(a) for a in av[1]]
            consider(None if any(a is None for a in alts) else set().union(*alts))
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT) and av[0] >= 1:
            consider(_required(av[2]))
    return best


def required_literals(pattern: str) -> set[str] | None:
    """Lower-case strings of which any match of ``pattern`` (case-insensitive) contains at least one."""
    return _required(_p.parse(pattern, re.IGNORECASE))


def load_risk_patterns(path: str | Path | None = None) -> list[dict[str, Any]]:
    """Risk categories: ``{id, name, regex (compiled, case-insensitive), cues}`` (cx/data/risk_patterns.yaml)."""
    text, source = read_data_file(path, "risk_patterns.yaml")
    raw = yaml.safe_load(text) or {}
    cats = raw.get("categories") if isinstance(raw, dict) else None
    if not isinstance(cats, list):
        raise DataError(source=source, field="categories", expected="a list of {id, name, patterns}", found=cats)
    out = []
    for i, c in enumerate(cats):
        pats = c.get("patterns") if isinstance(c, dict) else None
        if not isinstance(c, dict) or not isinstance(c.get("id"), str) or not isinstance(pats, list) or not pats:
            raise DataError(source=source, field=f"categories[{i}]", expected="{id, name, patterns: [regex, ...]}",
                            found=c)
        combined = "|".join(f"(?:{p})" for p in pats)
        try:
            rx = re.compile(combined, re.IGNORECASE)
        except re.error as e:
            raise DataError(f"bad regular expression: {e}", source=source, field=f"categories[{i}].patterns") from e
        name = c.get("name") or {"en": c["id"]}
        out.append({"id": c["id"], "name": name if isinstance(name, dict) else {"en": str(name)}, "regex": rx,
                    "cues": required_literals(combined)})
    return out


def _containing(big: str, starts: np.ndarray, cue: str) -> np.ndarray:
    """Indices of the texts (joined in ``big`` at ``starts``) that contain ``cue``."""
    hits = []
    i = big.find(cue)
    while i != -1:
        hits.append(i)
        i = big.find(cue, i + 1)
    return np.unique(np.searchsorted(starts, np.asarray(hits, dtype=np.int64), side="right") - 1)


def risk_masks(comments: list[str], patterns: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Per category: which comments match. Identical comments are searched once; the regex runs only on the
    comments that contain one of the category's cues."""
    uniq = list(dict.fromkeys(comments))
    pos = {s: i for i, s in enumerate(uniq)}
    back = np.fromiter((pos[s] for s in comments), dtype=np.int64, count=len(comments))
    lowered = [s.lower() for s in uniq]
    big = "\x00".join(lowered)
    starts = np.zeros(len(lowered), dtype=np.int64)
    if len(lowered) > 1:
        starts[1:] = np.cumsum(np.fromiter((len(s) + 1 for s in lowered[:-1]), dtype=np.int64))
    out = {}
    for c in patterns:
        rx, cues = c["regex"], c["cues"]
        if cues:
            cand = np.unique(np.concatenate([_containing(big, starts, q) for q in cues]))
        else:
            cand = np.arange(len(uniq))
        hit = np.zeros(len(uniq), dtype=bool)
        for k in cand.tolist():
            hit[k] = rx.search(uniq[k]) is not None
        out[c["id"]] = hit[back]
    return out
