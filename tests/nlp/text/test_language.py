"""Unit tests of nlp/text/language.py: script counting, ru/en/uk detection, unknown and mixed texts."""
from __future__ import annotations

import pickle

import pytest

from nlp.errors import DataError
from nlp.text.language import MIXED, UNKNOWN, LanguageIdentifier, LanguageResult, script_counts


@pytest.fixture(scope="module")
def ident() -> LanguageIdentifier:
    return LanguageIdentifier()  # ru, en


@pytest.fixture(scope="module")
def ru_uk() -> LanguageIdentifier:
    return LanguageIdentifier(languages=("ru", "uk"))


class TestScriptCounts:
    def test_counts(self):
        # "Счёт" 4 cyrillic, "ok" 2 latin, "é" latin (non-ASCII LATIN letter), "服务" 2 other; digits/emoji/space ignored
        assert script_counts("Счёт ok é 服务 123 👍!") == {"cyrillic": 4, "latin": 3, "other": 2}

    def test_ukrainian_letters_are_cyrillic(self):
        assert script_counts("їєґі") == {"cyrillic": 4, "latin": 0, "other": 0}

    def test_empty(self):
        assert script_counts("") == {"cyrillic": 0, "latin": 0, "other": 0}


class TestDetectRuEn:
    @pytest.mark.parametrize("text", ["Ок", "Да", "Счёт", "Хорошо", "Мастер пришёл вовремя",
                                      "Интернет от МТС работает, но Wi-Fi роутер слабый",  # 4 latin letters only
                                      "Мастер пришёл вовремя, всё починил и объяснил, как пользоваться роутером. "
                                      "Оператор на горячей линии ответил быстро, счета приходят без ошибок."])
    def test_russian(self, ident, text):
        assert ident.detect(text) == LanguageResult("ru", "ru", None)

    @pytest.mark.parametrize("text", ["ok", "bill", "Fine", "The engineer arrived on time",
                                      "The engineer arrived on time and fixed the router. Support answered quickly "
                                      "and the bills are always correct, although the app is slow."])
    def test_english(self, ident, text):
        assert ident.detect(text) == LanguageResult("en", "en", None)

    @pytest.mark.parametrize("text", ["", "я", "👍👍😡", "12345", "10/10 !!!", "   "])
    def test_too_few_letters_unknown_with_warning(self, ident, text):
        r = ident.detect(text)
        assert r.lang == UNKNOWN
        assert r.processing_lang == "ru"  # the first configured language
        assert r.warning is not None and "too few letters" in r.warning

    @pytest.mark.parametrize("text", ["خیلی خوب بود", "服务很好", "Πολύ καλό"])
    def test_other_scripts_unknown(self, ident, text):
        r = ident.detect(text)
        assert r.lang == UNKNOWN
        assert r.warning is not None and "not one of the configured languages" in r.warning

    def test_mostly_other_script_with_few_latin_letters(self, ident):
        # 4 Han letters vs 2 latin: main known script latin -> processing en, but other > half of letters
        r = ident.detect("服务很好 ok")
        assert (r.lang, r.processing_lang) == (UNKNOWN, "en")
        assert "other scripts" in r.warning

    def test_mixed_latin_majority(self, ident):
        # cyrillic: Отличный(8)+сервис(6) = 14; latin: the(3)+engineer(8)+was(3)+great(5) = 19
        # minority 14 >= 8 letters and 14/33 = 0.42 >= 0.3 -> mixed, processed as en (majority)
        r = ident.detect("Отличный сервис, the engineer was great")
        assert r == LanguageResult(MIXED, "en", "mixed language: en+ru")

    def test_mixed_cyrillic_majority(self, ident):
        # cyrillic: Мастер(6)+всё(3)+починил(7) = 16; latin: thank(5)+you(3)+so(2)+much(4) = 14 -> 14/30 >= 0.3
        r = ident.detect("Мастер всё починил, thank you so much")
        assert r == LanguageResult(MIXED, "ru", "mixed language: ru+en")

    def test_small_minority_is_not_mixed(self, ident):
        # latin 41, cyrillic очень(5)+плохо(5) = 10 -> 10/51 = 0.196 < 0.3 -> plain en
        assert ident.detect("the app keeps crashing and support never answers, очень плохо").lang == "en"

    def test_minority_below_min_letters_is_not_mixed(self, ident):
        # cyrillic Всё(3)+ок(2) = 5 < 8 letters although 5/12 = 0.42 >= 0.3
        assert ident.detect("Всё ок, good job").lang == "en"

    def test_mixed_thresholds_configurable(self):
        li = LanguageIdentifier(mixed_share=0.1, mixed_min_letters=3)
        # cyrillic 10, latin 41: 10/51 = 0.196 >= 0.1 and 10 >= 3 -> mixed
        r = li.detect("the app keeps crashing and support never answers, очень плохо")
        assert (r.lang, r.processing_lang) == (MIXED, "en")

    def test_min_letters_configurable(self):
        li = LanguageIdentifier(min_letters=5)
        assert li.detect("Ок").lang == UNKNOWN
        assert li.detect("Отлично").lang == "ru"

    def test_detect_many_keeps_order(self, ident):
        out = ident.detect_many(["Привет", "Hello there", "👍"])
        assert [r.lang for r in out] == ["ru", "en", UNKNOWN]

    def test_processing_default_follows_configuration_order(self):
        li = LanguageIdentifier(languages=("en", "ru"))
        assert li.detect("123").processing_lang == "en"


