"""``cxlens datasets import|list`` and ``cxlens feedback``: analysts' labeled data (docs/retraining.md)."""
from __future__ import annotations

import argparse
from pathlib import Path

from nlp.errors import DataError
from nlp.progress import task

from .common import add_dirs, add_model, dataset_store, printed_json_or_empty, report_bad_rows, taxonomy_for


def register(sub) -> None:
    p = sub.add_parser("datasets", help="import and list analysts' labeled datasets (docs/retraining.md)")
    dsub = p.add_subparsers(dest="datasets_command", metavar="ACTION", required=True)
    q = dsub.add_parser("import", help="validate a labeled file and store its good rows as a dataset version")
    q.add_argument("file", type=Path, help="JSONL, analyst CSV, XLSX, Label Studio or Argilla JSON export")
    q.add_argument("--name", required=True, help="dataset name")
    q.add_argument("--format", default="auto", choices=["auto", "jsonl", "csv", "xlsx", "labelstudio", "argilla"])
    q.add_argument("--taxonomy", type=Path, help="taxonomy YAML the labels must belong to "
                   "(default: the --model's taxonomy, else the bundled one)")
    add_model(q, help="model whose taxonomy validates the labels")
    q.add_argument("--map", action="append", metavar="OLD=NEW", help="rename (OLD=NEW) or drop (OLD=) a touchpoint")
    q.add_argument("--strict", action="store_true", help="import nothing (exit 2) if any row is bad")
    q.add_argument("--errors", type=Path, help="also write every bad row as JSONL to this file")
    add_dirs(q)
    q.set_defaults(func=cmd_datasets_import)
    q = dsub.add_parser("list", help="list stored datasets (current version of each)")
    q.add_argument("--json", action="store_true")
    add_dirs(q)
    q.set_defaults(func=cmd_datasets_list)

    p = sub.add_parser("feedback", help="record corrected labels of predictions as the 'feedback' dataset")
    p.add_argument("file", type=Path, help="JSONL of {id or text, sentiment?, touchpoints?}")
    p.add_argument("--texts", type=Path, help="the classified input (or predictions written with --with-text), "
                   "to find the text of corrections that give only an id")
    p.add_argument("--name", default="feedback", help="dataset to add the corrections to (default: feedback)")
    p.add_argument("--taxonomy", type=Path, help="taxonomy the labels must belong to")
    add_model(p, help="model whose taxonomy validates the labels")
    add_dirs(p)
    p.set_defaults(func=cmd_feedback)


def cmd_datasets_import(args: argparse.Namespace) -> int:
    from nlp.labeled.datasets import parse_mapping, read_labeled_file

    tax = taxonomy_for(args)
    mapping = parse_mapping(args.map)
    ds = dataset_store(args)
    if args.strict:
        _, errors = read_labeled_file(args.file, fmt=args.format, labels=tax.ids, mapping=mapping)
        if errors:
            report_bad_rows(errors, cap=None, errors_file=args.errors, verb="bad row")
            raise DataError(f"{len(errors)} bad rows (--strict): nothing imported", source=str(args.file))
    with task(f"importing {Path(args.file).name}", unit="row") as t:
        res = ds.import_file(args.file, name=args.name, fmt=args.format, taxonomy=tax, mapping=mapping)
        t.update(res.rows)
    report_bad_rows(res.errors, cap=None, errors_file=args.errors, verb="bad row")
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
    store = dataset_store(args)
    rows = store.list()
    if printed_json_or_empty(rows, as_json=args.json, what="datasets", root=store.root):
        return 0
    print(f"{'name':<20}{'hash':<18}{'rows':>6}{'held out':>10}{'versions':>10}  {'created':<27}source")
    for r in rows:
        print(f"{r['name']:<20}{r['hash']:<18}{r['rows']:>6}{r['eval_rows'] or 0:>10}{r['versions']:>10}  "
              f"{r['created'] or '-':<27}{r['source'] or '-'}")
    return 0


def _texts_from(path: Path | None) -> dict[str, str]:
    """id -> text from an input file (JSONL/CSV with id, text) or predictions written with --with-text."""
    if path is None:
        return {}
    from nlp.labeled.formats import iter_records

    out = {}
    for _, rec in iter_records(path):
        if isinstance(rec, dict) and rec.get("id") is not None and isinstance(rec.get("text"), str):
            out[str(rec["id"])] = rec["text"]
    return out


def cmd_feedback(args: argparse.Namespace) -> int:
    from nlp.labeled.datasets import record_feedback
    from nlp.labeled.formats import iter_records

    items, errors = [], []
    for _, rec in iter_records(args.file, fmt="jsonl"):
        (errors if isinstance(rec, DataError) else items).append(rec)
    res = record_feedback(items, store=dataset_store(args), name=args.name, taxonomy=taxonomy_for(args),
                          texts=_texts_from(args.texts), source=str(args.file))
    report_bad_rows(errors + res.errors, cap=None, verb="bad row")
    print(f"feedback: {len(items) - len(res.errors)} corrections recorded; dataset {res.spec} now has {res.rows} rows "
          f"(train with `cxlens train --dataset {res.name}`)")
    return 0
