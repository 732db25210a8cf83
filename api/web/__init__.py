"""The analyst web app (docs/webapp.md): server-rendered pages at ``/`` on the same services as the JSON
API under ``/v1``. ``install(app)`` adds the page routes, the static files and the HTML error pages."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from nlp.errors import CxlensError, DataError

from ..errors import ApiError, scrub_paths
from . import db as _tables  # noqa: F401 - registers the web tables on the shared metadata
from .auth import CsrfFailed, LoginRequired, WebForbidden
from .common import HERE, error_page, redirect

#: path prefixes served by the web app (everything else keeps the JSON API's error answers)
WEB_PREFIXES = ("/login", "/logout", "/lang/", "/waves", "/feedback", "/models", "/taxonomy", "/static/")


def is_web(request: Request) -> bool:
    p = request.url.path
    return p == "/" or p.startswith(WEB_PREFIXES)


def install(app: FastAPI) -> None:
    from .routes import auth, models, report, review, shortlist, taxonomy, waves

    for r in (auth, waves, report, review, shortlist, models, taxonomy):
        app.include_router(r.router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="web-static")

    async def login_required(request: Request, exc: LoginRequired):
        nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.headers.get("hx-request"):
            resp = redirect("/login", status=401)
            resp.headers["HX-Redirect"] = "/login"
            return resp
        from urllib.parse import quote

        return redirect(f"/login?next={quote(nxt, safe='/')}" if request.method == "GET" else "/login")

    async def forbidden(request: Request, exc: WebForbidden):
        return error_page(request, 403, exc.message)

    async def csrf_failed(request: Request, exc: CsrfFailed):
        return error_page(request, 403, "the form has expired or did not come from this site (CSRF check failed): "
                                        "reload the page and try again", field="csrf_token")

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(WebForbidden, forbidden)
    app.add_exception_handler(CsrfFailed, csrf_failed)

    # the API's handlers answer JSON; on web pages the same errors are HTML pages naming the field
    def html_for(exc_type, status_of, message_of, field_of=lambda e: None):
        original = app.exception_handlers.get(exc_type)

        async def handler(request: Request, exc):
            if is_web(request):
                return error_page(request, status_of(exc), scrub_paths(message_of(exc)), field=field_of(exc))
            return await original(request, exc)

        if original is not None:
            app.add_exception_handler(exc_type, handler)

    html_for(DataError, _domain_status, str, lambda e: e.field)
    html_for(ApiError, lambda e: e.status_code, lambda e: e.message,
             lambda e: ".".join(str(x) for x in (e.details[0].get("loc") or [])) if e.details else None)
    html_for(RequestValidationError, lambda e: 422,
             lambda e: "; ".join(f"{'.'.join(str(x) for x in d.get('loc', ())[1:])}: {d.get('msg')}" for d in e.errors()),
             lambda e: ".".join(str(x) for x in (e.errors()[0].get("loc") or ())[1:]) if e.errors() else None)
    html_for(StarletteHTTPException, lambda e: e.status_code,
             lambda e: e.detail if isinstance(e.detail, str) else "not found")
    html_for(CxlensError, _domain_status, str, lambda e: getattr(e, "field", None))


def _domain_status(exc: Exception) -> int:
    """The JSON API's status for a domain error (422 for bad data, 404 for an unknown model, ...)."""
    try:
        from ..errors import domain_status
    except ImportError:  # an older api.errors: data errors are 422, the rest 400
        return 422 if isinstance(exc, DataError) else 400
    return domain_status(exc)
