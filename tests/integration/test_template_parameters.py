"""template.yaml's parameters read the same way in the console, in `make deploy-guided` and in README "Every setting":
every parameter in one group of AWS::CloudFormation::Interface, labelled, with a one-line Description that names its
default; the Parameters mapping in the groups' order; the README's tables with the same groups, parameters, order and
defaults. A parameter added to the template without its group, label, description or README row fails here."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from simulation.eventbridge import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]

# CloudFormation accepts a parameter Description of up to 4000 characters
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html), and the console
# prints it whole under the parameter's field. 300 characters, about three lines of that form, keep 38 parameters
# readable as a list and leave room for what a parameter does, its values and its default; the README's rows and the
# docs hold the rest.
DESCRIPTION_CAP = 300

# Parameters removed from the template, and what replaces each (README, "Parameters removed").
REMOVED = {"ForceDeletes": "MaxDeletePercent", "AcceptUnjudgedTargets": "TrustedTargets"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def groups(template: dict[str, Any]) -> list[tuple[str, list[str]]]:
    interface = template["Metadata"]["AWS::CloudFormation::Interface"]
    return [(group["Label"]["default"], list(group["Parameters"])) for group in interface["ParameterGroups"]]


def shown(default: Any) -> str:
    return "empty" if default == "" else str(default)


def test_every_parameter_is_in_exactly_one_group(template: dict[str, Any]) -> None:
    grouped = Counter(name for _, names in groups(template) for name in names)
    assert sorted(name for name in template["Parameters"] if name not in grouped) == []  # every parameter grouped
    assert sorted(name for name, count in grouped.items() if count > 1) == []  # once
    assert sorted(set(grouped) - set(template["Parameters"])) == []  # and only parameters of the template
    labels = [label for label, _ in groups(template)]
    assert all(label.strip() for label in labels) and len(set(labels)) == len(labels)


def test_essentials_first(template: dict[str, Any]) -> None:
    # The two answers `make deploy` takes by name (TARGET_IDS, ALARM_EMAIL; tests/integration/test_deploy_command.py)
    assert groups(template)[0] == ("Essentials", ["TargetIds", "AlarmEmail"])


def test_every_parameter_has_a_label_that_names_it(template: dict[str, Any]) -> None:
    labels = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterLabels"]
    assert list(labels) == list(template["Parameters"])  # one each, in the same order, no stray one
    # The console shows the label instead of the logical ID, which the docs use: the label names it
    assert [name for name, label in labels.items() if not label["default"].endswith(f"({name})")] == []


def test_the_guided_deploy_asks_in_the_order_of_the_groups(template: dict[str, Any]) -> None:
    # Only the console reads AWS::CloudFormation::Interface
    # (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-cloudformation-interface.html); `sam deploy
    # --guided` asks for the parameters in the order SAM CLI's get_template_parameters returns them (GuidedContext)
    from samcli.commands._utils.template import get_template_parameters

    asked = list(get_template_parameters(str(TEMPLATE)))
    assert asked == [name for _, names in groups(template) for name in names]


def test_every_description_is_one_line_that_names_its_default(template: dict[str, Any]) -> None:
    problems = []
    for name, spec in template["Parameters"].items():
        description = spec.get("Description", "")
        if not description.strip():
            problems.append(f"{name}: no description")
        elif "\n" in description or len(description) > DESCRIPTION_CAP:
            problems.append(f"{name}: {len(description)} characters, more than one line of at most {DESCRIPTION_CAP}")
        elif f"Default: {shown(spec['Default'])}" not in description:
            problems.append(f"{name}: does not say 'Default: {shown(spec['Default'])}'")
    assert problems == []


def readme_tables() -> list[tuple[str, list[tuple[str, str]]]]:
    """README "Every setting": each group's label and its rows (parameter, default cell), in order."""
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- parameter tables:")
    end = text.index("<!-- end of the parameter tables -->", start)
    tables: list[tuple[str, list[tuple[str, str]]]] = []
    for line in text[start:end].splitlines()[1:]:
        label = re.match(r"^\*\*(?P<label>[^*]+)\*\*", line)
        row = re.match(r"^\| `(?P<name>[A-Za-z0-9]+)` \| (?P<default>[^|]*?) \|", line)
        if label:
            tables.append((label.group("label"), []))
        elif row:
            assert tables, f"a row before the first group: {line}"
            tables[-1][1].append((row.group("name"), row.group("default")))
        else:
            assert not line.startswith("| `"), f"a row this test cannot read: {line}"
    return tables


def test_the_readme_tables_list_the_same_groups_parameters_and_defaults(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    expected = [
        (
            label,
            [
                (name, "empty" if parameters[name]["Default"] == "" else f"`{parameters[name]['Default']}`")
                for name in names
            ],
        )
        for label, names in groups(template)
    ]
    assert readme_tables() == expected


def test_a_removed_parameter_is_gone_and_named_only_to_say_what_it_became(template: dict[str, Any]) -> None:
    assert sorted(set(REMOVED) & set(template["Parameters"])) == []
    assert all(replacement in template["Parameters"] for replacement in REMOVED.values())
    note = README.read_text(encoding="utf-8").split("**Parameters removed**", 1)[1].split("\n\n", 1)[0]
    assert [name for name in REMOVED if f"`{name}`" not in note] == []
    # A runbook that still says `ForceDeletes=true` would send a value SAM CLI ignores: a removed parameter is named
    # only to say what it became
    stale = [
        f"{path.relative_to(ROOT)}: {sentence.strip()[:150]}"
        for path in [*DOCS, TEMPLATE]
        for sentence in re.split(r"(?<=[.!?])\s+", path.read_text(encoding="utf-8"))
        if any(re.search(rf"\b{name}\b", sentence) for name in REMOVED)
        and not re.search(r"formerly|was called|renamed|removed", sentence, re.IGNORECASE)
    ]
    assert stale == []
