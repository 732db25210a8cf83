"""The report from per-partition aggregates: a wave (and its predictions) in partitions, never all answers
in memory at once (issue 18).

``build_report_partitioned(wave_parts, predictions, config)`` returns the same report as
:func:`cx.report.build_report` on the concatenated answers (the numbers are computed by the same section
functions of :mod:`cx.report`, fed with aggregates instead of frames): per partition it keeps

* group sums (:func:`cx.report._stats_frame`: counts for NPS / CSAT, sums for means, with the first
  answer of each group so that groups come out in the in-memory order) for the summary, the breakdowns,
  companies and contacts (current and previous wave), waves and (company, wave);
* per touchpoint the answers mentioning it (any / positive / negative / neutral), their NPS counts and
  satisfaction sums, and the best quote candidates so far (confidence, then prediction order);
* co-moments (sums and cross-products: :class:`cx.metrics.CoMoments`) of the mention indicators and of the
  component ratings with the overall score, for the importance (Shapley / relative weights / correlation);
* risk category counts, companies, negative touchpoints and the quote candidates that can still be chosen;
* the per-comment labels (when ``include_comments``), which are per answer anyway.

A wave partition is read three times (scan: waves, scores present, ids; aggregate; the interview
shortlist's few contacts), one at a time. The predictions are held as compact mention rows (touchpoint,
polarity, confidence, offsets; no texts) with one sentiment label per answer: about 100 bytes per
prediction (docs/scaling.md).

Wave parts: paths of wave files (CSV / XLSX / JSONL / Parquet, :func:`cx.waves.read_wave`), pandas
frames (raw with file headers, or canonical), or a Dask DataFrame (its partitions are computed one by one).
Predictions: a partitioned predictions directory (``cxlens predict --cluster``), prediction files (JSONL
or Parquet), or an iterable of prediction rows.
"""
from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np
import pandas as pd

from nlp.errors import DataError
from nlp.taxonomy import Taxonomy, load_taxonomy

from . import metrics as M
from . import report as R
from .config import SCORE_ROLES, ReportConfig
from .risks import load_risk_patterns, risk_masks
from .waves import canonicalize, read_predictions, read_wave

WAVE_SUFFIXES = {".csv", ".tsv", ".txt", ".jsonl", ".ndjson", ".json", ".xlsx", ".xlsm", ".parquet", ".pq"}


# ---------------------------------------------------------------------------------------------------- inputs
def wave_partitions(spec: str | Path | Iterable[str | Path]) -> list[Path]:
    """Wave files of a directory (its wave files, sorted), a glob, a file, or a list of those."""
    specs = [spec] if isinstance(spec, (str, Path)) else list(spec)
    out: list[Path] = []
    for s in specs:
        p = Path(s)
        if p.is_dir():
            out.extend(q for q in sorted(p.iterdir())
                       if q.is_file() and q.suffix.lower() in WAVE_SUFFIXES and not q.name.startswith((".", "_")))
        elif p.is_file():
            out.append(p)
        else:
            hits = [Path(q) for q in sorted(glob.glob(str(s), recursive=True))
                    if Path(q).suffix.lower() in WAVE_SUFFIXES and not Path(q).name.startswith((".", "_"))]
            if not hits:
                raise DataError("no wave files", source=str(s), expected="a wave file, a directory or a glob",
                                found=str(s))
            out.extend(hits)
    if not out:
        raise DataError("no wave files", source=", ".join(map(str, specs)), expected="wave files", found="none")
    return out


def _part_loaders(parts: Any, cfg: ReportConfig) -> list[tuple[str, Callable[[], tuple[pd.DataFrame, list]]]]:
    """(name, load) per partition; ``load()`` -> (canonical frame, data errors)."""
    if hasattr(parts, "npartitions") and hasattr(parts, "partitions"):  # a Dask DataFrame
        ddf = parts
        return [(f"partition {i}", (lambda i=i: _from_frame(ddf.partitions[i].compute(), cfg, f"partition {i}")))
                for i in range(ddf.npartitions)]
    if isinstance(parts, pd.DataFrame):
        parts = [parts]
    if isinstance(parts, (str, Path)):
        parts = wave_partitions(parts)
    out = []
    for k, p in enumerate(parts):
        if isinstance(p, pd.DataFrame):
            out.append((f"partition {k}", (lambda p=p, k=k: _from_frame(p, cfg, f"partition {k}"))))
        else:
            for f in wave_partitions(p):
                out.append((str(f), (lambda f=f: read_wave(f, cfg))))
    return out


