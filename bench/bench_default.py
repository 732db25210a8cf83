"""The shipped default model on this machine: ``python bench/bench_default.py [--json out.json]``.

Three measurements, each in its own process (its peak RSS is its own), on the bundled seed **dev** texts:

1. ``demo``: ``cxlens demo`` from an empty model store and an empty cache dir (encoder conversion,
   ONNX export, backend measurement, training the default model, classifying the demo, the report):
   wall seconds, as a new user sees it after ``pip install``;
2. ``predict``: the default model (built by step 1) loaded in a fresh process with an empty embedding
   cache, a warm-up of 20 comments, then ``Pipeline.predict`` on all dev texts (the whole pipeline:
   language id, segmentation, both members, evidence spans): comments/s and peak RSS; plus the wall
   time of the ``cxlens predict`` command on the same file (start-up and model loading included);
3. ``naive``: the baseline of issue 13, a plain ``transformers`` float32 model called one comment at a
   time (embedding only, ``torch.no_grad``), on the same texts: comments/s.

The CPU model and flags, the backend ``auto`` chose (with every candidate's numbers), load averages and
library versions are printed and stored with the results.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def dev_texts() -> list[dict]:
    from nlp.labeled.seed import seed_split_path

    rows = [json.loads(line) for line in Path(seed_split_path("dev")).read_text(encoding="utf-8").splitlines() if line]
    return [{"id": r["id"], "text": r["text"]} for r in rows]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_predict(models_dir: str) -> dict:
    from nlp.lifecycle.store import ModelStore

    docs = dev_texts()
    pipe = ModelStore(models_dir).load("cx-touchpoints")
    pipe.predict(docs[:20])  # lazy loading (spaCy, lingua, the encoder session) is start-up, not throughput
    t0 = time.perf_counter()
    pipe.predict(docs[20:])
    dt = time.perf_counter() - t0
    return {"comments": len(docs) - 20, "seconds": round(dt, 3), "comments_per_s": round((len(docs) - 20) / dt, 1),
            "model_type": pipe.model_type, "backend": pipe.encoder_backend, "peak_rss_mb": round(peak_rss_mb())}


def child_naive(model_dir: str) -> dict:
    import torch
    from transformers import AutoModel, AutoTokenizer

    texts = [d["text"] for d in dev_texts()]
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()

    def embed(text: str):
        enc = tok("query: " + text, return_tensors="pt", truncation=True, max_length=256)
        with torch.no_grad():
            h = model(**enc).last_hidden_state[0]
        v = h.mean(dim=0)
        return v / v.norm()

    for t in texts[:10]:
        embed(t)
    t0 = time.perf_counter()
    for t in texts:
        embed(t)
    dt = time.perf_counter() - t0
    return {"comments": len(texts), "seconds": round(dt, 3), "comments_per_s": round(len(texts) / dt, 1),
            "peak_rss_mb": round(peak_rss_mb())}


def run_child(mode: str, arg: str, env: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--_child", mode, "--_arg", arg], capture_output=True,
                         text=True, env=env, cwd=ROOT, check=False)
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def timed_command(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MB of the command, its stderr)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    wall = time.perf_counter() - t0
    if out.returncode:
        raise SystemExit(out.stderr)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024, out.stderr


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--keep", type=Path, default=None, help="keep the model store and cache in this folder")
    ap.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_arg", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._child:
        fn = {"predict": child_predict, "naive": child_naive}[args._child]
        print(json.dumps(fn(args._arg)))
        return 0

    from nlp.families.encoders.backends import cached_choice, cpu_info, library_versions

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="cxlens-bench-default-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    cache, models = work / "cache", work / "models"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXLENS_")}
    env.update(CXLENS_CACHE_DIR=str(cache), CXLENS_MODELS_DIR=str(models))
    cxlens = [sys.executable, "-m", "api.cli"]
    cpu = cpu_info()
    load0 = os.getloadavg()
    res: dict = {"cpu": cpu["model"], "cpu_flags": cpu["flags"], "cores": os.cpu_count(),
                 "libraries": library_versions(), "python": platform.python_version(), "loadavg_before": load0}
    print(f"CPU {cpu['model']} ({', '.join(cpu['flags'])}), {os.cpu_count()} cores; load {load0[0]:.2f}", flush=True)

    wall, rss, err = timed_command(cxlens + ["demo", "--out-dir", str(work / "demo"), "--models-dir", str(models)], env)
    res["demo"] = {"seconds": round(wall, 1), "peak_rss_mb": round(rss)}
    print(f"cxlens demo from an empty store and cache: {wall:.1f} s, peak RSS {rss:.0f} MB", flush=True)

    os.environ["CXLENS_CACHE_DIR"] = str(cache)
    choice = cached_choice()  # the fresh cache holds the one measurement the demo made
    res["auto_choice"] = choice["choice"] if choice else None
    res["auto_measurement"] = choice["results"] if choice else None
    if choice:
        print("auto: " + ", ".join(f"{k} {v.get('texts_per_s', '-')}/s (cos {v.get('cosine_min', '-')})"
                                   for k, v in choice["results"].items()) + f" -> {choice['choice']}", flush=True)

    shutil.rmtree(cache / "embeddings", ignore_errors=True)
    res["predict"] = run_child("predict", str(models), env)
    p = res["predict"]
    print(f"Pipeline.predict, {p['model_type']} ({p['backend']}), {p['comments']} seed dev comments, empty embedding "
          f"cache: {p['comments_per_s']} comments/s, peak RSS {p['peak_rss_mb']} MB", flush=True)

    shutil.rmtree(cache / "embeddings", ignore_errors=True)
    inp = work / "dev.jsonl"
    inp.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in dev_texts()), encoding="utf-8")
    wall, rss, _ = timed_command(cxlens + ["predict", str(inp), "--out", str(work / "p.jsonl"), "--models-dir",
                                           str(models)], env)
    res["predict_command"] = {"seconds": round(wall, 2), "comments": len(dev_texts()), "peak_rss_mb": round(rss)}
    print(f"cxlens predict (start-up and loading included): {wall:.1f} s for {len(dev_texts())} comments", flush=True)

    from nlp.families.encoders.convert import ensure_converted

    # the base e5-small (the fine-tuned default may have been rebuilt from a base converted elsewhere)
    res["naive"] = run_child("naive", str(ensure_converted()), env)
    n = res["naive"]
    res["ratio_vs_naive"] = round(p["comments_per_s"] / n["comments_per_s"], 2)
    print(f"naive baseline (transformers float32, one comment at a time, embedding only): {n['comments_per_s']} "
          f"comments/s; default model / naive = {res['ratio_vs_naive']}x", flush=True)
    res["loadavg_after"] = os.getloadavg()
    print(f"load {res['loadavg_after'][0]:.2f} at the end")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2, ensure_ascii=False), encoding="utf-8")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
