"""A stand-in SLURM that really runs jobs on this machine, as far as Snakemake's SLURM executor plugin
(snakemake-executor-plugin-slurm 2.8, with snakemake-executor-plugin-slurm-jobstep 0.6 inside the jobs) uses it:

    bin = install(folder)          # folder/bin: sbatch, squeue, sacct, scancel, srun, sinfo, scontrol, sacctmgr,
                                   # sshare (sh scripts that run this file); folder/state: the jobs
    env = {**os.environ, "PATH": f"{bin}{os.pathsep}{os.environ['PATH']}"}
    ...                            # snakemake --executor slurm ..., with env
    submitted(folder)              # the sbatch calls made; jobs(folder): the jobs' records

Each script has the state folder's absolute path written into it (no variables needed); every call is logged to
folder/calls.log, one line each: the command and its arguments, shell-quoted ("sbatch --parsable ...").
Options are parsed GNU-style (-n1, -A acct, --mem 100, --cpu-bind=q); the ones a command does not use are
accepted and ignored.

sbatch    The job script: --wrap's command (`#!/bin/sh` + command: what the plugin submits by default), or a
          file argument or stdin (`/dev/stdin`: --slurm-pass-command-as-script). -A and -p must be accounts and
          partitions given to install() (-p defaults to the first). Records the job PENDING and starts it in the
          background, in a new session (its process group is the job's: scancel kills it), in -D/--chdir, stdout
          and stderr to -o/--output (-e/--error; %j and %x expanded; default slurm-%j.out), stdin /dev/null, with
          the caller's environment (--export=ALL; NONE and VAR=value items too) plus SLURM_JOB_ID,
          SLURM_CPUS_PER_TASK, SLURM_NTASKS, SLURM_MEM_PER_NODE, SLURM_GPUS, ... The job is RUNNING while its
          script runs, then COMPLETED or FAILED (ExitCode "<exit status>:<signal>"), or TIMEOUT after -t
          (minutes, MM:SS, HH:MM:SS, D-HH[:MM[:SS]]); whatever the script left running in its process group is
          then killed, as SLURM does. Prints the id: --parsable "<id>" or "<id>;<cluster>" (with --clusters),
          else "Submitted batch job <id>". Refuses job arrays, --hold, --dependency, --wait and --test-only.
squeue    -o/--format ("%i|%T", widths as in %.18i or %-8j), -h/--noheader, --name, -j/--jobs, -t/--states
          (default pending and running; "all" adds finished jobs: they never age out).
sacct     --format/-o fields (JobIdRaw, JobID, JobName, State, ExitCode, Comment, Account, Partition, Elapsed,
          NodeList, ...; widths as in Account%256; unknown fields answer empty), --parsable2/-P, --parsable/-p,
          -n/--noheader, --name, -j/--jobs, -s/--state. Jobs have no steps: -j 42.0 answers nothing.
scancel   Job ids or --name: marks pending and running jobs CANCELLED, then SIGTERM to their process groups,
          SIGKILL 3 s later.
srun      Drops its options and execs the command in place (the jobstep plugin's `srun -n1 ... <command>`).
sinfo     The partitions (-o/--format, e.g. "%P": the default one starred). sacctmgr, sshare: the accounts, one a
          line. scontrol: `show config` (MinJobAge = 300 sec, MaxArraySize = 1001), `show partition`,
          `show job [id]`.
"""

import fcntl
import getpass
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

COMMANDS = ("sbatch", "squeue", "sacct", "scancel", "srun", "sinfo", "scontrol", "sacctmgr", "sshare")
ACTIVE = ("PENDING", "RUNNING")
CLUSTER = "standin"
HOST = socket.gethostname()


def install(folder: Path, accounts=("test",), partitions=("cpu",)) -> Path:
    """Write the commands into ``folder/bin`` (returned: put it first on PATH), with their jobs in
    ``folder/state``. ``accounts``: the accounts sbatch -A accepts (sacctmgr, sshare list them); ``partitions``:
    the partitions sbatch -p accepts, the first the default."""
    folder = Path(folder).resolve()
    (folder / "state" / "jobs").mkdir(parents=True, exist_ok=True)
    (folder / "state" / "cluster.json").write_text(json.dumps({"accounts": accounts, "partitions": partitions}))
    bin_ = folder / "bin"
    bin_.mkdir(exist_ok=True)
    run = " ".join(shlex.quote(str(part)) for part in (sys.executable, Path(__file__).resolve(), folder))
    for name in COMMANDS:
        (bin_ / name).write_text(f'#!/bin/sh\nexec {run} {name} "$@"\n')
        (bin_ / name).chmod(0o755)
    return bin_


