"""Embedding cache: ``sha256(model id + "\\n" + text)`` -> float32 vector, in one SQLite file under
``nlp.config.cache_dir()/embeddings/`` (WAL mode, safe for several processes). Retraining, evaluation and
repeated predictions over the same comments then skip the encoder.

A cache that cannot be opened or written (read-only disk, corrupt file) degrades to "no cache" with a
warning; it never fails the caller. One instance may be used from several threads (the API's worker
threads share a loaded pipeline): the connection is shared under a lock.
"""
from __future__ import annotations

import hashlib
import sqlite3
import threading
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np

from ...config import cache_dir

_CHUNK = 500  # SQLite host parameters per query


def default_cache_path() -> Path:
    return cache_dir() / "embeddings" / "embeddings.sqlite"


def cache_key(model_id: str, text: str) -> bytes:
    return hashlib.sha256(f"{model_id}\n{text}".encode("utf-8", "surrogatepass")).digest()


class EmbeddingCache:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self._conn: sqlite3.Connection | None = None
        self._broken = False
        self._lock = threading.RLock()
        self.hits = 0
        self.misses = 0

    def _connect(self) -> sqlite3.Connection | None:
        if self._broken:
            return None
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("CREATE TABLE IF NOT EXISTS emb (key BLOB PRIMARY KEY, dim INTEGER NOT NULL, "
                             "vec BLOB NOT NULL) WITHOUT ROWID")
                conn.commit()
                self._conn = conn
            except (sqlite3.Error, OSError) as e:
                self._disable(e)
                return None
        return self._conn

    def _disable(self, err: Exception) -> None:
        warnings.warn(f"embedding cache disabled ({self.path}: {err})", RuntimeWarning, stacklevel=3)
        self._broken = True
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None

    def get_many(self, keys: list[bytes], dim: int) -> dict[bytes, np.ndarray]:
        """The cached vectors of ``keys`` (those of another dimension are ignored)."""
        with self._lock:
            return self._get_many(keys, dim)

    def put_many(self, items: Iterable[tuple[bytes, np.ndarray]]) -> None:
        with self._lock:
            self._put_many(items)

    def _get_many(self, keys: list[bytes], dim: int) -> dict[bytes, np.ndarray]:
        conn = self._connect()
        found: dict[bytes, np.ndarray] = {}
        if conn is None or not keys:
            self.misses += len(keys)
            return found
        try:
            for a in range(0, len(keys), _CHUNK):
                part = keys[a : a + _CHUNK]
                q = f"SELECT key, dim, vec FROM emb WHERE key IN ({','.join('?' * len(part))})"
                for key, d, vec in conn.execute(q, part):
                    if d == dim and len(vec) == 4 * dim:
                        found[bytes(key)] = np.frombuffer(vec, dtype="<f4").copy()
        except sqlite3.Error as e:
            self._disable(e)
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    def _put_many(self, items: Iterable[tuple[bytes, np.ndarray]]) -> None:
        conn = self._connect()
        if conn is None:
            return
        rows = [(k, int(v.shape[0]), np.asarray(v, dtype="<f4").tobytes()) for k, v in items]
        if not rows:
            return
        try:
            with conn:
                conn.executemany("INSERT OR REPLACE INTO emb (key, dim, vec) VALUES (?, ?, ?)", rows)
        except sqlite3.Error as e:
            self._disable(e)

    def __len__(self) -> int:
        with self._lock:
            conn = self._connect()
            if conn is None:
                return 0
            try:
                return int(conn.execute("SELECT COUNT(*) FROM emb").fetchone()[0])
            except sqlite3.Error:
                return 0

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
