"""Answers + predictions -> the structured strengths-and-weaknesses report (a JSON-ready dict).

The layout is documented in docs/reports.md (``schema_version``). Every section is computed by a small helper
below from the canonical answers frame (:mod:`cx.waves`) and a flat frame of touchpoint mentions built from the
prediction rows; the numbers themselves come from :mod:`cx.metrics`.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import yaml

from nlp.errors import DataError
from nlp.taxonomy import Taxonomy, load_taxonomy

from . import metrics as M
from .config import DEFAULT_SCALES, SCORE_ROLES, ReportConfig, ScoreSpec
from .i18n import both, t
from .risks import read_data_file, load_risk_patterns, risk_masks
from .waves import canonicalize

SCHEMA_VERSION = "1.0"
POLARITIES = ("positive", "negative", "neutral")
ZONE_ORDER = {"red": 0, "yellow": 1, "green": 2}
#: at most this many data errors are listed one by one in the report (all are counted)
MAX_LISTED_ERRORS = 100


# ---------------------------------------------------------------------------------------------------- data files
def load_question_templates(path: str | Path | None = None) -> dict[str, dict[str, list[str]]]:
    """Interview question templates per touchpoint and language (cx/data/interview_questions.yaml)."""
    text, source = read_data_file(path, "interview_questions.yaml")
    raw = yaml.safe_load(text) or {}
    tpl = raw.get("templates") if isinstance(raw, dict) else None
    if not isinstance(tpl, dict):
        raise DataError(source=source, field="templates", expected="a mapping touchpoint -> {ru: [...], en: [...]}",
                        found=tpl)
    out: dict[str, dict[str, list[str]]] = {}
    for tp, langs in tpl.items():
        if not isinstance(langs, dict) or not all(isinstance(v, list) for v in langs.values()):
            raise DataError(source=source, field=f"templates.{tp}", expected="{ru: [questions], en: [questions]}",
                            found=langs)
        out[str(tp)] = {str(k): [str(q) for q in v] for k, v in langs.items()}
    return out


# ---------------------------------------------------------------------------------------------------- helpers
def _f(x: Any, nd: int = 2) -> float | None:
    """A JSON number: rounded float, None for NaN/None."""
    if x is None:
        return None
    xf = float(x)
    return None if xf != xf else round(xf, nd)


def _rounded(a: Any, nd: int = 2) -> list[float | None]:
    """:func:`_f` over an array."""
    return [None if v != v else round(v, nd) for v in np.asarray(a, dtype=float).tolist()]


def _natural_key(s: str) -> list:
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", str(s))]


@dataclass
class _Ctx:
    """What every section needs: config, taxonomy, scales, score columns present, language."""

    cfg: ReportConfig
    taxonomy: Taxonomy
    lang: str
    scores: dict[str, ScoreSpec] = field(default_factory=dict)   # nps/csat/ces present in the data
    ratings: dict[str, ScoreSpec] = field(default_factory=dict)  # component -> spec, present in the data
    warnings: list[str] = field(default_factory=list)

    def name(self, tp: str) -> str:
        if tp in self.taxonomy:
            return self.taxonomy.name(tp, self.lang)
        return tp.replace("_", " ").capitalize()


def _spec(cfg: ReportConfig, role: str) -> ScoreSpec:
    if role in cfg.scores:
        return cfg.scores[role]
    if role.startswith("rating:") and role[7:] in cfg.ratings:
        return cfg.ratings[role[7:]]
    kind = "rating" if role.startswith("rating:") else role
    return ScoreSpec(role, DEFAULT_SCALES[kind])


def _satisfaction(df: pd.DataFrame, ctx: _Ctx) -> pd.Series:
    """Per answer: the mean of its sources on the 10-point scale (all ratings together count as one source)."""
    parts = []
    srcs = ctx.cfg.satisfaction_sources
    for role in ("nps", "csat", "ces"):
        if role in srcs and role in ctx.scores:
            spec = ctx.scores[role]
            parts.append(M.to_ten(df[role], spec.scale, good_end=spec.good_end if role == "ces" else "high"))
    if "ratings" in srcs and ctx.ratings:
        parts.append(_row_mean(np.column_stack([M.to_ten(df[f"rating:{c}"], s.scale) for c, s in ctx.ratings.items()])))
    if not parts:
        return pd.Series(np.nan, index=df.index)
    return pd.Series(_row_mean(np.column_stack(parts)), index=df.index)


def _row_mean(arr: np.ndarray) -> np.ndarray:
    """Mean of each row over its non-missing values (NaN where all are missing)."""
    cnt = (~np.isnan(arr)).sum(axis=1)
    return np.where(cnt > 0, np.nansum(arr, axis=1) / np.maximum(cnt, 1), np.nan)


def _add_row_flags(df: pd.DataFrame, ctx: _Ctx) -> pd.DataFrame:
    """Helper columns for vectorised group statistics."""
    df["_sat"] = _satisfaction(df, ctx)
    if "nps" in ctx.scores:
        s = df["nps"]
        df["_nps_n"] = s.notna().astype(np.int64)
        df["_prom"] = (s >= 9).astype(np.int64)
        df["_det"] = (s < 7).astype(np.int64)
    if "csat" in ctx.scores:
        spec = ctx.scores["csat"]
        thr = M.csat_threshold(spec.scale, spec.top_box_from)
        df["_csat_n"] = df["csat"].notna().astype(np.int64)
        df["_csat_top"] = (df["csat"] >= thr).astype(np.int64)
    return df


def _stats_frame(df: pd.DataFrame, keys: list[str], ctx: _Ctx) -> pd.DataFrame:
    """Counts and sums per group, from which every group figure is derived."""
    agg: dict[str, tuple[str, str]] = {"n": ("_row", "size"), "sat_sum": ("_sat", "sum"), "sat_n": ("_sat", "count")}
    if "nps" in ctx.scores:
        agg.update(nps_n=("_nps_n", "sum"), prom=("_prom", "sum"), det=("_det", "sum"), nps_min=("nps", "min"))
    if "csat" in ctx.scores:
        agg.update(csat_n=("_csat_n", "sum"), csat_top=("_csat_top", "sum"))
    if "ces" in ctx.scores:
        agg.update(ces_sum=("ces", "sum"), ces_n=("ces", "count"))
    out = df.groupby(keys, sort=False, dropna=True).agg(**agg)
    out["sat_mean"] = out["sat_sum"] / out["sat_n"].where(out["sat_n"] > 0)
    return out


def _stats_rows(st: pd.DataFrame, ctx: _Ctx) -> list[dict[str, Any]]:
    """Each group's figures from a :func:`_stats_frame`, in its row order. Vectorised: a report has one row
    per contact, so there can be tens of thousands; the formulas are those of :mod:`cx.metrics`."""
    min_n = ctx.cfg.min_n
    n = st["n"].to_numpy(np.int64)
    z = M.Z95
    with np.errstate(all="ignore"):
        if "nps" in ctx.scores:
            k = st["nps_n"].to_numpy(np.int64)
            p, d = st["prom"].to_numpy(float) / k, st["det"].to_numpy(float) / k
            val = 100.0 * (p - d)
            se = 100.0 * np.sqrt(np.maximum(p + d - (p - d) ** 2, 0.0) / k)
            nps_lo, nps_hi = np.maximum(-100.0, val - z * se), np.minimum(100.0, val + z * se)
        if "csat" in ctx.scores:
            kc = st["csat_n"].to_numpy(np.int64)
            pc = st["csat_top"].to_numpy(float) / kc
            sec = np.sqrt(pc * (1 - pc) / kc)
            cs_lo, cs_hi = 100 * np.maximum(0.0, pc - z * sec), 100 * np.minimum(1.0, pc + z * sec)
        if "ces" in ctx.scores:
            ke = st["ces_n"].to_numpy(np.int64)
            ces_mean = st["ces_sum"].to_numpy(float) / ke
    sat_n = st["sat_n"].to_numpy(np.int64).tolist()
    sat = _rounded(st["sat_mean"])
    zones = M.zones(st["sat_mean"], yellow_from=ctx.cfg.yellow_from, green_from=ctx.cfg.green_from).tolist()
    nn = n.tolist()
    if "nps" in ctx.scores:
        kl, vl, lol, hil = k.tolist(), _rounded(val), _rounded(nps_lo), _rounded(nps_hi)
        minl = _rounded(st["nps_min"])
    if "csat" in ctx.scores:
        kcl, pcl, clol, chil = kc.tolist(), _rounded(100 * pc), _rounded(cs_lo), _rounded(cs_hi)
    if "ces" in ctx.scores:
        kel, cel = ke.tolist(), _rounded(ces_mean)
    rows = []
    for i in range(len(nn)):
        row: dict[str, Any] = {"n": nn[i], "low_n": nn[i] < min_n}
        if "nps" in ctx.scores:
            row["nps"] = {"value": vl[i], "ci_low": lol[i], "ci_high": hil[i], "n": kl[i], "low_n": kl[i] < min_n,
                          "min": minl[i]}
        if "csat" in ctx.scores:
            row["csat"] = {"n": kcl[i], "value": pcl[i], "ci_low": clol[i], "ci_high": chil[i],
                           "low_n": kcl[i] < min_n}
        if "ces" in ctx.scores:
            row["ces"] = {"mean": cel[i], "n": kel[i], "low_n": kel[i] < min_n}
        row["satisfaction"] = {"mean": sat[i], "n": sat_n[i], "low_n": sat_n[i] < min_n}
        row["zone"] = zones[i]
        rows.append(row)
    return rows


def _group_table(df: pd.DataFrame, key: str, ctx: _Ctx) -> list[dict[str, Any]]:
    if key not in df or df[key].isna().all():
        return []
    st = _stats_frame(df, [key], ctx)
    rows = [{key: k, **r} for k, r in zip(st.index.tolist(), _stats_rows(st, ctx))]
    rows.sort(key=lambda r: -r["n"])
    return rows


# ---------------------------------------------------------------------------------------------------- mentions
def _mentions(predictions: Iterable[Mapping[str, Any]], ids: pd.Series, ctx: _Ctx
              ) -> tuple[pd.DataFrame, np.ndarray, dict[str, Any]]:
    """Flat mentions frame (``ai`` = answer row index, ``tp``, ``pol``, ``conf``, ``start``, ``end``), the
    per-answer sentiment label, and join statistics."""
    index = {v: i for i, v in enumerate(ids.tolist())}
    n = len(ids)
    sentiment = np.full(n, None, dtype=object)
    ai: list[int] = []
    tp: list[Any] = []
    pol: list[Any] = []
    conf: list[Any] = []
    st: list[Any] = []
    en: list[Any] = []
    unmatched = bad = rows = 0
    model = None
    pols = set(POLARITIES)
    get = index.get
    for p in predictions:
        rows += 1
        pid = p.get("id")
        i = get(pid if type(pid) is str else str(pid))
        if i is None:
            unmatched += 1
            continue
        if model is None and isinstance(p.get("model"), dict):
            model = p["model"]
        s = p.get("sentiment")
        sentiment[i] = s.get("label") if isinstance(s, dict) else s
        for m in p.get("touchpoints") or ():
            try:
                tpv, polv = m["touchpoint"], m["polarity"]
            except (KeyError, TypeError):
                bad += 1
                continue
            if polv not in pols or type(tpv) is not str:
                bad += 1
                continue
            ev = m.get("evidence")
            s0 = e0 = -1
            if type(ev) is dict:
                s0, e0 = ev.get("start", -1), ev.get("end", -1)
                if type(s0) is not int or type(e0) is not int:
                    s0 = e0 = -1
            c = m.get("confidence")
            ai.append(i)
            tp.append(tpv)
            pol.append(polv)
            conf.append(float(c) if type(c) in (float, int) else 1.0)
            st.append(s0)
            en.append(e0)
    ment = pd.DataFrame({"ai": np.asarray(ai, dtype=np.int64), "tp": pd.Series(tp, dtype=object),
                         "pol": pd.Series(pol, dtype=object), "conf": np.asarray(conf, dtype=float),
                         "start": np.asarray(st, dtype=np.int64), "end": np.asarray(en, dtype=np.int64)})
    stats = {"prediction_rows": rows, "unmatched_predictions": unmatched, "bad_mentions": bad, "model": model}
    if unmatched:
        ctx.warnings.append(f"{unmatched} prediction rows have an id that is not among the answers; ignored")
    if bad:
        ctx.warnings.append(f"{bad} touchpoint mentions without a valid touchpoint/polarity; ignored")
    return ment, sentiment, stats


def _indicators(ment: pd.DataFrame, rows: np.ndarray, tps: list[str]) -> np.ndarray:
    """Per answer (``rows``) and touchpoint: +1 positive only, -1 negative only, 0 otherwise."""
    pos = {r: i for i, r in enumerate(rows.tolist())}
    X = np.zeros((len(rows), len(tps)))
    col = {tp: j for j, tp in enumerate(tps)}
    sub = ment[ment["ai"].isin(pos.keys()) & ment["tp"].isin(col.keys())]
    if len(sub):
        flags = sub.assign(p=(sub["pol"] == "positive").astype(int), n=(sub["pol"] == "negative").astype(int))
        g = flags.groupby(["ai", "tp"])[["p", "n"]].max().reset_index()
        val = (g["p"] - g["n"]).to_numpy(dtype=float)
        X[g["ai"].map(pos).to_numpy(), g["tp"].map(col).to_numpy()] = val
    return X


def _quote_candidates(ment: pd.DataFrame, df: pd.DataFrame, ctx: _Ctx, *, limit: int = 40) -> list[dict[str, Any]]:
    """Trimmed quotes for the given mentions, best confidence first."""
    sub = ment.sort_values("conf", ascending=False, kind="stable").head(limit)
    out = []
    for ai, conf, st, en in zip(sub["ai"].tolist(), sub["conf"].tolist(), sub["start"].tolist(), sub["end"].tolist()):
        text = df.at[ai, "comment"]
        ok = 0 <= st < en <= len(text)
        out.append({"text": M.trim_quote(text, st if ok else None, en if ok else None, window=ctx.cfg.quote_window),
                    "id": df.at[ai, "id"], "company": df.at[ai, "company"], "contact": df.at[ai, "contact"],
                    "confidence": _f(conf, 3)})
    return out


def _quotes(ment: pd.DataFrame, df: pd.DataFrame, ctx: _Ctx, k: int | None = None) -> list[dict[str, Any]]:
    return M.pick_quotes(_quote_candidates(ment, df, ctx), k=k or ctx.cfg.quotes_per_item)


# ---------------------------------------------------------------------------------------------------- sections
def _importance(X: np.ndarray, y: np.ndarray, ids: list[str], ctx: _Ctx, *, fallback: np.ndarray | None,
                fallback_name: str) -> tuple[np.ndarray, str, float | None]:
    """(importance per id, method used, R² or None). Stated weights win when configured."""
    cfg = ctx.cfg
    if cfg.importance == "stated":
        missing = [i for i in ids if i not in cfg.weights]
        if missing:
            ctx.warnings.append(f"no stated weight for {', '.join(missing)}; weight 0 used")
        return np.array([cfg.weights.get(i, 0.0) for i in ids], float), "stated", None
    ok = ~np.isnan(y)
    return _importance_from(lambda: M.CoMoments.of(np.column_stack([X[ok], y[ok]])), int(ok.sum()),
                            bool(ok.any() and np.nanstd(y[ok]) > 0), ids, ctx, fallback=fallback,
                            fallback_name=fallback_name)


def _importance_from(comoments, n_ok: int, y_varies: bool, ids: list[str], ctx: _Ctx, *,
                     fallback: np.ndarray | None, fallback_name: str) -> tuple[np.ndarray, str, float | None]:
    """:func:`_importance` from aggregates: ``comoments()`` gives the :class:`cx.metrics.CoMoments` of
    [X | y] over the ``n_ok`` answers with an overall score; ``y_varies``: that score is not constant."""
    cfg = ctx.cfg
    if cfg.importance == "stated":
        missing = [i for i in ids if i not in cfg.weights]
        if missing:
            ctx.warnings.append(f"no stated weight for {', '.join(missing)}; weight 0 used")
        return np.array([cfg.weights.get(i, 0.0) for i in ids], float), "stated", None
    if len(ids) and n_ok >= max(cfg.min_n, len(ids) + 2) and y_varies:
        imp, r2, method = M.derived_importance_from_corr(comoments().corr(), method=cfg.importance)
        return imp, method, r2
    ctx.warnings.append(f"too few answers with an overall score for derived importance; using {fallback_name}")
    return (fallback if fallback is not None else np.ones(len(ids))), fallback_name, None


def _matrix(cur: pd.DataFrame, tp_stats: pd.DataFrame, ctx: _Ctx, mention_importance: dict[str, Any]
            ) -> dict[str, Any]:
    """Importance x performance: component ratings (basis ``ratings``) or mentioned touchpoints (``mentions``)."""
    rcols = [c for c in ctx.ratings if cur[f"rating:{c}"].notna().any()]

    def ratings(rcols: list[str]) -> tuple[np.ndarray, np.ndarray, tuple]:
        perf_vals = [M.to_ten(cur[f"rating:{c}"], ctx.ratings[c].scale) for c in rcols]
        perf = np.array([np.nanmean(v) if np.isfinite(v).any() else np.nan for v in perf_vals])
        n = np.array([int(np.isfinite(v).sum()) for v in perf_vals])
        X = np.column_stack(perf_vals) if perf_vals else np.zeros((len(cur), 0))
        overall = ctx.cfg.overall_score
        y = cur[overall].to_numpy(float) if overall else np.full(len(cur), np.nan)
        return perf, n, _importance(X, y, rcols, ctx, fallback=None, fallback_name="equal")

    return _matrix_from(rcols, ratings, tp_stats, ctx, mention_importance)


def _matrix_from(rcols: list[str], ratings, tp_stats: pd.DataFrame, ctx: _Ctx, mention_importance: dict[str, Any]
                 ) -> dict[str, Any]:
    """The matrix from aggregates: ``rcols`` = rating components answered in scope; ``ratings(rcols)`` ->
    (mean rating on the 10-point scale, n, importance result) when the basis is ratings."""
    cfg = ctx.cfg
    basis = cfg.matrix_basis
    if basis == "auto":
        basis = "ratings" if len(rcols) >= 2 else "mentions"
    elif basis == "ratings" and not rcols:
        ctx.warnings.append("matrix basis 'ratings' but no component rating columns; using mentions")
        basis = "mentions"
    overall = cfg.overall_score
    if basis == "ratings":
        ids = rcols
        perf, n, (imp, method, r2) = ratings(rcols)
        perf_label = "mean_rating_10"
    else:
        ids = mention_importance["ids"]
        st = tp_stats.reindex(ids)
        n = st["mentions"].to_numpy(int) if len(ids) else np.zeros(0, int)
        perf = (100.0 * st["positive"] / st["mentions"]).to_numpy(float) if len(ids) else np.zeros(0)
        imp, method, r2 = mention_importance["importance"], mention_importance["method"], mention_importance["r2"]
        perf_label = "positive_share_pct"
    solid = n >= cfg.min_n
    cut = cfg.cut
    cut_i = M.cut_value(imp[solid] if solid.any() else imp, cut.get("importance", "mean") if isinstance(cut, dict) else cut)
    cut_p = M.cut_value(perf[solid] if solid.any() else perf, cut.get("performance", "mean") if isinstance(cut, dict) else cut)
    total = float(np.nansum(imp)) or 1.0
    items = []
    for j, cid in enumerate(ids):
        item = {"id": cid, "name": ctx.name(cid), "importance": _f(imp[j], 4), "importance_share": _f(100 * imp[j] / total, 1),
                "performance": _f(perf[j], 2), "n": int(n[j]), "low_n": bool(not solid[j]),
                "quadrant": None, "priority": None, "action": None}
        if cut_i is not None and cut_p is not None and np.isfinite(perf[j]) and np.isfinite(imp[j]):
            q, pr = M.quadrant(float(imp[j]), float(perf[j]), importance_cut=cut_i, performance_cut=cut_p)
            item.update(quadrant=q, priority=pr, action=both(f"action.{q}"))
        items.append(item)
    items.sort(key=lambda it: (it["priority"] or 9, -(it["importance"] or 0)))
    return {"basis": basis, "basis_text": t(f"basis.{basis}", ctx.lang), "performance_measure": perf_label,
            "importance_method": method, "overall_score": overall, "r2": _f(r2, 4),
            "cut": {"importance": _f(cut_i, 4), "performance": _f(cut_p, 2), "how": cut},
            "items": items}


def _touchpoint_stats(cur: pd.DataFrame, ment: pd.DataFrame) -> pd.DataFrame:
    """Per touchpoint: answers mentioning it (any / positive / negative / neutral) in the current scope."""
    if not len(ment):
        return pd.DataFrame(columns=["mentions", "positive", "negative", "neutral"])
    dedup = ment.drop_duplicates(["ai", "tp", "pol"])
    counts = dedup.pivot_table(index="tp", columns="pol", values="ai", aggfunc="count", fill_value=0)
    for p in POLARITIES:
        if p not in counts:
            counts[p] = 0
    counts["mentions"] = ment.drop_duplicates(["ai", "tp"]).groupby("tp").size()
    return _tp_stats_from_counts(counts)


def _tp_stats_from_counts(counts: pd.DataFrame) -> pd.DataFrame:
    """Touchpoint stats in report order from answer counts per touchpoint (index sorted by touchpoint)."""
    return counts[["mentions", "positive", "negative", "neutral"]].astype(int).sort_values("mentions", ascending=False)


def _mention_importance(cur: pd.DataFrame, ment: pd.DataFrame, tp_stats: pd.DataFrame, ctx: _Ctx) -> dict[str, Any]:
    """Importance of each mentioned touchpoint: derived from the overall score vs mention indicators."""
    ids = tp_stats.index.tolist()
    overall = ctx.cfg.overall_score
    commented = cur.index[cur["comment"].str.strip().ne("")].to_numpy()
    if overall and len(ids):
        rows = commented[cur.loc[commented, overall].notna().to_numpy()]
        X = _indicators(ment, rows, ids)
        y = cur.loc[rows, overall].to_numpy(float)
    else:
        X, y = np.zeros((0, len(ids))), np.zeros(0)
    return _mention_importance_from(lambda: M.CoMoments.of(np.column_stack([X, y])), len(y),
                                    bool(len(y) and np.nanstd(y) > 0), len(commented), tp_stats, ctx)


def _mention_importance_from(comoments, n_ok: int, y_varies: bool, n_commented: int, tp_stats: pd.DataFrame,
                             ctx: _Ctx) -> dict[str, Any]:
    """:func:`_mention_importance` from aggregates: the co-moments of [mention indicators in ``tp_stats``
    order | overall score] over the ``n_ok`` commented answers with an overall score."""
    ids = tp_stats.index.tolist()
    freq = (tp_stats["mentions"] / max(n_commented, 1)).to_numpy(float) if ids else np.zeros(0)
    imp, method, r2 = _importance_from(comoments, n_ok, y_varies, ids, ctx, fallback=freq, fallback_name="frequency")
    return {"ids": ids, "importance": np.asarray(imp, float), "method": method, "r2": r2}


def _theme_impact(cur: pd.DataFrame, ment: pd.DataFrame, tp_stats: pd.DataFrame, ctx: _Ctx) -> list[dict[str, Any]]:
    if "nps" not in ctx.scores or not len(tp_stats):
        return []
    scores = cur["nps"]
    ok = scores.notna().to_numpy()
    s = scores.to_numpy(float)[ok]
    idx = cur.index.to_numpy()[ok]
    with_counts = {}
    for tp in tp_stats.index:
        m = ment[ment["tp"] == tp]
        for key, sub in (("all", m), ("positive", m[m["pol"] == "positive"]), ("negative", m[m["pol"] == "negative"])):
            with_counts[(tp, key)] = M.nps_counts(s[np.isin(idx, sub["ai"].unique())])
    return _theme_impact_from(tp_stats, M.nps_counts(s), with_counts, ctx)


THEME_KINDS = ("all", "positive", "negative")


def _theme_impact_from(tp_stats: pd.DataFrame, all_counts: tuple[int, int, int],
                       with_counts: Mapping[tuple[str, str], tuple[int, int, int]], ctx: _Ctx) -> list[dict[str, Any]]:
    """Theme impact from NPS counts (promoters, passives, detractors) of the answers in scope and of those
    mentioning each touchpoint (any / positive / negative)."""
    if "nps" not in ctx.scores or not len(tp_stats):
        return []
    out = []
    for tp in tp_stats.index:
        row = {"touchpoint": tp, "name": ctx.name(tp)}
        for key in THEME_KINDS:
            w = with_counts.get((tp, key), (0, 0, 0))
            row[f"n_{key}"] = int(sum(w))
            row[f"impact_{key}"] = M.theme_impact_from_counts(all_counts, w) if sum(w) else None
        out.append(row)
    out.sort(key=lambda r: (r["impact_all"] if r["impact_all"] is not None else 0))
    return out


def _strengths_weaknesses(cur: pd.DataFrame, ment: pd.DataFrame, tp_stats: pd.DataFrame, mi: dict[str, Any],
                          ctx: _Ctx) -> tuple[list, list, list, list]:
    """(touchpoint table, strengths, weaknesses, suggestions). Ranked by count x relative importance."""
    n_comments = int(cur["comment"].str.strip().ne("").sum())
    per_tp: dict[str, dict[str, Any]] = {}
    quotes: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for tp in tp_stats.index:
        m = ment[ment["tp"] == tp]
        answers = cur.loc[m["ai"].unique()]
        per_tp[tp] = {"nps": M.nps_counts(answers["nps"]) if "nps" in ctx.scores else None,
                      "sat": (float(answers["_sat"].sum()), int(answers["_sat"].count()))}
        for pol in POLARITIES:
            quotes[(tp, pol)] = _quote_candidates(m[m["pol"] == pol], cur, ctx)
    return _strengths_weaknesses_from(n_comments, tp_stats, mi, per_tp, quotes, ctx)


def _strengths_weaknesses_from(n_comments: int, tp_stats: pd.DataFrame, mi: dict[str, Any],
                               per_tp: Mapping[str, Mapping[str, Any]],
                               quotes: Mapping[tuple[str, str], list[dict[str, Any]]], ctx: _Ctx
                               ) -> tuple[list, list, list, list]:
    """:func:`_strengths_weaknesses` from aggregates: per touchpoint the NPS counts and the satisfaction
    (sum, n) of the answers mentioning it, and the quote candidates (:func:`_quote_candidates`) per polarity."""
    imp = dict(zip(mi["ids"], mi["importance"].tolist()))
    pos_imp = [v for v in imp.values() if np.isfinite(v) and v > 0]
    mean_imp = float(np.mean(pos_imp)) if pos_imp else 0.0
    table, strengths, weaknesses, suggestions = [], [], [], []
    for tp, r in tp_stats.iterrows():
        weight = (imp.get(tp, 0.0) / mean_imp) if mean_imp > 0 else 1.0
        weight = 0.0 if not np.isfinite(weight) else weight
        base = {"touchpoint": tp, "name": ctx.name(tp), "mentions": int(r["mentions"]),
                "share": _f(100 * r["mentions"] / n_comments if n_comments else None, 1),
                "positive": int(r["positive"]), "negative": int(r["negative"]), "neutral": int(r["neutral"]),
                "importance": _f(imp.get(tp), 4), "weight": _f(weight, 3), "low_n": int(r["mentions"]) < ctx.cfg.min_n}
        if "nps" in ctx.scores:  # NPS of the answers that mention the touchpoint
            v = M.nps_from_counts(*per_tp[tp]["nps"])
            base["nps"] = {k: v[k] for k in ("value", "ci_low", "ci_high", "n")} | {"low_n": v["n"] < ctx.cfg.min_n}
        sat_sum, sat_n = per_tp[tp]["sat"]
        base["satisfaction"] = _f(sat_sum / sat_n) if sat_n else None
        table.append(base)
        for pol, bucket in (("positive", strengths), ("negative", weaknesses), ("neutral", suggestions)):
            k = int(r[pol])
            if k == 0:
                continue
            bucket.append({**base, "count": k, "count_share": _f(100 * k / n_comments if n_comments else None, 1),
                           "score": _f(k * weight, 3),
                           "quotes": M.pick_quotes(quotes.get((tp, pol), []), k=ctx.cfg.quotes_per_item)})
    for bucket in (strengths, weaknesses, suggestions):
        bucket.sort(key=lambda it: (-(it["score"] or 0), -it["count"]))
    return table, strengths, weaknesses, suggestions


def _traffic_lights(cur: pd.DataFrame, prev: pd.DataFrame | None, ctx: _Ctx) -> dict[str, Any]:
    def table(keys: list[str]) -> list[dict[str, Any]]:
        sub = cur.dropna(subset=keys)
        if not len(sub):
            return []
        st = _stats_frame(sub, keys, ctx)
        prev_mean = pd.Series(np.nan, index=st.index)
        if prev is not None:
            psub = prev.dropna(subset=keys)
            if len(psub):
                prev_mean = _stats_frame(psub, keys, ctx)["sat_mean"].reindex(st.index)
        key_acc = sub.groupby(keys, sort=False)["key_account"].any().reindex(st.index, fill_value=False)
        return _traffic_table(keys, st, prev_mean, key_acc, ctx)

    return _traffic_lights_from(table(["company"]), table(["company", "contact"]), ctx)


def _traffic_table(keys: list[str], st: pd.DataFrame, prev_mean: pd.Series, key_acc: pd.Series, ctx: _Ctx
                   ) -> list[dict[str, Any]]:
    """Traffic-light rows from group stats (:func:`_stats_frame`, groups in order of first appearance), the
    groups' averages in the previous wave and their key-account flags (both aligned with ``st``)."""
    if not len(st):
        return []
    key_acc = key_acc.tolist()
    previous = _rounded(prev_mean)
    change = _rounded(st["sat_mean"].to_numpy(float) - prev_mean.to_numpy(float))
    rows = []
    for i, (k, stats) in enumerate(zip(st.index.tolist(), _stats_rows(st, ctx))):
        row = dict(zip(keys, k if isinstance(k, tuple) else (k,)))
        row.update(stats)
        row["key_account"] = bool(key_acc[i])
        row["previous"] = previous[i]
        row["change"] = change[i]
        rows.append(row)
    rows.sort(key=lambda r: (ZONE_ORDER.get(r["zone"], 3), r["satisfaction"]["mean"] if r["satisfaction"]["mean"]
                             is not None else 99, -r["n"]))
    return rows


