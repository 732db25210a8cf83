"""Report configuration: which column is what, score scales, thresholds (docs/reports.md).

A config is a YAML/JSON file, CLI flags, or nothing: column roles are then detected from common
Russian/English headers (:func:`detect_columns`). Every bad value raises
:class:`nlp.errors.DataError` naming the config key, what was expected and what was found.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from nlp.errors import DataError

#: text/identity roles a wave column can play
TEXT_ROLES: tuple[str, ...] = ("id", "company", "contact", "segment", "region", "date", "wave", "question",
                               "comment", "key_account")
#: score roles besides component ratings
SCORE_ROLES: tuple[str, ...] = ("nps", "csat", "ces")
RATING_PREFIXES: tuple[str, ...] = ("rating:", "оценка:", "rating_", "рейтинг:")

DEFAULT_SCALES: dict[str, tuple[float, float]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7), "rating": (1, 10)}

#: header synonyms for auto-detection (normalised: lower case, ё -> е, punctuation -> space)
HEADER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "id": ("id", "ид", "answer id", "response id", "id ответа", "номер ответа"),
    "company": ("company", "компания", "организация", "клиент", "account", "customer", "client", "company name",
                "название компании", "наименование компании", "контрагент"),
    "contact": ("contact", "контакт", "контактное лицо", "фио", "респондент", "respondent", "contact name",
                "person", "name", "имя"),
    "segment": ("segment", "сегмент", "сегмент клиента", "customer segment"),
    "region": ("region", "регион", "филиал", "branch"),
    "date": ("date", "дата", "дата ответа", "response date", "answered at"),
    "wave": ("wave", "волна", "период", "period", "round", "раунд", "wave id"),
    "question": ("question", "вопрос", "текст вопроса"),
    "comment": ("comment", "комментарий", "комментарии", "отзыв", "text", "текст", "feedback", "verbatim",
                "текст комментария", "open answer", "открытый ответ", "причина оценки"),
    "key_account": ("key account", "key_account", "ключевой клиент", "ключевой"),
    "nps": ("nps", "оценка", "ltr", "likelihood to recommend", "вероятность рекомендации", "готовность рекомендовать",
            "рекомендация", "nps score", "оценка nps", "score", "recommend"),
    "csat": ("csat", "удовлетворенность", "satisfaction", "csat score", "оценка удовлетворенности"),
    "ces": ("ces", "customer effort", "effort", "усилия", "легкость", "простота", "ces score"),
}


def normalize_header(name: str) -> str:
    s = str(name).strip().lower().replace("ё", "е")
    s = re.sub(r"[\s_\-./()«»\"']+", " ", s)
    return s.strip()


def parse_scale(value: Any, *, key: str, source: str | None = None) -> tuple[float, float]:
    """``[1, 5]``, ``"1-5"``, ``"0..10"`` -> ``(low, high)`` with low < high."""
    lo = hi = None
    if isinstance(value, (list, tuple)) and len(value) == 2:
        lo, hi = value
    elif isinstance(value, str):
        m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*(?:-|\.\.|:|–)\s*(-?\d+(?:\.\d+)?)\s*", value)
        if m:
            lo, hi = m.group(1), m.group(2)
    try:
        lo_f, hi_f = float(lo), float(hi)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DataError("bad score scale", field=key, expected="[low, high] or 'low-high', e.g. 1-5",
                        found=value, source=source) from None
    if not lo_f < hi_f:
        raise DataError("bad score scale", field=key, expected="low < high", found=value, source=source)
    return lo_f, hi_f


@dataclass
class ScoreSpec:
    """One numeric column: where it is and its scale."""

    column: str
    scale: tuple[float, float]
    #: CSAT: lowest score that counts as satisfied (None = 4 on 1-5, 8 on 1-10, else the top two values)
    top_box_from: float | None = None
    #: CES: which end of the scale is good ("high": 7 = very easy; "low": 1 = very easy)
    good_end: str = "high"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["scale"] = list(self.scale)
        return d


def _positive_number(value: Any, *, key: str, source: str | None, integer: bool = False,
                     allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and integer:
        ok = float(value).is_integer()
    if ok:
        ok = value >= 0 if allow_zero else value > 0
    if not ok:
        kind = "an integer" if integer else "a number"
        raise DataError(field=key, expected=f"{kind} {'>= 0' if allow_zero else '> 0'}", found=value, source=source)
    return int(value) if integer else float(value)


@dataclass
class ReportConfig:
    """Everything :func:`cx.report.build_report` needs besides the data. Defaults follow METHODOLOGY.md."""

    columns: dict[str, str] = field(default_factory=dict)        # role -> column header
    scores: dict[str, ScoreSpec] = field(default_factory=dict)   # nps/csat/ces -> spec
    ratings: dict[str, ScoreSpec] = field(default_factory=dict)  # component id -> spec
    overall: str | None = None            # score used as "overall" for derived importance (default nps, csat)
    satisfaction_sources: tuple[str, ...] = ("nps", "csat", "ratings")
    systemic_max: float = 3.0              # average <= this (10-point) -> systemic process flaws
    individual_min: float = 8.0            # average >= this -> individual cases
    yellow_from: float = 7.0               # traffic light: red < 7 <= yellow < 9 <= green
    green_from: float = 9.0
    min_n: int = 5
    matrix_basis: str = "auto"             # auto | ratings | mentions
    importance: str = "shapley"            # shapley | relative_weights | correlation | stated
    weights: dict[str, float] = field(default_factory=dict)  # stated importance
    cut: str | dict[str, float] = "mean"   # mean | median | {importance: x, performance: y}
    key_accounts: tuple[str, ...] = ()
    falling_min_drop: float = 0.5          # drop of a company's 10-point average between waves
    scope: str = "latest"                  # latest (current wave) | all
    wave_period: str = "Q"                 # when only a date column exists: pandas period (M, Q, Y)
    quotes_per_item: int = 3
    quote_window: int = 100                # characters kept around an evidence span
    shortlist_max: int = 50
    questions_per_contact: tuple[int, int] = (2, 4)
    lang: str = "ru"
    taxonomy: str | None = None
    risk_patterns: str | None = None
    interview_questions: str | None = None
    include_comments: bool = True          # per-comment labels in the JSON (the CSV/XLSX "labels" section)
    source: str | None = None              # where the config came from (for messages)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None, *, source: str | None = None) -> "ReportConfig":
        raw = dict(raw or {})
        if not isinstance(raw, dict):
            raise DataError(expected="a mapping", found=type(raw).__name__, source=source)
        known = {"columns", "scores", "ratings", "overall", "satisfaction", "traffic_light", "min_n", "matrix",
                 "key_accounts", "falling", "scope", "wave_period", "quotes", "shortlist", "lang", "taxonomy",
                 "risk_patterns", "interview_questions", "include_comments"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise DataError("unknown config key", field=unknown[0], expected=f"one of {sorted(known)}",
                            found=unknown[0], source=source)
        cfg = cls(source=source)
        cols = raw.get("columns") or {}
        if not isinstance(cols, dict):
            raise DataError(field="columns", expected="a mapping role -> column", found=cols, source=source)
        for role, col in cols.items():
            if role not in TEXT_ROLES:
                raise DataError("unknown column role", field=f"columns.{role}", expected=f"one of {list(TEXT_ROLES)}",
                                found=role, source=source)
            if not isinstance(col, str) or not col.strip():
                raise DataError(field=f"columns.{role}", expected="a column name", found=col, source=source)
            cfg.columns[role] = col.strip()
        scores = raw.get("scores") or {}
        if not isinstance(scores, dict):
            raise DataError(field="scores", expected="a mapping nps/csat/ces -> spec", found=scores, source=source)
        for role, spec in scores.items():
            if role not in SCORE_ROLES:
                raise DataError("unknown score", field=f"scores.{role}", expected=f"one of {list(SCORE_ROLES)}",
                                found=role, source=source)
            cfg.scores[role] = _score_spec(spec, kind=role, key=f"scores.{role}", source=source)
        ratings = raw.get("ratings") or {}
        if not isinstance(ratings, dict):
            raise DataError(field="ratings", expected="a mapping component -> spec", found=ratings, source=source)
        for comp, spec in ratings.items():
            cfg.ratings[str(comp)] = _score_spec(spec, kind="rating", key=f"ratings.{comp}", source=source)
        if raw.get("overall") is not None:
            cfg.overall = str(raw["overall"])
        sat = raw.get("satisfaction") or {}
        if not isinstance(sat, dict):
            raise DataError(field="satisfaction", expected="a mapping", found=sat, source=source)
        if "sources" in sat:
            srcs = sat["sources"]
            if not isinstance(srcs, list) or not all(s in ("nps", "csat", "ces", "ratings") for s in srcs) or not srcs:
                raise DataError(field="satisfaction.sources", expected="a non-empty list of nps|csat|ces|ratings",
                                found=srcs, source=source)
            cfg.satisfaction_sources = tuple(srcs)
        for key, attr in (("systemic_max", "systemic_max"), ("individual_min", "individual_min")):
            if key in sat:
                setattr(cfg, attr, _positive_number(sat[key], key=f"satisfaction.{key}", source=source))
        tl = raw.get("traffic_light") or {}
        if not isinstance(tl, dict):
            raise DataError(field="traffic_light", expected="a mapping", found=tl, source=source)
        for key in ("yellow_from", "green_from"):
            if key in tl:
                setattr(cfg, key, _positive_number(tl[key], key=f"traffic_light.{key}", source=source))
        if "min_n" in raw:
            cfg.min_n = int(_positive_number(raw["min_n"], key="min_n", source=source, integer=True))
        mx = raw.get("matrix") or {}
        if not isinstance(mx, dict):
            raise DataError(field="matrix", expected="a mapping", found=mx, source=source)
        if "basis" in mx:
            cfg.matrix_basis = str(mx["basis"])
        if "importance" in mx:
            cfg.importance = str(mx["importance"])
        if "weights" in mx:
            w = mx["weights"]
            if not isinstance(w, dict):
                raise DataError(field="matrix.weights", expected="a mapping id -> weight", found=w, source=source)
            cfg.weights = {str(k): _positive_number(v, key=f"matrix.weights.{k}", source=source, allow_zero=True)
                           for k, v in w.items()}
        if "cut" in mx:
            cfg.cut = mx["cut"]
        ka = raw.get("key_accounts")
        if ka is not None:
            if not isinstance(ka, list) or not all(isinstance(x, str) for x in ka):
                raise DataError(field="key_accounts", expected="a list of company names", found=ka, source=source)
            cfg.key_accounts = tuple(x.strip() for x in ka)
        fall = raw.get("falling") or {}
        if "min_drop" in fall:
            cfg.falling_min_drop = _positive_number(fall["min_drop"], key="falling.min_drop", source=source)
        for key in ("scope", "wave_period", "lang", "taxonomy", "risk_patterns", "interview_questions"):
            if raw.get(key) is not None:
                setattr(cfg, key, str(raw[key]))
        if "include_comments" in raw:
            cfg.include_comments = bool(raw["include_comments"])
        q = raw.get("quotes") or {}
        if "per_item" in q:
            cfg.quotes_per_item = int(_positive_number(q["per_item"], key="quotes.per_item", source=source, integer=True))
        if "window" in q:
            cfg.quote_window = int(_positive_number(q["window"], key="quotes.window", source=source, integer=True))
        sl = raw.get("shortlist") or {}
        if "max" in sl:
            cfg.shortlist_max = int(_positive_number(sl["max"], key="shortlist.max", source=source, integer=True))
        if "questions" in sl:
            qs = sl["questions"]
            if not (isinstance(qs, list) and len(qs) == 2 and all(isinstance(x, int) and x > 0 for x in qs)
                    and qs[0] <= qs[1]):
                raise DataError(field="shortlist.questions", expected="[min, max] positive integers",
                                found=qs, source=source)
            cfg.questions_per_contact = (qs[0], qs[1])
        cfg.validate()
        return cfg

    def validate(self) -> "ReportConfig":
        src = self.source
        if self.matrix_basis not in ("auto", "ratings", "mentions"):
            raise DataError(field="matrix.basis", expected="auto|ratings|mentions", found=self.matrix_basis, source=src)
        if self.importance not in ("shapley", "relative_weights", "correlation", "stated"):
            raise DataError(field="matrix.importance", expected="shapley|relative_weights|correlation|stated",
                            found=self.importance, source=src)
        if self.importance == "stated" and not self.weights:
            raise DataError("stated importance needs weights", field="matrix.weights",
                            expected="a mapping id -> weight", found=self.weights, source=src)
        if isinstance(self.cut, dict):
            for k, v in self.cut.items():
                if k not in ("importance", "performance") or not isinstance(v, (int, float)):
                    raise DataError(field=f"matrix.cut.{k}", expected="importance/performance: a number",
                                    found=v, source=src)
        elif self.cut not in ("mean", "median"):
            raise DataError(field="matrix.cut", expected="mean|median|{importance: x, performance: y}",
                            found=self.cut, source=src)
        if not self.yellow_from < self.green_from:
            raise DataError(field="traffic_light", expected="yellow_from < green_from",
                            found=(self.yellow_from, self.green_from), source=src)
        if not self.systemic_max < self.individual_min:
            raise DataError(field="satisfaction", expected="systemic_max < individual_min",
                            found=(self.systemic_max, self.individual_min), source=src)
        if self.scope not in ("latest", "all"):
            raise DataError(field="scope", expected="latest|all", found=self.scope, source=src)
        if self.lang not in ("ru", "en"):
            raise DataError(field="lang", expected="ru|en", found=self.lang, source=src)
        if self.overall is not None and self.overall not in SCORE_ROLES:
            raise DataError(field="overall", expected="nps|csat|ces", found=self.overall, source=src)
        for role, spec in self.scores.items():
            if role == "ces" and spec.good_end not in ("high", "low"):
                raise DataError(field="scores.ces.good_end", expected="high|low", found=spec.good_end, source=src)
        return self

    def to_dict(self) -> dict[str, Any]:
        """The effective configuration (it is written into the report)."""
        return {
            "columns": dict(self.columns),
            "scores": {k: v.to_dict() for k, v in self.scores.items()},
            "ratings": {k: v.to_dict() for k, v in self.ratings.items()},
            "overall": self.overall,
            "satisfaction": {"sources": list(self.satisfaction_sources), "systemic_max": self.systemic_max,
                             "individual_min": self.individual_min},
            "traffic_light": {"yellow_from": self.yellow_from, "green_from": self.green_from},
            "min_n": self.min_n,
            "matrix": {"basis": self.matrix_basis, "importance": self.importance, "weights": dict(self.weights),
                       "cut": self.cut},
            "key_accounts": list(self.key_accounts),
            "falling": {"min_drop": self.falling_min_drop},
            "scope": self.scope, "wave_period": self.wave_period,
            "quotes": {"per_item": self.quotes_per_item, "window": self.quote_window},
            "shortlist": {"max": self.shortlist_max, "questions": list(self.questions_per_contact)},
            "lang": self.lang, "taxonomy": self.taxonomy, "risk_patterns": self.risk_patterns,
            "interview_questions": self.interview_questions, "include_comments": self.include_comments,
        }

    # ------------------------------------------------------------------ column resolution
    def resolve_columns(self, headers: Iterable[str], *, source: str | None = None) -> "ReportConfig":
        """Fill the roles the config does not name from the file's headers; check named ones exist."""
        headers = [h for h in headers if h]
        present = set(headers)
        for role, col in self.columns.items():
            if col not in present:
                raise DataError("configured column not in the file", field=f"columns.{role}",
                                expected=f"one of {headers}", found=col, source=source)
        for role, spec in list(self.scores.items()) + [(f"ratings.{k}", v) for k, v in self.ratings.items()]:
            if spec.column not in present:
                raise DataError("configured column not in the file", field=f"{role}.column",
                                expected=f"one of {headers}", found=spec.column, source=source)
        detected = detect_columns(headers, taken=set(self.columns.values())
                                  | {s.column for s in self.scores.values()}
                                  | {s.column for s in self.ratings.values()})
        for role, col in detected["columns"].items():
            self.columns.setdefault(role, col)
        for role, col in detected["scores"].items():
            if role not in self.scores:
                self.scores[role] = ScoreSpec(col, DEFAULT_SCALES[role])
        for comp, col in detected["ratings"].items():
            if comp not in self.ratings:
                self.ratings[comp] = ScoreSpec(col, DEFAULT_SCALES["rating"])
        if "company" not in self.columns:
            raise DataError("no company column", field="company",
                            expected="a column such as 'company' / 'Компания' (or columns.company in the config)",
                            found=headers, source=source)
        if "comment" not in self.columns and not self.scores and not self.ratings:
            raise DataError("nothing to report on", field="comment/scores",
                            expected="a comment column or at least one score column", found=headers, source=source)
        return self

    @property
    def overall_score(self) -> str | None:
        if self.overall:
            return self.overall if self.overall in self.scores else None
        return next((r for r in ("nps", "csat") if r in self.scores), None)


