"""The Snakemake workflow end to end on the fast configuration (the same DAG as the demo, at toy sizes)."""

import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import yaml

from openvclip.results import RESULT_COLUMNS, read_rows
from openvclip.weights import load_weights
from tests.shell import FAST, ROOT, clean_clone, killed_when, output, planned_jobs, shell, shell_dry_run, snakemake

pytestmark = pytest.mark.e2e  # commands as a user types them, end to end


def workdir(base: Path) -> Path:
    """A copy of the workflow with the fast config as its config.yaml."""
    base.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "Snakefile", base / "Snakefile")
    shutil.copytree(ROOT / "workflow", base / "workflow", dirs_exist_ok=True)
    shutil.copy(FAST, base / "config.yaml")
    return base


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """The README's main command in a clean clone with the fast config, typed as shown: the first run is killed
    once a training job has written a checkpoint; the same command then refuses (stale lock) and says why;
    `snakemake --unlock` and the same command run on, until Ctrl-C (SIGINT) stops it once evaluation has
    written a result; the same command once more finishes the run."""
    # A folder with spaces and accents, as users name theirs: every path the workflow writes lives under it.
    cwd = clean_clone(tmp_path_factory.mktemp("workflow") / "my projects, été" / "open vclip")
    checkpoints = cwd / "models" / "main" / "seed0" / "openvclip" / "checkpoints"
    # A complete checkpoint: epoch-NNNN.tmp is one still being written (renamed when done).
    # The kill lands mid-training: the first epoch's checkpoint is complete and training has 2 epochs to go
    # (the fast config trains 3); the frozen processes show whether the last weights were written already.
    code, trained = killed_when(
        cwd,
        "snakemake --cores 8 all",
        lambda: any(checkpoints.glob("epoch-[0-9][0-9][0-9][0-9]")),
        frozen=lambda: (checkpoints.parent / "model.safetensors").exists(),
    )
    stages = {
        "cwd": cwd,
        "killed": code,
        "trained_when_killed": trained,
        "refused": shell(cwd, "snakemake --cores 8 all", check=False),
        "unlock": shell(cwd, "snakemake --unlock"),
    }
    results = lambda: set((cwd / "results" / "runs").rglob("*.csv"))  # noqa: E731
    before = results()
    stages["interrupted"], _ = killed_when(
        cwd, "snakemake --cores 8 all", lambda: results() - before, how=signal.SIGINT
    )
    stages["left_unfinished"] = not (cwd / "results" / "summary.md").exists()
    stages["resumed"] = shell(cwd, "snakemake --cores 8 all")
    return stages


@pytest.fixture(scope="module")
def finished(interrupted):
    return interrupted["cwd"]


def test_a_killed_run_finishes_with_unlock_and_the_same_command(interrupted):
    assert interrupted["killed"] == -signal.SIGKILL
    refused = output(interrupted["refused"])
    assert interrupted["refused"].returncode != 0 and "--unlock" in refused and "cannot be locked" in refused
    assert "Unlocked" in output(interrupted["unlock"])
    # Ctrl-C stopped the run part way and released the lock: the same command, without --unlock, finished it.
    assert interrupted["interrupted"] != 0 and interrupted["left_unfinished"]
    assert "100%) done" in output(interrupted["resumed"])
    # Killed mid-training, every time: the rerun continued from the checkpoint.
    assert not interrupted["trained_when_killed"], "the kill landed after training ended; resume went untested"
    log = (interrupted["cwd"] / "logs" / "train_variant" / "main" / "seed0" / "openvclip.log").read_text()
    assert "resuming from checkpoint" in log
    assert planned_jobs(snakemake(interrupted["cwd"], "-n", "all")) == {}


