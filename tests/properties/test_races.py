"""Races between concurrent invocations (each its own Lambda container): never over a limit, never a duplicate.

Lambda runs concurrent invocations in separate containers, so every thread here has its own Runtime (its own
caches) and all start together behind a Barrier. AWS (the strict layer) is the only shared state, as in reality.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from functions.autoscaling_launch.app import handler as autoscaling_launch
from functions.instance_state_change.app import handler as state_change
from functions.instance_tag_change.app import handler as tag_change
from simulation.account import SimulatedAccount
from tests.integration.stack import LambdaContext, Stack, event, make_stack
from tests.properties.world import ec2_backend, limit_violations
from traffic_mirroring.ec2_gateway import Ec2Gateway
from traffic_mirroring.runtime import Runtime

ZONE_A, ZONE_B = "us-east-1a", "us-east-1b"
ROUNDS = 4

Delivery = Callable[[Runtime], Any]


def container(stack: Stack) -> Runtime:
    """A fresh Lambda container: its own clients, its own gateway caches."""
    session = stack.account.session
    return Runtime(stack.settings, Ec2Gateway(session.client("ec2"), session.client("elbv2")))


pytestmark = pytest.mark.usefixtures("containers_in_threads")


def race(stack: Stack, deliveries: list[Delivery]) -> list[BaseException]:
    """Run every delivery in its own container, all released at once; return what they raised."""
    runtimes = [container(stack) for _ in deliveries]
    start = threading.Barrier(len(deliveries))
    errors: list[BaseException] = []

    def run(deliver: Delivery, runtime: Runtime) -> None:
        start.wait()
        try:
            deliver(runtime)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=pair) for pair in zip(deliveries, runtimes, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def running(instance: str) -> Delivery:
    return lambda runtime: state_change(event("ec2-instance-running.json", instance), LambdaContext(), runtime=runtime)


def tagged(instance: str) -> Delivery:
    return lambda runtime: tag_change(event("tag-change-mirror-added.json", instance), LambdaContext(), runtime=runtime)


def scaled_out(instance: str) -> Delivery:
    return lambda runtime: autoscaling_launch(
        event("autoscaling-launch-successful.json", instance), LambdaContext(), runtime=runtime
    )


def sources_of(target_id: str) -> set[str]:
    return {
        s.network_interface_id
        for s in list(ec2_backend().traffic_mirror_sessions.values())
        if s.traffic_mirror_target_id == target_id
    }


def fill(account: SimulatedAccount, target: str, filter_id: str, sources: int) -> None:
    """Another team's instances mirror to the target."""
    for _ in range(sources):
        filler = account.launch(zone=ZONE_A)
        account.foreign_session(account.enis_of(filler)[0], target, filter_id, 1)


def test_concurrent_events_for_one_instance_give_one_session_per_eni(account: SimulatedAccount) -> None:
    stack = make_stack(account, [account.eni_target(ZONE_A), account.nlb_target()], account.mirror_filter())
    for _ in range(ROUNDS):
        # Given a tagged instance with 3 ENIs whose launch produces several events at once, each delivered twice
        instance = account.launch(tags={"mirror": "true"}, extra_enis=2)
        deliveries = [running(instance), tagged(instance), scaled_out(instance)] * 2
        # When all six invocations run at the same moment
        errors = race(stack, deliveries)
        # Then none fails, and each ENI has exactly one session of ours
        assert errors == []
        assert sorted(s["NetworkInterfaceId"] for s in stack.our_sessions(instance)) == sorted(
            account.enis_of(instance)
        )
        assert account.tags_of(instance)["mirror-status"] == "mirrored"
        assert limit_violations() == []


@pytest.mark.parametrize("fallback", [True, False], ids=["next-target", "no-other-target"])
def test_instances_racing_for_the_last_slot_of_an_eni_target(account: SimulatedAccount, fallback: bool) -> None:
    # Given an ENI target in zone A with 9 of its 10 sources taken, and (maybe) an NLB target in zone B only
    eni_target, filter_id = account.eni_target(ZONE_A), account.mirror_filter()
    pool = [eni_target, account.nlb_target([ZONE_B])] if fallback else [eni_target]
    stack = make_stack(account, pool, filter_id)
    fill(account, eni_target, filter_id, 9)
    for _ in range(ROUNDS):
        taken = sources_of(eni_target)
        if len(taken) == 10:  # free the slot again: the previous round's winner is gone
            winner = next(s for s in stack.our_sessions() if s["TrafficMirrorTargetId"] == eni_target)
            account.ec2.delete_traffic_mirror_session(TrafficMirrorSessionId=winner["TrafficMirrorSessionId"])
        # When 5 tagged instances in zone A (where the ENI target is preferred) launch at the same moment
        instances = [account.launch(tags={"mirror": "true"}, zone=ZONE_A) for _ in range(5)]
        errors = race(stack, [running(i) for i in instances])
        assert errors == []
        # Then exactly one of them got the last slot, the target is exactly full, and nobody has two sessions
        on_target = [
            i for i in instances if any(s["TrafficMirrorTargetId"] == eni_target for s in stack.our_sessions(i))
        ]
        assert len(on_target) == 1
        assert len(sources_of(eni_target)) == 10
        for instance in instances:
            sessions = stack.our_sessions(instance)
            status = account.tags_of(instance)["mirror-status"]
            if fallback or instance in on_target:
                assert len(sessions) == 1 and status == "mirrored"
            else:
                assert sessions == [] and status == "no-target-capacity"
        assert limit_violations() == []


def test_instances_with_two_enis_racing_for_two_slots(account: SimulatedAccount) -> None:
    eni_target, nlb, filter_id = account.eni_target(ZONE_A), account.nlb_target([ZONE_B]), account.mirror_filter()
    stack = make_stack(account, [eni_target, nlb], filter_id)
    fill(account, eni_target, filter_id, 8)
    instances = [account.launch(tags={"mirror": "true"}, zone=ZONE_A, extra_enis=1) for _ in range(3)]
    errors = race(stack, [running(i) for i in instances] + [tagged(i) for i in instances])
    assert errors == []
    assert len(sources_of(eni_target)) == 10
    for instance in instances:
        assert sorted(s["NetworkInterfaceId"] for s in stack.our_sessions(instance)) == sorted(
            account.enis_of(instance)
        )
    assert limit_violations() == []
