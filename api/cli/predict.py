"""``cxlens predict``: comments (JSONL/CSV) -> prediction rows (JSONL)."""
from __future__ import annotations

import argparse

from nlp.errors import DataError
from nlp.progress import task

from .common import add_model, add_models_dir, open_model, report_bad_rows, warn


def register(sub) -> None:
    p = sub.add_parser("predict", help="classify comments (JSONL/CSV) into prediction rows (JSONL)")
    p.add_argument("input", help="input file (JSONL or CSV with a 'text' column), '-' for stdin")
    add_model(p)
    p.add_argument("--out", default="-", help="output JSONL file, '-' for stdout (default)")
    p.add_argument("--with-text", action="store_true", help="copy each comment's text into its prediction row")
    p.add_argument("--keep-columns", action="store_true", help="copy the other input columns under 'input'")
    p.add_argument("--strict", action="store_true", help="fail (exit 2) if any input row is bad")
    p.add_argument("--jobs", type=int, default=-1, metavar="N",
                   help="worker processes for large inputs with a fast model (default -1: one per CPU; 1: none)")
    add_models_dir(p)
    p.set_defaults(func=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    from nlp.labeled.formats import read_documents_info, write_jsonl

    docs, errors, decoding = read_documents_info(args.input)
    if decoding is not None and (decoding.replaced or decoding.name not in ("utf-8", "utf-8-sig")):
        warn(f"{args.input}: {decoding.summary()}")
    report_bad_rows(errors, strict=args.strict)
    if not docs:
        raise DataError("no valid rows to classify", source=str(args.input), expected="rows with a 'text' field",
                        found=f"{len(errors)} bad rows")
    pipeline = open_model(args)
    with task("classifying", total=len(docs), unit="comment") as t:
        preds = pipeline.predict(docs, progress=t.update, n_jobs=args.jobs)
    for d, p in zip(docs, preds):  # decoding warnings of the row (bytes replaced) come first
        if d.warnings:
            p["warnings"] = [*d.warnings, *p["warnings"]]
    if args.with_text:
        for d, p in zip(docs, preds):
            p["text"] = d.text
    if args.keep_columns:
        for d, p in zip(docs, preds):
            p["input"] = d.extra
    n = write_jsonl(preds, args.out)
    if str(args.out) != "-":
        warn(f"wrote {n} predictions to {args.out} (model {pipeline.name}@{pipeline.version})")
    return 0
