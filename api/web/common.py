"""Shared by the page routes: templates, the RU/EN catalogue, Content-Security-Policy, HTML errors."""
from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from .auth import LANG_COOKIE, current_user, lang_of
from .i18n import translate

HERE = Path(__file__).resolve().parent
#: autoescaping on for every template: user text (file names, comments, notes) is always escaped
templates = Jinja2Templates(env=jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                                                   autoescape=True, trim_blocks=True, lstrip_blocks=True))

#: pages: same-origin scripts and styles only, nothing else; the report page's charts (Vega) compile their
#: specs with ``new Function`` and set inline styles, so that page alone allows 'unsafe-eval' / inline styles
CSP_PAGE = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
CSP_CHARTS = ("default-src 'none'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
              "img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; "
              "frame-ancestors 'none'; base-uri 'none'")


def qs(params: dict[str, Any], **extra: Any) -> str:
    """A query string of the non-empty values (filters + drill-down parameters)."""
    merged = {**params, **extra}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


def render(request: Request, name: str, ctx: dict[str, Any] | None = None, *, status: int = 200,
           charts: bool = False, headers: dict[str, str] | None = None) -> HTMLResponse:
    lang = lang_of(request)
    user = current_user(request)

    def t(text: str, **kw: Any) -> str:
        return translate(text, lang, **kw)

    context = {"request": request, "user": user, "lang": lang, "t": t, "qs": qs, "csrf": user.csrf if user else "",
               "path": request.url.path, "full_path": str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
               **(ctx or {})}
    resp = templates.TemplateResponse(request, name, context, status_code=status, headers=headers)
    resp.headers["Content-Security-Policy"] = CSP_CHARTS if charts else CSP_PAGE
    resp.headers["Cache-Control"] = "no-store"
    # not the API's no-referrer: with it, browsers send ``Origin: null`` on same-site POSTs, and the Origin
    # check of the CSRF defence needs the real origin; nothing leaves the site either way
    resp.headers["Referrer-Policy"] = "same-origin"
    return resp


def error_page(request: Request, status: int, message: str, *, field: str | None = None) -> HTMLResponse:
    if request.headers.get("hx-request"):  # an htmx swap shows the message in place
        resp = render(request, "_error.html", {"status": status, "message": message, "field": field}, status=200)
        resp.headers["HX-Retarget"] = "#flash"
        return resp
    return render(request, "error.html", {"status": status, "message": message, "field": field}, status=status)


def redirect(url: str, status: int = 303) -> RedirectResponse:
    return RedirectResponse(url, status_code=status)


def safe_next(value: str | None) -> str:
    """Only local paths (no scheme, no //host) after sign-in or a language switch."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or len(value) > 2000:
        return "/waves"
    return value


__all__ = ["templates", "render", "error_page", "redirect", "safe_next", "qs", "LANG_COOKIE"]


async def posted(request: Request, user) -> dict[str, str]:
    """The urlencoded form of a POST, after the CSRF check (form field or ``X-CSRF-Token``)."""
    from .auth import CSRF_FIELD, check_csrf

    form = await request.form()
    data = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    check_csrf(request, user, data.get(CSRF_FIELD))
    return data


def taxonomy_of(request: Request, spec: str | None = None):
    """The taxonomy of the served model (or of ``spec``), else the bundled one."""
    from nlp.taxonomy import load_taxonomy

    models = request.app.state.models
    pipe = None
    try:
        pipe = models.get(spec) if spec else models.default
    except Exception:  # noqa: BLE001 - a model that cannot be loaded: show the bundled taxonomy
        pipe = None
    return getattr(pipe, "taxonomy", None) or load_taxonomy()
