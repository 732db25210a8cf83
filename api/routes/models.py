"""``/v1/models``: versions in the store (any key) and the admin's model management: the default model
of this process, training jobs, promotion through the evaluation gate, rollback, history, model cards
(docs/retraining.md)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, PlainTextResponse

from ..deps import AdminKey, CurrentKey, JsonBody, PipelineDep, TrainingDep, who
from ..schemas.common import error_responses
from ..schemas.models import DefaultModelRequest, ModelList, ProductionEvent, PromoteRequest, RollbackRequest, \
    TrainingJob, TrainRequest
from ..services.models import model_info

router = APIRouter(prefix="/v1/models", tags=["models"])

Name = Path(max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="model name")
Version = Path(max_length=20, description="version number, or an alias such as `production`")


@router.get("", response_model=ModelList, responses=error_responses(401, 429),
            summary="Model versions in the store, and which one is served by default")
def list_models(principal: CurrentKey, models: PipelineDep) -> dict:
    return {"default": model_info(models.default) if models.default is not None else None,
            "models": models.list_models()}


@router.put("/default", response_model=ModelList, dependencies=[JsonBody],
            responses=error_responses(400, 401, 403, 404, 413, 415, 422, 429),
            summary="Serve another model version by default in this process (admin; e.g. a rollback)")
def set_default(principal: AdminKey, models: PipelineDep, body: DefaultModelRequest) -> dict:
    pipe = models.set_default(body.model)
    return {"default": model_info(pipe), "models": models.list_models()}


@router.post("/train", status_code=202, response_model=TrainingJob, dependencies=[JsonBody],
             responses={**error_responses(400, 401, 403, 413, 415, 422, 429),
                        202: {"description": "Accepted; poll the `Location`",
                              "headers": {"Location": {"schema": {"type": "string"}}}}},
             summary="Train a new model version on the seed set + datasets, compared with production (admin; a job)")
def train(training: TrainingDep, principal: AdminKey, body: TrainRequest) -> JSONResponse:
    job = training.submit(body.model_dump(), by=who(principal), owner=principal.key_id)
    return JSONResponse(TrainingJob.model_validate(job).model_dump(mode="json"), status_code=202,
                        headers={"Location": f"/v1/models/train/{job['id']}"})


@router.get("/train", response_model=list[TrainingJob], responses=error_responses(401, 403, 422, 429),
            summary="Training jobs, newest first (admin)")
def training_jobs(training: TrainingDep, principal: AdminKey, limit: int = Query(50, ge=1, le=500)) -> list[dict]:
    return training.list_jobs(limit)


@router.get("/train/{job_id}", response_model=TrainingJob, responses=error_responses(401, 403, 404, 422, 429),
            summary="A training job's status and result (admin)")
def training_job(training: TrainingDep, principal: AdminKey, job_id: str = Path(max_length=64)) -> dict:
    return training.get_job(job_id)


@router.post("/{name}/promote", response_model=ProductionEvent, dependencies=[JsonBody],
             responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429),
             summary="Make a version production through the evaluation gate (admin); 409 `gate_refused` names "
                     "the labels that got worse; `force` needs a `reason`")
def promote(training: TrainingDep, principal: AdminKey, body: PromoteRequest, name: str = Name) -> dict:
    policy = {k: v for k, v in body.model_dump().items()
              if k in ("tolerance", "min_support", "require_significance") and v is not None}
    # a refusal is PromotionRefused: 409 `gate_refused` with one detail per failure (api/errors.py)
    return training.promote(name, body.version, force=body.force, reason=body.reason, by=who(principal),
                                    policy=policy)


@router.post("/{name}/rollback", response_model=ProductionEvent, dependencies=[JsonBody],
             responses=error_responses(400, 401, 403, 404, 413, 415, 422, 429),
             summary="Point production back to an earlier version (admin)")
def rollback(training: TrainingDep, principal: AdminKey, body: RollbackRequest, name: str = Name) -> dict:
    return training.rollback(name, to=body.to, reason=body.reason, by=who(principal))


@router.get("/{name}/history", responses=error_responses(401, 403, 404, 422, 429),
            summary="Promotions and rollbacks of a model, oldest first (admin)")
def history(training: TrainingDep, principal: AdminKey, name: str = Name) -> list[dict[str, Any]]:
    return training.history(name)


@router.get("/{name}/{version}/card", response_class=PlainTextResponse,
            responses={**error_responses(401, 403, 404, 422, 429, json_route=False),
                       200: {"content": {"text/markdown": {"schema": {"type": "string"}}}}},
            summary="A version's MODEL_CARD.md (admin)")
def card(training: TrainingDep, principal: AdminKey, name: str = Name, version: str = Version) -> PlainTextResponse:
    return PlainTextResponse(training.card(name, version), media_type="text/markdown; charset=utf-8")


@router.get("/{name}/{version}/comparison", responses=error_responses(401, 403, 404, 422, 429),
            summary="A version's comparison with production (comparison.json; admin)")
def comparison(training: TrainingDep, principal: AdminKey, name: str = Name, version: str = Version) -> dict[str, Any]:
    return training.comparison(name, version)
