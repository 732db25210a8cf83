"""Getting predictions for a wave's comments from the model store (the ``nlp`` layer)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from nlp.config import DEFAULT_MODEL_NAME

from .waves import answers_to_documents


def load_model(spec: str = DEFAULT_MODEL_NAME, *, models_dir: str | Path | None = None,
               train_default: bool = True) -> Any:
    """The pipeline ``spec`` from the model store; the default model is trained from the seed set when
    missing and ``train_default`` (:func:`nlp.lifecycle.training.open_model`)."""
    from nlp.lifecycle.store import ModelStore
    from nlp.lifecycle.training import open_model
    from nlp.progress import message

    return open_model(spec, store=ModelStore(models_dir), build_default=train_default, progress=message)


def classify(answers: pd.DataFrame, pipeline: Any) -> list[dict[str, Any]]:
    """Prediction rows for the answers' comments (``Pipeline.predict``); ids are the answer ids."""
    from nlp.progress import task

    docs = answers_to_documents(answers)
    if not docs:
        return []
    with task("classifying", total=len(docs), unit="comment") as t:
        return pipeline.predict(docs, progress=t.update)
