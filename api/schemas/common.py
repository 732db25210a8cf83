"""The error body every failure has, and the model-spec patterns."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorDetail(BaseModel):
    loc: list[str | int] = Field(default_factory=list, description="where: e.g. ['body', 'documents', 3, 'text']")
    msg: str


class ErrorInfo(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. `not_found`, `validation_error`")
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """The one error shape of the API."""

    error: ErrorInfo

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"error": {"code": "not_found", "message": "no job 'c0ffee'", "details": []}},
        {"error": {"code": "validation_error", "message": "the request is not valid",
                   "details": [{"loc": ["body", "documents"], "msg": "Field required"}]}},
    ]})


ERROR_DESCRIPTIONS = {400: "Bad request (e.g. a body that is not valid JSON)", 401: "Missing or invalid API key",
                      403: "The key's role does not allow this", 404: "Not found (or not yours)",
                      405: "Method not allowed (see Allow)", 409: "Conflict with the resource's state",
                      413: "Payload too large", 415: "Unsupported media type", 422: "Validation error",
                      429: "Rate limit or budget exceeded (see Retry-After)", 503: "Not ready"}


def error_responses(*codes: int, json_route: bool = True) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entry for the given error statuses. ``json_route=False`` for routes whose
    success answer is not JSON (HTML, Markdown, files): errors are still ``application/json``."""
    if json_route:
        return {c: {"model": ErrorResponse, "description": ERROR_DESCRIPTIONS.get(c, "Error")} for c in codes}
    return {c: {"description": ERROR_DESCRIPTIONS.get(c, "Error"),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
            for c in codes}


#: a model spec: ``name`` or ``name@version`` (api.services.models.SPEC_RE)
SPEC_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}(@[A-Za-z0-9][A-Za-z0-9._+-]{0,49})?$"
#: an optional model spec: empty means the default model
OPTIONAL_SPEC_PATTERN = r"^([A-Za-z0-9][A-Za-z0-9._-]{0,99}(@[A-Za-z0-9][A-Za-z0-9._+-]{0,49})?)?$"
