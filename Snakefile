# openvclip workflow: `snakemake --cores 8 all` rebuilds every table and plot of the active config.
# The rules only call the `openvclip` CLI (or package functions); the logic lives in the package.

from pathlib import Path

from snakemake.utils import min_version

min_version("8.0")


# The demo config, unless the user names another: the paper's configs (config/*.yaml) replace it whole rather
# than being merged into it, so none of the demo's data sets or keys leak into a paper run.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/clip.smk"
include: "workflow/rules/text.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/collect.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        FILES.main_results(),
        "results/tradeoff.png",
        "results/summary.md",
        "results/metrics.json",
        "results/tradeoff.csv",


# Coarse targets of the main experiment. `downloads`: what needs the internet (every data set's manifest:
# download, verify, unpack, parse; and the CLIP weights), for a login node when compute nodes are offline
# (profiles/slurm/config.yaml). The others: each stage of the DAG at once (dvc.yaml's stages build `data` and
# `text`, and mark the others up to date before the stages that read them).
rule downloads:
    input:
        FILES.stage_targets()["downloads"],


rule data:
    input:
        FILES.stage_targets()["data"],


rule text:
    input:
        FILES.stage_targets()["text"],


rule train:
    input:
        FILES.stage_targets()["train"],


rule evaluate_all:
    input:
        FILES.stage_targets()["evaluate"],


rule study:
    input:
        "results/study/summary.md",
        "results/study/tradeoff.png",
