from __future__ import annotations

import json

import pytest

from nlp.errors import DataError, ModelNotFoundError
from nlp.families.pipeline import CommentPipeline
from nlp.lifecycle.store import ModelStore, load_pipeline
from tests.nlp.families.test_pipeline import _toy


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


def test_the_store_alone_writes_a_version_folders_files(tmp_path, toy_pipeline):
    store = ModelStore(tmp_path)
    v = store.save(toy_pipeline, "toy", artifacts={"heldout.jsonl": '{"text": "x"}\n'})
    assert store.read_artifact("toy", v, "heldout.jsonl") == '{"text": "x"}\n'  # written with the version
    assert store.comparison("toy", v) is None
    store.write_comparison("toy", v, {"groups": {}})
    assert store.comparison("toy", v) == {"groups": {}}
    with pytest.raises(DataError, match="not a version artifact"):
        store.write_artifact("toy", v, "../aliases.json", "{}")
    with pytest.raises(DataError, match="not a version artifact"):
        store.save(toy_pipeline, "toy", artifacts={"model.joblib": "x"})
    assert store.versions("toy") == ["1"]  # the refused save wrote nothing
    with pytest.raises(ModelNotFoundError):
        store.write_artifact("toy", "7", "MODEL_CARD.md", "# no such version")


def test_record_event_moves_the_alias_and_appends_history_in_one_write(tmp_path, toy_pipeline):
    store = ModelStore(tmp_path)
    store.save(toy_pipeline, "toy")
    store.save(toy_pipeline, "toy")
    store.record_event("toy", {"action": "promote", "version": "2"}, production="2", meta_patch={"promotion": "x"})
    assert store.resolve("toy") == ("toy", "2") and store.history("toy") == [{"action": "promote", "version": "2"}]
    assert store.meta("toy", "2")["promotion"] == "x"
    with pytest.raises(ModelNotFoundError):
        store.record_event("toy", {"action": "promote", "version": "9"}, production="9")
    assert len(store.history("toy")) == 1  # nothing recorded for a version that does not exist


def test_models_pickled_with_the_first_module_layout_still_load(tmp_path, toy_pipeline):
    """Pickles name classes by module path; a version saved before nlp/ had subpackages names
    ``nlp.pipeline.CommentPipeline`` and friends."""
    import pickle

    import joblib

    store = ModelStore(tmp_path)
    v = store.save(toy_pipeline, "toy")
    f = store.path("toy", v) / "model.joblib"
    old = pickle.dumps(joblib.load(f), protocol=0)
    for new, legacy in ((b"nlp.families.pipeline", b"nlp.pipeline"), (b"nlp.families.heads", b"nlp.classifiers"),
                        (b"nlp.families.features", b"nlp.features"), (b"nlp.text.segmentation", b"nlp.segmentation"),
                        (b"nlp.text.language", b"nlp.language")):
        old = old.replace(new + b"\n", legacy + b"\n")
    assert b"cnlp.pipeline\n" in old and b"nlp.families" not in old
    f.write_bytes(old)  # joblib reads plain pickles too
    loaded = store.load("toy")
    assert type(loaded).__module__ == "nlp.families.pipeline"
    assert loaded.predict([{"id": "a", "text": "Счета всегда с ошибками"}]) == \
        toy_pipeline.predict([{"id": "a", "text": "Счета всегда с ошибками"}])
