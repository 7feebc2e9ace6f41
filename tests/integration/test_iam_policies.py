"""Least privilege as deployed: template.yaml transformed by the SAM translator (offline, as ``sam validate`` does),
each function's role read from the result, resolved for a set of parameter values, and held to the calls the code
makes and to the conditions that keep it to our own sessions, the pool's targets, the approved filters, the status
tags and its own log group.

Two kinds of check: the statements themselves (actions, resources, condition keys), and requests evaluated against
them the way IAM evaluates identity policies (an explicit Deny wins over any Allow; action, resource ARN or
NotResource, condition keys), so a statement that is there but does not do its job fails too.
"""

from __future__ import annotations

import ast
import copy
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

from mirror_cli.aws import READ_ONLY_OPERATIONS
from tests.integration.transformed_template import PSEUDO, STACK_FILTER, STACK_ID, Resolver, transformed
from traffic_mirroring.config import Settings

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "mirroring" / "python" / "traffic_mirroring"
GATEWAYS = (PACKAGE / "ec2_gateway.py", PACKAGE / "metrics_gateway.py")  # EC2 and ELBv2; CloudWatch (skip check)

STACK = PSEUDO["AWS::StackName"]
ACCOUNT = PSEUDO["AWS::AccountId"]
REGION = PSEUDO["AWS::Region"]
OTHER_ACCOUNT = "210987654321"
SETTINGS = Settings(target_ids=(), filter_id="tmf-0")
MARKER = SETTINGS.managed_by_tag_key  # the key the code tags sessions with
STATUS = SETTINGS.status_tag_key
GENERATION = SETTINGS.generation_tag_key
# A finding's own window on an instance: written by the GuardDuty function, removed by any reconcile once ended.
FINDING_WINDOW = [SETTINGS.finding_until_tag_key, SETTINGS.finding_tag_key]
LIFECYCLE_FUNCTION = "AutoScalingLifecycleFunction"
CLEANUP_FUNCTION = "SessionCleanupFunction"
MIRRORING_FUNCTIONS = [
    "InstanceStateChangeFunction",
    "InstanceTagChangeFunction",
    "AutoScalingLaunchFunction",
    "ScheduledReconcilerFunction",
]
IAM_PREFIX = {"ec2": "ec2", "elbv2": "elasticloadbalancing", "autoscaling": "autoscaling", "cloudwatch": "cloudwatch"}
RECONCILER_FUNCTION = "ScheduledReconcilerFunction"  # also runs the hourly skip check: the only CloudWatch reader
TRACING_POLICY = "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"  # only with Tracing=Active

POOL = ["tmt-0aaaaaaaaaaaaaaa1", "tmt-0bbbbbbbbbbbbbbb2"]
APPROVED = "tmf-0approved0000001"
OWN_FILTER = "tmf-0given0000000001"
OUTSIDE_TARGET = "tmt-0ccccccccccccccc3"
OUTSIDE_FILTER = "tmf-0notapproved0001"

# Parameter sets the roles are checked under: the defaults, and a production-like one.
DEFAULTS: dict[str, str] = {}
PRODUCTION = {
    "TargetIds": ",".join(POOL),
    "FilterId": OWN_FILTER,
    "ApprovedFilterIds": APPROVED,
    "TargetOwnerAccountId": OTHER_ACCOUNT,
    "LifecycleHookMode": "true",
    "Tracing": "Active",
}
# One marker for every account's stack (a StackSet's stacks are each named StackSet-<name>-<UUID>): ManagedBy.
SHARED_MARKER = "traffic-mirroring"
SHARED = {**PRODUCTION, "ManagedBy": SHARED_MARKER}
# The session marker each parameter set gives: the stack name unless ManagedBy is set.
MARKER_OF = [(DEFAULTS, STACK), ({"ManagedBy": ""}, STACK), (SHARED, SHARED_MARKER)]
MARKER_IDS = ["defaults", "empty-managed-by", "shared-marker"]


# -- the template, translated and resolved ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return transformed()


@dataclass
class Role:
    function: str
    managed: set[str]
    statements: list[dict[str, Any]]

    @property
    def actions(self) -> set[str]:
        return {a for s in self.statements if s["Effect"] == "Allow" for a in _list(s["Action"])}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def roles_under(
    translated: dict[str, Any], overrides: Mapping[str, str], attached: Mapping[str, str] | None = None
) -> dict[str, Role]:
    """The role of every function deployed under these parameters, resolved: its own policies and the policies
    attached to it as resources of their own (AWS::IAM::RolePolicy), those under ``attached`` if given (the
    parameters an attached policy still has during an update: it is updated after the resource it depends on)."""
    resolver = Resolver(translated, overrides)
    attached_resolver = Resolver(translated, {**overrides, **(attached or {})})
    resources = translated["Resources"]
    found: dict[str, Role] = {}
    for name, function in resources.items():
        if function["Type"] != "AWS::Lambda::Function":
            continue
        if "Condition" in function and not resolver.condition(function["Condition"]):
            continue
        role_name = function["Properties"]["Role"]["Fn::GetAtt"][0]
        role = resources[role_name]
        assert role.get("Condition") == function.get("Condition"), name
        properties = resolver.resolve(copy.deepcopy(role["Properties"]))
        statements = [s for policy in properties.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]
        for policy in resources.values():
            if policy["Type"] == "AWS::IAM::RolePolicy" and policy["Properties"]["RoleName"] == {"Ref": role_name}:
                assert "Condition" not in policy or policy.get("Condition") == role.get("Condition"), name
                document = attached_resolver.resolve(copy.deepcopy(policy["Properties"]["PolicyDocument"]))
                statements += document["Statement"]
        found[name] = Role(name, set(properties.get("ManagedPolicyArns", [])), statements)
    return found


@pytest.fixture(scope="module")
def roles(translated: dict[str, Any]) -> dict[str, Role]:
    return roles_under(translated, DEFAULTS)


