"""dvc.yaml's stages, written from the config (openvclip/plan/dvc_stages.py, openvclip/cli/dvc_yaml.py): the
committed file is the one `openvclip dvc-yaml` writes, each stage lists the config keys its jobs read (so a
change reruns what it touches and `dvc status` never calls a stale output up to date), and the workflow refuses a
dvc.yaml written for another config. (tests/test_dvc.py runs DVC itself.)"""

import copy
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from openvclip.cli import dvc_yaml
from openvclip.config import SCHEMA, resolve_base, validate_config
from openvclip.errors import UserError
from openvclip.plan import JobArgs, Plan
from openvclip.plan.dvc_stages import DvcStages, refuse_base

ROOT = Path(__file__).resolve().parents[1]


def raw(name="config.yaml"):
    return resolve_base(yaml.safe_load((ROOT / name).read_text()), ROOT)


def stages_of(config):
    return DvcStages(Plan(validate_config(copy.deepcopy(config), ROOT / SCHEMA)), config).stages()


def test_the_committed_dvc_yaml_is_the_one_written_from_config_yaml_and_the_code():
    diff = dvc_yaml.difference(ROOT)
    assert diff is None, f"dvc.yaml is stale: run `openvclip dvc-yaml` and commit it\n{diff}"


def test_each_stage_depends_on_the_code_its_jobs_run_and_evaluation_code_is_evaluations():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    # Evaluation's code is evaluation's: no stage before it reruns when it changes.
    for name in ("data", "clip", "text", "train-openvclip", "train-finetune"):
        assert not any(d.startswith("openvclip/eval") for d in stages[name]["deps"]), name
    assert "openvclip/eval" in stages["evaluate-openvclip"]["deps"]
    assert "workflow/rules/train.smk" in stages["train-openvclip"]["deps"]
    # The writer of dvc.yaml and its check change no output: no stage depends on them.
    assert not any("dvc_yaml" in d or "dvc_stages" in d or "code_deps" in d for s in stages.values() for d in s["deps"])


def test_a_stage_per_trained_and_per_evaluated_variant_reading_only_its_own_keys():
    stages = stages_of(raw())
    trained = {n for n in stages if n.startswith("train-")}
    # Every variant with weights of its own (frozen CLIP's training writes theta0), none evaluating another's.
    assert trained == {"train-frozen", "train-finetune", "train-finetune_no_temporal", "train-openvclip"}
    assert {n for n in stages if n.startswith("evaluate-")} == {
        f"evaluate-{v}" for v in raw()["experiments"]["main"]["variants"]
    }
    assert "train.lam" in stages["train-openvclip"].params and "train.lam" not in stages["train-finetune"].params
    assert "train.swa_start_epoch" not in stages["train-finetune"].params  # keeps no SWA average
    assert [n for n, s in stages.items() if "eval.test_ratio" in s.params] == ["report"]
    # A variant evaluated with another's weights depends on that training's folder and entry.
    off = stages["evaluate-finetune_temporal_off"]
    assert "models/main/seed0/finetune" in off.deps and "variants.finetune" in off.params
    assert off.targets == ["results/runs/main/seed0/finetune_temporal_off/k400.csv"]
    assert "eval.ratios" not in off.params  # it has ratios of its own
    assert stages["evaluate-frozen"].deps[-1] == "models/main/seed0/frozen"
    assert "eval.ratios" not in stages["evaluate-frozen"].params and "train.lam" not in stages["train-frozen"].params


def leaves(node, prefix=()):
    if isinstance(node, dict) and node:
        for k, v in node.items():
            yield from leaves(v, prefix + (k,))
    else:
        yield prefix


def changed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, list):
        return value[:-1] if value else [1]
    return 1


