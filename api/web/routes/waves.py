"""Waves: upload (drag and drop), preview with the detected column mapping, start (a classify job),
progress (the job's done / total / ETA), per-row errors."""
from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from nlp.errors import DataError

from ...services.spool import media_type, spool_multipart
from .. import service as svc
from ..auth import CSRF_FIELD, CurrentUser, check_csrf, lang_of
from ..common import error_page, posted, redirect, render

router = APIRouter(include_in_schema=False)


@router.get("/waves")
def waves_page(request: Request, user: CurrentUser) -> Response:
    factory = request.app.state.sessionmaker
    with factory() as s:
        waves = svc.list_waves(s, user.principal)
    if any(w.status == "running" for w in waves):  # a job that finished while nobody watched: build its report
        for w in waves:
            if w.status == "running":
                svc.wave_progress(factory, user.principal, w.id)
        with factory() as s:
            waves = svc.list_waves(s, user.principal)
    return render(request, "waves.html", {"waves": waves})


@router.post("/waves")
async def upload(request: Request, user: CurrentUser) -> Response:
    settings = request.app.state.settings
    ctype = request.headers.get("content-type", "")
    if media_type(ctype) != "multipart/form-data":
        return error_page(request, 415, "upload the wave as a file (CSV or XLSX)", field="file")
    sp = await spool_multipart(request.stream(), ctype, spool_dir=Path(settings.spool_dir),
                               max_bytes=settings.max_upload_bytes)
    try:
        check_csrf(request, user, sp.fields.get(CSRF_FIELD))
        if sp.size == 0:
            raise DataError("empty file", field="file", expected="a wave with a header row", found=sp.filename or None)

        def create():
            with request.app.state.sessionmaker() as s:
                w = svc.create_wave(s, user.principal, path=sp.path, name=sp.filename,
                                    model_spec=settings.default_model)
                svc.preview(w)  # an unreadable file is refused now, not at start
                return w.id

        wave_id = await run_in_threadpool(create)
    except BaseException:
        sp.discard()
        for p in Path(settings.spool_dir).glob(sp.path.name + ".*"):
            p.unlink(missing_ok=True)
        raise
    return redirect(f"/waves/{wave_id}")


@router.get("/waves/{wave_id}")
def wave_page(request: Request, wave_id: str, user: CurrentUser) -> Response:
    with request.app.state.sessionmaker() as s:
        wave = svc.get_wave(s, user.principal, wave_id)
    ctx = {"wave": wave, "roles": svc.ROLES}
    if wave.status in ("uploaded", "failed"):
        ctx["preview"] = svc.preview(wave)
    if wave.status != "uploaded":
        ctx["progress"] = svc.wave_progress(request.app.state.sessionmaker, user.principal, wave_id)
    return render(request, "wave.html", ctx)


@router.post("/waves/{wave_id}/start")
async def start(request: Request, wave_id: str, user: CurrentUser) -> Response:
    form = await posted(request, user)
    settings = request.app.state.settings
    mapping = {r: form.get(f"map_{r}", "") for r in svc.ROLES}
    lang = form.get("report_lang") or lang_of(request)
    if lang not in ("ru", "en"):
        raise DataError("unknown report language", field="report_lang", expected="ru|en", found=lang)

    def go():
        return svc.start_wave(request.app.state.sessionmaker, user.principal, wave_id, mapping=mapping, lang=lang,
                              spool_dir=Path(settings.spool_dir), max_rows=settings.max_job_rows)

    await run_in_threadpool(go)
    if request.app.state.worker is not None:
        request.app.state.worker.wake()
    return redirect(f"/waves/{wave_id}")


@router.get("/waves/{wave_id}/progress")
async def progress(request: Request, wave_id: str, user: CurrentUser) -> Response:
    with request.app.state.sessionmaker() as s:
        wave = svc.get_wave(s, user.principal, wave_id)
    prog = await run_in_threadpool(svc.wave_progress, request.app.state.sessionmaker, user.principal, wave_id)
    if request.query_params.get("format") == "json":
        return Response(json.dumps(prog, default=str), media_type="application/json")
    return render(request, "_progress.html", {"wave": wave, "progress": prog})
