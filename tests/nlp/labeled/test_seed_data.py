"""The bundled CX seed set: schema, evidence spans, the counts its datasheet (docs/data.md) promises,
and that the committed split is what `python -m nlp.labeled.seed build` produces."""
from __future__ import annotations

from collections import Counter

import pytest

from nlp.labeled.formats import read_labeled
from nlp.labeled.seed import SOURCE_DIR, build, seed_split_path
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
    assert build(SOURCE_DIR, tmp_path, write_splits=False)["new_splits"] == 0  # every row has its split
    for split in ("train", "dev"):
        assert (tmp_path / f"{split}.jsonl").read_text(encoding="utf-8") == \
            seed_split_path(split).read_text(encoding="utf-8")


def test_a_label_correction_or_new_rows_never_move_a_row_between_splits(tmp_path):
    """Each row keeps the split it was first given (source/splits.tsv) and its id; new rows are split
    among themselves by the stratified rule."""
    import json
    import shutil

    src = tmp_path / "src"
    shutil.copytree(SOURCE_DIR, src)
    f = src / "ru_b2b.jsonl"
    rows = [json.loads(x) for x in f.read_text(encoding="utf-8").splitlines()]
    for r in rows[:40]:  # relabel: a different sentiment changes the row's stratum
        r["sentiment"] = "neutral" if r["sentiment"] != "neutral" else "positive"
    f.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    new = [{"text": f"Новый комментарий номер {i}: доставка опоздала", "lang": "ru", "sentiment": "negative",
            "aspects": [{"category": "delivery", "polarity": "negative", "evidence": "доставка опоздала"}],
            "setting": "retail", "tags": []} for i in range(50)]
    (src / "ru_extra_4.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in new),
                                          encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    build(src, out)

    def split_of(path):
        return {(r["id"], r["text"]) for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}

    old_dev, new_dev = split_of(seed_split_path("dev")), split_of(out / "dev.jsonl")
    old_train, new_train = split_of(seed_split_path("train")), split_of(out / "train.jsonl")
    assert old_dev <= new_dev and old_train <= new_train  # same id, same split
    added = (new_dev | new_train) - (old_dev | old_train)
    assert len(added) == 50 and 8 <= len(added & new_dev) <= 12  # the new round: its own 20 % split
