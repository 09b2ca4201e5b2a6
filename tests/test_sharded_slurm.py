"""A Kinetics-layout data set of 18 archives (16 training, 2 validation) on loopback HTTP, run end to end on the
stand-in SLURM (tests/slurm_standin.py) with the README's command: its preparation is cut into shard jobs that
run side by side, a shard that fails names itself and reruns alone, and the manifest, training index and frame
store equal those of the unsharded jobs (the same `openvclip` commands, one job per stage)."""

import json
import os
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from openvclip.config import SCHEMA, validate_config
from openvclip.data.manifest import read_manifest
from openvclip.data.train_videos import read_index
from openvclip.plan import JobArgs, Plan
from tests import real_layouts as layouts
from tests.real_layouts import real_config
from tests.shell import output, planned_jobs, shell, user_env
from tests.slurm_standin import cancel_all, install, jobs

pytestmark = pytest.mark.e2e  # commands as a user types them, end to end

ROOT = Path(__file__).resolve().parents[1]
# The README's SLURM command on this config. The plugin waits 40 s after a job ends before it asks sacct again (a
# courtesy to a real cluster's controller, and nothing beside hour-long jobs): the stand-in answers at once, so
# the run here asks after 2 s, or the dozen layers of this DAG would take ten minutes.
COMMAND = (
    "snakemake all --workflow-profile profiles/slurm --configfile real.yaml --slurm-init-seconds-before-status-checks 2"
)
SLURM_VARIABLES = {
    "OPENVCLIP_SLURM_ACCOUNT": "lab42",
    "OPENVCLIP_CPU_PARTITION": "cpu-part",
    "OPENVCLIP_GPU_PARTITION": "gpu-part",
}


def kinetics_config(http_server, files: Path) -> dict:
    """The real-layout config of tests/test_real_workflow.py with K400 as 16 training archives (two clips each)
    and 2 validation archives, 4 archives a shard: 4 training shards and 1 validation shard."""
    config, _ = real_config(http_server, files)
    k400 = layouts.write_kinetics(files / "k400x16", base_url=http_server.url("k16").rstrip("/"), train_archives=16)
    urls = http_server.add_tree(k400.folder, prefix="k16")
    config["datasets"]["k400"]["files"] = layouts.kinetics_files(urls)
    config["shards"] = {"archives_per_job": 4}
    return config


def unsharded(cwd: Path, config: dict) -> None:
    """The data stage as single jobs: the commands the rules run for a set without shards, one per stage."""
    valid = validate_config(config, ROOT / SCHEMA)
    dataset = shlex.quote(json.dumps(valid["datasets"]["k400"]))
    frames = shlex.quote(json.dumps(JobArgs(Plan(valid)).frame_settings("k400")))
    reencoding = shlex.quote(json.dumps(valid["train_videos"]))
    manifest = "data/manifests/k400.csv"
    for command in (
        f"openvclip prepare --dataset {dataset} --name k400 --downloads data/downloads/k400 --raw data/raw/k400"
        f" --manifest {manifest} --downloads-at-once 4",
        f"openvclip frames --manifest {manifest} --out data/frames/k400 --settings {frames}",
        f"openvclip train-videos --manifest {manifest} --videos data/train_videos/k400/videos"
        f" --index data/train_videos/k400/index.csv --settings {reencoding}",
    ):
        shell(cwd, command)


def relative(path: str, cwd: Path) -> str:
    return Path(path).resolve().relative_to(cwd.resolve()).as_posix()


