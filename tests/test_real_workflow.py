"""`snakemake results/zeroshot_hmdb.csv` on real-layout data sets served over loopback HTTP: the workflow fetches,
verifies, unpacks (a RAR of RARs), parses, decodes and scores what that one file needs, by itself."""

import re
import shutil
import statistics
import subprocess
from pathlib import Path

import pytest
import yaml

from openvclip.data.frame_store import open_store
from openvclip.data.manifest import read_manifest, read_missing
from openvclip.report.tables import value
from openvclip.results import read_rows
from tests.real_layouts import real_config
from tests.shell import clean_clone, planned_jobs, shell, shell_dry_run, snakemake

pytestmark = pytest.mark.e2e  # commands as a user types them, end to end

ROOT = Path(__file__).resolve().parents[1]


def test_zeroshot_hmdb_fetches_and_prepares_what_it_needs(http_server, tmp_path):
    cwd = tmp_path / "project"
    cwd.mkdir()
    shutil.copy(ROOT / "Snakefile", cwd / "Snakefile")
    shutil.copytree(ROOT / "workflow", cwd / "workflow")
    shutil.copytree(ROOT / "config", cwd / "config")
    config, hmdb = real_config(http_server, tmp_path / "files")
    (cwd / "real.yaml").write_text(yaml.safe_dump(config))

    snakemake(cwd, "results/zeroshot_hmdb.csv", "--configfile", "real.yaml")

    rows = read_rows(cwd / "results" / "zeroshot_hmdb.csv")
    assert {r["variant"] for r in rows} == {"frozen", "openvclip"}
    # The official splits, scored one by one, then their mean and (sample) std.
    assert {r["split"] for r in rows} == {"test1", "test2", "test3", "mean", "std"}
    assert {int(r["n_classes"]) for r in rows} == {len(hmdb.classes)}
    corrupt = hmdb.extra["corrupt"]
    assert len(corrupt) == 1 and hmdb.rows[corrupt[0]][1] == "test1"
    for k in (1, 2, 3):
        present = sum(f"test{k}" in split.split() for _, split in hmdb.rows.values())
        absent = sum(f"test{k}" in split.split() for split in hmdb.missing.values())
        split_rows = [r for r in rows if r["split"] == f"test{k}"]
        # The truncated video is a manifest row, left out of scoring and counted in every row of its split; the
        # video the split files list but the archive lacks is counted as missing in each split it is listed in.
        assert {(int(r["n_videos"]), int(r["n_unreadable"]), int(r["n_missing"])) for r in split_rows} == {
            (present - (k == 1), int(k == 1), absent)
        }
        assert absent == (k in (1, 2))
    for variant, ratio, metric in {(r["variant"], r["ratio"], r["metric"]) for r in rows}:
        match = dict(variant=variant, ratio=ratio, metric=metric)
        per_split = [value(rows, split=f"test{k}", **match) for k in (1, 2, 3)]
        assert value(rows, split="mean", **match) == pytest.approx(statistics.fmean(per_split), abs=1e-3)
        assert value(rows, split="std", **match) == pytest.approx(statistics.stdev(per_split), abs=1e-3)
    assert {int(r["n_unreadable"]) for r in rows if r["split"] == "mean"} == {1}
    store = open_store(cwd / "data" / "frames" / "hmdb")
    assert [
        Path(r["path"]).name
        for r in read_manifest(cwd / "data" / "manifests" / "hmdb.csv")
        if Path(r["path"]).name in corrupt
    ] == corrupt
    assert len(store.meta["unreadable"]) == 1
    # The manifest holds the test videos of the nested RAR; the listed-but-absent one is reported, not a row.
    manifest = read_manifest(cwd / "data" / "manifests" / "hmdb.csv")
    assert sorted(Path(r["path"]).name for r in manifest) == sorted(hmdb.rows)
    assert read_missing(cwd / "data" / "manifests" / "hmdb.csv") == hmdb.missing
    assert not list((cwd / "data" / "raw" / "hmdb").rglob("*.rar"))
    store = open_store(cwd / "data" / "frames" / "hmdb")
    assert store.shape[1:] == (2 * 4, 32, 32, 3) and store.format == "jpeg"
    # Only what the file needs: nothing else was built, and a second run plans nothing.
    assert not (cwd / "results" / "closedset_k400.csv").exists()
    assert planned_jobs(snakemake(cwd, "-n", "results/zeroshot_hmdb.csv", "--configfile", "real.yaml")) == {}

    # A stricter limit than the split's losses: evaluation stops, naming the split and the lists of lost videos.
    config["datasets"]["hmdb"]["max_unreadable"] = 0.2  # test1 lost 2 of 6 (33%), test2 1 of 5 (20%: allowed)
    (cwd / "real.yaml").write_text(yaml.safe_dump(config))
    refused = snakemake(cwd, "results/zeroshot_hmdb.csv", "--configfile", "real.yaml", check=False)
    assert refused.returncode != 0
    logs = [p.read_text() for p in (cwd / "logs" / "evaluate" / "main" / "seed0").glob("*/hmdb.log")]
    log = next(text for text in logs if "lost" in text)  # the first evaluation to run stopped the workflow
    assert (
        "data set hmdb, split test1: 2 of 6 listed videos are lost (33.3%: 1 missing on disk, listed in "
        "data/manifests/hmdb.missing.csv; 1 unreadable, listed in data/frames/hmdb/meta.json" in log
    )
    assert "Traceback" not in log and "max_unreadable = 0.2 allows" in log


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    return clean_clone(tmp_path_factory.mktemp("paper") / "openvclip", fast_config=False)


