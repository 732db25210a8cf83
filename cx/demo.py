"""The bundled demo wave (cx/data/demo/): load it, classify it, write its report in every format.

Used by ``cxlens demo`` (api/cli/demo.py), notebooks/report_walkthrough.ipynb and bench/screenshot_report.sh.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from nlp.errors import DataError

from .classify import classify, load_model
from .config import ReportConfig, load_config
from .report import build_report
from .waves import read_predictions, read_wave

DEMO_FILES = ("wave.csv", "predictions.jsonl", "config.yaml")


def demo_path(name: str = "wave.csv") -> Path:
    """Path of a bundled demo file: wave.csv, predictions.jsonl (its known labels), config.yaml."""
    if name not in DEMO_FILES:
        raise DataError("unknown demo file", field="name", expected=f"one of {DEMO_FILES}", found=name)
    return Path(str(resources.files("cx.data").joinpath("demo", name)))


def load_demo(config: ReportConfig | None = None) -> tuple[pd.DataFrame, ReportConfig]:
    """(canonical answers frame, completed config) of the demo wave. The bundled file has no bad rows."""
    cfg = config or load_config(demo_path("config.yaml"))
    answers, errors = read_wave(demo_path("wave.csv"), cfg)
    if errors:
        raise errors[0]
    return answers, cfg


def demo_predictions() -> list[dict[str, Any]]:
    """The demo comments' known labels as prediction rows (what a perfect model would return)."""
    preds, errors = read_predictions(demo_path("predictions.jsonl"))
    if errors:
        raise errors[0]
    return preds


def run_demo_report(pipeline: Any = None, out_dir: str | Path = "out/demo", *,
                    formats: Iterable[str] = ("json", "html", "xlsx", "csv"), lang: str | None = None) -> list[Path]:
    """Build the demo report with ``pipeline`` (None: the known labels) and write it; returns the paths."""
    from .render import write_report

    answers, cfg = load_demo()
    if lang:
        cfg.lang = lang
    if pipeline is None:
        preds, model = demo_predictions(), None
    else:
        preds = classify(answers, pipeline)
        model = {"name": str(getattr(pipeline, "name", "model")), "version": str(getattr(pipeline, "version", ""))}
    report = build_report(answers, preds, cfg, source="cx/data/demo/wave.csv", model=model)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for fmt in formats:
        written += [Path(p) for p in write_report(report, fmt, str(out / f"report.{fmt}"))]
    return written


def predict_demo(answers: pd.DataFrame, *, model: str | None = None, train: bool = True,
                 models_dir: str | Path | None = None) -> tuple[list[dict[str, Any]], str]:
    """(prediction rows, where they came from) for the demo answers.

    ``model=None``: the demo's known labels (fast, deterministic). Otherwise the model store's pipeline
    ``model`` (name[@version]); the default model is trained from the seed set first if missing and ``train``."""
    if model is None:
        return demo_predictions(), "known labels (cx/data/demo/predictions.jsonl)"
    pipe = load_model(model, models_dir=models_dir, train_default=train)
    return classify(answers, pipe), f"model {pipe.name}@{pipe.version}"
