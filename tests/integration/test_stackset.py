"""The same template deploys unchanged to every account and Region of an organization, as a CloudFormation StackSet
with service-managed permissions (docs/organization.md).

What a StackSet adds to the rules of one stack, each checked by a function that lists what breaks it:
- one parameter set for every account: each parameter has a default, and none is of an AWS-specific type (those are
  checked against the resources of each account);
- many stacks of one template in one account, in several Regions, beside other stacks: an explicit resource name
  that is unique per account and Region includes the stack name, one unique per account (IAM, CloudWatch dashboards,
  S3 buckets) includes the Region; each stays within its limit with the longest stack name (128 characters) and
  Region name; an export name includes the stack name;
- one session marker in every account: a StackSet names each account's stack differently, and with ManagedBy set
  every use of the marker (the functions' MANAGED_BY, the filter's tag, SessionCleanup, the IAM conditions) is that
  value in every stack, so one mirror-audit reads them all; with ManagedBy empty, each stack's own name;
- no transform (the AWS::Serverless one included) and no nested stack in what the StackSet receives: `make
  stackset-template` expands the template `sam package` wrote, and points each function's code at a bucket of the
  stack's own Region.

Each check is also run on a deliberately broken copy, so a check that cannot fail fails here.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from simulation.eventbridge import load_template
from tests.integration.test_template import marker_uses
from tests.integration.transformed_template import Resolver

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

STACK_NAME_MAX = 128  # CloudFormation's limit; a StackSet names its stacks StackSet-<stack set name>-<UUID>
LONGEST_REGION = "us-isof-south-1"  # 15 characters
PSEUDO_MAX = {"AWS::StackName": STACK_NAME_MAX, "AWS::Region": len(LONGEST_REGION), "AWS::AccountId": 12}
ARTIFACT_PREFIX = "org-mirroring-artifacts"
HOME_REGION = "ap-southeast-4"  # the Region `make stackset-template` runs in: it must not end up in the template

# Explicit physical names: (resource type, property) -> the longest name AWS accepts. IAM names, CloudWatch
# dashboards and S3 buckets are unique across the Regions of an account; the others per account and Region.
PHYSICAL_NAMES = {
    ("AWS::IAM::Role", "RoleName"): 64,
    ("AWS::IAM::ManagedPolicy", "ManagedPolicyName"): 128,
    ("AWS::IAM::InstanceProfile", "InstanceProfileName"): 128,
    ("AWS::IAM::Group", "GroupName"): 128,
    ("AWS::IAM::User", "UserName"): 64,
    ("AWS::Lambda::Function", "FunctionName"): 64,
    ("AWS::Serverless::Function", "FunctionName"): 64,
    ("AWS::Lambda::LayerVersion", "LayerName"): 140,
    ("AWS::Serverless::LayerVersion", "LayerName"): 140,
    ("AWS::SNS::Topic", "TopicName"): 256,
    ("AWS::SQS::Queue", "QueueName"): 80,
    ("AWS::KMS::Alias", "AliasName"): 256,
    ("AWS::Logs::LogGroup", "LogGroupName"): 512,
    ("AWS::CloudWatch::Alarm", "AlarmName"): 255,
    ("AWS::CloudWatch::Dashboard", "DashboardName"): 255,
    ("AWS::Events::Rule", "Name"): 64,
    ("AWS::Events::EventBus", "Name"): 256,
    ("AWS::Scheduler::Schedule", "Name"): 64,
    ("AWS::S3::Bucket", "BucketName"): 63,
    ("AWS::DynamoDB::Table", "TableName"): 255,
    ("AWS::StepFunctions::StateMachine", "StateMachineName"): 80,
    ("AWS::SecretsManager::Secret", "Name"): 512,
}
ACCOUNT_WIDE = {"AWS::IAM::Role", "AWS::IAM::ManagedPolicy", "AWS::IAM::InstanceProfile", "AWS::IAM::Group"}
ACCOUNT_WIDE |= {"AWS::IAM::User", "AWS::CloudWatch::Dashboard", "AWS::S3::Bucket"}
# Properties named like a name that are not one: a reference to another resource, a metric, a display text.
NOT_PHYSICAL_NAMES = {
    ("AWS::CloudWatch::Alarm", "MetricName"),
    ("AWS::Lambda::EventInvokeConfig", "FunctionName"),
    ("AWS::Lambda::Permission", "FunctionName"),
    ("AWS::SNS::Topic", "DisplayName"),
    ("AWS::IAM::RolePolicy", "RoleName"),  # the role it is attached to
    ("AWS::IAM::RolePolicy", "PolicyName"),  # an inline policy's name: unique within its role only
}
# What a StackSet's default (service-managed) execution role cannot deploy: nested stacks.
NESTED_STACKS = {"AWS::CloudFormation::Stack", "AWS::Serverless::Application"}
PLAIN_PARAMETER_TYPES = {"String", "Number", "CommaDelimitedList", "List<Number>"}
TEMPLATE_URL_MAX = 1_000_000  # bytes, CreateStackSet TemplateURL (TemplateBody takes 51,200 only)
# Two accounts' stacks of the StackSet traffic-mirroring, and the ManagedBy the StackSet gives them both.
STACKSET_STACKS = (
    "StackSet-traffic-mirroring-6d4f4e2a-1111-4a4a-8b8b-0123456789ab",
    "StackSet-traffic-mirroring-0b9c3d5e-2222-4c4c-9d9d-ba9876543210",
)
STACKSET_MARKER = "traffic-mirroring"

Problems = list[str]


# -- the checks ------------------------------------------------------------------------------------------------------
def explicit_names(template: dict[str, Any]) -> Iterator[tuple[str, str, Any, int]]:
    """(logical ID, property, value, limit) of every explicit physical name."""
    for logical_id, resource in template["Resources"].items():
        for prop, value in (resource.get("Properties") or {}).items():
            if (resource["Type"], prop) in PHYSICAL_NAMES:
                yield logical_id, prop, value, PHYSICAL_NAMES[resource["Type"], prop]


def unclassified_names(template: dict[str, Any]) -> Problems:
    """Properties named like a name that neither table above knows: each must be classified, or a new physical name
    would escape the checks."""
    return [
        f"{logical_id}.{prop} ({resource['Type']}): a physical name or not?"
        for logical_id, resource in template["Resources"].items()
        for prop in resource.get("Properties") or {}
        if prop.endswith("Name") and (resource["Type"], prop) not in PHYSICAL_NAMES.keys() | NOT_PHYSICAL_NAMES
    ]


def _mentions(value: Any, pseudo: str) -> bool:
    text = json.dumps(value)
    return f'"{pseudo}"' in text or "${" + pseudo + "}" in text


def name_problems(template: dict[str, Any]) -> Problems:
    problems = []
    for logical_id, prop, value, _ in explicit_names(template):
        per_stack, per_region = _mentions(value, "AWS::StackName"), _mentions(value, "AWS::Region")
        account_wide = template["Resources"][logical_id]["Type"] in ACCOUNT_WIDE
        if not (per_stack or per_region):
            problems.append(f"{logical_id}.{prop} is the same in every stack: include the stack name")
        elif account_wide and not per_region:
            problems.append(f"{logical_id}.{prop} is unique per account: include the Region")
        elif not account_wide and not per_stack:
            problems.append(f"{logical_id}.{prop} is unique per account and Region: include the stack name")
    return problems


def _longest(value: Any, parameters: dict[str, Any]) -> int:
    """The longest text the value can resolve to, with the longest stack name and Region and each parameter at its
    MaxLength. Raises ValueError when it cannot say."""

    def longest_reference(name: str) -> int:
        if name in PSEUDO_MAX:
            return PSEUDO_MAX[name]
        if "MaxLength" not in parameters.get(name, {}):
            raise ValueError(f"no MaxLength for {name}")
        return int(parameters[name]["MaxLength"])

    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict) and list(value) == ["Ref"]:
        return longest_reference(value["Ref"])
    if isinstance(value, dict) and list(value) == ["Fn::Sub"] and isinstance(value["Fn::Sub"], str):
        text = value["Fn::Sub"]
        references = re.findall(r"\$\{([^}!]+)\}", text)
        return len(re.sub(r"\$\{[^}!]+\}", "", text)) + sum(longest_reference(r) for r in references)
    if isinstance(value, dict) and list(value) == ["Fn::Join"]:
        separator, items = value["Fn::Join"]
        return len(separator) * (len(items) - 1) + sum(_longest(item, parameters) for item in items)
    raise ValueError(f"cannot bound {value!r}")


def length_problems(template: dict[str, Any]) -> Problems:
    problems = []
    for logical_id, prop, value, limit in explicit_names(template):
        try:
            longest = _longest(value, template.get("Parameters", {}))
        except ValueError as unbounded:
            problems.append(f"{logical_id}.{prop}: {unbounded}")
            continue
        if longest > limit:
            problems.append(f"{logical_id}.{prop} can be {longest} characters, more than {limit}")
    return problems


def parameter_problems(template: dict[str, Any]) -> Problems:
    problems = []
    for name, spec in template.get("Parameters", {}).items():
        if "Default" not in spec:
            problems.append(f"parameter {name} has no default: one parameter set must serve every account")
        if spec["Type"] not in PLAIN_PARAMETER_TYPES:
            problems.append(f"parameter {name} is a {spec['Type']}: checked against each account's resources")
    return problems


def export_problems(template: dict[str, Any]) -> Problems:
    return [
        f"output {name} exports a name unique per account and Region: include the stack name"
        for name, output in template.get("Outputs", {}).items()
        if "Export" in output and not _mentions(output["Export"], "AWS::StackName")
    ]


def marker_problems(template: dict[str, Any]) -> Problems:
    """Every use of the session marker is ManagedBy in every stack when it is set, and each stack's own name when
    it is empty (the default)."""
    if "ManagedBy" not in template.get("Parameters", {}):
        return ["no parameter ManagedBy: every stack's marker is its own name, different in each account"]
    uses = marker_uses(template)
    if not any(path.endswith(".MANAGED_BY") for path in uses):
        return ["no MANAGED_BY among the uses of the marker: the scan missed them"]
    problems: Problems = []
    for stack in STACKSET_STACKS:
        for managed_by, marker in ((STACKSET_MARKER, STACKSET_MARKER), ("", stack)):
            resolver = Resolver(template, {"ManagedBy": managed_by})
            resolver.values["AWS::StackName"] = stack
            problems.extend(
                f"{path} is {value!r} in stack {stack} with ManagedBy={managed_by!r}, not {marker!r}"
                for path, value in ((path, resolver.resolve(node)) for path, node in uses.items())
                if value != marker
            )
    return problems


def nesting_problems(template: dict[str, Any]) -> Problems:
    return [
        f"{logical_id} is a nested stack ({resource['Type']})"
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] in NESTED_STACKS
    ]


def transform_problems(template: dict[str, Any]) -> Problems:
    problems = (
        [f"Transform {template['Transform']}: a service-managed StackSet refuses it"] if "Transform" in template else []
    )
    if '"Fn::Transform"' in json.dumps(template):
        problems.append("Fn::Transform: a service-managed StackSet refuses it")
    return problems


def code_problems(template: dict[str, Any]) -> Problems:
    """Each function's and layer's code comes from a bucket of the stack's own Region."""
    problems = []
    for logical_id, resource in template["Resources"].items():
        code = {"AWS::Lambda::Function": "Code", "AWS::Lambda::LayerVersion": "Content"}.get(resource["Type"])
        if code is None:
            continue
        location = resource["Properties"][code]
        if not _mentions(location.get("S3Bucket"), "AWS::Region") or not location.get("S3Key"):
            problems.append(f"{logical_id}.{code} is not read from a bucket of the stack's Region: {location}")
    return problems


