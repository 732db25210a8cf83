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
