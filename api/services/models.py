"""Loaded pipelines: the default model (loaded once at start-up) and a small cache of others.

The loader is injectable (``create_app(loader=...)``) so that tests and tools can serve a fake or a
pre-built pipeline; by default it is ``nlp.lifecycle.store.load_pipeline``.
"""
from __future__ import annotations

import contextlib

import logging
import re
import threading
from collections import OrderedDict
from typing import Any, Callable, Iterable

from nlp.errors import DataError, ModelNotFoundError

from ..errors import Unavailable

log = logging.getLogger("cxlens.api")

SPEC_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}(@[A-Za-z0-9][A-Za-z0-9._+-]{0,49})?$")

Loader = Callable[[str], Any]


def check_spec(spec: str, *, field: str = "model") -> str:
    if not isinstance(spec, str) or not SPEC_RE.match(spec.strip()):
        raise DataError("invalid model spec", field=field, expected="'name' or 'name@version'", found=spec)
    return spec.strip()


def model_info(pipeline: Any) -> dict[str, str]:
    return {"name": str(getattr(pipeline, "name", "unknown")), "version": str(getattr(pipeline, "version", "unknown"))}


def _store_loader(models_dir) -> Loader:
    def load(spec: str):
        from nlp.lifecycle.store import load_pipeline

        return load_pipeline(spec, models_dir=models_dir)

    return load


class ModelService:
    def __init__(self, *, default_spec: str, models_dir=None, loader: Loader | None = None, cache_size: int = 4,
                 train_default_if_missing: bool = True) -> None:
        self.default_spec = check_spec(default_spec, field="default_model")
        self.models_dir = models_dir
        self.loader: Loader = loader or _store_loader(models_dir)
        self.custom_loader = loader is not None
        self.cache_size = cache_size
        self.train_default_if_missing = train_default_if_missing
        self.default: Any | None = None
        self.load_error: str | None = None
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.RLock()

    # -- loading -------------------------------------------------------------------------------
    def load_default(self) -> Any:
        """Load the default model; with the stock loader, train the bundled fast model if the store is empty."""
        try:
            try:
                pipe = self.loader(self.default_spec)
            except ModelNotFoundError:
                from nlp.config import DEFAULT_MODEL_NAME

                if self.custom_loader or not self.train_default_if_missing or \
                        self.default_spec.split("@")[0] != DEFAULT_MODEL_NAME:
                    raise
                from nlp.progress import TerminalSink, active, message, reporting
                from nlp.lifecycle.store import ModelStore
                from nlp.lifecycle.training import open_model

                log.info("no model '%s' in %s: training the default model from the seed set", self.default_spec,
                         self.models_dir)
                # the server's log (stderr) shows the build's progress unless a caller already reports it
                with contextlib.nullcontext() if active() else reporting(TerminalSink()):
                    pipe = open_model(DEFAULT_MODEL_NAME, store=ModelStore(self.models_dir), progress=message)
        except Exception as e:  # noqa: BLE001 - reported by /ready
            self.load_error = f"{type(e).__name__}: {e}"
            log.error("cannot load the default model %s: %s", self.default_spec, self.load_error)
            raise
        with self._lock:
            self.default = pipe
            self.load_error = None
            self._cache.clear()
        return pipe

    def production_changed(self, name: str) -> None:
        """Model ``name`` has a new production version: when the default spec follows that name (no
        ``@version``), load the new version and swap it in without downtime (the old one keeps serving
        if it cannot be loaded); cached named models are dropped either way."""
        if self.default_spec.split("@")[0] == name and "@" not in self.default_spec:
            try:
                self.set_default(self.default_spec)
            except Exception as e:  # noqa: BLE001 - the old model keeps serving
                log.error("cannot load the new production %s: %s", name, e)
        self.clear_cache()

    def set_default(self, spec: str) -> Any:
        """Serve another model by default (e.g. a rollback); raises ModelNotFoundError."""
        spec = check_spec(spec)
        pipe = self.loader(spec)
        with self._lock:
            self.default = pipe
            self.default_spec = spec
            self.load_error = None
            self._cache.clear()
        return pipe

    def get(self, spec: str | None = None) -> Any:
        """The pipeline for ``spec`` (``None`` = the default). Raises ModelNotFoundError / Unavailable."""
        if spec is None or spec == "" or spec == self.default_spec:
            return self.require_default()
        spec = check_spec(spec)
        default = self.default
        if default is not None:
            info = model_info(default)
            if spec == f"{info['name']}@{info['version']}":
                return default
        with self._lock:
            if spec in self._cache:
                self._cache.move_to_end(spec)
                return self._cache[spec]
            pipe = self.loader(spec)
            self._cache[spec] = pipe
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
            return pipe

    def require_default(self) -> Any:
        if self.default is None:
            raise Unavailable("the default model is not loaded" + (f": {self.load_error}" if self.load_error else ""),
                              code="model_not_ready")
        return self.default

    @property
    def ready(self) -> bool:
        return self.default is not None

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    # -- listing -------------------------------------------------------------------------------
    def list_models(self) -> list[dict[str, Any]]:
        """Models in the store (``nlp.lifecycle.store.ModelStore.list``) plus the ones loaded in this process."""
        rows: list[dict[str, Any]] = []
        try:
            from nlp.lifecycle.store import ModelStore

            rows = [dict(r) for r in ModelStore(self.models_dir).list()]
        except ModuleNotFoundError:
            rows = []
        except Exception as e:  # noqa: BLE001 - a broken store must not break the listing
            log.warning("cannot list the model store %s: %s", self.models_dir, e)
        loaded = [model_info(p) for p in self.loaded()]
        default = model_info(self.default) if self.default is not None else None
        seen = set()
        out = []
        for r in rows:
            key = (str(r.get("name")), str(r.get("version")))
            seen.add(key)
            out.append(_public_row(r, loaded=any((d["name"], d["version"]) == key for d in loaded),
                                   default=default is not None and (default["name"], default["version"]) == key))
        for d in loaded:  # served models that the store does not list (a custom loader)
            key = (d["name"], d["version"])
            if key not in seen:
                seen.add(key)
                out.append(_public_row(dict(d), loaded=True,
                                       default=default is not None and (default["name"], default["version"]) == key))
        return out

    def loaded(self) -> Iterable[Any]:
        with self._lock:
            pipes = ([self.default] if self.default is not None else []) + list(self._cache.values())
        return pipes


def _public_row(r: dict[str, Any], *, loaded: bool, default: bool) -> dict[str, Any]:
    aliases = r.get("aliases") or []
    return {
        "name": str(r.get("name")),
        "version": str(r.get("version")),
        "created": None if r.get("created") is None else str(r.get("created")),
        "model_type": r.get("model_type"),
        "metrics": r.get("metrics") if isinstance(r.get("metrics"), dict) else {},
        "aliases": [str(a) for a in aliases] if isinstance(aliases, (list, tuple)) else [],
        "loaded": loaded,
        "default": default,
    }
