"""Cluster classification vs one process (issue 18): N comments with the `fast` family through

* ``cxlens predict ALL.csv --jobs 1`` (one process),
* ``cxlens predict ALL.csv --jobs 2`` (forked workers on one machine: the baseline the cluster path is held to),
* ``cxlens predict IN_DIR --cluster local:2`` (a LocalCluster with 2 worker processes, started by the command),
* ``cxlens predict IN_DIR --cluster tcp://...`` against a ``dask scheduler`` and two ``dask worker`` processes
  started here over loopback,

each as its own command (start-up, model loading and writing included), timing the wall clock and sampling
the resident memory of every process of the run (driver, scheduler, nannies, workers) every 0.2 s. The
outputs are compared row by row (they must be identical). The overhead ratio is each cluster run's time
over the ``--jobs 2`` time (issue 18's target: within 15 %).

    .venv/bin/python bench/bench_cluster.py                      # 200,000 comments (the lead's run)
    .venv/bin/python bench/bench_cluster.py --rows 2000 --json /tmp/smoke.json   # a smoke run

Inputs: the seed set's texts, cycled, ids ``c<N>``, split into ``--files`` CSV files for the cluster runs
and written once more as one file for the single-process runs. The model is trained from the seed set
into a fresh store (or use ``--models-dir`` with a ``cx-touchpoints`` model in it).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

MODEL = "cx-touchpoints"


def texts() -> list[str]:
    from nlp.labeled.formats import read_labeled
    from nlp.labeled.seed import seed_split_path

    return [e.text for split in ("train", "dev") for e in read_labeled(seed_split_path(split))[0]]


def write_inputs(tmp: Path, rows: int, files: int) -> tuple[Path, Path]:
    pool = texts()
    one = tmp / "all.csv"
    parts = tmp / "in"
    parts.mkdir()
    per = -(-rows // files)
    with open(one, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter=";")
        w.writerow(["id", "text"])
        for i in range(rows):
            w.writerow([f"c{i}", pool[i % len(pool)]])
    for k in range(files):
        with open(parts / f"part-{k:04d}.csv", "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, delimiter=";")
            w.writerow(["id", "text"])
            for i in range(k * per, min(rows, (k + 1) * per)):
                w.writerow([f"c{i}", pool[i % len(pool)]])
    return one, parts


class RssSampler:
    """Peak RSS of every process in the trees of some root pids, sampled every ``interval`` seconds."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.roots: dict[int, str] = {}
        self.peaks: dict[int, dict] = {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def watch(self, pid: int, role: str) -> None:
        self.roots[pid] = role

    @staticmethod
    def _child_role(p, root, root_role: str) -> str:
        """A child of a run's root process: a forked ``--jobs`` worker (same command line as its parent), a
        LocalCluster / ``dask worker`` worker process (multiprocessing spawn), or another helper."""
        try:
            cmd, root_cmd = p.cmdline(), root.cmdline()
        except Exception:  # noqa: BLE001
            return "child"
        if cmd == root_cmd:
            return "forked worker"
        if any("spawn_main" in c or "forkserver" in c for c in cmd):
            return "worker"
        return "child" if root_role != "nanny" else "worker"

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            for pid, role in list(self.roots.items()):
                try:
                    root = psutil.Process(pid)
                    procs = [(root, role)] + [(c, None) for c in root.children(recursive=True)]
                except psutil.Error:
                    continue
                for p, r in procs:
                    try:
                        rss = p.memory_info().rss
                    except psutil.Error:
                        continue
                    if p.pid not in self.peaks:
                        self.peaks[p.pid] = {"pid": p.pid, "role": r or self._child_role(p, root, role),
                                             "peak_mb": 0.0}
                    e = self.peaks[p.pid]
                    e["peak_mb"] = max(e["peak_mb"], rss / 2**20)
            self._stop.wait(self.interval)

    def __enter__(self) -> "RssSampler":
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()

    def result(self) -> list[dict]:
        return sorted(({**e, "peak_mb": round(e["peak_mb"], 1)} for e in self.peaks.values()),
                      key=lambda e: (e["role"], e["pid"]))


def cxlens(*args: str) -> list[str]:
    return [sys.executable, "-m", "api.cli", *args]


def timed(cmd: list[str], env: dict, *, extra_roots: dict[int, str] | None = None) -> dict:
    with RssSampler() as rss:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        rss.watch(p.pid, "driver")
        for pid, role in (extra_roots or {}).items():
            rss.watch(pid, role)
        _, err = p.communicate()
        dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"command failed ({p.returncode}): {' '.join(cmd)}\n{err[-4000:]}")
    return {"seconds": round(dt, 2), "rss": rss.result(), "stderr_tail": err.strip().splitlines()[-3:]}