def _score_spec(spec: Any, *, kind: str, key: str, source: str | None) -> ScoreSpec:
    if isinstance(spec, str):
        return ScoreSpec(spec.strip(), DEFAULT_SCALES[kind])
    if not isinstance(spec, dict) or not isinstance(spec.get("column"), str) or not spec["column"].strip():
        raise DataError(field=key, expected="a column name or {column, scale}", found=spec, source=source)
    scale = parse_scale(spec["scale"], key=f"{key}.scale", source=source) if "scale" in spec else DEFAULT_SCALES[kind]
    top = spec.get("top_box_from")
    if top is not None and not (isinstance(top, (int, float)) and scale[0] <= top <= scale[1]):
        raise DataError(field=f"{key}.top_box_from", expected=f"a number within {list(scale)}", found=top, source=source)
    good = spec.get("good_end", "high")
    if good not in ("high", "low"):
        raise DataError(field=f"{key}.good_end", expected="high|low", found=good, source=source)
    return ScoreSpec(spec["column"].strip(), scale, top, good)


def detect_columns(headers: Iterable[str], *, taken: set[str] | None = None) -> dict[str, dict[str, str]]:
    """Guess column roles from headers. Exact synonym matches win over prefix matches; each column is used once."""
    taken = set(taken or ())
    out: dict[str, dict[str, str]] = {"columns": {}, "scores": {}, "ratings": {}}
    norm = {h: normalize_header(h) for h in headers}
    for h in headers:  # component ratings: "rating:field_service", "Оценка: доставка"
        low = str(h).strip().lower()
        for p in RATING_PREFIXES:
            if low.startswith(p) and len(low) > len(p) and h not in taken:
                comp = low[len(p):].strip().replace(" ", "_")
                out["ratings"][comp] = h
                taken.add(h)
                break
    for exact in (True, False):
        for role, syns in HEADER_SYNONYMS.items():
            bucket = "scores" if role in SCORE_ROLES else "columns"
            if role in out[bucket]:
                continue
            for h in headers:
                if h in taken:
                    continue
                n = norm[h]
                hit = n in syns if exact else any(n.startswith(s + " ") for s in syns if len(s) > 2)
                if hit:
                    out[bucket][role] = h
                    taken.add(h)
                    break
    return out


def load_config(path: str | Path | None = None, *, overrides: Mapping[str, Any] | None = None) -> ReportConfig:
    """Read a YAML/JSON config (or none) and apply ``overrides`` (same structure, e.g. from CLI flags)."""
    raw: dict[str, Any] = {}
    source = None
    if path is not None:
        p = Path(path)
        source = str(p)
        if not p.exists():
            raise DataError("file not found", source=source, expected="a report config YAML/JSON file", found=str(p))
        text = p.read_text(encoding="utf-8-sig")
        try:
            loaded = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as e:
            raise DataError(f"invalid config: {e}", source=source) from e
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise DataError(expected="a mapping at the top level", found=type(loaded).__name__, source=source)
        raw = loaded
    if overrides:
        raw = _deep_merge(raw, overrides)
    return ReportConfig.from_dict(raw, source=source)


def _deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out
