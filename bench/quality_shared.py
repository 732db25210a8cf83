#!/usr/bin/env python3
"""Quality of the ``fast`` family (TF-IDF + linear heads) on the shared public data sets and the CX seed set.

For every data set: train on its train split, score on its dev split (official test splits are withheld
and never used), and put the numbers next to the MANIFEST floor (a plain TF-IDF + LR) and the published
bests. Writes ``bench/results/quality_shared.json`` and ``bench/results/quality_shared.md``.

    .venv/bin/python bench/quality_shared.py                      # every data set, recommended settings
    .venv/bin/python bench/quality_shared.py --only semeval16_ru --only cx_seed
    .venv/bin/python bench/quality_shared.py --settings product   # whatever the fast family's registry defaults says now
    .venv/bin/python bench/quality_shared.py --param C=8 --param char_ngram_range=[1,5] --no-write

Sweep mode (grid search, in-process; results go to a JSONL log, default /tmp/cxlens_sweep.jsonl):

    .venv/bin/python bench/quality_shared.py --only semeval16_ru --sweep \\
        --vary C=[2,8,16] --vary 'class_weight=[null]' --vary 'char_ngram_range=[[1,4],[3,6]]'

``--vary`` varies one option at a time around the base settings (``--cross`` takes the full product).
In sweep mode identical logistic-regression fits (same options, same matrix, same labels) are computed
once and reused, and segmentation is cached, so toggling ``clause_pooling`` or ``polarity_C`` costs little;
train times printed in sweep mode are therefore not comparable (the normal mode measures cold fits).

The shared data lives in ``--shared PATH`` (default ``/work/shared``, else ``../shared`` next to the repo);
when it is absent the script says so and exits 0 (the seed set still runs with ``--only cx_seed``).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import itertools
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

RESULTS_DIR = REPO / "bench" / "results"
JSON_OUT = RESULTS_DIR / "quality_shared.json"
MD_OUT = RESULTS_DIR / "quality_shared.md"

#: settings recommended for the fast family's registry defaults (chosen by the sweep documented in docs/quality.md)
RECOMMENDED_FAST: dict[str, Any] = {
    "C": 4.0,
    "polarity_C": 4.0,
    "class_weight": "balanced",
    "threshold_folds": 0,  # keep 0.5: out-of-fold tuned thresholds do not transfer to the full model
    "clause_pooling": "none",
    "clause_training": True,
    "featurizer_params": {"word_ngram_range": [1, 2], "char_ngram_range": [2, 5], "min_df": 1, "char_weight": 1.0},
}

#: options of nlp.families.features.TfidfFeaturizer: ``--param``/``--vary`` keys with these names go to featurizer_params
FEATURIZER_KEYS = {"word_ngram_range", "char_ngram_range", "min_df", "max_features", "char_weight", "sublinear_tf"}

#: metric keys of one row, in table order
METRICS = ("category_f1", "pair_f1", "polarity_acc", "sentiment_macro_f1", "sentiment_pn_f1")
METRIC_TITLES = {"category_f1": "category F1", "pair_f1": "pair F1", "polarity_acc": "polarity acc (gold cat.)",
                 "sentiment_macro_f1": "sentiment macro-F1", "sentiment_pn_f1": "sentiment P/N F1"}


@dataclass(frozen=True)
class Dataset:
    name: str
    train: str  #: path relative to <shared>/data ("seed:" = the bundled CX seed set)
    dev: str
    family: str  #: data sets of one family share a sweep
    floor: dict[str, float] = field(default_factory=dict)  #: MANIFEST floor (dev)
    published: dict[str, float] = field(default_factory=dict)  #: published bests (official test, not dev)
    note: str = ""


DATASETS: list[Dataset] = [
    Dataset("semeval16_ru", "semeval16/ru_restaurants_train.jsonl", "semeval16/ru_restaurants_dev.jsonl", "semeval",
            floor={"category_f1": 0.742, "pair_f1": 0.633, "sentiment_macro_f1": 0.579, "sentiment_pn_f1": 0.781},
            published={"category_f1": 0.6483, "polarity_acc": 0.7792},
            note="sentence-level ABSA; sentiment derived from the opinions; published bests are on the official test"),
    Dataset("semeval16_en", "semeval16/en_restaurants_train.jsonl", "semeval16/en_restaurants_dev.jsonl", "semeval",
            floor={"category_f1": 0.722, "pair_f1": 0.584, "sentiment_macro_f1": 0.515, "sentiment_pn_f1": 0.807},
            published={"category_f1": 0.7303, "polarity_acc": 0.8813},
            note="sentence-level ABSA; published bests are on the official test"),
    Dataset("mams", "mams/acsa_train.jsonl", "mams/acsa_val.jsonl", "semeval",
            floor={"category_f1": 0.848, "pair_f1": 0.580, "sentiment_macro_f1": 0.755, "sentiment_pn_f1": 0.784},
            note="dev = official validation split; every sentence has 2+ categories with different polarities"),
    Dataset("sentirueval2016_banks", "sentirueval2016/banks_train.jsonl", "sentirueval2016/banks_dev.jsonl", "tweets",
            floor={"sentiment_macro_f1": 0.613, "sentiment_pn_f1": 0.755},
            published={"sentiment_pn_f1": 0.552},
            note="tweet-level derived sentiment; the official metric is P/N macro-F1 over tweet-company pairs on a "
                 "later-collected test (published best 0.552)"),
    Dataset("sentirueval2016_telecom", "sentirueval2016/telecom_train.jsonl", "sentirueval2016/telecom_dev.jsonl",
            "tweets", floor={"sentiment_macro_f1": 0.633, "sentiment_pn_f1": 0.703},
            published={"sentiment_pn_f1": 0.559},
            note="as banks; published best 0.559 on the official test"),
    Dataset("sentirueval2015_restaurants", "sentirueval2015_reviews/restaurants_train.jsonl",
            "sentirueval2015_reviews/restaurants_dev.jsonl", "reviews",
            note="whole reviews (177 train / 23 dev): category = any mention of Food/Service/Interior/Price/Whole, "
                 "so category F1 is near-trivial; dev is tiny (no floor row)"),
    Dataset("nhs_fft", "nhs_fft/train.jsonl", "nhs_fft/dev.jsonl", "cx",
            floor={"category_f1": 0.705, "pair_f1": 0.632, "sentiment_macro_f1": 0.667, "sentiment_pn_f1": 0.856},
            note="43 themes; theme polarity = comment sentiment for most themes"),
    Dataset("airline_tweets", "airline_tweets/train.jsonl", "airline_tweets/dev.jsonl", "tweets",
            floor={"category_f1": 0.571, "pair_f1": 0.571, "sentiment_macro_f1": 0.765, "sentiment_pn_f1": 0.822},
            note="reasons (categories) are annotated on negative tweets only: the touchpoint heads train and are "
                 "scored on those"),
    Dataset("cx_seed", "seed:train", "seed:dev", "cx",
            note="the product's own bundled seed set (12 touchpoints, RU+EN); no floor"),
]
BY_NAME = {d.name: d for d in DATASETS}


# -- locating data ---------------------------------------------------------------------------------
def find_shared(arg: str | None) -> Path | None:
    """The shared folder (the one holding data/MANIFEST.md), or None."""
    cands = [Path(arg)] if arg else [Path("/work/shared"), REPO.parent / "shared"]
    for c in cands:
        if (c / "data").is_dir():
            return c
    return None


def split_path(ds: Dataset, which: str, shared: Path | None) -> Path | None:
    rel = ds.train if which == "train" else ds.dev
    if rel.startswith("seed:"):
        from nlp.labeled.seed import seed_split_path

        return seed_split_path(rel.split(":", 1)[1])
    if shared is None:
        return None
    p = shared / "data" / rel
    return p if p.exists() else None


# -- settings --------------------------------------------------------------------------------------
def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_param(params: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """Set ``key`` (a pipeline option, or a featurizer option by its bare name) in a copy of ``params``."""
    out = json.loads(json.dumps(params))
    if key.startswith("featurizer_params."):
        key = key.split(".", 1)[1]
    if key in FEATURIZER_KEYS:
        fp = dict(out.get("featurizer_params") or {})
        fp[key] = value
        out["featurizer_params"] = fp
    else:
        out[key] = value
    return out


def pipeline_params(params: dict[str, Any]) -> dict[str, Any]:
    """JSON-style settings -> CommentPipeline keyword arguments (ranges as tuples)."""
    out = dict(params)
    fp = dict(out.get("featurizer_params") or {})
    for k in ("word_ngram_range", "char_ngram_range"):
        if k in fp and fp[k] is not None:
            fp[k] = tuple(fp[k])
    if fp:
        out["featurizer_params"] = fp
    return out


def describe(params: dict[str, Any]) -> str:
    flat = {k: v for k, v in params.items() if k != "featurizer_params"}
    flat.update(params.get("featurizer_params") or {})
    return " ".join(f"{k}={json.dumps(v)}" for k, v in sorted(flat.items())) or "(defaults)"


# -- metrics ---------------------------------------------------------------------------------------
def row_metrics(metrics: dict[str, Any]) -> dict[str, float | None]:
    s, t = metrics.get("sentiment"), metrics.get("touchpoints")
    pg = metrics.get("polarity_given_gold")
    return {
        "category_f1": t["micro"]["f1"] if t else None,
        "pair_f1": metrics["pairs"]["micro"]["f1"] if t else None,
        "polarity_acc": pg["accuracy"] if pg else None,
        "sentiment_macro_f1": s["macro_f1"] if s else None,
        "sentiment_pn_f1": s["pn_macro_f1"] if s else None,
    }


def entity_pn_f1(dev, preds) -> dict[str, Any] | None:
    """SentiRuEval-2016 style P/N macro-F1 over tweet-company pairs, each company given the tweet's predicted
    label (a proxy: the pipeline has no per-company head; a predicted ``mixed`` counts as neutral)."""
    from nlp.lifecycle.evaluation import f1_for

    gold, pred = [], []
    for e, p in zip(dev, preds):
        ents = e.extra.get("entities") or []
        lab = p["sentiment"]["label"]
        lab = lab if lab in ("positive", "negative") else "neutral"
        for ent in ents:
            gold.append(ent.get("polarity"))
            pred.append(lab)
    if not gold:
        return None
    return {"pn_macro_f1": (f1_for(gold, pred, "positive") + f1_for(gold, pred, "negative")) / 2, "pairs": len(gold)}


def _file_sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _git_state() -> dict[str, Any]:
    import subprocess

    def git(*a: str) -> str:
        try:
            return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.rstrip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"head": git("rev-parse", "--short", "HEAD").strip(),
            "dirty_nlp": [ln[3:] for ln in git("status", "--porcelain", "--", "nlp").splitlines()]}


def beats_floor(ds: Dataset, m: dict[str, float | None], margin: float = 0.01) -> dict[str, str]:
    """Per floor metric: 'yes' (>= floor + margin), 'marginal' (within margin) or 'no' (below)."""
    out = {}
    for k, f in ds.floor.items():
        v = m.get(k)
        if v is None:
            continue
        out[k] = "yes" if v >= f + margin else ("marginal" if v >= f else "no")
    return out


# -- memoisation for sweeps ------------------------------------------------------------------------
def _digest(obj: Any) -> str:
    import numpy as np
    import scipy.sparse as sp

    h = hashlib.blake2b(digest_size=16)
    if obj is None:
        h.update(b"none")
    elif sp.issparse(obj):
        obj = obj.tocsr()
        h.update(repr(obj.shape).encode())
        for a in (obj.data, obj.indices, obj.indptr):
            h.update(np.ascontiguousarray(a).tobytes())
    else:
        a = np.asarray(obj)
        h.update(repr((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes() if a.dtype != object else repr(a.tolist()).encode())
    return h.hexdigest()


def enable_sweep_memo(max_fits: int = 160) -> None:
    """Reuse identical LogisticRegression fits and segmentations within this process (sweep mode only)."""
    from sklearn.linear_model import LogisticRegression

    import nlp.families.heads as clf
    from nlp.families.pipeline import CommentPipeline

    cache: OrderedDict[str, dict] = OrderedDict()

    class MemoLogisticRegression(LogisticRegression):
        def fit(self, X, y, sample_weight=None):
            key = repr(sorted(self.get_params().items())) + _digest(X) + _digest(y) + _digest(sample_weight)
            hit = cache.get(key)
            if hit is not None:
                cache.move_to_end(key)
                self.__dict__.update(hit)
                return self
            super().fit(X, y, sample_weight)
            cache[key] = {k: v for k, v in self.__dict__.items() if k.endswith("_") and not k.startswith("__")}
            while len(cache) > max_fits:
                cache.popitem(last=False)
            return self

    MemoLogisticRegression.__name__ = "LogisticRegression"
    clf.LogisticRegression = MemoLogisticRegression  # the heads look the name up at fit time

    prep_cache: dict[tuple, Any] = {}
    original = CommentPipeline._prepare

    def _prepare(self, texts, given_langs):
        key = (tuple(self.languages), tuple(texts), tuple(given_langs))
        if key not in prep_cache:
            prep_cache[key] = original(self, texts, given_langs)
        return prep_cache[key]

    CommentPipeline._prepare = _prepare


# -- running ---------------------------------------------------------------------------------------
def run_product(ds: Dataset, train: Path, dev: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Train through nlp.lifecycle.training.train_model (the product path, cold), evaluate on dev."""
    from nlp.lifecycle.store import ModelStore
    from nlp.taxonomy import load_taxonomy
    from nlp.lifecycle.training import load_examples, train_model

    taxonomy = load_taxonomy() if ds.name == "cx_seed" else None
    with tempfile.TemporaryDirectory(prefix="cxlens-quality-") as tmp:
        res = train_model([train], dev_path=dev, model_type="fast", name=f"q-{ds.name}".replace("_", "-"),
                          store=ModelStore(tmp), params=pipeline_params(params), taxonomy=taxonomy)
        meta = res.pipeline.meta
        out = {"metrics": row_metrics(res.metrics), "train_s": meta["training"]["seconds"],
               "n_train": meta["training"]["rows"], "n_dev": meta["dev"]["rows"], "full": res.metrics,
               "params_used": meta["params"], "skipped_rows": len(res.errors),
               "thresholds": {k: round(v, 3) for k, v in res.pipeline.thresholds.items()}}
        dev_ex, _ = load_examples([dev])
        if any(e.extra.get("entities") for e in dev_ex):
            preds = res.pipeline.predict([{"id": e.id, "text": e.text, "lang": e.lang} for e in dev_ex])
            out["entity_pn_f1_proxy"] = entity_pn_f1(dev_ex, preds)
    return out


