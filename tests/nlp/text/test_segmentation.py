"""Unit tests of nlp/text/segmentation.py: clause offsets, contrastive splits, lemmas, negation, truncation."""
from __future__ import annotations

import pickle

import pytest

from nlp.schema import MAX_TEXT_CHARS
from nlp.text.segmentation import Analysis, Segmenter, normalize_token, truncate


@pytest.fixture(scope="module")
def seg() -> Segmenter:
    return Segmenter()


def clause_texts(seg: Segmenter, text: str, lang: str) -> list[str]:
    return [s.text for s in seg.analyze(text, lang).clauses]


COMMENTS = [
    ("Счёт пришёл вовремя, но мастер опоздал на два часа", "ru"),
    ("Интернет хороший, а поддержка медленная 😡😡", "ru"),
    ("ИНТЕРНЕТ НЕ РАБОТАЕТ НО ПОДДЕРЖКА ОТВЕТИЛА БЫСТРО!!!", "ru"),
    ("мастер пришел вовремя но счет не пришел", "ru"),
    ("  Всё отлично. Мастер пришёл вовремя!  ", "ru"),
    ("\n\tДорого, зато быстро\n", "ru"),
    ("Счет пришел поздно; мастер вежливый; приложение — так себе", "ru"),
    ("Отлично 👍 но дорого 😡", "ru"),
    ("Оператор долго не отвечал.\n\nПотом всё-таки помогли, спасибо!", "ru"),
    ("👍", "ru"),
    ("The app is great, while the call center is slow", "en"),
    ("Billing is fine but the engineer was late. However, he fixed everything!", "en"),
    ("THE ROUTER DOESN'T WORK     AND NOBODY CALLS BACK", "en"),
    ("Fast install although the technician was rude 🙄", "en"),
    ("   leading and trailing whitespace, however fine   ", "en"),
    ("Wi-Fi ок, но скорость 5 Мбит/с вместо 100 :(", "ru"),
]


class TestOffsets:
    @pytest.mark.parametrize("text, lang", COMMENTS)
    def test_clauses_index_the_original_text(self, seg, text, lang):
        a = seg.analyze(text, lang)
        assert isinstance(a, Analysis)
        assert a.text == text
        assert a.lang == lang
        assert a.clauses, "at least one clause"
        assert len(a.clause_norms) == len(a.clauses)
        prev_end = 0
        for s in a.clauses:
            assert 0 <= s.start <= s.end <= len(text)
            assert text[s.start : s.end] == s.text
            assert s.start >= prev_end, "clauses are ordered and do not overlap"
            prev_end = s.end
            assert s.text == s.text.strip(), "no leading/trailing whitespace in a span"
            assert s.text, "a text with letters or emoji gives non-empty spans"

    def test_analyze_many_preserves_order_and_languages(self, seg):
        texts = ["Счёт пришёл вовремя, но мастер опоздал", "Billing is fine but the app crashes", "Всё хорошо"]
        out = seg.analyze_many(texts, ["ru", "en", "ru"])
        assert [a.text for a in out] == texts
        assert [a.lang for a in out] == ["ru", "en", "ru"]
        assert [len(a.clauses) for a in out] == [2, 2, 1]

    def test_unconfigured_language_processed_as_english(self, seg):
        a = seg.analyze("Gut, aber teuer", "de")
        assert a.lang == "en"
        assert a.clauses[0].text == "Gut, aber teuer"


class TestContrastSplits:
    @pytest.mark.parametrize("text, expected", [
        ("Счёт пришёл вовремя, но мастер опоздал", ["Счёт пришёл вовремя", "мастер опоздал"]),
        ("Счёт пришёл вовремя, однако сумма завышена", ["Счёт пришёл вовремя", "сумма завышена"]),
        ("Дорого, зато быстро", ["Дорого", "быстро"]),
        ("Мастер пришёл вовремя хотя звонил трижды", ["Мастер пришёл вовремя", "звонил трижды"]),
        ("Интернет хороший, а поддержка медленная", ["Интернет хороший", "поддержка медленная"]),
        ("Цена нормальная, а вот мастер опоздал", ["Цена нормальная", "мастер опоздал"]),
        ("мастер пришел вовремя но счет не пришел", ["мастер пришел вовремя", "счет не пришел"]),  # no comma
        ("ИНТЕРНЕТ НЕ РАБОТАЕТ НО ПОДДЕРЖКА ОТВЕТИЛА", ["ИНТЕРНЕТ НЕ РАБОТАЕТ", "ПОДДЕРЖКА ОТВЕТИЛА"]),  # CAPS
    ])
    def test_russian(self, seg, text, expected):
        assert clause_texts(seg, text, "ru") == expected

    @pytest.mark.parametrize("text, expected", [
        ("Billing is fine but the engineer was late", ["Billing is fine", "the engineer was late"]),
        ("The price is high however the service is good", ["The price is high", "the service is good"]),
        ("Fast install although the technician was rude", ["Fast install", "the technician was rude"]),
        ("The app is great, while the call center is slow", ["The app is great", "the call center is slow"]),
    ])
    def test_english(self, seg, text, expected):
        assert clause_texts(seg, text, "en") == expected

    def test_connective_excluded_offsets(self, seg):
        text = "Счёт пришёл вовремя, но мастер опоздал"
        first, second = seg.analyze(text, "ru").clauses
        # "Счёт пришёл вовремя" = [0:19]; ", " = [19:21]; "но " = [21:24]; "мастер опоздал" = [24:38]
        assert (first.start, first.end) == (0, 19)
        assert (second.start, second.end) == (24, 38)

    def test_no_split_on_a_without_comma(self, seg):
        assert clause_texts(seg, "Мастер а также менеджер были вежливы", "ru") == ["Мастер а также менеджер были вежливы"]

    def test_no_split_on_while_without_comma(self, seg):
        assert clause_texts(seg, "I waited while the engineer worked", "en") == ["I waited while the engineer worked"]

    def test_semicolon_splits(self, seg):
        text = "Счет пришел поздно; мастер вежливый"
        a = seg.analyze(text, "ru")
        assert [s.text for s in a.clauses] == ["Счет пришел поздно", "мастер вежливый"]
        assert (a.clauses[1].start, a.clauses[1].end) == (20, 35)

    def test_sentences_split(self, seg):
        assert clause_texts(seg, "  Всё отлично. Мастер пришёл вовремя!  ", "ru") == ["Всё отлично.",
                                                                                       "Мастер пришёл вовремя!"]

    def test_sentence_initial_connective_not_in_span(self, seg):
        assert clause_texts(seg, "The price is high. However, the service is good.", "en") == [
            "The price is high.", "the service is good."]

    def test_sentence_initial_although_no_split(self, seg):
        a = seg.analyze("Although the price is high, the service is great", "en")
        assert [s.text for s in a.clauses] == ["the price is high, the service is great"]
        assert a.clauses[0].start == len("Although ")

    def test_clause_norms_follow_clauses(self, seg):
        a = seg.analyze("Счёт пришёл вовремя, но мастер опоздал", "ru")
        assert a.clause_norms == ["счет прийти вовремя", "но мастер опоздать"]


