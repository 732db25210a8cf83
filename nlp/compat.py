"""Loading models pickled by an older cxlens: options added to a class since then get their defaults."""
from __future__ import annotations

import inspect
from typing import Any


def with_param_defaults(cls: type, state: dict[str, Any]) -> dict[str, Any]:
    """``state`` plus every keyword-only ``__init__`` parameter of ``cls`` it lacks, at its default."""
    out = dict(state)
    for name, p in inspect.signature(cls.__init__).parameters.items():
        if p.kind is p.KEYWORD_ONLY and p.default is not p.empty:
            out.setdefault(name, p.default)
    return out


class NewParamDefaults:
    """Mixin: unpickling fills in parameters the pickled object predates (see :func:`with_param_defaults`)."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = with_param_defaults(type(self), state)
        parent = getattr(super(), "__setstate__", None)
        if parent is not None:
            parent(state)
        else:
            self.__dict__.update(state)


#: where the modules of the first layout (before the text/ families/ labeled/ lifecycle/ subpackages) live
#: now, so that models pickled by an older cxlens still load
LEGACY_MODULES = {
    "nlp.language": "nlp.text.language",
    "nlp.segmentation": "nlp.text.segmentation",
    "nlp.lemmatizer": "nlp.text.lemmatizer",
    "nlp.pipeline": "nlp.families.pipeline",
    "nlp.classifiers": "nlp.families.heads",
    "nlp.features": "nlp.families.features",
    "nlp.ensemble": "nlp.families.ensemble",
    "nlp.encoders": "nlp.families.encoders",
    "nlp.datasets": "nlp.labeled.datasets",
    "nlp.io": "nlp.labeled.formats",
}


def _legacy_target(name: str) -> str | None:
    for old, new in LEGACY_MODULES.items():
        if name == old or name.startswith(old + "."):
            return new + name[len(old):]
    return None


class _LegacyModuleFinder:
    """A meta-path finder: ``import nlp.pipeline`` (as unpickling does) yields ``nlp.families.pipeline``, imported
    only when asked for (so a model without an encoder never imports torch)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None):
        import importlib.util

        return importlib.util.spec_from_loader(name, self) if _legacy_target(name) else None

    def create_module(self, spec: Any):
        import importlib

        return importlib.import_module(_legacy_target(spec.name))

    def exec_module(self, module: Any) -> None:
        pass


_FINDER = _LegacyModuleFinder()


def install_legacy_modules() -> None:
    """Let old module paths in pickles resolve (idempotent; called by the model store before loading)."""
    import sys

    if _FINDER not in sys.meta_path:
        sys.meta_path.append(_FINDER)
