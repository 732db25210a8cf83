"""Progress of long work: rows done, total, rate and ETA, wherever the work runs.

Library code announces work with :func:`task` and never decides where progress goes::

    with task("embedding", total=len(texts), unit="text") as t:
        for batch in batches:
            ...
            t.update(len(batch))

The caller decides with :func:`reporting`: the CLI installs :class:`TerminalSink` (a tqdm bar on a
terminal, plain periodic log lines with rows/s and ETA when stderr is not a terminal, nothing on stdout),
an API job installs a sink that stores ``{"done", "total", "eta_s", ...}`` in the job's status. With no
sink installed (library use, tests) :func:`task` costs nothing. The sink is a context variable: each
thread (an API worker) and each ``reporting`` block has its own.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import time
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Iterator, Protocol

#: tasks shorter than this never print (start-up work, cached embeddings)
MIN_TOTAL = 1
#: seconds between two log lines of a task when stderr is not a terminal (default 10)
INTERVAL_ENV = "CXLENS_PROGRESS_INTERVAL"


@dataclass
class Snapshot:
    """One task's state: what the job status and the log lines show."""

    stage: str
    done: int = 0
    total: int | None = None
    unit: str = "row"
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float | None:
        e = self.elapsed_s
        return self.done / e if e > 0 and self.done else None

    @property
    def eta_s(self) -> float | None:
        if self.total is None or not self.rate:
            return None
        return max(0.0, (self.total - self.done) / self.rate)

    def to_dict(self) -> dict[str, Any]:
        eta = self.eta_s
        rate = self.rate
        return {"stage": self.stage, "done": self.done, "total": self.total, "unit": self.unit,
                "eta_s": round(eta, 1) if eta is not None else None,
                "rate": round(rate, 1) if rate is not None else None, "elapsed_s": round(self.elapsed_s, 1)}

    def line(self) -> str:
        total = f"/{self.total:,}" if self.total is not None else ""
        parts = [f"{self.stage}: {self.done:,}{total} {self.unit}s"]
        if self.total:
            parts.append(f"{100.0 * self.done / self.total:.0f}%")
        if self.rate:
            parts.append(f"{self.rate:,.1f} {self.unit}s/s")
        if self.eta_s is not None:
            parts.append(f"ETA {_fmt_s(self.eta_s)}")
        return ", ".join(parts)


def _fmt_s(s: float) -> str:
    s = int(round(s))
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class Sink(Protocol):
    def start(self, snap: Snapshot) -> None: ...
    def update(self, snap: Snapshot) -> None: ...
    def finish(self, snap: Snapshot) -> None: ...
    def message(self, text: str) -> None: ...


_SINK: contextvars.ContextVar[Sink | None] = contextvars.ContextVar("cxlens_progress_sink", default=None)


class Task:
    """A running unit of work; :meth:`update` with the rows just finished."""

    def __init__(self, sink: Sink | None, snap: Snapshot) -> None:
        self._sink, self.snap = sink, snap

    def update(self, n: int = 1) -> None:
        self.snap.done += int(n)
        if self._sink is not None:
            self._sink.update(self.snap)

    def set_total(self, total: int) -> None:
        self.snap.total = int(total)


_DEPTH: contextvars.ContextVar[int] = contextvars.ContextVar("cxlens_progress_depth", default=0)


@contextlib.contextmanager
def task(stage: str, total: int | None = None, *, unit: str = "row") -> Iterator[Task]:
    """Announce a unit of work to the installed sink (a no-op without one). Only the outermost task is
    reported: the embedding inside ``classifying`` 10,000 comments does not print a bar of its own."""
    sink = _SINK.get()
    depth = _DEPTH.get()
    snap = Snapshot(stage, 0, total, unit)
    if depth > 0 or (total is not None and total < MIN_TOTAL):
        sink = None
    t = Task(sink, snap)
    token = _DEPTH.set(depth + 1)
    if sink is not None:
        sink.start(snap)
    try:
        yield t
    finally:
        _DEPTH.reset(token)
        if sink is not None:
            sink.finish(snap)


