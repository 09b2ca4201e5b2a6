"""DVC on top of the workflow, typed as the README and `dvc.yaml` show it, in a clean clone with the fast config
and none of our variables set: `dvc repro` builds the results, a second one does nothing, a changed param reruns
only its stages, and `dvc push` / `dvc pull` into a fresh clone restores byte-identical checkpoints and results
that Snakemake then takes as up to date."""

import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.code_deps import ROOT, as_dvc_deps, stage_code
from tests.shell import clean_clone, output, planned_jobs, shell, shell_on_fake_slurm

pytestmark = pytest.mark.e2e  # commands as a user types them, end to end

TRACKED = ("data/manifests", "data/frames", "data/train_videos", "data/text", "models", "results")


def digests(root: Path):
    """sha256 of every file under the DVC-tracked folders (git's own files aside)."""
    found = {}
    for folder in TRACKED:
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and path.name != ".gitignore":
                found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def stages_run(text: str):
    return re.findall(r"Running stage '([^']+)'", text)


def commit(root: Path, message: str):
    subprocess.run(
        ["git", "-c", "user.email=ci@example.org", "-c", "user.name=ci", "commit", "-qam", message],
        cwd=root,
        check=True,
        capture_output=True,
    )


def stage_deps():
    """{stage: its deps in dvc.yaml} (a `foreach` stage's `do:` block once)."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: (stage.get("do") or stage)["deps"] for name, stage in stages.items()}


def test_every_stage_depends_on_the_code_its_jobs_run():
    for name, deps in stage_deps().items():
        rules = [d for d in deps if d.startswith("workflow/rules/") and d != "workflow/rules/common.smk"]
        code = [d for d in deps if d.startswith(("openvclip", "workflow/", "Snakefile"))]
        expected = list(as_dvc_deps(stage_code(rules)))
        assert rules and code == expected, f"stage {name}: its deps should list\n" + "\n".join(
            f"      - {d}" for d in expected
        )
    # Evaluation's code is evaluation's: no stage before it reruns when it changes.
    for name in ("data", "clip", "text", "train"):
        assert not any(d.startswith("openvclip/eval") for d in stage_deps()[name]), name
    assert "openvclip/eval" in stage_deps()["evaluate"] and "workflow/rules/common.smk" in stage_deps()["evaluate"]


@pytest.mark.parametrize(
    "name",
    ["config.yaml", "tests/fast_config.yaml"]
    + sorted(str(p.relative_to(ROOT)) for p in (ROOT / "config").glob("*.yaml") if p.name != "paper_base.yaml"),
)
def test_the_sweep_stages_are_the_main_experiments_variants(name):
    """dvc.yaml's `sweep` stages loop over `experiments.main.variants`: a config whose main experiment took every
    variant by default would have no such list, and a variant outside it would be trained by a sweep stage."""
    from openvclip.config import SCHEMA, resolve_base, validate_config

    config = validate_config(resolve_base(yaml.safe_load((ROOT / name).read_text()), ROOT), ROOT / SCHEMA)
    assert config["main_experiment"] == "main"
    listed = config["experiments"]["main"]["variants"]
    assert listed and set(listed) <= set(config["variants"])
    assert "foreach: ${experiments.main.variants}" in (ROOT / "dvc.yaml").read_text()


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A clean clone of the project (its committed .dvc/ and default remote beside it) with the fast config as
    config.yaml, after one `dvc repro` and a second one."""
    root = clean_clone(tmp_path_factory.mktemp("dvc") / "openvclip")
    first = output(shell(root, "dvc repro"))
    second = output(shell(root, "dvc repro"))
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    commit(root, "results")
    return root, first, second


def test_repro_builds_every_stage_and_a_second_repro_does_nothing(repo):
    root, first, second = repo
    assert {"data", "clip", "text", "train", "evaluate", "report", "table@k400", "sweep@openvclip"} <= set(
        stages_run(first)
    )
    for name in (
        "closedset_k400.csv",
        "zeroshot_ucf.csv",
        "retrieval_msrvtt.csv",
        "summary.md",
        "tradeoff.png",
        "tradeoff.csv",
    ):
        assert (root / "results" / name).is_file(), name
    metrics = json.loads((root / "results" / "metrics.json").read_text())
    assert metrics["openvclip"]["test_ratio"]["ratio"] == 0.5
    assert stages_run(second) == [] and "up to date" in second


def test_a_changed_param_reruns_only_the_stages_that_read_it(repo):
    root, _, _ = repo
    before = digests(root)
    try:
        assert stages_run(output(shell(root, "dvc exp run -S config.yaml:eval.test_ratio=1.0"))) == ["report"]
        after = digests(root)
        changed = {path for path in before if before[path] != after.get(path)}
        assert changed == {"results/metrics.json", "results/summary.md"}  # no checkpoint, no evaluation redone
        metrics = json.loads((root / "results" / "metrics.json").read_text())
        assert metrics["openvclip"]["test_ratio"]["ratio"] == 1.0
    finally:
        shell(root, "git checkout -q -- . && dvc checkout -q")
    assert digests(root) == before


