"""The layout's dependency rules (README "Layout"): library code never imports CLI code, nlp never imports
cx or api, and nlp's subpackages depend one way: text <- labeled <- families <- lifecycle."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: subpackage -> subpackages it must not import
FORBIDDEN = {
    "nlp.text": {"nlp.labeled", "nlp.families", "nlp.lifecycle"},
    "nlp.labeled": {"nlp.families", "nlp.lifecycle"},
    "nlp.families": {"nlp.lifecycle"},
}


def _imports() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for pkg in ("nlp", "cx", "api"):
        for p in (ROOT / pkg).rglob("*.py"):
            parts = list(p.relative_to(ROOT).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            if is_pkg:
                parts = parts[:-1]
            mod, targets = ".".join(parts), set()
            for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom):
                    if node.level:
                        base = parts if is_pkg else parts[:-1]
                        base = base[: len(base) - (node.level - 1)]
                        target = ".".join(base + ([node.module] if node.module else []))
                    else:
                        target = node.module or ""
                    targets.add(target)
                    targets.update(f"{target}.{a.name}" for a in node.names)  # ``from .. import lifecycle``
                elif isinstance(node, ast.Import):
                    targets.update(a.name for a in node.names)
            out[mod] = targets
    return out


def _within(mod: str, pkg: str) -> bool:
    return mod == pkg or mod.startswith(pkg + ".")


def test_dependency_rules_hold():
    graph = _imports()
    assert len(graph) > 80 and "nlp.lifecycle.store" in graph and "api.cli.train" in graph
    bad = []
    for mod, targets in graph.items():
        for t in targets:
            if _within(t, "api.cli") and not _within(mod, "api.cli"):
                bad.append(f"{mod} imports the CLI ({t})")
            if _within(mod, "nlp") and (_within(t, "cx") or _within(t, "api")):
                bad.append(f"{mod} imports a layer above nlp ({t})")
            if _within(mod, "cx") and _within(t, "api"):
                bad.append(f"{mod} imports the service layer ({t})")
            for pkg, forbidden in FORBIDDEN.items():
                if _within(mod, pkg):
                    bad += [f"{mod} imports {t} (against {pkg}'s direction)" for f in forbidden if _within(t, f)]
    assert bad == []
