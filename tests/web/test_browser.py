"""Real-browser end-to-end tests: Playwright for Python driving the system's headless Chromium (Debian's
``chromium`` package through ``executable_path``; Playwright's own browser download is not used). They skip
with the reason when Playwright or a Chromium binary is missing.

The server is a real uvicorn on localhost in a thread, with the API tests' fake pipeline (tests/api/conftest.py).
Screenshots of each page go to ``docs/img/webapp-*.png`` when ``CXLENS_WEB_SCREENSHOTS=1``."""
from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.api.conftest import FakeStore, Keys, make_settings
from tests.web.conftest import DEMO_COMMENTS, REPO

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])")

CANDIDATES = [os.environ.get("CXLENS_CHROMIUM") or "", "/usr/bin/chromium", "/usr/bin/chromium-browser",
              "/usr/bin/google-chrome", shutil.which("chromium") or "", shutil.which("chromium-browser") or ""]
CHROMIUM = next((c for c in CANDIDATES if c and Path(c).is_file() and os.access(c, os.X_OK)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary found (apt-get install -y chromium, "
                                                          "or set CXLENS_CHROMIUM)")
SHOTS = os.environ.get("CXLENS_WEB_SCREENSHOTS") == "1"
IMG = REPO / "docs" / "img"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn

    from api.main import create_app

    tmp = tmp_path_factory.mktemp("web-e2e")
    old = os.environ.get("CXLENS_DATA_DIR")
    os.environ["CXLENS_DATA_DIR"] = str(tmp / "data")  # the training service's datasets (module-scoped server)
    app = create_app(make_settings(tmp, job_chunk_size=10), loader=FakeStore())
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    end = time.monotonic() + 30
    while not srv.started and time.monotonic() < end:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    keys = Keys(app)
    yield {"base": f"http://localhost:{port}", "keys": keys, "app": app}
    srv.should_exit = True
    t.join(10)
    if old is None:
        os.environ.pop("CXLENS_DATA_DIR", None)
    else:
        os.environ["CXLENS_DATA_DIR"] = old


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    pg = ctx.new_page()
    pg.set_default_timeout(15000)
    outside: list[str] = []
    errors: list[str] = []
    base = server["base"]

    def route(r):  # every request must go to this server; anything else is recorded and blocked
        if r.request.url.startswith(base + "/") or r.request.url == base:
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    pg.route("**/*", route)
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.outside = outside
    pg.errors = errors
    yield pg
    ctx.close()


def shot(page, name: str) -> None:
    if SHOTS:
        IMG.mkdir(parents=True, exist_ok=True)
        path = IMG / f"webapp-{name}.png"
        page.screenshot(path=str(path), full_page=False)
        try:  # small files for the docs: a 256-colour palette
            from PIL import Image

            with Image.open(path) as im:
                im.convert("RGB").quantize(colors=256).save(path, optimize=True)
        except ImportError:
            pass


def sign_in(page, base: str, token: str) -> None:
    page.goto(base + "/")
    assert "/login" in page.url
    page.fill("#api_key", token)
    page.click("#signin")
    page.wait_for_load_state()
    assert page.url == base + "/waves", page.content()[-1500:]


def test_analyst_goes_from_a_csv_to_a_filtered_report_and_a_corrected_label(page, server):
    base, keys = server["base"], server["keys"]
    page.goto(base + "/lang/en?next=/login")
    shot(page, "login")
    sign_in(page, base, keys.analyst)
    # the session cookie is HttpOnly, SameSite=Strict and Secure
    cookie = next(c for c in page.context.cookies() if c["name"] == "cxlens_session")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie").find("cxlens_session") == -1

    # upload the demo wave, check the detected mapping, start
    page.set_input_files("#file", str(DEMO_COMMENTS))
    shot(page, "waves")
    page.click("#upload")
    page.wait_for_selector("#start-form")
    assert page.input_value("#map_company") == "company"
    assert page.input_value("#map_comment") == "text"
    shot(page, "preview")
    page.click("#start")
    page.wait_for_selector("#open-report", timeout=30000)  # the progress fragment polls the job
    assert page.text_content("#wave-status").strip().lower() == "done"
    assert page.get_attribute("#bar", "value") == page.get_attribute("#bar", "max")

    # the report, its chart, a filter applied on the server
    page.click("#open-report")
    page.wait_for_selector("#touchpoints")
    page.wait_for_selector("[data-vega='touchpoints'] svg")  # vega-embed drew the chart
    shot(page, "report")
    all_comments = int(page.text_content("#n-comments"))
    page.select_option("#f_touchpoint", "billing")  # submits on change
    page.wait_for_url("**touchpoint=billing**")
    assert page.input_value("#f_touchpoint") == "billing"
    filtered = int(page.text_content("#n-comments"))
    assert 0 < filtered < all_comments

    # drill down: the comments behind the negative billing count, evidence highlighted
    page.click("#touchpoints a[data-count='billing']")
    page.wait_for_selector("#comment-list li")
    marks = page.locator("#comment-list mark[data-tp='billing']")
    assert marks.count() == filtered
    assert all(m.lower().startswith(("сч", "invoice")) for m in marks.all_text_contents())
    shot(page, "comments")

    # correct a label in the review queue: sentiment by keyboard, a touchpoint, evidence by text selection
    page.goto(page.url.split("/comments")[0] + "/review")
    page.wait_for_selector("#review-form")
    text = page.text_content("#review-text")
    page.locator("#review-text").click()
    page.keyboard.press("4")  # mixed
    assert page.is_checked("input[name=sentiment][value=mixed]")
    word = text.split()[0]
    page.evaluate("""(n) => { const el = document.getElementById('review-text');
        const node = el.firstChild.nodeType === 3 ? el.firstChild : el.firstChild.firstChild;
        const r = document.createRange(); r.setStart(node, 0); r.setEnd(node, n);
        const s = window.getSelection(); s.removeAllRanges(); s.addRange(r); }""", len(word))
    page.click("button.use-selection[data-tp='price']")
    assert page.input_value("#ev_price") == f"0-{len(word)}"
    page.select_option("#tp_price", "negative")
    # the keyboard way: focus a touchpoint, select text, press E
    page.focus("#tp_delivery")
    page.evaluate("""(n) => { const el = document.getElementById('review-text');
        const node = el.firstChild.nodeType === 3 ? el.firstChild : el.firstChild.firstChild;
        const r = document.createRange(); r.setStart(node, 0); r.setEnd(node, n);
        const s = window.getSelection(); s.removeAllRanges(); s.addRange(r); }""", 3)
    page.keyboard.press("e")
    assert page.input_value("#ev_delivery") == "0-3" and page.input_value("#tp_delivery") == "negative"
    page.select_option("#tp_delivery", "")
    page.fill("#ev_delivery", "")
    shot(page, "review")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#saved")

    # the correction is listed as feedback, with who
    page.click("nav a[href='/feedback']")
    row = page.locator("#feedback tbody tr").first
    assert text in row.text_content()
    assert "analyst A" in row.text_content()
    assert word in row.text_content()  # the evidence span
    shot(page, "feedback")

    # the language switch
    page.click("a[lang=ru]")
    assert page.text_content("nav a[href='/waves']") == "Волны"
    page.click("a[lang=en]")

    page.click("#logout")
    page.wait_for_url("**/login")
    page.goto(base + "/waves")
    assert "/login" in page.url
    assert page.outside == []
    assert page.errors == []


def test_no_request_leaves_the_server(page, server):
    """Every page the app serves, in a real browser, loads nothing from outside (CDN, fonts, ...)."""
    base, keys = server["base"], server["keys"]
    sign_in(page, base, keys.admin)
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    # drag and drop the file onto the upload zone
    dt = page.evaluate_handle("""(text) => { const dt = new DataTransfer();
        dt.items.add(new File([text], 'dropped.csv', {type: 'text/csv'})); return dt; }""",
                              DEMO_COMMENTS.read_text(encoding="utf-8"))
    page.dispatch_event("#drop", "drop", {"dataTransfer": dt})
    assert page.text_content("#drop span") == "dropped.csv"
    page.click("#upload")
    page.wait_for_selector("#start-form")
    assert page.text_content("h1") == "dropped.csv"
    page.click("#start")
    page.wait_for_selector("#open-report", timeout=30000)
    page.click("#open-report")
    page.wait_for_selector("[data-vega='touchpoints'] svg")
    report = page.url
    for path in ("/waves", "/feedback", "/taxonomy", "/models", report.replace("/report", "/review"),
                 report.replace("/report", "/shortlist"), report.replace("/report", "/comments")):
        page.goto(path if path.startswith("http") else base + path)
        page.wait_for_load_state("networkidle")
        if path == "/models":
            shot(page, "models")
        if path == "/taxonomy":
            shot(page, "taxonomy")
    assert seen and all(u.startswith(base + "/") for u in seen)
    assert page.outside == []
    assert page.errors == []
