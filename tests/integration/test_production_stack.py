"""The production stack against moto plus the strict layer: status a user can see, throttling retried inside botocore,
Auto Scaling instances mirrored before they serve, and alarms and dashboard wired to the metrics really emitted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.endpoint
import pytest
from botocore.awsrequest import AWSResponse
from moto.core.models import botocore_stubber

from functions.autoscaling_lifecycle.app import handler as lifecycle_handler
from functions.instance_state_change.app import handler as state_change
from functions.scheduled_reconciler.app import handler as scheduled
from simulation.account import ApiCalls, SimulatedAccount
from simulation.eventbridge import PSEUDO_PARAMETERS, load_rules, load_template, matching_rules
from simulation.strict_aws import CompletedLifecycleAction, StrictAws
from tests.integration.stack import ACCOUNT_ID, MANAGED_BY, LambdaContext, Stack, event, make_stack
from traffic_mirroring.ec2_gateway import Ec2Gateway
from traffic_mirroring.errors import ConfigurationError, MirroringFailed
from traffic_mirroring.lifecycle import ABANDON, CONTINUE, LifecycleSettings, load_lifecycle_settings
from traffic_mirroring.mirror_skips import SKIP_CHECK_MINUTES, SKIPPING_METRIC
from traffic_mirroring.runtime import RETRY_ATTEMPTS, Runtime

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ALARMS_DOC = ROOT / "docs" / "alarms.md"
ZONE_A = "us-east-1a"
STATUS = "mirror-status"


@pytest.fixture
def pool(account: SimulatedAccount) -> dict[str, str]:
    return {"eni_a": account.eni_target(ZONE_A), "nlb": account.nlb_target(), "filter": account.mirror_filter()}


@pytest.fixture
def stack(account: SimulatedAccount, pool: dict[str, str]) -> Stack:
    return make_stack(account, [pool["eni_a"], pool["nlb"]], pool["filter"])


def launched(stack: Stack, instance_id: str, runtime: Runtime | None = None) -> dict[str, object]:
    return state_change(
        event("ec2-instance-running.json", instance_id), LambdaContext(), runtime=runtime or stack.runtime
    )


# -- 4. the status tag: the outcomes test_instance_events.py does not cover ---------------------------------------
def test_stopped_instance_that_keeps_its_sessions_says_so(stack: Stack) -> None:
    # Given a mirrored instance, deployed with DeleteWhenStopped=false
    stack.configure(DELETE_WHEN_STOPPED="false")
    instance = stack.account.launch(tags={"mirror": "true"})
    launched(stack, instance)
    # When it stops
    stack.account.stop(instance)
    state_change(event("ec2-instance-stopped.json", instance), LambdaContext(), runtime=stack.runtime)
    # Then its session stays (as configured) and the console says why it is not mirroring now
    assert len(stack.our_sessions(instance)) == 1
    assert stack.account.tags_of(instance)[STATUS] == "instance-stopped"


def test_stopped_instance_whose_sessions_are_deleted_says_so(stack: Stack) -> None:
    instance = stack.account.launch(tags={"mirror": "true"})
    launched(stack, instance)
    stack.account.stop(instance)
    state_change(event("ec2-instance-stopped.json", instance), LambdaContext(), runtime=stack.runtime)
    assert stack.our_sessions(instance) == []
    assert stack.account.tags_of(instance)[STATUS] == "instance-stopped"


def test_target_override_that_does_not_exist_is_visible(stack: Stack) -> None:
    # An approved (pool) target that does not exist: its own status, not no-target-capacity
    stack.configure(TARGET_IDS=f"{','.join(stack.settings.target_ids)},tmt-0123456789abcdef0")
    instance = stack.account.launch(tags={"mirror": "true", "mirror-target": "tmt-0123456789abcdef0"})
    summary = launched(stack, instance)
    assert stack.our_sessions(instance) == []
    assert summary["sessions_skipped"] == {"target-override-not-found": 1}
    assert stack.account.tags_of(instance)[STATUS] == "target-override-not-found"


def test_permission_denied_is_visible_as_its_error_code(stack: Stack) -> None:
    # Given IAM refusing the create (a policy or SCP that does not let the function in)
    instance = stack.account.launch(tags={"mirror": "true"})
    stack.calls.fail_operation("CreateTrafficMirrorSession", "UnauthorizedOperation")
    # When the instance runs, the event fails (for the retries and the failure queue to see) ...
    with pytest.raises(MirroringFailed) as raised:
        launched(stack, instance)
    # ... and the console says why, with AWS's error code
    assert raised.value.cause.code == "UnauthorizedOperation"
    assert stack.our_sessions(instance) == []
    assert stack.account.tags_of(instance)[STATUS] == "error:UnauthorizedOperation"


def test_status_tag_writes_never_reach_a_function(stack: Stack) -> None:
    """Every tag write the functions make, turned into the Tag Change event AWS would send, matches no rule."""
    # Given the functions' own EC2 client, whose tag writes are recorded with the instance's tags after each
    functions_ec2 = stack.account.session.client("ec2")
    calls = ApiCalls().attach(functions_ec2)
    runtime = Runtime(stack.settings, Ec2Gateway(functions_ec2, stack.account.elbv2, account_id=ACCOUNT_ID))
    writes: list[tuple[str, dict[str, Any], dict[str, str]]] = []

    def request(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["recorded_params"] = params

    def record(model: Any, context: dict[str, Any], **_: Any) -> None:
        params = context["recorded_params"]
        [instance_id] = params["Resources"]
        writes.append((model.name, params, stack.account.tags_of(instance_id)))

    for operation in ("CreateTags", "DeleteTags"):
        functions_ec2.meta.events.register(f"before-parameter-build.ec2.{operation}", request)
        functions_ec2.meta.events.register(f"after-call.ec2.{operation}", record)
    # and instances that go through every status: mirrored, error, skipped, stopped, then untagged (status removed)
    mirrored = stack.account.launch(tags={"mirror": "true"})
    launched(stack, mirrored, runtime)
    failing = stack.account.launch(tags={"mirror": "true"})
    calls.fail_operation("CreateTrafficMirrorSession", "InternalError")
    with pytest.raises(MirroringFailed):
        launched(stack, failing, runtime)
    skipped = stack.account.launch("t2.micro", tags={"mirror": "true"})
    launched(stack, skipped, runtime)
    stack.account.stop(mirrored)
    state_change(event("ec2-instance-stopped.json", mirrored), LambdaContext(), runtime=runtime)
    stack.account.untag(skipped, "mirror")
    launched(stack, skipped, runtime)
    assert sorted({tag["Key"] for _, params, _ in writes for tag in params["Tags"]}) == ["mirror-generation", STATUS]
    assert sorted({operation for operation, _, _ in writes}) == ["CreateTags", "DeleteTags"]
    # When each write is delivered as AWS reports it (the changed keys; the tag set after the change)
    rules = load_rules(TEMPLATE) + load_rules(TEMPLATE, parameter_overrides={"LifecycleHookMode": "true"})
    for _, params, tags_after in writes:
        tag_change = event("tag-change-mirror-added.json", params["Resources"][0])
        tag_change["detail"]["changed-tag-keys"] = [tag["Key"] for tag in params["Tags"]]
        tag_change["detail"]["tags"] = tags_after
        # Then no function is invoked by it
        assert matching_rules(rules, tag_change) == [], params


# -- 2. throttling: RequestLimitExceeded inside botocore's retry loop ----------------------------------------------
EC2_THROTTLED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code>'
    "<Message>Request limit exceeded.</Message></Error></Errors><RequestID>{request}</RequestID></Response>"
)


class _RawBody:
    """The raw HTTP body botocore reads an AWSResponse from."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


