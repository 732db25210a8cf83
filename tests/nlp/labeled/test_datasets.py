"""Labeled-data import (every format, broken rows), the dataset store, the evaluation split,
taxonomy mappings and feedback (issue #7)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import main
from nlp.labeled.datasets import (DatasetStore, apply_mapping, check_taxonomy_change, detect_labeled_format,
                                 is_eval_row, parse_mapping, read_labeled_file, record_feedback, split_eval)
from nlp.errors import DataError
from nlp.schema import Aspect, Example
from nlp.taxonomy import load_taxonomy

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "retrain"
IDS = load_taxonomy().ids


def _summary(examples):
    return [(e.id, e.sentiment, None if e.aspects is None else [(a.category, a.polarity, a.start, a.end) for a in e.aspects])
            for e in examples]


def _reasons(errors):
    return [(e.row, e.reason or "", e.field) for e in errors]


def test_analyst_csv_keeps_good_rows_and_names_every_bad_one():
    ex, err = read_labeled_file(FIX / "analyst.csv", labels=IDS)
    assert _summary(ex) == [
        ("a1", "negative", [("billing", "negative", None, None)]),
        ("a2", "positive", [("field_service", "positive", None, None)]),
        ("a3", "mixed", [("customer_service", "positive", None, None), ("delivery", "negative", None, None)]),
        ("a7", "neutral", []),  # '-' = no touchpoint present
    ]
    assert ex[0].extra == {"company": "ООО Ромашка"}  # other columns pass through
    rows = {e.row: (e.reason, e.field, e.found) for e in err}
    assert rows == {
        4: ("unknown label", "aspects[0].category", "pricing"),
        5: (None, "aspects[0].polarity", "great"),
        6: ("empty text", "text", ""),
        7: ("duplicate id", "id", "a2"),
        9: ("row has no labels", "sentiment/touchpoints", None),
    }
    assert all(str(FIX / "analyst.csv") in str(e) for e in err)


def test_jsonl_evidence_must_be_in_the_text():
    ex, err = read_labeled_file(FIX / "labeled.jsonl", labels=IDS)
    assert [e.id for e in ex] == ["j1", "j2"]
    text = ex[0].text
    assert [text[a.start:a.end] for a in ex[0].aspects] == [
        "The engineer fixed the boiler on the first visit", "the invoice was wrong"]
    assert [(e.row, e.reason) for e in err] == [(3, "evidence not in text"), (4, "invalid JSON: Expecting ',' delimiter"),
                                                (5, None)]
    assert err[2].field == "sentiment" and err[2].found == "great"


def test_xlsx_same_columns_as_csv(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["id", "text", "sentiment", "touchpoints"])
    ws.append([101, "Счёт выставили дважды", "Negative", "billing:negative"])
    ws.append([102, "Курьер приехал вовремя", "positive", "delivery:positive"])
    ws.append([None, None, None, None])  # empty row: skipped silently
    ws.append([103, "Вежливый менеджер", "positive", "customer_service:kind"])
    ws.append([101, "Повтор", "neutral", "-"])
    path = tmp_path / "labels.xlsx"
    wb.save(path)
    assert detect_labeled_format(path) == "xlsx"
    ex, err = read_labeled_file(path, labels=IDS)
    assert _summary(ex) == [("101", "negative", [("billing", "negative", None, None)]),
                            ("102", "positive", [("delivery", "positive", None, None)])]
    assert [(e.row, e.field, e.found) for e in err] == [(4, "aspects[0].polarity", "kind"), (5, "id", "101")]


def test_label_studio_export_mapping():
    path = FIX / "labelstudio_export.json"
    assert detect_labeled_format(path) == "labelstudio"
    ex, err = read_labeled_file(path, labels=IDS)
    assert _summary(ex) == [
        # span labels 'touchpoint:polarity', and a span label + per-region polarity choice (same region id)
        ("ls-1", "mixed", [("billing", "negative", 0, 30), ("field_service", "positive", 32, 59)]),
        # two annotations: the latest (updated_at) wins
        ("102", "positive", [("delivery", "positive", None, None)]),
        # sentiment only, in a file that has touchpoints: none present
        ("103", "neutral", []),
    ]
    assert ex[0].text[0:30] == "Бухгалтер выставил счёт дважды"
    assert [(e.row, e.reason) for e in err] == [
        (4, "task not annotated (no annotation that is not cancelled)"),
        (5, "task not annotated (no annotation that is not cancelled)"),
        (6, "unknown label"), (7, "evidence not in text"), (8, "touchpoint without polarity")]


def test_argilla_v2_export_mapping():
    path = FIX / "argilla_export.json"
    assert detect_labeled_format(path) == "argilla"
    ex, err = read_labeled_file(path, labels=IDS)
    assert _summary(ex) == [
        ("rec-1", "positive", [("tech_support", "positive", None, None)]),  # 2 of 3 annotators said positive
        ("rec-2", "negative", [("sales", "negative", None, None), ("price", "neutral", None, None)]),
        ("rec-7", "neutral", []),
    ]
    assert ex[0].lang == "ru"  # from metadata
    assert [(e.row, e.reason, e.field) for e in err] == [
        (3, "record has no submitted response", "responses"),  # a draft is not a label
        (4, "empty text", "text"), (5, None, "aspects[0].polarity"), (6, "duplicate id", "id")]


def test_argilla_v1_feedback_shape_is_read_too(tmp_path):
    path = tmp_path / "v1.json"
    path.write_text(json.dumps([{"fields": {"text": "Support was quick"}, "external_id": "x1",
                                 "responses": [{"user_id": "u", "status": "submitted",
                                                "values": {"sentiment": {"value": "positive"},
                                                           "touchpoints": {"value": ["tech_support:positive"]}}}]}]))
    ex, err = read_labeled_file(path, fmt="argilla", labels=IDS)
    assert err == [] and _summary(ex) == [("x1", "positive", [("tech_support", "positive", None, None)])]


def test_store_hash_rows_distribution_and_idempotent_reimport(tmp_path):
    store = DatasetStore(tmp_path / "datasets")
    res = store.import_file(FIX / "analyst.csv", name="acme", taxonomy=load_taxonomy())
    assert res.rows == 4 and len(res.errors) == 5 and not res.unchanged
    stored = tmp_path / "datasets" / "acme" / f"{res.hash}.jsonl"
    assert stored.exists() and len(res.hash) == 64
    assert len(stored.read_text(encoding="utf-8").splitlines()) == 4
    meta = json.loads((tmp_path / "datasets" / "acme" / "meta.json").read_text(encoding="utf-8"))
    entry = meta["versions"][0]
    assert meta["current"] == res.hash and entry["rows"] == 4 and entry["skipped_rows"] == 5
    assert entry["label_distribution"]["touchpoints"] == {"billing": 1, "customer_service": 1, "delivery": 1,
                                                          "field_service": 1}
    assert entry["label_distribution"]["sentiment"] == {"mixed": 1, "negative": 1, "neutral": 1, "positive": 1}
    assert entry["taxonomy"]["ids"] == IDS
    again = store.import_file(FIX / "analyst.csv", name="acme", taxonomy=load_taxonomy())
    assert again.unchanged and again.hash == res.hash
    loaded, info = store.load("acme")
    assert [e.id for e in loaded] == ["a1", "a2", "a3", "a7"] and info["hash"] == res.hash
    assert store.load(f"acme@{res.hash[:8]}")[1]["hash"] == res.hash
    assert [r["name"] for r in store.list()] == ["acme"]
    with pytest.raises(DataError, match="no dataset named 'nope'"):
        store.load("nope")


def test_eval_split_is_fixed_by_text_and_about_a_fifth():
    texts = [f"comment number {i} about delivery" for i in range(2000)]
    share = sum(is_eval_row(t) for t in texts) / len(texts)
    assert 0.18 < share < 0.22
    # the same text lands on the same side whatever the case, spacing, id or order
    assert [is_eval_row(t) for t in texts[:50]] == [is_eval_row("  " + t.upper()) for t in texts[:50]]
    ex = [Example(text=t, sentiment="neutral", id=str(i)) for i, t in enumerate(texts[:100])]
    tr1, ev1 = split_eval(ex)
    tr2, ev2 = split_eval(list(reversed(ex)))
    assert {e.text for e in ev1} == {e.text for e in ev2} and not {e.text for e in tr1} & {e.text for e in ev1}


def test_taxonomy_changes_need_a_mapping():
    old = ["billing", "premises", "brand"]
    assert check_taxonomy_change(old, old + ["packaging"], {}) == {"added": ["packaging"], "removed": [], "mapping": {}}
    with pytest.raises(DataError, match="removed from the taxonomy without a mapping: premises"):
        check_taxonomy_change(old, ["billing", "offices", "brand"], {})
    m = parse_mapping(["premises=offices"])
    assert check_taxonomy_change(old, ["billing", "offices", "brand"], m)["removed"] == ["premises"]
    with pytest.raises(DataError, match="targets not in the taxonomy: office"):
        check_taxonomy_change(old, ["billing", "offices", "brand"], {"premises": "office"})
    assert parse_mapping(["brand="]) == {"brand": None}
    with pytest.raises(DataError, match="OLD=NEW"):
        parse_mapping(["brand"])
    ex = [Example(text="x", aspects=[Aspect("premises", "negative", 0, 1), Aspect("brand", "positive")])]
    out = apply_mapping(ex, {"premises": "offices", "brand": None})
    assert [(a.category, a.polarity, a.start) for a in out[0].aspects] == [("offices", "negative", 0)]
    # mapping applied at import, before the label check
    rows, errors = read_labeled_file(FIX / "analyst.csv", labels=IDS, mapping={"pricing": "price"})
    assert ("a4", "negative", [("price", "negative", None, None)]) in _summary(rows)


def test_feedback_becomes_the_feedback_dataset(tmp_path):
    store = DatasetStore(tmp_path / "ds")
    texts = {"p1": "Счета приходят с ошибками"}
    items = [
        {"id": "p1", "sentiment": "negative", "touchpoints": [{"touchpoint": "billing", "polarity": "negative",
                                                               "evidence": {"start": 0, "end": 5, "text": "Счета"}}]},
        {"text": "Инженер молодец", "sentiment": {"label": "positive"}, "touchpoints": "field_service:positive"},
        {"text": "Только тональность", "sentiment": "neutral"},  # touchpoints not corrected: not annotated
        {"id": "unknown-id", "sentiment": "neutral"},
        {"text": "Плохо", "touchpoints": [{"touchpoint": "website", "polarity": "negative"}]},
    ]
    res = record_feedback(items, store=store, taxonomy=load_taxonomy(), texts=texts)
    assert res.rows == 3
    assert [(e.row, e.reason or e.field) for e in res.errors] == [
        (4, "unknown prediction id: pass the comment's text or the input file (--texts)"), (5, "unknown label")]
    ex, _ = store.load("feedback")
    assert _summary(ex) == [("p1", "negative", [("billing", "negative", 0, 5)]),
                            (ex[1].id, "positive", [("field_service", "positive", None, None)]),
                            (ex[2].id, "neutral", None)]
    # a later correction of the same comment replaces the earlier one; the dataset gets a new version
    res2 = record_feedback([{"text": "инженер   МОЛОДЕЦ", "sentiment": "mixed", "touchpoints": []}], store=store)
    ex2, _ = store.load("feedback")
    assert res2.hash != res.hash and len(ex2) == 3
    assert [e.sentiment for e in ex2 if e.text.lower().startswith("инженер")] == ["mixed"]


def test_cli_datasets_import_list_and_strict(tmp_path, capsys):
    data = tmp_path / "data"
    rc = main(["datasets", "import", str(FIX / "labelstudio_export.json"), "--name", "ls", "--data-dir", str(data),
               "--models-dir", str(tmp_path / "models"), "--errors", str(tmp_path / "bad.jsonl")])
    out, err = capsys.readouterr()
    assert rc == 0
    assert "3 rows stored, 5 bad rows skipped" in out
    assert err.count("bad row:") == 5 and "row 6, field 'aspects[0].category': unknown label" in err
    bad = [json.loads(line) for line in (tmp_path / "bad.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [b["row"] for b in bad] == [4, 5, 6, 7, 8]
    assert main(["datasets", "list", "--json", "--data-dir", str(data)]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["rows"]) for r in listed] == [("ls", 3)]
    rc = main(["datasets", "import", str(FIX / "analyst.csv"), "--name", "acme", "--strict", "--data-dir", str(data),
               "--models-dir", str(tmp_path / "models")])
    assert rc == 2 and "5 bad rows (--strict): nothing imported" in capsys.readouterr().err
    assert not (data / "datasets" / "acme").exists()


def test_cli_feedback_resolves_ids_from_the_input_file(tmp_path, capsys):
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"id": "c1", "text": "Доставка опоздала"}\n', encoding="utf-8")
    fb = tmp_path / "fb.jsonl"
    fb.write_text('{"id": "c1", "sentiment": "negative", "touchpoints": ["delivery:negative"]}\n', encoding="utf-8")
    rc = main(["feedback", str(fb), "--texts", str(inp), "--data-dir", str(tmp_path / "data"),
               "--models-dir", str(tmp_path / "models"), "--taxonomy", str(FIX / "taxonomy_packaging.yaml")])
    assert rc == 0 and "1 corrections recorded" in capsys.readouterr().out
    ex, _ = DatasetStore(tmp_path / "data" / "datasets").load("feedback")
    assert _summary(ex) == [("c1", "negative", [("delivery", "negative", None, None)])]


def test_concurrent_corrections_are_all_kept(tmp_path):
    import threading

    store = DatasetStore(tmp_path / "ds")
    errors = []

    def send(k):
        try:
            record_feedback([{"text": f"Комментарий {k}", "sentiment": "neutral", "touchpoints": []}], store=store)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=send, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ex, _ = store.load("feedback")
    assert not errors and sorted(e.text for e in ex) == sorted(f"Комментарий {k}" for k in range(8))


def test_feedback_is_an_append_only_log_with_who_and_when(tmp_path):
    store = DatasetStore(tmp_path / "ds")
    for k in range(5):
        record_feedback([{"text": f"Комментарий номер {k}", "sentiment": "neutral", "touchpoints": []}],
                        store=store, by="qa", key="k1")
    d = store.root / "feedback"
    assert sorted(p.name for p in d.iterdir() if not p.name.startswith(".")) == ["feedback.jsonl", "meta.json"]
    meta = store.meta("feedback")
    assert meta["kind"] == "feedback" and meta["owner"] == "k1" and meta["contributors"]["k1"]["rows"] == 5
    assert [v["log_rows"] for v in meta["versions"]] == [1, 2, 3, 4, 5]
    ex, entry = store.load("feedback@" + meta["versions"][1]["hash"][:16])
    assert [e.text for e in ex] == ["Комментарий номер 0", "Комментарий номер 1"] and entry["rows"] == 2
    assert all(e.extra["by"] == "qa" and e.extra["at"] for e in ex)
    log = [json.loads(line) for line in (d / "feedback.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["key"] for r in log] == ["k1"] * 5


def test_legacy_full_copy_feedback_becomes_a_log_and_imports_never_take_corrections(tmp_path):
    store = DatasetStore(tmp_path / "ds")
    res = record_feedback([{"text": "Счёт с ошибкой", "sentiment": "negative"}], store=store)
    # a dataset written before kinds existed: full copies, format "feedback", no "kind"
    ex, _ = store.load("feedback")
    meta_path = store.root / "legacy" / "meta.json"
    store.save("legacy", ex, source="old", fmt="feedback")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta.pop("kind")
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    record_feedback([{"text": "Доставка вовремя", "sentiment": "positive"}], store=store, name="legacy")
    ex2, entry = store.load("legacy")
    assert [e.text for e in ex2] == ["Счёт с ошибкой", "Доставка вовремя"] and entry["log_rows"] == 2
    # an imported dataset never receives corrections, and an import never overwrites a feedback dataset
    store.import_file(FIX / "analyst.csv", name="acme", mapping={"pricing": "price"})
    with pytest.raises(DataError, match="imported dataset"):
        record_feedback([{"text": "x y", "sentiment": "positive"}], store=store, name="acme")
    with pytest.raises(DataError, match="feedback"):
        store.import_file(FIX / "analyst.csv", name="feedback", mapping={"pricing": "price"})
    assert res.name == "feedback"
