"""Active learning: pick the unlabeled comments most worth an analyst's time.

1. Uncertainty: both heads of the model score every comment. Touchpoint probabilities are first
   re-centred on each label's decision threshold (``p = t`` maps to 0.5), so "uncertain" means "close to
   the model's own cut"; the sentiment head gives class probabilities. Per comment:
   ``margin`` strategy: ``1 - margin`` (sentiment: top-1 minus top-2 probability; touchpoints: the
   smallest ``|2q - 1|`` over labels), ``entropy`` strategy: normalised entropy (sentiment: over classes;
   touchpoints: the largest binary entropy over labels); the two heads are averaged.
2. Diversity: the top ``3n`` most uncertain comments are clustered (k-means on the model's own TF-IDF
   document features, ``n`` clusters, fixed seed) and the most uncertain comment of each cluster is
   taken, so a batch is not ``n`` near-duplicates. Exact duplicates (normalised text) are dropped first.
3. Export: an analyst CSV (``id;text;sentiment;touchpoints`` to fill in, plus the model's guesses) and
   a Label Studio import file with the model's guesses as pre-annotations (``predictions``), plus the
   matching Label Studio labeling config.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import DataError, NotFittedError
from ..labeled.cells import csv_writer
from ..labeled.datasets import normalize_text
from ..schema import Document

STRATEGIES = ("margin", "entropy", "random")


@dataclass
class Scored:
    docs: list[Document]
    uncertainty: np.ndarray
    features: Any  #: document feature matrix (rows = docs)
    predictions: list[dict]


def _recentre(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Map probabilities so that each label's threshold becomes 0.5 (piecewise linear)."""
    t = np.clip(t, 1e-6, 1 - 1e-6)
    return np.where(p < t, 0.5 * p / t, 0.5 + 0.5 * (p - t) / (1 - t))


def _binary_entropy(q: np.ndarray) -> np.ndarray:
    q = np.clip(q, 1e-9, 1 - 1e-9)
    return -(q * np.log2(q) + (1 - q) * np.log2(1 - q))


def _recentre_relative(rel: np.ndarray) -> np.ndarray:
    """The same re-centring from ``probability / threshold`` (ensembles have one threshold per member):
    ``rel < 1`` -> ``rel / 2``; ``rel >= 1`` -> ``1 - 0.5 / rel``."""
    rel = np.maximum(rel, 0.0)
    return np.where(rel < 1, 0.5 * rel, 1 - 0.5 / np.maximum(rel, 1e-12))


def head_scores(pipeline, docs: Sequence[Document]) -> tuple[np.ndarray | None, np.ndarray | None, Any]:
    """(touchpoint probabilities re-centred on the thresholds [n, labels], sentiment probabilities over
    the classes the model knows [n, K], document features for clustering)."""
    if not hasattr(pipeline, "featurizer_") or not hasattr(pipeline, "_doc_scores"):
        raise NotFittedError("the model is not fitted (or is not a cxlens pipeline)")
    prep = pipeline._prepare([d.text for d in docs], [d.lang for d in docs])
    ds = pipeline._doc_scores(prep.analyses)
    Q = None
    detector = getattr(pipeline, "detector_", None)
    if ds.prob is not None and detector is not None and getattr(pipeline, "members_", None) is None:
        Q = _recentre(ds.prob, np.asarray(detector.thresholds_, dtype=float))
    elif ds.rel is not None:
        Q = _recentre_relative(ds.rel)
    S = ds.sentiment
    if S is not None:
        S = S[:, S.sum(0) > 0]  # classes the model was trained on
    X = ds.X
    if isinstance(X, list):  # an ensemble: cluster on the first member with sparse (TF-IDF) features
        import scipy.sparse as sp

        X = next((x for x in X if sp.issparse(x)), X[0])
    return Q, S, X