class TestRuUk:
    @pytest.mark.parametrize("text", ["Дякую, все було дуже добре, майстер прийшов вчасно",
                                      "Інтернет працює погано, підтримка не відповідає вже тиждень"])
    def test_ukrainian(self, ru_uk, text):
        assert ru_uk.detect(text) == LanguageResult("uk", "uk", None)

    @pytest.mark.parametrize("text", ["Спасибо, всё было очень хорошо, мастер пришёл вовремя",
                                      "Интернет работает плохо, поддержка не отвечает уже неделю"])
    def test_russian(self, ru_uk, text):
        assert ru_uk.detect(text) == LanguageResult("ru", "ru", None)

    def test_latin_is_not_configured(self, ru_uk):
        r = ru_uk.detect("hello world")
        assert r.lang == UNKNOWN and "['ru', 'uk']" in r.warning

    def test_ukrainian_is_ru_when_only_ru_configured(self, ident):
        # one configured language per script: cyrillic -> ru without asking lingua
        assert ident.detect("Дякую, все було дуже добре").lang == "ru"


class TestConfiguration:
    @pytest.mark.parametrize("langs", [("ru", "xx"), ("english",), ()])
    def test_invalid_codes(self, langs):
        with pytest.raises(DataError) as ei:
            LanguageIdentifier(languages=langs)
        assert ei.value.field == "languages"
        assert "field 'languages'" in str(ei.value)
        assert ei.value.found == list(langs)

    def test_single_language(self):
        li = LanguageIdentifier(languages=("ru",))
        assert li.detect("Всё хорошо").lang == "ru"
        assert li.detect("all good").lang == UNKNOWN

    def test_pickle_round_trip_after_use(self, ident):
        li = LanguageIdentifier(languages=("ru", "uk"))
        assert li.detect("Дякую, все було дуже добре, майстер прийшов вчасно").lang == "uk"  # builds the detector
        clone = pickle.loads(pickle.dumps(li))
        assert clone.languages == ("ru", "uk")
        assert clone.detect("Дякую, все було дуже добре, майстер прийшов вчасно").lang == "uk"
        assert clone.detect("Спасибо, всё было очень хорошо, мастер пришёл вовремя").lang == "ru"

    def test_pickle_default(self, ident):
        ident.detect("Мастер пришёл")
        clone = pickle.loads(pickle.dumps(ident))
        assert clone.detect("Мастер пришёл вовремя").lang == "ru"
        assert clone.detect("The engineer arrived").lang == "en"
        assert (clone.min_letters, clone.mixed_share, clone.mixed_min_letters) == (2, 0.3, 8)