def _traffic_lights_from(companies: list[dict[str, Any]], contacts: list[dict[str, Any]], ctx: _Ctx) -> dict[str, Any]:
    counts = {z: sum(1 for r in companies if r["zone"] == z) for z in ZONE_ORDER}
    return {"thresholds": {"red_below": ctx.cfg.yellow_from, "yellow_from": ctx.cfg.yellow_from,
                           "green_from": ctx.cfg.green_from, "scale": "satisfaction, 10-point"},
            "company_zone_counts": counts,
            "contact_zone_counts": {z: sum(1 for r in contacts if r["zone"] == z) for z in ZONE_ORDER},
            "companies": companies, "contacts": contacts}


def _risks(cur: pd.DataFrame, cur_pos: np.ndarray, masks: dict[str, np.ndarray], patterns: list[dict[str, Any]],
           ment: pd.DataFrame, companies: list[dict[str, Any]], ctx: _Ctx) -> dict[str, Any]:
    per_cat, per_company = [], {}
    any_mask = np.zeros(len(cur), bool)
    neg = ment[ment["pol"] == "negative"]
    for c in patterns:
        m = masks[c["id"]][cur_pos]
        any_mask |= m
        sub = cur[m]
        cands = []
        for ai, text, comp, contact, rid in zip(sub.index.tolist(), sub["comment"].tolist(), sub["company"].tolist(),
                                                sub["contact"].tolist(), sub["id"].tolist()):
            hit = c["regex"].search(text)
            cands.append({"text": M.trim_quote(text, hit.start() if hit else None, hit.end() if hit else None,
                                               window=ctx.cfg.quote_window),
                          "id": rid, "company": comp, "contact": contact, "confidence": None})
            per_company.setdefault(comp, {}).setdefault(c["id"], 0)
            per_company[comp][c["id"]] += 1
        tps = neg[neg["ai"].isin(sub.index)].drop_duplicates(["ai", "tp"])["tp"].value_counts()
        per_cat.append({"n": int(m.sum()), "companies": set(sub["company"].tolist()), "negative_touchpoints": tps,
                        "quotes": cands})
    return _risks_from(patterns, per_cat, per_company, int(any_mask.sum()), companies, ctx)


