"""``POST /v1/classify``: a small batch, answered synchronously."""
from __future__ import annotations

from fastapi import APIRouter, Body, Request

from ..deps import CurrentKey, JsonBody, PipelineDep, SettingsDep
from ..errors import PayloadTooLarge, RateLimited
from ..schemas.classify import ClassifyRequest, ClassifyResponse
from ..schemas.common import error_responses
from ..services import classify as svc

router = APIRouter(prefix="/v1", tags=["classify"])

EXAMPLES = {
    "ru": {"summary": "Русские комментарии",
           "value": {"documents": [{"id": "a1", "text": "Менеджер отличный, но счета всегда приходят с ошибками."},
                                   {"id": "a2", "text": "Инженер приехал вовремя и всё починил."}]}},
    "en": {"summary": "English comments, a chosen model",
           "value": {"documents": [{"id": "b1", "text": "Delivery was late again and nobody called back."},
                                   "Great website, easy to order."],
                     "model": "cx-touchpoints"}},
}


@router.post("/classify", response_model=ClassifyResponse, dependencies=[JsonBody],
             responses=error_responses(400, 401, 404, 413, 415, 422, 429, 503),
             summary="Classify up to `max_docs_per_request` comments (`max_chars_per_request` characters)",
             description="Sentiment and touchpoints (with polarity, confidence and evidence span) per comment. "
                         "Each document is validated on its own: bad ones are listed in `errors`, the others are "
                         "classified. The model name and version are in every response.")
def classify(request: Request, principal: CurrentKey, settings: SettingsDep, models: PipelineDep,
             body: ClassifyRequest = Body(openapi_examples=EXAMPLES)) -> dict:
    if len(body.documents) > settings.max_docs_per_request:
        raise PayloadTooLarge(f"{len(body.documents)} documents; at most {settings.max_docs_per_request} per "
                              f"request (use POST /v1/jobs for large batches)", code="too_many_documents",
                              details=[{"loc": ["body", "documents"],
                                        "msg": f"at most {settings.max_docs_per_request} items"}])
    chars = svc.request_chars(body.documents)
    if chars > settings.max_chars_per_request:
        raise PayloadTooLarge(f"{chars} characters of text; at most {settings.max_chars_per_request} per request "
                              f"(use POST /v1/jobs for large batches)", code="too_many_characters",
                              details=[{"loc": ["body", "documents"],
                                        "msg": f"at most {settings.max_chars_per_request} characters in all"}])
    budget = request.app.state.char_budget
    wait = budget.charge(request.state.cost_bucket, chars)  # before any classification
    if wait > 0:
        raise RateLimited("the character budget of this key is used up; retry later", code="char_budget_exceeded",
                          headers={"Retry-After": str(budget.retry_after(wait))})
    pipeline = models.get(body.model)
    return svc.classify(pipeline, body.documents, max_chars=settings.max_chars_per_doc)
