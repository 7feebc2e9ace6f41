"""The scheduled reconciler against moto plus the strict layer: orphans go, missed sessions come, others stay."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from functions.instance_state_change.app import handler as state_change
from functions.scheduled_reconciler.app import handler as scheduled
from simulation.account import SimulatedAccount
from simulation.strict_aws import StrictAws
from tests.integration.stack import MANAGED_BY, LambdaContext, Stack, event, make_stack

SCHEDULE = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-11-24T10:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/reconcile"],
    "detail": {},
}


@pytest.fixture
def pool(account: SimulatedAccount) -> dict[str, str]:
    return {
        "eni_a": account.eni_target("us-east-1a"),
        "nlb": account.nlb_target(),
        "filter": account.mirror_filter(),
    }


@pytest.fixture
def stack(account: SimulatedAccount, pool: dict[str, str]) -> Stack:
    return make_stack(account, [pool["eni_a"], pool["nlb"]], pool["filter"])


def reconcile(stack: Stack, context: LambdaContext | None = None) -> dict[str, Any]:
    return scheduled(SCHEDULE, context or LambdaContext(), runtime=stack.runtime)


def mirrored(stack: Stack, **kwargs: Any) -> str:
    instance = stack.account.launch(tags={"mirror": "true"}, **kwargs)
    state_change(event("ec2-instance-running.json", instance), LambdaContext(), runtime=stack.runtime)
    return instance


def snapshot(stack: Stack) -> str:
    return json.dumps(sorted(stack.account.sessions(), key=lambda s: s["TrafficMirrorSessionId"]), default=str)


def fully_mirrored(stack: Stack, instance: str) -> bool:
    return sorted(s["NetworkInterfaceId"] for s in stack.our_sessions(instance)) == sorted(
        stack.account.enis_of(instance)
    )


def test_each_orphan_kind_is_deleted(stack: Stack, pool: dict[str, str]) -> None:
    # Given mirrored instances that events then failed to clean up
    untagged, stopped, unsupported, detached_from = (mirrored(stack) for _ in range(4))
    stack.account.untag(untagged, "mirror")
    stack.account.stop(stopped)
    stack.account.stop(unsupported)
    stack.account.ec2.modify_instance_attribute(InstanceId=unsupported, InstanceType={"Value": "t2.micro"})
    stack.account.start(unsupported)
    eni = stack.account.attach_new_eni(detached_from, "us-east-1a", 1, False)
    state_change(event("ec2-instance-running.json", detached_from), LambdaContext(), runtime=stack.runtime)
    attachment = stack.account.ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]
    stack.account.ec2.detach_network_interface(AttachmentId=attachment["Attachment"]["AttachmentId"])
    # When the reconciler runs
    summary = reconcile(stack)
    # Then every orphan is gone, with its reason
    assert summary["sessions_deleted"] == {
        "tag-removed": 1,
        "instance-stopped": 1,
        "unsupported-instance-type": 1,
        "source-eni-detached": 1,
    }
    for instance in (untagged, stopped, unsupported):
        assert stack.our_sessions(instance) == []
    assert stack.account.sessions_on(eni) == []
    assert fully_mirrored(stack, detached_from)


def test_duplicate_managed_session_on_an_eni_is_deleted(stack: Stack, pool: dict[str, str]) -> None:
    instance = mirrored(stack)
    eni = stack.account.enis_of(instance)[0]
    stack.account.ec2.create_traffic_mirror_session(
        NetworkInterfaceId=eni,
        TrafficMirrorTargetId=pool["nlb"],
        TrafficMirrorFilterId=pool["filter"],
        SessionNumber=7,
        TagSpecifications=[
            {
                "ResourceType": "traffic-mirror-session",
                "Tags": [
                    {"Key": "mirror-managed-by", "Value": MANAGED_BY},
                    {"Key": "mirror-instance-id", "Value": instance},
                ],
            }
        ],
    )
    summary = reconcile(stack)
    assert summary["sessions_deleted"] == {"duplicate-session": 1}
    assert [s["SessionNumber"] for s in stack.our_sessions(instance)] == [1]


def test_terminated_instance_surviving_secondary_eni_loses_its_session(stack: Stack) -> None:
    instance = mirrored(stack, extra_enis=1)
    secondary = stack.account.enis_of(instance)[1]
    stack.account.terminate(instance)  # the terminated event is lost
    assert len(stack.account.sessions_on(secondary)) == 1
    summary = reconcile(stack)
    assert stack.account.sessions_on(secondary) == []
    assert summary["sessions_deleted"] == {"instance-terminated": 1}
    assert summary["monthly_cost_avoided"] == round(0.015 * 730, 2)


def test_missing_sessions_are_repaired(stack: Stack) -> None:
    never_seen = stack.account.launch(tags={"mirror": "true"}, extra_enis=1)  # its event was lost
    summary = reconcile(stack)
    assert summary["sessions_created"] == 2
    assert fully_mirrored(stack, never_seen)


def test_a_session_deleted_by_hand_is_repaired_without_ever_a_duplicate(stack: Stack) -> None:
    # Given a mirrored instance whose session someone deletes by hand; AWS still remembers the creation's token
    # and answers it with the deleted session (the worse case: AWS does not document it either way)
    deleted_by_hand = mirrored(stack)
    stack.account.ec2.delete_traffic_mirror_session(
        TrafficMirrorSessionId=stack.our_sessions(deleted_by_hand)[0]["TrafficMirrorSessionId"]
    )
    # When the reconciler runs: the replayed answer does not show up in its describe. A first miss may be a read
    # that lags, so it only marks the instance's generation (re-creating now could make a duplicate)
    first = reconcile(stack)
    assert first["sessions_created"] == 0 and len(first["unconfirmed_creations"]) == 1
    assert "~" in stack.account.tags_of(deleted_by_hand)["mirror-generation"]
    # A second miss of the same answer, a period later, cannot be a lag: a new generation
    second = reconcile(stack)
    assert second["sessions_created"] == 0 and "~" not in stack.account.tags_of(deleted_by_hand)["mirror-generation"]
    # Then the next run creates it with a token never used before
    third = reconcile(stack)
    assert third["sessions_created"] == 1 and third["unconfirmed_creations"] == []
    assert fully_mirrored(stack, deleted_by_hand) and len(stack.our_sessions(deleted_by_hand)) == 1


def test_session_moves_off_a_retired_target(stack: Stack, pool: dict[str, str]) -> None:
    stack.configure(TARGET_IDS=pool["eni_a"])
    instance = mirrored(stack)
    before = stack.our_sessions(instance)[0]
    stack.configure(TARGET_IDS=pool["nlb"])  # the operator retires eni_a from the pool
    summary = reconcile(stack)
    after = stack.our_sessions(instance)[0]
    assert summary["sessions_moved"] == 1
    assert (after["TrafficMirrorSessionId"], after["TrafficMirrorTargetId"]) == (
        before["TrafficMirrorSessionId"],
        pool["nlb"],
    )


def test_sessions_not_ours_are_byte_for_byte_untouched(stack: Stack, pool: dict[str, str]) -> None:
    untagged = stack.account.launch()
    eni = stack.account.enis_of(untagged)[0]
    stack.account.foreign_session(eni, pool["eni_a"], pool["filter"], 1)
    tagged = stack.account.launch(tags={"mirror": "true"})
    stack.account.foreign_session(stack.account.enis_of(tagged)[0], pool["nlb"], pool["filter"], 1)
    other_stack = stack.account.launch(tags={"mirror": "true"})
    stack.account.ec2.create_traffic_mirror_session(
        NetworkInterfaceId=stack.account.enis_of(other_stack)[0],
        TrafficMirrorTargetId=pool["nlb"],
        TrafficMirrorFilterId=pool["filter"],
        SessionNumber=1,
        TagSpecifications=[
            {"ResourceType": "traffic-mirror-session", "Tags": [{"Key": "mirror-managed-by", "Value": "another-stack"}]}
        ],
    )
    foreign_before = [s for s in json.loads(snapshot(stack))]
    reconcile(stack)
    after = {s["TrafficMirrorSessionId"]: s for s in json.loads(snapshot(stack))}
    for session in foreign_before:
        assert after[session["TrafficMirrorSessionId"]] == session


def test_dry_run_changes_nothing(stack: Stack) -> None:
    orphan = mirrored(stack)
    stack.account.untag(orphan, "mirror")
    stack.account.launch(tags={"mirror": "true"})
    stack.configure(RECONCILE_DRY_RUN="true")
    before = snapshot(stack)
    stack.calls.reset()
    summary = reconcile(stack)
    assert snapshot(stack) == before
    assert summary["dry_run"] is True
    mutating = {op for op in stack.calls.counts if not op.startswith("Describe")}
    assert mutating == set()


def test_safety_valve_refuses_mass_deletion_and_100_percent_lets_it_through(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    instances = [mirrored(stack) for _ in range(12)]
    for instance in instances:
        stack.account.untag(instance, "mirror")
    newcomer = stack.account.launch(tags={"mirror": "true"})
    capsys.readouterr()
    summary = reconcile(stack)
    # Refused: nothing deleted, creations still applied, a metric for the alarm
    assert len(stack.our_sessions()) == 13
    assert summary["sessions_deleted"] == {} and fully_mirrored(stack, newcomer)
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert [m["SafetyValveTriggered"] for m in emitted if "SafetyValveTriggered" in m] == [[1.0]]
    stack.configure(MAX_DELETE_PERCENT="100")  # what ForceDeletes=true did, before it was merged into it
    summary = reconcile(stack)
    assert summary["sessions_deleted"] == {"tag-removed": 12}
    assert [s["NetworkInterfaceId"] for s in stack.our_sessions()] == stack.account.enis_of(newcomer)


def test_every_page_is_followed(stack: Stack, strict: StrictAws) -> None:
    instances = [mirrored(stack) for _ in range(12)]
    for instance in instances[:6]:
        stack.account.untag(instance, "mirror")
    strict.page_cap = 5
    summary = reconcile(stack)
    assert summary["sessions_deleted"] == {"tag-removed": 6}
    assert stack.calls.counts["DescribeTrafficMirrorSessions"] >= 3
    assert all(fully_mirrored(stack, i) for i in instances[6:])


def test_deadline_leaves_no_half_applied_instance_and_the_next_run_finishes(stack: Stack) -> None:
    instances = [stack.account.launch(tags={"mirror": "true"}, extra_enis=2) for _ in range(5)]
    # Lambda time runs out after two instances have been applied
    context = LambdaContext(remaining_ms=[900_000, 900_000, 1_000])
    summary = reconcile(stack, context)
    assert len(summary["unapplied_subjects"]) == 3  # type: ignore[arg-type]
    for instance in instances:
        assert len(stack.our_sessions(instance)) in (0, 3)
    reconcile(stack)
    assert all(fully_mirrored(stack, i) for i in instances)


PREFLIGHT_OPERATIONS = (
    "DescribeSecurityGroups",
    "DescribeNetworkAcls",
    "DescribeTargetGroupAttributes",
    "DescribeLoadBalancerAttributes",
)


def test_api_call_budget_for_1000_healthy_sessions(stack: Stack, pool: dict[str, str]) -> None:
    stack.configure(TARGET_IDS=pool["nlb"])
    stack.account.launch_many(1000, tags={"mirror": "true"}, zone="us-east-1a")
    reconcile(stack)  # creates the 1,000 sessions
    assert len(stack.our_sessions()) == 1000
    stack.configure(TARGET_IDS=pool["nlb"])  # a cold container: caches empty
    stack.calls.reset()
    summary = reconcile(stack)
    budget = 3 * math.ceil(1000 / 1000) + 10
    print(f"no-change reconcile, N=1000: {stack.calls.total} calls {dict(stack.calls.counts)}")
    assert summary["sessions_created"] == 0 and summary["sessions_deleted"] == {}
    # Target preflight (issue 15) may add at most 5 calls, whatever the number of sessions; the rest keeps the budget
    preflight = sum(stack.calls.counts[op] for op in PREFLIGHT_OPERATIONS)
    first_reads = {op: stack.calls.counts[op] for op in PREFLIGHT_OPERATIONS}
    assert preflight <= 5
    assert stack.calls.total - preflight <= budget
    # With 10% orphans: one call per deletion on top, status tags written in batches (not one call per instance)
    orphans = [s["Tags"] for s in stack.our_sessions()][:100]
    orphaned = [next(t["Value"] for t in tags if t["Key"] == "mirror-instance-id") for tags in orphans]
    stack.account.ec2.delete_tags(Resources=orphaned, Tags=[{"Key": "mirror"}])
    stack.calls.reset()
    summary = reconcile(stack)
    print(f"reconcile, N=1000, 100 orphans: {stack.calls.total} calls {dict(stack.calls.counts)}")
    assert summary["sessions_deleted"] == {"tag-removed": 100}
    assert stack.calls.counts["DeleteTags"] == 1
    # The same container: cross-zone load balancing (an advisory only) is kept for ADVISORY_CACHE_SECONDS (issue 19)
    warm_reads = {op: stack.calls.counts[op] for op in PREFLIGHT_OPERATIONS}
    assert warm_reads == {**first_reads, "DescribeTargetGroupAttributes": 0, "DescribeLoadBalancerAttributes": 0}
    assert stack.calls.total - sum(warm_reads.values()) <= budget + 100
    assert all("mirror-status" not in stack.account.tags_of(i) for i in orphaned[:3])