class Throttle:
    """Answers ``times`` HTTP sends of one EC2 operation (after the first ``after``) with 400 RequestLimitExceeded.

    Each refusal is an HTTP response that botocore's retry handler sees, as it would see EC2's. botocore calls every
    ``before-send`` handler and keeps the first response, so moto's handler (which would carry out the refused request
    anyway) is replaced on this client by this one, which passes every other send on to moto.
    """

    def __init__(self, client: Any, operation: str, times: int, after: int = 0) -> None:
        self.operation = operation
        self.times = times
        self.after = after
        self.sends = 0
        self.refused = 0
        client.meta.events.unregister("before-send", botocore_stubber)
        client.meta.events.register("before-send", self._send)

    def _send(self, event_name: str, request: Any, **kwargs: Any) -> AWSResponse | None:
        if event_name == f"before-send.ec2.{self.operation}":
            self.sends += 1
            if self.after < self.sends <= self.after + self.times:
                self.refused += 1
                body = EC2_THROTTLED.format(request=f"throttled-{self.sends}").encode()
                return AWSResponse(request.url, 400, {"Content-Type": "text/xml;charset=UTF-8"}, _RawBody(body))
        response: AWSResponse | None = botocore_stubber(event_name=event_name, request=request, **kwargs)
        return response


