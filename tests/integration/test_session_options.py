"""Issue 15, part 3, against moto and the strict layer through the real handlers: the VNI of the copies (VniPolicy)
and how much of each packet is mirrored (PacketLength), read back from AWS; a change rolls sessions over by modify.

The strict layer gives a session AWS's defaults moto lacks (a VNI picked at random when none is asked for, 8500 on
an NLB target) and applies RemoveFields, so what the product reads back is what AWS would answer.
"""

from __future__ import annotations

import io
from collections import defaultdict
from typing import Any

import boto3

from functions.instance_state_change.app import handler as state_change
from functions.scheduled_reconciler.app import handler as scheduled
from mirror_cli.account import audit_account
from mirror_cli.aws import ReadOnlyGuard
from mirror_cli.text import print_report
from simulation.account import SimulatedAccount
from tests.integration.stack import ACCOUNT_ID, LambdaContext, Stack, event, make_stack
from tests.integration.test_scheduled_reconciler import SCHEDULE
from traffic_mirroring.session_options import vni_sequence


def reconcile(stack: Stack) -> dict[str, Any]:
    summary: dict[str, Any] = scheduled(SCHEDULE, LambdaContext(), runtime=stack.runtime)
    return summary


def hub(account: SimulatedAccount) -> tuple[str, str]:
    """A hub ENI target admitting VXLAN from every VPC (TargetIds: reachable from every VPC), and a filter."""
    return account.eni_target(admit_vxlan_from="0.0.0.0/0"), account.mirror_filter()


def by_vpc(stack: Stack, vpc_of_instance: dict[str, str]) -> dict[str, set[int]]:
    """VPC → the VNIs AWS describes for our sessions of its instances."""
    found: dict[str, set[int]] = defaultdict(set)
    for session in stack.our_sessions():
        tags = {t["Key"]: t["Value"] for t in session["Tags"]}
        found[vpc_of_instance[tags["mirror-instance-id"]]].add(session["VirtualNetworkId"])
    return dict(found)


def audit(stack: Stack) -> dict[str, Any]:
    """mirror-audit's one-account report, through read-only clients of the same (moto) account."""
    guard = ReadOnlyGuard()
    ec2, elbv2 = (guard.protect(boto3.client(service)) for service in ("ec2", "elbv2"))
    return audit_account(stack.settings, ACCOUNT_ID, ec2, elbv2).report


def test_per_vpc_gives_each_of_three_vpcs_one_vni_that_stays_across_two_reconciles(account: SimulatedAccount) -> None:
    # Given three VPCs with two tagged instances each, and a stack with VniPolicy=per-vpc
    target, filter_id = hub(account)
    stack = make_stack(account, [target], filter_id, VNI_POLICY="per-vpc")
    vpcs = [account.new_vpc(cidr) for cidr in ("10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16")]
    vpc_of = {vpc.launch(tags={"mirror": "true"}): vpc.vpc_id for vpc in vpcs for _ in range(2)}
    # When the reconciler runs twice
    first = reconcile(stack)
    sessions_after_first = sorted((s["TrafficMirrorSessionId"], s["VirtualNetworkId"]) for s in stack.our_sessions())
    second = reconcile(stack)
    # Then each VPC's sessions carry one VNI, the three differ, and the second run changed nothing
    vnis = by_vpc(stack, vpc_of)
    assert sorted(vnis) == sorted(v.vpc_id for v in vpcs)
    assert all(len(found) == 1 for found in vnis.values()), vnis
    assert len({next(iter(found)) for found in vnis.values()}) == 3
    assert {vpc: found.pop() for vpc, found in vnis.items()} == {v.vpc_id: next(vni_sequence(v.vpc_id)) for v in vpcs}
    assert first["sessions_created"] == 6
    assert (second["sessions_created"], second["sessions_moved"], second["sessions_deleted"]) == (0, 0, {})
    assert sorted((s["TrafficMirrorSessionId"], s["VirtualNetworkId"]) for s in stack.our_sessions()) == (
        sessions_after_first
    )
    # And the VNI → VPC map is published: on each session's tag, and in the reconcile log
    for session in stack.our_sessions():
        assert {"Key": "mirror-vni", "Value": str(session["VirtualNetworkId"])} in session["Tags"]
    assert second["vni_map"] == {str(next(vni_sequence(v.vpc_id))): [v.vpc_id] for v in vpcs}


def test_a_new_instance_of_a_mirrored_vpc_gets_its_vpcs_vni_on_launch(account: SimulatedAccount) -> None:
    target, filter_id = hub(account)
    stack = make_stack(account, [target], filter_id, VNI_POLICY="per-vpc")
    vpc = account.new_vpc("10.4.0.0/16")
    vpc.launch(tags={"mirror": "true"})
    reconcile(stack)
    newcomer = vpc.launch(tags={"mirror": "true"})
    state_change(event("ec2-instance-running.json", newcomer), LambdaContext(), runtime=stack.runtime)
    assert {s["VirtualNetworkId"] for s in stack.our_sessions()} == {next(vni_sequence(vpc.vpc_id))}


