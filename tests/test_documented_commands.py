"""Every command line we show a user is run by a test, exactly as written.

Commands are found where users read them: the shell blocks of the READMEs, `code spans` that start with a
command (in the READMEs, comments, error messages and help texts alike), and commands set off in comments of the
YAML files (`#   snakemake ...`). A test runs one by passing it, as a literal, to `tests/shell.py`'s `shell`
(`shell_dry_run` where the real run needs the paper's data, `shell_on_fake_slurm` for SLURM), or `.ci/run`
runs it. The few that no test can run here are listed below with the reason; a new documented command without
a test fails this file.
"""

import ast
import re

from tests.shell import ROOT

# Words that start a command line in our documentation.
COMMAND_WORDS = {
    "snakemake",
    "dvc",
    "openvclip",
    "pytest",
    "pip",
    "python",
    "python3",
    "bash",
    "torchrun",
    "export",
    "apt-get",
    "dnf",
    "conda",
    "brew",
}

# Documented commands that no test runs, and why.
NOT_RUN = {
    "pip install libarchive-c": 'installed by `pip install -e ".[test]"` (a dependency), which .ci/run runs',
    "apt-get install libarchive13": "system package managers, named by the error for a missing RAR reader "
    "(tests/test_archives.py); a test must not install system packages",
    "dnf install libarchive": "as above (Fedora)",
    "conda install -c conda-forge libarchive": "as above (conda)",
    "brew install libarchive": "as above (macOS)",
    "python bench/train_step.py": "a benchmark: minutes of measurement, run by hand; bench/README.md has its figures",
    "python bench/temporal_attention.py": "a benchmark, as above",
    "python bench/decode.py": "a benchmark, as above",
    "python bench/evaluate.py": "a benchmark, as above",
    "python bench/frame_store.py": "a benchmark, as above",
    "python bench/train_loader.py": "a benchmark, as above",
    "python bench/pretrain_step.py": "a benchmark, as above",
    "python bench/dvc_scale.py": "a benchmark, as above",
    "python bench/dag_scale.py": "a benchmark, as above",
    "python bench/data_projection.py": "a benchmark, as above",
    "bash bench/gpu_check.sh": "needs a CUDA GPU: run by hand on a GPU machine (bench/README.md)",
    'pytest -m "not e2e"': "a subset of `pytest`, which .ci/run runs whole (the marker: pyproject.toml)",
    "dvc exp run --queue -S 'config.yaml:train.lam=0.25,0.5,1.0' -S 'config.yaml:train.alpha_high=0.2,0.6,1.0'": (
        "the paper's 3 x 3 grid: nine paper-config trainings; tests/test_dvc.py queues the same form on the test "
        "config and runs it"
    ),
}

# Messages that print a command built from values: the test that runs the printed command.
TEMPLATED = {
    "snakemake {target} --configfile {configs[0]}": (
        "test_workflow.py::test_a_data_set_the_config_lacks_stops_at_once_and_prints_a_command_that_works"
    ),
}

TEXT_FILES = [
    "README.md",
    "bench/README.md",
    "Snakefile",
    "dvc.yaml",
    ".dvc/config",
    "config.yaml",
    "config/*.yaml",
    "profiles/**/*.yaml",
    "workflow/**/*.yaml",
    "workflow/**/*.smk",
    "workflow/**/*.rst",
    "openvclip/**/*.py",
    "bench/*.py",
    "bench/*.sh",
]


def normalise(command: str) -> str:
    return " ".join(command.replace("\\\n", " ").split())


def parts(command: str):
    """The commands of one line joined by `;` or `&&` (a line is run whole or part by part)."""
    return [part.strip() for part in re.split(r"\s*(?:;|&&)\s*", command) if part.strip()]


def is_command(text: str) -> bool:
    words = text.split()
    if not words:
        return False
    first = words[0]
    if re.match(r"^[A-Z][A-Z0-9_]*=", first):  # VARIABLE=value command
        return True
    # A lone `openvclip` or `snakemake` names the tool, not a command to run.
    return first in COMMAND_WORDS and (len(words) > 1 or first == "pytest")


