"""The bundled demo wave tells the story the generator was written for (cx/data/demo/generate.py)."""
from __future__ import annotations

import filecmp
import importlib.util
import re

import pandas as pd

from .conftest import DEMO


def test_demo_size_and_languages():
    df = pd.read_csv(DEMO / "wave.csv", sep=";", encoding="utf-8-sig")
    assert len(df) >= 400 and df["Компания"].nunique() >= 15
    assert df.groupby(["Компания", "Контактное лицо"]).ngroups >= 50
    assert df["Волна"].nunique() == 2
    comments = df["Комментарий"].dropna()
    ru = comments.map(lambda s: bool(re.search("[а-яА-Я]", s))).mean()
    assert 0.6 < ru < 0.95  # Russian majority, English present


def test_demo_files_are_what_the_seeded_generator_writes(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("demo_generate", DEMO / "generate.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    monkeypatch.setattr(gen, "HERE", tmp_path)
    gen.main()
    for name in ("wave.csv", "predictions.jsonl"):
        assert filecmp.cmp(tmp_path / name, DEMO / name, shallow=False), name


def test_red_companies(demo_report):
    red = {c["company"] for c in demo_report["traffic_lights"]["companies"] if c["zone"] == "red"}
    assert red == {"Вектор Агро", "СтройМонтаж Урал", "Northwind Trading"}
    zones = [c["zone"] for c in demo_report["traffic_lights"]["companies"]]
    assert zones == sorted(zones, key=["red", "yellow", "green"].index)  # red zone listed first


def test_priority_one_is_field_service_and_customer_service_a_strength(demo_report):
    mx = demo_report["matrix"]
    assert mx["basis"] == "ratings" and mx["importance_method"] == "shapley"
    first = mx["items"][0]
    assert (first["id"], first["quadrant"], first["priority"]) == ("field_service", "A", 1)
    assert [i["id"] for i in mx["items"] if i["priority"] == 1] == ["field_service"]
    quad = {i["id"]: i["quadrant"] for i in mx["items"]}
    assert quad["customer_service"] == "C"
    assert demo_report["strengths"][0]["touchpoint"] == "customer_service"
    assert demo_report["weaknesses"][0]["touchpoint"] == "field_service"
    assert all(len(w["quotes"]) == 3 for w in demo_report["weaknesses"][:3])


def test_falling_companies_and_risks(demo_report):
    falling = {c["company"] for c in demo_report["trends"]["companies"] if c["falling"]}
    assert falling == {"Полюс Энерго", "Globex Industries"}
    cats = {c["id"]: c["n"] for c in demo_report["risks"]["categories"]}
    assert cats["switching"] > 0 and demo_report["risks"]["n_answers"] >= 5
    at_risk = {c["company"] for c in demo_report["risks"]["at_risk_companies"]}
    assert {"Вектор Агро", "СтройМонтаж Урал", "Northwind Trading"} & at_risk


def test_shortlist_order(demo_report):
    sl = demo_report["shortlist"]
    groups = [1 if "red_zone" in r["reasons"] else 2 if "key_account_detractor" in r["reasons"] else 3 for r in sl]
    assert groups == sorted(groups) and groups[0] == 1 and 2 in groups and 3 in groups
    reds = [r for r in sl if "red_zone" in r["reasons"]]
    assert all(r["zone"] == "red" for r in reds)
    avgs = [r["satisfaction"] for r in reds]
    assert avgs == sorted(avgs)  # worst first
    assert all(r["company"] in {"Полюс Энерго", "Globex Industries"} for r in sl if groups[sl.index(r)] == 3)
    first = sl[0]
    assert first["negative_touchpoints"] and first["quotes"] and 2 <= len(first["questions"]) <= 4
