"""Normalisation and segmentation: spaCy blank ``ru``/``en`` tokenizers + sentencizer, a pymorphy3
lemmatizer for Russian, and a clause splitter at contrastive links (но, однако, а, зато, хотя, but,
however, although, while ...) so that each touchpoint label can point at its own evidence span.

All spans are character offsets into the *original* text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

import spacy
from spacy.tokens import Doc

from . import lemmatizer as _lemmatizer  # noqa: F401  (registers the spaCy factory)
from .schema import MAX_TEXT_CHARS

#: words that open a new clause anywhere in a sentence
CONTRAST_ALWAYS = {
    "ru": {"но", "однако", "зато", "хотя", "хотя", "впрочем", "правда", "тем не менее"},
    "en": {"but", "however", "although", "though", "whereas", "nevertheless", "unfortunately", "except"},
}
#: words that open a new clause only after a comma / dash / semicolon
CONTRAST_AFTER_PUNCT = {
    "ru": {"а", "только", "хоть", "еще", "ещё", "плюс", "минус", "кроме", "причем", "причём", "и"},
    "en": {"while", "yet", "and", "plus", "also", "only"},
}
CLAUSE_PUNCT = {";", "—", "–", "-", ":", "(", ")"}
SPLIT_PUNCT = {";"}
MIN_CLAUSE_CHARS = 3

_WS = re.compile(r"\s+")
_NEG_RU = {"не", "нет", "ни", "без", "никогда", "нисколько"}
_NEG_EN = {"not", "no", "never", "n't", "without", "nothing", "nobody", "hardly"}


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


@dataclass
class Analysis:
    """One comment after segmentation."""

    text: str  #: the (possibly truncated) original text
    lang: str  #: processing language
    clauses: list[Span] = field(default_factory=list)
    norm: str = ""  #: normalised lemma string of the whole text (features)
    clause_norms: list[str] = field(default_factory=list)


def normalize_token(tok: str) -> str:
    return tok.lower().replace("ё", "е")


def truncate(text: str, limit: int = MAX_TEXT_CHARS) -> tuple[str, str | None]:
    if len(text) <= limit:
        return text, None
    return text[:limit], f"text truncated from {len(text)} to {limit} characters"


class Segmenter:
    """Tokenise, lemmatise and split comments into sentences and clauses.

    ``lemmatize``: use pymorphy3 lemmas for Russian (word features become inflection-independent).
    ``mark_negation``: prefix the two words after a negation with ``NEG_`` in the normalised string.
    """

    def __init__(self, *, lemmatize: bool = True, mark_negation: bool = True) -> None:
        self.lemmatize = lemmatize
        self.mark_negation = mark_negation

    def __getstate__(self):
        return {"lemmatize": self.lemmatize, "mark_negation": self.mark_negation}

    def __setstate__(self, state):
        self.__dict__.update(state)

    @cached_property
    def _pipelines(self) -> dict[str, spacy.Language]:
        out = {}
        for lang in ("ru", "en"):
            nlp = spacy.blank(lang)
            nlp.add_pipe("sentencizer")
            if lang == "ru" and self.lemmatize:
                nlp.add_pipe("cxlens_pymorphy3_lemmatizer")
            out[lang] = nlp
        return out

    def _nlp(self, lang: str) -> spacy.Language:
        return self._pipelines.get(lang) or self._pipelines["en"]

    def analyze_many(self, texts: list[str], langs: list[str], *, batch_size: int = 256) -> list[Analysis]:
        out: list[Analysis | None] = [None] * len(texts)
        by_lang: dict[str, list[int]] = {}
        for i, lang in enumerate(langs):
            by_lang.setdefault(lang if lang in ("ru", "en") else "en", []).append(i)
        for lang, idx in by_lang.items():
            docs = self._nlp(lang).pipe((texts[i] for i in idx), batch_size=batch_size)
            for i, doc in zip(idx, docs):
                out[i] = self._analysis(doc, lang)
        return out  # type: ignore[return-value]

    def analyze(self, text: str, lang: str) -> Analysis:
        return self.analyze_many([text], [lang])[0]

    # -- internals -------------------------------------------------------------------------------
    def _norm_range(self, tok: "_Tokens", a: int, b: int, neg: set[str]) -> str:
        """Normalised string (lemmas, ``NEG_`` marks) of tokens ``a:b``; negation scope starts fresh."""
        out, pending = [], 0
        for i in range(a, b):
            text = tok.text[i]
            if tok.space[i] or tok.punct[i] and text not in ("!", "?"):
                pending = 0 if text in (".", ",", ";") else pending
                continue
            lemma = tok.norm[i]
            if self.mark_negation and pending and lemma not in neg and tok.alpha[i]:
                out.append("NEG_" + lemma)
                pending -= 1
            else:
                out.append(lemma)
            if self.mark_negation and lemma in neg:
                pending = 2
        return " ".join(out)

    def _analysis(self, doc: Doc, lang: str) -> Analysis:
        text = doc.text
        tok = _Tokens(doc, lemmas=lang == "ru")
        neg = _NEG_RU if lang == "ru" else _NEG_EN
        low = tok.lower
        clauses: list[tuple[int, int]] = []  # token index ranges
        always, after = CONTRAST_ALWAYS.get(lang, set()), CONTRAST_AFTER_PUNCT.get(lang, set())
        for sent in doc.sents:
            start = sent.start
            for i in range(sent.start + 1, sent.end):
                cut = low[i] in always or (low[i] in after and tok.text[i - 1] in {",", "—", "–", "-", ";", "("})
                if tok.text[i] in SPLIT_PUNCT:
                    clauses.append((start, i))
                    start = i + 1
                    continue
                if cut and i > start:
                    end = i - 1 if tok.punct[i - 1] else i
                    clauses.append((start, max(end, start + 1) if end > start else i))
                    start = i
            clauses.append((start, sent.end))
        spans: list[Span] = []
        norms: list[str] = []
        for a, b in clauses:
            if b <= a:
                continue
            lead = a
            while lead < b - 1 and (tok.punct[lead] or low[lead] in always or low[lead] in after):
                lead += 1  # the evidence span starts after a leading "но" / "but" / "а вот"
            if lead < b - 1 and low[lead] in {"вот", "ведь"} and lead > a:
                lead += 1
            s, e = tok.idx[lead], tok.idx[b - 1] + len(tok.text[b - 1])
            # trim whitespace and trailing punctuation from the span
            while s < e and (text[s].isspace() or text[s] in ",;—–-:"):
                s += 1
            while e > s and (text[e - 1].isspace() or text[e - 1] in ",;—–-:("):
                e -= 1
            if e - s < MIN_CLAUSE_CHARS and spans:
                continue
            if e <= s:
                continue
            spans.append(Span(s, e, text[s:e]))
            norms.append(self._norm_range(tok, a, b, neg))
        norm = self._norm_range(tok, 0, len(doc), neg)
        if not spans:
            s = len(text) - len(text.lstrip())
            e = len(text.rstrip())
            spans = [Span(s, max(e, s), text[s:e])]
            norms = [norm]
        return Analysis(text=text, lang=lang, clauses=spans, norm=norm, clause_norms=norms)


class _Tokens:
    """Token attributes of a spaCy ``Doc`` as plain lists, read once (a spaCy ``Token`` object is created
    on every access, which was a fifth of the prediction time)."""

    __slots__ = ("text", "lower", "norm", "idx", "punct", "space", "alpha")

    def __init__(self, doc: Doc, *, lemmas: bool) -> None:
        self.text, self.lower, self.norm, self.idx = [], [], [], []
        self.punct, self.space, self.alpha = [], [], []
        for t in doc:
            self.text.append(t.text)
            self.lower.append(t.lower_)
            self.norm.append(normalize_token(t.lemma_ or t.text) if lemmas else normalize_token(t.text))
            self.idx.append(t.idx)
            self.punct.append(t.is_punct)
            self.space.append(t.is_space)
            self.alpha.append(t.is_alpha)
