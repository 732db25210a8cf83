"""A thread-safe holder of the served model, for switching versions without downtime.

``swap`` loads the new version first (outside the lock, while the old one keeps serving), then
replaces the reference in one assignment, then drops the old one. A caller that got the old pipeline
from :meth:`ModelRegistry.get` keeps it for the rest of its request, so in-flight predictions finish
on the version they started with and every prediction row names the version that made it.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from ..config import DEFAULT_MODEL_NAME
from ..errors import NotFittedError

Loader = Callable[[str], Any]


class ModelRegistry:
    """``get()`` -> the current pipeline; ``swap(spec)`` -> load, swap, unload; ``refresh()`` follows
    the store's ``production`` alias (after a ``cxlens models promote`` / ``rollback`` elsewhere)."""

    def __init__(self, spec: str = DEFAULT_MODEL_NAME, *, models_dir: str | Path | None = None,
                 loader: Loader | None = None, load: bool = True) -> None:
        from .store import ModelStore

        self.spec = spec
        self.store = ModelStore(models_dir)
        self._loader: Loader = loader or self.store.load
        self._current: Any | None = None
        self._swap_lock = threading.Lock()  # one load/swap at a time; readers never wait on it
        self.swaps = 0
        if load:
            self._current = self._loader(spec)

    def get(self) -> Any:
        current = self._current  # one reference read: atomic under the GIL, no lock on the hot path
        if current is None:
            raise NotFittedError(f"no model loaded for '{self.spec}'")
        return current

    @property
    def version(self) -> tuple[str, str] | None:
        cur = self._current
        return (cur.name, cur.version) if cur is not None else None

    def predict(self, docs, **kw) -> list[dict]:
        return self.get().predict(docs, **kw)

    def swap(self, spec: str | None = None) -> Any:
        """Load ``spec`` (default: this registry's spec, re-resolved), then make it current.
        If loading fails, the old model keeps serving and the error propagates."""
        with self._swap_lock:
            new = self._loader(spec or self.spec)
            old, self._current = self._current, new
            if spec is not None:
                self.spec = spec
            self.swaps += 1
        del old  # the last reference held here; requests still using it keep theirs
        return new

    def refresh(self) -> bool:
        """Swap if the spec now resolves to another version (e.g. the production alias moved)."""
        name, version = self.store.resolve(self.spec)
        cur = self.version
        if cur == (name, version):
            return False
        self.swap()
        return True


__all__ = ["ModelRegistry"]
