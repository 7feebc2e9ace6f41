"""template.yaml routes each event to the right function, never re-triggers on our own writes, and wires every function.

The event patterns are read from the template and matched the way EventBridge matches them (simulation.eventbridge),
so these tests fail when a pattern in the template is wrong, not when a copy of it is.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from simulation.eventbridge import Rule, load_rules, load_template, matching_rules
from tests.integration.transformed_template import PSEUDO, Resolver, transformed
from traffic_mirroring.config import load_settings
from traffic_mirroring.errors import ConfigurationError
from traffic_mirroring.events import GuardDutyFinding, InstanceTrigger, LifecycleAction, parse_guardduty_finding
from traffic_mirroring.incident import MIN_SEVERITY_VARIABLE, MIRROR_HOURS_VARIABLE, load_incident_settings
from traffic_mirroring.lifecycle import ABANDON, CONTINUE, FAILURE_RESULT_VARIABLE
from traffic_mirroring.mirror_skips import SKIP_CHECK_MINUTES
from traffic_mirroring.planner import own_tags_that_do_not_matter, tag_keys_that_matter
from traffic_mirroring.skip_check import SKIP_CHECK_INPUT, is_skip_check
from traffic_mirroring.triggers import SCHEDULES, TRIGGERS

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"

STATE_CHANGE = "InstanceStateChangeFunction"
TAG_CHANGE = "InstanceTagChangeFunction"
ASG_LAUNCH = "AutoScalingLaunchFunction"
ASG_LIFECYCLE = "AutoScalingLifecycleFunction"
RECONCILER = "ScheduledReconcilerFunction"
CLEANUP = "SessionCleanupFunction"
GUARDDUTY = "GuardDutyFindingFunction"
ENI_ATTACHED = "NetworkInterfaceAttachedFunction"
# Every optional function deployed: what the template can create at most (each trigger's parameters, from the
# registry of triggers).
ALL_OPTIONS = {name: value for trigger in TRIGGERS for name, value in trigger.enabled_by}

# Which function each sample event must reach through an EventBridgeRule, with the default parameters: its trigger's
# (traffic_mirroring.triggers). None: no rule may match it (the schedule invokes the reconciler through its own
# Schedule rule; lifecycle actions reach a function only with LifecycleHookMode=true, GuardDuty findings only with
# GuardDutyMinSeverity set, CloudTrail's AttachNetworkInterface only with AttachEventsFromCloudTrail=true: a trigger's
# enabled_by).
EXPECTED_FUNCTION: dict[str, str | None] = {
    **{sample: None for schedule in SCHEDULES for sample in schedule.samples},
    **{sample: None if t.enabled_by else t.logical_id for t in TRIGGERS for sample in t.samples},
}
# With every optional function deployed.
EXPECTED_WITH_ALL_OPTIONS: dict[str, str | None] = {
    **EXPECTED_FUNCTION,
    **{sample: t.logical_id for t in TRIGGERS for sample in t.samples},
}

# Every function a trigger invokes, schedule included.
TRIGGERED = [entry.logical_id for entry in (*TRIGGERS, *SCHEDULES)]

PARSER_OF_SAMPLE: dict[str, Callable[[Any], InstanceTrigger | LifecycleAction | GuardDutyFinding]] = {
    sample: trigger.parse for trigger in TRIGGERS for sample in trigger.samples
}

# The session marker (tag mirror-managed-by): the parameter ManagedBy, or the stack name when it is empty.
SESSION_MARKER = {"Fn::If": ["HasManagedBy", {"Ref": "ManagedBy"}, {"Ref": "AWS::StackName"}]}
MARKER_TAG = "mirror-managed-by"
MARKER_CONDITION = re.compile(r"aws:(RequestTag|ResourceTag)/" + re.escape(MARKER_TAG))

REQUIRED_ENVIRONMENT = (
    "TARGET_IDS",
    "FILTER_ID",
    "MIRROR_TAG_KEY",
    "MIRROR_TAG_VALUE",
    "MANAGED_BY",
    "ACCOUNT_ID",
    "APPROVED_FILTER_IDS",
    "PROBE_UNLISTED_TYPES",
    "TARGET_SOURCE_LIMITS",
    "TARGET_CACHE_SECONDS",
    "TARGET_POOL",
    "TARGET_REACHABLE_FROM",
    "MIRROR_SELECTORS",
)


def _sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


def _reached(rules: list[Rule], event: dict[str, Any]) -> list[str]:
    return [rule.function_logical_id for rule in matching_rules(rules, event)]


def _tag_change(changed_keys: list[str], tags: dict[str, str] | None = None) -> dict[str, Any]:
    event = _sample("tag-change-mirror-added.json")
    event["detail"]["changed-tag-keys"] = changed_keys
    event["detail"]["tags"] = tags if tags is not None else {"Name": "web-1", "mirror": "true"}
    return event


def _state_change(state: str) -> dict[str, Any]:
    event = _sample("ec2-instance-running.json")
    event["detail"]["state"] = state
    return event


@pytest.fixture(scope="module")
def rules() -> list[Rule]:
    return load_rules(TEMPLATE)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each function's properties with the template's Globals applied (as SAM merges them)."""
    defaults = template.get("Globals", {}).get("Function", {})
    merged: dict[str, dict[str, Any]] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = {**copy.deepcopy(defaults), **resource["Properties"]}
        variables = {
            **defaults.get("Environment", {}).get("Variables", {}),
            **resource["Properties"].get("Environment", {}).get("Variables", {}),
        }
        properties["Environment"] = {"Variables": variables}
        merged[logical_id] = properties
    return merged


# -- (a) every sample reaches exactly its function ---------------------------------------------------------------
def test_every_sample_event_has_an_expected_destination() -> None:
    assert sorted(path.name for path in EVENTS.glob("*.json")) == sorted(EXPECTED_FUNCTION)


@pytest.mark.parametrize("sample", sorted(EXPECTED_FUNCTION))
def test_sample_event_reaches_exactly_its_function(rules: list[Rule], sample: str) -> None:
    expected = EXPECTED_FUNCTION[sample]

    reached = _reached(rules, _sample(sample))

    assert reached == ([expected] if expected else [])


