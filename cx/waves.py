"""Loading a survey wave (CSV / XLSX / JSONL) into the canonical answers frame.

Canonical columns (docs/reports.md): ``_row`` (1-based data row in the file), ``id``, ``company``, ``contact``,
``segment``, ``region``, ``wave``, ``question``, ``comment``, ``key_account`` (bool), score columns ``nps``,
``csat``, ``ces`` and ``rating:<component>``. Bad cells are reported as :class:`DataError` (file, row, column,
expected, found) and excluded; a bad score never loses the rest of its row, a row without a company is dropped.
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from nlp.errors import DataError
from nlp.labeled.encoding import log_decision
from nlp.labeled.formats import (decode_bytes, decode_bytes_info, detect_format, is_parquet, iter_predictions_parquet,
                                 iter_records, read_table, read_xlsx, sniff_delimiter)

from .config import ReportConfig, ScoreSpec

XLSX_SUFFIXES = {".xlsx", ".xlsm"}
TEXT_COLUMNS = ("segment", "region", "question")
TRUE_WORDS = {"1", "true", "yes", "y", "x", "+", "да", "д", "key", "ключевой"}
#: scores that must be whole numbers (component ratings may be averages)
INTEGER_SCORES = {"nps", "csat", "ces"}


def load_records(source: str | Path | IO) -> tuple[str, list[str], list[tuple[int, dict | DataError]]]:
    """(source name, headers in file order, [(row, record | DataError)]) for CSV, JSONL or XLSX."""
    name = str(source) if isinstance(source, (str, Path)) else getattr(source, "name", "<stream>")
    if isinstance(source, (str, Path)) and Path(source).suffix.lower() in XLSX_SUFFIXES:
        p = Path(source)
        if not p.exists():
            raise DataError("file not found", source=name, expected="an existing file", found=name)
        headers, recs = read_xlsx(p)
        return name, headers, recs
    recs = list(iter_records(source))
    headers: list[str] = []
    seen: set[str] = set()
    for _, rec in recs:
        if isinstance(rec, dict):
            for k in rec:
                if k not in seen:
                    seen.add(k)
                    headers.append(k)
    return name, headers, recs


def _read_csv_fast(path: Path) -> pd.DataFrame | None:
    """A well-formed CSV through pandas' C parser (same decoding and delimiter sniffing as :mod:`nlp.labeled.formats`);
    None when the file is not CSV or has malformed rows (the row-by-row reader then reports them)."""
    text, decision = decode_bytes_info(path.read_bytes())  # the one decoding rule (nlp.labeled.encoding)
    if detect_format(str(path), text) != "csv":
        return None
    log_decision(str(path), decision)
    try:
        sep = sniff_delimiter(text[:8192], complete=len(text) <= 8192)
        raw = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_filter=False, engine="c")
    except (pd.errors.ParserError, ValueError):
        return None
    raw.columns = [str(c).strip() for c in raw.columns]
    return raw.loc[:, [c for c in raw.columns if c and not c.startswith("Unnamed: ")]]


def read_wave(source: str | Path | IO, config: ReportConfig | None = None) -> tuple[pd.DataFrame, list[DataError]]:
    """Read a wave file into the canonical answers frame. ``config`` is completed in place by auto-detection."""
    config = config or ReportConfig()
    name = str(source) if isinstance(source, (str, Path)) else getattr(source, "name", "<stream>")
    fast = None
    if is_parquet(source):  # columnar: typed cells (numbers stay numbers), no decoding step
        fast = read_table(source)
        fast.columns = [str(c).strip() for c in fast.columns]
    elif isinstance(source, (str, Path)) and str(source) != "-" and Path(source).is_file() \
            and Path(source).suffix.lower() not in XLSX_SUFFIXES:
        fast = _read_csv_fast(Path(source))
    if fast is not None:
        raw, headers, errors = fast, list(fast.columns), []
        raw.insert(0, "_row", np.arange(1, len(raw) + 1, dtype=np.int64))
    else:
        name, headers, recs = load_records(source)
        errors = [r for _, r in recs if isinstance(r, DataError)]
        good = [(i, r) for i, r in recs if isinstance(r, dict)]
        raw = pd.DataFrame.from_records([r for _, r in good], columns=headers)
        raw.insert(0, "_row", np.array([i for i, _ in good], dtype=np.int64))
    if not headers:
        raise DataError("empty file", source=name, expected="a header row and answers", found=None)
    config.resolve_columns(headers, source=name)
    df, errs = canonicalize(raw, config, source=name)
    return df, errors + errs


def _stripped(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(text stripped of surrounding spaces, blank mask) of a raw column."""
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        text = s.astype(str).str.strip()
        return text, s.isna() | text.eq("")
    return s.astype(str), s.isna()


