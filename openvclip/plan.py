"""The workflow's decisions, made from a validated config: which weights a variant is trained and evaluated with,
which ratios it sweeps, what each job is told, where its files go and what a result's hash covers.

The Snakemake rules hold paths and calls only; they ask a ``Plan`` (``workflow/rules/common.smk`` builds one from
the active config) for everything else, so these decisions have fast unit tests (tests/test_plan.py). The config
must come from ``openvclip.config.validate_config``: the schema's defaults are filled in, nothing here falls back
to a default of its own.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Sequence

from . import paths
from .config import SWA_BY_DEFAULT, config_hash
from .errors import UserError


def as_json(value: Any) -> str:
    """A config slice as compact, key-sorted JSON: one CLI argument (quote it with ``{params.x:q}``)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class Plan:
    """Decisions of the workflow for one validated config (``validate_config``'s output)."""

    def __init__(self, config: Mapping[str, Any]):
        self.config = config
        self.datasets: Mapping[str, dict] = config["datasets"]
        self.variants: Mapping[str, dict] = config["variants"]
        self.experiments: Mapping[str, dict] = config["experiments"]
        self.main: str = config["main_experiment"]
        self.train_set: str = config["train_set"]

    # -- data sets ------------------------------------------------------------------------------------------------

    def protocol(self, ds: str) -> str:
        """How a data set is scored; the training set is scored closed-set whatever its entry says."""
        return "closedset" if ds == self.train_set else self.datasets[ds]["protocol"]

    def datasets_of(self, protocol: str) -> List[str]:
        return [d for d in self.datasets if self.protocol(d) == protocol]

    def is_synthetic(self, ds: str) -> bool:
        return "format" not in self.datasets[ds]

    def pretrains_clip(self) -> bool:
        """The demo pretrains its small CLIP (a model given as a config); a named model's weights are fetched."""
        return "config" in self.config["clip"]["model"]

    def image_size(self) -> int:
        """The model's input size: its config's vision image_size, 224 for a named (pretrained) model."""
        size = self.config["clip"]["model"].get("config", {}).get("vision_cfg", {}).get("image_size", 224)
        return size if isinstance(size, int) else size[0]

    def frame_settings(self, ds: str) -> Dict[str, Any]:
        """How a data set's videos are decoded into its frame store (openvclip/data/frame_writer.py)."""
        common = {"size": self.image_size(), "num_frames": self.config["train"]["num_frames"]}
        if self.is_synthetic(ds):  # the demo's short clips: frames spread over the whole clip, stored raw
            return {**common, "format": "raw", "views": 1, "rate": 0}
        # Real videos: the protocol's views of num_frames frames `rate` apart (the schema's defaults), JPEG.
        return {**common, **self.datasets[ds]["frames"]}

    def data_threads(self, ds: str) -> int:
        """Threads of a data job (decoding, re-encoding): one for the demo's tiny synthetic clips."""
        return 1 if self.is_synthetic(ds) else self.config["resources"]["threads"]

    # -- variants and training ----------------------------------------------------------------------------------

    def source_variant(self, variant: str) -> str:
        """The variant whose training produced this variant's weights."""
        return self.variants[variant].get("weights_of", variant)

    def objective(self, variant: str) -> str:
        return self.variants[self.source_variant(variant)]["objective"]

    def is_trained(self, variant: str) -> bool:
        """Has a training of its own (not frozen CLIP, not another variant's weights)."""
        return self.objective(variant) != "frozen" and "weights_of" not in self.variants[variant]

    def experiment_variants(self, exp: str) -> List[str]:
        return list(self.experiments[exp].get("variants", list(self.variants)))

    def experiment_datasets(self, exp: str) -> List[str]:
        """The data sets an experiment evaluates (its ``datasets``, else every set of the config)."""
        return list(self.experiments[exp].get("datasets", list(self.datasets)))

    def variant_datasets(self, variant: str) -> List[str]:
        return list(self.variants[variant].get("datasets", list(self.datasets)))

    def label_column(self, exp: str, ds: str) -> str:
        """Manifest column naming the classes of data set ``ds`` in experiment ``exp``."""
        if ds == self.train_set:
            return self.experiments[exp]["labels"]
        return "caption" if self.protocol(ds) == "retrieval" else "classname"

    def train_settings(self, exp: str, seed, variant: str) -> Dict[str, Any]:
        """The training settings of a variant in an experiment and seed (openvclip.train.TrainConfig's keys)."""
        values = {**self.config["train"], **self.experiments[exp].get("train", {})}
        values.update(objective=self.objective(variant), seed=int(seed))
        return values

    def keeps_swa(self, exp: str, seed, variant: str) -> bool:
        """Whether the training of ``variant`` keeps an SWA average (train.swa unset: on for openvclip only)."""
        swa = self.train_settings(exp, seed, variant)["swa"]
        return swa if swa is not None else self.objective(variant) in SWA_BY_DEFAULT

    def model_file(self, template: str, exp: str, seed, variant: str) -> str:
        """``template`` (one of :mod:`openvclip.paths`' model files) for a variant of an experiment: in the folders
        of the experiment it takes its models from (`models_from`: same labels and training settings, so the
        paper's ablation reuses the main run's weights)."""
        return template.format(exp=self.experiments[exp].get("models_from", exp), seed=seed, variant=variant)

    def weights_file(self, exp: str, seed, variant: str) -> str:
        """The weights a variant is evaluated with: the SWA average when its training keeps one (or as asked)."""
        source = self.source_variant(variant)
        which = self.variants[variant].get("weights") or self.variants[source].get("weights")
        keeps_swa = self.keeps_swa(exp, seed, source)
        if which == "swa" and not keeps_swa:
            raise UserError(
                f"variants.{variant}.weights is swa, but the training of {source} in experiment {exp} "
                f"keeps no SWA average (train.swa is off, or unset for an objective other than "
                f"{' or '.join(SWA_BY_DEFAULT)}): set train.swa: true, or weights: last"
            )
        if which is None:
            which = "swa" if keeps_swa else "last"
        return self.model_file(paths.SWA_WEIGHTS if which == "swa" else paths.MODEL_WEIGHTS, exp, seed, source)

    def trained_weights(self, exp: str, seed) -> List[str]:
        """The weights files the trainings of an experiment and seed write (a finished training's marker)."""
        return [
            self.model_file(paths.MODEL_WEIGHTS, exp, seed, v)
            for v in self.experiment_variants(exp)
            if "weights_of" not in self.variants[v]
        ]

    # -- evaluation -----------------------------------------------------------------------------------------------

    def ratios(self, variant: str) -> List[float]:
        # The frozen model is theta0 itself: every ratio gives the same weights.
        if self.objective(variant) == "frozen":
            return [1.0]
        return list(self.variants[variant].get("ratios", self.config["eval"]["ratios"]))

    def eval_set(self, exp: str, ds: str, frames: str, manifest: str, text: str) -> Dict[str, Any]:
        """What the evaluate command's --sets argument needs of one data set."""
        spec = self.datasets[ds]
        item = {
            "name": ds,
            "protocol": self.protocol(ds),
            "frames": frames,
            "manifest": manifest,
            "text": text,
            "column": self.label_column(exp, ds),
            "max_unreadable": spec["max_unreadable"],
        }
        if spec.get("eval_splits"):
            item["eval_splits"] = spec["eval_splits"]
        if spec.get("format") == "kinetics600_novel":  # each split is scored over its own fixed 160 classes
            item["novel_splits"] = spec
        return item

    def result_hash_of(self, exp: str, seed, variant: str, ds: str) -> Dict[str, Any]:
        """The config slice a result depends on (its hash goes into every result row)."""
        config = self.config
        return {
            "seed": config["seed"],
            "world": config.get("world"),
            "objects": config.get("objects"),
            "clip": config["clip"],
            "text": config["text"],
            "dataset": self.datasets[ds],
            "train_set": self.datasets[self.train_set],
            "variant": self.variants[variant],
            "temporal": config["temporal"],
            "train": self.train_settings(exp, seed, self.source_variant(variant)),
            # test_ratio only picks a row for the report: changing it must not re-run evaluations.
            "eval": {k: v for k, v in config["eval"].items() if k != "test_ratio"},
            "experiment": {"name": exp, "labels": self.experiments[exp]["labels"], "seed": int(seed)},
        }

    def run_file(self, exp: str, seed, variant: str, ds: str) -> str:
        return paths.RESULT.format(exp=exp, seed=seed, variant=variant, ds=ds)

    def runs_of(self, exp: str, seed, ds: Optional[str] = None) -> List[str]:
        """The result files of an experiment and seed (of one data set when ``ds`` is given)."""
        wanted = self.experiment_datasets(exp)
        return [
            self.run_file(exp, seed, v, d)
            for v in self.experiment_variants(exp)
            for d in self.variant_datasets(v)
            if d in wanted and (ds is None or d == ds)
        ]

    def main_seed(self) -> int:
        return self.experiments[self.main]["seeds"][0]

    # -- targets --------------------------------------------------------------------------------------------------

    def uses_descriptions(self, variant: str, ds: str) -> bool:
        """Whether a variant's text for data set ``ds`` is built from the set's class descriptions (the variant,
        or the variant whose weights it takes, says ``descriptions: true``; the set has a ``descriptions:``
        entry; it is classified, not retrieved)."""
        own = self.variants[variant].get("descriptions")
        wanted = own if own is not None else self.variants[self.source_variant(variant)].get("descriptions", False)
        return bool(wanted) and bool(self.datasets[ds].get("descriptions")) and self.protocol(ds) != "retrieval"

    def description_aliases(self, ds: str) -> Dict[str, str]:
        """Our class name -> the name a descriptions file uses, for the classes it words otherwise."""
        entry = self.datasets[ds].get("descriptions")
        return dict(entry.get("aliases", {})) if isinstance(entry, Mapping) else {}

    def text_file(self, exp: str, ds: str, variant: Optional[str] = None) -> str:
        """The cached text side of a data set under an experiment's labels: from its class names, or from its
        descriptions where ``variant`` uses them."""
        kind = ".descriptions" if variant is not None and self.uses_descriptions(variant, ds) else ""
        return f"data/text/{ds}.{self.label_column(exp, ds)}{kind}.pt"

    def main_results(self) -> List[str]:
        # Only the sets the main experiment evaluates: a protocol's table of no runs would be empty.
        wanted = self.experiment_datasets(self.main)
        files = [f"results/{self.protocol(ds)}_{ds}.csv" for ds in self.datasets if ds in wanted]
        return files + [f"results/sweep_{v}.csv" for v in self.experiment_variants(self.main)]

    def stage_targets(self) -> Dict[str, List[str]]:
        """The coarse targets of the main experiment, in DAG order: the Snakefile's target rules (`downloads`,
        and one for each DVC stage)."""
        seeds = self.experiments[self.main]["seeds"]
        manifests = [f"data/manifests/{ds}.csv" for ds in self.datasets]
        variants = self.experiment_variants(self.main)
        # Class descriptions are fetched too where a variant of the main experiment reads them.
        described = sorted({ds for ds in self.datasets for v in variants if self.uses_descriptions(v, ds)})
        return {
            "downloads": manifests
            + [f"data/descriptions/{ds}" for ds in described]
            + ["models/clip/theta0.safetensors"],
            "data": [f"data/frames/{ds}" for ds in self.datasets]
            + manifests
            + [f"data/train_videos/{self.train_set}/index.csv"],
            "text": sorted({self.text_file(self.main, ds, v) for ds in self.datasets for v in variants}),
            "train": [f for s in seeds for f in self.trained_weights(self.main, s)],
            "evaluate": [f for s in seeds for f in self.runs_of(self.main, s)],
        }

    # -- jobs' resources ------------------------------------------------------------------------------------------

    def gpus(self) -> int:
        """GPUs of each training job (one process each, started by torchrun when more than one)."""
        return self.config["resources"]["gpus"]

    def cpus_per_gpu(self) -> int:
        return self.config["resources"].get("cpus_per_gpu", self.config["resources"]["threads"])

    def train_gpus(self, variant: str) -> int:
        # The frozen variant only copies theta0: no GPU for it.
        return 0 if self.objective(variant) == "frozen" else self.gpus()

    def model_job_resources(self, mem_mb: int, runtime: int, gpus: Any = None) -> Dict[str, Any]:
        """Resources of a model job: ``gpu`` (a count, or a function of the wildcards) and ``cpus_per_gpu`` only
        when the config asks for GPUs, so CPU-only runs never see a GPU request."""
        resources: Dict[str, Any] = {"mem_mb": mem_mb, "runtime": runtime}
        if self.gpus():
            resources.update(gpu=self.gpus() if gpus is None else gpus, cpus_per_gpu=self.cpus_per_gpu())
        return resources

    # -- report ---------------------------------------------------------------------------------------------------

    def report_spec(
        self,
        files: Sequence[str],
        title: str,
        experiments: Optional[Sequence[str]] = None,
        pretrain_metrics: Optional[str] = None,
    ) -> Dict[str, Any]:
        """What the report command compares: the variants of the experiments reported (the main one unless
        named), in the config's order, and the config's `report:` section."""
        shown = {v for e in (experiments or [self.main]) for v in self.experiment_variants(e)}
        variants = {
            v: {
                "trained": self.objective(v) != "frozen",
                "temporal": self.variants[v]["temporal"],
                "weights_of": self.variants[v].get("weights_of"),
            }
            for v in self.variants
            if v in shown
        }
        return {
            "title": title,
            "files": list(files),
            "train_set": self.train_set,
            "zeroshot": self.datasets_of("zeroshot"),
            "retrieval": self.datasets_of("retrieval"),
            "variants": variants,
            # Every variant of trained weights (another's included: Open-VCLIP without SWA) has a trade-off curve.
            "trained_variants": [v for v in variants if self.objective(v) != "frozen"],
            "test_ratio": self.config["eval"]["test_ratio"],
            **self.config["report"],
            "pretrain_metrics": pretrain_metrics,
            "experiments": {
                e: f"labels: `{self.experiments[e]['labels']}`, train overrides: "
                f"`{as_json(self.experiments[e].get('train', {}))}`"
                for e in (experiments or [])
            },
            "config": f"config hash {config_hash(self.config)}",
        }


def job_gpus(resources: Mapping[str, Any]) -> int:
    """The GPUs a job was given (Snakemake's ``resources``; none on a CPU-only run)."""
    return int(resources.get("gpu", 0) or 0)


def launcher(resources: Mapping[str, Any]) -> str:
    """The command that starts a training job: one process, or one per GPU under torchrun."""
    gpus = job_gpus(resources)
    return f"torchrun --standalone --nproc-per-node={gpus} -m openvclip" if gpus > 1 else "openvclip"


def threads_per_process(threads: int, resources: Mapping[str, Any]) -> int:
    """A job's threads shared among its processes (one per GPU)."""
    return max(1, threads // max(1, job_gpus(resources)))