_EXAMPLES: dict[str, list] = {}


def run_inprocess(ds: Dataset, train: Path, dev: Path, params: dict[str, Any]) -> dict[str, Any]:
    """The same training as train_model (family defaults merged with params), without the model store."""
    from nlp.lifecycle.evaluation import evaluate_predictions
    from nlp.families.pipeline import CommentPipeline
    from nlp.taxonomy import load_taxonomy
    from nlp.families.registry import get_family
    from nlp.lifecycle.training import load_examples

    for p in (train, dev):
        if str(p) not in _EXAMPLES:
            _EXAMPLES[str(p)] = load_examples([p])[0]
    tr, dv = _EXAMPLES[str(train)], _EXAMPLES[str(dev)]
    opts = {**get_family("fast").defaults, **pipeline_params(params)}
    pipe = CommentPipeline(model_type="fast", taxonomy=load_taxonomy() if ds.name == "cx_seed" else None, **opts)
    t0 = time.perf_counter()
    pipe.fit(tr)
    train_s = time.perf_counter() - t0
    preds = pipe.predict([{"id": e.id, "text": e.text, "lang": e.lang} for e in dv])
    metrics = evaluate_predictions(dv, preds, pipeline=pipe)
    out = {"metrics": row_metrics(metrics), "train_s": round(train_s, 2), "n_train": len(tr), "n_dev": len(dv)}
    ent = entity_pn_f1(dv, preds)
    if ent:
        out["entity_pn_f1_proxy"] = ent
    return out


