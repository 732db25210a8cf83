from __future__ import annotations

import pickle

import numpy as np
import pytest

from nlp.errors import DataError, NotFittedError
from nlp.families.pipeline import CommentPipeline
from nlp.schema import SENTIMENTS, Aspect, Document, Example

TEXTS = [
    "Менеджер Ольга всегда на связи, но счета приходят с ошибками уже третий месяц.",
    "Инженер приехал на следующий день и быстро починил станок.",
    "The delivery was late again and nobody from support called back.",
    "Цены кусаются",
    "Всё устраивает",
]


def check_row(row: dict, text: str) -> None:
    assert set(row) == {"id", "lang", "sentiment", "touchpoints", "model", "warnings"}
    assert row["sentiment"]["label"] in SENTIMENTS
    scores = row["sentiment"]["scores"]
    assert row["sentiment"]["label"] == max(scores, key=scores.get)
    assert abs(sum(scores.values()) - 1) < 1e-3
    seen = set()
    for tp in row["touchpoints"]:
        assert set(tp) == {"touchpoint", "polarity", "confidence", "evidence"}
        assert tp["polarity"] in {"positive", "negative", "neutral"}
        assert 0 <= tp["confidence"] <= 1
        ev = tp["evidence"]
        assert text[ev["start"]:ev["end"]] == ev["text"] and ev["text"].strip()
        assert tp["touchpoint"] not in seen
        seen.add(tp["touchpoint"])
    assert isinstance(row["warnings"], list)


def test_prediction_rows_follow_the_contract(seed_model):
    rows = seed_model.predict([{"id": f"c{i}", "text": t} for i, t in enumerate(TEXTS)])
    assert [r["id"] for r in rows] == [f"c{i}" for i in range(len(TEXTS))]
    for row, text in zip(rows, TEXTS):
        check_row(row, text)
        assert row["model"] == {"name": seed_model.name, "version": seed_model.version}
    assert [r["lang"] for r in rows] == ["ru", "ru", "en", "ru", "ru"]


def test_two_touchpoints_with_opposite_polarity_get_their_own_evidence(seed_model):
    text = "Инженер Сергей приехал на следующий день и быстро заменил плату, но счёт-фактуру ждали три недели."
    row = seed_model.predict([text])[0]
    by_tp = {t["touchpoint"]: t for t in row["touchpoints"]}
    assert by_tp["field_service"]["polarity"] == "positive"
    assert by_tp["billing"]["polarity"] == "negative"
    assert "счёт-фактуру" in by_tp["billing"]["evidence"]["text"]
    assert "Инженер" in by_tp["field_service"]["evidence"]["text"]
    assert "счёт" not in by_tp["field_service"]["evidence"]["text"]
    assert row["sentiment"]["label"] == "mixed"


@pytest.mark.parametrize("text,warning", [
    ("", "empty text"),
    ("   \n\t ", "empty text"),
    ("😡😡😡", "language unknown"),
    ("سلام، خدمات شما خوب بود", "language unknown"),
])
def test_degenerate_texts_never_crash(seed_model, text, warning):
    row = seed_model.predict([text])[0]
    check_row(row, text)
    assert any(warning in w for w in row["warnings"])


def test_very_long_text_is_truncated_with_a_warning(seed_model):
    text = "Доставка опять задержалась, менеджер не отвечает. " * 600  # 30,000 chars
    row = seed_model.predict([text])[0]
    assert any("truncated" in w for w in row["warnings"])
    check_row(row, text)
    assert all(t["evidence"]["end"] <= 20_000 for t in row["touchpoints"])


def test_input_kinds_and_batching_give_identical_rows(seed_model):
    docs = [Document(id=str(i), text=t) for i, t in enumerate(TEXTS)]
    a = seed_model.predict(docs, batch_size=2)
    b = seed_model.predict([{"id": str(i), "text": t} for i, t in enumerate(TEXTS)], batch_size=100)
    c = seed_model.predict(TEXTS)
    assert a == b
    assert [r["touchpoints"] for r in c] == [r["touchpoints"] for r in a]


def test_worker_processes_give_the_same_rows_in_order(seed_model, monkeypatch):
    import nlp.families.pipeline as P

    docs = [Document(id=str(i), text=t) for i, t in enumerate(TEXTS * 4)]
    serial = seed_model.predict(docs, batch_size=3)
    forks = []
    real = P._predict_forked
    monkeypatch.setattr(P, "_predict_forked", lambda *a: forks.append(a[2]) or real(*a))  # a[2] = workers
    done = []
    assert seed_model.predict(docs, batch_size=3, n_jobs=2, progress=done.append) == serial
    assert forks == [2] and sum(done) == len(docs)  # two workers did the batches after the first
    assert seed_model.predict(docs[:6], batch_size=3, n_jobs=2) == serial[:6]  # two batches: no fork
    assert forks == [2]


def test_given_language_is_used_and_unknown_code_warns(seed_model):
    rows = seed_model.predict([{"id": "1", "text": "Доставка супер", "lang": "ru"},
                               {"id": "2", "text": "Доставка супер", "lang": "xx"}])
    assert rows[0]["lang"] == "ru" and rows[0]["warnings"] == []
    assert rows[1]["lang"] == "ru" and any("'xx'" in w for w in rows[1]["warnings"])


