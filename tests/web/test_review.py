"""Review queue and corrections: stored in the analyst's own feedback dataset with who and when; the
corrections page lists them; bad values name their field."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from api.services.auth import Principal
from api.services.training import own_feedback_dataset


@pytest.fixture
def wave(analyst) -> str:
    return analyst.run_wave()


def _item(page: str) -> tuple[str, str]:
    doc_id = re.search(r'name="doc_id" value="([^"]+)"', page).group(1)
    text = re.sub(r"<[^>]+>", "", re.search(r'id="review-text"[^>]*>(.*?)</p>', page, re.S).group(1))
    return doc_id, text


def test_the_queue_puts_uncertain_comments_first(analyst, wave):
    first = analyst.get(f"/waves/{wave}/review").text
    assert "1 / 25" in first
    doc_id, _ = _item(first)
    # the fake model has no probability heads: the queue falls back to the stored confidences, and a
    # touchpoint found at 0.9 is less certain than no touchpoint at all (same sentiment margin everywhere)
    assert 'class="predicted"' in first
    last = analyst.get(f"/waves/{wave}/review?i=24").text
    assert "25 / 25" in last and _item(last)[0] != doc_id and 'class="predicted"' not in last
    assert "25 / 25" in analyst.get(f"/waves/{wave}/review?i=999").text
    assert analyst.get(f"/waves/{wave}/review?i=x").status_code == 422


def test_a_correction_is_stored_as_feedback_with_who_and_when(analyst, wave, app, keys):
    page = analyst.get(f"/waves/{wave}/review").text
    doc_id, text = _item(page)
    r = analyst.post(f"/waves/{wave}/review", {"doc_id": doc_id, "i": "0", "sentiment": "negative",
                                                "tp_price": "negative", "ev_price": "0-5", "tp_billing": ""})
    assert r.status_code == 303 and r.headers["location"] == f"/waves/{wave}/review?i=1&saved={doc_id}"
    assert 'id="saved"' in analyst.get(r.headers["location"]).text
    # the per-key feedback dataset of the API (POST /v1/feedback's service)
    name = own_feedback_dataset(Principal(key_id=keys.analyst_row.id, role="analyst"))
    log = Path(app.state.training.datasets.root) / name / "feedback.jsonl"
    rec = json.loads(log.read_text(encoding="utf-8").splitlines()[-1])
    assert rec["by"] == "analyst A" and rec["key"] == keys.analyst_row.id and rec["at"]
    assert rec["row"]["text"] == text and rec["row"]["sentiment"] == "negative"
    assert rec["row"]["aspects"] == [{"category": "price", "polarity": "negative", "from": 0, "to": 5,
                                      "target": text[:5]}]
    listed = analyst.get("/feedback").text
    assert name in listed and text in listed and "analyst A" in listed and f"«{text[:5]}»" in listed
    # visible to the API as the analyst's dataset
    ds = analyst.c.get("/v1/datasets", headers={"Authorization": f"Bearer {keys.analyst}"}).json()
    assert [d["name"] for d in ds] == [name] and ds[0]["rows"] == 1


def test_other_analysts_do_not_see_the_corrections(analyst, other, wave):
    doc_id, _ = _item(analyst.get(f"/waves/{wave}/review").text)
    analyst.post(f"/waves/{wave}/review", {"doc_id": doc_id, "sentiment": "positive"})
    assert "No corrections yet." in other.get("/feedback").text or "Исправлений пока нет." in other.get("/feedback").text
    r = other.get("/feedback?dataset=" + own_feedback_dataset(Principal(key_id="x" * 32, role="analyst")))
    assert r.status_code == 422 and "<code>dataset</code>" in r.text


@pytest.mark.parametrize("fields, field", [
    ({"sentiment": "angry"}, "sentiment"),
    ({}, "sentiment"),
    ({"sentiment": "negative", "tp_price": "furious"}, "tp_price"),
    ({"sentiment": "negative", "tp_price": "negative", "ev_price": "abc"}, "ev_price"),
    ({"sentiment": "negative", "tp_price": "negative", "ev_price": "5-99999"}, "ev_price"),
    ({"sentiment": "negative", "tp_price": "negative", "ev_price": "9-3"}, "ev_price"),
    ({"sentiment": "negative", "tp_nonsense": "negative"}, "tp_nonsense"),
    ({"sentiment": "negative", "doc_id": "no-such-id"}, "doc_id"),
])
def test_bad_corrections_name_the_field(analyst, wave, fields, field):
    doc_id, _ = _item(analyst.get(f"/waves/{wave}/review").text)
    r = analyst.post(f"/waves/{wave}/review", {"doc_id": doc_id, **fields})
    assert r.status_code == 422 and f"<code>{field}</code>" in r.text
    assert "No corrections yet." in analyst.get("/feedback").text or "Исправлений пока нет." in analyst.get("/feedback").text


def test_the_review_page_has_keyboard_shortcuts_and_selection_evidence(analyst, wave):
    page = analyst.get(f"/waves/{wave}/review?i=0").text
    assert 'data-key="1"' in page and 'data-key="4"' in page and "<kbd>Ctrl+Enter</kbd>" in page
    assert 'class="link use-selection" data-tp="billing"' in page
    # a predicted touchpoint comes with its polarity and evidence offsets filled in
    pred = re.search(r'<select id="tp_(\w+)"[^>]*>(?:(?!</select>).)*selected', page, re.S)
    assert pred is not None
    ev = re.search(rf'id="ev_{pred.group(1)}"[^>]*value="(\d+)-(\d+)"', page)
    assert ev and int(ev.group(1)) < int(ev.group(2))
