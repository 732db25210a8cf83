"""The bundled CX seed set: schema, evidence spans, the counts its datasheet (docs/data.md) promises,
and that the committed split is what `python -m nlp.seed build` produces."""
from __future__ import annotations

from collections import Counter

import pytest

from nlp.io import read_labeled
from nlp.seed import SOURCE_DIR, build, seed_split_path
from nlp.taxonomy import load_taxonomy

TOUCHPOINTS = ["sales", "customer_service", "front_office", "field_service", "billing", "tech_support",
               "delivery", "product", "price", "digital", "premises", "brand"]


@pytest.fixture(scope="module")
def seed():
    train, e1 = read_labeled(seed_split_path("train"), labels=TOUCHPOINTS)
    dev, e2 = read_labeled(seed_split_path("dev"), labels=TOUCHPOINTS)
    assert e1 == [] and e2 == []  # every row validates (schema, labels, offsets, target == text[from:to])
    return train, dev


def test_default_taxonomy_is_the_methodology_list():
    assert load_taxonomy().ids == TOUCHPOINTS


def test_size_languages_and_split(seed):
    train, dev = seed
    rows = train + dev
    assert len(rows) >= 1200
    langs = Counter(e.lang for e in rows)
    assert langs["ru"] / len(rows) >= 0.65 and langs["en"] > 0
    assert 0.18 <= len(dev) / len(rows) <= 0.22
    assert not {e.text for e in train} & {e.text for e in dev}
    assert len({e.id for e in rows}) == len(rows)


def test_touchpoint_coverage(seed):
    rows = seed[0] + seed[1]
    pol = Counter((a.category, a.polarity) for e in rows for a in e.aspects)
    for tp in TOUCHPOINTS:
        assert sum(pol[(tp, p)] for p in ("positive", "negative", "neutral")) >= 60, tp
        assert pol[(tp, "positive")] >= 10 and pol[(tp, "negative")] >= 10, tp
    multi = sum(len({a.category for a in e.aspects}) >= 2 for e in rows) / len(rows)
    none = sum(not e.aspects for e in rows) / len(rows)
    assert multi >= 0.30
    assert 0.07 <= none <= 0.14
    assert all(e.sentiment in {"positive", "negative", "neutral", "mixed"} for e in rows)


def test_every_aspect_has_an_evidence_span(seed):
    for e in seed[0] + seed[1]:
        for a in e.aspects:
            assert a.start is not None and e.text[a.start:a.end].strip(), e.id


def test_phenomena_are_covered(seed):
    tags = Counter(t for e in seed[0] + seed[1] for t in e.extra["meta"]["tags"])
    for tag in ("negation", "sarcasm", "typo", "slang", "caps", "emoji", "short", "long", "request",
                "competitor", "churn_risk"):
        assert tags[tag] >= 15, tag


def test_build_reproduces_the_committed_split(tmp_path):
    build(SOURCE_DIR, tmp_path)
    for split in ("train", "dev"):
        assert (tmp_path / f"{split}.jsonl").read_text(encoding="utf-8") == \
            seed_split_path(split).read_text(encoding="utf-8")
