"""Retraining through the API: datasets, feedback, training jobs, promotion and rollback
(docs/retraining.md). The work itself is ``nlp.datasets`` / ``nlp.retrain`` / ``nlp.gate``.

Training jobs run one at a time in a background thread of this process. Each job is a JSON file in
``<data dir>/training_jobs/`` (status, options, result, error), so jobs stay visible after a restart;
a job that was queued or running when the process stopped is marked failed on the next start
("interrupted"): training is minutes of CPU, re-submitting is the clear way to resume it.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import re
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from nlp.datasets import DatasetStore, FORMATS, parse_mapping
from nlp.errors import DataError
from nlp.store import ModelStore

from ..errors import Conflict, Forbidden, NotFound, scrub_paths
from .auth import Principal

log = logging.getLogger("cxlens.api.training")

ACTIVE = ("queued", "running")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _message(text: str) -> None:
    from nlp.progress import message

    message(text)


class TrainingService:
    """Datasets, feedback, training jobs, promotion and rollback for one model store."""

    def __init__(self, *, models_dir: Path | None, datasets_dir: Path, jobs_dir: Path,
                 on_production_change: Callable[[str], None] | None = None,
                 runner: Callable[..., Any] | None = None) -> None:
        self.models_dir = models_dir
        self.datasets = DatasetStore(datasets_dir)
        self.jobs_dir = Path(jobs_dir)
        self.on_production_change = on_production_change
        self.runner = runner  #: replaces nlp.retrain.retrain (tests)
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._taxonomies: dict[tuple[str, str], Any] = {}
        self._recover()

    @property
    def store(self) -> ModelStore:
        return ModelStore(self.models_dir)

    # -- datasets and feedback -----------------------------------------------------------------
    def import_dataset(self, path: Path, *, name: str, fmt: str = "auto", filename: str = "",
                       mapping: list[str] | None = None, model: str | None = None,
                       owner: str | None = None) -> dict[str, Any]:
        if fmt not in FORMATS:
            raise DataError(field="format", expected=f"one of {'|'.join(FORMATS)}", found=fmt)
        if fmt == "auto" and filename:  # the spooled file has no meaningful suffix: use the upload's name
            suffixed = path.with_name(path.name + Path(filename).suffix.lower())
            os.replace(path, suffixed)
            path = suffixed
        try:
            res = self.datasets.import_file(path, name=name, fmt=fmt, taxonomy=self.taxonomy(model),
                                            mapping=parse_mapping(mapping), owner=owner,
                                            source=f"POST /v1/datasets: {filename or 'upload'}")
        finally:
            path.unlink(missing_ok=True)
        return {"name": res.name, "hash": res.hash[:16], "sha256": res.hash, "rows": res.rows,
                "unchanged": res.unchanged, "eval_rows": res.meta.get("eval_rows"),
                "label_distribution": res.meta.get("label_distribution"),
                "errors": [_error(e) for e in res.errors]}

    def list_datasets(self, principal: Principal | None = None) -> list[dict[str, Any]]:
        """Every dataset for an admin (or the local CLI); an analyst sees the feedback datasets it owns."""
        rows = self.datasets.list()
        if principal is None or principal.is_admin:
            return rows
        return [r for r in rows if r.get("kind") == "feedback" and _owns(principal, r.get("owner"))]

    def feedback(self, items: list[dict[str, Any]], *, principal: Principal, dataset: str | None = None,
                 model: str | None = None, quota_rows: int | None = None,
                 quota_chars: int | None = None) -> dict[str, Any]:
        """Append corrections to the caller's own feedback dataset (``feedback-<key id prefix>``) or to a
        named feedback dataset the caller owns (admins: any feedback dataset). Imported datasets change
        only by import (admins). ``quota_*``: what one key may store in feedback datasets in total."""
        from nlp.datasets import dataset_kind, record_feedback

        name = dataset or own_feedback_dataset(principal)
        key = principal.key_id
        if not principal.is_admin and name != own_feedback_dataset(principal) and _RESERVED.match(name):
            # another key's default dataset (or the local one): never claimable by squatting its name
            raise Forbidden(f"dataset name {name!r} is reserved for another key's own feedback; omit `dataset` "
                            f"to use yours ({own_feedback_dataset(principal)!r})", code="dataset_forbidden")

        def check(meta: dict[str, Any] | None, new: list[Any]) -> None:
            if meta is not None:
                if dataset_kind(meta) != "feedback":
                    if not principal.is_admin:
                        raise Forbidden(f"dataset {name!r} was imported by an admin: only admins change it "
                                        f"(by importing a new version)", code="dataset_forbidden")
                    raise Conflict(f"dataset {name!r} is an imported dataset: import a new version instead of "
                                   f"sending feedback to it", code="dataset_not_feedback")
                if not principal.is_admin and not _owns(principal, meta.get("owner")):
                    raise Forbidden(f"dataset {name!r} belongs to another key; send feedback to your own "
                                    f"(omit `dataset`) or to a dataset you created", code="dataset_forbidden")
            if key is None:
                return
            used = self.datasets.contributed(key)
            rows, chars = len(new), sum(len(e.text) for e in new)
            if quota_rows is not None and used["rows"] + rows > quota_rows:
                raise Forbidden(f"feedback quota exceeded: this key has stored {used['rows']} of {quota_rows} "
                                f"rows; {rows} more do not fit", code="quota_exceeded")
            if quota_chars is not None and used["chars"] + chars > quota_chars:
                raise Forbidden(f"feedback quota exceeded: this key has stored {used['chars']} of {quota_chars} "
                                f"characters; {chars} more do not fit", code="quota_exceeded")

        res = record_feedback(items, store=self.datasets, name=name, taxonomy=self.taxonomy(model),
                              source="POST /v1/feedback", by=principal.name or key or "anonymous", key=key,
                              check=check)
        return {"dataset": res.name, "hash": res.hash[:16], "rows": res.rows,
                "accepted": len(items) - len(res.errors), "errors": [_error(e) for e in res.errors]}

    def taxonomy(self, model: str | None):
        """The taxonomy labels are checked against: the production model's, else the bundled one."""
        from nlp.config import DEFAULT_MODEL_NAME
        from nlp.taxonomy import load_taxonomy

        spec = model or DEFAULT_MODEL_NAME
        try:
            if self.store.versions(spec.split("@")[0]):
                key = self.store.resolve(spec)
                if key not in self._taxonomies:  # loading a model per request would be slow
                    self._taxonomies[key] = getattr(self.store.load(f"{key[0]}@{key[1]}"), "taxonomy", None)
                tax = self._taxonomies[key]
                if tax is not None:
                    return tax
        except Exception as e:  # noqa: BLE001 - validation still works with the bundled taxonomy
            log.warning("cannot read the taxonomy of %s: %s", spec, e)
        return load_taxonomy()

    # -- training jobs -------------------------------------------------------------------------
    def submit(self, options: dict[str, Any], *, by: str | None) -> dict[str, Any]:
        for spec in options.get("datasets") or []:
            self.datasets.resolve(spec)  # unknown dataset: 422 now, not a failed job later
        parse_mapping(options.get("map"))
        job = {"id": uuid.uuid4().hex, "status": "queued", "options": options, "by": by, "created_at": _now(),
               "started_at": None, "finished_at": None, "result": None, "error": None}
        self._write(job)
        self._ensure_thread()
        self._queue.put(job["id"])
        return job

    def get_job(self, job_id: str) -> dict[str, Any]:
        f = self.jobs_dir / f"{job_id}.json"
        if not (isinstance(job_id, str) and job_id.isalnum() and len(job_id) <= 64) or not f.exists():
            raise NotFound(f"no training job {job_id!r}", code="training_job_not_found")
        return json.loads(f.read_text(encoding="utf-8"))

    def list_jobs(self, limit: int = 50) -> list[dict[str, Any]]:
        if not self.jobs_dir.is_dir():
            return []
        jobs = [json.loads(p.read_text(encoding="utf-8")) for p in self.jobs_dir.glob("*.json")]
        return sorted(jobs, key=lambda j: j["created_at"], reverse=True)[:limit]

    def wait(self, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Block until the job is finished (tests, tools)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            job = self.get_job(job_id)
            if job["status"] not in ACTIVE:
                return job
            time.sleep(0.05)
        return self.get_job(job_id)

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="cxlens-training", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            try:
                self._run(job_id)
            except Exception:  # noqa: BLE001 - never kill the worker thread
                log.exception("training job %s crashed", job_id)

    def _run(self, job_id: str) -> None:
        job = self.get_job(job_id)
        job.update(status="running", started_at=_now())
        self._write(job)
        opts = job["options"]
        try:
            from nlp.gate import GatePolicy
            from nlp.retrain import retrain
            from nlp.taxonomy import Taxonomy

            run = self.runner or retrain
            policy = GatePolicy(**{k: opts[k] for k in ("tolerance", "min_support", "require_significance")
                                   if opts.get(k) is not None})
            taxonomy = Taxonomy.from_dict(opts["taxonomy"], source="request taxonomy") if opts.get("taxonomy") else None
            from nlp.progress import CallbackSink, reporting

            def on_progress(snapshot: dict[str, Any]) -> None:
                job["progress"] = snapshot
                self._write(job)

            with reporting(CallbackSink(on_progress)):
                res = run(name=opts["name"], datasets=opts.get("datasets") or [], store=self.store,
                          dataset_store=self.datasets, seed_weight=opts.get("seed_weight", 1.0),
                          dataset_weight=opts.get("dataset_weight", 1.0), dataset_weights=opts.get("dataset_weights"),
                          model_type=opts.get("model_type"), params=opts.get("params") or {},
                          taxonomy=taxonomy, mapping=parse_mapping(opts.get("map")), policy=policy,
                          promote_if_passed=bool(opts.get("promote")), by=job.get("by"),
                          progress=_message)
            job["result"] = {"name": res.name, "version": res.version,
                             "gate": {"passed": res.decision.passed, "failures": res.decision.failures},
                             "metrics": res.meta.get("metrics", {}), "promoted": res.promoted is not None,
                             "warnings": res.warnings, "comparison": summarize(res.comparison)}
            job["status"] = "done"
            if res.promoted is not None and self.on_production_change is not None:
                self.on_production_change(res.name)
        except Exception as e:  # noqa: BLE001 - the job records why it failed
            job["status"] = "failed"
            job["error"] = str(e) if isinstance(e, (DataError,)) or str(e) else type(e).__name__
            if not isinstance(e, DataError):
                log.exception("training job %s failed", job_id)
        job["finished_at"] = _now()
        self._write(job)

    def _recover(self) -> None:
        if not self.jobs_dir.is_dir():
            return
        for p in self.jobs_dir.glob("*.json"):
            try:
                job = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue
            if job.get("status") in ACTIVE:
                job.update(status="failed", finished_at=_now(),
                           error="interrupted: the service stopped before the job finished; submit it again")
                self._write(job)

    def _write(self, job: dict[str, Any]) -> None:
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.jobs_dir / f".{job['id']}.tmp"
        tmp.write_text(json.dumps(job, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, self.jobs_dir / f"{job['id']}.json")

    # -- promotion and rollback ----------------------------------------------------------------
    def promote(self, name: str, version: str, *, force: bool, reason: str | None, by: str | None,
                policy: dict[str, Any] | None = None) -> dict[str, Any]:
        from nlp.gate import GatePolicy, promote

        event = promote(self.store, f"{name}@{version}", force=force, reason=reason, by=by,
                        policy=GatePolicy(**(policy or {})), dataset_store=self.datasets)
        if self.on_production_change is not None:
            self.on_production_change(name)
        return event

    def rollback(self, name: str, *, to: str | None, reason: str | None, by: str | None) -> dict[str, Any]:
        from nlp.gate import rollback

        event = rollback(self.store, name, to=to, by=by, reason=reason)
        if self.on_production_change is not None:
            self.on_production_change(name)
        return event

    def card(self, name: str, version: str) -> str:
        from nlp.card import write_card

        n, v = self.store.resolve(f"{name}@{version}")
        return write_card(self.store, n, v).read_text(encoding="utf-8")

    def comparison(self, name: str, version: str) -> dict[str, Any]:
        from nlp.gate import read_comparison

        n, v = self.store.resolve(f"{name}@{version}")
        cmp = read_comparison(self.store, n, v)
        if cmp is None:
            raise NotFound(f"{n}@{v} has no comparison (it was not trained with datasets)", code="no_comparison")
        return cmp

    def history(self, name: str) -> list[dict[str, Any]]:
        self.store.resolve(name)
        return self.store.history(name)


def summarize(comparison: dict[str, Any]) -> dict[str, Any]:
    """Headline deltas per held-out set (the full report: GET .../comparison)."""
    out = {"production": comparison.get("production"), "groups": {}}
    for g, res in comparison.get("groups", {}).items():
        out["groups"][g] = {"n": res["n"], **{k: {kk: v[kk] for kk in ("candidate", "production", "delta", "ci95")
                                                  if kk in v}
                                              for k, v in res["overall"].items()
                                              if k in ("touchpoint_micro_f1", "sentiment_macro_f1")}}
    return out


#: names of the per-key default feedback datasets (and the local one): created only by their owner
_RESERVED = re.compile(r"^feedback(-[0-9a-f]{12})?$")


def own_feedback_dataset(principal: Principal) -> str:
    """The caller's own feedback dataset: ``feedback-<first 12 hex digits of the key id>`` (``feedback``
    for the anonymous local user)."""
    return "feedback" if principal.key_id is None else f"feedback-{principal.key_id[:12]}"


def _owns(principal: Principal, owner: str | None) -> bool:
    return owner == principal.key_id


def _error(e: DataError) -> dict[str, Any]:
    return {"row": e.row, "field": e.field, "message": scrub_paths(str(e))}
