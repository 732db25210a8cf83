from __future__ import annotations

import json

import pytest

from nlp.errors import DataError, ModelNotFoundError
from nlp.pipeline import CommentPipeline
from nlp.store import ModelStore, load_pipeline
from tests.nlp.test_pipeline import _toy


@pytest.fixture(scope="module")
def toy_pipeline():
    return CommentPipeline(threshold_folds=0).fit(_toy())


def test_versions_increase_and_resolve(tmp_path, toy_pipeline):
    store = ModelStore(tmp_path)
    assert store.save(toy_pipeline, "toy") == "1"
    assert store.save(toy_pipeline, "toy") == "2"
    assert store.versions("toy") == ["1", "2"]
    assert store.resolve("toy") == ("toy", "2")
    assert store.resolve("toy@1") == ("toy", "1")
    assert store.resolve("toy@latest") == ("toy", "2")
    store.set_alias("toy", "production", "1")
    assert store.resolve("toy") == ("toy", "1")  # production alias wins over latest
    assert store.resolve("toy@production") == ("toy", "1")
    listed = store.list()
    assert [(r["name"], r["version"], r["aliases"]) for r in listed] == [("toy", "1", ["production"]), ("toy", "2", [])]


def test_load_restores_name_version_meta_and_predictions(tmp_path, toy_pipeline):
    store = ModelStore(tmp_path)
    store.save(toy_pipeline, "toy", meta={"metrics": {"x": 1}})
    loaded = load_pipeline("toy@1", models_dir=tmp_path)
    assert (loaded.name, loaded.version) == ("toy", "1")
    meta = json.loads((tmp_path / "toy" / "1" / "meta.json").read_text())
    assert meta["labels"] == ["FOOD#QUALITY", "SERVICE#GENERAL"]
    assert meta["metrics"] == {"x": 1}
    assert set(meta["libraries"]) >= {"scikit-learn", "numpy", "spacy", "python", "cxlens"}
    assert set(meta["thresholds"]) == {"FOOD#QUALITY", "SERVICE#GENERAL"}
    row = loaded.predict(["Delicious pasta"])[0]
    assert row["model"] == {"name": "toy", "version": "1"}


@pytest.mark.parametrize("spec,match", [
    ("missing", "no model named 'missing'"),
    ("toy@7", "no version '7'"),
    ("toy@staging", "no version or alias 'staging'"),
])
def test_unknown_specs_are_clear_errors(tmp_path, toy_pipeline, spec, match):
    ModelStore(tmp_path).save(toy_pipeline, "toy")
    with pytest.raises(ModelNotFoundError, match=match):
        ModelStore(tmp_path).resolve(spec)


@pytest.mark.parametrize("name", ["", "../evil", "a/b", ".hidden", "имя"])
def test_model_names_are_validated(tmp_path, toy_pipeline, name):
    with pytest.raises(DataError, match="name"):
        ModelStore(tmp_path).save(toy_pipeline, name)


def test_default_models_dir_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CXLENS_MODELS_DIR", str(tmp_path / "elsewhere"))
    assert ModelStore().root == tmp_path / "elsewhere"
