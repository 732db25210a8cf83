"""Unit tests of nlp/labeled/formats.py: JSONL/JSON/CSV reading, encodings, labeled rows, writing, stdin."""
from __future__ import annotations

import io
import json
import sys

import pytest

from nlp.errors import DataError
from nlp.labeled.formats import (
    decode_bytes,
    detect_format,
    iter_records,
    parse_touchpoints_cell,
    read_documents,
    read_labeled,
    sniff_delimiter,
    write_jsonl,
)
from nlp.schema import Aspect


def _stream(data: str | bytes, name: str, encoding: str = "utf-8") -> io.BytesIO:
    """An in-memory binary file object with a name (format detection uses the suffix)."""
    raw = data.encode(encoding) if isinstance(data, str) else data
    f = io.BytesIO(raw)
    f.name = name
    return f


def _write(tmp_path, name: str, data: str | bytes, encoding: str = "utf-8"):
    p = tmp_path / name
    p.write_bytes(data.encode(encoding) if isinstance(data, str) else data)
    return p


# --------------------------------------------------------------------------------------------------
# low-level helpers
# --------------------------------------------------------------------------------------------------
class TestHelpers:
    def test_decode_bytes_utf8_bom_stripped(self):
        assert decode_bytes("\ufeffid;text".encode("utf-8")) == "id;text"

    def test_decode_bytes_plain_utf8(self):
        assert decode_bytes("Счёт".encode("utf-8")) == "Счёт"

    def test_decode_bytes_cp1251_fallback(self):
        # cp1251 bytes of Cyrillic are invalid UTF-8 -> cp1251 is used
        data = "Счёт пришёл".encode("cp1251")
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
        assert decode_bytes(data) == "Счёт пришёл"

    @pytest.mark.parametrize(
        "sample, delim",
        [
            ("id;text\n1;Дорого, долго, плохо\n2;Хорошо, быстро\n", ";"),
            ("id,text\n1,ok\n2,fine\n", ","),
            ("id\ttext\n1\tхорошо, но дорого\n", "\t"),
        ],
    )
    def test_sniff_delimiter(self, sample, delim):
        assert sniff_delimiter(sample) == delim

    def test_sniff_delimiter_empty_defaults_to_comma(self):
        assert sniff_delimiter("") == ","
        assert sniff_delimiter("\n\n  \n") == ","

    @pytest.mark.parametrize(
        "name, text, fmt",
        [
            ("a.jsonl", "id,text", "jsonl"),  # suffix wins over content
            ("a.ndjson", "", "jsonl"),
            ("a.json", "", "jsonl"),
            ("a.csv", '{"text": "x"}', "csv"),
            ("a.TSV", "", "csv"),
            ("<stdin>", '  {"text": "x"}', "jsonl"),
            ("<stdin>", "[{}]", "jsonl"),
            ("<stdin>", "id,text\n1,x", "csv"),
        ],
    )
    def test_detect_format(self, name, text, fmt):
        assert detect_format(name, text) == fmt


