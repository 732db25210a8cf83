"""CV-fold comparison of the fine-tuning recipe's variants (issue 15): the network's own heads, trained on
K-1 folds of the seed train split and scored on the held-out fold.

    .venv/bin/python bench/finetune_cv.py --folds 3 --epochs 3 [--variants base,cls,clause,pair] \
        [--out bench/results/finetune_cv.json]
    .venv/bin/python bench/finetune_cv.py --dev --epochs 5 --variants base   # train split -> seed dev

(``--dev``: trained on the whole train split, scored on the seed dev split; it replaces the earlier
``bench/finetune_probe.py``, whose per-epoch dev table is in docs/quality.md.)

Variants (``nlp.families.encoders.finetune.FinetuneConfig``):
- ``base``: the shipped recipe: mean pooling, a polarity head per touchpoint on the comment vector;
- ``cls``: the first token's state instead of the mean;
- ``clause``: clause-level training from the evidence spans: each span's tokens pooled in the comment's own
  pass feed one shared polarity head and the touchpoint head; at prediction, each touchpoint's polarity is
  read from the clause (``nlp.text.segmentation``) that scores that touchpoint most;
- ``pair``: aspect-conditioned pairs: the touchpoint's name and the comment as a sentence pair, one shared
  polarity head (one extra forward pass per labelled touchpoint).
``--variant NAME='{"polarity_input": "pair", "pooling": "cls"}'`` adds others. Scores per fold: sentiment
macro-F1, touchpoint micro-F1 (p >= 0.5), polarity accuracy given the gold touchpoints, pair micro-F1
(detected touchpoints with their polarity). One JSON line per (variant, fold) on stdout, progress on
stderr; ``--out`` writes all of them with the mean and spread per variant and the machine.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

VARIANTS = {"base": {"pooling": "mean", "polarity_input": "comment"}, "cls": {"pooling": "cls", "polarity_input": "comment"},
            "clause": {"pooling": "mean", "polarity_input": "clause"}, "pair": {"pooling": "mean", "polarity_input": "pair"}}
METRICS = ("sentiment_macro_f1", "touchpoint_micro_f1", "polarity_acc_gold", "pair_micro_f1")


def folds(n: int, k: int, seed: int = 0) -> list[list[int]]:
    """``k`` disjoint index sets covering ``range(n)`` (a seeded shuffle cut into near-equal parts)."""
    import numpy as np

    perm = np.random.default_rng(seed).permutation(n).tolist()
    return [sorted(perm[i::k]) for i in range(k)]


def score(examples, predictions, threshold: float = 0.5) -> dict[str, float]:
    """The four CV scores of the heads' predictions (``TunedNetwork.predict``) against ``examples``."""
    from nlp.lifecycle.evaluation import sentiment_metrics, touchpoint_metrics

    with_sent = [(e.sentiment, max(p["sentiment"], key=p["sentiment"].get)) for e, p in zip(examples, predictions)
                 if e.sentiment is not None and "sentiment" in p]
    out = {"sentiment_macro_f1": sentiment_metrics([g for g, _ in with_sent], [p for _, p in with_sent])["macro_f1"]
           if with_sent else 0.0}
    gold_tp = [set(e.categories) for e in examples]
    pred_tp = [{t for t, p in pr.get("touchpoints", {}).items() if p >= threshold} for pr in predictions]
    out["touchpoint_micro_f1"] = touchpoint_metrics(gold_tp, pred_tp)["micro"]["f1"]
    right = total = 0
    gold_pairs, pred_pairs = [], []
    for e, pr, tps in zip(examples, predictions, pred_tp):
        pol = pr.get("polarity", {})
        gold = {(a.category, a.polarity) for a in e.aspects or []}
        for t, g in gold:
            total += 1
            right += t in pol and max(pol[t], key=pol[t].get) == g
        gold_pairs.append({f"{t}:{g}" for t, g in gold})
        pred_pairs.append({f"{t}:{max(pol[t], key=pol[t].get)}" for t in tps if t in pol})
    out["polarity_acc_gold"] = right / total if total else 0.0
    out["pair_micro_f1"] = touchpoint_metrics(gold_pairs, pred_pairs)["micro"]["f1"]
    return {k: round(v, 4) for k, v in out.items()}


