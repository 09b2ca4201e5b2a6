"""The command-line interface: help, interpolate, clear errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import openvclip.weights
from openvclip.cli import main
from openvclip.weights import interpolate, load_weights, save_weights

from .conftest import make_clip, tiny_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.e2e
def test_help_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "openvclip", "--help"], capture_output=True, text=True, check=True)
    assert "interpolate" in out.stdout and "info" in out.stdout


def test_interpolate_writes_the_mix(tmp_path):
    theta0 = {"w": torch.randn(3, 3), "b": torch.randn(3)}
    theta = {"w": torch.randn(3, 3), "b": torch.randn(3)}
    save_weights(theta0, tmp_path / "a.safetensors")
    save_weights(theta, tmp_path / "b.safetensors")
    code = main(
        [
            "interpolate",
            "--theta0",
            str(tmp_path / "a.safetensors"),
            "--theta",
            str(tmp_path / "b.safetensors"),
            "--ratio",
            "0.25",
            "--out",
            str(tmp_path / "c.safetensors"),
        ]
    )
    assert code == 0
    got, expected = load_weights(tmp_path / "c.safetensors"), interpolate(theta0, theta, 0.25)
    assert all(torch.allclose(got[k], expected[k]) for k in expected)
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.e2e
def test_interpolate_errors_are_clear(tmp_path, capsys):
    save_weights({"w": torch.zeros(2)}, tmp_path / "a.safetensors")
    save_weights({"v": torch.zeros(2)}, tmp_path / "b.safetensors")
    args = [
        "interpolate",
        "--theta0",
        str(tmp_path / "a.safetensors"),
        "--theta",
        str(tmp_path / "b.safetensors"),
        "--out",
        str(tmp_path / "c.safetensors"),
    ]
    assert main(args + ["--ratio", "0.5"]) == 2
    assert "different keys" in capsys.readouterr().err
    out = subprocess.run(
        [sys.executable, "-m", "openvclip"] + args + ["--ratio", "1.5"], capture_output=True, text=True
    )
    assert out.returncode == 2 and "ratio must be in [0, 1], got 1.5" in out.stderr
    assert (
        main(
            [
                "interpolate",
                "--theta0",
                str(tmp_path / "missing.safetensors"),
                "--theta",
                str(tmp_path / "b.safetensors"),
                "--ratio",
                "0.5",
                "--out",
                str(tmp_path / "c.safetensors"),
            ]
        )
        == 2
    )
    assert "missing.safetensors does not exist" in capsys.readouterr().err
    assert not (tmp_path / "c.safetensors").exists()


def test_a_bug_keeps_its_traceback_and_a_user_error_prints_one_line(tmp_path, monkeypatch, capsys):
    save_weights({"w": torch.zeros(2)}, tmp_path / "a.safetensors")
    args = [
        "interpolate",
        "--theta0",
        str(tmp_path / "a.safetensors"),
        "--theta",
        str(tmp_path / "a.safetensors"),
        "--ratio",
        "0.5",
        "--out",
        str(tmp_path / "c.safetensors"),
    ]

    def buggy(*_args, **_kwargs):
        return {}["no such key"]  # a KeyError or TypeError inside our code is a bug, not the user's mistake

    monkeypatch.setattr(openvclip.weights, "interpolate", buggy)
    with pytest.raises(KeyError, match="no such key"):
        main(args)
    monkeypatch.setattr(openvclip.weights, "interpolate", lambda *a: len())  # TypeError: a bug too
    with pytest.raises(TypeError):
        main(args)
    assert not (tmp_path / "c.safetensors").exists()
    # A bad config value is the user's: one line on stderr, status 2, no traceback.
    (tmp_path / "bad.yaml").write_text("train:\n  epochs: three\n")
    assert main(["config", "--show", str(tmp_path / "bad.yaml"), "--root", str(ROOT)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("openvclip config: error:") and "train.epochs" in err


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
@pytest.mark.parametrize(
    "role", ["interpolate --theta", "interpolate --theta0", "classify --theta0", "classify --checkpoint"]
)
def test_a_damaged_weights_file_is_named_and_nothing_is_written(tmp_path, capsys, damage, role):
    """A copy cut short (a full disk, a killed transfer) or a file that is no safetensors at all."""
    good, bad, out = tmp_path / "good.safetensors", tmp_path / "bad.safetensors", tmp_path / "out.safetensors"
    save_weights(make_clip().state_dict(), good)
    data = good.read_bytes()
    bad.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"not weights at all" * 10)
    command, option = role.split()
    if command == "interpolate":
        files = {"--theta0": good, "--theta": good, option: bad}
        args = ["interpolate", *[str(x) for kv in files.items() for x in kv], "--ratio", "0.5", "--out", str(out)]
    else:
        files = {"--theta0": good, option: bad}
        spec = json.dumps({"config": tiny_config()})
        args = ["classify", "x.mp4", "--labels", "a,b", "--model", spec, *[str(x) for kv in files.items() for x in kv]]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"weights file {bad} cannot be read as safetensors" in err and "truncated or corrupt" in err
    assert "Traceback" not in err and not out.exists()


def test_weights_of_another_architecture_are_named_with_the_fix(tmp_path, capsys):
    save_weights(make_clip(width=32).state_dict(), tmp_path / "narrow.safetensors")
    spec = json.dumps({"config": tiny_config()})
    args = ["classify", "x.mp4", "--labels", "a,b", "--model", spec, "--theta0", str(tmp_path / "narrow.safetensors")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "visual.proj (32, 32) vs (64, 32)" in err and "give the model they were saved from" in err