def submitted(folder: Path) -> list:
    """The sbatch calls, in order, as logged ("sbatch --parsable --job-name ...")."""
    log = Path(folder) / "calls.log"
    return [line for line in log.read_text().splitlines() if line.startswith("sbatch ")] if log.exists() else []


def jobs(folder: Path) -> list:
    """The jobs' records (JobID, JobName, State, ExitCode, Comment, StdOut, ...), in submission order."""
    return Cluster(folder).jobs()


def cancel_all(folder: Path) -> list:
    """scancel every job still pending or running (a test's teardown: nothing outlives it); returns their ids."""
    cluster = Cluster(folder)
    active = [job["JobID"] for job in cluster.jobs() if job["State"] in ACTIVE]
    cancel(cluster, active)
    return active


class SlurmError(Exception):
    """A refusal: printed as "<command>: error: <message>", exit status 1."""


class Cluster:
    """The state folder: one JSON record and one script per job, the next id, a lock for read-modify-write."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.state = self.folder / "state"
        config = json.loads((self.state / "cluster.json").read_text())
        self.accounts, self.partitions = config["accounts"], config["partitions"]

    @contextmanager
    def locked(self):
        with open(self.state / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def log(self, name: str, args: list):
        with self.locked(), open(self.folder / "calls.log", "a") as log:
            log.write(shlex.join([name, *args]).replace("\n", "\\n") + "\n")

    def new_id(self) -> str:
        with self.locked():
            counter = self.state / "last_id"
            jobid = int(counter.read_text()) + 1 if counter.exists() else 1001
            counter.write_text(str(jobid))
        return str(jobid)

    def job(self, jobid: str):
        path = self.state / "jobs" / f"{jobid}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def jobs(self) -> list:
        return sorted((json.loads(p.read_text()) for p in (self.state / "jobs").glob("*.json")), key=_id)

    def save(self, job: dict):
        path = self.state / "jobs" / f"{job['JobID']}.json"
        path.with_suffix(".tmp").write_text(json.dumps(job))
        path.with_suffix(".tmp").replace(path)  # readers never see half a record

    def finish(self, jobid: str, state: str, exit_code: str):
        """Give a job its final state, unless it has one already (scancel's CANCELLED wins over the runner's
        FAILED): the job if this call ended it, else None."""
        with self.locked():
            job = self.job(jobid)
            if job["State"] not in ACTIVE:
                return None
            job.update(State=state, ExitCode=exit_code, end=time.time())
            self.save(job)
            return job


def _id(job: dict) -> int:
    return int(job["JobID"])


def parse(args: list, short: str, flags: str, stop_at_command: bool = False):
    """GNU-style options -> ({long name: value, or True for ``flags``}, the other arguments). ``short``: letters
    and their long names ("J:job-name o:output"; another letter stands for itself); ``flags``: the long names of
    the options without a value. With ``stop_at_command``, all from the first non-option on is the command
    (sbatch's script and its arguments, srun's command)."""
    letters, flags = dict(item.split(":") for item in short.split()), set(flags.split())
    opts, rest, i = {}, [], 0
    while i < len(args):
        arg, i = args[i], i + 1
        if arg == "--":
            rest += args[i:]
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if not eq and name not in flags:
                if i == len(args):
                    raise SlurmError(f"option '--{name}' requires an argument")
                value, i = args[i], i + 1
            opts[name] = value if eq or name not in flags else True
        elif arg.startswith("-") and len(arg) > 1:
            for j, letter in enumerate(arg[1:], start=2):  # -nX: flags, then at most one option with its value
                name = letters.get(letter, letter)
                if name in flags:
                    opts[name] = True
                    continue
                value = arg[j:]
                if not value:
                    if i == len(args):
                        raise SlurmError(f"option requires an argument -- '{letter}'")
                    value, i = args[i], i + 1
                opts[name] = value
                break
        else:
            rest.append(arg)
            if stop_at_command:
                rest += args[i:]
                break
    return opts, rest


def minutes(limit: str):
    """SLURM's time limit (-t) in minutes; None for UNLIMITED."""
    if limit.upper() in ("UNLIMITED", "INFINITE"):
        return None
    days, _, clock = limit.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    if days:  # D-HH[:MM[:SS]]
        hours, mins, secs = (parts + [0, 0])[:3]
        return int(days) * 1440 + hours * 60 + mins + secs / 60
    scale = {1: (1,), 2: (1, 1 / 60), 3: (60, 1, 1 / 60)}[len(parts)]  # MM, MM:SS, HH:MM:SS
    return sum(p * s for p, s in zip(parts, scale))


def clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def when(stamp) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(stamp)) if stamp else "Unknown"


def describe(job: dict) -> dict:
    """What sacct and squeue tell about a job, by sacct's (lower-cased) field names."""
    start, end = job.get("start"), job.get("end")
    limit = job["Timelimit"]
    return {
        "jobid": job["JobID"],
        "jobidraw": job["JobID"],
        "jobname": job["JobName"],
        "state": job["State"],
        "exitcode": job["ExitCode"],
        "comment": job["Comment"],
        "account": job["Account"],
        "partition": job["Partition"],
        "workdir": job["WorkDir"],
        "user": getpass.getuser(),
        "cluster": CLUSTER,
        "nodelist": HOST if start else "None assigned",
        "nnodes": "1",
        "alloccpus": str(job["AllocCPUS"]),
        "ncpus": str(job["AllocCPUS"]),
        "reqmem": job["ReqMem"],
        "timelimit": "UNLIMITED" if limit is None else clock(limit * 60),
        "elapsed": clock((end or time.time()) - start) if start else "00:00:00",
        "submit": when(job["submit"]),
        "start": when(start),
        "end": when(end),
        "reason": "None",
    }


# ---------------------------------------------------------------------------------------------------- sbatch

SBATCH_LETTERS = "J:job-name o:output e:error A:account p:partition t:time D:chdir n:ntasks c:cpus-per-task N:nodes"
SBATCH_LETTERS += " C:constraint M:clusters a:array G:gpus q:qos d:dependency H:hold W:wait Q:quiet v:verbose"
SBATCH_FLAGS = "parsable requeue no-requeue exclusive hold wait test-only quiet verbose contiguous overcommit"