@pytest.mark.parametrize("sample", sorted(PARSER_OF_SAMPLE))
def test_sample_event_is_accepted_by_its_parser(sample: str) -> None:
    trigger = PARSER_OF_SAMPLE[sample](_sample(sample))

    assert trigger.instance_id == "i-0123456789abcdef0"


@pytest.mark.parametrize("sample", sorted(EXPECTED_FUNCTION))
def test_sample_event_has_a_real_envelope(sample: str) -> None:
    event = _sample(sample)

    assert event["version"] == "0"
    assert event["region"] == "us-east-1"
    assert event["time"][:4].isdigit() and event["time"].endswith("Z")
    assert all(resource.startswith("arn:aws:") for resource in event["resources"])


def test_each_instance_function_has_exactly_one_rule(rules: list[Rule]) -> None:
    always_deployed = [trigger.logical_id for trigger in TRIGGERS if not trigger.enabled_by]
    assert sorted(rule.function_logical_id for rule in rules) == sorted(always_deployed)


# -- (a') lifecycle hook mode adds the lifecycle function, and only it receives lifecycle actions ------------------
@pytest.fixture(scope="module")
def lifecycle_rules() -> list[Rule]:
    return load_rules(TEMPLATE, parameter_overrides={"LifecycleHookMode": "true"})


@pytest.mark.parametrize("sample", sorted(EXPECTED_FUNCTION))
def test_in_lifecycle_hook_mode_lifecycle_actions_reach_only_the_lifecycle_function(
    lifecycle_rules: list[Rule], sample: str
) -> None:
    expected = ASG_LIFECYCLE if sample == "autoscaling-launch-lifecycle-action.json" else EXPECTED_FUNCTION[sample]

    reached = _reached(lifecycle_rules, _sample(sample))

    assert reached == ([expected] if expected else [])


def test_lifecycle_hook_mode_deploys_the_lifecycle_function_with_its_failure_setting(template: dict[str, Any]) -> None:
    function = template["Resources"][ASG_LIFECYCLE]

    assert function["Condition"] == "LifecycleHookEnabled"
    assert template["Conditions"]["LifecycleHookEnabled"] == {"Fn::Equals": [{"Ref": "LifecycleHookMode"}, "true"]}
    assert template["Parameters"]["LifecycleHookMode"]["Default"] == "false"
    assert template["Parameters"]["LifecycleFailureResult"]["AllowedValues"] == [CONTINUE, ABANDON]
    assert template["Parameters"]["LifecycleFailureResult"]["Default"] == CONTINUE
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables == {FAILURE_RESULT_VARIABLE: {"Ref": "LifecycleFailureResult"}}


# -- (b) writing the status tag (or any other tag) never triggers us ----------------------------------------------
@pytest.mark.parametrize("changed_keys", [["mirror-status"], ["Name"], ["mirror-managed-by"], []])
def test_tag_change_of_other_keys_reaches_no_function(rules: list[Rule], changed_keys: list[str]) -> None:
    event = _tag_change(changed_keys, tags={"Name": "web-1", "mirror": "true", "mirror-status": "mirrored"})

    assert _reached(rules, event) == []


def test_tag_change_with_the_mirror_key_among_others_reaches_the_tag_function(rules: list[Rule]) -> None:
    assert _reached(rules, _tag_change(["Name", "mirror", "mirror-status"])) == [TAG_CHANGE]


def test_mirror_tag_change_on_a_volume_reaches_no_function(rules: list[Rule]) -> None:
    event = _tag_change(["mirror"])
    event["detail"]["resource-type"] = "volume"
    event["resources"] = ["arn:aws:ec2:us-east-1:123456789012:volume/vol-0123456789abcdef0"]

    assert _reached(rules, event) == []


# -- (c) the tag rule follows the MirrorTagKey parameter -----------------------------------------------------------
def test_tag_rule_follows_an_overridden_mirror_tag_key() -> None:
    rules = load_rules(TEMPLATE, parameter_overrides={"MirrorTagKey": "monitor"})

    assert _reached(rules, _tag_change(["monitor"])) == [TAG_CHANGE]
    assert _reached(rules, _tag_change(["mirror"])) == []


def test_override_of_an_undeclared_parameter_is_refused() -> None:
    with pytest.raises(ValueError, match="MirorTagKey"):
        load_rules(TEMPLATE, parameter_overrides={"MirorTagKey": "monitor"})


# -- (d) the state rule: every state that can change what we mirror, not pending ----------------------------------
@pytest.mark.parametrize("state", ["running", "stopping", "stopped", "shutting-down", "terminated"])
def test_state_change_reaches_the_state_function(rules: list[Rule], state: str) -> None:
    assert _reached(rules, _state_change(state)) == [STATE_CHANGE]


def test_pending_state_reaches_no_function(rules: list[Rule]) -> None:
    assert _reached(rules, _state_change("pending")) == []


# -- (e) every function is wired: handler, code, layer, settings ---------------------------------------------------
def test_every_function_runs_app_handler_from_functions_with_the_layer(template: dict[str, Any]) -> None:
    functions = _functions(template)

    assert sorted(functions) == sorted([*TRIGGERED, CLEANUP])
    for logical_id, properties in functions.items():
        assert properties["Handler"] == "app.handler", logical_id
        code_uri = properties["CodeUri"]
        assert code_uri.startswith("functions/"), logical_id
        assert (ROOT / code_uri / "app.py").is_file(), logical_id
        assert {"Ref": "MirroringLayer"} in properties["Layers"], logical_id
        assert properties["Runtime"] == "python3.13" and properties["Architectures"] == ["arm64"], logical_id


