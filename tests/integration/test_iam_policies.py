"""Least privilege as deployed: template.yaml transformed by the SAM translator (offline, as ``sam validate`` does),
each function's role read from the result and held to the calls the code makes and to the conditions that keep it to
our own sessions and to the status tag.

Two kinds of check: the statements themselves (actions, resources, condition keys), and requests evaluated against
them the way IAM evaluates identity policies with Allow statements (action, resource ARN, condition keys), so a
statement that is there but does not do its job fails too.
"""

from __future__ import annotations

import ast
import copy
import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name
from samtranslator.translator.transform import transform

from simulation.eventbridge import load_template
from traffic_mirroring.config import Settings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
GATEWAY = ROOT / "layers" / "mirroring" / "python" / "traffic_mirroring" / "ec2_gateway.py"

STACK = "mirror-prod"
ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
REGION = "us-east-1"
PSEUDO = {"AWS::StackName": STACK, "AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": "aws"}
MARKER = Settings(target_ids=(), filter_id="tmf-0").managed_by_tag_key  # the key the code tags sessions with
STATUS = "mirror-status"
LIFECYCLE_FUNCTION = "AutoScalingLifecycleFunction"
IAM_PREFIX = {"ec2": "ec2", "elbv2": "elasticloadbalancing", "autoscaling": "autoscaling"}
MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",  # logs
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",  # Tracing: Active
}


class _NoManagedPolicies:
    """The translator's managed-policy loader, offline: the template names managed policies by ARN only."""

    def load(self) -> dict[str, str]:
        return {}


# -- the template, translated --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def translated(monkeypatch_module: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch_module.setenv("AWS_DEFAULT_REGION", REGION)  # the translator asks boto3 for a Region
    template = load_template(TEMPLATE)
    for resource in template["Resources"].values():
        # Local code paths are packaged to S3 before CloudFormation sees them; the translator only accepts the latter.
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://artifacts/function.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = "s3://artifacts/layer.zip"
    return transform(template, dict(PSEUDO), _NoManagedPolicies())


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    patcher = pytest.MonkeyPatch()
    yield patcher
    patcher.undo()


def _resolve(node: Any) -> Any:
    """Ref, Fn::Sub and Fn::GetAtt with the deployment's values (resources become arn:resource:<logical id>)."""
    if isinstance(node, list):
        return [_resolve(item) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"}:
        return PSEUDO.get(node["Ref"], f"ref:{node['Ref']}")
    if set(node) == {"Fn::GetAtt"}:
        return f"arn:resource:{node['Fn::GetAtt'][0]}"
    if set(node) == {"Fn::Sub"}:
        text = node["Fn::Sub"]
        assert isinstance(text, str), node
        return re.sub(r"\$\{([^}!]+)\}", lambda m: str(_resolve({"Ref": m.group(1)})), text)
    return {key: _resolve(value) for key, value in node.items()}


@dataclass
class Role:
    function: str
    managed: set[str]
    statements: list[dict[str, Any]]  # ours (the Policies property), resolved
    generated: list[dict[str, Any]]  # what SAM adds (the OnFailure destination)

    @property
    def actions(self) -> set[str]:
        return {action for statement in self.statements for action in _list(statement["Action"])}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.fixture(scope="module")
def roles(translated: dict[str, Any]) -> dict[str, Role]:
    resources = translated["Resources"]
    found: dict[str, Role] = {}
    for name, function in resources.items():
        if function["Type"] != "AWS::Lambda::Function":
            continue
        role_name = function["Properties"]["Role"]["Fn::GetAtt"][0]
        role = resources[role_name]["Properties"]
        ours: list[dict[str, Any]] = []
        generated: list[dict[str, Any]] = []
        for policy in role.get("Policies", []):
            statements = _resolve(copy.deepcopy(policy["PolicyDocument"]["Statement"]))
            (generated if policy["PolicyName"].endswith("OnFailureSQSPolicy") else ours).extend(statements)
        found[name] = Role(name, set(role.get("ManagedPolicyArns", [])), ours, generated)
    return found


# -- what the code calls -------------------------------------------------------------------------------------------
def _api_calls() -> dict[str, set[str]]:
    """Every AWS operation the gateway (ALL boto3 access) calls, by client: ``self.<client>.<method>(`` and
    ``self._pages("Operation", ...)`` (EC2 paging), mapped to API names with botocore's service models."""
    tree = ast.parse(GATEWAY.read_text())
    methods: dict[str, set[str]] = {client: set() for client in IAM_PREFIX}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and isinstance(node.value.value, ast.Name)
            and node.value.value.id == "self"
            and node.value.attr in IAM_PREFIX
        ):
            methods[node.value.attr].add(node.attr)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "_pages"
            and isinstance(node.args[0], ast.Constant)
        ):
            methods["ec2"].add(xform_name(str(node.args[0].value)))
    session = botocore.session.get_session()
    calls: dict[str, set[str]] = {}
    for client, names in methods.items():
        model = session.get_service_model(client)
        api_names = {xform_name(op): op for op in model.operation_names}
        unknown = sorted(names - set(api_names) - {"meta", "exceptions"})
        assert unknown == [], f"not {client} operations: {unknown}"
        calls[client] = {f"{IAM_PREFIX[client]}:{api_names[name]}" for name in names if name in api_names}
    return calls


