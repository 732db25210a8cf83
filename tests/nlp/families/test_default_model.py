"""Choosing the default model family, `cxlens train --encoder PATH / --finetune`, and loading models
pickled before an option existed."""
from __future__ import annotations

import json
import pickle

import pytest

from api.cli import main
from nlp.config import SHIPPED_MODEL_TYPE, default_model_type
from nlp.errors import DataError
from nlp.families.pipeline import CommentPipeline
from nlp.lifecycle.store import ModelStore
from nlp.families.registry import family_names, get_family, make_pipeline
from nlp.lifecycle.retrain import with_encoder
from tests.api.cli.test_predict_train import TRAIN
from tests.nlp.families.test_encoder_convert import write_tiny_bin
from tests.nlp.families.test_pipeline import _toy


def test_default_model_type_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("CXLENS_DEFAULT_MODEL_TYPE", raising=False)
    assert default_model_type() == SHIPPED_MODEL_TYPE == "finetuned"
    monkeypatch.setenv("CXLENS_DEFAULT_MODEL_TYPE", "fast")
    assert default_model_type() == "fast"
    monkeypatch.setenv("CXLENS_DEFAULT_MODEL_TYPE", "gpt")
    with pytest.raises(DataError, match="CXLENS_DEFAULT_MODEL_TYPE"):
        default_model_type()
    assert family_names() == ("fast", "encoder", "ensemble", "finetuned")


def test_with_encoder_targets_the_encoder_featurizer(tmp_path):
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    enc = with_encoder("encoder", {"C": 2}, encoder=tmp_path, prefix="")
    assert enc == {"C": 2, "featurizer_params": {"model_path": str(tmp_path.resolve()), "prefix": ""}}
    ens = with_encoder("ensemble", {"member_params": {"encoder": {"C": 16.0}}}, encoder=tmp_path)
    assert ens["member_params"]["encoder"] == {"C": 16.0, "featurizer_params": {"model_path": str(tmp_path.resolve())}}
    assert with_encoder("fast", {"C": 2}) == {"C": 2}
    members = make_pipeline("ensemble", **with_encoder("ensemble", {}, encoder=tmp_path)).member_params
    default_encoder = get_family("ensemble").defaults["member_params"]["encoder"]
    assert members["encoder"] == {**default_encoder, "featurizer_params": {
        **default_encoder["featurizer_params"], "model_path": str(tmp_path.resolve())}}  # layers=6 kept
    assert members["fast"] == get_family("ensemble").defaults["member_params"]["fast"]
    with pytest.raises(DataError, match="--encoder.*reads an encoder"):
        with_encoder("fast", {}, encoder=tmp_path)
    with pytest.raises(DataError, match="config.json"):
        with_encoder("encoder", {}, encoder=tmp_path / "missing")


@pytest.fixture
def toy_data(tmp_path, monkeypatch):
    monkeypatch.setenv("CXLENS_CACHE_DIR", str(tmp_path / "cache"))
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in TRAIN) + "\n", encoding="utf-8")
    return data


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    from nlp.families.encoders.convert import convert

    d = tmp_path_factory.mktemp("tinyenc")
    write_tiny_bin(d / "a.bin", seed=0)
    return convert(d / "a.bin", d / "a")


def test_train_with_a_local_encoder_checkpoint(toy_data, tiny_encoder, tmp_path, capsys):
    models = tmp_path / "models"
    assert main(["train", "--data", str(toy_data), "--model-type", "encoder", "--encoder", str(tiny_encoder),
                 "--encoder-prefix", "", "--param", "threshold_folds=0", "--name", "enc",
                 "--models-dir", str(models)]) == 0
    pipe = ModelStore(models).load("enc")
    assert pipe.featurizer_.model_path == str(tiny_encoder.resolve()) and pipe.featurizer_.prefix == ""
    assert pipe.meta["params"]["featurizer_params"]["model_path"] == str(tiny_encoder.resolve())
    row = pipe.predict(["Доставка опоздала на неделю"])[0]
    assert row["model"] == {"name": "enc", "version": "1"} and set(row["sentiment"]["scores"]) >= {"negative"}


def test_train_finetune_keeps_the_encoder_beside_the_models_and_reuses_it(toy_data, tiny_encoder, tmp_path):
    models = tmp_path / "models"
    argv = ["train", "--data", str(toy_data), "--model-type", "encoder", "--encoder", str(tiny_encoder),
            "--finetune", "--finetune-epochs", "1", "--param", "threshold_folds=0", "--name", "ft",
            "--models-dir", str(models)]
    assert main(argv) == 0 and main(argv) == 0
    tuned = sorted((models / ".encoders").iterdir())
    assert len(tuned) == 1 and (tuned[0] / "config.json").is_file()  # second run reused the first one
    for version in ("1", "2"):
        pipe = ModelStore(models).load(f"ft@{version}")
        assert pipe.featurizer_.model_path == str(tuned[0].resolve())
    assert ModelStore(models).names() == ["ft"]  # the .encoders folder is not a model


