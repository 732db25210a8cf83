"""The uncertainty queue: scores, diverse selection, exports (issue #7)."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import scipy.sparse as sp

from api.cli import main
from nlp.lifecycle.active import Scored, _recentre, _recentre_relative, build_queue, select, uncertainty
from nlp.labeled.datasets import read_labeled_file
from nlp.families.pipeline import CommentPipeline
from nlp.schema import Aspect, Document, Example
from nlp.lifecycle.store import ModelStore


def test_uncertainty_is_relative_to_each_threshold():
    T = np.array([0.5, 0.2])
    P = np.array([[0.5, 0.0],    # exactly on the first threshold: maximally uncertain
                  [1.0, 0.0],    # far from both cuts
                  [0.1, 0.2]])   # on the second threshold
    Q = _recentre(P, T)
    assert Q.tolist() == [[0.5, 0.0], [1.0, 0.0], [0.1, 0.5]]
    # ensembles give probability / threshold: the threshold maps to 0.5 as well
    assert _recentre_relative(np.array([[0.5, 1.0, 2.0]])).tolist() == [[0.25, 0.5, 0.75]]
    u = uncertainty(Q, None, strategy="margin")  # 1 - min |2q - 1|
    assert u.tolist() == [1.0, 0.0, 1.0]
    S = np.array([[0.5, 0.5, 0.0], [0.9, 0.05, 0.05], [0.6, 0.3, 0.1]])
    su = uncertainty(None, S, strategy="margin")  # 1 - (top1 - top2)
    assert np.allclose(su, [1.0, 0.15, 0.7])
    assert np.allclose(uncertainty(Q, S), (u + su) / 2)
    e = uncertainty(None, np.array([[1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0]]), strategy="entropy")
    assert np.allclose(e, [1.0, 0.0], atol=1e-6)


def _clustered():
    """Three groups of three near-identical comments; group A is the most uncertain (the pool of the
    3n = 9 most uncertain holds all of them)."""
    docs, feats, unc = [], [], []
    for g, (vec, base) in enumerate([([1, 0, 0], 0.9), ([0, 1, 0], 0.6), ([0, 0, 1], 0.5)]):
        for k in range(3):
            docs.append(Document(id=f"{'ABC'[g]}{k}", text=f"group {'ABC'[g]} comment {k}"))
            feats.append(np.array(vec, dtype=float) + 0.01 * k)
            unc.append(base - 0.001 * k)
    return Scored(docs, np.array(unc), sp.csr_matrix(np.array(feats)), [])


def test_selection_is_diverse_not_near_duplicates():
    s = _clustered()
    plain = select(s, 3, diversity=False)
    assert [s.docs[i].id for i in plain] == ["A0", "A1", "A2"]
    diverse = select(s, 3)
    assert [s.docs[i].id for i in diverse] == ["A0", "B0", "C0"]  # the most uncertain of each cluster
    rnd = select(s, 5, strategy="random", seed=1)
    assert len(set(rnd)) == 5 and rnd == select(s, 5, strategy="random", seed=1)


def test_exact_duplicates_are_picked_once():
    s = _clustered()
    s.docs[1] = Document(id="dup", text="GROUP a comment 0 ")  # same text as A0 once normalised
    picks = select(s, 9, diversity=False)
    assert len(picks) == 8 and 1 not in picks
    with pytest.raises(ValueError):
        select(s, 0)


@pytest.fixture(scope="module")
def toy():
    base = [("Счета всегда с ошибками", "negative", [("billing", "negative")]),
            ("Бухгалтерия быстро закрыла документы", "positive", [("billing", "positive")]),
            ("Доставка опоздала на неделю", "negative", [("delivery", "negative")]),
            ("Привезли вовремя, спасибо", "positive", [("delivery", "positive")]),
            ("Обычный отзыв без деталей", "neutral", [])]
    ex = [Example(text=f"{t}{'!' * k}", sentiment=s, aspects=[Aspect(c, p) for c, p in a], id=f"{k}-{i}")
          for k in range(4) for i, (t, s, a) in enumerate(base)]
    return CommentPipeline(threshold_folds=0).fit(ex)


def test_build_queue_exports_analyst_csv_and_label_studio(toy, tmp_path):
    texts = ["Счёт с ошибкой, но доставка вовремя", "Спасибо", "Доставка", "Бухгалтерия молодцы", "Счета, счета",
             "Курьер опоздал", "Всё нормально", "Привезли не то", "Документы потеряли", "Ок"]
    docs = [Document(id=f"u{i}", text=t) for i, t in enumerate(texts)]
    res = build_queue(toy, docs, n=4, out_dir=tmp_path / "q")
    assert len(res["picks"]) == 4 and len(set(res["ids"])) == 4
    assert res["uncertainty"] == sorted(res["uncertainty"], reverse=True)
    with open(res["files"]["csv"], encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    assert [r["id"] for r in rows] == res["ids"]
    assert list(rows[0]) == ["id", "text", "sentiment", "touchpoints", "predicted_sentiment", "predicted_touchpoints",
                             "uncertainty"]
    assert all(r["sentiment"] == "" and r["touchpoints"] == "" for r in rows)
    tasks = json.loads(res["files"]["labelstudio"].read_text(encoding="utf-8"))
    assert [t["data"]["id"] for t in tasks] == res["ids"]
    assert tasks[0]["predictions"][0]["model_version"] == "unsaved@0"
    assert tasks[0]["predictions"][0]["result"][0]["from_name"] == "sentiment"
    assert '<Choices name="touchpoints"' in res["files"]["labelstudio_config"].read_text(encoding="utf-8")
    # the round trip: an analyst fills two rows of the CSV, the import keeps those and lists the rest
    rows[0]["sentiment"], rows[0]["touchpoints"] = "mixed", "billing:negative;delivery:positive"
    rows[1]["sentiment"], rows[1]["touchpoints"] = "positive", "-"
    filled = tmp_path / "filled.csv"
    with open(filled, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=";")
        w.writeheader()
        w.writerows(rows)
    ex, err = read_labeled_file(filled, labels=["billing", "delivery"])
    assert [e.id for e in ex] == res["ids"][:2] and len(err) == 2
    assert all(e.reason == "row has no labels" for e in err)


def test_cli_queue(toy, tmp_path, capsys):
    ModelStore(tmp_path / "models").save(toy, "toy")
    data = tmp_path / "unlabeled.csv"
    data.write_text("id;text\n" + "\n".join(f"{i};Комментарий про доставку и счета номер {i}" for i in range(12))
                    + "\n12;\n", encoding="utf-8")
    rc = main(["queue", "--model", "toy", "--data", str(data), "--n", "3", "--out", str(tmp_path / "out"),
               "--models-dir", str(tmp_path / "models")])
    captured = capsys.readouterr()
    assert rc == 0 and "queued 3 of 13 comments (margin, one per k-means cluster) with toy@1" in captured.out
    assert (tmp_path / "out" / "queue.csv").exists() and (tmp_path / "out" / "labelstudio_tasks.json").exists()
