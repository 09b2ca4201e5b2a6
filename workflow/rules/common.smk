# The active config, validated with its defaults filled in, the workflow's decisions made from it
# (openvclip/plan/, unit-tested), wildcard constraints and the rules' input functions. No logic of its own.

import os

from openvclip import paths
from openvclip.config import SCHEMA, resolve_base, shipped_datasets, validate_config
from openvclip.data.shards import shard_count as shard_count_of
from openvclip.errors import UserError
from openvclip.plan import JobArgs, JobResources, Layout, Plan, as_json, launcher, threads_per_process

# A config may name a `base:` file it is merged over (the paper configs share config/paper_base.yaml).
_validated = validate_config(
    resolve_base(config, workflow.basedir),
    Path(workflow.basedir) / SCHEMA,
    source="the active config (config.yaml and any --configfile/--config)",
)
config.clear()
config.update(_validated)

# Inside a DVC stage (DVC sets DVC_STAGE): refuse a dvc.yaml written for another config or older code, whose stages
# would train the wrong variants or miss a change (`openvclip dvc-yaml` rewrites it). The check changes no
# output, so it is imported here and not above: it is no code dependency of the stages (openvclip/cli/code_deps.py).
if "DVC_STAGE" in os.environ:
    from openvclip.cli.dvc_yaml import check as check_dvc_yaml

    check_dvc_yaml(Path(workflow.basedir))

PLAN = Plan(config)  # what the config means
FILES = Layout(PLAN)  # where each output goes (openvclip/paths.py's templates, filled in)
ARGS = JobArgs(PLAN)  # what each job is told beyond its files
RESOURCES = JobResources(PLAN)  # what each job asks the machine or cluster for
DATASETS = PLAN.datasets
VARIANTS = PLAN.variants
EXPERIMENTS = PLAN.experiments
MAIN = PLAN.main
TRAIN_SET = PLAN.train_set
# Threads of each training and evaluation job. The small demo models scale poorly across threads (2 threads:
# 0.28 s a step, 1 thread: 0.45 s), so the demo runs one-thread jobs side by side. The CLI caps torch's threads
# at the machine's cores.
THREADS = config["resources"]["threads"]
# CLIP pretraining has nothing to run beside it but the data jobs: give it all of --cores but one. Read the
# setting, not `workflow.cores`: that raises when --cores is unset (`--unlock`, `--report`, cluster executors),
# and a workflow that cannot be parsed cannot be unlocked either.
PRETRAIN_THREADS = max(1, (workflow.resource_settings.cores or 2) - 1)
js = as_json

ACTIVE_CONFIG = ", ".join(map(str, workflow.overwrite_configfiles)) or "config.yaml"


# Data sets other configs define but the active one does not: asking for their results fails while the DAG
# is built (before any job runs), naming the config to use.
OTHER_DATASETS = {k: v for k, v in shipped_datasets(workflow.basedir).items() if k not in DATASETS}


wildcard_constraints:
    ds="|".join(DATASETS),
    variant="|".join(VARIANTS),
    exp="|".join(EXPERIMENTS),
    seed=r"\d+",
    shard=r"\d+",
    protocol="closedset|zeroshot|retrieval",
    column=r"[a-z_]+",


def shard_plan(wildcards):
    """An input function: a sharded data set's plan, as a plain input of the jobs that read it."""
    return [FILES.shard_plan(wildcards.ds)] if PLAN.is_sharded(wildcards.ds) else []


def shard_count(ds):
    """Shard jobs per stage of a data set: from its shard plan (a checkpoint: the URL lists must be read first),
    one for a set without URL lists. While the plan does not exist the jobs that read it are planned as one job
    and take it as a plain input (shard_plan): the plan is made first, and Snakemake then plans them again. (A
    checkpoint's own "incomplete" answer would also skip their parameter and code checks, so a set prepared
    before shards, or under another config, would never be prepared again.)"""
    if not PLAN.is_sharded(ds) or not Path(FILES.shard_plan(ds)).exists():
        return 1
    return shard_count_of(checkpoints.plan_shards.get(ds=ds).output[0])


def shard_files(template):
    """An input function: the files of a data set's shard jobs of one stage (none when it is one job)."""
    return lambda wc: FILES.shard_files(template, wc.ds, shard_count(wc.ds))


def temporal_flag(wildcards):
    return "--temporal" if VARIANTS[wildcards.variant]["temporal"] else "--no-temporal"


CONDA_ENV = "../envs/openvclip.yaml"


def dataset_not_in_config(name, target):
    configs = OTHER_DATASETS[name]
    # The target before --configfile: that option takes several files and would read the target as one more.
    raise UserError(
        f"data set {name!r} is not defined in the active config ({ACTIVE_CONFIG}); it is defined in "
        f"{', '.join(configs)}. Run: `snakemake {target} --configfile {configs[0]}`. "
        f"The active config defines: {', '.join(sorted(DATASETS))}"
    )