def _risks_from(patterns: list[dict[str, Any]], per_cat: list[dict[str, Any]], per_company: dict[str, dict[str, int]],
                n_any: int, companies: list[dict[str, Any]], ctx: _Ctx) -> dict[str, Any]:
    """Risks from aggregates, per category (pattern order): answers ``n``, ``companies`` (a set), the
    negative touchpoints of its answers (counts in ``value_counts`` order), quote candidates in answer order;
    ``per_company``: company -> {category: answers}, in order of first appearance; ``n_any``: answers with any."""
    zone_of = {r["company"]: r["zone"] for r in companies}
    cats = []
    for c, a in zip(patterns, per_cat):
        cats.append({"id": c["id"], "name": c["name"].get(ctx.lang) or c["name"].get("en") or c["id"],
                     "n": a["n"], "companies": sorted(a["companies"]),
                     "negative_touchpoints": [{"touchpoint": k, "name": ctx.name(k), "n": int(v)}
                                              for k, v in a["negative_touchpoints"].items()],
                     "quotes": M.pick_quotes(a["quotes"], k=ctx.cfg.quotes_per_item)})
    at_risk = [{"company": comp, "zone": zone_of.get(comp), "mentions": sum(v.values()), "categories": v}
               for comp, v in per_company.items()]
    at_risk.sort(key=lambda r: (ZONE_ORDER.get(r["zone"], 3), -r["mentions"]))
    return {"n_answers": n_any, "categories": cats, "at_risk_companies": at_risk}


