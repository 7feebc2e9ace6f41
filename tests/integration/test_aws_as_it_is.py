"""Issues 10 and 11 against moto plus the strict layer switched to AWS's messier documented behaviour: the
published lists, AWS's own verdicts, dead targets, other accounts, lagging reads, concurrency, bad tags."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest

from functions.instance_state_change.app import handler as state_change
from functions.scheduled_reconciler.app import handler as scheduled
from simulation.account import SimulatedAccount
from simulation.strict_aws import StrictAws
from tests.integration.stack import MANAGED_BY, LambdaContext, Stack, event, gateway_for, make_stack
from tests.integration.test_scheduled_reconciler import SCHEDULE
from tests.properties.world import ec2_backend
from traffic_mirroring import executor as executor_module
from traffic_mirroring.runtime import Runtime, handle_instance_event
from traffic_mirroring.triggers import AUTOSCALING_LAUNCH, INSTANCE_STATE_CHANGE

ZONE_A, ZONE_B = "us-east-1a", "us-east-1b"
CREATE = "CreateTrafficMirrorSession"


@pytest.fixture
def filter_id(account: SimulatedAccount) -> str:
    return account.mirror_filter()


@pytest.fixture
def nlb(account: SimulatedAccount) -> str:
    return account.nlb_target([ZONE_A, ZONE_B])


@pytest.fixture
def stack(account: SimulatedAccount, nlb: str, filter_id: str) -> Stack:
    return make_stack(account, [nlb], filter_id)


def launched(stack: Stack, instance_id: str) -> dict[str, Any]:
    return state_change(event("ec2-instance-running.json", instance_id), LambdaContext(), runtime=stack.runtime)


def reconcile(stack: Stack, context: LambdaContext | None = None) -> dict[str, Any]:
    return scheduled(SCHEDULE, context or LambdaContext(), runtime=stack.runtime)


def status(stack: Stack, instance_id: str) -> str | None:
    return stack.account.tags_of(instance_id).get("mirror-status")


def one_session_per_eni(stack: Stack, instance_id: str) -> bool:
    return sorted(s["NetworkInterfaceId"] for s in stack.our_sessions(instance_id)) == sorted(
        stack.account.enis_of(instance_id)
    )


# -- issue 10: what AWS supports, and what AWS says ------------------------------------------------------------
@pytest.mark.parametrize("instance_type", ["m7i.large", "c7g.large", "r7i.large", "i4i.large", "m5.metal"])
def test_current_families_are_mirrored(stack: Stack, instance_type: str) -> None:
    instance = stack.account.launch(instance_type, tags={"mirror": "true"})
    launched(stack, instance)
    assert one_session_per_eni(stack, instance) and status(stack, instance) == "mirrored"


def test_an_unlisted_family_aws_refuses_is_probed_once_and_skipped_quietly(stack: Stack) -> None:
    first, second = (stack.account.launch("m8g.large", tags={"mirror": "true"}) for _ in range(2))
    summary = launched(stack, first)  # no exception: a refusal is an answer, not an error
    assert stack.calls.counts[CREATE] == 1 and summary["instance_types_asked"] == ["m8g.large"]
    assert summary["instance_type_verdicts"] == {"m8g.large": "unsupported"}
    assert status(stack, first) == "unsupported-instance-type" and stack.our_sessions(first) == []
    launched(stack, second)  # the same warm container remembers AWS's answer
    assert stack.calls.counts[CREATE] == 1
    assert status(stack, second) == "unsupported-instance-type"


def test_an_unlisted_family_aws_accepts_is_mirrored_and_not_asked_again(stack: Stack, strict: StrictAws) -> None:
    strict.accept_family("m8g")
    first, second = (stack.account.launch("m8g.large", tags={"mirror": "true"}) for _ in range(2))
    summary = launched(stack, first)
    assert summary["instance_type_verdicts"] == {"m8g.large": "supported"}
    assert summary["instance_types_asked"] == ["m8g.large"]
    assert one_session_per_eni(stack, first)
    again = launched(stack, second)
    assert again["instance_types_asked"] == []  # the same warm container remembers AWS's answer
    assert one_session_per_eni(stack, second) and status(stack, second) == "mirrored"


def test_a_thousand_t2_instances_cost_one_probe_per_reconcile(stack: Stack) -> None:
    stack.account.launch_many(1000, "t2.micro", {"mirror": "true"}, zone=ZONE_A)
    summary = reconcile(stack)
    assert stack.calls.counts[CREATE] == 1
    assert summary["instance_type_verdicts"] == {"t2.micro": "unsupported"}
    assert summary["sessions_skipped"] == {"unsupported-instance-type": 1000}
    assert stack.our_sessions() == []
    stack.configure(TARGET_IDS=stack.settings.target_ids[0])  # a new container: it asks once more, once
    stack.calls.reset()
    reconcile(stack)
    assert stack.calls.counts[CREATE] == 1


def test_probing_off_mirrors_only_listed_types(stack: Stack, strict: StrictAws) -> None:
    strict.accept_family("m8g")
    stack.configure(TARGET_IDS=stack.settings.target_ids[0], PROBE_UNLISTED_TYPES="false")
    instance = stack.account.launch("m8g.large", tags={"mirror": "true"})
    launched(stack, instance)
    assert stack.calls.counts[CREATE] == 0 and status(stack, instance) == "unsupported-instance-type"


def fill(stack: Stack, target: str, sources: int) -> list[str]:
    """Launch and mirror ``sources`` instances with ``target`` as the pool; returns those that were mirrored."""
    stack.configure(TARGET_IDS=target)
    instances = [stack.account.launch(tags={"mirror": "true"}) for _ in range(sources)]
    for instance in instances:
        launched(stack, instance)
    return [i for i in instances if stack.our_sessions(i)]


def test_an_appliance_on_aws_list_takes_more_than_10_sources(stack: Stack) -> None:
    target = stack.account.eni_target(ZONE_A, instance_type="c5.18xlarge")
    assert len(fill(stack, target, 12)) == 12


def test_an_appliance_off_aws_list_takes_no_11th_source(stack: Stack) -> None:
    target = stack.account.eni_target(ZONE_A, instance_type="t3.2xlarge")
    mirrored = fill(stack, target, 11)
    assert len(mirrored) == 10
    last = stack.account.launch(tags={"mirror": "true"})
    launched(stack, last)
    assert status(stack, last) == "no-target-capacity"


def test_a_tagged_appliance_mirrors_its_other_eni_never_its_target_eni(stack: Stack, filter_id: str) -> None:
    # Given an appliance whose primary ENI is a target of the pool, and which is tagged (its group propagates it)
    appliance = stack.account.launch("c5.large", tags={"mirror": "true"}, extra_enis=1)
    target_eni, other_eni = stack.account.enis_of(appliance)
    target = stack.account.ec2.create_traffic_mirror_target(NetworkInterfaceId=target_eni)["TrafficMirrorTarget"][
        "TrafficMirrorTargetId"
    ]
    stack.configure(TARGET_IDS=f"{target},{stack.settings.target_ids[0]}")
    # When its running event arrives, and the reconciler runs
    summary = launched(stack, appliance)
    reconcile(stack)
    # Then only its other ENI is mirrored, nothing raised, and the skip has its own reason
    assert [s["NetworkInterfaceId"] for s in stack.our_sessions(appliance)] == [other_eni]
    assert summary["sessions_skipped"] == {"eni-is-mirror-target": 1}
    assert status(stack, appliance) == "mirrored"


# -- issue 11: dead targets ----------------------------------------------------------------------------------
def test_sessions_leave_a_dead_nlb_and_a_dead_eni_target(stack: Stack, account: SimulatedAccount, nlb: str) -> None:
    dead_eni = account.eni_target(ZONE_A)
    spare = account.nlb_target([ZONE_A, ZONE_B], name="spare")
    on_nlb = fill(stack, nlb, 2)
    on_eni = fill(stack, dead_eni, 2)
    stack.configure(TARGET_IDS=f"{nlb},{dead_eni},{spare}")
    account.kill_target(nlb)
    account.kill_target(dead_eni)
    summary = reconcile(stack)
    for instance in on_nlb + on_eni:
        assert [s["TrafficMirrorTargetId"] for s in stack.our_sessions(instance)] == [spare]
        assert status(stack, instance) == "mirrored"
    assert sorted(summary["dead_targets"]) == sorted([nlb, dead_eni])
    new = stack.account.launch(tags={"mirror": "true"})
    launched(stack, new)
    assert [s["TrafficMirrorTargetId"] for s in stack.our_sessions(new)] == [spare]


def test_with_no_live_target_the_sessions_of_a_dead_one_are_deleted_and_the_status_says_so(
    stack: Stack, account: SimulatedAccount, nlb: str
) -> None:
    instances = fill(stack, nlb, 2)
    account.kill_target(nlb)
    summary = reconcile(stack)
    assert summary["sessions_deleted"] == {"target-dead": 2}
    assert all(stack.our_sessions(i) == [] and status(stack, i) == "target-dead" for i in instances)
    assert summary["instances_needing_attention"] == dict.fromkeys(instances, "target-dead")


def test_an_nlb_without_a_udp_4789_listener_gets_no_session(stack: Stack, account: SimulatedAccount) -> None:
    deaf = account.nlb_target([ZONE_A, ZONE_B], name="deaf", udp_listener=False)
    stack.configure(TARGET_IDS=deaf)
    instance = stack.account.launch(tags={"mirror": "true"})
    launched(stack, instance)
    assert stack.our_sessions(instance) == [] and status(stack, instance) == "no-live-target"
    summary = reconcile(stack)
    assert "no UDP listener on port 4789" in summary["dead_targets"][deaf]


# -- issue 11: other accounts ---------------------------------------------------------------------------------
def test_other_accounts_sessions_under_our_name_are_never_touched(
    stack: Stack, strict: StrictAws, nlb: str, filter_id: str
) -> None:
    # Given a hub whose shared target carries 12 sessions of spoke accounts deployed under the same stack name
    ours = {"mirror-managed-by": MANAGED_BY, "mirror-instance-id": "i-0123456789abcdef0"}
    foreign = [strict.add_foreign_account_session(nlb, filter_id, tags=ours, session_number=1) for _ in range(12)]
    # And one orphan of our own (its instance lost the tag while the event was lost)
    orphan = stack.account.launch(tags={"mirror": "true"})
    launched(stack, orphan)
    stack.account.untag(orphan, "mirror")
    # When the reconciler runs
    summary = reconcile(stack)
    # Then our orphan is gone, the spokes' sessions are untouched, uncounted and uncosted, and no valve tripped
    assert summary["sessions_deleted"] == {"tag-removed": 1}
    assert sorted(s["TrafficMirrorSessionId"] for s in stack.account.sessions()) == sorted(foreign)
    assert summary["sessions_managed"] == 0 and summary["estimated_monthly_cost"] == 0


# -- issue 11: eventual consistency and concurrency ---------------------------------------------------------
def test_a_launch_with_describes_lagging_gives_one_session_per_eni(stack: Stack, strict: StrictAws) -> None:
    strict.describe_lag = 3
    instance = stack.account.launch(tags={"mirror": "true"}, extra_enis=2)
    launched(stack, instance)
    launched(stack, instance)  # a re-delivery while the reads still lag
    for _ in range(3):  # let the reads catch up
        stack.account.sessions()
    assert one_session_per_eni(stack, instance) and status(stack, instance) == "mirrored"


@pytest.mark.usefixtures("containers_in_threads")
def test_running_and_asg_events_together_for_50_instances_give_one_session_per_eni(
    stack: Stack, strict: StrictAws
) -> None:
    strict.duplicate_numbers_accepted = True  # AWS does not document that it refuses a repeated number
    # And reads lag for the whole run: no event sees what another created, the worst a race can do
    strict.describe_lag = 100_000
    instances = [stack.account.launch(tags={"mirror": "true"}) for _ in range(50)]
    # Each stream of events is its own Lambda container (its own gateway and caches), as in AWS (containers_in_threads).
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def deliver(sample: str, trigger: Any, share: list[str]) -> None:
        container = Runtime(stack.settings, gateway_for(stack.account, stack.settings))
        start.wait()
        for instance in share:
            try:
                handle_instance_event(trigger, event(sample, instance), container)
            except BaseException as error:
                errors.append(error)

    running, asg = "ec2-instance-running.json", "autoscaling-launch-successful.json"
    threads = [
        threading.Thread(target=deliver, args=(running, INSTANCE_STATE_CHANGE, instances)),
        threading.Thread(target=deliver, args=(asg, AUTOSCALING_LAUNCH, instances)),
        threading.Thread(target=deliver, args=(running, INSTANCE_STATE_CHANGE, instances[::-1])),
        threading.Thread(target=deliver, args=(asg, AUTOSCALING_LAUNCH, instances[::-1])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # Then, as AWS holds them (not as the lagging reads show them), every ENI has exactly one session of ours
    backend = ec2_backend()
    ours = [
        s.network_interface_id
        for s in backend.traffic_mirror_sessions.values()
        if backend.tags.get(s.id, {}).get("mirror-managed-by") == MANAGED_BY
    ]
    assert sorted(ours) == sorted(eni for i in instances for eni in stack.account.enis_of(i))
    assert all(status(stack, i) == "mirrored" for i in instances)


def test_a_session_number_held_by_a_session_we_cannot_see_is_skipped(stack: Stack, strict: StrictAws) -> None:
    instance = stack.account.launch(tags={"mirror": "true"})
    eni = stack.account.enis_of(instance)[0]
    strict.add_hidden_session(eni, 1)  # the shared VPC's owner mirrors it too; we cannot describe that session
    launched(stack, instance)
    assert [s["SessionNumber"] for s in stack.our_sessions(instance)] == [2]
    assert status(stack, instance) == "mirrored"


# -- issue 11: one bad tag stays with its instance ----------------------------------------------------------
def test_a_bad_filter_tag_stays_with_its_instance(stack: Stack, filter_id: str) -> None:
    stack.configure(TARGET_IDS=stack.settings.target_ids[0], APPROVED_FILTER_IDS="tmf-0123456789abcdef0")
    bad = stack.account.launch(tags={"mirror": "true", "mirror-filter": "tmf-0123456789abcdef0"})
    good = [stack.account.launch(tags={"mirror": "true"}) for _ in range(3)]
    # The event function does not fail for it
    assert launched(stack, bad)["instances_needing_attention"] == {bad: "filter-not-found"}
    # Nor does the reconciler, which mirrors everyone else
    summary = reconcile(stack)
    assert all(one_session_per_eni(stack, i) for i in good)
    assert stack.our_sessions(bad) == [] and status(stack, bad) == "filter-not-found"
    assert summary["instances_needing_attention"] == {bad: "filter-not-found"}


def test_an_eni_at_its_limit_through_sessions_we_cannot_see_is_a_status_not_a_failure(
    stack: Stack, strict: StrictAws
) -> None:
    instance = stack.account.launch(tags={"mirror": "true"})
    eni = stack.account.enis_of(instance)[0]
    for number in (1, 2, 3):
        strict.add_hidden_session(eni, number)
    launched(stack, instance)
    assert status(stack, instance) == "eni-session-limit"


# -- issue 11: the valve over the whole run, and the deadline ---------------------------------------------
def test_the_second_pass_respects_the_safety_valve(stack: Stack, account: SimulatedAccount, nlb: str) -> None:
    # Given 20 mirrored instances on a small ENI target, and one waiting for a slot that a deletion frees
    small = account.eni_target(ZONE_A, instance_type="c5.large")
    mirrored = fill(stack, small, 10)
    stack.configure(TARGET_IDS=small)
    waiting = stack.account.launch(tags={"mirror": "true"})
    launched(stack, waiting)
    stack.account.untag(mirrored[0], "mirror")  # frees a slot: the run deletes one, then places the waiting one
    # And the second pass reads an account where no instance seems tagged any more (an injected bad describe)
    original = stack.runtime.gateway.describe_instances_with_tag_key
    reads = {"n": 0}

    def second_read_lost_the_tags(*keys: str) -> Any:
        reads["n"] += 1
        found = original(*keys)
        return found if reads["n"] == 1 else {i: replace(x, tags={}) for i, x in found.items()}

    stack.runtime.gateway.describe_instances_with_tag_key = second_read_lost_the_tags  # type: ignore[method-assign]
    summary = reconcile(stack)
    # Then only the untagged instance lost its session: nothing the second pass planned was deleted
    assert summary["sessions_deleted"] == {"tag-removed": 1}
    assert all(stack.our_sessions(i) for i in mirrored[1:])


def test_a_run_cut_by_the_deadline_keeps_the_status_tags_it_set(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a reconcile that writes its status tags every 2 instances (in production: every 200, or 5 seconds)
    monkeypatch.setattr(executor_module, "STATUS_FLUSH_SUBJECTS", 2)
    instances = [stack.account.launch(tags={"mirror": "true"}) for _ in range(6)]
    killed = {"now": False}

    def dead_process_makes_no_call(**_: Any) -> None:
        if killed["now"]:
            raise TimeoutError("the process is gone")

    stack.account.ec2.meta.events.register("before-call.ec2.CreateTags", dead_process_makes_no_call)

    class Dying(LambdaContext):
        """Lambda's timeout kills the run after four instances: nothing runs after that, not even a last flush."""

        checks = 0

        def get_remaining_time_in_millis(self) -> int:
            Dying.checks += 1
            if Dying.checks > 4:
                killed["now"] = True
                raise TimeoutError("Task timed out")
            return 600_000

    with pytest.raises(TimeoutError):
        reconcile(stack, Dying())
    # Then the instances it mirrored before it died say so
    done = [i for i in instances if stack.our_sessions(i)]
    assert len(done) == 4
    assert all(status(stack, i) == "mirrored" for i in done)


