"""Where cxlens keeps things on disk. Environment variables override the defaults:

* ``CXLENS_MODELS_DIR``: the model store (default ``./models``, the repo's ``models/`` when run from it);
* ``CXLENS_CACHE_DIR``: rebuildable caches such as converted encoder weights and embeddings
  (default ``$XDG_CACHE_HOME/cxlens`` or ``~/.cache/cxlens``);
* ``CXLENS_DATA_DIR``: service state such as the SQLite database (default ``$XDG_DATA_HOME/cxlens`` or
  ``~/.local/share/cxlens``);
* ``CXLENS_DEFAULT_MODEL_TYPE``: the model family of the default model built from the bundled seed set
  (default ``finetuned``; ``fast`` builds in seconds without torch work, e.g. for tests).
"""
from __future__ import annotations

import os
from pathlib import Path

DEFAULT_MODEL_NAME = "cx-touchpoints"
#: the family that measured best on the seed dev split at >= 150 comments/s (docs/quality.md)
SHIPPED_MODEL_TYPE = "finetuned"


def _env_path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser() if value else default


def models_dir() -> Path:
    return _env_path("CXLENS_MODELS_DIR", Path("models"))


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return _env_path("CXLENS_CACHE_DIR", base / "cxlens")


def data_dir() -> Path:
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return _env_path("CXLENS_DATA_DIR", base / "cxlens")


def default_model_type() -> str:
    """Family of the default model: ``$CXLENS_DEFAULT_MODEL_TYPE`` or :data:`SHIPPED_MODEL_TYPE`."""
    value = os.environ.get("CXLENS_DEFAULT_MODEL_TYPE", "").strip() or SHIPPED_MODEL_TYPE
    from .families.registry import family_names

    if value not in family_names():
        from .errors import DataError

        raise DataError(field="CXLENS_DEFAULT_MODEL_TYPE", expected=f"one of {list(family_names())}", found=value)
    return value
