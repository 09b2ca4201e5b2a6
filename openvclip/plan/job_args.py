"""What each job is told beyond its files: how a data set's frames are stored, which sets an evaluation scores,
the config slice a result's hash covers, and what the report compares. Config slices travel as compact JSON."""

from __future__ import annotations

import json
from typing import Any, Dict, Mapping, Optional, Sequence

from ..config import config_hash
from ..model_specs import spec_input_size
from .decisions import Plan


def as_json(value: Any) -> str:
    """A config slice as compact, key-sorted JSON: one CLI argument (quote it with ``{params.x:q}``)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class JobArgs:
    """The jobs' arguments for one validated config."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.config: Mapping[str, Any] = plan.config

    def frame_settings(self, ds: str) -> Dict[str, Any]:
        """How a data set's videos are decoded into its frame store (openvclip/data/frame_writer.py): at the
        model's input size (``openvclip.model_specs.spec_input_size``)."""
        common = {
            "size": spec_input_size(self.config["clip"]["model"]),
            "num_frames": self.config["train"]["num_frames"],
        }
        if self.plan.is_synthetic(ds):  # the demo's short clips: frames spread over the whole clip, stored raw
            return {**common, "format": "raw", "views": 1, "rate": 0}
        # Real videos: the protocol's views of num_frames frames `rate` apart (the schema's defaults), JPEG.
        return {**common, **self.plan.datasets[ds]["frames"]}

    def eval_set(self, exp: str, ds: str, frames: str, manifest: str, text: str) -> Dict[str, Any]:
        """What the evaluate command's --sets argument needs of one data set."""
        spec = self.plan.datasets[ds]
        item = {
            "name": ds,
            "protocol": self.plan.protocol(ds),
            "frames": frames,
            "manifest": manifest,
            "text": text,
            "column": self.plan.label_column(exp, ds),
            "max_unreadable": spec["max_unreadable"],
        }
        if spec.get("eval_splits"):
            item["eval_splits"] = spec["eval_splits"]
        if spec.get("format") == "kinetics600_novel":  # each split is scored over its own fixed 160 classes
            item["split_classes_from"] = spec
        return item

    def result_hash_of(self, exp: str, seed, variant: str, ds: str) -> Dict[str, Any]:
        """The config slice a result depends on (its hash goes into every result row)."""
        config, plan = self.config, self.plan
        source = plan.source_variant(variant)
        return {
            "seed": config["seed"],
            "world": config.get("world"),
            "objects": config.get("objects"),
            "clip": config["clip"],
            "text": config["text"],
            "dataset": plan.datasets[ds],
            "train_set": plan.datasets[plan.train_set],
            "variant": plan.variants[variant],
            "temporal": config["temporal"],
            # Frozen CLIP has no training: the train section does not touch its results.
            "train": plan.train_settings(exp, seed, source) if plan.is_trained(source) else None,
            # test_ratio only picks a row for the report: changing it must not re-run evaluations. The ratios are
            # the variant's own (frozen CLIP's one ratio whatever eval.ratios says).
            "eval": {
                **{k: v for k, v in config["eval"].items() if k not in ("test_ratio", "ratios")},
                "ratios": plan.ratios(variant),
            },
            "experiment": {"name": exp, "labels": plan.experiments[exp]["labels"], "seed": int(seed)},
        }

    def report_spec(
        self,
        files: Sequence[str],
        title: str,
        experiments: Optional[Sequence[str]] = None,
        pretrain_metrics: Optional[str] = None,
    ) -> Dict[str, Any]:
        """What the report command compares: the variants of the experiments reported (the main one unless
        named), in the config's order, and the config's `report:` section."""
        plan = self.plan
        shown = {v for e in (experiments or [plan.main]) for v in plan.experiment_variants(e)}
        variants = {
            v: {
                "trained": plan.objective(v) != "frozen",
                "temporal": plan.variants[v]["temporal"],
                "weights_of": plan.variants[v].get("weights_of"),
            }
            for v in plan.variants
            if v in shown
        }
        return {
            "title": title,
            "files": list(files),
            "train_set": plan.train_set,
            "zeroshot": plan.datasets_of("zeroshot"),
            "retrieval": plan.datasets_of("retrieval"),
            "variants": variants,
            # Every variant of trained weights (another's included: Open-VCLIP without SWA) has a trade-off curve.
            "trained_variants": [v for v in variants if plan.objective(v) != "frozen"],
            "test_ratio": self.config["eval"]["test_ratio"],
            **self.config["report"],
            "pretrain_metrics": pretrain_metrics,
            "experiments": {
                e: f"labels: `{plan.experiments[e]['labels']}`, train overrides: "
                f"`{as_json(plan.experiments[e].get('train', {}))}`"
                for e in (experiments or [])
            },
            "config": f"config hash {config_hash(self.config)}",
        }
