"""The Dask worker plugin that loads the model when a worker starts (and in a worker that replaces a lost
one), so that the first partition does not wait for it. Imports ``distributed``: used by the runner only."""
from __future__ import annotations

from distributed.diagnostics.plugin import WorkerPlugin

from .worker import ModelRef, get_pipeline


class ModelPlugin(WorkerPlugin):
    """Travels as a :class:`ModelRef` (three strings); ``setup`` fills the worker's per-process cache."""

    def __init__(self, ref: ModelRef) -> None:
        self.ref = ref
        self.name = f"cxlens-model-{ref.name}@{ref.version}"

    def setup(self, worker=None) -> None:
        get_pipeline(self.ref)
