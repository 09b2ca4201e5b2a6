"""SLURM through Snakemake's executor plugin: the workflow profile plans the paper config, GPU jobs ask for
their GPUs (and multi-GPU training starts torchrun), CPU jobs go to the CPU partition."""

import re
import shutil
from pathlib import Path

import pytest

from tests.shell import clean_clone, output, shell_on_fake_slurm, snakemake

pytestmark = pytest.mark.e2e  # commands as a user types them, end to end

ROOT = Path(__file__).resolve().parents[1]
ENV = {"OPENVCLIP_SLURM_ACCOUNT": "lab42", "OPENVCLIP_CPU_PARTITION": "cpu-part", "OPENVCLIP_GPU_PARTITION": "gpu-part"}


class Resources(dict):
    """Attribute access as Snakemake's job resources give it (what the plugin's functions read)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def planned(text: str):
    """(rule, wildcards, resources, shell command) of every job in a dry run's output (-n -p)."""
    jobs = []
    for block in re.split(r"\n(?=rule \w+:)", text)[1:]:
        rule = re.match(r"rule (\w+):", block).group(1)
        wildcards = dict(re.findall(r"(\w+)=([^,\n]+)", (re.search(r"wildcards: (.*)", block) or ["", ""])[1]))
        resources = {}
        for key, value in re.findall(r"(\w+)=([^,\n]+)", re.search(r"resources: (.*)", block).group(1)):
            resources[key] = int(value) if value.isdigit() else value
        shell = re.search(r"Shell command: (.*)", block)
        jobs.append((rule, wildcards, Resources(resources), shell.group(1) if shell else ""))
    return jobs


@pytest.fixture(scope="module")
def slurm_plan(tmp_path_factory, monkeypatch_module):
    cwd = tmp_path_factory.mktemp("cluster")
    shutil.copy(ROOT / "Snakefile", cwd / "Snakefile")
    shutil.copytree(ROOT / "workflow", cwd / "workflow")
    shutil.copytree(ROOT / "config", cwd / "config")
    shutil.copytree(ROOT / "profiles", cwd / "profiles")
    for key, value in ENV.items():
        monkeypatch_module.setenv(key, value)
    out = snakemake(
        cwd,
        "all",
        "-n",
        "-p",
        "--workflow-profile",
        "profiles/slurm",
        "--configfile",
        "config/paper_vitb16.yaml",
    )
    return planned(out.stdout + out.stderr)


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_training_asks_slurm_for_the_configs_gpus_and_starts_one_process_per_gpu(slurm_plan):
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    train = {w["variant"]: (r, shell) for rule, w, r, shell in slurm_plan if rule == "train_variant"}
    resources, shell = train["openvclip"]
    assert resources["gpu"] == 8 and resources["cpus_per_gpu"] == 8
    assert resources["slurm_partition"] == "gpu-part" and resources["slurm_account"] == "lab42"
    assert shell.startswith("torchrun --standalone --nproc-per-node=8 -m openvclip ")
    # The sbatch call the plugin builds from these resources.
    job = type("Job", (), {"resources": resources, "threads": 8, "name": "train_variant"})()
    call = get_submit_command(
        job,
        {
            "run_uuid": "u",
            "slurm_logfile": "log",
            "comment_str": "c",
            "account": "-A lab42",
            "partition": "-p gpu-part",
            "workdir": "/w",
        },
    )
    call += set_gres_string(job)
    assert "--gpus=8" in call and "--cpus-per-gpu=8" in call and "-t 1440" in call and "--mem 6000" in call
    # The frozen variant only copies theta0: no GPU, one process.
    frozen, shell = train["frozen"]
    assert frozen["gpu"] == 0 and shell.startswith("openvclip ")


def test_evaluation_takes_one_gpu_and_data_jobs_none(slurm_plan):
    for rule, _, resources, shell in slurm_plan:
        if rule == "evaluate":
            assert resources["gpu"] == 1 and resources["slurm_partition"] == "gpu-part"
            assert "torchrun" not in shell
        elif rule in (
            "plan_shards",
            "prepare_dataset",
            "extract_frames",
            "embed_text",
            "fetch_clip",
            "collect_protocol",
            "report",
        ):
            assert "gpu" not in resources, rule
            assert resources["slurm_partition"] == "cpu-part", rule
    assert {"prepare_dataset", "extract_frames", "evaluate", "train_variant"} <= {j[0] for j in slurm_plan}


def test_the_documented_slurm_command_submits_its_jobs(tmp_path):
    """The README's two lines, typed as shown, on a cluster that refuses every job (tests/shell.py): the run gets
    past the profile, the config and the DAG (no core count needed) to one sbatch call per job that is ready."""
    cwd = clean_clone(tmp_path / "openvclip", fast_config=False)
    out, submitted = shell_on_fake_slurm(
        cwd,
        "export OPENVCLIP_SLURM_ACCOUNT=mylab OPENVCLIP_CPU_PARTITION=cpu OPENVCLIP_GPU_PARTITION=gpu\n"
        "snakemake all --workflow-profile profiles/slurm --configfile config/paper_vitb16.yaml",
        tmp_path / "bin",
    )
    assert out.returncode != 0 and "no SLURM on this machine" in output(out)
    jobs = {re.search(r"--comment (\S+)", line).group(1) for line in submitted}
    assert {
        "rule_fetch_clip",
        "rule_plan_shards_wildcards_k400",  # K400's URL lists are read first: its shard jobs follow
        "rule_prepare_dataset_wildcards_hmdb",
        "rule_prepare_dataset_wildcards_msrvtt",
    } <= jobs
    assert all("-A mylab" in line and "-p cpu" in line for line in submitted)