def test_every_function_gets_the_settings_the_code_requires(template: dict[str, Any]) -> None:
    for logical_id, properties in _functions(template).items():
        variables = properties["Environment"]["Variables"]
        missing = [name for name in REQUIRED_ENVIRONMENT if name not in variables]
        assert missing == [], logical_id
        assert variables["MANAGED_BY"] == SESSION_MARKER
        assert variables["ACCOUNT_ID"] == {"Ref": "AWS::AccountId"}
        assert variables["STATUS_TAG_KEY"] == "mirror-status"
        assert variables["PROBE_UNLISTED_TYPES"] == {"Ref": "ProbeUnlistedInstanceTypes"}
        assert variables["APPROVED_FILTER_IDS"] == {"Fn::Join": [",", {"Ref": "ApprovedFilterIds"}]}
        assert variables["TARGET_SOURCE_LIMITS"] == {"Fn::Join": [",", {"Ref": "TargetSourceLimits"}]}
        assert variables["TARGET_POOL"] == {"Ref": "TargetPool"}
        assert variables["TARGET_REACHABLE_FROM"] == {"Fn::Join": [",", {"Ref": "TargetReachableFrom"}]}
        assert variables["MIRROR_SELECTORS"] == {"Ref": "MirrorSelectors"}


def test_layer_is_built_by_its_makefile_for_arm64(template: dict[str, Any]) -> None:
    layer = template["Resources"]["MirroringLayer"]

    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    assert (ROOT / layer["Properties"]["ContentUri"] / "Makefile").is_file()