def run_fold(train, test, cfg, names, log) -> dict:
    from nlp.families.encoders.finetune import train_network
    from nlp.text.segmentation import Segmenter

    net = train_network([e.text for e in train], sentiment=[e.sentiment for e in train],
                        touchpoints=[e.categories for e in train],
                        polarities=[[(a.category, a.polarity, a.start, a.end) for a in e.aspects or []] for e in train],
                        config=cfg, touchpoint_names=names, log=log)
    t0 = time.perf_counter()
    seg = Segmenter(lemmatize=False)
    clauses = [[(c.start, c.end) for c in seg.analyze(e.text, e.lang or "en").clauses] for e in test]
    first = net.predict([e.text for e in test], clauses=clauses)
    if cfg.polarity_input == "pair":  # polarity for the detected and the gold touchpoints
        cand = [sorted({t for t, p in f["touchpoints"].items() if p >= 0.5} | set(e.categories))
                for f, e in zip(first, test)]
        first = net.predict([e.text for e in test], candidates=cand)
    return {**score(test, first), "train_seconds": net.seconds, "predict_seconds": round(time.perf_counter() - t0, 1),
            "loss_per_epoch": [round(x, 4) for x in net.loss_per_epoch]}


def main() -> int:
    from bench_predict import cpu_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--variants", default="base,cls,clause,pair")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=JSON")
    ap.add_argument("--dev", action="store_true", help="train on the train split, score the seed dev split")
    ap.add_argument("--only-folds", default="", help="comma-separated fold numbers (1-based) to run")
    ap.add_argument("--limit", type=int, default=0, help="use the first N train rows (smoke runs)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--append", action="store_true",
                    help="keep the runs already in --out (another fold or variant) and summarise them all")
    args = ap.parse_args()
    import torch

    from nlp.families.encoders.finetune import FinetuneConfig
    from nlp.labeled.formats import read_labeled
    from nlp.labeled.seed import seed_split_path
    from nlp.taxonomy import load_taxonomy

    if args.threads:
        torch.set_num_threads(args.threads)
    variants = {k: VARIANTS[k] for k in args.variants.split(",") if k}
    for v in args.variant:
        name, _, raw = v.partition("=")
        variants[name] = json.loads(raw)
    rows = [e for e in read_labeled(seed_split_path("train"))[0] if e.aspects is not None]
    rows = rows[: args.limit] if args.limit else rows
    tax = load_taxonomy()
    names = {t: tax.name(t, "en") for t in tax.ids}
    if args.dev:
        splits = [("dev", rows, [e for e in read_labeled(seed_split_path("dev"))[0] if e.aspects is not None])]
    else:
        parts = folds(len(rows), args.folds)
        wanted = [int(x) for x in args.only_folds.split(",") if x] or list(range(1, args.folds + 1))
        held = {k: set(parts[k - 1]) for k in wanted}
        splits = [(k, [e for i, e in enumerate(rows) if i not in held[k]], [rows[i] for i in parts[k - 1]])
                  for k in wanted]
    results = json.loads(args.out.read_text())["runs"] if args.append and args.out and args.out.is_file() else []
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    for k, train, test in splits:  # fold-major: every variant on fold 1 first, so a stopped run compares them all
        for name, over in variants.items():
            cfg = replace(FinetuneConfig(epochs=args.epochs), **over)
            where = "dev" if args.dev else f"{k}/{args.folds}"
            log(f"fold {where}, variant {name}: {len(train)} train, {len(test)} held out")
            res = {"variant": name, "fold": k, "config": over, **run_fold(train, test, cfg, names, log)}
            print(json.dumps(res), flush=True)
            results.append(res)
    summary = {}
    for name in dict.fromkeys(r["variant"] for r in results):
        got = [r for r in results if r["variant"] == name]
        summary[name] = {m: {"mean": round(statistics.mean(r[m] for r in got), 4),
                             "sd": round(statistics.stdev([r[m] for r in got]), 4) if len(got) > 1 else None}
                         for m in METRICS}
        summary[name]["train_seconds"] = round(statistics.mean(r["train_seconds"] for r in got), 1)
    print("| variant | " + " | ".join(METRICS) + " | train s/fold |", file=sys.stderr)
    for name, s in summary.items():
        cells = [f"{s[m]['mean']:.3f}" + (f" ± {s[m]['sd']:.3f}" if s[m]["sd"] is not None else "") for m in METRICS]
        print(f"| {name} | " + " | ".join(cells) + f" | {s['train_seconds']} |", file=sys.stderr)
    if args.out:
        args.out.write_text(json.dumps({"machine": cpu_model(), "threads": torch.get_num_threads(),
                                        "rows": len(rows), "folds": "dev" if args.dev else args.folds,
                                        "epochs": args.epochs,
                                        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                        "runs": results, "summary": summary}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
