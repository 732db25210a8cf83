"""Classification of a batch of documents with per-document errors: one bad document never fails the
others (a pipeline failure on the batch is retried document by document)."""
from __future__ import annotations

import logging
from typing import Any, Sequence

from nlp.errors import CxlensError, DataError
from nlp.schema import Document, document_from_dict

from .models import model_info

log = logging.getLogger("cxlens.api")


def item_error(index: int, doc_id: Any, code: str, message: str, loc: Sequence[Any]) -> dict[str, Any]:
    return {"index": index, "id": None if doc_id is None else str(doc_id), "code": code, "message": message,
            "loc": list(loc)}


def item_code(e: DataError) -> str:
    """The code of one bad batch item: its own specific code, else ``invalid_document``."""
    return "invalid_document" if e.code == DataError.code else e.code


def _short(e: DataError) -> str:
    """The DataError message without row/source (the index says where)."""
    return str(DataError(e.reason, field=e.field, expected=e.expected, found=e.found))


def validate_document(raw: Any, *, index: int, max_chars: int) -> Document:
    """One request item -> Document; raises DataError (with ``.code`` set) for a bad item."""
    if isinstance(raw, str):
        raw = {"text": raw}
    doc = document_from_dict(raw, default_id=str(index))
    if len(doc.text) > max_chars:
        raise DataError("text too long", field="text", expected=f"at most {max_chars} characters",
                        found=f"{len(doc.text)} characters", code="text_too_long")
    if not doc.text.strip():
        raise DataError("empty text", field="text", expected="a non-empty string", found=doc.text, code="empty_text")
    return doc


def validate_documents(items: Sequence[Any], *, max_chars: int, loc_prefix: Sequence[Any] = ("body", "documents")
                       ) -> tuple[list[tuple[int, Document]], list[dict[str, Any]]]:
    """Validate request items; returns ``[(index, Document)]`` and per-item errors (ids must be unique)."""
    docs: list[tuple[int, Document]] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, raw in enumerate(items):
        raw_id = raw.get("id") if isinstance(raw, dict) else None
        try:
            doc = validate_document(raw, index=i, max_chars=max_chars)
        except DataError as e:
            loc = [*loc_prefix, i] + ([e.field] if e.field else [])
            errors.append(item_error(i, raw_id if isinstance(raw_id, (str, int)) else None,
                                     item_code(e), _short(e), loc))
            continue
        if doc.id in seen:
            errors.append(item_error(i, doc.id, "duplicate_id", f"duplicate id {doc.id!r} in this request",
                                     [*loc_prefix, i, "id"]))
            continue
        seen.add(doc.id)
        docs.append((i, doc))
    return docs, errors


def request_chars(items: Sequence[Any]) -> int:
    """Characters of text in a request's documents (the cost charged to the key's budget)."""
    n = 0
    for raw in items:
        text = raw if isinstance(raw, str) else (raw.get("text") if isinstance(raw, dict) else None)
        if isinstance(text, str):
            n += len(text)
    return n


def predict_isolated(pipeline: Any, docs: Sequence[Document], *, batch_size: int = 256) -> list[dict | Exception]:
    """Predict a batch; if the batch call fails, predict one by one so that only the bad ones fail."""
    if not docs:
        return []
    try:
        rows = list(pipeline.predict(list(docs), batch_size=batch_size))
        if len(rows) == len(docs):
            return [_fix_row(r, d) for r, d in zip(rows, docs)]
        log.warning("pipeline returned %d rows for %d documents; retrying one by one", len(rows), len(docs))
    except Exception as e:  # noqa: BLE001
        if len(docs) == 1:
            return [e]
        log.warning("batch prediction failed (%s); retrying one by one", type(e).__name__)
    out: list[dict | Exception] = []
    for d in docs:
        try:
            rows = list(pipeline.predict([d], batch_size=1))
            out.append(_fix_row(rows[0], d) if len(rows) == 1 else RuntimeError("no prediction returned"))
        except Exception as e:  # noqa: BLE001
            out.append(e)
    return out


def _fix_row(row: dict, doc: Document) -> dict:
    if row.get("id") != doc.id:
        row = {**row, "id": doc.id}
    return row


def failure_message(e: Exception) -> tuple[str, str]:
    """(code, message) for a per-document prediction failure, without internals."""
    if isinstance(e, DataError):
        return item_code(e), _short(e)
    if isinstance(e, CxlensError):
        return "prediction_failed", str(e)
    log.error("prediction failed: %s: %s", type(e).__name__, e)
    return "prediction_failed", "the model could not classify this document"


def classify(pipeline: Any, items: Sequence[Any], *, max_chars: int) -> dict[str, Any]:
    """The ``POST /v1/classify`` response body."""
    docs, errors = validate_documents(items, max_chars=max_chars)
    preds = predict_isolated(pipeline, [d for _, d in docs])
    results = []
    for (i, doc), pred in zip(docs, preds):
        if isinstance(pred, Exception):
            code, msg = failure_message(pred)
            errors.append(item_error(i, doc.id, code, msg, ["body", "documents", i]))
        else:
            results.append({"index": i, **pred})
    errors.sort(key=lambda e: e["index"])
    return {
        "model": model_info(pipeline),
        "results": results,
        "errors": errors,
        "counts": {"received": len(items), "ok": len(results), "failed": len(errors)},
    }
