"""Swagger UI (``/docs``) and ReDoc (``/redoc``) served from this process, never from a CDN, so the
docs work on an air-gapped network (FastAPI's documented self-hosting of the docs assets).

The JavaScript/CSS bundles come from the pinned ``fastapi-offline`` package (its ``static/`` folder:
Swagger UI 5 ``swagger-ui-bundle.js`` / ``swagger-ui.css``, Apache-2.0; ReDoc 2 ``redoc.standalone.js``,
MIT; the package itself MIT) and are served under ``/docs-assets/``. The pages load only same-origin
scripts (no inline script), so the Content-Security-Policy of :mod:`api.middleware` can forbid inline
scripts on them.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs-assets"

router = APIRouter(include_in_schema=False)


def assets_dir() -> Path | None:
    try:
        import fastapi_offline
    except ImportError:
        return None
    d = Path(fastapi_offline.__file__).parent / "static"
    return d if (d / "swagger-ui-bundle.js").exists() else None


SWAGGER_INIT = """window.addEventListener("load", function () {
  var url = document.getElementById("swagger-ui").getAttribute("data-openapi-url");
  window.ui = SwaggerUIBundle({url: url, dom_id: "#swagger-ui", layout: "BaseLayout", deepLinking: true,
    showExtensions: true, showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset]});
});
"""


def _page(request: Request, title: str, head: str, body: str) -> HTMLResponse:
    """A docs page; ``{root}`` (the app's root path) and ``{openapi}`` (its OpenAPI URL) in ``head`` and
    ``body`` are filled in. 503 with a plain explanation when the assets package is missing."""
    if assets_dir() is None:
        return _missing()
    app: FastAPI = request.app
    html = (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<title>{app.title} - {title}</title>\n<link rel="icon" href="{{root}}{ASSETS_URL}/favicon.png">\n'
            f'{head}</head>\n<body>\n{body}</body>\n</html>\n')
    root = request.scope.get("root_path", "")
    return HTMLResponse(html.replace("{openapi}", str(app.openapi_url)).replace("{root}", root))


def _missing() -> HTMLResponse:
    return HTMLResponse("<!DOCTYPE html><title>docs unavailable</title><p>The documentation assets are not "
                        "installed (pip package <code>fastapi-offline</code>). The OpenAPI document is at "
                        "<a href=\"/openapi.json\">/openapi.json</a>.</p>", status_code=503)


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    return _page(request, "Swagger UI", f'<link rel="stylesheet" href="{{root}}{ASSETS_URL}/swagger-ui.css">\n',
                 f'<div id="swagger-ui" data-openapi-url="{{root}}{{openapi}}"></div>\n'
                 f'<script src="{{root}}{ASSETS_URL}/swagger-ui-bundle.js"></script>\n'
                 '<script src="{root}/docs/swagger-init.js"></script>\n')


@router.get("/docs/swagger-init.js")
def swagger_init() -> Response:
    return Response(SWAGGER_INIT, media_type="application/javascript")


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    return _page(request, "ReDoc", "",
                 '<redoc spec-url="{root}{openapi}"></redoc>\n'
                 f'<script src="{{root}}{ASSETS_URL}/redoc.standalone.js"></script>\n')


def install(app: FastAPI) -> None:
    """Mount the assets and the two pages (the app is created with ``docs_url=None, redoc_url=None``)."""
    d = assets_dir()
    if d is not None:
        app.mount(ASSETS_URL, StaticFiles(directory=str(d)), name="docs-assets")
    app.include_router(router)
