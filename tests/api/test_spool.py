"""Streaming readers of spooled uploads: same rows and errors as nlp.labeled.formats.iter_records, without loading
the file whole."""
import asyncio

import pytest

from api.errors import PayloadTooLarge
from api.services.spool import detect_table_format, iter_spooled, spool_multipart, spool_raw
from nlp.errors import DataError
from nlp.labeled.formats import iter_records


def rows(path, fmt):
    return [(i, r if isinstance(r, dict) else ("ERR", r.row)) for i, r in iter_spooled(path, fmt)]


def test_jsonl_rows_errors_and_bom(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes("\ufeff".encode() + b'{"text": "a"}\n\n{bad\n[1]\n{"text": "\xd0\xb1"}\n')
    assert rows(p, "jsonl") == [(1, {"text": "a"}), (3, ("ERR", 3)), (4, ("ERR", 4)), (5, {"text": "б"})]
    # the same as the whole-file reader of the nlp layer
    ref = [(i, r if isinstance(r, dict) else ("ERR", r.row)) for i, r in iter_records(p)]
    assert rows(p, "jsonl") == ref


def test_json_array_file(tmp_path):
    p = tmp_path / "a.json"
    p.write_text('[{"text": "a"}, 3]', encoding="utf-8")
    assert rows(p, "jsonl") == [(1, {"text": "a"}), (2, ("ERR", 2))]


def test_cp1251_semicolon_csv_like_russian_excel(tmp_path):
    p = tmp_path / "a.csv"
    p.write_bytes("id;text\n1;Счёт\n2;\"многострочный\nтекст; с точкой с запятой\"\n3;a;extra\n".encode("cp1251"))
    got = rows(p, "csv")
    assert got == [(1, {"id": "1", "text": "Счёт"}),
                   (2, {"id": "2", "text": "многострочный\nтекст; с точкой с запятой"}),
                   (3, ("ERR", 3))]
    ref = [(i, r if isinstance(r, dict) else ("ERR", r.row)) for i, r in iter_records(p)]
    assert got == ref


def test_utf8_bom_comma_csv(tmp_path):
    p = tmp_path / "a.csv"
    p.write_bytes("\ufeffid,text\n1,hello\n".encode("utf-8"))
    assert rows(p, "csv") == [(1, {"id": "1", "text": "hello"})]


def test_format_detection(tmp_path):
    p = tmp_path / "blob"
    p.write_bytes(b'  {"text": 1}\n')
    assert detect_table_format(explicit=None, filename="", content_type="", path=p) == "jsonl"
    p.write_bytes(b"id,text\n")
    assert detect_table_format(explicit=None, filename="", content_type="", path=p) == "csv"
    assert detect_table_format(explicit=None, filename="x.CSV", content_type="", path=p) == "csv"
    assert detect_table_format(explicit=None, filename="", content_type="application/x-ndjson", path=p) == "jsonl"
    assert detect_table_format(explicit="csv", filename="x.jsonl", content_type="", path=p) == "csv"
    with pytest.raises(DataError):
        detect_table_format(explicit="xml", filename="", content_type="", path=p)


async def _astream(chunks):
    for c in chunks:
        yield c


def test_spool_raw_caps_size_and_removes_the_partial_file(tmp_path):
    sp = asyncio.run(spool_raw(_astream([b"a\n", b"b\n", b"c"]), spool_dir=tmp_path, max_bytes=10, suffix=".jsonl"))
    assert (sp.size, sp.lines, sp.path.suffix) == (5, 3, ".jsonl")
    assert sp.path.read_bytes() == b"a\nb\nc"
    with pytest.raises(PayloadTooLarge):
        asyncio.run(spool_raw(_astream([b"x" * 6, b"x" * 6]), spool_dir=tmp_path / "s2", max_bytes=10))
    assert list((tmp_path / "s2").iterdir()) == []


def test_spool_multipart_in_small_chunks(tmp_path):
    body = (b"--BND\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nfake-model@2\r\n"
            b"--BND\r\nContent-Disposition: form-data; name=\"file\"; filename=\"w.csv\"\r\n"
            b"Content-Type: text/csv\r\n\r\nid,text\n1,hello\n\r\n--BND--\r\n")
    chunks = [body[i:i + 7] for i in range(0, len(body), 7)]  # boundaries split across chunks
    sp = asyncio.run(spool_multipart(_astream(chunks), "multipart/form-data; boundary=BND", spool_dir=tmp_path,
                                     max_bytes=1000))
    assert sp.fields == {"model": "fake-model@2"}
    assert (sp.filename, sp.content_type) == ("w.csv", "text/csv")
    assert sp.path.read_bytes() == b"id,text\n1,hello\n"
    assert sp.path.suffix == ".csv" and sp.lines == 2