def test_the_documented_experiment_and_its_comparison_commands(repo):
    """README: `dvc exp run -S config.yaml:train.lam=0.3`, then `dvc params diff; dvc metrics show; dvc plots show`."""
    root, _, _ = repo
    before = digests(root)
    try:
        ran = stages_run(output(shell(root, "dvc exp run -S config.yaml:train.lam=0.3")))
        assert {"train", "evaluate", "report"} <= set(ran) and not {"data", "clip", "text"} & set(ran)
        after = digests(root)
        changed = {path for path in before if before[path] != after.get(path)}
        assert "models/main/seed0/openvclip/swa.safetensors" in changed
        assert not any(p.startswith(("data/", "models/clip/")) for p in changed)
        compared = output(shell(root, "dvc params diff; dvc metrics show; dvc plots show"))
        assert re.search(r"train\.lam\s+\S+\s+0\.3", compared), compared
        assert "results/metrics.json" in compared
        assert (root / "dvc_plots" / "index.html").is_file()
    finally:
        shell(root, "rm -rf dvc_plots && git checkout -q -- . && dvc checkout -q")
    assert digests(root) == before


def test_editing_a_function_the_evaluation_runs_makes_evaluation_the_one_stage_to_rerun(repo):
    """Scores rounded to 2 decimals instead of 4 (in `score_set`): `dvc status` names evaluation as the one
    changed stage, so `dvc repro` starts there and reruns nothing upstream (what follows reruns as its inputs,
    evaluation's outputs, change: test_the_documented_experiment_and_its_comparison_commands runs that chain)."""
    root, _, _ = repo
    source = root / "openvclip" / "eval" / "evaluate.py"
    text = source.read_text()
    assert text.count('"value": round(value, 4)') == 1
    source.write_text(text.replace('"value": round(value, 4)', '"value": round(value, 2)'))
    try:
        status = json.loads(shell(root, "dvc status --json").stdout)
    finally:
        source.write_text(text)
    assert set(status) == {"evaluate"}, status
    assert {"changed deps": {"openvclip/eval": "modified"}} in status["evaluate"]
    assert json.loads(shell(root, "dvc status --json").stdout) == {}


def test_push_then_pull_into_a_fresh_clone_restores_identical_files_snakemake_takes_as_done(repo):
    root, _, _ = repo
    shell(root, "dvc push")
    assert (root.parent / "openvclip-dvc-storage").is_dir()  # the default remote: beside the repository
    clone = root.parent / "clone"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True)
    assert not (clone / "models").exists() and not (clone / ".dvc" / "cache").exists()
    shell(clone, "dvc pull && snakemake --cores 1 --touch all")
    original = digests(root)
    assert digests(clone) == original and any(p.endswith("model.safetensors") for p in original)
    assert any("/checkpoints/" in p for p in original)  # checkpoints travel too
    # DVC does not keep timestamps: `--touch` made Snakemake take the pulled files as done.
    assert planned_jobs(shell(clone, "snakemake -n all")) == {}
    assert digests(clone) == original
    # Storage elsewhere, for everyone or for this clone only.
    shell(clone, "dvc remote modify local url /shared/openvclip-dvc")
    assert "url = /shared/openvclip-dvc" in (clone / ".dvc" / "config").read_text()
    shell(clone, "dvc remote modify --local local url /shared/openvclip-dvc")
    assert "url = /shared/openvclip-dvc" in (clone / ".dvc" / "config.local").read_text()


def test_stages_run_on_slurm_with_the_documented_variable(tmp_path):
    """README: the same `dvc.yaml` on a cluster. The first stage's Snakemake call takes the variable's profile
    and submits its jobs to SLURM (here a SLURM that refuses them: see tests/shell.py)."""
    root = clean_clone(tmp_path / "openvclip")
    out, submitted = shell_on_fake_slurm(
        root,
        "export OPENVCLIP_SLURM_ACCOUNT=mylab OPENVCLIP_CPU_PARTITION=cpu OPENVCLIP_GPU_PARTITION=gpu\n"
        'OPENVCLIP_SNAKEMAKE_ARGS="--workflow-profile profiles/slurm" dvc repro',
        tmp_path / "bin",
    )
    assert out.returncode != 0 and "Running stage 'data'" in output(out)
    assert any("rule_prepare_dataset" in line and "-A mylab" in line and "-p cpu" in line for line in submitted)
    assert not (root / "data" / "manifests").exists()
