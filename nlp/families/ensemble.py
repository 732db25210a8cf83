"""``ensemble`` model family: several fitted pipelines (by default ``fast`` + ``encoder``) whose
probabilities are averaged: sentiment probabilities, touchpoint scores relative to each member's own
tuned thresholds (a touchpoint is detected when the mean relative score is >= 1), clause scores for the
evidence span, and polarity probabilities on the chosen clause. Members share language id and
segmentation, so each comment is prepared once.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..schema import Example
from ..text.segmentation import Analysis
from .pipeline import CommentPipeline, DocScores, doc_polarity_weight


class EnsemblePipeline(CommentPipeline):
    """Average of member pipelines' probabilities (``members``: model families, or fitted pipelines).
    ``model_type``: the family it is registered as (``ensemble``, or ``finetuned``: the same combination with
    ``finetune`` on). ``finetune`` / ``finetune_root``: handed to the ``encoder`` member (``True`` or a mapping of
    fine-tuning settings; :class:`~nlp.families.pipeline.CommentPipeline`), which fine-tunes its checkpoint on
    the training rows before it fits; the same rows reuse the same tuned folder."""

    def __init__(self, *, members: Sequence[str] = ("fast", "encoder"), member_params: dict[str, dict] | None = None,
                 weights: Sequence[float] | None = None, languages: tuple[str, ...] = ("ru", "en"),
                 polarity_doc_weight: float | str = "auto", taxonomy=None, model_type: str = "ensemble",
                 finetune: bool = False, finetune_root: str | Path | None = None) -> None:
        super().__init__(model_type=model_type, languages=languages, polarity_doc_weight=polarity_doc_weight,
                         taxonomy=taxonomy)
        self.members = members
        self.member_params = member_params
        self.weights = weights
        self.finetune = finetune
        self.finetune_root = finetune_root

    def _member_params(self) -> dict[str, dict]:
        """``member_params``, the encoder member given this pipeline's ``finetune`` / ``finetune_root`` (its own
        :meth:`CommentPipeline.fit` tunes it) when ``finetune`` is on."""
        params = {fam: dict(p or {}) for fam, p in (self.member_params or {}).items()}
        if not self.finetune:
            return params
        if "encoder" not in self.members:
            raise DataError("fine-tuning needs an encoder member", field="members",
                            expected="a list with 'encoder'", found=list(self.members))
        enc = params.setdefault("encoder", {})
        enc.setdefault("finetune", self.finetune)
        enc.setdefault("finetune_root", self.finetune_root)
        return params

    def fit(self, examples: Sequence[Example], *, progress: Callable[[str], None] | None = None) -> "EnsemblePipeline":
        if len(self.members) < 2:
            raise DataError(field="members", expected="at least two model families", found=list(self.members))
        self.polarity_doc_weight_ = doc_polarity_weight(examples, self.polarity_doc_weight)
        say = progress or (lambda m: None)
        member_params = self._member_params()
        fitted = []
        for family in self.members:
            say(f"ensemble: training the '{family}' member")
            params = member_params.get(family, {})
            fitted.append(CommentPipeline(model_type=family, languages=self.languages, taxonomy=self.taxonomy,
                                          **params).fit(examples, progress=progress))
        labels = {tuple(m.labels_) for m in fitted}
        if len(labels) != 1:
            raise DataError("ensemble members learned different label sets", field="members",
                            expected="the same touchpoints", found=sorted(labels))
        self.members_ = fitted
        w = np.asarray(self.weights if self.weights is not None else [1.0] * len(fitted), dtype=float)
        if w.shape != (len(fitted),) or (w < 0).any() or w.sum() == 0:
            raise DataError(field="weights", expected=f"{len(fitted)} non-negative weights", found=list(w))
        self.weights_ = w / w.sum()
        first = fitted[0]
        self.labels_ = first.labels_
        self.featurizer_ = None  # members featurise; kept for the fitted check
        self.detector_ = first.detector_ if all(m.detector_ is not None for m in fitted) else None
        self.sentiment_ = first.sentiment_ if all(m.sentiment_ is not None for m in fitted) else None
        self.polarity_ = first.polarity_ if all(m.polarity_ is not None for m in fitted) else None
        return self

    def _avg(self, arrays: list[np.ndarray | None]) -> np.ndarray | None:
        if any(a is None for a in arrays):
            return None
        return sum(w * a for w, a in zip(self.weights_, arrays))

    def _doc_scores(self, analyses: Sequence[Analysis]) -> DocScores:
        parts = [m._doc_scores(analyses) for m in self.members_]
        return DocScores(X=parts, prob=self._avg([p.prob for p in parts]), rel=self._avg([p.rel for p in parts]),
                         sentiment=self._avg([p.sentiment for p in parts]))

    def _clause_scores(self, analyses: Sequence[Analysis], doc: DocScores, need: set[int]):
        # one clause layout for all members: each featurises the clauses of the same documents
        outs = [m._clause_scores(analyses, DocScores(part.X, None, None, None, clause_rows=part.clause_rows), need)
                for m, part in zip(self.members_, doc.X)]
        return [o[0] for o in outs], outs[0][1], self._avg([o[2] for o in outs])

    def _polarity_proba(self, X_cl, rows: list[int], cats: list[str]) -> np.ndarray | None:
        return self._avg([m._polarity_proba(x, rows, cats) for m, x in zip(self.members_, X_cl)])

    @property
    def encoder_backend(self) -> str | None:
        return next((b for b in (m.encoder_backend for m in getattr(self, "members_", [])) if b), None)

    @property
    def thresholds(self) -> dict[str, dict[str, float]]:
        return {m.model_type: m.thresholds for m in getattr(self, "members_", [])}