def _from_frame(frame: pd.DataFrame, cfg: ReportConfig, name: str) -> tuple[pd.DataFrame, list[DataError]]:
    if "company" in frame.columns and "_row" in frame.columns:
        return frame, []
    cfg.resolve_columns([str(c) for c in frame.columns], source=name)
    raw = frame.reset_index(drop=True).copy()
    raw.insert(0, "_row", np.arange(1, len(raw) + 1))
    return canonicalize(raw, cfg, source=name)


def iter_prediction_rows(predictions: Any) -> Iterator[dict[str, Any]]:
    """Prediction rows of a partitioned directory, of files (JSONL / Parquet), or of an iterable of rows."""
    from nlp.batch.manifest import is_partitioned, read_partitioned_predictions

    if predictions is None:
        return
    if isinstance(predictions, (str, Path)):
        predictions = [predictions]
    for p in predictions:
        if isinstance(p, Mapping):
            yield dict(p)
        elif is_partitioned(p):
            yield from read_partitioned_predictions(p)
        else:
            rows, errors = read_predictions(p)
            if errors:
                raise errors[0]
            yield from rows


def classified(wave_parts: Any, pipeline: Any, config: ReportConfig | None = None) -> Iterator[dict[str, Any]]:
    """Prediction rows for the comments of every wave partition, classified partition by partition (what
    ``cxlens report WAVE_DIR`` does without ``--predictions``); lazily, for :func:`build_report_partitioned`."""
    from .classify import classify

    cfg = config or ReportConfig()
    for _, load in _part_loaders(wave_parts, cfg):
        df, _ = load()
        yield from classify(R._normalized(df, cfg), pipeline)


def is_partitioned_wave(spec: str | Path) -> bool:
    """A wave given as a directory or a glob (several partitions) rather than one file."""
    p = Path(spec)
    return p.is_dir() or (not p.exists() and any(c in str(spec) for c in "*?["))


# ---------------------------------------------------------------------------------------------------- group sums
#: partial group sums kept before they are merged into one (bounds the driver's memory per grouping)
MERGE_EVERY = 64
SUM_COLS = ("n", "sat_sum", "sat_n", "nps_n", "prom", "det", "csat_n", "csat_top", "ces_sum", "ces_n")


def _group_sums(sub: pd.DataFrame, keys: list[str], ctx: R._Ctx) -> pd.DataFrame | None:
    """:func:`cx.report._stats_frame` of a partition, with the first answer (global position) and the
    key-account flag of each group; keys as columns."""
    sub = sub.dropna(subset=keys)
    if not len(sub):
        return None
    st = R._stats_frame(sub, keys, ctx).drop(columns=["sat_mean"])
    g = sub.groupby(keys, sort=False, dropna=True)
    st["first"] = g["_pos"].min()
    st["key_acc"] = g["key_account"].any()
    return st.reset_index()