def variants(base: dict[str, Any], vary: list[tuple[str, list]], cross: bool) -> list[dict[str, Any]]:
    if not vary:
        return [base]
    if cross:
        out = []
        for combo in itertools.product(*[vals for _, vals in vary]):
            p = base
            for (k, _), v in zip(vary, combo):
                p = apply_param(p, k, v)
            out.append(p)
        return out
    out = [base]
    for k, vals in vary:
        for v in vals:
            p = apply_param(base, k, v)
            if p not in out:
                out.append(p)
    return out


# -- output ----------------------------------------------------------------------------------------
def _fmt(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "–"
    return f"{v * 100:.1f}" if pct else f"{v:.3f}"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    head = ["data set (train → dev)", "n train / dev"] + [METRIC_TITLES[k] for k in METRICS] + ["train s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        m, fl, pub = r["metrics"], r["floor"], r["published"]
        cells = [r["dataset"], f"{r['n_train']:,} / {r['n_dev']:,}"]
        for k in METRICS:
            c = f"**{_fmt(m.get(k))}**" if m.get(k) is not None else "–"
            extra = []
            if k in fl:
                extra.append(f"floor {fl[k]:.3f}")
            if k in pub:
                extra.append(f"publ. {pub[k]:.3f}")
            if extra:
                c += " (" + ", ".join(extra) + ")"
            cells.append(c)
        cells.append(f"{r['train_s']:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_label_table(full: dict[str, Any]) -> str:
    t = full.get("touchpoints")
    if not t:
        return ""
    lines = ["| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for c, v in sorted(t["per_label"].items(), key=lambda kv: -kv[1]["support"]):
        lines.append(f"| {c} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |")
    mi, ma = t["micro"], t["macro"]
    lines.append(f"| **micro** | {mi['precision']:.3f} | {mi['recall']:.3f} | {mi['f1']:.3f} | |")
    lines.append(f"| **macro** | {ma['precision']:.3f} | {ma['recall']:.3f} | {ma['f1']:.3f} | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", help="shared folder holding data/ (default /work/shared, else ../shared)")
    ap.add_argument("--only", action="append", metavar="NAME",
                    help=f"data set(s) to run (repeatable or comma-separated): {', '.join(BY_NAME)}")
    ap.add_argument("--settings", choices=["recommended", "product"], default="recommended",
                    help="recommended = RECOMMENDED_FAST in this script (default); product = the registry's defaults as they are")
    ap.add_argument("--param", action="append", default=[], metavar="KEY=JSON",
                    help="override an option (featurizer options by bare name, e.g. char_ngram_range=[1,4])")
    ap.add_argument("--no-write", action="store_true", help="print only; do not write bench/results/")
    ap.add_argument("--json-out", type=Path, default=JSON_OUT)
    ap.add_argument("--md-out", type=Path, default=MD_OUT)
    ap.add_argument("--sweep", action="store_true", help="grid search mode (see --vary, --cross, --sweep-out)")
    ap.add_argument("--vary", action="append", default=[], metavar="KEY=JSONLIST", help="values to try for one option")
    ap.add_argument("--cross", action="store_true", help="full product of the --vary lists (default: one at a time)")
    ap.add_argument("--sweep-out", type=Path, default=Path(tempfile.gettempdir()) / "cxlens_sweep.jsonl")
    args = ap.parse_args(argv)

    names: list[str] = []
    for item in args.only or []:
        names += [n.strip() for n in item.split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        ap.error(f"unknown data set(s) {unknown}; choose from {list(BY_NAME)}")
    selected = [BY_NAME[n] for n in names] if names else list(DATASETS)

    shared = find_shared(args.shared)
    if shared is None:
        where = args.shared or f"/work/shared or {REPO.parent / 'shared'}"
        if not all(d.train.startswith("seed:") for d in selected):
            print(f"quality_shared: shared data not found ({where}): skipping "
                  f"(run with --only cx_seed for the bundled seed set)")
            return 0

    from nlp.families.registry import get_family

    base: dict[str, Any] = json.loads(json.dumps(RECOMMENDED_FAST)) if args.settings == "recommended" else {}
    for kv in args.param:
        k, sep, v = kv.partition("=")
        if not sep:
            ap.error(f"--param wants KEY=VALUE, got {kv!r}")
        base = apply_param(base, k.strip(), _json_value(v))

    if args.sweep:
        vary = []
        for kv in args.vary:
            k, sep, v = kv.partition("=")
            vals = _json_value(v) if sep else None
            if not isinstance(vals, list):
                ap.error(f"--vary wants KEY=[v1,v2,...], got {kv!r}")
            vary.append((k.strip(), vals))
        enable_sweep_memo()
        configs = variants(base, vary, args.cross)
        args.sweep_out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.sweep_out, "a", encoding="utf-8") as log:
            for ds in selected:
                train, dev = split_path(ds, "train", shared), split_path(ds, "dev", shared)
                if train is None or dev is None:
                    print(f"{ds.name}: data not found, skipped")
                    continue
                print(f"== {ds.name} ({len(configs)} configs)", flush=True)
                for p in configs:
                    r = run_inprocess(ds, train, dev, p)
                    m = r["metrics"]
                    print(f"  {describe(p):<90} " + " ".join(f"{k[:10]}={_fmt(m[k])}" for k in METRICS)
                          + f" ent={_fmt((r.get('entity_pn_f1_proxy') or {}).get('pn_macro_f1'))} t={r['train_s']:.0f}s",
                          flush=True)
                    log.write(json.dumps({"dataset": ds.name, "params": p, **r,
                                          "time": _dt.datetime.now().isoformat(timespec="seconds")},
                                         ensure_ascii=False) + "\n")
                    log.flush()
        return 0

    rows = []
    for ds in selected:
        train, dev = split_path(ds, "train", shared), split_path(ds, "dev", shared)
        if train is None or dev is None:
            print(f"{ds.name}: data not found under {shared}, skipped")
            continue
        print(f"{ds.name}: training on {train.name}, scoring on {dev.name} ...", flush=True)
        r = run_product(ds, train, dev, base)
        row = {"dataset": ds.name, "train": str(ds.train), "dev": str(ds.dev), "family": ds.family,
               "sha256": {"train": _file_sha(train), "dev": _file_sha(dev)},
               "n_train": r["n_train"], "n_dev": r["n_dev"], "train_s": r["train_s"], "metrics": r["metrics"],
               "floor": ds.floor, "published": ds.published, "beats_floor": beats_floor(ds, r["metrics"]),
               "note": ds.note, "params_used": r["params_used"], "skipped_rows": r["skipped_rows"],
               "thresholds": r["thresholds"]}
        if "entity_pn_f1_proxy" in r:
            row["entity_pn_f1_proxy"] = r["entity_pn_f1_proxy"]
        full = r["full"]
        row["sentiment_per_label"] = (full.get("sentiment") or {}).get("per_label")
        row["touchpoint_micro"] = (full.get("touchpoints") or {}).get("micro")
        row["touchpoint_macro"] = (full.get("touchpoints") or {}).get("macro")
        row["touchpoint_per_label"] = (full.get("touchpoints") or {}).get("per_label")
        rows.append(row)
        m = r["metrics"]
        print("  " + "  ".join(f"{METRIC_TITLES[k]} {_fmt(m[k])}" for k in METRICS) + f"  train {r['train_s']:.1f}s",
              flush=True)

    table = markdown_table(rows)
    seed = next((r for r in rows if r["dataset"] == "cx_seed"), None)
    seed_table = per_label_table({"touchpoints": {"per_label": seed["touchpoint_per_label"],
                                                  "micro": seed["touchpoint_micro"],
                                                  "macro": seed["touchpoint_macro"]}}) if seed else ""
    from nlp.lifecycle.store import library_versions

    command = "bench/quality_shared.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    report = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": command.strip(),
        "settings": args.settings,
        "params": base,
        "family_defaults_at_run": dict(get_family("fast").defaults),
        "shared": str(shared) if shared else None,
        "git": _git_state(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), **library_versions()},
        "metric_notes": {
            "category_f1": "micro-F1 over unique (item, category) pairs, items with aspect annotation only",
            "pair_f1": "micro-F1 over unique (item, category, polarity)",
            "polarity_acc": "accuracy of the polarity head given the gold categories (SemEval-16 slot 3)",
            "sentiment_macro_f1": "macro-F1 over the gold sentiment classes present in dev",
            "sentiment_pn_f1": "macro-F1 over positive and negative only",
            "train_s": "seconds of CommentPipeline.fit (train_model meta), on a shared 2-core machine",
        },
        "rows": rows,
        "markdown": table,
    }
    print()
    print(table)
    if seed_table:
        print("\ncx_seed dev, per label:\n" + seed_table)
    if not args.no_write and rows:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        md = [f"<!-- generated by {report['command']} on {report['date']} -->", "", table]
        if seed_table:
            md += ["", "CX seed set, dev split, per label:", "", seed_table]
        args.md_out.write_text("\n".join(md) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json_out.relative_to(REPO) if args.json_out.is_relative_to(REPO) else args.json_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