def _trends(df: pd.DataFrame, ment: pd.DataFrame, waves: list[str], ctx: _Ctx) -> dict[str, Any]:
    out: dict[str, Any] = {"available": len(waves) >= 2, "waves": waves, "by_wave": [], "touchpoints": [],
                           "companies": []}
    if not waves:
        return out
    sub = df[df["wave"].notna()]
    st = _stats_frame(sub, ["wave"], ctx)
    if len(waves) < 2:
        return _trends_from(waves, st, None, None, None, None, ctx)
    comm = sub[sub["comment"].str.strip().ne("")].groupby("wave").size()
    m = ment.assign(wave=df["wave"].to_numpy()[ment["ai"].to_numpy()]) if len(ment) else ment.assign(wave=[])
    m = m[m["wave"].notna()]
    any_ = m.drop_duplicates(["ai", "tp"]).groupby(["tp", "wave"]).size()
    negs = m[m["pol"] == "negative"].drop_duplicates(["ai", "tp"]).groupby(["tp", "wave"]).size()
    cst = _stats_frame(sub, ["company", "wave"], ctx)
    return _trends_from(waves, st, comm, any_, negs, cst, ctx)


def _trends_from(waves: list[str], st: pd.DataFrame, comm: pd.Series | None, any_: pd.Series | None,
                 negs: pd.Series | None, cst: pd.DataFrame | None, ctx: _Ctx) -> dict[str, Any]:
    """Trends from aggregates: group stats per wave and per (company, wave) (:func:`_stats_frame`), comments
    per wave, answers mentioning each touchpoint (any, negative) per (touchpoint, wave)."""
    out: dict[str, Any] = {"available": len(waves) >= 2, "waves": waves, "by_wave": [], "touchpoints": [],
                           "companies": []}
    if not waves:
        return out
    by_wave = dict(zip(st.index.tolist(), _stats_rows(st, ctx)))
    out["by_wave"] = [{"wave": w, **by_wave[w]} for w in waves if w in by_wave]
    if len(waves) < 2:
        return out
    cur_w, prev_w = waves[-1], waves[-2]
    for tp in sorted(set(any_.index.get_level_values(0).tolist())):
        row: dict[str, Any] = {"touchpoint": tp, "name": ctx.name(tp), "share": {}, "negative_share": {}}
        for w in waves:
            base = comm.get(w, 0)
            row["share"][w] = _f(100 * any_.get((tp, w), 0) / base if base else None, 1)
            row["negative_share"][w] = _f(100 * negs.get((tp, w), 0) / base if base else None, 1)
        a, b = row["share"].get(cur_w), row["share"].get(prev_w)
        row["change_pp"] = _f(a - b, 1) if a is not None and b is not None else None
        a, b = row["negative_share"].get(cur_w), row["negative_share"].get(prev_w)
        row["negative_change_pp"] = _f(a - b, 1) if a is not None and b is not None else None
        out["touchpoints"].append(row)
    out["touchpoints"].sort(key=lambda r: -(r["negative_change_pp"] or 0))
    cst = cst["sat_mean"].unstack("wave")
    for comp, r in cst.iterrows():
        a, b = r.get(cur_w), r.get(prev_w)
        change = _f(a - b) if a is not None and b is not None and np.isfinite(a) and np.isfinite(b) else None
        out["companies"].append({"company": comp, "satisfaction": {w: _f(r.get(w)) for w in waves},
                                 "change": change,
                                 "falling": change is not None and change <= -ctx.cfg.falling_min_drop})
    out["companies"].sort(key=lambda r: (r["change"] if r["change"] is not None else 0))
    b = next((x for x in out["by_wave"] if x["wave"] == prev_w), None)
    a = next((x for x in out["by_wave"] if x["wave"] == cur_w), None)
    if a and b and "nps" in a and a["nps"]["value"] is not None and b["nps"]["value"] is not None:
        out["nps_change"] = _f(a["nps"]["value"] - b["nps"]["value"])
    return out


