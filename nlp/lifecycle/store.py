"""Versioned model store: ``<models_dir>/<name>/<version>/`` with ``model.joblib`` + ``meta.json``;
``<models_dir>/<name>/aliases.json`` maps aliases (``production``) to versions.

A spec is ``NAME`` (the ``production`` alias), ``NAME@VERSION``, ``NAME@latest`` or ``NAME@ALIAS``.
Versions are increasing integers ("1", "2", ...). What ``NAME`` serves changes only by promotion: the
first version of a model is promoted as part of its training (when it clears the gate's sanity floor),
later versions are candidates until ``cxlens models promote``. A store made before that rule, with
versions but neither an alias nor a history, still serves its latest version.

The store is the only code that reads or writes a version folder and the aliases/history: training
saves a version (with its artifacts), the gate's comparison, the held-out items and the model card go
through :meth:`ModelStore.write_artifact`, promotion and rollback through :meth:`ModelStore.record_event`.
Every write holds :func:`nlp.locks.dir_lock` of the store folder (one lock per folder for all threads and
``ModelStore`` objects of a process, and an ``flock`` between processes) and is atomic.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import joblib

from .. import __version__
from ..compat import install_legacy_modules
from ..config import DEFAULT_MODEL_NAME, models_dir
from ..errors import DataError, ModelNotFoundError
from ..locks import atomic_write_text, dir_lock

MODEL_FILE = "model.joblib"
PRODUCTION = "production"
COMPARISON_FILE = "comparison.json"
HELDOUT_FILE = "heldout.jsonl"
CARD_FILE = "MODEL_CARD.md"
#: the files of a version folder besides the model and meta.json, each written only through this store
ARTIFACTS = (COMPARISON_FILE, HELDOUT_FILE, CARD_FILE)
META_FILE = "meta.json"
ALIASES_FILE = "aliases.json"
HISTORY_FILE = "history.json"
_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def library_versions() -> dict[str, str]:
    import numpy
    import sklearn
    import spacy

    return {"cxlens": __version__, "python": platform.python_version(), "scikit-learn": sklearn.__version__,
            "numpy": numpy.__version__, "spacy": spacy.__version__, "joblib": joblib.__version__}


def check_name(name: str) -> str:
    if not name or not set(name) <= _NAME_OK or name.startswith("."):
        raise DataError(field="name", expected="a model name of letters, digits, '-', '_' or '.'", found=name)
    return name


def parse_spec(spec: str) -> tuple[str, str | None]:
    name, _, version = spec.partition("@")
    return check_name(name.strip()), (version.strip() or None)


class ModelStore:
    """Save, list, resolve and load model versions."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else models_dir()

    def _lock(self):
        return dir_lock(self.root)

    # -- layout ----------------------------------------------------------------------------------
    def path(self, name: str, version: str) -> Path:
        return self.root / check_name(name) / str(version)

    def versions(self, name: str) -> list[str]:
        d = self.root / check_name(name)
        if not d.is_dir():
            return []
        vs = [p.name for p in d.iterdir() if p.is_dir() and (p / META_FILE).exists() and p.name.isdigit()]
        return sorted(vs, key=int)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and self.versions(p.name))

    def aliases(self, name: str) -> dict[str, str]:
        f = self.root / check_name(name) / ALIASES_FILE
        return json.loads(f.read_text(encoding="utf-8")) if f.exists() else {}

    def set_alias(self, name: str, alias: str, version: str) -> None:
        if version not in self.versions(name):
            raise ModelNotFoundError(f"model '{name}' has no version '{version}'; versions: {self.versions(name)}")
        with self._lock():
            aliases = self.aliases(name)
            aliases[alias] = version
            self._write_json(self.root / name / ALIASES_FILE, aliases)

    def resolve(self, spec: str) -> tuple[str, str]:
        name, version = parse_spec(spec)
        versions = self.versions(name)
        if not versions:
            known = self.names()
            raise ModelNotFoundError(f"no model named '{name}' in {self.root}"
                                     + (f"; available: {', '.join(known)}" if known else "; train one with `cxlens train`"))
        if version is None:
            version = self.aliases(name).get("production")
            if version is None:
                if self.history(name):
                    raise ModelNotFoundError(f"model '{name}' has no production version (versions: {versions}); "
                                             f"promote one with `cxlens models promote {name}@VERSION`")
                version = versions[-1]  # a store from before explicit promotion
        elif version == "latest":
            version = versions[-1]
        elif not version.isdigit():
            alias = self.aliases(name).get(version)
            if alias is None:
                raise ModelNotFoundError(f"model '{name}' has no version or alias '{version}'; versions: {versions}")
            version = alias
        if version not in versions:
            raise ModelNotFoundError(f"model '{name}' has no version '{version}'; versions: {versions}")
        return name, version

    # -- meta / load / save ----------------------------------------------------------------------
    def meta(self, name: str, version: str) -> dict[str, Any]:
        return json.loads((self.path(name, version) / META_FILE).read_text(encoding="utf-8"))

    def load(self, spec: str):
        name, version = self.resolve(spec)
        install_legacy_modules()  # models pickled before the subpackage layout
        pipeline = joblib.load(self.path(name, version) / MODEL_FILE)
        pipeline.name, pipeline.version = name, version
        pipeline.meta = self.meta(name, version)
        return pipeline

    def save(self, pipeline, name: str, *, meta: dict[str, Any] | None = None,
             artifacts: dict[str, str] | None = None) -> str:
        """Write a new version atomically (temp dir + rename) and return its version string; ``artifacts``
        (file name -> text, names from :data:`ARTIFACTS`) are written into it in the same step."""
        for filename in artifacts or {}:
            if filename not in ARTIFACTS:
                raise DataError("not a version artifact", field="artifacts", expected=f"names from {list(ARTIFACTS)}",
                                found=filename)
        check_name(name)
        with self._lock():
            (self.root / name).mkdir(parents=True, exist_ok=True)
            existing = self.versions(name)
            version = str(int(existing[-1]) + 1 if existing else 1)
            tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=self.root / name))
            try:
                pipeline.name, pipeline.version = name, version
                full_meta = {"name": name, "version": version,
                             "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                             "model_type": getattr(pipeline, "model_type", "unknown"),
                             "labels": list(getattr(pipeline, "labels_", []) or []),
                             "sentiment_labels": [str(c) for c in getattr(getattr(pipeline, "sentiment_", None), "classes_", [])],
                             "thresholds": getattr(pipeline, "thresholds", {}),
                             "encoder_backend": getattr(pipeline, "encoder_backend", None),
                             "libraries": library_versions(), **(meta or {})}
                pipeline.meta = full_meta
                joblib.dump(pipeline, tmp / MODEL_FILE, compress=3)
                self._write_json(tmp / META_FILE, full_meta)
                for filename, text in (artifacts or {}).items():
                    (tmp / filename).write_text(text, encoding="utf-8")
                os.replace(tmp, self.path(name, version))
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return version

    def update_meta(self, name: str, version: str, patch: dict[str, Any]) -> dict[str, Any]:
        """Merge ``patch`` into a saved version's ``meta.json`` (e.g. who promoted it and why)."""
        if version not in self.versions(name):
            raise ModelNotFoundError(f"model '{name}' has no version '{version}'; versions: {self.versions(name)}")
        with self._lock():
            meta = {**self.meta(name, version), **patch}
            self._write_json(self.path(name, version) / META_FILE, meta)
        return meta

    def history(self, name: str) -> list[dict[str, Any]]:
        """Promotion / rollback events of a model, oldest first (``<name>/history.json``)."""
        f = self.root / check_name(name) / HISTORY_FILE
        return json.loads(f.read_text(encoding="utf-8")) if f.exists() else []

    def append_history(self, name: str, event: dict[str, Any]) -> None:
        with self._lock():
            events = self.history(name) + [event]
            self._write_json(self.root / check_name(name) / HISTORY_FILE, events)

    def list(self) -> list[dict[str, Any]]:
        out = []
        for name in self.names():
            aliases = self.aliases(name)
            for v in self.versions(name):
                m = self.meta(name, v)
                out.append({"name": name, "version": v, "created": m.get("created"), "model_type": m.get("model_type"),
                            "encoder_backend": m.get("encoder_backend"), "metrics": m.get("metrics", {}),
                            "aliases": sorted(a for a, x in aliases.items() if x == v)})
        return out

    def record_event(self, name: str, event: dict[str, Any], *, production: str | None = None,
                     meta_patch: dict[str, Any] | None = None) -> dict[str, Any]:
        """One locked write of a lifecycle event: the ``production`` alias moved (when given), the event
        appended to the history, and ``meta_patch`` merged into the event's version's ``meta.json``; a
        concurrent promotion and training never interleave their alias/history writes."""
        with self._lock():
            if production is not None:
                self.set_alias(name, PRODUCTION, production)
            self.append_history(name, event)
            if meta_patch:
                self.update_meta(name, str(event["version"]), meta_patch)
        return event

    # -- the other files of a version folder (written only here) -----------------------------------
    def _artifact(self, name: str, version: str, filename: str) -> Path:
        if filename not in ARTIFACTS:
            raise DataError("not a version artifact", field="filename", expected=f"one of {list(ARTIFACTS)}",
                            found=filename)
        if version not in self.versions(name):
            raise ModelNotFoundError(f"model '{name}' has no version '{version}'; versions: {self.versions(name)}")
        return self.path(name, version) / filename

    def write_artifact(self, name: str, version: str, filename: str, text: str) -> Path:
        """Write one of :data:`ARTIFACTS` into a version folder (atomically, under the store's lock)."""
        path = self._artifact(name, version, filename)
        with self._lock():
            atomic_write_text(path, text)
        return path

    def read_artifact(self, name: str, version: str, filename: str) -> str | None:
        path = self._artifact(name, version, filename)
        return path.read_text(encoding="utf-8") if path.exists() else None

    def comparison(self, name: str, version: str) -> dict[str, Any] | None:
        """The gate's comparison stored with a version (``None`` before one was made)."""
        text = self.read_artifact(name, version, COMPARISON_FILE)
        return json.loads(text) if text is not None else None

    def write_comparison(self, name: str, version: str, comparison: dict[str, Any]) -> None:
        self.write_artifact(name, version, COMPARISON_FILE, json.dumps(comparison, ensure_ascii=False, indent=2))

    @staticmethod
    def _write_json(path: Path, data: Any) -> None:
        atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=2))


def load_pipeline(spec: str = DEFAULT_MODEL_NAME, *, models_dir: str | Path | None = None):
    """Load a saved pipeline by spec (``name``, ``name@version`` or ``name@alias``)."""
    return ModelStore(models_dir).load(spec)
