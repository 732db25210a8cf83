"""Encoder backends: every code path on the tiny synthetic encoder agrees with float32; the chooser picks
the fastest backend that keeps parity (fake timings), honours the override, caches its choice per machine
key, and falls back cleanly when a backend is missing or fails; clause vectors from the comment's own pass."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from nlp.families.encoders import backends as B
from tests.nlp.families.test_encoder_convert import write_tiny_bin

TEXTS = ["hello world", "привет мир", "world hello hello hello world", "мир, привет.", "hello", ""]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from nlp.families.encoders.convert import convert

    d = tmp_path_factory.mktemp("tinyback")
    write_tiny_bin(d / "a.bin", seed=0)
    return convert(d / "a.bin", d / "a")


@pytest.fixture(autouse=True)
def cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("CXLENS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(B.ENV_VAR, raising=False)
    return tmp_path / "cache"


# ------------------------------------------------------------------------------------------ code paths
@pytest.mark.parametrize("backend", ["int8", "onnx-fp32", "onnx-int8"])
def test_every_backend_agrees_with_float32_on_the_tiny_encoder(tiny, backend):
    from nlp.families.encoders.encoder import TextEncoder

    fp = TextEncoder(tiny, backend="fp32")
    other = TextEncoder(tiny, backend=backend)
    assert other.backend == backend
    ref = fp.encode(TEXTS)
    got = other.encode(TEXTS)
    cos = (ref * got).sum(axis=1)
    assert cos.min() > (0.9999 if backend == "onnx-fp32" else 0.995), cos
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    # padding and batching change nothing on any backend
    np.testing.assert_allclose(other.encode(TEXTS, batch_size=1), got, atol=2e-3)


def test_int8_float_matmul_fallback_equals_int_mm(tiny):
    """The torch int8 layers compute the same integers with ``torch._int_mm`` and with a float matmul."""
    import torch

    from nlp.families.encoders.backends import int8_model
    from nlp.families.encoders.encoder import TextEncoder

    enc = TextEncoder(tiny, backend="fp32")
    q = int8_model(enc.model)
    ids, mask = enc.pad_batch(enc.token_ids(TEXTS))
    layers = [m for m in q.modules() if type(m).__name__ == "Int8Linear"]
    with torch.inference_mode():
        a = q(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).last_hidden_state
        for m in layers:
            m.use_int_mm = False
        b = q(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).last_hidden_state
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)


def test_onnx_int8_graph_quantises_every_weight_matmul(tiny):
    import onnx

    from nlp.families.encoders.encoder import TextEncoder
    from nlp.families.encoders.onnx_export import ensure_graph

    enc = TextEncoder(tiny, backend="fp32")
    g = onnx.load(str(ensure_graph(enc.model, enc.fingerprint, "int8"))).graph
    ops = [n.op_type for n in g.node]
    inits = {i.name for i in g.initializer}
    assert ops.count("MatMulInteger") == 2 * 6  # Q K V O + FFN in/out per layer, 2 layers
    assert not [n for n in g.node if n.op_type == "MatMul" and n.input[1] in inits]  # no float weight left
    # the word-embedding table is not in the file: the graph starts from inputs_embeds
    assert [i.name for i in g.input] == ["inputs_embeds", "attention_mask"]


# ------------------------------------------------------------------------------------------ the chooser
class FakeEncoder:
    device = "cpu"
    fingerprint = "fake@1"

    def __init__(self):
        self.dim = 4

    def token_ids(self, texts):
        return [[1] * (3 + len(t) % 5) for t in texts]

    def pad_batch(self, ids):
        n, t = len(ids), max(len(r) for r in ids)
        mask = np.zeros((n, t), dtype=np.int64)
        for i, r in enumerate(ids):
            mask[i, : len(r)] = 1
        return np.ones((n, t), dtype=np.int64), mask


def fake_builder(speeds: dict[str, float], *, noise: dict[str, float] | None = None, fail=(), calls=None):
    """Runners that sleep ``speeds[name]`` seconds per call and return fp32's hidden states plus noise."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=(1, 64, 4)).astype(np.float32)

    def build(name, encoder):
        if calls is not None:
            calls.append(name)
        if name in fail:
            raise ImportError(f"no {name} here")
        eps = (noise or {}).get(name, 0.0)
        r = np.random.default_rng(hash(name) % 1000)

        def run(ids, mask):
            time.sleep(speeds[name])
            h = np.repeat(base[:, : ids.shape[1]], ids.shape[0], axis=0)
            return h + eps * r.normal(size=h.shape).astype(np.float32)

        return run

    return build


