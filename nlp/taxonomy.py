"""Touchpoint taxonomy: ids, RU/EN names and descriptions, loaded from an editable YAML file."""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .errors import DataError

DEFAULT_TAXONOMY_FILE = "taxonomy.yaml"


@dataclass(frozen=True)
class Touchpoint:
    id: str
    name: dict[str, str]
    description: dict[str, str]
    keywords: dict[str, tuple[str, ...]] = field(default_factory=dict)  #: lang -> word beginnings

    def label(self, lang: str = "en") -> str:
        return self.name.get(lang) or self.name.get("en") or self.id


@dataclass(frozen=True)
class Taxonomy:
    touchpoints: tuple[Touchpoint, ...]
    version: int | str = 1

    @property
    def ids(self) -> list[str]:
        return [t.id for t in self.touchpoints]

    def __contains__(self, tp_id: object) -> bool:
        return tp_id in self.ids

    def get(self, tp_id: str) -> Touchpoint | None:
        return next((t for t in self.touchpoints if t.id == tp_id), None)

    def name(self, tp_id: str, lang: str = "en") -> str:
        tp = self.get(tp_id)
        return tp.label(lang) if tp else tp_id

    @property
    def keywords(self) -> dict[str, list[str]]:
        """Touchpoint id -> keyword beginnings of all languages (the `fast` family's lexicon features)."""
        return {t.id: [w for words in t.keywords.values() for w in words] for t in self.touchpoints if t.keywords}

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version,
                "touchpoints": [{"id": t.id, "name": dict(t.name), "description": dict(t.description),
                                 "keywords": {k: list(v) for k, v in t.keywords.items()}}
                                for t in self.touchpoints]}

    @classmethod
    def from_dict(cls, raw: Any, *, source: str = "taxonomy") -> "Taxonomy":
        if not isinstance(raw, dict) or not isinstance(raw.get("touchpoints"), list):
            raise DataError(source=source, field="touchpoints", expected="a list of {id, name, description}",
                            found=type(raw).__name__)
        tps, seen = [], set()
        for i, item in enumerate(raw["touchpoints"]):
            if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"].strip():
                raise DataError(source=source, field=f"touchpoints[{i}].id", expected="a non-empty string", found=item)
            tp_id = item["id"].strip()
            if tp_id in seen:
                raise DataError("duplicate touchpoint id", source=source, field=f"touchpoints[{i}].id",
                                expected="unique ids", found=tp_id)
            seen.add(tp_id)
            name = item.get("name") or {"en": tp_id}
            desc = item.get("description") or {}
            if isinstance(name, str):
                name = {"en": name}
            if isinstance(desc, str):
                desc = {"en": desc}
            kw = item.get("keywords") or {}
            if isinstance(kw, list):
                kw = {"any": kw}
            if not isinstance(kw, dict) or not all(isinstance(v, list) for v in kw.values()):
                raise DataError(source=source, field=f"touchpoints[{i}].keywords",
                                expected="a mapping language -> list of words", found=kw)
            keywords = {lang: tuple(str(w).strip().lower().replace("ё", "е") for w in words if str(w).strip())
                        for lang, words in kw.items()}
            tps.append(Touchpoint(tp_id, dict(name), dict(desc), keywords))
        return cls(tuple(tps), raw.get("version", 1))


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load a taxonomy YAML/JSON file; ``None`` = the bundled default (METHODOLOGY.md, 12 touchpoints)."""
    if path is None:
        text = resources.files("nlp.data").joinpath(DEFAULT_TAXONOMY_FILE).read_text(encoding="utf-8")
        source = "default taxonomy"
    else:
        p = Path(path)
        if not p.exists():
            raise DataError("file not found", source=str(p), expected="a taxonomy YAML file", found=str(p))
        text, source = p.read_text(encoding="utf-8"), str(p)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise DataError(f"invalid YAML: {e}", source=source) from e
    return Taxonomy.from_dict(raw, source=source)
