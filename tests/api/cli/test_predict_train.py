from __future__ import annotations

import io
import json
import sys

import pytest

from api.cli import main

TRAIN = [
    {"text": "Счета всегда с ошибками", "sentiment": "negative", "aspects": [{"category": "billing", "polarity": "negative"}]},
    {"text": "Бухгалтерия быстро закрыла документы", "sentiment": "positive", "aspects": [{"category": "billing", "polarity": "positive"}]},
    {"text": "Доставка опоздала на неделю", "sentiment": "negative", "aspects": [{"category": "delivery", "polarity": "negative"}]},
    {"text": "Привезли вовремя, спасибо", "sentiment": "positive", "aspects": [{"category": "delivery", "polarity": "positive"}]},
    {"text": "Обычный отзыв без деталей", "sentiment": "neutral", "aspects": []},
] * 4
DEV = [{**r, "text": r["text"].replace("всегда", "опять").replace("быстро", "оперативно").replace("неделю", "месяц")
        .replace("вовремя", "точно в срок").replace("Обычный", "Стандартный")} for r in TRAIN[:5]]


@pytest.fixture
def trained(tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in TRAIN) + "\n", encoding="utf-8")
    dev = tmp_path / "dev.jsonl"
    dev.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in DEV) + "\n", encoding="utf-8")
    models = tmp_path / "models"
    assert main(["train", "--data", str(data), "--dev", str(dev), "--name", "toy", "--models-dir", str(models),
                 "--param", "threshold_folds=0"]) == 0
    return models


def test_train_then_models_lists_the_version(trained, capsys):
    capsys.readouterr()
    assert main(["models", "--models-dir", str(trained), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["version"], r["model_type"]) for r in rows] == [("toy", "1", "fast")]
    assert "touchpoint_micro_f1" in rows[0]["metrics"]
    assert main(["models", "--models-dir", str(trained)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["name", "version", "type"] and table[1].split()[:3] == ["toy", "1", "fast"]


def test_empty_listings_say_where_they_looked(tmp_path, capsys):
    assert main(["models", "--models-dir", str(tmp_path / "m")]) == 0
    assert capsys.readouterr().out.strip() == f"no models in {tmp_path / 'm'}"
    assert main(["datasets", "list", "--data-dir", str(tmp_path / "d")]) == 0
    assert capsys.readouterr().out.startswith("no datasets in ")
    assert main(["models", "--models-dir", str(tmp_path / "m"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_predict_cp1251_semicolon_csv_skips_bad_rows(trained, tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_bytes("id;text;company\n1;Счета опять с ошибками;ООО Ромашка\n2;;ООО Лютик\n3;Доставка опоздала;АО Завод\n"
                    .encode("cp1251"))
    out = tmp_path / "out.jsonl"
    code = main(["predict", str(src), "--model", "toy", "--models-dir", str(trained), "--out", str(out),
                 "--keep-columns"])
    assert code == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["1", "2", "3"]  # an empty text is classified as empty, not dropped
    assert rows[0]["input"] == {"company": "ООО Ромашка"}
    assert rows[0]["model"] == {"name": "toy", "version": "1"}
    assert "empty text" in rows[1]["warnings"][0]


def test_predict_reports_unparseable_rows_and_keeps_the_others(trained, tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a", "text": "Счета с ошибками"}\nnot json\n{"id": "b"}\n', encoding="utf-8")
    assert main(["predict", str(src), "--model", "toy", "--models-dir", str(trained)]) == 0
    captured = capsys.readouterr()
    assert [json.loads(line)["id"] for line in captured.out.splitlines()] == ["a"]
    assert "row 2: invalid JSON" in captured.err and "row 3, field 'text'" in captured.err
    assert main(["predict", str(src), "--model", "toy", "--models-dir", str(trained), "--strict"]) == 2


def test_predict_stdin_to_stdout(trained, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO('{"text": "Доставка опоздала"}\n'.encode())))
    assert main(["predict", "-", "--model", "toy", "--models-dir", str(trained)]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["id"] == "row-1" and row["touchpoints"][0]["touchpoint"] == "delivery"


@pytest.mark.parametrize("argv,message,code", [
    (["predict", "/no/such/file.csv"], "file not found", "invalid_data"),
    (["predict", "{data}", "--model", "nosuch"], "no model named 'nosuch'", "model_not_found"),
    (["train", "--models-dir", "{models}"], "--data", "invalid_data"),
    (["evaluate", "--data", "{data}", "--model", "toy@9"], "no version '9'", "model_not_found"),
])
def test_errors_are_one_line_with_exit_code_2(trained, tmp_path, capsys, argv, message, code):
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "x", "sentiment": "neutral"}\n', encoding="utf-8")
    argv = [a.format(data=data, models=trained) for a in argv]
    if "--models-dir" not in argv:
        argv += ["--models-dir", str(trained)]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cxlens: error:") and message in err[0]
    assert err[0].endswith(f"[{code}]")  # the error's stable code, the same one the API answers with


def test_evaluate_json(trained, tmp_path, capsys):
    data = tmp_path / "eval.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in TRAIN[:5]) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["evaluate", "--data", str(data), "--model", "toy", "--models-dir", str(trained), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["model"] == {"name": "toy", "version": "1"}
    assert m["n"] == 5 and 0 <= m["touchpoints"]["micro"]["f1"] <= 1
    assert set(m["sentiment"]) >= {"accuracy", "macro_f1", "confusion"}


def test_predict_a_stray_byte_keeps_russian_and_warns_on_its_row(trained, tmp_path, capsys):
    """Issue 16: one invalid byte in a UTF-8 CSV is replaced on its row (with a warning naming the row and
    byte offset); the file is not re-read as cp1251."""
    src = tmp_path / "stray.csv"
    src.write_bytes("id;text\n1;Счета всегда с ошибками\n2;Доставка опоздала \xff\n".encode("utf-8").replace(
        "\xff".encode("utf-8"), b"\xff"))
    out = tmp_path / "p.jsonl"
    assert main(["predict", str(src), "--out", str(out), "--models-dir", str(trained), "--model", "toy",
                 "--with-text"]) == 0
    err = capsys.readouterr().err
    assert "invalid byte" in err and "replaced" in err
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["text"] == "Счета всегда с ошибками" and not any("byte" in w for w in rows[0]["warnings"])
    assert rows[1]["text"].startswith("Доставка опоздала")
    assert any("byte" in w and "row" in w for w in rows[1]["warnings"]), rows[1]["warnings"]
