"""INPUT of a partitioned run: one file, a directory (its CSV / JSONL / Parquet files, not recursive) or a
glob pattern; each file is one input of the manifest, identified by its path and content hash."""
from __future__ import annotations

import glob
import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from ..hashing import file_sha256
from ..labeled.formats import CSV_SUFFIXES, JSONL_SUFFIXES, PARQUET_SUFFIXES

INPUT_SUFFIXES = CSV_SUFFIXES | JSONL_SUFFIXES | PARQUET_SUFFIXES


@dataclass(frozen=True)
class InputFile:
    path: str  #: absolute path
    size: int
    sha256: str

    @property
    def key(self) -> str:
        """Stable short name of this input in partition file names (from its path, not its content)."""
        return hashlib.sha256(self.path.encode("utf-8")).hexdigest()[:10]


def _is_input(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in INPUT_SUFFIXES and not p.name.startswith((".", "_"))


def resolve_inputs(spec: str | Path | list[str | Path]) -> list[InputFile]:
    """The input files of ``spec`` (a file, a directory, a glob, or a list of those), sorted by path.
    Files whose names start with ``.`` or ``_`` (``_manifest.json``, temp files) are ignored in directories
    and globs."""
    specs = spec if isinstance(spec, list) else [spec]
    found: dict[str, Path] = {}
    for s in specs:
        p = Path(s)
        if p.is_file():
            paths = [p]
        elif p.is_dir():
            paths = [q for q in sorted(p.iterdir()) if _is_input(q)]
        else:
            paths = [Path(q) for q in sorted(glob.glob(str(s), recursive=True)) if _is_input(Path(q))]
            if not paths:
                raise DataError("no input files", source=str(s),
                                expected="a file, a directory or a glob of CSV / JSONL / Parquet files", found=str(s))
        for q in paths:
            found[str(q.resolve())] = q
    if not found:
        raise DataError("no input files", source=", ".join(map(str, specs)),
                        expected="CSV / JSONL / Parquet files", found="none")
    return [InputFile(path=k, size=Path(k).stat().st_size, sha256=file_sha256(k)) for k in sorted(found)]
