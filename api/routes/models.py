"""``GET /v1/models`` (any key) and the admin's model management."""
from __future__ import annotations

from fastapi import APIRouter

from ..deps import AdminKey, CurrentKey, JsonBody, PipelineDep
from ..schemas import DefaultModelRequest, ModelList, error_responses
from ..services.models import model_info

router = APIRouter(prefix="/v1/models", tags=["models"])


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