def _blank(s: pd.Series) -> pd.Series:
    return _stripped(s)[1]


def _as_text(s: pd.Series) -> pd.Series:
    """Stripped text as an object column, None where blank."""
    text, blank = _stripped(s)
    out = text.astype(object)
    out[blank.to_numpy()] = None
    return out


def _to_number(s: pd.Series, blank: pd.Series) -> pd.Series:
    """Numbers; '6,5' (decimal comma) and non-breaking spaces accepted; anything else becomes NaN."""
    if pd.api.types.is_numeric_dtype(s):
        return s.astype(float)
    v = pd.to_numeric(s, errors="coerce").astype(float)
    retry = (v.isna() & ~blank).to_numpy()
    if retry.any():
        fixed = (s[retry].astype(str).str.replace(",", ".", regex=False)
                 .str.replace("\u00a0", "", regex=False))
        v[retry] = pd.to_numeric(fixed, errors="coerce").astype(float).to_numpy()
    return v


def _score_errors(values: pd.Series, raw: pd.Series, blank: pd.Series, rows: pd.Series, *, column: str,
                  spec: ScoreSpec, integer: bool, source: str) -> tuple[pd.Series, list[DataError]]:
    """Validate one score column: non-numbers and out-of-range values become errors and NaN (excluded)."""
    lo, hi = spec.scale
    lo_s, hi_s = f"{lo:g}", f"{hi:g}"
    expected = f"{'an integer' if integer else 'a number'} {lo_s}-{hi_s}"
    not_number = values.isna() & ~blank
    bad = not_number | (values.notna() & ((values < lo) | (values > hi)))
    if integer:
        bad |= values.notna() & (values != np.floor(values))
    errors = []
    if bad.any():
        for idx in np.flatnonzero(bad.to_numpy()):
            found = raw.iloc[idx]
            reason = "not a number" if not_number.iloc[idx] else "score out of range or not allowed; excluded"
            errors.append(DataError(reason, field=column, expected=expected, found=found,
                                    row=int(rows.iloc[idx]), source=source))
        values = values.mask(bad)
    return values, errors


