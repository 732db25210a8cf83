"""``cxlens demo``: the bundled demo comments classified and summarised, and the demo wave's report."""
from __future__ import annotations

import argparse

from .common import add_models_dir, open_model


def register(sub) -> None:
    p = sub.add_parser("demo", help="classify the bundled demo comments and build the demo report")
    p.add_argument("--out-dir", default="out/demo", help="where to write the demo outputs (default out/demo)")
    add_models_dir(p)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    """Build/load the default model, classify the bundled demo comments and print a readable summary;
    with the reports layer present, also write the demo wave's report next to it."""
    from collections import Counter
    from importlib import resources
    from pathlib import Path

    from nlp.config import DEFAULT_MODEL_NAME
    from nlp.labeled.formats import read_documents, write_jsonl

    pipeline = open_model(args, DEFAULT_MODEL_NAME)
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
    from cx.demo import run_demo_report

    for path in run_demo_report(pipeline, out_dir):
        print(f"report: {path}")
    return 0
