"""``/v1/models``: versions, the default model, training jobs, promotion and rollback."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nlp.config import DEFAULT_MODEL_NAME
from nlp.families.registry import family_names

from .classify import ModelRef
from .common import SPEC_PATTERN


class ModelOut(BaseModel):
    name: str
    version: str
    created: str | None = None
    model_type: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    aliases: list[str] = Field(default_factory=list)
    loaded: bool = False
    default: bool = False


class ModelList(BaseModel):
    default: ModelRef | None = None
    models: list[ModelOut]


class DefaultModelRequest(BaseModel):
    model: str = Field(description="`name` or `name@version`", examples=["cx-touchpoints@2"],
                       json_schema_extra={"pattern": SPEC_PATTERN})


class TrainRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "cx-touchpoints", "datasets": ["acme"],
                                                               "seed_weight": 1, "dataset_weight": 2}]})

    name: str = Field(DEFAULT_MODEL_NAME, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    datasets: list[str] = Field(min_length=1, max_length=50, description="NAME or NAME@HASHPREFIX (at least one: "
                                "retraining on the seed set alone is `cxlens train --seed-set`)")
    seed_weight: float = Field(1.0, ge=0, le=20)
    dataset_weight: float = Field(1.0, ge=0, le=20)
    dataset_weights: dict[str, float] | None = None
    model_type: Literal[family_names()] | None = Field(  # type: ignore[valid-type]
        None, description="model family; default: the production model's, else the server's default family")
    params: dict[str, Any] = Field(default_factory=dict, description="pipeline options, e.g. {\"C\": 8}")
    map: list[str] = Field(default_factory=list, description="touchpoint renames/removals: `old=new`, `old=`")
    taxonomy: dict[str, Any] | None = Field(None, description="a full taxonomy ({version, touchpoints}) to train "
                                                              "with, e.g. with an added touchpoint")
    promote: bool = Field(False, description="promote the new version if the gate passes")
    tolerance: float | None = Field(None, ge=0, le=1)
    min_support: int | None = Field(None, ge=1)
    require_significance: bool | None = None


class TrainingJob(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed"]
    attempts: int = Field(0, description="runs started; more than 1 after an interruption (the job ran again)")
    note: str | None = Field(None, description="what happened to earlier attempts")
    options: dict[str, Any]
    by: str | None = None
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    result: dict[str, Any] | None = Field(None, description="version, gate decision, metrics, comparison summary")
    error: str | None = None
    progress: dict[str, Any] | None = Field(
        None, description="the running stage: `stage` (e.g. embedding, or a step message), `done`, `total`, "
                          "`unit`, `eta_s`, `rate`, `elapsed_s`; updated about once a second")


class PromoteRequest(BaseModel):
    version: str = Field(max_length=20)
    force: bool = False
    reason: str | None = Field(None, max_length=2000)
    tolerance: float | None = Field(None, ge=0, le=1)
    min_support: int | None = Field(None, ge=1)
    require_significance: bool | None = None


class RollbackRequest(BaseModel):
    to: str | None = Field(None, max_length=20, description="version (default: the previous production version)")
    reason: str | None = Field(None, max_length=2000)


class ProductionEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    action: Literal["promote", "rollback"]
    version: str
    from_: str | None = Field(None, alias="from")
    at: str
    by: str
    reason: str | None = None
