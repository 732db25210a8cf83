"""Candidate against production on the same held-out items: numbers only, no decisions, no I/O.

:func:`compare` scores both models' prediction rows on each held-out group (the seed dev set, each
analyst dataset's evaluation split, and ``all`` of them together): per touchpoint label the F1 of both,
the change, its 95 % paired-bootstrap interval and a one-sided p-value for "the candidate is worse";
overall touchpoint micro/macro-F1, touchpoint+polarity micro-F1, sentiment macro-F1 and accuracy; and the
sanity floor's baselines (label permutations, majority/prior). Resampling is over items (the same resampled
items for both models), 1,000 resamples, fixed seed, so the same inputs give the same report. The gate
(:mod:`nlp.lifecycle.gate`) decides on it; the store keeps it as the version's ``comparison.json``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import DataError
from ..schema import Example

#: the metrics every rule looks at
HEADLINE = ("touchpoint_micro_f1", "sentiment_macro_f1")
#: label permutations of the sanity floor's chance baseline
PERMUTATIONS = 20


# -- per-item counts -------------------------------------------------------------------------------
def _touchpoint_sets(examples: Sequence[Example], preds: Sequence[Mapping]) -> tuple[list, list, list, list, np.ndarray]:
    gold, pred, gpairs, ppairs, mask = [], [], [], [], []
    for e, p in zip(examples, preds):
        if e.aspects is None:
            mask.append(False)
            gold.append(set()), pred.append(set()), gpairs.append(set()), ppairs.append(set())
            continue
        mask.append(True)
        gold.append({a.category for a in e.aspects})
        pred.append({t["touchpoint"] for t in p["touchpoints"]})
        gpairs.append({(a.category, a.polarity) for a in e.aspects})
        ppairs.append({(t["touchpoint"], t["polarity"]) for t in p["touchpoints"]})
    return gold, pred, gpairs, ppairs, np.asarray(mask, dtype=bool)


@dataclass
class _Counts:
    """Per-item 0/1 indicator matrices: rows = items, columns = labels."""

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray


def _label_counts(gold: list[set], pred: list[set], labels: Sequence[str], mask: np.ndarray) -> _Counts:
    n, L = len(gold), len(labels)
    tp, fp, fn = (np.zeros((n, L), dtype=np.int32) for _ in range(3))
    col = {c: j for j, c in enumerate(labels)}
    for i, (g, p) in enumerate(zip(gold, pred)):
        if not mask[i]:
            continue
        for c in g | p:
            j = col.get(c)
            if j is None:
                continue
            if c in g and c in p:
                tp[i, j] = 1
            elif c in p:
                fp[i, j] = 1
            else:
                fn[i, j] = 1
    return _Counts(tp, fp, fn)


def _pair_counts(gpairs: list[set], ppairs: list[set], mask: np.ndarray) -> _Counts:
    n = len(gpairs)
    tp = np.array([len(g & p) if m else 0 for g, p, m in zip(gpairs, ppairs, mask)], dtype=np.int32).reshape(n, 1)
    fp = np.array([len(p - g) if m else 0 for g, p, m in zip(gpairs, ppairs, mask)], dtype=np.int32).reshape(n, 1)
    fn = np.array([len(g - p) if m else 0 for g, p, m in zip(gpairs, ppairs, mask)], dtype=np.int32).reshape(n, 1)
    return _Counts(tp, fp, fn)


def _sentiment_counts(examples: Sequence[Example], preds: Sequence[Mapping], classes: Sequence[str]) -> tuple[_Counts, np.ndarray, np.ndarray]:
    n, K = len(examples), len(classes)
    tp, fp, fn = (np.zeros((n, K), dtype=np.int32) for _ in range(3))
    correct = np.zeros(n, dtype=np.int32)
    has = np.zeros(n, dtype=np.int32)
    col = {c: j for j, c in enumerate(classes)}
    for i, (e, p) in enumerate(zip(examples, preds)):
        if not e.sentiment:
            continue
        has[i] = 1
        g, q = e.sentiment, p["sentiment"]["label"]
        if g == q:
            tp[i, col[g]] = 1
            correct[i] = 1
        else:
            fn[i, col[g]] = 1
            if q in col:
                fp[i, col[q]] = 1
    return _Counts(tp, fp, fn), correct, has


def _f1(tp, fp, fn):
    den = 2 * tp + fp + fn
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, 2 * tp / np.where(den > 0, den, 1), 0.0)


# -- the comparison --------------------------------------------------------------------------------
@dataclass
class _ModelStats:
    label: _Counts
    pairs: _Counts
    sent: _Counts
    correct: np.ndarray


def _stats(examples, preds, labels, classes) -> _ModelStats:
    gold, pred, gp, pp, mask = _touchpoint_sets(examples, preds)
    sent, correct, _ = _sentiment_counts(examples, preds, classes)
    return _ModelStats(_label_counts(gold, pred, labels, mask), _pair_counts(gp, pp, mask), sent, correct)


def _metrics_from(W: np.ndarray, s: _ModelStats, has_sent: np.ndarray, label_support: np.ndarray,
                  class_support: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics for each weight row of ``W`` (B x n item multiplicities)."""
    TP, FP, FN = W @ s.label.tp, W @ s.label.fp, W @ s.label.fn
    per_label = _f1(TP, FP, FN)
    micro = _f1(TP.sum(1), FP.sum(1), FN.sum(1))
    sup = label_support > 0
    macro = per_label[:, sup].mean(1) if sup.any() else np.zeros(W.shape[0])
    pairs = _f1((W @ s.pairs.tp)[:, 0], (W @ s.pairs.fp)[:, 0], (W @ s.pairs.fn)[:, 0])
    out = {"per_label": per_label, "touchpoint_micro_f1": micro, "touchpoint_macro_f1": macro, "pair_micro_f1": pairs}
    if class_support.sum() > 0:
        S = _f1(W @ s.sent.tp, W @ s.sent.fp, W @ s.sent.fn)
        present = class_support > 0
        out["sentiment_macro_f1"] = S[:, present].mean(1)
        n_sent = W @ has_sent
        with np.errstate(divide="ignore", invalid="ignore"):
            out["sentiment_accuracy"] = np.where(n_sent > 0, (W @ s.correct) / np.where(n_sent > 0, n_sent, 1), 0.0)
    return out


