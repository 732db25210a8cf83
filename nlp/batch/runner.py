"""The driver of a partitioned run on a Dask distributed cluster (``cxlens predict INPUT --cluster SPEC``).

SPEC: ``local`` (a LocalCluster with one worker process per CPU), ``local:N`` (N worker processes), both
started and stopped here, or ``tcp://HOST:PORT`` (an existing scheduler). The driver reads each input file
(the same reader as single-process ``cxlens predict``: same ids, same bad-row rules), cuts it into
partitions of at most ``chunk_rows`` rows and submits one task per partition that is not complete yet, with
at most a few tasks per worker in flight (the driver holds only those partitions' rows). A task classifies
its rows with the worker's cached model and writes its partition file itself; the driver records it in
``_manifest.json``. A lost worker's tasks are re-run by Dask on another worker; a task that still fails is
recorded as failed and a re-run of the same command finishes it.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ..config import DEFAULT_MODEL_NAME
from ..errors import DataError
from ..labeled.formats import read_documents_info
from ..progress import task
from .inputs import InputFile, resolve_inputs
from .manifest import ERRORS_DIR, ERRORS_FILE, SUFFIX, Manifest
from .worker import ModelRef, classify_partition

DEFAULT_CHUNK_ROWS = 10_000
#: tasks in flight per worker: one running, one queued on the worker, one on its way
IN_FLIGHT_PER_WORKER = 3

log = logging.getLogger("cxlens.batch")


def _say(msg: str) -> None:
    print(f"cxlens: {msg}", file=sys.stderr)


@dataclass
class RunResult:
    out_dir: str
    model: str
    partitions: int = 0
    done: int = 0  #: partitions classified in this run
    skipped: int = 0  #: partitions already complete (resume)
    failed: list[dict[str, Any]] = field(default_factory=list)
    rows: int = 0  #: prediction rows of all complete partitions
    errors: int = 0  #: bad rows (read + predict) of all inputs
    seconds: float = 0.0
    workers: int = 0
    rows_this_run: int = 0
    skipped_rows: int = 0

    @property
    def complete(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return (f"{self.rows} predictions in {self.partitions} partitions in {self.out_dir} (model {self.model}; "
                f"{self.done} classified now, {self.skipped} already complete, {len(self.failed)} failed; "
                f"{self.errors} bad rows in {ERRORS_FILE})")


# ---------------------------------------------------------------------------------------------------- cluster
def parse_cluster(spec: str) -> tuple[str, int | str]:
    """``local`` -> ("local", cpus), ``local:N`` -> ("local", N), ``tcp://...`` -> ("tcp", address)."""
    s = str(spec).strip()
    if s == "local":
        return "local", os.cpu_count() or 1
    if s.startswith("local:"):
        n = s[6:]
        if n.isdigit() and int(n) > 0:
            return "local", int(n)
    elif "://" in s and s.split("://", 1)[1]:
        return "tcp", s
    raise DataError(field="--cluster", expected="local, local:N (N worker processes) or tcp://HOST:PORT", found=spec)


@contextlib.contextmanager
def open_client(spec: "str | Any") -> Iterator[Any]:
    """A ``distributed.Client`` for SPEC (a LocalCluster is started here and stopped on exit); an existing
    Client is passed through unchanged."""
    from distributed import Client, LocalCluster

    if isinstance(spec, Client):
        yield spec
        return
    kind, arg = parse_cluster(spec)
    if kind == "tcp":
        with Client(arg, timeout="30s") as client:
            yield client
        return
    with LocalCluster(n_workers=int(arg), threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.WARNING) as cluster, Client(cluster) as client:
        yield client


# ---------------------------------------------------------------------------------------------------- model
def resolve_model(spec: str, models_dir: str | Path | None = None) -> ModelRef:
    """Pin SPEC to name@version (an alias moving during a run cannot mix versions); the default model is
    installed or trained first when the store has none (:func:`nlp.lifecycle.training.open_model`, as
    ``cxlens predict``)."""
    from ..lifecycle.store import ModelStore, parse_spec
    from ..lifecycle.training import open_model

    store = ModelStore(models_dir)
    name, _ = parse_spec(spec)
    if name == DEFAULT_MODEL_NAME and not store.versions(name):
        open_model(spec, store=store, progress=_say)
    name, version = store.resolve(spec)
    return ModelRef(store=str(Path(store.root).resolve()), name=name, version=version)


# ---------------------------------------------------------------------------------------------------- planning
@dataclass
class _Part:
    name: str
    inp: InputFile
    chunk: int
    offset: int  #: index of the first document among the file's valid rows
    docs: list


def _partition_name(inp: InputFile, chunk: int, fmt: str) -> str:
    return f"part-{inp.key}-{chunk:05d}{SUFFIX[fmt]}"


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    from ..locks import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows))


