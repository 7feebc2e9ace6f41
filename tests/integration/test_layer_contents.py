"""What the Lambda layer ships: the modules the functions import, and nothing of the operator's commands.

The layer's own build (layers/mirroring/Makefile, which ``sam build`` runs) is run into a temporary directory, with
``PYTHON=true`` standing in for the pip install of the locked wheels (no network): what it copies of the package is
what it ships.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers/mirroring"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    artifacts = tmp_path_factory.mktemp("layer")
    subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(LAYER),
            "build-MirroringLayer",
            f"ARTIFACTS_DIR={artifacts}",
            "PYTHON=true",
        ],
        check=True,
        capture_output=True,
    )
    return artifacts / "python"


def _package_imports(path: Path) -> set[str]:
    """The modules of traffic_mirroring that ``path`` imports, wherever the import stands."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "traffic_mirroring":
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("traffic_mirroring."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("traffic_mirroring."))
    return found


def _imported_by_the_functions(package: Path) -> set[str]:
    """Every module of the package a function's handler reaches, directly or through another module."""
    todo = [name for app in sorted((ROOT / "functions").glob("*/*.py")) for name in _package_imports(app)]
    reached: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in reached and (package / f"{name}.py").is_file():
            reached.add(name)
            todo += _package_imports(package / f"{name}.py")
    return reached


def test_the_layer_ships_only_the_modules_the_functions_import(built: Path) -> None:
    shipped = {path.stem for path in (built / "traffic_mirroring").glob("*.py")} - {"__init__"}

    assert shipped, "the build copied no module"
    assert shipped == _imported_by_the_functions(built / "traffic_mirroring")


def test_the_layer_holds_no_command_line_module(built: Path) -> None:
    for path in sorted(built.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not {name for name in imported if name.split(".")[0] in ("argparse", "mirror_cli")}, path
    assert not (built / "mirror_cli").exists()