# -- issue 10 and 12: a pool as the operator really writes it --------------------------------------------------
def test_an_appliance_shared_from_another_account_counts_10_unless_the_operator_says_otherwise(
    stack: Stack, strict: StrictAws
) -> None:
    hub = strict.add_shared_target("network-interface", host_instance_type="c5.18xlarge")
    assert len(fill(stack, hub, 11)) == 10  # we cannot see its appliance: 10, the safe count
    stack.configure(TARGET_IDS=hub, TARGET_SOURCE_LIMITS=f"{hub}=100")
    more = stack.account.launch(tags={"mirror": "true"})
    launched(stack, more)
    assert [s["TrafficMirrorTargetId"] for s in stack.our_sessions(more)] == [hub]


def test_a_pool_target_that_does_not_exist_has_its_own_status_not_no_capacity(stack: Stack) -> None:
    stack.configure(TARGET_IDS="tmt-0123456789abcdef0")
    instance = stack.account.launch(tags={"mirror": "true"})
    summary = reconcile(stack)
    assert status(stack, instance) == "pool-target-not-found"
    assert summary["missing_pool_targets"] == ["tmt-0123456789abcdef0"]
    assert summary["instances_needing_attention"] == {instance: "pool-target-not-found"}


def test_an_empty_pool_is_a_visible_idle_state(stack: Stack) -> None:
    stack.configure(TARGET_IDS="")
    instance = stack.account.launch(tags={"mirror": "true"})
    launched(stack, instance)
    assert stack.our_sessions(instance) == [] and status(stack, instance) == "pool-empty"


def test_a_gateway_load_balancer_endpoint_has_its_zone_and_is_left_when_it_goes(
    stack: Stack, account: SimulatedAccount
) -> None:
    # Given a pool of an NLB in zone A only and a Gateway Load Balancer endpoint in zone B
    nlb_a = account.nlb_target([ZONE_A], name="nlb-a")
    endpoint_b = account.gwlb_endpoint_target(ZONE_B)
    stack.configure(TARGET_IDS=f"{nlb_a},{endpoint_b}")
    # When an instance in zone B is mirrored, its session goes to the endpoint of its zone (no inter-AZ charge)
    instance = stack.account.launch(tags={"mirror": "true"}, zone=ZONE_B)
    launched(stack, instance)
    assert [s["TrafficMirrorTargetId"] for s in stack.our_sessions(instance)] == [endpoint_b]
    # And when the endpoint is deleted, the reconciler moves the session to the live NLB
    account.kill_target(endpoint_b)
    summary = reconcile(stack)
    assert [s["TrafficMirrorTargetId"] for s in stack.our_sessions(instance)] == [nlb_a]
    assert list(summary["dead_targets"]) == [endpoint_b]
