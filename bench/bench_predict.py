"""Throughput and peak memory of `predict` on 10k comments: the default fast pipeline (language id,
segmentation, lemmas, TF-IDF + keyword features, three heads, evidence spans) beside a plain
TF-IDF + LogisticRegression sentiment baseline, each measured in its own subprocess.

    .venv/bin/python bench/bench_predict.py [--n 10000] [--json bench/results/predict.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def corpus(n: int) -> list[dict]:
    from nlp.io import read_labeled
    from nlp.seed import seed_split_path

    texts = [e.text for split in ("train", "dev") for e in read_labeled(seed_split_path(split))[0]]
    return [{"id": str(i), "text": texts[i % len(texts)]} for i in range(n)]


def run_ours(n: int, models_dir: str) -> dict:
    from nlp.store import ensure_default_model

    pipe = ensure_default_model(models_dir)
    docs = corpus(n)
    pipe.predict(docs[:200])  # warm-up: lazy spaCy/pymorphy/lingua loading is start-up, not throughput
    t = time.perf_counter()
    rows = pipe.predict(docs)
    dt = time.perf_counter() - t
    assert len(rows) == n
    return {"seconds": dt, "per_second": n / dt}


def run_baseline(n: int) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    from nlp.io import read_labeled
    from nlp.seed import seed_split_path

    train = read_labeled(seed_split_path("train"))[0]
    model = make_pipeline(make_union(TfidfVectorizer(ngram_range=(1, 2)),
                                     TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5))),
                          LogisticRegression(max_iter=1000))
    model.fit([e.text for e in train], [e.sentiment for e in train])
    texts = [d["text"] for d in corpus(n)]
    model.predict_proba(texts[:200])
    t = time.perf_counter()
    model.predict_proba(texts)
    dt = time.perf_counter() - t
    return {"seconds": dt, "per_second": n / dt}


def child(which: str, n: int, models_dir: str) -> None:
    res = run_ours(n, models_dir) if which == "ours" else run_baseline(n)
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(res))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "predict.json")
    ap.add_argument("--child", choices=["ours", "baseline"])
    ap.add_argument("--models-dir", default=None)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.n, args.models_dir)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        models_dir = args.models_dir or tmp
        results = {}
        for which in ("baseline", "ours"):
            out = subprocess.run([sys.executable, __file__, "--child", which, "--n", str(args.n), "--models-dir", models_dir],
                                 check=True, capture_output=True, text=True)
            results[which] = json.loads(out.stdout.strip().splitlines()[-1])
    results["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "n": args.n,
                          "date": time.strftime("%Y-%m-%d")}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"| pipeline | comments/s | seconds for {args.n:,} | peak RSS MB |\n|---|---|---|---|")
    for name, label in (("ours", "cxlens fast (full pipeline)"), ("baseline", "TF-IDF + LR sentiment only")):
        r = results[name]
        print(f"| {label} | {r['per_second']:,.0f} | {r['seconds']:.2f} | {r['peak_rss_mb']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
