"""EncoderFeaturizer on a tiny synthetic encoder (fast): output contract, dynamic-padding invariance,
embedding cache hits, pickling without weights, input errors."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from nlp.errors import DataError, NotFittedError
from tests.nlp.families.test_encoder_convert import write_tiny_bin

TEXTS = ["hello world", "привет мир", "world hello hello hello world", "мир, привет.", "hello", ""]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    from nlp.families.encoders.convert import convert

    d = tmp_path_factory.mktemp("tinyfeat")
    write_tiny_bin(d / "a.bin", seed=0)
    write_tiny_bin(d / "b.bin", seed=1)
    return convert(d / "a.bin", d / "a"), convert(d / "b.bin", d / "b")


@pytest.fixture
def cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("CXLENS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_output_contract(tiny_models, cache_env):
    from nlp.families.encoders.featurizer import EncoderFeaturizer

    f = EncoderFeaturizer(model_path=tiny_models[0], cache=False)
    assert f.input_kind == "raw"
    X = f.fit(TEXTS).transform(TEXTS)
    assert X.shape == (len(TEXTS), 64) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    assert f.n_features_out_ == 64 and len(f.get_feature_names_out()) == 64
    assert f.transform([]).shape == (0, 64)
    # duplicates get identical rows; different texts differ
    X2 = f.transform(["hello", "hello world", "hello"])
    np.testing.assert_array_equal(X2[0], X2[2])
    assert float(X2[0] @ X2[1]) < 0.999
    assert not (cache_env / "embeddings").exists()  # cache=False writes nothing


def test_padding_and_sorting_do_not_change_vectors(tiny_models):
    from nlp.families.encoders.encoder import TextEncoder

    enc = TextEncoder(tiny_models[0])
    one = enc.encode(TEXTS, batch_size=1)  # no padding at all
    for bs in (2, 4, 64):
        np.testing.assert_allclose(enc.encode(TEXTS, batch_size=bs), one, atol=1e-5)
    np.testing.assert_allclose(enc.encode(TEXTS, batch_size=3, sort=False), one, atol=1e-5)
    # mean pooling over <s> ... </s>: the hand computation from the model's hidden states
    import torch

    ids = enc.token_ids(["hello"])[0]
    with torch.inference_mode():
        h = enc.model(input_ids=torch.tensor([ids])).last_hidden_state[0].numpy()
    v = h.mean(axis=0)
    np.testing.assert_allclose(one[4], v / np.linalg.norm(v), atol=1e-5)


def test_cache_hit_skips_the_encoder(tiny_models, cache_env, monkeypatch):
    from nlp.families.encoders import encoder as encmod
    from nlp.families.encoders.featurizer import EncoderFeaturizer

    calls: list[int] = []
    real = encmod.TextEncoder.encode

    def counting(self, texts, **kw):
        calls.append(len(texts))
        return real(self, texts, **kw)

    monkeypatch.setattr(encmod.TextEncoder, "encode", counting)
    f = EncoderFeaturizer(model_path=tiny_models[0]).fit()
    X = f.transform(TEXTS + ["hello"])
    assert calls == [len(TEXTS)]  # the duplicate is encoded once
    g = EncoderFeaturizer(model_path=tiny_models[0]).fit()  # a fresh featurizer, same model
    Y = g.transform(["hello", "привет мир", "new text"])
    assert calls == [len(TEXTS), 1]  # only the unseen text
    np.testing.assert_array_equal(Y[0], X[4])
    np.testing.assert_array_equal(Y[1], X[1])
    assert g._get_cache().hits == 2 and g._get_cache().misses == 1
    assert (cache_env / "embeddings" / "embeddings.sqlite").is_file()
    # another model never reads these entries (the key includes the model id)
    h = EncoderFeaturizer(model_path=tiny_models[1]).fit()
    h.transform(["hello"])
    assert calls[-1] == 1 and h._get_cache().hits == 0


def test_pickle_keeps_settings_not_weights(tiny_models, cache_env):
    from nlp.families.encoders.featurizer import EncoderFeaturizer

    f = EncoderFeaturizer(model_path=tiny_models[0], batch_size=4).fit()
    X = f.transform(TEXTS)
    blob = pickle.dumps(f)
    assert len(blob) < 5000  # no tensors inside
    g = pickle.loads(blob)
    assert "_encoder" not in g.__dict__
    np.testing.assert_array_equal(g.transform(TEXTS), X)
    assert g.get_params()["batch_size"] == 4


def test_other_weights_after_reload_are_refused(tiny_models, cache_env):
    from nlp.families.encoders.featurizer import EncoderFeaturizer

    f = EncoderFeaturizer(model_path=tiny_models[0]).fit()
    g = pickle.loads(pickle.dumps(f))
    g.set_params(model_path=tiny_models[1])
    with pytest.raises(DataError, match="differ from the ones this model was trained with"):
        g.transform(["hello"])


def test_layers_is_an_upper_bound(tiny_models):
    """``layers`` caps the transformer layers read (the ensemble's 6): a checkpoint with fewer reads them all,
    fewer than it has truncates it, and a non-positive count is refused by name."""
    from nlp.families.encoders.encoder import TextEncoder

    full = TextEncoder(tiny_models[0])
    total = len(full.model.encoder.layer)
    assert total < 6
    capped = TextEncoder(tiny_models[0], layers=6)
    assert len(capped.model.encoder.layer) == total and capped.fingerprint == full.fingerprint
    np.testing.assert_allclose(capped.encode(TEXTS), full.encode(TEXTS), atol=1e-6)
    one = TextEncoder(tiny_models[0], layers=1)
    assert len(one.model.encoder.layer) == 1 and one.fingerprint != full.fingerprint
    assert float(np.abs(one.encode(TEXTS) - full.encode(TEXTS)).max()) > 1e-3
    for bad in (0, -1, 2.5, True):
        with pytest.raises(DataError) as e:
            TextEncoder(tiny_models[0], layers=bad)
        assert e.value.field == "layers"


def test_input_errors(tiny_models, tmp_path):
    from nlp.families.encoders.featurizer import EncoderFeaturizer

    f = EncoderFeaturizer(model_path=tiny_models[0], cache=False)
    with pytest.raises(NotFittedError):
        f.transform(["x"])
    f.fit()
    with pytest.raises(DataError, match="not one string"):
        f.transform("hello")
    with pytest.raises(DataError) as e:
        f.transform(["ok", 3, None])
    assert e.value.row == 1 and e.value.field == "texts"
    with pytest.raises(DataError, match="encoder folder not found"):
        EncoderFeaturizer(model_path=tmp_path / "nope").fit()
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not a transformers checkpoint"):
        EncoderFeaturizer(model_path=tmp_path / "empty").fit()
    with pytest.raises(DataError, match="batch_size"):
        EncoderFeaturizer(model_path=tiny_models[0], batch_size=0).fit()


def test_unwritable_cache_degrades_to_no_cache(tiny_models, tmp_path, monkeypatch):
    from nlp.families.encoders.featurizer import EncoderFeaturizer

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CXLENS_CACHE_DIR", str(blocker))
    f = EncoderFeaturizer(model_path=tiny_models[0]).fit()
    with pytest.warns(RuntimeWarning, match="embedding cache disabled"):
        X = f.transform(["hello"])
    assert X.shape == (1, 64)


def test_int8_tiny_model_close_to_float_and_batch_independent(tiny_models, cache_env):
    import torch

    from nlp.families.encoders.backends import int8_model
    from nlp.families.encoders.encoder import TextEncoder, int8_layer_names

    fp = TextEncoder(tiny_models[0], backend="fp32")
    q = TextEncoder(tiny_models[0], backend="int8")
    assert (fp.backend, q.backend) == ("fp32", "int8")
    names = int8_layer_names(fp.model)
    assert "encoder.layer.0.attention.self.query" in names and "encoder.layer.1.output.dense" in names
    assert not any(n.startswith("pooler") for n in names) and len(names) == 2 * 6
    qm = int8_model(fp.model)
    linears = [n for n, m in qm.named_modules() if isinstance(m, torch.nn.Linear)]
    assert linears == ["pooler.dense"]  # everything else was replaced
    # the copy shares the (large) embedding tables and leaves the float model alone
    assert qm.embeddings.word_embeddings.weight is fp.model.embeddings.word_embeddings.weight
    assert isinstance(fp.model.encoder.layer[0].attention.self.query, torch.nn.Linear)
    # the backend is not part of the model's identity (a model trained on one serves on another), but the
    # embedding cache keeps their vectors apart
    assert q.model_id == fp.model_id and q.cache_id != fp.cache_id
    cos = (fp.encode(TEXTS) * q.encode(TEXTS)).sum(axis=1)
    assert cos.min() > 0.99
    # per-token activation scales: a text's vector does not depend on its batch-mates
    one = q.encode(TEXTS, batch_size=1)
    np.testing.assert_allclose(q.encode(TEXTS, batch_size=64), one, atol=2e-3)


def test_int8_layer_by_hand():
    import torch

    from nlp.families.encoders.encoder import _make_int8_linear

    lin = torch.nn.Linear(4, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, -0.5, 0.25, 0.0], [2.0, 2.0, -2.0, 1.0]]))
        lin.bias.copy_(torch.tensor([0.5, -1.0]))
    q = _make_int8_linear()(lin)
    # weight scales: max |w| per output row / 127
    np.testing.assert_allclose(q.weight_scale.numpy(), [1 / 127, 2 / 127], rtol=1e-6)
    assert q.weight_q.t().tolist() == [[127, -64, 32, 0], [127, 127, -127, 64]]  # round(w / scale)
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]])
    y = q(x)
    # row 0: activation scale 4/127, codes round([31.75, 63.5, 95.25, 127]) = [32, 64, 95, 127];
    # int32 sums with the weight codes: 3008 and 8255; y = sum * (4/127) * w_scale + bias
    # (the float32 layer gives [1.25, 3.0])
    np.testing.assert_allclose(y[0].numpy(), [3008 * 4 / 127 / 127 + 0.5, 8255 * 4 / 127 * 2 / 127 - 1.0],
                               rtol=1e-5)
    np.testing.assert_allclose(y[1].numpy(), [0.5, -1.0], atol=1e-6)  # all-zero row: just the bias
    q.use_int_mm = False  # the float fallback computes the same integers
    np.testing.assert_allclose(q(x).numpy(), y.numpy(), atol=1e-6)


def test_batch_plan_by_hand():
    from nlp.families.encoders.encoder import TextEncoder

    lengths = [5, 40, 12, 30, 6, 41]
    # sorted: 41(5) 40(1) 30(3) 12(2) 6(4) 5(0); cap 100 padded tokens: 2 x 41 = 82, 3 x 41 = 123 > 100
    assert TextEncoder.plan_batches(lengths, batch_size=8, max_batch_tokens=100) == [[5, 1], [3, 2, 4], [0]]
    assert TextEncoder.plan_batches(lengths, batch_size=4, max_batch_tokens=None) == [[5, 1, 3, 2], [4, 0]]
    assert TextEncoder.plan_batches(lengths, batch_size=2, max_batch_tokens=None, sort=False) == [[0, 1], [2, 3], [4, 5]]
    # a text longer than the cap still gets its own batch
    assert TextEncoder.plan_batches([500, 3], batch_size=8, max_batch_tokens=100) == [[0], [1]]


def test_featurizer_shared_across_threads(tiny_models, cache_env):
    """The API's worker threads share one loaded pipeline: the cache and encoder must work from any thread."""
    from concurrent.futures import ThreadPoolExecutor

    from nlp.families.encoders.featurizer import EncoderFeaturizer

    f = EncoderFeaturizer(model_path=tiny_models[0]).fit()
    ref = f.transform(TEXTS)
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda i: f.transform(TEXTS[i % 3:] + ["thread text %d" % i]), range(8)))
    for i, X in enumerate(outs):
        np.testing.assert_allclose(X[: len(TEXTS) - i % 3], ref[i % 3:], atol=1e-6)
    assert f._get_cache().hits > 0 and not f._get_cache()._broken
