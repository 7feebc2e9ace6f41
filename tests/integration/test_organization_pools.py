"""Issue 13 against moto and the strict layer: pools discovered by tag (no redeploy) and placement that follows the
network, in several accounts with several VPCs each, through the real handlers."""

from __future__ import annotations

from typing import Any

import pytest

from functions.instance_state_change.app import handler as state_change
from functions.scheduled_reconciler.app import handler as scheduled
from simulation.account import SimulatedAccount
from simulation.strict_aws import StrictAws
from tests.integration.stack import LambdaContext, Stack, event, make_stack
from tests.integration.test_scheduled_reconciler import SCHEDULE

SPOKES = ("111111111111", "222222222222")
POOL = {"mirror-pool": "prod"}


def deploy(account: SimulatedAccount, account_id: str, filter_id: str, target_ids: list[str] | None = None) -> Stack:
    """The stack every account of the StackSet gets: one parameter set (TargetPool=prod), its own account ID."""
    return make_stack(account, target_ids or [], filter_id, TARGET_POOL="prod", ACCOUNT_ID=account_id)


def launched(stack: Stack, instance_id: str) -> dict[str, Any]:
    return state_change(event("ec2-instance-running.json", instance_id), LambdaContext(), runtime=stack.runtime)


def reconcile(stack: Stack) -> dict[str, Any]:
    return scheduled(SCHEDULE, LambdaContext(), runtime=stack.runtime)


def targets_of(stack: Stack, instance_id: str) -> list[str]:
    return [s["TrafficMirrorTargetId"] for s in stack.our_sessions(instance_id)]


def status(stack: Stack, instance_id: str) -> str | None:
    return stack.account.tags_of(instance_id).get("mirror-status")


@pytest.mark.usefixtures("strict")
def test_a_spokes_source_is_never_placed_on_a_target_in_a_vpc_it_cannot_reach() -> None:
    for account_id in SPOKES:
        # Given a spoke account with three VPCs: two with their own Gateway Load Balancer endpoint target, tagged
        # into the pool (the second also declared reachable from the first), and one with no target at all
        spoke = SimulatedAccount.member(account_id)
        vpc_a, vpc_b, vpc_c = spoke.new_vpc("10.1.0.0/16"), spoke.new_vpc("10.2.0.0/16"), spoke.new_vpc("10.3.0.0/16")
        target_a, target_b = vpc_a.gwlb_endpoint_target(), vpc_b.gwlb_endpoint_target()
        spoke.tag_target(target_a, **POOL)
        spoke.tag_target(target_b, **POOL, **{"mirror-reachable-from": vpc_a.vpc_id})
        stack = deploy(spoke, account_id, spoke.mirror_filter())
        sources = {
            vpc: [vpc.launch(tags={"mirror": "true"}, zone=zone) for zone in spoke.zones[:2]]
            for vpc in (vpc_a, vpc_b, vpc_c)
        }
        # When each launches (the event path), and the reconciler runs
        for instances in sources.values():
            for instance in instances:
                launched(stack, instance)
        reconcile(stack)
        # Then sources in VPC A use A's target (their own VPC first, though B's is declared reachable too), sources
        # in VPC B use B's, and sources in VPC C, which reaches neither, get none, with a status that says so
        assert all(targets_of(stack, i) == [target_a] for i in sources[vpc_a]), account_id
        assert all(targets_of(stack, i) == [target_b] for i in sources[vpc_b]), account_id
        assert all(targets_of(stack, i) == [] for i in sources[vpc_c]), account_id
        assert {status(stack, i) for i in sources[vpc_c]} == {"no-reachable-target"}
        # And when A's target dies, A's sources move to B's target (declared reachable from A), never to C
        spoke.kill_target(target_a)
        reconcile(stack)
        assert all(targets_of(stack, i) == [target_b] for i in sources[vpc_a]), account_id


@pytest.mark.usefixtures("strict")
def test_a_new_pool_target_is_used_by_the_next_run_without_a_redeploy(account: SimulatedAccount) -> None:
    # Given a stack with TargetPool=prod deployed while no target carries the tag
    spoke = account.new_vpc("10.8.0.0/16")
    stack = deploy(account, "123456789012", account.mirror_filter())
    instance = spoke.launch(tags={"mirror": "true"})
    launched(stack, instance)
    assert status(stack, instance) == "pool-empty"
    # When someone creates a target in the instance's VPC and tags it mirror-pool=prod (no redeploy)
    target = spoke.gwlb_endpoint_target()
    spoke.tag_target(target, **POOL)
    summary = reconcile(stack)
    # Then the next run mirrors the instance to it, and its report names the pool it found
    assert summary["pool_targets"] == [target]
    assert targets_of(stack, instance) == [target]
    assert status(stack, instance) == "mirrored"
    # And when the tag goes away for another target's, the session moves: the untagged target is retired
    successor = spoke.gwlb_endpoint_target()
    spoke.tag_target(successor, **POOL)
    spoke.untag_target(target, "mirror-pool")
    reconcile(stack)
    assert targets_of(stack, instance) == [successor]


@pytest.mark.usefixtures("strict")
def test_a_single_vpc_stack_with_target_ids_changes_nothing(account: SimulatedAccount) -> None:
    """Today's users: one VPC, TargetIds, no TargetPool: every pool target serves, as before."""
    nlb = account.nlb_target()
    stack = make_stack(account, [nlb], account.mirror_filter())
    instance = account.launch(tags={"mirror": "true"})
    launched(stack, instance)
    assert targets_of(stack, instance) == [nlb]


def test_a_shared_hub_target_in_target_ids_serves_the_vpcs_the_operator_names(strict: StrictAws) -> None:
    # Given a hub account's target shared with the spoke (no tags, no VPC visible to the spoke), and the operator's
    # TargetReachableFrom naming only VPC A (the one with a Transit Gateway route to the hub)
    spoke = SimulatedAccount.member(SPOKES[0])
    vpc_a, vpc_b = spoke.new_vpc("10.1.0.0/16"), spoke.new_vpc("10.2.0.0/16")
    shared = strict.add_shared_target("network-load-balancer", owner_id="999999999999", account_id=SPOKES[0])
    stack = make_stack(
        spoke,
        [shared],
        spoke.mirror_filter(),
        ACCOUNT_ID=SPOKES[0],
        TARGET_REACHABLE_FROM=f"{shared}={vpc_a.vpc_id}",
    )
    in_a, in_b = vpc_a.launch(tags={"mirror": "true"}), vpc_b.launch(tags={"mirror": "true"})
    launched(stack, in_a)
    launched(stack, in_b)
    # Then only VPC A's source is placed on it
    assert targets_of(stack, in_a) == [shared]
    assert targets_of(stack, in_b) == []
    assert status(stack, in_b) == "no-reachable-target"


@pytest.mark.usefixtures("strict")
def test_an_unreadable_reachability_tag_is_reported_and_serves_its_own_vpc_only(account: SimulatedAccount) -> None:
    home, other = account.new_vpc("10.5.0.0/16"), account.new_vpc("10.6.0.0/16")
    target = home.gwlb_endpoint_target()
    account.tag_target(target, **POOL, **{"mirror-reachable-from": "everyone"})
    stack = deploy(account, "123456789012", account.mirror_filter())
    at_home, elsewhere = home.launch(tags={"mirror": "true"}), other.launch(tags={"mirror": "true"})
    summary = reconcile(stack)
    assert "everyone" in summary["unreadable_reachability"][target]
    assert targets_of(stack, at_home) == [target]
    assert status(stack, elsewhere) == "no-reachable-target"