@pytest.fixture(scope="module")
def production_roles(translated: dict[str, Any]) -> dict[str, Role]:
    return roles_under(translated, PRODUCTION)


# -- what the code calls -----------------------------------------------------------------------------------------------
def _api_calls() -> dict[str, set[str]]:
    """Every AWS operation the gateways (ALL boto3 access of the mirroring functions) call, by client:
    ``self.<client>.<method>`` and ``self._pages("Operation", ...)``, mapped to API names with botocore's models."""
    methods: dict[str, set[str]] = {client: set() for client in IAM_PREFIX}
    for node in (node for gateway in GATEWAYS for node in ast.walk(ast.parse(gateway.read_text()))):
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
OWN_LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}
FAILURE_QUEUE = {"sqs:SendMessage"}
# The cleanup function's calls (traffic_mirroring.cleanup and functions/session_cleanup): find, delete, stack status,
# and the marker moved to a new ManagedBy (CreateTags).
CLEANUP_CALLS = {
    "ec2:DescribeTrafficMirrorSessions",
    "ec2:DeleteTrafficMirrorSession",
    "cloudformation:DescribeStacks",
    "ec2:CreateTags",
}


def _needed(function: str) -> set[str]:
    if function == CLEANUP_FUNCTION:
        return CLEANUP_CALLS | OWN_LOGS | FAILURE_QUEUE
    needed = API_CALLS["ec2"] | API_CALLS["elbv2"] | OWN_LOGS | FAILURE_QUEUE
    if function == RECONCILER_FUNCTION:
        return needed | API_CALLS["cloudwatch"]
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
    assert "elasticloadbalancing:DescribeLoadBalancers" in API_CALLS["elbv2"]
    # Preflight (issue 19): an NLB's cross-zone setting is read where AWS applies it, its target group first; the
    # sources' addresses come with DescribeInstances, so no VPC is described any more.
    assert "elasticloadbalancing:DescribeTargetGroupAttributes" in API_CALLS["elbv2"]
    assert "ec2:DescribeVpcs" not in API_CALLS["ec2"]
    assert API_CALLS["autoscaling"] == {"autoscaling:CompleteLifecycleAction"}
    assert API_CALLS["cloudwatch"] == {"cloudwatch:GetMetricData"}


# -- the statements --------------------------------------------------------------------------------------------------
def _managed(parameters: dict[str, str]) -> set[str]:
    """The managed policies a function's role has: X-Ray's writer when the functions trace, nothing else."""
    return {TRACING_POLICY} if parameters.get("Tracing") == "Active" else set()


@pytest.mark.parametrize("parameters", [DEFAULTS, PRODUCTION], ids=["defaults", "production"])
def test_every_function_is_allowed_exactly_the_calls_its_code_makes(
    translated: dict[str, Any], parameters: dict[str, str]
) -> None:
    roles = roles_under(translated, parameters)
    expected = [*MIRRORING_FUNCTIONS, CLEANUP_FUNCTION]
    if parameters.get("LifecycleHookMode") == "true":
        expected.append(LIFECYCLE_FUNCTION)
    assert sorted(roles) == sorted(expected)
    for name, role in roles.items():
        assert role.actions == _needed(name), name
        assert role.managed == _managed(parameters), name  # never AWSLambdaBasicExecutionRole: logs on every group


def test_no_wildcard_action_and_no_mutating_action_on_every_resource(production_roles: dict[str, Role]) -> None:
    for name, role in production_roles.items():
        for statement in role.statements:
            actions = _list(statement["Action"])
            assert all("*" not in action for action in actions), (name, actions)
            if statement["Effect"] == "Deny":
                assert "NotResource" in statement, (name, statement.get("Sid"))  # narrows, never widens
                continue
            assert "NotAction" not in statement and "NotResource" not in statement, name
            if any(_mutating(action) for action in actions):
                assert "*" not in _list(statement["Resource"]), (name, statement.get("Sid"))


def _allows(role: Role, action: str, resource_type: str) -> list[dict[str, Any]]:
    return [
        s
        for s in role.statements
        if s["Effect"] == "Allow"
        and action in _list(s["Action"])
        and any(f":{resource_type}/" in r for r in _list(s["Resource"]))
    ]


@pytest.mark.parametrize("parameters", [DEFAULTS, PRODUCTION], ids=["defaults", "production"])
def test_no_statement_allows_targets_of_any_account(translated: dict[str, Any], parameters: dict[str, str]) -> None:
    for name, role in roles_under(translated, parameters).items():
        for action in ("ec2:CreateTrafficMirrorSession", "ec2:ModifyTrafficMirrorSession"):
            if name == CLEANUP_FUNCTION:
                continue
            statements = _allows(role, action, "traffic-mirror-target")
            assert statements, (name, action)
            accounts = {
                r.split(":")[4] for s in statements for r in _list(s["Resource"]) if ":traffic-mirror-target/" in r
            }
            assert "*" not in accounts and "" not in accounts, (name, action)
            assert accounts == ({ACCOUNT, OTHER_ACCOUNT} if parameters else {ACCOUNT}), (name, action)


def test_the_logs_each_function_writes_are_its_own(roles: dict[str, Role], translated: dict[str, Any]) -> None:
    resources = translated["Resources"]
    for name, role in roles.items():
        log_group = resources[name]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        [logs] = [s for s in role.statements if set(_list(s["Action"])) & OWN_LOGS]
        assert logs["Resource"] == f"arn:resource:{log_group}", name


