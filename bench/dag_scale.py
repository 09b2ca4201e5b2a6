"""The workflow's DAG at Kinetics' real shard count: how long `snakemake -n all` takes to plan the paper config,
and how many jobs it plans.

A loopback HTTP server serves URL lists of the real lengths, each line naming an archive on the server (never
fetched: only the lists are read): K400's training list (242 archives) and validation list (20), and a K600
validation list (``--k600-archives``, default 30: about 30,000 videos at K400's 1,000 an archive; the CVDF
list's exact length is not in this repository). The paper config (``config/paper_vitb16.yaml``) runs with its
Kinetics URL lists pointed at the server. First the shard plans are made (the checkpoints: the lists are
read), then the dry run is timed, ``--repeats`` times (median).

    python bench/dag_scale.py [--archives-per-job 12] [--k600-archives 30] [--repeats 3]

Last lines: the job count of each rule, then ``ratio dag_seconds VALUE`` and ``ratio jobs VALUE``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.http_server import FileServer  # noqa: E402  (the tests' loopback server)
from tests.shell import planned_jobs  # noqa: E402  (reads a dry run's job table)

LISTS = {"k400": {"videos_train": 242, "videos_val": 20}, "k600": {"videos_val": None}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archives-per-job", type=int, default=12)
    parser.add_argument("--k600-archives", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with FileServer() as server, tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        shutil.copy(ROOT / "Snakefile", project)
        for folder in ("workflow", "config", "profiles"):
            shutil.copytree(ROOT / folder, project / folder)
        override = {"shards": {"archives_per_job": args.archives_per_job}, "datasets": {}}
        for ds, roles in LISTS.items():
            files = {}
            for role, count in roles.items():
                count = count or args.k600_archives
                urls = [server.url(f"{ds}/{role}/part_{i}.tar.gz") for i in range(count)]
                files[role] = [{"url_list": server.add(f"{ds}/{role}.txt", "\n".join(urls).encode())}]
            override["datasets"][ds] = {"files": files}
        (project / "loopback.yaml").write_text(yaml.safe_dump(override))
        configs = ["--configfile", "config/paper_vitb16.yaml", "loopback.yaml"]
        plans = [f"data/shards/{ds}/plan.json" for ds in LISTS]
        subprocess.run(["snakemake", *plans, "--cores", "2", *configs], cwd=project, check=True, capture_output=True)
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            done = subprocess.run(
                ["snakemake", "-n", "all", *configs], cwd=project, capture_output=True, text=True, check=True
            )
            seconds.append(time.perf_counter() - start)
    counts = planned_jobs(done)
    for rule, count in counts.items():
        print(f"{rule:24s} {count}")
    print(f"dry runs: {', '.join(f'{s:.1f}' for s in seconds)} s")
    print(f"ratio dag_seconds {statistics.median(seconds):.2f}")
    print(f"ratio jobs {sum(counts.values())}")


if __name__ == "__main__":
    main()