def _read_errors(inp: InputFile, errors: list[DataError]) -> list[dict[str, Any]]:
    return [{**e.to_dict(), "found": e.found if isinstance(e.found, (str, int, float, type(None))) else str(e.found),
             "stage": "read"} for e in errors]


def predict_partitioned(inputs: str | Path | list, out_dir: str | Path, *, cluster: "str | Any" = "local",
                        model: str = DEFAULT_MODEL_NAME, models_dir: str | Path | None = None,
                        out_format: str = "parquet", chunk_rows: int = DEFAULT_CHUNK_ROWS, with_text: bool = False,
                        keep_columns: bool = False, strict: bool = False,
                        on_partition: Callable[[dict[str, Any], Any], None] | None = None) -> RunResult:
    """Classify INPUT into partitions under ``out_dir`` on a Dask cluster (``cluster``: SPEC or a Client), or
    in this process (``cluster=None``: the same partitions, manifest and resume); resume what a previous run
    of the same settings completed. ``on_partition(entry, client)`` is called after each partition."""
    if out_format not in SUFFIX:
        raise DataError(field="--out-format", expected="parquet or jsonl", found=out_format)
    if not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise DataError(field="--chunk-rows", expected="a positive number of rows", found=chunk_rows)
    t0 = time.perf_counter()
    files = resolve_inputs(inputs)
    ref = resolve_model(model, models_dir)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DataError("the output of a cluster run is a directory", source=str(out),
                        expected="a directory (partitions + _manifest.json)", found="a file")
    out.mkdir(parents=True, exist_ok=True)
    (out / ERRORS_DIR).mkdir(exist_ok=True)

    man = Manifest(model={"name": ref.name, "version": ref.version, "store": ref.store}, output_format=out_format,
                   chunk_rows=chunk_rows, options={"with_text": bool(with_text), "keep_columns": bool(keep_columns)})
    old = Manifest.read(out)
    if old is not None and old.settings() != man.settings():
        _say(f"{out}: the previous run used other settings ({old.settings()}); starting again")
        for name in old.partitions:
            (out / name).unlink(missing_ok=True)
        old = None
    if old is not None:
        man.created = old.created
    old_parts = old.partitions if old is not None else {}
    old_inputs = {i["path"]: i for i in (old.inputs if old is not None else [])}
    res = RunResult(out_dir=str(out), model=ref.spec)

    def reusable(name: str, inp: InputFile) -> dict[str, Any] | None:
        e = old_parts.get(name)
        if e and e.get("complete") and e.get("input_sha256") == inp.sha256 and (out / name).exists():
            return e
        return None

    def plan(planned_rows: Callable[[int], None]) -> Iterator[_Part]:
        """Inputs one at a time: carry complete partitions over, yield the others with their rows."""
        for inp in files:
            prev = old_inputs.get(inp.path)
            entry = {"path": inp.path, "sha256": inp.sha256, "size": inp.size}
            if prev and prev.get("sha256") == inp.sha256 and prev.get("partitions") and \
                    all(reusable(n, inp) for n in prev["partitions"]):
                entry.update({k: prev[k] for k in ("rows", "bad_rows", "partitions")})
                man.inputs.append(entry)
                for n in prev["partitions"]:
                    man.partitions[n] = old_parts[n]
                    res.skipped += 1
                    res.skipped_rows += old_parts[n].get("rows", 0)
                continue
            docs, errors, decoding = read_documents_info(inp.path)
            if decoding is not None and (decoding.replaced or decoding.name not in ("utf-8", "utf-8-sig")):
                _say(f"{inp.path}: {decoding.summary()}")
            if errors and strict:
                raise DataError(f"{len(errors)} bad rows (--strict)", source=inp.path)
            _write_jsonl(out / ERRORS_DIR / f"{inp.key}.read.jsonl", _read_errors(inp, errors))
            names = []
            for k, start in enumerate(range(0, max(len(docs), 1), chunk_rows)):
                name = _partition_name(inp, k, out_format)
                names.append(name)
                part_docs = docs[start:start + chunk_rows]
                e = reusable(name, inp)
                if e is not None:
                    man.partitions[name] = e
                    res.skipped += 1
                    res.skipped_rows += e.get("rows", 0)
                    continue
                man.partitions[name] = {"input": inp.path, "input_sha256": inp.sha256, "chunk": k,
                                        "offset": start, "rows": 0, "errors": 0, "complete": False}
                planned_rows(len(part_docs))
                yield _Part(name, inp, k, start, part_docs)
            entry.update(rows=len(docs), bad_rows=len(errors), partitions=names)
            man.inputs.append(entry)
            del docs

    run_id = uuid.uuid4().hex[:12]  # task keys are unique per run: a re-run never gets an old result back
    planned = [0]
    progress_box: list[Any] = []

    def planned_rows(n: int) -> None:
        planned[0] += n
        if progress_box:
            progress_box[0].set_total(planned[0])

    def task_kwargs(part: _Part) -> dict[str, Any]:
        return dict(source=part.inp.path, with_text=with_text, keep_columns=keep_columns,
                    errors_path=str(out / ERRORS_DIR / f"{Path(part.name).stem}.jsonl"))

    def record(part: _Part, r: dict[str, Any] | None, error: BaseException | None, client: Any) -> None:
        entry = man.partitions[part.name]
        if error is not None:
            entry.update(complete=False, error=f"{type(error).__name__}: {error}")
            res.failed.append({"partition": part.name, "input": part.inp.path, "error": entry["error"]})
            _say(f"partition {part.name} of {part.inp.path} failed: {entry['error']} (re-run to resume)")
        else:
            entry.update(rows=r["rows"], errors=r["errors"], complete=True, written=time.time())
            entry.pop("error", None)
            res.done += 1
            res.rows_this_run += r["rows"]
        progress_box[0].update(len(part.docs))
        man.write(out)
        if on_partition is not None:
            on_partition(entry, client)

    with task("classifying", unit="comment") as progress:
        progress_box.append(progress)
        if cluster is None:  # one process: the same partitions, manifest and resume, no Dask
            res.workers = 1
            for part in plan(planned_rows):
                try:
                    r = classify_partition(ref, part.docs, str(out / part.name), out_format, **task_kwargs(part))
                except Exception as e:  # noqa: BLE001
                    record(part, None, e, None)
                else:
                    record(part, r, None, None)
        else:
            with open_client(cluster) as client:
                _run_on_cluster(client, ref, plan(planned_rows), out, out_format, task_kwargs, record, res, run_id)
    # partitions of an earlier run that no longer belong to any input
    for name in set(old_parts) - set(man.partitions):
        (out / name).unlink(missing_ok=True)
        (out / ERRORS_DIR / f"{Path(name).stem}.jsonl").unlink(missing_ok=True)
    res.partitions = len(man.partitions)
    man.complete = all(p.get("complete") for p in man.partitions.values())
    man.write(out)
    res.errors = _collect_errors(out, man)
    res.rows = man.to_dict()["rows"]
    res.seconds = round(time.perf_counter() - t0, 3)
    return res


