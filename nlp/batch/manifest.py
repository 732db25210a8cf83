"""``_manifest.json`` of a partitioned prediction run, and reading its partitions back.

The manifest names the model (name@version and store), the output format, the partition size and the
options; per input file its path, SHA-256, size, rows read and bad rows, and its partitions in order; per
partition the input it came from, its first data row, rows written, errors and whether it is complete.
Only the driver writes it (atomically, after every partition), so after a crash it lists exactly the
partitions that were finished, and a re-run with the same settings skips them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from ..errors import DataError
from ..labeled.formats import iter_predictions_parquet, iter_records
from ..locks import atomic_write_text

MANIFEST_FILE = "_manifest.json"
ERRORS_FILE = "_errors.jsonl"
ERRORS_DIR = "_errors"
FORMAT_VERSION = 1
SUFFIX = {"parquet": ".parquet", "jsonl": ".jsonl"}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Manifest:
    model: dict[str, str]
    output_format: str
    chunk_rows: int
    options: dict[str, Any]
    inputs: list[dict[str, Any]] = field(default_factory=list)
    partitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    created: str = field(default_factory=now)
    updated: str | None = None
    complete: bool = False

    # -- identity of a run's settings: partitions of another setting are never reused ----------------
    def settings(self) -> dict[str, Any]:
        return {"model": {k: self.model.get(k) for k in ("name", "version")}, "output_format": self.output_format,
                "chunk_rows": self.chunk_rows, "options": self.options}

    def to_dict(self) -> dict[str, Any]:
        rows = sum(p.get("rows", 0) for p in self.partitions.values() if p.get("complete"))
        errors = sum(p.get("errors", 0) for p in self.partitions.values()) + sum(i.get("bad_rows", 0) for i in self.inputs)
        return {"kind": "cxlens-predictions", "format_version": FORMAT_VERSION, "model": self.model,
                "output_format": self.output_format, "chunk_rows": self.chunk_rows, "options": self.options,
                "created": self.created, "updated": self.updated, "complete": self.complete,
                "rows": rows, "errors": errors, "errors_file": ERRORS_FILE,
                "inputs": self.inputs, "partitions": self.partitions}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Manifest":
        return cls(model=d["model"], output_format=d["output_format"], chunk_rows=int(d["chunk_rows"]),
                   options=d.get("options", {}), inputs=d.get("inputs", []), partitions=d.get("partitions", {}),
                   created=d.get("created") or now(), updated=d.get("updated"), complete=bool(d.get("complete")))

    def write(self, out_dir: str | Path) -> None:
        self.updated = now()
        atomic_write_text(Path(out_dir) / MANIFEST_FILE, json.dumps(self.to_dict(), ensure_ascii=False, indent=1))

    @classmethod
    def read(cls, out_dir: str | Path) -> "Manifest | None":
        f = Path(out_dir) / MANIFEST_FILE
        if not f.exists():
            return None
        try:
            return cls.from_dict(json.loads(f.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError) as e:
            raise DataError(f"unreadable manifest: {e}", source=str(f), expected="a cxlens _manifest.json") from None

    def partition_names(self) -> list[str]:
        """Partitions in input order (inputs sorted by path, then chunk order): the single-process order."""
        return [name for inp in self.inputs for name in inp.get("partitions", [])]


def is_partitioned(path: str | Path) -> bool:
    p = Path(path)
    return p.is_dir() and (p / MANIFEST_FILE).exists()


def _read_partition(path: Path) -> Iterator[dict[str, Any]]:
    if path.suffix == ".parquet":
        yield from iter_predictions_parquet(path)
        return
    for i, rec in iter_records(path, fmt="jsonl"):
        if isinstance(rec, DataError):
            raise rec
        yield rec


def iter_partition_files(out_dir: str | Path, *, require_complete: bool = True) -> list[Path]:
    """The partition files of an output directory in input order (from the manifest)."""
    out = Path(out_dir)
    man = Manifest.read(out)
    if man is None:
        raise DataError("not a partitioned predictions directory", source=str(out),
                        expected=f"a directory with {MANIFEST_FILE} (cxlens predict --cluster)", found="no manifest")
    files = []
    for name in man.partition_names():
        entry = man.partitions.get(name, {})
        if not entry.get("complete") or not (out / name).exists():
            if require_complete:
                raise DataError("incomplete partitioned predictions; re-run the same `cxlens predict --cluster` "
                                "command to finish them", source=str(out / name), expected="a complete partition",
                                found=entry.get("error") or "missing")
            continue
        files.append(out / name)
    return files


def read_partitioned_predictions(out_dir: str | Path, *, require_complete: bool = True) -> Iterator[dict[str, Any]]:
    """Prediction rows of a partitioned run, partition by partition (never all in memory at once)."""
    for path in iter_partition_files(out_dir, require_complete=require_complete):
        yield from _read_partition(path)
