"""Getting predictions for a wave's comments from the model store (the ``nlp`` layer)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd

from nlp.config import DEFAULT_MODEL_NAME
from nlp.errors import CxlensError, ModelNotFoundError

from .waves import answers_to_documents


def load_model(spec: str = DEFAULT_MODEL_NAME, *, models_dir: str | Path | None = None, train_default: bool = True,
               announce: bool = False) -> Any:
    """``nlp.store.load_pipeline(spec)``; the default model is trained from the seed set when missing and
    ``train_default`` (a named model never is)."""
    try:
        from nlp import store
    except ImportError as e:
        raise CxlensError("no model layer available to classify the comments; pass --predictions P.jsonl") from e
    try:
        return store.load_pipeline(spec, models_dir=models_dir)
    except ModelNotFoundError:
        if not (train_default and spec == DEFAULT_MODEL_NAME):
            raise
        from nlp.progress import message

        if announce:
            print(f"cxlens: training the default model '{DEFAULT_MODEL_NAME}' from the seed set…", file=sys.stderr)
        return store.ensure_default_model(models_dir, progress=message)


def classify(answers: pd.DataFrame, pipeline: Any) -> list[dict[str, Any]]:
    """Prediction rows for the answers' comments (``Pipeline.predict``); ids are the answer ids."""
    from nlp.progress import task

    docs = answers_to_documents(answers)
    if not docs:
        return []
    with task("classifying", total=len(docs), unit="comment") as t:
        return pipeline.predict(docs, progress=t.update)
