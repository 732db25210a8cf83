"""``cxlens train``: a new model version from labeled files, the bundled seed set, or stored datasets
(all through the one training path, :func:`nlp.lifecycle.retrain.retrain`)."""
from __future__ import annotations

import argparse
from pathlib import Path

from nlp.config import DEFAULT_MODEL_NAME, default_model_type
from nlp.errors import DataError
from nlp.families.registry import family_names, family_help

from .common import add_data_dir, add_gate_options, add_models_dir, dataset_store, gate_policy, model_store, \
    parse_params, report_bad_rows, warn


def register(sub) -> None:
    p = sub.add_parser("train", help="train a new model version on labeled JSONL/CSV data or stored datasets",
                       description="Train a model version. It becomes the production version only when it is the "
                                   "first version of its name and clears the gate's sanity floor; later versions "
                                   "are candidates until `cxlens models promote`. See docs/retraining.md.")
    p.add_argument("--data", action="append", type=Path, help="labeled training file (repeatable)")
    p.add_argument("--dev", type=Path, help="labeled dev file: metrics stored with the version")
    p.add_argument("--seed-set", action="store_true", help="add the bundled CX seed set (train; dev if --dev absent)")
    p.add_argument("--model-type", default=None, choices=family_names(),
                   help=f"model family: {family_help()}; default: $CXLENS_DEFAULT_MODEL_TYPE or the shipped one")
    p.add_argument("--name", default=DEFAULT_MODEL_NAME, help="model name in the store")
    p.add_argument("--taxonomy", type=Path, help="taxonomy YAML (default: the bundled 12 touchpoints)")
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="pipeline option, e.g. C=8 (repeatable)")
    p.add_argument("--encoder", type=Path, metavar="PATH",
                   help="encoder/ensemble: a local transformers checkpoint folder instead of the bundled e5-small")
    p.add_argument("--encoder-prefix", metavar="TEXT",
                   help="text prefix for that encoder (default 'query: ', as E5 expects; '' for a plain BERT/XLM-R)")
    p.add_argument("--finetune", action="store_true",
                   help="encoder/ensemble: fine-tune the encoder on the training rows first (slow on CPU; GPU if present)")
    p.add_argument("--finetune-epochs", type=int, default=None, metavar="N", help="epochs of --finetune (default 5)")
    g = p.add_argument_group("retraining on stored datasets (docs/retraining.md)")
    g.add_argument("--dataset", action="append", metavar="NAME[@HASH]",
                   help="retrain on the seed set plus this imported dataset (repeatable)")
    g.add_argument("--seed-weight", type=float, default=1.0,
                   help="with --dataset: weight of the seed set (rows repeated; 0 = leave it out; default 1)")
    g.add_argument("--dataset-weight", action="append", metavar="[NAME=]W",
                   help="with --dataset: weight of all datasets (W) or one (NAME=W); default 1")
    g.add_argument("--map", action="append", metavar="OLD=NEW",
                   help="with --dataset: rename (OLD=NEW) or drop (OLD=) a touchpoint in all data")
    g.add_argument("--promote", action="store_true", help="promote the new version if the gate passes")
    g.add_argument("--by", help="who trains/promotes (recorded; default: $CXLENS_USER or the login name)")
    add_gate_options(g)
    add_models_dir(p)
    add_data_dir(p)
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    """Both ways in (labeled files, stored datasets) run the one training path and report the same way."""
    res = _retrain(args) if args.dataset else _train_files(args)
    report_bad_rows(res.errors)
    for w in res.warnings:
        warn(f"warning: {w}")
    model_type = res.meta["params"]["model_type"]
    print(f"trained {res.spec} ({model_type}) on {res.meta['training']['rows']} rows in "
          f"{res.meta['training']['seconds']} s")
    if res.metrics:
        from nlp.lifecycle.evaluation import format_report

        print(format_report(res.metrics))
    if res.first:  # a refused first version: its reasons are in the "not promoted" warning above
        if res.promoted is not None:
            print(f"{res.spec} is the first version: production")
        return 0
    from .models import format_comparison

    print(format_comparison(res.comparison))
    if res.promoted:
        print(f"promoted {res.spec} to production")
    elif res.decision.passed:
        print(f"gate: passed. Promote with `cxlens models promote {res.spec}`")
    else:
        print(f"gate: would refuse ({'; '.join(res.decision.failures)}); production unchanged")
    return 0


def _train_files(args: argparse.Namespace):
    if args.seed_weight != 1.0 or args.dataset_weight or args.map:
        raise DataError("--seed-weight, --dataset-weight and --map need --dataset", field="--dataset",
                        expected="at least one --dataset NAME", found=None)
    from nlp.labeled.seed import seed_split_path
    from nlp.lifecycle.training import train_model
    from nlp.taxonomy import load_taxonomy

    data = list(args.data or [])
    dev = args.dev
    if args.seed_set:
        data.append(seed_split_path("train"))
        dev = dev or seed_split_path("dev")
    if not data:
        raise DataError(field="--data", expected="at least one labeled file (or --seed-set)", found="none")
    taxonomy = load_taxonomy(args.taxonomy) if (args.taxonomy or args.seed_set) else None
    return train_model(data, dev_path=dev, model_type=args.model_type or default_model_type(), name=args.name,
                       store=model_store(args), params=parse_params(args.param), taxonomy=taxonomy, progress=warn,
                       encoder=args.encoder, encoder_prefix=args.encoder_prefix, finetune=args.finetune,
                       finetune_epochs=args.finetune_epochs, by=args.by, promote_if_passed=args.promote,
                       policy=gate_policy(args))


def _retrain(args: argparse.Namespace):
    from nlp.labeled.datasets import parse_mapping
    from nlp.lifecycle.retrain import retrain
    from nlp.taxonomy import load_taxonomy

    if args.data:
        raise DataError("--dataset and --data cannot be combined: import the file first with "
                        "`cxlens datasets import FILE --name NAME`", field="--data", found=[str(p) for p in args.data])
    weights = {}
    for kv in args.dataset_weight or []:
        key, sep, value = kv.rpartition("=")
        try:
            w = float(value)
        except ValueError:
            raise DataError(field="--dataset-weight", expected="W or NAME=W", found=kv) from None
        weights[key if sep else "*"] = w
    default_w = weights.pop("*", 1.0)
    return retrain(name=args.name, datasets=args.dataset, store=model_store(args), dataset_store=dataset_store(args),
                   seed_weight=args.seed_weight, dataset_weight=default_w, dataset_weights=weights,
                   model_type=args.model_type, params=parse_params(args.param),
                   taxonomy=load_taxonomy(args.taxonomy) if args.taxonomy else None, mapping=parse_mapping(args.map),
                   policy=gate_policy(args), promote_if_passed=args.promote, by=args.by, progress=warn,
                   encoder=args.encoder, encoder_prefix=args.encoder_prefix, finetune=args.finetune,
                   finetune_epochs=args.finetune_epochs)
