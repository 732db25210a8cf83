"""Fine-tuning loop on the tiny synthetic encoder (fast): it learns, it is deterministic, and the saved
folder is a checkpoint the featurizer loads."""
from __future__ import annotations

import json

import numpy as np
import pytest

from nlp.errors import DataError
from tests.nlp.families.test_encoder_convert import write_tiny_bin

TEXTS = ["hello world", "hello hello", "world hello", "hello", "привет мир", "мир мир", "привет", "мир, привет."] * 3
SENT = (["positive"] * 4 + ["negative"] * 4) * 3
TPS = ([["product"]] * 4 + [["billing"], ["billing", "price"], [], ["price"]]) * 3


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from nlp.families.encoders.convert import convert

    d = tmp_path_factory.mktemp("tinyft")
    write_tiny_bin(d / "a.bin", seed=0)
    return convert(d / "a.bin", d / "a")


def _params(path):
    from safetensors.numpy import load_file

    return load_file(str(path / "model.safetensors"))


def test_finetune_learns_and_is_deterministic(tiny_dir, tmp_path):
    from nlp.families.encoders.featurizer import EncoderFeaturizer
    from nlp.families.encoders.finetune import FinetuneConfig, finetune_encoder

    cfg = FinetuneConfig(epochs=6, batch_size=4, lr=1e-3, head_lr=1e-2, seed=3)
    s1 = finetune_encoder(TEXTS, sentiment=SENT, touchpoints=TPS, out_dir=tmp_path / "ft1", base=tiny_dir,
                          config=cfg, device="cpu")
    assert s1["loss_per_epoch"][-1] < s1["loss_per_epoch"][0] * 0.8
    assert s1["sentiment_labels"] == ["negative", "positive"]
    assert s1["touchpoint_labels"] == ["billing", "price", "product"]
    s2 = finetune_encoder(TEXTS, sentiment=SENT, touchpoints=TPS, out_dir=tmp_path / "ft2", base=tiny_dir,
                          config=cfg, device="cpu")
    assert s2["loss_per_epoch"] == s1["loss_per_epoch"]
    p1, p2, p0 = _params(tmp_path / "ft1"), _params(tmp_path / "ft2"), _params(tiny_dir)
    key = "encoder.layer.1.intermediate.dense.weight"
    np.testing.assert_array_equal(p1[key], p2[key])
    assert not np.array_equal(p1[key], p0[key])  # it trained
    emb = "embeddings.word_embeddings.weight"
    np.testing.assert_array_equal(p1[emb], p0[emb])  # frozen by default
    meta = json.loads((tmp_path / "ft1" / "cxlens_encoder.json").read_text())
    assert meta["model_id"].startswith("finetuned-")
    # the featurizer loads it, and the two sentiment groups separate better than before
    def gap(path):
        f = EncoderFeaturizer(model_path=path, cache=False).fit()
        X = f.transform(TEXTS[:8])
        pos, neg = X[:4].mean(0), X[4:].mean(0)
        return float(np.linalg.norm(pos - neg))
    assert gap(tmp_path / "ft1") > gap(tiny_dir)


def test_finetune_input_errors(tiny_dir, tmp_path):
    from nlp.families.encoders.finetune import finetune_encoder

    with pytest.raises(DataError, match="sentiment and/or touchpoints"):
        finetune_encoder(TEXTS, out_dir=tmp_path / "x", base=tiny_dir)
    with pytest.raises(DataError) as e:
        finetune_encoder(["a", "b"], sentiment=["positive", "great"], out_dir=tmp_path / "x", base=tiny_dir)
    assert e.value.row == 1
    with pytest.raises(DataError, match="one per text"):
        finetune_encoder(["a", "b"], sentiment=["positive"], out_dir=tmp_path / "x", base=tiny_dir)
    assert not (tmp_path / "x").exists()
