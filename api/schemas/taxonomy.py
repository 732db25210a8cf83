"""``/v1/taxonomy``: the touchpoints."""
from __future__ import annotations

from pydantic import BaseModel, Field

from .classify import ModelRef


class TouchpointOut(BaseModel):
    id: str
    name: dict[str, str] = Field(description="display names by language", examples=[{"ru": "Бухгалтерия",
                                                                                      "en": "Billing"}])
    description: dict[str, str] = Field(default_factory=dict)


class TaxonomyOut(BaseModel):
    version: int | str
    model: ModelRef | None = None
    touchpoints: list[TouchpointOut]
