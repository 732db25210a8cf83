"""The comment pipeline: language id -> segmentation -> features -> sentiment, touchpoints,
per-touchpoint polarity with an evidence span -> prediction rows (docs/formats.md).

:class:`CommentPipeline` follows the estimator contract: options in ``__init__``, learned state with a
trailing underscore (``labels_``, ``featurizer_``, ``sentiment_``, ``detector_``, ``polarity_``).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.model_selection import KFold

from ..compat import NewParamDefaults
from ..errors import DataError, NotFittedError
from ..progress import task
from ..schema import PREDICTED_POLARITIES, SENTIMENTS, Document, Example, prediction_row
from ..taxonomy import Taxonomy
from ..text.language import MIXED, UNKNOWN, LanguageIdentifier
from ..text.segmentation import Analysis, Segmenter, truncate
from .heads import PolarityClassifier, SentimentClassifier, TouchpointDetector
from .registry import get_family, make_featurizer

ProgressFn = Callable[[int], None]


@dataclass
class _Prepared:
    """Documents after language id and segmentation."""

    analyses: list[Analysis]
    langs: list[str]  #: reported language per document
    warnings: list[list[str]]


@dataclass
class DocScores:
    """Scores of a batch of documents (see :meth:`CommentPipeline._doc_scores`)."""

    X: Any  #: document features (opaque to callers)
    prob: np.ndarray | None  #: touchpoint probabilities [n, labels]
    rel: np.ndarray | None  #: probabilities / thresholds: >= 1 is a detection
    sentiment: np.ndarray | None  #: [n, len(SENTIMENTS)]
    clauses: tuple | None = None  #: precomputed (X_cl, starts, p_cl) when clause pooling needed them
    #: (X_cl, starts) of every document's clauses, featurised in the document's own pass (a featurizer with
    #: ``clause_context``): :meth:`CommentPipeline._clause_scores` takes rows from here instead of a 2nd pass
    clause_rows: tuple | None = None


def _as_document(item: Document | dict | str, i: int) -> Document:
    if isinstance(item, Document):
        return item
    if isinstance(item, str):
        return Document(id=str(i), text=item)
    if isinstance(item, dict):
        from ..schema import document_from_dict

        return document_from_dict(item, row=i, default_id=str(i))
    raise DataError(row=i, expected="a Document, a dict with 'text' or a string", found=type(item).__name__)


def _batched(items: Iterable[Document], size: int) -> Iterator[list[Document]]:
    batch: list[Document] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


_FORKED: "CommentPipeline | None" = None  # the pipeline a forked worker inherits


def _forked_batch(batch: list[Document]) -> list[dict[str, Any]]:
    return _FORKED._predict_batch(batch)  # type: ignore[union-attr]


def _predict_forked(pipeline: "CommentPipeline", batches: list[list[Document]], workers: int,
                    progress: ProgressFn | None) -> list[dict[str, Any]]:
    """Batches predicted by ``workers`` forked processes sharing ``pipeline`` copy-on-write, in order."""
    import multiprocessing as mp

    global _FORKED
    _FORKED = pipeline
    out: list[dict[str, Any]] = []
    try:
        with mp.get_context("fork").Pool(workers) as pool:
            for batch, rows in zip(batches, pool.imap(_forked_batch, batches)):
                out.extend(rows)
                if progress:
                    progress(len(batch))
    finally:
        _FORKED = None
    return out


def _stack(blocks: list):
    return sp.vstack(blocks, format="csr") if sp.issparse(blocks[0]) else np.vstack(blocks)


class CommentPipeline(NewParamDefaults):
    """Sentiment + touchpoint classifier for survey comments.

    Parameters
    ----------
    model_type: feature family: ``fast`` (TF-IDF) or ``encoder`` (multilingual-e5).
    languages: languages the detector may answer (others are ``unknown``).
    featurizer_params: options passed to the family's featurizer.
    C, polarity_C, sentiment_C: inverse regularisation of the touchpoint, polarity and sentiment heads.
    class_weight: ``"balanced"`` or ``None``, for all heads.
    threshold_folds: folds of the cross-validation whose out-of-fold scores tune per-label thresholds
        (0 = keep 0.5, the default: on the public dev splits and the seed set, thresholds tuned on
        out-of-fold scores came out too low for the model fitted on all the data; docs/quality.md).
    clause_pooling: touchpoint score = max(document score, best clause score) when ``"max"``.
    clause_training: also train the touchpoint detector on clauses labelled by the evidence spans they
        overlap (rows whose aspects carry offsets), which teaches it which words signal which touchpoint.
    finetune: a family that reads an encoder (``encoder``) first fine-tunes its checkpoint
        (``featurizer_params["model_path"]``, default the converted e5-small) on the training rows, unless
        that checkpoint already is a tuned delta: ``True``, or a mapping of fine-tuning settings
        (:class:`~nlp.families.encoders.finetune.FinetuneConfig` fields, e.g. ``{"epochs": 3}``). The tuned
        layers end up inside the fitted model. ``finetune_root``: where tuned deltas are kept and reused
        (default ``<cache>/encoders``).
    polarity_doc_weight: weight ``w`` of the document's sentiment in a touchpoint's polarity:
        ``(1 - w) * clause polarity + w * (P(pos), P(neg), P(neu)) of the document`` (the document's
        P(mixed) share stays with the clause). 0 = the evidence clause alone. ``"auto"`` (default): learned
        from the training labels, see :func:`doc_polarity_weight` (stored as ``polarity_doc_weight_``).
    """

    def __init__(self, *, model_type: str = "fast", languages: tuple[str, ...] = ("ru", "en"),
                 featurizer_params: dict[str, Any] | None = None, C: float = 4.0, polarity_C: float = 4.0,
                 sentiment_C: float = 16.0,
                 class_weight: str | None = "balanced", threshold_folds: int = 0, clause_pooling: str = "none",
                 clause_training: bool = True, polarity_doc_weight: float | str = "auto", random_state: int = 0,
                 taxonomy: Taxonomy | None = None, finetune: bool | Mapping[str, Any] = False,
                 finetune_root: str | Path | None = None) -> None:
        self.model_type = model_type
        self.languages = languages
        self.featurizer_params = featurizer_params
        self.C = C
        self.polarity_C = polarity_C
        self.sentiment_C = sentiment_C
        self.class_weight = class_weight
        self.threshold_folds = threshold_folds
        self.clause_pooling = clause_pooling
        self.clause_training = clause_training
        self.polarity_doc_weight = polarity_doc_weight
        self.random_state = random_state
        self.taxonomy = taxonomy
        self.finetune = finetune
        self.finetune_root = finetune_root
        # set by the model store
        self.name = "unsaved"
        self.version = "0"
        self.meta: dict[str, Any] = {}

    # -- preparation -----------------------------------------------------------------------------
    @property
    def _langid(self) -> LanguageIdentifier:
        if getattr(self, "_langid_obj", None) is None:
            self._langid_obj = LanguageIdentifier(languages=tuple(self.languages))
        return self._langid_obj

    @property
    def _segmenter(self) -> Segmenter:
        if getattr(self, "_segmenter_obj", None) is None:
            self._segmenter_obj = Segmenter()
        return self._segmenter_obj

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_langid_obj", None)
        state.pop("_segmenter_obj", None)
        return state

    def _prepare(self, texts: Sequence[str], given_langs: Sequence[str | None], *,
                 progress: ProgressFn | None = None) -> _Prepared:
        clipped, warnings, langs, proc = [], [], [], []
        for text, given in zip(texts, given_langs):
            w: list[str] = []
            text, note = truncate(text)
            if note:
                w.append(note)
            if given and given in self.languages:
                lang, plang = given, given
            else:
                res = self._langid.detect(text)
                lang, plang = res.lang, res.processing_lang
                if given and given not in self.languages:
                    w.append(f"lang '{given}' is not one of the configured languages {list(self.languages)}; detected")
                if res.warning and text.strip():
                    w.append(res.warning)
            clipped.append(text)
            warnings.append(w)
            langs.append(lang)
            proc.append(plang)
        if progress is None:
            analyses = self._segmenter.analyze_many(clipped, proc)
        else:  # in slices, to report progress (segmentation is per text: the slicing changes nothing)
            analyses = []
            for a in range(0, len(clipped), 500):
                analyses += self._segmenter.analyze_many(clipped[a:a + 500], proc[a:a + 500])
                progress(len(clipped[a:a + 500]))
        return _Prepared(analyses, langs, warnings)

    def _inputs(self, analyses: Sequence[Analysis]) -> tuple[list[str], list[str], list[int]]:
        """Document inputs, clause inputs and each clause's document index, as the featurizer wants them."""
        raw = getattr(self.featurizer_, "input_kind", "norm") == "raw"
        docs, clauses, owner = [], [], []
        for i, a in enumerate(analyses):
            docs.append(a.text if raw else a.norm)
            for span, norm in zip(a.clauses, a.clause_norms):
                clauses.append(span.text if raw else norm)
                owner.append(i)
        return docs, clauses, owner

    def _features(self, analyses: Sequence[Analysis]):
        docs, clauses, owner = self._inputs(analyses)
        X = self._transform_with_clauses(analyses, docs, clauses)
        return X[: len(docs)], X[len(docs):], np.asarray(owner, dtype=int)

    def _transform_with_clauses(self, analyses: Sequence[Analysis], docs: list[str], clauses: list[str],
                                rows: Sequence[int] | None = None):
        """Features of ``docs + clauses`` (the clauses of ``analyses[rows]``, all by default, in order). A
        featurizer that reads clauses in their comment's context (``clause_context``) gets them as spans."""
        f = self.featurizer_
        if not getattr(f, "clause_context", False):
            return f.transform(docs + clauses)
        rows = range(len(analyses)) if rows is None else rows
        spans = [(k, sp.start, sp.end) for k, r in enumerate(rows) for sp in analyses[r].clauses]
        texts = [analyses[r].text for r in rows]
        X_text, X_span = f.transform_spans(texts, spans)
        if len(docs) == 0:
            return X_span
        return _stack([X_text, X_span])

    def _touchpoint_scores(self, detector: TouchpointDetector, X_doc, X_cl, owner: np.ndarray):
        """(doc-level pooled scores, clause scores)."""
        p_doc = detector.predict_proba(X_doc)
        p_cl = detector.predict_proba(X_cl) if X_cl.shape[0] else np.zeros((0, p_doc.shape[1]))
        pooled = p_doc.copy()
        if self.clause_pooling == "max" and len(owner):
            np.maximum.at(pooled, owner, p_cl)
        return pooled, p_cl

    # -- training --------------------------------------------------------------------------------
    def fit(self, examples: Sequence[Example], *, progress: Callable[[str], None] | None = None) -> "CommentPipeline":
        """Train on labeled examples. Rows with ``sentiment=None`` do not train the sentiment head;
        rows with ``aspects=None`` (no annotation) do not train the touchpoint heads."""
        if not examples:
            raise DataError(field="data", expected="at least one labeled example", found=0)
        self.polarity_doc_weight_ = doc_polarity_weight(examples, self.polarity_doc_weight)
        if not any(e.sentiment is not None or e.aspects for e in examples):
            raise DataError("nothing to train", field="data",
                            expected="rows with 'sentiment' labels and/or 'aspects'", found="neither")
        say = progress or (lambda msg: None)
        say(f"segmenting {len(examples)} examples")
        with task("segmenting", total=len(examples), unit="comment") as t:
            prep = self._prepare([e.text for e in examples], [e.lang for e in examples], progress=t.update)
        fparams = dict(self.featurizer_params or {})
        if get_family(self.model_type).keyword_features and self.taxonomy is not None and self.taxonomy.keywords:
            fparams.setdefault("keywords", self.taxonomy.keywords)
        if self.finetune:
            if not get_family(self.model_type).uses_encoder:
                raise DataError("only an encoder can be fine-tuned", field="finetune",
                                expected="false for this family (or a family that reads an encoder)",
                                found=self.model_type)
            from .encoders.finetune import tuned_featurizer_params

            fparams = tuned_featurizer_params(fparams, examples, options=self.finetune, root=self.finetune_root,
                                              progress=say)
        self.featurizer_ = make_featurizer(self.model_type, **fparams)
        docs, clauses, owner = self._inputs(prep.analyses)
        say("fitting features")
        self.featurizer_.fit(docs)
        X = self._transform_with_clauses(prep.analyses, docs, clauses)
        X_doc, X_cl, owner = X[: len(docs)], X[len(docs):], np.asarray(owner, dtype=int)

        # sentiment
        s_idx = [i for i, e in enumerate(examples) if e.sentiment is not None]
        s_labels = sorted({examples[i].sentiment for i in s_idx})
        self.sentiment_ = None
        if len(s_labels) >= 2:
            say(f"training sentiment on {len(s_idx)} rows")
            self.sentiment_ = SentimentClassifier(C=self.sentiment_C, class_weight=self.class_weight).fit(X_doc[s_idx], [examples[i].sentiment for i in s_idx])

        # touchpoints
        a_idx = [i for i, e in enumerate(examples) if e.aspects is not None]
        labels = sorted({a.category for i in a_idx for a in examples[i].aspects})
        if self.taxonomy is not None:
            labels = [t for t in self.taxonomy.ids if t in labels] + [t for t in labels if t not in self.taxonomy.ids]
        self.labels_ = labels
        self.detector_ = None
        self.polarity_ = None
        if labels:
            Y = np.zeros((len(a_idx), len(labels)), dtype=int)
            col = {c: j for j, c in enumerate(labels)}
            for r, i in enumerate(a_idx):
                for a in examples[i].aspects:
                    Y[r, col[a.category]] = 1
            cl_rows = np.isin(owner, a_idx)
            remap = {i: r for r, i in enumerate(a_idx)}
            Xa, Xc, oc = X_doc[a_idx], X_cl[cl_rows], np.array([remap[o] for o in owner[cl_rows]], dtype=int)
            Yc = self._clause_labels([examples[i] for i in a_idx], [prep.analyses[i] for i in a_idx], col)
            multi = np.array([len(prep.analyses[a_idx[o]].clauses) > 1 for o in oc], dtype=bool)

            def fit_detector(docs: np.ndarray) -> TouchpointDetector:
                """Detector on these documents, plus their clauses labelled by the evidence spans they overlap."""
                X_fit, Y_fit = Xa[docs], Y[docs]
                if self.clause_training:
                    keep = np.isin(oc, docs) & (Yc[:, 0] >= 0) & multi  # one-clause docs are in already
                    if keep.any():
                        X_fit, Y_fit = _stack([X_fit, Xc[keep]]), np.vstack([Y_fit, Yc[keep]])
                return TouchpointDetector(C=self.C, class_weight=self.class_weight).fit(X_fit, Y_fit, labels)

            say(f"training touchpoint detector on {len(a_idx)} rows, {len(labels)} labels")
            self.detector_ = fit_detector(np.arange(len(a_idx)))
            if self.threshold_folds >= 2 and len(a_idx) >= 4 * self.threshold_folds:
                say(f"tuning thresholds on {self.threshold_folds}-fold out-of-fold scores")
                oof = np.zeros_like(Y, dtype=float)
                folds = KFold(self.threshold_folds, shuffle=True, random_state=self.random_state)
                for tr, te in folds.split(np.arange(len(a_idx))):
                    det = fit_detector(tr)
                    mask = np.isin(oc, te)
                    pos = {d: k for k, d in enumerate(te)}
                    pooled, _ = self._touchpoint_scores(det, Xa[te], Xc[mask],
                                                        np.array([pos[o] for o in oc[mask]], dtype=int))
                    oof[te] = pooled
                self.detector_.tune_thresholds(oof, Y)
            say("training polarity")
            self._fit_polarity([examples[i] for i in a_idx], prep, a_idx, X_cl, owner)
        if self.sentiment_ is None and self.polarity_ is None:
            raise DataError("nothing to train", field="data",
                            expected="rows with 'sentiment' labels and/or 'aspects'", found="neither")
        return self

    @staticmethod
    def _clause_labels(examples: list[Example], analyses: list[Analysis], col: dict[str, int]) -> np.ndarray:
        """One row per clause of these documents: the categories whose evidence spans overlap the clause;
        a row of -1 where the document has an aspect without a span (its clauses cannot be labelled)."""
        rows = []
        for ex, a in zip(examples, analyses):
            spanless = any(asp.start is None for asp in ex.aspects or [])
            for c in a.clauses:
                row = np.zeros(len(col), dtype=int)
                if spanless:
                    row[:] = -1
                else:
                    for asp in ex.aspects or []:
                        if min(c.end, asp.end) - max(c.start, asp.start) > 0:
                            row[col[asp.category]] = 1
                rows.append(row)
        return np.array(rows, dtype=int).reshape(-1, len(col))

    def _fit_polarity(self, examples: list[Example], prep: _Prepared, a_idx: list[int], X_cl, owner: np.ndarray):
        rows, cats, ys = [], [], []
        first_clause = {}
        for k, o in enumerate(owner):
            first_clause.setdefault(int(o), k)
        for ex, i in zip(examples, a_idx):
            analysis = prep.analyses[i]
            base = first_clause.get(i)
            if base is None:
                continue
            n_cl = len(analysis.clauses)
            for a in ex.aspects or []:
                if a.polarity not in PREDICTED_POLARITIES:
                    continue
                if a.start is not None and n_cl > 1:
                    overlaps = [max(0, min(c.end, a.end) - max(c.start, a.start)) for c in analysis.clauses]
                    j = int(np.argmax(overlaps)) if max(overlaps) > 0 else None
                else:
                    j = None
                if j is None and n_cl > 1 and self.detector_ is not None:
                    col = self.labels_.index(a.category)
                    p = self.detector_.predict_proba(X_cl[base: base + n_cl])[:, col]
                    j = int(np.argmax(p))
                rows.append(base + (j or 0))
                cats.append(a.category)
                ys.append(a.polarity)
        if ys:
            self.polarity_ = PolarityClassifier(C=self.polarity_C, class_weight=self.class_weight).fit(X_cl[rows], cats, ys)

    # -- prediction ------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "featurizer_"):
            raise NotFittedError("CommentPipeline is not fitted yet: call fit(examples) or load a saved model")

    def predict(self, docs: Iterable[Document | dict | str], *, batch_size: int = 512,
                progress: ProgressFn | None = None, n_jobs: int = 1) -> list[dict[str, Any]]:
        """Prediction rows (docs/formats.md) for documents, strings or ``{"id", "text"}`` dicts.

        ``n_jobs``: worker processes for large inputs (``-1`` = one per CPU). Used only where forking is
        safe (POSIX, a model without a torch encoder, not inside a daemon process) and there are more
        than two batches; otherwise, and for the first batch (which loads the lazy components once, before
        the fork), prediction runs in this process. The rows are the same either way, in input order.
        """
        self._check_fitted()
        if not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
            raise DataError(field="n_jobs", expected="a positive number of processes or -1 (one per CPU)", found=n_jobs)
        batches: Iterable[list[Document]] = _batched((_as_document(item, i) for i, item in enumerate(docs)), batch_size)
        workers = (os.cpu_count() or 1) if n_jobs == -1 else n_jobs
        out: list[dict[str, Any]] = []
        if workers > 1 and self._can_fork():
            batches = list(batches)
            if len(batches) > 2:
                out.extend(self._predict_batch(batches[0]))
                if progress:
                    progress(len(batches[0]))
                return out + _predict_forked(self, batches[1:], min(workers, len(batches) - 1), progress)
        for batch in batches:
            out.extend(self._predict_batch(batch))
            if progress:
                progress(len(batch))
        return out

    def _can_fork(self) -> bool:
        import multiprocessing as mp

        return ("fork" in mp.get_all_start_methods() and not mp.current_process().daemon
                and get_family(self.model_type).forkable)

    # -- scoring steps (shared with nlp.families.ensemble.EnsemblePipeline) ------------------------------
    def _doc_scores(self, analyses: Sequence[Analysis]) -> "DocScores":
        """Document features, touchpoint probabilities (and the same relative to the per-label thresholds:
        >= 1 means detected) and sentiment probabilities in :data:`SENTIMENTS` order."""
        in_context = bool(getattr(self.featurizer_, "clause_context", False))
        clause_rows = None
        if (self.clause_pooling == "max" or in_context) and self.detector_ is not None:
            X_doc, X_cl, owner = self._features(analyses)  # one pass: documents and their clauses
            prob, p_cl = self._touchpoint_scores(self.detector_, X_doc, X_cl, owner)
            starts = np.searchsorted(owner, np.arange(len(analyses)))
            clauses = (X_cl, starts, p_cl) if self.clause_pooling == "max" else None
            clause_rows = (X_cl, starts)
        else:
            X_doc = self.featurizer_.transform(self._inputs(analyses)[0])
            prob = self.detector_.predict_proba(X_doc) if self.detector_ is not None else None
            clauses = None
        sent = None
        if self.sentiment_ is not None:
            raw = self.sentiment_.predict_proba(X_doc)
            sent = np.zeros((raw.shape[0], len(SENTIMENTS)))
            for q, c in enumerate(self.sentiment_.classes_):
                sent[:, SENTIMENTS.index(c)] = raw[:, q]
        rel = prob / self.detector_.thresholds_ if prob is not None else None
        return DocScores(X_doc, prob, rel, sent, clauses, clause_rows)

    def _clause_scores(self, analyses: Sequence[Analysis], doc: "DocScores", need: set[int]):
        """``(X_cl, starts, p_cl)``: clause rows of document ``r`` (``r`` in ``need``) are
        ``starts[r] : starts[r] + n_clauses``. Only documents in ``need`` get rows: those with several
        clauses are featurised clause by clause, the others reuse their document row (one "clause")."""
        if doc.clauses is not None:
            return doc.clauses
        raw = getattr(self.featurizer_, "input_kind", "norm") == "raw"
        n_doc = doc.X.shape[0]
        texts: list[str] = []
        take: list[int] = []  # row of vstack([doc.X, X_new]) for every clause row
        starts = np.full(len(analyses), -1, dtype=int)
        for r in sorted(need):
            a = analyses[r]
            starts[r] = len(take)
            if len(a.clauses) > 1:
                take.extend(range(n_doc + len(texts), n_doc + len(texts) + len(a.clauses)))
                texts.extend(span.text if raw else norm for span, norm in zip(a.clauses, a.clause_norms))
            else:
                take.append(r)
        multi = [r for r in sorted(need) if len(analyses[r].clauses) > 1]
        if texts and doc.clause_rows is not None:  # featurised in the documents' own pass
            X_pre, pre_starts = doc.clause_rows
            X_new = X_pre[np.concatenate([np.arange(pre_starts[r], pre_starts[r] + len(analyses[r].clauses))
                                          for r in multi])]
        else:
            X_new = self._transform_with_clauses(analyses, [], texts, multi) if texts else None
        X_all = _stack([doc.X, X_new]) if texts else doc.X
        X_cl = X_all[np.asarray(take, dtype=int)]
        p_cl = self.detector_.predict_proba(X_cl) if self.detector_ is not None and take else None
        return X_cl, starts, p_cl

    def _polarity_proba(self, X_cl, rows: list[int], cats: list[str]) -> np.ndarray | None:
        """Polarity probabilities of the given clause rows in :data:`PREDICTED_POLARITIES` order."""
        if self.polarity_ is None or not rows:
            return None
        raw = self.polarity_.predict_proba(X_cl[rows], cats)
        out = np.zeros((len(rows), len(PREDICTED_POLARITIES)))
        for q, c in enumerate(self.polarity_.classes_):
            out[:, PREDICTED_POLARITIES.index(c)] = raw[:, q]
        return out

    def _with_document(self, P: np.ndarray | None, sentiment: np.ndarray | None, docs: list[int]) -> np.ndarray | None:
        """Clause polarity probabilities ``P`` blended with the sentiment of their documents (``docs``)."""
        w = getattr(self, "polarity_doc_weight_", 0.0)  # models saved before the option: the clause alone
        if P is None or sentiment is None or w == 0.0:
            return P
        S = sentiment[np.asarray(docs, dtype=int)]  # SENTIMENTS order: positive, negative, neutral, mixed
        doc = S[:, :3] + S[:, 3:4] * P
        return (1.0 - w) * P + w * doc

    def _predict_batch(self, docs: list[Document]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any] | None] = [None] * len(docs)
        live = []
        for k, d in enumerate(docs):
            if not d.text.strip():
                rows[k] = self._row(d.id, UNKNOWN, {"neutral": 1.0}, "neutral", [], ["empty text: nothing to classify"])
            else:
                live.append(k)
        if not live:
            return rows  # type: ignore[return-value]
        prep = self._prepare([docs[k].text for k in live], [docs[k].lang for k in live])
        ds = self._doc_scores(prep.analyses)
        tps_per_doc: list[list[dict]] = [[] for _ in live]
        if ds.prob is not None:
            hits = np.argwhere(ds.rel >= 1.0).tolist()  # (document, label) pairs, row-major order
            X_cl, starts, p_cl = self._clause_scores(prep.analyses, ds, {r for r, _ in hits})
            starts_l = starts.tolist()
            where = []
            for r, j in hits:
                n_cl, s0 = len(prep.analyses[r].clauses), starts_l[r]
                where.append((r, j, s0 + int(np.argmax(p_cl[s0: s0 + n_cl, j])) if n_cl > 1 else s0))
            P = self._polarity_proba(X_cl, [c for _, _, c in where], [self.labels_[j] for _, j, _ in where])
            P = self._with_document(P, ds.sentiment, [r for r, _, _ in where])
            # plain Python numbers once per batch (the same values as indexing the arrays row by row)
            prob = ds.prob.tolist()
            if P is not None:
                p_arg, p_max = P.argmax(axis=1).tolist(), P.max(axis=1).tolist()
            for n, (r, j, c) in enumerate(where):
                span = prep.analyses[r].clauses[c - starts_l[r]]
                if P is not None:
                    polarity, conf = PREDICTED_POLARITIES[p_arg[n]], prob[r][j] * p_max[n]
                else:
                    polarity, conf = "neutral", prob[r][j]
                tps_per_doc[r].append({
                    "touchpoint": self.labels_[j], "polarity": polarity, "confidence": round(conf, 4),
                    "evidence": {"start": span.start, "end": span.end, "text": span.text},
                })
        sentiment = ds.sentiment.tolist() if ds.sentiment is not None else None
        for r, k in enumerate(live):
            tps = sorted(tps_per_doc[r], key=lambda t: -t["confidence"])
            if sentiment is not None:
                scores = dict(zip(SENTIMENTS, sentiment[r]))
                label = max(scores, key=scores.get)
            else:
                label, scores = _sentiment_from_touchpoints(tps)
            rows[k] = self._row(docs[k].id, prep.langs[r], scores, label, tps, prep.warnings[r])
        return rows  # type: ignore[return-value]

    def _row(self, id_, lang, scores, label, tps, warnings) -> dict[str, Any]:
        return prediction_row(id=id_, lang=lang, sentiment=label, sentiment_scores=scores, touchpoints=tps,
                              model_name=self.name, model_version=self.version, warnings=warnings)

    def predict_polarity(self, items: Sequence[tuple[str, str]]) -> list[str]:
        """Polarity of given (text, touchpoint) pairs, from the clause the detector finds most relevant
        (SemEval-16 slot 3: polarity given the gold aspect categories)."""
        self._check_fitted()
        if self.polarity_ is None:
            raise NotFittedError("this model has no polarity head")
        prep = self._prepare([t for t, _ in items], [None] * len(items))
        ds = self._doc_scores(prep.analyses)
        X_cl, starts, p_cl = self._clause_scores(prep.analyses, ds, set(range(len(items))))
        rows = []
        for r, (_, cat) in enumerate(items):
            n_cl = len(prep.analyses[r].clauses)
            j = 0
            if n_cl > 1 and p_cl is not None and cat in self.labels_:
                j = int(np.argmax(p_cl[starts[r]: starts[r] + n_cl, self.labels_.index(cat)]))
            rows.append(int(starts[r] + j))
        P = self._with_document(self._polarity_proba(X_cl, rows, [c for _, c in items]), ds.sentiment,
                                list(range(len(items))))
        return [PREDICTED_POLARITIES[int(i)] for i in P.argmax(axis=1)]

    # -- introspection ---------------------------------------------------------------------------
    @property
    def encoder_backend(self) -> str | None:
        """The encoder backend in use in this process (else the one it was trained on); ``None`` without an
        encoder (the ``fast`` family)."""
        f = getattr(self, "featurizer_", None)
        return (getattr(f, "serving_backend", None) or getattr(f, "backend_", None)) if f is not None else None

    @property
    def thresholds(self) -> dict[str, float]:
        if getattr(self, "detector_", None) is None:
            return {}
        return {c: float(t) for c, t in zip(self.labels_, self.detector_.thresholds_)}


