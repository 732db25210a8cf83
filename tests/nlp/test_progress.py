"""Progress of long work: log lines (rows, total, rate, ETA) on a non-terminal stderr, nothing on stdout;
nested tasks stay quiet; callback sinks (API job status) get snapshots; the models table fits its cells."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nlp import progress as P
from tests.nlp.families.test_encoder_convert import write_tiny_bin

ROOT = Path(__file__).resolve().parents[2]


def test_log_lines_when_stderr_is_not_a_terminal():
    err = io.StringIO()
    with P.reporting(P.TerminalSink(err, interval=0.0, tty=False)):
        with P.task("embedding", total=4, unit="text") as t:
            for _ in range(4):
                t.update(1)
                with P.task("inner", total=10) as inner:  # nested work is not reported on its own
                    inner.update(10)
        P.message("training the detector")
    lines = err.getvalue().splitlines()
    assert lines[0] == "cxlens: embedding: started of 4 texts"
    assert any(ln.startswith("cxlens: embedding: 2/4 texts, 50%") and "texts/s" in ln and "ETA" in ln for ln in lines)
    assert lines[-2].startswith("cxlens: embedding: 4 texts in ")
    assert lines[-1] == "cxlens: training the detector"
    assert not any("inner" in ln for ln in lines)


def test_no_sink_no_output(capsys):
    with P.task("embedding", total=3) as t:
        t.update(3)
    P.message("nothing")
    assert capsys.readouterr() == ("", "")


def test_callback_sink_snapshots():
    seen = []
    with P.reporting(P.CallbackSink(seen.append, interval=0.0)):
        with P.task("embedding", total=10, unit="text") as t:
            t.update(5)
    assert seen[0]["stage"] == "embedding" and seen[0]["done"] == 0 and seen[0]["total"] == 10
    assert seen[-1]["done"] == 5 and seen[-1]["unit"] == "text" and "eta_s" in seen[-1]


def test_snapshot_eta():
    s = P.Snapshot("x", done=25, total=100)
    s.started -= 10.0  # 25 rows in 10 s
    assert s.rate == pytest.approx(2.5, rel=0.05) and s.eta_s == pytest.approx(30.0, rel=0.05)
    assert P.Snapshot("x", done=0, total=100).eta_s is None


def test_cxlens_train_shows_progress_on_a_pipe_and_keeps_stdout_clean(tmp_path):
    """A real ``cxlens train`` (encoder family on a tiny synthetic encoder) with stderr and stdout piped."""
    from nlp.families.encoders.convert import convert
    from nlp.labeled.seed import seed_split_path

    write_tiny_bin(tmp_path / "t.bin")
    enc = convert(tmp_path / "t.bin", tmp_path / "enc")
    train = tmp_path / "train.jsonl"
    rows = Path(seed_split_path("train")).read_text(encoding="utf-8").splitlines()[:300]
    train.write_text("\n".join(rows) + "\n", encoding="utf-8")
    env = dict(os.environ, CXLENS_CACHE_DIR=str(tmp_path / "cache"), CXLENS_PROGRESS_INTERVAL="0",
               CXLENS_ENCODER_BACKEND="fp32")
    out = subprocess.run([sys.executable, "-m", "api.cli", "train", "--data", str(train), "--model-type", "encoder",
                          "--encoder", str(enc), "--encoder-prefix", "", "--name", "tiny", "--models-dir",
                          str(tmp_path / "models"), "--param", "threshold_folds=0"],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    err = out.stderr.splitlines()
    assert "cxlens: segmenting: started of 300 comments" in err
    assert any(ln.startswith("cxlens: embedding: started of ") for ln in err)
    assert any(ln.startswith("cxlens: embedding: ") and "texts/s" in ln and "ETA" in ln for ln in err)
    assert any(ln.startswith("cxlens: training touchpoint detector") for ln in err)
    # stdout: only the result (nothing from the progress)
    assert out.stdout.startswith("trained tiny@1 (encoder) on 300 rows")
    assert "embedding" not in out.stdout and "segmenting" not in out.stdout
    listing = subprocess.run([sys.executable, "-m", "api.cli", "models", "--json", "--models-dir",
                              str(tmp_path / "models")], capture_output=True, text=True, cwd=ROOT, env=env,
                             timeout=120, check=True)
    assert json.loads(listing.stdout)[0]["encoder_backend"] == "fp32"


def test_models_table_columns_fit_their_content():
    from api.cli.common import format_table

    text = format_table([["name", "version", "type", "created"],
                         ["cx-touchpoints", "12", "ensemble", "2026-12-03T10:00:00+00:00"]], right={1})
    head, row = text.splitlines()
    assert row.split() == ["cx-touchpoints", "12", "ensemble", "2026-12-03T10:00:00+00:00"]
    assert head.index("type") == row.index("ensemble") and head.index("created") == row.index("2026")


def test_short_tasks_stay_quiet_on_a_pipe():
    err = io.StringIO()
    with P.reporting(P.TerminalSink(err, interval=10.0, tty=False)):
        with P.task("classifying", total=1, unit="comment") as t:
            t.update(1)
    assert err.getvalue() == ""