def sbatch(cluster: Cluster, args: list):
    opts, rest = parse(args, SBATCH_LETTERS, SBATCH_FLAGS, stop_at_command=True)
    for unsupported in ("array", "hold", "dependency", "wait", "test-only"):
        if unsupported in opts:
            raise SlurmError(f"--{unsupported} is not supported by the stand-in SLURM (tests/slurm_standin.py)")
    if "wrap" in opts:
        if rest:
            raise SlurmError("script arguments not permitted with --wrap option")
        script, script_args, name = f"#!/bin/sh\n{opts['wrap']}\n", [], "wrap"
    else:
        path = rest[0] if rest else "/dev/stdin"
        stdin = path in ("-", "/dev/stdin")
        script = sys.stdin.read() if stdin else Path(path).read_text()
        script_args, name = rest[1:], "sbatch" if stdin else Path(path).name
    if not script.startswith("#!"):
        raise SlurmError("This does not look like a batch script.  The first line must start with #! followed by...")
    account = opts.get("account", "")
    if account and cluster.accounts and account.lower() not in [a.lower() for a in cluster.accounts]:
        raise SlurmError("Batch job submission failed: Invalid account or account/partition combination specified")
    partition = opts.get("partition") or cluster.partitions[0]
    if partition not in cluster.partitions:
        raise SlurmError("Batch job submission failed: Invalid partition name specified")

    jobid, name = cluster.new_id(), opts.get("job-name", name)
    workdir = Path(opts.get("chdir") or opts.get("workdir") or ".").resolve()
    output = opts.get("output", "slurm-%j.out")
    stdout, stderr = (workdir / p.replace("%j", jobid).replace("%x", name) for p in (output, opts.get("error", output)))
    cpus, ntasks = int(opts.get("cpus-per-task", 1)), int(opts.get("ntasks", 1))
    mem = opts.get("mem") or (str(int(opts["mem-per-cpu"]) * cpus * ntasks) if "mem-per-cpu" in opts else "")
    job = {
        "JobID": jobid,
        "JobName": name,
        "State": "PENDING",
        "ExitCode": "0:0",
        "Comment": opts.get("comment", ""),
        "Account": account,
        "Partition": partition,
        "WorkDir": str(workdir),
        "StdOut": str(stdout),
        "StdErr": str(stderr),
        "AllocCPUS": cpus * ntasks,
        "ReqMem": f"{mem}M" if mem.isdigit() else mem,
        "Timelimit": minutes(opts["time"]) if "time" in opts else None,
        "submit": time.time(),
    }

    export = opts.get("export", "ALL").split(",")  # ALL or NONE, then NAME or NAME=value items
    env = {} if export[0].upper() == "NONE" else dict(os.environ)
    for key, eq, value in (item.partition("=") for item in export):
        if eq or key in os.environ and key not in ("ALL", "NONE"):
            env[key] = value if eq else os.environ[key]
    slurm = {"JOB_ID": jobid, "JOBID": jobid, "JOB_NAME": name, "JOB_ACCOUNT": account, "JOB_PARTITION": partition}
    slurm |= {"CLUSTER_NAME": CLUSTER, "SUBMIT_DIR": os.getcwd(), "SUBMIT_HOST": HOST, "JOB_NODELIST": HOST}
    slurm |= {"NTASKS": ntasks, "CPUS_PER_TASK": cpus, "CPUS_ON_NODE": cpus * ntasks, "JOB_NUM_NODES": 1, "NNODES": 1}
    slurm |= {"MEM_PER_NODE": mem} if mem.isdigit() else {}
    slurm |= {"GPUS": opts["gpus"]} if "gpus" in opts else {}
    env.update({f"SLURM_{key}": str(value) for key, value in slurm.items()}, SLURMD_NODENAME=HOST)

    script_file = cluster.state / "jobs" / f"{jobid}.sh"
    script_file.write_text(script)
    script_file.chmod(0o755)
    cluster.save(job)
    if not stdout.parent.is_dir() or not stderr.parent.is_dir():  # SLURM: the job fails, without a log
        cluster.finish(jobid, "FAILED", "0:53")
    else:
        runner = [sys.executable, str(Path(__file__).resolve()), str(cluster.folder), "_run", jobid, *script_args]
        with open(stdout, "w") as out, open(stderr, "a") if stderr != stdout else nullcontext() as err:
            subprocess.Popen(
                runner,
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err or subprocess.STDOUT,
                start_new_session=True,  # the job's own process group: scancel kills it, and only it
            )
    if "parsable" not in opts:
        print(f"Submitted batch job {jobid}")
    else:
        print(f"{jobid};{opts['clusters']}" if "clusters" in opts else jobid)


def run(cluster: Cluster, args: list):
    """The job itself (started by sbatch, in its own session): runs the script, records how it ended."""
    jobid, *script_args = args
    with cluster.locked():
        job = cluster.job(jobid)
        if job["State"] != "PENDING":  # cancelled before it started
            return
        job.update(State="RUNNING", start=time.time(), pid=os.getpid())
        cluster.save(job)
    script = subprocess.Popen([str(cluster.state / "jobs" / f"{jobid}.sh"), *script_args])
    limit = job["Timelimit"]
    try:
        status = script.wait(timeout=None if limit is None else limit * 60)
        state = "COMPLETED" if status == 0 else "FAILED"
    except subprocess.TimeoutExpired:
        state, status = "TIMEOUT", -signal.SIGTERM
    cluster.finish(jobid, state, f"{status}:0" if status >= 0 else f"0:{-status}")
    # The job is over: nothing it started outlives it (its process group; this process stays to exit cleanly).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.killpg(0, signal.SIGTERM)


# ---------------------------------------------------------------------------------------------- scancel, srun


def scancel(cluster: Cluster, args: list):
    opts, ids = parse(args, "n:name M:clusters s:signal u:user Q:quiet v:verbose", "quiet verbose full batch me")
    ids = [jobid for arg in ids for jobid in arg.split(",") if jobid]
    if "name" in opts:
        names = opts["name"].split(",")
        ids += [job["JobID"] for job in cluster.jobs() if job["JobName"] in names and job["State"] in ACTIVE]
    unknown = [jobid for jobid in ids if cluster.job(jobid) is None]
    cancel(cluster, [jobid for jobid in ids if jobid not in unknown])
    for jobid in unknown:
        print(f"scancel: error: Kill job error on job id {jobid}: Invalid job id specified", file=sys.stderr)
    return 1 if unknown else 0