@pytest.mark.parametrize("name", ["config.yaml", "tests/fast_config.yaml", "config/paper_vitb16.yaml"])
def test_a_config_change_that_changes_a_job_is_a_param_of_its_stage_or_of_a_stage_upstream(name):
    """Honest status: every key of the config, changed alone, that changes what a training or an evaluation job
    is told (its settings, the hash its results record, its frame settings), is among the params of that job's
    stage or of a stage whose outputs it reads. Fails if a stage misses a key its jobs read."""
    base = raw(name)
    base.pop("base", None)
    stages = stages_of(base)
    plan = Plan(validate_config(copy.deepcopy(base), ROOT / SCHEMA))
    upstream = {"train": ["data", "clip", "text"], "evaluate": ["data", "clip", "text"]}

    def covered(stage_names, path):
        dotted = ".".join(path)
        return any(
            dotted == p or dotted.startswith(p + ".") for s in stage_names if s in stages for p in stages[s].params
        )

    def jobs(p):
        args = JobArgs(p)
        out = {}
        for v in p.experiment_variants(p.main):
            if "weights_of" not in p.variants[v]:
                out[("train", v)] = p.train_settings(p.main, 0, v)
            for ds in p.experiment_datasets(p.main):
                out[("evaluate", v, ds)] = args.result_hash_of(p.main, 0, v, ds)
        for ds in p.datasets:
            out[("data", ds)] = args.frame_settings(ds)
        return out

    before = jobs(plan)
    # What the report shows, what jobs ask the machine for and how data jobs are cut tell no job what to compute.
    for path in (p for p in leaves(base) if p[0] not in ("report", "resources", "shards", "study")):
        config = copy.deepcopy(base)
        node = config
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = changed(node[path[-1]])
        try:
            after = jobs(Plan(validate_config(config, ROOT / SCHEMA)))
        except (UserError, KeyError, TypeError, ValueError, IndexError):
            continue  # a value the schema refuses is no change a user can make
        for job, settings in before.items():
            if job not in after or after[job] == settings:
                continue  # (a job gone is a change of stages: the workflow refuses dvc.yaml until it is rewritten)
            kind, variant = job[0], job[1]
            own = {"train": f"train-{variant}", "evaluate": f"evaluate-{variant}", "data": "data"}[kind]
            source = plan.source_variant(variant) if kind == "evaluate" else None
            above = upstream.get(kind, []) + ([f"train-{source}"] if source else [])
            assert covered([own] + above, path), f"{'.'.join(path)} changes job {job} but no stage lists it"


def test_the_paper_config_resolved_has_one_training_stage_and_reads_its_keys():
    config = validate_config(raw("config/paper_vitb16.yaml"), ROOT / SCHEMA)  # as `openvclip config --show` writes
    stages = stages_of(config)
    assert [n for n in stages if n.startswith("train-")] == ["train-frozen", "train-openvclip"]
    assert {"train.lam", "train.alpha_high", "train.epochs", "train.lr"} <= set(stages["train-openvclip"].params)
    with pytest.raises(UserError, match="openvclip config --show"):
        refuse_base(yaml.safe_load((ROOT / "config/paper_vitb16.yaml").read_text()))  # `base:` unresolved


def project_copy(tmp_path):
    """The project's code and config in a folder of its own (the code linked, config.yaml and dvc.yaml copied)."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("openvclip", "workflow", "Snakefile"):
        os.symlink(ROOT / name, root / name)
    for name in ("config.yaml", "dvc.yaml"):
        shutil.copy(ROOT / name, root / name)
    return root


def test_the_check_refuses_a_dvc_yaml_written_for_another_config_until_it_is_rewritten(tmp_path):
    root = project_copy(tmp_path)
    dvc_yaml.check(root)  # written for this config: passes, and is remembered
    assert (root / ".snakemake" / "openvclip-dvc-yaml-checked").is_file()
    config = yaml.safe_load((root / "config.yaml").read_text())
    config["experiments"]["main"]["variants"].remove("finetune_no_temporal")
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    with pytest.raises(UserError, match="openvclip dvc-yaml") as refused:
        dvc_yaml.check(root)
    assert "-  train-finetune_no_temporal:" in str(refused.value)
    done = subprocess.run(["openvclip", "dvc-yaml"], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0 and "written" in done.stdout
    dvc_yaml.check(root)
    assert "train-finetune_no_temporal" not in (root / "dvc.yaml").read_text()
    assert subprocess.run(["openvclip", "dvc-yaml", "--check"], cwd=root, capture_output=True).returncode == 0
