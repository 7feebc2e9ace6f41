"""Target preflight (issues 15 and 19) against moto and the strict layer, in worlds made as AWS makes them by default:
each pool target is graded by what AWS lets us see, judged against the addresses its sources send copies from.

- dead (AWS delivers nothing: no UDP 4789 listener, endpoint or appliance down): no new sessions, ours move;
- drops (its security groups, its subnet's network ACL or an NLB's own security groups admit no UDP 4789 from a
  source's address): no new sessions from that source, ours move to a healthy target with room, never deleted for it;
- advisory (a risk, not a loss: cross-zone load balancing off, a rule naming a security group): sessions are placed
  and the risk is reported, with what to do.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from functions.instance_state_change.app import handler as state_change
from functions.scheduled_reconciler.app import handler as scheduled
from mirror_cli import text
from mirror_cli.account import audit_account
from simulation.account import VXLAN_PORT, SimulatedAccount
from simulation.strict_aws import StrictAws
from tests.integration.stack import LambdaContext, Stack, event, make_stack
from tests.integration.test_scheduled_reconciler import SCHEDULE
from traffic_mirroring.config import load_settings

pytestmark = pytest.mark.usefixtures("strict")
ZONE_A, ZONE_B = "us-east-1a", "us-east-1b"


def reconcile(stack: Stack) -> dict[str, Any]:
    return scheduled(SCHEDULE, LambdaContext(), runtime=stack.runtime)


def launched(stack: Stack, instance_id: str) -> dict[str, Any]:
    return state_change(event("ec2-instance-running.json", instance_id), LambdaContext(), runtime=stack.runtime)


def targets_of(stack: Stack, instance_id: str) -> list[str]:
    return [s["TrafficMirrorTargetId"] for s in stack.our_sessions(instance_id)]


def address_of(account: SimulatedAccount, instance_id: str) -> str:
    address: str = account.instance(instance_id)["NetworkInterfaces"][0]["PrivateIpAddress"]
    return address


def group_admitting(account: SimulatedAccount, *cidrs: str, protocol: str = "udp", port: int = VXLAN_PORT) -> str:
    group: str = account.ec2.create_security_group(
        GroupName=f"admits-{len(cidrs)}-{protocol}-{port}-{cidrs[0] if cidrs else 'none'}".replace("/", "_"),
        Description="inbound rules of the test",
        VpcId=account.vpc_id,
    )["GroupId"]
    if cidrs:
        account.ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {
                    "IpProtocol": protocol,
                    "FromPort": port,
                    "ToPort": port,
                    "IpRanges": [{"CidrIp": cidr} for cidr in cidrs],
                }
            ],
        )
    return group


def set_groups(account: SimulatedAccount, target_id: str, *groups: str) -> None:
    eni = account.ec2.describe_traffic_mirror_targets(TrafficMirrorTargetIds=[target_id])["TrafficMirrorTargets"][0]
    account.ec2.modify_network_interface_attribute(NetworkInterfaceId=eni["NetworkInterfaceId"], Groups=list(groups))


def audit_report(account: SimulatedAccount, targets: list[str], filter_id: str) -> tuple[dict[str, Any], str]:
    settings = load_settings({"TARGET_IDS": ",".join(targets), "FILTER_ID": filter_id, "MANAGED_BY": "mirror-stack"})
    report = audit_account(settings, "123456789012", account.ec2, account.elbv2).report
    out = io.StringIO()
    text.print_report(report, out, width=0)
    return json.loads(json.dumps(report, default=str)), out.getvalue()


# -- judge addresses, not one rule ------------------------------------------------------------------------------
def test_an_appliance_admitting_each_source_subnet_but_not_the_whole_vpc_is_mirrored_to(
    account: SimulatedAccount,
) -> None:
    # Given an appliance whose group admits UDP 4789 from each source subnet, one rule each (no VPC-wide rule)
    target = account.eni_target(ZONE_A, admit_vxlan_from=[account.subnet_cidr(ZONE_A), account.subnet_cidr(ZONE_B)])
    stack = make_stack(account, [target], account.mirror_filter())
    sources = [account.launch(tags={"mirror": "true"}, zone=zone) for zone in (ZONE_A, ZONE_B)]
    # When the reconciler runs
    summary = reconcile(stack)
    # Then both sources are mirrored to it, and nothing is reported against it
    assert [targets_of(stack, s) for s in sources] == [[target], [target]]
    assert all(account.tags_of(s)["mirror-status"] == "mirrored" for s in sources)
    assert summary["unhealthy_targets"] == {} and summary["target_advisories"] == {}


def test_an_appliance_admitting_another_subnet_only_drops_and_our_session_there_moves_never_deleted(
    account: SimulatedAccount,
) -> None:
    # Given an appliance that admits the source's subnet, a source mirrored to it, and a spare NLB
    filter_id = account.mirror_filter()
    appliance = account.eni_target(ZONE_A, admit_vxlan_from=account.subnet_cidr(ZONE_A))
    spare = account.nlb_target(cross_zone=True)  # cross-zone on: the spare has nothing to report
    stack = make_stack(account, [appliance], filter_id)
    source = account.launch(tags={"mirror": "true"}, zone=ZONE_A)
    reconcile(stack)
    (session,) = stack.our_sessions(source)
    assert session["TrafficMirrorTargetId"] == appliance
    # When its group is changed to admit another subnet only
    set_groups(account, appliance, group_admitting(account, account.subnet_cidr(ZONE_B)))
    stack.configure()
    summary = reconcile(stack)
    # Then nothing else serves: the session stays (never deleted for it), the status and the report say why
    assert [s["TrafficMirrorSessionId"] for s in stack.our_sessions(source)] == [session["TrafficMirrorSessionId"]]
    assert account.tags_of(source)["mirror-status"] == "no-healthy-target"
    assert summary["sessions_deleted"] == {}
    assert summary["unhealthy_targets"][appliance].endswith(f"admit no UDP 4789 from {address_of(account, source)}")
    # And once a healthy target has room, the same session moves there
    stack.configure(TARGET_IDS=f"{appliance},{spare}")
    summary = reconcile(stack)
    (moved,) = stack.our_sessions(source)
    assert (moved["TrafficMirrorSessionId"], moved["TrafficMirrorTargetId"]) == (
        session["TrafficMirrorSessionId"],
        spare,
    )
    assert summary["sessions_moved"] == 1 and summary["sessions_deleted"] == {}
    assert account.tags_of(source)["mirror-status"] == "mirrored"
    # And a new source of the dropped subnet gets no session on the appliance either
    other = account.launch(tags={"mirror": "true"}, zone=ZONE_A)
    launched(stack, other)
    assert targets_of(stack, other) == [spare]


def test_a_dual_stack_vpc_with_ipv4_sources_needs_no_ipv6_rule(account: SimulatedAccount) -> None:
    # Given a dual-stack VPC, an appliance admitting UDP 4789 from its IPv4 CIDR only, and an IPv4 source in it
    dual_stack = account.new_vpc("10.40.0.0/16", ipv6=True)
    target = dual_stack.eni_target(ZONE_A, admit_vxlan_from="10.40.0.0/16")
    stack = make_stack(account, [target], account.mirror_filter())
    source = dual_stack.launch(tags={"mirror": "true"}, zone=ZONE_A)
    # When the reconciler runs
    summary = reconcile(stack)
    # Then the source is mirrored: its copies leave from its IPv4 address, which the rule admits
    assert targets_of(stack, source) == [target]
    assert account.tags_of(source)["mirror-status"] == "mirrored" and summary["unhealthy_targets"] == {}


def test_a_group_without_a_udp_4789_rule_drops_and_the_source_gets_no_session(account: SimulatedAccount) -> None:
    closed = account.eni_target(admit_vxlan_from="vpc")
    set_groups(account, closed, group_admitting(account, "0.0.0.0/0", protocol="tcp", port=443))
    stack = make_stack(account, [closed], account.mirror_filter())
    instance = account.launch(tags={"mirror": "true"})
    summary = reconcile(stack)
    assert targets_of(stack, instance) == []
    assert account.tags_of(instance)["mirror-status"] == "no-healthy-target"
    assert summary["unhealthy_targets"][closed].startswith("its security groups (")


def test_a_network_acl_that_denies_vxlan_drops(account: SimulatedAccount) -> None:
    target = account.eni_target(admit_vxlan_from="vpc")  # the security group admits: this is about the ACL
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
    assert summary["unhealthy_targets"][target] == (
        f"network ACL {acl_id} rule 10 denies UDP 4789 from {address_of(account, instance)}"
    )


# -- an NLB's own security groups -----------------------------------------------------------------------------
def test_an_nlb_whose_security_group_admits_no_vxlan_gets_no_session_and_the_reason_is_named(
    account: SimulatedAccount,
) -> None:
    # Given an NLB made with a security group that admits HTTPS only
    https_only = group_admitting(account, "0.0.0.0/0", protocol="tcp", port=443)
    guarded = account.nlb_target(security_groups=[https_only])
    stack = make_stack(account, [guarded], account.mirror_filter())
    instance = account.launch(tags={"mirror": "true"})
    # When the instance's running event arrives
    summary = launched(stack, instance)
    # Then no session is created, and the report names the NLB's group and the source's address
    assert targets_of(stack, instance) == [] and stack.calls.counts["CreateTrafficMirrorSession"] == 0
    assert account.tags_of(instance)["mirror-status"] == "no-healthy-target"
    assert summary["unhealthy_targets"][guarded] == (
        f"its Network Load Balancer's security groups ({https_only}) admit no UDP 4789 from "
        f"{address_of(account, instance)}"
    )


def test_an_nlb_whose_security_group_admits_the_sources_serves(account: SimulatedAccount) -> None:
    admits = group_admitting(account, account.subnet_cidr(ZONE_A))
    guarded = account.nlb_target(security_groups=[admits], cross_zone=True)  # cross-zone on: no advisory either
    stack = make_stack(account, [guarded], account.mirror_filter())
    instance = account.launch(tags={"mirror": "true"}, zone=ZONE_A)
    summary = launched(stack, instance)
    assert targets_of(stack, instance) == [guarded]
    assert summary["unhealthy_targets"] == {} and summary["target_advisories"] == {}


# -- worlds from AWS's defaults: advisories, not refusals --------------------------------------------------------
def test_an_nlb_made_as_the_readme_recipe_makes_it_mirrors_on_the_first_event_and_reports_cross_zone(
    account: SimulatedAccount,
) -> None:
    # Given an existing NLB at AWS's defaults (cross-zone off, no security groups) and the README's recipe on it:
    # a UDP 4789 target group with a TCP health check, the appliances registered, the listener, the mirror target
    arn = account.elbv2.create_load_balancer(
        Name="ids", Subnets=[account.subnets[ZONE_A], account.subnets[ZONE_B]], Type="network", Scheme="internal"
    )["LoadBalancers"][0]["LoadBalancerArn"]
    group = account.elbv2.create_target_group(
        Name="ids-vxlan",
        Protocol="UDP",
        Port=4789,
        VpcId=account.vpc_id,
        TargetType="instance",
        HealthCheckProtocol="TCP",
        HealthCheckPort="443",
    )["TargetGroups"][0]["TargetGroupArn"]
    appliances = [account.launch("c5.large", zone=zone) for zone in (ZONE_A, ZONE_B)]
    account.elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": a} for a in appliances])
    account.elbv2.create_listener(
        LoadBalancerArn=arn, Protocol="UDP", Port=4789, DefaultActions=[{"Type": "forward", "TargetGroupArn": group}]
    )
    target = account.ec2.create_traffic_mirror_target(NetworkLoadBalancerArn=arn, Description="IDS pool")[
        "TrafficMirrorTarget"
    ]["TrafficMirrorTargetId"]
    filter_id = account.mirror_filter()
    stack = make_stack(account, [target], filter_id)
    # When a tagged instance launches
    instance = account.launch(tags={"mirror": "true"})
    summary = launched(stack, instance)
    # Then it is mirrored on the first event
    assert targets_of(stack, instance) == [target]
    assert account.tags_of(instance)["mirror-status"] == "mirrored"
    # And the run report carries the cross-zone advisory, naming where it is decided and what to do
    (advisory,) = summary["target_advisories"][target]
    assert "cross-zone load balancing is off" in advisory and "ids-vxlan" in advisory
    assert "load_balancing.cross_zone.enabled=true" in advisory
    assert summary["unhealthy_targets"] == {}
    # And so does mirror-audit, in JSON and in text
    report, text = audit_report(account, [target], filter_id)
    (row,) = report["targets"]
    assert row["health"] == "advisory" and row["advisories"] == [advisory]
    assert "Target advisories" in text
    assert any(target in line and "cross-zone load balancing is off" in line for line in text.splitlines())


def test_cross_zone_is_read_where_aws_applies_it_the_target_group_first(account: SimulatedAccount) -> None:
    on_in_group = account.nlb_target(name="group-on", target_group_cross_zone="true")  # load balancer: off
    off_in_group = account.nlb_target(name="group-off", cross_zone=True, target_group_cross_zone="false")
    on_at_balancer = account.nlb_target(name="balancer-on", cross_zone=True)  # the group defers to it
    stack = make_stack(account, [on_in_group, off_in_group, on_at_balancer], account.mirror_filter())
    account.launch(tags={"mirror": "true"})
    summary = reconcile(stack)
    assert sorted(summary["target_advisories"]) == [off_in_group]
    assert "(target group group-off-vxlan)" in summary["target_advisories"][off_in_group][0]
    # The load balancer's attribute is read only where its target group defers to it
    assert stack.calls.counts["DescribeTargetGroupAttributes"] == 3
    assert stack.calls.counts["DescribeLoadBalancerAttributes"] == 1


def test_a_cross_zone_setting_that_cannot_be_read_is_reported_and_fails_nothing(account: SimulatedAccount) -> None:
    nlb = account.nlb_target()
    stack = make_stack(account, [nlb], account.mirror_filter())
    stack.calls.fail_operation("DescribeTargetGroupAttributes", "AccessDenied")
    instance = account.launch(tags={"mirror": "true"})
    summary = reconcile(stack)
    assert targets_of(stack, instance) == [nlb]
    assert "cannot judge cross-zone load balancing" in summary["target_advisories"][nlb][0]
    assert "AccessDenied" in summary["target_advisories"][nlb][0]


def test_an_appliance_in_the_vpcs_default_group_serves_with_an_advisory(account: SimulatedAccount) -> None:
    # Given an appliance launched as AWS launches it: in the VPC's default group, which admits its own members only
    appliance = account.eni_target()
    stack = make_stack(account, [appliance], account.mirror_filter())
    instance = account.launch(tags={"mirror": "true"})
    summary = reconcile(stack)
    # Then whether the sources are members is not visible: a risk reported with what to do, not a refusal
    assert targets_of(stack, instance) == [appliance]
    (advisory,) = summary["target_advisories"][appliance]
    assert advisory.startswith("cannot judge: its security groups (") and "TrustedTargets" in advisory
    assert summary["unhealthy_targets"] == {}


def test_a_healthy_pool_reports_nothing(account: SimulatedAccount) -> None:
    # Configured the way the targets page recommends (rules for the sources, cross-zone on): nothing to report
    pool = [account.eni_target(admit_vxlan_from="vpc"), account.nlb_target(cross_zone=True)]
    pool.append(account.gwlb_endpoint_target())
    stack = make_stack(account, pool, account.mirror_filter())
    instances = [account.launch(tags={"mirror": "true"}) for _ in range(3)]
    summary = reconcile(stack)
    assert summary["unhealthy_targets"] == {} and summary["dead_targets"] == {}
    assert summary["target_advisories"] == {}
    assert all(len(targets_of(stack, i)) == 1 for i in instances)


def test_an_nlb_without_a_udp_4789_listener_is_dead_and_gets_no_new_session(account: SimulatedAccount) -> None:
    deaf = account.nlb_target(udp_listener=False)
    stack = make_stack(account, [deaf], account.mirror_filter(), TRUSTED_TARGETS="*")  # trust does not revive it
    instance = account.launch(tags={"mirror": "true"})
    summary = reconcile(stack)
    assert targets_of(stack, instance) == []
    assert "no UDP listener on port 4789" in summary["dead_targets"][deaf]


# -- the operator's override -------------------------------------------------------------------------------------
def test_the_operator_overrides_a_drop_for_a_named_target_and_the_finding_stays_reported(
    account: SimulatedAccount,
) -> None:
    # Given an appliance whose rules seem to drop the source's copies (the operator knows better: e.g. a NAT)
    appliance = account.eni_target(admit_vxlan_from="192.168.0.0/24")
    stack = make_stack(account, [appliance], account.mirror_filter())
    instance = account.launch(tags={"mirror": "true"})
    assert reconcile(stack)["unhealthy_targets"][appliance]
    assert targets_of(stack, instance) == []
    # When the operator trusts it
    stack.configure(TRUSTED_TARGETS=appliance)
    summary = reconcile(stack)
    # Then it serves, and the finding is still reported, as a risk the operator took
    assert targets_of(stack, instance) == [appliance]
    assert summary["unhealthy_targets"] == {}
    assert summary["target_advisories"][appliance] == [
        f"trusted (TrustedTargets) although its security groups ({appliance_group(account, appliance)}) admit no "
        f"UDP 4789 from {address_of(account, instance)}"
    ]


def appliance_group(account: SimulatedAccount, target_id: str) -> str:
    eni = account.ec2.describe_traffic_mirror_targets(TrafficMirrorTargetIds=[target_id])["TrafficMirrorTargets"][0]
    groups = account.ec2.describe_network_interfaces(NetworkInterfaceIds=[eni["NetworkInterfaceId"]])
    group: str = groups["NetworkInterfaces"][0]["Groups"][0]["GroupId"]
    return group


# -- IPv6-only subnets ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("refused", [False, True], ids=["aws-would-accept", "aws-would-refuse"])
def test_an_instance_in_an_ipv6_only_subnet_is_not_offered_to_aws(
    account: SimulatedAccount, strict: StrictAws, refused: bool
) -> None:
    # Given an instance in an IPv6-only subnet (AWS's answer to a session there is undocumented: both ways)
    strict.ipv6_only_sources_refused = refused
    dual_stack = account.new_vpc("10.50.0.0/16", ipv6=True)
    nlb = dual_stack.nlb_target()
    stack = make_stack(account, [nlb], account.mirror_filter())
    instance = dual_stack.launch(tags={"mirror": "true"}, subnet_id=dual_stack.ipv6_only_subnet(ZONE_A))
    # When its running event arrives, and the reconciler runs
    launched(stack, instance)
    summary = reconcile(stack)
    # Then no session is asked of AWS, its status says why, and it is neither an error nor an attention case
    assert stack.calls.counts["CreateTrafficMirrorSession"] == 0
    assert stack.our_sessions(instance) == []
    assert account.tags_of(instance)["mirror-status"] == "ipv6-only-subnet"
    assert summary["instances_needing_attention"] == {}
    assert summary["sessions_skipped"] == {"ipv6-only-subnet": 1}
