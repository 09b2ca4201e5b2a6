"""DVC on top of the workflow, typed as the README and `dvc.yaml` show it, in a clean clone with the fast config
(and its dvc.yaml written by `openvclip dvc-yaml`) and none of our variables set: `dvc repro` builds the results,
a second one does nothing, a changed param reruns only the stages (and the training jobs) that read it, `dvc exp
show` compares experiments by their headline metrics, `dvc plots show` draws the training curves, a queue of
experiments runs, and `dvc push` / `dvc pull` into a fresh clone restores byte-identical checkpoints and results
that Snakemake then takes as up to date. (tests/test_dvc_stages.py checks dvc.yaml's stages without running DVC.)"""

import hashlib
import json
import re
import subprocess
import time
from pathlib import Path

import pytest

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


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A clean clone of the project (its committed .dvc/ and default remote beside it) with the fast config as
    config.yaml, after one `dvc repro` and a second one."""
    root = clean_clone(tmp_path_factory.mktemp("dvc") / "openvclip")
    # The config's variants differ from the demo's: dvc.yaml is written again for it, as the README says.
    assert "written" in shell(root, "openvclip dvc-yaml").stdout
    commit(root, "dvc.yaml for the fast config")
    first = output(shell(root, "dvc repro"))
    second = output(shell(root, "dvc repro"))
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    commit(root, "results")
    return root, first, second


def test_repro_builds_every_stage_and_a_second_repro_does_nothing(repo):
    root, first, second = repo
    assert set(stages_run(first)) == {
        "data",
        "clip",
        "text",
        "train-frozen",
        "train-finetune",
        "train-openvclip",
        *(f"evaluate-{v}" for v in ("frozen", "finetune", "openvclip", "finetune_temporal_off")),
        *(f"table-{ds}" for ds in ("k400", "ucf", "msrvtt")),
        *(f"sweep-{v}" for v in ("frozen", "finetune", "openvclip", "finetune_temporal_off")),
        "report",
    }
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
    assert metrics["test_ratio"] == metrics["openvclip"]["ratio"] == 0.5
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
        assert metrics["test_ratio"] == metrics["openvclip"]["ratio"] == 1.0
    finally:
        shell(root, "git checkout -q -- . && dvc checkout -q")
    assert digests(root) == before


def markdown_table(text: str):
    """(header, rows) of the first markdown table in ``text``, cells stripped."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header, *rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines if "---" not in line]
    return header, rows


def trainings_since(root: Path, start: float):
    """The variants whose training job ran in ``root`` since ``start`` (its benchmark file was written: the jobs
    of a `--touch` call are marked done, not run)."""
    folder = root / "benchmarks" / "train_variant"
    return sorted(p.stem for p in folder.rglob("*.tsv") if p.stat().st_mtime >= start)


def trainings_in_log(text: str):
    """The variants trained in a queued experiment's log, one stream: DVC's `> command` lines, each followed by
    Snakemake's output (a `--touch` call's jobs are marked done, not run)."""
    found = []
    for call in re.split(r"\n(?=> )", text):
        if call.startswith("> ") and "--touch" in call.split("\n", 1)[0]:
            continue
        for job in re.split(r"\n(?=(?:local)?rule )", call):
            if job.startswith(("rule train_variant:", "localrule train_variant:")):
                found.append(re.search(r"wildcards: exp=\w+, seed=\d+, variant=(\w+)", job).group(1))
    return found


def test_the_documented_experiment_retrains_what_it_changes_and_the_comparison_commands_show_it(repo):
    """README: `dvc exp run -S config.yaml:train.lam=0.3` retrains and re-evaluates Open-VCLIP alone (plain
    fine-tuning does not read lam), then `dvc exp show --only-changed --keep '.*(top1|r1)'`, `dvc params diff`,
    `dvc metrics show`, `dvc plots show` (the training curves and the trade-off curve)."""
    root, _, _ = repo
    before = digests(root)
    try:
        start = time.time()
        ran = output(shell(root, "dvc exp run -S config.yaml:train.lam=0.3"))
        assert trainings_since(root, start) == ["openvclip"], ran[-3000:]
        assert set(stages_run(ran)) == {
            "train-openvclip",
            "evaluate-openvclip",
            *(f"table-{ds}" for ds in ("k400", "ucf", "msrvtt")),
            "sweep-openvclip",
            "report",
        }
        after = digests(root)
        changed = {path for path in before if before[path] != after.get(path)}
        assert "models/main/seed0/openvclip/swa.safetensors" in changed
        assert not any(p.startswith(("data/", "models/clip/", "models/main/seed0/finetune/")) for p in changed)
        assert not any(p.startswith("results/runs/main/seed0/frozen/") for p in changed)
        header, rows = markdown_table(output(shell(root, "dvc exp show --only-changed --keep '.*(top1|r1)' --md")))
        for column in ("train.lam", "openvclip.ucf_zeroshot_top1", "openvclip.k400_closedset_top1"):
            assert column in header, header
        assert "train.lr" not in header  # unchanged params are left out
        lam = header.index("train.lam")
        assert {float(row[lam]) for row in rows if row[0] != "workspace"} == {0.3, 0.5}, rows
        # The experiment's result is in the workspace: the diffs compare it with its commit.
        diff = output(shell(root, "dvc exp diff"))
        assert re.search(r"train\.lam\s+0\.5\s+0\.3", diff), diff
        shell(root, "dvc plots diff")
        page = (root / "dvc_plots" / "index.html").read_text()
        assert "training loss" in page and "workspace" in page and "HEAD" in page
        compared = output(shell(root, "dvc params diff; dvc metrics show; dvc plots show"))
        assert re.search(r"train\.lam\s+\S+\s+0\.3", compared), compared
        assert "openvclip.ucf_zeroshot_top1" in compared
        page = (root / "dvc_plots" / "index.html").read_text()
        for title in ("training loss", "learning rate", "alpha: the interpolation ratio", "trade-off: zero-shot"):
            assert title in page, title
        # One line per variant's log (DVC names each by the shortest distinct end of its path) and column.
        assert "openvclip/train_log.csv::loss_interpolated" in page and "finetune/train_log.csv::loss" in page
    finally:
        shell(root, "rm -rf dvc_plots && git checkout -q -- . && dvc checkout -q")
    assert digests(root) == before


