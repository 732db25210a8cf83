"""``cxlens models [list|promote|rollback|card]``: the versions in the store and what is served."""
from __future__ import annotations

import argparse

from .common import add_dirs, add_gate_options, add_models_dir, dataset_store, format_table, gate_policy, \
    model_store, printed_json_or_empty, warn


def register(sub) -> None:
    p = sub.add_parser("models", help="list model versions; promote, roll back, model card (docs/retraining.md)")
    p.add_argument("--json", action="store_true")
    add_models_dir(p)
    p.set_defaults(func=cmd_models_list)
    msub = p.add_subparsers(dest="models_command", metavar="ACTION")
    q = msub.add_parser("list", help="list model versions (the default action)")
    q.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    add_models_dir(q, inherit=True)
    q = msub.add_parser("promote", help="make NAME@VERSION the production version, through the evaluation gate")
    q.add_argument("spec", help="NAME@VERSION")
    q.add_argument("--force", action="store_true", help="promote even if the gate refuses (needs --reason)")
    q.add_argument("--reason", help="why (recorded in the history and the model card)")
    q.add_argument("--by", help="who promotes (recorded; default: $CXLENS_USER or the login name)")
    add_gate_options(q)
    add_dirs(q, inherit=True)
    q.set_defaults(func=cmd_models_promote)
    q = msub.add_parser("rollback", help="point production back to an earlier version")
    q.add_argument("name", help="model name")
    q.add_argument("--to", help="version to go back to (default: the one before the current production)")
    q.add_argument("--reason", help="why (recorded)")
    q.add_argument("--by", help="who (recorded)")
    add_dirs(q, inherit=True)
    q.set_defaults(func=cmd_models_rollback)
    q = msub.add_parser("card", help="(re)generate and print a version's MODEL_CARD.md")
    q.add_argument("spec", help="NAME or NAME@VERSION")
    q.add_argument("--path-only", action="store_true", help="print only the card's path")
    add_dirs(q, inherit=True)
    q.set_defaults(func=cmd_models_card)


def cmd_models_list(args: argparse.Namespace) -> int:
    store = model_store(args)
    rows = store.list()
    if printed_json_or_empty(rows, as_json=args.json, what="models", root=store.root):
        return 0
    table = [["name", "version", "type", "backend", "created", "touchpoint F1", "sentiment F1", "aliases"]]
    for r in rows:
        m = r["metrics"] or {}
        table.append([r["name"], r["version"], r["model_type"] or "-", r.get("encoder_backend") or "-",
                      r["created"] or "-",
                      f"{m['touchpoint_micro_f1']:.3f}" if "touchpoint_micro_f1" in m else "-",
                      f"{m['sentiment_macro_f1']:.3f}" if "sentiment_macro_f1" in m else "-",
                      ",".join(r["aliases"])])
    print(format_table(table, right={1, 5, 6}))
    return 0


def cmd_models_promote(args: argparse.Namespace) -> int:
    from nlp.lifecycle.promotion import promote

    event = promote(model_store(args), args.spec, force=args.force, reason=args.reason, by=args.by,
                    policy=gate_policy(args), dataset_store=dataset_store(args), progress=warn)
    g = event["gate"]
    how = "forced past the gate" if event["forced"] else ("gate passed" if g["passed"] else "gate")
    print(f"production: {args.spec.split('@')[0]}@{event['version']} (was {event['from'] or '-'}); {how}; "
          f"by {event['by']}" + (f"; reason: {event['reason']}" if event.get("reason") else ""))
    if event["forced"]:
        for f in g["failures"]:
            print(f"  overridden: {f}")
    return 0


def cmd_models_rollback(args: argparse.Namespace) -> int:
    from nlp.lifecycle.promotion import rollback

    event = rollback(model_store(args), args.name, to=args.to, by=args.by, reason=args.reason)
    print(f"production: {args.name}@{event['version']} (rolled back from {event['from']}); by {event['by']}")
    return 0


def cmd_models_card(args: argparse.Namespace) -> int:
    from nlp.lifecycle.card import write_card

    store = model_store(args)
    name, version = store.resolve(args.spec)
    path = write_card(store, name, version)
    print(path if args.path_only else path.read_text(encoding="utf-8"))
    return 0


def format_comparison(comparison: dict, *, max_labels: int = 40) -> str:
    """The gate's candidate-vs-production comparison as text (``cxlens train --dataset``)."""
    prod = comparison.get("production")
    lines = []
    for g, res in comparison.get("groups", {}).items():
        o = res["overall"]
        parts = []
        for k, short in (("touchpoint_micro_f1", "touchpoint F1"), ("sentiment_macro_f1", "sentiment F1"),
                         ("pair_micro_f1", "pair F1")):
            if k in o:
                e = o[k]
                parts.append(f"{short} {e['candidate']:.3f}" + (f" ({e['delta']:+.3f})" if "delta" in e else ""))
        lines.append(f"{g} (n={res['n']}): " + ", ".join(parts))
    allg = comparison.get("groups", {}).get("all")
    if allg and prod:
        lines.append(f"  {'label':<22}{'support':>8}{'prod F1':>9}{'cand F1':>9}{'change':>9}  95% CI")
        for c, e in list(allg["labels"].items())[:max_labels]:
            lines.append(f"  {c:<22}{e['support']:>8}{e['production']:>9.3f}{e['candidate']:>9.3f}{e['delta']:>+9.3f}  "
                         f"{e['ci95'][0]:+.3f}..{e['ci95'][1]:+.3f}{' *' if e['significant'] else ''}")
    if prod:
        lines.insert(0, f"candidate vs production {prod['name']}@{prod['version']} (paired bootstrap, "
                        f"{comparison.get('bootstrap', {}).get('resamples')} resamples; * = 95% CI excludes 0):")
    return "\n".join(lines)