# --------------------------------------------------------------------------------------------------
# JSONL / JSON
# --------------------------------------------------------------------------------------------------
class TestJsonl:
    def test_blank_lines_skipped_and_row_numbers_are_line_numbers(self, tmp_path):
        p = _write(tmp_path, "in.jsonl", '{"id": "a", "text": "one"}\n\n   \n{"id": "b", "text": "two"}\n')
        recs = list(iter_records(p))
        # line 1 and line 4; the blank lines 2-3 yield nothing
        assert [(i, r["id"]) for i, r in recs] == [(1, "a"), (4, "b")]
        docs, errors = read_documents(p)
        assert errors == []
        assert [(d.id, d.text) for d in docs] == [("a", "one"), ("b", "two")]

    def test_invalid_json_line_reported_with_row_others_kept(self, tmp_path):
        p = _write(tmp_path, "in.jsonl", '{"id": 1, "text": "ok"}\n{"id": 2, "text": \n{"id": 3, "text": "fine"}\n')
        docs, errors = read_documents(p)
        assert [d.id for d in docs] == ["1", "3"]
        assert len(errors) == 1
        err = errors[0]
        assert isinstance(err, DataError)
        assert err.row == 2
        assert err.source == str(p)
        assert "invalid JSON" in str(err)
        assert "row 2" in str(err)

    @pytest.mark.parametrize("line, found", [('"just a string"', "just a string"), ("42", 42), ("[1, 2]", [1, 2])])
    def test_non_object_line_is_an_error(self, tmp_path, line, found):
        # the non-object line is not the first one (a leading '[' switches to JSON-array mode)
        p = _write(tmp_path, "in.jsonl", '{"text": "a"}\n' + line + '\n{"text": "b"}\n')
        docs, errors = read_documents(p)
        assert [d.text for d in docs] == ["a", "b"]
        assert len(errors) == 1
        assert errors[0].row == 2
        assert errors[0].expected == "a JSON object"
        assert errors[0].found == found

    def test_jsonl_first_line_array_does_not_lose_other_rows(self, tmp_path):
        p = _write(tmp_path, "in.jsonl", '[1, 2]\n{"text": "a"}\n{"text": "b"}\n')
        docs, errors = read_documents(p)
        assert [d.text for d in docs] == ["a", "b"]
        assert len(errors) == 1 and errors[0].row == 1

    def test_json_array_input(self, tmp_path):
        p = _write(tmp_path, "in.json", json.dumps([{"id": "x", "text": "one"}, 7, {"text": "three"}]))
        docs, errors = read_documents(p)
        # element 2 is not an object; element 3 has no id -> "row-3" from its 1-based position
        assert [(d.id, d.text) for d in docs] == [("x", "one"), ("row-3", "three")]
        assert len(errors) == 1 and errors[0].row == 2 and errors[0].found == 7

    def test_json_array_detected_from_content_without_suffix(self):
        f = _stream('\n  [{"text": "a"}, {"text": "b"}]', "<stream>")
        docs, errors = read_documents(f)
        assert errors == []
        assert [(d.id, d.text) for d in docs] == [("row-1", "a"), ("row-2", "b")]

    def test_invalid_json_array_is_one_error(self, tmp_path):
        p = _write(tmp_path, "in.json", '[{"text": "a"}, ')
        docs, errors = read_documents(p)
        assert docs == []
        assert len(errors) == 1 and errors[0].row == 1 and "invalid JSON" in str(errors[0])

    def test_missing_text_names_field_and_row(self, tmp_path):
        p = _write(tmp_path, "in.jsonl", '{"id": 1, "text": "ok"}\n{"id": 2, "body": "no text"}\n{"id": 3, "text": null}\n')
        docs, errors = read_documents(p)
        assert [d.id for d in docs] == ["1"]
        assert [(e.field, e.row) for e in errors] == [("text", 2), ("text", 3)]
        assert "field 'text'" in str(errors[0]) and "row 2" in str(errors[0])

    def test_text_not_a_string(self, tmp_path):
        p = _write(tmp_path, "in.jsonl", '{"text": 5}\n')
        docs, errors = read_documents(p)
        assert docs == [] and errors[0].field == "text" and errors[0].found == 5

    def test_lang_and_pass_through_kept(self, tmp_path):
        row = {"id": 9, "text": "Счёт", "lang": "ru", "nps": 3, "region": "Москва"}
        p = _write(tmp_path, "in.jsonl", json.dumps(row, ensure_ascii=False) + "\n")
        (doc,), errors = read_documents(p)
        assert errors == []
        assert doc.id == "9"  # integers become strings
        assert doc.lang == "ru"
        assert doc.extra == {"nps": 3, "region": "Москва"}

    def test_bad_lang_type(self, tmp_path):
        p = _write(tmp_path, "in.jsonl", '{"text": "a", "lang": 1}\n')
        docs, errors = read_documents(p)
        assert docs == [] and errors[0].field == "lang"

    def test_bad_id_type(self, tmp_path):
        p = _write(tmp_path, "in.jsonl", '{"id": [1], "text": "a"}\n')
        docs, errors = read_documents(p)
        assert docs == [] and errors[0].field == "id"

    def test_file_not_found(self, tmp_path):
        with pytest.raises(DataError) as ei:
            read_documents(tmp_path / "nope.jsonl")
        assert "file not found" in str(ei.value)
        assert ei.value.source == str(tmp_path / "nope.jsonl")

    def test_text_stream_source(self):
        f = io.StringIO('{"text": "привет"}\n')
        f.name = "s.jsonl"
        docs, errors = read_documents(f)
        assert errors == [] and docs[0].text == "привет" and docs[0].id == "row-1"


