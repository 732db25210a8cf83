"""The report of a wave: filters on the server (segment, company, touchpoint, language, zone), charts
(Vega-Lite specs built here, drawn by vega-embed), drill-down from any count to its comments with the
evidence highlighted, downloads (JSON, static HTML, XLSX, CSV sections) of the filtered report."""
from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from nlp.errors import DataError
from nlp.schema import SENTIMENTS

from ...middleware import CSP_REPORT
from ...services import reports as reports_svc
from .. import service as svc
from ..auth import CurrentUser, WebUser, lang_of
from ..common import qs, render, taxonomy_of

router = APIRouter(include_in_schema=False)

DRILL_KEYS = ("touchpoint_id", "polarity", "sentiment", "risk", "in_company", "contact")


def _ready_wave(request: Request, user: WebUser, wave_id: str):
    with request.app.state.sessionmaker() as s:
        wave = svc.get_wave(s, user.principal, wave_id)
    if wave.report_id is None:  # the job may have just finished: build the report now
        svc.wave_progress(request.app.state.sessionmaker, user.principal, wave_id)
        with request.app.state.sessionmaker() as s:
            wave = svc.get_wave(s, user.principal, wave_id)
    if wave.report_id is None:
        raise DataError("the report of this wave is not ready yet", field="wave", expected="a finished wave",
                        found=wave.status)
    return wave


def _load(request: Request, user: WebUser, wave_id: str, params) -> tuple[Any, svc.WaveData, dict, dict | None]:
    wave = _ready_wave(request, user, wave_id)
    filters = svc.clean_filters(dict(params))
    data = svc.load_data(request.app.state.sessionmaker, wave)
    report = svc.build(data, filters)
    return wave, data, filters, report


def touchpoint_chart(report: dict, wave_id: str, filters: dict, lang: str) -> dict[str, Any]:
    names = {"positive": ("позитивно", "positive"), "negative": ("негативно", "negative"),
             "neutral": ("нейтрально", "neutral")}
    rows = []
    for tp in report.get("touchpoints") or []:
        for pol in ("negative", "neutral", "positive"):
            if tp.get(pol):
                rows.append({"touchpoint": tp.get("name") or tp["touchpoint"], "polarity": names[pol][lang == "en"],
                             "count": tp[pol], "href": f"/waves/{wave_id}/comments?" + qs(
                                 filters, touchpoint_id=tp["touchpoint"], polarity=pol)})
    return {"width": "container", "height": {"step": 22},
            "data": {"values": rows}, "mark": {"type": "bar", "cursor": "pointer"},
            "encoding": {"y": {"field": "touchpoint", "type": "nominal", "sort": "-x", "title": None},
                         "x": {"aggregate": "sum", "field": "count", "type": "quantitative",
                               "title": "упоминаний" if lang == "ru" else "mentions"},
                         "color": {"field": "polarity", "type": "nominal", "title": None,
                                   "scale": {"domain": [names[p][lang == "en"] for p in ("negative", "neutral", "positive")],
                                             "range": ["#c0392b", "#95a5a6", "#27ae60"]}},
                         "href": {"field": "href"},
                         "tooltip": [{"field": "touchpoint"}, {"field": "polarity"}, {"field": "count"}]}}


def matrix_chart(report: dict, lang: str) -> dict[str, Any] | None:
    m = report.get("matrix") or {}
    items = [i for i in m.get("items") or [] if i.get("importance") is not None and i.get("performance") is not None]
    if not items:
        return None
    cut = m.get("cut") or {}
    layers: list[dict[str, Any]] = [{
        "mark": {"type": "point", "filled": True, "size": 90},
        "encoding": {"x": {"field": "importance", "type": "quantitative", "title": "важность" if lang == "ru" else "importance"},
                     "y": {"field": "performance", "type": "quantitative",
                           "title": "оценка" if lang == "ru" else "performance"},
                     "color": {"field": "quadrant", "type": "nominal",
                               "scale": {"domain": ["A", "B", "C", "D"],
                                         "range": ["#c0392b", "#e67e22", "#27ae60", "#2980b9"]}},
                     "tooltip": [{"field": "name"}, {"field": "quadrant"}, {"field": "importance"},
                                 {"field": "performance"}, {"field": "n"}]}},
        {"mark": {"type": "text", "dy": -10, "fontSize": 11}, "encoding": {
            "x": {"field": "importance", "type": "quantitative"}, "y": {"field": "performance", "type": "quantitative"},
            "text": {"field": "name"}}}]
    if cut.get("importance") is not None:
        layers.append({"data": {"values": [{"v": cut["importance"]}]}, "mark": {"type": "rule", "strokeDash": [4, 4]},
                       "encoding": {"x": {"field": "v", "type": "quantitative"}}})
    if cut.get("performance") is not None:
        layers.append({"data": {"values": [{"v": cut["performance"]}]}, "mark": {"type": "rule", "strokeDash": [4, 4]},
                       "encoding": {"y": {"field": "v", "type": "quantitative"}}})
    return {"width": "container", "height": 280,
            "data": {"values": [{k: i.get(k) for k in ("name", "quadrant", "importance", "performance", "n")}
                                for i in items]},
            "layer": layers}


