"""A failure at every API call position: an instance is never left half mirrored, and the next run repairs it.

For each position k of the calls a clean run makes (counted first, on an identical fresh account), call k fails
with InternalError. After the failed invocation the instance is either fully mirrored or holds none of our
sessions; after the next reconcile (or Lambda's retry of the event) it is fully mirrored. The same for a failing
rollback (RollbackIncomplete names what it left) and for a failure at each call of a reconcile with work to do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from moto import mock_aws

from functions.instance_state_change.app import handler as state_change
from functions.instance_tag_change.app import handler as tag_change
from functions.scheduled_reconciler.app import handler as scheduled_reconciler
from simulation.account import SimulatedAccount
from simulation.strict_aws import StrictAws
from tests.integration.stack import LambdaContext, Stack, event, make_stack
from tests.properties.world import ForeignSession, Snapshot, convergence_problems, limit_violations
from traffic_mirroring.errors import AwsApiError, MirroringFailed, RollbackIncomplete

RETRYABLE = (MirroringFailed, RollbackIncomplete, AwsApiError)
SCHEDULE = event("scheduled-event.json", "i-00000000")
ZONE = "us-east-1a"


@contextmanager
def fresh_account() -> Iterator[SimulatedAccount]:
    with mock_aws(), StrictAws():
        yield SimulatedAccount()


@dataclass
class World:
    stack: Stack
    instance: str
    pool: list[str]
    instances: list[str] = field(default_factory=list)
    foreign: dict[str, ForeignSession] = field(default_factory=dict)

    def ours(self) -> list[str]:
        return sorted(s["NetworkInterfaceId"] for s in self.stack.our_sessions(self.instance))

    def enis(self) -> list[str]:
        return sorted(self.stack.account.enis_of(self.instance))

    def fully_mirrored(self) -> bool:
        return self.ours() == self.enis() and self.stack.account.tags_of(self.instance).get("mirror-status") == (
            "mirrored"
        )


def instance_with_three_enis(account: SimulatedAccount) -> World:
    pool = [account.eni_target(ZONE), account.nlb_target()]
    stack = make_stack(account, pool, account.mirror_filter())
    instance = account.launch(tags={"mirror": "true"}, zone=ZONE, extra_enis=2)
    return World(stack, instance, pool, [instance])


def launched(world: World) -> None:
    state_change(event("ec2-instance-running.json", world.instance), LambdaContext(), runtime=world.stack.runtime)


def reconcile(world: World) -> None:
    scheduled_reconciler(SCHEDULE, LambdaContext(), runtime=world.stack.runtime)


def calls_of_a_clean_run(build: Callable[[SimulatedAccount], World], run: Callable[[World], None]) -> list[str]:
    with fresh_account() as account:
        world = build(account)
        world.stack.calls.reset()
        run(world)
        return list(world.stack.calls.log)


def fail_at(world: World, position: int, run: Callable[[World], None]) -> Exception | None:
    """Run with call ``position`` failing; the failure must be one Lambda retries (or none: a best-effort step)."""
    world.stack.calls.reset()
    world.stack.calls.faults = {position: "InternalError"}
    try:
        run(world)
    except RETRYABLE as error:
        return error
    finally:
        assert world.stack.calls.faults == {}, f"call {position} was never made"
    return None


@pytest.mark.parametrize("recovery", ["reconcile", "retry"])
def test_a_failure_at_any_call_of_a_launch_leaves_all_or_nothing(recovery: str) -> None:
    log = calls_of_a_clean_run(instance_with_three_enis, launched)
    outcomes: Counter[str] = Counter()
    for position in range(1, len(log) + 1):
        with fresh_account() as account:
            # Given a tagged instance with 3 ENIs, and call `position` of its running event failing
            world = instance_with_three_enis(account)
            error = fail_at(world, position, launched)
            # Then it is fully mirrored, or none of our sessions is left on it
            where = f"call {position} ({log[position - 1]}) failed, raised {error!r}"
            assert world.ours() in (world.enis(), []), where
            outcomes[f"{log[position - 1]}: {type(error).__name__ if error else 'no error'}"] += 1
            # When the schedule runs (or Lambda retries the event), it is fully mirrored
            if recovery == "reconcile":
                reconcile(world)
            else:
                launched(world)
            assert world.fully_mirrored(), where
            assert limit_violations() == []
    print(f"{len(log)} call positions of a cold launch with 3 ENIs, each failed once: {dict(outcomes)}")


@pytest.mark.parametrize(
    ("failing_create", "failing_deletes"),
    [(2, [1]), (3, [1]), (3, [2]), (3, [1, 2])],
    ids=["2nd-create/its-only-delete", "3rd-create/first-delete", "3rd-create/second-delete", "3rd-create/both"],
)
def test_a_failing_rollback_names_what_it_left_and_the_reconciler_finishes(
    failing_create: int, failing_deletes: list[int]
) -> None:
    with fresh_account() as account:
        world = instance_with_three_enis(account)
        creates: list[str | None] = [None] * (failing_create - 1) + ["InternalError"]
        deletes: list[str | None] = [("InternalError" if n in failing_deletes else None) for n in (1, 2)]
        world.stack.calls.fault_operations["CreateTrafficMirrorSession"] = creates  # type: ignore[assignment]
        world.stack.calls.fault_operations["DeleteTrafficMirrorSession"] = deletes  # type: ignore[assignment]
        # When the create of the failing_create-th ENI fails and so do some of the rollback's deletes
        with pytest.raises(RollbackIncomplete) as raised:
            launched(world)
        world.stack.calls.fault_operations.clear()
        # Then the error names exactly the sessions left behind
        left = sorted(s["TrafficMirrorSessionId"] for s in world.stack.our_sessions(world.instance))
        assert left and sorted(raised.value.remaining) == left
        assert all(session_id in str(raised.value) for session_id in left)
        # And the next reconcile leaves exactly one session of ours per ENI
        reconcile(world)
        assert world.fully_mirrored()


def account_with_work(account: SimulatedAccount) -> World:
    """A reconcile with every kind of work: create, delete (tag removed, stopped), move (target retired), status."""
    eni_target, nlb, spare = account.eni_target(ZONE), account.nlb_target(), account.eni_target("us-east-1b")
    filter_id = account.mirror_filter()
    stack = make_stack(account, [eni_target, nlb, spare], filter_id)
    unmirrored = account.launch(tags={"mirror": "true"}, zone=ZONE, extra_enis=2)  # its event was missed
    untagged, stopped, moved = (account.launch(tags={"mirror": "true"}, zone=ZONE) for _ in range(3))
    for instance in (untagged, stopped, moved):
        state_change(event("ec2-instance-running.json", instance), LambdaContext(), runtime=stack.runtime)
    account.untag(untagged, "mirror")  # events missed from here on
    account.stop(stopped)
    foreign_eni = account.enis_of(unmirrored)[0]
    foreign_id = account.foreign_session(foreign_eni, spare, filter_id, 1)
    world = World(stack, unmirrored, [nlb, spare], [unmirrored, untagged, stopped, moved])
    world.foreign[foreign_id] = ForeignSession(foreign_id, foreign_eni, spare, filter_id, 1)
    stack.configure(TARGET_IDS=",".join(world.pool))  # the ENI target is retired: sessions on it move
    return world


def converged(world: World) -> list[str]:
    return convergence_problems(
        Snapshot.read(world.stack.account, world.instances),
        pool=world.pool,
        filter_id=world.stack.settings.filter_id,
        foreign=world.foreign,
    )


def test_a_failure_at_any_call_of_a_reconcile_is_repaired_by_the_next() -> None:
    log = calls_of_a_clean_run(account_with_work, reconcile)
    assert {"CreateTrafficMirrorSession", "DeleteTrafficMirrorSession", "ModifyTrafficMirrorSession"} <= set(log)
    for position in range(1, len(log) + 1):
        with fresh_account() as account:
            world = account_with_work(account)
            error = fail_at(world, position, reconcile)
            assert limit_violations() == []
            reconcile(world)
            assert converged(world) == [], f"call {position} ({log[position - 1]}) failed, raised {error!r}"
            # And the reconcile after that has nothing left to do
            world.stack.calls.reset()
            summary = scheduled_reconciler(SCHEDULE, LambdaContext(), runtime=world.stack.runtime)
            assert (summary["sessions_created"], summary["sessions_moved"], summary["sessions_deleted"]) == (0, 0, {})
    print(f"{len(log)} call positions of a reconcile with work to do, each failed once: converged every time")


def test_a_failure_at_any_call_of_a_tag_removal_leaves_all_or_nothing() -> None:
    def mirrored(account: SimulatedAccount) -> World:
        world = instance_with_three_enis(account)
        launched(world)
        account.untag(world.instance, "mirror")
        return world

    def removed(world: World) -> None:
        tag_change(
            event("tag-change-mirror-removed.json", world.instance), LambdaContext(), runtime=world.stack.runtime
        )

    log = calls_of_a_clean_run(mirrored, removed)
    for position in range(1, len(log) + 1):
        with fresh_account() as account:
            world = mirrored(account)
            error = fail_at(world, position, removed)
            # Deletes are not rolled back (the sessions must go): a failure leaves some, never adds any
            assert set(world.ours()) <= set(world.enis()), f"call {position} failed, raised {error!r}"
            reconcile(world)
            assert world.ours() == []
            assert "mirror-status" not in world.stack.account.tags_of(world.instance)
