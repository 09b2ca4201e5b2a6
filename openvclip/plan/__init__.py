"""The workflow's decisions, made from a validated config, in four parts that the Snakemake rules read
(``workflow/rules/common.smk`` builds one of each from the active config):

- :class:`Plan` (``decisions.py``): what the config means: each data set's protocol, each variant's objective,
  training settings, weights and ratios, each experiment's variants and data sets;
- :class:`Layout` (``layout.py``): where each output goes, from :mod:`openvclip.paths`' templates;
- :class:`JobArgs` (``job_args.py``): what each job is told beyond its files (frame settings, the evaluation
  sets, the hash a result records, the report's spec);
- :class:`JobResources` (``resources.py``): what each job asks the machine or cluster for (threads, GPUs, memory).

The rules hold paths and calls only, so these decisions have fast unit tests (tests/test_plan.py). The config
must come from ``openvclip.config.validate_config``: the schema's defaults are filled in, nothing here falls back
to a default of its own.
"""

from .decisions import Plan
from .job_args import JobArgs, as_json
from .layout import Layout
from .resources import JobResources, launcher, threads_per_process

__all__ = ["Plan", "Layout", "JobArgs", "JobResources", "as_json", "launcher", "threads_per_process"]
