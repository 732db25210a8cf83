"""Batch classification beyond one process: partitioned inputs (files, directories, globs of CSV / JSONL /
Parquet), a ``_manifest.json`` that makes re-runs resume, and a Dask distributed runner whose workers load
the model once per process (by store path and name@version; the model is never pickled per task).

``predict_partitioned(inputs, out_dir, cluster="local:2")`` is what ``cxlens predict --cluster`` calls;
``read_partitioned_predictions(out_dir)`` reads the result back in input order; ``DaskChunkExecutor``
runs the API's job chunks on a cluster (``CXLENS_DASK_SCHEDULER``). See docs/scaling.md.
Nothing here imports ``distributed`` until a cluster is used.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "InputFile": "inputs", "resolve_inputs": "inputs",
    "MANIFEST_FILE": "manifest", "Manifest": "manifest", "read_partitioned_predictions": "manifest",
    "is_partitioned": "manifest",
    "RunResult": "runner", "open_client": "runner", "predict_partitioned": "runner", "parse_cluster": "runner",
    "ModelRef": "worker", "finish_rows": "worker", "get_pipeline": "worker",
    "DaskChunkExecutor": "executor", "chunk_executor_from_env": "executor",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
