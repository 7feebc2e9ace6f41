"""A session of another marker (another stack, another team) ahead of ours on an ENI, whose filter accepts every
packet ours would, takes them all: AWS evaluates an ENI's sessions by ascending session number and mirrors each
packet once. The instance says so (``shadowed-by-other-session``, never ``mirrored``), no session is created behind
it, one that exists is kept. Against moto plus the strict layer, which keeps filter rules as AWS does.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from functions.instance_state_change.app import handler as state_change
from functions.scheduled_reconciler.app import handler as scheduled
from simulation.account import SimulatedAccount
from tests.integration.stack import LambdaContext, Stack, event, make_stack
from traffic_mirroring.model import ATTENTION_STATUSES, Reason

STATUS = "mirror-status"
SHADOWED = "shadowed-by-other-session"


@pytest.fixture
def stack(account: SimulatedAccount) -> Stack:
    # The stack's filter accepts everything, as the template's default filter does.
    return make_stack(account, [account.nlb_target()], account.accept_all_filter())


def other_stacks_session(stack: Stack, eni: str, filter_id: str, number: int = 1) -> str:
    session_id: str = stack.account.ec2.create_traffic_mirror_session(
        NetworkInterfaceId=eni,
        TrafficMirrorTargetId=stack.settings.target_ids[0],
        TrafficMirrorFilterId=filter_id,
        SessionNumber=number,
        TagSpecifications=[
            {"ResourceType": "traffic-mirror-session", "Tags": [{"Key": "mirror-managed-by", "Value": "other-stack"}]}
        ],
    )["TrafficMirrorSession"]["TrafficMirrorSessionId"]
    return session_id


def launched(stack: Stack, instance: str) -> dict[str, object]:
    return state_change(event("ec2-instance-running.json", instance), LambdaContext(), runtime=stack.runtime)


def test_a_session_of_another_marker_with_an_accept_all_filter_ahead_of_ours_shadows_it(stack: Stack) -> None:
    # Given a tagged instance whose ENI holds, at number 1, another stack's session with its own accept-all filter
    launched(stack, stack.account.launch(tags={"mirror": "true"}))  # warm: caches filled
    instance = stack.account.launch(tags={"mirror": "true"})
    eni = stack.account.enis_of(instance)[0]
    theirs = other_stacks_session(stack, eni, stack.account.accept_all_filter())
    stack.calls.reset()
    # When it runs
    summary = launched(stack, instance)
    calls, counts = stack.calls.total, dict(stack.calls.counts)
    # Then no session of ours is created behind it (it would bill and receive nothing), and the status says why
    assert [s["TrafficMirrorSessionId"] for s in stack.account.sessions_on(eni)] == [theirs]
    assert stack.account.tags_of(instance)[STATUS] == SHADOWED
    assert summary["sessions_skipped"] == {SHADOWED: 1}
    # Within the warm launch's budget: one more read, of the two filters' rules
    print(f"warm launch behind another stack's session: {calls} calls {counts}")
    assert counts["DescribeTrafficMirrorFilters"] == 1
    assert calls <= 5


def test_the_reconciler_says_so_too(stack: Stack) -> None:
    instance = stack.account.launch(tags={"mirror": "true"})
    other_stacks_session(stack, stack.account.enis_of(instance)[0], stack.account.accept_all_filter())

    scheduled(event("scheduled-event.json", "i-0"), LambdaContext(), runtime=stack.runtime)

    assert stack.our_sessions(instance) == []
    assert stack.account.tags_of(instance)[STATUS] == SHADOWED


@pytest.mark.parametrize(
    "narrower",
    [{"Protocol": 6}, {"DestinationPortRange": {"FromPort": 443, "ToPort": 443}}],
    ids=["tcp-only", "port-443-only"],
)
def test_a_narrower_filter_ahead_of_ours_leaves_ours_its_packets(stack: Stack, narrower: dict[str, object]) -> None:
    # All IPv6 traffic, and IPv4 traffic narrowed: ours still gets IPv4 packets theirs leaves
    filter_id = stack.account.filter_with_rules(
        *(
            {
                "TrafficDirection": direction,
                "RuleNumber": number,
                "RuleAction": "accept",
                "SourceCidrBlock": cidr,
                "DestinationCidrBlock": cidr,
                **(narrower if cidr == "0.0.0.0/0" else {}),
            }
            for direction in ("ingress", "egress")
            for number, cidr in ((10, "0.0.0.0/0"), (20, "::/0"))
        )
    )
    instance = stack.account.launch(tags={"mirror": "true"})
    other_stacks_session(stack, stack.account.enis_of(instance)[0], filter_id)

    launched(stack, instance)

    assert [s["SessionNumber"] for s in stack.our_sessions(instance)] == [2]
    assert stack.account.tags_of(instance)[STATUS] == "mirrored"


def test_a_session_of_ours_found_behind_one_is_kept_and_reported(stack: Stack) -> None:
    # Given ours at 2, behind a session with our own filter that someone created later at 1
    instance = stack.account.launch(tags={"mirror": "true"})
    eni = stack.account.enis_of(instance)[0]
    other_stacks_session(stack, eni, stack.settings.filter_id, number=2)
    launched(stack, instance)
    [ours] = stack.our_sessions(instance)
    assert ours["SessionNumber"] == 1
    # (another stack's session ahead of it: created by hand here, at the number ours freed)
    stack.account.ec2.delete_traffic_mirror_session(TrafficMirrorSessionId=ours["TrafficMirrorSessionId"])
    other_stacks_session(stack, eni, stack.settings.filter_id, number=1)
    stack.account.ec2.create_traffic_mirror_session(
        NetworkInterfaceId=eni,
        TrafficMirrorTargetId=stack.settings.target_ids[0],
        TrafficMirrorFilterId=stack.settings.filter_id,
        SessionNumber=3,
        TagSpecifications=[{"ResourceType": "traffic-mirror-session", "Tags": ours["Tags"]}],
    )
    # When the reconciler runs
    scheduled(event("scheduled-event.json", "i-0"), LambdaContext(), runtime=stack.runtime)
    # Then ours stays (the other session is the problem, and may go), and the instance says it receives nothing
    assert [s["SessionNumber"] for s in stack.our_sessions(instance)] == [3]
    assert stack.account.tags_of(instance)[STATUS] == SHADOWED


def test_the_status_is_documented_where_operators_look() -> None:
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    operations = (root / "docs" / "operations.md").read_text(encoding="utf-8")
    alarms = (root / "docs" / "alarms.md").read_text(encoding="utf-8")
    assert Reason.SHADOWED_BY_OTHER_SESSION in ATTENTION_STATUSES
    assert f"| `{SHADOWED}` (*attention*) | " in readme  # "When an instance is not mirrored"
    assert f"| `{SHADOWED}` (operator) | " in operations  # the status table: counted as needing attention
    assert f"`{SHADOWED}` (a session not ours" in " ".join(alarms.split())  # "Instances needing attention"
    # Every status the table marks "(operator)" is one the InstancesNeedingAttention metric counts
    marked = set(re.findall(r"^\| `([^`]+)` \(operator\) \|", operations, re.MULTILINE))
    assert marked - {"error:<code>"} <= set(ATTENTION_STATUSES)
