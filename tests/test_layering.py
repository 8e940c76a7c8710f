"""Imports flow one way (DESIGN section 1): core <- nets <- ppo/dreamer <- runners <- scripts; ssmrl never
imports envs. Checked statically on the source, so a lazy import inside a function is caught too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _package_imports(package: str) -> dict[str, set[str]]:
    return {str(p.relative_to(ROOT)): _imports(p) for p in (ROOT / package).rglob("*.py")}


def test_core_imports_nothing_else_from_ssmrl_or_envs():
    for path, names in _package_imports("ssmrl/core").items():
        bad = {n for n in names if (n.startswith("ssmrl.") and not n.startswith("ssmrl.core")) or n == "ssmrl"
               or n.split(".")[0] == "envs"}
        assert not bad, f"{path} imports {sorted(bad)}"


def test_ssmrl_never_imports_envs():
    for path, names in _package_imports("ssmrl").items():
        assert not {n for n in names if n.split(".")[0] == "envs"}, f"{path} imports envs"


def test_lower_layers_do_not_import_higher_ones():
    order = ["ssmrl.core", "ssmrl.nets", "ssmrl.ppo", "ssmrl.runners"]
    for i, package in enumerate(order):
        higher = order[i + 1:]
        for path, names in _package_imports(package.replace(".", "/")).items():
            bad = {n for n in names for h in higher if n == h or n.startswith(h + ".")}
            assert not bad, f"{path} ({package}) imports higher layer(s) {sorted(bad)}"
