# Config access, target lists and input functions. No ML logic: that lives in the openvclip package.

import json

from openvclip.config import config_hash, resolve_base, validate_config
from openvclip.errors import UserError

# A config may name a `base:` file it is merged over (the paper configs share config/paper_base.yaml).
_resolved = resolve_base(config, workflow.basedir)
config.clear()
config.update(_resolved)
validate_config(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml",
                source="the active config (config.yaml and any --configfile/--config)")

DATASETS = config["datasets"]
VARIANTS = config["variants"]
EXPERIMENTS = config["experiments"]
MAIN = config["main_experiment"]
TRAIN_SET = config["train_set"]
# Threads of each training and evaluation job (resources.threads). The small demo models scale poorly across
# threads (2 threads: 0.28 s a step, 1 thread: 0.45 s), so the demo runs one-thread jobs side by side. The CLI
# caps torch's threads at the machine's cores.
THREADS = config.get("resources", {}).get("threads", 1)
# CLIP pretraining has nothing to run beside it but the data jobs: give it all of --cores but one. Read the
# setting, not `workflow.cores`: that raises when --cores is unset (`--unlock`, `--report`, cluster executors),
# and a workflow that cannot be parsed cannot be unlocked either.
PRETRAIN_THREADS = max(1, (workflow.resource_settings.cores or 2) - 1)
# GPUs of each training job (one process each, started by torchrun when more than one); evaluation and text jobs
# run one process on one GPU. CPU cores per GPU (data loading) go to SLURM as cpus_per_gpu.
GPUS = config.get("resources", {}).get("gpus", 0)
CPUS_PER_GPU = config.get("resources", {}).get("cpus_per_gpu", THREADS)
PROTOCOL_OF = {name: spec["protocol"] for name, spec in DATASETS.items()}
PROTOCOL_OF[TRAIN_SET] = "closedset"

ACTIVE_CONFIG = ", ".join(map(str, workflow.overwrite_configfiles)) or "config.yaml"


def datasets_of_shipped_configs():
    """Data set name -> the config files shipped in config/ that define it (with their bases; a file that is
    only a base of others, such as config/paper_base.yaml, is not one to run)."""
    import yaml

    raw = {f"config/{path.name}": yaml.safe_load(path.read_text()) or {}
           for path in sorted(Path(workflow.basedir, "config").glob("*.yaml"))}
    bases = {str(c.get("base")) for c in raw.values() if c.get("base")}
    found = {}
    for name, content in raw.items():
        if name not in bases:
            for ds in resolve_base(content, workflow.basedir).get("datasets", {}) or {}:
                found.setdefault(ds, []).append(name)
    return found


# Data sets other configs define but the active one does not: asking for their results fails while the DAG
# is built (before any job runs), naming the config to use.
OTHER_DATASETS = {k: v for k, v in datasets_of_shipped_configs().items() if k not in DATASETS}


wildcard_constraints:
    ds="|".join(DATASETS),
    variant="|".join(VARIANTS),
    exp="|".join(EXPERIMENTS),
    seed=r"\d+",
    protocol="closedset|zeroshot|retrieval",
    column=r"[a-z_]+",


def js(value):
    """Config slice as compact JSON for a CLI argument (quote it with {params.x:q})."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def is_synthetic(ds):
    return "format" not in DATASETS[ds]


def frame_settings(ds):
    """How a data set's videos are decoded into its frame store (openvclip/data/frames.py)."""
    if is_synthetic(ds):  # the demo's short clips: frames spread over the whole clip, stored raw
        return {"format": "raw", "size": image_size(), "num_frames": num_frames(), "views": 1, "rate": 0}
    # Real videos: the protocol's views of num_frames frames `rate` apart, JPEG-compressed.
    defaults = {"format": "jpeg", "size": image_size(), "num_frames": num_frames(), "views": 3, "rate": 16,
                "quality": 90}
    return {**defaults, **DATASETS[ds].get("frames", {})}


def image_size():
    model = config["clip"]["model"]
    size = model.get("config", {}).get("vision_cfg", {}).get("image_size", 224)
    return size if isinstance(size, int) else size[0]


def num_frames():
    return config["train"].get("num_frames", 8)