def _questions(neg_tps: list[str], contact: Mapping[str, Any], templates: dict[str, dict[str, list[str]]],
               ctx: _Ctx) -> list[str]:
    """2-4 interview questions: the touchpoints' templates round-robin, then generic ones up to the minimum."""
    lo, hi = ctx.cfg.questions_per_contact
    lang = ctx.lang
    pools = [list((templates.get(tp) or {}).get(lang) or (templates.get(tp) or {}).get("en") or []) for tp in neg_tps]
    out: list[str] = []
    depth = 0
    while len(out) < hi and any(depth < len(p) for p in pools):
        for p, tp in zip(pools, neg_tps):
            if depth < len(p) and len(out) < hi:
                out.append(p[depth].format(company=contact.get("company") or "", contact=contact.get("contact") or "",
                                           touchpoint=ctx.name(tp)))
        depth += 1
    generic = (templates.get("_generic") or {}).get(lang) or (templates.get("_generic") or {}).get("en") or []
    for q in generic:
        if len(out) >= lo:
            break
        out.append(q.format(company=contact.get("company") or "", contact=contact.get("contact") or "", touchpoint=""))
    return out[:hi]


def _shortlist(cur: pd.DataFrame, ment: pd.DataFrame, tl: dict[str, Any], trends: dict[str, Any],
               templates: dict[str, dict[str, list[str]]], ctx: _Ctx) -> list[dict[str, Any]]:
    """Contacts to interview: red zone, then detractors at key accounts, then falling companies / contacts."""
    falling = {r["company"] for r in trends.get("companies", []) if r["falling"]}
    cand: dict[tuple, dict[str, Any]] = {}
    drop = ctx.cfg.falling_min_drop
    for r in tl["contacts"]:
        key = (r["company"], r["contact"])
        reasons = []
        if r["zone"] == "red":
            reasons.append("red_zone")
        mn = r["nps"]["min"] if "nps" in r else None
        if r["key_account"] and mn is not None and mn < 7:
            reasons.append("key_account_detractor")
        if r["company"] in falling and r["zone"] != "green":
            reasons.append("falling_company")
        if reasons and r["change"] is not None and r["change"] <= -drop:
            reasons.append("falling_contact")  # annotates; a contact's own drop alone does not qualify
        if reasons:
            group = 1 if "red_zone" in reasons else 2 if "key_account_detractor" in reasons else 3
            cand[key] = {**r, "reasons": reasons, "group": group, "min_nps": mn}
    order = sorted(cand.values(), key=lambda r: (r["group"], r["satisfaction"]["mean"] if r["satisfaction"]["mean"]
                                                 is not None else 99, -(r["n"])))
    order = order[: ctx.cfg.shortlist_max]
    if not order:
        return []
    keys = {f"{r['company']}\x1f{r['contact']}" for r in order}
    ck = cur["company"].astype(str) + "\x1f" + cur["contact"].astype(str)
    in_sl = ck.isin(keys)
    neg = ment[(ment["pol"] == "negative") & ment["ai"].isin(cur.index[in_sl])]
    neg = neg.assign(key=ck.loc[neg["ai"]].to_numpy())
    out = []
    for rank, r in enumerate(order, 1):
        mine = neg[neg["key"] == f"{r['company']}\x1f{r['contact']}"]
        tps = mine.drop_duplicates(["ai", "tp"])["tp"].value_counts().index.tolist()
        quotes = M.pick_quotes([{**q, "company": None} for q in _quote_candidates(mine, cur, ctx)],
                               k=ctx.cfg.quotes_per_item)
        out.append({
            "rank": rank, "company": r["company"], "contact": r["contact"], "zone": r["zone"],
            "reasons": r["reasons"], "reason_text": [t(f"reason.{x}", ctx.lang) for x in r["reasons"]],
            "key_account": r["key_account"], "n": r["n"], "satisfaction": r["satisfaction"]["mean"],
            "previous": r["previous"], "change": r["change"], "min_nps": r["min_nps"],
            "nps": r.get("nps", {}).get("value") if "nps" in r else None,
            "negative_touchpoints": [{"touchpoint": tp, "name": ctx.name(tp)} for tp in tps],
            "quotes": [{"text": q["text"], "id": q["id"]} for q in quotes],
            "questions": _questions(tps, r, templates, ctx),
        })
    return out


