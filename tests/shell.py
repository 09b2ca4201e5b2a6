"""Running the commands we document as a user types them: one string through a shell, in a clean clone of the
project, with none of the variables our commands read set. `tests/test_documented_commands.py` checks that
every command line the README, the configs' comments, `dvc.yaml` and the code's messages show is passed, as
written, to one of the `shell*` functions here by some test."""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAST = ROOT / "tests" / "fast_config.yaml"

# Variables that change what snakemake, DVC or our stages do: a user's shell has none of them.
_OURS = ("OPENVCLIP_", "SNAKEMAKE_", "DVC_")


def user_env(**extra: str) -> dict:
    """The environment of a user's shell: this one without the variables above (plus ``extra``, for the few
    commands whose documentation sets variables first)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    env.update(extra)
    return env


def clean_clone(dest: Path, fast_config: bool = True) -> Path:
    """What `git clone` of the project gives, as a new git repository at ``dest``: the tracked files and the new
    ones git does not ignore (so uncommitted work is tested too), nothing built, cached or ignored. With
    ``fast_config``, `tests/fast_config.yaml` is copied over `config.yaml` and committed, as a user would."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    dest.mkdir(parents=True, exist_ok=True)
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is gone from the next commit too
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
            target.chmod(source.stat().st_mode)
    if fast_config:
        (dest / "config.yaml").write_bytes(FAST.read_bytes())
    git = ["git", "-c", "user.email=ci@example.org", "-c", "user.name=ci"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "clone"]):
        subprocess.run(git + args, cwd=dest, check=True, capture_output=True)
    return dest


def shell(
    cwd: Path, command: str, check: bool = True, env: dict = None, timeout: float = 1200
) -> subprocess.CompletedProcess:
    """Run ``command`` exactly as written through ``bash -c`` in ``cwd``, in a user's environment."""
    out = subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env or user_env(), capture_output=True, text=True, timeout=timeout
    )
    if check and out.returncode != 0:
        raise AssertionError(
            f"`{command}` failed with exit code {out.returncode}:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}"
        )
    return out


def shell_dry_run(cwd: Path, command: str, check: bool = True, env: dict = None) -> subprocess.CompletedProcess:
    """A documented snakemake command whose real run needs what this machine lacks (the paper's data sets and
    weights, 200 GPU-hours): run as written plus ``-n``, which parses it, loads the config and builds the whole
    DAG, so a misread argument or a broken config fails here as it would for the user."""
    assert command.startswith("snakemake "), command
    return shell(cwd, f"{command} -n", check=check, env=env)


def output(out: subprocess.CompletedProcess) -> str:
    return out.stdout + out.stderr


def shell_on_fake_slurm(cwd: Path, command: str, folder: Path):
    """Run a documented SLURM command as typed, with SLURM's commands answered as a cluster without free nodes
    answers them (the queries answer nothing, `sbatch` refuses every job; written into ``folder``, put first
    on PATH): it gets as far as a real cluster would take it (profile, config, DAG, one sbatch call per job
    that is ready). Returns the run and the sbatch calls made."""
    calls = _fake_slurm(folder)
    out = shell(cwd, command, check=False, env=user_env(PATH=f"{folder}{os.pathsep}{os.environ['PATH']}"))
    return out, [line for line in calls.read_text().splitlines() if line.startswith("sbatch ")]


def _fake_slurm(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    calls = folder / "calls.log"
    for tool in ("sinfo", "squeue", "sacct", "sacctmgr", "scontrol", "sshare", "scancel", "sbatch"):
        refuse = (
            'echo "sbatch: error: no SLURM on this machine (tests/shell.py)" >&2; exit 1'
            if tool == "sbatch"
            else "exit 0"
        )
        script = folder / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\n{refuse}\n')
        script.chmod(0o755)
    return calls


def snakemake(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run(["snakemake", "--cores", "2", *args], cwd=cwd, capture_output=True, text=True)
    if check and out.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def planned_jobs(out: subprocess.CompletedProcess) -> dict:
    """{rule: count} from a dry run's job-stats table; {} only when Snakemake says there is nothing to do. Any
    other output (a changed table format, a failed run) raises, so a "nothing planned" check cannot pass
    vacuously."""
    text = out.stdout + out.stderr
    if "Nothing to be done" in text:
        assert "Job stats:" not in text, text[-2000:]
        return {}
    assert "Job stats:" in text, f"neither a job table nor 'Nothing to be done' in:\n{text[-2000:]}"
    table = text[text.index("Job stats:") :]
    jobs = {}
    for line in table.splitlines()[3:]:
        match = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not match:
            break
        jobs[match.group(1)] = int(match.group(2))
    total = jobs.pop("total", None)
    assert jobs and total == sum(jobs.values()), f"unreadable job table:\n{table[:2000]}"
    return jobs


def killed_when(
    cwd: Path, command: str, ready, timeout: float = 900, how: int = signal.SIGKILL, frozen=lambda: None
) -> tuple:
    """Start ``command`` as a user would and stop it as soon as ``ready()``: (the run's exit code, what
    ``frozen()`` returned). SIGKILL goes to every process it started (a crashed node, a laptop that died), after
    SIGSTOP has frozen them all at once, so ``frozen()`` sees the files exactly as the kill leaves them; SIGINT
    goes to its process group, as a terminal sends Ctrl-C, and the run is left to stop by itself."""
    import psutil

    # A terminal's Ctrl-C reaches a command whose SIGINT is at its default; a test run started in the background
    # of a non-interactive shell (a CI script) inherits SIGINT ignored, so the default is restored for the run.
    process = subprocess.Popen(
        ["bash", "-c", command],
        cwd=cwd,
        env=user_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"`{command}` ended (exit code {process.poll()}) before it could be killed")
        time.sleep(0.02)
    if how == signal.SIGINT:
        os.killpg(process.pid, signal.SIGINT)
        return process.wait(timeout=300), frozen()
    # One signal stops the whole process group (the jobs Snakemake starts stay in it) before anything is read.
    os.killpg(process.pid, signal.SIGSTOP)
    tree = [process.pid] + [child.pid for child in psutil.Process(process.pid).children(recursive=True)]
    for pid in tree:  # any process that left the group
        try:
            os.kill(pid, signal.SIGSTOP)
        except ProcessLookupError:
            pass
    seen = frozen()
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return process.wait(), seen
