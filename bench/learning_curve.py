"""Learning curve: dev F1 against the number of labeled comments, uncertainty sampling vs random
sampling (docs/quality.md, "Learning curve").

Simulated active learning on a shared labeled set: the train split is the unlabeled pool (its labels
are revealed only for the picked rows), the dev split is the test. Both strategies start from the same
random 50 rows per seed; then

* ``random``: the next rows are drawn at random;
* ``uncertainty``: the model trained on the rows so far scores the rest of the pool with
  ``nlp.lifecycle.active`` (margin over the touchpoint and sentiment heads, then one pick per k-means cluster
  among the 3n most uncertain), exactly what ``cxlens queue`` does,

up to 100, 200, 400 and 800 labeled rows; at each size the model (the ``fast`` pipeline, thresholds at
0.5 to keep it quick) is scored on dev: aspect-category micro-F1 and sentiment macro-F1.

    python bench/learning_curve.py [--data semeval16/ru_restaurants] [--seeds 0 1 2 3 4] [--sizes 100 200 400 800]

Writes ``bench/results/learning_curve.json`` and prints a Markdown table. Skips (exit 0) when the
shared data is absent. About 9 minutes on 2 busy cores with the defaults (5 seeds).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nlp.lifecycle.active import Scored, head_scores, select, uncertainty  # noqa: E402
from nlp.lifecycle.evaluation import evaluate_predictions  # noqa: E402
from nlp.labeled.formats import read_labeled  # noqa: E402
from nlp.families.pipeline import CommentPipeline  # noqa: E402
from nlp.schema import Document  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
START = 50


class CachedPipeline(CommentPipeline):
    """Segmentation is the same for every model of the curve: compute it once per text."""

    _cache: dict = {}

    def _prepare(self, texts, given_langs):
        from nlp.families.pipeline import _Prepared

        missing = [(t, g) for t, g in zip(texts, given_langs) if (t, g) not in self._cache]
        if missing:
            prep = super()._prepare([t for t, _ in missing], [g for _, g in missing])
            for k, key in enumerate(missing):
                self._cache[key] = (prep.analyses[k], prep.langs[k], prep.warnings[k])
        rows = [self._cache[(t, g)] for t, g in zip(texts, given_langs)]
        return _Prepared([r[0] for r in rows], [r[1] for r in rows], [list(r[2]) for r in rows])


def fit_eval(train, dev, seed):
    pipe = CachedPipeline(threshold_folds=0, random_state=seed).fit(train)
    preds = pipe.predict([{"id": e.id, "text": e.text, "lang": e.lang} for e in dev])
    m = evaluate_predictions(dev, preds)
    return pipe, {"touchpoint_micro_f1": round(m["touchpoints"]["micro"]["f1"], 4),
                  "sentiment_macro_f1": round(m["sentiment"]["macro_f1"], 4) if "sentiment" in m else None}


def run(pool, dev, sizes, seed, strategy, log):
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pool))
    labeled = [int(i) for i in order[:START]]
    rest = [int(i) for i in order[START:]]
    out = []
    pipe = None
    for size in sizes:
        need = size - len(labeled)
        if need > 0:
            if strategy == "random":
                labeled += rest[:need]
                rest = rest[need:]
            else:
                if pipe is None:
                    pipe, _ = fit_eval([pool[i] for i in labeled], dev[:1], seed)
                docs = [Document(id=str(i), text=pool[i].text, lang=pool[i].lang) for i in rest]
                Q, S, X = head_scores(pipe, docs)
                scored = Scored(docs, uncertainty(Q, S), X, [])
                picks = select(scored, need, seed=seed)
                chosen = [rest[k] for k in picks]
                labeled += chosen
                gone = set(chosen)
                rest = [i for i in rest if i not in gone]
        t0 = time.perf_counter()
        pipe, metrics = fit_eval([pool[i] for i in labeled], dev, seed)
        out.append({"size": len(labeled), **metrics})
        log(f"{strategy:<12} seed {seed} n={len(labeled):<4} {metrics} ({time.perf_counter() - t0:.1f} s)")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="semeval16/ru_restaurants", help="shared data prefix: <prefix>_train/_dev.jsonl "
                    "or a folder with train.jsonl/dev.jsonl (e.g. nhs_fft)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 400, 800])
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "learning_curve.json")
    args = ap.parse_args(argv)
    base = SHARED / args.data
    train_p, dev_p = (base / "train.jsonl", base / "dev.jsonl") if base.is_dir() else \
        (Path(f"{base}_train.jsonl"), Path(f"{base}_dev.jsonl"))
    if not train_p.exists() or not dev_p.exists():
        print(f"skipped: shared data not found ({train_p})")
        return 0
    pool, _ = read_labeled(train_p)
    dev, _ = read_labeled(dev_p)
    pool = [e for e in pool if e.aspects is not None]
    t0 = time.perf_counter()
    results = {"data": args.data, "pool": len(pool), "dev": len(dev), "start": START, "sizes": args.sizes,
               "seeds": args.seeds, "runs": {}}
    for strategy in ("random", "uncertainty"):
        for seed in args.seeds:
            results["runs"][f"{strategy}/{seed}"] = run(pool, dev, args.sizes, seed, strategy,
                                                        lambda m: print(m, file=sys.stderr, flush=True))
    results["seconds"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(table(results))
    return 0


def table(results) -> str:
    lines = ["| labeled rows | random: category F1 | uncertainty: category F1 | random: sentiment F1 | "
             "uncertainty: sentiment F1 |", "|---|---|---|---|---|"]
    for k, size in enumerate(results["sizes"]):
        cells = []
        for metric in ("touchpoint_micro_f1", "sentiment_macro_f1"):
            for strategy in ("random", "uncertainty"):
                vals = [results["runs"][f"{strategy}/{s}"][k][metric] for s in results["seeds"]]
                vals = [v for v in vals if v is not None]
                cells.append(f"{np.mean(vals):.3f} ± {np.std(vals):.3f}" if vals else "-")
        lines.append(f"| {size} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} |")
    return "\n".join(lines) + f"\n\n({len(results['seeds'])} seeds, mean ± sd; {results['seconds']} s)"


if __name__ == "__main__":
    sys.exit(main())
