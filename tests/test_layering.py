"""Imports flow one way: a package of ``ssmrl`` may import only the layers below it, in the order core <- nets <-
acting / algorithm / world_model <- ppo / dreamer / diagnostics <- runners / cli <- benchmark (see ``LAYERS``);
``ssmrl.core`` imports nothing else from ``ssmrl``, the algorithms (ppo, dreamer) do not import each other, the run
layer imports no algorithm package, and ``ssmrl`` never imports ``envs`` (scripts join the two; README.md,
"Layout"). Checked statically on the source, so a lazy import inside a function is caught too."""

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


# Each layer may import only the layers listed before it; algorithms (ppo, dreamer) sit side by side, and the
# run layer (runners, cli) receives an algorithm as functions, so it imports no algorithm package.
LAYERS = [
    ["ssmrl.core"],
    ["ssmrl.nets"],
    ["ssmrl.acting", "ssmrl.host_acting", "ssmrl.algorithm", "ssmrl.world_model"],  # algorithm: make_train's Train
    ["ssmrl.ppo", "ssmrl.dreamer", "ssmrl.diagnostics"],
    ["ssmrl.runners", "ssmrl.cli"],
    ["ssmrl.benchmark"],  # applications of the algorithms and the run layer
]
ALGORITHMS = ["ssmrl.ppo", "ssmrl.dreamer"]
RUN_LAYER = ["ssmrl.runners", "ssmrl.cli"]


def _sources(module: str) -> dict[str, set[str]]:
    path = ROOT / module.replace(".", "/")
    if path.with_suffix(".py").exists():
        return {str(path.with_suffix(".py").relative_to(ROOT)): _imports(path.with_suffix(".py"))}
    return _package_imports(module.replace(".", "/")) if path.exists() else {}


def _hits(names: set[str], modules: list[str]) -> set[str]:
    return {n for n in names for m in modules if n == m or n.startswith(m + ".")}


def test_lower_layers_do_not_import_higher_ones():
    for i, layer in enumerate(LAYERS):
        higher = [m for upper in LAYERS[i + 1:] for m in upper]
        for module in layer:
            for path, names in _sources(module).items():
                bad = _hits(names, higher)
                assert not bad, f"{path} ({module}) imports higher layer(s) {sorted(bad)}"


def test_algorithms_do_not_import_each_other_and_the_run_layer_imports_none():
    for module in ALGORITHMS:
        others = [m for m in ALGORITHMS if m != module]
        for path, names in _sources(module).items():
            assert not _hits(names, others), f"{path} imports another algorithm"
    for module in RUN_LAYER:
        for path, names in _sources(module).items():
            assert not _hits(names, ALGORITHMS), f"{path} (run layer) imports an algorithm package"
