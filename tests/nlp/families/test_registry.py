"""The family registry is the one list of model families: CLI choices, the API enum and defaults read it."""
from __future__ import annotations

import pytest

from api.schemas.models import TrainRequest  # built from the registry when first imported (before any test family)
from nlp.errors import DataError
from nlp.families import registry
from nlp.families.registry import Family, family_names, family_options, get_family, make_featurizer, make_pipeline


def test_builtin_families_and_their_traits():
    assert family_names() == ("fast", "encoder", "ensemble", "finetuned")
    assert get_family("fast").keyword_features and get_family("fast").forkable
    assert get_family("encoder").uses_encoder and get_family("ensemble").uses_encoder
    assert not get_family("fast").uses_encoder
    assert make_pipeline("fast").model_type == "fast"
    assert make_pipeline("ensemble").model_type == "ensemble"
    # the fine-tuned family is the same combination, registered under its own name, fine-tuned by training
    tuned = make_pipeline("finetuned")
    assert tuned.model_type == "finetuned" and tuned.finetune and get_family("finetuned").finetunes
    assert not get_family("ensemble").finetunes and not make_pipeline("ensemble").finetune
    assert {**get_family("finetuned").defaults, "finetune": False} == {**get_family("ensemble").defaults,
                                                                       "finetune": False}


def test_unknown_family_is_a_clear_error_naming_the_choices():
    with pytest.raises(DataError, match=r"model_type.*\['fast', 'encoder', 'ensemble', 'finetuned'\].*'gpt'"):
        get_family("gpt")
    with pytest.raises(DataError, match="combines other families"):
        make_featurizer("ensemble")


def test_options_merge_over_defaults_member_by_member():
    opts = family_options("ensemble", {"member_params": {"fast": {"C": 2.0}}, "weights": [1, 2]})
    assert opts["member_params"]["fast"] == {"C": 2.0}
    assert opts["member_params"]["encoder"] == get_family("ensemble").defaults["member_params"]["encoder"]
    assert opts["weights"] == [1, 2]
    assert family_options("encoder", {"C": 1.0})["C"] == 1.0


def test_options_merge_nested_featurizer_params_key_by_key():
    # an encoder path for the ensemble's member (cxlens train --encoder) keeps the member's other defaults
    opts = family_options("ensemble", {"member_params": {"encoder": {"featurizer_params": {"model_path": "/m"}}}})
    enc = opts["member_params"]["encoder"]
    defaults = get_family("ensemble").defaults["member_params"]["encoder"]
    assert enc["featurizer_params"] == {**defaults["featurizer_params"], "model_path": "/m"}
    assert enc["featurizer_params"]["layers"] == 6 and enc["C"] == defaults["C"]
    assert "model_path" not in defaults["featurizer_params"]  # the registry's defaults are not mutated
    # a value that is not a mapping replaces the default outright
    assert family_options("ensemble", {"member_params": None})["member_params"] is None


@pytest.fixture
def extra_family(monkeypatch):
    monkeypatch.setattr(registry, "_FAMILIES", dict(registry._FAMILIES))
    fam = registry.register_family(Family("toy", "a test family", factory=lambda **o: ("toy", o),
                                          defaults={"C": 3.0}))
    return fam


def test_a_registered_family_reaches_the_cli_and_the_api(extra_family):
    from api.cli import build_parser

    assert make_pipeline("toy", D=1) == ("toy", {"C": 3.0, "D": 1})
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    choices = next(a.choices for a in train._actions if a.dest == "model_type")
    assert "toy" in choices
    with pytest.raises(DataError, match="registered twice"):
        registry.register_family(extra_family)
    # the API schema was built when its module was first imported, from the registry of then: the built-ins
    enum = TrainRequest.model_json_schema()["properties"]["model_type"]["anyOf"][0]["enum"]
    assert tuple(enum) == tuple(n for n in family_names() if n != "toy")


def test_the_readme_lists_every_registered_family():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Model families"):readme.index("## Data")]
    assert all(f"| `{name}`" in table for name in family_names()), family_names()
