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


def _delta(path):
    from safetensors.numpy import load_file

    return load_file(str(path / "delta.safetensors"))


def test_finetune_learns_and_is_deterministic(tiny_dir, tmp_path):
    from nlp.families.encoders.featurizer import EncoderFeaturizer
    from nlp.families.encoders.finetune import FinetuneConfig, finetune_encoder, is_delta

    cfg = FinetuneConfig(epochs=6, batch_size=4, lr=1e-3, head_lr=1e-2, seed=3)
    pol = [[(t, "positive" if s == "positive" else "negative") for t in ts] for s, ts in zip(SENT, TPS)]
    s1 = finetune_encoder(TEXTS, sentiment=SENT, touchpoints=TPS, polarities=pol, out_dir=tmp_path / "ft1",
                          base=tiny_dir, config=cfg, device="cpu")
    assert s1["loss_per_epoch"][-1] < s1["loss_per_epoch"][0] * 0.8
    assert s1["sentiment_labels"] == ["negative", "positive"]
    assert s1["touchpoint_labels"] == ["billing", "price", "product"]
    s2 = finetune_encoder(TEXTS, sentiment=SENT, touchpoints=TPS, polarities=pol, out_dir=tmp_path / "ft2",
                          base=tiny_dir, config=cfg, device="cpu")
    assert s2["loss_per_epoch"] == s1["loss_per_epoch"]
    # the version holds only the tuned tensors: no word-embedding table, which stays the base's
    assert is_delta(tmp_path / "ft1") and not (tmp_path / "ft1" / "model.safetensors").exists()
    d1, d2, p0 = _delta(tmp_path / "ft1"), _delta(tmp_path / "ft2"), _params(tiny_dir)
    emb = "embeddings.word_embeddings.weight"
    assert emb not in d1 and set(d1) < set(p0)
    key = "encoder.layer.1.intermediate.dense.weight"
    np.testing.assert_array_equal(d1[key], d2[key])
    assert not np.array_equal(d1[key], p0[key])  # it trained
    meta = json.loads((tmp_path / "ft1" / "cxlens_delta.json").read_text())
    assert meta["model_id"].startswith("finetuned-") and meta["frozen"] == [emb]
    # the featurizer loads it (rebuilt once in the cache from the base), and the two sentiment groups
    # separate better than before
    def gap(path):
        f = EncoderFeaturizer(model_path=path, cache=False).fit()
        X = f.transform(TEXTS[:8])
        pos, neg = X[:4].mean(0), X[4:].mean(0)
        return float(np.linalg.norm(pos - neg))
    assert gap(tmp_path / "ft1") > gap(tiny_dir)


def test_a_delta_is_rebuilt_from_its_base_and_refuses_another(tiny_dir, tmp_path):
    from nlp.families.encoders.convert import convert
    from nlp.families.encoders.finetune import FinetuneConfig, finetune_encoder, materialize

    cfg = FinetuneConfig(epochs=1, batch_size=4, lr=1e-3, seed=0)
    finetune_encoder(TEXTS, sentiment=SENT, out_dir=tmp_path / "ft", base=tiny_dir, config=cfg, device="cpu")
    full = materialize(tmp_path / "ft", root=tmp_path / "cache")
    p0, p1, d = _params(tiny_dir), _params(full), _delta(tmp_path / "ft")
    emb = "embeddings.word_embeddings.weight"
    np.testing.assert_array_equal(p1[emb], p0[emb])  # the frozen table, taken from the base
    for k, v in d.items():
        np.testing.assert_array_equal(p1[k], v)  # every tuned tensor, as trained
    assert materialize(tmp_path / "ft", root=tmp_path / "cache") == full  # built once
    meta = json.loads((full / "cxlens_encoder.json").read_text())
    assert meta["model_id"].endswith("#" + json.loads((tmp_path / "ft" / "cxlens_delta.json").read_text())
                                     ["delta_sha256"][:12])  # the embedding cache key names these weights
    write_tiny_bin(tmp_path / "b.bin", seed=1)
    other = convert(tmp_path / "b.bin", tmp_path / "b")
    with pytest.raises(DataError, match="another base"):
        materialize(tmp_path / "ft", base=other, root=tmp_path / "cache2")
    weights = tmp_path / "ft" / "delta.safetensors"
    weights.write_bytes(weights.read_bytes()[:-7])  # a damaged delta: a clear error, nothing built
    with pytest.raises(DataError, match="not the ones it recorded"):
        materialize(tmp_path / "ft", root=tmp_path / "cache3")
    assert not (tmp_path / "cache3").exists() or not list((tmp_path / "cache3").iterdir())


