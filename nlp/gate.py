"""The evaluation gate: a candidate version against the production version on the same held-out
items, a per-label comparison with a paired bootstrap, and the promotion / rollback rules.

* :func:`compare` scores both models' prediction rows on each held-out group (the seed dev set, each
  analyst dataset's evaluation split, and ``all`` of them together): per touchpoint label the F1 of
  both, the change, its 95 % paired-bootstrap interval and a one-sided p-value for "the candidate is
  worse"; overall touchpoint micro/macro-F1, touchpoint+polarity micro-F1, sentiment macro-F1 and
  accuracy. Resampling is over items (the same resampled items for both models), 1,000 resamples,
  fixed seed, so the same inputs give the same report.
* :func:`decide` applies the promotion rules of a :class:`GatePolicy`: refuse when the candidate is
  worse than production by more than ``tolerance`` (default 0.02 F1) on the seed dev set's headline
  metrics, on the whole held-out set's headline metrics, or (significantly, by the bootstrap) on any
  touchpoint label with at least ``min_support`` (default 10) held-out mentions.
* :func:`promote` / :func:`rollback` move the ``production`` alias, record who and why in the
  model's history and in the version's ``meta.json``, and regenerate its ``MODEL_CARD.md``.
"""
from __future__ import annotations

import getpass
import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import CxlensError, DataError, ModelNotFoundError
from .schema import Example

COMPARISON_FILE = "comparison.json"
PRODUCTION = "production"
HEADLINE = ("touchpoint_micro_f1", "sentiment_macro_f1")
PERMUTATIONS = 20


class PromotionRefused(CxlensError):
    """The gate refused a promotion; ``failures`` names each metric/label that got worse."""

    def __init__(self, message: str, *, failures: Sequence[str] = (), decision: dict | None = None) -> None:
        super().__init__(message)
        self.failures = list(failures)
        self.decision = decision or {}


@dataclass(frozen=True)
class GatePolicy:
    """Promotion rules.

    * ``tolerance``: the largest F1 drop accepted;
    * headline metrics (touchpoint micro-F1, sentiment macro-F1) on the seed dev set and on all
      held-out items: a drop larger than ``tolerance`` blocks;
    * each touchpoint label with at least ``min_support`` held-out mentions: a drop larger than
      ``tolerance`` blocks when the paired bootstrap also says the candidate is worse: one-sided
      ``p_worse`` significant at family-wise level ``alpha`` over all the labels checked (Holm's
      correction: a dozen labels tested at 0.05 each would flag one by chance about half the time);
      with ``require_significance=False`` the drop alone blocks. Per-label F1 on a few dozen mentions
      moves by several points when one or two comments flip, so the point rule alone refuses clearly
      better models for noise (docs/retraining.md has a measured example).
    """

    tolerance: float = 0.02
    min_support: int = 10
    require_significance: bool = True
    alpha: float = 0.05
    n_boot: int = 1000
    seed: int = 0
    #: sanity floor, checked with or without a production version: on the held-out items each headline
    #: metric must beat chance (the candidate's own predictions paired with the gold of other items, over
    #: :data:`PERMUTATIONS` fixed permutations) and the majority/prior baseline by this much
    sanity_margin: float = 0.05
    #: ... on at least this many held-out items with that kind of label (fewer: too noisy to judge)
    sanity_min_items: int = 30


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
def holm(pvalues: Mapping[str, float], alpha: float) -> set[str]:
    """Holm's step-down correction: the keys whose p-value stays significant at family-wise level
    ``alpha`` when all of them are tested together (sorted p_k <= alpha / (m - k + 1), stop at the first miss)."""
    m = len(pvalues)
    out: set[str] = set()
    for k, (key, p) in enumerate(sorted(pvalues.items(), key=lambda kv: (kv[1], kv[0]))):
        if p > alpha / (m - k):
            break
        out.add(key)
    return out


