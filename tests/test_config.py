"""Config files that build on a base: merged key by key, paths relative to the workflow folder, loops refused."""

import pytest
import yaml

from openvclip.config import merge_over, resolve_base


def test_mappings_merge_and_everything_else_is_replaced():
    base = {"train": {"lr": 1.0, "epochs": 22}, "eval": {"ratios": [0.0, 0.5, 1.0]}, "seed": 0}
    merged = merge_over(base, {"train": {"lr": 2.0}, "eval": {"ratios": [0.5]}})
    assert merged == {"train": {"lr": 2.0, "epochs": 22}, "eval": {"ratios": [0.5]}, "seed": 0}
    assert base["train"]["lr"] == 1.0  # the base is not changed


def test_bases_chain_relative_to_the_workflow_folder(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "a.yaml").write_text(yaml.safe_dump({"seed": 1, "train": {"lr": 1.0, "lam": 0.5}}))
    (tmp_path / "config" / "b.yaml").write_text(yaml.safe_dump({"base": "config/a.yaml", "train": {"lr": 2.0}}))
    resolved = resolve_base({"base": "config/b.yaml", "train": {"lam": 0.3}}, tmp_path)
    assert resolved == {"seed": 1, "train": {"lr": 2.0, "lam": 0.3}}


def test_a_missing_base_or_a_loop_is_an_error_naming_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="config/nope.yaml"):
        resolve_base({"base": "config/nope.yaml"}, tmp_path)
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ValueError, match="loop"):
        resolve_base({"base": "a.yaml"}, tmp_path)


def test_models_from_needs_an_experiment_with_the_same_labels_and_training():
    from pathlib import Path

    from openvclip.config import validate_config

    root = Path(__file__).resolve().parents[1]
    schema = root / "workflow" / "schemas" / "config.schema.yaml"
    config = yaml.safe_load((root / "tests" / "fast_config.yaml").read_text())
    config["experiments"]["again"] = {"labels": "motion", "seeds": [0], "models_from": "main"}
    validate_config(config, schema)
    config["experiments"]["again"]["train"] = {"lam": 0.3}
    with pytest.raises(ValueError, match="train overrides differ"):
        validate_config(config, schema)
    config["experiments"]["again"] = {"labels": "motion", "seeds": [0], "models_from": "nope"}
    with pytest.raises(ValueError, match="models_from' = 'nope'"):
        validate_config(config, schema)
