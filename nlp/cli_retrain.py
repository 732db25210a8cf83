"""Retraining commands: ``cxlens datasets import|list``, ``cxlens feedback``, ``cxlens queue``, the
``--dataset`` options of ``cxlens train``, and the handlers of ``cxlens models promote|rollback|card``
(registered by ``nlp.cli``). See docs/retraining.md.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import DEFAULT_MODEL_NAME
from .errors import DataError



def _warn(msg: str) -> None:
    print(f"cxlens: {msg}", file=sys.stderr)


def _store(args):
    from .store import ModelStore

    return ModelStore(getattr(args, "models_dir", None))


def _dstore(args):
    from .datasets import DatasetStore

    d = getattr(args, "data_dir", None)
    return DatasetStore(Path(d) / "datasets" if d else None)


def _taxonomy_for(args):
    """``--taxonomy FILE``, else the taxonomy of the production model ``--model``, else the bundled one."""
    from .taxonomy import load_taxonomy

    if getattr(args, "taxonomy", None):
        return load_taxonomy(args.taxonomy)
    store = _store(args)
    spec = getattr(args, "model", None) or DEFAULT_MODEL_NAME
    try:
        name = spec.split("@")[0]
        if store.versions(name):
            tax = getattr(store.load(spec), "taxonomy", None)
            if tax is not None:
                return tax
    except Exception as e:  # noqa: BLE001 - an unreadable model must not block validating a file
        _warn(f"cannot read the taxonomy of {spec}: {e}; using the bundled one")
    return load_taxonomy()


def _print_errors(errors, *, errors_file: Path | None = None) -> None:
    """Every bad row (no cap: the analyst fixes them all), and optionally as JSONL."""
    for e in errors:
        _warn(f"bad row: {e}")
    if errors_file is not None:
        errors_file.parent.mkdir(parents=True, exist_ok=True)
        with open(errors_file, "w", encoding="utf-8") as fh:
            for e in errors:
                fh.write(json.dumps(e.to_dict(), ensure_ascii=False, default=str) + "\n")


def _policy(args):
    from .gate import GatePolicy

    kw = {}
    if getattr(args, "tolerance", None) is not None:
        kw["tolerance"] = args.tolerance
    if getattr(args, "min_support", None) is not None:
        kw["min_support"] = args.min_support
    if getattr(args, "no_significance", False):
        kw["require_significance"] = False
    return GatePolicy(**kw)


# -- datasets --------------------------------------------------------------------------------------
def cmd_datasets_import(args: argparse.Namespace) -> int:
    from .datasets import parse_mapping, read_labeled_file

    tax = _taxonomy_for(args)
    mapping = parse_mapping(args.map)
    ds = _dstore(args)
    if args.strict:
        _, errors = read_labeled_file(args.file, fmt=args.format, labels=tax.ids, mapping=mapping)
        if errors:
            _print_errors(errors, errors_file=args.errors)
            raise DataError(f"{len(errors)} bad rows (--strict): nothing imported", source=str(args.file))
    from .progress import task

    with task(f"importing {Path(args.file).name}", unit="row") as t:
        res = ds.import_file(args.file, name=args.name, fmt=args.format, taxonomy=tax, mapping=mapping)
        t.update(res.rows)
    _print_errors(res.errors, errors_file=args.errors)
    dist = res.meta.get("label_distribution", {})
    state = "unchanged (same content already current)" if res.unchanged else "stored"
    print(f"dataset {res.spec}: {res.rows} rows {state}, {len(res.errors)} bad rows skipped; "
          f"{res.meta.get('eval_rows')} held out for evaluation")
    if dist.get("touchpoints"):
        print("touchpoints: " + ", ".join(f"{k} {v}" for k, v in sorted(dist["touchpoints"].items(), key=lambda kv: -kv[1])))
    if dist.get("sentiment"):
        print("sentiment: " + ", ".join(f"{k} {v}" for k, v in sorted(dist["sentiment"].items())))
    return 0


def cmd_datasets_list(args: argparse.Namespace) -> int:
    from .cli import printed_json_or_empty

    store = _dstore(args)
    rows = store.list()
    if printed_json_or_empty(rows, as_json=args.json, what="datasets", root=store.root):
        return 0
    print(f"{'name':<20}{'hash':<18}{'rows':>6}{'held out':>10}{'versions':>10}  {'created':<27}source")
    for r in rows:
        print(f"{r['name']:<20}{r['hash']:<18}{r['rows']:>6}{r['eval_rows'] or 0:>10}{r['versions']:>10}  "
              f"{r['created'] or '-':<27}{r['source'] or '-'}")
    return 0


# -- feedback --------------------------------------------------------------------------------------
def _texts_from(path: Path | None) -> dict[str, str]:
    """id -> text from an input file (JSONL/CSV with id, text) or predictions written with --with-text."""
    if path is None:
        return {}
    from .io import iter_records

    out = {}
    for _, rec in iter_records(path):
        if isinstance(rec, dict) and rec.get("id") is not None and isinstance(rec.get("text"), str):
            out[str(rec["id"])] = rec["text"]
    return out


def cmd_feedback(args: argparse.Namespace) -> int:
    from .datasets import record_feedback
    from .io import iter_records

    items, errors = [], []
    for _, rec in iter_records(args.file, fmt="jsonl"):
        (errors if isinstance(rec, DataError) else items).append(rec)
    tax = _taxonomy_for(args)
    res = record_feedback(items, store=_dstore(args), name=args.name, taxonomy=tax, texts=_texts_from(args.texts),
                          source=str(args.file))
    _print_errors(errors + res.errors)
    print(f"feedback: {len(items) - len(res.errors)} corrections recorded; dataset {res.spec} now has {res.rows} rows "
          f"(train with `cxlens train --dataset {res.name}`)")
    return 0


# -- train --dataset -------------------------------------------------------------------------------
def cmd_retrain(args: argparse.Namespace) -> int:
    from .datasets import parse_mapping
    from .cli import parse_params
    from .retrain import retrain
    from .taxonomy import load_taxonomy

    if args.data:
        raise DataError("--dataset and --data cannot be combined: import the file first with "
                        "`cxlens datasets import FILE --name NAME`", field="--data", found=[str(p) for p in args.data])
    params = parse_params(args.param)
    weights = {}
    for kv in args.dataset_weight or []:
        key, sep, value = kv.rpartition("=")
        try:
            w = float(value)
        except ValueError:
            raise DataError(field="--dataset-weight", expected="W or NAME=W", found=kv) from None
        weights[key if sep else "*"] = w
    default_w = weights.pop("*", 1.0)
    res = retrain(name=args.name, datasets=args.dataset, store=_store(args), dataset_store=_dstore(args),
                  seed_weight=args.seed_weight, dataset_weight=default_w, dataset_weights=weights,
                  model_type=args.model_type, params=params,
                  taxonomy=load_taxonomy(args.taxonomy) if args.taxonomy else None, mapping=parse_mapping(args.map),
                  policy=_policy(args), promote_if_passed=args.promote, by=args.by, progress=_warn)
    for w in res.warnings:
        _warn(f"warning: {w}")
    print(f"trained {res.spec} on {res.meta['training']['rows']} rows in {res.meta['training']['seconds']} s")
    print(format_comparison(res.comparison))
    if res.comparison.get("production") is None:
        print(f"{res.spec} is the first version: production")
    elif res.promoted:
        print(f"promoted {res.spec} to production")
    elif res.decision.passed:
        print(f"gate: passed. Promote with `cxlens models promote {res.spec}`")
    else:
        print(f"gate: would refuse ({'; '.join(res.decision.failures)}); production unchanged")
    return 0


def format_comparison(comparison: dict, *, max_labels: int = 40) -> str:
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


def extend_train(sub) -> None:
    """Add the retraining options to the ``train`` parser that ``nlp.cli`` registered."""
    p = sub.choices.get("train")
    if p is None:
        return
    p.add_argument("--dataset", action="append", metavar="NAME[@HASH]",
                   help="retrain on the seed set plus this imported dataset (repeatable); see docs/retraining.md")
    p.add_argument("--seed-weight", type=float, default=1.0,
                   help="with --dataset: weight of the seed set (rows repeated; 0 = leave it out; default 1)")
    p.add_argument("--dataset-weight", action="append", metavar="[NAME=]W",
                   help="with --dataset: weight of all datasets (W) or one (NAME=W); default 1")
    p.add_argument("--map", action="append", metavar="OLD=NEW",
                   help="with --dataset: rename (OLD=NEW) or drop (OLD=) a touchpoint in all data")
    p.add_argument("--promote", action="store_true", help="with --dataset: promote the new version if the gate passes")
    p.add_argument("--by", help="who trains/promotes (recorded; default: $CXLENS_USER or the login name)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="with --dataset: where datasets live (default: $CXLENS_DATA_DIR)")
    _gate_args(p)
    original = p.get_default("func")

    def dispatch(args: argparse.Namespace) -> int:
        if args.dataset:
            return cmd_retrain(args)
        if args.map or args.promote or args.seed_weight != 1.0 or args.dataset_weight:
            raise DataError("--seed-weight, --dataset-weight, --map and --promote need --dataset", field="--dataset",
                            expected="at least one --dataset NAME", found=None)
        return original(args)

    p.set_defaults(func=dispatch)


def _gate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tolerance", type=float, default=None, help="largest F1 drop the gate accepts (default 0.02)")
    p.add_argument("--min-support", type=int, default=None,
                   help="labels with fewer held-out mentions never block (default 10)")
    p.add_argument("--no-significance", action="store_true",
                   help="block on any label whose F1 drops more than the tolerance, even when the paired "
                        "bootstrap does not call the drop significant")


# -- models promote / rollback / card (parsers registered in nlp.cli) -------------------------------
def cmd_models_promote(args: argparse.Namespace) -> int:
    from .gate import promote

    event = promote(_store(args), args.spec, force=args.force, reason=args.reason, by=args.by, policy=_policy(args),
                    dataset_store=_dstore(args), progress=_warn)
    g = event["gate"]
    how = "forced past the gate" if event["forced"] else ("gate passed" if g["passed"] else "gate")
    print(f"production: {args.spec.split('@')[0]}@{event['version']} (was {event['from'] or '-'}); {how}; "
          f"by {event['by']}" + (f"; reason: {event['reason']}" if event.get("reason") else ""))
    if event["forced"]:
        for f in g["failures"]:
            print(f"  overridden: {f}")
    return 0


def cmd_models_rollback(args: argparse.Namespace) -> int:
    from .gate import rollback

    event = rollback(_store(args), args.name, to=args.to, by=args.by, reason=args.reason)
    print(f"production: {args.name}@{event['version']} (rolled back from {event['from']}); by {event['by']}")
    return 0


def cmd_models_card(args: argparse.Namespace) -> int:
    from .card import write_card

    store = _store(args)
    name, version = store.resolve(args.spec)
    path = write_card(store, name, version)
    if args.path_only:
        print(path)
    else:
        print(path.read_text(encoding="utf-8"))
    return 0


# -- queue -----------------------------------------------------------------------------------------
def cmd_queue(args: argparse.Namespace) -> int:
    from .active import build_queue
    from .cli import open_model, report_bad_rows
    from .io import read_documents

    docs, errors = read_documents(args.data)
    report_bad_rows(errors)
    pipeline = open_model(args.model, _store(args))
    res = build_queue(pipeline, docs, n=args.n, out_dir=args.out, strategy=args.strategy, seed=args.seed,
                      diversity=not args.no_diversity)
    print(f"queued {len(res['picks'])} of {len(docs)} comments ({args.strategy}"
          f"{'' if args.no_diversity or args.strategy == 'random' else ', one per k-means cluster'}) "
          f"with {pipeline.name}@{pipeline.version}")
    for kind, path in res["files"].items():
        print(f"{kind}: {path}")
    return 0


def register(sub) -> None:
    extend_train(sub)

    p = sub.add_parser("datasets", help="import and list analysts' labeled datasets (docs/retraining.md)")
    dsub = p.add_subparsers(dest="datasets_command", metavar="ACTION", required=True)
    q = dsub.add_parser("import", help="validate a labeled file and store its good rows as a dataset version")
    q.add_argument("file", type=Path, help="JSONL, analyst CSV, XLSX, Label Studio or Argilla JSON export")
    q.add_argument("--name", required=True, help="dataset name")
    q.add_argument("--format", default="auto", choices=["auto", "jsonl", "csv", "xlsx", "labelstudio", "argilla"])
    q.add_argument("--taxonomy", type=Path, help="taxonomy YAML the labels must belong to "
                   "(default: the --model's taxonomy, else the bundled one)")
    q.add_argument("--model", default=DEFAULT_MODEL_NAME, help="model whose taxonomy validates the labels")
    q.add_argument("--map", action="append", metavar="OLD=NEW", help="rename (OLD=NEW) or drop (OLD=) a touchpoint")
    q.add_argument("--strict", action="store_true", help="import nothing (exit 2) if any row is bad")
    q.add_argument("--errors", type=Path, help="also write every bad row as JSONL to this file")
    _dirs(q)
    q.set_defaults(func=cmd_datasets_import)
    q = dsub.add_parser("list", help="list stored datasets (current version of each)")
    q.add_argument("--json", action="store_true")
    _dirs(q)
    q.set_defaults(func=cmd_datasets_list)

    p = sub.add_parser("feedback", help="record corrected labels of predictions as the 'feedback' dataset")
    p.add_argument("file", type=Path, help="JSONL of {id or text, sentiment?, touchpoints?}")
    p.add_argument("--texts", type=Path, help="the classified input (or predictions written with --with-text), "
                   "to find the text of corrections that give only an id")
    p.add_argument("--name", default="feedback", help="dataset to add the corrections to (default: feedback)")
    p.add_argument("--taxonomy", type=Path, help="taxonomy the labels must belong to")
    p.add_argument("--model", default=DEFAULT_MODEL_NAME, help="model whose taxonomy validates the labels")
    _dirs(p)
    p.set_defaults(func=cmd_feedback)

    p = sub.add_parser("queue", help="pick the unlabeled comments most worth labeling (active learning)")
    p.add_argument("--model", default=DEFAULT_MODEL_NAME, help="NAME or NAME@VERSION")
    p.add_argument("--data", required=True, type=Path, help="unlabeled comments (JSONL/CSV with 'text')")
    p.add_argument("--n", type=int, default=200, help="how many to pick (default 200)")
    p.add_argument("--out", required=True, type=Path, help="output folder: queue.csv, labelstudio_tasks.json")
    p.add_argument("--strategy", default="margin", choices=["margin", "entropy", "random"])
    p.add_argument("--no-diversity", action="store_true", help="plain top-n by uncertainty (no clustering)")
    p.add_argument("--seed", type=int, default=0)
    _dirs(p)
    p.set_defaults(func=cmd_queue)


def register_models_actions(models_parser: argparse.ArgumentParser) -> None:
    """``cxlens models [list|promote|rollback|card]`` (called by ``nlp.cli``)."""
    msub = models_parser.add_subparsers(dest="models_command", metavar="ACTION")
    q = msub.add_parser("list", help="list model versions (the default action)")
    q.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    q.add_argument("--models-dir", type=Path, default=argparse.SUPPRESS, help="model store")
    q = msub.add_parser("promote", help="make NAME@VERSION the production version, through the evaluation gate")
    q.add_argument("spec", help="NAME@VERSION")
    q.add_argument("--force", action="store_true", help="promote even if the gate refuses (needs --reason)")
    q.add_argument("--reason", help="why (recorded in the history and the model card)")
    q.add_argument("--by", help="who promotes (recorded; default: $CXLENS_USER or the login name)")
    _gate_args(q)
    _dirs(q, inherit=True)
    q.set_defaults(func=cmd_models_promote)
    q = msub.add_parser("rollback", help="point production back to an earlier version")
    q.add_argument("name", help="model name")
    q.add_argument("--to", help="version to go back to (default: the one before the current production)")
    q.add_argument("--reason", help="why (recorded)")
    q.add_argument("--by", help="who (recorded)")
    _dirs(q, inherit=True)
    q.set_defaults(func=cmd_models_rollback)
    q = msub.add_parser("card", help="(re)generate and print a version's MODEL_CARD.md")
    q.add_argument("spec", help="NAME or NAME@VERSION")
    q.add_argument("--path-only", action="store_true", help="print only the card's path")
    _dirs(q, inherit=True)
    q.set_defaults(func=cmd_models_card)


def _dirs(p: argparse.ArgumentParser, *, inherit: bool = False) -> None:
    """``inherit``: a sub-action of ``models``, whose parent parser already has ``--models-dir``."""
    p.add_argument("--models-dir", type=Path, default=argparse.SUPPRESS if inherit else None,
                   help="model store (default: $CXLENS_MODELS_DIR or ./models)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="where datasets live (default: $CXLENS_DATA_DIR; datasets under <dir>/datasets)")