@dataclass
class Decision:
    passed: bool
    failures: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    policy: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(comparison: Mapping[str, Any], policy: GatePolicy | None = None, *, seed_group: str = "seed_dev") -> Decision:
    """Apply the promotion rules to a comparison report (see :class:`GatePolicy`)."""
    policy = policy or GatePolicy()
    dec = Decision(passed=True, policy=asdict(policy))
    groups = comparison.get("groups", {})
    sanity = (groups.get("all") or groups.get(seed_group) or {}).get("sanity")
    if sanity is None:
        dec.checked.append("sanity: no held-out items to check")
    for k, e in (sanity or {}).items():
        if e.get("items", policy.sanity_min_items) < policy.sanity_min_items:
            dec.checked.append(f"sanity:{k}: {e['items']} items, too few to judge")
            continue
        dec.checked.append(f"sanity:{k}")
        floor = max(e["permuted"], e["majority"]) + policy.sanity_margin
        if e["candidate"] < floor - 1e-12:
            dec.failures.append(f"sanity: {k} {e['candidate']:.3f} is not {policy.sanity_margin:.2f} above chance "
                                f"(label-permuted {e['permuted']:.3f}, majority {e['majority']:.3f}) on the "
                                "held-out items")
    if comparison.get("production") is None:
        dec.checked.append("no production version: nothing to compare with")
        dec.passed = not dec.failures
        return dec
    tol = policy.tolerance

    def worse(entry: Mapping[str, Any]) -> bool:
        return "delta" in entry and entry["delta"] < -tol - 1e-12

    for g in (seed_group, "all"):
        if g not in groups:
            continue
        for k in HEADLINE:
            e = groups[g]["overall"].get(k)
            if e is None:
                continue
            dec.checked.append(f"{g}:{k}")
            if worse(e):
                dec.failures.append(f"{k} on {g}: {e['production']:.3f} -> {e['candidate']:.3f} "
                                    f"({e['delta']:+.3f}, 95% CI {e['ci95'][0]:+.3f}..{e['ci95'][1]:+.3f})")
    if "all" in groups:
        checked = [(c, e) for c, e in groups["all"]["labels"].items() if e.get("support", 0) >= policy.min_support]
        dec.checked += [f"all:{c}" for c, _ in checked]
        significant = holm({c: e.get("p_worse", 1.0) for c, e in checked}, policy.alpha)
        for c, e in checked:
            if "delta" not in e or e["delta"] >= -tol - 1e-12:
                continue
            if policy.require_significance and c not in significant:
                continue
            dec.failures.append(f"label '{c}' (support {e['support']}): F1 {e['production']:.3f} -> "
                                f"{e['candidate']:.3f} ({e['delta']:+.3f}, 95% CI {e['ci95'][0]:+.3f}.."
                                f"{e['ci95'][1]:+.3f}, p_worse {e['p_worse']:.3f})")
    dec.passed = not dec.failures
    return dec


# -- promotion and rollback ------------------------------------------------------------------------
def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return os.environ.get("CXLENS_USER") or getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_comparison(store, name: str, version: str) -> dict[str, Any] | None:
    f = store.path(name, version) / COMPARISON_FILE
    return json.loads(f.read_text(encoding="utf-8")) if f.exists() else None


def write_comparison(store, name: str, version: str, comparison: Mapping[str, Any]) -> None:
    store.write_json(name, version, COMPARISON_FILE, comparison)


def production_version(store, name: str) -> str | None:
    return store.aliases(name).get(PRODUCTION)


def promote(store, spec: str, *, force: bool = False, reason: str | None = None, by: str | None = None,
            policy: GatePolicy | None = None, dataset_store=None, progress=None) -> dict[str, Any]:
    """Make ``NAME@VERSION`` the production version if the gate passes (or ``force`` with a reason).

    The comparison stored with the version is reused when it was made against the current production
    version; otherwise the candidate and production are evaluated again on the held-out data recorded
    in the candidate's meta. Returns the recorded event; raises :class:`PromotionRefused`.
    """
    if "@" not in spec:
        raise DataError("say which version to promote", field="spec", expected="NAME@VERSION", found=spec)
    if force and not (reason and reason.strip()):
        raise DataError("a forced promotion needs a reason", field="--reason", expected="--reason \"why\"", found=None)
    name, version = store.resolve(spec)
    current = production_version(store, name)
    if current is None:
        versions = store.versions(name)
        current = versions[-1] if versions and versions[-1] != version else None
    if current == version:
        raise DataError(f"{name}@{version} is already the production version", field="spec",
                        expected="another version", found=spec)
    comparison = read_comparison(store, name, version)
    baseline = (comparison or {}).get("production") or None
    stale = comparison is None or "sanity" not in ((comparison.get("groups") or {}).get("all") or {}) or \
        (str(baseline.get("version")) if baseline else None) != current
    if stale:  # compare on the candidate's held-out items (its sanity floor is checked even with no production)
        from .retrain import evaluate_versions

        comparison = evaluate_versions(store, name, version, current, dataset_store=dataset_store,
                                       n_boot=(policy or GatePolicy()).n_boot, progress=progress)
        write_comparison(store, name, version, comparison)
    decision = decide(comparison, policy)
    if not decision.passed and not force:
        over = f" over production {name}@{current}" if current is not None else ""
        raise PromotionRefused(
            f"refusing to promote {name}@{version}{over}: " + "; ".join(decision.failures)
            + f" (tolerance {(policy or GatePolicy()).tolerance:.2f} F1). Use --force --reason \"...\" to override.",
            failures=decision.failures, decision=decision.to_dict())
    return apply_promotion(store, name, version, current, decision, reason=reason, by=by,
                           forced=bool(force and not decision.passed))


