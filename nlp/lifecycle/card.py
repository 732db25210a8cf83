"""``MODEL_CARD.md``: a readable summary of one model version, generated from its ``meta.json``,
its ``comparison.json`` and the model's promotion history (regenerated on every promotion/rollback)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from .store import CARD_FILE


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    if v is None:
        return "-"
    return str(v)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows]
    return out


def render_card(meta: Mapping[str, Any], *, comparison: Mapping[str, Any] | None = None,
                history: Sequence[Mapping[str, Any]] = (), aliases: Mapping[str, str] | None = None) -> str:
    name, version = meta.get("name", "?"), meta.get("version", "?")
    tags = sorted(a for a, v in (aliases or {}).items() if v == version)
    L = [f"# Model card: {name}@{version}", ""]
    L.append(f"- created: {meta.get('created', '-')}; model family: `{meta.get('model_type', '-')}`"
             + (f"; aliases: {', '.join(tags)}" if tags else ""))
    tr = meta.get("training") or {}
    if tr:
        L.append(f"- training: {tr.get('rows', '-')} rows ({tr.get('unique_rows', tr.get('rows', '-'))} unique), "
                 f"{tr.get('seconds', '-')} s" + (f", by {tr['trained_by']}" if tr.get("trained_by") else ""))
    tax = meta.get("taxonomy") if isinstance(meta.get("taxonomy"), dict) else None
    if tax:
        L.append(f"- taxonomy: version {tax.get('version')}, sha256 `{str(tax.get('sha256'))[:16]}`, "
                 f"{len(tax.get('ids') or [])} touchpoints"
                 + (f"; added: {', '.join(tax['added'])}" if tax.get("added") else "")
                 + (f"; removed: {', '.join(tax['removed'])}" if tax.get("removed") else "")
                 + (f"; mapping: {', '.join(f'{k}={v or chr(8709)}' for k, v in tax['mapping'].items())}"
                    if tax.get("mapping") else ""))
    elif meta.get("taxonomy_version") is not None:
        L.append(f"- taxonomy version: {meta['taxonomy_version']}")
    L.append("")

    L += ["## Data", ""]
    rt = meta.get("retrain") or {}
    if rt:
        seed = rt.get("seed") or {}
        rows = [["seed set (bundled)", seed.get("train_rows"), seed.get("dev_rows"), seed.get("weight"),
                 str(seed.get("train_sha256") or "-")[:16]]]
        for d in rt.get("datasets") or []:
            rows.append([d["spec"], d.get("train_rows"), d.get("eval_rows"), d.get("weight"), d["hash"][:16]])
        L += _table(["source", "rows for training (before weighting)", "held-out rows", "weight", "sha256"], rows)
        L.append("")
        L.append(f"Held-out rows never enter training: the seed dev split, and a fixed {int(rt.get('eval_share', 0.2) * 100)} % "
                 "of each analyst dataset chosen by a hash of the text.")
    elif tr.get("files"):
        L.append(f"- files: {', '.join(tr['files'])} (sha256 `{str(tr.get('sha256'))[:16]}`)")
        if meta.get("dev"):
            L.append(f"- dev: {meta['dev'].get('file')} ({meta['dev'].get('rows')} rows)")
    dist = tr.get("label_distribution") or {}
    if dist.get("touchpoints"):
        L += ["", "Label distribution (training rows, after weighting):", ""]
        L += _table(["touchpoint", "mentions"], sorted(dist["touchpoints"].items(), key=lambda kv: -kv[1]))
    if dist.get("sentiment"):
        L += ["", "Sentiment: " + ", ".join(f"{k} {v}" for k, v in sorted(dist["sentiment"].items()))]
    for w in tr.get("warnings") or []:
        L.append(f"\n> warning: {w}")
    L.append("")

    L += ["## Metrics", ""]
    m = meta.get("metrics") or {}
    if m:
        L += _table(["metric", "value"], sorted(m.items()))
    full = meta.get("metrics_full") or {}
    seed_full = full.get("seed_dev") if "seed_dev" in full else (full if "touchpoints" in full else None)
    if seed_full and seed_full.get("touchpoints"):
        L += ["", "Per touchpoint on the seed dev set:", ""]
        L += _table(["touchpoint", "P", "R", "F1", "support"],
                    [[c, v["precision"], v["recall"], v["f1"], v["support"]]
                     for c, v in seed_full["touchpoints"]["per_label"].items()])
    thr = meta.get("thresholds") or {}
    flat = {k: v for k, v in thr.items() if isinstance(v, (int, float))}
    if flat:
        L += ["", "Decision thresholds: " + ", ".join(f"{k} {v:.3f}" for k, v in flat.items())]
    for member, member_thr in ((k, v) for k, v in thr.items() if isinstance(v, dict) and v):  # an ensemble's
        L += ["", f"Decision thresholds ({member} member): "
              + ", ".join(f"{k} {v:.3f}" for k, v in member_thr.items())]
    L.append("")

    if comparison:
        L += ["## Comparison with production", ""]
        prod = comparison.get("production")
        if not prod:
            L.append("No production version to compare with (first version).")
        else:
            L.append(f"Against {prod['name']}@{prod['version']} on the same held-out items; paired bootstrap over "
                     f"items, {comparison.get('bootstrap', {}).get('resamples')} resamples, seed "
                     f"{comparison.get('bootstrap', {}).get('seed')}.")
            L.append("")
            rows = []
            for g, res in comparison.get("groups", {}).items():
                for k in ("touchpoint_micro_f1", "sentiment_macro_f1", "pair_micro_f1"):
                    e = res["overall"].get(k)
                    if e and "delta" in e:
                        rows.append([g, k, e["production"], e["candidate"], f"{e['delta']:+.3f}",
                                     f"{e['ci95'][0]:+.3f}..{e['ci95'][1]:+.3f}", "yes" if e["significant"] else "no"])
            L += _table(["held-out set", "metric", "production", "candidate", "change", "95% CI", "significant"], rows)
            allg = comparison.get("groups", {}).get("all")
            if allg:
                L += ["", "Per touchpoint (all held-out items):", ""]
                L += _table(["touchpoint", "support", "production F1", "candidate F1", "change", "95% CI"],
                            [[c, e.get("support"), e.get("production"), e.get("candidate"),
                              f"{e['delta']:+.3f}" if "delta" in e else "-",
                              f"{e['ci95'][0]:+.3f}..{e['ci95'][1]:+.3f}" if "ci95" in e else "-"]
                             for c, e in allg["labels"].items()])
        dec = comparison.get("decision")
        if dec:
            L += ["", f"Gate (tolerance {dec['policy']['tolerance']}, min support {dec['policy']['min_support']}): "
                  + ("**passed**" if dec["passed"] else "**refused**: " + "; ".join(dec["failures"]))]
        L.append("")

    events = [e for e in history if e.get("version") == version or e.get("from") == version]
    if events:
        L += ["## Promotion history", ""]
        L += _table(["when", "action", "version", "from", "by", "forced", "reason"],
                    [[e.get("at"), e.get("action"), e.get("version"), e.get("from"), e.get("by"),
                      "yes" if e.get("forced") else "no", e.get("reason") or ""] for e in events])
        L.append("")

    libs = meta.get("libraries") or {}
    if libs:
        L += ["## Libraries", "", ", ".join(f"{k} {v}" for k, v in sorted(libs.items())), ""]
    params = meta.get("params") or {}
    if params:
        L += ["## Parameters", "", "```json", json.dumps(params, ensure_ascii=False, indent=1, default=str), "```", ""]
    return "\n".join(L)


def card_text(store, name: str, version: str) -> str:
    """The model card of a version, rendered from what the store holds (reads only)."""
    return render_card(store.meta(name, version), comparison=store.comparison(name, version),
                       history=store.history(name), aliases=store.aliases(name))


def write_card(store, name: str, version: str) -> Path:
    """(Re)generate ``MODEL_CARD.md`` in the version's folder (through the store)."""
    return store.write_artifact(name, version, CARD_FILE, card_text(store, name, version))