@pytest.fixture
def backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays botocore's retry handler sleeps between attempts, recorded instead of slept."""
    delays: list[float] = []

    class _Clock:
        @staticmethod
        def sleep(seconds: float) -> None:
            delays.append(seconds)

    monkeypatch.setattr(botocore.endpoint, "time", _Clock)
    return delays


@pytest.fixture
def deployed(stack: Stack, pool: dict[str, str]) -> Runtime:
    """The runtime a Lambda container builds: clients with the retry configuration of Runtime.from_environment."""
    env = {"TARGET_IDS": f"{pool['eni_a']},{pool['nlb']}", "FILTER_ID": pool["filter"], "MANAGED_BY": MANAGED_BY}
    return Runtime.from_environment(env, session=boto3.session.Session())


@pytest.mark.parametrize("operation", ["DescribeInstances", "CreateTrafficMirrorSession"])
def test_throttling_on_every_attempt_but_the_last_is_retried_to_success(
    stack: Stack, deployed: Runtime, backoff: list[float], operation: str
) -> None:
    # Given EC2 refusing the first attempts of a call with RequestLimitExceeded
    instance = stack.account.launch(tags={"mirror": "true"})
    throttle = Throttle(deployed.gateway.ec2, operation, times=RETRY_ATTEMPTS - 1)
    # When the instance's running event arrives
    launched(stack, instance, deployed)
    # Then botocore retried with backoff until EC2 answered, and the instance is mirrored
    assert throttle.refused == RETRY_ATTEMPTS - 1
    assert len(backoff) == RETRY_ATTEMPTS - 1 and all(delay >= 0 for delay in backoff)
    assert [s["NetworkInterfaceId"] for s in stack.our_sessions(instance)] == stack.account.enis_of(instance)
    assert stack.account.tags_of(instance)[STATUS] == "mirrored"


def test_throttling_beyond_the_attempts_fails_the_event_and_leaves_no_session(
    stack: Stack, deployed: Runtime, backoff: list[float]
) -> None:
    # Given a second ENI mirrored first, then EC2 throttling every attempt of the next create
    instance = stack.account.launch(tags={"mirror": "true"}, extra_enis=1)
    throttle = Throttle(deployed.gateway.ec2, "CreateTrafficMirrorSession", times=RETRY_ATTEMPTS, after=1)
    # When the running event arrives
    with pytest.raises(MirroringFailed) as raised:
        launched(stack, instance, deployed)
    # Then the failure carries EC2's code (for the retries and the failure queue), after exactly the bounded attempts
    assert raised.value.cause.code == "RequestLimitExceeded"
    assert throttle.refused == RETRY_ATTEMPTS and len(backoff) == RETRY_ATTEMPTS - 1
    # and the first ENI's session was rolled back: nothing of ours is left; the console shows the code
    assert stack.our_sessions(instance) == []
    assert stack.account.tags_of(instance)[STATUS] == "error:RequestLimitExceeded"


def test_the_deployed_clients_retry_in_standard_mode_with_bounded_attempts(deployed: Runtime) -> None:
    for client in (deployed.gateway.ec2, deployed.gateway.elbv2, deployed.gateway.autoscaling):
        # botocore's max_attempts counts retries, total_max_attempts counts attempts: the first call included
        assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": RETRY_ATTEMPTS}


