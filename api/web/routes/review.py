"""Review: the wave's comments with their predicted labels, the most uncertain first (active learning);
every correction (sentiment, touchpoints, polarity, evidence span) is stored as feedback with who and
when in the analyst's own feedback dataset (``POST /v1/feedback``'s service). ``/feedback`` lists them."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from nlp.errors import DataError

from ...deps import get_training as training_service
from ...services.training import own_feedback_dataset
from .. import service as svc
from ..auth import CurrentUser, lang_of
from ..common import posted, redirect, render, taxonomy_of
from .report import _ready_wave

router = APIRouter(include_in_schema=False)


def _position(value: str | None, n: int) -> int:
    try:
        i = int(value or 0)
    except ValueError:
        raise DataError("not a number", field="i", expected="a position in the queue", found=value) from None
    return max(0, min(i, max(0, n - 1)))


@router.get("/waves/{wave_id}/review")
async def review_page(request: Request, wave_id: str, user: CurrentUser) -> Response:
    models = request.app.state.models

    def queue():  # reading the wave (maybe building its report) and ordering it: off the event loop
        wave = _ready_wave(request, user, wave_id)
        data = svc.load_data(request.app.state.sessionmaker, wave)
        try:
            pipe = models.get(wave.model_spec)
        except Exception:  # noqa: BLE001 - the model is gone: the stored confidences still order the queue
            pipe = None
        return wave, data, svc.review_queue(data, wave.id, pipe)

    wave, data, order = await run_in_threadpool(queue)
    i = _position(request.query_params.get("i"), len(order))
    lang = lang_of(request)
    tax = taxonomy_of(request, wave.model_spec)
    ctx = {"wave": wave, "n": len(order), "i": i, "taxonomy": tax, "tp_name": lambda t: tax.name(t, lang),
           "saved": request.query_params.get("saved")}
    if order:
        doc_id = order[i]
        pred = data.predictions.get(doc_id) or {}
        text = data.texts.get(doc_id, "")
        ctx.update(doc_id=doc_id, text=text, pred=pred, pieces=svc.highlight(text, pred.get("touchpoints") or []),
                   predicted={t["touchpoint"]: t for t in pred.get("touchpoints") or []})
    return render(request, "review.html", ctx)


@router.post("/waves/{wave_id}/review")
async def correct(request: Request, wave_id: str, user: CurrentUser) -> Response:
    form = await posted(request, user)
    wave, data = await run_in_threadpool(
        lambda: (w := _ready_wave(request, user, wave_id), svc.load_data(request.app.state.sessionmaker, w)))
    doc_id = form.get("doc_id") or ""
    if doc_id not in data.texts:
        raise DataError("no such comment in this wave", field="doc_id", expected="a comment id of the wave",
                        found=doc_id)
    tax = taxonomy_of(request, wave.model_spec)
    fields = {k: v for k, v in form.items() if k not in ("csrf_token", "doc_id", "i")}
    item = svc.correction_item(fields, doc_id=doc_id, text=data.texts[doc_id], taxonomy=tax)
    settings = request.app.state.settings
    training = training_service(request)
    res = await run_in_threadpool(lambda: training.feedback(
        [{**item, "comment": f"web review of wave {wave.input_name}"}], principal=user.principal,
        model=wave.model_spec if "@" in wave.model_spec else None,
        quota_rows=settings.feedback_quota_rows, quota_chars=settings.feedback_quota_chars))
    if res["errors"]:
        e = res["errors"][0]
        raise DataError(e["message"], field=e.get("field") or "touchpoints")
    nxt = _position(form.get("i"), 10**9) + 1
    return redirect(f"/waves/{wave_id}/review?i={nxt}&saved={doc_id}")


@router.get("/feedback")
def feedback_page(request: Request, user: CurrentUser) -> Response:
    training = training_service(request)
    own = own_feedback_dataset(user.principal)
    names = [own]
    if user.is_admin:
        names += [d["name"] for d in training.list_datasets(user.principal)
                  if d.get("kind") == "feedback" and d["name"] != own]
    chosen = request.query_params.get("dataset") or own
    if chosen not in names:
        raise DataError("not one of your feedback datasets", field="dataset", expected=", ".join(names), found=chosen)
    rows = svc.feedback_rows(training, chosen)
    lang = lang_of(request)
    tax = taxonomy_of(request)
    return render(request, "feedback.html", {"rows": rows, "dataset": chosen, "datasets": names,
                                             "tp_name": lambda t: tax.name(t, lang)})
