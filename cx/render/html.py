"""Self-contained HTML report: one file, no external resources (inline CSS, inline SVG charts).
All report text goes through Jinja2 autoescaping; only the SVG produced by :mod:`cx.render.charts` is
inserted as markup."""
from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from ..i18n import labels
from .tables import touchpoint_rows

_env: Environment | None = None


def _environment() -> Environment:
    global _env
    if _env is None:
        _env = Environment(loader=PackageLoader("cx", "templates"), autoescape=select_autoescape(default=True),
                           trim_blocks=True, lstrip_blocks=True)
        _env.filters["num"] = _num
        _env.filters["signed"] = lambda v, nd=0: "–" if v is None else f"{v:+.{nd}f}"
    return _env


def _num(v: Any, nd: int = 1) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    return f"{v:.{nd}f}"


def render_html(report: dict, *, charts: bool = True) -> str:
    """The report as one self-contained HTML page (``charts=False`` skips matplotlib, e.g. for quick tests)."""
    lang = report["meta"]["lang"]
    L = labels(lang)
    svgs: dict[str, Markup | None] = {"matrix": None, "companies": None, "waves": None, "sw": None}
    if charts:
        from . import charts as C

        for key, fn in (("matrix", C.matrix_chart), ("companies", C.companies_chart), ("waves", C.waves_chart),
                        ("sw", C.sw_chart)):
            svg = fn(report, L)
            svgs[key] = Markup(svg) if svg else None  # matplotlib output, text drawn as paths
    tpl = _environment().get_template("report.html.j2")
    return tpl.render(r=report, L=L, lang=lang, svg=svgs, tps=touchpoint_rows(report))
