"""What a validated config means for the workflow: which data sets a protocol scores, which objective, training
settings, weights and ratios each variant has, which variants and data sets each experiment runs."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping

from ..config import ignored_train_keys, keeps_swa


class Plan:
    """Decisions of the workflow for one validated config (``validate_config``'s output)."""

    def __init__(self, config: Mapping[str, Any]):
        self.config = config
        self.datasets: Mapping[str, dict] = config["datasets"]
        self.variants: Mapping[str, dict] = config["variants"]
        self.experiments: Mapping[str, dict] = config["experiments"]
        self.main: str = config["main_experiment"]
        self.train_set: str = config["train_set"]
        self._sharded: Dict[str, bool] = {}

    # -- data sets ------------------------------------------------------------------------------------------------

    def protocol(self, ds: str) -> str:
        """How a data set is scored; the training set is scored closed-set whatever its entry says."""
        return "closedset" if ds == self.train_set else self.datasets[ds]["protocol"]

    def datasets_of(self, protocol: str) -> List[str]:
        return [d for d in self.datasets if self.protocol(d) == protocol]

    def is_synthetic(self, ds: str) -> bool:
        return "format" not in self.datasets[ds]

    def is_sharded(self, ds: str) -> bool:
        """Whether a data set is prepared in shard jobs: it has a file role fetched from a URL list (Kinetics);
        the number of shards is known once the lists are read (the shard plan)."""
        from ..data.shards import is_sharded

        # Asked by every input function of the data rules while the DAG is built: read the entry once.
        if ds not in self._sharded:
            self._sharded[ds] = is_sharded(self.datasets[ds], ds)
        return self._sharded[ds]

    def pretrains_clip(self) -> bool:
        """The demo pretrains its small CLIP (a model given as a config); a named model's weights are fetched."""
        return "config" in self.config["clip"]["model"]

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

    # -- variants and training ----------------------------------------------------------------------------------

    def source_variant(self, variant: str) -> str:
        """The variant whose training produced this variant's weights."""
        return self.variants[variant].get("weights_of", variant)

    def objective(self, variant: str) -> str:
        return self.variants[self.source_variant(variant)]["objective"]

    def has_training_job(self, variant: str) -> bool:
        """Has a training job of its own: every variant but those evaluating another's weights (frozen CLIP's job
        writes theta0 as its weights)."""
        return "weights_of" not in self.variants[variant]

    def is_trained(self, variant: str) -> bool:
        """Has a training of its own (not frozen CLIP, not another variant's weights)."""
        return self.objective(variant) != "frozen" and self.has_training_job(variant)

    def experiment_variants(self, exp: str) -> List[str]:
        return list(self.experiments[exp].get("variants", list(self.variants)))

    def experiment_datasets(self, exp: str) -> List[str]:
        """The data sets an experiment evaluates (its ``datasets``, else every set of the config)."""
        return list(self.experiments[exp].get("datasets", list(self.datasets)))

    def variant_datasets(self, variant: str) -> List[str]:
        return list(self.variants[variant].get("datasets", list(self.datasets)))

    def main_seed(self) -> int:
        return self.experiments[self.main]["seeds"][0]

    def label_column(self, exp: str, ds: str) -> str:
        """Manifest column naming the classes of data set ``ds`` in experiment ``exp``."""
        if ds == self.train_set:
            return self.experiments[exp]["labels"]
        return "caption" if self.protocol(ds) == "retrieval" else "classname"

    def train_settings(self, exp: str, seed, variant: str) -> Dict[str, Any]:
        """The training settings of a variant in an experiment and seed (openvclip.train.TrainConfig's keys), those
        its objective reads."""
        values = {**self.config["train"], **self.experiments[exp].get("train", {})}
        values.update(objective=self.objective(variant), seed=int(seed))
        # Without the keys its objective ignores: a change to one does not retrain it.
        ignored = ignored_train_keys(values["objective"], values["swa"])
        return {k: v for k, v in values.items() if k not in ignored}

    def keeps_swa(self, exp: str, seed, variant: str) -> bool:
        """Whether the training of ``variant`` keeps an SWA average (train.swa, or unset: by its objective)."""
        return keeps_swa(self.train_settings(exp, seed, variant)["swa"], self.objective(variant))

    def evaluated_weights(self, exp: str, seed, variant: str) -> str:
        """Which of its training's weights a variant is evaluated with, ``swa`` or ``last``: as the variant (or
        the one whose weights it takes) says, else the SWA average when the training keeps one. A variant asking
        for an average its training lacks is refused by ``validate_config``."""
        source = self.source_variant(variant)
        which = self.variants[variant].get("weights") or self.variants[source].get("weights")
        if which is None:
            which = "swa" if self.keeps_swa(exp, seed, source) else "last"
        return which

    # -- evaluation -----------------------------------------------------------------------------------------------

    def ratios(self, variant: str) -> List[float]:
        # The frozen model is theta0 itself: every ratio gives the same weights.
        if self.objective(variant) == "frozen":
            return [1.0]
        return list(self.variants[variant].get("ratios", self.config["eval"]["ratios"]))