API_CALLS = _api_calls()


def _needed(function: str) -> set[str]:
    needed = API_CALLS["ec2"] | API_CALLS["elbv2"]
    return needed | API_CALLS["autoscaling"] if function == LIFECYCLE_FUNCTION else needed


def _mutating(action: str) -> bool:
    return not action.split(":", 1)[1].startswith(("Describe", "List", "Get"))


def test_the_gateway_calls_what_the_product_needs() -> None:
    # A guard on the parsing above: if it found nothing, every check below would pass vacuously.
    assert {
        "ec2:CreateTrafficMirrorSession",
        "ec2:DeleteTrafficMirrorSession",
        "ec2:ModifyTrafficMirrorSession",
        "ec2:CreateTags",
        "ec2:DeleteTags",
        "ec2:DescribeInstances",
        "ec2:DescribeTrafficMirrorSessions",
    } <= API_CALLS["ec2"]
    assert API_CALLS["elbv2"] == {"elasticloadbalancing:DescribeLoadBalancers"}
    assert API_CALLS["autoscaling"] == {"autoscaling:CompleteLifecycleAction"}


# -- the statements ------------------------------------------------------------------------------------------------
def test_every_function_is_allowed_exactly_the_calls_its_code_makes(roles: dict[str, Role]) -> None:
    assert sorted(roles) == sorted(
        [
            "InstanceStateChangeFunction",
            "InstanceTagChangeFunction",
            "AutoScalingLaunchFunction",
            LIFECYCLE_FUNCTION,
            "ScheduledReconcilerFunction",
        ]
    )
    for name, role in roles.items():
        assert role.actions == _needed(name), name
        assert role.managed == MANAGED_POLICIES, name


def test_no_wildcard_action_and_no_mutating_action_on_every_resource(roles: dict[str, Role]) -> None:
    for name, role in roles.items():
        for statement in role.statements + role.generated:
            assert statement["Effect"] == "Allow"
            assert "NotAction" not in statement and "NotResource" not in statement, name
            actions = _list(statement["Action"])
            assert all("*" not in action for action in actions), (name, actions)
            if any(_mutating(action) for action in actions):
                assert "*" not in _list(statement["Resource"]), (name, statement.get("Sid"))


def test_the_only_generated_permission_is_sending_to_the_failure_queue(roles: dict[str, Role]) -> None:
    for name, role in roles.items():
        assert role.generated == [
            {"Action": "sqs:SendMessage", "Effect": "Allow", "Resource": "arn:resource:InvocationFailureQueue"}
        ], name


def _statements_allowing(role: Role, action: str, resource_type: str) -> list[dict[str, Any]]:
    return [
        s
        for s in role.statements
        if action in _list(s["Action"]) and any(f":{resource_type}/" in r for r in _list(s["Resource"]))
    ]


