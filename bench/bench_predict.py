"""Throughput and peak memory of `predict` on 10k comments: a model trained on the seed set (default
the fast family: language id, segmentation, lemmas, TF-IDF + keyword features, three heads, evidence
spans) beside a plain TF-IDF + LogisticRegression sentiment baseline. The model is trained in one
subprocess and loaded from the store in another, which measures (so training does not warm its caches).

    .venv/bin/python bench/bench_predict.py [--n 10000] [--model-type fast|encoder|ensemble] [--repeat 5] [--json FILE]

Each measuring run is a fresh process; with ``--repeat N`` the table shows the median run and the range (a
shared VM's throughput varies by +-25 % from one run to the next).
"""
from __future__ import annotations

import argparse
import gc
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


def cpu_model() -> str:
    """The CPU model name and whether it has AVX-512 / VNNI (Linux; ``platform.processor()`` elsewhere)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor()
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    ext = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile") if f in flags]
    return f"{name} ({', '.join(ext) or 'no AVX2'})"


def corpus(n: int) -> list[dict]:
    from nlp.labeled.formats import read_labeled
    from nlp.labeled.seed import seed_split_path

    texts = [e.text for split in ("train", "dev") for e in read_labeled(seed_split_path(split))[0]]
    return [{"id": str(i), "text": texts[i % len(texts)]} for i in range(n)]


def warm_up_docs() -> list[dict]:
    """The bundled demo comments (Russian and English, none of them in :func:`corpus`): a warm-up that loads
    both languages' pipelines without filling the caches with the measured texts. (Until 2026-12-04 the
    warm-up was the corpus's first 200 comments, all English, so the Russian pipeline and the pymorphy3
    dictionaries were loaded inside the measured time.)"""
    import csv

    with open(REPO / "nlp" / "data" / "demo" / "comments.csv", encoding="utf-8") as f:
        return [{"id": r["id"], "text": r["text"]} for r in csv.DictReader(f, delimiter=";")]


def train(models_dir: str, model_type: str) -> None:
    from nlp.config import DEFAULT_MODEL_NAME
    from nlp.lifecycle.store import ModelStore
    from nlp.lifecycle.training import train_seed_model

    if ModelStore(models_dir).versions(DEFAULT_MODEL_NAME):
        return  # --models-dir with a model already in it: measure that one
    train_seed_model(store=ModelStore(models_dir), model_type=model_type)


def run_ours(n: int, models_dir: str, jobs: int = 1) -> dict:
    from nlp.config import DEFAULT_MODEL_NAME
    from nlp.lifecycle.store import ModelStore

    pipe = ModelStore(models_dir).load(DEFAULT_MODEL_NAME)
    gc.collect()
    gc.freeze()  # as the CLI does after loading its model (api/cli/common.py open_model)
    docs = corpus(n)
    pipe.predict(warm_up_docs())  # lazy spaCy/pymorphy/lingua loading is start-up, not throughput
    t = time.perf_counter()
    rows = pipe.predict(docs, n_jobs=jobs)
    dt = time.perf_counter() - t
    assert len(rows) == n
    return {"seconds": dt, "per_second": n / dt}


def run_baseline(n: int) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    from nlp.labeled.formats import read_labeled
    from nlp.labeled.seed import seed_split_path

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


def child(which: str, n: int, models_dir: str, model_type: str) -> None:
    if which == "train":
        return train(models_dir, model_type)
    res = run_ours(n, models_dir, jobs=2 if which == "ours2" else 1) if which.startswith("ours") else run_baseline(n)
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res["peak_rss_worker_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # 0: no workers
    print(json.dumps(res))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "predict.json")
    ap.add_argument("--model-type", default="fast", choices=["fast", "encoder", "ensemble"])
    ap.add_argument("--child", choices=["train", "ours", "ours2", "baseline"])
    ap.add_argument("--models-dir", default=None)
    ap.add_argument("--repeat", type=int, default=1,
                    help="measuring runs of each pipeline (fresh processes); the table shows the median and the range")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.n, args.models_dir, args.model_type)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        models_dir = args.models_dir or tmp
        results = {}
        # worker processes are used by fast models only (nlp.families.pipeline.CommentPipeline.predict)
        for which in ("train", "baseline", "ours") + (("ours2",) if args.model_type == "fast" else ()):
            # measuring children get an empty embedding cache (training embedded the same texts) that shares
            # the converted encoder weights built while training (conversion is one-off set-up)
            cache = Path(tmp) / f"cache-{which}"
            if which.startswith("ours") and (Path(tmp) / "cache-train" / "encoders").is_dir():
                cache.mkdir()
                (cache / "encoders").symlink_to(Path(tmp) / "cache-train" / "encoders")
            env = {**os.environ, "CXLENS_CACHE_DIR": str(cache)}
            runs = []
            for _ in range(1 if which == "train" else max(1, args.repeat)):
                out = subprocess.run([sys.executable, __file__, "--child", which, "--n", str(args.n), "--models-dir",
                                      models_dir, "--model-type", args.model_type], check=True, capture_output=True,
                                     text=True, env=env)
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]) if which != "train" else None)
            if which != "train":
                runs.sort(key=lambda r: r["per_second"])
                results[which] = {**runs[len(runs) // 2], "runs_per_second": [r["per_second"] for r in runs],
                                  "load_average_after": os.getloadavg()[0]}  # others' jobs skew the numbers
    results["machine"] = {"cpus": os.cpu_count(), "cpu_model": cpu_model(), "python": platform.python_version(),
                          "n": args.n, "model_type": args.model_type, "date": time.strftime("%Y-%m-%d %H:%M"),
                          "load_average": os.getloadavg()}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    m = results["machine"]
    print(f"{m['cpu_model']}, {m['cpus']} CPUs, load average {m['load_average'][0]:.2f} at the end")
    print(f"| pipeline | comments/s | seconds for {args.n:,} | peak RSS MB (main / largest worker) |\n|---|---|---|---|")
    for name, label in (("ours", f"cxlens {args.model_type} (full pipeline), 1 process"),
                        ("ours2", f"cxlens {args.model_type} (full pipeline), predict(n_jobs=2)"), ("baseline", "TF-IDF + LR sentiment only")):
        r = results.get(name)
        if r is None:
            continue
        workers = f" / {r['peak_rss_worker_mb']:.0f}" if r.get("peak_rss_worker_mb") else ""
        spread = r.get("runs_per_second") or [r["per_second"]]
        rng = f" ({min(spread):,.0f}-{max(spread):,.0f} in {len(spread)} runs)" if len(spread) > 1 else ""
        print(f"| {label} | {r['per_second']:,.0f}{rng} | {r['seconds']:.2f} | {r['peak_rss_mb']:.0f}{workers} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