@pytest.mark.parametrize(("parameters", "marker"), MARKER_OF, ids=MARKER_IDS)
def test_sessions_change_only_with_our_marker_tag(
    translated: dict[str, Any], parameters: dict[str, str], marker: str
) -> None:
    roles = roles_under(translated, parameters)
    for name, role in roles.items():
        for action in ("ec2:DeleteTrafficMirrorSession", "ec2:ModifyTrafficMirrorSession"):
            statements = _allows(role, action, "traffic-mirror-session")
            assert statements or (name == CLEANUP_FUNCTION and "Modify" in action), (name, action)
            for statement in statements:
                assert statement["Condition"] == {"StringEquals": {f"aws:ResourceTag/{MARKER}": marker}}, name
        if name == CLEANUP_FUNCTION:
            assert not _allows(role, "ec2:CreateTrafficMirrorSession", "traffic-mirror-session")
            continue
        [create] = _allows(role, "ec2:CreateTrafficMirrorSession", "traffic-mirror-session")
        assert create["Resource"] == f"arn:aws:ec2:{REGION}:{ACCOUNT}:traffic-mirror-session/*"
        assert create["Condition"] == {"StringEquals": {f"aws:RequestTag/{MARKER}": marker}}, name


def test_tags_are_written_only_on_session_creation_or_as_the_status_tags_of_instances(roles: dict[str, Role]) -> None:
    on_create = {"StringEquals": {"ec2:CreateAction": "CreateTrafficMirrorSession"}}
    written = {"ForAllValues:StringEquals": {"aws:TagKeys": [STATUS, GENERATION]}, "Null": {"aws:TagKeys": "false"}}
    # Removed: the status tag, and a finding's window once it has ended (any reconcile of the instance does it).
    removed = {
        "ForAllValues:StringEquals": {
            "aws:TagKeys": [STATUS, SETTINGS.finding_tag_key, SETTINGS.finding_until_tag_key]
        },
        "Null": {"aws:TagKeys": "false"},
    }
    # The cleanup function moves our sessions to a new marker (ManagedBy changed): the marker key only, on ours only.
    new_marker = {
        "StringEquals": {f"aws:ResourceTag/{MARKER}": STACK},
        "ForAllValues:StringEquals": {"aws:TagKeys": [MARKER]},
        "Null": {"aws:TagKeys": "false"},
    }
    for name, role in roles.items():
        for statement in role.statements:
            actions = set(_list(statement["Action"]))
            if not actions & {"ec2:CreateTags", "ec2:DeleteTags"}:
                continue
            resources = _list(statement["Resource"])
            if resources == [f"arn:aws:ec2:{REGION}:{ACCOUNT}:traffic-mirror-session/*"]:
                expected = new_marker if name == CLEANUP_FUNCTION else on_create
                assert actions == {"ec2:CreateTags"} and statement["Condition"] == expected, name
            else:
                assert resources == [f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/*"], name
                expected = written if actions == {"ec2:CreateTags"} else removed
                assert actions in ({"ec2:CreateTags"}, {"ec2:DeleteTags"}), name
                assert statement["Condition"] == expected, name


@pytest.mark.parametrize(("parameters", "marker"), MARKER_OF, ids=MARKER_IDS)
def test_the_tags_iam_allows_are_the_ones_the_functions_write(
    translated: dict[str, Any], parameters: dict[str, str], marker: str
) -> None:
    resolver = Resolver(translated, parameters)
    for resource in translated["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            variables = resource["Properties"]["Environment"]["Variables"]
            assert variables["STATUS_TAG_KEY"] == STATUS
            assert resolver.resolve(variables["MANAGED_BY"]) == marker  # the value of the conditions above
            assert variables["ACCOUNT_ID"] == {"Ref": "AWS::AccountId"}


# -- requests, evaluated ---------------------------------------------------------------------------------------------
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
    if operator == "StringNotEquals":
        return not values & wanted  # true when the key is absent: an untagged resource matches none of the values
    if operator == "ForAllValues:StringEquals":
        return values <= wanted  # true when the key is absent: why the template adds Null
    if operator == "Null":
        return (not present) == (str(expected).lower() == "true")
    raise AssertionError(f"condition operator {operator} is not modelled here")


def _applies(statement: dict[str, Any], request: Request) -> bool:
    if not any(fnmatch.fnmatchcase(request.action, a) for a in _list(statement["Action"])):
        return False
    if "NotResource" in statement:
        if any(fnmatch.fnmatchcase(request.resource, r) for r in _list(statement["NotResource"])):
            return False
    elif not any(fnmatch.fnmatchcase(request.resource, r) for r in _list(statement["Resource"])):
        return False
    return all(
        _condition_holds(operator, key, expected, request.context)
        for operator, keys in statement.get("Condition", {}).items()
        for key, expected in keys.items()
    )


def allowed(role: Role, request: Request) -> bool:
    applying = [s for s in role.statements if _applies(s, request)]
    return any(s["Effect"] == "Allow" for s in applying) and not any(s["Effect"] == "Deny" for s in applying)


def arn(resource: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:ec2:{REGION}:{account}:{resource}"


SESSION = arn("traffic-mirror-session/tms-0123456789abcdef0")
INSTANCE = arn("instance/i-0123456789abcdef0")
# The tags the functions write on a session they create (executor._session_request; mirror-vni only with a VNI).
OURS = {MARKER: STACK, "mirror-instance-id": "i-0123456789abcdef0", "mirror-instance-type": "m5.large"}


def on_target(action: str, target: str, account: str = ACCOUNT, tags: dict[str, str] | None = None) -> Request:
    """The target of a session created or moved: IAM sees the target's own tags as aws:ResourceTag."""
    resource_tags: dict[str, str | list[str]] = {f"aws:ResourceTag/{k}": v for k, v in (tags or {}).items()}
    return Request(action, arn(f"traffic-mirror-target/{target}", account), resource_tags)


def create_session(
    tags: dict[str, str],
    target: str = POOL[0],
    filter_id: str = OWN_FILTER,
    target_account: str = ACCOUNT,
    target_tags: dict[str, str] | None = None,
) -> list[Request]:
    """What IAM checks for CreateTrafficMirrorSession with TagSpecifications: every resource, and the tagging."""
    request_tags: dict[str, str | list[str]] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
    request_tags["aws:TagKeys"] = list(tags)
    return [
        Request("ec2:CreateTrafficMirrorSession", arn("traffic-mirror-session/*"), request_tags),
        Request("ec2:CreateTrafficMirrorSession", arn("network-interface/eni-0123456789abcdef0")),
        on_target("ec2:CreateTrafficMirrorSession", target, target_account, target_tags),
        Request("ec2:CreateTrafficMirrorSession", arn(f"traffic-mirror-filter/{filter_id}")),
        Request(
            "ec2:CreateTags",
            arn("traffic-mirror-session/*"),
            {"ec2:CreateAction": "CreateTrafficMirrorSession", **request_tags},
        ),
    ]


def move_session(
    target: str, target_account: str = ACCOUNT, target_tags: dict[str, str] | None = None
) -> list[Request]:
    return [
        on_session("ec2:ModifyTrafficMirrorSession", OURS),
        on_target("ec2:ModifyTrafficMirrorSession", target, target_account, target_tags),
    ]


def switch_filter(filter_id: str) -> list[Request]:
    return [
        on_session("ec2:ModifyTrafficMirrorSession", OURS),
        Request("ec2:ModifyTrafficMirrorSession", arn(f"traffic-mirror-filter/{filter_id}")),
    ]


def on_session(action: str, tags: dict[str, str]) -> Request:
    return Request(action, SESSION, {f"aws:ResourceTag/{k}": v for k, v in tags.items()})


def tag_instance(action: str, keys: list[str] | None) -> Request:
    return Request(action, INSTANCE, {} if keys is None else {"aws:TagKeys": keys})


# Under PRODUCTION: pool POOL (shared from OTHER_ACCOUNT too), FilterId OWN_FILTER, ApprovedFilterIds APPROVED.
ALLOWED = {
    "create a session tagged as ours": create_session(OURS),
    "create a session to a pool target shared from the target owner": create_session(
        OURS, target_account=OTHER_ACCOUNT
    ),
    "create a session with an approved filter": create_session(OURS, POOL[1], APPROVED),
    "delete our session": [on_session("ec2:DeleteTrafficMirrorSession", OURS)],
    "move our session to another pool target": move_session(POOL[1]),
    "switch our session to an approved filter": switch_filter(APPROVED),
    "write the status tag": [tag_instance("ec2:CreateTags", [STATUS])],
    "write the status and generation tags": [tag_instance("ec2:CreateTags", [STATUS, GENERATION])],
    "remove the status tag": [tag_instance("ec2:DeleteTags", [STATUS])],
    "remove an ended finding window with the status tag": [tag_instance("ec2:DeleteTags", [STATUS, *FINDING_WINDOW])],
    "remove an ended finding window": [tag_instance("ec2:DeleteTags", FINDING_WINDOW)],
    "describe the inventory": [
        Request(a, "*") for a in sorted(API_CALLS["ec2"] | API_CALLS["elbv2"]) if not _mutating(a)
    ],
}

DENIED = {
    "create a session without our marker tag": create_session({"team": "net"})[0],
    "create a session tagged as another stack's": create_session({MARKER: "other-stack"})[0],
    "create a session on a target outside the pool": create_session(OURS, OUTSIDE_TARGET)[2],
    "create a session on a pool target ID in a third account": create_session(OURS, target_account="333333333333")[2],
    "create a session with a filter nobody approved": create_session(OURS, filter_id=OUTSIDE_FILTER)[3],
    "move our session to a target outside the pool": move_session(OUTSIDE_TARGET)[1],
    "switch our session to a filter nobody approved": switch_filter(OUTSIDE_FILTER)[1],
    "delete a session of someone else": on_session("ec2:DeleteTrafficMirrorSession", {"team": "net"}),
    "delete a session of another stack": on_session("ec2:DeleteTrafficMirrorSession", {MARKER: "other-stack"}),
    "modify an untagged session": on_session("ec2:ModifyTrafficMirrorSession", {}),
    "take a session over by tagging it": Request("ec2:CreateTags", SESSION, {"aws:TagKeys": [MARKER]}),
    "write the mirror tag on an instance": tag_instance("ec2:CreateTags", ["mirror"]),
    "write mirror-until on an instance": tag_instance("ec2:CreateTags", [SETTINGS.until_tag_key]),
    "remove the mirror tag from an instance": tag_instance("ec2:DeleteTags", ["mirror"]),
    "remove mirror-until from an instance": tag_instance("ec2:DeleteTags", [SETTINGS.until_tag_key]),
    "remove a finding window with the owner's tag": tag_instance("ec2:DeleteTags", [*FINDING_WINDOW, "mirror"]),
    "write the status tag with another tag": tag_instance("ec2:CreateTags", [STATUS, "Name"]),
    "remove the generation tag": tag_instance("ec2:DeleteTags", [GENERATION]),
    "delete every tag of an instance": tag_instance("ec2:DeleteTags", None),
    "terminate an instance": Request("ec2:TerminateInstances", INSTANCE),
    "delete a mirror target": Request("ec2:DeleteTrafficMirrorTarget", arn("traffic-mirror-target/tmt-1")),
    "delete a mirror filter": Request("ec2:DeleteTrafficMirrorFilter", arn("traffic-mirror-filter/tmf-1")),
    "write another function's logs": Request("logs:PutLogEvents", "arn:resource:SomeOtherLogGroup"),
}


@pytest.mark.parametrize("case", sorted(ALLOWED))
def test_what_the_mirroring_functions_must_do_is_allowed(production_roles: dict[str, Role], case: str) -> None:
    for name, role in production_roles.items():
        if name == CLEANUP_FUNCTION:
            continue
        refused = [r for r in ALLOWED[case] if not allowed(role, r)]
        assert refused == [], (name, case)


@pytest.mark.parametrize("case", sorted(DENIED))
def test_what_no_function_may_do_is_denied(production_roles: dict[str, Role], case: str) -> None:
    for name, role in production_roles.items():
        assert not allowed(role, DENIED[case]), (name, case)


def test_with_the_default_parameters_only_this_account_s_targets_and_the_stack_s_filter_serve(
    roles: dict[str, Role],
) -> None:
    # The default pool is empty: no target at all may be used, and the filter is the one the stack creates.
    role = roles["InstanceStateChangeFunction"]
    assert not allowed(role, create_session(OURS, POOL[0], STACK_FILTER)[2])
    assert not allowed(role, create_session(OURS, POOL[0], STACK_FILTER, OTHER_ACCOUNT)[2])
    assert allowed(role, create_session(OURS, POOL[0], STACK_FILTER)[3])
    assert not allowed(role, create_session(OURS, POOL[0], APPROVED)[3])


def test_a_pool_in_this_account_is_usable_without_a_target_owner(translated: dict[str, Any]) -> None:
    role = roles_under(translated, {"TargetIds": ",".join(POOL)})["InstanceStateChangeFunction"]
    assert all(allowed(role, request) for request in create_session(OURS, POOL[1], STACK_FILTER))
    assert not allowed(role, create_session(OURS, POOL[1], STACK_FILTER, OTHER_ACCOUNT)[2])
    assert not allowed(role, create_session(OURS, OUTSIDE_TARGET, STACK_FILTER)[2])


def test_the_cleanup_function_deletes_only_our_sessions_and_reads_only_its_stack(roles: dict[str, Role]) -> None:
    role = roles[CLEANUP_FUNCTION]
    assert allowed(role, on_session("ec2:DeleteTrafficMirrorSession", OURS))
    assert not allowed(role, on_session("ec2:DeleteTrafficMirrorSession", {"team": "net"}))
    assert not allowed(role, on_session("ec2:DeleteTrafficMirrorSession", {MARKER: "other-stack"}))
    assert allowed(role, Request("cloudformation:DescribeStacks", STACK_ID))
    other_stack = STACK_ID.replace(f"stack/{STACK}/", "stack/other-stack/")
    assert not allowed(role, Request("cloudformation:DescribeStacks", other_stack))
    assert not any(allowed(role, r) for r in create_session(OURS)[:1])


# -- ManagedBy: one marker for the stacks of every account (a StackSet), instead of each stack's name ----------------
def _ours(marker: str) -> dict[str, str]:
    return {MARKER: marker, "mirror-instance-id": "i-0123456789abcdef0", "mirror-instance-type": "m5.large"}


@pytest.fixture(scope="module")
def shared_marker_roles(translated: dict[str, Any]) -> dict[str, Role]:
    return roles_under(translated, SHARED)


def test_with_a_shared_marker_the_mirroring_functions_create_only_sessions_tagged_with_it(
    shared_marker_roles: dict[str, Role],
) -> None:
    assert sorted(shared_marker_roles) == sorted([*MIRRORING_FUNCTIONS, CLEANUP_FUNCTION, LIFECYCLE_FUNCTION])
    for name in [*MIRRORING_FUNCTIONS, LIFECYCLE_FUNCTION]:
        role = shared_marker_roles[name]
        assert [r for r in create_session(_ours(SHARED_MARKER)) if not allowed(role, r)] == [], name
        assert all(allowed(role, r) for r in create_session(_ours(SHARED_MARKER), POOL[1], APPROVED)), name
        for tags in (_ours(STACK), {MARKER: "other-stack"}, {"team": "net"}):
            # The session with its tags (tagging it on creation follows: ec2:CreateAction=CreateTrafficMirrorSession).
            assert not allowed(role, create_session(tags)[0]), (name, tags)


def test_with_a_shared_marker_the_mirroring_functions_change_only_sessions_tagged_with_it(
    shared_marker_roles: dict[str, Role],
) -> None:
    ours = _ours(SHARED_MARKER)
    for name in [*MIRRORING_FUNCTIONS, LIFECYCLE_FUNCTION]:
        role = shared_marker_roles[name]
        for action in ("ec2:DeleteTrafficMirrorSession", "ec2:ModifyTrafficMirrorSession"):
            assert allowed(role, on_session(action, ours)), (name, action)
            # The stack's own name is no marker any more: a session tagged with it is another stack's.
            for tags in (_ours(STACK), {MARKER: "other-stack"}, {"team": "net"}, {}):
                assert not allowed(role, on_session(action, tags)), (name, action, tags)
        # Moved to another pool target, or to an approved filter: the session's tag decides.
        assert allowed(role, on_target("ec2:ModifyTrafficMirrorSession", POOL[1]))
        assert allowed(role, Request("ec2:ModifyTrafficMirrorSession", arn(f"traffic-mirror-filter/{APPROVED}")))
        assert not allowed(role, Request("ec2:CreateTags", SESSION, {"aws:TagKeys": [MARKER]}))


def test_with_a_shared_marker_the_cleanup_function_deletes_only_sessions_tagged_with_it(
    shared_marker_roles: dict[str, Role],
) -> None:
    role = shared_marker_roles[CLEANUP_FUNCTION]
    assert allowed(role, on_session("ec2:DeleteTrafficMirrorSession", _ours(SHARED_MARKER)))
    for tags in (_ours(STACK), {MARKER: "other-stack"}, {"team": "net"}, {}):
        assert not allowed(role, on_session("ec2:DeleteTrafficMirrorSession", tags)), tags
    assert not allowed(role, on_session("ec2:ModifyTrafficMirrorSession", _ours(SHARED_MARKER)))
    assert not any(allowed(role, r) for r in create_session(_ours(SHARED_MARKER))[:1])
    # What the cleanup reads stays the stack's own: its status, under its own name.
    assert allowed(role, Request("cloudformation:DescribeStacks", STACK_ID))


# -- ManagedBy changed: SessionCleanup moves the stack's sessions to the new marker ------------------------------------
OLD_MARKER, NEW_MARKER = "traffic-mirroring", "mirror-prod-eu"


def retag(tags: dict[str, str], keys: list[str] | None = None, account: str = ACCOUNT) -> Request:
    """CreateTags on a session with these tags, writing these keys (default: the marker, to the new value)."""
    context: dict[str, str | list[str]] = {f"aws:ResourceTag/{k}": v for k, v in tags.items()}
    written = [MARKER] if keys is None else keys
    if written:  # a request without tags has no aws:TagKeys
        context["aws:TagKeys"] = written
    context.update({f"aws:RequestTag/{k}": NEW_MARKER for k in written})
    return Request("ec2:CreateTags", arn("traffic-mirror-session/tms-0123456789abcdef0", account), context)


def test_the_policy_that_moves_sessions_to_a_new_marker_is_updated_after_session_cleanup(
    translated: dict[str, Any],
) -> None:
    # CloudFormation updates a resource's dependencies before it: the role's own policy (a dependency of the cleanup
    # function, hence of SessionCleanup) already names the new marker when SessionCleanup runs; this policy, which
    # depends on SessionCleanup, still names the old one.
    policy = translated["Resources"]["SessionCleanupRetagPolicy"]
    assert policy["Type"] == "AWS::IAM::RolePolicy" and "Condition" not in policy
    assert policy["DependsOn"] == "SessionCleanup"
    assert policy["Properties"]["RoleName"] == {"Ref": "SessionCleanupRole"}
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "ec2:CreateTags"  # no delete, no modify: those stay in the role's own policy


def test_during_a_marker_change_the_cleanup_function_moves_only_our_sessions_and_only_their_marker(
    translated: dict[str, Any],
) -> None:
    # While SessionCleanup runs the Update from OLD_MARKER to NEW_MARKER: the role's own policy is updated, the
    # attached one not yet.
    during = roles_under(translated, {"ManagedBy": NEW_MARKER}, attached={"ManagedBy": OLD_MARKER})
    role = during[CLEANUP_FUNCTION]
    assert allowed(role, retag(_ours(OLD_MARKER)))  # moved
    assert allowed(role, retag(_ours(NEW_MARKER)))  # put back, should the move fail halfway, or on a rollback
    for tags in ({MARKER: "other-stack"}, {"team": "net"}, {}):
        assert not allowed(role, retag(tags)), tags
    for keys in ([MARKER, "Name"], ["mirror-instance-id"], []):
        assert not allowed(role, retag(_ours(OLD_MARKER), keys)), keys
    assert not allowed(role, retag(_ours(OLD_MARKER), account=OTHER_ACCOUNT))
    assert not allowed(role, Request("ec2:DeleteTags", SESSION, {f"aws:ResourceTag/{MARKER}": OLD_MARKER}))
    assert not allowed(role, Request("ec2:CreateTags", INSTANCE, {"aws:TagKeys": [MARKER]}))
    # Deleting stays with the current marker only: the old one's sessions are not the stack's to delete any more.
    assert allowed(role, on_session("ec2:DeleteTrafficMirrorSession", _ours(NEW_MARKER)))
    assert not allowed(role, on_session("ec2:DeleteTrafficMirrorSession", _ours(OLD_MARKER)))
    # No mirroring function may move a session to a marker, whatever the marker.
    for name in MIRRORING_FUNCTIONS:
        assert not allowed(during[name], retag(_ours(OLD_MARKER))), name
        assert not allowed(during[name], retag(_ours(NEW_MARKER))), name


def test_once_the_update_is_done_the_old_marker_is_no_longer_the_stack_s(translated: dict[str, Any]) -> None:
    role = roles_under(translated, {"ManagedBy": NEW_MARKER})[CLEANUP_FUNCTION]
    assert not allowed(role, retag(_ours(OLD_MARKER)))
    assert allowed(role, retag(_ours(NEW_MARKER)))  # the next change moves from here


def test_only_the_lifecycle_function_completes_lifecycle_actions_and_only_for_marked_groups(
    production_roles: dict[str, Role],
) -> None:
    def group(account: str) -> str:
        return f"arn:aws:autoscaling:{REGION}:{account}:autoScalingGroup:6d4f4e2a-uuid:autoScalingGroupName/web"

    complete = "autoscaling:CompleteLifecycleAction"
    marked = {"aws:ResourceTag/mirror-lifecycle-hook": STACK}
    for name, role in production_roles.items():
        assert allowed(role, Request(complete, group(ACCOUNT), dict(marked))) == (name == LIFECYCLE_FUNCTION), name
        assert not allowed(role, Request(complete, group(ACCOUNT))), name
        other_stack: dict[str, str | list[str]] = {"aws:ResourceTag/mirror-lifecycle-hook": "other-stack"}
        assert not allowed(role, Request(complete, group(ACCOUNT), other_stack)), name
        assert not allowed(role, Request(complete, group(OTHER_ACCOUNT), dict(marked))), name


# -- pool discovery: with TargetPool, a target tagged mirror-pool=<TargetPool> serves besides TargetIds ---------------
POOL_TAG = "mirror-pool"
DISCOVERED = "tmt-0ddddddddddddddd4"  # in no TargetIds: only its tag can bring it into the pool
PRODUCTION_WITH_DISCOVERY = {**PRODUCTION, "TargetPool": "prod"}


def _mirroring_roles(translated: dict[str, Any], parameters: Mapping[str, str]) -> dict[str, Role]:
    return {n: r for n, r in roles_under(translated, parameters).items() if n != CLEANUP_FUNCTION}


def _uses(
    role: Role,
    target_tags: dict[str, str] | None,
    target: str = DISCOVERED,
    account: str = ACCOUNT,
    filter_id: str = OWN_FILTER,
) -> bool:
    """Whether the role may create a session on the target and move one there (every request of both allowed)."""
    requests = [
        *create_session(OURS, target, filter_id, account, target_tags),
        *move_session(target, account, target_tags),
    ]
    return all(allowed(role, request) for request in requests)


def test_with_a_pool_name_a_target_tagged_with_it_serves_and_no_other(translated: dict[str, Any]) -> None:
    for name, role in _mirroring_roles(translated, PRODUCTION_WITH_DISCOVERY).items():
        assert _uses(role, {POOL_TAG: "prod"}), name
        assert _uses(role, {POOL_TAG: "prod", "team": "net"}), name
        assert not _uses(role, {POOL_TAG: "other"}), name
        assert not _uses(role, {POOL_TAG: "Prod"}), name  # tag values are compared exactly
        assert not _uses(role, {POOL_TAG: ""}), name
        assert not _uses(role, {"team": "prod"}), name
        assert not _uses(role, None), name  # untagged
        assert not _uses(role, {POOL_TAG: "prod"}, account="333333333333"), name  # the accounts stay pinned
        # The pool's own targets still serve, whatever their tags; the filters stay pinned.
        assert _uses(role, {POOL_TAG: "other"}, target=POOL[1]), name
        assert _uses(role, None, target=POOL[0], account=OTHER_ACCOUNT), name
        tagged = {POOL_TAG: "prod"}
        assert not allowed(role, create_session(OURS, DISCOVERED, OUTSIDE_FILTER, target_tags=tagged)[3]), name


def test_discovery_needs_no_target_ids(translated: dict[str, Any]) -> None:
    for name, role in _mirroring_roles(translated, {"TargetPool": "prod"}).items():
        assert _uses(role, {POOL_TAG: "prod"}, filter_id=STACK_FILTER), name
        assert not _uses(role, None, filter_id=STACK_FILTER), name
        # No TargetOwnerAccountId: a target of another account is refused, whatever its tags.
        assert not _uses(role, {POOL_TAG: "prod"}, account=OTHER_ACCOUNT, filter_id=STACK_FILTER), name


@pytest.mark.parametrize("parameters", [DEFAULTS, PRODUCTION], ids=["defaults", "production"])
def test_without_a_pool_name_no_tag_brings_a_target_into_the_pool(
    translated: dict[str, Any], parameters: dict[str, str]
) -> None:
    # An empty TargetPool must not become the condition value: a target tagged mirror-pool="" would then escape.
    filter_id = OWN_FILTER if parameters == PRODUCTION else STACK_FILTER
    for name, role in _mirroring_roles(translated, parameters).items():
        for tags in ({POOL_TAG: ""}, {POOL_TAG: "prod"}, None):
            assert not _uses(role, tags, filter_id=filter_id), (name, tags)
        assert _uses(role, None, target=POOL[0], filter_id=filter_id) == (parameters == PRODUCTION), name


# -- the organization audit role ------------------------------------------------------------------------------------
AUDIT_ROLE = "AuditRole"
AUDIT_ACCOUNT = "444455556666"
# The audit's reads (mirror_cli.aws) that need an IAM permission: sts:GetCallerIdentity needs none.
AUDIT_IAM_PREFIX = {**IAM_PREFIX, "sts": "sts"}
NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}


def _audit_reads() -> set[str]:
    return {
        f"{AUDIT_IAM_PREFIX[service]}:{operation}"
        for service, operations in READ_ONLY_OPERATIONS.items()
        for operation in operations
    } - NEEDS_NO_PERMISSION


def _audit_role(translated: dict[str, Any], overrides: Mapping[str, str]) -> dict[str, Any] | None:
    resolver = Resolver(translated, overrides)
    resource = translated["Resources"].get(AUDIT_ROLE)
    if resource is None or not resolver.condition(resource["Condition"]):
        return None
    properties: dict[str, Any] = resolver.resolve(copy.deepcopy(resource["Properties"]))
    return properties


def test_the_audit_role_exists_only_when_an_audit_account_is_set(translated: dict[str, Any]) -> None:
    assert _audit_role(translated, DEFAULTS) is None
    assert _audit_role(translated, PRODUCTION) is None
    assert _audit_role(translated, {"AuditAccountId": AUDIT_ACCOUNT}) is not None
    output = translated["Outputs"]["AuditRoleArn"]
    assert output["Condition"] == translated["Resources"][AUDIT_ROLE]["Condition"]
    assert output["Value"] == {"Fn::GetAtt": [AUDIT_ROLE, "Arn"]}


def test_the_audit_role_is_named_per_region_and_trusts_exactly_the_audit_account(translated: dict[str, Any]) -> None:
    role = _audit_role(translated, {"AuditAccountId": AUDIT_ACCOUNT})
    assert role is not None
    assert role["RoleName"] == f"traffic-mirroring-audit-{REGION}"  # mirror-audit's default --role-name
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {
        "Sid": "TheAuditAccount",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{AUDIT_ACCOUNT}:root"},
        "Action": "sts:AssumeRole",
    }
    renamed = _audit_role(translated, {"AuditAccountId": AUDIT_ACCOUNT, "AuditRoleName": "org-reader"})
    assert renamed is not None and renamed["RoleName"] == f"org-reader-{REGION}"


def test_the_audit_role_may_make_exactly_the_audit_s_reads(translated: dict[str, Any]) -> None:
    properties = _audit_role(translated, {"AuditAccountId": AUDIT_ACCOUNT})
    assert properties is not None
    assert "ManagedPolicyArns" not in properties
    statements = [s for policy in properties["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    role = Role(AUDIT_ROLE, set(), statements)
    assert all(s["Effect"] == "Allow" and "NotAction" not in s and "Condition" not in s for s in statements)
    # Describe calls, and cloudwatch:GetMetricData for --delivery (issue 23): reads only
    assert all(action.split(":", 1)[1].startswith(("Describe", "GetMetricData")) for action in role.actions)
    assert role.actions == _audit_reads()  # an audit read without its permission fails here
    assert all(allowed(role, Request(action, "*")) for action in _audit_reads())
    for request in [*create_session(OURS), on_session("ec2:DeleteTrafficMirrorSession", OURS)]:
        assert not allowed(role, request)


# -- incident response: the GuardDuty function marks instances with exactly the finding's window tags -----------------
GUARDDUTY_FUNCTION = "GuardDutyFindingFunction"
ENI_ATTACHED_FUNCTION = "NetworkInterfaceAttachedFunction"
UNTIL = SETTINGS.until_tag_key
FINDING_UNTIL = SETTINGS.finding_until_tag_key
FINDING = SETTINGS.finding_tag_key
MIRROR = SETTINGS.mirror_tag_key
INCIDENT = {**PRODUCTION, "GuardDutyMinSeverity": "7", "AttachEventsFromCloudTrail": "true"}


@pytest.fixture(scope="module")
def incident_roles(translated: dict[str, Any]) -> dict[str, Role]:
    return roles_under(translated, INCIDENT)


def test_the_optional_event_functions_are_allowed_exactly_the_calls_their_code_makes(
    incident_roles: dict[str, Role],
) -> None:
    assert sorted(incident_roles) == sorted(
        [*MIRRORING_FUNCTIONS, CLEANUP_FUNCTION, LIFECYCLE_FUNCTION, GUARDDUTY_FUNCTION, ENI_ATTACHED_FUNCTION]
    )
    for name in (GUARDDUTY_FUNCTION, ENI_ATTACHED_FUNCTION):
        assert incident_roles[name].actions == _needed(name), name
        assert incident_roles[name].managed == _managed(INCIDENT), name


WINDOW_TAGS_ALLOWED = [[FINDING_UNTIL, FINDING], [FINDING_UNTIL], [FINDING]]
WINDOW_TAGS_DENIED = [
    ["Name"],
    [FINDING_UNTIL, FINDING, "Name"],
    [MIRROR],  # the owner's tags: a finding never writes them (issue 20)
    [UNTIL],
    [MIRROR, UNTIL, FINDING],
    [FINDING_UNTIL, STATUS],  # each statement allows its own keys: a mix is no request the code makes
    [MARKER],
    ["mirror-target"],
    ["mirror-filter"],
]


@pytest.mark.parametrize("keys", WINDOW_TAGS_ALLOWED, ids=lambda keys: "+".join(keys))
def test_the_guardduty_function_may_write_the_finding_s_window_tags_on_instances(
    incident_roles: dict[str, Role], keys: list[str]
) -> None:
    assert allowed(incident_roles[GUARDDUTY_FUNCTION], tag_instance("ec2:CreateTags", keys))


@pytest.mark.parametrize("keys", WINDOW_TAGS_DENIED, ids=lambda keys: "+".join(keys))
def test_the_guardduty_function_may_write_no_other_tag_on_instances(
    incident_roles: dict[str, Role], keys: list[str]
) -> None:
    role = incident_roles[GUARDDUTY_FUNCTION]
    assert not allowed(role, tag_instance("ec2:CreateTags", keys))
    # Without any key (ForAllValues holds then): the Null condition refuses it.
    assert not allowed(role, tag_instance("ec2:CreateTags", None))


def test_the_guardduty_function_tags_only_instances_of_this_account_and_removes_no_owner_s_tag(
    incident_roles: dict[str, Role],
) -> None:
    role = incident_roles[GUARDDUTY_FUNCTION]
    keys: dict[str, str | list[str]] = {"aws:TagKeys": [FINDING_UNTIL, FINDING]}
    elsewhere = f"arn:aws:ec2:{REGION}:{OTHER_ACCOUNT}:instance/i-0123456789abcdef0"
    assert not allowed(role, Request("ec2:CreateTags", elsewhere, keys))
    assert not allowed(role, Request("ec2:CreateTags", arn("volume/vol-0123456789abcdef0"), keys))
    assert not allowed(role, Request("ec2:CreateTags", SESSION, keys))
    for key in (MIRROR, UNTIL):
        assert not allowed(role, tag_instance("ec2:DeleteTags", [key])), key


def test_no_other_function_may_write_the_finding_s_window_tags(incident_roles: dict[str, Role]) -> None:
    for name, role in incident_roles.items():
        if name == GUARDDUTY_FUNCTION:
            continue
        for keys in WINDOW_TAGS_ALLOWED:
            assert not allowed(role, tag_instance("ec2:CreateTags", keys)), (name, keys)


def test_every_reconciling_function_may_remove_an_ended_finding_window_and_nothing_of_the_owner_s(
    incident_roles: dict[str, Role],
) -> None:
    # Any reconcile of the instance past the window's end removes the finding's tags (with the status tag).
    for name in (*MIRRORING_FUNCTIONS, GUARDDUTY_FUNCTION, ENI_ATTACHED_FUNCTION):
        role = incident_roles[name]
        assert allowed(role, tag_instance("ec2:DeleteTags", [STATUS, FINDING, FINDING_UNTIL])), name
        for keys in ([MIRROR], [UNTIL], [FINDING, MIRROR], [GENERATION], ["Name"]):
            assert not allowed(role, tag_instance("ec2:DeleteTags", keys)), (name, keys)


@pytest.mark.parametrize("case", sorted(ALLOWED))
def test_the_optional_event_functions_may_mirror_like_the_others(incident_roles: dict[str, Role], case: str) -> None:
    for name in (GUARDDUTY_FUNCTION, ENI_ATTACHED_FUNCTION):
        refused = [r for r in ALLOWED[case] if not allowed(incident_roles[name], r)]
        assert refused == [], (name, case)


@pytest.mark.parametrize("case", sorted(DENIED))
def test_what_no_function_may_do_stays_denied_with_the_optional_functions(
    incident_roles: dict[str, Role], case: str
) -> None:
    for name, role in incident_roles.items():
        assert not allowed(role, DENIED[case]), (name, case)


def test_the_finding_s_window_tags_do_not_follow_the_mirror_tag_key(translated: dict[str, Any]) -> None:
    role = roles_under(translated, {**INCIDENT, "MirrorTagKey": "monitor"})[GUARDDUTY_FUNCTION]
    assert allowed(role, tag_instance("ec2:CreateTags", [FINDING_UNTIL, FINDING]))
    assert not allowed(role, tag_instance("ec2:CreateTags", ["monitor"]))
    assert not allowed(role, tag_instance("ec2:CreateTags", [MIRROR]))
