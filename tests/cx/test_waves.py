"""Reading waves: header auto-detection, encodings, validation that names row/column/expected."""
from __future__ import annotations

import json

import pytest

from cx.config import ReportConfig, detect_columns, load_config
from cx.waves import read_predictions, read_wave
from nlp.errors import DataError

RU_CSV = (
    "Компания;ФИО;Оценка;Удовлетворенность;Комментарий;rating:delivery\n"
    "Альфа;Иванов;9;5;Всё хорошо;8\n"
    "Альфа;Петров;11;4;Оценка вне шкалы;7\n"       # NPS 11 out of range
    "Бета;Сидоров;abc;3;Не число;x\n"              # NPS and rating not numbers
    ";Козлов;7;3;Нет компании;5\n"                 # no company: row skipped
    "Бета;Смирнов;6,0;2;Запятая как разделитель;4,5\n"
)


def test_detect_russian_headers():
    d = detect_columns(["Компания", "ФИО", "Оценка", "Удовлетворенность", "Комментарий", "rating:delivery", "Волна"])
    assert d["columns"] == {"company": "Компания", "contact": "ФИО", "comment": "Комментарий", "wave": "Волна"}
    assert d["scores"] == {"nps": "Оценка", "csat": "Удовлетворенность"}
    assert d["ratings"] == {"delivery": "rating:delivery"}


def test_detect_english_headers():
    d = detect_columns(["Company", "Contact name", "NPS", "CSAT", "CES", "Comment", "Segment", "Date"])
    assert d["columns"]["company"] == "Company" and d["columns"]["contact"] == "Contact name"
    assert d["columns"]["date"] == "Date" and d["columns"]["segment"] == "Segment"
    assert set(d["scores"]) == {"nps", "csat", "ces"}


def test_read_cp1251_semicolon_csv_reports_bad_cells_and_keeps_rows(tmp_path):
    p = tmp_path / "wave.csv"
    p.write_bytes(RU_CSV.encode("cp1251"))
    cfg = ReportConfig()
    df, errors = read_wave(p, cfg)
    assert list(df["company"]) == ["Альфа", "Альфа", "Бета", "Бета"]
    assert list(df["id"]) == ["1", "2", "3", "5"]
    nps = df["nps"].tolist()
    assert nps[0] == 9 and nps[3] == 6 and all(x != x for x in nps[1:3])  # 11 and 'abc' excluded (NaN)
    assert df["rating:delivery"].tolist()[3] == 4.5
    msgs = {(e.row, e.field): e for e in errors}
    assert set(msgs) == {(2, "Оценка"), (3, "Оценка"), (3, "rating:delivery"), (4, "Компания")}
    e = msgs[(2, "Оценка")]
    assert e.expected == "an integer 0-10" and e.found == "11" and str(p) in str(e)
    assert msgs[(3, "Оценка")].reason == "not a number"


def test_nps_must_be_integer_but_ratings_may_be_fractional(tmp_path):
    p = tmp_path / "w.csv"
    p.write_text("company,nps,rating:x\nA,7.5,7.5\n", encoding="utf-8")
    df, errors = read_wave(p, ReportConfig())
    assert [e.field for e in errors] == ["nps"] and df["rating:x"].tolist() == [7.5]


def test_configured_scale_and_column_errors(tmp_path):
    p = tmp_path / "w.csv"
    p.write_text("Client,Score,Sat\nA,5,9\nB,2,10\n", encoding="utf-8")
    cfg = ReportConfig.from_dict({"columns": {"company": "Client"},
                                  "scores": {"nps": "Score", "csat": {"column": "Sat", "scale": "1-10"}}})
    df, errors = read_wave(p, cfg)
    assert errors == [] and df["csat"].tolist() == [9, 10]
    bad = ReportConfig.from_dict({"columns": {"company": "Missing"}})
    with pytest.raises(DataError) as ei:
        read_wave(p, bad)
    assert ei.value.field == "columns.company" and ei.value.found == "Missing"


def test_no_company_column_is_one_clear_error(tmp_path):
    p = tmp_path / "w.csv"
    p.write_text("foo,bar\n1,2\n", encoding="utf-8")
    with pytest.raises(DataError, match="no company column"):
        read_wave(p, ReportConfig())


def test_date_column_gives_waves_and_bad_dates_are_reported(tmp_path):
    p = tmp_path / "w.csv"
    p.write_text("company,date,nps\nA,2024-01-15,9\nA,15.05.2024,7\nA,not a date,8\n", encoding="utf-8")
    df, errors = read_wave(p, ReportConfig())
    assert df["wave"].tolist()[:2] == ["2024Q1", "2024Q2"] and df["wave"].tolist()[2] is None
    assert len(errors) == 1 and errors[0].row == 3 and errors[0].field == "date"