def test_sessions_change_only_with_our_marker_tag(roles: dict[str, Role]) -> None:
    for name, role in roles.items():
        for action in ("ec2:DeleteTrafficMirrorSession", "ec2:ModifyTrafficMirrorSession"):
            statements = _statements_allowing(role, action, "traffic-mirror-session")
            assert statements, (name, action)
            for statement in statements:
                assert statement["Condition"] == {"StringEquals": {f"aws:ResourceTag/{MARKER}": STACK}}, name
        [create] = _statements_allowing(role, "ec2:CreateTrafficMirrorSession", "traffic-mirror-session")
        assert create["Resource"] == f"arn:aws:ec2:{REGION}:{ACCOUNT}:traffic-mirror-session/*"
        assert create["Condition"] == {"StringEquals": {f"aws:RequestTag/{MARKER}": STACK}}, name


def test_tags_are_written_only_on_session_creation_or_as_the_status_tag_of_instances(roles: dict[str, Role]) -> None:
    on_create = {"StringEquals": {"ec2:CreateAction": "CreateTrafficMirrorSession"}}
    status_only = {"ForAllValues:StringEquals": {"aws:TagKeys": [STATUS]}, "Null": {"aws:TagKeys": "false"}}
    for name, role in roles.items():
        for statement in role.statements:
            actions = set(_list(statement["Action"]))
            if not actions & {"ec2:CreateTags", "ec2:DeleteTags"}:
                continue
            resources = _list(statement["Resource"])
            if resources == [f"arn:aws:ec2:{REGION}:{ACCOUNT}:traffic-mirror-session/*"]:
                assert actions == {"ec2:CreateTags"} and statement["Condition"] == on_create, name
            else:
                assert resources == [f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/*"], name
                assert statement["Condition"] == status_only, name


def test_the_status_tag_iam_allows_is_the_one_the_functions_write(translated: dict[str, Any]) -> None:
    for resource in translated["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            variables = resource["Properties"]["Environment"]["Variables"]
            assert variables["STATUS_TAG_KEY"] == STATUS
            assert variables["MANAGED_BY"] == {"Ref": "AWS::StackName"}


# -- requests, evaluated -------------------------------------------------------------------------------------------
@dataclass
class Request:
    """One action on one resource, with the condition keys IAM would see."""

    action: str
    resource: str
    context: dict[str, str | list[str]] = field(default_factory=dict)


def _condition_holds(operator: str, key: str, expected: Any, context: dict[str, str | list[str]]) -> bool:
    wanted = {str(v) for v in _list(expected)}
    present = key in context
    values = {str(v) for v in _list(context.get(key, []))}
    if operator == "StringEquals":
        return present and bool(values) and values <= wanted and len(values) == 1
    if operator == "ForAllValues:StringEquals":
        return values <= wanted  # true when the key is absent: why the template adds Null
    if operator == "Null":
        return (not present) == (str(expected).lower() == "true")
    raise AssertionError(f"condition operator {operator} is not modelled here")


def allowed(role: Role, request: Request) -> bool:
    for statement in role.statements + role.generated:
        if not any(fnmatch.fnmatchcase(request.action, a) for a in _list(statement["Action"])):
            continue
        if not any(fnmatch.fnmatchcase(request.resource, r) for r in _list(statement["Resource"])):
            continue
        conditions = statement.get("Condition", {})
        if all(
            _condition_holds(operator, key, expected, request.context)
            for operator, keys in conditions.items()
            for key, expected in keys.items()
        ):
            return True
    return False


def arn(resource: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:ec2:{REGION}:{account}:{resource}"


SESSION = arn("traffic-mirror-session/tms-0123456789abcdef0")
INSTANCE = arn("instance/i-0123456789abcdef0")


def create_session(tags: dict[str, str], target_account: str = ACCOUNT) -> list[Request]:
    """What IAM checks for CreateTrafficMirrorSession with TagSpecifications: every resource, and the tagging."""
    request_tags: dict[str, str | list[str]] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
    request_tags["aws:TagKeys"] = list(tags)
    return [
        Request("ec2:CreateTrafficMirrorSession", arn("traffic-mirror-session/*"), request_tags),
        Request("ec2:CreateTrafficMirrorSession", arn("network-interface/eni-0123456789abcdef0")),
        Request("ec2:CreateTrafficMirrorSession", arn("traffic-mirror-target/tmt-0123456789abcdef0", target_account)),
        Request("ec2:CreateTrafficMirrorSession", arn("traffic-mirror-filter/tmf-0123456789abcdef0")),
        Request(
            "ec2:CreateTags",
            arn("traffic-mirror-session/*"),
            {"ec2:CreateAction": "CreateTrafficMirrorSession", **request_tags},
        ),
    ]


def on_session(action: str, tags: dict[str, str]) -> Request:
    return Request(action, SESSION, {f"aws:ResourceTag/{k}": v for k, v in tags.items()})


def tag_instance(action: str, keys: list[str] | None) -> Request:
    return Request(action, INSTANCE, {} if keys is None else {"aws:TagKeys": keys})


OURS = {MARKER: STACK, "mirror-instance-id": "i-0123456789abcdef0"}

ALLOWED = {
    "create a session tagged as ours": create_session(OURS),
    "create a session to a target shared from another account": create_session(OURS, OTHER_ACCOUNT),
    "delete our session": [on_session("ec2:DeleteTrafficMirrorSession", OURS)],
    "move our session to another target": [
        on_session("ec2:ModifyTrafficMirrorSession", OURS),
        Request("ec2:ModifyTrafficMirrorSession", arn("traffic-mirror-target/tmt-0fedcba9876543210")),
    ],
    "write the status tag": [tag_instance("ec2:CreateTags", [STATUS])],
    "remove the status tag": [tag_instance("ec2:DeleteTags", [STATUS])],
    "describe the inventory": [Request(a, "*") for a in sorted(API_CALLS["ec2"]) if not _mutating(a)],
}

DENIED = {
    "create a session without our marker tag": create_session({"team": "net"})[0],
    "create a session tagged as another stack's": create_session({MARKER: "other-stack"})[0],
    "delete a session of someone else": on_session("ec2:DeleteTrafficMirrorSession", {"team": "net"}),
    "delete a session of another stack": on_session("ec2:DeleteTrafficMirrorSession", {MARKER: "other-stack"}),
    "modify an untagged session": on_session("ec2:ModifyTrafficMirrorSession", {}),
    "take a session over by tagging it": Request("ec2:CreateTags", SESSION, {"aws:TagKeys": [MARKER]}),
    "write the mirror tag on an instance": tag_instance("ec2:CreateTags", ["mirror"]),
    "write the status tag with another tag": tag_instance("ec2:CreateTags", [STATUS, "Name"]),
    "delete every tag of an instance": tag_instance("ec2:DeleteTags", None),
    "terminate an instance": Request("ec2:TerminateInstances", INSTANCE),
    "delete a mirror target": Request("ec2:DeleteTrafficMirrorTarget", arn("traffic-mirror-target/tmt-1")),
    "delete a mirror filter": Request("ec2:DeleteTrafficMirrorFilter", arn("traffic-mirror-filter/tmf-1")),
}


@pytest.mark.parametrize("case", sorted(ALLOWED))
def test_what_the_functions_must_do_is_allowed(roles: dict[str, Role], case: str) -> None:
    for name, role in roles.items():
        refused = [r for r in ALLOWED[case] if not allowed(role, r)]
        assert refused == [], (name, case)


@pytest.mark.parametrize("case", sorted(DENIED))
def test_what_they_must_not_do_is_denied(roles: dict[str, Role], case: str) -> None:
    for name, role in roles.items():
        assert not allowed(role, DENIED[case]), (name, case)


def test_only_the_lifecycle_function_completes_lifecycle_actions_and_only_in_this_account(
    roles: dict[str, Role],
) -> None:
    def group(account: str) -> str:
        return f"arn:aws:autoscaling:{REGION}:{account}:autoScalingGroup:6d4f4e2a-uuid:autoScalingGroupName/web"

    complete = "autoscaling:CompleteLifecycleAction"
    for name, role in roles.items():
        assert allowed(role, Request(complete, group(ACCOUNT))) == (name == LIFECYCLE_FUNCTION), name
        assert not allowed(role, Request(complete, group(OTHER_ACCOUNT))), name
