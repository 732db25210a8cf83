"""Partitioned prediction on a real Dask LocalCluster (2 worker processes): the rows equal single-process
``cxlens predict``; resume after a lost partition; a worker killed mid-run; the model loaded once per
worker process (issue 18)."""
from __future__ import annotations

import json
import os
import signal

import pytest

pytest.importorskip("distributed")

from nlp.batch import predict_partitioned, read_partitioned_predictions  # noqa: E402
from nlp.batch.manifest import ERRORS_FILE, MANIFEST_FILE, Manifest  # noqa: E402
from nlp.batch.runner import parse_cluster  # noqa: E402
from nlp.batch.worker import cache_info, finish_rows, predict_documents  # noqa: E402
from nlp.errors import DataError  # noqa: E402
from nlp.labeled.formats import read_documents_info, read_labeled, write_table  # noqa: E402
from nlp.labeled.seed import seed_split_path  # noqa: E402

CHUNK = 60


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as cluster, Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def texts():
    return [e.text for e in read_labeled(seed_split_path("dev"))[0]][:300]


@pytest.fixture
def inputs(tmp_path, texts):
    """Three partitioned inputs: a ';' CSV with ids, a JSONL without ids (row-N) and one bad row, a Parquet
    file with ids, languages and an extra column."""
    d = tmp_path / "in"
    d.mkdir()
    a, b, c = texts[:130], texts[130:230], texts[230:]
    with open(d / "a.csv", "w", encoding="utf-8", newline="") as fh:
        import csv

        w = csv.writer(fh, delimiter=";")
        w.writerow(["id", "text", "region"])
        for i, t in enumerate(a):
            w.writerow([f"a{i}", t, "north" if i % 2 else "south"])
    with open(d / "b.jsonl", "w", encoding="utf-8") as fh:
        for k, t in enumerate(b):
            fh.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
            if k == 7:
                fh.write(json.dumps({"comment": "no text field"}) + "\n")  # a bad row
    write_table([{"id": 1000 + i, "text": t, "lang": "ru" if i % 3 == 0 else None, "score": i}
                 for i, t in enumerate(c)], d / "c.parquet")
    return d


def single_process(pipeline, folder, **opts) -> list[dict]:
    """What ``cxlens predict FILE`` writes for each input file, concatenated in path order."""
    rows = []
    for f in sorted(folder.iterdir()):
        docs, _, _ = read_documents_info(f)
        rows.extend(finish_rows(docs, pipeline.predict(docs, n_jobs=1), **opts))
    return rows


def spec(seed_result) -> str:
    return f"{seed_result.name}@{seed_result.version}"


def test_same_rows_as_single_process(client, inputs, tmp_path, seed_result, models_dir):
    out = tmp_path / "out"
    res = predict_partitioned(inputs, out, cluster=client, model=spec(seed_result), models_dir=models_dir,
                              chunk_rows=CHUNK, keep_columns=True)
    expected = single_process(seed_result.pipeline, inputs, keep_columns=True)
    got = list(read_partitioned_predictions(out))
    assert res.complete and res.rows == len(expected) == 300
    assert got == expected  # same ids, labels, scores, evidence, warnings, pass-through columns, order
    man = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert man["complete"] and man["model"]["name"] == seed_result.name
    assert man["model"]["version"] == seed_result.version and man["output_format"] == "parquet"
    assert [os.path.basename(i["path"]) for i in man["inputs"]] == ["a.csv", "b.jsonl", "c.parquet"]
    assert [i["rows"] for i in man["inputs"]] == [130, 100, 70] and [i["bad_rows"] for i in man["inputs"]] == [0, 1, 0]
    assert all(len(i["sha256"]) == 64 for i in man["inputs"])
    assert len(man["partitions"]) == 3 + 2 + 2 and res.done == 7 and res.skipped == 0
    errors = [json.loads(ln) for ln in (out / ERRORS_FILE).read_text(encoding="utf-8").splitlines()]
    assert len(errors) == 1 and errors[0]["row"] == 9 and errors[0]["field"] == "text" and errors[0]["stage"] == "read"
    assert res.errors == 1
    # every worker process loaded the model once, whatever the number of tasks it ran
    infos = client.run(cache_info)
    assert all(i["loads"] == 1 for i in infos.values()), infos


