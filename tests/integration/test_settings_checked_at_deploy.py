"""A setting the functions would refuse never reaches them: CloudFormation refuses what a parameter's own constraints
can say (AllowedPattern, AllowedValues, MinValue/MaxValue), and the custom resource SessionCleanup checks the rest
with the functions' own loaders (traffic_mirroring.deploy_check) before any function gets it.

Read from template.yaml as written and as CloudFormation receives it (SAM-expanded, resolved per parameter set).
"""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulation.eventbridge import load_template
from tests.integration.transformed_template import Resolver, transformed
from traffic_mirroring.deploy_check import LOADERS, PARAMETER_OF, merged_settings, settings_problem

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
CLEANUP_FUNCTION = "SessionCleanupFunction"
EVERY_OPTION = {"LifecycleHookMode": "true", "GuardDutyMinSeverity": "7", "AttachEventsFromCloudTrail": "true"}
PARAMETER_SETS = [
    {},
    EVERY_OPTION,
    {**EVERY_OPTION, "MirrorSelectors": "eks:cluster-name=prod", "ManagedBy": "traffic-mirroring"},
]
# What the functions get besides the settings a parameter gives (every deployed function, as the template sets them).
BASE = {"FILTER_ID": "tmf-0123456789abcdef0", "ACCOUNT_ID": "123456789012"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def deployed() -> dict[str, Any]:
    return transformed()


def _accepted_by_the_functions(variable: str, value: str) -> bool:
    return settings_problem({**BASE, variable: value}) is None


# -- SessionCleanup checks what the functions get, before they get it ------------------------------------------------
@pytest.mark.parametrize("parameters", PARAMETER_SETS, ids=["defaults", "every-option", "selectors-and-marker"])
def test_session_cleanup_checks_exactly_the_settings_every_function_gets(
    deployed: dict[str, Any], parameters: dict[str, str]
) -> None:
    resolver = Resolver(deployed, parameters)
    resources = deployed["Resources"]
    checked = merged_settings(resolver.resolve(copy.deepcopy(resources["SessionCleanup"]["Properties"]["Settings"])))
    assert checked is not None
    functions = [
        name
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Lambda::Function"
        and name != CLEANUP_FUNCTION
        and ("Condition" not in resource or resolver.condition(resource["Condition"]))
    ]
    assert len(functions) >= 4
    union: dict[str, str] = {}
    for name in functions:
        environment = resolver.resolve(copy.deepcopy(resources[name]["Properties"]["Environment"]["Variables"]))
        union.update({variable: str(value) for variable, value in environment.items()})
    # Every variable of every function, with the same value: a change of any setting is an Update of SessionCleanup
    assert checked == union
    # And what a default deployment gives them, the functions load
    assert settings_problem(checked) is None


def test_no_function_gets_a_setting_before_session_cleanup_answered(deployed: dict[str, Any]) -> None:
    # CloudFormation updates a resource's dependencies first: each function that loads settings depends on
    # SessionCleanup (DependsOn), whose answer must be SUCCESS for the update to go on; the cleanup function itself
    # is a dependency of SessionCleanup (its ServiceToken), and never loads the settings.
    resources = deployed["Resources"]
    for name, resource in resources.items():
        if resource["Type"] == "AWS::Lambda::Function" and name != CLEANUP_FUNCTION:
            assert "SessionCleanup" in _list(resource.get("DependsOn", [])), name
    assert resources["SessionCleanup"]["Properties"]["ServiceToken"] == {"Fn::GetAtt": [CLEANUP_FUNCTION, "Arn"]}


def test_the_check_runs_every_loader_the_functions_use() -> None:
    used: set[str] = set()
    sources = [*sorted((ROOT / "functions").glob("*/app.py"))]
    sources.append(ROOT / "layers" / "mirroring" / "python" / "traffic_mirroring" / "runtime.py")
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("traffic_mirroring"):
                used |= {alias.name for alias in node.names if alias.name.startswith("load_")}
    assert used == {"load_settings", "load_incident_settings", "load_lifecycle_settings"}  # a guard on the scan
    assert used <= {load.__name__ for load, _ in LOADERS}


def _parameters_in(node: Any, names: set[str]) -> set[str]:
    if isinstance(node, dict):
        found = {node["Ref"]} & names if "Ref" in node else set()
        return found | {p for value in node.values() for p in _parameters_in(value, names)}
    if isinstance(node, list):
        return {p for item in node for p in _parameters_in(item, names)}
    return set()


def test_a_refusal_names_the_parameter_behind_the_variable(template: dict[str, Any]) -> None:
    names = set(template["Parameters"])
    given: dict[str, str] = {}
    environments = [template["Globals"]["Function"]["Environment"]["Variables"]]
    environments += [
        resource["Properties"].get("Environment", {}).get("Variables", {})
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
    ]
    for environment in environments:
        for variable, value in environment.items():
            parameters = _parameters_in(value, names)
            if len(parameters) == 1 and not variable.startswith("POWERTOOLS_"):
                given[variable] = parameters.pop()
    assert given == dict(PARAMETER_OF)
    # e.g. the case: the answer CloudFormation shows names MirrorSelectors
    problem = settings_problem({**BASE, "MIRROR_SELECTORS": "prod-cluster"})
    assert problem is not None and problem.startswith("parameter MirrorSelectors: MIRROR_SELECTORS entry")


# -- what CloudFormation checks itself ---------------------------------------------------------------------------------
# Parameters the functions load whose value no pattern can judge better than its length.
FREE_TEXT = {"TargetPool": "any tag value of at most 256 characters (MaxLength): the loader checks nothing more"}


def test_every_parameter_the_functions_load_is_checked_by_cloudformation_too(template: dict[str, Any]) -> None:
    for name in sorted(set(PARAMETER_OF.values())):
        spec = template["Parameters"][name]
        numeric = spec["Type"] == "Number" and "MinValue" in spec and "MaxValue" in spec
        checked = "AllowedPattern" in spec or "AllowedValues" in spec or numeric
        assert checked or (name in FREE_TEXT and "MaxLength" in spec), name


def _deploys(spec: dict[str, Any], value: str) -> bool:
    """What CloudFormation accepts for a String parameter: the whole value matches AllowedPattern, within lengths."""
    if len(value) < spec.get("MinLength", 0) or len(value) > spec.get("MaxLength", 4096):
        return False
    return re.fullmatch(spec.get("AllowedPattern", ".*"), value, re.ASCII | re.DOTALL) is not None


# (parameter, variable, values CloudFormation and the functions both accept, values both refuse)
PATTERN_TABLES = [
    (
        "MirrorSelectors",
        "MIRROR_SELECTORS",
        [
            "",
            "eks:cluster-name=prod",
            "eks:cluster-name=prod,vpc-0abc,subnet-0def",
            "team=sec*",
            "karpenter.sh/nodepool=web*",
            "k=*",
            "a=b=c",
            " team = sec , vpc-0abc ",
            "x=1,,y=2,",
            "my key=my value",
            "vpc-",
        ],
        [
            "prod-cluster",
            "eks:cluster-name",
            "=prod",
            "team=",
            "team= ",
            "a=b*c",
            "a=* *",
            "vpc-0abc def",
            "Vpc-0abc",
            "eks:cluster-name=prod,prod-cluster",
        ],
    ),
    (
        "EligibilityAllow",
        "ELIGIBILITY_ALLOW",
        ["", "t3", "t3,m5.large", " m8g , c8g.large ", "m5.large,,", "a" * 64],
        ["t3 m5.large", "m5 .large", "a" * 65, "t3,m5 large"],
    ),
    (
        "EligibilityDeny",
        "ELIGIBILITY_DENY",
        ["", "t2", "t2,c6i.metal"],
        ["t2 c6i.metal"],
    ),
    ("MirrorTagKey", "MIRROR_TAG_KEY", ["mirror", "team:mirror", "Mirror Me", "a" * 128], ["a,b", "a\tb", "a\nb"]),
    ("MirrorTagValue", "MIRROR_TAG_VALUE", ["true", "yes please", "a" * 128], ["true,false", "a\rb", "a" * 129]),
]
# Values the functions would read stripped, which CloudFormation refuses: the tag rule and IAM use them as given.
STRIPPED = [
    ("MirrorTagKey", " mirror"),
    ("MirrorTagKey", "mirror\t"),
    ("MirrorTagValue", "true "),
]


@pytest.mark.parametrize(
    ("parameter", "variable", "good", "bad"), PATTERN_TABLES, ids=[table[0] for table in PATTERN_TABLES]
)
def test_the_pattern_agrees_with_the_functions(
    template: dict[str, Any], parameter: str, variable: str, good: list[str], bad: list[str]
) -> None:
    spec = template["Parameters"][parameter]
    assert _deploys(spec, str(spec["Default"]))
    assert [v for v in good if not (_deploys(spec, v) and _accepted_by_the_functions(variable, v))] == []
    assert [v for v in bad if _deploys(spec, v) or _accepted_by_the_functions(variable, v)] == []


@pytest.mark.parametrize(("parameter", "value"), STRIPPED)
def test_a_tag_key_or_value_with_a_space_at_either_end_is_refused(
    template: dict[str, Any], parameter: str, value: str
) -> None:
    assert not _deploys(template["Parameters"][parameter], value)


def test_selectors_the_functions_refuse_for_their_length_are_left_to_session_cleanup(
    template: dict[str, Any],
) -> None:
    # A pattern that counted characters per entry would be unreadable; the custom resource refuses these.
    spec = template["Parameters"]["MirrorSelectors"]
    for value in ("k" * 129 + "=v", "k=" + "v" * 257):
        assert _deploys(spec, value) and not _accepted_by_the_functions("MIRROR_SELECTORS", value)


# The characters the values above are made of, as a user types them (no control characters but tab).
TYPED = st.text(alphabet="ab=*, \t-:./vpcsubnet0", max_size=24)


@pytest.mark.parametrize(
    ("parameter", "variable"),
    [(t[0], t[1]) for t in PATTERN_TABLES],
    ids=[t[0] for t in PATTERN_TABLES],
)
def test_cloudformation_never_refuses_what_the_functions_accept(
    template: dict[str, Any], parameter: str, variable: str
) -> None:
    spec = template["Parameters"][parameter]

    @settings(max_examples=300, deadline=None)
    @given(TYPED)
    def holds(value: str) -> None:
        # A value the functions would strip is left out: the template also uses the tag key unstripped (the tag
        # rule's pattern, IAM), so CloudFormation refuses a space at either end. Blank means the default to the
        # functions; CloudFormation asks for a value (MinLength).
        if (
            _accepted_by_the_functions(variable, value)
            and value.strip() == value
            and (value or "MinLength" not in spec)
        ):
            assert _deploys(spec, value), value

    holds()


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("rate(10 minutes)", True),
        ("rate(1 hour)", True),
        ("cron(0/10 * * * ? *)", True),
        ("10 minutes", False),
        ("rate(10 minutes", False),
        ("every 10 minutes", False),
        ("rate()", False),
    ],
)
def test_the_schedule_is_a_schedule_expression(template: dict[str, Any], value: str, valid: bool) -> None:
    assert _deploys(template["Parameters"]["ReconcileSchedule"], value) == valid


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
