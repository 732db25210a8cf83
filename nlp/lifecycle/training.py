"""Training from labeled files, the default model, and opening a model (building the default if missing).

Every way of training ends in the one training path, :func:`nlp.lifecycle.retrain.retrain`: here it is
given the rows of the user's files instead of the bundled seed set.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from ..config import DEFAULT_MODEL_NAME, SHIPPED_MODEL_TYPE, default_model_type
from ..errors import DataError
from ..labeled.formats import read_labeled
from ..schema import Example
from ..taxonomy import Taxonomy, load_taxonomy
from .gate import GatePolicy
from .retrain import TrainingResult, fingerprint, retrain
from .store import ModelStore, parse_spec


def load_examples(paths: Sequence[str | Path], *, labels: Sequence[str] | None = None) -> tuple[list[Example], list[DataError]]:
    examples, errors = [], []
    for p in paths:
        ex, err = read_labeled(p, labels=labels)
        examples += ex
        errors += err
    return examples, errors


def train_model(train_paths: Sequence[str | Path], *, dev_path: str | Path | None = None, model_type: str = "fast",
                name: str = DEFAULT_MODEL_NAME, store: ModelStore | None = None, params: dict[str, Any] | None = None,
                taxonomy: Taxonomy | None = None, progress: Callable[[str], None] | None = None,
                encoder: str | Path | None = None, encoder_prefix: str | None = None, finetune: bool = False,
                finetune_epochs: int | None = None, by: str | None = None, promote_if_passed: bool = False,
                policy: GatePolicy | None = None) -> TrainingResult:
    """Train a new version of ``name`` on labeled files (and evaluate it, and production, on ``dev_path``).
    Bad rows are skipped and returned in ``errors``; the rest is :func:`nlp.lifecycle.retrain.retrain`.
    ``taxonomy=None``: the production model's, else the bundled one when it covers the files' labels, else
    the files' own labels."""
    if not train_paths:
        raise DataError(field="--data", expected="at least one labeled training file", found=0)
    examples, errors = load_examples(train_paths)
    if not examples:
        raise DataError("no valid training rows", source=", ".join(map(str, train_paths)),
                        expected="labeled rows with 'text' and 'sentiment' and/or 'aspects'", found=f"{len(errors)} bad rows")
    dev: list[Example] = []
    if dev_path is not None:
        dev, dev_errors = load_examples([dev_path])
        errors += dev_errors
    sources = {"training": {"files": [str(p) for p in train_paths], "sha256": fingerprint(train_paths),
                            "skipped_rows": len(errors)},
               "dev": {"file": str(dev_path), "sha256": fingerprint([dev_path]), "rows": len(dev)} if dev_path else None}
    return retrain(name=name, store=store, model_type=model_type, params=params, taxonomy=taxonomy,
                   seed_train=examples, seed_dev=dev, dev_group="dev", sources=sources, errors=errors,
                   encoder=encoder, encoder_prefix=encoder_prefix, finetune=finetune,
                   finetune_epochs=finetune_epochs, by=by, promote_if_passed=promote_if_passed, policy=policy,
                   progress=progress)


def train_seed_model(*, store: ModelStore | None = None, name: str = DEFAULT_MODEL_NAME, model_type: str | None = None,
                     progress: Callable[[str], None] | None = None) -> TrainingResult:
    """The default touchpoint model: trained on the bundled seed train split, evaluated on its dev split.
    ``model_type=None``: the default family (:func:`nlp.config.default_model_type`)."""
    return retrain(name=name, store=store, model_type=model_type or default_model_type(), taxonomy=load_taxonomy(),
                   progress=progress)


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