def test_a_queued_grid_of_experiments_runs_in_the_background_and_retrains_open_vclip_alone(repo):
    """README: `dvc exp run --queue -S 'config.yaml:train.lam=0.25,1.0'` (one experiment per value), `dvc queue
    start`, `dvc queue status` until they are done, then the experiments side by side."""
    root, _, _ = repo
    before = digests(root)
    queued = output(shell(root, "dvc exp run --queue -S 'config.yaml:train.lam=0.25,1.0'"))
    names = re.findall(r"Queued experiment '([\w-]+)'", queued)
    assert len(names) == 2, queued
    shell(root, "dvc queue start")
    status = wait_for_queue(root)
    assert status.count("Success") == 2, status
    for name in names:
        log = output(shell(root, f"dvc queue logs {name}"))
        assert trainings_in_log(log) == ["openvclip"], log[-3000:]
    header, rows = markdown_table(output(shell(root, "dvc exp show --only-changed --keep '.*(top1|r1)' --md")))
    lam = header.index("train.lam")
    assert {0.25, 1.0} <= {float(row[lam]) for row in rows}, rows
    assert digests(root) == before  # queued experiments run in their own folders


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
    evaluations = {f"evaluate-{v}" for v in ("frozen", "finetune", "openvclip", "finetune_temporal_off")}
    assert set(status) == evaluations, status
    assert all({"changed deps": {"openvclip/eval": "modified"}} in status[name] for name in evaluations)
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


def wait_for_queue(root: Path, timeout: float = 900) -> str:
    """`dvc queue status` once nothing is queued or running."""
    deadline = time.time() + timeout
    while True:
        status = output(shell(root, "dvc queue status"))
        if not re.search(r"\b(Queued|Running)\b", status) or time.time() > deadline:
            return status
        time.sleep(5)


def test_stages_and_queued_experiments_run_on_slurm_with_the_documented_variable(tmp_path):
    """README: the same `dvc.yaml` on a cluster, for `dvc repro` and for a queue's worker. The first stage's
    Snakemake call takes the variable's profile and submits its jobs to SLURM (here a SLURM that refuses them:
    see tests/shell.py); a queued experiment's stages do the same when the worker starts with the variable."""
    root = clean_clone(tmp_path / "openvclip")
    shell(root, "openvclip dvc-yaml")
    commit(root, "dvc.yaml for the fast config")
    out, submitted = shell_on_fake_slurm(
        root,
        "export OPENVCLIP_SLURM_ACCOUNT=mylab OPENVCLIP_CPU_PARTITION=cpu OPENVCLIP_GPU_PARTITION=gpu\n"
        'OPENVCLIP_SNAKEMAKE_ARGS="--workflow-profile profiles/slurm" dvc repro',
        tmp_path / "bin",
    )
    assert out.returncode != 0 and "Running stage 'data'" in output(out)
    assert any("rule_prepare_dataset" in line and "-A mylab" in line and "-p cpu" in line for line in submitted)
    assert not (root / "data" / "manifests").exists()

    shell(root, "dvc exp run --queue -S config.yaml:train.lam=0.3")
    started, _ = shell_on_fake_slurm(
        root,
        "export OPENVCLIP_SLURM_ACCOUNT=mylab OPENVCLIP_CPU_PARTITION=cpu OPENVCLIP_GPU_PARTITION=gpu\n"
        'OPENVCLIP_SNAKEMAKE_ARGS="--workflow-profile profiles/slurm" dvc queue start',
        tmp_path / "queue_bin",
    )
    assert started.returncode == 0, output(started)
    status = wait_for_queue(root)
    assert status.count("Failed") == 1, status  # SLURM refused its first jobs
    calls = (tmp_path / "queue_bin" / "calls.log").read_text().splitlines()
    queued = [line for line in calls if line.startswith("sbatch ") and "rule_prepare_dataset" in line]
    assert queued and all("-A mylab" in line and "-p cpu" in line for line in queued), calls
