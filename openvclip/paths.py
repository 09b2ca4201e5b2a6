"""Where the workflow keeps its files: one template per kind, in Snakemake's wildcard syntax. The rules use them
as their patterns and :class:`openvclip.plan.Layout` fills them in (``.format``), so moving an output is one edit.
A run is one variant of one experiment's seed."""

THETA0 = "models/clip/theta0.safetensors"  # the CLIP every variant starts from (fetched, or the demo's pretrained)
PRETRAIN_METRICS = "models/clip/pretrain_metrics.json"  # the demo CLIP's pretraining: steps, loss, top-1

# A data set's files: its manifest (every video, split and label) with the classes and the videos lost before
# decoding, its class descriptions (FROSTER), its frame store (evaluation), its training videos' index.
MANIFEST = "data/manifests/{ds}.csv"
CLASSES = "data/manifests/{ds}.classes.txt"
MISSING = "data/manifests/{ds}.missing.csv"
DESCRIPTIONS = "data/descriptions/{ds}"
FRAMES = "data/frames/{ds}"
TRAIN_INDEX = "data/train_videos/{ds}/index.csv"
# A data set fetched from URL lists is prepared in shards, one job each per stage (openvclip/data/shards.py): the
# shard plan, then each shard's record of its fetched archives, part of the frame store and part index.
SHARD_PLAN = "data/shards/{ds}/plan.json"
FETCHED_SHARD = "data/shards/{ds}/fetched/{shard}.json"
FRAMES_PART = "data/shards/{ds}/frames/{shard}.json"
TRAIN_INDEX_PART = "data/shards/{ds}/train_videos/{shard}.csv"
# The encoded text side of a data set's classes under a manifest column: from the class names, or descriptions.
TEXT = "data/text/{ds}.{column}.pt"
DESCRIPTIONS_TEXT = "data/text/{ds}.{column}.descriptions.pt"

RUN = "{exp}/seed{seed}/{variant}"

MODEL_DIR = f"models/{RUN}"  # the training's folder: checkpoints, logs, both weights files
MODEL_WEIGHTS = f"{MODEL_DIR}/model.safetensors"  # the last weights (written last: marks a finished training)
SWA_WEIGHTS = f"{MODEL_DIR}/swa.safetensors"  # the SWA average, or a file saying SWA was off
TRAIN_LOG = f"{MODEL_DIR}/train_log.csv"  # one row per step (openvclip/train/log.py)
RUN_RESULTS = f"results/runs/{RUN}"  # a run's result files, one per data set
RESULT = f"{RUN_RESULTS}/{{ds}}.csv"  # one data set's ratio sweep

# The tables: the main experiment's, every variant on one data set and one variant on every data set; a study's.
PROTOCOL_TABLE = "results/{protocol}_{ds}.csv"
SWEEP_TABLE = "results/sweep_{variant}.csv"
STUDY_TABLE = "results/study/{exp}.csv"  # every variant, seed and data set of an experiment


def job_file(kind: str, rule: str, template: str) -> str:
    """A rule's log (``kind`` "logs", ``.log``) or benchmark (``kind`` "benchmarks", ``.tsv``) for a template of
    its wildcards."""
    suffix = {"logs": "log", "benchmarks": "tsv"}[kind]
    return f"{kind}/{rule}/{template}.{suffix}"
