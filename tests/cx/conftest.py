"""Fixtures for the reports layer: a tiny hand-checked wave and the bundled demo wave."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cx.config import ReportConfig, load_config
from cx.report import build_report
from cx.waves import canonicalize, read_predictions, read_wave

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "cx" / "data" / "demo"

HOSTILE_SCRIPT = "Счета с ошибками <script>alert('x')</script>"
HOSTILE_FORMULA = '=HYPERLINK("http://evil.example","click")'

# wave, company, contact, nps, csat, comment
TINY_ROWS = [
    ("W2", "X", "a", 3, None, "Инженер не приехал"),
    ("W2", "X", "b", 5, None, HOSTILE_SCRIPT),
    ("W2", "Y", "c", 10, None, "Менеджер супер"),
    ("W2", "Y", "d", 9, None, "Менеджер всегда на связи"),
    ("W2", "Z", "e", 7, None, ""),
    ("W2", "Z", "g", 6, 5, "Рассматриваем других поставщиков"),
    ("W2", "F", "h", 8, None, "Инженер опоздал, менеджер помог"),
    ("W1", "F", "h", 10, None, "Всё отлично"),
    ("W1", "X", "a", 6, None, HOSTILE_FORMULA),
]
# answer id -> [(touchpoint, polarity, confidence, evidence text)]
TINY_LABELS = {
    "1": [("field_service", "negative", 0.9, "Инженер не приехал")],
    "2": [("billing", "negative", 0.8, "Счета с ошибками")],
    "3": [("customer_service", "positive", 0.95, "Менеджер супер")],
    "4": [("customer_service", "positive", 0.7, "Менеджер всегда на связи")],
    "7": [("field_service", "negative", 0.6, "Инженер опоздал"), ("customer_service", "positive", 0.9, "менеджер помог")],
}


def prediction(aid: str, text: str, labels: list[tuple[str, str, float, str]]) -> dict:
    tps = []
    for tp, pol, conf, ev in labels:
        start = text.index(ev)
        tps.append({"touchpoint": tp, "polarity": pol, "confidence": conf,
                    "evidence": {"start": start, "end": start + len(ev), "text": ev}})
    pols = {t["polarity"] for t in tps}
    sent = "mixed" if {"positive", "negative"} <= pols else (next(iter(pols)) if pols else "neutral")
    return {"id": aid, "lang": "ru", "sentiment": {"label": sent, "scores": {sent: 1.0}}, "touchpoints": tps,
            "model": {"name": "fake", "version": "1"}, "warnings": []}


def tiny_raw() -> pd.DataFrame:
    return pd.DataFrame(TINY_ROWS, columns=["wave", "company", "contact", "nps", "csat", "comment"])


def tiny_answers(cfg: ReportConfig) -> pd.DataFrame:
    raw = tiny_raw()
    cfg.resolve_columns(list(raw.columns))
    raw.insert(0, "_row", range(1, len(raw) + 1))
    df, errors = canonicalize(raw, cfg)
    assert errors == []
    return df


def tiny_predictions() -> list[dict]:
    return [prediction(str(i), TINY_ROWS[int(i) - 1][5], labels) for i, labels in TINY_LABELS.items()]


@pytest.fixture
def tiny_config() -> ReportConfig:
    return ReportConfig.from_dict({"min_n": 1, "key_accounts": ["Z"], "lang": "en",
                                   "scores": {"nps": "nps", "csat": {"column": "csat", "scale": [1, 5]}}})


@pytest.fixture
def tiny_report(tiny_config) -> dict:
    return build_report(tiny_answers(tiny_config), tiny_predictions(), tiny_config)


@pytest.fixture(scope="session")
def demo_report() -> dict:
    cfg = load_config(DEMO / "config.yaml")
    df, errors = read_wave(DEMO / "wave.csv", cfg)
    assert errors == []
    preds, perr = read_predictions(DEMO / "predictions.jsonl")
    assert perr == []
    return build_report(df, preds, cfg, source="wave.csv")