def message(text: str) -> None:
    """A stage message ("training the touchpoint detector on 1,852 rows") for the installed sink."""
    sink = _SINK.get()
    if sink is not None:
        sink.message(text)


def active() -> bool:
    return _SINK.get() is not None


@contextlib.contextmanager
def reporting(sink: Sink | None) -> Iterator[Sink | None]:
    """Send the progress of everything run inside the block (in this thread/context) to ``sink``."""
    token = _SINK.set(sink)
    try:
        yield sink
    finally:
        _SINK.reset(token)


class TerminalSink:
    """Progress on ``stream`` (stderr): tqdm bars on a terminal; otherwise log lines: when a task has run
    for 2 s, then every ``interval`` seconds (rows done, total, rate, ETA), and a summary at its end.
    Tasks shorter than 2 s print nothing."""

    def __init__(self, stream: IO[str] | None = None, *, interval: float | None = None, prefix: str = "cxlens: ",
                 tty: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.interval = float(os.environ.get(INTERVAL_ENV) or 10.0) if interval is None else interval
        #: a task shows nothing before it has run this long (small inputs stay quiet)
        self.delay = min(2.0, self.interval)
        self.prefix = prefix
        self.tty = self.stream.isatty() if tty is None else tty
        self._bars: dict[int, Any] = {}
        self._last: dict[int, float] = {}

    def _write(self, text: str) -> None:
        print(self.prefix + text, file=self.stream, flush=True)

    def message(self, text: str) -> None:
        if self._bars:
            from tqdm import tqdm

            tqdm.write(self.prefix + text, file=self.stream)
        else:
            self._write(text)

    def start(self, snap: Snapshot) -> None:
        if self.tty:
            from tqdm import tqdm

            self._bars[id(snap)] = tqdm(total=snap.total, desc=snap.stage, unit=snap.unit, file=self.stream,
                                        leave=False, dynamic_ncols=True, delay=self.delay)
        elif self.delay == 0:
            self._started(snap)

    def _started(self, snap: Snapshot) -> None:
        self._last[id(snap)] = time.monotonic()
        total = f" of {snap.total:,} {snap.unit}s" if snap.total is not None else ""
        self._write(f"{snap.stage}: started{total}")

    def update(self, snap: Snapshot) -> None:
        bar = self._bars.get(id(snap))
        if bar is not None:
            bar.update(snap.done - bar.n)
            return
        if id(snap) not in self._last:  # quiet until the task has run for `delay` seconds
            if snap.elapsed_s >= self.delay:
                self._started(snap)
                self._write(snap.line())
            return
        now = time.monotonic()
        if now - self._last[id(snap)] >= self.interval:
            self._last[id(snap)] = now
            self._write(snap.line())

    def finish(self, snap: Snapshot) -> None:
        bar = self._bars.pop(id(snap), None)
        if bar is not None:
            bar.update(snap.done - bar.n)
            bar.close()
        if self._last.pop(id(snap), None) is None and not (bar is not None and snap.elapsed_s >= self.delay):
            return  # a short task: nothing to report
        rate = f" ({snap.rate:,.1f} {snap.unit}s/s)" if snap.rate else ""
        self._write(f"{snap.stage}: {snap.done:,} {snap.unit}s in {_fmt_s(snap.elapsed_s)}{rate}")


class CallbackSink:
    """Calls ``on_change(snapshot_dict)`` at most every ``interval`` seconds (and at each start and end):
    the API's job status. Messages become the snapshot's ``stage`` until the next task starts."""

    def __init__(self, on_change: Callable[[dict[str, Any]], None], *, interval: float = 1.0) -> None:
        self.on_change = on_change
        self.interval = interval
        self._last = 0.0

    def _emit(self, data: dict[str, Any], force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last >= self.interval:
            self._last = now
            self.on_change(data)

    def start(self, snap: Snapshot) -> None:
        self._emit(snap.to_dict(), force=True)

    def update(self, snap: Snapshot) -> None:
        self._emit(snap.to_dict())

    def finish(self, snap: Snapshot) -> None:
        self._emit(snap.to_dict(), force=True)

    def message(self, text: str) -> None:
        self._emit({"stage": text, "done": None, "total": None, "eta_s": None}, force=True)
