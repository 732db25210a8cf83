"""Featurizers: text -> feature matrix, swappable per model family.

A featurizer has ``fit(texts, y=None)``, ``transform(texts)`` and ``input_kind``: ``"norm"`` (the
segmenter's normalised lemma string, for sparse n-gram features) or ``"raw"`` (the original text,
for encoders). The ``fast`` family uses :class:`TfidfFeaturizer`; others register in ``FEATURIZERS``.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer

from .errors import DataError


class TfidfFeaturizer(TransformerMixin, BaseEstimator):
    """Word 1-2-gram (on lemmas, with negation marks) + char_wb n-gram TF-IDF, stacked.

    Parameters follow scikit-learn's convention; learned state: ``word_``, ``char_``.
    """

    input_kind = "norm"

    def __init__(self, *, word_ngram_range: tuple[int, int] = (1, 2), char_ngram_range: tuple[int, int] = (2, 5),
                 min_df: int = 1, max_features: int | None = 300_000, char_weight: float = 1.0,
                 sublinear_tf: bool = True) -> None:
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.char_weight = char_weight
        self.sublinear_tf = sublinear_tf

    def fit(self, texts: list[str], y: Any = None) -> "TfidfFeaturizer":
        if len(texts) == 0:
            raise DataError(field="texts", expected="at least one training text", found=0)
        self.word_ = TfidfVectorizer(ngram_range=self.word_ngram_range, min_df=self.min_df, sublinear_tf=self.sublinear_tf,
                                     token_pattern=r"(?u)[\w!?]+|[^\w\s]", max_features=self.max_features,
                                     lowercase=False, dtype=np.float32)
        self.char_ = TfidfVectorizer(analyzer="char_wb", ngram_range=self.char_ngram_range, min_df=max(self.min_df, 2),
                                     sublinear_tf=self.sublinear_tf, max_features=self.max_features, lowercase=False,
                                     dtype=np.float32)
        self.word_.fit(texts)
        self.char_.fit(texts)
        return self

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        if not hasattr(self, "word_"):
            from .errors import NotFittedError

            raise NotFittedError("TfidfFeaturizer is not fitted yet: call fit(texts) first")
        w = self.word_.transform(texts)
        c = self.char_.transform(texts)
        if self.char_weight != 1.0:
            c = c * self.char_weight
        return sp.hstack([w, c], format="csr", dtype=np.float32)


def _encoder_featurizer(**params: Any):
    from .encoders.featurizer import EncoderFeaturizer  # heavy import (torch), only when asked for

    return EncoderFeaturizer(**params)


#: model family -> featurizer factory
FEATURIZERS: dict[str, Callable[..., Any]] = {
    "fast": TfidfFeaturizer,
    "encoder": _encoder_featurizer,
}


def make_featurizer(model_type: str, **params: Any):
    try:
        factory = FEATURIZERS[model_type]
    except KeyError:
        raise DataError(field="model_type", expected=f"one of {sorted(FEATURIZERS)}", found=model_type) from None
    return factory(**params)