def source_variant(variant):
    """The variant whose training produced this variant's weights."""
    return VARIANTS[variant].get("weights_of", variant)


def objective(variant):
    return VARIANTS[source_variant(variant)]["objective"]


def experiment_variants(exp):
    return EXPERIMENTS[exp].get("variants", list(VARIANTS))


def variant_datasets(variant):
    return VARIANTS[variant].get("datasets", list(DATASETS))


def label_column(exp, ds):
    """Manifest column naming the classes of data set ``ds`` in experiment ``exp``."""
    if ds == TRAIN_SET:
        return EXPERIMENTS[exp]["labels"]
    return "caption" if PROTOCOL_OF[ds] == "retrieval" else "classname"


def text_file(exp, ds):
    return f"data/text/{ds}.{label_column(exp, ds)}.pt"


def train_config(exp, seed, variant):
    values = {**config["train"], **EXPERIMENTS[exp].get("train", {})}
    values.update(objective=objective(variant), seed=int(seed))
    return values


def model_dir(exp, seed, variant):
    """Where a variant of an experiment is trained: the folder of the experiment it takes its models from
    (`models_from`: same labels and training settings, so the paper's ablation reuses the main run's weights)."""
    return f"models/{EXPERIMENTS[exp].get('models_from', exp)}/seed{seed}/{variant}"


def weights_file(exp, seed, variant):
    """The weights a variant is evaluated with: the SWA average when its training keeps one."""
    source = source_variant(variant)
    which = VARIANTS[variant].get("weights") or VARIANTS[source].get("weights")
    swa = train_config(exp, seed, source).get("swa")
    keeps_swa = swa if swa is not None else objective(source) == "openvclip"
    if which == "swa" and not keeps_swa:
        raise UserError(f"variants.{variant}.weights is swa, but the training of {source} in experiment {exp} "
                        "keeps no SWA average (train.swa is off, or unset for an objective other than openvclip): "
                        "set train.swa: true, or weights: last")
    if which is None:
        which = "swa" if keeps_swa else "last"
    name = "swa.safetensors" if which == "swa" else "model.safetensors"
    return f"{model_dir(exp, seed, source)}/{name}"


def max_unreadable_option(ds):
    """The train command's --max-unreadable option when the data set sets its limit (else the default holds)."""
    spec = DATASETS[ds]
    return f" --max-unreadable {spec['max_unreadable']}" if "max_unreadable" in spec else ""


def eval_set(exp, ds, input):
    """What the evaluate command's --sets argument needs of one data set."""
    spec = DATASETS[ds]
    item = {"name": ds, "protocol": PROTOCOL_OF[ds], "frames": input.frames, "manifest": input.manifest,
            "text": input.text, "column": label_column(exp, ds)}
    if spec.get("eval_splits"):
        item["eval_splits"] = spec["eval_splits"]
    if "max_unreadable" in spec:
        item["max_unreadable"] = spec["max_unreadable"]
    if spec.get("format") == "kinetics600_novel":  # each split is scored over its own fixed 160 classes
        item["novel_splits"] = spec
    return item


def ratios(variant):
    # The frozen model is theta0 itself: every ratio gives the same weights.
    return [1.0] if objective(variant) == "frozen" else VARIANTS[variant].get("ratios", config["eval"]["ratios"])


def result_hash_of(exp, seed, variant, ds):
    """The config slice a result depends on (its hash goes into every result row)."""
    return {
        "seed": config["seed"], "world": config.get("world"), "objects": config.get("objects"),
        "clip": config["clip"], "text": config["text"], "dataset": DATASETS[ds],
        "train_set": DATASETS[TRAIN_SET], "variant": VARIANTS[variant], "temporal": config.get("temporal"),
        "train": train_config(exp, seed, source_variant(variant)),
        # test_ratio only picks a row for the report: changing it must not re-run evaluations.
        "eval": {k: v for k, v in config["eval"].items() if k != "test_ratio"},
        "experiment": {"name": exp, "labels": EXPERIMENTS[exp]["labels"], "seed": int(seed)},
    }


def run_file(exp, seed, variant, ds):
    return f"results/runs/{exp}/seed{seed}/{variant}/{ds}.csv"


