"""Classifier heads on feature matrices (scikit-learn estimator contract).

* :class:`SentimentClassifier`: document sentiment (positive / negative / neutral / mixed);
* :class:`TouchpointDetector`: multi-label touchpoint presence with per-label tuned thresholds;
* :class:`PolarityClassifier`: polarity of one touchpoint from its evidence clause.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from ..compat import NewParamDefaults
from ..errors import DataError, NotFittedError


def _logreg(C: float, class_weight: str | None, max_iter: int = 2000) -> LogisticRegression:
    return LogisticRegression(C=C, class_weight=class_weight, max_iter=max_iter, solver="liblinear")


def _check_rows(X, y, what: str) -> None:
    if X.shape[0] != len(y):
        raise DataError(field=what, expected=f"{X.shape[0]} labels (one per row of X)", found=len(y))



def _check_fitted(est, attr: str) -> None:
    if not hasattr(est, attr):
        raise NotFittedError(f"{type(est).__name__} is not fitted yet: call fit first")

class SentimentClassifier(NewParamDefaults, ClassifierMixin, BaseEstimator):
    """Multinomial logistic regression over document features."""

    def __init__(self, *, C: float = 4.0, class_weight: str | None = "balanced", max_iter: int = 2000) -> None:
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter

    def fit(self, X, y: Sequence[str]) -> "SentimentClassifier":
        _check_rows(X, y, "sentiment")
        classes = sorted(set(y))
        if len(classes) < 2:
            raise DataError("cannot train a sentiment classifier", field="sentiment",
                            expected="at least 2 distinct labels", found=classes)
        self.model_ = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter)
        self.model_.fit(X, np.asarray(y))
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X) -> np.ndarray:
        _check_fitted(self, "model_")
        return self.model_.predict_proba(X)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def best_f1_threshold(scores: np.ndarray, truth: np.ndarray, *, lo: float = 0.1, hi: float = 0.9,
                      default: float = 0.5) -> float:
    """The threshold in [lo, hi] maximising F1 of ``scores >= t`` against binary ``truth``.
    Ties go to the threshold nearest ``default``; no positives -> ``default``."""
    truth = truth.astype(bool)
    if truth.sum() == 0:
        return default
    grid = np.round(np.arange(lo, hi + 1e-9, 0.025), 3)
    best, best_t = -1.0, default
    for t in grid:
        pred = scores >= t
        tp = float(np.sum(pred & truth))
        f1 = 2 * tp / (pred.sum() + truth.sum()) if (pred.sum() + truth.sum()) else 0.0
        if f1 > best + 1e-12 or (abs(f1 - best) <= 1e-12 and abs(t - default) < abs(best_t - default)):
            best, best_t = f1, float(t)
    return best_t


class TouchpointDetector(NewParamDefaults, BaseEstimator):
    """One binary logistic regression per label; per-label decision thresholds (``thresholds_``).

    ``fit(X, Y, labels)``: ``Y`` is an (n, L) 0/1 matrix. Thresholds start at ``default_threshold`` and
    are tuned with :meth:`tune_thresholds` on held-out scores.
    """

    def __init__(self, *, C: float = 4.0, class_weight: str | None = "balanced", default_threshold: float = 0.5,
                 max_iter: int = 2000) -> None:
        self.C = C
        self.class_weight = class_weight
        self.default_threshold = default_threshold
        self.max_iter = max_iter

    def fit(self, X, Y: np.ndarray, labels: Sequence[str]) -> "TouchpointDetector":
        Y = np.asarray(Y)
        _check_rows(X, Y, "aspects")
        if Y.ndim != 2 or Y.shape[1] != len(labels):
            raise DataError(field="aspects", expected=f"a label matrix with {len(labels)} columns", found=Y.shape)
        self.classes_ = np.asarray(list(labels), dtype=object)
        self.estimators_: list[LogisticRegression | float] = []
        for j in range(Y.shape[1]):
            col = Y[:, j]
            if col.min() == col.max():  # label always/never present: constant probability
                self.estimators_.append(float(col[0]))
            else:
                self.estimators_.append(_logreg(self.C, self.class_weight, self.max_iter).fit(X, col))
        self.thresholds_ = np.full(len(labels), self.default_threshold, dtype=float)
        return self

    def predict_proba(self, X) -> np.ndarray:
        _check_fitted(self, "estimators_")
        n = X.shape[0]
        out = np.empty((n, len(self.estimators_)), dtype=float)
        stacked = self._stacked(X)
        if stacked is None:
            for j, est in enumerate(self.estimators_):
                out[:, j] = est if isinstance(est, float) else est.predict_proba(X)[:, 1]
            return out
        cols, W, b = stacked
        for j, est in enumerate(self.estimators_):
            if isinstance(est, float):
                out[:, j] = est
        if cols:
            # one sparse product for all labels: column j of X @ W is X @ coef_j.T, the same sums in the same
            # order as each estimator's decision_function (csr_matvecs / csr_matvec), then the same expit
            scores = X @ W + b
            expit(scores, out=scores)
            out[:, cols] = scores
        return out

    def _stacked(self, X):
        """(label columns, coefficients [features, labels], intercepts) of the logistic regressions, for a CSR
        ``X`` they can score together; ``None`` (score one by one, through scikit-learn) otherwise."""
        if not (sp.issparse(X) and X.format == "csr" and X.ndim == 2 and X.dtype in (np.float32, np.float64)):
            return None
        cached = self.__dict__.get("_stack_cache")
        if cached is None:
            cols, coefs, icpts = [], [], []
            for j, est in enumerate(self.estimators_):
                if isinstance(est, float):
                    continue
                coef = getattr(est, "coef_", None)
                if (not isinstance(est, LogisticRegression) or coef is None or coef.shape[0] != 1
                        or len(est.classes_) != 2 or coef.dtype != np.float64):
                    cached = self._stack_cache = (False,)
                    break
                cols.append(j)
                coefs.append(coef[0])
                icpts.append(float(np.asarray(est.intercept_).reshape(-1)[0]))
            else:
                if coefs and len({c.shape[0] for c in coefs}) != 1:
                    cached = self._stack_cache = (False,)
                else:
                    W = np.ascontiguousarray(np.vstack(coefs).T) if coefs else None
                    cached = self._stack_cache = (True, cols, W, np.asarray(icpts, dtype=np.float64))
        if not cached[0] or (cached[2] is not None and X.shape[1] != cached[2].shape[0]):
            return None
        return cached[1], cached[2], cached[3]

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_stack_cache", None)
        return state

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X) >= self.thresholds_).astype(int)

    def tune_thresholds(self, scores: np.ndarray, Y: np.ndarray, *, lo: float = 0.1, hi: float = 0.9) -> np.ndarray:
        """Set ``thresholds_`` to the per-label F1-optimal cut on held-out ``scores``."""
        self.thresholds_ = np.array([best_f1_threshold(scores[:, j], Y[:, j], lo=lo, hi=hi,
                                                       default=self.default_threshold)
                                     for j in range(Y.shape[1])])
        return self.thresholds_


class PolarityClassifier(NewParamDefaults, ClassifierMixin, BaseEstimator):
    """Polarity of a touchpoint from its evidence clause: clause features + the touchpoint (one-hot)."""

    def __init__(self, *, C: float = 4.0, class_weight: str | None = "balanced", category_weight: float = 1.0,
                 max_iter: int = 2000) -> None:
        self.C = C
        self.class_weight = class_weight
        self.category_weight = category_weight
        self.max_iter = max_iter

    def _design(self, X, categories: Sequence[str]):
        index = {c: i for i, c in enumerate(self.categories_)}
        rows = [i for i, c in enumerate(categories) if c in index]
        cols = [index[categories[i]] for i in rows]
        onehot = sp.csr_matrix((np.full(len(rows), self.category_weight, dtype=np.float32), (rows, cols)),
                               shape=(X.shape[0], len(self.categories_)))
        X = X if sp.issparse(X) else sp.csr_matrix(X)
        return sp.hstack([X, onehot], format="csr")

    def fit(self, X, categories: Sequence[str], y: Sequence[str]) -> "PolarityClassifier":
        _check_rows(X, y, "polarity")
        if len(categories) != len(y):
            raise DataError(field="categories", expected=f"{len(y)} categories", found=len(categories))
        classes = sorted(set(y))
        if not classes:
            raise DataError("cannot train a polarity classifier", field="polarity",
                            expected="at least one labeled aspect", found=0)
        self.categories_ = np.asarray(sorted(set(categories)), dtype=object)
        if len(classes) == 1:  # e.g. complaint data: every aspect negative -> that polarity, always
            self.model_ = None
            self.classes_ = np.asarray(classes, dtype=object)
            return self
        self.model_ = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter)
        self.model_.fit(self._design(X, categories), np.asarray(y))
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X, categories: Sequence[str]) -> np.ndarray:
        _check_fitted(self, "classes_")
        if self.model_ is None:
            return np.ones((X.shape[0], 1))
        return self.model_.predict_proba(self._design(X, categories))

    def predict(self, X, categories: Sequence[str]) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X, categories), axis=1)]