#: the document's weight in touchpoint polarity when the training labels say they agree (``"auto"``)
AUTO_POLARITY_DOC_WEIGHT = 0.5


def doc_polarity_weight(examples: Sequence[Example], setting: float | str = "auto") -> float:
    """The weight of the document sentiment in touchpoint polarity (``polarity_doc_weight``).

    ``"auto"``: ``0.5 * clip(2 * agreement - 1, 0, 1)``, where agreement is the share of labeled touchpoint
    polarities (positive/negative/neutral) equal to their comment's sentiment, over comments whose sentiment
    is not ``mixed``. Where the two agree (seed set, SemEval-16, NHS: 0.98-0.99) the document's sentiment
    helps (+1 to +4 pair F1 on their dev splits), where they do not (MAMS, 0.49: sentences built to hold
    several aspects of different polarity) it would hurt and the weight is ~0 (docs/quality.md).
    """
    if setting != "auto":
        if isinstance(setting, bool) or not isinstance(setting, (int, float)) or not 0.0 <= setting <= 1.0:
            raise DataError(field="polarity_doc_weight", expected="a number in [0, 1] or 'auto'", found=setting)
        return float(setting)
    agree = total = 0
    for e in examples:
        if e.sentiment not in PREDICTED_POLARITIES:
            continue
        for a in e.aspects or []:
            if a.polarity in PREDICTED_POLARITIES:
                total += 1
                agree += a.polarity == e.sentiment
    if not total:
        return 0.0
    return round(AUTO_POLARITY_DOC_WEIGHT * min(1.0, max(0.0, 2.0 * agree / total - 1.0)), 4)


def _sentiment_from_touchpoints(tps: list[dict]) -> tuple[str, dict[str, float]]:
    """Document sentiment when the model has no sentiment head: from the touchpoints' polarities."""
    pols = {t["polarity"] for t in tps}
    if "positive" in pols and "negative" in pols:
        label = "mixed"
    elif "positive" in pols:
        label = "positive"
    elif "negative" in pols:
        label = "negative"
    else:
        label = "neutral"
    return label, {s: float(s == label) for s in SENTIMENTS}


__all__ = ["CommentPipeline", "MIXED", "UNKNOWN"]