def test_resume_after_deleting_a_partition(client, inputs, tmp_path, seed_result, models_dir):
    out = tmp_path / "out"
    kw = dict(cluster=client, model=spec(seed_result), models_dir=models_dir, chunk_rows=CHUNK, out_format="jsonl")
    first = predict_partitioned(inputs, out, **kw)
    rows = list(read_partitioned_predictions(out))
    names = Manifest.read(out).partition_names()
    assert all(n.endswith(".jsonl") for n in names)
    mtimes = {n: (out / n).stat().st_mtime_ns for n in names}
    (out / names[3]).unlink()
    again = predict_partitioned(inputs, out, **kw)
    assert (again.done, again.skipped) == (1, len(names) - 1) and again.complete
    assert list(read_partitioned_predictions(out)) == rows == single_process(seed_result.pipeline, inputs)
    assert all((out / n).stat().st_mtime_ns == mtimes[n] for n in names if n != names[3])
    # an unchanged re-run classifies nothing; a changed input redoes only its own partitions
    assert predict_partitioned(inputs, out, **kw).done == 0
    with open(inputs / "b.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"text": "Доставка опоздала на неделю"}, ensure_ascii=False) + "\n")
    changed = predict_partitioned(inputs, out, **kw)
    assert changed.done == 2 and changed.skipped == len(names) - 2 and first.rows + 1 == changed.rows
    assert list(read_partitioned_predictions(out)) == single_process(seed_result.pipeline, inputs)


def test_worker_killed_mid_run(client, inputs, tmp_path, seed_result, models_dir):
    out = tmp_path / "out"
    killed = []

    def kill_one_worker(entry, cl):
        if not killed:
            pid = next(iter(cl.run(os.getpid).values()))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    kw = dict(cluster=client, model=spec(seed_result), models_dir=models_dir, chunk_rows=20)
    res = predict_partitioned(inputs, out, on_partition=kill_one_worker, **kw)
    assert killed
    if not res.complete:  # the run records what failed; the same command finishes it
        res = predict_partitioned(inputs, out, **kw)
    assert res.complete
    assert list(read_partitioned_predictions(out)) == single_process(seed_result.pipeline, inputs)
    client.wait_for_workers(2, timeout=60)  # the nanny restarted the killed worker


def test_in_process_partitions(inputs, tmp_path, seed_result, models_dir):
    """No cluster (``cluster=None``): the same partitions, manifest and resume in this process."""
    out = tmp_path / "out"
    res = predict_partitioned(inputs, out, cluster=None, model=spec(seed_result), models_dir=models_dir,
                              chunk_rows=CHUNK, out_format="jsonl", with_text=True)
    assert res.complete and res.workers == 1 and res.done == 7
    assert list(read_partitioned_predictions(out)) == single_process(seed_result.pipeline, inputs, with_text=True)
    again = predict_partitioned(inputs, out, cluster=None, model=spec(seed_result), models_dir=models_dir,
                                chunk_rows=CHUNK, out_format="jsonl", with_text=True)
    assert (again.done, again.skipped) == (0, 7)
    # other settings: start again (never mix partitions of two settings)
    other = predict_partitioned(inputs, out, cluster=None, model=spec(seed_result), models_dir=models_dir,
                                chunk_rows=100, out_format="jsonl")
    assert other.done == 2 + 1 + 1 and sorted(p.name for p in out.glob("part-*")) == \
        sorted(Manifest.read(out).partition_names())


def test_a_row_that_fails_in_the_model_never_loses_its_partition():
    from nlp.schema import Document

    class Flaky:
        def predict(self, docs, n_jobs=1):
            if any(d.text == "boom" for d in docs):
                raise RuntimeError("cannot classify")
            return [{"id": d.id, "warnings": []} for d in docs]

    docs = [Document(id=str(i), text=t) for i, t in enumerate(["ok", "boom", "fine"])]
    kept, rows, errors = predict_documents(Flaky(), docs, source="x.csv")
    assert [d.id for d in kept] == [r["id"] for r in rows] == ["0", "2"]
    assert errors == [{"source": "x.csv", "row": None, "field": None, "id": "1", "stage": "predict",
                       "message": "RuntimeError: cannot classify"}]


def test_cluster_spec():
    assert parse_cluster("local:3") == ("local", 3)
    assert parse_cluster("tcp://10.0.0.5:8786") == ("tcp", "tcp://10.0.0.5:8786")
    assert parse_cluster("local")[0] == "local"
    for bad in ("local:0", "local:x", "remote", "tcp://"):
        with pytest.raises(DataError):
            parse_cluster(bad)
