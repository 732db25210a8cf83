"""Pure metric functions (METHODOLOGY.md sections 3-5). Each takes plain arrays / Series and returns numbers
or small dicts; no I/O, no report layout. Missing values (NaN) are ignored everywhere: n counts the values used.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

Z95 = 1.96
#: more predictors than this: Shapley R² (2^p regressions) falls back to relative weights
SHAPLEY_MAX_PREDICTORS = 15


def _values(x: Iterable[float] | pd.Series | np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=float).ravel()
    return a[~np.isnan(a)]


def _r(x: float | None, nd: int = 2) -> float | None:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return round(float(x), nd)


# ---------------------------------------------------------------------------------------------------- NPS
def nps_from_counts(promoters: int, passives: int, detractors: int) -> dict:
    """NPS with n and the 95 % CI: Var = (p + d - (p - d)^2) / n, SE = 100 * sqrt(Var), CI = NPS +- 1.96 * SE.

    The CI is clipped to [-100, 100]. ``value`` is None when n = 0.
    """
    n = promoters + passives + detractors
    out = {"n": int(n), "promoters": int(promoters), "passives": int(passives), "detractors": int(detractors),
           "value": None, "se": None, "ci_low": None, "ci_high": None}
    if n == 0:
        return out
    p, d = promoters / n, detractors / n
    value = 100.0 * (p - d)
    var = max(p + d - (p - d) ** 2, 0.0) / n
    se = 100.0 * math.sqrt(var)
    out.update(value=round(value, 2), se=round(se, 2), ci_low=round(max(-100.0, value - Z95 * se), 2),
               ci_high=round(min(100.0, value + Z95 * se), 2))
    return out


def nps(scores: Iterable[float]) -> dict:
    """NPS of 0-10 scores: promoters 9-10, passives 7-8, detractors 0-6."""
    return nps_from_counts(*nps_counts(scores))


# ---------------------------------------------------------------------------------------------------- CSAT / CES / means
def csat_threshold(scale: tuple[float, float], top_box_from: float | None = None) -> float:
    """Lowest satisfied score: configured, else 4 on 1-5, 8 on a 10-point scale, else the top two values."""
    if top_box_from is not None:
        return float(top_box_from)
    lo, hi = scale
    if (lo, hi) == (1, 5):
        return 4.0
    if hi == 10 and lo in (0, 1):
        return 8.0
    return hi - 1


def share_ci(k: int, n: int) -> dict:
    """A percentage with its 95 % Wald CI (clipped to 0-100)."""
    if n == 0:
        return {"n": 0, "value": None, "ci_low": None, "ci_high": None}
    p = k / n
    se = math.sqrt(p * (1 - p) / n)
    return {"n": int(n), "value": round(100 * p, 2), "ci_low": round(100 * max(0.0, p - Z95 * se), 2),
            "ci_high": round(100 * min(1.0, p + Z95 * se), 2)}


def csat_top_box(scores: Iterable[float], *, scale: tuple[float, float] = (1, 5),
                 top_box_from: float | None = None) -> dict:
    """CSAT = % of scores at or above the top-box threshold (top-2-box on 1-5), with n and 95 % CI."""
    v = _values(scores)
    thr = csat_threshold(scale, top_box_from)
    return csat_from_counts(int((v >= thr).sum()), len(v), threshold=thr)


def csat_from_counts(top: int, n: int, *, threshold: float) -> dict:
    """:func:`csat_top_box` from the counts (answers in the top box, answers with a score)."""
    out = share_ci(top, n)
    out["threshold"] = threshold
    return out


def moments(values: Iterable[float]) -> tuple[int, float, float]:
    """(n, mean, M2 = sum of squared deviations from the mean) of the non-missing values: the mergeable
    summary behind :func:`mean_ci` (:func:`merge_moments` combines two, e.g. of two partitions)."""
    v = _values(values)
    if len(v) == 0:
        return 0, 0.0, 0.0
    m = float(v.mean())
    return len(v), m, float(((v - m) ** 2).sum())


def merge_moments(a: tuple[int, float, float], b: tuple[int, float, float]) -> tuple[int, float, float]:
    """Moments of the union of two samples (Chan et al.'s parallel update; exact up to rounding)."""
    na, ma, qa = a
    nb, mb, qb = b
    if nb == 0:
        return a
    if na == 0:
        return b
    n = na + nb
    d = mb - ma
    return n, ma + d * nb / n, qa + qb + d * d * na * nb / n


def mean_ci_from_moments(n: int, mean: float, m2: float) -> dict:
    """Mean with n, sample SD and the 95 % CI of the mean (normal approximation), from :func:`moments`."""
    if n == 0:
        return {"n": 0, "mean": None, "sd": None, "ci_low": None, "ci_high": None}
    m = float(mean)
    sd = math.sqrt(max(m2, 0.0) / (n - 1)) if n > 1 else 0.0
    half = Z95 * sd / math.sqrt(n) if n > 1 else 0.0
    return {"n": int(n), "mean": round(m, 3), "sd": round(sd, 3), "ci_low": round(m - half, 3),
            "ci_high": round(m + half, 3)}


def mean_ci(values: Iterable[float]) -> dict:
    """Mean with n, sample SD and the 95 % CI of the mean (normal approximation)."""
    return mean_ci_from_moments(*moments(values))


def ces(scores: Iterable[float], *, scale: tuple[float, float] = (1, 7), good_end: str = "high") -> dict:
    """CES: mean on its own scale, with which end is good."""
    return ces_from_moments(moments(scores), scale=scale, good_end=good_end)


def ces_from_moments(mom: tuple[int, float, float], *, scale: tuple[float, float] = (1, 7),
                     good_end: str = "high") -> dict:
    out = mean_ci_from_moments(*mom)
    out.update(scale=list(scale), good_end=good_end)
    return out


def to_ten(values: pd.Series | np.ndarray, scale: tuple[float, float], *, good_end: str = "high") -> np.ndarray:
    """Put scores on the 10-point scale: 0-10 and 1-10 unchanged, other scales linearly onto 1-10.

    ``good_end="low"`` (e.g. a CES where 1 = easiest) reverses the scale first.
    """
    lo, hi = scale
    v = np.asarray(values, dtype=float)
    if good_end == "low":
        v = lo + hi - v
    if hi == 10 and lo in (0, 1):
        return v
    return 1.0 + 9.0 * (v - lo) / (hi - lo)


def interpret_average(avg: float | None, *, systemic_max: float = 3.0, individual_min: float = 8.0) -> str | None:
    """Seed 001: average <= 3 -> 'systemic' process flaws; >= 8 -> 'individual' cases; else 'mixed'."""
    if avg is None or (isinstance(avg, float) and math.isnan(avg)):
        return None
    if avg <= systemic_max:
        return "systemic"
    if avg >= individual_min:
        return "individual"
    return "mixed"


def zone(avg: float | None, *, yellow_from: float = 7.0, green_from: float = 9.0) -> str | None:
    """Traffic light of a 10-point average: red below 7 (i.e. <= 6 on whole scores), yellow 7 to <9, green >= 9."""
    if avg is None or (isinstance(avg, float) and math.isnan(avg)):
        return None
    if avg >= green_from:
        return "green"
    if avg >= yellow_from:
        return "yellow"
    return "red"


def zones(avgs: pd.Series, *, yellow_from: float = 7.0, green_from: float = 9.0) -> pd.Series:
    """Vectorised :func:`zone`."""
    a = avgs.astype(float)
    out = np.where(a >= green_from, "green", np.where(a >= yellow_from, "yellow", "red"))
    return pd.Series(out, index=avgs.index, dtype=object).where(a.notna(), None)


# ---------------------------------------------------------------------------------------------------- importance
class CoMoments:
    """Pairwise-complete co-moments of the columns of a data matrix (missing = NaN), mergeable: the sums
    behind a correlation matrix, so that one can be computed from partitions (``a.merge(b)``) with the same
    formula as from the whole matrix. Columns are shifted by fixed constants ``k`` before summing (the
    correlation does not change; the sums stay well conditioned).

    For columns i, j over the rows where both are present: ``n[i, j]`` rows, ``s[i, j]`` = sum of x_i,
    ``q[i, j]`` = sum of x_i², ``c[i, j]`` = sum of x_i·x_j (shifted values).
    """

    def __init__(self, p: int, k: np.ndarray | None = None) -> None:
        self.k = np.zeros(p) if k is None else np.asarray(k, float)
        self.n = np.zeros((p, p))
        self.s = np.zeros((p, p))
        self.q = np.zeros((p, p))
        self.c = np.zeros((p, p))

    @classmethod
    def of(cls, A: np.ndarray, k: np.ndarray | None = None) -> "CoMoments":
        A = np.asarray(A, float)
        p = A.shape[1]
        if k is None:  # shift by the column means (0 for an all-missing column)
            with np.errstate(all="ignore"):
                cnt = (~np.isnan(A)).sum(axis=0)
                k = np.where(cnt > 0, np.nansum(A, axis=0) / np.maximum(cnt, 1), 0.0)
        out = cls(p, k)
        return out.add(A)

    def add(self, A: np.ndarray) -> "CoMoments":
        """Add the rows of ``A`` (same columns)."""
        A = np.asarray(A, float)
        present = ~np.isnan(A)
        M = present.astype(float)
        X = np.where(present, A - self.k, 0.0)
        self.n += M.T @ M
        self.s += X.T @ M
        self.q += (X * X).T @ M
        self.c += X.T @ X
        return self

    def merge(self, other: "CoMoments") -> "CoMoments":
        if not np.array_equal(self.k, other.k):
            raise ValueError("co-moments with different shifts cannot be merged")
        out = CoMoments(len(self.k), self.k)
        for a in ("n", "s", "q", "c"):
            setattr(out, a, getattr(self, a) + getattr(other, a))
        return out

    def corr(self) -> np.ndarray:
        """Pearson correlations (pairwise-complete); constant or unobserved columns get 0, the diagonal 1."""
        n, s, q, c = self.n, self.s, self.q, self.c
        with np.errstate(all="ignore"):
            cov = n * c - s * s.T
            var_i = n * q - s * s
            C = cov / np.sqrt(var_i * var_i.T)
        C = np.where(np.isfinite(C) & (var_i > 0) & (var_i.T > 0) & (n > 1), C, 0.0)
        C = np.clip(C, -1.0, 1.0)
        np.fill_diagonal(C, 1.0)
        return C


def _corr_matrix(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Correlation matrix of [X | y] (pairwise-complete); constant columns get correlation 0."""
    return CoMoments.of(np.column_stack([X, y])).corr()


def r2_from_corr(C: np.ndarray, subset: Sequence[int]) -> float:
    """R² of the regression of the last variable on ``subset`` of the others, from a correlation matrix."""
    idx = list(subset)
    if not idx:
        return 0.0
    y = C.shape[0] - 1
    Rxx = C[np.ix_(idx, idx)]
    rxy = C[idx, y]
    beta = np.linalg.lstsq(Rxx, rxy, rcond=None)[0]
    return float(min(max(rxy @ beta, 0.0), 1.0))


def shapley_r2_from_corr(C: np.ndarray) -> np.ndarray:
    """Shapley decomposition of R² (LMG): share_j = sum over S not containing j of
    |S|! (p-|S|-1)! / p! * (R²(S + j) - R²(S)). The shares add up to the full model's R².

    ``C``: (p+1)x(p+1) correlation matrix, predictors first, the outcome last.
    """
    p = C.shape[0] - 1
    if p == 0:
        return np.zeros(0)
    if p > SHAPLEY_MAX_PREDICTORS:
        raise ValueError(f"Shapley R² needs 2^p regressions; p = {p} > {SHAPLEY_MAX_PREDICTORS}")
    r2 = np.zeros(1 << p)
    for mask in range(1, 1 << p):
        r2[mask] = r2_from_corr(C, [j for j in range(p) if mask >> j & 1])
    size = np.array([bin(m).count("1") for m in range(1 << p)])
    weight = np.array([math.factorial(s) * math.factorial(p - s - 1) / math.factorial(p) for s in range(p)])
    masks = np.arange(1 << p)
    shares = np.zeros(p)
    for j in range(p):
        without = masks[(masks >> j & 1) == 0]
        shares[j] = float(np.sum(weight[size[without]] * (r2[without | (1 << j)] - r2[without])))
    return shares


def shapley_r2(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Shapley shares of R² of y regressed on the columns of X (see :func:`shapley_r2_from_corr`)."""
    return shapley_r2_from_corr(_corr_matrix(np.asarray(X, float), np.asarray(y, float)))


def relative_weights_from_corr(C: np.ndarray) -> np.ndarray:
    """Johnson's (2000) relative weights: R² split through the orthogonal counterparts of the predictors."""
    p = C.shape[0] - 1
    if p == 0:
        return np.zeros(0)
    Rxx, rxy = C[:p, :p], C[:p, p]
    evals, evecs = np.linalg.eigh(Rxx)
    evals = np.clip(evals, 0.0, None)
    lam = evecs @ np.diag(np.sqrt(evals)) @ evecs.T
    beta = np.linalg.lstsq(lam, rxy, rcond=None)[0]
    return (lam ** 2) @ (beta ** 2)


def correlations(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of each column of X with y (pairwise-complete; 0 for constant columns)."""
    C = _corr_matrix(np.asarray(X, float), np.asarray(y, float))
    return C[:-1, -1]


def derived_importance(X: np.ndarray, y: np.ndarray, *, method: str = "shapley") -> tuple[np.ndarray, float, str]:
    """(importance per column, full-model R², method actually used)."""
    X = np.asarray(X, float)
    if X.ndim != 2 or X.shape[1] == 0:
        return np.zeros(0), 0.0, method
    return derived_importance_from_corr(_corr_matrix(X, np.asarray(y, float)), method=method)


def derived_importance_from_corr(C: np.ndarray, *, method: str = "shapley") -> tuple[np.ndarray, float, str]:
    """:func:`derived_importance` from the correlation matrix of [X | y] (e.g. :meth:`CoMoments.corr` of
    partitions merged)."""
    p = C.shape[0] - 1
    if p <= 0:
        return np.zeros(0), 0.0, method
    r2 = r2_from_corr(C, range(p))
    if method == "correlation":
        return np.clip(C[:-1, -1], 0.0, None), r2, method
    if method == "shapley" and p > SHAPLEY_MAX_PREDICTORS:
        method = "relative_weights"
    if method == "shapley":
        return shapley_r2_from_corr(C), r2, method
    return relative_weights_from_corr(C), r2, "relative_weights"


def brute_force_shapley_r2(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Reference implementation for tests: average marginal R² gain over all orderings, each R² from an OLS fit
    with intercept on complete rows (no correlation-matrix shortcut). Exponential: small p only."""
    from itertools import permutations

    X = np.asarray(X, float)
    y = np.asarray(y, float)
    p = X.shape[1]
    cache: dict[tuple[int, ...], float] = {(): 0.0}

    def r2(cols: tuple[int, ...]) -> float:
        key = tuple(sorted(cols))
        if key not in cache:
            A = np.column_stack([np.ones(len(y))] + [X[:, c] for c in key])
            coef, *_ = np.linalg.lstsq(A, y, rcond=None)
            resid = y - A @ coef
            cache[key] = 1.0 - float(resid @ resid) / float(((y - y.mean()) ** 2).sum())
        return cache[key]

    shares = np.zeros(p)
    perms = list(permutations(range(p)))
    for order in perms:
        before: tuple[int, ...] = ()
        for j in order:
            shares[j] += r2(before + (j,)) - r2(before)
            before = before + (j,)
    return shares / len(perms)


# ---------------------------------------------------------------------------------------------------- matrix
QUADRANTS = {  # (important, high performance) -> (quadrant, priority)
    (True, False): ("A", 1),
    (False, False): ("B", 2),
    (True, True): ("C", 3),
    (False, True): ("D", 4),
}


def cut_value(values: Sequence[float], how: str | float = "mean") -> float | None:
    v = _values(values)
    if isinstance(how, (int, float)) and not isinstance(how, bool):
        return float(how)
    if len(v) == 0:
        return None
    return float(np.median(v)) if how == "median" else float(v.mean())


def quadrant(importance: float, performance: float, *, importance_cut: float, performance_cut: float) -> tuple[str, int]:
    """Martilla & James: important = importance >= cut; high performance = performance >= cut.
    A (important, low) priority 1; B (unimportant, low) 2; C (important, high) 3; D (unimportant, high) 4."""
    return QUADRANTS[(importance >= importance_cut, performance >= performance_cut)]


# ---------------------------------------------------------------------------------------------------- themes, quotes
def theme_impact(scores: Sequence[float], with_theme: Sequence[bool]) -> float | None:
    """NPS(all) - NPS(answers without the theme). Negative: the theme pulls NPS down."""
    s = np.asarray(scores, float)
    m = np.asarray(with_theme, bool)
    ok = ~np.isnan(s)
    s, m = s[ok], m[ok]
    return theme_impact_from_counts(nps_counts(s), nps_counts(s[m]))


def nps_counts(scores: Iterable[float]) -> tuple[int, int, int]:
    """(promoters, passives, detractors) of 0-10 scores (missing ignored)."""
    v = _values(scores)
    return int((v >= 9).sum()), int(((v >= 7) & (v < 9)).sum()), int((v < 7).sum())


def theme_impact_from_counts(all_counts: Sequence[int], with_counts: Sequence[int]) -> float | None:
    """:func:`theme_impact` from (promoters, passives, detractors) of all answers and of those with the theme."""
    without = [a - w for a, w in zip(all_counts, with_counts)]
    if sum(all_counts) == 0 or sum(without) == 0:
        return None
    return round(nps_from_counts(*all_counts)["value"] - nps_from_counts(*without)["value"], 2)


def trim_quote(text: str, start: int | None = None, end: int | None = None, *, window: int = 160) -> str:
    """The comment cut to about ``window`` characters around the evidence span, on word boundaries, with '…'."""
    text = " ".join(str(text).split()) if start is None else str(text)
    if start is None or end is None or not (0 <= start < end <= len(text)):
        start, end = 0, min(len(text), window)
    if len(text) <= window:
        return " ".join(text.split())
    span = end - start
    if span >= window:
        a, b = start, start + window
    else:
        pad = (window - span) // 2
        a, b = max(0, start - pad), min(len(text), end + pad)
        if a == 0:
            b = min(len(text), window)
        elif b == len(text):
            a = max(0, len(text) - window)
    if a > 0:
        sp = text.find(" ", a, start if start > a else a + 1)
        a = sp + 1 if sp != -1 else a
    if b < len(text):
        sp = text.rfind(" ", end if end < b else b - 1, b)
        b = sp if sp != -1 else b
    out = " ".join(text[a:b].split())
    return ("…" if a > 0 else "") + out + ("…" if b < len(text) else "")


def normalize_quote(text: str) -> str:
    """Key used to deduplicate quotes (case, punctuation and spacing ignored)."""
    return " ".join("".join(ch.lower() if ch.isalnum() else " " for ch in text).split())


def pick_quotes(candidates: list[dict], *, k: int = 3) -> list[dict]:
    """Up to ``k`` quotes: highest confidence first, different companies first, no duplicate texts and at
    most one quote per answer.

    ``candidates``: dicts with ``text`` (the key to deduplicate on), ``company``, ``confidence`` and
    optionally ``id`` (the answer the quote comes from).
    """
    ordered = sorted(candidates, key=lambda c: -(c.get("confidence") or 0.0))
    seen_text: set[str] = set()
    seen_id: set[object] = set()
    seen_company: set[object] = set()
    chosen: list[dict] = []
    for strict in (True, False):
        for c in ordered:
            if len(chosen) >= k:
                return chosen
            key = normalize_quote(c["text"])
            rid = c.get("id")
            if key in seen_text or (rid is not None and rid in seen_id) or (strict and c.get("company") in seen_company):
                continue
            seen_text.add(key)
            if rid is not None:
                seen_id.add(rid)
            seen_company.add(c.get("company"))
            chosen.append(c)
    return chosen

