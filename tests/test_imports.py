"""Which module may import which: the rules read from the code itself, so a change that breaks one fails here."""

import ast
from pathlib import Path

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
