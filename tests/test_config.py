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
    config["experiments"]["again"] = {"labels": "classname", "seeds": [0], "models_from": "main"}
    validate_config(config, schema)
    config["experiments"]["again"]["train"] = {"lam": 0.3}
    with pytest.raises(ValueError, match="train overrides differ"):
        validate_config(config, schema)
    config["experiments"]["again"] = {"labels": "classname", "seeds": [0], "models_from": "nope"}
    with pytest.raises(ValueError, match="models_from' = 'nope'"):
        validate_config(config, schema)


def _schema():
    from pathlib import Path

    from openvclip.config import SCHEMA

    return Path(__file__).resolve().parents[1] / SCHEMA


def _dataclass_defaults(cls, skip=()):
    import dataclasses

    return {
        f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
        for f in dataclasses.fields(cls)
        if f.name not in skip
    }


def test_the_schemas_defaults_are_the_packages():
    """One set of defaults: the schema's (filled in at validation) equal the dataclasses' (Python callers)."""
    from openvclip.cli import build_parser
    from openvclip.config import fill_defaults, load_schema, schema_defaults
    from openvclip.data.frame_writer import FrameSettings
    from openvclip.data.synthetic import SyntheticSet, World
    from openvclip.data.train_videos import Reencoding
    from openvclip.train import TrainConfig
    from openvclip.train.pretrain import PretrainConfig

    schema = _schema()
    # objective is a variant's, seed the config's: neither is a train/pretrain default.
    assert schema_defaults(schema, "train") == _dataclass_defaults(TrainConfig, skip=("objective",))
    assert schema_defaults(schema, "world") == _dataclass_defaults(World)
    assert schema_defaults(schema, "clip", "pretrain") == _dataclass_defaults(PretrainConfig, skip=("seed",))
    assert schema_defaults(schema, "train_videos") == _dataclass_defaults(Reencoding)
    synthetic = {"source": "synthetic", "protocol": "zeroshot", "splits": {"test": 1}}
    filled = _filled({"datasets": {"s": synthetic}})["datasets"]["s"]
    # descriptions: an optional entry without a default (absent: the variants use the class names)
    assert filled == {**_dataclass_defaults(SyntheticSet, skip=("descriptions",)), **synthetic}
    # A real data set's frame store: the schema's `frames:` defaults are FrameSettings' (size and num_frames come
    # from the model and the training); the evaluation batch is the schema's, passed to every evaluation.
    root = load_schema(schema)
    frames: dict = {}
    fill_defaults(frames, root["$defs"]["real_set"]["properties"]["frames"], root)
    assert frames == _dataclass_defaults(FrameSettings, skip=("num_frames", "size"))
    assert schema_defaults(schema, "eval")["batch_size"] == 128
    subcommands = next(a for a in build_parser()._actions if a.choices and "evaluate" in a.choices).choices
    batch = next(a for a in subcommands["evaluate"]._actions if "--batch-size" in a.option_strings)
    assert batch.required and batch.default is None  # ... which the evaluate command requires: no default of its own


def _filled(section):
    from openvclip.config import fill_defaults, load_schema

    schema = load_schema(_schema())
    fill_defaults(section, schema, schema)
    return section


def test_validation_fills_defaults_everywhere_but_in_overrides():
    from pathlib import Path

    from openvclip.config import validate_config

    root = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((root / "tests" / "fast_config.yaml").read_text())
    config.pop("resources", None)
    config["experiments"]["main"]["train"] = {"lam": 0.3}
    config["experiments"]["ablation"].pop("models_from")  # main's models are no longer the ablation's
    before = yaml.safe_dump(config)
    filled = validate_config(config, _schema())
    assert yaml.safe_dump(config) == before  # the caller's config is not changed
    assert filled["resources"] == {"threads": 1, "gpus": 0}
    assert filled["temporal"]["boundary"] == config.get("temporal", {}).get("boundary", "mask")
    assert filled["train"]["keep_checkpoints"] == 1 and filled["eval"]["test_ratio"] == config["eval"].get(
        "test_ratio", 0.5
    )
    # An experiment's train section overrides only what it names: defaults there would undo the train section.
    assert filled["experiments"]["main"]["train"] == {"lam": 0.3}
    # A default never replaces a value the config gives.
    assert filled["train"]["epochs"] == config["train"]["epochs"]


def test_config_show_prints_the_resolved_config_with_defaults(tmp_path, capsys):
    from pathlib import Path

    from openvclip.cli import main

    root = Path(__file__).resolve().parents[1]
    assert main(["config", "--show", str(root / "config" / "paper_vitb32.yaml"), "--root", str(root)]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert "base" not in shown and shown["train"]["keep_checkpoints"] == 1
    assert shown["datasets"]["ucf"]["max_unreadable"] == 0.05
    # What it prints is a config in its own right, and resolves to itself.
    (tmp_path / "shown.yaml").write_text(yaml.safe_dump(shown))
    assert main(["config", "--show", str(tmp_path / "shown.yaml"), "--root", str(root)]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == shown


def test_each_data_set_names_the_shipped_configs_that_define_it(tmp_path):
    from openvclip.config import shipped_datasets

    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "base.yaml").write_text(yaml.safe_dump({"datasets": {"k400": {}, "ucf": {}}}))
    (tmp_path / "config" / "big.yaml").write_text(yaml.safe_dump({"base": "config/base.yaml"}))
    (tmp_path / "config" / "extra.yaml").write_text(
        yaml.safe_dump({"base": "config/base.yaml", "datasets": {"ssv2": {}}})
    )
    # A file that is only a base of others is not a config to run.
    assert shipped_datasets(tmp_path) == {
        "k400": ["config/big.yaml", "config/extra.yaml"],
        "ucf": ["config/big.yaml", "config/extra.yaml"],
        "ssv2": ["config/extra.yaml"],
    }


def test_the_config_reference_lists_every_key_of_the_schema():
    from pathlib import Path

    from openvclip.config import schema_reference

    reference = (Path(__file__).resolve().parents[1] / "config" / "README.md").read_text()
    table = schema_reference(_schema())
    assert reference.endswith(table), (
        "config/README.md's key table differs from the schema: replace it with "
        "openvclip.config.schema_reference('workflow/schemas/config.schema.yaml')"
    )
    # Every key says what it does.
    assert all(line.rstrip(" |").split(" | ")[-1] for line in table.splitlines()[2:])