def test_every_rule_retries_into_the_dead_letter_queue_that_lets_it_in(template: dict[str, Any]) -> None:
    queue_policy = template["Resources"]["EventsDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]
    allowed_sources = queue_policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"]
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event_name, event in resource["Properties"].get("Events", {}).items():
            if event["Type"] not in ("EventBridgeRule", "Schedule"):
                continue
            properties = event["Properties"]
            assert properties["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]}}
            assert "RetryPolicy" in properties, f"{logical_id}.{event_name}"
            # SAM names the rule it generates <FunctionLogicalId><EventName>; a conditional function's rule exists
            # (and may be named in the queue policy) only under the function's condition.
            rule_arn = {"Fn::GetAtt": [f"{logical_id}{event_name}", "Arn"]}
            if "Condition" in resource:
                rule_arn = {"Fn::If": [resource["Condition"], rule_arn, {"Ref": "AWS::NoValue"}]}
            assert rule_arn in allowed_sources, f"{logical_id}.{event_name}"


def test_the_reconciler_runs_on_the_configured_schedule(template: dict[str, Any]) -> None:
    events = template["Resources"][RECONCILER]["Properties"]["Events"]

    # Issue 21: a second, hourly rule runs the skip check (its constant input), not a reconcile.
    reconciles = [e for e in events.values() if e["Type"] == "Schedule" and "Input" not in e["Properties"]]
    assert [event["Properties"]["Schedule"] for event in reconciles] == [{"Ref": "ReconcileSchedule"}]


def test_the_skip_check_runs_hourly_with_the_input_the_handler_recognises(template: dict[str, Any]) -> None:
    check = template["Resources"][RECONCILER]["Properties"]["Events"]["MirrorSkipCheck"]
    properties = check["Properties"]

    assert check["Type"] == "Schedule"
    assert properties["Schedule"] == f"rate({SKIP_CHECK_MINUTES // 60} hour)" and SKIP_CHECK_MINUTES == 60
    assert json.loads(properties["Input"]) == SKIP_CHECK_INPUT and is_skip_check(json.loads(properties["Input"]))
    assert properties["State"] == {"Fn::If": ["SkipAlarmsEnabled", "ENABLED", "DISABLED"]}
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["SKIP_THRESHOLD_BYTES"] == {"Ref": "SkipAlarmThresholdBytes"}


# -- (f) deployable as is, removable cleanly: the template CloudFormation receives (SAM-expanded), default parameters --
@pytest.fixture(scope="module")
def deployed() -> dict[str, Any]:
    return transformed()


def _present(template: dict[str, Any], resolver: Resolver) -> dict[str, dict[str, Any]]:
    """The resources CloudFormation creates under these parameters."""
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if "Condition" not in resource or resolver.condition(resource["Condition"])
    }


def _references(node: Any, names: set[str]) -> set[str]:
    """The resources a node refers to (Ref, Fn::GetAtt, ${Name} or ${Name.Attribute} in Fn::Sub)."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= _references(item, names)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and value in names:
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else str(value).split(".")[0])
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text)} & names
                if isinstance(value, list):
                    found |= _references(value[1], names)
            else:
                found |= _references(value, names)
    return found


def _depends_on(template: dict[str, Any], resolver: Resolver) -> dict[str, set[str]]:
    """Every resource's dependencies, direct and indirect, as CloudFormation orders creation (and, reversed,
    deletion): references and DependsOn."""
    present = _present(template, resolver)
    names = set(present)
    direct = {
        name: (_references(resource.get("Properties", {}), names) | set(_as_list(resource.get("DependsOn", []))))
        & names
        for name, resource in present.items()
    }
    closure: dict[str, set[str]] = {}

    def reach(name: str, seen: frozenset[str] = frozenset()) -> set[str]:
        if name not in closure:
            assert name not in seen, f"dependency cycle through {name}"
            found = set(direct[name])
            for child in direct[name]:
                found |= reach(child, seen | {name})
            closure[name] = found
        return closure[name]

    return {name: reach(name) for name in present}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_stack_deletion_removes_every_session_creator_before_the_cleanup_and_the_filter_after_it(
    deployed: dict[str, Any],
) -> None:
    resolver = Resolver(deployed, {})
    depends = _depends_on(deployed, resolver)
    present = _present(deployed, resolver)
    cleanup = deployed["Resources"]["SessionCleanup"]
    assert cleanup["Type"] == "Custom::SessionCleanup"
    assert cleanup["Properties"]["ServiceToken"] == {"Fn::GetAtt": [CLEANUP, "Arn"]}
    # What could create a session (functions, their roles, rules, schedule, permissions) is deleted before the
    # cleanup runs: each depends on it, so CloudFormation deletes it first.
    creators = [
        name
        for name, resource in present.items()
        if resource["Type"]
        in ("AWS::Lambda::Function", "AWS::IAM::Role", "AWS::Events::Rule", "AWS::Lambda::Permission")
        and not name.startswith("SessionCleanup")
    ]
    assert len(creators) >= 4 * 4  # function, role, rule, permission of each mirroring function
    assert [name for name in creators if "SessionCleanup" not in depends[name]] == []
    # The filter and its rules are deleted after it: it depends on them, so they still exist while it runs.
    filter_parts = [name for name, r in present.items() if r["Type"].startswith("AWS::EC2::TrafficMirrorFilter")]
    assert len(filter_parts) == 5
    assert set(filter_parts) <= depends["SessionCleanup"]


def test_with_a_filter_of_one_s_own_the_cleanup_still_runs_first(deployed: dict[str, Any]) -> None:
    resolver = Resolver(deployed, {"FilterId": "tmf-0123456789abcdef0"})
    depends = _depends_on(deployed, resolver)
    assert "SessionCleanup" in depends[STATE_CHANGE] and "SessionCleanup" in depends[f"{STATE_CHANGE}StateChange"]


def test_default_parameters_reserve_no_concurrency(deployed: dict[str, Any]) -> None:
    # A new account's Lambda quota can be 10, and Lambda keeps 100 (or all of a smaller quota) unreserved.
    resolver = Resolver(deployed, {})
    for name, resource in _present(deployed, resolver).items():
        if resource["Type"] == "AWS::Lambda::Function":
            properties = resolver.resolve(resource["Properties"])
            assert "ReservedConcurrentExecutions" not in properties, name


def test_reserved_concurrency_when_asked_bounds_each_event_function_and_the_reconciler_to_one(
    deployed: dict[str, Any],
) -> None:
    resolver = Resolver(deployed, {"ReservedConcurrency": "10"})
    reserved = {
        name: resolver.resolve(resource["Properties"]).get("ReservedConcurrentExecutions")
        for name, resource in _present(deployed, resolver).items()
        if resource["Type"] == "AWS::Lambda::Function"
    }
    assert reserved == {STATE_CHANGE: "10", TAG_CHANGE: "10", ASG_LAUNCH: "10", RECONCILER: 1, CLEANUP: None}


@pytest.mark.parametrize(
    ("parameters", "topic"),
    [
        ({}, "ref:AlarmTopic"),
        ({"AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:ops"}, "arn:aws:sns:us-east-1:123456789012:ops"),
    ],
    ids=["defaults", "existing-topic"],
)
def test_every_alarm_has_an_action(deployed: dict[str, Any], parameters: dict[str, str], topic: str) -> None:
    resolver = Resolver(deployed, parameters)
    present = _present(deployed, resolver)
    alarms = {n: r for n, r in present.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert len(alarms) >= 15
    for name, alarm in alarms.items():
        assert resolver.resolve(alarm["Properties"])["AlarmActions"] == [topic], name
    assert ("AlarmTopic" in present) == (not parameters)


def test_the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(deployed: dict[str, Any]) -> None:
    topic = deployed["Resources"]["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    key = deployed["Resources"]["AlarmTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    publishers = [s for s in key["KeyPolicy"]["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert publishers and set(publishers[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}


def test_an_alarm_email_subscribes_to_the_topic_the_alarms_notify(deployed: dict[str, Any]) -> None:
    resolver = Resolver(deployed, {"AlarmEmail": "ops@example.com"})
    subscription = _present(deployed, resolver)["AlarmEmailSubscription"]
    assert resolver.resolve(subscription["Properties"]) == {
        "TopicArn": "ref:AlarmTopic",
        "Protocol": "email",
        "Endpoint": "ops@example.com",
    }
    assert "AlarmEmailSubscription" not in _present(deployed, Resolver(deployed, {}))


def test_every_queue_refuses_plain_http(deployed: dict[str, Any]) -> None:
    queues = {n for n, r in deployed["Resources"].items() if r["Type"] == "AWS::SQS::Queue"}
    guarded = set()
    for resource in deployed["Resources"].values():
        if resource["Type"] != "AWS::SQS::QueuePolicy":
            continue
        [queue] = resource["Properties"]["Queues"]
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement.get("Condition") == {
                "Bool": {"aws:SecureTransport": "false"}
            }:
                assert statement["Principal"] == "*" and statement["Action"] == "sqs:*"
                guarded.add(queue["Ref"])
    assert guarded == queues


ID_PARAMETERS = {
    "TargetIds": (["tmt-0123456789abcdef0", ""], ["eni-0123456789abcdef0", " tmt-0123456789abcdef0", "tmt-XYZ"]),
    "FilterId": (["tmf-0123456789abcdef0", ""], ["tmt-0123456789abcdef0", "tmf-0123 "]),
    "ApprovedFilterIds": (["tmf-0123456789abcdef0", ""], ["tmt-0123456789abcdef0", "tmf-0123,"]),
    "TargetSourceLimits": (["tmt-0abc=100", ""], ["tmt-0abc", "tmt-0abc=0", "tmt-0abc=ten"]),
    "TargetOwnerAccountId": (["210987654321", ""], ["21098765432", "arn:aws:iam::210987654321:root"]),
    "TargetReachableFrom": (
        ["tmt-0abc=vpc-01 vpc-02", "tmt-0def=*", "tmt-0abc=vpc-0123456789abcdef0", ""],
        [
            "tmt-0abc",
            "tmt-0abc=",
            "vpc-02",  # "tmt-0abc=vpc-01,vpc-02" is two values: VPCs are separated by spaces
            "tmt-0abc=vpc-01  vpc-02",
            "tmt-0abc=vpc-01 ",
            "tmt-0abc=* vpc-01",
            "eni-0abc=*",
        ],
    ),
    "AuditAccountId": (["444455556666", ""], ["44445555666", "arn:aws:iam::444455556666:root"]),
}


@pytest.mark.parametrize("name", sorted(ID_PARAMETERS))
def test_ids_are_checked_at_deploy_time(template: dict[str, Any], name: str) -> None:
    # CloudFormation matches AllowedPattern against the whole value, and against each value of a CommaDelimitedList.
    pattern = template["Parameters"][name]["AllowedPattern"]
    good, bad = ID_PARAMETERS[name]
    assert [value for value in good if not re.fullmatch(pattern, value)] == []
    assert [value for value in bad if re.fullmatch(pattern, value)] == []
    assert re.fullmatch(pattern, str(template["Parameters"][name]["Default"]))


# -- (g) one session marker: ManagedBy, else the stack name, wherever the marker is used ------------------------------
def marker_uses(template: dict[str, Any]) -> dict[str, Any]:
    """Every place of a template (source or expanded) that holds the session marker, by path: the functions'
    MANAGED_BY, a tag mirror-managed-by (a Key/Value pair or a key of a tag map), an IAM condition on
    aws:RequestTag/ or aws:ResourceTag/mirror-managed-by, a resource property ManagedBy (SessionCleanup), the output
    ManagedBy."""
    found: dict[str, Any] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{path}[{index}]")
        elif isinstance(node, dict):
            if node.get("Key") == MARKER_TAG and "Value" in node:
                found[f"{path}.Value"] = node["Value"]
            for key, value in node.items():
                custom_resource_property = key == "ManagedBy" and path.endswith(".Properties")
                if key in ("MANAGED_BY", MARKER_TAG) or MARKER_CONDITION.fullmatch(key) or custom_resource_property:
                    found[f"{path}.{key}"] = value
                else:
                    walk(value, f"{path}.{key}")

    walk(template.get("Globals", {}), "Globals")
    walk(template["Resources"], "Resources")
    if "ManagedBy" in template.get("Outputs", {}):
        found["Outputs.ManagedBy.Value"] = template["Outputs"]["ManagedBy"]["Value"]
    return found


def test_the_session_marker_has_one_definition(template: dict[str, Any]) -> None:
    uses = marker_uses(template)
    # A guard: the scan finds the functions' variable, the filter's tag, SessionCleanup, the IAM conditions, the output.
    assert "Globals.Function.Environment.Variables.MANAGED_BY" in uses and len(uses) >= 7
    assert {path: value for path, value in uses.items() if value != SESSION_MARKER} == {}
    assert template["Conditions"]["HasManagedBy"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ManagedBy"}, ""]}]}
    assert template["Parameters"]["ManagedBy"]["Default"] == ""


@pytest.mark.parametrize(
    ("managed_by", "marker"),
    [("", PSEUDO["AWS::StackName"]), ("traffic-mirroring", "traffic-mirroring")],
    ids=["empty-the-stack-name", "set"],
)
def test_every_use_of_the_session_marker_resolves_to_one_value(
    deployed: dict[str, Any], managed_by: str, marker: str
) -> None:
    # Deployed (SAM-expanded), every optional function on: each function's MANAGED_BY, the IAM conditions of its role
    # (create tagged with it, change and delete only sessions tagged with it), SessionCleanup, the default filter's tag.
    resolver = Resolver(deployed, {"ManagedBy": managed_by, **ALL_OPTIONS})
    uses = marker_uses(deployed)
    create, change = (f"aws:{kind}/{MARKER_TAG}" for kind in ("RequestTag", "ResourceTag"))
    # SessionCleanup: its property ManagedBy, and MANAGED_BY among the settings it checks; the policy that moves the
    # sessions to a new marker names the marker too.
    expected: dict[str, set[str]] = {
        "SessionCleanup": {"ManagedBy", "MANAGED_BY"},
        "SessionCleanupRetagPolicy": {change},
        "MirrorFilter": {"Value"},
    }
    for name, resource in _present(deployed, resolver).items():
        if resource["Type"] == "AWS::Lambda::Function":
            expected[name] = {"MANAGED_BY"}
            role = resource["Properties"]["Role"]["Fn::GetAtt"][0]
            expected[role] = {change} if name == CLEANUP else {create, change}
    assert len(expected) == 3 + 2 * 8
    found: dict[str, set[str]] = {}
    for path in uses:
        if path.startswith("Resources."):
            found.setdefault(path.split(".")[1], set()).add(path.rsplit(".", 1)[1])
    assert found == expected
    assert "Outputs.ManagedBy.Value" in uses
    resolved = {path: resolver.resolve(value) for path, value in uses.items()}
    assert {path: value for path, value in resolved.items() if value != marker} == {}


MARKERS = (
    [
        "traffic-mirroring",
        "StackSet-traffic-mirroring-6d4f4e2a-0000-0000-0000-000000000000",
        "ops team/mirror@eu",
        "a" * 128,
        "",
    ],
    ["a,b", "a\nb", "a\tb", " traffic-mirroring", "traffic-mirroring ", "${aws:username}", "a" * 129],
)


def test_a_marker_deploys_only_if_the_functions_read_it_as_iam_compares_it(template: dict[str, Any]) -> None:
    # CloudFormation refuses the value at deploy time rather than the functions at their first run (MANAGED_BY is
    # stripped and checked by traffic_mirroring.config), and IAM compares it unchanged, so no "$" (${...} is a policy
    # variable in a condition) and no space at either end (stripped by the functions).
    spec = template["Parameters"]["ManagedBy"]
    good, bad = MARKERS

    def deploys(value: str) -> bool:
        return bool(re.fullmatch(spec["AllowedPattern"], value)) and len(value) <= spec["MaxLength"]

    def read_as_given(value: str) -> bool:
        try:
            return load_settings({"FILTER_ID": "tmf-0", "MANAGED_BY": value}).managed_by == value
        except ConfigurationError:
            return False

    assert [value for value in good if not deploys(value)] == []
    assert [value for value in bad if deploys(value)] == []
    assert [value for value in good if value and not read_as_given(value)] == []  # "": the stack name instead


def test_every_deploy_environment_acknowledges_the_named_audit_role(template: dict[str, Any]) -> None:
    # The audit role has an explicit name (AuditAccountId set): CloudFormation refuses it without CAPABILITY_NAMED_IAM,
    # and `make deploy` passes samconfig.toml's capabilities, no flag of its own.
    named = [
        n for n, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role" and "RoleName" in r["Properties"]
    ]
    assert named == ["AuditRole"]
    environments = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    capabilities = {
        env: settings["deploy"]["parameters"]["capabilities"]
        for env, settings in environments.items()
        if env != "version"
    }
    assert sorted(capabilities) == ["default", "dev", "prod"]
    for env, value in capabilities.items():
        assert {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"} <= set(value.split() if isinstance(value, str) else value), (
            env
        )


# -- (h) optional rules: GuardDuty findings, ENIs attached later (CloudTrail), selectors -----------------------------
@pytest.fixture(scope="module")
def all_option_rules() -> list[Rule]:
    return load_rules(TEMPLATE, parameter_overrides=ALL_OPTIONS)


@pytest.mark.parametrize("sample", sorted(EXPECTED_WITH_ALL_OPTIONS))
def test_with_every_option_each_sample_reaches_exactly_its_function(all_option_rules: list[Rule], sample: str) -> None:
    expected = EXPECTED_WITH_ALL_OPTIONS[sample]

    assert _reached(all_option_rules, _sample(sample)) == ([expected] if expected else [])


def test_every_rule_the_template_can_deploy_has_a_sample_it_matches(all_option_rules: list[Rule]) -> None:
    # A rule without a real-shaped sample in events/ is a pattern nobody has checked against what AWS sends.
    samples = [_sample(path.name) for path in sorted(EVENTS.glob("*.json"))]
    for selectors in ("", "eks:cluster-name=prod"):
        rules = load_rules(TEMPLATE, parameter_overrides={**ALL_OPTIONS, "MirrorSelectors": selectors})
        assert len(rules) == 6
        unmatched = [f"{r.function_logical_id}.{r.event_name}" for r in rules if not any(r.matches(s) for s in samples)]
        assert unmatched == [], selectors


def test_optional_functions_are_off_by_default(template: dict[str, Any], rules: list[Rule]) -> None:
    parameters = template["Parameters"]
    assert parameters["GuardDutyMinSeverity"]["Default"] == ""
    assert parameters["AttachEventsFromCloudTrail"]["Default"] == "false"
    assert parameters["AttachEventsFromCloudTrail"]["AllowedValues"] == ["true", "false"]
    assert parameters["MirrorSelectors"]["Default"] == ""
    assert template["Conditions"]["GuardDutyEnabled"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "GuardDutyMinSeverity"}, ""]}]
    }
    assert template["Conditions"]["AttachEventsEnabled"] == {
        "Fn::Equals": [{"Ref": "AttachEventsFromCloudTrail"}, "true"]
    }
    assert template["Conditions"]["HasMirrorSelectors"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "MirrorSelectors"}, ""]}]
    }
    assert template["Resources"][GUARDDUTY]["Condition"] == "GuardDutyEnabled"
    assert template["Resources"][ENI_ATTACHED]["Condition"] == "AttachEventsEnabled"
    assert GUARDDUTY not in {r.function_logical_id for r in rules}
    assert ENI_ATTACHED not in {r.function_logical_id for r in rules}


SEVERITIES = (
    ["1", "1.0", "4.5", "7", "7.25", "8.9", "9.999999", "10", "10.0", ""],
    ["0", "0.5", "10.1", "11", "7.", ".5", "07", "7,5", " 7", "7.1234567", "1e1", "-7"],
)


def test_the_severity_threshold_deploys_only_as_a_number_from_1_to_10(template: dict[str, Any]) -> None:
    # It is written unquoted into the rule's pattern: anything but a JSON number from 1 to 10 must be refused
    # by CloudFormation, before EventBridge or the function sees it.
    spec = template["Parameters"]["GuardDutyMinSeverity"]
    good, bad = SEVERITIES
    assert [value for value in good if not re.fullmatch(spec["AllowedPattern"], value)] == []
    assert [value for value in bad if re.fullmatch(spec["AllowedPattern"], value)] == []
    for value in good:
        if value:
            assert 1 <= json.loads(value) <= 10, value
            assert load_incident_settings({MIN_SEVERITY_VARIABLE: value}).min_severity == float(value)


def test_the_window_length_is_a_number_of_hours_the_function_accepts(template: dict[str, Any]) -> None:
    spec = template["Parameters"]["GuardDutyMirrorHours"]
    assert (spec["Type"], spec["Default"], spec["MinValue"], spec["MaxValue"]) == ("Number", 24, 1, 720)
    for hours in (spec["MinValue"], spec["Default"], spec["MaxValue"]):
        settings = load_incident_settings({MIN_SEVERITY_VARIABLE: "7", MIRROR_HOURS_VARIABLE: str(hours)})
        assert settings.mirror_hours == hours
    for hours in (spec["MinValue"] - 0.5, spec["MaxValue"] + 1):
        with pytest.raises(ConfigurationError, match=MIRROR_HOURS_VARIABLE):
            load_incident_settings({MIN_SEVERITY_VARIABLE: "7", MIRROR_HOURS_VARIABLE: str(hours)})


def test_the_guardduty_function_gets_its_threshold_and_window(template: dict[str, Any]) -> None:
    variables = template["Resources"][GUARDDUTY]["Properties"]["Environment"]["Variables"]

    assert variables == {
        MIN_SEVERITY_VARIABLE: {"Ref": "GuardDutyMinSeverity"},
        MIRROR_HOURS_VARIABLE: {"Ref": "GuardDutyMirrorHours"},
    }


def _finding(severity: Any, resource_type: str = "Instance") -> dict[str, Any]:
    event = _sample("guardduty-finding-ec2.json")
    event["detail"]["severity"] = severity
    event["detail"]["resource"]["resourceType"] = resource_type
    return event


@pytest.mark.parametrize(
    ("threshold", "severity", "routed"),
    [
        ("7", 8, True),
        ("7", 7, True),
        ("7", 7.0, True),
        ("7", 10, True),
        ("7", 6.9, False),
        ("7", 2, False),
        ("4.5", 4.5, True),
        ("4.5", 4.4, False),
        ("1", 1.0, True),
        ("10", 9.9, False),
    ],
)
def test_findings_reach_the_guardduty_function_at_or_above_the_threshold(
    threshold: str, severity: float, routed: bool
) -> None:
    rules = load_rules(TEMPLATE, parameter_overrides={"GuardDutyMinSeverity": threshold})

    assert _reached(rules, _finding(severity)) == ([GUARDDUTY] if routed else [])


@pytest.mark.parametrize("resource_type", ["AccessKey", "S3Bucket", "EKSCluster", "Container", "Lambda"])
def test_findings_on_other_resources_reach_no_function(all_option_rules: list[Rule], resource_type: str) -> None:
    assert _reached(all_option_rules, _finding(9, resource_type)) == []


def test_the_severity_in_the_deployed_pattern_is_a_json_number() -> None:
    # EventBridge's numeric matching refuses a string ("7"), which is what a !Ref of a parameter would give.
    [rule] = [r for r in load_rules(TEMPLATE, {"GuardDutyMinSeverity": "7.5"}) if r.function_logical_id == GUARDDUTY]

    assert rule.pattern["detail"]["severity"] == [{"numeric": [">=", 7.5]}]
    assert rule.pattern["detail"]["$or"] == [
        {"resource": {"resourceType": ["Instance"]}},
        {"type": [{"prefix": "AttackSequence:"}]},
    ]


def _archived(event: dict[str, Any], archived: Any) -> dict[str, Any]:
    if archived == "no-field":
        del event["detail"]["service"]["archived"]
    elif archived == "no-service":
        del event["detail"]["service"]
    else:
        event["detail"]["service"]["archived"] = archived
    return event


@pytest.mark.parametrize("sample", ["guardduty-finding-ec2.json", "guardduty-attack-sequence-ec2.json"])
@pytest.mark.parametrize(
    ("archived", "routed"), [(True, False), (False, True), ("no-field", True), ("no-service", True)]
)
def test_the_guardduty_rule_excludes_archived_findings_only(
    all_option_rules: list[Rule], sample: str, archived: Any, routed: bool
) -> None:
    # GuardDuty keeps sending events for findings an analyst archived (detail.service.archived true); a finding
    # without the field, or without service, must still reach the function.
    event = _archived(_sample(sample), archived)

    assert _reached(all_option_rules, event) == ([GUARDDUTY] if routed else [])


@pytest.mark.parametrize(
    "resource",
    [
        None,
        {},
        {"resourceType": "Instance"},
        {"resourceType": "Instance", "instanceDetails": {"instanceId": "i-0123456789abcdef0"}},
        {"resourceType": "AccessKey"},
    ],
    ids=["no-resource", "empty", "instance", "instance-with-details", "access-key"],
)
@pytest.mark.parametrize("severity", [9, 10])
def test_an_attack_sequence_reaches_the_guardduty_function_whatever_its_resource(
    all_option_rules: list[Rule], resource: dict[str, Any] | None, severity: int
) -> None:
    # Its resource type is documented only as "Resources involved in attack sequence": the rule matches its type.
    event = _sample("guardduty-attack-sequence-ec2.json")
    event["detail"]["severity"] = severity
    if resource is None:
        del event["detail"]["resource"]
    else:
        event["detail"]["resource"] = resource

    assert _reached(all_option_rules, event) == [GUARDDUTY]
    assert parse_guardduty_finding(event).instance_ids[-3:] == (
        "i-0123456789abcdef0",
        "i-0123456789abcdef1",
        "i-0123456789abcdef2",
    )


def test_an_attack_sequence_below_the_threshold_reaches_no_function() -> None:
    rules = load_rules(TEMPLATE, parameter_overrides={"GuardDutyMinSeverity": "9.5"})
    assert _reached(rules, _sample("guardduty-attack-sequence-ec2.json")) == []


def _attach(**detail: Any) -> dict[str, Any]:
    event = _sample("cloudtrail-attach-network-interface.json")
    event["detail"].update(detail)
    return event


@pytest.mark.parametrize(
    ("event", "routed"),
    [
        (_attach(), True),
        (_attach(errorCode="Client.InvalidParameterValue", errorMessage="device index in use"), False),
        (_attach(eventName="DetachNetworkInterface", requestParameters={"attachmentId": "eni-attach-0a"}), False),
        (_attach(eventName="CreateNetworkInterface"), False),
        (_attach(eventSource="ecs.amazonaws.com"), False),
    ],
    ids=["attached", "failed-call", "detach", "create", "other-service"],
)
def test_only_successful_attach_calls_reach_the_eni_function(
    all_option_rules: list[Rule], event: dict[str, Any], routed: bool
) -> None:
    assert _reached(all_option_rules, event) == ([ENI_ATTACHED] if routed else [])


@pytest.mark.parametrize(
    ("changed_keys", "routed"),
    [
        (["mirror"], True),
        (["mirror-until"], True),
        (["mirror-finding-until"], True),
        (["mirror-packet-length"], True),
        (["mirror-vni"], True),
        (["mirror-finding"], False),
        (["mirror-status"], False),
        (["eks:cluster-name"], False),
        (["Name"], False),
    ],
)
def test_without_selectors_the_tag_rule_fires_for_the_keys_that_matter(
    rules: list[Rule], changed_keys: list[str], routed: bool
) -> None:
    assert _reached(rules, _tag_change(changed_keys)) == ([TAG_CHANGE] if routed else [])


@pytest.mark.parametrize(
    ("changed_keys", "routed"),
    [
        (["eks:cluster-name"], True),
        (["karpenter.sh/nodepool"], True),
        (["Name"], True),
        (["mirror"], True),
        (["mirror-until"], True),
        (["mirror-status", "Name"], True),
        (["mirror-status"], False),
        (["mirror-status", "mirror-generation"], False),
        (["mirror-finding"], False),
        ([], False),
    ],
)
def test_with_selectors_the_tag_rule_fires_for_any_change_but_one_of_only_our_own_tags(
    changed_keys: list[str], routed: bool
) -> None:
    # EventBridge matches an array of the event when any of its values matches: anything-but our own tags.
    rules = load_rules(TEMPLATE, parameter_overrides={"MirrorSelectors": "eks:cluster-name=prod"})

    assert _reached(rules, _tag_change(changed_keys)) == ([TAG_CHANGE] if routed else [])


def test_the_anything_but_list_holds_every_tag_the_functions_write_on_instances(template: dict[str, Any]) -> None:
    # With selectors, a tag written by a function but missing here would trigger the tag function again.
    pattern = template["Resources"][TAG_CHANGE]["Properties"]["Events"]["MirrorTagChange"]["Properties"]["Pattern"]
    condition, with_selectors, without = pattern["detail"]["changed-tag-keys"]["Fn::If"]
    settings = load_settings({"FILTER_ID": "tmf-0"})
    assert condition == "HasMirrorSelectors"
    [only] = with_selectors
    assert sorted(only["anything-but"]) == sorted(own_tags_that_do_not_matter(settings))
    assert {"Ref": "MirrorTagKey"} in without


@pytest.mark.parametrize("selectors", ["", "eks:cluster-name=prod,team=sec*,vpc-0abc"])
@pytest.mark.parametrize("mirror_tag_key", ["mirror", "monitor"])
def test_the_tag_rule_routes_exactly_the_keys_that_matter(selectors: str, mirror_tag_key: str) -> None:
    # One list (planner.tag_keys_that_matter): the rule lets a change of each of its keys through, and never a
    # change of only our own other tags; without selectors it lists exactly the keys.
    parameters = {"MirrorSelectors": selectors, "MirrorTagKey": mirror_tag_key}
    settings = load_settings({"FILTER_ID": "tmf-0", "MIRROR_SELECTORS": selectors, "MIRROR_TAG_KEY": mirror_tag_key})
    [rule] = [r for r in load_rules(TEMPLATE, parameters) if r.function_logical_id == TAG_CHANGE]
    matter = tag_keys_that_matter(settings)
    for key in sorted(matter):
        assert rule.matches(_tag_change([key])), key
        assert rule.matches(_tag_change(["Name", key])), key
    for key in sorted(own_tags_that_do_not_matter(settings)):
        assert not rule.matches(_tag_change([key])), key
    assert not rule.matches(_tag_change(sorted(own_tags_that_do_not_matter(settings))))
    listed = rule.pattern["detail"]["changed-tag-keys"]
    if not selectors:
        assert sorted(listed) == sorted(matter)
        assert not rule.matches(_tag_change(["Name"]))


def test_deployed_with_every_option_each_function_is_removed_before_the_cleanup_and_watched_by_alarms(
    deployed: dict[str, Any],
) -> None:
    resolver = Resolver(deployed, ALL_OPTIONS)
    present = _present(deployed, resolver)
    depends = _depends_on(deployed, resolver)
    functions = [n for n, r in present.items() if r["Type"] == "AWS::Lambda::Function" and n != CLEANUP]
    assert sorted(functions) == sorted(TRIGGERED)
    for name in (GUARDDUTY, ENI_ATTACHED):
        rule = next(n for n in present if n.startswith(name) and present[n]["Type"] == "AWS::Events::Rule")
        for part in (name, present[name]["Properties"]["Role"]["Fn::GetAtt"][0], rule):
            assert "SessionCleanup" in depends[part], part
    alarms = [r["Properties"] for r in present.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    for name in functions:
        watched = {
            a["MetricName"] for a in alarms if a.get("Dimensions") == [{"Name": "FunctionName", "Value": {"Ref": name}}]
        }
        assert watched == {"Errors", "Throttles"}, name
    # Each optional function's alarms, log group and role exist exactly when it does.
    for name, condition in ((GUARDDUTY, "GuardDutyEnabled"), (ENI_ATTACHED, "AttachEventsEnabled")):
        parts = [n for n, r in deployed["Resources"].items() if n.startswith(name.removesuffix("Function"))]
        assert len(parts) >= 7, name  # function, its rule and permission, role, log group, two alarms
        assert {deployed["Resources"][n].get("Condition") for n in parts} == {condition}, name


def test_with_reserved_concurrency_the_optional_functions_are_bounded_too(deployed: dict[str, Any]) -> None:
    resolver = Resolver(deployed, {**ALL_OPTIONS, "ReservedConcurrency": "10"})
    for name in (GUARDDUTY, ENI_ATTACHED):
        properties = resolver.resolve(_present(deployed, resolver)[name]["Properties"])
        assert properties["ReservedConcurrentExecutions"] == "10", name


# -- session options (issue 15, part 3) ------------------------------------------------------------------------------
def test_session_options_are_checked_at_deploy_time_and_reach_every_function_as_the_code_reads_them(
    template: dict[str, Any],
) -> None:
    parameters = template["Parameters"]
    # PacketLength and each value of ApprovedPacketLengths: 64-8500 (PacketLength also empty: the whole packet)
    for name in ("PacketLength", "ApprovedPacketLengths"):
        pattern = parameters[name]["AllowedPattern"]
        good = ["", "64", "99", "100", "1500", "7999", "8000", "8499", "8500"]
        bad = ["63", "0", "8501", "9000", "064", "full", " 64", "64 ", "1e3", "-64"]
        assert [value for value in good if not re.fullmatch(pattern, value)] == [], name
        assert [value for value in bad if re.fullmatch(pattern, value)] == [], name
        assert re.fullmatch(pattern, str(parameters[name]["Default"])), name
    assert parameters["ApprovedPacketLengths"]["Type"] == "CommaDelimitedList"
    assert (parameters["VniPolicy"]["Default"], parameters["VniPolicy"]["AllowedValues"]) == (
        "aws",
        ["aws", "per-vpc", "per-instance-tag"],
    )
    for logical_id, properties in _functions(template).items():
        variables = properties["Environment"]["Variables"]
        assert variables["PACKET_LENGTH"] == {"Ref": "PacketLength"}, logical_id
        assert variables["APPROVED_PACKET_LENGTHS"] == {"Fn::Join": [",", {"Ref": "ApprovedPacketLengths"}]}
        assert variables["VNI_POLICY"] == {"Ref": "VniPolicy"}, logical_id
    # Every value the template lets through, the functions load (no deployment that fails at cold start)
    for length in ("", "64", "8500"):
        for policy in parameters["VniPolicy"]["AllowedValues"]:
            env = {"FILTER_ID": "tmf-1", "PACKET_LENGTH": length, "APPROVED_PACKET_LENGTHS": "64,8500"}
            loaded = load_settings({**env, "VNI_POLICY": policy})
            assert (loaded.packet_length, loaded.vni_policy) == (int(length) if length else None, policy)
