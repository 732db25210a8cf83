"""Domain exceptions of the NLP layer.

Every error names *where* (file, row, field) and *what was expected*, so that the CLI can print
one clear line and the API can map it to a 4xx response in one place.
"""
from __future__ import annotations


class CxlensError(Exception):
    """Base class of all cxlens domain errors."""


class DataError(CxlensError, ValueError):
    """A bad input value: which source/row/field, what was expected, what was found."""

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        expected: str | None = None,
        found: object = None,
        row: int | str | None = None,
        source: str | None = None,
    ) -> None:
        self.field = field
        self.expected = expected
        self.found = found
        self.row = row
        self.source = source
        self.reason = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.source:
            where.append(str(self.source))
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field:
            where.append(f"field '{self.field}'")
        head = ", ".join(where)
        parts = []
        if self.reason:
            parts.append(self.reason)
        if self.expected is not None:
            found = self.found
            if isinstance(found, str) and len(found) > 60:
                found = found[:57] + "..."
            parts.append(f"expected {self.expected}, found {found!r}")
        body = "; ".join(parts) or "invalid value"
        return f"{head}: {body}" if head else body

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "row": self.row,
            "field": self.field,
            "expected": self.expected,
            "message": str(self),
        }


class ModelNotFoundError(CxlensError, LookupError):
    """A model name or version that is not in the model store."""


class NotFittedError(CxlensError, RuntimeError):
    """An estimator used before `fit`."""
