"""`cxlens report` end to end through the CLI tree (api/cli/report.py)."""
from __future__ import annotations

import json


from api.cli import main
from nlp.errors import ModelNotFoundError

from tests.cx.conftest import DEMO


def _args(tmp_path, *extra):
    return ["report", str(DEMO / "wave.csv"), "--config", str(DEMO / "config.yaml"), *extra]


def test_report_all_formats(tmp_path, capsys):
    outs = [tmp_path / "r.json", tmp_path / "r.html", tmp_path / "r.xlsx", tmp_path / "r.csv"]
    argv = _args(tmp_path, "--predictions", str(DEMO / "predictions.jsonl"), "--lang", "en")
    for o in outs:
        argv += ["--out", str(o)]
    assert main(argv) == 0
    rep = json.loads(outs[0].read_text(encoding="utf-8"))
    assert rep["schema_version"] == "1.0" and rep["meta"]["lang"] == "en"
    assert rep["meta"]["model"] == {"name": "demo-gold-labels", "version": "1"}
    assert "<svg" in outs[1].read_text(encoding="utf-8")
    assert outs[2].stat().st_size > 10_000
    assert outs[3].read_text(encoding="utf-8-sig").startswith("rank;company;contact")
    labels = tmp_path / "r.labels.csv"
    assert labels.read_text(encoding="utf-8-sig").startswith("id;company;contact;wave")
    assert str(labels) in capsys.readouterr().err


def test_bad_config_is_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "c.yaml"
    bad.write_text("min_n: -3\n", encoding="utf-8")
    code = main(["report", str(DEMO / "wave.csv"), "--config", str(bad), "--predictions",
                 str(DEMO / "predictions.jsonl"), "--out", str(tmp_path / "r.json")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "min_n" in err and str(bad) in err


def test_unknown_output_format_and_bad_map(tmp_path, capsys):
    assert main(_args(tmp_path, "--predictions", str(DEMO / "predictions.jsonl"), "--out", "r.pdf")) == 2
    assert main(_args(tmp_path, "--map", "nonsense=X", "--out", str(tmp_path / "r.json"))) == 2
    assert "unknown column role" in capsys.readouterr().err


def test_map_and_scale_flags(tmp_path):
    p = tmp_path / "w.csv"
    p.write_text("Client;Who;Rec;Sat\nA;x;9;8\nA;y;3;2\n", encoding="utf-8")
    out = tmp_path / "r.json"
    assert main(["report", str(p), "--map", "company=Client", "--map", "contact=Who", "--map", "nps=Rec",
                 "--map", "csat=Sat", "--scale", "csat=1-10", "--min-n", "1", "--predictions",
                 str(tmp_path / "none.jsonl"), "--out", str(out)]) == 2  # predictions file missing
    empty = tmp_path / "none.jsonl"
    empty.write_text("", encoding="utf-8")
    assert main(["report", str(p), "--map", "company=Client", "--map", "contact=Who", "--map", "nps=Rec",
                 "--map", "csat=Sat", "--scale", "csat=1-10", "--min-n", "1", "--predictions", str(empty),
                 "--out", str(out)]) == 0
    rep = json.loads(out.read_text(encoding="utf-8"))
    assert rep["summary"]["csat"]["threshold"] == 8 and rep["summary"]["csat"]["value"] == 50.0
    assert rep["summary"]["nps"]["value"] == 0.0


class _FakePipe:
    name, version = "fake", "9"

    def __init__(self):
        gold = [json.loads(x) for x in (DEMO / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
        self.by_id = {g["id"]: g for g in gold}
        self.seen = 0

    def predict(self, docs, *, batch_size=256, progress=None):
        docs = list(docs)
        self.seen = len(docs)
        if progress is not None:
            progress(len(docs))
        return [{**self.by_id[d["id"]], "model": {"name": "fake", "version": "9"}} for d in docs]


def test_without_predictions_the_model_classifies(tmp_path, monkeypatch):
    """No --predictions: the --model classifies; the default model is built first when the store has none,
    a named model never is."""
    import nlp.lifecycle.training as training
    from nlp.lifecycle.store import ModelStore

    pipe, loads, built = _FakePipe(), [], []
    monkeypatch.setattr(training, "train_seed_model", lambda *, store, progress=None: built.append(store.root))

    def load(self, spec):
        loads.append(spec)
        if spec != "cx-touchpoints":
            raise ModelNotFoundError(spec)
        return pipe

    monkeypatch.setattr(ModelStore, "load", load)
    models = tmp_path / "models"
    out = tmp_path / "r.json"
    assert main(_args(tmp_path, "--models-dir", str(models), "--out", str(out))) == 0
    assert built == [models] and loads == ["cx-touchpoints"]
    rep = json.loads(out.read_text(encoding="utf-8"))
    assert pipe.seen == rep["meta"]["n_labeled"] > 300
    assert rep["meta"]["model"] == {"name": "fake", "version": "9"}
    assert main(_args(tmp_path, "--model", "other", "--models-dir", str(models), "--out", str(out))) == 2
    assert built == [models]  # a named model is not auto-trained


def test_json_to_stdout(capsys):
    assert main(["report", str(DEMO / "wave.csv"), "--config", str(DEMO / "config.yaml"), "--predictions",
                 str(DEMO / "predictions.jsonl"), "--out", "-"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["summary"]["n_answers"] > 0
