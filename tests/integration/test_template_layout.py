"""template.yaml reads by trigger: each trigger's function, role, log group and alarms sit together under one comment
heading that says what the group is and why; what every function would repeat is written once, in Globals. And the
check that a restructuring changes nothing CloudFormation receives (template_equivalence) sees a change, and only a
change.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from simulation.eventbridge import load_template
from tests.integration.template_equivalence import checkov_all_options, differences, template_differences
from tests.integration.transformed_template import TEMPLATE, Resolver, transformed

# A group's heading: a comment line of dashes ending in the group's title, at the indentation of a resource.
HEADING = re.compile(r"^  # -{20,} (?P<title>\S.*)$")
RESOURCE = re.compile(r"^  (?P<logical_id>[A-Za-z0-9]+):$")


def groups(text: str) -> dict[str, list[str]]:
    """The Resources section's groups, by heading title: the logical IDs under each heading, in order."""
    resources = text.split("\nResources:\n", 1)[1].split("\nOutputs:\n", 1)[0]
    found: dict[str, list[str]] = {}
    title = None
    for line in resources.splitlines():
        if heading := HEADING.match(line):
            title = heading["title"]
            assert title not in found, f"two groups are headed {title!r}"
            found[title] = []
        elif resource := RESOURCE.match(line):
            assert title is not None, f"{resource['logical_id']} comes before the first group's heading"
            found[title].append(resource["logical_id"])
    return found


def explanations(text: str) -> dict[str, list[str]]:
    """The comment lines right under each group's heading (its what and why)."""
    lines = text.splitlines()
    found: dict[str, list[str]] = {}
    for number, line in enumerate(lines):
        if heading := HEADING.match(line):
            comment = []
            for following in lines[number + 1 :]:
                if not following.startswith("  # "):
                    break
                comment.append(following[4:])
            found[heading["title"]] = comment
    return found


def _ref(node: Any) -> str | None:
    """The logical ID a !Ref or a !GetAtt X.Arn names, else None."""
    if isinstance(node, dict) and len(node) == 1:
        [(function, argument)] = node.items()
        if function == "Ref" and isinstance(argument, str):
            return argument
        if function == "Fn::GetAtt":
            return str(argument[0] if isinstance(argument, list) else argument.split(".")[0])
    return None


def belongings(template: dict[str, Any], function: str) -> set[str]:
    """What exists for one function only: its role (and the role's own policies), its log group, its alarms."""
    resources = template["Resources"]
    properties = resources[function]["Properties"]
    role = _ref(properties["Role"])
    owned = {function, str(role), str(_ref(properties["LoggingConfig"]["LogGroup"]))}
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::IAM::RolePolicy" and _ref(resource["Properties"]["RoleName"]) == role:
            owned.add(logical_id)
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            dimensions = resource["Properties"].get("Dimensions", [])
            if function in {_ref(d["Value"]) for d in dimensions if d["Name"] == "FunctionName"}:
                owned.add(logical_id)
    return owned


@pytest.fixture(scope="module")
def text() -> str:
    return TEMPLATE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def _functions(template: dict[str, Any]) -> list[str]:
    resources = template["Resources"]
    return [logical_id for logical_id, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]


def test_each_trigger_keeps_its_function_role_log_group_and_alarms_in_one_group_of_its_own(
    text: str, template: dict[str, Any]
) -> None:
    group_of = {logical_id: title for title, members in groups(text).items() for logical_id in members}
    functions = _functions(template)

    for function in functions:
        owned = belongings(template, function)
        assert len(owned) >= 3, (function, owned)  # at least the function, its role and its log group
        assert {logical_id: group_of[logical_id] for logical_id in owned} == dict.fromkeys(owned, group_of[function])
    # One trigger per group: a reader finds a trigger by its heading.
    assert len({group_of[function] for function in functions}) == len(functions)


def test_every_resource_sits_under_a_heading_that_says_what_and_why(text: str, template: dict[str, Any]) -> None:
    grouped = [logical_id for members in groups(text).values() for logical_id in members]
    comments = explanations(text)

    assert sorted(grouped) == sorted(template["Resources"])
    assert {title for title, comment in comments.items() if not comment} == set()


def test_globals_hold_what_every_function_would_repeat(template: dict[str, Any]) -> None:
    """Globals apply to every AWS::Serverless::Function: a property all of them share goes there, and none repeats
    a Globals value. A property only most of them share stays with each (Globals would give it to the rest)."""
    global_properties = template["Globals"]["Function"]
    functions = [template["Resources"][f]["Properties"] for f in _functions(template)]

    repeated_globals = {key for p in functions for key, value in p.items() if global_properties.get(key) == value}
    shared_by_all = {key for key, value in functions[0].items() if all(p.get(key) == value for p in functions[1:])}

    assert repeated_globals == set()
    assert shared_by_all == set()


def test_the_optional_resources_are_all_on_in_the_all_options_parameter_set(template: dict[str, Any]) -> None:
    """template_equivalence and `make checkov` read the same parameter set: every resource exists with it."""
    resolver = Resolver(template, checkov_all_options())
    conditions = {r["Condition"] for r in template["Resources"].values() if "Condition" in r}

    assert conditions and {name for name in conditions if not resolver.condition(name)} == set()


def _moved_last_group_first(text: str) -> str:
    """template.yaml with its last group of resources moved to the top of Resources (a pure reordering)."""
    head, resources = text.split("\nResources:\n", 1)
    resources, outputs = resources.split("\nOutputs:\n", 1)
    last = resources.rindex("\n  # ---")
    return f"{head}\nResources:\n{resources[last + 1 :]}\n{resources[:last]}\n\nOutputs:\n{outputs}"


def test_the_equivalence_check_ignores_a_reordering_and_sees_a_changed_property(text: str, tmp_path: Path) -> None:
    reordered, changed = tmp_path / "reordered.yaml", tmp_path / "changed.yaml"
    reordered.write_text(_moved_last_group_first(text), encoding="utf-8")
    changed.write_text(text.replace("    Handler: app.handler\n", "    Handler: app.main\n", 1), encoding="utf-8")
    assert reordered.read_text(encoding="utf-8") != text and changed.read_text(encoding="utf-8") != text

    assert template_differences(TEMPLATE, reordered) == []
    found = list(differences(transformed(TEMPLATE), transformed(changed)))
    assert found and all(".Properties.Handler: 'app.handler' -> 'app.main'" in line for line in found)
    assert len(found) == len(_functions(load_template(TEMPLATE)))
