"""The interview shortlist of a wave (reasons, quotes, questions) with contacted / interviewed marks and a
note per contact, stored in ``web_shortlist_marks`` (who and when)."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from .. import service as svc
from ..auth import CurrentUser
from ..common import posted, redirect, render
from .report import _ready_wave

router = APIRouter(include_in_schema=False)


def _shortlist(request: Request, wave) -> list[dict]:
    data = svc.load_data(request.app.state.sessionmaker, wave)
    return (svc.build(data, {}) or {}).get("shortlist") or []


@router.get("/waves/{wave_id}/shortlist")
def shortlist_page(request: Request, wave_id: str, user: CurrentUser) -> Response:
    wave = _ready_wave(request, user, wave_id)
    entries = _shortlist(request, wave)
    with request.app.state.sessionmaker() as s:
        marks = svc.marks(s, wave.id)
    rows = [{**e, "mark": marks.get((e.get("company"), e.get("contact") or ""))} for e in entries]
    return render(request, "shortlist.html", {"wave": wave, "rows": rows})


@router.post("/waves/{wave_id}/shortlist")
async def mark(request: Request, wave_id: str, user: CurrentUser) -> Response:
    form = await posted(request, user)

    def save() -> None:  # reads the wave and builds its shortlist: off the event loop
        wave = _ready_wave(request, user, wave_id)
        with request.app.state.sessionmaker() as s:
            svc.set_mark(s, wave, company=form.get("company", ""), contact=form.get("contact", ""),
                         contacted=form.get("contacted") == "on", interviewed=form.get("interviewed") == "on",
                         note=form.get("note", ""), by=user.name, shortlist=_shortlist(request, wave))

    await run_in_threadpool(save)
    return redirect(f"/waves/{wave_id}/shortlist")