# -- 5. Auto Scaling launch lifecycle hook ------------------------------------------------------------------------
GROUP, HOOK = "web", "mirror-before-serving"


class Group:
    def __init__(self, account: SimulatedAccount, strict: StrictAws, tags: dict[str, str]) -> None:
        self.account = account
        self.strict = strict
        [self.instance_id] = account.group_with_launch_hook(GROUP, HOOK, tags, zone=ZONE_A, desired=1, max_size=3)
        self.token = strict.start_launch_lifecycle_action(GROUP, HOOK, self.instance_id)

    def instances(self) -> list[dict[str, Any]]:
        groups = self.account.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])
        instances: list[dict[str, Any]] = groups["AutoScalingGroups"][0]["Instances"]
        return instances

    def lifecycle_state(self) -> str | None:
        return next((i["LifecycleState"] for i in self.instances() if i["InstanceId"] == self.instance_id), None)

    def lifecycle_event(self) -> dict[str, Any]:
        return event(
            "autoscaling-launch-lifecycle-action.json",
            self.instance_id,
            AutoScalingGroupName=GROUP,
            LifecycleHookName=HOOK,
            LifecycleActionToken=self.token,
        )

    def completed(self, result: str) -> CompletedLifecycleAction:
        return CompletedLifecycleAction(GROUP, HOOK, self.token, self.instance_id, result)


@pytest.fixture
def group(account: SimulatedAccount, strict: StrictAws) -> Group:
    return Group(account, strict, {"mirror": "true"})


@pytest.fixture
def hooked(stack: Stack) -> Runtime:
    """The stack's runtime with the Auto Scaling client Runtime.from_environment gives the lifecycle function."""
    account = stack.account
    return Runtime(stack.settings, Ec2Gateway(account.ec2, account.elbv2, autoscaling=account.autoscaling))


def test_waiting_instance_is_mirrored_then_continues(stack: Stack, group: Group, hooked: Runtime) -> None:
    # Given a new instance held in Pending:Wait by the group's launch hook
    assert group.lifecycle_state() == "Pending:Wait"
    # When its lifecycle action event arrives
    summary = lifecycle_handler(group.lifecycle_event(), LambdaContext(), runtime=hooked)
    # Then it is mirrored first, and only then let into service
    assert summary["sessions_created"] == 1
    assert [s["NetworkInterfaceId"] for s in stack.our_sessions(group.instance_id)] == stack.account.enis_of(
        group.instance_id
    )
    assert group.strict.completed_lifecycle_actions == [group.completed(CONTINUE)]
    assert group.lifecycle_state() == "InService"


def test_failure_under_abandon_completes_with_abandon_and_still_fails_the_event(
    stack: Stack, group: Group, hooked: Runtime
) -> None:
    # Given a deployment that never lets an unmirrored instance serve, and EC2 failing the create
    stack.calls.fail_operation("CreateTrafficMirrorSession", "InternalError")
    # When the lifecycle action event arrives
    with pytest.raises(MirroringFailed, match="InternalError"):
        lifecycle_handler(
            group.lifecycle_event(), LambdaContext(), runtime=hooked, lifecycle=LifecycleSettings(ABANDON)
        )
    # Then the action was abandoned (Auto Scaling terminates the instance) and nothing of ours is left behind
    assert group.strict.completed_lifecycle_actions == [group.completed(ABANDON)]
    assert group.lifecycle_state() is None
    assert stack.account.instance(group.instance_id)["State"]["Name"] == "terminated"
    assert stack.our_sessions() == []


def test_failure_under_continue_lets_the_instance_serve_and_fails_the_event(
    stack: Stack, group: Group, hooked: Runtime
) -> None:
    stack.calls.fail_operation("CreateTrafficMirrorSession", "InternalError")
    with pytest.raises(MirroringFailed, match="InternalError"):
        lifecycle_handler(group.lifecycle_event(), LambdaContext(), runtime=hooked, lifecycle=LifecycleSettings())
    assert group.strict.completed_lifecycle_actions == [group.completed(CONTINUE)]
    assert group.lifecycle_state() == "InService"
    assert stack.account.tags_of(group.instance_id)[STATUS] == "error:InternalError"
    # and a retry of the event (Lambda's, or the failure queue redriven) mirrors it: the action is no longer waiting
    lifecycle_handler(group.lifecycle_event(), LambdaContext(), runtime=hooked, lifecycle=LifecycleSettings())
    assert len(stack.our_sessions(group.instance_id)) == 1
    assert group.strict.completed_lifecycle_actions == [group.completed(CONTINUE)]


