"""Language identification restricted to a configured language set.

Scripts decide when they can (one configured language per script, e.g. ru = Cyrillic, en = Latin);
lingua-language-detector (low-accuracy "fast" mode, restricted to the configured languages) decides
the rest. Texts with too few letters are ``unknown``; texts with a substantial share of two scripts
are reported as ``mixed`` (processed with the majority language).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property

from lingua import Language, LanguageDetectorBuilder

from ..errors import DataError

UNKNOWN = "unknown"
MIXED = "mixed"

#: ISO 639-1 code -> (lingua language, script)
SUPPORTED: dict[str, tuple[Language, str]] = {
    "ru": (Language.RUSSIAN, "cyrillic"),
    "uk": (Language.UKRAINIAN, "cyrillic"),
    "be": (Language.BELARUSIAN, "cyrillic"),
    "kk": (Language.KAZAKH, "cyrillic"),
    "en": (Language.ENGLISH, "latin"),
    "de": (Language.GERMAN, "latin"),
    "fr": (Language.FRENCH, "latin"),
    "es": (Language.SPANISH, "latin"),
    "tr": (Language.TURKISH, "latin"),
}


#: links, e-mail addresses, @mentions and #hashtags say nothing about the comment's language
_NOT_LANGUAGE = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+|[@#][\w.]+", re.UNICODE)


#: runs of letters per script (counted as the length of their joined runs: one string per run, not per letter)
_CYRILLIC_LETTER = re.compile("[" + "".join(re.escape(chr(c)) for c in range(0x400, 0x500) if chr(c).isalpha()) + "]+")
_ASCII_LETTER = re.compile("[A-Za-z]+")
#: what every :data:`_NOT_LANGUAGE` match contains: a text with none of them is left as it is
_NOT_LANGUAGE_MARKS = ("@", "#", "http", "www.")
_NON_ASCII_NON_CYRILLIC = re.compile("[^\x00-\x7f\u0400-\u04ff]")


def script_counts(text: str) -> dict[str, int]:
    """Count letters per script (cyrillic, latin, other), ignoring links, e-mails, @mentions, #hashtags."""
    if any(mark in text for mark in _NOT_LANGUAGE_MARKS):
        text = _NOT_LANGUAGE.sub(" ", text)
    counts = {"cyrillic": len("".join(_CYRILLIC_LETTER.findall(text))),
              "latin": len("".join(_ASCII_LETTER.findall(text))), "other": 0}
    for ch in _NON_ASCII_NON_CYRILLIC.findall(text):  # rare: accented Latin, other scripts, emoji
        if ch.isalpha():
            counts["latin" if unicodedata.name(ch, "").startswith("LATIN") else "other"] += 1
    return counts


@dataclass(frozen=True)
class LanguageResult:
    lang: str  #: a configured code, "mixed" or "unknown"
    processing_lang: str  #: the configured language used for tokenisation and features
    warning: str | None = None


class LanguageIdentifier:
    """Detect the language of comments among ``languages`` (ISO codes; default ru, en)."""

    def __init__(self, *, languages: tuple[str, ...] = ("ru", "en"), min_letters: int = 2,
                 mixed_share: float = 0.3, mixed_min_letters: int = 8) -> None:
        unknown = [code for code in languages if code not in SUPPORTED]
        if unknown or not languages:
            raise DataError(field="languages", expected=f"codes from {sorted(SUPPORTED)}", found=list(languages))
        self.languages = tuple(languages)
        self.min_letters = min_letters
        self.mixed_share = mixed_share
        self.mixed_min_letters = mixed_min_letters

    @cached_property
    def _detector(self):
        langs = [SUPPORTED[c][0] for c in self.languages]
        builder = LanguageDetectorBuilder.from_languages(*langs) if len(langs) > 1 else None
        return builder.with_low_accuracy_mode().build() if builder else None

    @cached_property
    def _by_script(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for code in self.languages:
            out.setdefault(SUPPORTED[code][1], []).append(code)
        return out

    @cached_property
    def _code_of(self) -> dict[Language, str]:
        return {SUPPORTED[c][0]: c for c in self.languages}

    def __getstate__(self):  # the lingua detector is rebuilt lazily after unpickling
        state = self.__dict__.copy()
        for key in ("_detector", "_by_script", "_code_of"):
            state.pop(key, None)
        return state

    def _lingua(self, text: str, candidates: list[str]) -> str:
        if len(candidates) == 1 or self._detector is None:
            return candidates[0]
        lang = self._detector.detect_language_of(text)
        code = self._code_of.get(lang) if lang is not None else None
        return code if code in candidates else candidates[0]

    def detect(self, text: str) -> LanguageResult:
        counts = script_counts(text)
        letters = sum(counts.values())
        default = self.languages[0]
        if letters < self.min_letters:
            return LanguageResult(UNKNOWN, default, "language unknown: too few letters")
        known = {s: n for s, n in counts.items() if s in self._by_script and n}
        if not known:
            return LanguageResult(UNKNOWN, default,
                                  f"language unknown: not one of the configured languages {list(self.languages)}")
        main_script = max(known, key=known.get)
        lang = self._lingua(text, self._by_script[main_script])
        second = sorted(known.values(), reverse=True)[1] if len(known) > 1 else 0
        if second >= self.mixed_min_letters and second / letters >= self.mixed_share:
            other = min(known, key=known.get)
            other_lang = self._by_script[other][0]
            return LanguageResult(MIXED, lang, f"mixed language: {lang}+{other_lang}")
        if counts["other"] > letters / 2:
            return LanguageResult(UNKNOWN, lang, "language unknown: mostly letters of other scripts")
        return LanguageResult(lang, lang)

    def detect_many(self, texts: list[str]) -> list[LanguageResult]:
        return [self.detect(t) for t in texts]