class TestNormalisation:
    def test_normalize_token(self):
        assert normalize_token("ЁЛКА") == "елка"
        assert normalize_token("Счёт") == "счет"

    def test_russian_lemmas(self, seg):
        norm = seg.analyze("счета приходят", "ru").norm
        assert norm.split() == ["счет", "приходить"]

    def test_yo_normalised(self, seg):
        norm = seg.analyze("Счёт пришёл, ёлка", "ru").norm
        assert "ё" not in norm
        assert norm.split() == ["счет", "прийти", "елка"]  # punctuation dropped from the norm

    def test_inflections_share_a_lemma(self, seg):
        a = seg.analyze("Мастера опоздали", "ru").norm.split()
        b = seg.analyze("мастер опоздал", "ru").norm.split()
        assert a == b == ["мастер", "опоздать"]

    def test_english_is_lowercased_not_lemmatised(self, seg):
        assert seg.analyze("The Bills Arrive LATE", "en").norm == "the bills arrive late"

    def test_lemmatize_off(self):
        s = Segmenter(lemmatize=False)
        assert s.analyze("Счета приходят", "ru").norm == "счета приходят"


class TestNegation:
    def test_russian_two_words(self, seg):
        # "не" marks the next two words; "уже" and "неделю" are outside the scope
        assert seg.analyze("Интернет не работает совсем уже неделю", "ru").norm == \
            "интернет не NEG_работать NEG_совсем уже неделя"

    def test_english_not(self, seg):
        assert seg.analyze("The router did not work at all today", "en").norm == \
            "the router did not NEG_work NEG_at all today"

    def test_english_contraction(self, seg):
        assert seg.analyze("it doesn't work well", "en").norm == "it does n't NEG_work NEG_well"

    def test_scope_stops_at_period_and_comma(self, seg):
        assert seg.analyze("Не работает. Звонил три раза", "ru").norm == "не NEG_работать звонить три раз"
        assert seg.analyze("not fast, cheap", "en").norm == "not NEG_fast cheap"

    def test_mark_negation_off(self):
        s = Segmenter(mark_negation=False)
        assert s.analyze("Интернет не работает совсем", "ru").norm == "интернет не работать совсем"

    def test_exclamation_not_negated(self, seg):
        norm = seg.analyze("Интернет не работает!", "ru").norm
        assert "NEG_!" not in norm.split()


class TestEdgeCases:
    def test_truncate(self):
        text = "а" * (MAX_TEXT_CHARS + 1)
        out, warning = truncate(text)
        assert MAX_TEXT_CHARS == 20_000
        assert out == "а" * 20_000
        assert warning == "text truncated from 20001 to 20000 characters"

    def test_truncate_at_limit_no_warning(self):
        text = "б" * MAX_TEXT_CHARS
        assert truncate(text) == (text, None)
        assert truncate("short") == ("short", None)

    def test_truncate_custom_limit(self):
        assert truncate("abcdef", limit=4) == ("abcd", "text truncated from 6 to 4 characters")

    @pytest.mark.parametrize("text, lang", [("", "ru"), ("", "en"), ("   ", "en"), ("\n\n", "ru")])
    def test_empty_text_one_span(self, seg, text, lang):
        a = seg.analyze(text, lang)
        assert len(a.clauses) == 1
        s = a.clauses[0]
        assert s.text == "" and text[s.start : s.end] == ""
        assert 0 <= s.start <= s.end <= len(text)
        assert a.norm == "" and a.clause_norms == [""]

    def test_punctuation_only(self, seg):
        a = seg.analyze("!!! ...", "ru")
        assert len(a.clauses) >= 1
        for s in a.clauses:
            assert "!!! ..."[s.start : s.end] == s.text

    def test_pickle_round_trip(self, seg):
        seg.analyze("прогрев", "ru")  # builds the spaCy pipelines
        clone = pickle.loads(pickle.dumps(seg))
        assert (clone.lemmatize, clone.mark_negation) == (True, True)
        assert clone.analyze("счета приходят", "ru").norm == "счет приходить"
