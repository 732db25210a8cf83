"""ONNX Runtime graphs of an encoder: the transformer layers exported once per checkpoint, fp32 and int8.

The graph takes ``inputs_embeds`` (the word-embedding rows, gathered in numpy from the checkpoint's own
table) and ``attention_mask`` and returns the last hidden states (pooling happens outside), so the
250k x 384 embedding table (80 % of e5-small's weights) is never copied into the ONNX file: the fp32
graph is ~86 MB, the int8 one ~22 MB, both under ``cache_dir()/encoders/onnx/<fingerprint>/``.

**int8 here is W8A8 per token, not ONNX Runtime's stock ``quantize_dynamic``.** The stock recipe scales
the activations of the whole batch tensor with one number; on the converted e5-small it moves the
embeddings to cosine 0.992 (min over the parity sample) from float32, below the 0.998 parity bound.
:func:`quantize_per_token` rewrites every ``MatMul`` with a constant weight as: one scale per token row
(``max |x| / 127``), ``x`` quantised to uint8 around a zero point of 128 (one ``QuantizeLinear`` with
per-row scales over the flattened ``[tokens, in]`` matrix), ``MatMulInteger`` against int8 weights with one
scale per output channel, int32 accumulation, rescale (``DequantizeLinear`` by the channel scales, then
the token scales). Weights use 7 bits (|w| <= 63):
MLAS's AVX2 kernel multiplies uint8 x int8 pairs into int16 (``vpmaddubsw``), and 2 x 255 x 127 saturates
while 2 x 255 x 63 does not (measured: cosine 0.9978 with 8-bit weights, 0.9984 with 7-bit, on AVX2).

Files are written atomically (temporary name, then rename), so concurrent processes never read half a graph.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ...config import cache_dir

#: bump when the exported graph or the quantisation recipe changes (old folders are then rebuilt)
GRAPH_VERSION = 3
WEIGHT_BITS = 7
OPSET = 17


def onnx_dir(fingerprint: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_.@" else "_" for c in fingerprint)
    return cache_dir() / "encoders" / "onnx" / f"{safe}-g{GRAPH_VERSION}"


def _atomic_save(model_proto, path: Path) -> None:
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        onnx.save(model_proto, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_fp32(model, path: Path) -> Path:
    """Export ``model`` (a ``transformers`` encoder) as ``inputs_embeds, attention_mask -> hidden``."""
    import onnx
    import torch

    class Hidden(torch.nn.Module):
        def __init__(self, m) -> None:
            super().__init__()
            self.m = m

        def forward(self, inputs_embeds, attention_mask):
            return self.m(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state

    dim = int(model.config.hidden_size)
    x = torch.randn(2, 7, dim)
    mask = torch.ones(2, 7, dtype=torch.long)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".onnx", dir=path.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(Hidden(model).eval(), (x, mask), tmp, input_names=["inputs_embeds", "attention_mask"],
                              output_names=["hidden"], opset_version=OPSET, dynamo=False,
                              dynamic_axes={"inputs_embeds": {0: "batch", 1: "tokens"},
                                            "attention_mask": {0: "batch", 1: "tokens"},
                                            "hidden": {0: "batch", 1: "tokens"}})
        onnx.checker.check_model(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def quantize_per_token(src: Path, dst: Path, *, weight_bits: int = WEIGHT_BITS) -> int:
    """Rewrite every ``MatMul`` of ``src`` whose second input is a constant 2-D weight as per-token W8A8
    (see the module doc); return how many were rewritten."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load(str(src))
    g = m.graph
    inits = {i.name: i for i in g.initializer}

    def const(name: str, value) -> str:
        g.initializer.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    eps, inv127 = const("q8_eps", np.float32(1e-12)), const("q8_inv127", np.float32(1.0 / 127.0))
    zero, q128 = const("q8_zero", np.float32(0.0)), const("q8_128", np.float32(128.0))
    zp_a, zp_b = const("q8_zp_a", np.uint8(128)), const("q8_zp_b", np.int8(0))
    one, first, last = (const("q8_one", np.array([1], np.int64)), const("q8_first", np.array([0], np.int64)),
                        const("q8_last", np.array([-1], np.int64)))
    qmax = 2 ** (weight_bits - 1) - 1
    nodes, n = [], 0
    for node in g.node:
        w = inits.get(node.input[1]) if node.op_type == "MatMul" and len(node.input) == 2 else None
        W = numpy_helper.to_array(w).astype(np.float32) if w is not None else None
        if W is None or W.ndim != 2:
            nodes.append(node)
            continue
        p, (k_in, n_out) = f"q8_{n}", W.shape
        scale = np.maximum(np.abs(W).max(axis=0), 1e-12) / qmax
        wq = const(f"{p}_wq", np.round(W / scale).astype(np.int8))
        ws = const(f"{p}_ws", scale.astype(np.float32))
        flat, width = const(f"{p}_flat", np.array([-1, k_in], np.int64)), const(f"{p}_n", np.array([n_out], np.int64))
        a, out = node.input[0], node.output[0]
        nodes += [
            helper.make_node("Reshape", [a, flat], [f"{p}_x"]),  # [tokens, in]
            helper.make_node("ReduceMax", [f"{p}_x"], [f"{p}_hi"], axes=[1], keepdims=0),
            helper.make_node("ReduceMin", [f"{p}_x"], [f"{p}_lo"], axes=[1], keepdims=0),
            helper.make_node("Neg", [f"{p}_lo"], [f"{p}_nlo"]),
            helper.make_node("Max", [f"{p}_hi", f"{p}_nlo", eps], [f"{p}_amax"]),
            helper.make_node("Mul", [f"{p}_amax", inv127], [f"{p}_s"]),  # one scale per token
            helper.make_node("Mul", [f"{p}_s", zero], [f"{p}_z"]),
            helper.make_node("Add", [f"{p}_z", q128], [f"{p}_zf"]),
            helper.make_node("Cast", [f"{p}_zf"], [f"{p}_zp"], to=TensorProto.UINT8),
            helper.make_node("QuantizeLinear", [f"{p}_x", f"{p}_s", f"{p}_zp"], [f"{p}_xq"], axis=0),
            helper.make_node("MatMulInteger", [f"{p}_xq", wq, zp_a, zp_b], [f"{p}_acc"]),
            # int32 -> float times the per-channel weight scales in one pass, then the per-token scales
            helper.make_node("DequantizeLinear", [f"{p}_acc", ws], [f"{p}_accw"], axis=1),
            helper.make_node("Unsqueeze", [f"{p}_s", one], [f"{p}_s2"]),
            helper.make_node("Mul", [f"{p}_accw", f"{p}_s2"], [f"{p}_y"]),
            helper.make_node("Shape", [a], [f"{p}_shape"]),
            helper.make_node("Slice", [f"{p}_shape", first, last], [f"{p}_lead"]),
            helper.make_node("Concat", [f"{p}_lead", width], [f"{p}_oshape"], axis=0),
            helper.make_node("Reshape", [f"{p}_y", f"{p}_oshape"], [out]),
        ]
        n += 1
    del g.node[:]
    g.node.extend(nodes)
    used = {i for nd in g.node for i in nd.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    _atomic_save(m, dst)
    return n


def ensure_graph(model, fingerprint: str, kind: str) -> Path:
    """The ``kind`` (``fp32`` or ``int8``) graph of this checkpoint, exported on first use."""
    folder = onnx_dir(fingerprint)
    fp32 = folder / "fp32.onnx"
    if not fp32.is_file():
        export_fp32(model, fp32)
        (folder / "source.json").write_text(json.dumps({"fingerprint": fingerprint, "graph_version": GRAPH_VERSION,
                                                        "weight_bits": WEIGHT_BITS}), encoding="utf-8")
    if kind == "fp32":
        return fp32
    int8 = folder / "int8.onnx"
    if not int8.is_file():
        quantize_per_token(fp32, int8)
    return int8


class OnnxRunner:
    """``(input_ids, attention_mask) -> hidden states`` through an ONNX Runtime CPU session."""

    def __init__(self, graph: Path, table: np.ndarray, *, threads: int) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = max(1, int(threads))
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        self.session = ort.InferenceSession(str(graph), so, providers=["CPUExecutionProvider"])
        self.table = table

    def __call__(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feeds = {"inputs_embeds": self.table[input_ids], "attention_mask": mask.astype(np.int64, copy=False)}
        return self.session.run(None, feeds)[0]