def data_stage(cwd: Path) -> dict:
    """The data stage's outputs with every path made relative to the project (two folders differ only there)."""
    manifest = [{**r, "path": relative(r["path"], cwd)} for r in read_manifest(cwd / "data/manifests/k400.csv")]
    index = [
        {**e, "source": relative(e["source"], cwd), "path": Path(e["path"]).stem.rsplit("-", 1)[0]}
        for e in read_index(cwd / "data/train_videos/k400/index.csv")
    ]
    store = cwd / "data/frames/k400"
    meta = json.loads((store / "meta.json").read_text())
    meta["videos"] = [relative(p, cwd) for p in meta["videos"]]
    meta["errors"] = [e.replace(str(cwd.resolve()), "") for e in meta["errors"]]
    return {
        "manifest": manifest,
        "classes": (cwd / "data/manifests/k400.classes.txt").read_text(),
        "missing": (cwd / "data/manifests/k400.missing.csv").read_text(),
        "index": index,
        "store": {name: np.load(store / name) for name in ("frames.bin.npy", "offsets.npy")},
        "meta": meta,
    }


def test_kinetics_on_slurm_runs_in_shard_jobs_equal_to_the_single_jobs(http_server, tmp_path):
    config = kinetics_config(http_server, tmp_path / "files")
    gone = "k16/train/part_13.tar.gz"  # in shard 1 (the list's order: part_0, part_1, part_10, ..., part_13)
    http_server.add(gone, tmp_path / "files/k400x16/train/part_13.tar.gz", fail=[404, 404])  # the run and its retry

    cwd = tmp_path / "project"
    cwd.mkdir()
    shutil.copy(ROOT / "Snakefile", cwd)
    for folder in ("workflow", "config", "profiles"):
        shutil.copytree(ROOT / folder, cwd / folder)
    (cwd / "real.yaml").write_text(yaml.safe_dump(config))
    slurm = tmp_path / "slurm"
    bin_ = install(slurm, accounts=("lab42",), partitions=("cpu-part", "gpu-part"))
    env = user_env(PATH=f"{bin_}{os.pathsep}{os.environ['PATH']}", **SLURM_VARIABLES)
    try:
        failed = shell(cwd, COMMAND, check=False, env=env)
        # The failed shard names itself: the rule and wildcards in Snakemake's report, the shard and the archive
        # in its log; the other shards finished and are kept.
        assert failed.returncode != 0
        assert "Error in rule fetch_shard" in output(failed) and "shard=1" in output(failed)
        log = (cwd / "logs/fetch_shard/k400/1.log").read_text()
        assert "data set k400, shard 1 of 5 (videos_train: 4 archive(s)" in log and "part_13.tar.gz" in log
        fetched = sorted(p.name for p in (cwd / "data/shards/k400/fetched").glob("*.json"))
        assert fetched == ["0.json", "2.json", "3.json", "4.json"]
        # The rerun plans the failed shard alone, then what needs it.
        again = planned_jobs(shell(cwd, COMMAND + " -n", env=env))
        assert again["fetch_shard"] == 1 and again["prepare_dataset"] == 1
        shell(cwd, COMMAND, env=env)
    finally:
        cancel_all(slurm)

    runs = [j for j in jobs(slurm) if j["Comment"].startswith("rule_")]
    rules = [j["Comment"].split("_wildcards")[0][len("rule_") :] for j in runs]
    # Every job went through sbatch: 5 download shards + the failed one's retry + its rerun; 5 parts each of
    # re-encoding and frame decoding.
    assert rules.count("fetch_shard") == 7
    assert rules.count("train_videos_part") == 5 and rules.count("extract_frames_part") == 5
    assert {"train_variant", "evaluate", "report"} <= set(rules)
    shards = [j for j in runs if "fetch_shard" in j["Comment"]][:5]
    assert max(j["start"] for j in shards) < min(j["end"] for j in shards), "the shard jobs did not run side by side"
    assert all(j["State"] == "COMPLETED" for j in runs if "train_videos" in j["Comment"])
    assert (cwd / "results/closedset_k400.csv").is_file()

    single = tmp_path / "single"
    single.mkdir()
    unsharded(single, config)
    ours, theirs = data_stage(cwd), data_stage(single)
    assert len(ours["manifest"]) == 36 and len(ours["index"]) == 32
    for key in ("manifest", "classes", "missing", "index", "meta"):
        assert ours[key] == theirs[key], key
    for name, array in theirs["store"].items():
        assert np.array_equal(ours["store"][name], array), name