def test_chooser_picks_the_fastest_backend_that_passes_parity(monkeypatch):
    monkeypatch.setattr(B, "candidates", lambda enc: ["fp32", "onnx-fp32", "onnx-int8", "int8"])
    speeds = {"fp32": 0.004, "onnx-fp32": 0.002, "onnx-int8": 0.0005, "int8": 0.001}
    # onnx-int8 is fastest but its vectors drift (fails parity); int8 passes
    build = fake_builder(speeds, noise={"onnx-int8": 1.0, "int8": 0.001})
    choice, run, record = B.resolve(FakeEncoder(), "auto", build=build)
    assert choice == "int8", record["results"]
    res = record["results"]
    assert res["onnx-int8"]["ok"] is False and "cosine" in res["onnx-int8"]["reason"]
    assert res["fp32"]["cosine_min"] == pytest.approx(1.0)
    assert res["int8"]["texts_per_s"] > res["onnx-fp32"]["texts_per_s"] > res["fp32"]["texts_per_s"]
    for key in ("cpu", "cpu_flags", "threads", "libraries", "encoder", "measured_at"):
        assert key in record
    # stored once per machine key: the next load reuses the choice without measuring
    stored = json.loads(B.choices_path().read_text(encoding="utf-8"))
    assert [r["choice"] for r in stored.values()] == ["int8"]
    calls: list[str] = []
    choice2, _, record2 = B.resolve(FakeEncoder(), "auto", build=fake_builder(speeds, calls=calls))
    assert choice2 == "int8" and calls == ["int8"] and record2["measured_at"] == record["measured_at"]


def test_a_slow_kernel_is_rejected_by_its_probe(monkeypatch):
    monkeypatch.setattr(B, "candidates", lambda enc: ["fp32", "int8"])
    calls: list[str] = []
    build = fake_builder({"fp32": 0.002, "int8": 0.05}, calls=calls)
    choice, _, record = B.resolve(FakeEncoder(), "auto", build=build)
    assert choice == "fp32"
    assert record["results"]["int8"]["ok"] is False and "probe" in record["results"]["int8"]["reason"]


def test_missing_or_failing_backends_fall_back_cleanly(monkeypatch):
    monkeypatch.setattr(B, "candidates", lambda enc: ["fp32", "onnx-fp32", "onnx-int8"])
    build = fake_builder({"fp32": 0.003, "onnx-fp32": 0.001, "onnx-int8": 0.001}, fail=("onnx-fp32", "onnx-int8"))
    choice, run, record = B.resolve(FakeEncoder(), "auto", build=build)
    assert choice == "fp32"
    assert "ImportError" in record["results"]["onnx-int8"]["reason"]
    # an explicit request for a backend that cannot be built warns and serves fp32
    with pytest.warns(RuntimeWarning, match="onnx-int8"):
        choice, _, rec = B.resolve(FakeEncoder(), "onnx-int8", build=build)
    assert choice == "fp32" and rec is None


def test_the_environment_overrides_the_choice(monkeypatch):
    calls: list[str] = []
    build = fake_builder({"fp32": 0.001, "onnx-fp32": 0.001}, calls=calls)
    monkeypatch.setenv(B.ENV_VAR, "onnx-fp32")
    choice, _, record = B.resolve(FakeEncoder(), "auto", build=build)
    assert (choice, calls, record) == ("onnx-fp32", ["onnx-fp32"], None)
    monkeypatch.setenv(B.ENV_VAR, "fastest")
    with pytest.raises(Exception, match="CXLENS_ENCODER_BACKEND"):
        B.resolve(FakeEncoder(), "auto", build=build)


def test_pick_needs_a_clear_gain_to_leave_the_preferred_backend():
    res = {"fp32": {"ok": True, "texts_per_s": 100.0}, "onnx-fp32": {"ok": True, "texts_per_s": 103.0},
           "onnx-int8": {"ok": False, "texts_per_s": 500.0}, "int8": {"ok": True, "texts_per_s": 120.0}}
    order = ["fp32", "onnx-fp32", "onnx-int8", "int8"]
    assert B.pick(res, order) == "int8"
    res["int8"]["texts_per_s"] = 104.0
    assert B.pick(res, order) == "fp32"  # 3-4 % is timing noise
    assert B.pick({}, order) == "fp32"


def test_the_choice_key_changes_with_the_thread_count(monkeypatch):
    import torch

    n = torch.get_num_threads()
    k1, basis = B.choice_key(FakeEncoder())
    try:
        torch.set_num_threads(1 if n > 1 else 2)
        k2, _ = B.choice_key(FakeEncoder())
    finally:
        torch.set_num_threads(n)
    assert k1 != k2 and basis["encoder"] == "fake@1" and basis["cpu"]


def test_auto_on_the_tiny_encoder_records_its_measurement(tiny):
    from nlp.families.encoders.encoder import TextEncoder

    enc = TextEncoder(tiny, backend="auto")
    assert enc.backend in B.BACKENDS
    rec = enc.backend_record
    assert rec["choice"] == enc.backend and rec["results"]["fp32"]["ok"]
    assert B.cached_choice(enc.fingerprint)["choice"] == enc.backend


