"""Waves: upload, preview with the detected mapping, mapping changes, start -> a classify job with
progress, per-row errors with the good rows processed; escaping of user text."""
from __future__ import annotations

import io
import json
import re

import openpyxl

from api.models_db import Job, Report
from api.web.db import Wave
from tests.web.conftest import DEMO_COMMENTS

EVIL = "<script>alert(1)</script>"


def _wave_id(r) -> str:
    assert r.status_code == 303, r.text
    return r.headers["location"].rsplit("/", 1)[1]


def test_upload_shows_a_preview_with_the_detected_columns(analyst):
    wave_id = _wave_id(analyst.upload(DEMO_COMMENTS))
    page = analyst.get(f"/waves/{wave_id}").text
    assert "Rows in the file" in page or "Строк в файле" in page
    assert '<option value="company" selected>' in page.split('id="map_company"')[1].split("</select>")[0]
    assert '<option value="text" selected>' in page.split('id="map_comment"')[1].split("</select>")[0]
    assert "ООО «ТехноПром»" in page  # first rows shown
    assert wave_id in analyst.get("/waves").text


def test_start_queues_a_classify_job_and_the_progress_comes_from_it(analyst, app):
    wave_id = _wave_id(analyst.upload(DEMO_COMMENTS))
    assert analyst.start(wave_id).status_code == 303
    prog = analyst.wait_done(wave_id)
    assert prog["status"] == "done"
    assert prog["job"]["progress"]["done"] == prog["job"]["progress"]["total"] == 25
    assert prog["job"]["progress"]["eta_s"] == 0
    with app.state.sessionmaker() as s:
        wave = s.get(Wave, wave_id)
        job = s.get(Job, wave.job_id)
        rep = s.get(Report, wave.report_id)
        assert job.status == "done" and job.ok_count == 25 and job.model_name == "fake-model"
        assert rep.status == "done" and json.loads(rep.result)["summary"]["n_comments"] == 25
    frag = analyst.get(f"/waves/{wave_id}/progress").text
    assert 'id="open-report"' in frag and 'value="25"' in frag and "hx-trigger" not in frag


def test_the_stored_report_is_the_apis_too(analyst, keys):
    analyst.run_wave()
    reps = analyst.c.get("/v1/reports", headers=keys.h(keys.analyst)).json()
    assert len(reps) == 1 and reps[0]["status"] == "done" and reps[0]["input_name"] == "comments.csv"
    assert analyst.c.get(f"/v1/reports/{reps[0]['id']}.xlsx", headers=keys.h(keys.analyst)).status_code == 200
    assert analyst.c.get("/v1/reports", headers=keys.h(keys.other)).json() == []


def test_the_waves_list_catches_up_with_jobs_that_finished_unwatched(analyst, app):
    wave_id = _wave_id(analyst.upload(DEMO_COMMENTS))
    analyst.start(wave_id)
    from api.services.jobs import wait_for

    with app.state.sessionmaker() as s:
        job_id = s.get(Wave, wave_id).job_id
    assert wait_for(lambda: _job_status(app, job_id) == "done", timeout=30)
    page = analyst.get("/waves").text
    assert f'href="/waves/{wave_id}/report"' in page


def _job_status(app, job_id):
    with app.state.sessionmaker() as s:
        return s.get(Job, job_id).status


def test_a_running_wave_polls_its_progress(analyst, app):
    app.state.worker.stop()  # nothing runs the job: it stays queued
    wave_id = _wave_id(analyst.upload(DEMO_COMMENTS))
    analyst.start(wave_id)
    frag = analyst.get(f"/waves/{wave_id}/progress").text
    assert 'hx-get="/waves/' in frag and 'hx-trigger="every 1s"' in frag
    assert 'value="0"' in frag and 'max="25"' in frag
    r = analyst.post(f"/waves/{wave_id}/start")
    assert r.status_code == 422 and "<code>wave</code>" in r.text  # started once only
    assert analyst.get(f"/waves/{wave_id}/report").status_code == 422


def test_the_analyst_can_change_the_mapping(analyst, app):
    csv = "Клиент;Кто;Отзыв;Прочее\nООО А;Иван;Счета с ошибками;x\nООО Б;Пётр;Менеджер отличный;y\n"
    wave_id = _wave_id(analyst.upload(DEMO_COMMENTS, name="w.csv", content=csv.encode()))
    # the comment is in "Прочее" by the analyst's choice
    assert analyst.start(wave_id, mapping={"comment": "Прочее"}).status_code == 303
    analyst.wait_done(wave_id)
    with app.state.sessionmaker() as s:
        opts = json.loads(s.get(Wave, wave_id).options)
    assert opts["columns"]["comment"] == "Прочее" and opts["mapping"]["comment"] == "Прочее"
    page = analyst.get(f"/waves/{wave_id}/comments").text
    assert re.findall(r'<p class="text" lang="\w*">([^<]*)</p>', page) == ["x", "y"]


