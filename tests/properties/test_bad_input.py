"""Malformed and odd events, sent to every handler: each gets a deliberate outcome, never an accidental one.

The outcomes, decided here:

- **rejected**: an event an instance handler cannot act on (not a JSON object, a field missing or of the wrong type,
  another detail-type, an ID that is not an instance ID, a tag change on another resource type) raises
  EventValidationError whose message names the field (``detail.instance-id``, ``resources[0]``, ...). Lambda then
  retries it and the dead-letter queue keeps it for a person: a malformed event is a bug somewhere, not noise.
- **ignored**: an event from another region (its ``region`` differs from the function's) is logged and ignored, and
  makes no AWS call. EventBridge only routes a region's events to that region's rules, so such an event was
  forwarded by hand or by a cross-region bus: the instance is not in this region, and there is nothing to reconcile.
- **processed**: odd but valid events (leading or trailing spaces around IDs, a huge or unicode tag map, an unknown
  ``state``, no ``id``, extra fields) reconcile the instance. Only the instance ID is taken from an event; its
  claims (state, tags) are never trusted, so odd values there change nothing.
- the **scheduled reconciler** takes nothing from its event: any event, even None, starts an account-wide run.
- every other exception type (KeyError, TypeError, AttributeError, ...) is a bug.
"""

from __future__ import annotations

import copy
import importlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulation.account import SimulatedAccount
from tests.integration.stack import LambdaContext, Stack, event, make_stack
from tests.properties.conftest import SOAK
from traffic_mirroring.errors import EventValidationError
from traffic_mirroring.observability import logger
from traffic_mirroring.triggers import INSTANCE_TRIGGERS, SCHEDULES, TRIGGERS

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
INSTANCE = "i-0123456789abcdef0"
Handler = Callable[..., dict[str, object]]

# The instance-event handlers and the sample each one is built for, from the registry of triggers.
INSTANCE_HANDLERS = {trigger.function: trigger.samples[0] for trigger in INSTANCE_TRIGGERS}
ALL_HANDLERS = sorted(p.parent.name for p in FUNCTIONS.glob("*/app.py"))
# One event of every trigger, schedule included: each handler but its own must refuse it.
OTHER_EVENTS = sorted(entry.samples[0] for entry in (*TRIGGERS, *SCHEDULES))


def handler_of(name: str) -> Handler:
    handler: Handler = importlib.import_module(f"functions.{name}.app").handler
    return handler


@pytest.fixture
def stack(account: SimulatedAccount) -> Stack:
    return make_stack(account, [account.nlb_target()], account.mirror_filter())


