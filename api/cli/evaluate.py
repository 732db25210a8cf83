"""``cxlens evaluate``: score a model on labeled data."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from nlp.errors import DataError

from .common import add_model, add_models_dir, open_model, report_bad_rows


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="score a model on labeled data")
    p.add_argument("--data", required=True, type=Path, help="labeled JSONL/CSV file")
    add_model(p)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    add_models_dir(p)
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from nlp.lifecycle.evaluation import evaluate_predictions, format_report
    from nlp.lifecycle.training import load_examples

    examples, errors = load_examples([args.data])
    report_bad_rows(errors)
    if not examples:
        raise DataError("no valid labeled rows", source=str(args.data), expected="labeled rows", found=0)
    pipeline = open_model(args)
    preds = pipeline.predict([{"id": e.id, "text": e.text, "lang": e.lang} for e in examples])
    metrics = evaluate_predictions(examples, preds, pipeline=pipeline)
    metrics["model"] = {"name": pipeline.name, "version": pipeline.version}
    print(json.dumps(metrics, ensure_ascii=False, indent=2) if args.json else format_report(metrics))
    return 0
