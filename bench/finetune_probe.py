"""Probe for issue 15: an end-to-end fine-tuned e5-small (first N layers; sentiment, multi-label touchpoint
and per-touchpoint polarity heads on the pooled output) trained on the seed train split, scored on seed dev
after every epoch (one JSON line per epoch on stdout, steps with ETA on stderr).

    .venv/bin/python bench/finetune_probe.py --layers 6 --epochs 5 --lr 1e-4 --head-lr 1e-2

First measurements (2026-12-04, AMD EPYC Zen 3, 2 cores, AVX2 only, shared with test runs), 6 layers,
batch 16, length-bucketed batches, about 130 s per epoch of 4,942 rows on a quiet machine:
- head lr 1e-3: sentiment macro-F1 0.773 after epoch 1, 0.830 after epoch 2 (the ensemble: 0.823), but the
  touchpoint head hardly learns (micro-F1 0.18-0.31 on dev after 3 epochs): the mean-pooled e5 vector has a
  large common component (norm 4.1, per-dimension std 0.11), so a linear head at 1e-3 moves too slowly;
  on frozen features the same head fits 0.03 (lr 1e-3) vs 0.81 (lr 1e-2) training F1 in 300 steps.
- head lr 1e-2 (the default here): on 600 training rows the touchpoint fit rises to 0.50 after 3 epochs;
  the full run was not finished (no time left in the session).
- ``--norm ln --head-lr 3e-3`` (a LayerNorm over the pooled vector; 2026-12-04, 636 s for 5 epochs): sentiment
  0.862, touchpoint 0.664, pair 0.539 after epoch 5; with ``--pooling cls`` 0.839 / 0.482 / 0.390. This
  recipe is now ``nlp.families.encoders.finetune`` (``cxlens train --finetune``); per-epoch table in
  docs/quality.md "Fine-tuning, issue 15 recipe".
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--pooling", default="mean")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="")
    ap.add_argument("--eval-train", action="store_true")
    ap.add_argument("--head-lr", type=float, default=1e-2)
    ap.add_argument("--norm", choices=["none", "ln"], default="none",
                    help="ln: a LayerNorm over the pooled vector before the heads (removes its common component)")
    args = ap.parse_args()
    import torch
    from transformers import AutoModel, AutoTokenizer

    from nlp.families.encoders.convert import ensure_converted
    from nlp.labeled.formats import read_labeled
    from nlp.labeled.seed import seed_split_path
    from nlp.schema import SENTIMENTS
    from nlp.taxonomy import load_taxonomy

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tax = load_taxonomy()
    T = list(tax.ids)
    POL = ["positive", "negative", "neutral"]
    train, _ = read_labeled(seed_split_path("train"))
    dev, _ = read_labeled(seed_split_path("dev"))
    if args.limit:
        train = train[: args.limit]
    if args.eval_train:
        dev = train[:300]
    base = ensure_converted()
    tok = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    model = AutoModel.from_pretrained(str(base), local_files_only=True)
    model.encoder.layer = model.encoder.layer[: args.layers]
    model.config.num_hidden_layers = args.layers
    model.get_input_embeddings().weight.requires_grad_(False)
    H = model.config.hidden_size
    heads = torch.nn.ModuleDict({"sent": torch.nn.Linear(H, 4), "tp": torch.nn.Linear(H, len(T)),
                                 "pol": torch.nn.Linear(H, len(T) * 3)})
    if args.norm == "ln":
        heads["norm"] = torch.nn.LayerNorm(H)
    drop = torch.nn.Dropout(0.1)

    def labels(ex):
        s = SENTIMENTS.index(ex.sentiment) if ex.sentiment in SENTIMENTS else -100
        y = np.zeros(len(T), np.float32)
        p = np.full(len(T), -100, np.int64)
        for a in ex.aspects or []:
            if a.category in T:
                y[T.index(a.category)] = 1
                if a.polarity in POL:
                    p[T.index(a.category)] = POL.index(a.polarity)
        return s, y, p

    lab = [labels(e) for e in train]
    ys = torch.tensor([l[0] for l in lab])
    yt = torch.tensor(np.stack([l[1] for l in lab]))
    yp = torch.tensor(np.stack([l[2] for l in lab]))
    pos = yt.sum(0).clamp(min=1)
    pos_weight = ((len(train) - pos) / pos).sqrt().clamp(max=8.0)
    ids = tok(["query: " + e.text for e in train], truncation=True, max_length=128)["input_ids"]
    dids = tok(["query: " + e.text for e in dev], truncation=True, max_length=128)["input_ids"]

    def batch(idx, seqs):
        L = max(len(seqs[i]) for i in idx)
        x = torch.zeros((len(idx), L), dtype=torch.long)
        m = torch.zeros((len(idx), L), dtype=torch.long)
        for r, i in enumerate(idx):
            x[r, : len(seqs[i])] = torch.tensor(seqs[i])
            m[r, : len(seqs[i])] = 1
        return x, m

    def pool(h, m):
        if args.pooling == "cls":
            z = h[:, 0]
        else:
            mf = m.unsqueeze(-1).to(h.dtype)
            z = (h * mf).sum(1) / mf.sum(1).clamp(min=1.0)
        return heads["norm"](z) if "norm" in heads else z

    decay = lambda n: not (n.endswith("bias") or "LayerNorm" in n)  # noqa: E731
    opt = torch.optim.AdamW([
        {"params": [p for n, p in model.named_parameters() if p.requires_grad and decay(n)], "lr": args.lr,
         "weight_decay": 0.01},
        {"params": [p for n, p in model.named_parameters() if p.requires_grad and not decay(n)], "lr": args.lr,
         "weight_decay": 0.0},
        {"params": list(heads.parameters()), "lr": args.head_lr, "weight_decay": 0.0}])
    spe = math.ceil(len(train) / args.batch)
    total = spe * args.epochs
    warm = max(1, int(0.06 * total))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (s + 1) / warm if s < warm
                                              else max(0.0, (total - s) / max(1, total - warm)))
    # length-bucketed batches: sort by length within chunks of 50 batches, shuffle batch order
    gen = np.random.default_rng(0)

    def plan():
        perm = gen.permutation(len(train))
        out = []
        chunk = args.batch * 50
        for a in range(0, len(perm), chunk):
            part = sorted(perm[a: a + chunk], key=lambda i: len(ids[i]))
            out += [part[b: b + args.batch] for b in range(0, len(part), args.batch)]
        gen.shuffle(out)
        return out

    def evaluate():
        model.eval()
        S, TP, PP = [], [], []
        order = sorted(range(len(dev)), key=lambda i: len(dids[i]))
        with torch.inference_mode():
            for a in range(0, len(order), 64):
                idx = order[a: a + 64]
                x, m = batch(idx, dids)
                z = pool(model(input_ids=x, attention_mask=m).last_hidden_state, m)
                S.append(torch.softmax(heads["sent"](z), -1).numpy())
                TP.append(torch.sigmoid(heads["tp"](z)).numpy())
                PP.append(heads["pol"](z).view(len(idx), len(T), 3).argmax(-1).numpy())
        inv = np.argsort(order)
        S, TP, PP = (np.concatenate(v)[inv] for v in (S, TP, PP))
        model.train()
        gold_s = [e.sentiment for e in dev]
        from sklearn.metrics import f1_score

        sent = f1_score(gold_s, [SENTIMENTS[i] for i in S.argmax(1)], average="macro")
        res = {"sentiment_macro_f1": round(sent, 4)}
        for thr in (0.3, 0.4, 0.5, 0.6):
            tp = fp = fn = ptp = pfp = pfn = 0
            per = {t: [0, 0, 0] for t in T}
            for i, e in enumerate(dev):
                g = {(a.category, a.polarity) for a in e.aspects or []}
                gc = {c for c, _ in g}
                pc = {T[j] for j in np.nonzero(TP[i] >= thr)[0]}
                pp = {(c, POL[PP[i][T.index(c)]]) for c in pc}
                tp += len(gc & pc); fp += len(pc - gc); fn += len(gc - pc)
                ptp += len(g & pp); pfp += len(pp - g); pfn += len(g - pp)
                for t in T:
                    per[t][0] += (t in gc and t in pc); per[t][1] += (t in pc and t not in gc)
                    per[t][2] += (t in gc and t not in pc)
            f = lambda a, b, c: 2 * a / max(1, 2 * a + b + c)  # noqa: E731
            res[f"tp@{thr}"] = round(f(tp, fp, fn), 4)
            res[f"pair@{thr}"] = round(f(ptp, pfp, pfn), 4)
            if thr == 0.5:
                res["per_tp@0.5"] = {t: round(f(*v), 3) for t, v in per.items()}
        return res

    t0 = time.perf_counter()
    step = 0
    model.train()
    print(json.dumps({"args": vars(args)}), flush=True)
    for ep in range(args.epochs):
        losses = []
        for idx in plan():
            x, m = batch(idx, ids)
            z = drop(pool(model(input_ids=x, attention_mask=m).last_hidden_state, m))
            ii = torch.tensor(idx)
            loss = torch.nn.functional.cross_entropy(heads["sent"](z), ys[ii], ignore_index=-100)
            loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(heads["tp"](z), yt[ii],
                                                                               pos_weight=pos_weight)
            pl = heads["pol"](z).view(len(idx), len(T), 3)
            tgt = yp[ii]
            if (tgt >= 0).any():
                loss = loss + torch.nn.functional.cross_entropy(pl.reshape(-1, 3), tgt.reshape(-1), ignore_index=-100)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(model.parameters()) + list(heads.parameters()), 1.0)
            opt.step(); sched.step(); step += 1
            losses.append(float(loss))
            if step % 50 == 0:
                el = time.perf_counter() - t0
                print(f"step {step}/{total} loss {np.mean(losses[-50:]):.4f} {el:.0f}s eta {el / step * (total - step):.0f}s",
                      file=sys.stderr, flush=True)
        r = evaluate()
        print(json.dumps({"epoch": ep + 1, "s": round(time.perf_counter() - t0), "loss": round(float(np.mean(losses)), 4),
                          **r}, ensure_ascii=False), flush=True)
    if args.out:
        import pathlib
        p = pathlib.Path(args.out); p.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(str(p)); tok.save_pretrained(str(p)); torch.save(heads.state_dict(), p / "heads.pt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
