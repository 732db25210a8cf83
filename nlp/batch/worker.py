"""What runs inside a worker process: the per-process model cache, the Dask worker plugin that fills it
when a worker starts, and the task that classifies one partition and writes it.

The model travels as a :class:`ModelRef` (store path + name + version: three strings); each process loads
it from the store once (:func:`get_pipeline`) and keeps it for every later task. Workers therefore need
the model store and the output directory on a path they can reach (the same machine, or a shared file
system: docs/scaling.md).
"""
from __future__ import annotations

import gc
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..schema import Document


@dataclass(frozen=True)
class ModelRef:
    store: str  #: absolute path of the model store
    name: str
    version: str

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"


_CACHE: dict[ModelRef, Any] = {}
_LOCK = threading.Lock()  # one load per process; prediction runs one task at a time per process
LOADS = {"count": 0}  #: how many times this process loaded a model (tests check "once per process")


def get_pipeline(ref: ModelRef):
    """The pipeline of ``ref``, loaded from the store on first use in this process."""
    pipe = _CACHE.get(ref)
    if pipe is not None:
        return pipe
    with _LOCK:
        pipe = _CACHE.get(ref)
        if pipe is None:
            from ..lifecycle.store import ModelStore

            pipe = ModelStore(ref.store).load(ref.spec)
            gc.collect()
            gc.freeze()  # the loaded model is long-lived: keep the collector from rescanning it
            _CACHE[ref] = pipe
            LOADS["count"] += 1
    return pipe


def cache_info() -> dict[str, Any]:
    return {"pid": os.getpid(), "models": [r.spec for r in _CACHE], "loads": LOADS["count"]}


def finish_rows(docs: Sequence[Document], preds: list[dict[str, Any]], *, with_text: bool = False,
                keep_columns: bool = False) -> list[dict[str, Any]]:
    """The per-row additions of ``cxlens predict``: the row's decoding warnings first, then ``text`` and
    ``input`` when asked for. One function for the single-process command and the cluster tasks."""
    for d, p in zip(docs, preds):
        if d.warnings:
            p["warnings"] = [*d.warnings, *p["warnings"]]
        if with_text:
            p["text"] = d.text
        if keep_columns:
            p["input"] = d.extra
    return preds


def _reason(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


_PREDICT_LOCK = threading.Lock()  # a worker with several threads predicts one task at a time (GIL-bound anyway)


def predict_documents(pipeline, docs: list[Document], *, rows: Sequence[int] | None = None,
                      source: str | None = None
                      ) -> tuple[list[Document], list[dict[str, Any]], list[dict[str, Any]]]:
    """(documents kept, their prediction rows, errors). A batch that fails is retried row by row, so one bad
    row becomes an error with its reason and the partition keeps all the others. ``rows``: the documents'
    data rows in their file (for the errors)."""
    with _PREDICT_LOCK:
        try:
            return docs, pipeline.predict(docs, n_jobs=1), []
        except Exception:  # noqa: BLE001 - isolate the row(s) that fail, below
            pass
        kept, preds, errors = [], [], []
        for k, d in enumerate(docs):
            try:
                preds.extend(pipeline.predict([d], n_jobs=1))
                kept.append(d)
            except Exception as e:  # noqa: BLE001
                errors.append({"source": source, "row": rows[k] if rows is not None else None, "field": None,
                               "id": d.id, "stage": "predict", "message": f"{type(e).__name__}: {e}"})
        return kept, preds, errors


def write_partition(rows: list[dict[str, Any]], path: str | Path, fmt: str) -> int:
    """One output partition, atomically (temp file + rename): a partition file is complete or absent."""
    from ..labeled.formats import write_predictions_parquet
    from ..locks import atomic_write_text

    if fmt == "parquet":
        return write_predictions_parquet(rows, path)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return len(rows)


def classify_partition(ref: ModelRef, docs: list[Document], out_path: str, fmt: str, *, source: str | None = None,
                       rows: Sequence[int] | None = None, with_text: bool = False, keep_columns: bool = False,
                       errors_path: str | None = None) -> dict[str, Any]:
    """The task: classify ``docs`` with the process's cached model, write the partition (and its errors
    file when a row failed), return a small summary (never the rows)."""
    pipeline = get_pipeline(ref)
    kept, preds, errors = predict_documents(pipeline, docs, rows=rows, source=source)
    finish_rows(kept, preds, with_text=with_text, keep_columns=keep_columns)
    n = write_partition(preds, out_path, fmt)
    if errors_path:
        from ..locks import atomic_write_text

        if errors:
            atomic_write_text(errors_path, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in errors))
        else:
            Path(errors_path).unlink(missing_ok=True)
    return {"rows": n, "errors": len(errors), "pid": os.getpid(), "path": out_path}


def load_check(ref: ModelRef) -> dict[str, Any]:
    """A task that only makes sure the model is loaded here (used before the first partition)."""
    get_pipeline(ref)
    return cache_info()



def with_model(ref: ModelRef, fn, *args: Any) -> Any:
    """A task: ``fn(pipeline, *args)`` with this process's cached pipeline of ``ref`` (``fn`` travels by
    reference, e.g. ``api.services.classify.predict_isolated``)."""
    return fn(get_pipeline(ref), *args)
