"""Decoding never guesses silently (issue 16): strict UTF-8 first, a legacy encoding only for a file that
is clearly in it, otherwise UTF-8 with the bad bytes replaced and a warning naming the row and offset."""
from __future__ import annotations

import pytest

from nlp.labeled.encoding import MAX_BAD_LISTED, decode, detect_bytes, detect_file
from nlp.labeled.formats import iter_records, read_documents, read_documents_info, sniff_delimiter

RU = "id;text\n1;Менеджер грубый, счета с ошибками\n2;Доставка опоздала \n"
STRAY = "id;text\n1;Менеджер грубый, счета с ошибками\n2;Доставка опоздала ".encode() + b"\xff\n"


def test_plain_and_bom_utf8_are_strict_utf8():
    text, d = decode(RU.encode())
    assert text == RU and d.name == "utf-8" and not d.bom and not d.replaced
    text, d = decode(b"\xef\xbb\xbf" + RU.encode())
    assert text == RU and d.bom and d.summary() == "utf-8 with BOM"


def test_a_whole_cp1251_file_is_cp1251_with_the_detectors_confidence():
    text, d = decode(RU.encode("cp1251"))
    assert text == RU
    assert d.encoding == "cp1251" and d.detector == "charset-normalizer" and d.confidence >= 0.9
    assert "cp1251" in d.summary() and "confidence" in d.summary()


def test_one_stray_byte_does_not_switch_the_file_to_cp1251():
    text, d = decode(STRAY)
    assert "Менеджер грубый, счета с ошибками" in text and "Доставка опоздала \ufffd" in text
    assert d.replaced and d.bad_total == 1
    (bad,) = d.bad
    assert (bad.line, bad.offset, bad.raw) == (3, STRAY.index(b"\xff"), b"\xff")
    assert "byte offset" in d.summary()


def test_the_cyrillic_I_with_a_stray_byte_decodes_instead_of_failing():
    # "И" is D0 98 in UTF-8 and 0x98 is undefined in cp1251: the old fallback raised UnicodeDecodeError
    data = "id;text\n1;Иван доволен\n".encode() + b"2;\xff\n"
    text, d = decode(data)
    assert "Иван доволен" in text and d.replaced


def test_a_stray_byte_in_ascii_text_is_not_taken_as_a_legacy_file():
    text, d = decode(b"id;text\n1;Delivery late \xff\n")
    assert d.replaced and "Delivery late \ufffd" in text and d.note


def test_a_bom_file_is_never_legacy():
    _, d = decode(b"\xef\xbb\xbf" + "Счёт пришёл поздно".encode("cp1251"))
    assert d.replaced and "BOM" in (d.note or "")


def test_stream_detection_matches_in_memory_and_handles_chunk_boundaries(tmp_path):
    from nlp.labeled import encoding

    data = ("Привет, мир; " * 50_000).encode() + b"\xfe" + ("ещё строка\r\n" * 10).encode() + b"\xff"
    p = tmp_path / "big.csv"
    p.write_bytes(data)
    a, b = detect_bytes(data), detect_file(p)
    assert [(x.offset, x.line) for x in a.bad] == [(x.offset, x.line) for x in b.bad]
    assert [x.offset for x in a.bad] == [data.index(b"\xfe"), len(data) - 1]
    assert [x.line for x in a.bad] == [1, 11]
    # a multi-byte character split across two chunks is not an error
    chunks = [data[:5], data[5:7], data[7:]]
    d = encoding.detect_stream(lambda: iter(chunks))
    assert d.bad_total == 2


def test_binary_garbage_is_counted_exactly_but_listed_boundedly():
    d = detect_bytes(bytes(range(128, 256)) * 200)
    assert d.replaced and d.bad_total == 128 * 200 and len(d.bad) <= MAX_BAD_LISTED


def test_read_documents_warns_on_the_row_with_the_bad_byte(tmp_path, caplog):
    p = tmp_path / "stray.csv"
    p.write_bytes(STRAY)
    docs, errors, decision = read_documents_info(p)
    assert errors == [] and [d.text for d in docs] == ["Менеджер грубый, счета с ошибками", "Доставка опоздала \ufffd"]
    assert docs[0].warnings == []
    (w,) = docs[1].warnings
    offset = STRAY.index(b"\xff")
    assert w.startswith("row 2: ") and f"byte offset {offset}" in w
    assert decision is not None and decision.replaced
    assert any("stray.csv" in r.getMessage() and "replaced" in r.getMessage() for r in caplog.records)
    assert read_documents(p)[0][1].text == docs[1].text  # the two-value API is unchanged


def test_multiline_csv_rows_get_the_warning_of_their_own_row(tmp_path):
    data = 'id;text\n1;"первая\nстрока"\n2;"вторая \xff\nстрока"\n3;третья\n'
    raw = data.encode("utf-8").replace("\xff".encode("utf-8"), b"\xff")
    p = tmp_path / "m.csv"
    p.write_bytes(raw)
    warns: dict[int, list[str]] = {}
    recs = list(iter_records(p, on_warning=lambda r, m: warns.setdefault(r, []).append(m)))
    assert [i for i, _ in recs] == [1, 2, 3] and list(warns) == [2]


def test_jsonl_rows_get_warnings_too(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_bytes('{"text": "ок"}\n'.encode() + b'{"text": "bad \xff"}\n')
    docs, _, d = read_documents_info(p)
    assert docs[0].warnings == [] and docs[1].warnings and docs[1].warnings[0].startswith("row 2: ")


@pytest.mark.slow
def test_stray_byte_keeps_the_real_models_russian_labels(seed_model, tmp_path):
    clean, stray = tmp_path / "clean.csv", tmp_path / "stray.csv"
    rows = ["Менеджер грубый, счета всегда с ошибками", "Доставка опоздала на неделю, курьер не позвонил",
            "Инженер быстро всё починил, спасибо"]
    body = "id;text\n" + "".join(f"{i};{t}\n" for i, t in enumerate(rows, 1))
    clean.write_text(body, encoding="utf-8")
    stray.write_bytes(body.encode() + b"4;\xff\n")
    a, _ = read_documents(clean)
    b, _ = read_documents(stray)
    pa, pb = seed_model.predict(a), seed_model.predict(b[:3])
    strip = lambda p: {k: p[k] for k in ("sentiment", "touchpoints")}  # noqa: E731
    assert [strip(p) for p in pa] == [strip(p) for p in pb]
    assert any(t["touchpoint"] == "billing" for t in pb[0]["touchpoints"])
    assert b[3].warnings and "byte offset" in b[3].warnings[0]


@pytest.mark.parametrize("sample,delim", [
    ('text;company\n"=a","b";x\n', ";"),
    ('id;text\n1;","\n', ";"),
    ('id;text\n1;"Delivery: late"," again"\n2;"q","r"\n', ";"),
    ('a;b\n"x","y";z\n"p","q";r\n', ";"),
    ('company;contact;NPS;comment\nA;B;9;"he said "","" ok"\nC;D;7;fine\n', ";"),
    ('id,text\n1,"x; y"\n2,"a;b;c"\n', ","),
    ("id\ttext\n1\t\"a;b,c\"\n", "\t"),
])
def test_a_quoted_delimiter_inside_a_cell_never_changes_the_decision(sample, delim):
    assert sniff_delimiter(sample, complete=True) == delim
    assert sniff_delimiter(sample) == delim
