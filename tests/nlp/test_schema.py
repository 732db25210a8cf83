"""Unit tests of nlp/schema.py (the data contract) and nlp/errors.py (DataError)."""
from __future__ import annotations

import numpy as np
import pytest

from nlp.errors import CxlensError, DataError, ModelNotFoundError, NotFittedError
from nlp.schema import (
    ASPECT_POLARITIES,
    SENTIMENTS,
    Aspect,
    Document,
    Example,
    document_from_dict,
    example_from_dict,
    prediction_row,
)

TEXT = "Счёт завышен, но мастер вежливый"  # len 32; "Счёт завышен" = [0:12], "мастер вежливый" = [17:32]


def _err(raw, **kw) -> DataError:
    with pytest.raises(DataError) as ei:
        example_from_dict(raw, **kw)
    return ei.value


# --------------------------------------------------------------------------------------------------
# DataError
# --------------------------------------------------------------------------------------------------
class TestDataError:
    def test_full_message_format(self):
        e = DataError("bad value", field="sentiment", expected="one of a|b", found="c", row=3, source="in.csv")
        assert str(e) == "in.csv, row 3, field 'sentiment': bad value; expected one of a|b, found 'c'"
        for part in ("in.csv", "row 3", "sentiment", "one of a|b", "'c'"):
            assert part in str(e)

    def test_attributes(self):
        e = DataError("m", field="f", expected="x", found=[1], row="7", source="s")
        assert (e.field, e.expected, e.found, e.row, e.source, e.reason) == ("f", "x", [1], "7", "s", "m")

    def test_is_value_error_and_cxlens_error(self):
        e = DataError("x")
        assert isinstance(e, ValueError) and isinstance(e, CxlensError)
        assert issubclass(ModelNotFoundError, LookupError) and issubclass(ModelNotFoundError, CxlensError)
        assert issubclass(NotFittedError, RuntimeError) and issubclass(NotFittedError, CxlensError)

    def test_one_hierarchy_with_stable_codes(self):
        from pathlib import Path

        from nlp.errors import PromotionRefused

        assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)  # as sklearn's
        root = Path(__file__).resolve().parents[2]
        users = [p for pkg in ("nlp", "cx", "api") for p in (root / pkg).rglob("*.py")
                 if "check_is_fitted" in p.read_text(encoding="utf-8") or
                 "sklearn.exceptions import NotFittedError" in p.read_text(encoding="utf-8")]
        assert users == []  # cxlens raises only its own NotFittedError
        codes = {cls: cls.code for cls in (CxlensError, DataError, ModelNotFoundError, NotFittedError, PromotionRefused)}
        assert len(set(codes.values())) == len(codes)  # each class its own code
        assert DataError("x", code="empty_text").code == "empty_text" and DataError("x").code == "invalid_data"
        assert DataError("x", field="f").to_dict()["code"] == "invalid_data"
        assert PromotionRefused("no", failures=["a"]).failures == ["a"]

    def test_no_location(self):
        assert str(DataError("just a reason")) == "just a reason"
        assert str(DataError(expected="an int", found="x")) == "expected an int, found 'x'"

    def test_nothing_given(self):
        assert str(DataError()) == "invalid value"
        assert str(DataError(source="f.jsonl")) == "f.jsonl: invalid value"

    def test_row_zero_is_shown(self):
        assert str(DataError("r", row=0)) == "row 0: r"

    def test_found_none_shown_only_with_expected(self):
        assert str(DataError(field="text", expected="a string")) == "field 'text': expected a string, found None"
        assert "found" not in str(DataError("oops", field="text", found="zzz"))  # no expected -> found not shown

    def test_long_found_truncated(self):
        found = "я" * 70
        msg = str(DataError(expected="short", found=found))
        # 57 chars + "..." inside the repr
        assert msg == "expected short, found '" + "я" * 57 + "...'"
        assert "я" * 58 not in msg

    def test_found_at_limit_not_truncated(self):
        found = "x" * 60
        assert str(DataError(expected="e", found=found)) == f"expected e, found '{found}'"
        found61 = "x" * 61
        assert str(DataError(expected="e", found=found61)) == "expected e, found '" + "x" * 57 + "...'"

    def test_non_string_found_uses_repr(self):
        assert str(DataError(expected="e", found=(1, 2))) == "expected e, found (1, 2)"
        assert str(DataError(expected="e", found=5)) == "expected e, found 5"

    def test_to_dict(self):
        e = DataError("m", field="f", expected="x", found=1, row=2, source="s")
        assert e.to_dict() == {"source": "s", "row": 2, "field": "f", "expected": "x", "code": "invalid_data",
                               "message": "s, row 2, field 'f': m; expected x, found 1"}


