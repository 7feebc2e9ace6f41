"""Random histories of an account: whatever users, AWS and EventBridge do, the reconciler restores the promise.

A Hypothesis state machine drives a simulated account (moto + StrictAws): instances come and go with random types,
ENIs and tags; other teams add sessions; targets join and leave the pool; events are delivered late, twice, out of
order or never; API calls fail at random positions. The real handlers run on every delivery.

Always (after every step): no ENI has more than 3 sessions, no session number repeats on an ENI, no target is over
its source limit. After every clean delivery (no injected fault), the event's instance is as promised
(``instance_problems``: the handler acts on the instance's state now, whichever event woke it). After every clean
reconcile, and at the end of every history, the whole account is (``convergence_problems``): every tagged, running,
supported instance has exactly one session of ours per ENI (unless the ENI is full of other sessions or no pool
target has room), none of ours exists anywhere else, and the sessions other teams created are untouched.

Failures injected on a random call (or on every call of one operation) may make a handler raise MirroringFailed,
RollbackIncomplete or AwsApiError, the errors Lambda retries; any other exception fails the test.

The stack runs with MAX_DELETE_PERCENT=100: the safety valve (tested in tests/integration) would otherwise rightly
hold back a large cleanup, and this machine checks convergence, not the valve.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from moto import mock_aws
from moto.moto_api._internal import mock_random

from functions.instance_state_change.app import handler as state_change
from functions.instance_tag_change.app import handler as tag_change
from functions.scheduled_reconciler.app import handler as scheduled_reconciler
from simulation.account import SimulatedAccount
from simulation.strict_aws import StrictAws
from tests.integration.stack import LambdaContext, Stack, event, make_stack
from tests.properties.world import (
    SUPPORTED_TYPES,
    UNSUPPORTED_TYPES,
    ForeignSession,
    Snapshot,
    convergence_problems,
    ec2_backend,
    instance_problems,
    instance_view,
    limit_violations,
)
from traffic_mirroring import coverage
from traffic_mirroring.ec2_gateway import Ec2Gateway
from traffic_mirroring.errors import AwsApiError, MirroringFailed, RollbackIncomplete
from traffic_mirroring.events import InstanceTrigger
from traffic_mirroring.reconcile import plan_account
from traffic_mirroring.runtime import Runtime
from traffic_mirroring.triggers import (
    AUTOSCALING_LAUNCH,
    INSTANCE_STATE_CHANGE,
    INSTANCE_TAG_CHANGE,
    NETWORK_INTERFACE_ATTACHED,
    SCHEDULED_RECONCILER,
    Trigger,
)

ZONES = ("us-east-1a", "us-east-1b")
MAX_INSTANCES = 8
MAX_TARGETS = 6
TAG_VALUES = ("true", "TRUE", "True", "false", "yes", " true")
FAULT_CODES = ("InternalError", "RequestLimitExceeded", "Unavailable")
FAULT_OPERATIONS = (
    "CreateTrafficMirrorSession",
    "DeleteTrafficMirrorSession",
    "ModifyTrafficMirrorSession",
    "DescribeTrafficMirrorSessions",
    "CreateTags",
    "DeleteTags",
)
# Failures a handler may raise after an injected fault: Lambda retries them and the DLQ catches the rest.
RETRYABLE = (MirroringFailed, RollbackIncomplete, AwsApiError)
SCHEDULE = event(SCHEDULED_RECONCILER.samples[0], "i-00000000")

STATS: Counter[str] = Counter()
INSTANCE_TYPE_FACTS: dict[str, Any] = {}
LARGEST_IN_FAMILY: dict[str, int] = {}
# Each event a history makes: the trigger whose rule routes it (its handler runs) and the sample it is made from.
# tests/integration/test_trigger_registry.py checks that every instance trigger of the registry is here.
HISTORY_EVENTS: dict[str, tuple[Trigger[InstanceTrigger], str]] = {
    "running": (INSTANCE_STATE_CHANGE, "ec2-instance-running.json"),
    "stopped": (INSTANCE_STATE_CHANGE, "ec2-instance-stopped.json"),
    "terminated": (INSTANCE_STATE_CHANGE, "ec2-instance-terminated.json"),
    "tag-added": (INSTANCE_TAG_CHANGE, "tag-change-mirror-added.json"),
    "tag-removed": (INSTANCE_TAG_CHANGE, "tag-change-mirror-removed.json"),
    "asg-launch": (AUTOSCALING_LAUNCH, "autoscaling-launch-successful.json"),
    "eni-attached": (NETWORK_INTERFACE_ATTACHED, "cloudtrail-attach-network-interface.json"),
}
MAX_ENIS = 4  # per instance, attached at launch or later: below every supported type's limit


class AccountHistories(RuleBasedStateMachine):
    delete_when_stopped = True  # the stack's DELETE_WHEN_STOPPED

    def __init__(self) -> None:
        super().__init__()
        mock_random.seed(0)  # the account's own IDs (VPC, subnets, filter): the same in every history
        self._mock = mock_aws()
        self._mock.start()
        self._strict = StrictAws().__enter__()
        self.account = SimulatedAccount()
        self.filter_id = self.account.mirror_filter()
        self.targets: dict[str, str] = {}  # target → kind
        self.pool: list[str] = []
        self.instances: list[str] = []  # launched by the history (not fillers, not target hosts)
        self.terminated: set[str] = set()
        self.detached: list[str] = []  # ENIs that outlived their instance or were detached
        self.foreign: dict[str, ForeignSession] = {}
        self.pending: list[tuple[str, str]] = []  # (event kind, instance) EventBridge has yet to deliver
        self.fillers = 0
        self.stack: Stack | None = None
        self.runtimes: dict[str, Runtime] = {}  # one warm container per function

    def teardown(self) -> None:
        try:
            if self.stack is not None:
                self.reconcile()  # every history ends with a clean reconcile, and is judged
                STATS["histories"] += 1
                STATS["our sessions at the end"] += len(self.stack.our_sessions())
                STATS["foreign sessions at the end"] += len(self.foreign)
                STATS["instances launched"] += len(self.instances)
        finally:
            self._strict.__exit__()
            self._mock.stop()

    # -- setup -------------------------------------------------------------------------------------------------
    @initialize(
        kinds=st.lists(st.sampled_from(["eni-a", "eni-b", "nlb", "eni-largest"]), min_size=1, max_size=3, unique=True),
        ids=st.integers(0, 2**32 - 1),
    )
    def deploy(self, kinds: list[str], ids: int) -> None:
        """``ids`` seeds moto's IDs: the planner goes by instance ID, so they decide who takes the last slot or asks
        AWS first. Drawn, so that Hypothesis explores them and replays a history exactly (unseeded, one history
        failed or passed from run to run: FlakyFailure, and nothing to shrink)."""
        mock_random.seed(ids)
        for kind in kinds:
            self.pool.append(self._new_target(kind))
        self.stack = make_stack(self.account, self.pool, self.filter_id)
        self._redeploy()

    @initialize(
        first=st.lists(
            st.tuples(
                st.sampled_from(SUPPORTED_TYPES + UNSUPPORTED_TYPES),
                st.integers(0, 2),
                st.none() | st.sampled_from(TAG_VALUES),
                st.sampled_from(ZONES),
            ),
            min_size=1,
            max_size=3,
        )
    )
    def first_instances(self, first: list[tuple[str, int, str | None, str]]) -> None:
        """Every history starts with a few instances (and their pending running events)."""
        for instance_type, extra_enis, tag, zone in first:
            self.launch(instance_type, extra_enis, tag, zone, secondaries_survive=True, by_autoscaling=False)

    def _new_target(self, kind: str) -> str:
        if kind == "nlb":
            target = self.account.nlb_target([ZONES[len(self.targets) % 2]], name=f"nlb-{len(self.targets)}")
        elif kind == "eni-largest":
            target = self.account.eni_target(ZONES[0], instance_type="c5.18xlarge")
        else:
            target = self.account.eni_target(ZONES[0] if kind == "eni-a" else ZONES[1])
        self.targets[target] = kind
        return target

    def _redeploy(self) -> None:
        """A deployment with the current pool: one warm container per function (separate caches)."""
        assert self.stack is not None
        self.stack.configure(
            TARGET_IDS=",".join(self.pool),
            MAX_DELETE_PERCENT="100",
            DELETE_WHEN_STOPPED=str(self.delete_when_stopped).lower(),
        )
        containers = {trigger.name for trigger, _ in HISTORY_EVENTS.values()} | {SCHEDULED_RECONCILER.name}
        self.runtimes = {name: Runtime(self.stack.settings, self._cold_gateway()) for name in sorted(containers)}

    def _cold_gateway(self) -> Ec2Gateway:
        """A new container's gateway, but with the instance-type facts already known: they are constants of AWS,
        and reading them again (DescribeInstanceTypes is slow in moto) would only cost time."""
        gateway = Ec2Gateway(self.account.ec2, self.account.elbv2)
        gateway._type_info = INSTANCE_TYPE_FACTS
        gateway._largest_in_family = LARGEST_IN_FAMILY
        return gateway

    # -- what users and AWS do ---------------------------------------------------------------------------------
    def _live(self) -> list[str]:
        return [i for i in self.instances if i not in self.terminated]

    def _state(self, instance_id: str) -> str:
        return instance_view(instance_id).state

    @precondition(lambda self: len(self._live()) < MAX_INSTANCES)
    @rule(
        instance_type=st.sampled_from(SUPPORTED_TYPES + UNSUPPORTED_TYPES),
        extra_enis=st.integers(0, 2),
        tag=st.none() | st.sampled_from(TAG_VALUES),
        zone=st.sampled_from(ZONES),
        secondaries_survive=st.booleans(),
        by_autoscaling=st.booleans(),
    )
    def launch(
        self,
        instance_type: str,
        extra_enis: int,
        tag: str | None,
        zone: str,
        secondaries_survive: bool,
        by_autoscaling: bool,
    ) -> None:
        instance = self.account.launch(
            instance_type,
            tags={"mirror": tag} if tag is not None else None,
            zone=zone,
            extra_enis=extra_enis,
            extra_enis_delete_on_termination=not secondaries_survive,
        )
        self.instances.append(instance)
        self.pending.append(("running", instance))
        if by_autoscaling:
            self.pending.append(("asg-launch", instance))

    @precondition(lambda self: self._live())
    @rule(data=st.data(), value=st.sampled_from(TAG_VALUES))
    def set_tag(self, data: st.DataObject, value: str) -> None:
        instance = data.draw(st.sampled_from(self._live()))
        self.account.tag(instance, mirror=value)
        self.pending.append(("tag-added", instance))

    @precondition(lambda self: self._live())
    @rule(data=st.data())
    def untag(self, data: st.DataObject) -> None:
        instance = data.draw(st.sampled_from(self._live()))
        self.account.untag(instance, "mirror")
        self.pending.append(("tag-removed", instance))

    @precondition(lambda self: self._live())
    @rule(data=st.data())
    def stop(self, data: st.DataObject) -> None:
        instance = data.draw(st.sampled_from(self._live()))
        if self._state(instance) == "running":
            self.account.stop(instance)
            self.pending.append(("stopped", instance))

    @precondition(lambda self: self._live())
    @rule(data=st.data())
    def start(self, data: st.DataObject) -> None:
        instance = data.draw(st.sampled_from(self._live()))
        if self._state(instance) == "stopped":
            self.account.start(instance)
            self.pending.append(("running", instance))

    @precondition(lambda self: self._live())
    @rule(data=st.data(), instance_type=st.sampled_from(SUPPORTED_TYPES + UNSUPPORTED_TYPES))
    def change_type_while_stopped(self, data: st.DataObject, instance_type: str) -> None:
        """Stop, change the type, start: sessions survive a type change at AWS, supported or not."""
        instance = data.draw(st.sampled_from(self._live()))
        if self._state(instance) != "running":
            return
        self.account.stop(instance)
        self.account.ec2.modify_instance_attribute(InstanceId=instance, InstanceType={"Value": instance_type})
        self.account.start(instance)
        self.pending.extend([("stopped", instance), ("running", instance)])

    @precondition(lambda self: self._live())
    @rule(data=st.data())
    def terminate(self, data: st.DataObject) -> None:
        instance = data.draw(st.sampled_from(self._live()))
        enis = instance_view(instance).enis
        self.account.terminate(instance)
        self.terminated.add(instance)
        existing = self._existing_enis(enis)
        self.detached.extend(existing)
        self._forget_foreign_on_deleted_enis()
        self.pending.append(("terminated", instance))

    @precondition(lambda self: self._live())
    @rule(data=st.data())
    def detach_secondary_eni(self, data: st.DataObject) -> None:
        instance = data.draw(st.sampled_from(self._live()))
        secondaries = instance_view(instance).enis[1:]
        if not secondaries:
            return
        eni = data.draw(st.sampled_from(secondaries))
        self.account.ec2.detach_network_interface(AttachmentId=ec2_backend().enis[eni].attachment_id)
        self.detached.append(eni)

    @precondition(lambda self: self._live())
    @rule(data=st.data(), deleted_with_instance=st.booleans())
    def attach_eni(self, data: st.DataObject, deleted_with_instance: bool) -> None:
        """An ENI attached to a running instance later (the VPC CNI scaling pods out); CloudTrail records the call."""
        instance = data.draw(st.sampled_from(self._live()))
        raw = ec2_backend().get_instance(instance)
        if self._state(instance) != "running" or len(raw.network_interfaces) >= MAX_ENIS:
            return
        index = max(nic.device_index or 0 for nic in raw.network_interfaces) + 1
        self.account.attach_new_eni(instance, raw.placement.zone, index, deleted_with_instance)
        self.pending.append(("eni-attached", instance))

    @precondition(lambda self: self.detached)
    @rule(data=st.data())
    def delete_detached_eni(self, data: st.DataObject) -> None:
        eni = data.draw(st.sampled_from(self.detached))
        self.detached.remove(eni)
        self.account.ec2.delete_network_interface(NetworkInterfaceId=eni)
        self._forget_foreign_on_deleted_enis()

    @precondition(lambda self: self._live() and self.targets)
    @rule(data=st.data(), number=st.integers(1, 5))
    def add_foreign_session(self, data: st.DataObject, number: int) -> None:
        instance = data.draw(st.sampled_from(self._live()))
        enis = instance_view(instance).enis
        if not enis:
            return
        self._add_foreign(data.draw(st.sampled_from(enis)), data.draw(st.sampled_from(sorted(self.targets))), number)

    @precondition(lambda self: self._small_eni_targets())
    @rule(data=st.data(), leave_free=st.integers(0, 1))
    def fill_target(self, data: st.DataObject, leave_free: int) -> None:
        """Another team's instances take an ENI target up to its limit, or to one slot short of it."""
        target = data.draw(st.sampled_from(self._small_eni_targets()))
        on_target = {
            s.network_interface_id
            for s in ec2_backend().traffic_mirror_sessions.values()
            if s.traffic_mirror_target_id == target
        }
        for _ in range(max(0, 10 - leave_free - len(on_target))):
            filler = self.account.launch("m5.large", zone=ZONES[self.fillers % 2])
            self.fillers += 1
            if not self._add_foreign(instance_view(filler).enis[0], target, 1):
                break

    @precondition(lambda self: self.stack is not None and len(self.targets) < MAX_TARGETS)
    @rule(kind=st.sampled_from(["eni-a", "eni-b", "nlb"]))
    def add_target(self, kind: str) -> None:
        self.pool.append(self._new_target(kind))
        self._redeploy()

    @precondition(lambda self: self.stack is not None and len(self.pool) >= 2)
    @rule(data=st.data())
    def retire_target(self, data: st.DataObject) -> None:
        self.pool.remove(data.draw(st.sampled_from(self.pool)))
        self._redeploy()

    @precondition(lambda self: self.stack is not None and bool(set(self.targets) - set(self.pool)))
    @rule(data=st.data())
    def return_target(self, data: st.DataObject) -> None:
        self.pool.append(data.draw(st.sampled_from(sorted(set(self.targets) - set(self.pool)))))
        self._redeploy()

    # -- what EventBridge does ---------------------------------------------------------------------------------
    @precondition(lambda self: self.pending)
    @rule()
    def deliver_oldest(self) -> None:
        self._deliver(*self.pending.pop(0))

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def deliver_any(self, data: st.DataObject) -> None:
        """Out of order: EventBridge does not promise ordering."""
        index = data.draw(st.integers(0, len(self.pending) - 1))
        self._deliver(*self.pending.pop(index))

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def deliver_twice(self, data: st.DataObject) -> None:
        """At least once: the same event again (it stays pending, so it may come a third time)."""
        index = data.draw(st.integers(0, len(self.pending) - 1))
        self._deliver(*self.pending[index])

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        """Best effort: tag-change events in particular can be missed."""
        self.pending.pop(data.draw(st.integers(0, len(self.pending) - 1)))

    @precondition(lambda self: self.pending)
    @rule(data=st.data(), position=st.integers(1, 10), code=st.sampled_from(FAULT_CODES))
    def deliver_with_fault_at_call(self, data: st.DataObject, position: int, code: str) -> None:
        index = data.draw(st.integers(0, len(self.pending) - 1))
        kind, instance = self.pending.pop(index)
        self._with_fault(lambda: self._deliver(kind, instance, clean=False), faults={position: code})

    @precondition(lambda self: self.pending)
    @rule(
        data=st.data(),
        operation=st.sampled_from(FAULT_OPERATIONS),
        times=st.integers(1, 2),
        code=st.sampled_from(FAULT_CODES),
    )
    def deliver_with_failing_operation(self, data: st.DataObject, operation: str, times: int, code: str) -> None:
        index = data.draw(st.integers(0, len(self.pending) - 1))
        kind, instance = self.pending.pop(index)
        self._with_fault(lambda: self._deliver(kind, instance, clean=False), operation=(operation, code, times))

    def _deliver(self, kind: str, instance: str, clean: bool = True) -> None:
        """Run the handler the event's rule targets. A clean run leaves that instance as promised (level-triggered:
        whichever event arrives, the handler acts on the instance's state now)."""
        trigger, sample = HISTORY_EVENTS[kind]
        handler = importlib.import_module(f"functions.{trigger.function}.app").handler
        handler(event(sample, instance), LambdaContext(), runtime=self.runtimes[trigger.name])
        STATS["events delivered"] += 1
        if clean:
            problems = instance_problems(
                Snapshot.read(self.account, [instance]),
                instance,
                pool=self.pool,
                filter_id=self.filter_id,
                delete_when_stopped=self.delete_when_stopped,
            )
            assert problems == [], f"after its {kind} event:\n" + "\n".join(problems)

    # -- what the schedule does --------------------------------------------------------------------------------
    @precondition(lambda self: self.stack is not None)
    @rule()
    def reconcile(self) -> None:
        runtime = self.runtimes[SCHEDULED_RECONCILER.name]
        summary = scheduled_reconciler(SCHEDULE, LambdaContext(), runtime=runtime)
        STATS["clean reconciles judged"] += 1
        problems = convergence_problems(
            Snapshot.read(self.account, self.instances),
            pool=self.pool,
            filter_id=self.filter_id,
            foreign=self.foreign,
            delete_when_stopped=self.delete_when_stopped,
        )
        assert problems == [], "after a clean reconcile:\n" + "\n".join(problems)
        # The figure the run reports is the account's as it now reads (issue 23), judged by the same container. (Not
        # its not_counted: an instance whose status tag the run removed is no longer read at all.)
        reported = summary["coverage"]
        read = coverage.as_read(plan_account(runtime.gateway, runtime.settings).sources).as_dict()
        figures = ("enis_to_mirror", "enis_mirrored")
        assert {k: reported[k] for k in figures} == {k: read[k] for k in figures}, (reported, read)

    @precondition(lambda self: self.stack is not None)
    @rule(position=st.integers(1, 15), code=st.sampled_from(FAULT_CODES))
    def reconcile_with_fault(self, position: int, code: str) -> None:
        self._with_fault(
            lambda: scheduled_reconciler(SCHEDULE, LambdaContext(), runtime=self.runtimes[SCHEDULED_RECONCILER.name]),
            faults={position: code},
        )

    # -- invariants --------------------------------------------------------------------------------------------
    @invariant()
    def never_over_a_limit(self) -> None:
        assert limit_violations() == []

    # -- helpers -----------------------------------------------------------------------------------------------
    def _with_fault(
        self,
        run: Any,
        faults: dict[int, str] | None = None,
        operation: tuple[str, str, int] | None = None,
    ) -> None:
        assert self.stack is not None
        calls = self.stack.calls
        calls.reset()
        calls.faults = dict(faults or {})
        if operation is not None:
            calls.fail_operation(operation[0], operation[1], operation[2])
        outcome = "succeeded"
        try:
            run()
        except RETRYABLE as error:
            outcome = f"raised {type(error).__name__}"  # Lambda retries it: allowed
        finally:
            fired = not calls.faults and not any(calls.fault_operations.values())
            STATS[f"faults injected, {outcome}" if fired else "faults injected, not (all) reached"] += 1
            calls.faults.clear()
            calls.fault_operations.clear()

    def _small_eni_targets(self) -> list[str]:
        return sorted(t for t, kind in self.targets.items() if kind in ("eni-a", "eni-b"))

    def _add_foreign(self, eni: str, target: str, number: int) -> bool:
        try:
            session = self.account.foreign_session(eni, target, self.filter_id, number)
        except ClientError:
            return False  # AWS refused it (ENI full, number taken, target full, unsupported source): nothing changed
        self.foreign[session] = ForeignSession(session, eni, target, self.filter_id, number)
        return True

    def _existing_enis(self, eni_ids: tuple[str, ...]) -> list[str]:
        interfaces = ec2_backend().enis
        return [e for e in eni_ids if e in interfaces]

    def _forget_foreign_on_deleted_enis(self) -> None:
        """AWS deletes the sessions of a deleted ENI, anyone's: they are no longer expected."""
        interfaces = ec2_backend().enis
        self.foreign = {k: v for k, v in self.foreign.items() if v.eni_id in interfaces}