def _comments(df: pd.DataFrame, ment: pd.DataFrame, sentiment: np.ndarray, masks: dict[str, np.ndarray]
              ) -> list[dict[str, Any]]:
    """Per-comment labels (every answer with a comment, all waves): the CSV/XLSX 'labels' section."""
    has = df["comment"].str.strip().ne("").to_numpy()
    idx = np.flatnonzero(has)
    per_answer: dict[int, dict[str, None]] = {}
    for ai, tp, pol in zip(ment["ai"].tolist(), ment["tp"].tolist(), ment["pol"].tolist()):
        per_answer.setdefault(ai, {})[f"{tp}:{pol}"] = None
    labels = np.array([";".join(per_answer[i]) if i in per_answer else "" for i in idx.tolist()], dtype=object)
    risk = np.array([""] * len(idx), dtype=object)
    for cid, m in masks.items():
        sel = m[idx]
        risk[sel] = [r + ";" + cid if r else cid for r in risk[sel].tolist()]
    nps = df["nps"].to_numpy(float)[idx] if "nps" in df else np.full(len(idx), np.nan)
    cols = {"id": df["id"].to_numpy()[idx], "company": df["company"].to_numpy()[idx],
            "contact": df["contact"].to_numpy()[idx], "wave": df["wave"].to_numpy()[idx],
            "question": df["question"].to_numpy()[idx], "nps": [None if v != v else v for v in nps.tolist()],
            "comment": df["comment"].to_numpy()[idx], "sentiment": sentiment[idx], "touchpoints": labels,
            "risks": risk}
    keys = list(cols)
    return [dict(zip(keys, row)) for row in zip(*(list(v) for v in cols.values()))]


