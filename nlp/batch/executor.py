"""Job chunks on a Dask cluster: what ``CXLENS_DASK_SCHEDULER=tcp://HOST:PORT`` plugs into the API's job
worker (``api.services.jobs``). The job worker keeps reading the upload, checkpointing and committing
chunks exactly as without a cluster; only the prediction of a chunk runs as a task on a cluster worker,
with that worker's cached model (:func:`nlp.batch.worker.get_pipeline`: loaded once per process from the
store by name@version, never pickled). If the scheduler cannot be reached or a task fails even after its
retries, the chunk is predicted locally and the job goes on.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from .worker import ModelRef, with_model

ENV = "CXLENS_DASK_SCHEDULER"
log = logging.getLogger("cxlens.batch")

Predict = Callable[[Any, Sequence[Any]], list]


class DaskChunkExecutor:
    """``executor(pipeline, docs)`` -> ``local(pipeline, docs)`` computed on the cluster."""

    def __init__(self, address: str | Any, *, local: Predict, models_dir: str | Path | None = None,
                 timeout: float = 600.0, connect_timeout: float = 10.0, retry_after: float = 60.0) -> None:
        self.address = address
        self.local = local
        self.models_dir = models_dir
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.retry_after = retry_after  #: after a failure, chunks are predicted here this long before trying again
        self._down_until = 0.0
        self._client = None
        self._lock = threading.Lock()
        self.remote_chunks = 0
        self.local_chunks = 0

    def _get_client(self):
        from distributed import Client

        with self._lock:
            if self._client is None:
                self._client = self.address if isinstance(self.address, Client) else \
                    Client(self.address, timeout=f"{self.connect_timeout}s", set_as_default=False)
            return self._client

    def ref(self, pipeline: Any) -> ModelRef | None:
        from ..config import models_dir
        from ..lifecycle.store import ModelStore

        name, version = getattr(pipeline, "name", None), getattr(pipeline, "version", None)
        if not name or not version:
            return None
        root = Path(self.models_dir) if self.models_dir is not None else models_dir()
        if not (ModelStore(root).path(str(name), str(version))).is_dir():
            return None  # not a model of the store (e.g. a test double): nothing a worker could load
        return ModelRef(store=str(root.resolve()), name=str(name), version=str(version))

    def __call__(self, pipeline: Any, docs: Sequence[Any]) -> list:
        ref = self.ref(pipeline) if docs and time.monotonic() >= self._down_until else None
        if ref is not None:
            try:
                fut = self._get_client().submit(with_model, ref, self.local, list(docs), pure=False, retries=2)
                out = fut.result(timeout=self.timeout)
                self.remote_chunks += 1
                return out
            except Exception as e:  # noqa: BLE001 - unreachable scheduler, lost workers: predict here
                self._down_until = time.monotonic() + self.retry_after
                log.warning("cluster prediction of a job chunk failed (%s: %s); predicting it locally",
                            type(e).__name__, e)
        self.local_chunks += 1
        return self.local(pipeline, docs)

    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._client is not self.address:
                self._client.close()
            self._client = None


def chunk_executor_from_env(local: Predict, *, models_dir: str | Path | None = None) -> Predict:
    """``local`` unchanged, or a :class:`DaskChunkExecutor` when ``CXLENS_DASK_SCHEDULER`` is set."""
    address = os.environ.get(ENV, "").strip()
    if not address:
        return local
    return DaskChunkExecutor(address, local=local, models_dir=models_dir)