class KeepingStoppedSessions(AccountHistories):
    delete_when_stopped = False


@pytest.mark.parametrize(
    "machine", [AccountHistories, KeepingStoppedSessions], ids=["DELETE_WHEN_STOPPED=true", "DELETE_WHEN_STOPPED=false"]
)
def test_random_histories(machine: type[AccountHistories], record_property: Callable[[str, object], None]) -> None:
    """Half the profile's examples per deployment flavour: 2 x 100 histories in make test, 2 x 1500 in make soak.

    Two tests rather than one, so the two halves run in parallel under xdist.
    """
    STATS.clear()
    run_state_machine_as_test(machine, settings=settings(max_examples=max(1, settings().max_examples // 2)))
    record_property("figures", dict(STATS))


# -- histories the machine found, kept as plain tests ------------------------------------------------------------
def _mirrored_then_untagged(account: SimulatedAccount) -> tuple[Stack, str]:
    stack = make_stack(account, [account.nlb_target()], account.mirror_filter())
    instance = account.launch(tags={"mirror": "true"}, extra_enis=1)
    state_change(event("ec2-instance-running.json", instance), LambdaContext(), runtime=stack.runtime)
    account.untag(instance, "mirror")
    tag_change(event("tag-change-mirror-removed.json", instance), LambdaContext(), runtime=stack.runtime)
    assert stack.our_sessions(instance) == []
    return stack, instance


def test_tag_put_back_within_a_minute_mirrors_again(account: SimulatedAccount) -> None:
    # Given an instance mirrored, then untagged (its sessions deleted)
    stack, instance = _mirrored_then_untagged(account)
    # When the tag comes back within the same minute
    account.tag(instance, mirror="true")
    tag_change(event("tag-change-mirror-added.json", instance), LambdaContext(), runtime=stack.runtime)
    # Then it is mirrored again: AWS answering the create's repeated ClientToken with the deleted session is noticed
    assert sorted(s["NetworkInterfaceId"] for s in stack.our_sessions(instance)) == sorted(account.enis_of(instance))
    assert account.tags_of(instance)["mirror-status"] == "mirrored"


def test_reconciler_repairs_the_same_eni_twice_within_a_minute(account: SimulatedAccount) -> None:
    stack, instance = _mirrored_then_untagged(account)
    for _ in range(2):
        account.tag(instance, mirror="true")  # the tag-added event is missed; the schedule repairs it
        scheduled_reconciler(SCHEDULE, LambdaContext(), runtime=stack.runtime)
        enis = sorted(s["NetworkInterfaceId"] for s in stack.our_sessions(instance))
        assert enis == sorted(account.enis_of(instance))
        account.untag(instance, "mirror")
        tag_change(event("tag-change-mirror-removed.json", instance), LambdaContext(), runtime=stack.runtime)


def test_reconciler_clears_the_status_of_an_instance_untagged_while_unmirrored(account: SimulatedAccount) -> None:
    # Given a tagged instance of an unsupported type (status unsupported-instance-type, no session)
    stack = make_stack(account, [account.nlb_target()], account.mirror_filter())
    instance = account.launch("t2.micro", tags={"mirror": "true"})
    state_change(event("ec2-instance-running.json", instance), LambdaContext(), runtime=stack.runtime)
    assert account.tags_of(instance)["mirror-status"] == "unsupported-instance-type"
    # When its tag is removed and the tag-change event is missed
    account.untag(instance, "mirror")
    scheduled_reconciler(SCHEDULE, LambdaContext(), runtime=stack.runtime)
    # Then the reconciler clears the status: it no longer asks for mirroring
    assert "mirror-status" not in account.tags_of(instance)


def test_a_slot_freed_by_the_reconciler_is_used_in_the_same_run(account: SimulatedAccount) -> None:
    # Given an ENI target with 9 sources of another team's, the 10th taken by a mirrored instance of ours
    target, filter_id = account.eni_target("us-east-1a"), account.mirror_filter()
    stack = make_stack(account, [target], filter_id)
    for _ in range(9):
        filler = account.launch()
        account.foreign_session(account.enis_of(filler)[0], target, filter_id, 1)
    leaving, waiting = (account.launch(tags={"mirror": "true"}) for _ in range(2))
    for instance in (leaving, waiting):
        state_change(event("ec2-instance-running.json", instance), LambdaContext(), runtime=stack.runtime)
    assert account.tags_of(waiting)["mirror-status"] == "no-target-capacity"
    # When the mirrored instance stops, its event is missed, and the schedule runs
    account.stop(leaving)
    scheduled_reconciler(SCHEDULE, LambdaContext(), runtime=stack.runtime)
    # Then the slot its session held goes to the waiting instance in the same run, not a schedule later
    assert stack.our_sessions(leaving) == []
    assert [s["TrafficMirrorTargetId"] for s in stack.our_sessions(waiting)] == [target]
    assert account.tags_of(waiting)["mirror-status"] == "mirrored"


def test_a_session_waiting_to_leave_a_retired_target_moves_into_a_slot_freed_in_the_same_run(
    account: SimulatedAccount,
) -> None:
    # Given one instance mirrored on a target since taken out of the pool, and the pool's one ENI target full
    # (9 sources of another team's and an instance of ours whose tag went away, its event missed)
    retired, target, filter_id = (
        account.eni_target("us-east-1a"),
        account.eni_target("us-east-1a"),
        account.mirror_filter(),
    )
    stack = make_stack(account, [retired], filter_id)
    moving = account.launch(tags={"mirror": "true"})
    state_change(event("ec2-instance-running.json", moving), LambdaContext(), runtime=stack.runtime)
    stack.configure(TARGET_IDS=target)
    leaving = account.launch(tags={"mirror": "true"})
    state_change(event("ec2-instance-running.json", leaving), LambdaContext(), runtime=stack.runtime)
    for _ in range(9):
        account.foreign_session(account.enis_of(account.launch())[0], target, filter_id, 1)
    account.untag(leaving, "mirror")
    # When the schedule runs: the first pass deletes the untagged instance's session, the second places what waited
    scheduled_reconciler(SCHEDULE, LambdaContext(), runtime=stack.runtime)
    # Then the waiting session moved into the freed slot, as its status says (the second pass once planned the move,
    # counted the slot, and dropped it: the session stayed on the retired target under "mirrored")
    assert stack.our_sessions(leaving) == []
    assert [s["TrafficMirrorTargetId"] for s in stack.our_sessions(moving)] == [target]
    assert account.tags_of(moving)["mirror-status"] == "mirrored"
