"""bench/bench_report.py stays runnable (a small size here; the 100k run is in docs/benchmarks.md)."""
from __future__ import annotations

import subprocess
import sys

from .conftest import REPO


def test_bench_report_small_run():
    out = subprocess.run([sys.executable, str(REPO / "bench" / "bench_report.py"), "--answers", "1500"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    assert "answers: 1500" in out and "| build_report |" in out and "| total (read + build + json) |" in out
