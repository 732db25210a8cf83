"""Retraining through the API: datasets, feedback, training jobs, promotion and rollback
(docs/retraining.md). The work itself is ``nlp.labeled.datasets`` / ``nlp.lifecycle.retrain`` / ``nlp.lifecycle.gate`` / ``nlp.lifecycle.promotion``.

Training jobs are rows of the ``training_jobs`` table, run by the same DB-backed job worker as classify
and report jobs (``api.services.jobs.JobWorker``): claimed with a lease, kept alive by heartbeats, and taken
over by another worker when the process running one dies. A taken-over job runs again, exactly once: the
version a run saves carries the job id, so a run that finds its version already complete only records it.
"""
from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from nlp.errors import CxlensError, DataError
from nlp.labeled.datasets import FORMATS, DatasetStore, parse_mapping
from nlp.lifecycle.store import ModelStore

from ..errors import Conflict, Forbidden, NotFound, scrub_paths
from ..models_db import TrainingJobRow, utcnow
from .auth import Principal
from .jobs import ACTIVE

log = logging.getLogger("cxlens.api.training")

class LeaseLost(CxlensError):
    """This worker no longer owns the training job (another took it over): the run stops without saving."""

    code = "lease_lost"


def _iso(t) -> str | None:
    from ..db import as_utc

    return as_utc(t).isoformat(timespec="seconds") if t is not None else None


def job_view(row: TrainingJobRow) -> dict[str, Any]:
    """A training job as the API shows it."""
    return {"id": row.id, "status": row.status, "options": json.loads(row.options or "{}"), "by": row.by,
            "created_at": _iso(row.created_at), "started_at": _iso(row.started_at),
            "finished_at": _iso(row.finished_at), "attempts": row.attempts, "note": row.note,
            "result": json.loads(row.result) if row.result else None, "error": scrub_paths(row.error),
            "progress": json.loads(row.progress) if row.progress else None}


def _message(text: str) -> None:
    from nlp.progress import message

    message(text)