def test_a_finetuned_model_keeps_its_tuned_layers_and_serves_without_the_training_folders(
        toy_data, tiny_encoder, tmp_path, monkeypatch):
    """The `finetuned` family fine-tunes without --finetune; the version is one artifact: the tuned layers are
    inside the model, so it serves the same labels with the training cache and the rebuilt encoder gone."""
    import shutil

    from nlp.families.encoders.finetune import DELTA_FILES

    models = tmp_path / "models"
    assert main(["train", "--data", str(toy_data), "--model-type", "finetuned", "--encoder", str(tiny_encoder),
                 "--finetune-epochs", "1", "--name", "ft", "--models-dir", str(models)]) == 0
    pipe = ModelStore(models).load("ft")
    assert pipe.model_type == "finetuned" and pipe.meta["params"]["model_type"] == "finetuned"
    feat = pipe.members_[1].featurizer_
    assert set(feat.delta_) == set(DELTA_FILES) and len(feat.delta_["delta.safetensors"]) > 1000
    texts = ["Доставка опоздала на неделю", "Менеджер молодец, всё быстро", "Счёт выставили с ошибкой"]
    before = pipe.predict(texts)
    shutil.rmtree(models / ".encoders")
    monkeypatch.setenv("CXLENS_CACHE_DIR", str(tmp_path / "another-cache"))
    again = ModelStore(models).load("ft")
    assert again.predict(texts) == before
    assert list((tmp_path / "another-cache" / "encoders").glob("tuned-*"))  # rebuilt from the kept delta


def test_fitting_the_finetuned_family_directly_tunes_its_encoder(toy_data, tiny_encoder, tmp_path):
    """The estimator contract: ``make_pipeline("finetuned").fit(rows)`` fine-tunes (the training lifecycle is not
    needed for it); a checkpoint that already is a tuned delta is used as it is; ``ensemble`` never tunes."""
    from nlp.families.encoders.finetune import DELTA_FILES, is_delta
    from nlp.lifecycle.training import load_examples

    rows = load_examples([toy_data])[0]
    on_tiny = {"member_params": {"encoder": {"featurizer_params": {"model_path": str(tiny_encoder)}}}}
    said: list[str] = []
    pipe = make_pipeline("finetuned", **on_tiny, finetune_root=tmp_path / "ft").fit(rows, progress=said.append)
    tuned = sorted((tmp_path / "ft").iterdir())
    assert len(tuned) == 1 and is_delta(tuned[0]) and any("fine-tuning" in m for m in said)
    feat = pipe.members_[1].featurizer_
    assert feat.model_path == str(tuned[0]) and set(feat.delta_) == set(DELTA_FILES)
    # the constructor's options are left as given (get_params / clone see what the user passed)
    assert pipe.member_params["encoder"]["featurizer_params"]["model_path"] == str(tiny_encoder)
    on_delta = {"member_params": {"encoder": {"featurizer_params": {"model_path": str(tuned[0])}}}}
    again = make_pipeline("finetuned", **on_delta, finetune_root=tmp_path / "other").fit(rows)
    assert not (tmp_path / "other").exists() and again.members_[1].featurizer_.model_path == str(tuned[0])
    plain = make_pipeline("ensemble", **on_tiny, finetune_root=tmp_path / "never").fit(rows)
    assert not (tmp_path / "never").exists() and plain.members_[1].featurizer_.model_path == str(tiny_encoder)
    with pytest.raises(DataError) as e:
        make_pipeline("finetuned", members=("fast", "fast")).fit(rows)
    assert e.value.field == "members"


