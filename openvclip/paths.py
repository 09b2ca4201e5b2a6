"""Where the workflow keeps a run's files: one template per kind, in Snakemake's wildcard syntax. The rules use them
as their patterns and :class:`openvclip.plan.Plan` fills them in (``.format``), so moving an output is one edit.
A run is one variant of one experiment's seed."""

RUN = "{exp}/seed{seed}/{variant}"

MODEL_DIR = f"models/{RUN}"  # the training's folder: checkpoints, logs, both weights files
MODEL_WEIGHTS = f"{MODEL_DIR}/model.safetensors"  # the last weights (written last: marks a finished training)
SWA_WEIGHTS = f"{MODEL_DIR}/swa.safetensors"  # the SWA average, or a file saying SWA was off
RESULT = f"results/runs/{RUN}/{{ds}}.csv"  # one data set's ratio sweep


def job_file(kind: str, rule: str, template: str) -> str:
    """A rule's log (``kind`` "logs", ``.log``) or benchmark (``kind`` "benchmarks", ``.tsv``) for a template of
    its wildcards."""
    suffix = {"logs": "log", "benchmarks": "tsv"}[kind]
    return f"{kind}/{rule}/{template}.{suffix}"