def _summary(cur: pd.DataFrame, ctx: _Ctx) -> dict[str, Any]:
    agg: dict[str, Any] = {"n_answers": int(len(cur)), "n_companies": int(cur["company"].nunique()),
                           "n_contacts": int(cur.dropna(subset=["contact"]).groupby(["company", "contact"]).ngroups)
                           if cur["contact"].notna().any() else 0,
                           "n_comments": int(cur["comment"].str.strip().ne("").sum()),
                           "sat": M.moments(cur["_sat"])}
    if "nps" in ctx.scores:
        agg["nps"] = M.nps_counts(cur["nps"])
    if "csat" in ctx.scores:
        sp = ctx.scores["csat"]
        v = cur["csat"].dropna().to_numpy(float)
        agg["csat"] = (int((v >= M.csat_threshold(sp.scale, sp.top_box_from)).sum()), len(v))
    if "ces" in ctx.scores:
        agg["ces"] = M.moments(cur["ces"])
    return _summary_from(agg, ctx)


def _summary_from(agg: Mapping[str, Any], ctx: _Ctx) -> dict[str, Any]:
    """The summary from aggregates: counts (answers, companies, contacts, comments), NPS counts, CSAT
    (top box, n), CES and satisfaction :func:`cx.metrics.moments`."""
    out: dict[str, Any] = {k: agg[k] for k in ("n_answers", "n_companies", "n_contacts", "n_comments")}
    if "nps" in ctx.scores:
        out["nps"] = {**M.nps_from_counts(*agg["nps"]), "low_n": sum(agg["nps"]) < ctx.cfg.min_n}
    if "csat" in ctx.scores:
        sp = ctx.scores["csat"]
        out["csat"] = M.csat_from_counts(*agg["csat"], threshold=M.csat_threshold(sp.scale, sp.top_box_from))
        out["csat"]["scale"] = list(sp.scale)
    if "ces" in ctx.scores:
        sp = ctx.scores["ces"]
        out["ces"] = M.ces_from_moments(agg["ces"], scale=sp.scale, good_end=sp.good_end)
    sat = M.mean_ci_from_moments(*agg["sat"])
    code = M.interpret_average(sat["mean"], systemic_max=ctx.cfg.systemic_max, individual_min=ctx.cfg.individual_min)
    out["satisfaction"] = {**sat, "interpretation": code, "interpretation_text": both(f"interp.{code}") if code else None,
                           "zone": M.zone(sat["mean"], yellow_from=ctx.cfg.yellow_from, green_from=ctx.cfg.green_from)}
    return out


def _headline(rep: dict[str, Any], ctx: _Ctx) -> list[str]:
    L = ctx.lang
    s = rep["summary"]
    out = []
    if s.get("nps", {}).get("value") is not None:
        v = s["nps"]
        out.append(t("head.nps", L, value=v["value"], lo=v["ci_low"], hi=v["ci_high"], n=v["n"]))
    if s["satisfaction"]["mean"] is not None:
        out.append(t("head.avg", L, avg=s["satisfaction"]["mean"],
                     text=s["satisfaction"]["interpretation_text"][L]))
    comps = rep["traffic_lights"]["companies"]
    red = [c["company"] for c in comps if c["zone"] == "red"]
    if red:
        out.append(t("head.red", L, k=len(red), n=len(comps), names=", ".join(red[:6]) + ("…" if len(red) > 6 else "")))
    p1 = [i["name"] for i in rep["matrix"]["items"] if i["priority"] == 1 and not i["low_n"]]
    if p1:
        out.append(t("head.p1", L, names=", ".join(p1)))
    if rep["strengths"]:
        out.append(t("head.strength", L, name=rep["strengths"][0]["name"]))
    if rep["weaknesses"]:
        out.append(t("head.weakness", L, name=rep["weaknesses"][0]["name"]))
    if rep["risks"]["n_answers"]:
        names = ", ".join(c["name"] for c in rep["risks"]["categories"] if c["n"])
        out.append(t("head.risks", L, n=rep["risks"]["n_answers"], names=names))
    if rep["trends"].get("nps_change") is not None:
        out.append(t("head.trend", L, delta=rep["trends"]["nps_change"], prev=rep["trends"]["waves"][-2]))
    out.append(t("head.shortlist", L, n=len(rep["shortlist"])))
    return out


