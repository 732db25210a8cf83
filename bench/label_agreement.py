"""Agreement between two independent labellings of the same comments (docs/data.md, "Label reliability").

    .venv/bin/python bench/label_agreement.py A.jsonl B.jsonl [--json]

Each file has one row per comment with the same ``sid`` (or ``id``), ``sentiment`` and ``aspects``
(``category``, ``polarity``). Prints, with A as the reference: sentiment accuracy, macro-F1 and Cohen's kappa;
touchpoint micro-F1 and per-touchpoint F1 and kappa (present/absent per comment); touchpoint+polarity
micro-F1; evidence overlap. F1 between labellers is symmetric for micro-F1; it is the ceiling a model
trained on one labeller's data can reach when scored against the other's.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter


def _read(path: str) -> dict[str, dict]:
    out = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                r = json.loads(line)
                out[str(r.get("sid") or r.get("id"))] = r
    return out


def kappa(a: list, b: list) -> float:
    n = len(a)
    po = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    pe = sum(ca[k] * cb.get(k, 0) for k in ca) / (n * n)
    return (po - pe) / (1 - pe) if pe < 1 else 1.0


def f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def agreement(a: dict[str, dict], b: dict[str, dict]) -> dict:
    ids = sorted(set(a) & set(b))
    sa = [a[i]["sentiment"] for i in ids]
    sb = [b[i]["sentiment"] for i in ids]
    classes = sorted(set(sa) | set(sb))
    sent_f1 = {c: f1(sum(x == c == y for x, y in zip(sa, sb)), sum(y == c != x for x, y in zip(sa, sb)),
                     sum(x == c != y for x, y in zip(sa, sb))) for c in classes}
    cats = sorted({x["category"] for i in ids for r in (a[i], b[i]) for x in r["aspects"]})
    ta = [{x["category"] for x in a[i]["aspects"]} for i in ids]
    tb = [{x["category"] for x in b[i]["aspects"]} for i in ids]
    pa = [{(x["category"], x["polarity"]) for x in a[i]["aspects"]} for i in ids]
    pb = [{(x["category"], x["polarity"]) for x in b[i]["aspects"]} for i in ids]
    per = {}
    for c in cats:
        xa = [c in s for s in ta]
        xb = [c in s for s in tb]
        per[c] = {"support_a": sum(xa), "support_b": sum(xb),
                  "f1": round(f1(sum(x and y for x, y in zip(xa, xb)), sum(y and not x for x, y in zip(xa, xb)),
                                 sum(x and not y for x, y in zip(xa, xb))), 3),
                  "kappa": round(kappa(xa, xb), 3)}
    tp = sum(len(x & y) for x, y in zip(ta, tb))
    ptp = sum(len(x & y) for x, y in zip(pa, pb))
    return {
        "items": len(ids),
        "sentiment": {"accuracy": round(sum(x == y for x, y in zip(sa, sb)) / len(ids), 3),
                      "macro_f1": round(sum(sent_f1.values()) / len(sent_f1), 3), "kappa": round(kappa(sa, sb), 3),
                      "per_class_f1": {c: round(v, 3) for c, v in sent_f1.items()},
                      "confusions": dict(Counter(f"{x}->{y}" for x, y in zip(sa, sb) if x != y).most_common(8))},
        "touchpoints": {"micro_f1": round(f1(tp, sum(len(y - x) for x, y in zip(ta, tb)),
                                             sum(len(x - y) for x, y in zip(ta, tb))), 3),
                        "exact_set_agreement": round(sum(x == y for x, y in zip(ta, tb)) / len(ids), 3),
                        "per_touchpoint": per},
        "pairs": {"micro_f1": round(f1(ptp, sum(len(y - x) for x, y in zip(pa, pb)),
                                       sum(len(x - y) for x, y in zip(pa, pb))), 3)},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    res = agreement(_read(args.a), _read(args.b))
    if args.json:
        print(json.dumps(res, ensure_ascii=False, indent=1))
        return 0
    s, t = res["sentiment"], res["touchpoints"]
    print(f"{res['items']} comments")
    print(f"sentiment: accuracy {s['accuracy']:.3f}, macro-F1 {s['macro_f1']:.3f}, kappa {s['kappa']:.3f}")
    print(f"touchpoints: micro-F1 {t['micro_f1']:.3f}, same set {t['exact_set_agreement']:.3f}; "
          f"touchpoint+polarity micro-F1 {res['pairs']['micro_f1']:.3f}")
    for c, e in t["per_touchpoint"].items():
        print(f"  {c:<18} A {e['support_a']:>3}  B {e['support_b']:>3}  F1 {e['f1']:.3f}  kappa {e['kappa']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
