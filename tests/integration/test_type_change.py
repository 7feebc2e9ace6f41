"""An instance stopped, changed to another type and started keeps its sessions at AWS (they bill on): the product
judges them again by the new type. Against moto plus the strict layer, where a type changes only while the instance
is stopped (ModifyInstanceAttribute) and CreateTrafficMirrorSession refuses a source of a type AWS does not list.

DeleteWhenStopped=true deletes the sessions at the stop event; the bug bit when that event was missed, or with
DeleteWhenStopped=false. Each case runs the three ways.
"""

from __future__ import annotations

from typing import Any

import pytest

from functions.instance_state_change.app import handler as state_change
from simulation.account import SimulatedAccount
from simulation.strict_aws import StrictAws
from tests.integration.stack import LambdaContext, Stack, event, make_stack

UNLISTED = "m8g.large"  # a family newer than AWS's list: the product asks AWS; the strict layer refuses it
WAYS = [
    pytest.param("false", True, id="DeleteWhenStopped=false"),
    pytest.param("true", False, id="DeleteWhenStopped=true,stop-event-missed"),
    pytest.param("true", True, id="DeleteWhenStopped=true"),
]


@pytest.fixture
def pool(account: SimulatedAccount) -> dict[str, str]:
    return {"nlb": account.nlb_target(), "filter": account.mirror_filter()}


def stack_with(account: SimulatedAccount, pool: dict[str, str], delete_when_stopped: str) -> Stack:
    return make_stack(account, [pool["nlb"]], pool["filter"], DELETE_WHEN_STOPPED=delete_when_stopped)


def state_event(stack: Stack, sample: str, instance: str) -> dict[str, Any]:
    answer: dict[str, Any] = state_change(event(sample, instance), LambdaContext(), runtime=stack.runtime)
    return answer


def refusals(account: SimulatedAccount) -> list[str]:
    """The error codes CreateTrafficMirrorSession answers from now on, in order."""
    codes: list[str] = []

    def after_create(parsed: dict[str, Any], **_: Any) -> None:
        if "Error" in parsed:
            codes.append(parsed["Error"].get("Code", ""))

    account.ec2.meta.events.register("after-call.ec2.CreateTrafficMirrorSession", after_create)
    return codes


def mirrored_then_changed(stack: Stack, new_type: str, stop_event: bool) -> str:
    """A mirrored m5.large, stopped (its event delivered or not), changed to ``new_type``, started."""
    instance = stack.account.launch("m5.large", tags={"mirror": "true"})
    state_event(stack, "ec2-instance-running.json", instance)
    [session] = stack.our_sessions(instance)
    assert {"Key": "mirror-instance-type", "Value": "m5.large"} in session["Tags"]
    stack.account.stop(instance)
    if stop_event:
        state_event(stack, "ec2-instance-stopped.json", instance)
    stack.account.ec2.modify_instance_attribute(InstanceId=instance, InstanceType={"Value": new_type})
    stack.account.start(instance)
    return instance


@pytest.mark.parametrize(("delete_when_stopped", "stop_event"), WAYS)
def test_a_type_aws_lists_as_refused_loses_its_session_and_the_status_says_why(
    account: SimulatedAccount, pool: dict[str, str], delete_when_stopped: str, stop_event: bool
) -> None:
    # Given a mirrored instance, stopped, changed to t2.micro and started
    stack = stack_with(account, pool, delete_when_stopped)
    instance = mirrored_then_changed(stack, "t2.micro", stop_event)
    stack.calls.reset()
    # When its running event arrives
    state_event(stack, "ec2-instance-running.json", instance)
    creates = stack.calls.counts["CreateTrafficMirrorSession"]
    # Then it has no session left (nothing billing), and its status says why
    assert stack.our_sessions(instance) == []
    assert stack.account.tags_of(instance)["mirror-status"] == "unsupported-instance-type"
    # A session that survived the stop goes without asking AWS (its list says no); with none left by the stop
    # event, t2.micro is asked of AWS once, like any type the product has no session for
    assert creates == (1 if delete_when_stopped == "true" and stop_event else 0)


@pytest.mark.parametrize(("delete_when_stopped", "stop_event"), WAYS)
def test_an_unlisted_type_aws_refuses_is_asked_once_then_loses_its_session(
    account: SimulatedAccount, pool: dict[str, str], delete_when_stopped: str, stop_event: bool
) -> None:
    # Given a mirrored instance, stopped, changed to a type AWS's list does not name (and AWS refuses), started
    stack = stack_with(account, pool, delete_when_stopped)
    instance = mirrored_then_changed(stack, UNLISTED, stop_event)
    refused = refusals(stack.account)
    stack.calls.reset()
    # When its running event arrives, and is delivered again
    summary = state_event(stack, "ec2-instance-running.json", instance)
    state_event(stack, "ec2-instance-running.json", instance)
    # Then AWS was asked once (one create, refused as a source), and the instance is left with no session of ours
    assert stack.calls.counts["CreateTrafficMirrorSession"] == 1
    assert refused == ["NetworkInterfaceNotSupported"]
    assert summary["instance_type_verdicts"] == {UNLISTED: "unsupported"}
    assert stack.our_sessions(instance) == []
    assert stack.account.tags_of(instance)["mirror-status"] == "unsupported-instance-type"


@pytest.mark.parametrize(("delete_when_stopped", "stop_event"), WAYS)
def test_an_unlisted_type_aws_accepts_keeps_a_session_that_records_it(
    account: SimulatedAccount, strict: StrictAws, pool: dict[str, str], delete_when_stopped: str, stop_event: bool
) -> None:
    # Given AWS accepts the new family, and a mirrored instance changed to it
    strict.accept_family("m8g")
    stack = stack_with(account, pool, delete_when_stopped)
    instance = mirrored_then_changed(stack, UNLISTED, stop_event)
    stack.calls.reset()
    # When its running event arrives, and is delivered again
    state_event(stack, "ec2-instance-running.json", instance)
    state_event(stack, "ec2-instance-running.json", instance)
    # Then AWS was asked once, and the instance is mirrored by one session that records its new type
    assert stack.calls.counts["CreateTrafficMirrorSession"] == 1
    [session] = stack.our_sessions(instance)
    assert {"Key": "mirror-instance-type", "Value": UNLISTED} in session["Tags"]
    assert stack.account.tags_of(instance)["mirror-status"] == "mirrored"


def test_a_cold_container_does_not_ask_again_about_a_session_that_recorded_the_current_type(
    account: SimulatedAccount, strict: StrictAws, pool: dict[str, str]
) -> None:
    # Given an instance of an unlisted type AWS accepted, mirrored after its type change
    strict.accept_family("m8g")
    stack = stack_with(account, pool, "false")
    instance = mirrored_then_changed(stack, UNLISTED, stop_event=True)
    state_event(stack, "ec2-instance-running.json", instance)
    [before] = stack.our_sessions(instance)
    # When a new container (which knows no verdict) sees it running again
    fresh = stack_with(account, pool, "false")
    fresh.calls.reset()
    state_event(fresh, "ec2-instance-running.json", instance)
    # Then nothing is asked or replaced: its session recorded the type it runs as
    assert fresh.calls.counts["CreateTrafficMirrorSession"] == 0
    assert fresh.calls.counts["DeleteTrafficMirrorSession"] == 0
    assert [s["TrafficMirrorSessionId"] for s in stack.our_sessions(instance)] == [before["TrafficMirrorSessionId"]]
