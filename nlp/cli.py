"""`cxlens train | predict | evaluate | models` (registered into the `cxlens` console script)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import DEFAULT_MODEL_NAME, MODEL_TYPES, default_model_type
from .errors import DataError
from .io import read_documents_info, write_jsonl
from .progress import task
from .store import ModelStore, parse_spec

MAX_ERRORS_SHOWN = 20


def warn(msg: str) -> None:
    print(f"cxlens: {msg}", file=sys.stderr)


def report_bad_rows(errors: list[DataError], *, strict: bool = False) -> None:
    for e in errors[:MAX_ERRORS_SHOWN]:
        warn(f"skipped: {e}")
    if len(errors) > MAX_ERRORS_SHOWN:
        warn(f"... and {len(errors) - MAX_ERRORS_SHOWN} more bad rows")
    if errors and strict:
        raise DataError(f"{len(errors)} bad rows (--strict)")


def parse_params(items: list[str] | None) -> dict:
    """``--param KEY=VALUE`` options: VALUE is JSON when it parses (numbers, null, lists), else a string."""
    params = {}
    for kv in items or []:
        key, sep, value = kv.partition("=")
        if not sep:
            raise DataError(field="--param", expected="KEY=VALUE", found=kv)
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


def open_model(spec: str, store: ModelStore):
    """Load a model; the default model is trained from the bundled seed set on first use."""
    name, _ = parse_spec(spec)
    if name == DEFAULT_MODEL_NAME and not store.versions(name):
        from .training import train_seed_model

        warn(f"no '{name}' model in {store.root}: training it from the bundled seed set (one-off)")
        train_seed_model(store=store, progress=warn)
    return store.load(spec)


def cmd_train(args: argparse.Namespace) -> int:
    from .seed import seed_split_path
    from .taxonomy import load_taxonomy
    from .training import train_model

    data = list(args.data or [])
    dev = args.dev
    if args.seed_set:
        data.append(seed_split_path("train"))
        dev = dev or seed_split_path("dev")
    if not data:
        raise DataError(field="--data", expected="at least one labeled file (or --seed-set)", found="none")
    params = parse_params(args.param)
    taxonomy = load_taxonomy(args.taxonomy) if (args.taxonomy or args.seed_set) else None
    model_type = args.model_type or default_model_type()
    res = train_model(data, dev_path=dev, model_type=model_type, name=args.name, store=ModelStore(args.models_dir),
                      params=params, taxonomy=taxonomy, progress=warn, encoder=args.encoder,
                      encoder_prefix=args.encoder_prefix, finetune=args.finetune, finetune_epochs=args.finetune_epochs)
    report_bad_rows(res.errors)
    print(f"trained {res.name}@{res.version} ({model_type}) on {res.pipeline.meta['training']['rows']} rows")
    if res.promotion is not None:
        warn(f"{res.name}@{res.version} is the production version (the first version of '{res.name}')")
    elif res.refused:
        warn(f"{res.name}@{res.version} was NOT promoted: " + "; ".join(res.refused))
    else:
        warn(f"{res.name}@{res.version} is a candidate; compare and promote it with "
             f"`cxlens models promote {res.name}@{res.version}` (docs/retraining.md)")
    if res.metrics:
        from .evaluation import format_report

        print(format_report(res.metrics))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    store = ModelStore(args.models_dir)
    docs, errors, decoding = read_documents_info(args.input)
    if decoding is not None and (decoding.replaced or decoding.name not in ("utf-8", "utf-8-sig")):
        warn(f"{args.input}: {decoding.summary()}")
    report_bad_rows(errors, strict=args.strict)
    if not docs:
        raise DataError("no valid rows to classify", source=str(args.input), expected="rows with a 'text' field",
                        found=f"{len(errors)} bad rows")
    pipeline = open_model(args.model, store)
    with task("classifying", total=len(docs), unit="comment") as t:
        preds = pipeline.predict(docs, progress=t.update, n_jobs=args.jobs)
    for d, p in zip(docs, preds):  # decoding warnings of the row (bytes replaced) come first
        if d.warnings:
            p["warnings"] = [*d.warnings, *p["warnings"]]
    if args.with_text:
        for d, p in zip(docs, preds):
            p["text"] = d.text
    if args.keep_columns:
        for d, p in zip(docs, preds):
            p["input"] = d.extra
    n = write_jsonl(preds, args.out)
    if str(args.out) != "-":
        warn(f"wrote {n} predictions to {args.out} (model {pipeline.name}@{pipeline.version})")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluation import evaluate_predictions, format_report
    from .training import load_examples

    examples, errors = load_examples([args.data])
    report_bad_rows(errors)
    if not examples:
        raise DataError("no valid labeled rows", source=str(args.data), expected="labeled rows", found=0)
    pipeline = open_model(args.model, ModelStore(args.models_dir))
    preds = pipeline.predict([{"id": e.id, "text": e.text, "lang": e.lang} for e in examples])
    metrics = evaluate_predictions(examples, preds, pipeline=pipeline)
    metrics["model"] = {"name": pipeline.name, "version": pipeline.version}
    print(json.dumps(metrics, ensure_ascii=False, indent=2) if args.json else format_report(metrics))
    return 0


def printed_json_or_empty(rows: list, *, as_json: bool, what: str, root) -> bool:
    """For a listing command: print ``rows`` as JSON, or say there are none; True when that was all."""
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return True
    if not rows:
        print(f"no {what} in {root}")
        return True
    return False


def cmd_models(args: argparse.Namespace) -> int:
    store = ModelStore(args.models_dir)
    rows = store.list()
    if printed_json_or_empty(rows, as_json=args.json, what="models", root=store.root):
        return 0
    table = [["name", "version", "type", "backend", "created", "touchpoint F1", "sentiment F1", "aliases"]]
    for r in rows:
        m = r["metrics"] or {}
        table.append([r["name"], r["version"], r["model_type"] or "-", r.get("encoder_backend") or "-",
                      r["created"] or "-",
                      f"{m['touchpoint_micro_f1']:.3f}" if "touchpoint_micro_f1" in m else "-",
                      f"{m['sentiment_macro_f1']:.3f}" if "sentiment_macro_f1" in m else "-",
                      ",".join(r["aliases"])])
    print(format_table(table, right={1, 5, 6}))
    return 0


def format_table(rows: list[list[str]], *, right: set[int] = frozenset(), gap: int = 2) -> str:
    """Rows of cells as aligned text columns, each as wide as its longest cell (``right``: right-aligned)."""
    widths = [max(len(str(r[c])) for r in rows) for c in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [str(v).rjust(w) if c in right else str(v).ljust(w) for c, (v, w) in enumerate(zip(r, widths))]
        lines.append((" " * gap).join(cells).rstrip())
    return "\n".join(lines)


def _models_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models-dir", type=Path, default=None, help="model store (default: $CXLENS_MODELS_DIR or ./models)")


def register(sub) -> None:
    p = sub.add_parser("train", help="train a new model version on labeled JSONL/CSV data")
    p.add_argument("--data", action="append", type=Path, help="labeled training file (repeatable)")
    p.add_argument("--dev", type=Path, help="labeled dev file: metrics stored with the version")
    p.add_argument("--seed-set", action="store_true", help="add the bundled CX seed set (train; dev if --dev absent)")
    p.add_argument("--model-type", default=None, choices=MODEL_TYPES,
                   help="model family: fast (TF-IDF), encoder (multilingual-e5), ensemble (both, averaged); "
                        "default: $CXLENS_DEFAULT_MODEL_TYPE or ensemble")
    p.add_argument("--name", default=DEFAULT_MODEL_NAME, help="model name in the store")
    p.add_argument("--taxonomy", type=Path, help="taxonomy YAML (default: the bundled 12 touchpoints)")
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="pipeline option, e.g. C=8 (repeatable)")
    p.add_argument("--encoder", type=Path, metavar="PATH",
                   help="encoder/ensemble: a local transformers checkpoint folder instead of the bundled e5-small")
    p.add_argument("--encoder-prefix", metavar="TEXT",
                   help="text prefix for that encoder (default 'query: ', as E5 expects; '' for a plain BERT/XLM-R)")
    p.add_argument("--finetune", action="store_true",
                   help="encoder/ensemble: fine-tune the encoder on the training rows first (slow on CPU; GPU if present)")
    p.add_argument("--finetune-epochs", type=int, default=2, metavar="N", help="epochs of --finetune (default 2)")
    _models_dir_arg(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", help="classify comments (JSONL/CSV) into prediction rows (JSONL)")
    p.add_argument("input", help="input file (JSONL or CSV with a 'text' column), '-' for stdin")
    p.add_argument("--model", default=DEFAULT_MODEL_NAME, help="NAME or NAME@VERSION")
    p.add_argument("--out", default="-", help="output JSONL file, '-' for stdout (default)")
    p.add_argument("--with-text", action="store_true", help="copy each comment's text into its prediction row")
    p.add_argument("--keep-columns", action="store_true", help="copy the other input columns under 'input'")
    p.add_argument("--strict", action="store_true", help="fail (exit 2) if any input row is bad")
    p.add_argument("--jobs", type=int, default=-1, metavar="N",
                   help="worker processes for large inputs with a fast model (default -1: one per CPU; 1: none)")
    _models_dir_arg(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", help="score a model on labeled data")
    p.add_argument("--data", required=True, type=Path, help="labeled JSONL/CSV file")
    p.add_argument("--model", default=DEFAULT_MODEL_NAME, help="NAME or NAME@VERSION")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    _models_dir_arg(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("models", help="list model versions; promote, roll back, model card (docs/retraining.md)")
    p.add_argument("--json", action="store_true")
    _models_dir_arg(p)
    p.set_defaults(func=cmd_models)
    from .cli_retrain import register_models_actions

    register_models_actions(p)
