"""Promotion and rollback: thin operations on the model store that move the ``production`` alias.

* :func:`promote` asks the gate (:func:`nlp.lifecycle.gate.decide`) about the stored comparison (made
  again on the candidate's held-out items when it is stale), then records the event: alias and history in
  one locked store write, the version's ``meta.json``, its model card.
* :func:`settle_first_version`: the first version of a model is promoted as part of its training when it
  clears the gate's sanity floor, and recorded as ``refused`` otherwise (the store then serves nothing).
* :func:`pin_production`: a store from before explicit promotion gets its latest version pinned before a
  candidate is saved, so what is served changes only by promotion.
* :func:`rollback` points ``production`` back to an earlier version (no gate).
"""
from __future__ import annotations

import getpass
import os
from datetime import datetime, timezone
from typing import Any

from ..errors import DataError, ModelNotFoundError, PromotionRefused
from .gate import Decision, GatePolicy, decide
from .store import PRODUCTION, ModelStore


def who(by: str | None) -> str:
    if by:
        return by
    try:
        return os.environ.get("CXLENS_USER") or getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def production_version(store: ModelStore, name: str) -> str | None:
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
    if current is None and not store.history(name):  # a store from before explicit promotion serves its latest
        versions = store.versions(name)
        current = versions[-1] if versions and versions[-1] != version else None
    if current == version:
        raise DataError(f"{name}@{version} is already the production version", field="spec",
                        expected="another version", found=spec)
    comparison = store.comparison(name, version)
    baseline = (comparison or {}).get("production") or None
    stale = comparison is None or "sanity" not in ((comparison.get("groups") or {}).get("all") or {}) or \
        (str(baseline.get("version")) if baseline else None) != current
    if stale:  # compare on the candidate's held-out items (its sanity floor is checked even with no production)
        from .retrain import evaluate_versions

        comparison = evaluate_versions(store, name, version, current, dataset_store=dataset_store,
                                       n_boot=(policy or GatePolicy()).n_boot, progress=progress)
        store.write_comparison(name, version, comparison)
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

    event = {"action": "promote", "version": version, "from": current, "at": now(), "by": who(by),
             "reason": reason, "forced": forced,
             "gate": {"passed": decision.passed, "failures": decision.failures, "checked": decision.checked,
                      "tolerance": decision.policy["tolerance"], "min_support": decision.policy["min_support"]}}
    meta = store.meta(name, version)
    store.record_event(name, event, production=version,
                       meta_patch={"promotion": event, "promotions": meta.get("promotions", []) + [event]})
    write_card(store, name, version)
    return event


def settle_first_version(store, name: str, version: str, decision: Decision, *, by: str | None = None,
                         reason: str = "first version of this model") -> dict[str, Any] | None:
    """The first version of a model: promoted as part of its training when the gate (its sanity floor)
    passed; otherwise recorded as ``refused`` in the history, so that the store knows the model has no
    production version yet (and does not fall back to serving its latest). Returns the promotion event."""
    if decision.passed:
        return apply_promotion(store, name, version, None, decision, reason=reason, by=by)
    store.record_event(name, {"action": "refused", "version": version, "from": None, "at": now(), "by": who(by),
                              "reason": "first version: the gate's sanity floor",
                              "gate": {"passed": False, "failures": decision.failures}})
    return None


def pin_production(store, name: str, *, by: str | None = None) -> str | None:
    """Before a new version of ``name`` is saved: a store without a ``production`` alias (made before
    versions were promoted explicitly) served its latest version; pin that one, so that the new version
    is a candidate and what is served changes only by promotion. A model with a history and no production
    version (its first version was refused) stays unserved. Returns the production version (or None)."""
    current = production_version(store, name)
    versions = store.versions(name)
    if current is None and versions and not store.history(name):  # a history: nothing is served on purpose
        current = versions[-1]
        store.record_event(name, {"action": "pin", "version": current, "from": None, "at": now(), "by": who(by),
                                  "reason": "production pinned before training a candidate"}, production=current)
    return current


def rollback(store, name: str, *, to: str | None = None, by: str | None = None, reason: str | None = None) -> dict[str, Any]:
    """Point ``production`` back to an earlier version (default: the one before the current one).
    No gate: the target was in production before, or is named explicitly."""
    from .card import write_card

    versions = store.versions(name)
    if not versions:
        raise ModelNotFoundError(f"no model named '{name}' in {store.root}")
    current = production_version(store, name)
    if current is None:
        if store.history(name):  # nothing is served on purpose (a refused first version): nothing to roll back
            raise DataError(f"model '{name}' has no production version to roll back from; promote a version "
                            f"with `cxlens models promote {name}@VERSION`", field="name", expected="a served model",
                            found=name)
        current = versions[-1]  # a store from before explicit promotion serves its latest
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
    event = {"action": "rollback", "version": target, "from": current, "at": now(), "by": who(by),
             "reason": reason}
    meta = store.meta(name, target)
    store.record_event(name, event, production=target,
                       meta_patch={"promotions": meta.get("promotions", []) + [event]})
    write_card(store, name, target)
    return event


__all__ = ["promote", "apply_promotion", "settle_first_version", "pin_production", "rollback", "production_version",
           "who", "now"]
