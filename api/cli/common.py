"""What several commands share: stderr messages, bad-row reports, ``--param``, stores, taxonomy, tables."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nlp.config import DEFAULT_MODEL_NAME
from nlp.errors import DataError

MAX_ERRORS_SHOWN = 20


def warn(msg: str) -> None:
    """One ``cxlens: ...`` line on stderr (stdout stays clean for ``-`` output)."""
    print(f"cxlens: {msg}", file=sys.stderr)


def report_bad_rows(errors: list[DataError], *, strict: bool = False, cap: int | None = MAX_ERRORS_SHOWN,
                    errors_file: Path | None = None, verb: str = "skipped") -> None:
    """Print bad rows (``cap`` of them; None = all), optionally also as JSONL; ``strict`` fails on any."""
    shown = errors if cap is None else errors[:cap]
    for e in shown:
        warn(f"{verb}: {e}")
    if len(errors) > len(shown):
        warn(f"... and {len(errors) - len(shown)} more bad rows")
    if errors_file is not None:
        errors_file.parent.mkdir(parents=True, exist_ok=True)
        with open(errors_file, "w", encoding="utf-8") as fh:
            for e in errors:
                fh.write(json.dumps(e.to_dict(), ensure_ascii=False, default=str) + "\n")
    if errors and strict:
        raise DataError(f"{len(errors)} bad rows (--strict)")


def parse_params(items: list[str] | None) -> dict:
    """``--param KEY=VALUE`` options: VALUE is JSON when it parses (numbers, null, lists), else a string."""
    params = {}
    for kv in items or []:
        key, sep, value = kv.partition("=")
        if not sep:
            raise DataError(field="--param", expected="KEY=VALUE", found=kv)
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


def model_store(args: argparse.Namespace):
    from nlp.lifecycle.store import ModelStore

    return ModelStore(getattr(args, "models_dir", None))


def dataset_store(args: argparse.Namespace):
    from nlp.labeled.datasets import DatasetStore

    d = getattr(args, "data_dir", None)
    return DatasetStore(Path(d) / "datasets" if d else None)


def open_model(args: argparse.Namespace, spec: str | None = None):
    """``--model`` (or ``spec``) from ``--models-dir``; the default model is built on first use. The model
    lives as long as the command: its objects are moved out of the cyclic collector's reach (``gc.freeze``),
    which otherwise rescans them in every full collection while a large file is labelled (~7 % of
    ``cxlens predict``'s time; docs/benchmarks.md)."""
    import gc

    from nlp.lifecycle.training import open_model as _open

    pipe = _open(spec or args.model, store=model_store(args), progress=warn)
    gc.collect()
    gc.freeze()
    return pipe


def taxonomy_for(args: argparse.Namespace):
    """``--taxonomy FILE``, else the taxonomy of the production model ``--model``, else the bundled one."""
    from nlp.taxonomy import load_taxonomy

    if getattr(args, "taxonomy", None):
        return load_taxonomy(args.taxonomy)
    store = model_store(args)
    spec = getattr(args, "model", None) or DEFAULT_MODEL_NAME
    try:
        if store.versions(spec.split("@")[0]):
            tax = getattr(store.load(spec), "taxonomy", None)
            if tax is not None:
                return tax
    except Exception as e:  # noqa: BLE001 - an unreadable model must not block validating a file
        warn(f"cannot read the taxonomy of {spec}: {e}; using the bundled one")
    return load_taxonomy()


def gate_policy(args: argparse.Namespace):
    from nlp.lifecycle.gate import GatePolicy

    kw: dict[str, Any] = {}
    if getattr(args, "tolerance", None) is not None:
        kw["tolerance"] = args.tolerance
    if getattr(args, "min_support", None) is not None:
        kw["min_support"] = args.min_support
    if getattr(args, "no_significance", False):
        kw["require_significance"] = False
    return GatePolicy(**kw)


def printed_json_or_empty(rows: list, *, as_json: bool, what: str, root) -> bool:
    """For a listing command: print ``rows`` as JSON, or say there are none; True when that was all."""
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return True
    if not rows:
        print(f"no {what} in {root}")
        return True
    return False


def format_table(rows: list[list[str]], *, right: set[int] = frozenset(), gap: int = 2) -> str:
    """Rows of cells as aligned text columns, each as wide as its longest cell (``right``: right-aligned)."""
    widths = [max(len(str(r[c])) for r in rows) for c in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [str(v).rjust(w) if c in right else str(v).ljust(w) for c, (v, w) in enumerate(zip(r, widths))]
        lines.append((" " * gap).join(cells).rstrip())
    return "\n".join(lines)


# -- shared options ---------------------------------------------------------------------------------
def add_models_dir(p: argparse.ArgumentParser, *, inherit: bool = False) -> None:
    """``inherit``: a sub-action whose parent parser already has ``--models-dir``."""
    p.add_argument("--models-dir", type=Path, default=argparse.SUPPRESS if inherit else None,
                   help="model store (default: $CXLENS_MODELS_DIR or ./models)")


def add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, default=None,
                   help="where datasets live (default: $CXLENS_DATA_DIR; datasets under <dir>/datasets)")


def add_dirs(p: argparse.ArgumentParser, *, inherit: bool = False) -> None:
    add_models_dir(p, inherit=inherit)
    add_data_dir(p)


def add_model(p: argparse.ArgumentParser, help: str = "NAME or NAME@VERSION") -> None:
    p.add_argument("--model", default=DEFAULT_MODEL_NAME, help=help)


def add_gate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tolerance", type=float, default=None, help="largest F1 drop the gate accepts (default 0.02)")
    p.add_argument("--min-support", type=int, default=None,
                   help="labels with fewer held-out mentions never block (default 10)")
    p.add_argument("--no-significance", action="store_true",
                   help="block on any label whose F1 drops more than the tolerance, even when the paired "
                        "bootstrap does not call the drop significant")
