"""DVC on top of the workflow, in a temporary git repository with the fast config: `dvc repro` builds the
results, a second one does nothing, a changed param reruns only its stages, and `dvc push` / `dvc pull` into a
fresh clone restores byte-identical checkpoints and results that Snakemake then takes as up to date."""

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.test_workflow import FAST, planned_jobs

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OPENVCLIP_SNAKEMAKE_ARGS": "--cores 2"}
TRACKED = ("data/manifests", "data/frames", "data/text", "models", "results")


def run(cwd, *args):
    out = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, env=ENV)
    if out.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out.stdout + out.stderr


def digests(root: Path):
    """sha256 of every file under the DVC-tracked folders (git's own files aside)."""
    found = {}
    for folder in TRACKED:
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and path.name != ".gitignore":
                found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def stages_run(output: str):
    return re.findall(r"Running stage '([^']+)'", output)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A git + DVC repository of the project with the fast config as config.yaml, after one `dvc repro`."""
    root = tmp_path_factory.mktemp("dvc") / "project"
    root.mkdir()
    for name in ("Snakefile", "dvc.yaml", ".gitignore", ".dvcignore"):
        shutil.copy(ROOT / name, root / name)
    for name in ("workflow", "config", "openvclip"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(FAST, root / "config.yaml")
    run(root, "git", "init", "-q")
    run(root, "git", "config", "user.email", "ci@example.org")
    run(root, "git", "config", "user.name", "ci")
    run(root, "dvc", "init", "-q")
    run(root, "dvc", "remote", "add", "-d", "local", str(root.parent / "storage"))
    run(root, "git", "add", "-A")
    run(root, "git", "commit", "-qm", "project")
    output = run(root, "dvc", "repro")
    run(root, "git", "add", "-A")
    run(root, "git", "commit", "-qm", "results")
    return root, output


def test_repro_builds_every_stage_and_a_second_repro_does_nothing(repo):
    root, output = repo
    assert {"data", "clip", "text", "train", "evaluate", "report", "table@motion", "sweep@openvclip"} <= \
        set(stages_run(output))
    for name in ("closedset_motion.csv", "zeroshot_appearance.csv", "retrieval_captions.csv", "summary.md",
                 "tradeoff.png", "tradeoff.csv"):
        assert (root / "results" / name).is_file(), name
    metrics = json.loads((root / "results" / "metrics.json").read_text())
    assert metrics["openvclip"]["test_ratio"]["ratio"] == 0.5
    assert "results/metrics.json" in run(root, "dvc", "metrics", "show")
    again = run(root, "dvc", "repro")
    assert stages_run(again) == [] and "up to date" in again


def test_a_changed_param_reruns_only_the_stages_that_read_it(repo):
    root, _ = repo
    before = digests(root)
    try:
        output = run(root, "dvc", "exp", "run", "-S", "config.yaml:eval.test_ratio=1.0")
        assert stages_run(output) == ["report"]
        after = digests(root)
        changed = {path for path in before if before[path] != after.get(path)}
        assert changed == {"results/metrics.json", "results/summary.md"}  # no checkpoint, no evaluation redone
        metrics = json.loads((root / "results" / "metrics.json").read_text())
        assert metrics["openvclip"]["test_ratio"]["ratio"] == 1.0
        assert "eval.test_ratio" in run(root, "dvc", "params", "diff")
    finally:
        run(root, "git", "checkout", "-q", "--", ".")
        run(root, "dvc", "checkout", "-q")
    assert digests(root) == before


def test_push_then_pull_into_a_fresh_clone_restores_identical_files_snakemake_takes_as_done(repo, tmp_path):
    root, _ = repo
    run(root, "dvc", "push", "-q")
    clone = tmp_path / "clone"
    run(tmp_path, "git", "clone", "-q", str(root), str(clone))
    assert not (clone / "models").exists() and not (clone / ".dvc" / "cache").exists()
    run(clone, "dvc", "pull", "-q")
    original = digests(root)
    assert digests(clone) == original and any(p.endswith("model.safetensors") for p in original)
    assert any("/checkpoints/" in p for p in original)  # checkpoints travel too
    # DVC does not keep timestamps: the documented `snakemake --touch` makes Snakemake take the pulled files as done.
    run(clone, "snakemake", "--cores", "1", "--touch", "all")
    assert planned_jobs(subprocess.run(["snakemake", "-n", "all"], cwd=clone, capture_output=True, text=True)) == {}
    assert digests(clone) == original
