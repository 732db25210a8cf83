"""`cxlens` console script: one argparse tree assembled from the layers.

Each layer registers its own sub-commands (``nlp.cli.register``, ``cx.cli.register`` and this module's
service commands); a handler returns an exit code. Domain errors print one line and exit 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from nlp.errors import CxlensError

#: modules with a ``register(subparsers)`` function, in help order
COMMAND_MODULES = ("nlp.cli", "nlp.cli_retrain", "cx.cli", "api.commands")


def cmd_demo(args: argparse.Namespace) -> int:
    """Build/load the default model, classify the bundled demo comments and print a readable summary;
    with the reports layer present, also write the demo wave's report next to it."""
    from collections import Counter
    from importlib import resources
    from pathlib import Path

    from nlp.io import read_documents, write_jsonl
    from nlp.store import ModelStore, ensure_default_model

    from nlp.progress import message

    store = ModelStore(args.models_dir)
    if not store.versions("cx-touchpoints"):
        message("training the default model from the bundled CX seed set (one-off; progress below) ...")
    pipeline = ensure_default_model(store.root, progress=message)
    src = Path(str(resources.files("nlp.data").joinpath("demo", "comments.csv")))
    docs, _ = read_documents(src)
    preds = pipeline.predict(docs)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl(preds, out_dir / "demo_predictions.jsonl")
    m = pipeline.meta.get("metrics", {})
    print(f"model {pipeline.name}@{pipeline.version} ({pipeline.model_type}); seed dev: "
          f"touchpoint micro-F1 {m.get('touchpoint_micro_f1', float('nan')):.3f}, "
          f"sentiment macro-F1 {m.get('sentiment_macro_f1', float('nan')):.3f}\n")
    marks = {"positive": "+", "negative": "-", "neutral": "~"}
    for doc, p in zip(docs, preds):
        text = doc.text if len(doc.text) <= 110 else doc.text[:107] + "..."
        print(f"[{doc.id}] {p['lang']:<3} {p['sentiment']['label']:<9} {text}")
        for t in p["touchpoints"]:
            print(f"{'':18}{marks[t['polarity']]} {t['touchpoint']:<17} {t['confidence']:.2f}  «{t['evidence']['text']}»")
        for w in p["warnings"]:
            print(f"{'':18}! {w}")
    counts = Counter((t["touchpoint"], t["polarity"]) for p in preds for t in p["touchpoints"])
    print("\ntouchpoint          positive negative neutral")
    for tp in pipeline.labels_:
        row = [counts[(tp, pol)] for pol in ("positive", "negative", "neutral")]
        if any(row):
            print(f"{pipeline.taxonomy.name(tp, 'en') if pipeline.taxonomy else tp:<20}{row[0]:>8}{row[1]:>9}{row[2]:>8}")
    print(f"\npredictions: {out_dir / 'demo_predictions.jsonl'}")
    try:
        from cx.demo import run_demo_report
    except ImportError:
        return 0
    for path in run_demo_report(pipeline, out_dir):
        print(f"report: {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cxlens", description="Text analysis of CX survey comments (RU/EN).")
    parser.add_argument("--version", action="version", version="cxlens 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for mod_name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as e:  # a layer not built yet must not break the others
            if e.name == mod_name:
                continue
            raise
        mod.register(sub)
    p = sub.add_parser("demo", help="classify the bundled demo comments and build the demo report")
    p.add_argument("--out-dir", default="out/demo", help="where to write the demo outputs (default out/demo)")
    p.add_argument("--models-dir", default=None, help="model store (default: $CXLENS_MODELS_DIR or ./models)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    from nlp.progress import TerminalSink, reporting

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with reporting(TerminalSink()):  # progress of long work on stderr (never stdout)
            return int(args.func(args) or 0)
    except CxlensError as e:
        print(f"cxlens: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cxlens: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