def size_problems(template: dict[str, Any]) -> Problems:
    size = len(json.dumps(template, separators=(",", ":")).encode())
    return [f"the template is {size} bytes, more than a TemplateURL takes"] if size > TEMPLATE_URL_MAX else []


SOURCE_CHECKS: list[Callable[[dict[str, Any]], Problems]] = [
    unclassified_names,
    name_problems,
    length_problems,
    parameter_problems,
    export_problems,
    marker_problems,
    nesting_problems,
]
EXPANDED_CHECKS = [*SOURCE_CHECKS, transform_problems, code_problems, size_problems]


# -- the templates ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def packaged_keys(source: dict[str, Any]) -> dict[str, str]:
    """What `sam package` would have uploaded: an S3 key per function and for the layer."""
    return {
        logical_id: f"traffic-mirroring/{logical_id.lower()}-0123456789abcdef"
        for logical_id, resource in source["Resources"].items()
        if resource["Type"] in ("AWS::Serverless::Function", "AWS::Serverless::LayerVersion")
    }


@pytest.fixture(scope="module")
def expanded(
    source: dict[str, Any], packaged_keys: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """What the StackSet receives: `make stackset-template` run on the template as `sam package` writes it."""
    work = tmp_path_factory.mktemp("stackset")
    packaged = copy.deepcopy(source)
    for logical_id, key in packaged_keys.items():
        properties = packaged["Resources"][logical_id]["Properties"]
        uri = "ContentUri" if "ContentUri" in properties else "CodeUri"
        properties[uri] = f"s3://{ARTIFACT_PREFIX}-{HOME_REGION}/{key}"
    (work / "packaged.json").write_text(json.dumps(packaged), encoding="utf-8")
    command = [
        "make",
        "--no-print-directory",
        "-o",
        ".venv/bin/.installed",  # never rebuild the venv from a test
        "stackset-template",
        f"STACKSET_PACKAGED={work / 'packaged.json'}",
        f"STACKSET_TEMPLATE={work / 'stackset.json'}",
        f"ARTIFACT_BUCKET_PREFIX={ARTIFACT_PREFIX}",
    ]
    environment = {**os.environ, "AWS_DEFAULT_REGION": HOME_REGION}
    subprocess.run(command, cwd=ROOT, env=environment, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads((work / "stackset.json").read_text(encoding="utf-8"))
    return result


# -- the template meets them -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("check", SOURCE_CHECKS, ids=lambda check: check.__name__)
def test_the_source_template_meets_the_stackset_rules(source: dict[str, Any], check: Callable[..., Problems]) -> None:
    assert check(source) == []


@pytest.mark.parametrize("check", EXPANDED_CHECKS, ids=lambda check: check.__name__)
def test_what_the_stackset_receives_meets_its_rules(expanded: dict[str, Any], check: Callable[..., Problems]) -> None:
    assert check(expanded) == []


def test_the_checks_see_the_names_there_are(source: dict[str, Any], expanded: dict[str, Any]) -> None:
    # A guard: if the scan found no name, the name checks would pass vacuously.
    expected = {
        ("MirroringLayer", "LayerName"),
        ("AuditRole", "RoleName"),
        ("Dashboard", "DashboardName"),
        ("SessionCleanupLogGroup", "LogGroupName"),
    }
    assert expected <= {(logical_id, prop) for logical_id, prop, _, _ in explicit_names(source)}
    in_expanded = {prop for _, prop, _, _ in explicit_names(expanded)}
    assert {"LayerName", "RoleName", "DashboardName", "LogGroupName"} <= in_expanded


def test_the_expansion_keeps_each_package_and_leaves_the_region_to_each_stack(
    expanded: dict[str, Any], packaged_keys: dict[str, str]
) -> None:
    text = json.dumps(expanded)
    assert HOME_REGION not in text and "arn:aws:" not in text  # nothing of where it was expanded
    keys = set()
    for resource in expanded["Resources"].values():
        code = {"AWS::Lambda::Function": "Code", "AWS::Lambda::LayerVersion": "Content"}.get(resource["Type"])
        if code:
            assert resource["Properties"][code]["S3Bucket"] == {"Fn::Sub": ARTIFACT_PREFIX + "-${AWS::Region}"}
            keys.add(resource["Properties"][code]["S3Key"])
    assert keys == set(packaged_keys.values())
    assert expanded["Parameters"].keys() == load_template(TEMPLATE)["Parameters"].keys()


def test_with_the_defaults_every_account_deploys_idle_with_a_filter_of_its_own(expanded: dict[str, Any]) -> None:
    # FilterId, TargetIds, TargetOwnerAccountId differ per account: their defaults must deploy anywhere.
    defaults = Resolver(expanded, {})
    assert defaults.condition("CreateFilter")
    assert not defaults.condition("HasTargetOwnerAccount")
    assert not defaults.condition("HasTargetPool")
    assert not defaults.condition("CreateAuditRole")


# -- and each check fails on a template that breaks it ---------------------------------------------------------------
def _role(template: dict[str, Any]) -> dict[str, Any]:
    return next(r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role")


def _layer(template: dict[str, Any]) -> dict[str, Any]:
    types = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
    return next(r["Properties"] for r in template["Resources"].values() if r["Type"] in types)


def _function(template: dict[str, Any]) -> dict[str, Any]:
    return next(r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function")


def _variables(template: dict[str, Any]) -> dict[str, Any]:
    """The functions' environment: the source template's Globals, or in the expanded one the first function's."""
    where = template["Globals"]["Function"] if "Globals" in template else _function(template)
    variables: dict[str, Any] = where["Environment"]["Variables"]
    return variables


def _on_the_stack_name(template: dict[str, Any], key: str) -> None:
    """The first IAM condition on this key goes back to the stack name."""
    for resource in template["Resources"].values():
        for policy in (resource.get("Properties") or {}).get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                condition = statement.get("Condition", {}).get("StringEquals", {})
                if key in condition:
                    condition[key] = {"Ref": "AWS::StackName"}
                    return
    raise AssertionError(f"no condition on {key}")


# A change that breaks a rule (it edits the template in place), and the check of that rule.
Break = tuple[Callable[[dict[str, Any]], object], Callable[[dict[str, Any]], Problems]]
BREAKS: dict[str, Break] = {
    "a role with a fixed name": (lambda t: _role(t).update(RoleName="traffic-mirroring"), name_problems),
    "a role named per stack but not per Region": (
        lambda t: _role(t).update(RoleName={"Fn::Sub": "${AWS::StackName}-reader"}),
        name_problems,
    ),
    "a dashboard named per stack but not per Region": (
        lambda t: t["Resources"]["Dashboard"]["Properties"].update(DashboardName={"Fn::Sub": "${AWS::StackName}"}),
        name_problems,
    ),
    "a layer named per Region but not per stack": (
        lambda t: _layer(t).update(LayerName={"Fn::Sub": "mirroring-${AWS::Region}"}),
        name_problems,
    ),
    "an event rule with a fixed name": (
        lambda t: t["Resources"].update(Rule={"Type": "AWS::Events::Rule", "Properties": {"Name": "mirror"}}),
        name_problems,
    ),
    "a layer name too long for a 128-character stack name": (
        lambda t: _layer(t).update(LayerName={"Fn::Sub": "${AWS::StackName}-traffic-mirroring"}),
        length_problems,
    ),
    "a role name too long for the longest Region": (
        lambda t: _role(t).update(RoleName={"Fn::Sub": "r" * 49 + "-${AWS::Region}"}),  # 49 + 1 + 15 > 64
        length_problems,
    ),
    "a name from a parameter without MaxLength": (
        lambda t: (
            t["Parameters"]["AuditRoleName"].pop("MaxLength"),
            _role(t).update(RoleName={"Fn::Sub": "${AuditRoleName}-${AWS::Region}"}),
        ),
        length_problems,
    ),
    "a parameter without a default": (lambda t: t["Parameters"]["FilterId"].pop("Default"), parameter_problems),
    "a parameter of an AWS-specific type": (
        lambda t: t["Parameters"]["TargetPool"].update(Type="AWS::EC2::VPC::Id"),
        parameter_problems,
    ),
    "an export with a fixed name": (
        lambda t: t["Outputs"]["MirrorFilterId"].update(Export={"Name": "mirror-filter"}),
        export_problems,
    ),
    "a queue with a name the checks do not know": (
        lambda t: t["Resources"].update(Queue={"Type": "AWS::SQS::Queue", "Properties": {"QueueFullName": "q"}}),
        unclassified_names,
    ),
    "the functions' marker the stack name": (
        lambda t: _variables(t).update(MANAGED_BY={"Ref": "AWS::StackName"}),
        marker_problems,
    ),
    "the filter tagged with the stack name": (
        lambda t: t["Resources"]["MirrorFilter"]["Properties"]["Tags"][0].update(Value={"Ref": "AWS::StackName"}),
        marker_problems,
    ),
    "sessions created only tagged with the stack name": (
        lambda t: _on_the_stack_name(t, "aws:RequestTag/mirror-managed-by"),
        marker_problems,
    ),
    "sessions deleted only tagged with the stack name": (
        lambda t: _on_the_stack_name(t, "aws:ResourceTag/mirror-managed-by"),
        marker_problems,
    ),
    "no ManagedBy parameter": (lambda t: t["Parameters"].pop("ManagedBy"), marker_problems),
    "a nested stack": (
        lambda t: t["Resources"].update(
            Nested={"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": "https://example.com/t"}}
        ),
        nesting_problems,
    ),
    "a nested application": (
        lambda t: t["Resources"].update(Nested={"Type": "AWS::Serverless::Application", "Properties": {}}),
        nesting_problems,
    ),
}
EXPANDED_BREAKS: dict[str, Break] = {
    "the SAM transform left in": (lambda t: t.update(Transform="AWS::Serverless-2016-10-31"), transform_problems),
    "an include transform": (
        lambda t: t["Resources"]["Dashboard"]["Properties"].update(
            {"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "s3://b/k"}}}
        ),
        transform_problems,
    ),
    "code from the bucket of one Region": (
        lambda t: _function(t)["Code"].update(S3Bucket=f"{ARTIFACT_PREFIX}-{HOME_REGION}"),
        code_problems,
    ),
    "a template too large for a TemplateURL": (
        lambda t: t["Metadata"].update(Padding="x" * TEMPLATE_URL_MAX),
        size_problems,
    ),
}


@pytest.mark.parametrize("case", sorted(BREAKS))
def test_each_rule_refuses_a_template_that_breaks_it(
    source: dict[str, Any], expanded: dict[str, Any], case: str
) -> None:
    breaks, check = BREAKS[case]
    for template in (source, expanded):
        broken = copy.deepcopy(template)
        breaks(broken)
        assert check(template) == [] and check(broken) != [], case


@pytest.mark.parametrize("case", sorted(EXPANDED_BREAKS))
def test_each_rule_of_the_expanded_template_refuses_a_template_that_breaks_it(
    expanded: dict[str, Any], case: str
) -> None:
    breaks, check = EXPANDED_BREAKS[case]
    broken = copy.deepcopy(expanded)
    breaks(broken)
    assert check(expanded) == [] and check(broken) != [], case
