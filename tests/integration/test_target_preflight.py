"""Issue 15, target preflight, against moto and the strict layer through the scheduled reconciler: what AWS lets us
see of each pool target (security group and network ACL for UDP 4789, NLB listener and cross-zone load balancing,
Gateway Load Balancer endpoint state) decides whether it gets new sessions, and the report names why not."""

from __future__ import annotations

from typing import Any

import pytest

from functions.scheduled_reconciler.app import handler as scheduled
from simulation.account import SimulatedAccount
from tests.integration.stack import LambdaContext, Stack, make_stack
from tests.integration.test_scheduled_reconciler import SCHEDULE

pytestmark = pytest.mark.usefixtures("strict")


def reconcile(stack: Stack) -> dict[str, Any]:
    return scheduled(SCHEDULE, LambdaContext(), runtime=stack.runtime)


def targets_of(stack: Stack, instance_id: str) -> list[str]:
    return [s["TrafficMirrorTargetId"] for s in stack.our_sessions(instance_id)]


def test_an_eni_target_whose_security_group_admits_no_vxlan_is_unhealthy_and_gets_no_new_session(
    account: SimulatedAccount,
) -> None:
    closed = account.eni_target(admit_vxlan_from=None)  # only the VPC's default group
    stack = make_stack(account, [closed], account.mirror_filter())
    instance = account.launch(tags={"mirror": "true"})
    summary = reconcile(stack)
    assert targets_of(stack, instance) == []
    assert account.tags_of(instance)["mirror-status"] == "no-healthy-target"
    assert "security group" in summary["unhealthy_targets"][closed]


def test_an_eni_target_admitting_another_cidr_only_is_unhealthy(account: SimulatedAccount) -> None:
    elsewhere = account.eni_target(admit_vxlan_from="192.168.0.0/24")
    stack = make_stack(account, [elsewhere], account.mirror_filter())
    instance = account.launch(tags={"mirror": "true"})
    summary = reconcile(stack)
    assert targets_of(stack, instance) == []
    assert "admit no UDP 4789" in summary["unhealthy_targets"][elsewhere]


def test_a_network_acl_that_denies_vxlan_makes_the_target_unhealthy(account: SimulatedAccount) -> None:
    target = account.eni_target()
    subnet = account.subnets[account.zones[0]]
    acl = account.ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])
    acl_id = acl["NetworkAcls"][0]["NetworkAclId"]
    account.ec2.create_network_acl_entry(
        NetworkAclId=acl_id,
        RuleNumber=10,
        Protocol="17",
        RuleAction="deny",
        Egress=False,
        CidrBlock="0.0.0.0/0",
        PortRange={"From": 4789, "To": 4789},
    )
    stack = make_stack(account, [target], account.mirror_filter())
    instance = account.launch(tags={"mirror": "true"})
    summary = reconcile(stack)
    assert targets_of(stack, instance) == []
    assert "rule 10 denies" in summary["unhealthy_targets"][target]


def test_an_nlb_without_a_udp_4789_listener_is_reported_and_gets_no_new_session(account: SimulatedAccount) -> None:
    deaf = account.nlb_target(udp_listener=False)
    stack = make_stack(account, [deaf], account.mirror_filter())
    instance = account.launch(tags={"mirror": "true"})
    summary = reconcile(stack)
    assert targets_of(stack, instance) == []
    assert "no UDP listener on port 4789" in summary["dead_targets"][deaf]


def test_an_nlb_without_cross_zone_load_balancing_is_unhealthy(account: SimulatedAccount) -> None:
    single_zone = account.nlb_target(cross_zone=False)
    stack = make_stack(account, [single_zone], account.mirror_filter())
    instance = account.launch(tags={"mirror": "true"})
    summary = reconcile(stack)
    assert targets_of(stack, instance) == []
    assert "cross-zone" in summary["unhealthy_targets"][single_zone]


def test_a_healthy_pool_reports_healthy(account: SimulatedAccount) -> None:
    pool = [account.eni_target(), account.nlb_target(), account.gwlb_endpoint_target()]
    stack = make_stack(account, pool, account.mirror_filter())
    instances = [account.launch(tags={"mirror": "true"}) for _ in range(3)]
    summary = reconcile(stack)
    assert summary["unhealthy_targets"] == {} and summary["dead_targets"] == {}
    assert all(len(targets_of(stack, i)) == 1 for i in instances)


def test_an_unjudged_target_serves_once_the_operator_accepts_it(account: SimulatedAccount) -> None:
    target = account.eni_target(admit_vxlan_from=None)
    # Its group admits UDP 4789 from the members of another group: whether the sources are in it is not visible
    vpc = account.vpc_id
    sources = account.ec2.create_security_group(GroupName="sources", Description="sources", VpcId=vpc)["GroupId"]
    group = account.ec2.create_security_group(GroupName="appliance", Description="appliance", VpcId=vpc)["GroupId"]
    account.ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "udp", "FromPort": 4789, "ToPort": 4789, "UserIdGroupPairs": [{"GroupId": sources}]}
        ],
    )
    eni = account.ec2.describe_traffic_mirror_targets(TrafficMirrorTargetIds=[target])["TrafficMirrorTargets"][0]
    account.ec2.modify_network_interface_attribute(NetworkInterfaceId=eni["NetworkInterfaceId"], Groups=[group])
    stack = make_stack(account, [target], account.mirror_filter())
    instance = account.launch(tags={"mirror": "true"})
    assert "cannot judge" in reconcile(stack)["unhealthy_targets"][target]
    stack.configure(ACCEPT_UNJUDGED_TARGETS=target)
    reconcile(stack)
    assert targets_of(stack, instance) == [target]
