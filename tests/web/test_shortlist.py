"""The interview shortlist with contacted / interviewed marks and notes (table web_shortlist_marks)."""
from __future__ import annotations

import re

import pytest

from api.web.db import ShortlistMark
from tests.web.conftest import DEMO_WAVE


@pytest.fixture(scope="module")
def _unused():  # (module fixtures cannot use the function-scoped app)
    return None


def test_marks_and_notes_are_stored_with_who_and_when(analyst, other, app):
    wave = analyst.run_wave(DEMO_WAVE)
    page = analyst.get(f"/waves/{wave}/shortlist").text
    first = re.search(r'name="company" value="([^"]*)">\s*<input type="hidden" name="contact" value="([^"]*)"', page)
    assert first, "the demo wave has red-zone contacts to interview"
    company, contact = (s.replace("&#34;", '"').replace("&amp;", "&") for s in first.groups())
    assert "Questions" in page or "Вопросы" in page
    note = "Позвонить во вторник <b>срочно</b>"
    r = analyst.post(f"/waves/{wave}/shortlist", {"company": company, "contact": contact, "contacted": "on",
                                                  "note": note})
    assert r.status_code == 303
    with app.state.sessionmaker() as s:
        m = s.query(ShortlistMark).one()
        assert (m.company, m.contact, m.contacted, m.interviewed, m.note, m.updated_by) == \
            (company, contact, True, False, note, "analyst A")
    page = analyst.get(f"/waves/{wave}/shortlist").text
    assert "Позвонить во вторник &lt;b&gt;срочно&lt;/b&gt;" in page and "<b>срочно</b>" not in page
    assert 'name="contacted" checked' in page
    analyst.post(f"/waves/{wave}/shortlist", {"company": company, "contact": contact, "interviewed": "on", "note": ""})
    with app.state.sessionmaker() as s:
        m = s.query(ShortlistMark).one()
        assert (m.contacted, m.interviewed, m.note) == (False, True, "")
    assert other.post(f"/waves/{wave}/shortlist", {"company": company, "contact": contact}).status_code == 404


def test_only_shortlisted_contacts_can_be_marked(analyst):
    wave = analyst.run_wave()
    r = analyst.post(f"/waves/{wave}/shortlist", {"company": "Nobody", "contact": "X", "contacted": "on"})
    assert r.status_code == 422 and "<code>contact</code>" in r.text
    page = analyst.get(f"/waves/{wave}/shortlist").text
    assert "Nobody to interview" in page or "некого опрашивать" in page
