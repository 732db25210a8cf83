"""``cxlens predict``: comments (JSONL/CSV) -> prediction rows (JSONL)."""
from __future__ import annotations

import argparse

from nlp.errors import DataError
from nlp.progress import task

from .common import add_model, add_models_dir, open_model, report_bad_rows, warn


def register(sub) -> None:
    p = sub.add_parser("predict", help="classify comments (JSONL/CSV/Parquet) into prediction rows (JSONL/Parquet)")
    p.add_argument("input", help="input file (JSONL, CSV or Parquet with a 'text' column), '-' for stdin; "
                                 "a directory or glob of such files is classified into partitions (--cluster)")
    add_model(p)
    p.add_argument("--out", default="-", help="output JSONL or .parquet file, '-' for stdout (default); a directory "
                                            "of partitions + _manifest.json for a directory/glob INPUT or --cluster")
    p.add_argument("--cluster", metavar="SPEC",
                   help="classify on a Dask cluster: local (a worker process per CPU), local:N or tcp://HOST:PORT; "
                        "re-running resumes (docs/scaling.md)")
    p.add_argument("--out-format", choices=("parquet", "jsonl"), default="parquet",
                   help="partition files of a directory --out (default parquet)")
    p.add_argument("--chunk-rows", type=int, default=10_000, metavar="N",
                   help="rows per task and output partition of a partitioned run (default 10000)")
    p.add_argument("--with-text", action="store_true", help="copy each comment's text into its prediction row")
    p.add_argument("--keep-columns", action="store_true", help="copy the other input columns under 'input'")
    p.add_argument("--strict", action="store_true", help="fail (exit 2) if any input row is bad")
    p.add_argument("--jobs", type=int, default=-1, metavar="N",
                   help="worker processes for large inputs with a fast model (default -1: one per CPU; 1: none)")
    add_models_dir(p)
    p.set_defaults(func=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    from nlp.batch.worker import finish_rows
    from nlp.labeled.formats import read_documents_info, write_predictions

    if args.cluster or _partitioned(args.input, args.out):
        return cmd_predict_partitioned(args)

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
    # decoding warnings of the row (bytes replaced) first; --with-text, --keep-columns (as the cluster tasks)
    finish_rows(docs, preds, with_text=args.with_text, keep_columns=args.keep_columns)
    n = write_predictions(preds, args.out)
    if str(args.out) != "-":
        warn(f"wrote {n} predictions to {args.out} (model {pipeline.name}@{pipeline.version})")
    return 0


def _partitioned(src: str, out: str) -> bool:
    """A directory or glob INPUT, or a directory --out: the partitioned run (in this process without --cluster)."""
    from pathlib import Path

    p = Path(src)
    return src != "-" and (p.is_dir() or (not p.exists() and any(c in src for c in "*?[")) or
                           (out != "-" and (out.endswith(("/", "\\")) or Path(out).is_dir())))


def cmd_predict_partitioned(args: argparse.Namespace) -> int:
    """``--cluster`` / directory runs: :func:`nlp.batch.predict_partitioned`; exit 1 while partitions failed."""
    from nlp.batch import predict_partitioned

    if args.out == "-":
        raise DataError("a partitioned run writes a directory", field="--out", expected="--out DIR", found="-")
    res = predict_partitioned(args.input, args.out, cluster=args.cluster, model=args.model,
                              models_dir=args.models_dir, out_format=args.out_format, chunk_rows=args.chunk_rows,
                              with_text=args.with_text, keep_columns=args.keep_columns, strict=args.strict)
    warn(f"wrote {res.summary()} in {res.seconds:.1f} s on {res.workers} worker(s)")
    return 0 if res.complete else 1
