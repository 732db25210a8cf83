"""Locks and atomic writes for the folders cxlens owns (the model store, the dataset store).

:func:`dir_lock` serialises read-modify-write of one folder across the threads of a process (one
re-entrant lock per folder, whatever object holds the path) and across processes on POSIX (an ``flock`` on
``<folder>/.lock``, taken once by the outermost holder in a thread). :func:`atomic_write_text` writes a
file by temporary name + rename, so readers never see half a file.
"""
from __future__ import annotations

import os
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

_REGISTRY_LOCK = threading.Lock()
_LOCKS: dict[str, threading.RLock] = {}
_HELD = threading.local()


def _rlock(key: str) -> threading.RLock:
    with _REGISTRY_LOCK:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = threading.RLock()
        return lock


@contextmanager
def dir_lock(folder: str | Path) -> Iterator[None]:
    """Hold the lock of ``folder`` (created if missing) for the duration of the block."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    key = str(path.resolve())
    lock = _rlock(key)
    with lock:
        depth = getattr(_HELD, key, 0)
        setattr(_HELD, key, depth + 1)
        fh = None
        try:
            if depth == 0:
                fh = open(path / ".lock", "a+")
                try:
                    import fcntl

                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                except ImportError:  # not POSIX: the thread lock alone
                    pass
            yield
        finally:
            setattr(_HELD, key, depth)
            if fh is not None:
                fh.close()  # releases the flock


def atomic_write_text(path: str | Path, text: str) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