def test_jsonl_and_xlsx_inputs(tmp_path):
    rows = [{"company": "A", "contact": "x", "nps": 9, "comment": "ok"},
            {"company": "B", "contact": "y", "nps": 3, "comment": "bad"}]
    pj = tmp_path / "w.jsonl"
    pj.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n", encoding="utf-8")
    df, errors = read_wave(pj, ReportConfig())
    assert df["nps"].tolist() == [9, 3] and len(errors) == 1 and errors[0].row == 3

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Компания", "Контакт", "NPS", "Комментарий"])
    ws.append(["A", "x", 10, "Отлично"])
    ws.append(["B", "y", 12, "Вне шкалы"])
    px = tmp_path / "w.xlsx"
    wb.save(px)
    df, errors = read_wave(px, ReportConfig())
    assert df["company"].tolist() == ["A", "B"] and df["nps"].tolist()[0] == 10
    assert len(errors) == 1 and errors[0].row == 2 and errors[0].field == "NPS"


def test_duplicate_ids_are_reported(tmp_path):
    p = tmp_path / "w.csv"
    p.write_text("id,company,nps\n1,A,9\n1,B,3\n", encoding="utf-8")
    df, errors = read_wave(p, ReportConfig())
    assert df["company"].tolist() == ["A"] and errors[0].reason.startswith("duplicate id")


def test_config_validation_names_the_key(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("traffic_light: {yellow_from: 9, green_from: 7}\n", encoding="utf-8")
    with pytest.raises(DataError) as ei:
        load_config(p)
    assert ei.value.field == "traffic_light" and str(p) in str(ei.value)
    with pytest.raises(DataError, match="unknown config key"):
        ReportConfig.from_dict({"colums": {}})
    with pytest.raises(DataError) as ei:
        ReportConfig.from_dict({"scores": {"csat": {"column": "c", "scale": "5-1"}}})
    assert ei.value.field == "scores.csat.scale"
    with pytest.raises(DataError):
        ReportConfig.from_dict({"matrix": {"importance": "stated"}})  # no weights


def test_read_predictions_reports_bad_rows(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text('{"id": "1", "touchpoints": []}\n{"touchpoints": []}\n{"id": "3", "touchpoints": 5}\n',
                 encoding="utf-8")
    preds, errors = read_predictions(p)
    assert [x["id"] for x in preds] == ["1"] and [e.row for e in errors] == [2, 3]


def test_malformed_csv_row_falls_back_to_the_row_reader(tmp_path):
    p = tmp_path / "w.csv"
    p.write_text("company,nps,comment\nA,9,ok\nB,3,too,many,cells\nC,7,fine\n", encoding="utf-8")
    df, errors = read_wave(p, ReportConfig())
    assert df["company"].tolist() == ["A", "C"] and df["_row"].tolist() == [1, 3]
    assert len(errors) == 1 and errors[0].row == 2 and "more cells" in str(errors[0])


def test_predictions_two_objects_on_one_line_are_not_misaligned(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text('{"id": "1", "touchpoints": []}, {"id": "2", "touchpoints": []}\n{"id": "3", "touchpoints": []}\n',
                 encoding="utf-8")
    preds, errors = read_predictions(p)
    assert [x["id"] for x in preds] == ["3"] and [e.row for e in errors] == [1]


def test_a_quoted_delimiter_in_a_comment_does_not_break_the_wave(tmp_path):
    # issue 16: a cell such as '","' made csv.Sniffer pick ',' and failed the whole report
    p = tmp_path / "wave.csv"
    p.write_text('Компания;ФИО;Оценка;Комментарий\n'
                 'Альфа;Иванов;9;"он сказал "","" и ушёл"\n'
                 'Бета;Петров;3;"счета, акты, всё с ошибками"\n', encoding="utf-8")
    df, errors = read_wave(p, ReportConfig())
    assert errors == [] and len(df) == 2
    assert df["comment"].tolist() == ['он сказал "," и ушёл', "счета, акты, всё с ошибками"]


def test_a_stray_byte_in_a_wave_keeps_the_russian_text(tmp_path):
    p = tmp_path / "wave.csv"
    p.write_bytes("Компания;ФИО;Оценка;Комментарий\nАльфа;Иванов;9;Менеджер молодец ".encode() + b"\xd0\n"
                  + "Бета;Петров;8;Счёт верный\n".encode())
    df, _ = read_wave(p, ReportConfig())
    assert df["company"].tolist() == ["Альфа", "Бета"]
    assert df["comment"].tolist() == ["Менеджер молодец \ufffd", "Счёт верный"]
