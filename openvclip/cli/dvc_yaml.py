"""dvc.yaml, written from config.yaml (``openvclip dvc-yaml``): the stages of :mod:`openvclip.plan.dvc_stages`
with the code each runs (:mod:`.code_deps`), and the workflow's check that dvc.yaml was written for the config
DVC runs (``check``: run by Snakemake inside every DVC stage)."""

from __future__ import annotations

import difflib
import hashlib
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

from ..config import SCHEMA, validate_config
from ..errors import UserError
from ..io import write_text
from ..plan import Plan
from ..plan.dvc_stages import CONFIG_FILE, DvcStages, Stage, refuse_base
from .code_deps import CodeDeps

DVC_YAML = "dvc.yaml"
SNAKEMAKE = "snakemake {targets} --cores all --rerun-triggers input $OPENVCLIP_SNAKEMAKE_ARGS"
REGENERATE = "openvclip dvc-yaml"

HEADER = f"""\
# Written by `openvclip dvc-yaml` from {CONFIG_FILE}: do not edit by hand; after changing the config's variants,
# seeds or data sets (or the code's imports), run it again and commit both. Inside a DVC stage Snakemake refuses
# to run under a {DVC_YAML} written for another config. DVC's templating cannot give each variant's stage its own
# list of params, hence a file written from the config (openvclip/plan/dvc_stages.py).
#
# DVC on top of the Snakemake workflow: versions, params, metrics and plots. Snakemake stays the one place that
# knows the DAG: every stage calls Snakemake targets, so no rule is written twice. One stage per trained variant
# and one per evaluated variant, each listing the {CONFIG_FILE} keys its jobs read: a change of train.lam
# retrains and re-evaluates the Open-VCLIP variants only, a change of eval.test_ratio reruns the report only.
#
#   dvc repro                                  # build what changed (params below, code, upstream outputs)
#   dvc exp run -S config.yaml:train.lam=0.3   # an experiment without editing files
#   dvc exp show --only-changed --keep '.*(top1|r1)' --md   # changed params, headline metrics
#   dvc params diff; dvc metrics show; dvc plots show       # plots: training curves, the trade-off curve
#   dvc push                                   # data, frame stores, CLIP weights, checkpoints, results
#   dvc pull                                   # the same, back into a clone
#   snakemake --cores 1 --touch all            # after `dvc pull` on a fresh clone: DVC does not keep
#                                              # timestamps, --touch marks the pulled files up to date
#
# Extra Snakemake arguments come from the environment, so the same stages run locally or on SLURM:
#   OPENVCLIP_SNAKEMAKE_ARGS="--workflow-profile profiles/slurm" dvc repro
# Inside a stage Snakemake builds only the stage's outputs: DVC has removed them after deciding from hashes that
# they are stale, and the other stages' outputs are DVC's to judge. DVC does not keep modification times (a pull
# or checkout rewrites them in any order), so each stage first marks its upstream targets up to date
# (`--touch`, safe: DVC has checked them) and Snakemake's params/code triggers are off (`--rerun-triggers input`).
# Targets come first in every command: --rerun-triggers (and --configfile, which the variable may hold) take
# several values, so a target after them would be read as one more value when the variable is empty.
# Each stage depends on the code its jobs run, and on no other: the Snakefile, common.smk and its rule file, and
# every source file its `openvclip` subcommands import (openvclip/cli/code_deps.py finds them from the code).
"""


def _stage_yaml(stage: Stage, code: List[str]) -> Dict[str, Any]:
    commands = []
    if stage.touch:
        commands.append(SNAKEMAKE.format(targets=" ".join(stage.touch + ["--touch"])))
    commands.append(SNAKEMAKE.format(targets=" ".join(stage.targets)))
    out: Dict[str, Any] = {"cmd": commands if len(commands) > 1 else commands[0], "deps": stage.deps + code}
    if stage.params:
        out["params"] = [{CONFIG_FILE: stage.params}]
    outs = stage.outs + [{path: {"cache": False}} for path in stage.uncached]
    if outs:
        out["outs"] = outs
    if stage.metrics:
        out["metrics"] = [{path: {"cache": False}} for path in stage.metrics]
    return out


def render(root: Path) -> str:
    """dvc.yaml's text for ``root``'s config.yaml and code."""
    source = root / CONFIG_FILE
    raw = yaml.safe_load(source.read_text()) or {}
    refuse_base(raw)
    plan = Plan(validate_config(raw, root / SCHEMA, source=str(source)))
    stages = DvcStages(plan, raw)
    code, found, planned = CodeDeps(root), {}, stages.stages()
    for stage in planned.values():
        rules = tuple(stage.rules)
        if rules not in found:  # the evaluation stages share their code, as the tables do
            found[rules] = list(code.as_dvc_deps(code.stage_code(rules)))
    body = {
        "stages": {name: _stage_yaml(stage, found[tuple(stage.rules)]) for name, stage in planned.items()},
        "plots": stages.plots(),
    }
    return HEADER + "\n" + yaml.safe_dump(body, sort_keys=False, width=200, default_flow_style=False)


def difference(root: Path) -> Optional[str]:
    """None when ``root``'s dvc.yaml is the one its config.yaml and code make; else a unified diff."""
    path = root / DVC_YAML
    current = path.read_text() if path.exists() else ""
    wanted = render(root)
    if current == wanted:
        return None
    return "".join(
        difflib.unified_diff(
            current.splitlines(keepends=True), wanted.splitlines(keepends=True), str(path), "written from the config"
        )
    )


def _inputs_fingerprint(root: Path) -> str:
    """What dvc.yaml is written from: config.yaml, dvc.yaml itself and the code (paths, sizes, times)."""
    digest = hashlib.sha256()
    for name in (CONFIG_FILE, DVC_YAML):
        path = root / name
        digest.update(path.read_bytes() if path.exists() else b"-")
    code = [root / "Snakefile", *sorted((root / "openvclip").rglob("*.py")), *sorted((root / "workflow").rglob("*"))]
    for path in code:
        if path.is_file():
            info = path.stat()
            digest.update(f"{path.relative_to(root)} {info.st_size} {info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def check(root: Path) -> None:
    """Refuse to run inside a DVC stage whose dvc.yaml was written for another config (or older code): its stages
    would train the wrong variants or miss a param or a code dependency. A check that passed is remembered
    (.snakemake/) until config.yaml, dvc.yaml or a code file changes: every stage's Snakemake calls it."""
    stamp = root / ".snakemake" / "openvclip-dvc-yaml-checked"
    key = _inputs_fingerprint(root)
    if stamp.exists() and stamp.read_text() == key:
        return
    diff = difference(root)
    if diff is not None:
        raise UserError(
            f"{root / DVC_YAML} was not written for {root / CONFIG_FILE} and the code as they are now, so DVC would "
            f"run the wrong stages or miss a change. Rewrite it and commit it: `{REGENERATE}`, then run DVC again. "
            f"The difference:\n{diff}"
        )
    write_text(stamp, key)


def write(root: Path) -> bool:
    """Write dvc.yaml (atomically); whether it changed."""
    text, path = render(root), root / DVC_YAML
    if path.exists() and path.read_text() == text:
        return False
    write_text(path, text)
    return True