def runs_of(exp, seed, ds=None):
    wanted = EXPERIMENTS[exp].get("datasets", list(DATASETS))
    return [run_file(exp, seed, v, d) for v in experiment_variants(exp) for d in variant_datasets(v)
            if d in wanted and (ds is None or d == ds)]


def main_seed():
    return EXPERIMENTS[MAIN]["seeds"][0]


def main_results():
    files = [f"results/{PROTOCOL_OF[ds]}_{ds}.csv" for ds in DATASETS]
    files += [f"results/sweep_{v}.csv" for v in experiment_variants(MAIN)]
    return files


def trained_weights(exp, seed):
    return [f"{model_dir(exp, seed, v)}/model.safetensors" for v in experiment_variants(exp)
            if "weights_of" not in VARIANTS[v]]


def main_stage_targets():
    """The coarse targets of the main experiment, in DAG order: the Snakefile's target rules (`downloads`, and
    one for each DVC stage)."""
    seeds = EXPERIMENTS[MAIN]["seeds"]
    return {
        "downloads": [f"data/manifests/{ds}.csv" for ds in DATASETS] + ["models/clip/theta0.safetensors"],
        "data": [f"data/frames/{ds}" for ds in DATASETS] + [f"data/manifests/{ds}.csv" for ds in DATASETS]
        + [f"data/train_videos/{TRAIN_SET}/index.csv"],
        "text": sorted({text_file(MAIN, ds) for ds in DATASETS}),
        "train": [f for s in seeds for f in trained_weights(MAIN, s)],
        "evaluate": [f for s in seeds for f in runs_of(MAIN, s)],
    }


def heavy_resources(mem_mb, runtime, gpus=GPUS):
    """Resources of a model job: ``gpu`` (a count, or a function of the wildcards) and ``cpus_per_gpu`` only when
    the config asks for GPUs, so CPU-only runs never see a GPU request."""
    resources = {"mem_mb": mem_mb, "runtime": runtime}
    if GPUS:
        resources.update(gpu=gpus, cpus_per_gpu=CPUS_PER_GPU)
    return resources


def launcher(resources):
    """The command that starts a training job: one process, or one per GPU under torchrun."""
    gpus = int(resources.get("gpu", 0) or 0)
    return f"torchrun --standalone --nproc-per-node={gpus} -m openvclip" if gpus > 1 else "openvclip"


def threads_per_process(threads, resources):
    return max(1, threads // max(1, int(resources.get("gpu", 0) or 0)))


def report_spec(files, title, experiments=None):
    zeroshot = [d for d in DATASETS if PROTOCOL_OF[d] == "zeroshot"]
    # The variants of the experiments reported (the main one unless named), in the config's order.
    shown = {v for e in (experiments or [MAIN]) for v in experiment_variants(e)}
    variants = {v: {"trained": objective(v) != "frozen", "temporal": VARIANTS[v]["temporal"],
                    "weights_of": VARIANTS[v].get("weights_of")} for v in VARIANTS if v in shown}
    return {
        "title": title, "files": list(files), "train_set": TRAIN_SET, "zeroshot": zeroshot,
        "retrieval": [d for d in DATASETS if PROTOCOL_OF[d] == "retrieval"], "variants": variants,
        "trained_variants": [v for v in variants if objective(v) != "frozen" and "weights_of" not in VARIANTS[v]],
        "test_ratio": config["eval"].get("test_ratio", 0.5),
        **config["report"],
        "pretrain_metrics": "models/clip/pretrain_metrics.json" if "config" in config["clip"]["model"] else None,
        "experiments": {e: f"labels: `{EXPERIMENTS[e]['labels']}`, train overrides: "
                           f"`{js(EXPERIMENTS[e].get('train', {}))}`" for e in (experiments or [])},
        "config": f"config hash {config_hash(config)}",
    }


CONDA_ENV = "../envs/openvclip.yaml"


def dataset_not_in_config(name, target):
    configs = OTHER_DATASETS[name]
    # The target before --configfile: that option takes several files and would read the target as one more.
    raise UserError(
        f"data set {name!r} is not defined in the active config ({ACTIVE_CONFIG}); it is defined in "
        f"{', '.join(configs)}. Run: `snakemake {target} --configfile {configs[0]}`. "
        f"The active config defines: {', '.join(sorted(DATASETS))}")
