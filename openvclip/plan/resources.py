"""What each job asks the machine or cluster for: threads, GPUs (one process per GPU, under torchrun), memory and
run time."""

from __future__ import annotations

from typing import Any, Dict, Mapping

from .decisions import Plan


class JobResources:
    """The resources of one validated config's jobs (its ``resources:`` section)."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.settings: Mapping[str, Any] = plan.config["resources"]

    def gpus(self) -> int:
        """GPUs of each training job (one process each, started by torchrun when more than one)."""
        return self.settings["gpus"]

    def cpus_per_gpu(self) -> int:
        return self.settings.get("cpus_per_gpu", self.settings["threads"])

    def train_gpus(self, variant: str) -> int:
        # The frozen variant only copies theta0: no GPU for it.
        return 0 if self.plan.objective(variant) == "frozen" else self.gpus()

    def data_threads(self, ds: str) -> int:
        """Threads of a data job (decoding, re-encoding): one for the demo's tiny synthetic clips."""
        return 1 if self.plan.is_synthetic(ds) else self.settings["threads"]

    def data_runtime(self, ds: str, demo: int, real: int) -> int:
        """Minutes a data job may run: ``demo`` for the demo's synthetic sets, ``real`` for a real data set."""
        return demo if self.plan.is_synthetic(ds) else real

    def model_job(self, mem_mb: int, runtime: int, gpus: Any = None) -> Dict[str, Any]:
        """Resources of a model job: ``gpu`` (a count, or a function of the wildcards) and ``cpus_per_gpu`` only
        when the config asks for GPUs, so CPU-only runs never see a GPU request."""
        resources: Dict[str, Any] = {"mem_mb": mem_mb, "runtime": runtime}
        if self.gpus():
            resources.update(gpu=self.gpus() if gpus is None else gpus, cpus_per_gpu=self.cpus_per_gpu())
        return resources


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
