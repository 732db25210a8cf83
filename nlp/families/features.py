"""Featurizers: text -> feature matrix, swappable per model family.

A featurizer has ``fit(texts, y=None)``, ``transform(texts)`` and ``input_kind``: ``"norm"`` (the
segmenter's normalised lemma string, for sparse n-gram features) or ``"raw"`` (the original text,
for encoders). The ``fast`` family uses :class:`TfidfFeaturizer` (families and their featurizers: :mod:`nlp.families.registry`).
"""
from __future__ import annotations

import re
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer

from ..compat import NewParamDefaults
from ..errors import DataError

_KEYWORD_HEAD = r"(?<![\w])(?:NEG_)?(?:"


def _keyword_alternative(word: str) -> str:
    return r"\w*\s+(?:NEG_)?".join(re.escape(x) for x in word.split())


def keyword_pattern(words: list[str]) -> re.Pattern:
    """One regex matching any of ``words`` as word beginnings in a normalised lemma string; a phrase
    (``"обратн связь"``) matches its words in sequence, each as a word beginning."""
    alts = [_keyword_alternative(w) for w in sorted(set(words), key=len, reverse=True)]
    return re.compile(_KEYWORD_HEAD + "|".join(alts) + ")", re.UNICODE)


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
        self.__dict__.pop("_char_cache", None)
        return self

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_char_cache", None)  # per-word char n-gram indices: rebuilt on use
        state.pop("_kw_counter", None)
        return state

    def _keyword_counter(self) -> Callable[[str], list[int]]:
        counter = self.__dict__.get("_kw_counter")
        if counter is None or counter.patterns is not self.patterns_:
            counter = self._kw_counter = KeywordCounter(self.patterns_, self.keywords or {})
        return counter

    def keyword_matrix(self, texts: list[str]) -> sp.csr_matrix:
        rows, cols, vals = [], [], []
        counts = self._keyword_counter()
        for i, t in enumerate(texts):
            for j, hits in enumerate(counts(t)):
                if hits:
                    rows.append(i)
                    cols.append(j)
                    vals.append(self.keyword_weight * min(hits, 3) / 3)
        return sp.csr_matrix((np.asarray(vals, dtype=np.float32), (rows, cols)),
                             shape=(len(texts), len(self.patterns_)))

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        if not hasattr(self, "word_"):
            from ..errors import NotFittedError

            raise NotFittedError("TfidfFeaturizer is not fitted yet: call fit(texts) first")
        if all(type(t) is str for t in texts):
            # a row depends on its text alone: a text that comes again (a one-clause comment's clause is
            # the comment; a repeated answer) is featurised once and its row repeated
            first: dict[str, int] = {}
            rows = [first.setdefault(t, len(first)) for t in texts]
            if len(first) < len(texts):
                X = self._transform(list(first))[rows]
                X.has_sorted_indices = True  # rows copied whole: each keeps its sorted indices
                return X
        return self._transform(texts)

    def _transform(self, texts: list[str]) -> sp.csr_matrix:
        w = _tfidf(self.word_, texts, _word_counts)
        c = _tfidf(self.char_, texts, lambda vec, docs: _char_wb_counts(vec, docs, self._word_cache()))
        if self.char_weight != 1.0:
            c = c * self.char_weight
        blocks = [w, c]
        if getattr(self, "patterns_", None):
            blocks.append(self.keyword_matrix(texts))
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    def _word_cache(self) -> dict[str, bytes]:
        cache = self.__dict__.get("_char_cache")
        if cache is None or len(cache) >= _WORD_CACHE_MAX:
            cache = self._char_cache = {}
        return cache


def _is_keyword_pattern(pat: re.Pattern, words: list[str]) -> bool:
    """``pat`` is :func:`keyword_pattern` of ``words`` (whose alternatives of one length come in the order of
    a set, so the pattern's text may differ between processes)."""
    if pat.flags != re.UNICODE or any("|" in w for w in words):
        return False
    text = pat.pattern
    if not (text.startswith(_KEYWORD_HEAD) and text.endswith(")")):
        return False
    return sorted(text[len(_KEYWORD_HEAD):-1].split("|")) == sorted(_keyword_alternative(w) for w in set(words))


class KeywordCounter:
    """``[len(pattern.findall(text)) for _, pattern in patterns]`` for the :func:`keyword_pattern` patterns,
    trying each pattern only where it can match.

    A match starts where no word character precedes, with a keyword's first word (after an optional
    ``NEG_``), and every first word begins with a word character: so each run of word characters (``\\w+``)
    is a possible start, for the patterns with a first word that begins with the next 1-3 characters there.
    Trying those patterns there, left to right, and skipping starts inside a pattern's previous match, finds
    the matches ``findall`` finds. A pattern that is not ``keyword_pattern`` of its keywords, or has a
    keyword whose first word does not begin with a word character, is counted with ``findall``.
    """

    _RUN = re.compile(r"\w+")
    _WORD_START = re.compile(r"\w")

    def __init__(self, patterns: list[tuple[str, re.Pattern]], keywords: dict[str, list[str]]) -> None:
        self.patterns = patterns
        self.compiled = [pat for _, pat in patterns]
        self.slow: list[int] = []
        by3: dict[str, set[int]] = {}
        short: dict[str, set[int]] = {}
        for j, (name, pat) in enumerate(patterns):
            words = keywords.get(name) or []
            firsts = [w.split()[0] if w.split() else "" for w in words]
            if (not words or not _is_keyword_pattern(pat, words)
                    or not all(self._WORD_START.match(f) for f in firsts)):
                self.slow.append(j)
                continue
            for f in firsts:
                (by3.setdefault(f[:3], set()) if len(f) >= 3 else short.setdefault(f, set())).add(j)
        self.by3 = {k: tuple(sorted(v)) for k, v in by3.items()}
        self.short = {k: tuple(sorted(v)) for k, v in short.items()}
        self._memo: dict[str, tuple[int, ...]] = {}  # candidates per 3-character window (``__call__``)

    def _candidates(self, text: str, r: int) -> set[int]:
        out = set(self.by3.get(text[r:r + 3], ()))
        if self.short:
            out.update(self.short.get(text[r:r + 1], ()))
            out.update(self.short.get(text[r:r + 2], ()))
        return out

    def __call__(self, text: str) -> list[int]:
        pats = self.compiled
        counts = [0] * len(pats)
        for j in self.slow:
            counts[j] = len(pats[j].findall(text))
        ends = [0] * len(pats)  # where each pattern's previous match ended
        # the candidates at a start depend only on its next 3 characters: looked up once per such window
        memo = self._memo
        for m in self._RUN.finditer(text):
            q = m.start()
            w = text[q:q + 3]
            cands: Any = memo.get(w)
            if cands is None:
                if len(memo) >= _WORD_CACHE_MAX:
                    memo.clear()
                cands = memo[w] = tuple(sorted(self._candidates(w, 0)))
            if w == "NEG" and text.startswith("NEG_", q):
                cands = set(cands) | self._candidates(text, q + 4)
            if not cands:
                continue
            for j in cands:
                if q >= ends[j]:
                    hit = pats[j].match(text, q)
                    if hit is not None:
                        counts[j] += 1
                        ends[j] = hit.end()
        return counts