# --------------------------------------------------------------------------------------------------
# example_from_dict
# --------------------------------------------------------------------------------------------------
class TestExampleFromDict:
    def test_valid_full_row(self):
        raw = {"id": 42, "text": TEXT, "lang": "ru", "sentiment": "mixed", "nps": 5,
               "aspects": [{"category": "billing", "polarity": "negative", "from": 0, "to": 12, "target": "Счёт завышен"},
                           {"category": " field_service ", "polarity": "positive", "from": 17, "to": 32},
                           {"category": "app", "polarity": "conflict"}]}
        ex = example_from_dict(raw)
        assert ex.id == "42"
        assert ex.text == TEXT and ex.lang == "ru" and ex.sentiment == "mixed"
        assert ex.aspects == [Aspect("billing", "negative", 0, 12),
                              Aspect("field_service", "positive", 17, 32),  # category stripped
                              Aspect("app", "conflict")]
        assert ex.extra == {"nps": 5}
        assert ex.categories == ["app", "billing", "field_service"]

    def test_aspects_none_vs_empty(self):
        assert example_from_dict({"text": "x"}).aspects is None
        assert example_from_dict({"text": "x", "aspects": None}).aspects is None
        assert example_from_dict({"text": "x", "aspects": []}).aspects == []
        assert example_from_dict({"text": "x"}).categories == []

    def test_categories_unique_sorted(self):
        ex = example_from_dict({"text": "x", "aspects": [{"category": "b", "polarity": "positive"},
                                                          {"category": "a", "polarity": "negative"},
                                                          {"category": "b", "polarity": "negative"}]})
        assert ex.categories == ["a", "b"]

    @pytest.mark.parametrize("s", SENTIMENTS)
    def test_all_sentiments_accepted(self, s):
        assert example_from_dict({"text": "x", "sentiment": s}).sentiment == s

    @pytest.mark.parametrize("bad", ["good", "Positive", "", 1])
    def test_bad_sentiment(self, bad):
        e = _err({"text": "x", "sentiment": bad}, row=4, source="d.jsonl")
        assert e.field == "sentiment" and e.found == bad and e.row == 4
        assert "positive|negative|neutral|mixed" in e.expected
        assert str(e).startswith("d.jsonl, row 4, field 'sentiment'")

    @pytest.mark.parametrize("pol", ASPECT_POLARITIES)
    def test_all_polarities_accepted(self, pol):
        assert example_from_dict({"text": "x", "aspects": [{"category": "c", "polarity": pol}]}).aspects[0].polarity == pol

    @pytest.mark.parametrize("bad", ["bad", "NEGATIVE", None, "mixed"])
    def test_bad_polarity(self, bad):
        e = _err({"text": "x", "aspects": [{"category": "c", "polarity": "positive"}, {"category": "c", "polarity": bad}]})
        assert e.field == "aspects[1].polarity" and e.found == bad

    @pytest.mark.parametrize("start, end", [
        (0, 33),      # to > len(text) = 32
        (-1, 5),      # negative
        (5, 5),       # empty span
        (10, 3),      # reversed
        (0, None),    # only one offset
        (None, 4),
        ("0", "4"),   # not integers
        (0.0, 4.0),
    ])
    def test_offsets_out_of_range(self, start, end):
        asp = {"category": "billing", "polarity": "negative"}
        if start is not None:
            asp["from"] = start
        if end is not None:
            asp["to"] = end
        e = _err({"text": TEXT, "aspects": [asp]})
        assert e.field == "aspects[0].from/to"
        assert e.found == (start, end)
        assert e.expected == "0 <= from < to <= 32"
        assert "evidence offsets out of the text" in str(e)

    def test_offsets_at_bounds_ok(self):
        ex = example_from_dict({"text": TEXT, "aspects": [{"category": "c", "polarity": "neutral", "from": 0, "to": 32}]})
        assert (ex.aspects[0].start, ex.aspects[0].end) == (0, 32)

    def test_boolean_offsets_rejected(self):
        _err({"text": TEXT, "aspects": [{"category": "c", "polarity": "neutral", "from": True, "to": 5}]})

    def test_target_mismatch(self):
        e = _err({"text": TEXT, "aspects": [{"category": "billing", "polarity": "negative",
                                             "from": 0, "to": 12, "target": "мастер"}]}, row=2)
        assert "evidence not in text" in str(e)
        assert e.field == "aspects[0].target" and e.found == "мастер" and e.row == 2
        assert e.expected == "text[0:12] == target"

    def test_target_without_offsets_not_checked(self):
        ex = example_from_dict({"text": TEXT, "aspects": [{"category": "c", "polarity": "positive", "target": "zzz"}]})
        assert ex.aspects == [Aspect("c", "positive")]

    @pytest.mark.parametrize("bad", ["billing", {"category": "billing"}, 5])
    def test_non_list_aspects(self, bad):
        e = _err({"text": "x", "aspects": bad})
        assert e.field == "aspects" and e.expected == "a list of objects" and e.found == bad

    def test_aspect_not_an_object(self):
        e = _err({"text": "x", "aspects": ["billing:negative"]})
        assert e.field == "aspects[0]" and e.found == "billing:negative"

    @pytest.mark.parametrize("cat", [None, "", "  ", 5])
    def test_bad_category(self, cat):
        e = _err({"text": "x", "aspects": [{"category": cat, "polarity": "positive"}]})
        assert e.field == "aspects[0].category" and e.found == cat

    def test_labels_restriction(self):
        raw = {"text": "x", "aspects": [{"category": "billing", "polarity": "positive"},
                                        {"category": "teleport", "polarity": "positive"}]}
        e = _err(raw, labels=["billing", "app"])
        assert e.field == "aspects[1].category" and e.found == "teleport"
        assert "unknown label" in str(e) and "['app', 'billing']" in str(e)
        assert example_from_dict(raw, labels=["billing", "teleport"]).categories == ["billing", "teleport"]

    def test_not_a_mapping(self):
        e = _err(["text"], row=3)
        assert e.expected == "a JSON object" and e.found == "list" and e.row == 3

    def test_missing_text(self):
        e = _err({"sentiment": "positive"}, row=1, source="s")
        assert e.field == "text" and "missing required field" in str(e)
        assert str(e).startswith("s, row 1, field 'text'")

    def test_text_not_string(self):
        e = _err({"text": ["a"]})
        assert e.field == "text" and e.found == ["a"]

    @pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
    def test_empty_text(self, blank):
        e = _err({"text": blank})
        assert e.field == "text" and "empty text" in str(e)

    def test_non_string_lang_dropped(self):
        assert example_from_dict({"text": "x", "lang": 5}).lang is None