def uncertainty(Q, S, *, strategy: str = "margin") -> np.ndarray:
    """Per-comment uncertainty in [0, 1] (higher = more worth labeling) from re-centred touchpoint
    probabilities ``Q`` (0.5 = on the threshold) and sentiment probabilities ``S``."""
    parts = []
    if Q is not None and Q.shape[1]:
        if strategy == "entropy":
            parts.append(_binary_entropy(Q).max(1))
        else:
            parts.append(1 - np.abs(2 * Q - 1).min(1))
    if S is not None and S.shape[1] >= 2:
        if strategy == "entropy":
            Sc = np.clip(S, 1e-12, 1)
            parts.append(-(Sc * np.log(Sc)).sum(1) / np.log(S.shape[1]))
        else:
            top2 = np.sort(S, axis=1)[:, -2:]
            parts.append(1 - (top2[:, 1] - top2[:, 0]))
    if not parts:
        raise NotFittedError("the model has neither a touchpoint nor a sentiment head")
    return np.mean(parts, axis=0)


def score(pipeline, docs: Sequence[Document], *, strategy: str = "margin", with_predictions: bool = True,
          batch_size: int = 2000) -> Scored:
    if strategy not in STRATEGIES:
        raise DataError(field="--strategy", expected=f"one of {'|'.join(STRATEGIES)}", found=strategy)
    us, feats = [], []
    import scipy.sparse as sp

    for k in range(0, len(docs), batch_size):
        chunk = list(docs[k: k + batch_size])
        Q, S, X = head_scores(pipeline, chunk)
        us.append(uncertainty(Q, S, strategy="margin" if strategy == "random" else strategy))
        feats.append(X)
    U = np.concatenate(us) if us else np.zeros(0)
    X = (sp.vstack(feats, format="csr") if feats and sp.issparse(feats[0]) else np.vstack(feats)) if feats else None
    preds = pipeline.predict(docs) if with_predictions else []
    return Scored(list(docs), U, X, preds)


def select(scored: Scored, n: int, *, strategy: str = "margin", pool_factor: int = 3, seed: int = 0,
           diversity: bool = True) -> list[int]:
    """Indices of the ``n`` comments to label, most uncertain first."""
    if n <= 0:
        raise DataError(field="--n", expected="a positive number", found=n)
    docs = scored.docs
    seen, keep = set(), []
    for i, d in enumerate(docs):  # exact duplicates (normalised text) and empty texts are not worth two labels
        key = normalize_text(d.text)
        if key and key not in seen:
            seen.add(key)
            keep.append(i)
    keep_arr = np.asarray(keep, dtype=int)
    if strategy == "random":
        rng = np.random.default_rng(seed)
        return [int(i) for i in rng.permutation(keep_arr)[:n]]
    order = keep_arr[np.argsort(-scored.uncertainty[keep_arr], kind="stable")]
    if len(order) <= n or not diversity:
        return [int(i) for i in order[:n]]
    pool = order[: max(n, pool_factor * n)]
    X = scored.features[pool]
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.preprocessing import normalize

    Xn = normalize(X)
    km = KMeans(n_clusters=n, n_init=1, random_state=seed, max_iter=100)
    with warnings.catch_warnings():  # fewer distinct points than clusters: topped up below
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = km.fit_predict(Xn)
    picks: dict[int, int] = {}
    for idx, c in zip(pool, labels):  # pool is sorted by uncertainty: the first member is the most uncertain
        picks.setdefault(int(c), int(idx))
    chosen = sorted(picks.values(), key=lambda i: -scored.uncertainty[i])
    if len(chosen) < n:  # empty clusters: top up with the next most uncertain
        rest = [int(i) for i in pool if int(i) not in set(chosen)]
        chosen += rest[: n - len(chosen)]
    return chosen[:n]


def _touchpoint_cell(pred: dict) -> str:
    return ";".join(f"{t['touchpoint']}:{t['polarity']}" for t in pred["touchpoints"])


