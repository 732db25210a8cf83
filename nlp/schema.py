"""The data contract shared by every layer (see docs/formats.md).

* input rows: ``id`` (optional), ``text`` (required), ``lang`` (optional), other keys pass through;
* labeled rows: the ../shared/data JSONL schema: ``text``, ``sentiment``, ``aspects`` =
  ``[{"category", "polarity", "from"?, "to"?, "target"?}]``;
* prediction rows: see :func:`prediction_row`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .errors import DataError

SENTIMENTS: tuple[str, ...] = ("positive", "negative", "neutral", "mixed")
ASPECT_POLARITIES: tuple[str, ...] = ("positive", "negative", "neutral", "conflict")
#: polarities a model predicts for a touchpoint ("conflict" exists only in some source data)
PREDICTED_POLARITIES: tuple[str, ...] = ("positive", "negative", "neutral")

MAX_TEXT_CHARS = 20_000


@dataclass(frozen=True)
class Aspect:
    category: str
    polarity: str
    start: int | None = None
    end: int | None = None

    def to_dict(self, text: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"category": self.category, "polarity": self.polarity}
        if self.start is not None and self.end is not None:
            out["from"], out["to"] = self.start, self.end
            if text is not None:
                out["target"] = text[self.start : self.end]
        return out


@dataclass
class Example:
    """One labeled comment. ``aspects is None`` means "no aspect annotation" (not "none present")."""

    text: str
    sentiment: str | None = None
    aspects: list[Aspect] | None = None
    id: str | None = None
    lang: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def categories(self) -> list[str]:
        return sorted({a.category for a in self.aspects or []})

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "text": self.text}
        if self.lang:
            out["lang"] = self.lang
        out["sentiment"] = self.sentiment
        if self.aspects is not None:
            out["aspects"] = [a.to_dict(self.text) for a in self.aspects]
        out.update({k: v for k, v in self.extra.items() if k not in out})
        return out


def _require_text(raw: Mapping[str, Any], *, row: int | str | None, source: str | None) -> str:
    if "text" not in raw or raw["text"] is None:
        raise DataError("missing required field", field="text", expected="a string", found=None, row=row, source=source)
    text = raw["text"]
    if not isinstance(text, str):
        raise DataError(field="text", expected="a string", found=text, row=row, source=source)
    return text


def example_from_dict(raw: Mapping[str, Any], *, row: int | str | None = None, source: str | None = None,
                      labels: Iterable[str] | None = None) -> Example:
    """Validate one labeled row (JSONL training schema) and build an :class:`Example`.

    ``labels``: when given, the allowed aspect categories (unknown ones are an error).
    """
    if not isinstance(raw, Mapping):
        raise DataError(expected="a JSON object", found=type(raw).__name__, row=row, source=source)
    text = _require_text(raw, row=row, source=source)
    if not text.strip():
        raise DataError("empty text", field="text", expected="a non-empty string", found=text, row=row, source=source)
    sentiment = raw.get("sentiment")
    if sentiment is not None and sentiment not in SENTIMENTS:
        raise DataError(field="sentiment", expected=f"one of {'|'.join(SENTIMENTS)} or null", found=sentiment,
                        row=row, source=source)
    aspects_raw = raw.get("aspects")
    aspects: list[Aspect] | None = None
    allowed = set(labels) if labels is not None else None
    if aspects_raw is not None:
        if not isinstance(aspects_raw, list):
            raise DataError(field="aspects", expected="a list of objects", found=aspects_raw, row=row, source=source)
        aspects = []
        for i, a in enumerate(aspects_raw):
            loc = f"aspects[{i}]"
            if not isinstance(a, Mapping):
                raise DataError(field=loc, expected="an object", found=a, row=row, source=source)
            cat = a.get("category")
            if not isinstance(cat, str) or not cat.strip():
                raise DataError(field=f"{loc}.category", expected="a non-empty string", found=cat, row=row, source=source)
            cat = cat.strip()
            if allowed is not None and cat not in allowed:
                raise DataError("unknown label", field=f"{loc}.category", expected=f"one of {sorted(allowed)}",
                                found=cat, row=row, source=source)
            pol = a.get("polarity")
            if pol not in ASPECT_POLARITIES:
                raise DataError(field=f"{loc}.polarity", expected=f"one of {'|'.join(ASPECT_POLARITIES)}", found=pol,
                                row=row, source=source)
            start, end = a.get("from"), a.get("to")
            if start is not None or end is not None:
                ok = (type(start) is int and type(end) is int  # bool is an int subclass: not an offset
                      and 0 <= start < end <= len(text))
                if not ok:
                    raise DataError("evidence offsets out of the text", field=f"{loc}.from/to",
                                    expected=f"0 <= from < to <= {len(text)}", found=(start, end), row=row, source=source)
                target = a.get("target")
                if target is not None and text[start:end] != target:
                    raise DataError("evidence not in text", field=f"{loc}.target",
                                    expected=f"text[{start}:{end}] == target", found=target, row=row, source=source)
            aspects.append(Aspect(cat.strip(), pol, start, end))
    rid = raw.get("id")
    lang = raw.get("lang")
    extra = {k: v for k, v in raw.items() if k not in {"id", "text", "lang", "sentiment", "aspects"}}
    return Example(text=text, sentiment=sentiment, aspects=aspects, id=None if rid is None else str(rid),
                   lang=lang if isinstance(lang, str) else None, extra=extra)


@dataclass
class Document:
    """One input row to classify. ``extra`` holds the pass-through columns."""

    id: str
    text: str
    lang: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: reading warnings for this row (e.g. invalid UTF-8 bytes replaced); callers add them to its prediction
    warnings: list[str] = field(default_factory=list)


def document_from_dict(raw: Mapping[str, Any], *, row: int | str | None = None, source: str | None = None,
                       default_id: str | None = None) -> Document:
    if not isinstance(raw, Mapping):
        raise DataError(expected="a JSON object", found=type(raw).__name__, row=row, source=source)
    text = _require_text(raw, row=row, source=source)
    rid = raw.get("id")
    if rid is None or (isinstance(rid, str) and not rid.strip()):
        rid = default_id if default_id is not None else str(row)
    elif not isinstance(rid, (str, int)):
        raise DataError(field="id", expected="a string or integer", found=rid, row=row, source=source)
    lang = raw.get("lang")
    if lang is not None and not isinstance(lang, str):
        raise DataError(field="lang", expected="a language code such as 'ru' or 'en'", found=lang, row=row, source=source)
    extra = {k: v for k, v in raw.items() if k not in {"id", "text", "lang"}}
    return Document(id=str(rid), text=text, lang=(lang or None), extra=extra)


def prediction_row(*, id: str, lang: str, sentiment: str, sentiment_scores: Mapping[str, float],
                   touchpoints: list[dict[str, Any]], model_name: str, model_version: str,
                   warnings: list[str]) -> dict[str, Any]:
    """Build one prediction row: the output contract of every model family."""
    return {
        "id": id,
        "lang": lang,
        "sentiment": {"label": sentiment, "scores": {k: round(float(v), 4) for k, v in sentiment_scores.items()}},
        "touchpoints": touchpoints,
        "model": {"name": model_name, "version": model_version},
        "warnings": warnings,
    }