def test_a_packet_length_change_rolls_the_sessions_over_by_modify_and_the_audit_shows_it(
    account: SimulatedAccount,
) -> None:
    # Given two instances mirrored with whole packets (VniPolicy aws: AWS picked their VNIs)
    target, filter_id = hub(account)
    stack = make_stack(account, [target], filter_id)
    instances = [account.launch(tags={"mirror": "true"}) for _ in range(2)]
    reconcile(stack)
    before = {s["TrafficMirrorSessionId"]: s for s in stack.our_sessions()}
    assert len(before) == 2 and all("PacketLength" not in s for s in before.values())
    assert all(isinstance(s["VirtualNetworkId"], int) for s in before.values())
    # When the stack is redeployed with PacketLength=128 and the reconciler runs
    stack.configure(PACKET_LENGTH="128")
    summary = reconcile(stack)
    # Then the same sessions (IDs, VNIs) now mirror 128 bytes, as AWS describes them: modified, none recreated
    after = {s["TrafficMirrorSessionId"]: s for s in stack.our_sessions()}
    assert sorted(after) == sorted(before)
    assert {sid: s["PacketLength"] for sid, s in after.items()} == dict.fromkeys(before, 128)
    assert {sid: s["VirtualNetworkId"] for sid, s in after.items()} == {
        sid: s["VirtualNetworkId"] for sid, s in before.items()
    }
    assert (summary["sessions_moved"], summary["sessions_options_changed"]) == (2, 2)
    assert (summary["sessions_created"], summary["sessions_deleted"]) == (0, {})
    assert summary["vni_map"] == {
        str(s["VirtualNetworkId"]): [instance] for instance in instances for s in stack.our_sessions(instance)
    }
    # And mirror-audit shows each session with its VNI and the new packet length, without drift
    report = audit(stack)
    assert report["drift"] is False
    assert sorted(
        (r["session_id"], r["virtual_network_id"], r["packet_length"]) for r in report["session_options"]
    ) == (sorted((sid, s["VirtualNetworkId"], 128) for sid, s in after.items()))
    text = io.StringIO()
    print_report(report, text, width=0)
    for sid, session in after.items():
        assert any(
            sid in line and str(session["VirtualNetworkId"]) in line and "128 bytes" in line
            for line in text.getvalue().splitlines()
        ), text.getvalue()
    # And back to whole packets: RemoveFields, the same sessions again
    stack.configure()
    reconcile(stack)
    assert {s["TrafficMirrorSessionId"]: s.get("PacketLength") for s in stack.our_sessions()} == dict.fromkeys(before)


def test_the_audit_of_a_stack_with_another_packet_length_shows_the_rollover_as_drift(account: SimulatedAccount) -> None:
    target, filter_id = hub(account)
    stack = make_stack(account, [target], filter_id)
    account.launch(tags={"mirror": "true"})
    reconcile(stack)
    [session] = stack.our_sessions()
    stack.configure(PACKET_LENGTH="256")
    report = audit(stack)
    assert report["drift"] is True
    assert [
        (m["session_id"], m["from_packet_length"], m["to_packet_length"], m["reason"]) for m in report["moves"]
    ] == [(session["TrafficMirrorSessionId"], None, 256, "options-changed")]


def test_an_nlb_targets_default_8500_is_whole_packets_and_never_rolled_over(account: SimulatedAccount) -> None:
    # Given an NLB target: AWS gives its sessions PacketLength 8500 when none is asked for
    stack = make_stack(account, [account.nlb_target()], account.mirror_filter())
    account.launch(tags={"mirror": "true"})
    reconcile(stack)
    assert [s["PacketLength"] for s in stack.our_sessions()] == [8500]
    # When the reconciler runs again with whole packets asked for
    summary = reconcile(stack)
    # Then it sees no difference to roll over
    assert summary["sessions_moved"] == 0


def test_per_instance_tag_mirrors_under_the_tags_vni_and_an_unreadable_tag_needs_attention(
    account: SimulatedAccount,
) -> None:
    target, filter_id = hub(account)
    stack = make_stack(account, [target], filter_id, VNI_POLICY="per-instance-tag")
    tagged = account.launch(tags={"mirror": "true", "mirror-vni": "4242"})
    unreadable = account.launch(tags={"mirror": "true", "mirror-vni": "vni-7"})
    summary = reconcile(stack)
    assert [s["VirtualNetworkId"] for s in stack.our_sessions(tagged)] == [4242]
    assert stack.our_sessions(unreadable) == []
    assert account.tags_of(unreadable)["mirror-status"] == "vni-unreadable"
    assert summary["instances_needing_attention"] == {unreadable: "vni-unreadable"}
    assert summary["vni_map"] == {"4242": [tagged]}


def test_a_packet_length_tag_is_honoured_only_when_approved(account: SimulatedAccount) -> None:
    target, filter_id = hub(account)
    stack = make_stack(account, [target], filter_id, APPROVED_PACKET_LENGTHS="96,1500")
    approved = account.launch(tags={"mirror": "true", "mirror-packet-length": "96"})
    refused = account.launch(tags={"mirror": "true", "mirror-packet-length": "100"})
    reconcile(stack)
    assert [s["PacketLength"] for s in stack.our_sessions(approved)] == [96]
    assert stack.our_sessions(refused) == []
    assert account.tags_of(refused)["mirror-status"] == "packet-length-not-approved"
