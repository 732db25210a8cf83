"""Sign-in, session cookie, sign-out, CSRF on every POST, roles, the language switch."""
from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from api.services.auth import revoke_key
from api.web.db import WebSession
from tests.web.conftest import csrf_of

PAGES = ["/waves", "/feedback", "/taxonomy", "/models", "/waves/abc", "/waves/abc/report", "/waves/abc/review",
         "/waves/abc/shortlist", "/waves/abc/comments", "/waves/abc/download/json", "/models/train/abc"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_need_a_session_and_come_back_after_sign_in(client, keys, path):
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/login?next={path}"


def test_htmx_requests_without_a_session_are_told_to_reload_the_sign_in_page(client):
    r = client.get("/waves/abc/progress", headers={"HX-Request": "true"}, follow_redirects=False)
    assert r.status_code == 401 and r.headers["HX-Redirect"] == "/login"


def test_root_sends_to_sign_in_or_to_the_waves(client, analyst):
    with TestClient(client.app, base_url="https://testserver") as fresh:
        assert fresh.get("/", follow_redirects=False).headers["location"] == "/login"
    assert analyst.get("/", follow_redirects=False).headers["location"] == "/waves"


def test_sign_in_sets_a_secure_httponly_samesite_strict_session_cookie(client, keys):
    page = client.get("/login")
    r = client.post("/login", data={"api_key": keys.analyst, "csrf_token": csrf_of(page.text), "next": "/feedback"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/feedback"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("cxlens_session="))
    attrs = {a.strip().lower() for a in cookie.split(";")}
    assert {"httponly", "secure", "samesite=strict", "path=/"} <= attrs
    token = cookie.split(";")[0].split("=", 1)[1]
    with client.app.state.sessionmaker() as s:  # only the token's hash is stored
        assert s.get(WebSession, token) is None and s.query(WebSession).count() == 1
    assert "analyst A" in client.get("/waves").text


def test_the_secure_flag_can_be_turned_off_for_a_plain_http_proxy(tmp_path, store, keys):
    from api.main import create_app
    from tests.api.conftest import Keys, make_settings

    app = create_app(make_settings(tmp_path / "x", web_cookie_secure=False), loader=store)
    with TestClient(app, base_url="http://testserver") as c:
        k = Keys(app)
        page = c.get("/login")
        r = c.post("/login", data={"api_key": k.analyst, "csrf_token": csrf_of(page.text)}, follow_redirects=False)
        cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("cxlens_session="))
        assert "secure" not in cookie.lower() and "httponly" in cookie.lower()


@pytest.mark.parametrize("key, status, message", [("", 422, "enter your API key"),
                                                   ("cxl_not-a-key", 401, "unknown or revoked API key")])
def test_a_bad_key_is_refused_with_a_message_naming_the_field(client, keys, key, status, message):
    page = client.get("/login?lang=en")
    r = client.post("/login", data={"api_key": key, "csrf_token": csrf_of(page.text)}, follow_redirects=False,
                    headers={"Accept-Language": "en"})
    assert r.status_code == status
    assert "<code>api_key</code>" in r.text and message in r.text
    assert "cxlens_session" not in r.headers.get("set-cookie", "")


def test_a_revoked_key_cannot_sign_in_and_its_open_sessions_end(client, keys, analyst):
    assert analyst.get("/waves").status_code == 200
    with client.app.state.sessionmaker() as s:
        revoke_key(s, keys.analyst_row.id)
    assert analyst.get("/waves", follow_redirects=False).status_code == 303
    page = client.get("/login")
    r = client.post("/login", data={"api_key": keys.analyst, "csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 401


def test_an_expired_session_is_refused(client, analyst):
    with client.app.state.sessionmaker() as s:
        for row in s.query(WebSession):
            row.expires_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
        s.commit()
    assert analyst.get("/waves", follow_redirects=False).status_code == 303


def test_failed_sign_ins_are_rate_limited_per_address(tmp_path, store):
    from api.main import create_app
    from tests.api.conftest import Keys, make_settings

    app = create_app(make_settings(tmp_path / "rl", auth_failures_per_minute=1, auth_failure_burst=2), loader=store)
    with TestClient(app, base_url="https://testserver") as c:
        k = Keys(app)
        codes = []
        for _ in range(3):
            page = c.get("/login")
            codes.append(c.post("/login", data={"api_key": "cxl_wrong", "csrf_token": csrf_of(page.text)}).status_code)
        page = c.get("/login")
        good = c.post("/login", data={"api_key": k.analyst, "csrf_token": csrf_of(page.text)}, follow_redirects=False)
        assert codes == [401, 401, 429] and good.status_code == 429


def test_sign_in_needs_the_form_token_of_the_sign_in_page(client, keys):
    client.get("/login")
    r = client.post("/login", data={"api_key": keys.analyst, "csrf_token": "forged"}, follow_redirects=False)
    assert r.status_code == 403 and "csrf_token" in r.text
    with TestClient(client.app, base_url="https://testserver") as fresh:  # no login cookie at all
        r = fresh.post("/login", data={"api_key": keys.analyst, "csrf_token": "x"}, follow_redirects=False)
        assert r.status_code == 403


def test_a_post_from_another_origin_is_refused_even_with_the_token(client, keys):
    page = client.get("/login")
    r = client.post("/login", data={"api_key": keys.analyst, "csrf_token": csrf_of(page.text)},
                    headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert r.status_code == 403


@pytest.mark.parametrize("nxt", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"])
def test_sign_in_and_language_switch_never_redirect_off_site(client, keys, nxt):
    page = client.get("/login")
    r = client.post("/login", data={"api_key": keys.analyst, "csrf_token": csrf_of(page.text), "next": nxt},
                    follow_redirects=False)
    assert r.headers["location"] == "/waves"
    assert client.get("/lang/en", params={"next": nxt}, follow_redirects=False).headers["location"] == "/waves"


def test_sign_out_needs_the_csrf_token_and_ends_the_session(client, analyst):
    cookie = client.cookies.get("cxlens_session")
    assert analyst.post("/logout", csrf=False).status_code == 403
    assert analyst.get("/waves").status_code == 200  # still signed in
    r = analyst.post("/logout")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    with TestClient(client.app, base_url="https://testserver") as replay:  # the old cookie is dead server-side
        replay.cookies.set("cxlens_session", cookie)
        assert replay.get("/waves", follow_redirects=False).status_code == 303


POSTS = ["/logout", "/waves", "/waves/{w}/start", "/waves/{w}/review", "/waves/{w}/shortlist", "/models/train",
         "/models/promote", "/models/rollback", "/taxonomy"]


@pytest.mark.parametrize("path", POSTS)
def test_every_post_without_the_csrf_token_is_refused(admin, path):
    wave_id = admin.run_wave()
    url = path.format(w=wave_id)
    if url == "/waves":
        r = admin.c.post(url, files={"file": ("w.csv", b"company;text\nA;b\n")}, follow_redirects=False)
    else:
        r = admin.post(url, {"csrf_token": "wrong", "name": "fake-model", "version": "1", "reason": "r"})
    assert r.status_code == 403, r.text
    assert "CSRF" in r.text
    # and the same request with the token in the X-CSRF-Token header (htmx) gets past the check
    if url not in ("/waves", "/logout"):
        r = admin.c.post(url, data={"name": "fake-model"}, headers={"X-CSRF-Token": admin.csrf}, follow_redirects=False)
        assert r.status_code != 403 or "CSRF" not in r.text


@pytest.mark.parametrize("method, path", [("get", "/models"), ("get", "/models/train/abc"), ("post", "/models/train"),
                                          ("post", "/models/promote"), ("post", "/models/rollback"),
                                          ("post", "/taxonomy")])
def test_admin_pages_and_actions_are_refused_to_analysts(analyst, method, path):
    r = analyst.get(path) if method == "get" else analyst.post(path, {"name": "fake-model", "version": "1",
                                                                      "reason": "x", "id": "new_tp"})
    assert r.status_code == 403 and "admin" in r.text


def test_analysts_do_not_see_each_others_waves_but_admins_do(analyst, other, admin):
    wave_id = analyst.run_wave()
    assert analyst.get(f"/waves/{wave_id}/report").status_code == 200
    for path in (f"/waves/{wave_id}", f"/waves/{wave_id}/report", f"/waves/{wave_id}/review"):
        assert other.get(path).status_code == 404
    assert wave_id not in other.get("/waves").text
    assert admin.get(f"/waves/{wave_id}/report").status_code == 200
    assert analyst.get("/taxonomy").status_code == 200 and 'id="add-tp"' not in analyst.get("/taxonomy").text
    assert 'href="/models"' not in analyst.get("/waves").text and 'href="/models"' in admin.get("/waves").text


def test_language_switch_sets_a_preference_cookie_and_translates_the_pages(analyst):
    r = analyst.get("/lang/en?next=/waves", follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == "/waves"
    assert ">Waves<" in analyst.get("/waves").text
    analyst.get("/lang/ru?next=/waves")
    page = analyst.get("/waves").text
    assert ">Волны<" in page and '<html lang="ru">' in page
    bad = analyst.get("/lang/de")
    assert bad.status_code == 422 and "<code>lang</code>" in bad.text