def test_redelivered_lifecycle_event_is_harmless(stack: Stack, group: Group, hooked: Runtime) -> None:
    delivery = group.lifecycle_event()
    lifecycle_handler(delivery, LambdaContext(), runtime=hooked)
    lifecycle_handler(delivery, LambdaContext(), runtime=hooked)
    assert len(stack.our_sessions(group.instance_id)) == 1
    assert group.strict.completed_lifecycle_actions == [group.completed(CONTINUE)]


def test_instance_the_group_does_not_tag_for_mirroring_continues_unmirrored(
    account: SimulatedAccount, strict: StrictAws, stack: Stack, hooked: Runtime
) -> None:
    untagged = Group(account, strict, {"team": "web"})
    summary = lifecycle_handler(untagged.lifecycle_event(), LambdaContext(), runtime=hooked)
    assert summary["sessions_created"] == 0
    assert strict.completed_lifecycle_actions == [untagged.completed(CONTINUE)]


def test_lifecycle_failure_result_is_validated_and_names_the_variable() -> None:
    assert load_lifecycle_settings({}) == LifecycleSettings(CONTINUE)
    assert load_lifecycle_settings({"LIFECYCLE_FAILURE_RESULT": "abandon"}) == LifecycleSettings(ABANDON)
    with pytest.raises(ConfigurationError, match="LIFECYCLE_FAILURE_RESULT"):
        load_lifecycle_settings({"LIFECYCLE_FAILURE_RESULT": "RETRY"})


def test_strict_layer_completes_only_an_action_that_waits(group: Group) -> None:
    autoscaling = group.account.autoscaling
    hook = {"AutoScalingGroupName": GROUP, "LifecycleHookName": HOOK, "LifecycleActionResult": CONTINUE}
    unknown_token = "00000000-0000-0000-0000-000000000000"
    with pytest.raises(autoscaling.exceptions.ClientError, match="No active Lifecycle Action found with token"):
        autoscaling.complete_lifecycle_action(**hook, LifecycleActionToken=unknown_token)
    autoscaling.complete_lifecycle_action(**hook, InstanceId=group.instance_id)
    with pytest.raises(autoscaling.exceptions.ClientError, match="No active Lifecycle Action found with instance ID"):
        autoscaling.complete_lifecycle_action(**hook, InstanceId=group.instance_id)
    assert group.strict.completed_lifecycle_actions == [
        CompletedLifecycleAction(GROUP, HOOK, None, group.instance_id, CONTINUE)
    ]
    assert group.lifecycle_state() == "InService"