def test_pickle_round_trip_predicts_the_same(seed_model):
    clone = pickle.loads(pickle.dumps(seed_model))
    assert clone.predict(TEXTS) == seed_model.predict(TEXTS)


def _toy(n_rep: int = 6) -> list[Example]:
    base = [
        ("The soup was cold and bland", "negative", [("FOOD#QUALITY", "negative")]),
        ("Delicious pasta, perfectly cooked", "positive", [("FOOD#QUALITY", "positive")]),
        ("Our waiter was rude", "negative", [("SERVICE#GENERAL", "negative")]),
        ("Friendly and attentive staff", "positive", [("SERVICE#GENERAL", "positive")]),
        ("Great food but the waiter ignored us", "mixed", [("FOOD#QUALITY", "positive"), ("SERVICE#GENERAL", "negative")]),
        ("We went there on Tuesday", "neutral", []),
    ]
    out = []
    for k in range(n_rep):
        for i, (t, s, asp) in enumerate(base):
            out.append(Example(text=f"{t} {'!' * k}".strip(), sentiment=s, id=f"{k}-{i}",
                               aspects=[Aspect(c, p) for c, p in asp]))
    return out


def test_any_label_set_can_be_trained():
    pipe = CommentPipeline(threshold_folds=0).fit(_toy())
    assert pipe.labels_ == ["FOOD#QUALITY", "SERVICE#GENERAL"]
    row = pipe.predict(["The soup was cold and bland"])[0]
    assert [(t["touchpoint"], t["polarity"]) for t in row["touchpoints"]] == [("FOOD#QUALITY", "negative")]


def test_without_sentiment_labels_sentiment_comes_from_touchpoints():
    examples = _toy()
    for e in examples:
        e.sentiment = None
    pipe = CommentPipeline(threshold_folds=0).fit(examples)
    assert pipe.sentiment_ is None
    row = pipe.predict(["Delicious pasta, perfectly cooked"])[0]
    assert row["sentiment"]["label"] == "positive"


def test_fit_rejects_data_without_labels():
    with pytest.raises(DataError, match="nothing to train"):
        CommentPipeline().fit([Example(text="hello"), Example(text="world")])
    with pytest.raises(DataError, match="at least one"):
        CommentPipeline().fit([])


def test_predict_before_fit_is_a_clear_error():
    with pytest.raises(NotFittedError, match="fit"):
        CommentPipeline().predict(["text"])


def test_bad_document_type_names_the_row():
    pipe = CommentPipeline(threshold_folds=0).fit(_toy())
    with pytest.raises(DataError, match="row 1"):
        pipe.predict(["ok", 42])


# -- the document's sentiment in touchpoint polarity ----------------------------------------------
def _ex(sentiment, *polarities):
    return Example(text="t", sentiment=sentiment, aspects=[Aspect(category=f"c{i}", polarity=p)
                                                            for i, p in enumerate(polarities)])


def test_doc_polarity_weight_is_learned_from_label_agreement():
    from nlp.families.pipeline import doc_polarity_weight

    # non-mixed comments: 3 of 4 touchpoint polarities equal the comment's sentiment -> 0.5 * (2 * 0.75 - 1)
    data = [_ex("negative", "negative", "negative"), _ex("positive", "positive", "negative"),
            _ex("mixed", "positive", "negative", "conflict"), _ex(None, "positive")]
    assert doc_polarity_weight(data) == pytest.approx(0.25)
    assert doc_polarity_weight([_ex("positive", "negative")]) == 0.0  # disagreement: clause alone
    assert doc_polarity_weight([_ex("mixed", "negative")]) == 0.0  # nothing to measure on
    assert doc_polarity_weight(data, 0.7) == 0.7
    for bad in (1.5, -0.1, "yes", True):
        with pytest.raises(DataError, match="polarity_doc_weight"):
            doc_polarity_weight(data, bad)


def test_document_sentiment_blends_into_clause_polarity():
    pipe = CommentPipeline(threshold_folds=0, polarity_doc_weight=0.5).fit(_toy())
    assert pipe.polarity_doc_weight_ == 0.5
    P = np.array([[0.8, 0.1, 0.1], [0.2, 0.3, 0.5]])
    S = np.array([[0.1, 0.7, 0.1, 0.1], [0.0, 0.0, 0.0, 1.0]])  # SENTIMENTS order; the 2nd is all 'mixed'
    out = pipe._with_document(P, S, [0, 1])
    np.testing.assert_allclose(out[0], 0.5 * P[0] + 0.5 * np.array([0.18, 0.71, 0.11]))
    np.testing.assert_allclose(out[1], P[1])  # a mixed comment leaves the clause's polarity alone
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    del pipe.__dict__["polarity_doc_weight_"]  # a model saved before the option: the clause alone
    np.testing.assert_allclose(pipe._with_document(P, S, [0, 1]), P)
    assert CommentPipeline(threshold_folds=0).fit(_toy()).polarity_doc_weight_ == pytest.approx(0.5)  # toy agrees