def labelstudio_config(touchpoints: Sequence[str]) -> str:
    """A Label Studio labeling config matching the import/export mapping of docs/retraining.md."""
    choices = "\n".join(f'    <Choice value="{t}:{p}"/>' for t in touchpoints for p in ("positive", "negative", "neutral"))
    labels = "\n".join(f'    <Label value="{t}:{p}"/>' for t in touchpoints for p in ("positive", "negative", "neutral"))
    return f"""<View>
  <Text name="text" value="$text"/>
  <Header value="Sentiment"/>
  <Choices name="sentiment" toName="text" choice="single" showInline="true">
    <Choice value="positive"/>
    <Choice value="negative"/>
    <Choice value="neutral"/>
    <Choice value="mixed"/>
  </Choices>
  <Header value="Touchpoints (touchpoint:polarity)"/>
  <Choices name="touchpoints" toName="text" choice="multiple">
{choices}
  </Choices>
  <Header value="Evidence spans (optional)"/>
  <Labels name="evidence" toName="text">
{labels}
  </Labels>
</View>
"""


def export_queue(scored: Scored, picks: Sequence[int], out_dir: str | Path, *, model: dict[str, str],
                 touchpoints: Sequence[str]) -> dict[str, Path]:
    """Write ``queue.csv`` (analyst CSV), ``labelstudio_tasks.json`` and ``labelstudio_config.xml``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "queue.csv"
    with open(csv_path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv_writer(fh, delimiter=";")  # spreadsheet-safe cells (nlp.labeled.cells)
        w.writerow(["id", "text", "sentiment", "touchpoints", "predicted_sentiment", "predicted_touchpoints",
                    "uncertainty"])
        for i in picks:
            d, p = scored.docs[i], scored.predictions[i]
            w.writerow([d.id, d.text, "", "", p["sentiment"]["label"], _touchpoint_cell(p),
                        f"{scored.uncertainty[i]:.4f}"])
    tasks = []
    version = f"{model.get('name')}@{model.get('version')}"
    for rank, i in enumerate(picks, 1):
        d, p = scored.docs[i], scored.predictions[i]
        result = [{"from_name": "sentiment", "to_name": "text", "type": "choices",
                   "value": {"choices": [p["sentiment"]["label"]]}}]
        if p["touchpoints"]:
            result.append({"from_name": "touchpoints", "to_name": "text", "type": "choices",
                           "value": {"choices": [f"{t['touchpoint']}:{t['polarity']}" for t in p["touchpoints"]]}})
        data = {"id": d.id, "text": d.text, "uncertainty": round(float(scored.uncertainty[i]), 4), "rank": rank}
        if d.lang:
            data["lang"] = d.lang
        tasks.append({"data": data, "predictions": [{"model_version": version,
                                                      "score": round(1 - float(scored.uncertainty[i]), 4),
                                                      "result": result}]})
    ls_path = out / "labelstudio_tasks.json"
    ls_path.write_text(json.dumps(tasks, ensure_ascii=False, indent=1), encoding="utf-8")
    cfg_path = out / "labelstudio_config.xml"
    cfg_path.write_text(labelstudio_config(touchpoints), encoding="utf-8")
    return {"csv": csv_path, "labelstudio": ls_path, "labelstudio_config": cfg_path}


def build_queue(pipeline, docs: Sequence[Document], *, n: int = 200, out_dir: str | Path | None = None,
                strategy: str = "margin", seed: int = 0, diversity: bool = True) -> dict[str, Any]:
    """Score, select and (with ``out_dir``) export. Returns ``{"picks", "uncertainty", "files"}``."""
    if not docs:
        raise DataError("no comments to choose from", field="--data", expected="unlabeled rows with text", found=0)
    scored = score(pipeline, docs, strategy=strategy)
    picks = select(scored, n, strategy=strategy, seed=seed, diversity=diversity)
    files = {}
    if out_dir is not None:
        tps = list(getattr(getattr(pipeline, "taxonomy", None), "ids", None) or pipeline.labels_)
        files = export_queue(scored, picks, out_dir, model={"name": pipeline.name, "version": pipeline.version},
                             touchpoints=tps)
    return {"picks": picks, "ids": [scored.docs[i].id for i in picks],
            "uncertainty": [float(scored.uncertainty[i]) for i in picks], "files": files, "scored": scored}
