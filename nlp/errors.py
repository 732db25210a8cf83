"""The one hierarchy of cxlens domain errors (the ``nlp``, ``cx`` and ``api`` layers raise these).

Every error has a stable, machine-readable :attr:`~CxlensError.code` (documented in docs/api.md; the API
passes it through as ``error.code``, the CLI prints it with the message) and names *where* (file, row,
field) and *what was expected*, so that the CLI can print one clear line and the API can map it to a 4xx
response in one place (``api/errors.py``). A raise site may give a more specific ``code=``.
"""
from __future__ import annotations


class CxlensError(Exception):
    """Base class of all cxlens domain errors."""

    #: stable machine-readable code (snake_case); subclasses set their own, a raise site may refine it
    code = "cxlens_error"

    def __init__(self, *args: object, code: str | None = None) -> None:
        super().__init__(*args)
        if code is not None:
            self.code = code


class DataError(CxlensError, ValueError):
    """A bad input value: which source/row/field, what was expected, what was found."""

    code = "invalid_data"

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        expected: str | None = None,
        found: object = None,
        row: int | str | None = None,
        source: str | None = None,
        code: str | None = None,
    ) -> None:
        if code is not None:
            self.code = code
        self.field = field
        self.expected = expected
        self.found = found
        self.row = row
        self.source = source
        self.reason = message
        Exception.__init__(self, self._format())

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
            "code": self.code,
            "message": str(self),
        }


class ModelNotFoundError(CxlensError, LookupError):
    """A model name or version that is not in the model store (or a name with no production version)."""

    code = "model_not_found"


class NotFittedError(CxlensError, ValueError, AttributeError, RuntimeError):
    """An estimator or pipeline used before ``fit`` (or a model with no such head): the only one cxlens
    raises (its heads check fittedness themselves, not through scikit-learn's helper).
    Like scikit-learn's, it is a ``ValueError`` and an ``AttributeError`` (and, as before, a ``RuntimeError``);
    importing scikit-learn here would cost every command's start-up a few seconds."""

    code = "not_fitted"


class PromotionRefused(CxlensError):
    """The gate refused a promotion; ``failures`` names each metric/label that got worse."""

    code = "gate_refused"

    def __init__(self, message: str, *, failures=(), decision: dict | None = None) -> None:
        super().__init__(message)
        self.failures = list(failures)
        self.decision = decision or {}

