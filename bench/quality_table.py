"""Side-by-side markdown table of ``bench_encoder.py --quality --json`` results (one or more files):
``python bench/quality_table.py bench/results/quality_finetuned.json [--settings fast,shipped-ensemble,shipped]``.

One row per data set, one column per metric; a cell lists the settings' values in ``--settings`` order, then the
MANIFEST floor, the issue 15 target and the published best (official test splits, for orientation only), where
they exist. The best of the settings is bold; a value under the floor is marked ``↓``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality_shared as qs  # noqa: E402

#: issue 15's targets on the dev splits
TARGETS: dict[str, dict[str, float]] = {
    "semeval16_ru": {"category_f1": 0.80, "pair_f1": 0.70},
    "semeval16_en": {"category_f1": 0.80, "pair_f1": 0.70},
    "mams": {"pair_f1": 0.75},
    "sentirueval2016_banks": {"sentiment_pn_f1": 0.70},
    "sentirueval2016_telecom": {"sentiment_pn_f1": 0.70},
    "nhs_fft": {"category_f1": 0.78},
}


def load_rows(paths: list[Path]) -> list[dict]:
    return [r for p in paths for r in json.loads(p.read_text(encoding="utf-8"))["rows"]]


def cell(values: list[float | None], floor: float | None, target: float | None, published: float | None) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "–"
    best = max(known)
    parts = []
    for v in values:
        if v is None:
            parts.append("–")
            continue
        text = f"{v:.3f}" + ("↓" if floor is not None and v < floor else "")
        parts.append(f"**{text}**" if v == best and len(known) > 1 else text)
    extra = [f"{k} {x:.3f}" for k, x in (("floor", floor), ("target", target), ("publ.", published)) if x is not None]
    return " / ".join(parts) + (f" ({', '.join(extra)})" if extra else "")


def table(rows: list[dict], settings: list[str]) -> str:
    by = {(r["dataset"], r["setting"]): r for r in rows}
    names = [d.name for d in qs.DATASETS if any((d.name, s) in by for s in settings)]
    head = "| data set (train / dev) | " + " | ".join(qs.METRIC_TITLES[m] for m in qs.METRICS) + " |"
    lines = [head, "|" + "---|" * (len(qs.METRICS) + 1)]
    for name in names:
        ds = qs.BY_NAME[name]
        some = next(by[(name, s)] for s in settings if (name, s) in by)
        cells = []
        for m in qs.METRICS:
            values = [by[(name, s)]["metrics"].get(m) if (name, s) in by else None for s in settings]
            cells.append(cell(values, ds.floor.get(m), TARGETS.get(name, {}).get(m), ds.published.get(m)))
        lines.append(f"| {name} ({some['n_train']:,} / {some['n_dev']:,}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--settings", default="fast,shipped-ensemble,shipped")
    args = ap.parse_args(argv)
    print(table(load_rows(args.files), args.settings.split(",")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