# -- 1. and 6. alarms and dashboard, wired to what the code emits ---------------------------------------------------
@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def _alarms_on(template: dict[str, Any], namespace: str, metric: str, dimension: str) -> dict[str, dict[str, Any]]:
    """Alarms on one metric, keyed by the value of their single dimension."""
    found: dict[str, dict[str, Any]] = {}
    for alarm in _resources(template, "AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        if properties.get("Namespace") == namespace and properties.get("MetricName") == metric:
            [only] = properties["Dimensions"]
            assert only["Name"] == dimension
            found[json.dumps(only["Value"])] = alarm
    return found


@pytest.mark.parametrize(("metric", "periods"), [("Errors", 1), ("Throttles", 3)])
def test_every_function_has_an_errors_and_a_throttles_alarm(
    template: dict[str, Any], metric: str, periods: int
) -> None:
    alarms = _alarms_on(template, "AWS/Lambda", metric, "FunctionName")
    functions = _resources(template, "AWS::Serverless::Function")
    # SessionCleanupFunction runs only while CloudFormation creates, updates or deletes the stack, and answers it:
    # a failure shows in the stack's events, and its alarm would be deleted with the stack it reports on.
    functions.pop("SessionCleanupFunction")
    assert sorted(alarms) == sorted(json.dumps({"Ref": name}) for name in functions)
    for name, function in functions.items():
        alarm = alarms[json.dumps({"Ref": name})]
        assert alarm.get("Condition") == function.get("Condition"), name
        assert alarm["Properties"]["EvaluationPeriods"] == periods


def test_every_failure_queue_has_an_alarm_on_its_first_message(template: dict[str, Any]) -> None:
    alarms = _alarms_on(template, "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName")
    queues = _resources(template, "AWS::SQS::Queue")
    assert sorted(alarms) == sorted(json.dumps({"Fn::GetAtt": [name, "QueueName"]}) for name in queues)
    for alarm in alarms.values():
        assert alarm["Properties"]["Threshold"] == 0
        assert alarm["Properties"]["ComparisonOperator"] == "GreaterThanThreshold"


def test_every_alarm_notifies_the_alarm_topic_and_points_at_its_runbook(template: dict[str, Any]) -> None:
    headings = {line.lstrip("#").strip() for line in ALARMS_DOC.read_text().splitlines() if line.startswith("#")}
    alarms = _resources(template, "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 17
    for name, alarm in alarms.items():
        properties = alarm["Properties"]
        # The stack's own topic unless AlarmTopicArn names one (tests/integration/test_template.py resolves both)
        assert properties["AlarmActions"] == [
            {"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}
        ], name
        assert properties["TreatMissingData"] == "notBreaching", name
        runbook = re.search(r'docs/alarms\.md, "([^"]+)"', properties["AlarmDescription"])
        assert runbook is not None and runbook.group(1) in headings, name


def _emitted(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]


def _emitted_metrics(blobs: list[dict[str, Any]]) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """(namespace, metric name, dimensions) of every metric in CloudWatch EMF log lines."""
    found = set()
    for blob in blobs:
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            [dimension_names] = directive["Dimensions"]
            dimensions = tuple((name, blob[name]) for name in dimension_names)
            for metric in directive["Metrics"]:
                found.add((directive["Namespace"], metric["Name"], dimensions))
    return found


def test_safety_valve_alarm_watches_the_metric_the_reconciler_emits(
    stack: Stack, template: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the functions' metrics namespace comes from the MetricsNamespace parameter (here, the test's value)
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == {"Ref": "MetricsNamespace"}
    assert variables["POWERTOOLS_SERVICE_NAME"] == "traffic-mirroring"
    namespace = "TrafficMirroringTests"  # tests/conftest.py's POWERTOOLS_METRICS_NAMESPACE
    # and a reconcile that trips the safety valve
    instances = [stack.account.launch(tags={"mirror": "true"}) for _ in range(12)]
    for instance in instances:
        launched(stack, instance)
        stack.account.untag(instance, "mirror")
    capsys.readouterr()
    scheduled(event("scheduled-event.json", "i-0123456789abcdef0"), LambdaContext(), runtime=stack.runtime)
    emitted = _emitted_metrics(_emitted(capsys.readouterr().out))
    # Then the alarm watches exactly the metric emitted: namespace, name and dimensions
    [alarm] = [
        a["Properties"]
        for a in _resources(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "SafetyValveTriggered"
    ]
    assert alarm["Namespace"] == {"Ref": "MetricsNamespace"}
    dimensions = tuple((d["Name"], d["Value"]) for d in alarm["Dimensions"])
    assert (namespace, "SafetyValveTriggered", dimensions) in emitted


def test_the_alarms_on_targets_and_instances_watch_what_the_runs_emit(
    stack: Stack, pool: dict[str, str], template: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given runs that leave instances needing attention, a pool target that does not exist, and a dead target whose
    # sessions must go for want of a live one
    capsys.readouterr()
    outside = stack.account.launch(tags={"mirror": "true", "mirror-target": "tmt-0123456789abcdef0"})
    launched(stack, outside)
    stack.configure(TARGET_IDS=f"{pool['nlb']},tmt-0fedcba9876543210")
    on_nlb = stack.account.launch(tags={"mirror": "true"})
    launched(stack, on_nlb)
    stack.account.kill_target(pool["nlb"])
    scheduled(event("scheduled-event.json", "i-0123456789abcdef0"), LambdaContext(), runtime=stack.runtime)
    emitted = _emitted_metrics(_emitted(capsys.readouterr().out))
    # Then each alarm watches a metric really emitted, in its namespace with its dimensions, above 0
    alarms = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in _resources(template, "AWS::CloudWatch::Alarm").values()
        if "MetricName" in a["Properties"]
    }
    for metric in ("InstancesNeedingAttention", "DeadTargets", "PoolTargetsMissing", "Deleted.target-dead"):
        alarm = alarms[metric]
        assert alarm["Namespace"] == {"Ref": "MetricsNamespace"}, metric
        dimensions = tuple((d["Name"], d["Value"]) for d in alarm["Dimensions"])
        assert ("TrafficMirroringTests", metric, dimensions) in emitted, metric
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold"), metric


def _dashboard(template: dict[str, Any], lifecycle_hook_mode: bool) -> dict[str, Any]:
    """The dashboard body CloudFormation would render, with the test stack's names for resources."""
    body, variables = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    [condition, when_true, when_false] = variables["LifecycleFunctionErrors"]["Fn::If"]
    assert condition == "LifecycleHookEnabled"
    values = {**PSEUDO_PARAMETERS, "MetricsNamespace": "TrafficMirroringTests"}
    # Each optional function's line is there when its option is on (lifecycle_hook_mode: every option on).
    for name, variable in variables.items():
        [_, when_true, when_false] = variable["Fn::If"]
        values[name] = when_true["Fn::Sub"] if lifecycle_hook_mode else when_false

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        return values.get(name, f"stack-{name.replace('.', '-')}")

    rendered = re.sub(r"\$\{([^}]+)\}", substitute, re.sub(r"\$\{([^}]+)\}", substitute, body))
    parsed: dict[str, Any] = json.loads(rendered)
    return parsed


def _dashboard_metrics(dashboard: dict[str, Any]) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    found = set()
    for widget in dashboard["widgets"]:
        for metric in widget["properties"]["metrics"]:
            names = [item for item in metric if isinstance(item, str)]
            if not names:
                continue  # a Metrics Insights query (AWS/EC2 mirror bytes): checked by its own test
            namespace, name, *dimensions = names
            found.add((namespace, name, tuple(zip(dimensions[::2], dimensions[1::2], strict=True))))
    return found


@pytest.mark.parametrize("lifecycle_hook_mode", [False, True])
def test_dashboard_is_valid_json_and_graphs_each_function_s_errors(
    template: dict[str, Any], lifecycle_hook_mode: bool
) -> None:
    assert template["Resources"]["Dashboard"]["Condition"] == "DashboardEnabled"
    assert template["Parameters"]["CreateDashboard"]["Default"] == "false"
    graphed = _dashboard_metrics(_dashboard(template, lifecycle_hook_mode))
    functions = _resources(template, "AWS::Serverless::Function")
    expected = {
        ("AWS/Lambda", "Errors", (("FunctionName", f"stack-{name}"),))
        for name, function in functions.items()
        if lifecycle_hook_mode or "Condition" not in function
    }
    assert {m for m in graphed if m[0] == "AWS/Lambda"} == expected


def test_dashboard_graphs_every_metric_a_run_emits(
    stack: Stack, pool: dict[str, str], template: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given runs that create, skip, delete, roll back and reconcile
    capsys.readouterr()
    mirrored = stack.account.launch(tags={"mirror": "true"})
    launched(stack, mirrored)
    launched(stack, stack.account.launch("t2.micro", tags={"mirror": "true"}))
    launched(stack, stack.account.launch(tags={"mirror": "true", "mirror-target": "tmt-0123456789abcdef0"}))
    eni_full = stack.account.launch(tags={"mirror": "true"})
    for number in (1, 2, 3):
        stack.account.foreign_session(stack.account.enis_of(eni_full)[0], pool["nlb"], pool["filter"], number)
    launched(stack, eni_full)
    failing = stack.account.launch(tags={"mirror": "true"}, extra_enis=1)
    stack.calls.fault_operations["CreateTrafficMirrorSession"] = [None, "InternalError"]  # type: ignore[list-item]
    with pytest.raises(MirroringFailed):
        launched(stack, failing)
    stack.account.untag(mirrored, "mirror")
    scheduled(event("scheduled-event.json", "i-0123456789abcdef0"), LambdaContext(), runtime=stack.runtime)
    emitted = _emitted_metrics(_emitted(capsys.readouterr().out))
    names = {name for _, name, _ in emitted}
    skips = {"Skipped.unsupported-instance-type", "Skipped.target-not-approved", "Skipped.eni-session-limit"}
    assert skips <= names
    assert {"Deleted.tag-removed", "Rollbacks", "EstimatedMonthlyCost", "MonthlyCostAvoided"} <= names
    # Then each of them is on the dashboard, in the same namespace with the same dimensions
    graphed = _dashboard_metrics(_dashboard(template, lifecycle_hook_mode=False))
    not_graphed = {"SessionsManaged", "ColdStart"}  # per-run counts of one instance; Powertools' own
    missing = sorted(m for m in emitted if m not in graphed and m[1] not in not_graphed)
    assert missing == []


def test_one_standard_alarm_watches_the_count_of_the_hourly_skip_check(template: dict[str, Any]) -> None:
    """Issue 21 (replacing issue 15's two Metrics Insights alarms, billed per matched metric and PARTIAL_DATA past 500
    series): the hourly skip check publishes how many instances skip; one standard alarm on it, on by default."""
    assert template["Parameters"]["CreateSkipAlarms"]["Default"] == "true"
    assert template["Conditions"]["SkipAlarmsEnabled"] == {"Fn::Equals": [{"Ref": "CreateSkipAlarms"}, "true"]}
    alarms = _resources(template, "AWS::CloudWatch::Alarm")
    skip_alarms = {
        name
        for name, alarm in alarms.items()
        if "Skip" in json.dumps(alarm["Properties"].get("MetricName", ""))
        or "NetworkSkipMirror" in json.dumps(alarm["Properties"].get("Metrics", ""))
    }
    assert skip_alarms == {"MirrorPacketsSkippedAlarm"}
    alarm = alarms["MirrorPacketsSkippedAlarm"]
    assert alarm["Condition"] == "SkipAlarmsEnabled"
    properties = alarm["Properties"]
    assert "Metrics" not in properties  # a standard alarm on one metric, not a Metrics Insights query
    assert properties["Namespace"] == {"Ref": "MetricsNamespace"}
    assert properties["MetricName"] == SKIPPING_METRIC
    assert properties["Dimensions"] == [{"Name": "service", "Value": "traffic-mirroring"}]
    # The check publishes once an hour: the period must hold one count, and its largest is the check's.
    assert properties["Statistic"] == "Maximum" and properties["Period"] == SKIP_CHECK_MINUTES * 60
    assert properties["Threshold"] == 0 and properties["ComparisonOperator"] == "GreaterThanThreshold"
    assert properties["TreatMissingData"] == "notBreaching"
    assert properties["AlarmActions"] == [
        {"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}
    ]
    threshold = template["Parameters"]["SkipAlarmThresholdBytes"]
    assert threshold["Type"] == "Number" and threshold["Default"] == 1048576 and threshold["MinValue"] == 0


def test_the_dashboard_graphs_mirrored_against_skipped_bytes_and_the_top_instances(template: dict[str, Any]) -> None:
    dashboard = _dashboard(template, lifecycle_hook_mode=False)
    expressions = [
        item["expression"]
        for widget in dashboard["widgets"]
        for metric in widget["properties"]["metrics"]
        for item in metric
        if isinstance(item, dict) and "expression" in item
    ]
    for metric in ("NetworkMirrorIn", "NetworkMirrorOut", "NetworkSkipMirrorIn", "NetworkSkipMirrorOut"):
        assert f'SELECT SUM({metric}) FROM SCHEMA("AWS/EC2", InstanceId)' in expressions
    assert any("GROUP BY InstanceId ORDER BY SUM() DESC LIMIT 10" in e for e in expressions)
