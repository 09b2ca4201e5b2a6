"""Which module may import which: the rules read from the code itself, so a change that breaks one fails here."""

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def imported_modules(path: Path, package: str) -> set:
    """The absolute names of the modules ``path`` imports (relative imports resolved within ``package``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(filter(None, [package if node.level else None, node.module]))
            names.add(base)
            if node.module is None:  # `from . import test_x`: the alias names the module
                names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_test_files_share_helpers_through_conftest_and_shell_only():
    """A test file importing another runs that file's module-level code and ties the two together; shared
    helpers live in tests/conftest.py (in-process) and tests/shell.py (commands as typed)."""
    offenders = {
        path.name: sorted(n for n in imported_modules(path, "tests") if n.split(".")[-1].startswith("test_"))
        for path in sorted(TESTS.glob("*.py"))
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_import_reader_sees_relative_and_absolute_imports(tmp_path):
    """The reader the rule above rests on: both spellings of a test-to-test import are found."""
    source = tmp_path / "test_a.py"
    source.write_text("from .test_b import x\nfrom tests.test_c import y\nfrom . import test_d\nimport os\n")
    assert imported_modules(source, "tests") == {"tests.test_b", "tests.test_c", "tests", "tests.test_d", "os"}


# -- The package's layers: each module imports only from lower layers or from its own package ------------------

PACKAGE = TESTS.parent / "openvclip"
# Below everything: files, errors, the config, weights, devices, result rows, output paths, model specs. Then the
# data, the models (which know no data set), the stages (training, evaluation, the report: none imports another),
# and on top the entry points (the plan the workflow reads, inference for users, the command line, which nothing
# imports).
LAYERS = {
    **dict.fromkeys(
        ["__init__", "errors", "io", "config", "versions", "weights", "devices", "results", "paths", "model_specs"], 0
    ),
    "data": 1,
    "models": 2,
    **dict.fromkeys(["train", "eval", "report"], 3),
    **dict.fromkeys(["plan", "inference"], 4),
    "cli": 5,
    "__main__": 6,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_imports() -> dict:
    """{module: the openvclip modules it imports}, function-level imports included (a lazy import is a
    dependency all the same)."""
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                found.add(".".join(base + ([node.module] if node.module else [])))
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("openvclip"):
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("openvclip"))
        graph[name] = sorted(found - {name})
    return graph


def component(module: str) -> str:
    """The layer key of a module: its top-level part inside openvclip (`openvclip` itself is `__init__`)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def upward_imports(graph: dict) -> list:
    wrong = []
    for module, imported in graph.items():
        here = component(module)
        for target in imported:
            there = component(target)
            # Same layer: only the base's modules (files, errors, config) build on one another.
            if there != here and (LAYERS[there] > LAYERS[here] or LAYERS[there] == LAYERS[here] > 0):
                wrong.append(f"{module} imports {target} ({there}: layer {LAYERS[there]} >= {here}'s {LAYERS[here]})")
    return wrong


def test_every_package_module_has_a_layer():
    assert {component(m) for m in package_imports()} - set(LAYERS) == set()


def test_imports_point_down_the_layers():
    """models imports neither train nor data; eval neither train nor report; data no model; nothing the CLI."""
    assert upward_imports(package_imports()) == []


@pytest.mark.e2e
def test_the_graph_command_prints_every_module_and_passes():
    from tests.shell import shell  # here: the file also runs as a script, where `tests` is not importable

    out = shell(TESTS.parent, "python tests/test_imports.py")
    assert "openvclip.models.clip [2] -> " in out.stdout and "every import points down the layers" in out.stdout


def test_the_layer_check_catches_an_upward_import():
    graph = {"openvclip.models.clip": ["openvclip.train.loop"], "openvclip.eval.jobs": ["openvclip.report.tables"]}
    assert len(upward_imports(graph)) == 2
    assert len(upward_imports({"openvclip.data.clips": ["openvclip.models.temporal", "openvclip.cli"]})) == 2
    assert upward_imports({"openvclip.train.loop": ["openvclip.models.clip", "openvclip.train.swa"]}) == []


if __name__ == "__main__":  # `python tests/test_imports.py`: the package's import graph, one line per module
    for module, imported in package_imports().items():
        print(f"{module} [{LAYERS[component(module)]}] -> {', '.join(imported) or '-'}")
    problems = upward_imports(package_imports())
    print("\n".join(problems) if problems else "every import points down the layers")
    raise SystemExit(1 if problems else 0)