# --------------------------------------------------------------------------------------------------
# Example.to_dict / Aspect.to_dict
# --------------------------------------------------------------------------------------------------
class TestExampleToDict:
    def test_aspect_to_dict(self):
        assert Aspect("a", "positive").to_dict(TEXT) == {"category": "a", "polarity": "positive"}
        assert Aspect("a", "positive", 0, 4).to_dict() == {"category": "a", "polarity": "positive", "from": 0, "to": 4}
        assert Aspect("a", "positive", 0, 4).to_dict(TEXT) == {"category": "a", "polarity": "positive",
                                                               "from": 0, "to": 4, "target": "Счёт"}

    def test_to_dict_shape(self):
        ex = Example(text=TEXT, sentiment="mixed", id="r1", lang="ru",
                     aspects=[Aspect("billing", "negative", 0, 12), Aspect("field_service", "positive")],
                     extra={"nps": 4, "text": "must not override"})
        assert ex.to_dict() == {
            "id": "r1", "text": TEXT, "lang": "ru", "sentiment": "mixed",
            "aspects": [{"category": "billing", "polarity": "negative", "from": 0, "to": 12, "target": "Счёт завышен"},
                        {"category": "field_service", "polarity": "positive"}],
            "nps": 4,
        }

    def test_to_dict_without_aspects_or_lang(self):
        d = Example(text="x").to_dict()
        assert d == {"id": None, "text": "x", "sentiment": None}

    @pytest.mark.parametrize("ex", [
        Example(text=TEXT, sentiment="mixed", id="r1", lang="ru",
                aspects=[Aspect("billing", "negative", 0, 12), Aspect("field_service", "positive", 17, 32),
                         Aspect("app", "conflict")], extra={"nps": 4, "wave": "Q1"}),
        Example(text="Всё хорошо", sentiment=None, aspects=[], id="7"),
        Example(text="no labels at all"),
    ])
    def test_round_trip(self, ex):
        assert example_from_dict(ex.to_dict()) == ex


