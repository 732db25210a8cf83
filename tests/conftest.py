"""Shared fixtures: one default model trained on the bundled seed set per test session."""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# The shipped default model is the fast + encoder ensemble; tests that only need *a* default model use the
# fast family (seconds to train). tests/nlp/families/test_default_model.py covers the shipped default itself.
os.environ["CXLENS_DEFAULT_MODEL_TYPE"] = "fast"
# one cache dir per test session (converted encoder, ONNX graphs, backend choices, embeddings): tests never
# write into the user's ~/.cache/cxlens, and the real encoder is converted once per session
if not os.environ.get("CXLENS_CACHE_DIR"):
    os.environ["CXLENS_CACHE_DIR"] = tempfile.mkdtemp(prefix="cxlens-test-cache-")
    atexit.register(shutil.rmtree, os.environ["CXLENS_CACHE_DIR"], True)  # ~150 MB of converted weights

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def seed_result(models_dir):
    """The default fast model trained on the seed train split (evaluated on its dev split)."""
    from nlp.lifecycle.store import ModelStore
    from nlp.lifecycle.training import train_seed_model

    return train_seed_model(store=ModelStore(models_dir), model_type="fast")


@pytest.fixture(scope="session")
def seed_model(seed_result):
    return seed_result.pipeline


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    """No test writes into the repo's models/ or the user's cache/data dirs by accident."""
    monkeypatch.setenv("CXLENS_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("CXLENS_DATA_DIR", str(tmp_path / "data"))


def shared_path(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path}")
    return path
