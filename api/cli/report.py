"""``cxlens report``: survey answers (+ predictions or a model) -> JSON / HTML / XLSX / CSV report."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from cx.config import SCORE_ROLES, TEXT_ROLES, load_config, parse_scale
from nlp.config import DEFAULT_MODEL_NAME
from nlp.errors import DataError
from nlp.progress import message

from .common import open_model


def register(sub: Any) -> None:
    p = sub.add_parser(
        "report", help="build the strengths-and-weaknesses report of a survey wave",
        description="Survey answers (CSV/XLSX/JSONL) + touchpoint predictions -> NPS/CSAT/CES with CIs, "
                    "importance x performance matrix, traffic lights, strengths and weaknesses with quotes, "
                    "interview shortlist, risks and trends. See docs/reports.md.")
    p.add_argument("answers", help="survey wave: CSV (UTF-8/cp1251, ';' or ','), XLSX, JSONL or Parquet; a directory "
                                   "or glob of wave files is reported from per-partition aggregates (docs/scaling.md)")
    p.add_argument("--predictions", metavar="P.jsonl",
                   help="prediction rows (JSONL / Parquet, or a `cxlens predict --cluster` directory; ids = answer "
                        "ids); without it the model classifies the comments")
    p.add_argument("--config", metavar="C.yaml", help="report config (columns, scales, thresholds); docs/reports.md")
    p.add_argument("--model", default=DEFAULT_MODEL_NAME, help="model name[@version] when no --predictions "
                   f"(default {DEFAULT_MODEL_NAME}; trained from the seed set on first use)")
    p.add_argument("--models-dir", default=None, help="model store (default $CXLENS_MODELS_DIR or ./models)")
    p.add_argument("--out", action="append", required=True, metavar="PATH",
                   help="report.json | report.html | report.xlsx | report.csv ('-' = JSON to stdout); repeatable. "
                        "CSV: PATH gets the interview shortlist and PATH.labels.csv the per-comment labels, unless "
                        "the file name ends in .labels.csv / .shortlist.csv / .companies.csv / .contacts.csv")
    p.add_argument("--lang", choices=("ru", "en"), help="report language (default from config, else ru)")
    p.add_argument("--map", action="append", default=[], metavar="ROLE=COLUMN",
                   help="column role: company, contact, comment, nps, csat, ces, rating:COMPONENT, ... (repeatable)")
    p.add_argument("--scale", action="append", default=[], metavar="ROLE=LOW-HIGH",
                   help="score scale, e.g. csat=1-10 or rating:delivery=1-5 (repeatable)")
    p.add_argument("--min-n", type=int, help="smallest n shown as a solid figure (default 5)")
    p.add_argument("--key-account", action="append", default=[], metavar="COMPANY", help="key account (repeatable)")
    p.add_argument("--scope", choices=("latest", "all"), help="report on the latest wave (default) or all answers")
    p.add_argument("--taxonomy", help="touchpoint taxonomy YAML (default: the bundled one)")
    p.set_defaults(func=run_report)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    ov: dict[str, Any] = {}
    scales: dict[str, tuple[float, float]] = {}
    for item in args.scale:
        role, sep, val = item.partition("=")
        if not sep:
            raise DataError(field="--scale", expected="ROLE=LOW-HIGH", found=item)
        scales[role.strip()] = parse_scale(val, key=f"--scale {role.strip()}")
    for item in args.map:
        role, sep, col = item.partition("=")
        role, col = role.strip(), col.strip()
        if not sep or not col:
            raise DataError(field="--map", expected="ROLE=COLUMN", found=item)
        if role in TEXT_ROLES:
            ov.setdefault("columns", {})[role] = col
        elif role in SCORE_ROLES:
            spec: dict[str, Any] = {"column": col}
            if role in scales:
                spec["scale"] = list(scales.pop(role))
            ov.setdefault("scores", {})[role] = spec
        elif role.startswith("rating:") and len(role) > 7:
            spec = {"column": col}
            if role in scales:
                spec["scale"] = list(scales.pop(role))
            ov.setdefault("ratings", {})[role[7:]] = spec
        else:
            raise DataError("unknown column role", field="--map",
                            expected=f"one of {list(TEXT_ROLES) + list(SCORE_ROLES)} or rating:COMPONENT", found=role)
    if scales:
        role = next(iter(scales))
        raise DataError("--scale needs the column too", field="--scale", expected=f"--map {role}=COLUMN", found=role)
    if args.lang:
        ov["lang"] = args.lang
    if args.min_n is not None:
        ov["min_n"] = args.min_n
    if args.key_account:
        ov["key_accounts"] = list(args.key_account)
    if args.scope:
        ov["scope"] = args.scope
    if args.taxonomy:
        ov["taxonomy"] = args.taxonomy
    return ov


def run_report(args: argparse.Namespace) -> int:
    from cx.render import output_format
    from cx.report import build_report
    from cx.waves import read_predictions, read_wave

    outs = [(output_format(o), o) for o in args.out]
    cfg = load_config(args.config, overrides=_overrides(args))
    if _partitioned(args):
        return _write(_partitioned_report(args, cfg), outs)
    answers, errors = read_wave(args.answers, cfg)
    if args.predictions:
        preds, perrs = read_predictions(args.predictions)
        errors += perrs
        model = None
    else:
        from cx.classify import classify

        pipe = open_model(args)
        preds = classify(answers, pipe)
        model = {"name": str(getattr(pipe, "name", args.model)), "version": str(getattr(pipe, "version", ""))}
    message(f"building the report: {len(answers):,} answers, {len(preds):,} labeled comments")
    report = build_report(answers, preds, cfg, data_errors=errors, source=str(args.answers), model=model)
    if errors:
        print(f"cxlens: {len(errors)} data problem(s) reported and excluded; first: {errors[0]}", file=sys.stderr)
    return _write(report, outs)


def _write(report: dict, outs: list) -> int:
    from cx.render import write_report

    for w in report["warnings"]:
        print(f"cxlens: warning: {w}", file=sys.stderr)
    for fmt, dest in outs:
        if dest != "-":
            message(f"writing {dest}")
        written = write_report(report, fmt, dest)
        for p in written:
            print(f"cxlens: wrote {p}", file=sys.stderr)
    return 0


def _partitioned(args: argparse.Namespace) -> bool:
    from pathlib import Path

    from cx.aggregate import is_partitioned_wave

    return is_partitioned_wave(args.answers) or bool(args.predictions and Path(args.predictions).is_dir())


def _partitioned_report(args: argparse.Namespace, cfg) -> dict:
    """A wave in partitions and/or partitioned predictions: :func:`cx.aggregate.report_from_partitions`."""
    from cx.aggregate import report_from_partitions

    message(f"building the report from the partitions of {args.answers}")
    report = report_from_partitions(args.answers, args.predictions, cfg, open_pipeline=lambda: open_model(args),
                                    source=str(args.answers))
    errs = report["data_errors"]
    if errs["count"]:
        print(f"cxlens: {errs['count']} data problem(s) reported and excluded; first: {errs['first'][0]['message']}",
              file=sys.stderr)
    return report
