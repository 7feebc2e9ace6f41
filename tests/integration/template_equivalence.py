"""Does a change of template.yaml change what CloudFormation receives? For a restructuring (regrouping resources,
moving a property into Globals) the answer must be no.

    python -m tests.integration.template_equivalence REVISION

compares template.yaml at a git REVISION with the working tree's, both expanded by the SAM translator
(transformed_template), as data: every section (resources, their properties, conditions, outputs, ...), order of keys
aside. Twice: with the parameters' defaults, and with every optional resource on (the parameter set of `make checkov`,
read from the Makefile). It prints each difference and exits 1 if there is one.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tests.integration.transformed_template import ROOT, TEMPLATE, transformed


def checkov_all_options(makefile: Path = ROOT / "Makefile") -> dict[str, str]:
    """The parameters `make checkov` sets to turn every optional resource on (its all-options.json command)."""
    text = makefile.read_text(encoding="utf-8").replace("\\\n", " ")
    [command] = [line for line in text.splitlines() if "all-options.json" in line and "transformed_template" in line]
    return dict(token.split("=", 1) for token in command.split() if re.fullmatch(r"[A-Z]\w*=\S*", token))


def parameter_sets() -> dict[str, dict[str, str]]:
    return {"defaults": {}, "all options": checkov_all_options()}


def differences(old: Any, new: Any, path: str = "") -> Iterator[str]:
    """Where two expanded templates differ: mappings by key (their order aside), lists and values as they are."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in new:
                yield f"{where}: removed"
            elif key not in old:
                yield f"{where}: added"
            else:
                yield from differences(old[key], new[key], where)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (before, after) in enumerate(zip(old, new, strict=True)):
            yield from differences(before, after, f"{path}[{index}]")
    elif old != new:
        yield f"{path}: {old!r} -> {new!r}"


def template_differences(old_template: Path, new_template: Path) -> list[str]:
    """Every difference between what CloudFormation receives from the two templates, under each parameter set."""
    found: list[str] = []
    for name, defaults in parameter_sets().items():
        old = transformed(old_template, defaults=defaults)
        new = transformed(new_template, defaults=defaults)
        found.extend(f"[{name}] {difference}" for difference in differences(old, new))
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.integration.template_equivalence REVISION", file=sys.stderr)
        return 2
    revision = argv[0]
    text = subprocess.run(
        ["git", "show", f"{revision}:template.yaml"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    with tempfile.TemporaryDirectory() as directory:
        old_template = Path(directory) / "template.yaml"
        old_template.write_text(text, encoding="utf-8")
        found = template_differences(old_template, TEMPLATE)
    for difference in found:
        print(difference)
    sets = " and ".join(parameter_sets())
    print(f"{len(found)} difference(s) from {revision}:template.yaml in what CloudFormation receives ({sets})")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
