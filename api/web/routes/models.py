"""Models (admin): versions with metrics and the gate's comparison with production, training from the
collected corrections (a training job with progress), promotion and rollback with a reason."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import ValidationError

from nlp.errors import DataError

from ...errors import Conflict
from ...deps import who as _who
from ...schemas.models import PromoteRequest, RollbackRequest, TrainRequest
from ...deps import get_training as training_service
from ..auth import AdminUser
from ..common import posted, redirect, render

router = APIRouter(include_in_schema=False)


def _validated(model, data: dict[str, Any]):
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        raise DataError(err.get("msg"), field=".".join(str(x) for x in err.get("loc", ())),
                        found=err.get("input")) from None


def feedback_datasets(training, user) -> list[dict[str, Any]]:
    return [d for d in training.list_datasets(user.principal) if d.get("kind") == "feedback"]


@router.get("/models")
def models_page(request: Request, user: AdminUser) -> Response:
    training = training_service(request)
    models = request.app.state.models.list_models()
    by_name: dict[str, list[dict[str, Any]]] = {}
    for m in models:
        row = dict(m)
        try:
            row["comparison"] = training.comparison(m["name"], m["version"])
        except Exception:  # noqa: BLE001 - versions trained without datasets have no comparison
            row["comparison"] = None
        by_name.setdefault(m["name"], []).append(row)
    history = {}
    for name in by_name:
        try:
            history[name] = training.history(name)
        except Exception:  # noqa: BLE001 - a model served by a custom loader has no store history
            history[name] = []
    return render(request, "models.html", {"by_name": by_name, "history": history, "jobs": training.list_jobs(20),
                                           "datasets": feedback_datasets(training, user)})


@router.post("/models/train")
async def train(request: Request, user: AdminUser) -> Response:
    form = await posted(request, user)
    training = training_service(request)
    datasets = [v for k, v in (await request.form()).multi_items() if k == "datasets" and isinstance(v, str)]
    if not datasets:
        raise DataError("choose at least one feedback dataset", field="datasets", expected="a dataset of corrections",
                        found=None)
    mapping = [m.strip() for m in (form.get("map") or "").replace(",", "\n").splitlines() if m.strip()]
    body = _validated(TrainRequest, {"name": form.get("name") or "cx-touchpoints", "datasets": datasets,
                                     "map": mapping, "promote": form.get("promote") == "on"})
    job = await run_in_threadpool(lambda: training.submit(body.model_dump(), by=_who(user.principal),
                                                          owner=user.principal.key_id))
    return redirect(f"/models/train/{job['id']}")


@router.get("/models/train/{job_id}")
def training_job(request: Request, job_id: str, user: AdminUser) -> Response:
    job = training_service(request).get_job(job_id)
    name = "_training.html" if request.headers.get("hx-request") else "training.html"
    return render(request, name, {"job": job})


@router.post("/models/promote")
async def promote(request: Request, user: AdminUser) -> Response:
    from nlp.errors import PromotionRefused

    form = await posted(request, user)
    body = _validated(PromoteRequest, {"version": form.get("version", ""), "force": form.get("force") == "on",
                                       "reason": form.get("reason") or None})
    name = form.get("name", "")
    if not body.reason:
        raise DataError("give a reason", field="reason", expected="why this version goes to production", found="")
    try:
        await run_in_threadpool(lambda: training_service(request).promote(
            name, body.version, force=body.force, reason=body.reason, by=_who(user.principal)))
    except PromotionRefused as e:
        raise Conflict("the gate refused the promotion: " + "; ".join(e.failures), code="gate_refused") from e
    return redirect("/models")


@router.post("/models/rollback")
async def rollback(request: Request, user: AdminUser) -> Response:
    form = await posted(request, user)
    body = _validated(RollbackRequest, {"to": form.get("to") or None, "reason": form.get("reason") or None})
    if not body.reason:
        raise DataError("give a reason", field="reason", expected="why production goes back", found="")
    await run_in_threadpool(lambda: training_service(request).rollback(
        form.get("name", ""), to=body.to, reason=body.reason, by=_who(user.principal)))
    return redirect("/models")
