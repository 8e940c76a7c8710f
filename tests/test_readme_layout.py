"""README.md's Layout section names every package of the tree, and names no package that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _layout() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Layout\n", 1)[1]
    return section.split("```", 2)[1]


def test_layout_names_every_package_and_only_existing_ones():
    named = {m.group(1).rstrip("/") for m in re.finditer(r"^((?:ssmrl|envs)/[a-z_]+/)", _layout(), re.MULTILINE)}
    packages = {str(p.parent.relative_to(ROOT)) for top in ("ssmrl", "envs")
                for p in (ROOT / top).glob("*/__init__.py")}
    assert named == packages, f"README Layout names {sorted(named - packages)} that are not packages and leaves out " \
                              f"{sorted(packages - named)}"


def test_layout_names_every_script_and_top_level_module():
    layout = _layout()
    for path in [*(ROOT / "scripts").glob("*.py"), *(ROOT / "ssmrl").glob("*.py")]:
        if path.name != "__init__.py":
            assert path.name in layout, f"README Layout leaves out {path.relative_to(ROOT)}"