def sample(handler_name: str) -> dict[str, Any]:
    return event(INSTANCE_HANDLERS[handler_name], INSTANCE)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(e: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node = e
        for key in parents:
            node = node[key]
        node[leaf] = value

    return mutate


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(e: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node = e
        for key in parents:
            node = node[key]
        del node[leaf]

    return mutate


# (case, mutation of the handler's own sample, expected outcome): "error:<field named>", "ignored" or "processed"
COMMON: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("no detail-type", _drop("detail-type"), "error:detail-type"),
    ("detail-type is a number", _set("detail-type", 7), "error:detail-type"),
    ("detail-type is blank", _set("detail-type", "   "), "error:detail-type"),
    ("unknown detail-type", _set("detail-type", "EC2 Spot Instance Interruption Warning"), "error:detail-type"),
    ("no detail", _drop("detail"), "error:detail"),
    ("detail is a list", _set("detail", ["i-0123456789abcdef0"]), "error:detail"),
    ("detail is a string", _set("detail", "{}"), "error:detail"),
    ("detail is null", _set("detail", None), "error:detail"),
    ("region is a number", _set("region", 1), "error:region"),
    ("region is blank", _set("region", ""), "error:region"),
    ("another region", _set("region", "eu-west-1"), "ignored"),
    ("another partition's region", _set("region", "cn-north-1"), "ignored"),
    ("no region", _drop("region"), "processed"),
    ("no id", _drop("id"), "processed"),
    ("id is a number", _set("id", 12), "processed"),
    ("extra fields", _set("extra", {"nested": [1, 2, {"x": None}]}), "processed"),
    ("region with spaces", _set("region", " us-east-1 "), "processed"),
]
PER_HANDLER: dict[str, list[tuple[str, Callable[[dict[str, Any]], None], str]]] = {
    "instance_state_change": [
        ("no instance-id", _drop("detail.instance-id"), "error:detail.instance-id"),
        ("instance-id is a number", _set("detail.instance-id", 123), "error:detail.instance-id"),
        ("instance-id is a list", _set("detail.instance-id", [INSTANCE]), "error:detail.instance-id"),
        ("instance-id of a volume", _set("detail.instance-id", "vol-0123456789abcdef0"), "error:detail.instance-id"),
        ("instance-id in capitals", _set("detail.instance-id", INSTANCE.upper()), "error:detail.instance-id"),
        ("instance-id too long", _set("detail.instance-id", INSTANCE + "0" * 40), "error:detail.instance-id"),
        ("instance-id with unicode digits", _set("detail.instance-id", "i-٠١٢٣٤٥٦٧٨٩"), "error:detail.instance-id"),
        ("instance-id with NUL", _set("detail.instance-id", INSTANCE + "\x00"), "error:detail.instance-id"),
        ("leading space in instance-id", _set("detail.instance-id", " " + INSTANCE), "processed"),
        ("trailing newline in instance-id", _set("detail.instance-id", INSTANCE + "\n"), "processed"),
        ("no state", _drop("detail.state"), "error:detail.state"),
        ("state is a number", _set("detail.state", 16), "error:detail.state"),
        ("unknown state", _set("detail.state", "exploded"), "processed"),
    ],
    "instance_tag_change": [
        ("no resources", _drop("resources"), "error:resources"),
        ("resources empty", _set("resources", []), "error:resources"),
        ("resources is a string", _set("resources", f"arn:aws:ec2:us-east-1:1:instance/{INSTANCE}"), "error:resources"),
        ("two resources", _set("resources", [f"arn:aws:ec2:us-east-1:1:instance/{INSTANCE}"] * 2), "error:resources"),
        ("resource is a number", _set("resources", [5]), "error:resources"),
        ("resource is a volume ARN", _set("resources", ["arn:aws:ec2:us-east-1:1:volume/vol-1"]), "error:resources[0]"),
        ("resource ARN of a bad ID", _set("resources", ["arn:aws:ec2:us-east-1:1:instance/x"]), "error:resources[0]"),
        ("leading space in the ARN", _set("resources", [f" arn:aws:ec2:us-east-1:1:instance/{INSTANCE}"]), "processed"),
        ("volume tag change", _set("detail.resource-type", "volume"), "error:detail.resource-type"),
        ("rds tag change", _set("detail.service", "rds"), "error:detail.service"),
        ("no service", _drop("detail.service"), "error:detail.service"),
        ("resource-type is a number", _set("detail.resource-type", 3), "error:detail.resource-type"),
        ("no changed-tag-keys", _drop("detail.changed-tag-keys"), "error:detail.changed-tag-keys"),
        ("changed-tag-keys is a map", _set("detail.changed-tag-keys", {"mirror": 1}), "error:detail.changed-tag-keys"),
        ("huge tag map", _set("detail.tags", {f"k{n}": "v" * 256 for n in range(5000)}), "processed"),
        ("unicode tags", _set("detail.tags", {"mirror": "träu 🪞", "名前": "ウェブ", "\u202e": "\x00"}), "processed"),
        ("tags is a list", _set("detail.tags", [["mirror", "true"]]), "processed"),
        ("no tags", _drop("detail.tags"), "processed"),
    ],
    "autoscaling_launch": [
        ("no EC2InstanceId", _drop("detail.EC2InstanceId"), "error:detail.EC2InstanceId"),
        ("EC2InstanceId is null", _set("detail.EC2InstanceId", None), "error:detail.EC2InstanceId"),
        ("EC2InstanceId of a volume", _set("detail.EC2InstanceId", "vol-1"), "error:detail.EC2InstanceId"),
        ("launch unsuccessful", _set("detail-type", "EC2 Instance Launch Unsuccessful"), "error:detail-type"),
        ("leading space in EC2InstanceId", _set("detail.EC2InstanceId", "  " + INSTANCE), "processed"),
    ],
    "network_interface_attached": [
        ("no requestParameters", _drop("detail.requestParameters"), "error:detail.requestParameters"),
        ("requestParameters is a list", _set("detail.requestParameters", [INSTANCE]), "error:detail.requestParameters"),
        ("no instanceId", _drop("detail.requestParameters.instanceId"), "error:detail.requestParameters.instanceId"),
        (
            "instanceId is a number",
            _set("detail.requestParameters.instanceId", 5),
            "error:requestParameters.instanceId",
        ),
        ("instanceId of a volume", _set("detail.requestParameters.instanceId", "vol-1"), "error:instanceId"),
        ("no eventSource", _drop("detail.eventSource"), "error:detail.eventSource"),
        ("no eventName", _drop("detail.eventName"), "error:detail.eventName"),
        ("another call", _set("detail.eventName", "DetachNetworkInterface"), "error:DetachNetworkInterface"),
        ("another service", _set("detail.eventSource", "rds.amazonaws.com"), "error:rds.amazonaws.com"),
        ("leading space in instanceId", _set("detail.requestParameters.instanceId", " " + INSTANCE), "processed"),
        ("no responseElements", _drop("detail.responseElements"), "processed"),
        ("no userIdentity", _drop("detail.userIdentity"), "processed"),
    ],
}
NOT_OBJECTS = [None, [], [{"detail-type": "EC2 Instance State-change Notification"}], "event", 42, 4.2, True]

CASES = [
    pytest.param(name, case, mutate, expected, id=f"{name}: {case}")
    for name in INSTANCE_HANDLERS
    for case, mutate, expected in COMMON + PER_HANDLER[name]
]


def outcome(handler: Handler, delivered: Any, stack: Stack) -> str:
    """What the handler did: "error:<message>", "ignored" or "processed". Any other exception propagates."""
    stack.calls.reset()
    try:
        result = handler(delivered, LambdaContext(), runtime=stack.runtime)
    except EventValidationError as error:
        assert stack.calls.total == 0, "a rejected event must not reach AWS"
        return f"error:{error}"
    if "ignored" in result:
        assert stack.calls.total == 0, "an ignored event must not reach AWS"
        return "ignored"
    assert stack.calls.total > 0
    return "processed"


@pytest.mark.parametrize(("name", "case", "mutate", "expected"), CASES)
def test_odd_events_get_their_deliberate_outcome(
    stack: Stack, name: str, case: str, mutate: Callable[[dict[str, Any]], None], expected: str
) -> None:
    delivered = sample(name)
    mutate(delivered)
    got = outcome(handler_of(name), delivered, stack)
    if expected.startswith("error:"):
        field = expected.removeprefix("error:")
        assert got.startswith("error:"), f"{case}: expected EventValidationError naming {field}, got {got}"
        assert field in got, f"{case}: the error does not name {field}: {got}"
        assert len(got) < 400, "error messages stay short, whatever the event holds"
    else:
        assert got == expected, f"{case}: {got}"


@pytest.mark.parametrize("name", ALL_HANDLERS)
@pytest.mark.parametrize("delivered", NOT_OBJECTS, ids=repr)
def test_an_event_that_is_not_an_object(stack: Stack, name: str, delivered: Any) -> None:
    if name == "scheduled_reconciler":
        summary = handler_of(name)(delivered, LambdaContext(), runtime=stack.runtime)
        assert summary["trigger"] == "schedule"  # the schedule carries nothing: any event starts a run
        return
    with pytest.raises(EventValidationError, match="event must be a JSON object"):
        handler_of(name)(delivered, LambdaContext(), runtime=stack.runtime)


def _own_samples(name: str) -> tuple[str, ...]:
    return next((entry.samples for entry in (*TRIGGERS, *SCHEDULES) if entry.function == name), ())


# Every handler with every trigger's event; not a lifecycle action or a finding to its own handler, which needs its
# own settings and set-up (tests/integration/test_incident_response.py, test_instance_events.py).
CROSSED = [
    pytest.param(name, other, id=f"{other}-{name}")
    for name in ALL_HANDLERS
    for other in OTHER_EVENTS
    if other not in _own_samples(name) or name in INSTANCE_HANDLERS or name == "scheduled_reconciler"
]


@pytest.mark.parametrize(("name", "other"), CROSSED)
def test_every_handler_rejects_or_ignores_the_other_handlers_events(stack: Stack, name: str, other: str) -> None:
    """An event meant for another function (a rule wired to the wrong target) is rejected by its detail-type."""
    delivered = event(other, INSTANCE)
    handler = handler_of(name)
    if name == "scheduled_reconciler":
        assert handler(delivered, LambdaContext(), runtime=stack.runtime)["trigger"] == "schedule"
    elif INSTANCE_HANDLERS.get(name) == other:
        assert outcome(handler, delivered, stack) == "processed"
    else:
        with pytest.raises(EventValidationError, match="detail-type"):
            handler(delivered, LambdaContext(), runtime=stack.runtime)


def test_an_event_from_another_region_is_logged(stack: Stack) -> None:
    delivered = sample("instance_state_change")
    delivered["region"] = "eu-west-1"
    out = io.StringIO()
    previous = logger.registered_handler.setStream(out)  # type: ignore[union-attr,attr-defined]
    try:
        result = handler_of("instance_state_change")(delivered, LambdaContext(), runtime=stack.runtime)
    finally:
        logger.registered_handler.setStream(previous)  # type: ignore[union-attr,attr-defined]
    assert "eu-west-1" in str(result["ignored"]) and "us-east-1" in str(result["ignored"])
    logged = [json.loads(line) for line in out.getvalue().splitlines()]
    warnings = [line for line in logged if line["level"] == "WARNING"]
    assert [w["message"] for w in warnings] == [result["ignored"]]
    assert warnings[0]["instance_id"] == INSTANCE


# -- any JSON at all -------------------------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*prefix, index)))
    return found


@st.composite
def mutated_events(draw: st.DrawFn) -> tuple[str, Any]:
    """A real sample with one to three fields replaced by any JSON value or removed, or any JSON value at all."""
    name = draw(st.sampled_from(sorted(INSTANCE_HANDLERS)))
    if draw(st.integers(0, 9)) == 0:
        return name, draw(json_values)
    delivered = copy.deepcopy(sample(name))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(delivered)
        if not paths:
            break
        *parents, leaf = draw(st.sampled_from(paths))
        node = delivered
        for key in parents:
            node = node[key]
        if draw(st.booleans()) and isinstance(node, dict):
            del node[leaf]
        else:
            node[leaf] = draw(json_values)
    return name, delivered


@settings(
    max_examples=3000 if SOAK else 400,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    deadline=None,
)
@given(case=mutated_events())
def test_any_json_gets_a_deliberate_outcome(stack: Stack, case: tuple[str, Any]) -> None:
    name, delivered = case
    for handler_name in (name, *sorted(set(INSTANCE_HANDLERS) - {name})):
        got = outcome(handler_of(handler_name), copy.deepcopy(delivered), stack)  # raises anything unexpected
        assert got.split(":", 1)[0] in ("error", "ignored", "processed")


def test_the_lifecycle_handler_ignores_another_regions_action_too(stack: Stack) -> None:
    from traffic_mirroring.lifecycle import LifecycleSettings

    delivered = event(
        "autoscaling-launch-lifecycle-action.json",
        INSTANCE,
        AutoScalingGroupName="web-asg",
        LifecycleHookName="mirror-hook",
        LifecycleActionToken="0e7c1b4a-1111-2222-3333-444455556666",
    )
    delivered["region"] = "eu-west-1"
    stack.calls.reset()
    result = handler_of("autoscaling_lifecycle")(
        delivered, LambdaContext(), runtime=stack.runtime, lifecycle=LifecycleSettings()
    )
    assert "ignored" in result and stack.calls.total == 0