def script_json(value: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&`` can end the element."""
    return (json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026"))


@router.get("/waves/{wave_id}/report")
async def report_page(request: Request, wave_id: str, user: CurrentUser) -> Response:
    wave, data, filters, report = await run_in_threadpool(_load, request, user, wave_id, request.query_params)
    lang = lang_of(request)
    tax = taxonomy_of(request)
    charts = {}
    if report is not None:
        charts["touchpoints"] = script_json(touchpoint_chart(report, wave_id, filters, lang))
        mc = matrix_chart(report, lang)
        if mc is not None:
            charts["matrix"] = script_json(mc)
    sentiments = Counter(c.get("sentiment") for c in svc.scoped_comments(report or {}) if c.get("sentiment"))
    return render(request, "report.html", {"wave": wave, "report": report, "filters": filters,
                                           "sentiments": [(k, sentiments[k]) for k in SENTIMENTS if sentiments[k]],
                                           "choices": svc.filter_choices(data, tax), "charts": charts,
                                           "tp_name": lambda i: tax.name(i, lang)}, charts=True)


@router.get("/waves/{wave_id}/comments")
async def comments_page(request: Request, wave_id: str, user: CurrentUser) -> Response:
    wave, data, filters, report = await run_in_threadpool(_load, request, user, wave_id, request.query_params)
    p = request.query_params
    drill = {k: (p.get(k) or None) for k in DRILL_KEYS}
    rows = [] if report is None else svc.drill(
        data, report, touchpoint=drill["touchpoint_id"], polarity=drill["polarity"], sentiment=drill["sentiment"],
        risk=drill["risk"], company=drill["in_company"], contact=drill["contact"])
    lang = lang_of(request)
    tax = taxonomy_of(request)
    return render(request, "comments.html", {"wave": wave, "filters": filters, "drill": drill, "rows": rows,
                                             "tp_name": lambda i: tax.name(i, lang)})


FORMATS = {"json": "application/json", "html": "text/html; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "csv": "text/csv; charset=utf-8"}


@router.get("/waves/{wave_id}/download/{fmt}")
async def download(request: Request, wave_id: str, fmt: str, user: CurrentUser) -> Response:
    if fmt not in FORMATS:
        raise DataError("unknown download format", field="format", expected="|".join(FORMATS), found=fmt)
    wave, data, filters, report = await run_in_threadpool(_load, request, user, wave_id, request.query_params)
    if report is None:
        raise DataError("no answers match the filters", field="filters", expected="at least one answer", found=0)
    name = f"report-{wave_id[:8]}" + ("-filtered" if filters else "")
    headers = {"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
    if fmt == "json":
        body: bytes | str = json.dumps(report, ensure_ascii=False, indent=1)
    elif fmt == "html":
        body = await run_in_threadpool(reports_svc.render_html, report)
        headers["Content-Security-Policy"] = CSP_REPORT
    elif fmt == "xlsx":
        body = await run_in_threadpool(reports_svc.render_xlsx, report)
    else:
        section = request.query_params.get("section") or "labels"
        from cx.render.csv import write_csv
        from cx.render.tables import SECTIONS

        if section not in SECTIONS:
            raise DataError("unknown report section", field="section", expected="|".join(SECTIONS), found=section)
        with tempfile.TemporaryDirectory(prefix="cxlens-web-") as tmp:
            path = Path(tmp) / "out.csv"
            write_csv(report, path, section=section)
            body = path.read_bytes()
        headers["Content-Disposition"] = f'attachment; filename="{name}-{section}.csv"'
    return Response(body, media_type=FORMATS[fmt], headers=headers)