@pytest.mark.parametrize(
    "command",
    [
        "snakemake all --configfile config/paper_vitb16.yaml",
        "snakemake results/zeroshot_hmdb.csv --configfile config/paper_vitb32.yaml",
        "snakemake results/zeroshot_hmdb.csv --configfile config/paper_vitl14.yaml",
    ],
)
def test_the_paper_configs_commands_plan_their_runs(clone, command):
    """The README's and the paper configs' own command lines (dry runs: the real ones fetch 450 GB)."""
    jobs = planned_jobs(shell_dry_run(clone, command))
    assert jobs["fetch_clip"] == 1 and jobs["train_variant"] >= 1 and jobs["evaluate"] >= 1
    assert ("report" in jobs) == command.startswith("snakemake all")
    assert jobs["prepare_dataset"] == (5 if "all" in command else 2)  # k400, ucf, hmdb, k600, msrvtt


def test_the_downloads_target_plans_only_what_needs_the_internet(clone):
    jobs = planned_jobs(shell_dry_run(clone, "snakemake downloads --cores 4 --configfile config/paper_vitb16.yaml"))
    # K400 and K600 read their URL lists first (plan_shards); their download shards are planned once they are read.
    assert jobs == {"plan_shards": 2, "prepare_dataset": 5, "fetch_clip": 1, "downloads": 1}


@pytest.mark.parametrize(
    "command",
    [
        "openvclip config --show config/paper_vitb16.yaml",
        "openvclip config --show config/paper_vitb32.yaml",
        "openvclip config --show config/paper_vitl14.yaml",
    ],
)
def test_each_model_config_is_the_shared_base_plus_what_differs(clone, command):
    from openvclip.config import merge_over

    resolved = yaml.safe_load(shell(clone, command).stdout)
    base = yaml.safe_load((clone / "config" / "paper_base.yaml").read_text())
    model = command.split("paper_")[1].split(".")[0]
    assert "base" not in resolved and set(resolved["datasets"]) == {"k400", "ucf", "hmdb", "k600", "msrvtt"}
    assert resolved["clip"]["model"] == {
        "name": {"vitb16": "ViT-B-16", "vitb32": "ViT-B-32", "vitl14": "ViT-L-14"}[model],
        "pretrained": "openai",
    }
    # The released objective and padding, from the shared base.
    assert resolved["train"]["gradient"] == "official" and resolved["temporal"]["boundary"] == "zeros"
    assert resolved["eval"]["test_ratio"] == (0.6 if model == "vitl14" else 0.5)
    assert resolved["train"]["lr"] == base["train"]["lr"] and set(resolved["datasets"]) == set(base["datasets"])
    # Each data set as the base writes it, with the schema's defaults filled in beside it.
    for name, spec in base["datasets"].items():
        assert merge_over(resolved["datasets"][name], spec) == resolved["datasets"][name]
        assert resolved["datasets"][name]["max_unreadable"] == spec.get("max_unreadable", 0.05)


def test_the_paper_plan_trains_with_the_released_objective_and_padding(clone):
    """The issue's check, typed as given: every training and evaluation job of the paper config."""
    out = shell(clone, "snakemake -n -p all --configfile config/paper_vitb16.yaml")
    commands = [
        line
        for line in (out.stdout + out.stderr).splitlines()
        if " train --model " in line or " evaluate --model " in line
    ]
    trained = [c for c in commands if " train --model " in c]
    assert len(trained) == 2 and len(commands) > 2
    assert all("--boundary zeros" in c for c in commands)
    assert all('"train_logit_scale":true' in c for c in trained)
    # Open-VCLIP's training has the released objective; frozen CLIP's job (theta0 as its weights) is not given
    # Open-VCLIP's keys, which it does not read.
    openvclip = [c for c in trained if '"objective":"openvclip"' in c]
    assert len(openvclip) == 1 and '"gradient":"official"' in openvclip[0]
    assert all('"gradient"' not in c for c in trained if c not in openvclip)