def test_bad_mappings_name_the_field(analyst):
    wave_id = _wave_id(analyst.upload(DEMO_COMMENTS))
    r = analyst.start(wave_id, mapping={"company": "no such column"})
    assert r.status_code == 422 and "<code>map_company</code>" in r.text
    r = analyst.start(wave_id, mapping={"company": ""})
    assert r.status_code == 422 and "<code>map_company</code>" in r.text
    r = analyst.start(wave_id, mapping={"contact": "company"})
    assert r.status_code == 422 and "<code>mapping</code>" in r.text
    r = analyst.start(wave_id, report_lang="de")
    assert r.status_code == 422 and "<code>report_lang</code>" in r.text


def test_bad_uploads_name_the_field_and_never_500(analyst):
    r = analyst.upload(DEMO_COMMENTS, name="wave.pdf", content=b"%PDF-1.4")
    assert r.status_code == 422 and "<code>file</code>" in r.text
    r = analyst.upload(DEMO_COMMENTS, name="wave.csv", content=b"")
    assert r.status_code == 422 and "<code>file</code>" in r.text
    r = analyst.c.post("/waves", data={"csrf_token": analyst.csrf}, follow_redirects=False)
    assert r.status_code in (415, 422)
    r = analyst.c.post("/waves", content=b"--x\r\nbroken", headers={"Content-Type": "multipart/form-data; boundary=x"},
                       follow_redirects=False)
    assert r.status_code in (400, 403, 422)
    assert analyst.get("/waves/nope").status_code == 404


def test_rows_with_errors_are_listed_and_the_good_rows_processed(analyst):
    csv = ("company;contact;NPS;comment\n"
           "ООО А;Иван;11;Счета с ошибками\n"       # score out of range: excluded, row kept
           ";Пётр;9;Менеджер отличный\n"            # no company: skipped
           "ООО Б;Анна;7;Доставка опять задержалась\n")
    wave_id = _wave_id(analyst.upload(DEMO_COMMENTS, name="errors.csv", content=csv.encode()))
    analyst.start(wave_id)
    prog = analyst.wait_done(wave_id)
    fields = {e["field"] for e in prog["row_errors"]}
    assert "NPS" in fields and "company" in {f.lower() for f in fields if f}
    page = analyst.get(f"/waves/{wave_id}").text
    assert 'id="row-errors"' in page and "11" in page
    report = analyst.get(f"/waves/{wave_id}/download/json").json()
    assert report["summary"]["n_answers"] == 2


def test_xlsx_waves_are_read(analyst):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Компания", "Комментарий"])
    ws.append(["ООО А", "Счета с ошибками"])
    ws.append(["ООО Б", "Менеджер отличный"])
    buf = io.BytesIO()
    wb.save(buf)
    wave_id = _wave_id(analyst.upload(DEMO_COMMENTS, name="wave.xlsx", content=buf.getvalue()))
    analyst.start(wave_id)
    assert analyst.wait_done(wave_id)["status"] == "done"
    assert analyst.get(f"/waves/{wave_id}/download/json").json()["summary"]["n_comments"] == 2


def test_user_text_is_escaped_everywhere(analyst):
    csv = f"company;contact;comment\n{EVIL};<b>bold</b>;Счета {EVIL} <img src=x onerror=alert(2)>\nООО Б;Анна;Менеджер\n"
    wave_id = _wave_id(analyst.upload(DEMO_COMMENTS, name=f"{EVIL}.csv", content=csv.encode()))
    pages = [analyst.get(f"/waves/{wave_id}").text, analyst.get("/waves").text]
    analyst.start(wave_id)
    analyst.wait_done(wave_id)
    pages += [analyst.get(f"/waves/{wave_id}/report").text,
              analyst.get(f"/waves/{wave_id}/comments").text,
              analyst.get(f"/waves/{wave_id}/comments?touchpoint_id=billing").text,
              analyst.get(f"/waves/{wave_id}/review").text,
              analyst.get(f"/waves/{wave_id}/report", params={"company": EVIL}).text]
    for page in pages:
        assert EVIL not in page and "<img src=x" not in page and "<b>bold</b>" not in page
        assert "&lt;script&gt;" in page or "\\u003cscript" in page


def test_a_wave_whose_report_cannot_be_built_fails_with_the_reason_and_can_be_started_again(analyst, app):
    from pathlib import Path

    app.state.worker.stop()
    wave_id = _wave_id(analyst.upload(DEMO_COMMENTS))
    analyst.start(wave_id)
    with app.state.sessionmaker() as s:
        wave_file = Path(s.get(Wave, wave_id).input_path)
    kept = wave_file.read_bytes()
    wave_file.unlink()  # the wave file vanished from the spool before the report was built
    app.state.worker.start()
    prog = analyst.wait_done(wave_id)
    assert prog["status"] == "failed" and "no longer on the server" in prog["error"]
    assert "/" not in prog["error"].split("found")[-1].replace("comments.csv", "")  # no server path
    wave_file.write_bytes(kept)
    page = analyst.get(f"/waves/{wave_id}").text
    assert 'id="start-form"' in page and "no longer on the server" in page
    again = analyst.start(wave_id)
    assert again.status_code == 303, re.search(r'class="error"[^>]*>(.*?)</div>', again.text, re.S).group(1)
    assert analyst.wait_done(wave_id)["status"] == "done"
