"""Evaluation of prediction rows against labeled examples.

Metrics (the definitions of ../shared/data/MANIFEST.md, so numbers compare with its floor):
* sentiment: accuracy, macro-F1 over the gold classes, P/N macro-F1 (positive and negative only),
  confusion matrix;
* touchpoints: micro/macro precision, recall, F1 over unique (item, category) pairs, per-label table;
* pairs: micro-F1 over (item, category, polarity);
* polarity accuracy given the gold categories (SemEval-16 slot 3), when a pipeline is given.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

from ..schema import Example


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def f1_for(gold: Sequence[str], pred: Sequence[str], label: str) -> float:
    tp = sum(g == label and p == label for g, p in zip(gold, pred))
    fp = sum(g != label and p == label for g, p in zip(gold, pred))
    fn = sum(g == label and p != label for g, p in zip(gold, pred))
    return _prf(tp, fp, fn)[2]


def sentiment_metrics(gold: Sequence[str], pred: Sequence[str]) -> dict[str, Any]:
    labels = sorted(set(gold))
    n = len(gold)
    out: dict[str, Any] = {"n": n}
    if not n:
        return out
    out["accuracy"] = sum(g == p for g, p in zip(gold, pred)) / n
    out["macro_f1"] = sum(f1_for(gold, pred, c) for c in labels) / len(labels)
    pn = [c for c in ("positive", "negative")]
    out["pn_macro_f1"] = sum(f1_for(gold, pred, c) for c in pn) / 2
    out["per_label"] = {c: round(f1_for(gold, pred, c), 4) for c in labels}
    all_labels = sorted(set(gold) | set(pred))
    conf = Counter(zip(gold, pred))
    out["confusion"] = {"labels": all_labels,
                        "matrix": [[conf[(g, p)] for p in all_labels] for g in all_labels]}
    return out


def touchpoint_metrics(gold_sets: Sequence[set], pred_sets: Sequence[set]) -> dict[str, Any]:
    """Micro/macro P/R/F1 over (item, label) pairs; per-label table."""
    labels = sorted({c for s in gold_sets for c in s} | {c for s in pred_sets for c in s})
    per: dict[str, dict[str, float]] = {}
    TP = FP = FN = 0
    for c in labels:
        tp = sum(c in g and c in p for g, p in zip(gold_sets, pred_sets))
        fp = sum(c not in g and c in p for g, p in zip(gold_sets, pred_sets))
        fn = sum(c in g and c not in p for g, p in zip(gold_sets, pred_sets))
        TP, FP, FN = TP + tp, FP + fp, FN + fn
        p, r, f = _prf(tp, fp, fn)
        per[c] = {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "support": tp + fn}
    mp, mr, mf = _prf(TP, FP, FN)
    supported = [c for c in labels if per[c]["support"] > 0]
    macro = {k: (sum(per[c][k] for c in supported) / len(supported) if supported else 0.0)
             for k in ("precision", "recall", "f1")}
    return {"micro": {"precision": mp, "recall": mr, "f1": mf},
            "macro": macro, "per_label": per, "n": len(gold_sets)}


def evaluate_predictions(examples: Sequence[Example], predictions: Sequence[dict], *,
                         pipeline: Any = None) -> dict[str, Any]:
    """Compare prediction rows (same order as ``examples``) with the gold labels."""
    if len(examples) != len(predictions):
        from ..errors import DataError

        raise DataError(field="predictions", expected=f"{len(examples)} rows", found=len(predictions))
    out: dict[str, Any] = {"n": len(examples)}
    s_pairs = [(e.sentiment, p["sentiment"]["label"]) for e, p in zip(examples, predictions) if e.sentiment]
    if s_pairs:
        out["sentiment"] = sentiment_metrics([g for g, _ in s_pairs], [p for _, p in s_pairs])
    a_rows = [(e, p) for e, p in zip(examples, predictions) if e.aspects is not None]
    if a_rows:
        gold = [{a.category for a in e.aspects} for e, _ in a_rows]
        pred = [{t["touchpoint"] for t in p["touchpoints"]} for _, p in a_rows]
        out["touchpoints"] = touchpoint_metrics(gold, pred)
        gold_pairs = [{(a.category, a.polarity) for a in e.aspects} for e, _ in a_rows]
        pred_pairs = [{(t["touchpoint"], t["polarity"]) for t in p["touchpoints"]} for _, p in a_rows]
        pm = touchpoint_metrics([{f"{c}:{q}" for c, q in s} for s in gold_pairs],
                                [{f"{c}:{q}" for c, q in s} for s in pred_pairs])
        out["pairs"] = {"micro": pm["micro"]}
        if pipeline is not None and getattr(pipeline, "polarity_", None) is not None:
            items = [(e.text, a.category, a.polarity) for e, _ in a_rows for a in e.aspects
                     if a.polarity in ("positive", "negative", "neutral")]
            if items:
                pred_pol = pipeline.predict_polarity([(t, c) for t, c, _ in items])
                acc = sum(p == g for p, (_, _, g) in zip(pred_pol, items)) / len(items)
                out["polarity_given_gold"] = {"accuracy": acc, "n": len(items)}
    return out


def format_report(metrics: dict[str, Any]) -> str:
    """Human-readable evaluation summary (the CLI's default output)."""
    lines = [f"examples: {metrics['n']}"]
    s = metrics.get("sentiment")
    if s:
        lines.append(f"sentiment (n={s['n']}): accuracy {s['accuracy']:.3f}  macro-F1 {s['macro_f1']:.3f}  "
                     f"P/N macro-F1 {s['pn_macro_f1']:.3f}")
        labels = s["confusion"]["labels"]
        w = max(len(x) for x in labels) + 2
        lines.append("  confusion (rows = gold, columns = predicted)")
        lines.append("  " + " " * w + "".join(f"{x[:8]:>10}" for x in labels))
        for g, row in zip(labels, s["confusion"]["matrix"]):
            lines.append("  " + f"{g:<{w}}" + "".join(f"{v:>10}" for v in row))
    t = metrics.get("touchpoints")
    if t:
        mi, ma = t["micro"], t["macro"]
        lines.append(f"touchpoints (n={t['n']}): micro P {mi['precision']:.3f} R {mi['recall']:.3f} F1 {mi['f1']:.3f}  "
                     f"macro P {ma['precision']:.3f} R {ma['recall']:.3f} F1 {ma['f1']:.3f}")
        lines.append(f"touchpoint+polarity micro-F1: {metrics['pairs']['micro']['f1']:.3f}")
        if "polarity_given_gold" in metrics:
            pg = metrics["polarity_given_gold"]
            lines.append(f"polarity accuracy given gold touchpoints: {pg['accuracy']:.3f} (n={pg['n']})")
        lines.append(f"  {'label':<24}{'P':>8}{'R':>8}{'F1':>8}{'support':>9}")
        for c, v in t["per_label"].items():
            lines.append(f"  {c:<24}{v['precision']:>8.3f}{v['recall']:>8.3f}{v['f1']:>8.3f}{v['support']:>9}")
    return "\n".join(lines)


def summary_metrics(m: dict[str, Any]) -> dict[str, float]:
    """The headline numbers of :func:`evaluate_predictions` output, rounded, as stored in ``meta.metrics``."""
    out = {}
    if "sentiment" in m:
        out["sentiment_accuracy"] = round(m["sentiment"]["accuracy"], 4)
        out["sentiment_macro_f1"] = round(m["sentiment"]["macro_f1"], 4)
    if "touchpoints" in m:
        out["touchpoint_micro_f1"] = round(m["touchpoints"]["micro"]["f1"], 4)
        out["touchpoint_macro_f1"] = round(m["touchpoints"]["macro"]["f1"], 4)
        out["pair_micro_f1"] = round(m["pairs"]["micro"]["f1"], 4)
    return out
