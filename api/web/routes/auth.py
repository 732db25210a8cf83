"""Sign-in with an API key, sign-out, the language switch, ``/`` -> the waves page."""
from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..auth import (CSRF_FIELD, LANG_COOKIE, LANGS, LOGIN_COOKIE, SESSION_COOKIE, CurrentUser, current_user, new_token,
                    same_origin, set_session_cookie, sign_in, sign_out)
from ..common import error_page, posted, redirect, render, safe_next

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request) -> Response:
    return redirect("/waves" if current_user(request) else "/login", status=302)


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    if current_user(request):
        return redirect(safe_next(next), status=302)
    token = new_token()
    resp = render(request, "login.html", {"login_csrf": token, "next": safe_next(next)})
    resp.set_cookie(LOGIN_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                    secure=request.app.state.settings.web_cookie_secure, path="/login")
    return resp


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    cookie = request.cookies.get(LOGIN_COOKIE) or ""
    sent = data.get(CSRF_FIELD) or ""
    if not same_origin(request) or not cookie or not hmac.compare_digest(cookie, sent):
        return error_page(request, 403, "the sign-in form has expired: reload the page and try again",
                          field="csrf_token")
    key = (data.get("api_key") or "").strip()
    nxt = safe_next(data.get("next"))
    if not key:
        return _login_again(request, nxt, "enter your API key", 422)
    failures = request.app.state.auth_failures
    client = request.client.host if request.client else "local"
    wait = failures.wait_for(client)
    if wait > 0:
        return _login_again(request, nxt, "too many failed sign-ins from this address; try again in a minute", 429)
    opened = sign_in(request, key)
    if opened is None:
        failures.acquire(client)
        return _login_again(request, nxt, "unknown or revoked API key", 401)
    token, _ = opened
    settings = request.app.state.settings
    resp = redirect(nxt)
    set_session_cookie(resp, token, secure=settings.web_cookie_secure, max_age=int(settings.web_session_hours * 3600))
    resp.delete_cookie(LOGIN_COOKIE, path="/login")
    return resp


def _login_again(request: Request, nxt: str, message: str, status: int) -> Response:
    token = new_token()
    resp = render(request, "login.html", {"login_csrf": token, "next": nxt, "error": message, "field": "api_key"},
                  status=status)
    resp.set_cookie(LOGIN_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                    secure=request.app.state.settings.web_cookie_secure, path="/login")
    return resp


@router.post("/logout")
async def logout(request: Request, user: CurrentUser) -> Response:
    await posted(request, user)
    sign_out(request)
    resp = redirect("/login")
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.get("/lang/{lang}")
def switch_lang(request: Request, lang: str, next: str | None = None) -> Response:
    """A preference only (no state on the server): a plain link, so it needs no CSRF token."""
    if lang not in LANGS:
        return error_page(request, 422, f"unknown language {lang!r}: use ru or en", field="lang")
    resp = redirect(safe_next(next), status=302)
    resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/",
                    secure=request.app.state.settings.web_cookie_secure)
    return resp
