"""Featurizers: text -> feature matrix, swappable per model family.

A featurizer has ``fit(texts, y=None)``, ``transform(texts)`` and ``input_kind``: ``"norm"`` (the
segmenter's normalised lemma string, for sparse n-gram features) or ``"raw"`` (the original text,
for encoders). The ``fast`` family uses :class:`TfidfFeaturizer`; others register in ``FEATURIZERS``.
"""
from __future__ import annotations

import re
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer

from .compat import NewParamDefaults
from .errors import DataError


def keyword_pattern(words: list[str]) -> re.Pattern:
    """One regex matching any of ``words`` as word beginnings in a normalised lemma string; a phrase
    (``"обратн связь"``) matches its words in sequence, each as a word beginning."""
    alts = []
    for w in sorted(set(words), key=len, reverse=True):
        parts = [re.escape(x) for x in w.split()]
        alts.append(r"\w*\s+(?:NEG_)?".join(parts))
    return re.compile(r"(?<![\w])(?:NEG_)?(?:" + "|".join(alts) + ")", re.UNICODE)


class TfidfFeaturizer(NewParamDefaults, TransformerMixin, BaseEstimator):
    """Word 1-2-gram (on lemmas, with negation marks) + char_wb n-gram TF-IDF, stacked, plus optional
    keyword-lexicon features: per touchpoint, ``keyword_weight * min(hits, 3) / 3``.

    Parameters follow scikit-learn's convention; learned state: ``word_``, ``char_``, ``patterns_``.
    """

    input_kind = "norm"

    def __init__(self, *, word_ngram_range: tuple[int, int] = (1, 2), char_ngram_range: tuple[int, int] = (2, 5),
                 min_df: int = 1, max_features: int | None = 300_000, char_weight: float = 1.0,
                 sublinear_tf: bool = True, keywords: dict[str, list[str]] | None = None,
                 keyword_weight: float = 1.0) -> None:
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.char_weight = char_weight
        self.sublinear_tf = sublinear_tf
        self.keywords = keywords
        self.keyword_weight = keyword_weight

    def fit(self, texts: list[str], y: Any = None) -> "TfidfFeaturizer":
        if len(texts) == 0:
            raise DataError(field="texts", expected="at least one training text", found=0)
        self.word_ = TfidfVectorizer(ngram_range=tuple(self.word_ngram_range), min_df=self.min_df, sublinear_tf=self.sublinear_tf,
                                     token_pattern=r"(?u)[\w!?]+|[^\w\s]", max_features=self.max_features,
                                     lowercase=False, dtype=np.float32)
        self.char_ = TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(self.char_ngram_range), min_df=max(self.min_df, 2) if len(texts) >= 50 else 1,
                                     sublinear_tf=self.sublinear_tf, max_features=self.max_features, lowercase=False,
                                     dtype=np.float32)
        self.word_.fit(texts)
        self.char_.fit(texts)
        self.patterns_ = [(k, keyword_pattern(v)) for k, v in sorted((self.keywords or {}).items()) if v]
        return self

    def keyword_matrix(self, texts: list[str]) -> sp.csr_matrix:
        rows, cols, vals = [], [], []
        for i, t in enumerate(texts):
            for j, (_, pat) in enumerate(self.patterns_):
                hits = len(pat.findall(t))
                if hits:
                    rows.append(i)
                    cols.append(j)
                    vals.append(self.keyword_weight * min(hits, 3) / 3)
        return sp.csr_matrix((np.asarray(vals, dtype=np.float32), (rows, cols)),
                             shape=(len(texts), len(self.patterns_)))

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        if not hasattr(self, "word_"):
            from .errors import NotFittedError

            raise NotFittedError("TfidfFeaturizer is not fitted yet: call fit(texts) first")
        w = self.word_.transform(texts)
        c = self.char_.transform(texts)
        if self.char_weight != 1.0:
            c = c * self.char_weight
        blocks = [w, c]
        if getattr(self, "patterns_", None):
            blocks.append(self.keyword_matrix(texts))
        return sp.hstack(blocks, format="csr", dtype=np.float32)


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
