"""The two packages keep to their layers: the domain (``traffic_mirroring``, the Lambda layer) never reaches the
operator's commands (``mirror_cli``), neither package has an import cycle, and no module imports one of a higher
layer than its own. Read from the source (every import, at the top of a module or inside a function), not by
importing anything.

``python -m tests.unit.test_package_layers`` prints every module with its layer and what it imports.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "traffic_mirroring": ROOT / "layers/mirroring/python/traffic_mirroring",
    "mirror_cli": ROOT / "cli/mirror_cli",
}

# Lowest first. A module imports only modules of its own layer or of a lower one (the commands' layers are all above
# the domain's). A new module goes into the layer of what it is, here, or this test fails.
LAYERS: Sequence[tuple[str, frozenset[str]]] = (
    # What Traffic Mirroring is: its rules, its facts and their arithmetic; no AWS client, no I/O.
    (
        "domain: model and rules",
        frozenset(
            {
                "traffic_mirroring.errors",
                "traffic_mirroring.settings_schema",
                "traffic_mirroring.aws_lists",
                "traffic_mirroring.preflight",
                "traffic_mirroring.eligibility",
                "traffic_mirroring.model",
                "traffic_mirroring.placement",
                "traffic_mirroring.coverage",
                "traffic_mirroring.config",
                "traffic_mirroring.session_options",
                "traffic_mirroring.planner",
                "traffic_mirroring.delivery",
                "traffic_mirroring.mirror_skips",
                "traffic_mirroring.events",
                "traffic_mirroring.client_token",
                "traffic_mirroring.run_report",
                "traffic_mirroring.triggers",
            }
        ),
    ),
    # Powertools' logger, tracer and metrics, and the run report they publish: below every use case, so the executor
    # and the use cases report through it and it imports none of them.
    ("domain: observability", frozenset({"traffic_mirroring.observability"})),
    ("domain: ports", frozenset({"traffic_mirroring.ports"})),
    ("domain: gateways", frozenset({"traffic_mirroring.ec2_gateway", "traffic_mirroring.metrics_gateway"})),
    (
        "domain: use cases",
        frozenset(
            {
                "traffic_mirroring.inventory",
                "traffic_mirroring.executor",
                "traffic_mirroring.reconcile",
                "traffic_mirroring.incident",
                "traffic_mirroring.lifecycle",
                "traffic_mirroring.cleanup",
                "traffic_mirroring.skip_check",
                "traffic_mirroring.deploy_check",
            }
        ),
    ),
    ("domain: wiring for the handlers", frozenset({"traffic_mirroring.runtime"})),
    ("commands: terminal text, AWS access", frozenset({"mirror_cli.table", "mirror_cli.aws"})),
    ("commands: settings, failures", frozenset({"mirror_cli.settings", "mirror_cli.failures"})),
    ("commands: one account's audits", frozenset({"mirror_cli.account", "mirror_cli.delivery"})),
    ("commands: an organization's audit", frozenset({"mirror_cli.organization"})),
    ("commands: report layout", frozenset({"mirror_cli.text"})),
    ("commands: command line", frozenset({"mirror_cli.flags"})),
    ("commands: entry points", frozenset({"mirror_cli.command", "mirror_cli.cleanup"})),
)
COMMAND_ONLY = ("argparse", "mirror_cli")  # nothing the Lambda functions load may import these


def module_name(path: Path) -> str:
    package = next(name for name, folder in PACKAGES.items() if path.parent == folder)
    return package if path.stem == "__init__" else f"{package}.{path.stem}"


@cache
def imports_of(path: Path) -> frozenset[str]:
    """Every module ``path`` imports, wherever the import stands (a lazy one inside a function counts)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # ``from package import module``: the module is what is imported
            if node.module in PACKAGES:
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return frozenset(found)


def modules() -> dict[str, Path]:
    return {module_name(path): path for folder in PACKAGES.values() for path in sorted(folder.glob("*.py"))}


def internal_imports(name: str, known: Mapping[str, Path]) -> set[str]:
    """The modules of the two packages that ``name`` imports (the package itself when only it is named)."""
    return {imported for imported in imports_of(known[name]) if imported in known and imported != name}


def layer_of(name: str) -> int:
    return next(index for index, (_, members) in enumerate(LAYERS) if name in members)


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Each strongly connected set of more than one module (Tarjan), as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph.get(node, ()):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def graph_of(known: Mapping[str, Path]) -> dict[str, set[str]]:
    return {name: internal_imports(name, known) for name in known}


def lambda_modules() -> Iterator[Path]:
    """What Lambda runs: the handlers and the whole domain package (the layer)."""
    yield from sorted((ROOT / "functions").glob("*/*.py"))
    yield from sorted(PACKAGES["traffic_mirroring"].glob("*.py"))


# -- the tests -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", list(lambda_modules()), ids=lambda path: str(path.relative_to(ROOT)))
def test_nothing_lambda_runs_imports_argparse_or_the_commands(path: Path) -> None:
    reached = {name for name in imports_of(path) if name.split(".")[0] in COMMAND_ONLY}
    assert not reached, f"{path.relative_to(ROOT)} imports {sorted(reached)}: the operator's commands only"


def test_every_module_has_exactly_one_layer() -> None:
    placed = [name for _, members in LAYERS for name in members]
    assert len(placed) == len(set(placed)), "a module is in two layers"
    packages = set(PACKAGES)
    assert set(modules()) - packages == set(placed), "put each new module in its layer (LAYERS), remove a gone one"


def test_no_module_imports_one_of_a_higher_layer() -> None:
    known = modules()
    upward = [
        f"{name} ({LAYERS[layer_of(name)][0]}) imports {imported} ({LAYERS[layer_of(imported)][0]})"
        for name in known
        if name not in PACKAGES
        for imported in sorted(internal_imports(name, known) - set(PACKAGES))
        if layer_of(imported) > layer_of(name)
    ]
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_import_cycle(package: str) -> None:
    known = {name: path for name, path in modules().items() if name.split(".")[0] == package}
    assert cycles(graph_of(known)) == []


def test_the_cycle_finder_finds_a_cycle_and_a_self_import() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}, "b": set()}) == [["a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


# -- the list of modules and their imports -----------------------------------------------------------------------
def listing() -> str:
    """Every module, layer by layer, with the modules of both packages it imports (markdown)."""
    known = modules()
    lines = ["| layer | module | imports (of the two packages) |", "| --- | --- | --- |"]
    for title, members in LAYERS:
        for name in sorted(members):
            package = name.split(".")[0]
            imported = sorted(internal_imports(name, known) - set(PACKAGES))
            short = ", ".join(item.removeprefix(f"{package}.") for item in imported)
            lines.append(f"| {title} | {name} | {short or '-'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(listing() + "\n")