def canonicalize(raw: pd.DataFrame, config: ReportConfig, *, source: str = "answers") -> tuple[pd.DataFrame, list[DataError]]:
    """Map a raw frame (file headers) to the canonical answers frame and validate it."""
    errors: list[DataError] = []
    n = len(raw)
    rows = raw["_row"] if "_row" in raw else pd.Series(np.arange(1, n + 1), index=raw.index)
    cols = config.columns
    out = pd.DataFrame({"_row": rows.to_numpy()}, index=raw.index)

    if "id" in cols:
        ids = _as_text(raw[cols["id"]])
        ids = ids.where(ids.notna(), rows.astype(str))
    else:
        ids = rows.astype(str)
    out["id"] = ids.astype(str)

    company = _as_text(raw[cols["company"]])
    missing_company = company.isna()
    for idx in np.flatnonzero(missing_company.to_numpy()):
        errors.append(DataError("missing company; row skipped", field=cols["company"], expected="a company name",
                                found=None, row=int(rows.iloc[idx]), source=source))
    out["company"] = company
    out["contact"] = _as_text(raw[cols["contact"]]) if "contact" in cols else None
    for role in TEXT_COLUMNS:
        out[role] = _as_text(raw[cols[role]]) if role in cols else None
    if "comment" in cols:
        c = raw[cols["comment"]]
        out["comment"] = c.where(c.notna(), "").astype(str).astype(object)
    else:
        out["comment"] = ""
    if "key_account" in cols:
        ka = raw[cols["key_account"]].astype("string").str.strip().str.lower()
        out["key_account"] = ka.isin(TRUE_WORDS).fillna(False).astype(bool)
    else:
        out["key_account"] = False
    if config.key_accounts:
        out["key_account"] = out["key_account"] | out["company"].isin(set(config.key_accounts))

    # wave: explicit column, else a period of the date column
    if "wave" in cols:
        out["wave"] = _as_text(raw[cols["wave"]])
    elif "date" in cols:
        rawd = raw[cols["date"]]
        dates = pd.to_datetime(rawd, errors="coerce", dayfirst=True, format="mixed")
        bad = dates.isna() & ~_blank(rawd)
        for idx in np.flatnonzero(bad.to_numpy()):
            errors.append(DataError("not a date; answer kept without a wave", field=cols["date"],
                                    expected="a date such as 2024-03-31 or 31.03.2024", found=rawd.iloc[idx],
                                    row=int(rows.iloc[idx]), source=source))
        out["wave"] = dates.dt.to_period(config.wave_period).astype("string").astype(object).where(dates.notna(), None)
    else:
        out["wave"] = None

    for role, spec in config.scores.items():
        text, blank = _stripped(raw[spec.column])
        vals = _to_number(text, blank)
        vals, errs = _score_errors(vals, raw[spec.column], blank, rows, column=spec.column, spec=spec,
                                   integer=role in INTEGER_SCORES, source=source)
        out[role] = vals
        errors.extend(errs)
    for comp, spec in config.ratings.items():
        text, blank = _stripped(raw[spec.column])
        vals = _to_number(text, blank)
        vals, errs = _score_errors(vals, raw[spec.column], blank, rows, column=spec.column, spec=spec,
                                   integer=False, source=source)
        out[f"rating:{comp}"] = vals
        errors.extend(errs)

    dup = out["id"].duplicated(keep="first") & ~missing_company
    for idx in np.flatnonzero(dup.to_numpy()):
        errors.append(DataError("duplicate id; row skipped", field=cols.get("id", "id"), expected="unique ids",
                                found=out["id"].iloc[idx], row=int(rows.iloc[idx]), source=source))
    keep = ~(missing_company | dup)
    out = out[keep].reset_index(drop=True)
    errors.sort(key=lambda e: (e.row if isinstance(e.row, int) else 0))
    return out, errors


def answers_to_documents(answers: pd.DataFrame) -> list[dict[str, Any]]:
    """Input rows for ``Pipeline.predict``: one per answer with a non-empty comment."""
    has = answers["comment"].astype(str).str.strip().ne("")
    sub = answers.loc[has, ["id", "comment"]]
    return [{"id": i, "text": t} for i, t in zip(sub["id"].tolist(), sub["comment"].tolist())]


def read_predictions(source: str | Path | IO) -> tuple[list[dict], list[DataError]]:
    """Prediction rows (JSONL or Parquet, the nlp.schema contract; a directory of partitions written by
    ``cxlens predict --cluster``). Rows without an id or touchpoints list are errors."""
    name = str(source) if isinstance(source, (str, Path)) else getattr(source, "name", "<stream>")
    records: list[tuple[int, dict | DataError]] | None = None
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        from nlp.batch.manifest import read_partitioned_predictions

        records = list(enumerate(read_partitioned_predictions(source), 1))
    elif is_parquet(source):
        records = list(enumerate(iter_predictions_parquet(source), 1))
    elif isinstance(source, (str, Path)) and str(source) != "-" and Path(source).is_file():
        lines = decode_bytes(Path(source).read_bytes()).splitlines()
        numbered = [(i, ln) for i, ln in enumerate(lines, 1) if ln.strip()]
        try:  # one parser call for the whole file; any bad line: the row-by-row reader names it
            objs = json.loads("[" + ",".join(ln for _, ln in numbered) + "]")
            if len(objs) != len(numbered):  # e.g. "{...}, {...}" on one line
                raise json.JSONDecodeError("not one object per line", "", 0)
            records = [(i, o if isinstance(o, dict) else DataError(source=name, row=i, expected="a JSON object",
                                                                   found=o)) for (i, _), o in zip(numbered, objs)]
        except json.JSONDecodeError:
            records = None
    preds, errors = [], []
    for i, rec in records if records is not None else iter_records(source, fmt="jsonl"):
        if isinstance(rec, DataError):
            errors.append(rec)
            continue
        if rec.get("id") is None:
            errors.append(DataError("prediction without id", field="id", expected="the answer id", found=None,
                                    row=i, source=name))
            continue
        tps = rec.get("touchpoints", [])
        if not isinstance(tps, list):
            errors.append(DataError(field="touchpoints", expected="a list", found=tps, row=i, source=name))
            continue
        preds.append(rec)
    return preds, errors