def _bootstrap_weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    W = np.zeros((n_boot, n), dtype=np.float64)
    np.add.at(W, (np.repeat(np.arange(n_boot), n), idx.ravel()), 1.0)
    return W


def _delta_entry(cand: float, base: float, boot_c: np.ndarray, boot_b: np.ndarray, extra: dict | None = None) -> dict:
    d = boot_c - boot_b
    lo, hi = (float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))) if d.size else (0.0, 0.0)
    p_worse = float(np.mean(d >= 0)) if d.size else 1.0  # small = strong evidence that the candidate is worse
    p_better = float(np.mean(d <= 0)) if d.size else 1.0
    return {"candidate": round(cand, 4), "production": round(base, 4), "delta": round(cand - base, 4),
            "ci95": [round(lo, 4), round(hi, 4)], "p_worse": round(p_worse, 4), "p_better": round(p_better, 4),
            "significant": bool(d.size) and (lo > 0 or hi < 0), **(extra or {})}


def compare_group(examples: Sequence[Example], cand_preds: Sequence[Mapping], base_preds: Sequence[Mapping] | None,
                  *, labels: Sequence[str] | None = None, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Candidate vs production on one group of held-out items (same order in all three lists).

    ``base_preds=None`` (no production yet): only the candidate's metrics, deltas against 0 omitted.
    """
    n = len(examples)
    if len(cand_preds) != n or (base_preds is not None and len(base_preds) != n):
        raise DataError(field="predictions", expected=f"{n} prediction rows per model",
                        found=(len(cand_preds), None if base_preds is None else len(base_preds)))
    all_preds = list(cand_preds) + list(base_preds or [])
    if labels is None:
        labels = sorted({a.category for e in examples for a in e.aspects or []}
                        | {t["touchpoint"] for p in all_preds for t in p["touchpoints"]})
    labels = list(labels)
    classes = sorted({e.sentiment for e in examples if e.sentiment} | {p["sentiment"]["label"] for p in all_preds})
    has_sent = np.array([1 if e.sentiment else 0 for e in examples], dtype=np.float64)
    cs = _stats(examples, cand_preds, labels, classes)
    bs = _stats(examples, base_preds, labels, classes) if base_preds is not None else None
    label_support = (cs.label.tp + cs.label.fn).sum(0)
    class_support = (cs.sent.tp + cs.sent.fn).sum(0)
    ones = np.ones((1, n))
    full_c = _metrics_from(ones, cs, has_sent, label_support, class_support)
    out: dict[str, Any] = {"n": n, "n_touchpoint_items": int(sum(e.aspects is not None for e in examples)),
                           "n_sentiment_items": int(has_sent.sum()), "overall": {}, "labels": {},
                           "sanity": _sanity(examples, cand_preds, full_c, labels, classes, has_sent,
                                             label_support, class_support, seed=seed)}
    if bs is None:
        for k, v in full_c.items():
            if k != "per_label":
                out["overall"][k] = {"candidate": round(float(v[0]), 4)}
        for j, c in enumerate(labels):
            out["labels"][c] = {"candidate": round(float(full_c["per_label"][0, j]), 4), "support": int(label_support[j])}
        return out
    full_b = _metrics_from(ones, bs, has_sent, label_support, class_support)
    W = _bootstrap_weights(n, n_boot, seed) if n else np.zeros((0, 0))
    boot_c = _metrics_from(W, cs, has_sent, label_support, class_support) if n else {}
    boot_b = _metrics_from(W, bs, has_sent, label_support, class_support) if n else {}
    for k in full_c:
        if k == "per_label":
            continue
        out["overall"][k] = _delta_entry(float(full_c[k][0]), float(full_b[k][0]),
                                         boot_c.get(k, np.zeros(0)), boot_b.get(k, np.zeros(0)))
    for j, c in enumerate(labels):
        out["labels"][c] = _delta_entry(float(full_c["per_label"][0, j]), float(full_b["per_label"][0, j]),
                                        boot_c["per_label"][:, j] if n else np.zeros(0),
                                        boot_b["per_label"][:, j] if n else np.zeros(0),
                                        {"support": int(label_support[j])})
    return out


def _sanity(examples, cand_preds, full_c, labels, classes, has_sent, label_support, class_support, *,
            seed: int) -> dict[str, dict[str, float]]:
    """Headline metrics of the candidate next to two no-skill baselines on the same items:

    * ``permuted``: the candidate's predictions paired with other items' gold (the mean over
      :data:`PERMUTATIONS` fixed random permutations of the items): what its output distribution scores by
      chance. A model trained on shuffled labels scores about this;
    * ``majority``: the most frequent gold sentiment for every item / the touchpoints present in at least
      half of the items (usually none) for every item.
    """
    n = len(examples)
    if n < 2:
        return {}
    ones = np.ones((1, n))
    rng = np.random.default_rng(seed + 7)
    runs = []
    for _ in range(PERMUTATIONS):
        permuted = [cand_preds[int(j)] for j in rng.permutation(n)]
        runs.append(_metrics_from(ones, _stats(examples, permuted, labels, classes), has_sent, label_support,
                                  class_support))
    pm = {k: np.mean([r[k] for r in runs], axis=0) for k in runs[0]}
    sent_gold = [e.sentiment for e in examples if e.sentiment]
    top = max(set(sent_gold), key=sent_gold.count) if sent_gold else None
    tp_items = [e for e in examples if e.aspects is not None]
    common = [c for c in labels if tp_items and sum(any(a.category == c for a in e.aspects or []) for e in tp_items)
              >= len(tp_items) / 2]
    majority = [{"sentiment": {"label": top or ""}, "touchpoints": [{"touchpoint": c, "polarity": "neutral"}
                                                                   for c in common]} for _ in examples]
    mm = _metrics_from(ones, _stats(examples, majority, labels, classes), has_sent, label_support, class_support)
    out = {}
    for k in HEADLINE:
        items = len(tp_items) if k.startswith("touchpoint") else len(sent_gold)
        if k not in full_c or not items:
            continue
        out[k] = {"candidate": round(float(full_c[k][0]), 4), "permuted": round(float(pm[k][0]), 4),
                  "majority": round(float(mm[k][0]), 4), "items": items}
    return out


def compare(groups: Mapping[str, Sequence[Example]], cand_preds: Mapping[str, Sequence[Mapping]],
            base_preds: Mapping[str, Sequence[Mapping]] | None, *, candidate: Mapping[str, str],
            production: Mapping[str, str] | None, labels: Sequence[str] | None = None, n_boot: int = 1000,
            seed: int = 0) -> dict[str, Any]:
    """The comparison report stored as ``comparison.json``: one entry per group plus ``all``."""
    report: dict[str, Any] = {
        "candidate": dict(candidate), "production": dict(production) if production else None,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "bootstrap": {"resamples": n_boot, "seed": seed, "unit": "item", "paired": True},
        "groups": {},
    }
    all_ex: list[Example] = []
    all_c: list[Mapping] = []
    all_b: list[Mapping] = []
    for g, ex in groups.items():
        if not ex:
            continue
        b = base_preds[g] if base_preds is not None else None
        report["groups"][g] = compare_group(ex, cand_preds[g], b, labels=labels, n_boot=n_boot, seed=seed)
        all_ex += list(ex)
        all_c += list(cand_preds[g])
        all_b += list(b or [])
    if all_ex:
        report["groups"]["all"] = compare_group(all_ex, all_c, all_b if base_preds is not None else None,
                                                labels=labels, n_boot=n_boot, seed=seed)
    return report


# -- the decision ----------------------------------------------------------------------------------
