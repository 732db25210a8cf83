"""The one training path (docs/retraining.md): ``cxlens train`` (files, the seed set, stored datasets),
the API's training jobs and the default-model build all end in :func:`retrain`.

:func:`retrain` trains a new version of a named model on the training rows (the bundled seed set by
default, or the rows of the given files: ``seed_train``/``seed_dev``) plus selected analyst datasets,
keeps each dataset's fixed 20 % evaluation split out of training, evaluates the candidate and the
current production version on the same held-out items (the dev rows + the evaluation splits), stores
the comparison (``comparison.json``), the held-out items (``heldout.jsonl``), ``meta.json`` and
``MODEL_CARD.md`` with the version, and says whether the gate would let it be promoted. The first
version of a name is promoted as part of its training when it clears the gate's sanity floor; later
versions are candidates, promoted only when asked (``promote_if_passed``), and then only through the gate.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..config import DEFAULT_MODEL_NAME, default_model_type
from ..errors import DataError
from ..families.pipeline import CommentPipeline
from ..families.registry import family_options, get_family, make_pipeline
from ..labeled.datasets import (EVAL_SHARE, DatasetStore, apply_mapping, check_taxonomy_change, is_eval_row,
                                label_distribution, split_eval, taxonomy_info, text_bucket, unknown_labels)
from ..labeled.formats import read_labeled
from ..labeled.seed import seed_split_path
from ..schema import Example
from ..taxonomy import Taxonomy, Touchpoint, load_taxonomy
from .comparison import compare
from .evaluation import evaluate_predictions, summary_metrics
from .gate import Decision, GatePolicy, decide
from .promotion import pin_production, promote, settle_first_version, who
from .store import COMPARISON_FILE, HELDOUT_FILE, ModelStore

SEED_DEV = "seed_dev"


@dataclass
class TrainingResult:
    pipeline: CommentPipeline
    name: str
    version: str
    comparison: dict[str, Any]
    decision: Decision
    meta: dict[str, Any]
    #: the promotion event: the first version promoted as part of its training, or ``promote_if_passed``
    promoted: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    #: full metrics on the dev rows (:func:`nlp.lifecycle.evaluation.evaluate_predictions`; {} without dev rows)
    metrics: dict[str, Any] = field(default_factory=dict)
    #: bad rows skipped while reading training/dev files
    errors: list[DataError] = field(default_factory=list)

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def first(self) -> bool:
        """The first version of its name (nothing in production to compare with)."""
        return self.comparison.get("production") is None

    @property
    def refused(self) -> list[str] | None:
        """Why a first version was not promoted (the gate's sanity floor); None otherwise."""
        return list(self.decision.failures) if self.first and self.promoted is None else None



def fingerprint(paths: Sequence[str | Path]) -> str:
    """sha256 over the bytes of ``paths`` (training files), in order."""
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()


def with_encoder(model_type: str, params: Mapping[str, Any] | None, *, encoder: str | Path | None = None,
                 prefix: str | None = None) -> dict[str, Any]:
    """``params`` with the encoder featurizer (of the ``encoder`` family, or the ensemble's encoder member)
    pointed at a local ``transformers`` checkpoint folder and/or given another text prefix."""
    out = dict(params or {})
    if encoder is None and prefix is None:
        return out
    if not get_family(model_type).uses_encoder:
        raise DataError(field="--encoder", expected="--model-type of a family that reads an encoder", found=model_type)
    fp: dict[str, Any] = {}
    if encoder is not None:
        path = Path(encoder).expanduser()
        if not (path / "config.json").is_file():
            raise DataError("not a transformers checkpoint folder", field="--encoder",
                            expected="a folder written by save_pretrained (with config.json)", found=str(path))
        fp["model_path"] = str(path.resolve())
    if prefix is not None:
        fp["prefix"] = prefix
    if get_family(model_type).featurizer is not None:  # a single-featurizer family: its own featurizer
        out["featurizer_params"] = {**(out.get("featurizer_params") or {}), **fp}
    else:
        members = dict(out.get("member_params") or {})
        enc = dict(members.get("encoder") or {})
        enc["featurizer_params"] = {**(enc.get("featurizer_params") or {}), **fp}
        members["encoder"] = enc
        out["member_params"] = members
    return out


def with_finetune(model_type: str, params: Mapping[str, Any] | None, *, root: str | Path,
                  epochs: int | None = None) -> dict[str, Any]:
    """``params`` with fine-tuning on (the pipeline's ``finetune`` option, ``epochs`` added to its settings when
    given) and the tuned deltas kept in ``root`` (``<models_dir>/.encoders``: the next run on the same rows
    reuses them)."""
    if not get_family(model_type).uses_encoder:
        raise DataError(field="--finetune", expected="--model-type of a family that reads an encoder",
                        found=model_type)
    out = dict(params or {})
    settings = out.get("finetune")
    settings = dict(settings) if isinstance(settings, Mapping) else {}
    if epochs is not None:
        settings["epochs"] = epochs
    out["finetune"] = settings or True
    out["finetune_root"] = str(Path(root).resolve())
    return out


def labels_taxonomy(examples: Sequence[Example]) -> Taxonomy:
    """The bundled taxonomy when it covers every touchpoint of ``examples``; else a taxonomy of exactly
    their labels (files with their own label set, e.g. SemEval categories, trained without --taxonomy)."""
    bundled = load_taxonomy()
    seen = list(dict.fromkeys(a.category for e in examples for a in e.aspects or []))
    if all(c in bundled for c in seen):
        return bundled
    return Taxonomy(tuple(Touchpoint(c, {"en": c}, {}) for c in seen), version="from-labels")


def weight_examples(examples: Sequence[Example], weight: float, *, salt: str) -> list[Example]:
    """Repeat rows to weight a source: ``floor(w)`` copies of every row plus one more copy of a
    deterministic ``w - floor(w)`` share of them (by a hash of the text). ``w = 0`` drops the source."""
    if weight < 0 or not math.isfinite(weight):
        raise DataError(field="weight", expected="a number >= 0", found=weight)
    whole = int(math.floor(weight))
    frac = weight - whole
    out: list[Example] = []
    for e in examples:
        k = whole + (1 if frac > 0 and text_bucket(e.text, salt=salt) < frac else 0)
        out.extend([e] * k)
    return out


def _load(source: str | Path | Sequence[Example]) -> tuple[list[Example], str | None]:
    if isinstance(source, (str, Path)):
        ex, errors = read_labeled(source)
        if errors:
            raise DataError(f"{len(errors)} bad rows in {source}; first: {errors[0]}", source=str(source))
        return ex, fingerprint([source])
    return list(source), None


def _check_labels(examples: Sequence[Example], taxonomy: Taxonomy, what: str) -> None:
    bad = unknown_labels(examples, taxonomy.ids)
    if bad:
        listed = ", ".join(f"{k} ({v} rows)" for k, v in sorted(bad.items()))
        raise DataError(f"{what} has touchpoints that are not in the taxonomy: {listed}", field="--map",
                        expected="add them to the taxonomy (--taxonomy FILE) or map them (--map OLD=NEW / OLD=)",
                        found=sorted(bad))


def _predict(pipeline, examples: Sequence[Example]) -> list[dict]:
    return pipeline.predict([{"id": e.id or str(i), "text": e.text, "lang": e.lang} for i, e in enumerate(examples)])


def _predict_groups(pipeline, groups: Mapping[str, Sequence[Example]]) -> dict[str, list[dict]]:
    flat = [e for ex in groups.values() for e in ex]
    preds = _predict(pipeline, flat) if flat else []
    out, k = {}, 0
    for g, ex in groups.items():
        out[g] = preds[k: k + len(ex)]
        k += len(ex)
    return out


def retrain(*, name: str = DEFAULT_MODEL_NAME, datasets: Sequence[str] = (), store: ModelStore | None = None,
            dataset_store: DatasetStore | None = None, seed_weight: float = 1.0, dataset_weight: float = 1.0,
            dataset_weights: Mapping[str, float] | None = None, model_type: str | None = None,
            params: Mapping[str, Any] | None = None, taxonomy: Taxonomy | None = None,
            mapping: Mapping[str, str | None] | None = None,
            seed_train: str | Path | Sequence[Example] | None = None,
            seed_dev: str | Path | Sequence[Example] | None = None,
            policy: GatePolicy | None = None, promote_if_passed: bool = False, by: str | None = None,
            progress: Callable[[str], None] | None = None, job_id: str | None = None,
            encoder: str | Path | None = None, encoder_prefix: str | None = None, finetune: bool = False,
            finetune_epochs: int | None = None, dev_group: str = SEED_DEV, sources: Mapping[str, Any] | None = None,
            errors: Sequence[DataError] = ()) -> TrainingResult:
    """Train, evaluate against production, store the comparison; see the module docstring.

    ``seed_train`` / ``seed_dev``: the base training and dev rows (default: the bundled seed splits): a file
    or example lists (:func:`nlp.lifecycle.training.train_model` passes the rows of the user's files, tests
    small subsets). ``dev_group``: the name of the dev rows in the comparison and ``heldout.jsonl``;
    ``sources``: what they were read from, stored in meta (``training``: files/sha256/skipped rows, ``dev``:
    the dev file); ``errors``: the bad rows skipped while reading them (returned in the result).
    ``encoder``/``encoder_prefix``: a local checkpoint folder (and its text prefix) for the encoder
    featurizer; ``finetune``: first fine-tune that encoder (default: the converted e5-small) on the training
    rows (always, for a family that :attr:`~nlp.families.registry.Family.finetunes`); the tuned layers go into
    the model itself, and ``<models_dir>/.encoders/`` keeps them as a cache for the next run on the same data.
    ``job_id``: the API training job this run belongs to, recorded in ``meta.training.job_id`` (a re-run of
    an interrupted job finds the version it saved).
    ``dataset_weights``: per-dataset weight overriding ``dataset_weight``. ``mapping``: touchpoint
    renames/removals (``{"old": "new"}``, ``{"old": None}`` drops), applied to all data.
    ``model_type``: the family to train; by default the production model's, else the default family
    (:func:`nlp.config.default_model_type`).
    """
    store = store or ModelStore()
    dstore = dataset_store or DatasetStore()
    policy = policy or GatePolicy()
    say = progress or (lambda m: None)
    mapping = dict(mapping or {})
    warnings: list[str] = []

    # the production version (pinned, so that the candidate does not go live by being the latest)
    base = None
    base_version = pin_production(store, name, by=by)
    if base_version is not None:
        say(f"production: {name}@{base_version}")
        base = store.load(f"{name}@{base_version}")

    model_type = model_type or (getattr(base, "model_type", None) if base is not None else None) \
        or default_model_type()
    params = with_encoder(model_type, params, encoder=encoder, prefix=encoder_prefix)

    # data
    bundled = seed_train is None
    tr_source = seed_train if seed_train is not None else seed_split_path("train")
    dv_source = seed_dev if seed_dev is not None else seed_split_path("dev")
    seed_tr, seed_tr_sha = _load(tr_source)
    seed_dv, seed_dv_sha = _load(dv_source)
    sources = dict(sources or {})  # what the base rows were read from (files: given by the caller)
    if seed_tr_sha and "training" not in sources:
        sources["training"] = {"files": [str(tr_source)], "sha256": seed_tr_sha}
    if seed_dv_sha and "dev" not in sources:
        sources["dev"] = {"file": str(dv_source), "sha256": seed_dv_sha, "rows": len(seed_dv)}
    seed_tr, seed_dv = apply_mapping(seed_tr, mapping), apply_mapping(seed_dv, mapping)

    # taxonomy: given, else the production model's, else the bundled one (or the training rows' own labels)
    taxonomy = taxonomy or (getattr(base, "taxonomy", None) if base is not None else None) \
        or (load_taxonomy() if bundled else labels_taxonomy(seed_tr + seed_dv))
    old_ids = list(getattr(getattr(base, "taxonomy", None), "ids", None) or (base.labels_ if base is not None
                                                                                   else taxonomy.ids))
    change = check_taxonomy_change(old_ids, taxonomy.ids, mapping)
    _check_labels(seed_tr + seed_dv, taxonomy, "the seed set" if bundled else "the training data")
    train: list[Example] = weight_examples(seed_tr, seed_weight, salt="seed")
    groups: dict[str, list[Example]] = {dev_group: seed_dv}
    ds_info = []
    for spec in datasets:
        examples, entry = dstore.load(spec)
        examples = apply_mapping(examples, mapping)
        _check_labels(examples, taxonomy, f"dataset '{entry['name']}'")
        tr, held = split_eval(examples)
        w = float((dataset_weights or {}).get(entry["name"], dataset_weight))
        train += weight_examples(tr, w, salt=f"dataset:{entry['name']}")
        groups[f"dataset:{entry['name']}"] = held
        ds_info.append({"spec": f"{entry['name']}@{entry['hash'][:16]}", "name": entry["name"], "hash": entry["hash"],
                        "rows": len(examples), "train_rows": len(tr), "eval_rows": len(held), "weight": w,
                        "label_distribution": label_distribution(examples)})
        say(f"dataset {entry['name']}: {len(tr)} training rows, {len(held)} held out")
    if not train:
        raise DataError("no training rows", field="--dataset", expected="seed rows (--seed-weight > 0) and/or "
                        "analyst datasets", found=0)
    held_texts = {e.text for ex in groups.values() for e in ex}
    leaked = [e for e in train if e.text in held_texts]
    if leaked:  # the same comment in the seed train split and an evaluation split: keep it held out
        train = [e for e in train if e.text not in held_texts]
        warnings.append(f"{len(leaked)} training rows also in a held-out set were dropped from training")
        if not train:
            raise DataError("every training row is also a held-out row (dev or an evaluation split)", field="--dev",
                            expected="dev rows that are not in the training data", found=f"{len(leaked)} shared rows")
    learned = {a.category for e in train for a in e.aspects or []}
    missing = [t for t in taxonomy.ids if t not in learned]
    if missing:
        warnings.append(f"no training examples for: {', '.join(missing)} (the model cannot predict them)")

    if finetune or get_family(model_type).finetunes:
        params = with_finetune(model_type, params, root=store.root / ".encoders", epochs=finetune_epochs)

    # fit
    opts = family_options(model_type, params)
    pipeline = make_pipeline(model_type, taxonomy=taxonomy, **dict(params or {}))
    say(f"training on {len(train)} rows")
    t0 = time.perf_counter()
    pipeline.fit(train, progress=say)
    train_s = time.perf_counter() - t0

    # evaluate candidate and production on the same held-out items
    say("evaluating candidate" + (" and production" if base is not None else ""))
    cand_preds = _predict_groups(pipeline, groups)
    base_preds = _predict_groups(base, groups) if base is not None else None
    metrics_full = {g: evaluate_predictions(ex, cand_preds[g], pipeline=pipeline if g == dev_group else None)
                    for g, ex in groups.items() if ex}
    summary = summary_metrics(metrics_full.get(dev_group, {}))
    analyst = [e for g, ex in groups.items() if g != dev_group for e in ex]
    if analyst:
        a_preds = [p for g in groups if g != dev_group for p in cand_preds[g]]
        summary.update({f"analyst_{k}": v for k, v in summary_metrics(evaluate_predictions(analyst, a_preds)).items()})

    meta = {
        "params": {"model_type": model_type, **opts},
        "training": {"rows": len(train), "unique_rows": len({e.text for e in train}),
                     "label_distribution": label_distribution(train), "seconds": round(train_s, 2),
                     "trained_by": who(by), "warnings": warnings, "job_id": job_id,
                     **dict(sources.get("training") or {})},
        "dev": dict(sources.get("dev") or {}) or None,
        "retrain": {"base": {"name": name, "version": base.version} if base is not None else None,
                    "seed": {"train_rows": len(seed_tr), "dev_rows": len(seed_dv), "weight": seed_weight,
                             "train_sha256": seed_tr_sha, "dev_sha256": seed_dv_sha},
                    "datasets": ds_info, "eval_share": EVAL_SHARE, "mapping": mapping},
        "taxonomy": {**taxonomy_info(taxonomy), "added": change["added"], "removed": change["removed"],
                     "mapping": change["mapping"]},
        "taxonomy_version": taxonomy.version,
        "heldout": {g: len(ex) for g, ex in groups.items()},
        "metrics": summary,
        "metrics_full": metrics_full,
    }
    heldout = "".join(json.dumps({**e.to_dict(), "group": g}, ensure_ascii=False) + "\n"
                      for g, ex in groups.items() for e in ex)
    version = store.save(pipeline, name, meta=meta, artifacts={HELDOUT_FILE: heldout})
    comparison = compare(groups, cand_preds, base_preds, candidate={"name": name, "version": version},
                         production={"name": name, "version": base.version} if base is not None else None,
                         n_boot=policy.n_boot, seed=policy.seed)
    decision = decide(comparison, policy, seed_group=dev_group)
    comparison["decision"] = decision.to_dict()
    store.write_comparison(name, version, comparison)
    meta = store.update_meta(name, version, {"gate": {"passed": decision.passed, "failures": decision.failures,
                                                      "against": comparison["production"],
                                                      "file": COMPARISON_FILE}})
    from .card import write_card

    write_card(store, name, version)
    promoted = None
    if base is None:  # the first version is promoted as part of its training, if it clears the sanity floor
        reason = "first version of this model" + ("" if comparison["groups"] else
                                                   " (no held-out rows: sanity floor not checked)")
        promoted = settle_first_version(store, name, version, decision, by=by, reason=reason)
        if promoted is None:
            warnings.append("not promoted: " + "; ".join(decision.failures))
    elif promote_if_passed and decision.passed:
        promoted = promote(store, f"{name}@{version}", by=by, policy=policy, dataset_store=dstore)
    pipeline.name, pipeline.version = name, version
    pipeline.meta = store.meta(name, version)
    return TrainingResult(pipeline, name, version, comparison, decision, pipeline.meta, promoted, warnings,
                          metrics=metrics_full.get(dev_group, {}), errors=list(errors))


def load_heldout(store: ModelStore, name: str, version: str) -> dict[str, list[Example]] | None:
    """The held-out items a version was evaluated on, by group (``None`` if it was not retrained here)."""
    text = store.read_artifact(name, version, HELDOUT_FILE)
    if text is None:
        return None
    from ..schema import example_from_dict

    groups: dict[str, list[Example]] = {}
    for i, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        raw = json.loads(line)
        g = raw.pop("group", SEED_DEV)
        groups.setdefault(g, []).append(example_from_dict(raw, row=i, source=f"{name}@{version}/{HELDOUT_FILE}"))
    return groups


def evaluate_versions(store: ModelStore, name: str, candidate: str, production: str | None, *,
                      dataset_store: DatasetStore | None = None, n_boot: int = 1000, seed: int = 0,
                      progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Compare two stored versions (or the candidate alone, ``production=None``: its sanity floor) on the
    candidate's held-out items (its ``heldout.jsonl``), else on the dev file it was trained with, else
    on the bundled seed dev set."""
    say = progress or (lambda m: None)
    groups = load_heldout(store, name, candidate)
    if groups is None:
        dev_file = ((store.meta(name, candidate).get("dev") or {}).get("file"))
        dev_path = Path(dev_file) if dev_file and Path(dev_file).is_file() else seed_split_path("dev")
        dev, _ = read_labeled(dev_path)
        groups = {SEED_DEV if dev_path == seed_split_path("dev") else "dev": dev}
    cand = store.load(f"{name}@{candidate}")
    base = store.load(f"{name}@{production}") if production is not None else None
    against = f" and {name}@{production}" if production is not None else ""
    say(f"evaluating {name}@{candidate}{against} on {sum(map(len, groups.values()))} held-out rows")
    report = compare(groups, _predict_groups(cand, groups), _predict_groups(base, groups) if base is not None else None,
                     candidate={"name": name, "version": candidate},
                     production={"name": name, "version": production} if production is not None else None,
                     n_boot=n_boot, seed=seed)
    report["decision"] = decide(report).to_dict()
    return report


__all__ = ["TrainingResult", "retrain", "fingerprint", "with_encoder", "with_finetune", "labels_taxonomy",
           "weight_examples", "evaluate_versions", "load_heldout", "is_eval_row"]