def apply_promotion(store, name: str, version: str, current: str | None, decision: Decision, *,
                    reason: str | None, by: str | None, forced: bool = False) -> dict[str, Any]:
    """Move ``production`` to ``version`` and record the event (history, meta, model card)."""
    from .card import write_card

    event = {"action": "promote", "version": version, "from": current, "at": _now(), "by": _who(by),
             "reason": reason, "forced": forced,
             "gate": {"passed": decision.passed, "failures": decision.failures, "checked": decision.checked,
                      "tolerance": decision.policy["tolerance"], "min_support": decision.policy["min_support"]}}
    store.set_alias(name, PRODUCTION, version)
    store.append_history(name, event)
    meta = store.meta(name, version)
    store.update_meta(name, version, {"promotion": event, "promotions": meta.get("promotions", []) + [event]})
    write_card(store, name, version)
    return event


def settle_first_version(store, name: str, version: str, decision: Decision, *, by: str | None = None,
                         reason: str = "first version of this model") -> dict[str, Any] | None:
    """The first version of a model: promoted as part of its training when the gate (its sanity floor)
    passed; otherwise recorded as ``refused`` in the history, so that the store knows the model has no
    production version yet (and does not fall back to serving its latest). Returns the promotion event."""
    if decision.passed:
        return apply_promotion(store, name, version, None, decision, reason=reason, by=by)
    store.append_history(name, {"action": "refused", "version": version, "from": None, "at": _now(), "by": _who(by),
                                "reason": "first version: the gate's sanity floor",
                                "gate": {"passed": False, "failures": decision.failures}})
    return None


def pin_production(store, name: str, *, by: str | None = None) -> str | None:
    """Before a new version of ``name`` is saved: a store without a ``production`` alias (made before
    versions were promoted explicitly) served its latest version; pin that one, so that the new version
    is a candidate and what is served changes only by promotion. Returns the production version."""
    current = production_version(store, name)
    versions = store.versions(name)
    if current is None and versions:
        current = versions[-1]
        store.set_alias(name, PRODUCTION, current)
        store.append_history(name, {"action": "pin", "version": current, "from": None, "at": _now(), "by": _who(by),
                                    "reason": "production pinned before training a candidate"})
    return current


def rollback(store, name: str, *, to: str | None = None, by: str | None = None, reason: str | None = None) -> dict[str, Any]:
    """Point ``production`` back to an earlier version (default: the one before the current one).
    No gate: the target was in production before, or is named explicitly."""
    from .card import write_card

    versions = store.versions(name)
    if not versions:
        raise ModelNotFoundError(f"no model named '{name}' in {store.root}")
    current = production_version(store, name) or versions[-1]
    if to is None:
        target = None
        for ev in reversed(store.history(name)):
            if ev.get("action") == "promote" and ev.get("version") == current and ev.get("from") \
                    and ev["from"] != current and ev["from"] in versions:
                target = ev["from"]
                break
        if target is None:
            older = [v for v in versions if int(v) < int(current)]
            if not older:
                raise DataError(f"{name}@{current} has no earlier version to roll back to", field="--to",
                                expected="an earlier version", found=None)
            target = older[-1]
    else:
        _, target = store.resolve(f"{name}@{to}")
    if target == current:
        raise DataError(f"{name}@{target} is already the production version", field="--to",
                        expected="another version", found=to)
    event = {"action": "rollback", "version": target, "from": current, "at": _now(), "by": _who(by),
             "reason": reason}
    store.set_alias(name, PRODUCTION, target)
    store.append_history(name, event)
    meta = store.meta(name, target)
    store.update_meta(name, target, {"promotions": meta.get("promotions", []) + [event]})
    write_card(store, name, target)
    return event


__all__ = ["GatePolicy", "Decision", "PromotionRefused", "compare", "compare_group", "decide", "promote",
           "rollback", "read_comparison", "write_comparison", "production_version"]