# --------------------------------------------------------------------------------------------------
# document_from_dict
# --------------------------------------------------------------------------------------------------
class TestDocumentFromDict:
    def test_basic(self):
        d = document_from_dict({"id": 3, "text": "t", "lang": "en", "x": 1})
        assert d == Document(id="3", text="t", lang="en", extra={"x": 1})

    def test_default_id(self):
        assert document_from_dict({"text": "t"}, row=5).id == "5"
        assert document_from_dict({"text": "t", "id": "  "}, row=5, default_id="d").id == "d"

    def test_empty_lang_is_none(self):
        assert document_from_dict({"text": "t", "lang": ""}).lang is None


# --------------------------------------------------------------------------------------------------
# prediction_row
# --------------------------------------------------------------------------------------------------
class TestPredictionRow:
    def test_shape_and_rounding(self):
        tps = [{"touchpoint": "billing", "polarity": "negative", "score": 0.9}]
        row = prediction_row(id="1", lang="ru", sentiment="negative",
                             sentiment_scores={"negative": 0.123456, "positive": np.float32(0.87654), "neutral": 0},
                             touchpoints=tps, model_name="cx", model_version="3", warnings=["w"])
        assert list(row) == ["id", "lang", "sentiment", "touchpoints", "model", "warnings"]
        assert row["id"] == "1" and row["lang"] == "ru"
        assert row["sentiment"]["label"] == "negative"
        scores = row["sentiment"]["scores"]
        assert scores == {"negative": 0.1235, "positive": 0.8765, "neutral": 0.0}
        assert all(type(v) is float for v in scores.values())  # numpy scalars become plain floats (JSON-safe)
        assert row["touchpoints"] is tps
        assert row["model"] == {"name": "cx", "version": "3"}
        assert row["warnings"] == ["w"]

    def test_empty(self):
        row = prediction_row(id="x", lang="en", sentiment="neutral", sentiment_scores={}, touchpoints=[],
                             model_name="m", model_version="v", warnings=[])
        assert row == {"id": "x", "lang": "en", "sentiment": {"label": "neutral", "scores": {}}, "touchpoints": [],
                       "model": {"name": "m", "version": "v"}, "warnings": []}