# --------------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------------
class TestCsv:
    def test_comma_delimiter(self, tmp_path):
        p = _write(tmp_path, "in.csv", "id,text,nps\n1,Fast and friendly,10\n2,Slow,3\n")
        docs, errors = read_documents(p)
        assert errors == []
        assert [(d.id, d.text, d.extra) for d in docs] == [
            ("1", "Fast and friendly", {"nps": "10"}),
            ("2", "Slow", {"nps": "3"}),
        ]

    def test_semicolon_delimiter_with_commas_in_text(self, tmp_path):
        p = _write(tmp_path, "in.csv", "id;text;nps\n1;Дорого, долго, плохо;3\n2;Хорошо, быстро;9\n")
        docs, errors = read_documents(p)
        assert errors == []
        assert [(d.id, d.text, d.extra["nps"]) for d in docs] == [
            ("1", "Дорого, долго, плохо", "3"),
            ("2", "Хорошо, быстро", "9"),
        ]

    def test_utf8_bom_header(self, tmp_path):
        p = _write(tmp_path, "in.csv", "\ufeffid;text\n7;Счёт\n")
        (doc,), errors = read_documents(p)
        assert errors == []
        assert doc.id == "7"  # the header is 'id', not '\ufeffid'
        assert "\ufeffid" not in doc.extra and doc.extra == {}
        recs = list(iter_records(p))
        assert list(recs[0][1]) == ["id", "text"]

    def test_cp1251_csv_round_trips_russian(self, tmp_path):
        text = "Мастер пришёл вовремя, но счёт завышен"
        p = _write(tmp_path, "in.csv", f"id;text;регион\n1;{text};Москва\n", encoding="cp1251")
        (doc,), errors = read_documents(p)
        assert errors == []
        assert doc.text == text
        assert doc.extra == {"регион": "Москва"}

    def test_quoted_fields_with_newlines_and_delimiters(self, tmp_path):
        data = ('id;text;nps\r\n'
                '1;"строка1\r\nстрока2; и ещё, и ещё";10\r\n'
                '2;"Он сказал ""нет"", потом ушёл";9\r\n')
        p = _write(tmp_path, "in.csv", data)
        docs, errors = read_documents(p)
        assert errors == []
        assert [(d.id, d.text, d.extra["nps"]) for d in docs] == [
            ("1", "строка1\r\nстрока2; и ещё, и ещё", "10"),
            ("2", 'Он сказал "нет", потом ушёл', "9"),
        ]

    def test_quoted_semicolons_in_comma_csv(self, tmp_path):
        p = _write(tmp_path, "in.csv", 'id,text,nps\n1,"Fast, friendly; polite",10\n2,"a;b",1\n')
        docs, errors = read_documents(p)
        assert errors == []
        assert [(d.text, d.extra["nps"]) for d in docs] == [("Fast, friendly; polite", "10"), ("a;b", "1")]

    def test_more_cells_than_headers_is_error_others_kept(self, tmp_path):
        p = _write(tmp_path, "in.csv", "id;text\n1;ok\n2;bad;extra\n3;fine\n")
        docs, errors = read_documents(p)
        assert [d.id for d in docs] == ["1", "3"]
        assert len(errors) == 1
        e = errors[0]
        assert e.row == 2  # data rows are counted from 1, the header is not counted
        assert e.found == 3 and e.expected == "2 columns"
        assert "more cells than header columns" in str(e)

    def test_fewer_cells_means_missing_text(self, tmp_path):
        p = _write(tmp_path, "in.csv", "id;text\n1\n2;ok\n")
        docs, errors = read_documents(p)
        assert [d.id for d in docs] == ["2"]
        assert errors[0].field == "text" and errors[0].row == 1

    def test_missing_text_column(self, tmp_path):
        p = _write(tmp_path, "in.csv", "id;comment\n1;hello\n2;world\n")
        docs, errors = read_documents(p)
        assert docs == []
        assert [(e.field, e.row) for e in errors] == [("text", 1), ("text", 2)]
        assert "field 'text'" in str(errors[1]) and "row 2" in str(errors[1])

    def test_header_names_are_stripped(self, tmp_path):
        p = _write(tmp_path, "in.csv", " id ; text ; nps \n1;ok;5\n")
        (doc,), errors = read_documents(p)
        assert errors == [] and (doc.id, doc.text, doc.extra) == ("1", "ok", {"nps": "5"})

    def test_auto_ids_when_absent(self, tmp_path):
        p = _write(tmp_path, "in.csv", "text\nПервый\nВторой\nТретий\n")
        docs, errors = read_documents(p)
        assert errors == []
        assert [(d.id, d.text) for d in docs] == [("row-1", "Первый"), ("row-2", "Второй"), ("row-3", "Третий")]

    def test_auto_ids_for_empty_id_cells(self, tmp_path):
        p = _write(tmp_path, "in.csv", "id;text;lang\nA;x;ru\n;y;\n  ;z;en\n")
        docs, errors = read_documents(p)
        assert errors == []
        assert [(d.id, d.lang) for d in docs] == [("A", "ru"), ("row-2", None), ("row-3", "en")]

    def test_duplicate_ids(self, tmp_path):
        p = _write(tmp_path, "in.csv", "id;text\n1;a\n2;b\n1;c\n")
        docs, errors = read_documents(p)
        assert [(d.id, d.text) for d in docs] == [("1", "a"), ("2", "b")]
        assert len(errors) == 1
        e = errors[0]
        assert (e.field, e.row, e.found) == ("id", 3, "1")
        assert "duplicate id" in str(e)

    def test_auto_id_does_not_collide_with_explicit_id(self, tmp_path):
        p = _write(tmp_path, "in.csv", "id;text\n2;first\n;second\n")
        docs, errors = read_documents(p)
        assert errors == []
        assert [d.text for d in docs] == ["first", "second"]
        assert len({d.id for d in docs}) == 2

    def test_pass_through_columns_kept_in_extra(self, tmp_path):
        p = _write(tmp_path, "in.csv", "id;text;lang;nps;region;wave\n1;ok;en;9;North;2024Q1\n")
        (doc,), errors = read_documents(p)
        assert errors == []
        assert doc.lang == "en"
        assert doc.extra == {"nps": "9", "region": "North", "wave": "2024Q1"}

    def test_tsv(self, tmp_path):
        p = _write(tmp_path, "in.tsv", "id\ttext\n1\tхорошо, но дорого\n")
        (doc,), errors = read_documents(p)
        assert errors == [] and doc.text == "хорошо, но дорого"

    def test_empty_csv_file(self, tmp_path):
        p = _write(tmp_path, "in.csv", "")
        assert read_documents(p) == ([], [])

    def test_fmt_override(self, tmp_path):
        p = _write(tmp_path, "in.txt", '{"text": "a"}\n')
        docs, errors = read_documents(p, fmt="jsonl")
        assert errors == [] and docs[0].text == "a"


