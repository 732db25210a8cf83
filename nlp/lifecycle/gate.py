"""The evaluation gate: promotion rules applied to a comparison (:mod:`nlp.lifecycle.comparison`).
Pure: it reads a comparison and a policy and returns a :class:`Decision`; it writes nothing.

:func:`decide` refuses when the candidate is worse than production by more than ``tolerance`` (default
0.02 F1) on the seed dev set's headline metrics, on the whole held-out set's headline metrics, or
(significantly, by the bootstrap, Holm-corrected) on any touchpoint label with at least ``min_support``
(default 10) held-out mentions; and, with or without a production version, when the candidate does not
clear the sanity floor (it must beat label permutations and the majority/prior baseline by a margin).
Promotion and rollback, which act on the decision, are :mod:`nlp.lifecycle.promotion`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from .comparison import HEADLINE


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
    #: :data:`nlp.lifecycle.comparison.PERMUTATIONS` fixed permutations) and the majority/prior baseline by this much
    sanity_margin: float = 0.05
    #: ... on at least this many held-out items with that kind of label (fewer: too noisy to judge)
    sanity_min_items: int = 30


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


__all__ = ["GatePolicy", "Decision", "decide", "holm"]