# ------------------------------------------------------------------------------------------ spans in context
def test_span_vectors_pool_the_comments_own_hidden_states(tiny):
    import torch

    from nlp.families.encoders.encoder import TextEncoder

    enc = TextEncoder(tiny, backend="fp32", prefix="q: ")
    text = "hello world, привет мир"
    spans = [(0, 11), (13, 23), (0, 23)]
    docs, sv = enc.encode_spans([text, "hello"], [spans, []])
    np.testing.assert_allclose(docs, enc.encode([text, "hello"]), atol=1e-5)
    assert sv[1] is None and sv[0].shape == (3, enc.dim)
    # by hand: the hidden states of the tokens whose offsets overlap the span, and of the prefix and specials
    tok = enc.tokenizer("q: " + text, return_offsets_mapping=True)
    with torch.inference_mode():
        h = enc.model(input_ids=torch.tensor([tok["input_ids"]])).last_hidden_state[0].numpy()
    for k, (s, e) in enumerate(spans):
        sel = [i for i, (a, b) in enumerate(tok["offset_mapping"])
               if (b > a and a < e + 3 and b > s + 3) or b <= a or b <= 3]
        v = h[sel].mean(axis=0)
        np.testing.assert_allclose(sv[0][k], v / np.linalg.norm(v), atol=1e-5)
    assert float(sv[0][0] @ sv[0][1]) < 0.999


def test_featurizer_spans_in_context_cached_and_cut_off(tiny, cache_env):
    from nlp.families.encoders.featurizer import EncoderFeaturizer

    long = " ".join(["слово"] * 400) + " конец"
    texts = ["hello world, привет мир", long]
    spans = [(0, 0, 11), (0, 13, 23), (1, len(long) - 5, len(long))]  # the last span lies past max_length
    f = EncoderFeaturizer(model_path=tiny, backend="fp32", max_length=32).fit()
    X_doc, X_span = f.transform_spans(texts, spans)
    np.testing.assert_allclose(X_doc, f.transform(texts), atol=1e-6)
    # a span the encoder cut off is encoded as a text of its own
    np.testing.assert_allclose(X_span[2], f.transform(["конец"])[0], atol=1e-6)
    assert not np.isnan(X_span).any()
    hits = f._get_cache().hits
    X_doc2, X_span2 = f.transform_spans(texts, spans)
    assert f._get_cache().hits > hits
    np.testing.assert_array_equal(X_span2, X_span)
    # without clause_context the spans are encoded alone
    g = EncoderFeaturizer(model_path=tiny, backend="fp32", clause_context=False, cache=False).fit()
    _, alone = g.transform_spans(texts, spans[:2])
    np.testing.assert_allclose(alone, g.transform(["hello world", "привет мир"]), atol=1e-6)


def test_models_saved_before_backends_still_load(tiny):
    """A pickled featurizer of the int8 era: model id with '|int8=True', no backend, no clause_context."""
    import pickle

    from nlp.families.encoders.featurizer import EncoderFeaturizer

    f = EncoderFeaturizer(model_path=tiny, backend="fp32", cache=False).fit()
    state = f.__getstate__()
    state.pop("clause_context")
    state.pop("backend")
    state.pop("backend_")
    state["quantize"] = True
    state["model_id_"] = state["model_id_"] + "|int8=True"
    old = EncoderFeaturizer.__new__(EncoderFeaturizer)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    assert old.clause_context is False and old.backend == "auto"
    np.testing.assert_allclose(old.transform(TEXTS), f.transform(TEXTS), atol=1e-2)


def test_a_choice_measured_on_busy_cores_is_measured_again_when_they_are_free(monkeypatch):
    monkeypatch.setattr(B, "candidates", lambda enc: ["fp32", "onnx-fp32"])
    cores = __import__("os").cpu_count() or 1
    monkeypatch.setattr(B.os, "getloadavg", lambda: (4.0 * cores, 0.0, 0.0))
    build = fake_builder({"fp32": 0.001, "onnx-fp32": 0.004})
    _, _, busy = B.resolve(FakeEncoder(), "auto", build=build)
    assert busy["contended"] is True
    calls: list[str] = []
    B.resolve(FakeEncoder(), "auto", build=fake_builder({"fp32": 0.001, "onnx-fp32": 0.004}, calls=calls))
    assert calls == ["fp32"]  # still busy: the stored choice is used
    monkeypatch.setattr(B.os, "getloadavg", lambda: (0.1, 0.0, 0.0))
    calls.clear()
    _, _, again = B.resolve(FakeEncoder(), "auto", build=fake_builder({"fp32": 0.001, "onnx-fp32": 0.004},
                                                                       calls=calls))
    assert again["contended"] is False and again["measured_at"] >= busy["measured_at"]
    assert "onnx-fp32" in calls  # measured again


def test_the_backends_command_lists_and_measures(tiny, capsys):
    from nlp.families.encoders.encoder import TextEncoder

    assert B.main(["--measure", "--model-path", str(tiny), "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 1 and records[0]["choice"] in records[0]["results"]
    TextEncoder(tiny, backend="auto")  # the stored choice is used, nothing new is measured
    assert B.main([]) == 0
    out = capsys.readouterr().out
    assert "auto -> " + records[0]["choice"] in out and records[0]["encoder"] in out