def _merge_sums(parts: list[pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    """Partition group sums -> the in-memory :func:`cx.report._stats_frame` (same groups, order, columns)."""
    if not parts:
        return pd.DataFrame()
    allp = pd.concat(parts, ignore_index=True).sort_values("first", kind="stable")
    agg = {c: (c, "sum") for c in SUM_COLS if c in allp}
    if "nps_min" in allp:
        agg["nps_min"] = ("nps_min", "min")
    agg["first"] = ("first", "min")
    agg["key_acc"] = ("key_acc", "any")
    out = allp.groupby(keys, sort=False, dropna=True).agg(**agg)
    out["sat_mean"] = out["sat_sum"] / out["sat_n"].where(out["sat_n"] > 0)
    return out


def _stats_only(st: pd.DataFrame) -> pd.DataFrame:
    return st.drop(columns=[c for c in ("first", "key_acc") if c in st])


class _Sums:
    """Running group sums of several groupings."""

    def __init__(self) -> None:
        self.parts: dict[tuple[str, tuple[str, ...]], list[pd.DataFrame]] = {}

    def add(self, name: str, sub: pd.DataFrame, keys: list[str], ctx: R._Ctx) -> None:
        st = _group_sums(sub, keys, ctx)
        lst = self.parts.setdefault((name, tuple(keys)), [])
        if st is not None:
            lst.append(st)
            if len(lst) >= MERGE_EVERY:  # keep the number of pieces bounded
                merged = _merge_sums(lst, keys)
                lst[:] = [merged.drop(columns=["sat_mean"]).reset_index()]

    def get(self, name: str, keys: list[str]) -> pd.DataFrame:
        return _merge_sums(self.parts.get((name, tuple(keys)), []), keys)


# ---------------------------------------------------------------------------------------------------- moments
class _IndicatorMoments:
    """Co-moments of [mention indicators | overall score] with touchpoint columns added as they appear (a
    touchpoint absent from earlier rows had indicator 0 there: complete data, so sums just extend)."""

    def __init__(self) -> None:
        self.labels: list[str] = []
        self.N = 0
        self.S = np.zeros(1)  # per column (touchpoints..., y) sum of shifted values
        self.C = np.zeros((1, 1))  # cross-products
        self.k_y: float | None = None
        self.y_min, self.y_max = np.inf, -np.inf

    def _grow(self, labels: list[str]) -> None:
        new = [t for t in labels if t not in self.labels]
        if not new:
            return
        p_old = len(self.labels)
        p = p_old + len(new)
        S = np.zeros(p + 1)
        C = np.zeros((p + 1, p + 1))
        S[:p_old], S[p] = self.S[:p_old], self.S[p_old]
        idx = list(range(p_old)) + [p]
        C[np.ix_(idx, idx)] = self.C
        self.labels += new
        self.S, self.C = S, C

    def add(self, X: np.ndarray, labels: list[str], y: np.ndarray) -> None:
        if not len(y):
            return
        self._grow(labels)
        if self.k_y is None:
            self.k_y = float(np.mean(y))
        col = [self.labels.index(t) for t in labels] + [len(self.labels)]
        A = np.column_stack([X, y - self.k_y])
        self.N += len(y)
        self.S[col] += A.sum(axis=0)
        self.C[np.ix_(col, col)] += A.T @ A
        self.y_min, self.y_max = min(self.y_min, float(y.min())), max(self.y_max, float(y.max()))

    def comoments(self, ids: list[str]) -> M.CoMoments:
        """:class:`cx.metrics.CoMoments` of [indicators of ``ids`` | y] (``ids`` not seen: all zero)."""
        self._grow(ids)
        col = [self.labels.index(t) for t in ids] + [len(self.labels)]
        p = len(col)
        out = M.CoMoments(p, np.r_[np.zeros(p - 1), self.k_y or 0.0])
        S, C = self.S[col], self.C[np.ix_(col, col)]
        out.n = np.full((p, p), float(self.N))
        out.s = np.tile(S[:, None], (1, p))
        out.q = np.tile(np.diag(C)[:, None], (1, p))
        out.c = C
        return out


@dataclass
class _RatingAgg:
    cols: list[str]
    k: np.ndarray
    sums: np.ndarray
    counts: np.ndarray
    mom: M.CoMoments
    n_ok: int = 0
    y_min: float = np.inf
    y_max: float = -np.inf


# ---------------------------------------------------------------------------------------------------- quotes
class _TopQuotes:
    """The ``limit`` best quote candidates of a (touchpoint, polarity) so far: highest confidence first,
    ties in prediction order (what the in-memory stable sort keeps)."""

    def __init__(self, limit: int = 40) -> None:
        self.limit = limit
        self.items: list[tuple[float, int, dict[str, Any]]] = []

    def add(self, sub: pd.DataFrame, cur: pd.DataFrame, ctx: R._Ctx) -> None:
        if not len(sub):
            return
        best = sub.sort_values("conf", ascending=False, kind="stable").head(self.limit)
        cands = R._quote_candidates(best, cur, ctx, limit=self.limit)
        self.items.extend(zip((-best["conf"]).tolist(), best["_mpos"].tolist(), cands))
        self.items.sort(key=lambda t: (t[0], t[1]))
        del self.items[self.limit:]

    def candidates(self) -> list[dict[str, Any]]:
        return [c for _, _, c in self.items]


class _RiskQuotes:
    """Risk quote candidates in answer order, keeping only those :func:`cx.metrics.pick_quotes` can still
    choose: the first k+1 distinct texts of each company and the first 2k distinct texts overall."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.by_company: dict[Any, set[str]] = {}
        self.overall: set[str] = set()
        self.kept: list[dict[str, Any]] = []

    def add(self, cand: dict[str, Any]) -> None:
        key = M.normalize_quote(cand["text"])
        mine = self.by_company.setdefault(cand.get("company"), set())
        keep = False
        if key not in mine and len(mine) < self.k + 1:
            mine.add(key)
            keep = True
        if key not in self.overall and len(self.overall) < 2 * self.k:
            self.overall.add(key)
            keep = True
        if keep:
            self.kept.append(cand)


# ---------------------------------------------------------------------------------------------------- the report
@dataclass
class _Scan:
    names: list[str] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    drops: list[np.ndarray] = field(default_factory=list)
    ids: list[np.ndarray] = field(default_factory=list)
    errors: list[DataError] = field(default_factory=list)
    waves: set[str] = field(default_factory=set)
    scores: set[str] = field(default_factory=set)
    ratings: dict[str, None] = field(default_factory=dict)  # rating columns with a value, in column order
    n: int = 0
    any_comment: bool = False


def build_report_partitioned(wave_parts: Any, predictions: Any = None, config: ReportConfig | None = None, *,
                             taxonomy: Taxonomy | None = None, data_errors: list[DataError] | None = None,
                             source: str | None = None, model: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The report of a wave given in partitions (see the module doc); equal to :func:`cx.report.build_report`
    on the concatenated partitions. Answer ids must be unique across partitions (a repeated id is reported
    and skipped, as within one file)."""
    cfg = config or ReportConfig()
    loaders = _part_loaders(wave_parts, cfg)

    # ---- pass 1: ids (duplicates across partitions), waves, which scores and ratings have values
    scan = _Scan()
    seen: set[str] = set()
    for name, load in loaders:
        df, errs = load()
        df = R._normalized(df, cfg)
        ids = df["id"].to_numpy(dtype=object)
        dup = np.fromiter((i in seen for i in ids), bool, len(ids))
        for pos in np.flatnonzero(dup):
            errs.append(DataError("duplicate id; row skipped", field=cfg.columns.get("id", "id"),
                                  expected="unique ids", found=ids[pos], row=int(df["_row"].iloc[pos]), source=name))
        errs.sort(key=lambda e: (e.row if isinstance(e.row, int) else 0))
        seen.update(ids[~dup].tolist())
        df = df[~dup]
        scan.names.append(name)
        scan.offsets.append(scan.n)
        scan.drops.append(dup)
        scan.ids.append(ids[~dup])
        scan.errors.extend(errs)
        scan.n += len(df)
        scan.waves.update(str(w) for w in df["wave"].dropna().unique())
        scan.scores.update(r for r in SCORE_ROLES if r in df and df[r].notna().any())
        for c in df.columns:
            if str(c).startswith("rating:") and df[c].notna().any():
                scan.ratings[c] = None
        scan.any_comment = scan.any_comment or bool(df["comment"].str.strip().ne("").any())
    errors = list(data_errors or []) + scan.errors
    taxonomy = taxonomy or load_taxonomy(cfg.taxonomy)
    ctx = R._Ctx(cfg=cfg, taxonomy=taxonomy, lang=cfg.lang)
    ctx.scores = {r: R._spec(cfg, r) for r in SCORE_ROLES if r in scan.scores}
    ctx.ratings = {c[7:]: R._spec(cfg, c) for c in scan.ratings}

    # ---- predictions joined to all answer ids (the in-memory join: same unmatched / bad / last label rules)
    all_ids = pd.Series(np.concatenate(scan.ids) if scan.ids else np.zeros(0, object), dtype=object)
    ment, sentiment, join = R._mentions(iter_prediction_rows(predictions), all_ids, ctx)
    del all_ids, seen
    ment["_mpos"] = np.arange(len(ment))
    ment = ment.sort_values("ai", kind="stable")
    ment_ai = ment["ai"].to_numpy()

    waves = sorted(scan.waves, key=R._natural_key)
    current = waves[-1] if waves else None
    previous = waves[-2] if len(waves) >= 2 else None
    latest = cfg.scope == "latest" and current is not None
    patterns = load_risk_patterns(cfg.risk_patterns)
    templates = R.load_question_templates(cfg.interview_questions)
    overall = cfg.overall_score

    def partitions() -> Iterator[tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]]:
        """(answers with global positions as index, their mentions in prediction order, in_cur, offset)."""
        for (name, load), off, drop in zip(loaders, scan.offsets, scan.drops):
            df, _ = load()
            df = R._normalized(df, cfg)[~drop].reset_index(drop=True)
            df.index = pd.RangeIndex(off, off + len(df))
            df["_pos"] = df.index.to_numpy()
            R._add_row_flags(df, ctx)
            lo, hi = np.searchsorted(ment_ai, [off, off + len(df)])
            m = ment.iloc[lo:hi].sort_values("_mpos", kind="stable")
            in_cur = (df["wave"] == current).to_numpy() if latest else np.ones(len(df), bool)
            yield df, m, in_cur, off

    # ---- pass 2: aggregates
    sums = _Sums()
    n_scope = n_comments = 0
    sat_m = ces_m = (0, 0.0, 0.0)
    nps_c = (0, 0, 0)
    csat_c = (0, 0)
    tp_counts: dict[str, np.ndarray] = {}
    per_tp: dict[str, dict[str, Any]] = {}
    with_counts: dict[tuple[str, str], tuple[int, int, int]] = {}
    quotes: dict[tuple[str, str], _TopQuotes] = {}
    ind = _IndicatorMoments()
    rcols_all = list(ctx.ratings)
    rat: _RatingAgg | None = None
    in_scope_ratings = np.zeros(len(rcols_all), np.int64)
    comm_w: dict[str, int] = {}
    any_w: dict[tuple[str, str], int] = {}
    neg_w: dict[tuple[str, str], int] = {}
    risk_n = [0] * len(patterns)
    risk_companies: list[set] = [set() for _ in patterns]
    risk_tps: list[dict[str, list[int]]] = [{} for _ in patterns]  # tp -> [count, first mention position]
    risk_quotes = [_RiskQuotes(cfg.quotes_per_item) for _ in patterns]
    risk_company: dict[Any, dict[int, list[int]]] = {}  # company -> {category: [count, first answer]}
    n_any = 0
    comments: list[dict[str, Any]] = []
    for df, m, in_cur, off in partitions():
        cur = df[in_cur]
        m_cur = m[in_cur[m["ai"].to_numpy() - off]] if len(m) else m
        prev = df[(df["wave"] == previous).to_numpy()] if previous is not None and cfg.scope == "latest" else None
        # group sums
        for k in ("segment", "region", "question"):
            sums.add("cur", cur, [k], ctx)
        sums.add("cur", cur, ["company"], ctx)
        sums.add("cur", cur, ["company", "contact"], ctx)
        if prev is not None:
            sums.add("prev", prev, ["company"], ctx)
            sums.add("prev", prev, ["company", "contact"], ctx)
        wv = df[df["wave"].notna()]
        sums.add("all", wv, ["wave"], ctx)
        sums.add("all", wv, ["company", "wave"], ctx)
        # summary
        n_scope += len(cur)
        commented = cur["comment"].str.strip().ne("").to_numpy()
        n_comments += int(commented.sum())
        sat_m = M.merge_moments(sat_m, M.moments(cur["_sat"]))
        if "nps" in ctx.scores:
            nps_c = tuple(a + b for a, b in zip(nps_c, M.nps_counts(cur["nps"])))  # type: ignore[assignment]
        if "csat" in ctx.scores:
            sp = ctx.scores["csat"]
            v = cur["csat"].dropna().to_numpy(float)
            csat_c = (csat_c[0] + int((v >= M.csat_threshold(sp.scale, sp.top_box_from)).sum()), csat_c[1] + len(v))
        if "ces" in ctx.scores:
            ces_m = M.merge_moments(ces_m, M.moments(cur["ces"]))
        # touchpoints in scope
        if len(m_cur):
            dedup = m_cur.drop_duplicates(["ai", "tp", "pol"])
            ment_any = m_cur.drop_duplicates(["ai", "tp"])
            for tp, k in ment_any.groupby("tp").size().items():
                tp_counts.setdefault(tp, np.zeros(4, np.int64))[0] += int(k)
            for (tp, pol), k in dedup.groupby(["tp", "pol"]).size().items():
                tp_counts.setdefault(tp, np.zeros(4, np.int64))[1 + R.POLARITIES.index(pol)] += int(k)
            nps_ok = cur["nps"].notna().to_numpy() if "nps" in ctx.scores else None
            for tp, mt in m_cur.groupby("tp", sort=False):
                answers = cur.loc[mt["ai"].unique()]
                e = per_tp.setdefault(tp, {"nps": (0, 0, 0), "sat": (0.0, 0)})
                if "nps" in ctx.scores:
                    e["nps"] = tuple(a + b for a, b in zip(e["nps"], M.nps_counts(answers["nps"])))
                    idx = cur.index.to_numpy()[nps_ok]
                    s = cur["nps"].to_numpy(float)[nps_ok]
                    for kind, sub in (("all", mt), ("positive", mt[mt["pol"] == "positive"]),
                                      ("negative", mt[mt["pol"] == "negative"])):
                        w = M.nps_counts(s[np.isin(idx, sub["ai"].unique())])
                        old = with_counts.get((tp, kind), (0, 0, 0))
                        with_counts[(tp, kind)] = tuple(a + b for a, b in zip(old, w))  # type: ignore[assignment]
                e["sat"] = (e["sat"][0] + float(answers["_sat"].sum()), e["sat"][1] + int(answers["_sat"].count()))
                for pol in R.POLARITIES:
                    quotes.setdefault((tp, pol), _TopQuotes()).add(mt[mt["pol"] == pol], cur, ctx)
        # mention importance: commented answers with an overall score
        if overall and overall in cur:
            rows = cur.index.to_numpy()[commented & cur[overall].notna().to_numpy()]
            labels = sorted(set(m_cur["tp"].tolist())) if len(m_cur) else []
            X = R._indicators(m_cur, rows, labels) if labels else np.zeros((len(rows), 0))
            ind.add(X, labels, cur.loc[rows, overall].to_numpy(float))
        # component ratings
        if rcols_all:
            R10 = np.column_stack([M.to_ten(cur[f"rating:{c}"], ctx.ratings[c].scale) for c in rcols_all])
            in_scope_ratings += np.isfinite(R10).sum(axis=0)
            y = cur[overall].to_numpy(float) if overall and overall in cur else np.full(len(cur), np.nan)
            if rat is None:
                rk = np.r_[np.full(len(rcols_all), 5.5), 5.0]
                rat = _RatingAgg(rcols_all, rk, np.zeros(len(rcols_all)), np.zeros(len(rcols_all), np.int64),
                                 M.CoMoments(len(rcols_all) + 1, rk))
            fin = np.isfinite(R10)
            rat.sums += np.where(fin, R10, 0.0).sum(axis=0)
            rat.counts += fin.sum(axis=0)
            ok = ~np.isnan(y)
            rat.mom.add(np.column_stack([R10[ok], y[ok]]))
            rat.n_ok += int(ok.sum())
            if ok.any():
                rat.y_min, rat.y_max = min(rat.y_min, float(y[ok].min())), max(rat.y_max, float(y[ok].max()))
        # trends (all waves)
        if len(waves) >= 2:
            for w, k in wv[wv["comment"].str.strip().ne("")].groupby("wave").size().items():
                comm_w[w] = comm_w.get(w, 0) + int(k)
            if len(m):
                mw = m.assign(wave=df.loc[m["ai"].to_numpy(), "wave"].to_numpy())
                mw = mw[mw["wave"].notna()]
                for key, k in mw.drop_duplicates(["ai", "tp"]).groupby(["tp", "wave"]).size().items():
                    any_w[key] = any_w.get(key, 0) + int(k)
                for key, k in mw[mw["pol"] == "negative"].drop_duplicates(["ai", "tp"]).groupby(["tp", "wave"]).size().items():
                    neg_w[key] = neg_w.get(key, 0) + int(k)
        # risks (in scope) and the labels section (all answers)
        masks = risk_masks(df["comment"].tolist(), patterns)
        any_mask = np.zeros(len(cur), bool)
        neg = m_cur[m_cur["pol"] == "negative"] if len(m_cur) else m_cur
        for ci, c in enumerate(patterns):
            mk = masks[c["id"]][in_cur]
            any_mask |= mk
            sub = cur[mk]
            risk_n[ci] += int(mk.sum())
            risk_companies[ci].update(sub["company"].tolist())
            for ai, text, comp, contact, rid in zip(sub.index.tolist(), sub["comment"].tolist(),
                                                    sub["company"].tolist(), sub["contact"].tolist(),
                                                    sub["id"].tolist()):
                hit = c["regex"].search(text)
                risk_quotes[ci].add({"text": M.trim_quote(text, hit.start() if hit else None,
                                                          hit.end() if hit else None, window=cfg.quote_window),
                                     "id": rid, "company": comp, "contact": contact, "confidence": None})
                e = risk_company.setdefault(comp, {}).setdefault(ci, [0, ai])
                e[0] += 1
            if len(neg):
                nd = neg[neg["ai"].isin(sub.index)].drop_duplicates(["ai", "tp"])
                for tp, mpos in zip(nd["tp"].tolist(), nd["_mpos"].tolist()):
                    e = risk_tps[ci].setdefault(tp, [0, mpos])
                    e[0] += 1
                    e[1] = min(e[1], mpos)
        n_any += int(any_mask.sum())
        if cfg.include_comments:
            local = m.assign(ai=m["ai"].to_numpy() - off) if len(m) else m
            comments.extend(R._comments(df.reset_index(drop=True), local, sentiment[off:off + len(df)],
                                        {k: v for k, v in masks.items()}))

    # ---- sections from the aggregates, in the order build_report computes them (warnings keep their order)
    if tp_counts:
        counts = pd.DataFrame.from_dict({tp: v for tp, v in sorted(tp_counts.items())}, orient="index",
                                        columns=["mentions", "positive", "negative", "neutral"])
        tp_stats = R._tp_stats_from_counts(counts)
    else:
        tp_stats = pd.DataFrame(columns=["mentions", "positive", "negative", "neutral"])
    ids = tp_stats.index.tolist()
    y_varies = ind.N > 0 and ind.y_max > ind.y_min
    mi = R._mention_importance_from(lambda: ind.comoments(ids), ind.N if overall else 0, bool(overall) and y_varies,
                                    n_comments, tp_stats, ctx)

    rcols = [c for c, k in zip(rcols_all, in_scope_ratings.tolist()) if k > 0]

    def ratings(cols: list[str]) -> tuple[np.ndarray, np.ndarray, tuple]:
        sel = [rcols_all.index(c) for c in cols]
        n = rat.counts[sel] if rat is not None else np.zeros(0, np.int64)
        with np.errstate(all="ignore"):
            perf = np.where(n > 0, rat.sums[sel] / np.maximum(n, 1), np.nan) if rat is not None else np.zeros(0)
        sub = M.CoMoments(len(sel) + 1, rat.k[sel + [len(rcols_all)]])
        full = sel + [len(rcols_all)]
        for a in ("n", "s", "q", "c"):
            setattr(sub, a, getattr(rat.mom, a)[np.ix_(full, full)])
        imp = R._importance_from(lambda: sub, rat.n_ok, rat.y_max > rat.y_min, cols, ctx, fallback=None,
                                 fallback_name="equal")
        return perf, n.astype(int), imp

    matrix = R._matrix_from(rcols, ratings, tp_stats, ctx, mi)
    tp_table, strengths, weaknesses, suggestions = R._strengths_weaknesses_from(
        n_comments, tp_stats, mi, {tp: per_tp.get(tp, {"nps": (0, 0, 0), "sat": (0.0, 0)}) for tp in ids},
        {k: q.candidates() for k, q in quotes.items()}, ctx)
    impact = {r["touchpoint"]: r for r in R._theme_impact_from(tp_stats, nps_c, with_counts, ctx)}
    for row in tp_table:
        row["impact"] = {k: impact.get(row["touchpoint"], {}).get(f"impact_{k}") for k in R.THEME_KINDS}

    def traffic(keys: list[str]) -> list[dict[str, Any]]:
        st = sums.get("cur", keys)
        if not len(st):
            return []
        prev_mean = pd.Series(np.nan, index=st.index)
        if previous is not None and cfg.scope == "latest":
            pst = sums.get("prev", keys)
            if len(pst):
                prev_mean = pst["sat_mean"].reindex(st.index)
        return R._traffic_table(keys, _stats_only(st), prev_mean, st["key_acc"].astype(bool), ctx)

    companies, contacts = traffic(["company"]), traffic(["company", "contact"])
    tl = R._traffic_lights_from(companies, contacts, ctx)
    by_wave = sums.get("all", ["wave"])
    if len(waves) >= 2:
        any_s = pd.Series(any_w, dtype=np.int64)
        if not len(any_s):
            any_s = pd.Series([], index=pd.MultiIndex.from_tuples([], names=["tp", "wave"]), dtype=np.int64)
        trends = R._trends_from(waves, _stats_only(by_wave), pd.Series(comm_w, dtype=np.int64), any_s,
                                pd.Series(neg_w, dtype=np.int64), _stats_only(sums.get("all", ["company", "wave"])), ctx)
    else:
        trends = R._trends_from(waves, _stats_only(by_wave) if len(by_wave) else by_wave, None, None, None, None, ctx)
    per_cat = []
    for ci in range(len(patterns)):
        order = sorted(risk_tps[ci].items(), key=lambda kv: kv[1][1])
        synthetic = pd.Series([tp for tp, (k, _) in order for _ in range(k)], dtype=object)
        per_cat.append({"n": risk_n[ci], "companies": risk_companies[ci],
                        "negative_touchpoints": synthetic.value_counts() if len(synthetic) else
                        pd.Series([], dtype=np.int64), "quotes": risk_quotes[ci].kept})
    first_seen = {comp: min((ci, e[1]) for ci, e in cats.items()) for comp, cats in risk_company.items()}
    per_company = {comp: {patterns[ci]["id"]: risk_company[comp][ci][0] for ci in sorted(risk_company[comp])}
                   for comp in sorted(risk_company, key=lambda c: first_seen[c])}
    risks = R._risks_from(patterns, per_cat, per_company, n_any, tl["companies"], ctx)

    # ---- pass 3: the shortlisted contacts' answers and negative mentions (a few rows), then the shortlist
    empty_cur = pd.DataFrame(columns=["company", "contact", "comment", "id"])
    empty_ment = pd.DataFrame({"ai": pd.Series([], dtype=np.int64), "tp": pd.Series([], dtype=object),
                               "pol": pd.Series([], dtype=object), "conf": pd.Series([], dtype=float),
                               "start": pd.Series([], dtype=np.int64), "end": pd.Series([], dtype=np.int64)})
    first = R._shortlist(empty_cur, empty_ment, tl, trends, templates, ctx)
    shortlist = first
    if first:
        keys = {f"{r['company']}\x1f{r['contact']}" for r in first}
        rows_l, ment_l = [], []
        for df, m, in_cur, off in partitions():
            cur = df[in_cur]
            ck = cur["company"].astype(str) + "\x1f" + cur["contact"].astype(str)
            sel = cur[ck.isin(keys).to_numpy()]
            if len(sel):
                rows_l.append(sel)
                ment_l.append(m[m["ai"].isin(sel.index)])
        mini_cur = pd.concat(rows_l) if rows_l else empty_cur
        mini_ment = pd.concat(ment_l).sort_values("_mpos", kind="stable") if ment_l else empty_ment
        shortlist = R._shortlist(mini_cur, mini_ment, tl, trends, templates, ctx)

    n_labeled = int(pd.Series(sentiment).notna().sum())
    agg = {"n_answers": n_scope, "n_companies": len(companies), "n_contacts": len(contacts), "n_comments": n_comments,
           "sat": sat_m, "nps": nps_c, "csat": csat_c, "ces": ces_m}
    summary = R._summary_from(agg, ctx)

    def table(key: str) -> list[dict[str, Any]]:
        st = sums.get("cur", [key])
        if not len(st):
            return []
        rows = [{key: k, **r} for k, r in zip(st.index.tolist(), R._stats_rows(_stats_only(st), ctx))]
        rows.sort(key=lambda r: -r["n"])
        return rows

    return R._assemble(
        ctx, taxonomy=taxonomy, source=source, model=dict(model) if model else join["model"], join=join,
        waves=waves, current=current, previous=previous, n_total=scan.n, n_scope=n_scope, n_labeled=n_labeled,
        summary=summary, breakdowns={k: table(k) for k in ("segment", "region", "question")}, tp_table=tp_table,
        matrix=matrix, impact=impact, tl=tl, strengths=strengths, weaknesses=weaknesses, suggestions=suggestions,
        shortlist=shortlist, risks=risks, trends=trends, errors=errors, any_comment=scan.any_comment,
        comments=lambda: comments)


def report_from_partitions(wave: Any, predictions: Any, config: ReportConfig, *,
                           open_pipeline: Callable[[], Any] | None = None, source: str | None = None) -> dict[str, Any]:
    """What ``cxlens report WAVE_DIR [--predictions PREDS]`` computes: the partitioned report, with the
    comments classified partition by partition by ``open_pipeline()`` when no predictions are given."""
    parts = wave_partitions(wave) if isinstance(wave, (str, Path)) else wave
    model = None
    if predictions is None:
        if open_pipeline is None:
            raise DataError("no predictions", field="--predictions", expected="prediction rows or a model",
                            found=None)
        pipe = open_pipeline()
        predictions = classified(parts, pipe, config)
        model = {"name": str(getattr(pipe, "name", "")), "version": str(getattr(pipe, "version", ""))}
    return build_report_partitioned(parts, predictions, config, source=source, model=model)
