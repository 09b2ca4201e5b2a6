"""A large data set's preparation cut into shards, each one job, so that a cluster runs them side by side.

Kinetics comes as URL lists of many archives (CVDF: K400's training list names 242 archives of about 1,000
videos and 1.8 GB each, its validation list 20). :func:`plan_shards` reads a data set's URL lists and groups their
archives ``archives_per_shard`` at a time, each group within one file role. The workflow reads the plan's length
(a Snakemake checkpoint: the count is known only once the lists are read) and runs one job per shard of each
stage:

- :func:`fetch_shard` downloads one group, a few archives at once, and unpacks it exactly where the unsharded
  ``prepare`` would, so the ``prepare`` that gathers the shards finds every archive in place and only parses the
  annotations into the manifest;
- re-encoding the training videos and decoding the evaluation frames are cut into as many jobs, job ``k`` taking
  the ``k``-th of that many contiguous ranges of the work (:func:`part`), and their gathers assemble the index
  and the frame store the unsharded jobs write, byte for byte.

A data set with no URL list (UCF101, HMDB51, MSR-VTT: one archive each, or local copies) is one shard and keeps
the unsharded jobs. Each shard resumes as the unsharded job does: finished downloads, unpacked archives,
re-encoded videos and decoded frame shards are kept, so a failed or killed shard job reruns alone and redoes
only what it had not finished.

Why 12 archives a shard by default (the ``shards:`` config section): a K400 archive holds about 1,000 videos;
re-encoding one takes 1.7 to 2.5 s on one core (bench/README.md: data_projection, train_loader), so 12,000
take 5.7 to 8.3 core-hours, 0.7 to 1 hour on a data job's 8 threads; K400's training list becomes
ceil(242 / 12) = 21 shards and its validation list 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Mapping

from ..errors import UserError
from ..io import write_json
from .prepare import RealSet, place
from .sources import download_many, listed_urls


class ShardFailed(RuntimeError):
    """One shard job failed; the message names the data set, the shard and what it holds."""


def listed_role(spec: RealSet, role: str):
    """The ``url_list`` source of a file role when it is the role's first source (the one the unsharded fetch
    tries first), else ``None``: a role fetched as one file or linked from a local copy is not sharded."""
    first = spec.sources(role)[0]
    return first if first.url_list else None


def is_sharded(dataset: Mapping, name: str) -> bool:
    """Whether a ``datasets.<name>`` entry has a file role fetched from a URL list (its preparation is then
    planned in shards); a synthetic set never is."""
    if "format" not in dataset:
        return False
    spec = RealSet.from_dict(dataset, name)
    return any(listed_role(spec, role) for role in spec.files)


def plan_shards(dataset: Mapping, name: str, downloads: Path, archives_per_shard: int, out: Path) -> dict:
    """Read the data set's URL lists (fetched once into ``downloads/<role>/``, where the unsharded fetch keeps
    them) and write the shard plan ``out``: ``{"dataset", "archives_per_shard", "shards": [{"role", "verify_tls",
    "urls"}, ...]}`` in role order, then list order."""
    if archives_per_shard < 1:
        raise UserError(f"shards.archives_per_job must be at least 1, got {archives_per_shard}")
    spec = RealSet.from_dict(dataset, name)
    shards: List[dict] = []
    for role in spec.files:
        source = listed_role(spec, role)
        if source is None:
            continue
        urls = listed_urls(source, Path(downloads) / role)
        if not urls:
            raise UserError(f"datasets.{name}.files.{role}: the URL list {source.url_list} names no file")
        for start in range(0, len(urls), archives_per_shard):
            chunk = urls[start : start + archives_per_shard]
            shards.append({"role": role, "verify_tls": source.verify_tls, "urls": chunk})
    plan = {"dataset": name, "archives_per_shard": archives_per_shard, "shards": shards}
    write_json(out, plan)
    return plan


def read_plan(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def shard_count(path: Path) -> int:
    """How many shard jobs each stage of the data set runs (at least one)."""
    return max(1, len(read_plan(path)["shards"]))


def fetch_shard(
    dataset: Mapping,
    name: str,
    plan_file: Path,
    shard: int,
    downloads: Path,
    raw: Path,
    out: Path,
    *,
    at_once: int,
    progress: bool = True,
) -> dict:
    """Download shard ``shard`` of the plan (``at_once`` archives at a time) into ``downloads/<role>/`` and unpack
    each archive into ``raw/<role>/<stem>``; write the record ``out`` (the archives, their sizes and folders)."""
    spec = RealSet.from_dict(dataset, name)
    shards = read_plan(plan_file)["shards"]
    if not 0 <= shard < len(shards):
        raise UserError(f"{plan_file} plans shards 0 to {len(shards) - 1} of data set {name}; asked for {shard}")
    entry = shards[shard]
    role, urls = entry["role"], entry["urls"]
    label = f"data set {name}, shard {shard} of {len(shards)} ({role}: {len(urls)} archive(s), {urls[0]} ...)"
    archives: List[Dict[str, object]] = []
    try:
        files = download_many(
            urls,
            Path(downloads) / role,
            verify_tls=entry["verify_tls"],
            at_once=at_once,
            progress=progress,
            desc=f"{name} shard {shard}",
        )
        for path in files:
            placed = place(spec, role, path, Path(raw) / role, progress)
            archives.append({"file": str(path), "bytes": path.stat().st_size, "placed": str(placed)})
    except Exception as error:
        raise ShardFailed(f"{label} failed; the other shards are kept. {error}") from error
    record = {"dataset": name, "shard": shard, "role": role, "archives": archives}
    write_json(out, record)
    return record
