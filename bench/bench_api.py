"""Load benchmark of the HTTP API on the loopback interface only.

Starts ``cxlens serve`` (uvicorn) on 127.0.0.1 in a subprocess with a temporary database, creates an
API key, then measures with an httpx client:

* ``POST /v1/classify`` latency (p50/p95/p99) for 1 comment and for 100 comments per request,
  sequentially and with a few concurrent clients;
* ``POST /v1/jobs`` throughput (rows/s from submission to done) and the results download.

Every loop is bounded in count and in time (``--max-seconds``); the server is stopped at the end.

    .venv/bin/python bench/bench_api.py                 # default sizes, real default model
    .venv/bin/python bench/bench_api.py --quick         # a smoke run
    .venv/bin/python bench/bench_api.py --json out/bench_api.json
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"  # loopback only


def comments() -> list[str]:
    """Realistic RU comments from the bundled demo wave (plus a few EN ones)."""
    raw = resources.files("cx.data").joinpath("demo/wave.csv").read_text(encoding="utf-8-sig")
    rows = csv.DictReader(raw.splitlines(), delimiter=";")
    texts = [r.get("Комментарий", "").strip() for r in rows]
    texts = [t for t in texts if t]
    texts += ["The engineer fixed the boiler on the first visit.", "Invoices are always late and wrong.",
              "Great manager, but delivery took three weeks.", "The website keeps logging me out."]
    return texts


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    xs = sorted(values)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summary(lat_s: list[float], wall_s: float) -> dict:
    ms = [x * 1000 for x in lat_s]
    return {"n": len(ms), "p50_ms": round(pct(ms, 0.50), 2), "p95_ms": round(pct(ms, 0.95), 2),
            "p99_ms": round(pct(ms, 0.99), 2), "mean_ms": round(statistics.fmean(ms), 2) if ms else None,
            "max_ms": round(max(ms), 2) if ms else None, "req_per_s": round(len(ms) / wall_s, 1) if wall_s else None}


class Server:
    def __init__(self, *, data_dir: Path, models_dir: Path, port: int, job_workers: int | None) -> None:
        self.port = port
        self.env = {**os.environ, "CXLENS_DATA_DIR": str(data_dir), "CXLENS_MODELS_DIR": str(models_dir),
                    "CXLENS_DATABASE_URL": f"sqlite:///{data_dir / 'bench.db'}",
                    "CXLENS_RATE_LIMIT_PER_MINUTE": "0", "CXLENS_CHAR_BUDGET_PER_MINUTE": "0",
                    "PYTHONUNBUFFERED": "1"}
        if job_workers is not None:
            self.env["CXLENS_JOB_WORKERS"] = str(job_workers)
        self.log = open(data_dir / "server.log", "w")
        self.proc: subprocess.Popen | None = None

    def create_key(self) -> str:
        out = subprocess.run([sys.executable, "-m", "api.cli", "keys", "create", "--role", "admin", "--name", "bench"],
                             cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120, check=True)
        return out.stdout.strip()

    def start(self, timeout: float) -> float:
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--host", HOST, "--port",
                                      str(self.port), "--log-level", "warning"],
                                     cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        url = f"http://{HOST}:{self.port}/ready"
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"server not ready after {timeout:.0f} s; see {self.log.name}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


def _text(texts: list[str], k: int, salt: str | None) -> str:
    """The k-th bench text; with a salt, made unique (no embedding-cache hits, as for new comments)."""
    t = texts[k % len(texts)]
    return f"{t} ({salt}{k})" if salt is not None else t


def bench_classify(client: httpx.Client, texts: list[str], *, docs_per_request: int, n: int, deadline: float,
                   concurrency: int = 1, salt: str | None = None) -> dict:
    def one(i: int) -> float:
        docs = [{"id": str(j), "text": _text(texts, i * docs_per_request + j, salt)} for j in range(docs_per_request)]
        t = time.perf_counter()
        r = client.post("/v1/classify", json={"documents": docs})
        dt = time.perf_counter() - t
        if r.status_code != 200:
            raise RuntimeError(f"classify -> {r.status_code}: {r.text[:200]}")
        body = r.json()
        if body["counts"]["ok"] != docs_per_request:
            raise RuntimeError(f"classify: {body['counts']}")
        return dt

    lat: list[float] = []
    t0 = time.perf_counter()
    if concurrency == 1:
        for i in range(n):
            if time.perf_counter() > deadline:
                break
            lat.append(one(i))
    else:
        lock = threading.Lock()
        counter = iter(range(n))

        def loop() -> None:
            while time.perf_counter() < deadline:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                d = one(i)
                with lock:
                    lat.append(d)

        with ThreadPoolExecutor(concurrency) as ex:
            for f in [ex.submit(loop) for _ in range(concurrency)]:
                f.result()
    return summary(lat, time.perf_counter() - t0)


def bench_job(client: httpx.Client, texts: list[str], *, rows: int, deadline: float, salt: str | None = None) -> dict:
    body = "".join(json.dumps({"id": f"r{i}", "text": _text(texts, i, salt)}, ensure_ascii=False) + "\n"
                   for i in range(rows)).encode("utf-8")
    t0 = time.perf_counter()
    r = client.post("/v1/jobs", files={"file": ("bench.jsonl", body, "application/x-ndjson")})
    if r.status_code != 202:
        raise RuntimeError(f"jobs -> {r.status_code}: {r.text[:200]}")
    submit_s = time.perf_counter() - t0
    url = r.headers["location"]
    job = r.json()
    while time.perf_counter() < deadline:
        job = client.get(url).json()
        if job["status"] in ("done", "failed", "cancelled"):
            break
        time.sleep(0.1)
    total_s = time.perf_counter() - t0
    if job["status"] != "done":
        return {"rows": rows, "status": job["status"], "rows_processed": job["progress"]["rows_processed"],
                "seconds": round(total_s, 2)}
    t1 = time.perf_counter()
    n_lines = 0
    with client.stream("GET", url + "/results?format=jsonl") as resp:
        for line in resp.iter_lines():
            if line.strip():
                n_lines += 1
    download_s = time.perf_counter() - t1
    if n_lines != rows:
        raise RuntimeError(f"results: {n_lines} lines for {rows} rows")
    return {"rows": rows, "upload_mib": round(len(body) / 2**20, 2), "submit_s": round(submit_s, 3),
            "done_s": round(total_s, 2), "rows_per_s": round(rows / total_s, 1), "download_s": round(download_s, 2),
            "download_rows_per_s": round(rows / download_s, 1) if download_s else None,
            "ok": job["progress"]["ok"], "failed": job["progress"]["failed"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--single", type=int, default=300, help="requests with 1 comment")
    ap.add_argument("--batch", type=int, default=40, help="requests with 100 comments")
    ap.add_argument("--concurrency", type=int, default=4, help="clients for the concurrent single-comment run")
    ap.add_argument("--job-rows", type=int, default=5000, help="rows in the job")
    ap.add_argument("--job-workers", type=int, default=None, help="server job worker threads (default: cores)")
    ap.add_argument("--models-dir", type=Path, default=None,
                    help="model store (default: $CXLENS_MODELS_DIR or ./models; the default model is trained if absent)")
    ap.add_argument("--max-seconds", type=float, default=600, help="hard limit for the whole run")
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument("--unique", action="store_true",
                    help="make every comment unique (no embedding-cache hits: the encoder/ensemble cost for new text)")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args(argv)
    if args.quick:
        args.single, args.batch, args.job_rows = 50, 5, 500
    start = time.perf_counter()
    deadline = start + args.max_seconds
    models_dir = args.models_dir or Path(os.environ.get("CXLENS_MODELS_DIR", ROOT / "models"))
    texts = comments()
    results: dict = {"machine": {"python": platform.python_version(), "cpu_count": os.cpu_count(),
                                 "platform": platform.platform(), "loadavg_1m_start": round(os.getloadavg()[0], 2)},
                     "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory(prefix="cxlens-bench-") as tmp:
        server = Server(data_dir=Path(tmp), models_dir=models_dir, port=free_port(), job_workers=args.job_workers)
        try:
            token = server.create_key()
            results["startup_s"] = round(server.start(timeout=max(30.0, deadline - time.perf_counter())), 2)
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=f"http://{HOST}:{server.port}", headers=headers, timeout=120,
                              limits=httpx.Limits(max_connections=args.concurrency + 2)) as client:
                model = client.get("/v1/models").json()["default"]
                results["model"] = model
                run = f"{time.time_ns()}-" if args.unique else None
                salt = (lambda stage: f"{run}{stage}-") if run else (lambda stage: None)
                bench_classify(client, texts, docs_per_request=1, n=20, deadline=deadline, salt=salt("w"))  # warm-up
                results["classify_1"] = bench_classify(client, texts, docs_per_request=1, n=args.single,
                                                       deadline=deadline, salt=salt("a"))
                results["classify_100"] = bench_classify(client, texts, docs_per_request=100, n=args.batch,
                                                         deadline=deadline, salt=salt("b"))
                results["classify_100"]["docs_per_s"] = round(results["classify_100"]["req_per_s"] * 100, 1)
                results[f"classify_1_x{args.concurrency}"] = bench_classify(
                    client, texts, docs_per_request=1, n=args.single, deadline=deadline,
                    concurrency=args.concurrency, salt=salt("c"))
                results["job"] = bench_job(client, texts, rows=args.job_rows, deadline=deadline, salt=salt("j"))
        finally:
            server.stop()
    results["total_s"] = round(time.perf_counter() - start, 1)
    results["machine"]["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(results, indent=2, ensure_ascii=False))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