def read_rows(path: Path) -> list[dict]:
    if path.is_dir():
        from nlp.batch.manifest import read_partitioned_predictions

        return list(read_partitioned_predictions(path))
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def start_dask(tmp: Path, env: dict, workers: int) -> tuple[str, list[subprocess.Popen]]:
    """A scheduler and ``workers`` single-process, single-thread workers over loopback."""
    sched_file = tmp / "scheduler.json"
    log = open(tmp / "dask.log", "w")
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(sched_file)], env=env, stdout=log, stderr=log)]
    for _ in range(100):
        if sched_file.exists() and sched_file.stat().st_size:
            break
        time.sleep(0.1)
    address = json.loads(sched_file.read_text())["address"]
    for _ in range(workers):
        procs.append(subprocess.Popen([sys.executable, "-m", "dask", "worker", address, "--nworkers", "1",
                                       "--nthreads", "1", "--no-dashboard", "--memory-limit", "0",
                                       "--host", "127.0.0.1"], env=env, stdout=log, stderr=log))
    from distributed import Client

    with Client(address, timeout="60s") as c:
        c.wait_for_workers(workers, timeout=120)
    return address, procs


def stop(procs: list[subprocess.Popen]) -> None:
    for p in reversed(procs):
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--files", type=int, default=20, help="input partitions of the cluster runs")
    ap.add_argument("--chunk-rows", type=int, default=10_000, help="rows per task / output partition")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--models-dir", help="a store with a cx-touchpoints model (default: train the fast family)")
    ap.add_argument("--only", default="jobs1,jobs2,local,tcp", help="comma list of runs")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()

    from bench_predict import cpu_model

    tmp = Path(tempfile.mkdtemp(prefix="cxlens-bench-cluster-"))
    env = {**os.environ, "CXLENS_DEFAULT_MODEL_TYPE": "fast", "CXLENS_PROGRESS_INTERVAL": "3600",
           "CXLENS_CACHE_DIR": str(tmp / "cache"), "PYTHONPATH": str(REPO)}
    models = Path(args.models_dir) if args.models_dir else tmp / "models"
    env["CXLENS_MODELS_DIR"] = str(models)
    from nlp.lifecycle.store import ModelStore

    if not ModelStore(models).versions(MODEL):
        print(f"training the fast model into {models} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-c", "from nlp.lifecycle.store import ModelStore; "
                        "from nlp.lifecycle.training import train_seed_model; "
                        f"train_seed_model(store=ModelStore({str(models)!r}), model_type='fast')"],
                       env=env, check=True, stdout=subprocess.DEVNULL)
    one, parts = write_inputs(tmp, args.rows, args.files)
    common = ["--model", MODEL, "--models-dir", str(models)]
    runs: dict[str, dict] = {}
    outs: dict[str, Path] = {}
    only = set(args.only.split(","))
    if "jobs1" in only:
        outs["jobs1"] = tmp / "jobs1.jsonl"
        runs["jobs1"] = timed(cxlens("predict", str(one), "--out", str(outs["jobs1"]), "--jobs", "1", *common), env)
    if "jobs2" in only:
        outs["jobs2"] = tmp / "jobs2.jsonl"
        runs["jobs2"] = timed(cxlens("predict", str(one), "--out", str(outs["jobs2"]), "--jobs", "2", *common), env)
    if "local" in only:
        outs["local"] = tmp / "local"
        runs["local"] = timed(cxlens("predict", str(parts), "--cluster", f"local:{args.workers}", "--out",
                                     str(outs["local"]), "--chunk-rows", str(args.chunk_rows), *common), env)
    if "tcp" in only:
        t0 = time.perf_counter()
        address, procs = start_dask(tmp, env, args.workers)
        started = time.perf_counter() - t0
        try:
            outs["tcp"] = tmp / "tcp"
            runs["tcp"] = timed(cxlens("predict", str(parts), "--cluster", address, "--out", str(outs["tcp"]),
                                       "--chunk-rows", str(args.chunk_rows), *common), env,
                                extra_roots={p.pid: ("scheduler" if i == 0 else "nanny") for i, p in enumerate(procs)})
            runs["tcp"]["cluster_start_seconds"] = round(started, 2)
        finally:
            stop(procs)
    reference = None
    for name, path in outs.items():
        rows = read_rows(path)
        runs[name]["rows"] = len(rows)
        runs[name]["comments_per_second"] = round(len(rows) / runs[name]["seconds"], 1)
        if reference is None:
            reference = rows
        runs[name]["identical_to_first"] = rows == reference
    base = runs.get("jobs2")
    for name in ("local", "tcp"):
        if base and name in runs:
            runs[name]["time_over_jobs2"] = round(runs[name]["seconds"] / base["seconds"], 3)
    result = {"rows": args.rows, "files": args.files, "chunk_rows": args.chunk_rows, "workers": args.workers,
              "cpu": cpu_model(), "cpus": os.cpu_count(), "python": sys.version.split()[0],
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load_average_start": os.getloadavg(),
              "runs": runs}
    print(f"{'run':8} {'seconds':>8} {'comments/s':>11} {'x jobs2':>8}  identical  peak RSS MB per process")
    for name, r in runs.items():
        rss = ", ".join(f"{e['role']} {e['peak_mb']:.0f}" for e in r["rss"] if e["peak_mb"] > 50)
        print(f"{name:8} {r['seconds']:8.2f} {r['comments_per_second']:11.1f} {r.get('time_over_jobs2', ''):>8}  "
              f"{str(r['identical_to_first']):9}  {rss}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1), encoding="utf-8")
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if all(r["identical_to_first"] for r in runs.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