def test_outputs_exist_parse_and_hold_the_expected_rows(finished):
    config = yaml.safe_load(FAST.read_text())
    ratios = config["eval"]["ratios"]
    for name in ("closedset_k400", "zeroshot_ucf", "retrieval_msrvtt"):
        rows = read_rows(finished / "results" / f"{name}.csv")
        assert list(rows[0]) == list(RESULT_COLUMNS)
        assert all(0.0 <= float(r["value"]) <= 100.0 or r["metric"].endswith("medr") for r in rows)
    rows = read_rows(finished / "results" / "zeroshot_ucf.csv")
    # frozen: one ratio; finetune and openvclip: every ratio; val and test splits; top-1, top-5 and the shares of
    # the right object and the right action.
    assert len(rows) == (1 + 2 * len(ratios)) * 2 * 4
    assert {r["variant"] for r in rows} == {"frozen", "finetune", "openvclip"}
    ucf = config["datasets"]["ucf"]
    counts = {r["metric"]: int(r["n_classes"]) for r in rows}
    assert counts == {
        "top1": config["objects"]["ucf"] * len(ucf["motions"]),
        "top5": config["objects"]["ucf"] * len(ucf["motions"]),
        "object_top1": config["objects"]["ucf"],
        "action_top1": len(ucf["motions"]),
    }
    motion = read_rows(finished / "results" / "closedset_k400.csv")
    assert "finetune_temporal_off" in {r["variant"] for r in motion}
    assert {int(r["n_videos"]) for r in motion if r["split"] == "test"} == {8}
    retrieval = read_rows(finished / "results" / "retrieval_msrvtt.csv")
    assert {"t2v_r1", "v2t_r1", "t2v_medr"} <= {r["metric"] for r in retrieval}
    sweep = read_rows(finished / "results" / "sweep_openvclip.csv")
    assert sorted({float(r["ratio"]) for r in sweep}) == ratios
    assert {r["dataset"] for r in sweep} == {"k400", "ucf", "msrvtt"}
    summary = (finished / "results" / "summary.md").read_text()
    assert "Expectations of the demo" in summary and "mean envelope" in summary
    assert "### Premises of the method (validation splits" in summary and "| P3 one basin: finetune" in summary
    assert (finished / "results" / "tradeoff.png").read_bytes()[:4] == b"\x89PNG"
    # Each result records its config and versions beside it.
    meta = (finished / "results" / "runs" / "main" / "seed0" / "openvclip" / "k400.csv.json").read_text()
    assert '"torch"' in meta and '"config_hash"' in meta
    # Every rule wrote a log and a benchmark.
    assert (finished / "logs" / "pretrain_clip.log").is_file()
    assert (finished / "benchmarks" / "train_variant" / "main" / "seed0" / "openvclip.tsv").is_file()


def test_second_run_plans_nothing(finished):
    assert planned_jobs(snakemake(finished, "-n", "all")) == {}


def test_evaluation_waits_for_the_weights_it_reads(finished, tmp_path):
    """Open-VCLIP is evaluated with its SWA average, an input of its evaluations and a declared output of its
    training: another SWA file (here: the same tensors, other metadata) makes its evaluations, and only those,
    run again; an undeclared file would be read as it is, however stale, and a rerun training would not remove
    it first."""
    from openvclip.weights import load_weights, save_weights

    swa = finished / "models" / "main" / "seed0" / "openvclip" / "swa.safetensors"
    shutil.copy2(swa, tmp_path / "swa.safetensors")
    save_weights(load_weights(swa), swa, {"replaced": "by hand"})
    try:
        out = snakemake(finished, "-n", "all")
    finally:
        shutil.copy2(tmp_path / "swa.safetensors", swa)
    jobs = planned_jobs(out)
    assert "train_variant" not in jobs and jobs.get("evaluate", 0) >= 1 and "report" in jobs
    planned = re.findall(r"variant=(\w+)", output(out))
    assert planned and set(planned) == {"openvclip"}


def test_a_variant_set_to_evaluate_an_swa_average_its_training_lacks_is_refused(tmp_path):
    cwd = workdir(tmp_path)
    config = yaml.safe_load(FAST.read_text())
    config["variants"]["finetune"]["weights"] = "swa"
    (cwd / "swa.yaml").write_text(yaml.safe_dump(config))
    refused = snakemake(cwd, "-n", "all", "--configfile", "swa.yaml", check=False)
    assert refused.returncode != 0
    assert (
        "variants.finetune.weights is swa, but the training of finetune in experiment main keeps no SWA "
        "average" in output(refused)
    )


