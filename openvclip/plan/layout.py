"""Where the workflow's outputs go: :mod:`openvclip.paths`' templates filled in for one experiment, seed, variant
or data set, and the lists of files that Snakemake's target rules ask for."""

from __future__ import annotations

from typing import Dict, List, Optional

from .. import paths
from .decisions import Plan


class Layout:
    """The files of one validated config's runs."""

    def __init__(self, plan: Plan):
        self.plan = plan

    def model_file(self, template: str, exp: str, seed, variant: str) -> str:
        """``template`` (one of :mod:`openvclip.paths`' model files) for a variant of an experiment: in the folders
        of the experiment it takes its models from (`models_from`: same labels and training settings, so the
        paper's ablation reuses the main run's weights)."""
        source = self.plan.experiments[exp].get("models_from", exp)
        return template.format(exp=source, seed=seed, variant=variant)

    def weights_file(self, exp: str, seed, variant: str) -> str:
        """The weights file a variant is evaluated with (:meth:`Plan.evaluated_weights`), in the folder of the
        variant whose training made it."""
        template = (
            paths.SWA_WEIGHTS if self.plan.evaluated_weights(exp, seed, variant) == "swa" else paths.MODEL_WEIGHTS
        )
        return self.model_file(template, exp, seed, self.plan.source_variant(variant))

    def trained_weights(self, exp: str, seed) -> List[str]:
        """The weights files the trainings of an experiment and seed write (a finished training's marker)."""
        return [
            self.model_file(paths.MODEL_WEIGHTS, exp, seed, v)
            for v in self.plan.experiment_variants(exp)
            if self.plan.has_training_job(v)
        ]

    def run_file(self, exp: str, seed, variant: str, ds: str) -> str:
        return paths.RESULT.format(exp=exp, seed=seed, variant=variant, ds=ds)

    def runs_of(self, exp: str, seed, ds: Optional[str] = None) -> List[str]:
        """The result files of an experiment and seed (of one data set when ``ds`` is given)."""
        wanted = self.plan.experiment_datasets(exp)
        return [
            self.run_file(exp, seed, v, d)
            for v in self.plan.experiment_variants(exp)
            for d in self.plan.variant_datasets(v)
            if d in wanted and (ds is None or d == ds)
        ]

    def text_file(self, exp: str, ds: str, variant: Optional[str] = None) -> str:
        """The cached text side of a data set under an experiment's labels: from its class names, or from its
        descriptions where ``variant`` uses them."""
        described = variant is not None and self.plan.uses_descriptions(variant, ds)
        template = paths.DESCRIPTIONS_TEXT if described else paths.TEXT
        return template.format(ds=ds, column=self.plan.label_column(exp, ds))

    def main_results(self) -> List[str]:
        # Only the sets the main experiment evaluates: a protocol's table of no runs would be empty.
        plan = self.plan
        wanted = plan.experiment_datasets(plan.main)
        files = [paths.PROTOCOL_TABLE.format(protocol=plan.protocol(ds), ds=ds) for ds in plan.datasets if ds in wanted]
        return files + [paths.SWEEP_TABLE.format(variant=v) for v in plan.experiment_variants(plan.main)]

    def shard_plan(self, ds: str) -> str:
        return paths.SHARD_PLAN.format(ds=ds)

    def shard_files(self, template: str, ds: str, shards: int) -> List[str]:
        """The files of a data set's shard jobs of one stage (``template``: one of :mod:`openvclip.paths`' shard
        files); none for a single shard, whose stage runs as one job."""
        return [template.format(ds=ds, shard=k) for k in range(shards)] if shards > 1 else []

    def stage_targets(self) -> Dict[str, List[str]]:
        """The coarse targets of the main experiment, in DAG order: the Snakefile's target rules (`downloads`, and
        one per stage of the DAG, which dvc.yaml's stages build or mark up to date)."""
        plan = self.plan
        seeds = plan.experiments[plan.main]["seeds"]
        manifests = [paths.MANIFEST.format(ds=ds) for ds in plan.datasets]
        variants = plan.experiment_variants(plan.main)
        # Class descriptions are fetched too where a variant of the main experiment reads them.
        described = sorted({ds for ds in plan.datasets for v in variants if plan.uses_descriptions(v, ds)})
        return {
            "downloads": manifests + [paths.DESCRIPTIONS.format(ds=ds) for ds in described] + [paths.THETA0],
            "data": [paths.FRAMES.format(ds=ds) for ds in plan.datasets]
            + manifests
            + [paths.TRAIN_INDEX.format(ds=plan.train_set)],
            "text": sorted({self.text_file(plan.main, ds, v) for ds in plan.datasets for v in variants}),
            "train": [f for s in seeds for f in self.trained_weights(plan.main, s)],
            "evaluate": [f for s in seeds for f in self.runs_of(plan.main, s)],
        }
