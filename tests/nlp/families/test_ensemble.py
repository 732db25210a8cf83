from __future__ import annotations

import numpy as np
import pytest

from nlp.families.ensemble import EnsemblePipeline
from nlp.errors import DataError
from nlp.families.pipeline import CommentPipeline
from nlp.families.registry import make_pipeline
from tests.nlp.families.test_pipeline import _toy, check_row

TEXTS = ["Great food but the waiter ignored us", "The soup was cold and bland", "We went there on Tuesday"]
FAST = {"fast": {"threshold_folds": 0}}


def test_ensemble_of_identical_members_equals_the_member():
    single = CommentPipeline(threshold_folds=0).fit(_toy()).predict(TEXTS)
    ens = EnsemblePipeline(members=("fast", "fast"), member_params=FAST).fit(_toy())
    rows = ens.predict(TEXTS)
    for row, text in zip(rows, TEXTS):
        check_row(row, text)
    assert [r["touchpoints"] for r in rows] == [r["touchpoints"] for r in single]
    assert [r["sentiment"] for r in rows] == [r["sentiment"] for r in single]


def test_ensemble_averages_member_probabilities():
    a = CommentPipeline(threshold_folds=0, C=0.5).fit(_toy())
    b = CommentPipeline(threshold_folds=0, C=50.0).fit(_toy())
    ens = EnsemblePipeline(members=("fast", "fast"), weights=(1, 3))
    ens.fit(_toy())
    ens.members_ = [a, b]  # pin members with known, different probabilities
    prep = ens._prepare(TEXTS, [None] * len(TEXTS))
    got = ens._doc_scores(prep.analyses)
    pa, pb = a._doc_scores(prep.analyses), b._doc_scores(prep.analyses)
    np.testing.assert_allclose(got.sentiment, 0.25 * pa.sentiment + 0.75 * pb.sentiment)
    np.testing.assert_allclose(got.rel, 0.25 * pa.rel + 0.75 * pb.rel)


def test_ensemble_input_checks():
    with pytest.raises(DataError, match="members"):
        EnsemblePipeline(members=("fast",)).fit(_toy())
    with pytest.raises(DataError, match="weights"):
        EnsemblePipeline(members=("fast", "fast"), member_params=FAST, weights=(1, -1)).fit(_toy())


def test_make_pipeline_dispatches_and_rejects_unknown_families():
    assert isinstance(make_pipeline("ensemble"), EnsemblePipeline)
    assert make_pipeline("fast").model_type == "fast"
    with pytest.raises(DataError, match="model_type"):
        make_pipeline("gpt")
