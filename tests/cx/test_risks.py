"""Risk matching: the cue prefilter never changes the result of the regular expressions."""
from __future__ import annotations

import pytest

from cx.risks import load_risk_patterns, required_literals, risk_masks


@pytest.mark.parametrize("pattern,cues", [
    ("конкурент\\w*", {"конкурент"}),
    ("(сокращ|урез)\\w*\\s+бюджет", {"бюджет"}),            # the longer required literal wins
    ("\\bbudget\\s+(cuts?|freeze)", {"budget"}),
    ("(ab|cd)", {"ab", "cd"}),
    ("x?y*", None),                                            # nothing is required
    ("(foo)|(\\w+)", None),                                    # one branch requires nothing
])
def test_required_literals(pattern, cues):
    assert required_literals(pattern) == cues


def test_cues_are_lower_case_for_case_insensitive_patterns():
    assert required_literals("Конкурент") == {"конкурент"}


def test_masks_equal_plain_regex_search():
    pats = load_risk_patterns()
    texts = ["Рассматриваем других поставщиков.", "КОНКУРЕНТЫ предлагают дешевле", "budget cuts next year",
             "We are looking at other suppliers", "Всё хорошо", "", "не будем продлевать договор",
             "Сократили бюджет на сервис", "Сократили бюджет на сервис", "competition is fine", "Партнёр надёжный"]
    masks = risk_masks(texts, pats)
    for c in pats:
        assert masks[c["id"]].tolist() == [bool(c["regex"].search(t)) for t in texts], c["id"]
    assert masks["competitor"].tolist()[1] and masks["budget"].tolist()[7:9] == [True, True]


def test_category_without_cues_still_matches(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("categories:\n  - id: any\n    name: {en: Any}\n    patterns: ['\\w+ly\\b']\n", encoding="utf-8")
    pats = load_risk_patterns(p)
    assert pats[0]["cues"] == {"ly"}
    assert risk_masks(["quickly done", "slow"], pats)["any"].tolist() == [True, False]
    bad = tmp_path / "bad.yaml"
    bad.write_text("categories:\n  - id: x\n    patterns: ['(unclosed']\n", encoding="utf-8")
    with pytest.raises(Exception, match="bad regular expression"):
        load_risk_patterns(bad)