def test_changing_a_config_value_reruns_only_what_depends_on_it(finished):
    config = yaml.safe_load((finished / "config.yaml").read_text())
    config["datasets"]["msrvtt"]["splits"]["test"] = 10
    changed = finished / "changed.yaml"
    changed.write_text(yaml.safe_dump(config))
    jobs = planned_jobs(snakemake(finished, "-n", "all", "--configfile", str(changed)))
    assert jobs.get("prepare_dataset") == 1 and jobs.get("extract_frames") == 1
    assert jobs.get("evaluate") == 3  # frozen, finetune, openvclip on msrvtt
    assert "train_variant" not in jobs and "pretrain_clip" not in jobs
    assert jobs.get("collect_protocol") == 1


def test_one_result_builds_only_what_it_needs(tmp_path):
    cwd = workdir(tmp_path)
    out = snakemake(cwd, "-n", "results/zeroshot_ucf.csv")
    text = out.stdout + out.stderr
    jobs = planned_jobs(out)
    assert jobs["prepare_dataset"] == 2  # the training set and ucf, nothing else
    assert "wildcards: ds=msrvtt" not in text
    assert "report" not in jobs and jobs["evaluate"] == 3


def test_bad_config_stops_before_any_job(tmp_path):
    cwd = workdir(tmp_path)
    config = yaml.safe_load(FAST.read_text())
    config["train"]["lamda"] = 0.5
    config["eval"]["ratios"] = [0.0, 1.5]
    config["variants"]["finetune"]["objective"] = "swa"
    (cwd / "bad.yaml").write_text(yaml.safe_dump(config))
    out = snakemake(cwd, "-n", "--configfile", "bad.yaml", check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert "unknown key(s) ['lamda'] under 'train'" in text
    assert "'eval.ratios.1': 1.5 is greater than the maximum of 1" in text
    assert "'variants.finetune.objective' = 'swa' is not allowed; allowed values: ['frozen', 'finetune'" in text
    assert not (cwd / "data").exists()


def test_lint_reports_nothing(tmp_path):
    cwd = workdir(tmp_path)
    out = snakemake(cwd, "--lint", check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Lints for" not in out.stdout + out.stderr


def test_html_report_holds_plot_and_summary(finished):
    shell(finished, "snakemake --report report.html")
    html = (finished / "report.html").read_text(errors="replace")
    assert "tradeoff.png" in html and "summary.md" in html
    # Without the default profile's core count too (what a cluster profile gives): the workflow parses.
    shell(finished, "snakemake --report other.html --workflow-profile none")
    assert (finished / "other.html").stat().st_size > 0


def test_one_result_as_typed_rebuilds_only_that_file(finished):
    (finished / "results" / "zeroshot_ucf.csv").unlink()
    out = shell(finished, "snakemake results/zeroshot_ucf.csv")
    assert planned_jobs(out) == {"collect_protocol": 1}
    assert read_rows(finished / "results" / "zeroshot_ucf.csv")


def test_a_data_set_the_config_lacks_stops_at_once_and_prints_a_command_that_works(finished):
    out = shell(finished, "snakemake results/zeroshot_hmdb.csv", check=False)
    text = output(out)
    assert out.returncode != 0 and "'hmdb' is not defined in the active config (config.yaml)" in text
    assert not (finished / "results" / "zeroshot_hmdb.csv").exists()
    assert not (finished / "data" / "raw" / "hmdb").exists() and not (finished / "data" / "downloads").exists()
    # The command the message prints, run as printed: the paper config's DAG for that one file.
    printed = "snakemake results/zeroshot_hmdb.csv --configfile config/paper_vitb16.yaml"
    assert f"Run: `{printed}`" in text
    jobs = planned_jobs(
        shell_dry_run(finished, "snakemake results/zeroshot_hmdb.csv --configfile config/paper_vitb16.yaml")
    )
    # HMDB and K400 are prepared (the demo's K400 here is not the paper's): K400 reads its URL lists first
    # (plan_shards), and its shard jobs are planned once they are read.
    assert jobs["prepare_dataset"] == 2 and jobs["plan_shards"] == 1
    assert jobs["fetch_clip"] == 1 and jobs["evaluate"] >= 2
    assert "train_variant" in jobs and "report" not in jobs


def test_the_hmdb_like_result_of_the_default_config_as_typed(tmp_path):
    """The paper configs' commands work on the demo as written: its HMDB-like miniature is `hmdb`. (Dry run: the
    real one pretrains the demo's CLIP and trains, minutes that the fast config's tests already spend.)"""
    cwd = clean_clone(tmp_path / "openvclip", fast_config=False)
    jobs = planned_jobs(shell_dry_run(cwd, "snakemake results/zeroshot_hmdb.csv"))
    # The training set and hmdb, the demo CLIP, one training per trained variant of the main experiment.
    assert jobs["prepare_dataset"] == 2 and jobs["pretrain_clip"] == 1 and jobs["collect_protocol"] == 1
    assert jobs["evaluate"] == 3 and "report" not in jobs  # frozen, finetune, openvclip (the others: k400 only)


def test_the_study_as_typed(finished):
    shell(finished, "snakemake study")
    summary = (finished / "results" / "study" / "summary.md").read_text()
    assert "Experiment `ablation` (seeds 0, 1)" in summary
    assert (finished / "results" / "study" / "tradeoff.png").read_bytes()[:4] == b"\x89PNG"
    rows = read_rows(finished / "results" / "study" / "ablation.csv")
    assert {r["seed"] for r in rows} == {"0", "1"}
    assert {r["variant"] for r in rows} == {"finetune", "openvclip", "openvclip_no_swa", "froster"}
    # FROSTER: its text from the synthetic class descriptions, its text tower trained (in its weights file).
    assert (finished / "data" / "text" / "k400.classname.descriptions.pt").is_file()
    assert re.search(r"\| FROSTER \| froster, r=0 \| \d", summary)
    weights = load_weights(finished / "models" / "main" / "seed1" / "froster" / "swa.safetensors")
    assert any(k.startswith("transformer.") for k in weights) and not any(k.startswith("distill.") for k in weights)
    # The paper's ablation table: one row per component and ratio, the frozen row missing (not in the study).
    assert "The paper's ablation" in summary and "| frozen CLIP | frozen | missing |" in summary
    assert re.search(
        r"\| \+ interpolated weight optimisation \| openvclip_no_swa, val-chosen r=[0-9., ]+ \| \d", summary
    )


@pytest.mark.parametrize(
    "command",
    [
        "snakemake --unlock",
        "snakemake --list-rules",
        "snakemake --summary",
        "snakemake --unlock --workflow-profile none",
        "snakemake --summary --workflow-profile none",
    ],
)
def test_commands_that_run_no_job_need_no_core_count(tmp_path, command):
    """Snakemake parses the workflow for these too; reading `workflow.cores` there stopped them all."""
    cwd = clean_clone(tmp_path / "openvclip")
    out = shell(cwd, command)
    assert "Workflow requires a total number of cores" not in output(out)
    assert ("Unlocked" in output(out)) if "--unlock" in command else ("train_variant" in output(out))


def test_the_train_command_under_torchrun_matches_the_one_process_run(finished, tmp_path):
    """What the train rule runs when a config asks for 2 GPUs (torchrun, one process each; gloo on this CPU),
    on the finished run's data: the same weights as the rule's one-process training."""
    import json

    from openvclip.weights import load_weights

    single = finished / "models" / "main" / "seed0" / "openvclip"
    info = json.loads((single / "train_info.json").read_text())
    config = yaml.safe_load(FAST.read_text())
    out = subprocess.run(
        [
            "torchrun",
            "--standalone",
            "--nproc-per-node=2",
            "-m",
            "openvclip",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--no-progress",
            "train",
            "--model",
            json.dumps(config["clip"]["model"]),
            "--theta0",
            "models/clip/theta0.safetensors",
            "--temporal",
            "--boundary",
            "mask",
            "--train",
            json.dumps(info["config"]),
            "--videos",
            "data/train_videos/k400/index.csv",
            "--manifest",
            "data/manifests/k400.csv",
            "--text",
            "data/text/k400.classname.pt",
            "--column",
            "classname",
            "--out-dir",
            str(tmp_path / "two"),
        ],
        cwd=finished,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert json.loads((tmp_path / "two" / "train_info.json").read_text())["processes"] == 2
    for name in ("model.safetensors", "swa.safetensors"):
        a, b = load_weights(single / name), load_weights(tmp_path / "two" / name)
        assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-3
