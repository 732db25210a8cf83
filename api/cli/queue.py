"""``cxlens queue``: the unlabeled comments most worth labeling (active learning)."""
from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_dirs, add_model, open_model, report_bad_rows


def register(sub) -> None:
    p = sub.add_parser("queue", help="pick the unlabeled comments most worth labeling (active learning)")
    add_model(p)
    p.add_argument("--data", required=True, type=Path, help="unlabeled comments (JSONL/CSV with 'text')")
    p.add_argument("--n", type=int, default=200, help="how many to pick (default 200)")
    p.add_argument("--out", required=True, type=Path, help="output folder: queue.csv, labelstudio_tasks.json")
    p.add_argument("--strategy", default="margin", choices=["margin", "entropy", "random"])
    p.add_argument("--no-diversity", action="store_true", help="plain top-n by uncertainty (no clustering)")
    p.add_argument("--seed", type=int, default=0)
    add_dirs(p)
    p.set_defaults(func=cmd_queue)


def cmd_queue(args: argparse.Namespace) -> int:
    from nlp.labeled.formats import read_documents
    from nlp.lifecycle.active import build_queue

    docs, errors = read_documents(args.data)
    report_bad_rows(errors)
    pipeline = open_model(args)
    res = build_queue(pipeline, docs, n=args.n, out_dir=args.out, strategy=args.strategy, seed=args.seed,
                      diversity=not args.no_diversity)
    print(f"queued {len(res['picks'])} of {len(docs)} comments ({args.strategy}"
          f"{'' if args.no_diversity or args.strategy == 'random' else ', one per k-means cluster'}) "
          f"with {pipeline.name}@{pipeline.version}")
    for kind, path in res["files"].items():
        print(f"{kind}: {path}")
    return 0