def test_tuned_word_embeddings_are_kept_in_the_delta(tiny_dir, tmp_path):
    from nlp.families.encoders.finetune import FinetuneConfig, finetune_encoder, materialize

    cfg = FinetuneConfig(epochs=2, batch_size=4, lr=1e-2, seed=0, freeze_embeddings=False)
    finetune_encoder(TEXTS, sentiment=SENT, out_dir=tmp_path / "ft", base=tiny_dir, config=cfg, device="cpu")
    d, p0 = _delta(tmp_path / "ft"), _params(tiny_dir)
    emb = "embeddings.word_embeddings.weight"
    assert emb in d and not np.array_equal(d[emb], p0[emb].astype(d[emb].dtype))
    np.testing.assert_array_equal(_params(materialize(tmp_path / "ft", root=tmp_path / "c"))[emb], d[emb])


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


# two clauses with opposite polarities: "hello" texts praise the product, "мир" texts blame billing
MIXED = ["hello world, мир мир", "мир мир, hello hello", "hello, мир", "мир, hello world"] * 4


def _mixed_labels():
    pol = []
    for t in MIXED:
        spans = []
        for part in t.split(", "):
            s = t.index(part)
            cat, p = ("product", "positive") if "hello" in part else ("billing", "negative")
            spans.append((cat, p, s, s + len(part)))
        pol.append(spans)
    return pol


@pytest.mark.parametrize("over", [{"polarity_input": "comment"}, {"polarity_input": "clause"},
                                  {"polarity_input": "pair"}, {"pooling": "cls"}])
def test_each_variant_learns_the_polarity_of_each_touchpoint(tiny_dir, over):
    """Every variant of the recipe (bench/finetune_cv.py compares them) fits two touchpoints of opposite
    polarity inside one comment; its heads name them."""
    from dataclasses import replace

    from nlp.families.encoders.finetune import FinetuneConfig, train_network

    pol = _mixed_labels()
    cfg = replace(FinetuneConfig(epochs=12, batch_size=4, lr=1e-3, head_lr=1e-2, seed=1), **over)
    net = train_network(MIXED, sentiment=["mixed"] * len(MIXED), touchpoints=[["billing", "product"]] * len(MIXED),
                        polarities=pol, base=tiny_dir, config=cfg, device="cpu")
    assert net.loss_per_epoch[-1] < net.loss_per_epoch[0]
    clauses = [[(s, e) for _, _, s, e in p] for p in pol]
    out = net.predict(MIXED, clauses=clauses, candidates=[["billing", "product"]] * len(MIXED))
    assert set(out[0]) == {"sentiment", "touchpoints", "polarity"} and set(out[0]["polarity"]) == {"billing", "product"}
    read = [{t: max(d, key=d.get) for t, d in o["polarity"].items()} for o in out]
    assert all(r == {"product": "positive", "billing": "negative"} for r in read)
    assert all(o["touchpoints"]["billing"] > 0.5 and o["touchpoints"]["product"] > 0.5 for o in out)