# --------------------------------------------------------------------------------------------------
# labeled rows
# --------------------------------------------------------------------------------------------------
class TestLabeled:
    def test_jsonl_training_schema(self, tmp_path):
        rows = [
            {"id": "r1", "text": "Счёт завышен, но мастер вежливый", "sentiment": "mixed",
             "aspects": [{"category": "billing", "polarity": "negative", "from": 0, "to": 12, "target": "Счёт завышен"},
                         {"category": "field_service", "polarity": "positive"}]},
            {"text": "Всё отлично", "sentiment": "positive", "aspects": []},
            {"text": "Без разметки аспектов", "sentiment": None},
        ]
        p = _write(tmp_path, "train.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
        exs, errors = read_labeled(p)
        assert errors == []
        assert [e.id for e in exs] == ["r1", "train-2", "train-3"]  # '<file stem>-<row>' when absent
        assert exs[0].sentiment == "mixed"
        assert exs[0].aspects == [Aspect("billing", "negative", 0, 12), Aspect("field_service", "positive")]
        assert exs[1].aspects == []  # annotated: no touchpoints
        assert exs[2].aspects is None and exs[2].sentiment is None  # not annotated

    def test_jsonl_sentiment_is_normalised(self, tmp_path):
        p = _write(tmp_path, "d.jsonl", '{"text": "a", "sentiment": " Positive "}\n{"text": "b", "sentiment": ""}\n')
        exs, errors = read_labeled(p)
        assert errors == []
        assert [e.sentiment for e in exs] == ["positive", None]

    def test_jsonl_bad_row_reported_others_kept(self, tmp_path):
        p = _write(tmp_path, "d.jsonl",
                   '{"text": "a", "sentiment": "good"}\n{"text": "b", "sentiment": "negative"}\n')
        exs, errors = read_labeled(p)
        assert [e.text for e in exs] == ["b"]
        assert (errors[0].field, errors[0].row, errors[0].found) == ("sentiment", 1, "good")

    def test_analyst_csv_touchpoints_column(self, tmp_path):
        # a ';' inside the touchpoints cell of a ';'-CSV must be quoted (as Excel does)
        data = ('id;text;sentiment;touchpoints;nps\n'
                '1;Счёт завышен, мастер молодец;Mixed;"billing:negative;field_service:positive";4\n'
                '2;Всё хорошо;positive;;10\n'
                '3;Связь: Плохо;negative;network : NEGATIVE ;2\n')
        p = _write(tmp_path, "analyst.csv", data)
        exs, errors = read_labeled(p)
        assert errors == []
        assert [e.id for e in exs] == ["1", "2", "3"]
        assert [e.sentiment for e in exs] == ["mixed", "positive", "negative"]
        assert exs[0].aspects == [Aspect("billing", "negative"), Aspect("field_service", "positive")]
        assert exs[1].aspects == []  # empty cell = no touchpoints (annotated)
        assert exs[2].aspects == [Aspect("network", "negative")]  # trimmed, polarity lowercased
        assert exs[0].extra == {"nps": "4"}
        assert "touchpoints" not in exs[0].extra

    def test_analyst_csv_cp1251(self, tmp_path):
        data = 'text;sentiment;touchpoints\nСчёт пришёл поздно;negative;billing:negative\n'
        p = _write(tmp_path, "a.csv", data, encoding="cp1251")
        (ex,), errors = read_labeled(p)
        assert errors == []
        assert ex.text == "Счёт пришёл поздно" and ex.id == "a-1"
        assert ex.aspects == [Aspect("billing", "negative")]

    def test_analyst_csv_bad_pair_names_touchpoints(self, tmp_path):
        data = ('text;sentiment;touchpoints\n'
                'ok;positive;app:positive\n'
                'bad;negative;billing\n'
                'also ok;negative;"billing:negative"\n')
        p = _write(tmp_path, "a.csv", data)
        exs, errors = read_labeled(p)
        assert [e.text for e in exs] == ["ok", "also ok"]
        assert len(errors) == 1
        e = errors[0]
        assert (e.field, e.row, e.found) == ("touchpoints", 2, "billing")
        assert "field 'touchpoints'" in str(e) and "row 2" in str(e)

    def test_analyst_csv_bad_polarity(self, tmp_path):
        p = _write(tmp_path, "a.csv", 'text;touchpoints\nx;billing:awful\n')
        exs, errors = read_labeled(p)
        assert exs == [] and errors[0].field == "aspects[0].polarity" and errors[0].found == "awful"

    def test_analyst_csv_empty_id_cell_gets_generated_id(self, tmp_path):
        p = _write(tmp_path, "a.csv", "id;text;sentiment\n;first;positive\n;second;negative\n")
        exs, errors = read_labeled(p)
        assert errors == []
        assert [e.id for e in exs] == ["a-1", "a-2"]

    @pytest.mark.parametrize(
        "cell, expected",
        [
            ("", []),
            (None, []),
            ("  ;  ", []),
            ("billing:negative", [{"category": "billing", "polarity": "negative"}]),
            ("billing:negative;field_service:Positive",
             [{"category": "billing", "polarity": "negative"}, {"category": "field_service", "polarity": "positive"}]),
            ("billing:negative, app:neutral",  # ',' is accepted as a separator too
             [{"category": "billing", "polarity": "negative"}, {"category": "app", "polarity": "neutral"}]),
        ],
    )
    def test_parse_touchpoints_cell(self, cell, expected):
        assert parse_touchpoints_cell(cell) == expected

    @pytest.mark.parametrize("cell, bad", [("billing", "billing"), ("billing:", "billing:"), (":negative", ":negative"),
                                           ("app:positive;billing", "billing")])
    def test_parse_touchpoints_cell_errors(self, cell, bad):
        with pytest.raises(DataError) as ei:
            parse_touchpoints_cell(cell, row=5, source="s.csv")
        assert ei.value.field == "touchpoints" and ei.value.found == bad and ei.value.row == 5
        assert str(ei.value).startswith("s.csv, row 5, field 'touchpoints'")

    def test_labels_restriction(self, tmp_path):
        data = 'text;touchpoints\na;billing:negative\nb;"billing:negative;teleport:positive"\nc;app:positive\n'
        p = _write(tmp_path, "a.csv", data)
        exs, errors = read_labeled(p, labels=["billing", "app"])
        assert [e.text for e in exs] == ["a", "c"]
        assert len(errors) == 1
        e = errors[0]
        assert (e.row, e.field, e.found) == (2, "aspects[1].category", "teleport")
        assert "unknown label" in str(e)

    def test_labels_restriction_accepts_generator(self, tmp_path):
        p = _write(tmp_path, "a.jsonl", '{"text": "a", "aspects": [{"category": "app", "polarity": "neutral"}]}\n'
                                        '{"text": "b", "aspects": [{"category": "app", "polarity": "neutral"}]}\n')
        exs, errors = read_labeled(p, labels=(x for x in ["app"]))  # consumed once, used for every row
        assert errors == [] and len(exs) == 2


# --------------------------------------------------------------------------------------------------
# writing and stdin
# --------------------------------------------------------------------------------------------------
class TestWriteAndStdin:
    def test_write_jsonl_round_trip_cyrillic_unescaped(self, tmp_path):
        rows = [{"id": "1", "text": "Счёт пришёл вовремя 👍", "nps": 9},
                {"id": "2", "text": "Line\nbreak, \"quotes\" and tab\t", "lang": "en"}]
        dest = tmp_path / "sub" / "out.jsonl"  # parent directory is created
        assert write_jsonl(rows, dest) == 2
        raw = dest.read_bytes()
        assert "Счёт пришёл".encode("utf-8") in raw  # not \u0421... escapes
        assert b"\\u04" not in raw
        lines = raw.decode("utf-8").splitlines()
        assert len(lines) == 2
        assert [json.loads(ln) for ln in lines] == rows
        docs, errors = read_documents(dest)
        assert errors == []
        assert [(d.id, d.text, d.lang, d.extra) for d in docs] == [
            ("1", "Счёт пришёл вовремя 👍", None, {"nps": 9}),
            ("2", "Line\nbreak, \"quotes\" and tab\t", "en", {}),
        ]

    def test_write_jsonl_round_trip_unicode_line_separators(self, tmp_path):
        rows = [{"id": "1", "text": "первая\u2028вторая"}, {"id": "2", "text": "a\x85b"}]
        dest = tmp_path / "out.jsonl"
        write_jsonl(rows, dest)
        docs, errors = read_documents(dest)
        assert errors == []
        assert [d.text for d in docs] == ["первая\u2028вторая", "a\x85b"]

    def test_write_jsonl_to_stream(self):
        buf = io.StringIO()
        assert write_jsonl(iter([{"a": "б"}]), buf) == 1
        assert buf.getvalue() == '{"a": "б"}\n'
        assert not buf.closed  # a caller's stream is not closed

    def test_write_jsonl_to_stdout(self, capsys):
        assert write_jsonl([{"x": 1}, {"x": "ё"}], "-") == 2
        assert capsys.readouterr().out == '{"x": 1}\n{"x": "ё"}\n'

    def test_write_jsonl_empty(self, tmp_path):
        dest = tmp_path / "e.jsonl"
        assert write_jsonl([], dest) == 0
        assert dest.read_text(encoding="utf-8") == ""

    def test_read_documents_from_stdin_jsonl(self, monkeypatch):
        data = '{"id": "a", "text": "Счёт"}\n{"text": "second"}\n'.encode("utf-8")
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
        docs, errors = read_documents("-")
        assert errors == []
        assert [(d.id, d.text) for d in docs] == [("a", "Счёт"), ("row-2", "second")]

    def test_read_documents_from_stdin_cp1251_csv(self, monkeypatch):
        data = "id;text\n1;Мастер пришёл, всё починил\n".encode("cp1251")
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        (doc,), errors = read_documents("-")
        assert errors == [] and (doc.id, doc.text) == ("1", "Мастер пришёл, всё починил")

    def test_read_labeled_from_stdin(self, monkeypatch):
        data = ('{"id": "x", "text": "Счёт", "sentiment": "negative", '
                '"aspects": [{"category": "billing", "polarity": "negative"}]}\n').encode("utf-8")
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        (ex,), errors = read_labeled("-")
        assert errors == []
        assert (ex.id, ex.text, ex.sentiment, ex.aspects) == ("x", "Счёт", "negative", [Aspect("billing", "negative")])

    def test_stdin_errors_name_stdin(self, monkeypatch):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"text": "a"}\nnot json\n')))
        docs, errors = read_documents("-")
        assert [d.text for d in docs] == ["a"]
        assert errors[0].row == 2 and errors[0].source == "<stdin>"


def test_read_xlsx_first_sheet_rows_and_broken_files(tmp_path):
    from openpyxl import Workbook

    from cx.waves import load_records
    from nlp.labeled.formats import read_xlsx

    wb = Workbook()
    ws = wb.active
    ws.append(["text", None, " score "])
    ws.append(["Счета с ошибками", "dropped: no header", 3.0])
    ws.append([None, None, None])
    ws.append(["  ", None, None])
    ws.append(["ok", None, 10])
    wb.save(tmp_path / "w.xlsx")
    headers, rows = read_xlsx(tmp_path / "w.xlsx")
    assert headers == ["text", "score"]
    assert rows == [(1, {"text": "Счета с ошибками", "score": 3.0}), (4, {"text": "ok", "score": 10})]
    assert load_records(tmp_path / "w.xlsx")[1:] == (headers, rows)

    (tmp_path / "bad.xlsx").write_bytes(b"not a zip file")
    for read in (read_xlsx, load_records):
        with pytest.raises(DataError, match="cannot read the workbook") as e:
            read(tmp_path / "bad.xlsx")
        assert "bad.xlsx" in str(e.value)
