"""The source files each DVC stage's jobs run, found from the code itself (dvc.yaml's code deps: dvc_yaml.py).

A stage runs Snakemake, which reads the Snakefile, `workflow/rules/common.smk` (with the package modules it
imports: the config's validation against the schema, whose defaults it fills in, and openvclip/plan/) and the stage's
rule files; their shell commands run openvclip subcommands. A subcommand runs the command line
(`openvclip/cli/`, every group's parsers), its `_cmd_*` handler (followed function by function in its group's
module) and the job modules that imports (`openvclip/<area>/jobs.py`), each with every import in it (module by
module: a module holds one concern).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Dict, Iterable, Set

PACKAGE = "openvclip"
# openvclip [--threads N] SUBCOMMAND; training starts as {params.launcher} (openvclip, or torchrun -m openvclip)
SUBCOMMAND = re.compile(r"(?:openvclip|\{params\.launcher\})(?: --threads \{[^}]*\})? ([a-z][a-z-]+)")
COMMON = "workflow/rules/common.smk"
SCHEMA = "workflow/schemas/config.schema.yaml"


class CodeDeps:
    """The code of a workflow folder ``root`` (its openvclip/, Snakefile and workflow/)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._trees: Dict[str, ast.Module] = {}

    def module_path(self, name: str) -> Path:
        base = self.root.joinpath(*name.split("."))
        return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")

    def _is_module(self, name: str) -> bool:
        base = self.root.joinpath(*name.split("."))
        return base.is_dir() or base.with_suffix(".py").is_file()

    def imported_modules(self, node: ast.AST, module: str) -> Set[str]:
        """The package's modules an AST node imports (``from .x import y`` counts ``.x.y`` when it is a module)."""
        is_package = self.module_path(module).name == "__init__.py"
        found = set()
        for item in ast.walk(node):
            if isinstance(item, ast.Import):
                found |= {a.name for a in item.names if a.name.split(".")[0] == PACKAGE}
            elif isinstance(item, ast.ImportFrom):
                if item.level:
                    parts = module.split(".")
                    parts = parts[: len(parts) - item.level + (1 if is_package else 0)]
                    base = ".".join(parts + ([item.module] if item.module else []))
                else:
                    base = item.module or ""
                if base.split(".")[0] != PACKAGE:
                    continue
                found.add(base)
                found |= {f"{base}.{a.name}" for a in item.names if self._is_module(f"{base}.{a.name}")}
        return found

    def _tree(self, module: str) -> ast.Module:
        if module not in self._trees:  # every stage's closure reads the same modules
            self._trees[module] = ast.parse(self.module_path(module).read_text())
        return self._trees[module]

    def module_closure(self, modules: Iterable[str], entry: Iterable[str] = ()) -> Set[str]:
        """Modules and everything they import, anywhere in their files, with the packages above them; the ``entry``
        modules (the command line: its functions were followed one by one) are kept but not followed."""
        todo, seen = list(modules), set(entry)
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            parts = name.split(".")
            todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # importing a.b.c runs a and a.b
            todo += sorted(self.imported_modules(self._tree(name), name))
        return seen

    def function_closure(self, module: str, names: Iterable[str]) -> Set[str]:
        """Modules imported by the functions ``names`` of ``module``, by the module's top level, and by the module's
        own functions they call (followed), without the rest of the module's functions."""
        tree = self._tree(module)
        functions = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        top = ast.Module(
            body=[n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.ClassDef))], type_ignores=[]
        )
        found = self.imported_modules(top, module)
        todo, seen = [n for n in names if n in functions], set()
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            found |= self.imported_modules(functions[name], module)
            todo += [n.id for n in ast.walk(functions[name]) if isinstance(n, ast.Name) and n.id in functions]
        return found

    def subcommand_files(self, subcommand: str) -> Set[str]:
        """Repository-relative paths of the source files ``openvclip <subcommand>`` runs: the command line (every
        group's parsers: the top-level imports of each `openvclip/cli/` module) and the subcommand's handler, followed
        function by function in its group's module, then whole modules from there."""
        from openvclip import cli

        parser = cli.build_parser()
        choices = next(a for a in parser._actions if a.choices and subcommand in a.choices).choices
        handler = choices[subcommand].get_default("func")
        groups = {group.__name__ for group in cli.GROUPS}
        entry = {PACKAGE, f"{PACKAGE}.cli", f"{PACKAGE}.__main__", *groups}
        modules = self.function_closure(handler.__module__, [handler.__name__])
        for group in groups:
            modules |= self.function_closure(group, [])
        return {
            str(self.module_path(m).relative_to(self.root)) for m in self.module_closure(modules - entry, entry) | entry
        }

    def rule_files_subcommands(self, rule_files: Iterable[str]) -> Set[str]:
        from openvclip.cli import build_parser

        known = next(a for a in build_parser()._actions if a.choices and "train" in a.choices).choices
        return {m for f in rule_files for m in SUBCOMMAND.findall((self.root / f).read_text()) if m in known}

    def workflow_files(self) -> Set[str]:
        """What every stage's Snakemake reads before any job: the Snakefile, common.smk, the schema and the package
        modules common.smk imports (followed through their imports)."""
        imported = set(re.findall(rf"^from ({PACKAGE}[\w.]*) import", (self.root / COMMON).read_text(), re.M))
        modules = self.module_closure(imported, {PACKAGE})
        return {"Snakefile", COMMON, SCHEMA} | {
            str(self.module_path(m).relative_to(self.root)) for m in modules | {PACKAGE}
        }

    def stage_code(self, rule_files: Iterable[str]) -> Set[str]:
        """What a stage whose jobs come from ``rule_files`` runs: Snakemake's files and every subcommand's sources."""
        rule_files = sorted(rule_files)
        files = self.workflow_files() | set(rule_files)
        for subcommand in sorted(self.rule_files_subcommands(rule_files)):
            files |= self.subcommand_files(subcommand)
        return files

    def as_dvc_deps(self, files: Set[str]) -> Dict[str, None]:
        """The files, with a package folder written as the folder when every source file in it is listed."""
        out = set(files)
        for folder in sorted(
            {str(Path(f).parent) for f in files if f.startswith(PACKAGE + "/")}, key=len, reverse=True
        ):
            inside = {str(p.relative_to(self.root)) for p in (self.root / folder).rglob("*.py")}
            inside |= {d for d in out if d.startswith(folder + "/") and (self.root / d).is_dir()}
            if folder != PACKAGE and inside and inside <= out | {d for d in out if (self.root / d).is_dir()}:
                out = {f for f in out if not f.startswith(folder + "/")} | {folder}
        return dict.fromkeys(sorted(out))