# ---------------------------------------------------------------------------------------------------- entry point
def _normalized(answers: pd.DataFrame, cfg: ReportConfig) -> pd.DataFrame:
    """A copy of a canonical answers frame with every optional column present (0-based index)."""
    df = answers.reset_index(drop=True).copy()
    for col in ("contact", "segment", "region", "question", "wave"):
        if col not in df:
            df[col] = None
    if "key_account" not in df:
        df["key_account"] = False
    if cfg.key_accounts:
        df["key_account"] = df["key_account"].astype(bool) | df["company"].isin(set(cfg.key_accounts))
    df["comment"] = df["comment"].fillna("").astype(str) if "comment" in df else ""
    df["id"] = df["id"].astype(str)
    return df


def build_report(answers: pd.DataFrame, predictions: Iterable[Mapping[str, Any]] | None, config: ReportConfig | None = None,
                 *, taxonomy: Taxonomy | None = None, data_errors: list[DataError] | None = None,
                 source: str | None = None, model: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The complete report (docs/reports.md). ``answers``: the canonical frame from :func:`cx.waves.read_wave`
    (a raw frame with file headers is canonicalised with ``config``); ``predictions``: prediction rows whose
    ``id`` matches ``answers.id`` (answers without one count as unlabeled)."""
    cfg = config or ReportConfig()
    errors = list(data_errors or [])
    if "company" not in answers.columns or "_row" not in answers.columns:
        cfg.resolve_columns([str(c) for c in answers.columns], source=source)
        raw = answers.copy()
        raw.insert(0, "_row", np.arange(1, len(raw) + 1))
        answers, errs = canonicalize(raw, cfg, source=source or "answers")
        errors.extend(errs)
    df = _normalized(answers, cfg)
    taxonomy = taxonomy or load_taxonomy(cfg.taxonomy)
    ctx = _Ctx(cfg=cfg, taxonomy=taxonomy, lang=cfg.lang)
    ctx.scores = {r: _spec(cfg, r) for r in SCORE_ROLES if r in df and df[r].notna().any()}
    ctx.ratings = {c[7:]: _spec(cfg, c) for c in df.columns if str(c).startswith("rating:") and df[c].notna().any()}
    _add_row_flags(df, ctx)

    ment, sentiment, join = _mentions(predictions or [], df["id"], ctx)
    patterns = load_risk_patterns(cfg.risk_patterns)
    templates = load_question_templates(cfg.interview_questions)
    masks = risk_masks(df["comment"].tolist(), patterns)

    waves = sorted({str(w) for w in df["wave"].dropna().unique()}, key=_natural_key)
    current = waves[-1] if waves else None
    previous = waves[-2] if len(waves) >= 2 else None
    if cfg.scope == "latest" and current is not None:
        in_cur = (df["wave"] == current).to_numpy()
    else:
        in_cur = np.ones(len(df), bool)
    cur = df[in_cur]
    prev = df[(df["wave"] == previous).to_numpy()] if previous is not None and cfg.scope == "latest" else None
    ment_cur = ment[in_cur[ment["ai"].to_numpy()]] if len(ment) else ment

    tp_stats = _touchpoint_stats(cur, ment_cur)
    mi = _mention_importance(cur, ment_cur, tp_stats, ctx)
    matrix = _matrix(cur, tp_stats, ctx, mi)
    tp_table, strengths, weaknesses, suggestions = _strengths_weaknesses(cur, ment_cur, tp_stats, mi, ctx)
    impact = {r["touchpoint"]: r for r in _theme_impact(cur, ment_cur, tp_stats, ctx)}
    for row in tp_table:
        row["impact"] = {k: impact.get(row["touchpoint"], {}).get(f"impact_{k}") for k in ("all", "positive", "negative")}
    tl = _traffic_lights(cur, prev, ctx)
    trends = _trends(df, ment, waves, ctx)
    risks = _risks(cur, np.flatnonzero(in_cur), masks, patterns, ment_cur, tl["companies"], ctx)
    shortlist = _shortlist(cur, ment_cur, tl, trends, templates, ctx)

    n_labeled = int(pd.Series(sentiment).notna().sum())
    return _assemble(
        ctx, taxonomy=taxonomy, source=source, model=dict(model) if model else join["model"], join=join,
        waves=waves, current=current, previous=previous, n_total=int(len(df)), n_scope=int(len(cur)),
        n_labeled=n_labeled, summary=_summary(cur, ctx),
        breakdowns={k: _group_table(cur, k, ctx) for k in ("segment", "region", "question")},
        tp_table=tp_table, matrix=matrix, impact=impact, tl=tl, strengths=strengths, weaknesses=weaknesses,
        suggestions=suggestions, shortlist=shortlist, risks=risks, trends=trends, errors=errors,
        any_comment=bool(df["comment"].str.strip().ne("").any()),
        comments=lambda: _comments(df, ment, sentiment, masks))


def _assemble(ctx: _Ctx, *, taxonomy: Taxonomy, source: str | None, model: Mapping[str, Any] | None,
              join: Mapping[str, Any], waves: list[str], current: str | None, previous: str | None, n_total: int,
              n_scope: int, n_labeled: int, summary: dict[str, Any], breakdowns: dict[str, Any], tp_table: list,
              matrix: dict[str, Any], impact: dict[str, Any], tl: dict[str, Any], strengths: list, weaknesses: list,
              suggestions: list, shortlist: list, risks: dict[str, Any], trends: dict[str, Any],
              errors: list[DataError], any_comment: bool, comments) -> dict[str, Any]:
    """The report dict from its computed sections (in memory: :func:`build_report`; from partition
    aggregates: :func:`cx.aggregate.build_report_partitioned`). ``comments()`` gives the labels section."""
    cfg = ctx.cfg
    rep: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "meta": {
            "generated_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "source": source, "lang": ctx.lang, "scope": cfg.scope if current is not None else "all",
            "waves": waves, "current_wave": current, "previous_wave": previous,
            "n_answers_total": n_total, "n_answers_in_scope": n_scope,
            "n_labeled": n_labeled, "predictions": {k: v for k, v in join.items() if k != "model"},
            "model": model,
            "taxonomy_version": taxonomy.version,
            "scores": {k: v.to_dict() for k, v in ctx.scores.items()},
            "ratings": {k: v.to_dict() for k, v in ctx.ratings.items()},
        },
        "config": cfg.to_dict(),
        "summary": summary,
        "breakdowns": breakdowns,
        "touchpoints": tp_table,
        "matrix": matrix,
        "theme_impact": list(impact.values()),
        "traffic_lights": tl,
        "strengths": strengths,
        "weaknesses": weaknesses,
        "suggestions": suggestions,
        "shortlist": shortlist,
        "risks": risks,
        "trends": trends,
    }
    rep["summary"]["headline"] = _headline(rep, ctx)
    by_field: dict[str, int] = {}
    for e in errors:
        by_field[e.field or "-"] = by_field.get(e.field or "-", 0) + 1
    rep["data_errors"] = {"count": len(errors), "by_field": by_field,
                          "first": [e.to_dict() for e in errors[:MAX_LISTED_ERRORS]]}
    if n_labeled == 0 and any_comment:
        ctx.warnings.append("no predictions matched the answers: touchpoint sections are empty")
    rep["warnings"] = ctx.warnings
    rep["comments"] = comments() if cfg.include_comments else []
    return rep