class TrainingService:
    """Datasets, feedback, training jobs, promotion and rollback for one model store."""

    def __init__(self, *, models_dir: Path | None, datasets_dir: Path, factory: sessionmaker,
                 wake: Callable[[], None] | None = None, on_production_change: Callable[[str], None] | None = None,
                 runner: Callable[..., Any] | None = None) -> None:
        self.models_dir = models_dir
        self.datasets = DatasetStore(datasets_dir)
        self.factory = factory
        self.wake = wake or (lambda: None)  #: tells the job worker there is work
        self.on_production_change = on_production_change
        self.runner = runner  #: replaces nlp.lifecycle.retrain.retrain (tests)
        self._taxonomies: dict[tuple[str, str], Any] = {}
        self._store = ModelStore(models_dir)

    @property
    def store(self) -> ModelStore:
        """The one store object of this service (its lock is per folder, shared by all objects anyway)."""
        return self._store

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
        from nlp.labeled.datasets import dataset_kind, record_feedback

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
    def submit(self, options: dict[str, Any], *, by: str | None, owner: str | None = None) -> dict[str, Any]:
        for spec in options.get("datasets") or []:
            self.datasets.resolve(spec)  # unknown dataset: 422 now, not a failed job later
        parse_mapping(options.get("map"))
        self._check_options(options)
        with self.factory() as s:
            row = TrainingJobRow(status="queued", options=json.dumps(options, ensure_ascii=False), by=by,
                                 owner_key_id=owner, attempts=0)
            s.add(row)
            s.commit()
            view = job_view(row)
        self.wake()
        return view

    def _check_options(self, options: dict[str, Any]) -> None:
        """What would only fail inside the job: the taxonomy and the pipeline options (422 now instead)."""
        from nlp.config import default_model_type
        from nlp.families.registry import make_pipeline
        from nlp.taxonomy import Taxonomy

        if options.get("taxonomy"):
            Taxonomy.from_dict(options["taxonomy"], source="request taxonomy")
        family = options.get("model_type")
        if family is None:
            try:
                family = self.store.meta(*self.store.resolve(options.get("name") or ""))["model_type"]
            except Exception:  # noqa: BLE001 - no production version: the server's default family
                family = default_model_type()
        try:
            make_pipeline(family, **dict(options.get("params") or {}))
        except TypeError as e:
            bad = re.search(r"argument '([^']+)'", str(e))
            raise DataError("unknown pipeline option", field="params",
                            expected=f"options of the '{family}' family (docs/retraining.md)",
                            found=bad.group(1) if bad else str(e)) from None

    def get_job(self, job_id: str) -> dict[str, Any]:
        with self.factory() as s:
            row = s.get(TrainingJobRow, job_id) if isinstance(job_id, str) and len(job_id) <= 64 else None
            if row is None:
                raise NotFound(f"no training job {job_id!r}", code="training_job_not_found")
            return job_view(row)

    def list_jobs(self, limit: int = 50) -> list[dict[str, Any]]:
        with self.factory() as s:
            rows = s.scalars(select(TrainingJobRow).order_by(TrainingJobRow.created_at.desc(), TrainingJobRow.id)
                             .limit(limit))
            return [job_view(r) for r in rows]

    def wait(self, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Block until the job is finished (tests, tools)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            job = self.get_job(job_id)
            if job["status"] not in ACTIVE:
                return job
            time.sleep(0.05)
        return self.get_job(job_id)

    def run_job(self, job_id: str, worker: Any) -> None:
        """Run one claimed training job (the job worker calls this). A re-run after an interruption first
        looks for the version the interrupted attempt saved: complete, it is the job's result (nothing is
        trained twice); half-written (saved, gate not recorded), it is marked abandoned and training runs
        again. The outcome is written only while this worker still owns the job."""
        from nlp.lifecycle.gate import GatePolicy
        from nlp.lifecycle.retrain import retrain
        from nlp.progress import CallbackSink, reporting
        from nlp.taxonomy import Taxonomy

        with self.factory() as s:
            row = s.get(TrainingJobRow, job_id)
            if row is None:
                return
            opts, by, attempts = json.loads(row.options or "{}"), row.by, row.attempts
        if attempts > 1:
            worker.update_owned(TrainingJobRow, job_id, note=f"attempt {attempts - 1} was interrupted (the process "
                                f"running it stopped); attempt {attempts} runs it again", progress=None)
        done = self._saved_version(opts["name"], job_id, promote_requested=bool(opts.get("promote")))
        if done is not None:
            result = self._result_of(opts["name"], done)
        else:
            def on_progress(snapshot: dict[str, Any]) -> None:  # about once a second (CallbackSink)
                worker.check_stop()  # a stopping service hands the job back; it runs again later
                if not worker.update_owned(TrainingJobRow, job_id, progress=json.dumps(snapshot, default=str)):
                    # the lease was lost (another worker took the job over): stop before saving or promoting
                    raise LeaseLost(f"training job {job_id} was taken over by another worker")

            policy = GatePolicy(**{k: opts[k] for k in ("tolerance", "min_support", "require_significance")
                                   if opts.get(k) is not None})
            taxonomy = Taxonomy.from_dict(opts["taxonomy"], source="request taxonomy") if opts.get("taxonomy") else None
            with reporting(CallbackSink(on_progress)):
                res = (self.runner or retrain)(
                    name=opts["name"], datasets=opts.get("datasets") or [], store=self.store,
                    dataset_store=self.datasets, seed_weight=opts.get("seed_weight", 1.0),
                    dataset_weight=opts.get("dataset_weight", 1.0), dataset_weights=opts.get("dataset_weights"),
                    model_type=opts.get("model_type"), params=opts.get("params") or {}, taxonomy=taxonomy,
                    mapping=parse_mapping(opts.get("map")), policy=policy,
                    promote_if_passed=bool(opts.get("promote")), by=by, progress=_message, job_id=job_id)
            result = {"name": res.name, "version": res.version,
                      "gate": {"passed": res.decision.passed, "failures": res.decision.failures},
                      "metrics": res.meta.get("metrics", {}), "promoted": res.promoted is not None,
                      "warnings": res.warnings, "comparison": summarize(res.comparison)}
        if result["promoted"] and self.on_production_change is not None and worker.owns(TrainingJobRow, job_id):
            self.on_production_change(result["name"])  # served before the job says done
        worker.update_owned(TrainingJobRow, job_id, status="done", finished_at=utcnow(), worker_id=None,
                            result=json.dumps(result, ensure_ascii=False, default=str))

    def _saved_version(self, name: str, job_id: str, *, promote_requested: bool = False) -> str | None:
        """The complete version an earlier attempt of ``job_id`` saved; a half-written one is marked abandoned.
        Complete = the gate decided on it and what followed the decision was recorded: for a first version
        its promotion or refusal, for a candidate whose promotion was asked for the promotion (made now when
        the gate passed and the attempt died before it)."""
        from nlp.errors import PromotionRefused
        from nlp.lifecycle.promotion import promote

        store = self.store
        for v in reversed(store.versions(name) if name else []):
            meta = store.meta(name, v)
            if (meta.get("training") or {}).get("job_id") != job_id or meta.get("abandoned"):
                continue
            recorded = any(e.get("version") == v for e in store.history(name))
            production = store.aliases(name).get("production")
            if "gate" in meta and (recorded or (production is not None and not promote_requested)):
                return v
            if "gate" in meta and production is not None and promote_requested:
                if meta["gate"].get("passed"):
                    try:
                        promote(store, f"{name}@{v}", by="cxlens", reason=f"training job {job_id} (recovered)",
                                dataset_store=self.datasets)
                    except PromotionRefused:
                        pass  # the candidate stays a candidate, as a refused promote_if_passed leaves it
                return v
            reason = f"training job {job_id} was interrupted before this version was settled; the job ran again"
            store.update_meta(name, v, {"abandoned": reason})
            from nlp.lifecycle.promotion import now

            # in the history, so that a store whose only version is this one is not taken for one from before
            # explicit promotion (which would serve its latest version)
            store.record_event(name, {"action": "abandoned", "version": v, "from": None, "at": now(),
                                      "by": "cxlens", "reason": reason})
        return None

    def _result_of(self, name: str, version: str) -> dict[str, Any]:
        store = self.store
        meta = store.meta(name, version)
        gate = meta.get("gate") or {}
        return {"name": name, "version": version, "gate": {"passed": gate.get("passed"), "failures": gate.get("failures")},
                "metrics": meta.get("metrics", {}), "promoted": store.aliases(name).get("production") == version,
                "warnings": (meta.get("training") or {}).get("warnings", []),
                "comparison": summarize(store.comparison(name, version) or {}), "recovered": True}

    # -- promotion and rollback ----------------------------------------------------------------
    def promote(self, name: str, version: str, *, force: bool, reason: str | None, by: str | None,
                policy: dict[str, Any] | None = None) -> dict[str, Any]:
        from nlp.lifecycle.gate import GatePolicy
        from nlp.lifecycle.promotion import promote

        event = promote(self.store, f"{name}@{version}", force=force, reason=reason, by=by,
                        policy=GatePolicy(**(policy or {})), dataset_store=self.datasets)
        if self.on_production_change is not None:
            self.on_production_change(name)
        return event

    def rollback(self, name: str, *, to: str | None, reason: str | None, by: str | None) -> dict[str, Any]:
        from nlp.lifecycle.promotion import rollback

        event = rollback(self.store, name, to=to, by=by, reason=reason)
        if self.on_production_change is not None:
            self.on_production_change(name)
        return event

    def card(self, name: str, version: str) -> str:
        """The model card, rendered from the store (a read: nothing is written)."""
        from nlp.lifecycle.card import card_text

        n, v = self.store.resolve(f"{name}@{version}")
        return card_text(self.store, n, v)

    def comparison(self, name: str, version: str) -> dict[str, Any]:
        n, v = self.store.resolve(f"{name}@{version}")
        cmp = self.store.comparison(n, v)
        if cmp is None:
            raise NotFound(f"{n}@{v} has no comparison (it was not trained with datasets)", code="no_comparison")
        return cmp

    def history(self, name: str) -> list[dict[str, Any]]:
        """Promotions, refusals, rollbacks (also of a model that serves nothing: its first was refused)."""
        if not self.store.versions(name):
            self.store.resolve(name)  # the store's "no model named ..." error
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
