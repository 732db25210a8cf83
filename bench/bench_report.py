"""Benchmark: the report for a large wave with predictions given (issue #5: 100k answers in < 10 s).

Builds a synthetic wave by replicating the demo wave (cx/data/demo) N times with fresh ids, contacts and
companies (so groups scale too), writes it as CSV + predictions JSONL into a temp dir, then times each stage
of `cxlens report --predictions`: reading the wave, reading the predictions, build_report, writing JSON, and
optionally HTML / XLSX. Prints a Markdown table of measured seconds.

    .venv/bin/python bench/bench_report.py [--answers 100000] [--formats json,html,xlsx] [--repeat 1]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cx.render import write_report  # noqa: E402
from cx.config import load_config  # noqa: E402
from cx.demo import demo_path  # noqa: E402
from cx.report import build_report  # noqa: E402
from cx.waves import read_predictions, read_wave  # noqa: E402


def make_wave(n_answers: int, out: Path) -> tuple[Path, Path]:
    with open(demo_path("wave.csv"), encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    preds = {p["id"]: p for p in map(json.loads, demo_path("predictions.jsonl").read_text(encoding="utf-8").splitlines())}
    wave, pred = out / "wave.csv", out / "predictions.jsonl"
    k = 0
    with open(wave, "w", encoding="utf-8", newline="") as fw, open(pred, "w", encoding="utf-8") as fp:
        w = csv.DictWriter(fw, fieldnames=list(rows[0]), delimiter=";")
        w.writeheader()
        rep = 0
        while k < n_answers:
            for r in rows:
                if k >= n_answers:
                    break
                new_id = f"{r['ID']}-{rep}"
                text = r["Комментарий"]  # made unique so that no stage profits from repeated texts
                w.writerow({**r, "ID": new_id, "Компания": f"{r['Компания']} #{rep % 25}",
                            "Контактное лицо": f"{r['Контактное лицо']} #{rep}",
                            "Комментарий": f"{text} (#{rep})" if text else ""})
                p = preds.get(r["ID"])
                if p is not None:
                    fp.write(json.dumps({**p, "id": new_id}, ensure_ascii=False) + "\n")
                k += 1
            rep += 1
    return wave, pred


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--answers", type=int, default=100_000)
    ap.add_argument("--formats", default="json", help="comma-separated outputs to time: json,html,xlsx,csv")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="cxlens-bench-") as tmp:
        tmpd = Path(tmp)
        wave, pred = make_wave(args.answers, tmpd)
        results: dict[str, list[tuple[float, float]]] = {}
        clock = lambda: (time.perf_counter(), time.process_time())  # noqa: E731  (wall, CPU of this process)
        for _ in range(args.repeat):
            t0 = clock()
            cfg = load_config(demo_path("config.yaml"))
            answers, errors = read_wave(wave, cfg)
            t1 = clock()
            preds, perrs = read_predictions(pred)
            t2 = clock()
            report = build_report(answers, preds, cfg, data_errors=errors + perrs, source=str(wave))
            t3 = clock()
            diff = lambda a, b: (b[0] - a[0], b[1] - a[1])  # noqa: E731
            stages = {"read wave (CSV)": diff(t0, t1), "read predictions (JSONL)": diff(t1, t2),
                      "build_report": diff(t2, t3)}
            for fmt in args.formats.split(","):
                s = clock()
                write_report(report, fmt, str(tmpd / f"report.{fmt}"))
                stages[f"write {fmt}"] = diff(s, clock())
            counted = [v for k, v in stages.items() if not k.startswith("write") or k == "write json"]
            stages["total (read + build + json)"] = (sum(v[0] for v in counted), sum(v[1] for v in counted))
            for k, v in stages.items():
                results.setdefault(k, []).append(v)
        print(f"answers: {len(answers)}, labeled: {report['meta']['n_labeled']}, companies: "
              f"{report['summary']['n_companies']}, contacts: {report['summary']['n_contacts']}, "
              f"json size: {(tmpd / 'report.json').stat().st_size / 1e6:.1f} MB" if (tmpd / "report.json").exists()
              else "")
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPU, Python {platform.python_version()}, "
              f"load average (1 min) at the end: {load:.1f}")
        print("\n| stage | wall s (best of %d) | CPU s |\n|---|---:|---:|" % args.repeat)
        for k, v in results.items():
            best = min(v)
            print(f"| {k} | {best[0]:.2f} | {best[1]:.2f} |")


if __name__ == "__main__":
    main()
