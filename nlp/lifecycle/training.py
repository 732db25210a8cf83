"""Training: labeled files -> a fitted pipeline -> evaluated on dev -> saved as a new version."""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..config import DEFAULT_MODEL_NAME, SHIPPED_MODEL_TYPE, default_model_type
from ..errors import DataError
from ..families.pipeline import CommentPipeline
from ..families.registry import family_options, get_family, make_pipeline
from ..labeled.datasets import label_distribution
from ..labeled.formats import read_labeled
from ..labeled.seed import seed_split_path
from ..schema import Example
from ..taxonomy import Taxonomy, load_taxonomy
from .evaluation import evaluate_predictions, summary_metrics
from .promotion import pin_production
from .store import ModelStore, parse_spec


@dataclass
class TrainingResult:
    pipeline: CommentPipeline
    name: str
    version: str
    metrics: dict[str, Any]
    errors: list[DataError] = field(default_factory=list)
    #: the promotion event when this (first) version went to production as part of training
    promotion: dict[str, Any] | None = None
    #: why the first version was not promoted (the gate's sanity floor)
    refused: list[str] | None = None


def fingerprint(paths: Sequence[str | Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()


def load_examples(paths: Sequence[str | Path], *, labels: Sequence[str] | None = None) -> tuple[list[Example], list[DataError]]:
    examples, errors = [], []
    for p in paths:
        ex, err = read_labeled(p, labels=labels)
        examples += ex
        errors += err
    return examples, errors


def with_encoder(model_type: str, params: dict[str, Any] | None, *, encoder: str | Path | None = None,
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


def finetuned_encoder(examples: Sequence[Example], *, root: Path, base: str | Path | None = None,
                      epochs: int = 2, progress: Callable[[str], None] | None = None) -> Path:
    """Fine-tune the encoder on ``examples`` (sentiment + touchpoints) into ``root/<data+settings hash>``;
    an existing folder for the same data, base and settings is reused (runs are deterministic)."""
    from ..families.encoders.finetune import FinetuneConfig, finetune_encoder

    cfg = FinetuneConfig(epochs=epochs)
    key = hashlib.sha256(repr(([(e.text, e.sentiment, e.categories) for e in examples],
                               str(base), cfg)).encode("utf-8")).hexdigest()[:16]
    out = root / f"finetuned-{key}"
    if (out / "config.json").is_file():
        return out
    has_aspects = any(e.aspects is not None for e in examples)
    finetune_encoder([e.text for e in examples], sentiment=[e.sentiment for e in examples],
                     touchpoints=[e.categories for e in examples] if has_aspects else None,
                     out_dir=out, base=base, config=cfg, log=progress)
    return out


def train_model(train_paths: Sequence[str | Path], *, dev_path: str | Path | None = None, model_type: str = "fast",
                name: str = DEFAULT_MODEL_NAME, store: ModelStore | None = None, params: dict[str, Any] | None = None,
                taxonomy: Taxonomy | None = None, progress: Callable[[str], None] | None = None,
                encoder: str | Path | None = None, encoder_prefix: str | None = None, finetune: bool = False,
                finetune_epochs: int = 2) -> TrainingResult:
    """Train a new version of ``name``. Bad rows are skipped and returned in ``errors``.

    ``encoder``/``encoder_prefix``: a local checkpoint folder (and its text prefix) for the encoder
    featurizer; ``finetune``: first fine-tune that encoder (default: the converted e5-small) on the training
    rows; the fine-tuned checkpoint is kept in ``<models_dir>/.encoders/`` beside the model versions.
    """
    if not train_paths:
        raise DataError(field="--data", expected="at least one labeled training file", found=0)
    store = store or ModelStore()
    say = progress or (lambda m: None)
    examples, errors = load_examples(train_paths)
    if not examples:
        raise DataError("no valid training rows", source=", ".join(map(str, train_paths)),
                        expected="labeled rows with 'text' and 'sentiment' and/or 'aspects'", found=f"{len(errors)} bad rows")
    dev: list[Example] = []
    if dev_path is not None:
        dev, dev_errors = load_examples([dev_path])
        errors += dev_errors
    params = with_encoder(model_type, params, encoder=encoder, prefix=encoder_prefix)
    if finetune:
        if not get_family(model_type).uses_encoder:
            raise DataError(field="--finetune", expected="--model-type of a family that reads an encoder",
                            found=model_type)
        say("fine-tuning the encoder on the training rows")
        tuned = finetuned_encoder(examples, root=store.root / ".encoders", base=encoder, epochs=finetune_epochs,
                                  progress=say)
        params = with_encoder(model_type, params, encoder=tuned)
    opts = family_options(model_type, params)
    pipeline = make_pipeline(model_type, taxonomy=taxonomy, **params)
    t0 = time.perf_counter()
    pipeline.fit(examples, progress=say)
    train_s = time.perf_counter() - t0
    metrics: dict[str, Any] = {}
    preds: list[dict[str, Any]] = []
    if dev:
        say(f"evaluating on {len(dev)} dev rows")
        preds = pipeline.predict([{"id": e.id, "text": e.text, "lang": e.lang} for e in dev])
        metrics = evaluate_predictions(dev, preds, pipeline=pipeline)
    meta = {
        "params": {"model_type": model_type, **opts},
        "training": {"files": [str(p) for p in train_paths], "sha256": fingerprint(train_paths), "rows": len(examples),
                     "skipped_rows": len(errors), "label_distribution": label_distribution(examples),
                     "seconds": round(train_s, 2)},
        "dev": {"file": str(dev_path), "sha256": fingerprint([dev_path]), "rows": len(dev)} if dev_path else None,
        "metrics": summary_metrics(metrics),
        "metrics_full": metrics,
        "taxonomy_version": taxonomy.version if taxonomy else None,
    }
    # a new version of a served model is a candidate (served only once promoted); while a model has no
    # production version (none yet, or its first was refused), a version that clears the sanity floor is
    # promoted as part of its training
    first = pin_production(store, name) is None
    version = store.save(pipeline, name, meta=meta)
    result = TrainingResult(pipeline, name, version, metrics, errors)
    if first:
        result.promotion, result.refused = _promote_first(store, name, version, dev, preds)
        if result.promotion is None:
            say(f"{name}@{version} is not served (not promoted): " + "; ".join(result.refused))
    pipeline.meta = store.meta(name, version)
    return result


def _promote_first(store: ModelStore, name: str, version: str, dev: list[Example],
                   preds: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, list[str] | None]:
    """The first version of a model goes to production as part of its training when it clears the gate's
    sanity floor on the dev rows (a model trained on shuffled labels does not); with no dev rows there is
    nothing to check it on, and it is promoted with that said in the event."""
    from .comparison import compare
    from .gate import decide
    from .promotion import settle_first_version

    groups = {"dev": dev} if dev else {}
    comparison = compare(groups, {"dev": preds} if dev else {}, None, candidate={"name": name, "version": version},
                         production=None)
    decision = decide(comparison)
    comparison["decision"] = decision.to_dict()
    store.write_comparison(name, version, comparison)
    store.update_meta(name, version, {"gate": {"passed": decision.passed, "failures": decision.failures,
                                               "against": None}})
    reason = "first version of this model" + ("" if dev else " (no dev rows: sanity floor not checked)")
    event = settle_first_version(store, name, version, decision, reason=reason)
    return event, (None if event is not None else decision.failures)


def train_seed_model(*, store: ModelStore | None = None, name: str = DEFAULT_MODEL_NAME, model_type: str | None = None,
                     progress: Callable[[str], None] | None = None) -> TrainingResult:
    """The default touchpoint model: trained on the bundled seed train split, evaluated on its dev split.
    ``model_type=None``: the default family (:func:`nlp.config.default_model_type`)."""
    return train_model([seed_split_path("train")], dev_path=seed_split_path("dev"),
                       model_type=model_type or default_model_type(), name=name,
                       store=store, taxonomy=load_taxonomy(), progress=progress)


def open_model(spec: str = DEFAULT_MODEL_NAME, *, store: ModelStore | None = None, build_default: bool = True,
               progress: Callable[[str], None] | None = None):
    """Load ``spec`` (``name``, ``name@version`` or ``name@alias``) from the store. The one place that builds
    the default model: when ``spec`` names it, the store has no version of it and ``build_default``, the
    model shipped in the package is installed as its first version (when the configured default family is
    the shipped one, :mod:`nlp.lifecycle.shipped`), else one is trained from the bundled seed set (and
    promoted as its first version). Other names never are."""
    store = store if store is not None else ModelStore()
    name, _ = parse_spec(spec)
    if build_default and name == DEFAULT_MODEL_NAME and not store.versions(name):
        installed = None
        if default_model_type() == SHIPPED_MODEL_TYPE:  # the trained default ships in the package
            from .shipped import install_shipped

            installed = install_shipped(store, name=name, progress=progress)
        if installed is None and not store.versions(name):
            if progress is not None:
                progress(f"no '{name}' model in {store.root}: training it from the bundled CX seed set "
                         "(one-off; progress below) ...")
            train_seed_model(store=store, progress=progress)
    return store.load(spec)
