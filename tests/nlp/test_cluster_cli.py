"""The same ``cxlens predict`` / ``cxlens report`` commands on one process, a partitioned run and a local
Dask cluster (2 worker processes) give identical results (issue 18)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from api.cli import main  # noqa: E402
from nlp.batch import read_partitioned_predictions  # noqa: E402
from nlp.labeled.formats import iter_predictions_parquet, read_labeled  # noqa: E402
from nlp.labeled.seed import seed_split_path  # noqa: E402

DEMO = Path(__file__).resolve().parents[2] / "cx" / "data" / "demo"


@pytest.fixture
def comments(tmp_path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    texts = [e.text for e in read_labeled(seed_split_path("dev"))[0]][:120]
    for k in range(3):
        with open(d / f"part-{k}.jsonl", "w", encoding="utf-8") as fh:
            for i, t in enumerate(texts[k * 40:(k + 1) * 40]):
                fh.write(json.dumps({"id": f"{k}-{i}", "text": t}, ensure_ascii=False) + "\n")
    return d


def jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def test_predict_same_rows_everywhere(comments, tmp_path, seed_result, models_dir, capsys):
    m = ["--model", f"{seed_result.name}@{seed_result.version}", "--models-dir", str(models_dir)]
    single = []
    for f in sorted(comments.iterdir()):
        assert main(["predict", str(f), "--out", str(tmp_path / f"{f.stem}.jsonl"), "--jobs", "1", *m]) == 0
        single += jsonl(tmp_path / f"{f.stem}.jsonl")
    # one process, Parquet out
    assert main(["predict", str(comments / "part-0.jsonl"), "--out", str(tmp_path / "p0.parquet"), *m]) == 0
    assert list(iter_predictions_parquet(tmp_path / "p0.parquet")) == single[:40]
    # a directory INPUT without a cluster: partitions in this process
    assert main(["predict", str(comments), "--out", str(tmp_path / "here"), "--chunk-rows", "25", *m]) == 0
    assert list(read_partitioned_predictions(tmp_path / "here")) == single
    # a local cluster of 2 worker processes, JSONL partitions, from a glob
    assert main(["predict", str(comments / "part-*.jsonl"), "--cluster", "local:2", "--out", str(tmp_path / "cl"),
                 "--out-format", "jsonl", "--chunk-rows", "25", *m]) == 0
    assert list(read_partitioned_predictions(tmp_path / "cl")) == single
    assert "6 classified now" in capsys.readouterr().err
    # errors are one line and exit code 2
    assert main(["predict", str(comments), "--cluster", "nowhere", "--out", str(tmp_path / "x"), *m]) == 2
    assert main(["predict", str(comments), "--cluster", "local:1", *m]) == 2  # no --out DIR


def test_report_from_partitions_equals_the_file_report(tmp_path):
    text = (DEMO / "wave.csv").read_text(encoding="utf-8-sig")
    header, *rows = text.splitlines()
    waves = tmp_path / "wave"
    waves.mkdir()
    for k in range(3):
        (waves / f"w{k}.csv").write_text("\n".join([header, *rows[k * 140:(k + 1) * 140]]) + "\n", encoding="utf-8")
    preds = tmp_path / "preds.parquet"
    main_args = ["--config", str(DEMO / "config.yaml")]
    assert main(["report", str(DEMO / "wave.csv"), "--predictions", str(DEMO / "predictions.jsonl"), *main_args,
                 "--out", str(tmp_path / "one.json")]) == 0
    from nlp.labeled.formats import write_predictions
    from cx.waves import read_predictions

    write_predictions(read_predictions(DEMO / "predictions.jsonl")[0], preds)
    assert main(["report", str(waves), "--predictions", str(preds), *main_args, "--out", str(tmp_path / "parts.json"),
                 "--out", str(tmp_path / "parts.companies.parquet"), "--out", str(tmp_path / "parts.parquet")]) == 0
    a = json.loads((tmp_path / "one.json").read_text(encoding="utf-8"))
    b = json.loads((tmp_path / "parts.json").read_text(encoding="utf-8"))
    for r in (a, b):
        r["meta"].pop("generated_at")
        r["meta"].pop("source")
    assert a == b
    from nlp.labeled.formats import read_table

    assert len(read_table(tmp_path / "parts.companies.parquet")) == len(b["traffic_lights"]["companies"])
    assert len(read_table(tmp_path / "parts.labels.parquet")) == len(b["comments"])
    assert len(read_table(tmp_path / "parts.parquet")) == len(b["shortlist"])