def shell_blocks(text: str):
    """Lines of ```bash blocks, continuation lines joined, comments dropped."""
    for block in re.findall(r"^```(?:bash|sh|console)\n(.*?)^```", text, flags=re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line and not line.startswith("#"):
                yield line


def code_spans(text: str):
    """`single-backtick` spans (rst's ``double`` ones name code, not commands)."""
    for span in re.findall(r"(?<!`)`([^`\n]+)`(?!`)", text):
        if is_command(span):
            yield span


def comment_commands(text: str):
    """Commands set off in comments: `#   snakemake ...` (two or more spaces after the #)."""
    for match in re.finditer(r"^\s*#\s{2,}(\S.*)$", text, flags=re.M):
        line = re.sub(r"\s{2,}#.*$", "", match.group(1)).strip()
        if is_command(line):
            yield line


def documented_commands() -> dict:
    """command -> the files that show it."""
    found = {}
    for pattern in TEXT_FILES:
        for path in sorted(ROOT.glob(pattern)):
            text = path.read_text()
            commands = list(code_spans(text))
            if path.suffix == ".md":
                commands += shell_blocks(text)
            if path.suffix in (".yaml", ".smk", ".sh", "") or path.name == "config":
                commands += comment_commands(text)
            for command in commands:
                found.setdefault(normalise(command), set()).add(str(path.relative_to(ROOT)))
    return found


def commands_run_by_tests() -> dict:
    """command -> the tests that run it as written (literals passed to shell/shell_dry_run/killed_when), plus
    what .ci/run runs."""
    found = {}
    for path in sorted((ROOT / "tests").glob("*.py")):
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for call in ast.walk(function):
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Name)
                    and call.func.id in ("shell", "shell_dry_run", "shell_on_fake_slurm", "killed_when")
                    and len(call.args) >= 2
                    and isinstance(call.args[1], ast.Constant)
                    and isinstance(call.args[1].value, str)
                ):
                    for line in call.args[1].value.replace("\\\n", " ").splitlines():
                        for command in [line, *parts(line)]:
                            found.setdefault(normalise(command), set()).add(f"{path.name}::{function.name}")
            # Parametrized commands: string literals of a parametrize list feeding shell(..., command).
            for decorator in function.decorator_list:
                if isinstance(decorator, ast.Call) and getattr(decorator.func, "attr", "") == "parametrize":
                    for node in ast.walk(decorator):
                        if isinstance(node, ast.Constant) and isinstance(node.value, str) and is_command(node.value):
                            found.setdefault(normalise(node.value), set()).add(f"{path.name}::{function.name}")
    for line in (ROOT / ".ci" / "run").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            found.setdefault(normalise(line), set()).add(".ci/run")
    return found


def test_the_scan_finds_the_commands_users_read():
    documented = documented_commands()
    # One of each kind of place: a README shell block, a README code span, a YAML comment, dvc.yaml, a message.
    assert "snakemake --cores 8 all" in documented
    assert "snakemake --report report.html" in documented
    assert "snakemake results/zeroshot_hmdb.csv --configfile config/paper_vitb16.yaml" in documented
    assert "snakemake --cores 1 --touch all" in documented and "dvc repro" in documented
    assert "apt-get install libarchive13" in documented
    assert "snakemake {target} --configfile {configs[0]}" in documented
    assert not any(c.startswith("openvclip.") or c == "openvclip" for c in documented)


def test_every_documented_command_is_run_by_a_test_as_written():
    documented = documented_commands()
    run = commands_run_by_tests()
    missing = {
        command: sorted(where)
        for command, where in documented.items()
        if command not in run
        and not all(part in run for part in parts(command))
        and command not in NOT_RUN
        and command not in TEMPLATED
    }
    assert not missing, (
        "documented commands no test runs as written (run them with tests/shell.py's shell, "
        f"or fix or remove them): {missing}"
    )
    # The exemptions and templates name commands that are still documented (no stale entries).
    assert set(NOT_RUN) <= set(documented) and set(TEMPLATED) <= set(documented)


def test_templated_messages_name_tests_that_exist():
    for where in TEMPLATED.values():
        file, name = where.split("::")
        assert f"def {name}(" in (ROOT / "tests" / file).read_text(), where


if __name__ == "__main__":  # python -m tests.test_documented_commands: each documented command and what runs it
    run = commands_run_by_tests()
    for command, where in sorted(documented_commands().items()):
        by = sorted(run.get(command) or {t for part in parts(command) for t in run.get(part, ())}) or [
            f"not run: {NOT_RUN.get(command) or 'printed command run by ' + TEMPLATED.get(command, '?')}"
        ]
        print(f"- `{command}` ({', '.join(sorted(where))}): {'; '.join(by)}")