#: words whose char n-gram indices a featurizer keeps before it starts afresh (bounds long streams' memory)
_WORD_CACHE_MAX = 200_000


def _plain_vectorizer(vec: Any, analyzer: str) -> bool:
    """``vec`` is a fitted TfidfVectorizer whose analysis :func:`_word_counts` / :func:`_char_wb_counts`
    reproduce: text input, no preprocessing, lowercasing, accent stripping, stop words or binary counts."""
    return (isinstance(vec, TfidfVectorizer) and vec.analyzer == analyzer and vec.input == "content"
            and vec.preprocessor is None and vec.tokenizer is None and not vec.lowercase
            and vec.strip_accents is None and vec.stop_words is None and not vec.binary
            and hasattr(vec, "_tfidf") and hasattr(vec, "vocabulary_"))


def _tfidf(vec: Any, texts: list[str], counts: Callable[[Any, list[str]], sp.csr_matrix | None]):
    """``vec.transform(texts)``: the counts built by ``counts`` (when it can) then ``vec``'s own TF-IDF step."""
    X = counts(vec, texts) if all(type(t) is str for t in texts) else None
    if X is None:
        return vec.transform(texts)
    return vec._tfidf.transform(X, copy=False)


def _csr_counts(indices: Any, indptr: list[int], n_features: int, dtype) -> sp.csr_matrix:
    """The count matrix whose row ``r`` counts the feature indices ``indices[indptr[r]:indptr[r + 1]]``, in
    the form of ``CountVectorizer.transform`` (sorted indices, int32 index arrays, ``dtype`` values)."""
    idx = np.asarray(indices, dtype=np.int32)
    ptr = np.asarray(indptr, dtype=np.int32)
    X = sp.csr_matrix((np.ones(len(idx), dtype=dtype), idx, ptr), shape=(len(ptr) - 1, n_features))
    X.sum_duplicates()  # sorts each row's indices and adds up repeats: the counts
    return X


def _word_counts(vec: Any, texts: list[str]) -> sp.csr_matrix | None:
    """``CountVectorizer.transform`` of a word (1, 1) or (1, 2)-gram vectorizer without its per-feature
    Python loop (``_count_vocab``): the same tokens, n-grams and vocabulary lookups."""
    if not _plain_vectorizer(vec, "word") or tuple(vec.ngram_range) not in ((1, 1), (1, 2)):
        return None
    tokenize = vec.build_tokenizer()
    get = vec.vocabulary_.get
    bigrams = tuple(vec.ngram_range) == (1, 2)
    join = " ".join
    indices: list[int] = []
    indptr = [0]
    for text in texts:
        toks = tokenize(text)
        indices.extend([j for j in map(get, toks) if j is not None])
        if bigrams and len(toks) > 1:
            indices.extend([j for j in map(get, map(join, zip(toks, toks[1:]))) if j is not None])
        indptr.append(len(indices))
    return _csr_counts(indices, indptr, len(vec.vocabulary_), vec.dtype)


def _char_wb_counts(vec: Any, texts: list[str], cache: dict[str, bytes]) -> sp.csr_matrix | None:
    """``CountVectorizer.transform`` of a ``char_wb`` vectorizer: its n-grams are taken word by word (the
    text's whitespace-separated words, each padded with a space: ``_char_wb_ngrams``), so a text's counts
    are the sum of its words' and each word's in-vocabulary n-gram indices are looked up once (``cache``,
    as the bytes of an int32 array: a text's indices are then one ``bytes.join``)."""
    if not _plain_vectorizer(vec, "char_wb"):
        return None
    vocab = vec.vocabulary_
    get = vocab.get
    ngrams = vec._char_wb_ngrams
    hit = cache.get
    rows: list[bytes] = []
    indptr = [0]
    n = 0

    def miss(word: str) -> bytes:
        out = cache[word] = np.asarray([j for j in map(get, ngrams(word)) if j is not None], dtype=np.int32).tobytes()
        return out

    for text in texts:
        row = b"".join([c if (c := hit(w)) is not None else miss(w) for w in text.split()])
        rows.append(row)
        n += len(row) >> 2
        indptr.append(n)
    return _csr_counts(np.frombuffer(b"".join(rows), dtype=np.int32).copy(), indptr, len(vocab), vec.dtype)
