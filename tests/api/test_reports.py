"""Report routes: a wave upload -> report job -> JSON / HTML / XLSX (uses the cx layer)."""
import io
import json
import time
from importlib import resources

import pytest

cx_report = pytest.importorskip("cx.report", reason="cx.report (build_report) is not available")
if not hasattr(cx_report, "build_report"):  # pragma: no cover
    pytest.skip("cx.report.build_report is not available", allow_module_level=True)

WAVE = resources.files("cx.data").joinpath("demo/wave.csv").read_bytes()
#: the first 40 answers are enough for every section and keep the test fast
SMALL_WAVE = b"\n".join(WAVE.splitlines()[:41]) + b"\n"


def wait(client, url, h, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        j = client.get(url, headers=h).json()
        if j["status"] in ("done", "failed", "cancelled"):
            return j
        time.sleep(0.05)
    raise AssertionError(f"report did not finish: {j}")


def submit(client, h, data=SMALL_WAVE, name="wave.csv", options=None):
    form = {"options": json.dumps(options)} if options is not None else {}
    return client.post("/v1/reports", files={"file": (name, data, "text/csv")}, data=form, headers=h)


def test_report_job_json_html_xlsx(client, keys):
    h = keys.h(keys.analyst)
    r = submit(client, h, options={"lang": "en", "min_n": 3})
    assert r.status_code == 202, r.text
    url = r.headers["location"]
    assert url == f"/v1/reports/{r.json()['id']}"
    rep = wait(client, url, h)
    assert rep["status"] == "done", rep
    report = rep["report"]
    assert report["schema_version"]
    assert report["meta"]["model"] == {"name": "fake-model", "version": "1"}
    assert report["meta"]["source"] == "wave.csv"  # the client's file name, not the spool path
    assert report["meta"]["lang"] == "en"
    assert report["summary"]["n_answers"] == 40  # the 40 answers of the upload
    r = client.get(url + ".html", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<html" in r.text.lower()
    assert "wave.csv" in r.text or "fake-model" in r.text
    r = client.get(url + ".xlsx", headers=h)
    assert r.status_code == 200
    assert r.content[:2] == b"PK"  # a zip container
    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert len(wb.sheetnames) >= 2
    # others cannot see it
    other = keys.h(keys.other)
    for path in (url, url + ".html", url + ".xlsx"):
        assert client.get(path, headers=other).status_code == 404
    assert client.get(url, headers=keys.h(keys.admin)).status_code == 200
    listed = client.get("/v1/reports", headers=h).json()
    assert [x["id"] for x in listed] == [rep["id"]] and listed[0]["report"] is None


def test_report_errors(client, keys):
    h = keys.h(keys.analyst)
    r = submit(client, h, options={"no_such_option": 1})
    assert r.status_code == 422 and "no_such_option" in r.json()["error"]["message"]
    r = submit(client, h, options={"taxonomy": "/etc/passwd"})
    assert r.status_code == 422 and "file paths" in r.json()["error"]["message"]
    r = client.post("/v1/reports", files={"file": ("w.csv", SMALL_WAVE, "text/csv")}, data={"options": "{bad"},
                    headers=h)
    assert r.status_code == 422
    r = submit(client, h, name="wave.pdf")
    assert r.status_code == 415
    r = client.post("/v1/reports", json={"file": "x"}, headers=h)
    assert r.status_code == 415
    r = submit(client, h, data=b"")
    assert r.status_code == 422
    assert client.get("/v1/reports/nope", headers=h).status_code == 404
    assert client.get("/v1/reports/nope.html", headers=h).status_code == 404


def test_report_of_a_broken_wave_fails_with_a_reason_without_server_paths(client, keys):
    h = keys.h(keys.analyst)
    r = submit(client, h, data="Компания;Контакт\n".encode("utf-8"), name="пустая волна.csv")
    assert r.status_code == 202
    rep = wait(client, r.headers["location"], h)
    assert rep["status"] == "failed"
    assert rep["error"]
    spool = str(client.app.state.settings.spool_dir)
    assert spool not in rep["error"]
    r = client.get(r.headers["location"] + ".html", headers=h)
    assert r.status_code == 409 and r.json()["error"]["code"] == "report_not_done"