def _run_on_cluster(client: Any, ref: ModelRef, parts: Iterator[_Part], out: Path, out_format: str,
                    task_kwargs: Callable[[_Part], dict[str, Any]], record: Callable, res: RunResult,
                    run_id: str) -> None:
    """Submit the partitions with a bounded number in flight; record each as it finishes."""
    from distributed import wait

    from .plugin import ModelPlugin

    client.register_plugin(ModelPlugin(ref), name=f"cxlens-model-{ref.spec}")
    res.workers = len(client.scheduler_info(n_workers=-1)["workers"]) if _takes_n_workers(client) \
        else len(client.scheduler_info()["workers"])
    window = max(2, IN_FLIGHT_PER_WORKER * max(res.workers, 1))
    pending: dict[Any, _Part] = {}
    exhausted = False
    while True:
        while not exhausted and len(pending) < window:
            part = next(parts, None)
            if part is None:
                exhausted = True
                break
            fut = client.submit(classify_partition, ref, part.docs, str(out / part.name), out_format,
                                **task_kwargs(part), key=f"cxlens-{part.name}-{run_id}", pure=False, retries=2)
            pending[fut] = part
        if not pending:
            break
        done, _ = wait(list(pending), return_when="FIRST_COMPLETED")
        for fut in done:
            part = pending.pop(fut)
            try:
                r = fut.result()
            except Exception as e:  # noqa: BLE001 - a partition that failed even after retries
                record(part, None, e, client)
            else:
                record(part, r, None, client)
            fut.release()


def _takes_n_workers(client) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


def _collect_errors(out: Path, man: Manifest) -> int:
    """``_errors.jsonl``: the bad rows of every input (read errors, then predict errors), in input order."""
    lines: list[str] = []
    for inp in man.inputs:
        key = InputFile(inp["path"], 0, "").key
        for f in [out / ERRORS_DIR / f"{key}.read.jsonl",
                  *(out / ERRORS_DIR / f"{Path(n).stem}.jsonl" for n in inp.get("partitions", []))]:
            if f.exists():
                lines.extend(ln for ln in f.read_text(encoding="utf-8").splitlines() if ln.strip())
    from ..locks import atomic_write_text

    atomic_write_text(out / ERRORS_FILE, "".join(ln + "\n" for ln in lines))
    return len(lines)
