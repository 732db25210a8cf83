"""spaCy component ``cxlens_pymorphy3_lemmatizer``: Russian lemmas from pymorphy3 (one lemma per
surface form, cached), since no Russian spaCy pipeline is available offline."""
from __future__ import annotations

from functools import lru_cache

from spacy.language import Language
from spacy.tokens import Doc

_MORPH = None


def _analyzer():
    global _MORPH
    if _MORPH is None:
        import pymorphy3

        _MORPH = pymorphy3.MorphAnalyzer(lang="ru")
    return _MORPH


@lru_cache(maxsize=200_000)
def lemma_ru(word: str) -> str:
    """Most probable normal form of a lowercased Russian word (non-Cyrillic words unchanged)."""
    if not any("\u0400" <= ch <= "\u04ff" for ch in word):
        return word
    return _analyzer().parse(word)[0].normal_form.replace("ё", "е")


class Pymorphy3Lemmatizer:
    def __call__(self, doc: Doc) -> Doc:
        for token in doc:
            if token.is_alpha:
                token.lemma_ = lemma_ru(token.lower_)
            else:
                token.lemma_ = token.lower_
        return doc


@Language.factory("cxlens_pymorphy3_lemmatizer")
def make_pymorphy3_lemmatizer(nlp: Language, name: str) -> Pymorphy3Lemmatizer:
    return Pymorphy3Lemmatizer()