def test_the_encoder_family_tunes_itself_with_the_given_settings(toy_data, tiny_encoder, tmp_path):
    """One home for fine-tuning: ``CommentPipeline(model_type="encoder", finetune=...)`` tunes before it fits,
    with settings from a mapping; the ensemble hands its ``finetune`` to the encoder member; ``retrain`` only
    sets the options (``with_finetune``)."""
    from nlp.families.encoders.finetune import is_delta
    from nlp.lifecycle.retrain import with_finetune
    from nlp.lifecycle.training import load_examples

    rows = load_examples([toy_data])[0]
    on_tiny = {"featurizer_params": {"model_path": str(tiny_encoder), "prefix": ""}, "threshold_folds": 0}
    one = make_pipeline("encoder", **on_tiny, finetune={"epochs": 1}, finetune_root=tmp_path / "a").fit(rows)
    two = make_pipeline("encoder", **on_tiny, finetune={"epochs": 2}, finetune_root=tmp_path / "a").fit(rows)
    tuned = sorted((tmp_path / "a").iterdir())
    assert len(tuned) == 2 and all(is_delta(t) for t in tuned)  # other settings, another delta
    assert {one.featurizer_.model_path, two.featurizer_.model_path} == {str(t) for t in tuned}
    summaries = sorted(json.loads((t / "cxlens_delta.json").read_text())["config"]["epochs"] for t in tuned)
    assert summaries == [1, 2]
    ens = make_pipeline("finetuned", finetune={"epochs": 1}, finetune_root=tmp_path / "b")
    assert ens._member_params()["encoder"]["finetune"] == {"epochs": 1}
    assert ens._member_params()["encoder"]["finetune_root"] == tmp_path / "b"
    for bad, field in (({"epoch": 1}, "finetune.epoch"), ({"epochs": 0}, "finetune.epochs"),
                       ({"polarity_input": "sentence"}, "finetune.polarity_input"), ("yes", "finetune")):
        with pytest.raises(DataError) as e:
            make_pipeline("encoder", **on_tiny, finetune=bad, finetune_root=tmp_path / "c").fit(rows)
        assert e.value.field == field
    with pytest.raises(DataError) as e:
        make_pipeline("fast", finetune=True).fit(rows)
    assert e.value.field == "finetune"
    assert not (tmp_path / "c").exists()
    assert with_finetune("finetuned", {"finetune": {"lr": 1e-4}}, root=tmp_path, epochs=3) == {
        "finetune": {"lr": 1e-4, "epochs": 3}, "finetune_root": str(tmp_path.resolve())}
    assert with_finetune("encoder", {"C": 2}, root=tmp_path)["finetune"] is True
    with pytest.raises(DataError, match="--finetune"):
        with_finetune("fast", {}, root=tmp_path)


@pytest.mark.parametrize("extra,message", [
    (["--model-type", "fast", "--encoder", "{enc}"], "--encoder"),
    (["--model-type", "fast", "--finetune"], "--finetune"),
    (["--model-type", "encoder", "--encoder", "{missing}"], "config.json"),
])
def test_encoder_option_errors_are_one_line(toy_data, tiny_encoder, tmp_path, capsys, extra, message):
    extra = [a.format(enc=tiny_encoder, missing=tmp_path / "nope") for a in extra]
    capsys.readouterr()
    assert main(["train", "--data", str(toy_data), "--models-dir", str(tmp_path / "m"), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_models_pickled_before_an_option_existed_load_with_its_default():
    pipe = CommentPipeline(threshold_folds=0).fit(_toy())
    for obj, option in ((pipe, "clause_training"), (pipe.featurizer_, "min_df"), (pipe.detector_, "C")):
        del obj.__dict__[option]  # as if pickled by a version without the option
    loaded = pickle.loads(pickle.dumps(pipe))
    assert loaded.clause_training is True and loaded.featurizer_.min_df == 1
    assert loaded.detector_.C == type(loaded.detector_)().C
    assert loaded.predict(["x"])[0]["model"] == pipe.predict(["x"])[0]["model"]


def test_retrain_keeps_the_production_family_unless_told(tmp_path, monkeypatch):
    """A first version takes the default family; a retrain takes the production version's family."""
    from nlp.labeled.datasets import DatasetStore
    from nlp.labeled.formats import read_labeled
    from nlp.lifecycle.retrain import retrain
    from nlp.labeled.seed import seed_split_path

    seed = read_labeled(seed_split_path("train"))[0]
    store, dstore = ModelStore(tmp_path / "m"), DatasetStore(tmp_path / "d")
    common = dict(name="cx", store=store, dataset_store=dstore, seed_train=seed[:240], seed_dev=seed[240:300],
                  params={"threshold_folds": 0})
    monkeypatch.setenv("CXLENS_DEFAULT_MODEL_TYPE", "fast")
    v1 = retrain(**common)
    assert v1.pipeline.model_type == "fast" and v1.meta["params"]["model_type"] == "fast"
    monkeypatch.setenv("CXLENS_DEFAULT_MODEL_TYPE", "ensemble")  # would need the encoder: not used below
    v2 = retrain(**common)
    assert v2.pipeline.model_type == "fast" and v2.meta["params"]["model_type"] == "fast"
    with pytest.raises(DataError, match="model_type"):
        retrain(**common, model_type="gpt")
