"""``make mutation``: mutation testing of the rules (planner, placement, eligibility, executor) with mutmut 3.

mutmut 3 maps a mutant to the module the tests import by its file path, and knows only ``./`` and ``src/`` as source
roots; the package lives in layers/mirroring/python. So this copies the package to ``build/mutation/src`` and the
unit tests beside it, with a pyproject.toml of its own (the mutmut and pytest settings below), and runs mutmut there:
nothing is written in the work tree outside build/ (which git, ruff and mypy ignore). Only the four modules are
mutated; the tests are tests/unit. It prints killed / survived / score per module and lists the survivors
(``--diffs`` shows each one's change). Not part of ``make test``: about 5 minutes on 2 cores.

    python -m bench.mutation [--max-children N] [--diffs] [--min-score PERCENT] [--modules MODULE ...]

``--modules executor`` mutates that module alone (about a minute), to see its survivors while writing its tests.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "layers" / "mirroring" / "python" / "traffic_mirroring"
SCRATCH = ROOT / "build" / "mutation"
MODULES = ("planner", "placement", "eligibility", "executor")
MUTMUT = Path(sys.executable).with_name("mutmut")

PYPROJECT = """\
[tool.mutmut]
source_paths = ["src/traffic_mirroring"]
only_mutate = [{only}]
pytest_add_cli_args_test_selection = ["tests/unit"]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "no:xdist", "--ignore=tests/unit/test_package_layers.py"]
use_git_change_detection = false
also_copy = ["README.md"]  # into mutants/, where the tests run: the coverage test reads the README's definition

[tool.pytest.ini_options]
# The copy first (its tests, the mutated package), then the work tree for what unit tests import besides
# (functions/, simulation/).
pythonpath = [".", "{root}"]
testpaths = ["tests"]
addopts = "-q"
"""

# mutmut 3.7 (the last 3.x that accepts aws-sam-cli's click==8.1.8; 3.8 wants click>=8.4.2) reads ``item._nodeid``,
# which pytest 9 no longer has. Added to the copied conftest only.
PYTEST9_SHIM = """

def pytest_collection_modifyitems(items):  # mutmut 3.7 on pytest 9 (bench/mutation.py)
    for item in items:
        if not hasattr(item, "_nodeid"):
            item._nodeid = item.nodeid
"""

# mutmut's exit codes per mutant (mutmut.__main__.status_by_exit_code): a test failed, or the run timed out.
KILLED = {1: "killed", 3: "killed", -24: "timeout", 24: "timeout", 36: "timeout", 152: "timeout", 255: "timeout"}
SURVIVED = {0: "survived"}


def prepare(modules: tuple[str, ...] = MODULES) -> None:
    shutil.rmtree(SCRATCH, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(PACKAGE, SCRATCH / "src" / "traffic_mirroring", ignore=ignore)
    (SCRATCH / "tests").mkdir(parents=True)
    for name in ("__init__.py", "conftest.py", "builders.py"):  # builders.py: what the unit tests build from
        shutil.copy2(ROOT / "tests" / name, SCRATCH / "tests" / name)
    shutil.copytree(ROOT / "tests" / "unit", SCRATCH / "tests" / "unit", ignore=ignore)
    # The coverage test checks the README's definition; the package-layers test reads the work tree's packages (not
    # the copy's), so it is left out: it judges imports, not the mutated rules.
    shutil.copy2(ROOT / "README.md", SCRATCH / "README.md")
    with (SCRATCH / "tests" / "conftest.py").open("a") as conftest:
        conftest.write(PYTEST9_SHIM)
    only = ", ".join(f'"src/traffic_mirroring/{module}.py"' for module in modules)
    (SCRATCH / "pyproject.toml").write_text(PYPROJECT.format(only=only, root=ROOT.as_posix()))


def run_mutmut(max_children: int) -> None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    # mutmut puts mutants/src first on sys.path, ahead of the editable install of the original package.
    command = [str(MUTMUT), "run", "--max-children", str(max_children)]
    completed = subprocess.run(command, cwd=SCRATCH, env=env, stdout=subprocess.DEVNULL, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"mutmut run failed with exit code {completed.returncode} (run it in {SCRATCH} to see why)")


def results(modules: tuple[str, ...] = MODULES) -> dict[str, dict[str, int | None]]:
    """Module → mutant name → exit code, from the .meta files mutmut writes beside each mutated module."""
    found: dict[str, dict[str, int | None]] = {}
    for module in modules:
        meta = SCRATCH / "mutants" / "src" / "traffic_mirroring" / f"{module}.py.meta"
        found[module] = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
    return found


def status(exit_code: int | None) -> str:
    if exit_code in KILLED:
        return "killed"
    if exit_code in SURVIVED:
        return "survived"
    return {None: "not checked", 5: "no tests", 33: "no tests", 34: "skipped"}.get(exit_code, "suspicious")


def report(found: dict[str, dict[str, int | None]], diffs: bool) -> float:
    total: Counter[str] = Counter()
    print(f"{'module':<12} {'killed':>7} {'survived':>9} {'no tests':>9} {'other':>6} {'score':>7}")
    for module, codes in found.items():
        counts = Counter(status(code) for code in codes.values())
        total.update(counts)
        print(_line(module, counts))
    print(_line("total", total))
    survivors = sorted(name for codes in found.values() for name, code in codes.items() if status(code) != "killed")
    if survivors:
        print(f"\nnot killed ({len(survivors)}):")
    for name in survivors:
        print(" ", name)
        if diffs:
            shown = subprocess.run(
                [str(MUTMUT), "show", name], cwd=SCRATCH, capture_output=True, text=True, check=False
            ).stdout
            print("    " + shown.strip().replace("\n", "\n    "))
    return _score(total)


def _score(counts: Counter[str]) -> float:
    checked = sum(counts.values())
    return 100.0 * counts["killed"] / checked if checked else 0.0


def _line(name: str, counts: Counter[str]) -> str:
    other = sum(counts.values()) - counts["killed"] - counts["survived"] - counts["no tests"]
    return (
        f"{name:<12} {counts['killed']:>7} {counts['survived']:>9} {counts['no tests']:>9} {other:>6} "
        f"{_score(counts):>6.1f}%"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--diffs", action="store_true", help="show the change of every mutant not killed")
    parser.add_argument("--min-score", type=float, default=0.0, help="exit 1 below this score (percent)")
    parser.add_argument("--modules", nargs="+", choices=MODULES, default=list(MODULES), help="mutate only these")
    args = parser.parse_args()
    started = time.monotonic()
    modules = tuple(args.modules)
    prepare(modules)
    run_mutmut(args.max_children)
    score = report(results(modules), args.diffs)
    print(f"\nmutation score {score:.1f}% in {time.monotonic() - started:.0f} s (mutants in {SCRATCH / 'mutants'})")
    if score < args.min_score:
        raise SystemExit(f"mutation score {score:.1f}% is below {args.min_score:.1f}%")


if __name__ == "__main__":
    main()
