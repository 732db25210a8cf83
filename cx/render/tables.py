"""The report's sections as flat tables (header + rows), shared by the CSV and XLSX writers, and the guard
against spreadsheet formula injection."""
from __future__ import annotations

from typing import Any, Callable

from nlp.errors import DataError

#: a text cell starting with one of these is read as a formula by Excel / LibreOffice / Google Sheets
from nlp.labeled.cells import FORMULA_PREFIXES, safe_cell  # noqa: F401 - FORMULA_PREFIXES: re-exported


def neutralize(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe; other values pass unchanged
    (:func:`nlp.labeled.cells.safe_cell`, the one rule for every CSV and XLSX the product writes)."""
    return safe_cell(value)


def _join(items: Any, key: str | None = None, sep: str = " | ") -> str:
    if not items:
        return ""
    return sep.join(str(i.get(key) if key and isinstance(i, dict) else i) for i in items)


def _get(d: dict | None, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def _shortlist(rep: dict) -> tuple[list[str], list[list]]:
    h = ["rank", "company", "contact", "zone", "reasons", "key_account", "satisfaction", "previous", "change",
         "min_nps", "n", "negative_touchpoints", "quotes", "questions"]
    rows = [[r["rank"], r["company"], r["contact"], r["zone"], ";".join(r["reasons"]), r["key_account"],
             r["satisfaction"], r["previous"], r["change"], r["min_nps"], r["n"],
             _join(r["negative_touchpoints"], "name", "; "), _join(r["quotes"], "text"), _join(r["questions"])]
            for r in rep["shortlist"]]
    return h, rows


def _labels(rep: dict) -> tuple[list[str], list[list]]:
    h = ["id", "company", "contact", "wave", "question", "nps", "sentiment", "touchpoints", "risks", "comment"]
    return h, [[c.get(k) for k in h] for c in rep["comments"]]


def _lights(rep: dict, which: str) -> tuple[list[str], list[list]]:
    keys = ["company"] if which == "companies" else ["company", "contact"]
    h = keys + ["zone", "satisfaction", "n", "nps", "nps_ci_low", "nps_ci_high", "csat", "ces", "previous", "change",
                "key_account", "low_n"]
    rows = [[r[k] for k in keys] + [r["zone"], _get(r, "satisfaction", "mean"), r["n"], _get(r, "nps", "value"),
                                    _get(r, "nps", "ci_low"), _get(r, "nps", "ci_high"), _get(r, "csat", "value"),
                                    _get(r, "ces", "mean"), r["previous"], r["change"], r["key_account"], r["low_n"]]
            for r in rep["traffic_lights"][which]]
    return h, rows


def _matrix(rep: dict) -> tuple[list[str], list[list]]:
    lang = rep["meta"]["lang"]
    h = ["id", "name", "quadrant", "priority", "importance", "importance_share", "performance", "n", "low_n", "action"]
    return h, [[i["id"], i["name"], i["quadrant"], i["priority"], i["importance"], i["importance_share"],
                i["performance"], i["n"], i["low_n"], (i["action"] or {}).get(lang)] for i in rep["matrix"]["items"]]


def touchpoint_rows(rep: dict) -> list[dict]:
    """The report's per-touchpoint rows (``touchpoints``, most mentioned first), each with the ``quadrant`` and
    ``priority`` of the matrix item of the same id (None when the matrix has no such item, e.g. a touchpoint
    without a rating column under the ``ratings`` basis). The report itself is not changed."""
    items = {i["id"]: i for i in _get(rep, "matrix", "items") or []}
    return [{**r, "quadrant": items.get(r["touchpoint"], {}).get("quadrant"),
             "priority": items.get(r["touchpoint"], {}).get("priority")} for r in rep["touchpoints"]]


def _touchpoints(rep: dict) -> tuple[list[str], list[list]]:
    h = ["touchpoint", "name", "mentions", "share", "positive", "negative", "neutral", "low_n", "importance",
         "weight", "quadrant", "priority", "nps", "nps_ci_low", "nps_ci_high", "nps_n", "nps_low_n", "satisfaction",
         "impact_all", "impact_positive", "impact_negative"]
    return h, [[r["touchpoint"], r["name"], r["mentions"], r["share"], r["positive"], r["negative"], r["neutral"],
                r["low_n"], r["importance"], r["weight"], r["quadrant"], r["priority"], _get(r, "nps", "value"),
                _get(r, "nps", "ci_low"), _get(r, "nps", "ci_high"), _get(r, "nps", "n"), _get(r, "nps", "low_n"),
                r["satisfaction"], r["impact"]["all"], r["impact"]["positive"], r["impact"]["negative"]]
               for r in touchpoint_rows(rep)]


def _sw(rep: dict, which: str) -> tuple[list[str], list[list]]:
    h = ["touchpoint", "name", "count", "count_share", "weight", "score", "quote_1", "quote_2", "quote_3"]
    rows = []
    for r in rep[which]:
        q = [x["text"] for x in r["quotes"]][:3]
        rows.append([r["touchpoint"], r["name"], r["count"], r["count_share"], r["weight"], r["score"]]
                    + q + [None] * (3 - len(q)))
    return h, rows


def _risks(rep: dict) -> tuple[list[str], list[list]]:
    h = ["category", "name", "n", "companies", "negative_touchpoints", "quotes"]
    return h, [[c["id"], c["name"], c["n"], "; ".join(c["companies"]), _join(c["negative_touchpoints"], "name", "; "),
                _join(c["quotes"], "text")] for c in rep["risks"]["categories"]]


def _trends(rep: dict) -> tuple[list[str], list[list]]:
    waves = rep["trends"]["waves"]
    h = ["touchpoint", "name"] + [f"share {w}" for w in waves] + [f"negative {w}" for w in waves] + [
        "change_pp", "negative_change_pp"]
    rows = [[r["touchpoint"], r["name"]] + [r["share"].get(w) for w in waves]
            + [r["negative_share"].get(w) for w in waves] + [r["change_pp"], r["negative_change_pp"]]
            for r in rep["trends"]["touchpoints"]]
    return h, rows


def _waves(rep: dict) -> tuple[list[str], list[list]]:
    h = ["wave", "n", "nps", "nps_ci_low", "nps_ci_high", "csat", "satisfaction", "zone"]
    return h, [[r["wave"], r["n"], _get(r, "nps", "value"), _get(r, "nps", "ci_low"), _get(r, "nps", "ci_high"),
                _get(r, "csat", "value"), _get(r, "satisfaction", "mean"), r["zone"]]
               for r in rep["trends"]["by_wave"]]


def _breakdown(rep: dict, key: str) -> tuple[list[str], list[list]]:
    h = [key, "n", "nps", "nps_ci_low", "nps_ci_high", "csat", "ces", "satisfaction", "zone", "low_n"]
    return h, [[r[key], r["n"], _get(r, "nps", "value"), _get(r, "nps", "ci_low"), _get(r, "nps", "ci_high"),
                _get(r, "csat", "value"), _get(r, "ces", "mean"), _get(r, "satisfaction", "mean"), r["zone"],
                r["low_n"]] for r in rep["breakdowns"].get(key, [])]


def _errors(rep: dict) -> tuple[list[str], list[list]]:
    h = ["source", "row", "field", "expected", "message"]
    return h, [[e.get(k) for k in h] for e in rep["data_errors"]["first"]]


SECTIONS: dict[str, Callable[[dict], tuple[list[str], list[list]]]] = {
    "shortlist": _shortlist,
    "labels": _labels,
    "companies": lambda r: _lights(r, "companies"),
    "contacts": lambda r: _lights(r, "contacts"),
    "matrix": _matrix,
    "touchpoints": _touchpoints,
    "strengths": lambda r: _sw(r, "strengths"),
    "weaknesses": lambda r: _sw(r, "weaknesses"),
    "suggestions": lambda r: _sw(r, "suggestions"),
    "risks": _risks,
    "trends": _trends,
    "waves": _waves,
    "segments": lambda r: _breakdown(r, "segment"),
    "regions": lambda r: _breakdown(r, "region"),
    "questions": lambda r: _breakdown(r, "question"),
    "errors": _errors,
}


def section_table(report: dict, section: str) -> tuple[list[str], list[list]]:
    if section not in SECTIONS:
        raise DataError("unknown report section", field="section", expected=f"one of {list(SECTIONS)}", found=section)
    return SECTIONS[section](report)


def section_frame(report: dict, section: str):
    """A section as a pandas DataFrame (for notebooks)."""
    import pandas as pd

    header, rows = section_table(report, section)
    return pd.DataFrame(rows, columns=header)
