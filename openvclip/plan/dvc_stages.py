"""DVC's stages for one config (``openvclip dvc-yaml`` writes them into dvc.yaml): which Snakemake targets each
stage builds, what it depends on, which `config.yaml` keys it reads and what it outputs.

A stage per trained variant and per evaluated variant, each listing the keys its jobs read and no other: a
change of `train.lam` retrains and re-evaluates the Open-VCLIP variants only (their objective reads it; plain
fine-tuning's does not: :func:`openvclip.config.ignored_train_keys`), a change of one variant's entry reruns
that variant's stages, and a change of `eval.test_ratio` reruns the report only. DVC's templating cannot put a
per-variant list of keys into a stage (it interpolates strings, not lists), so the stages are written out here,
from the config, and dvc.yaml is regenerated when the config's variants, seeds or data sets change (the
workflow refuses to run under a dvc.yaml made for another config).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Mapping, Sequence

from .. import paths
from ..config import ignored_train_keys
from ..errors import UserError
from .decisions import Plan
from .layout import Layout

CONFIG_FILE = "config.yaml"
TRADEOFF = "results/tradeoff.csv"  # one row per variant and ratio: each set's score (openvclip.report.exports)
# Training-log columns DVC's plots draw against the step (openvclip/train/log.py writes them).
TRAINING_CURVES = {
    "loss": ("training loss (plain term; Open-VCLIP: + interpolated term; FROSTER: + distillation)", None),
    "lr": ("learning rate", None),
    "alpha": ("alpha: the interpolation ratio drawn each step (Open-VCLIP)", "openvclip"),
}


@dataclasses.dataclass
class Stage:
    """One stage of dvc.yaml. ``touch``: the upstream targets marked up to date first (DVC has checked them by
    hash); ``targets``: what Snakemake then builds; ``rules``: the rule files whose jobs it runs (their code is
    a dependency: openvclip.cli.dvc_yaml finds it)."""

    targets: List[str]
    rules: List[str]
    deps: List[str]
    params: List[str]
    outs: List[str]
    touch: List[str] = dataclasses.field(default_factory=list)
    uncached: List[str] = dataclasses.field(default_factory=list)  # small outputs meant for git
    metrics: List[str] = dataclasses.field(default_factory=list)


def _present(raw: Mapping[str, Any], key: str) -> bool:
    node: Any = raw
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def refuse_base(raw: Mapping[str, Any]) -> None:
    """DVC reads config.yaml as written: a `base:` it names would hide the keys the stages read."""
    if "base" in raw:
        raise UserError(
            f"{CONFIG_FILE} names `base: {raw['base']}`; DVC reads {CONFIG_FILE} as written and cannot see "
            f"the base's keys. Write it resolved (openvclip config --show, then openvclip dvc-yaml)"
        )


def _stage_name(kind: str, item: str) -> str:
    return f"{kind}-{item}"  # DVC's names allow letters, digits, '_' and '-'


class DvcStages:
    """The stages of dvc.yaml for a validated config (``plan``) and config.yaml as written (``raw``: DVC reads
    params from the file, so a stage lists only the keys the file holds)."""

    def __init__(self, plan: Plan, raw: Mapping[str, Any]):
        refuse_base(raw)
        self.plan, self.raw, self.files = plan, raw, Layout(plan)
        self.exp = plan.main
        self.seeds = list(plan.experiments[self.exp]["seeds"])
        self.variants = plan.experiment_variants(self.exp)
        self.trained = [v for v in self.variants if plan.has_training_job(v)]
        # A variant evaluated with another's weights depends on that training: it must be in the experiment.
        for v in self.variants:
            source = plan.source_variant(v)
            if source not in self.trained:
                raise UserError(
                    f"variant {v!r} of experiment {self.exp!r} evaluates {source!r}'s weights, which the experiment "
                    f"does not train; add {source!r} to experiments.{self.exp}.variants"
                )

    def keys(self, *candidates: str) -> List[str]:
        """The candidates config.yaml holds, in order, once each."""
        return list(dict.fromkeys(k for k in candidates if _present(self.raw, k)))

    # -- the stages -----------------------------------------------------------------------------------------

    def stages(self) -> Dict[str, Stage]:
        plan, files = self.plan, self.files
        stages = {
            "data": Stage(
                targets=["data"],
                rules=["workflow/rules/data.smk"],
                deps=[],
                # Frame stores are decoded at the model's input size and the training's frame count.
                params=self.keys(
                    "seed",
                    "world",
                    "objects",
                    "datasets",
                    "train_set",
                    "train_videos",
                    "clip.model",
                    "train.num_frames",
                ),
                outs=["data/manifests", "data/frames", "data/train_videos"],
            ),
            "clip": Stage(
                targets=[paths.THETA0],
                rules=["workflow/rules/clip.smk"],
                deps=[],
                params=self.keys("seed", "world", "objects", "clip"),
                outs=["models/clip"],
            ),
            "text": Stage(
                touch=["data", paths.THETA0],
                targets=["text"],
                rules=["workflow/rules/text.smk"],
                deps=["data/manifests", "models/clip"],
                params=self.keys("text", "datasets", "train_set", f"experiments.{self.exp}.labels"),
                outs=["data/text"],
            ),
        }
        for v in self.trained:
            stages[_stage_name("train", v)] = self.train_stage(v)
        for v in self.variants:
            stages[_stage_name("evaluate", v)] = self.evaluate_stage(v)
        seed = plan.main_seed()
        for ds in plan.datasets:
            if ds not in plan.experiment_datasets(self.exp):
                continue
            table = paths.PROTOCOL_TABLE.format(protocol=plan.protocol(ds), ds=ds)
            evaluated = files.runs_of(self.exp, seed, ds)
            runs = [self.run_dir(seed, v) for v in self.variants if set(self.runs(seed, v)) & set(evaluated)]
            stages[_stage_name("table", ds)] = self.collect_stage(table, runs)
        for v in self.variants:
            stages[_stage_name("sweep", v)] = self.collect_stage(
                paths.SWEEP_TABLE.format(variant=v), [self.run_dir(seed, v)]
            )
        stages["report"] = Stage(
            touch=["evaluate_all"],
            targets=["results/summary.md", "results/tradeoff.png", "results/metrics.json", TRADEOFF],
            rules=["workflow/rules/report.smk"],
            deps=[self.run_dir(seed, v) for v in self.variants] + (["models/clip"] if plan.pretrains_clip() else []),
            params=self.keys("eval.test_ratio", "report"),
            outs=["results/tradeoff.png"],
            uncached=["results/summary.md", TRADEOFF],  # the trade-off points: drawn by plots() below
            metrics=["results/metrics.json"],
        )
        return stages

    def train_stage(self, v: str) -> Stage:
        plan = self.plan
        settings = plan.train_settings(self.exp, self.seeds[0], v)
        ignored = set(ignored_train_keys(settings["objective"], settings["swa"]))
        train_keys = [f"train.{k}" for k in self.raw.get("train", {}) if k not in ignored]
        overrides = [f"experiments.{self.exp}.train.{k}" for k in plan.experiments[self.exp].get("train", {})]
        return Stage(
            touch=["text"],
            targets=[
                self.files.model_file(t, self.exp, s, v)
                for s in self.seeds
                for t in (paths.MODEL_WEIGHTS, paths.SWA_WEIGHTS)
            ],
            rules=["workflow/rules/train.smk"],
            deps=["data/train_videos", "data/manifests", "data/text", "models/clip"],
            params=self.keys(
                "train_set",
                f"datasets.{plan.train_set}",
                "temporal",
                f"variants.{v}",
                f"experiments.{self.exp}.labels",
                *train_keys,
                *(k for k in overrides if k.rpartition(".")[2] not in ignored),
            ),
            outs=[self.model_dir(s, v) for s in self.seeds],
        )

    def evaluate_stage(self, v: str) -> Stage:
        plan = self.plan
        source = plan.source_variant(v)
        weights = [self.files.weights_file(self.exp, s, v) for s in self.seeds]
        own_ratios = "ratios" in plan.variants[v] or plan.objective(v) == "frozen"
        return Stage(
            touch=["text", *weights],
            targets=[f for s in self.seeds for f in self.runs(s, v)],
            rules=["workflow/rules/evaluate.smk"],
            deps=["data/frames", "data/manifests", "data/text", "models/clip"]
            + [self.model_dir(s, source) for s in self.seeds],
            params=self.keys(
                "datasets",
                "train_set",
                "temporal",
                f"variants.{v}",
                f"variants.{source}",
                f"experiments.{self.exp}.labels",
                f"experiments.{self.exp}.datasets",
                *([] if own_ratios else ["eval.ratios"]),
                "eval.batch_size",
            ),
            outs=[self.run_dir(s, v) for s in self.seeds],
        )

    def collect_stage(self, table: str, runs: Sequence[str]) -> Stage:
        return Stage(
            touch=["evaluate_all"],
            targets=[table],
            rules=["workflow/rules/collect.smk"],
            deps=list(runs),
            params=[],
            outs=[],
            uncached=[table],
        )

    # -- files ----------------------------------------------------------------------------------------------

    def model_dir(self, seed, v: str) -> str:
        return self.files.model_file(paths.MODEL_DIR, self.exp, seed, v)

    def run_dir(self, seed, v: str) -> str:
        return paths.RUN_RESULTS.format(exp=self.exp, seed=seed, variant=v)

    def runs(self, seed, v: str) -> List[str]:
        prefix = self.run_dir(seed, v) + "/"
        return [f for f in self.files.runs_of(self.exp, seed) if f.startswith(prefix)]

    def plots(self) -> List[Dict[str, dict]]:
        """DVC's plots (dvc.yaml's top-level `plots:`): the training logs' curves, each against the step, one line
        per trained variant (seed: the main one), the Open-VCLIP and FROSTER terms beside the plain loss; and the
        trade-off: each zero-shot set's top-1 against the closed-set top-1, a point per variant and ratio."""
        seed = self.plan.main_seed()
        plots = []
        for column, (title, objective) in TRAINING_CURVES.items():
            lines: Dict[str, Any] = {}
            for v in self.trained:
                if self.plan.objective(v) == "frozen" or (objective and self.plan.objective(v) != objective):
                    continue  # frozen CLIP's training writes theta0 and no log
                extra = {"openvclip": ["loss_interpolated"], "froster": ["loss_distill"]}.get(self.plan.objective(v))
                columns = [column] + (extra if column == "loss" and extra else [])
                log = self.files.model_file(paths.TRAIN_LOG, self.exp, seed, v)
                lines[log] = columns if len(columns) > 1 else column
            if lines:
                plots.append({f"training {column}": {"title": title, "x": "step", "y": lines}})
        wanted = self.plan.experiment_datasets(self.exp)
        zeroshot = [d for d in self.plan.datasets_of("zeroshot") if d in wanted]
        if zeroshot:
            title = "trade-off: zero-shot top-1 against closed-set top-1, each variant and ratio (results/tradeoff.csv)"
            spec = {"title": title, "template": "scatter", "x": self.plan.train_set, "y": {TRADEOFF: zeroshot}}
            plots.append({"trade-off": spec})
        return plots
