"""Taxonomy: the touchpoints of the served model; an admin adds one (id, RU/EN names, description, example
words) by training a new version with the extended taxonomy from the collected corrections; renames and
removals follow the training rules (``old=new`` / ``old=`` mappings on the models page)."""
from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from nlp.errors import DataError
from nlp.taxonomy import Taxonomy

from ...deps import who as _who
from ...schemas.models import TrainRequest
from ...deps import get_training as training_service
from ..auth import AdminUser, CurrentUser
from ..common import posted, redirect, render, taxonomy_of
from .models import _validated, feedback_datasets

router = APIRouter(include_in_schema=False)

ID_RE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


@router.get("/taxonomy")
def taxonomy_page(request: Request, user: CurrentUser) -> Response:
    tax = taxonomy_of(request)
    datasets = feedback_datasets(training_service(request), user) if user.is_admin else []
    return render(request, "taxonomy.html", {"taxonomy": tax, "datasets": datasets})


def extended(tax: Taxonomy, form: dict[str, str]) -> Taxonomy:
    tp_id = (form.get("id") or "").strip()
    if not ID_RE.match(tp_id):
        raise DataError("invalid touchpoint id", field="id", expected="lower-case latin letters, digits, _ (2-40)",
                        found=tp_id)
    if tp_id in tax.ids:
        raise DataError("this touchpoint already exists", field="id", expected="a new id", found=tp_id)
    name_ru, name_en = (form.get("name_ru") or "").strip(), (form.get("name_en") or "").strip()
    if not name_ru or not name_en:
        raise DataError("names in both languages are required", field="name_ru" if not name_ru else "name_en",
                        expected="a name", found="")
    words = [w.strip() for w in re.split(r"[,\n;]", form.get("examples") or "") if w.strip()]
    if not words:
        raise DataError("give a few example words", field="examples", expected="comma-separated word beginnings",
                        found="")
    raw = tax.to_dict()
    raw["touchpoints"].append({"id": tp_id, "name": {"ru": name_ru, "en": name_en},
                               "description": {"ru": form.get("description_ru") or "", "en": form.get("description_en") or ""},
                               "keywords": {"any": words[:100]}})
    try:
        raw["version"] = int(raw.get("version") or 1) + 1
    except (TypeError, ValueError):
        raw["version"] = f"{raw.get('version')}+{tp_id}"
    return Taxonomy.from_dict(raw, source="form")


@router.post("/taxonomy")
async def add_touchpoint(request: Request, user: AdminUser) -> Response:
    form = await posted(request, user)
    tax = extended(taxonomy_of(request), form)
    training = training_service(request)
    datasets = [d["name"] for d in feedback_datasets(training, user)]
    if not datasets:
        raise DataError("collect some corrections first (Review page): a new version is trained from them",
                        field="datasets", expected="at least one feedback dataset", found=0)
    body = _validated(TrainRequest, {"name": form.get("model") or "cx-touchpoints", "datasets": datasets,
                                     "taxonomy": tax.to_dict()})
    job = await run_in_threadpool(lambda: training.submit(body.model_dump(), by=_who(user.principal),
                                                          owner=user.principal.key_id))
    return redirect(f"/models/train/{job['id']}")