def cancel(cluster: Cluster, ids: list):
    """Mark the jobs that are still pending or running CANCELLED, then kill their process groups."""
    ended = [cluster.finish(jobid, "CANCELLED", "0:15") for jobid in ids]
    groups = [job["pid"] for job in ended if job and job.get("pid")]  # a pending job's runner sees CANCELLED
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 0)):
        for pid in groups:
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + wait
        while groups and time.time() < deadline:
            groups = [pid for pid in groups if _alive(pid)]
            time.sleep(0.1)


def _alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
        return True
    except ProcessLookupError:
        return False


SRUN_LETTERS = "n:ntasks c:cpus-per-task N:nodes J:job-name p:partition A:account t:time G:gpus w:nodelist"
SRUN_LETTERS += " o:output e:error i:input D:chdir l:label u:unbuffered Q:quiet v:verbose X:disable-status"


def srun(cluster: Cluster, args: list):
    flags = "exclusive overlap label unbuffered quiet verbose pty disable-status"
    opts, command = parse(args, SRUN_LETTERS, flags, stop_at_command=True)
    if not command:
        raise SlurmError("No command given to execute.")
    if "chdir" in opts:
        os.chdir(opts["chdir"])
    os.execvp(command[0], command)


# ------------------------------------------------------------------------------------------------ the queries


def render(fmt: str, values: dict) -> str:
    """squeue's and sinfo's --format: %<letter>, with a width as in %.18i (right-aligned) or %-8j (left)."""

    def field(match):
        spec, letter = match.groups()
        text = "%" if letter == "%" else str(values.get(letter, ""))
        width = int(spec.strip(".-") or 0)
        return text.ljust(width) if spec.startswith("-") else text.rjust(width)

    return re.sub(r"%([.-]?\d*)([a-zA-Z%])", field, fmt)


COMPACT = dict(PENDING="PD", RUNNING="R", COMPLETED="CD", FAILED="F", CANCELLED="CA", TIMEOUT="TO")
# squeue's format letters: sacct's field, and the header
SQUEUE_FIELDS = "i:jobid:JOBID A:jobid:JOBID j:jobname:NAME T:state:STATE P:partition:PARTITION a:account:ACCOUNT"
SQUEUE_FIELDS += " k:comment:COMMENT u:user:USER M:elapsed:TIME l:timelimit:TIME_LIMIT D:nnodes:NODES"
SQUEUE_FIELDS += " C:alloccpus:CPUS N:nodelist:NODELIST Z:workdir:WORK_DIR"


def squeue(cluster: Cluster, args: list):
    letters = "h:noheader o:format n:name j:jobs t:states u:user p:partition A:account M:clusters a:all l:long"
    opts, _ = parse(args, letters, "noheader all long array me verbose")
    fmt = opts.get("format", "%.18i %.9P %.8j %.8u %.2t %.10M %.6D %R")
    states = opts.get("states", "PENDING,RUNNING").upper().split(",")
    fields = [item.split(":") for item in SQUEUE_FIELDS.split()]
    header = {letter: head for letter, _, head in fields} | dict(t="ST", R="NODELIST(REASON)")
    rows = [] if "noheader" in opts else [render(fmt, header)]
    for job in select(cluster.jobs(), opts):
        if "ALL" in states or job["State"] in states or COMPACT[job["State"]] in states:
            values = {letter: describe(job)[name] for letter, name, _ in fields} | dict(t=COMPACT[job["State"]])
            rows.append(render(fmt, values | dict(R=HOST if job["State"] == "RUNNING" else "(None)")))
    print("\n".join(rows))


def select(all_jobs: list, opts: dict) -> list:
    """The jobs --name and -j/--jobs ask for (a job step such as 42.0 is none of them)."""
    wanted = {
        key: opts[option].split(",") for key, option in (("JobName", "name"), ("JobID", "jobs")) if option in opts
    }
    return [job for job in all_jobs if all(job[key] in values for key, values in wanted.items())]


