"""``/v1/datasets`` and ``/v1/feedback``: analysts' labeled data."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from .common import OPTIONAL_SPEC_PATTERN


class RowError(BaseModel):
    row: int | str | None = None
    field: str | None = None
    message: str


class DatasetImported(BaseModel):
    name: str
    hash: str = Field(description="first 16 hex digits of the content sha256 (`NAME@HASH` picks this version)")
    sha256: str
    rows: int = Field(description="good rows stored")
    unchanged: bool = Field(description="the same content was already the current version")
    eval_rows: int | None = Field(None, description="rows in the fixed 20 % evaluation split (never trained on)")
    label_distribution: dict[str, Any] | None = None
    errors: list[RowError] = Field(description="every bad row, with the reason; the good rows were imported")


class FeedbackItem(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {"id": "c-17", "text": "Счета приходят с ошибками", "sentiment": "negative",
         "touchpoints": [{"touchpoint": "billing", "polarity": "negative"}]},
        {"text": "The engineer was great", "touchpoints": "field_service:positive"}]})

    id: StrictStr | StrictInt | None = None
    text: str = Field(max_length=20_000, pattern=r"\S",
                      description="the comment (required: the API keeps no input texts)")
    sentiment: Literal["positive", "negative", "neutral", "mixed"] | dict[str, Any] | None = Field(
        None, description="corrected sentiment (or a prediction's `{\"label\": ...}`); absent = not corrected")
    touchpoints: list[Any] | str | None = Field(None, description="corrected touchpoints: prediction-style objects, "
                                                                  "`billing:negative` strings or one `;`-separated "
                                                                  "string; `[]` = none; absent = not corrected")


class FeedbackRequest(BaseModel):
    items: list[FeedbackItem] = Field(min_length=1, max_length=1000)
    dataset: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                                description="a feedback dataset you own (created on first use); default: your "
                                            "own, `feedback-<key id prefix>`. Imported datasets are refused.")
    model: str | None = Field(None, max_length=120, json_schema_extra={"pattern": OPTIONAL_SPEC_PATTERN},
                              description="model whose taxonomy validates the labels")


class FeedbackResult(BaseModel):
    dataset: str
    hash: str
    rows: int = Field(description="rows in the dataset now")
    accepted: int
    errors: list[RowError]