def test_clause_polarity_keeps_a_head_per_touchpoint_for_pairs_without_a_span(tiny_dir):
    """Data labelled by comment (MAMS, NHS, an analyst's CSV without offsets): clause-level polarity has no span
    to read, so those pairs train the per-touchpoint head on the comment vector; spans train the clause head."""
    from nlp.families.encoders.finetune import FinetuneConfig, train_network

    cfg = FinetuneConfig(epochs=12, batch_size=4, lr=1e-3, head_lr=1e-2, seed=1)  # polarity_input="clause"
    plain = [[(t, p) for t, p, _, _ in ps] for ps in _mixed_labels()]
    net = train_network(MIXED, touchpoints=[["billing", "product"]] * len(MIXED), polarities=plain, base=tiny_dir,
                        config=cfg, device="cpu")
    assert "polarity" in net.heads and "span_polarity" not in net.heads
    read = [{t: max(d, key=d.get) for t, d in o["polarity"].items()} for o in net.predict(MIXED)]
    assert all(r == {"product": "positive", "billing": "negative"} for r in read)
    some = _mixed_labels()[:8] + plain[8:]
    both = train_network(MIXED, touchpoints=[["billing", "product"]] * len(MIXED), polarities=some, base=tiny_dir,
                         config=cfg, device="cpu")
    assert "polarity" in both.heads and "span_polarity" in both.heads
    spans_only = train_network(MIXED, touchpoints=[["billing", "product"]] * len(MIXED), polarities=_mixed_labels(),
                               base=tiny_dir, config=cfg, device="cpu")
    assert "polarity" not in spans_only.heads and "span_polarity" in spans_only.heads


def test_span_offsets_point_into_the_text(tiny_dir):
    from nlp.families.encoders.finetune import FinetuneConfig, _span_tokens, train_network

    net = train_network(TEXTS[:4], sentiment=SENT[:4], base=tiny_dir, config=FinetuneConfig(epochs=1), device="cpu")
    text = "hello world, мир"
    ids, offs = net._tokens([text], offsets=True)
    covered = "".join(text[a:b] for a, b in offs[0] if b > a)
    assert covered.replace(" ", "") == text.replace(" ", "")  # the prefix is not part of any span
    world = _span_tokens(offs[0], 6, 11)
    assert world and all(offs[0][j][1] > 6 and offs[0][j][0] < 11 for j in world)
    assert "world" in "".join(text[offs[0][j][0]:offs[0][j][1]] for j in world)
    assert _span_tokens(offs[0], 500, 510) == [j for j, (a, b) in enumerate(offs[0]) if b > a]  # cut off: all text


def test_variant_settings_are_checked(tiny_dir, tmp_path):
    from nlp.families.encoders.finetune import FinetuneConfig, finetune_encoder, train_network

    for over, field in (({"pooling": "max"}, "pooling"), ({"polarity_input": "clauses"}, "polarity_input"),
                        ({"layers": 0}, "layers"), ({"layers": True}, "layers")):
        with pytest.raises(DataError) as e:
            train_network(TEXTS, sentiment=SENT, base=tiny_dir, config=FinetuneConfig(**over))
        assert e.value.field == field
    with pytest.raises(DataError) as e:  # the featurizer reads mean-pooled vectors
        finetune_encoder(TEXTS, sentiment=SENT, out_dir=tmp_path / "x", base=tiny_dir,
                         config=FinetuneConfig(pooling="cls"))
    assert e.value.field == "pooling" and not (tmp_path / "x").exists()


def test_a_delta_kept_as_bytes_is_unpacked_once_and_checked(tiny_dir, tmp_path):
    from nlp.families.encoders.finetune import (DELTA_WEIGHTS, FinetuneConfig, finetune_encoder, materialize,
                                                read_delta, unpack_delta)

    cfg = FinetuneConfig(epochs=1, batch_size=4, lr=1e-3, seed=0)
    finetune_encoder(TEXTS, sentiment=SENT, out_dir=tmp_path / "ft", base=tiny_dir, config=cfg, device="cpu")
    files = read_delta(tmp_path / "ft")
    full = unpack_delta(files, root=tmp_path / "cache")
    assert full == materialize(tmp_path / "ft", root=tmp_path / "cache")  # the same checkpoint as from the folder
    assert unpack_delta(files, root=tmp_path / "cache") == full
    damaged = {**files, DELTA_WEIGHTS: files[DELTA_WEIGHTS][:-7]}
    with pytest.raises(DataError, match="not the ones it recorded") as e:
        unpack_delta(damaged, root=tmp_path / "cache2")
    assert e.value.field == "model_path"
    with pytest.raises(DataError, match="incomplete") as e:
        unpack_delta({k: v for k, v in files.items() if k != DELTA_WEIGHTS}, root=tmp_path / "cache3")
    with pytest.raises(DataError, match="unreadable"):
        read_delta(tmp_path / "nothing-here")