def sacct(cluster: Cluster, args: list):
    letters = "n:noheader X:allocations p:parsable P:parsable2 o:format j:jobs u:user S:starttime E:endtime"
    letters += " M:clusters L:allclusters a:allusers s:state A:accounts r:partition b:brief"
    opts, _ = parse(args, letters, "noheader allocations parsable parsable2 allclusters allusers brief duplicates")
    default = "JobID,State,ExitCode" if "brief" in opts else "JobID,JobName,Partition,Account,AllocCPUS,State,ExitCode"
    specs = (spec.partition("%") for spec in opts.get("format", default).split(","))  # JobName%20: width 20
    fields = [(name, int(width or 10)) for name, _, width in specs]
    states = opts["state"].upper().split(",") if "state" in opts else None
    rows = [] if "noheader" in opts else [[name for name, _ in fields]]
    for job in select(cluster.jobs(), opts):
        if states is None or job["State"] in states or COMPACT[job["State"]] in states:
            rows.append([describe(job).get(name.lower(), "") for name, _ in fields])
    for row in rows:
        if "parsable2" in opts or "parsable" in opts:  # "a|b", or "a|b|"
            print("|".join(row) + ("" if "parsable2" in opts else "|"))
        else:  # columns (%-N: left-aligned), a too long value cut with a "+"; under the header, a dashed line
            cells = [text if len(text) <= abs(w) else text[: abs(w) - 1] + "+" for text, (_, w) in zip(row, fields)]
            print(" ".join(text.ljust(-w) if w < 0 else text.rjust(w) for text, (_, w) in zip(cells, fields)))
            if row is rows[0] and "noheader" not in opts:
                print(" ".join("-" * abs(w) for _, w in fields))


# ---------------------------------------------------------------------------------- the cluster's configuration


def sinfo(cluster: Cluster, args: list):
    letters = "o:format h:noheader p:partition M:clusters N:Node s:summarize l:long"
    opts, _ = parse(args, letters, "noheader Node summarize long")
    fmt = opts.get("format", "%9P %5a %.10l %.6D %.6t %N")
    header = dict(P="PARTITION", R="PARTITION", a="AVAIL", l="TIMELIMIT", D="NODES", t="STATE", N="NODELIST", c="CPUS")
    rows = [] if "noheader" in opts else [render(fmt, header)]
    for i, partition in enumerate(cluster.partitions):  # the first is the default: "cpu*"
        if partition in opts.get("partition", partition).split(","):
            values = dict(P=partition + "*" * (i == 0), R=partition, a="up", l="infinite", D=1, t="idle", N=HOST)
            rows.append(render(fmt, values | dict(c=os.cpu_count())))
    print("\n".join(rows))


def scontrol(cluster: Cluster, args: list):
    _, words = parse(args, "o:oneliner M:clusters d:details Q:quiet", "oneliner details quiet")
    what = [word.lower() for word in words[:2]]
    if what == ["show", "config"]:
        config = dict(ClusterName=CLUSTER, MaxArraySize="1001", MinJobAge="300 sec", SLURM_VERSION="23.11.0")
        print("\n".join(f"{key:<23} = {value}" for key, value in config.items()))
    elif what in (["show", "partition"], ["show", "partitions"]):
        for i, partition in enumerate(cluster.partitions):
            if len(words) < 3 or partition == words[2]:
                print(f"PartitionName={partition}\n   Default={'YES' if i == 0 else 'NO'} State=UP MaxTime=UNLIMITED")
                print(f"   MaxNodes=UNLIMITED Nodes={HOST} TotalCPUs={os.cpu_count()} TotalNodes=1\n")
    elif what == ["show", "job"]:
        for job in cluster.jobs():
            if len(words) < 3 or job["JobID"] == words[2]:
                print(f"JobId={job['JobID']} JobName={job['JobName']}\n   JobState={job['State']}", end=" ")
                print(f"ExitCode={job['ExitCode']}\n   WorkDir={job['WorkDir']}\n   StdOut={job['StdOut']}\n")
    else:
        raise SlurmError(f"the stand-in SLURM answers `show config|partition|job` only, not {' '.join(words)!r}")


def accounts(cluster: Cluster, args: list):
    """sacctmgr (`-n -s list user <me> format=account%256`) and sshare (`-U --format Account%256 --noheader`)
    both answer with the accounts, one a line."""
    print("\n".join(cluster.accounts))


COMMANDS_RUN = dict(sbatch=sbatch, _run=run, squeue=squeue, sacct=sacct, scancel=scancel, srun=srun, sinfo=sinfo)
COMMANDS_RUN |= dict(scontrol=scontrol, sacctmgr=accounts, sshare=accounts)


def main(argv: list) -> int:
    folder, name, *args = argv
    cluster = Cluster(folder)
    if name != "_run":
        cluster.log(name, args)
    try:
        return COMMANDS_RUN[name](cluster, args) or 0
    except SlurmError as e:
        print(f"{name}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
