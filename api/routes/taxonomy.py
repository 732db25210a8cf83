"""``GET /v1/taxonomy``: the touchpoints the served model predicts."""
from __future__ import annotations

from fastapi import APIRouter, Query

from nlp.taxonomy import load_taxonomy

from ..deps import CurrentKey, PipelineDep
from ..schemas.common import OPTIONAL_SPEC_PATTERN, error_responses
from ..schemas.taxonomy import TaxonomyOut
from ..services.models import model_info

router = APIRouter(prefix="/v1", tags=["taxonomy"])


@router.get("/taxonomy", response_model=TaxonomyOut, responses=error_responses(401, 404, 422, 429),
            summary="Touchpoints (ids, RU/EN names, descriptions) of a model or the default taxonomy")
def taxonomy(principal: CurrentKey, models: PipelineDep,
             model: str | None = Query(None, description="`name` or `name@version`; default: the served model",
                                       json_schema_extra={"pattern": OPTIONAL_SPEC_PATTERN})
             ) -> dict:
    pipe = models.get(model) if model else models.default
    tax = getattr(pipe, "taxonomy", None) if pipe is not None else None
    if tax is None:
        tax = load_taxonomy()
    out = tax.to_dict()
    labels = getattr(pipe, "labels_", None) if pipe is not None else None
    if labels is not None:  # only what the model predicts, in the taxonomy's order
        wanted = set(labels)
        out["touchpoints"] = [t for t in out["touchpoints"] if t["id"] in wanted] or out["touchpoints"]
    out["model"] = model_info(pipe) if pipe is not None else None
    return out