def test_the_paper_plan_re_encodes_the_training_videos_and_trains_from_them(clone):
    """The issue's check, typed as given: one re-encoding job for K400's training split, and training jobs whose
    input is its index (videos decoded on the fly), not the evaluation store."""
    out = shell(clone, "snakemake -n all --configfile config/paper_vitb16.yaml")
    text = out.stdout + out.stderr
    assert planned_jobs(out)["train_videos"] == 1
    jobs = re.split(r"\n(?=(?:local)?rule )", text)
    reencode = [j for j in jobs if j.startswith(("rule train_videos:", "localrule train_videos:"))]
    assert len(reencode) == 1 and "output: data/train_videos/k400/index.csv" in reencode[0]
    training = [j for j in jobs if j.startswith("rule train_variant:")]
    assert len(training) == 2
    for job in training:
        inputs = re.search(r"input: (.*)", job).group(1)
        assert "data/train_videos/k400/index.csv" in inputs and "data/frames" not in inputs


def test_a_paper_config_under_dvc_is_its_resolved_copy(clone):
    """README: DVC reads config.yaml as written, so a paper config goes there resolved, and dvc.yaml is written
    for it: a training stage for Open-VCLIP (reading Open-VCLIP's keys) and for frozen CLIP (theta0 as weights)."""
    shell(clone, "openvclip config --show config/paper_vitb16.yaml > config.yaml && openvclip dvc-yaml")
    try:
        config = yaml.safe_load((clone / "config.yaml").read_text())
        assert config["clip"]["model"]["name"] == "ViT-B-16" and "k600" in config["datasets"]
        assert planned_jobs(shell(clone, "snakemake -n all"))["fetch_clip"] == 1
        stages = yaml.safe_load((clone / "dvc.yaml").read_text())["stages"]
        assert [s for s in stages if s.startswith("train-")] == ["train-frozen", "train-openvclip"]
        assert set(s for s in stages if s.startswith("evaluate-")) == {"evaluate-frozen", "evaluate-openvclip"}
        assert "train.lam" in stages["train-openvclip"]["params"][0]["config.yaml"]
    finally:
        subprocess.run(["git", "checkout", "-q", "config.yaml", "dvc.yaml"], cwd=clone, check=True)


def test_the_ablation_is_its_own_target_and_reuses_the_main_runs_models(clone):
    out = shell_dry_run(clone, "snakemake study --configfile config/paper_vitb16.yaml")
    text = out.stdout + out.stderr
    trained = sorted(set(re.findall(r"output: (models/\S+/model\.safetensors)", text)))
    assert trained == [
        f"models/main/seed0/{v}/model.safetensors" for v in ("finetune", "finetune_no_temporal", "frozen", "openvclip")
    ]
    jobs = planned_jobs(out)
    assert jobs["evaluate"] == 5 * 5 and jobs["study_report"] == 1  # five variants on five data sets
    main = planned_jobs(shell_dry_run(clone, "snakemake all --configfile config/paper_vitb16.yaml"))
    assert main["train_variant"] == 2 and "study_report" not in main


@pytest.mark.parametrize(
    "command",
    [
        "snakemake --cores 8 all --configfile config/froster_vitb16.yaml",
        "snakemake --cores 8 study --configfile config/froster_vitb16.yaml",
    ],
)
def test_the_froster_config_plans_the_released_recipe(clone, command):
    """The commands at the top of config/froster_vitb16.yaml (dry runs, printing each job's command): FROSTER
    trains with its distillation and text tower, on text from the released descriptions (aliases for K400)."""
    jobs = planned_jobs(shell_dry_run(clone, command))
    printed = shell(clone, command.replace("snakemake --cores 8", "snakemake -n -p", 1))  # each job's command
    text = printed.stdout + printed.stderr
    assert jobs["class_descriptions"] == 4 and jobs["embed_descriptions"] == 4  # k400, ucf, hmdb, k600
    trains = [line for line in text.splitlines() if " train --model " in line]
    froster = [line for line in trains if '"objective":"froster"' in line]
    assert len(froster) == 1 and "data/text/k400.classname.descriptions.pt" in froster[0]
    assert all(f in froster[0] for f in ('"distill_weight":2.0', '"train_text":true', '"distill_distance":"cosine"'))
    assert all(".descriptions.pt" not in line for line in trains if line not in froster)  # the others: names
    embeds = [line for line in text.splitlines() if " embed-text " in line and "--descriptions" in line]
    k400 = next(line for line in embeds if "--descriptions data/descriptions/k400" in line)
    assert '"driving car":"Driving a car"' in k400
    assert jobs["train_variant"] == (2 if " all " in command else 4)  # frozen, froster (+ finetune, openvclip)
