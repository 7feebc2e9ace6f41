"""Target preflight, pure: each source's address judged against what admits VXLAN to a target (its security groups,
its subnet's network ACL, an NLB's own groups), graded dead / drops / advisory, and what the planner does with it."""

from __future__ import annotations

from tests import builders
from tests.builders import SUPPORTED, nlb, settings
from traffic_mirroring.config import Settings
from traffic_mirroring.model import AttachedEni, Instance, MirrorSession, MirrorTarget, Plan, Reason
from traffic_mirroring.preflight import (
    AclEntry,
    Finding,
    Grade,
    IngressJudge,
    IngressPermission,
    TargetIngress,
    cross_zone_advisory,
    merge,
    worst,
)

OPEN_ACL = (AclEntry(100, "-1", None, None, "0.0.0.0/0", True), AclEntry(32767, "-1", None, None, "0.0.0.0/0", False))


def ingress(*permissions: IngressPermission, acl: tuple[AclEntry, ...] | None = OPEN_ACL) -> TargetIngress:
    return TargetIngress(("sg-1",), permissions, "acl-1", acl)


def udp(*cidrs: str, low: int = 4789, high: int = 4789, protocol: str = "udp") -> IngressPermission:
    return IngressPermission("sg-1", protocol, low, high, cidrs)


def judged(target: TargetIngress, address: str) -> list[tuple[Grade, str]]:
    return [(f.grade, f.reason) for f in IngressJudge(target).judge(address)]


# -- addresses, not one rule ----------------------------------------------------------------------------------------
def test_an_address_admitted_by_any_rule_passes() -> None:
    assert judged(ingress(udp("10.1.0.0/16")), "10.1.7.9") == []
    assert judged(ingress(udp("10.0.0.0/8", low=4000, high=5000)), "10.1.7.9") == []
    assert judged(ingress(IngressPermission("sg-1", "-1", None, None, ("0.0.0.0/0",))), "10.1.7.9") == []
    # one rule per source subnet (least privilege): the union of the rules decides, not one rule for the whole VPC
    per_subnet = ingress(udp("10.1.0.0/24"), udp("10.1.1.0/24"))
    assert judged(per_subnet, "10.1.0.5") == [] and judged(per_subnet, "10.1.1.5") == []
    assert judged(ingress(udp("10.1.1.5/32")), "10.1.1.5") == []


def test_an_address_no_rule_admits_is_dropped_and_named() -> None:
    for permission in (udp("10.1.0.0/16", low=443, high=443), udp("10.1.0.0/16", protocol="tcp"), udp("10.2.0.0/16")):
        assert judged(ingress(permission), "10.1.0.5") == [
            (Grade.DROPS, "its security groups (sg-1) admit no UDP 4789 from 10.1.0.5")
        ]
    assert judged(ingress(), "10.1.0.5")[0][0] == Grade.DROPS


def test_an_ipv4_source_needs_no_ipv6_rule_and_an_ipv6_rule_admits_no_ipv4_source() -> None:
    dual_stack = ingress(udp("10.1.0.0/16"))  # no rule for the VPC's IPv6 block
    assert judged(dual_stack, "10.1.0.5") == []
    assert judged(ingress(udp("::/0")), "10.1.0.5")[0][0] == Grade.DROPS
    assert judged(ingress(udp("0.0.0.0/0")), "2600:1f18::5")[0][0] == Grade.DROPS


def test_a_rule_naming_a_group_or_prefix_list_is_an_advisory_unless_a_cidr_admits_the_address() -> None:
    named = IngressPermission("sg-1", "udp", 4789, 4789, (), ("sg-appliances", "pl-123"))
    ((grade, reason),) = judged(ingress(named), "10.1.0.5")
    assert grade == Grade.ADVISORY and "cannot judge" in reason and "pl-123, sg-appliances" in reason
    assert "TrustedTargets" in reason  # what to do
    assert judged(ingress(named, udp("10.1.0.0/16")), "10.1.0.5") == []


def test_the_network_acl_decides_by_its_first_matching_entry_for_the_address() -> None:
    deny_first = (AclEntry(90, "17", 4789, 4789, "10.1.0.0/24", False), *OPEN_ACL)
    assert judged(ingress(udp("10.1.0.0/16"), acl=deny_first), "10.1.0.5") == [
        (Grade.DROPS, "network ACL acl-1 rule 90 denies UDP 4789 from 10.1.0.5")
    ]
    assert judged(ingress(udp("10.1.0.0/16"), acl=deny_first), "10.1.1.5") == []  # rule 90 does not match it
    allow_first = (AclEntry(80, "17", 4789, 4789, "10.1.0.0/16", True), *deny_first)
    assert judged(ingress(udp("10.1.0.0/16"), acl=allow_first), "10.1.0.5") == []
    only_tcp = (AclEntry(100, "6", 0, 65535, "0.0.0.0/0", True), AclEntry(32767, "-1", None, None, "0.0.0.0/0", False))
    assert judged(ingress(udp("10.1.0.0/16"), acl=only_tcp), "10.1.0.5") == [
        (Grade.DROPS, "network ACL acl-1 rule 32767 denies UDP 4789 from 10.1.0.5")
    ]
    assert judged(ingress(udp("10.1.0.0/16"), acl=()), "10.1.0.5") == [
        (Grade.DROPS, "network ACL acl-1 admits no UDP 4789 from 10.1.0.5")
    ]
    ((grade, reason),) = judged(ingress(udp("10.1.0.0/16"), acl=None), "10.1.0.5")
    assert grade == Grade.ADVISORY and "could not be read" in reason


def test_a_drop_wins_over_an_advisory_of_the_other_layer() -> None:
    named = IngressPermission("sg-1", "udp", 4789, 4789, (), ("sg-appliances",))
    deny = (AclEntry(10, "-1", None, None, "0.0.0.0/0", False),)
    assert worst(IngressJudge(ingress(named, acl=deny)).judge("10.1.0.5")) == Grade.DROPS
    assert worst(IngressJudge(ingress(named)).judge("10.1.0.5")) == Grade.ADVISORY
    assert worst([]) is None


def test_an_nlbs_own_security_groups_are_judged_without_a_network_acl() -> None:
    nlb = TargetIngress(("sg-nlb",), (udp("10.9.0.0/16"),), load_balancer=True)
    assert judged(nlb, "10.9.0.5") == []
    assert judged(nlb, "10.1.0.5") == [
        (Grade.DROPS, "its Network Load Balancer's security groups (sg-nlb) admit no UDP 4789 from 10.1.0.5")
    ]


def test_each_address_is_judged_once() -> None:
    judge = IngressJudge(ingress(udp("10.1.0.0/16")))
    first = judge.judge("10.2.0.5")
    assert judge.judge("10.2.0.5") is first
    assert judge.judge("not an address") == ()


def test_findings_merge_by_cause_naming_every_address_in_order_and_counting_past_ten() -> None:
    cause = "its security groups (sg-1) admit no UDP 4789 from"
    found = merge(Finding(Grade.DROPS, cause, (f"10.0.0.{n}",)) for n in (12, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11))
    assert len(found) == 1
    assert found[0].addresses[:3] == ("10.0.0.1", "10.0.0.2", "10.0.0.3") and len(found[0].addresses) == 12
    assert found[0].reason == f"{cause} " + ", ".join(f"10.0.0.{n}" for n in range(1, 11)) + " and 2 more"


def test_cross_zone_off_is_an_advisory_with_what_to_do() -> None:
    assert cross_zone_advisory(True, "") is None and cross_zone_advisory(None, "") is None
    advisory = cross_zone_advisory(False, "target group ids-vxlan")
    assert advisory is not None and advisory.grade == Grade.ADVISORY
    assert "cross-zone load balancing is off (target group ids-vxlan)" in advisory.reason
    assert "load_balancing.cross_zone.enabled=true" in advisory.reason
    unread = cross_zone_advisory(None, "not read: DescribeTargetGroupAttributes answered AccessDenied")
    assert unread is not None and "cannot judge" in unread.reason and "AccessDenied" in unread.reason


# -- the planner: drops block new sessions, advisories do not ----------------------------------------------------
SETTINGS = settings("tmt-eni", "tmt-nlb")
ZONE_A = "zone-a"


def source(address: str = "10.1.0.5", eni: str = "eni-1", instance: str = "i-1") -> Instance:
    return builders.instance(instance, enis=(AttachedEni(eni, vpc_id="vpc-1", private_ip=address),), zone=ZONE_A)


def plan(
    targets: dict[str, MirrorTarget],
    settings: Settings = SETTINGS,
    sessions: tuple[MirrorSession, ...] = (),
    sources: tuple[Instance, ...] | None = None,
) -> Plan:
    instances = sources or (source(),)
    return builders.plan(*instances, settings=settings, sessions=sessions, targets=targets, verdicts=SUPPORTED)


def eni_target(*permissions: IngressPermission) -> MirrorTarget:
    return builders.eni_target("tmt-eni", ZONE_A, vpc_id="vpc-1", ingress=ingress(*permissions))


NLB = nlb("tmt-nlb", "zone-b", vpc_id="vpc-1")


def test_a_target_that_drops_a_sources_copies_gets_no_session_from_it_and_names_the_address() -> None:
    result = plan({"tmt-eni": eni_target(), "tmt-nlb": NLB})
    assert result.creates[0].target_ids == ("tmt-nlb",)
    assert result.unhealthy_targets["tmt-eni"] == "its security groups (sg-1) admit no UDP 4789 from 10.1.0.5"
    only = plan({"tmt-eni": eni_target()})
    assert only.creates == [] and only.subjects["i-1"].status == Reason.NO_HEALTHY_TARGET


def test_a_target_is_judged_per_source_address() -> None:
    """A group that admits one subnet serves that subnet's sources; the others go elsewhere or wait."""
    admitted, other = source("10.1.0.5", "eni-1", "i-1"), source("10.1.1.5", "eni-2", "i-2")
    result = plan({"tmt-eni": eni_target(udp("10.1.0.0/24"))}, sources=(admitted, other))
    assert [(c.instance_id, c.target_ids) for c in result.creates] == [("i-1", ("tmt-eni",))]
    assert result.subjects["i-2"].status == Reason.NO_HEALTHY_TARGET
    assert result.unhealthy_targets["tmt-eni"].endswith("admit no UDP 4789 from 10.1.1.5")


def test_a_healthy_pool_reports_nothing() -> None:
    result = plan({"tmt-eni": eni_target(udp("10.1.0.0/16"))})
    assert result.creates[0].target_ids == ("tmt-eni",)
    assert result.unhealthy_targets == {} and result.target_advisories == {}


def test_an_unjudged_rule_is_an_advisory_and_the_target_serves() -> None:
    named = eni_target(IngressPermission("sg-1", "udp", 4789, 4789, (), ("pl-123",)))
    result = plan({"tmt-eni": named})
    assert result.creates[0].target_ids == ("tmt-eni",) and result.unhealthy_targets == {}
    assert "cannot judge" in result.target_advisories["tmt-eni"][0]


def test_an_nlb_without_cross_zone_serves_and_reports_an_advisory() -> None:
    nlb = MirrorTarget("tmt-nlb", "network-load-balancer", None, cross_zone=False, cross_zone_decided_by="x")
    result = plan({"tmt-nlb": nlb})
    assert result.creates[0].target_ids == ("tmt-nlb",) and result.unhealthy_targets == {}
    assert "cross-zone" in result.target_advisories["tmt-nlb"][0]


def test_an_nlb_whose_security_groups_admit_no_vxlan_gets_no_session() -> None:
    guarded = MirrorTarget(
        "tmt-nlb", "network-load-balancer", None, ingress=TargetIngress(("sg-nlb",), (), load_balancer=True)
    )
    result = plan({"tmt-nlb": guarded})
    assert result.creates == [] and result.subjects["i-1"].status == Reason.NO_HEALTHY_TARGET
    assert "Network Load Balancer's security groups (sg-nlb)" in result.unhealthy_targets["tmt-nlb"]


def test_the_operator_overrides_the_verdict_for_a_trusted_target_and_the_drop_stays_reported() -> None:
    trusting = Settings(target_ids=("tmt-eni",), filter_id="tmf-1", trusted_targets=frozenset({"tmt-eni"}))
    result = plan({"tmt-eni": eni_target()}, trusting)
    assert result.creates[0].target_ids == ("tmt-eni",) and result.unhealthy_targets == {}
    assert result.target_advisories["tmt-eni"] == [
        "trusted (TrustedTargets) although its security groups (sg-1) admit no UDP 4789 from 10.1.0.5"
    ]
    everyone = Settings(target_ids=("tmt-eni",), filter_id="tmf-1", trusted_targets=frozenset({"*"}))
    assert plan({"tmt-eni": eni_target()}, everyone).creates[0].target_ids == ("tmt-eni",)
    other = Settings(target_ids=("tmt-eni",), filter_id="tmf-1", trusted_targets=frozenset({"tmt-other"}))
    assert plan({"tmt-eni": eni_target()}, other).creates == []


def test_a_dead_target_stays_dead_for_the_operators_trust() -> None:
    trusting = Settings(target_ids=("tmt-nlb",), filter_id="tmf-1", trusted_targets=frozenset({"*"}))
    deaf = MirrorTarget("tmt-nlb", "network-load-balancer", None, live=False, problem="no UDP listener")
    result = plan({"tmt-nlb": deaf}, trusting)
    assert result.creates == [] and result.subjects["i-1"].status == Reason.NO_LIVE_TARGET


def test_a_session_on_a_target_that_drops_moves_when_a_healthy_one_has_room_and_is_never_deleted() -> None:
    ours = MirrorSession("tms-1", "eni-1", "tmt-eni", "tmf-1", 1, {"mirror-managed-by": "stack"})
    moved = plan({"tmt-eni": eni_target(), "tmt-nlb": NLB}, sessions=(ours,))
    assert [(u.target_ids[0], u.reason) for u in moved.updates] == [("tmt-nlb", Reason.TARGET_UNHEALTHY)]
    kept = plan({"tmt-eni": eni_target()}, sessions=(ours,))
    assert kept.updates == [] and kept.deletes == []
    assert kept.subjects["i-1"].status == Reason.NO_HEALTHY_TARGET


def test_a_session_on_a_target_with_an_advisory_stays() -> None:
    ours = builders.session("tms-1", "eni-1", "tmt-nlb", instance_id=None)
    risky = MirrorTarget("tmt-nlb", "network-load-balancer", None, vpc_id="vpc-1", cross_zone=False)
    result = plan({"tmt-eni": eni_target(udp("0.0.0.0/0")), "tmt-nlb": risky}, sessions=(ours,))
    assert result.updates == [] and result.deletes == [] and result.subjects["i-1"].status == Reason.MIRRORED


def test_a_source_whose_address_was_not_read_is_not_judged() -> None:
    unread = builders.instance("i-1", enis=(AttachedEni("eni-1", vpc_id="vpc-1"),), zone=ZONE_A)
    assert plan({"tmt-eni": eni_target()}, sources=(unread,)).creates[0].target_ids == ("tmt-eni",)


def test_drops_are_judged_only_for_the_sources_that_may_use_the_target() -> None:
    """A discovered target serves its own VPC: a source elsewhere neither uses it nor makes it drop anything."""
    discovering = Settings(target_ids=(), filter_id="tmf-1", managed_by="stack", target_pool="prod")
    closed = MirrorTarget(
        "tmt-1", "network-interface", 10, vpc_id="vpc-1", tags={"mirror-pool": "prod"}, ingress=ingress()
    )
    elsewhere = builders.instance(
        "i-1", enis=(AttachedEni("eni-1", "interface", None, "vpc-2", "10.2.0.5"),), zone=ZONE_A
    )
    assert plan({"tmt-1": closed}, discovering, sources=(elsewhere,)).unhealthy_targets == {}
    assert "10.1.0.5" in plan({"tmt-1": closed}, discovering).unhealthy_targets["tmt-1"]


# -- IPv6-only subnets -----------------------------------------------------------------------------------------
def test_an_eni_in_an_ipv6_only_subnet_is_never_offered_to_aws_and_needs_no_attention() -> None:
    from traffic_mirroring.model import needs_attention

    v6 = builders.instance("i-1", enis=(AttachedEni("eni-1", vpc_id="vpc-1", ipv6_only=True),), zone=ZONE_A)
    ours = builders.session("tms-1", "eni-1", "tmt-nlb", instance_id=None)
    result = plan({"tmt-nlb": NLB}, sessions=(ours,), sources=(v6,))
    assert result.creates == []
    assert [(d.session.session_id, d.reason) for d in result.deletes] == [("tms-1", Reason.IPV6_ONLY_SUBNET)]
    assert result.subjects["i-1"].status == Reason.IPV6_ONLY_SUBNET == "ipv6-only-subnet"
    assert not needs_attention(result.subjects["i-1"].status)


def test_an_eni_without_a_private_ipv4_address_is_read_as_in_an_ipv6_only_subnet() -> None:
    """AWS documents that an IPv6-only subnet has no IPv4 range, not what DescribeInstances then shows: an absent
    address, an IPv6 one or the IPv4 link-local one its resources also get are all read as "no private IPv4"."""
    from traffic_mirroring.ec2_gateway import _instance

    def eni(**nic: str) -> AttachedEni:
        raw = {"InstanceId": "i-1", "NetworkInterfaces": [{"NetworkInterfaceId": "eni-1", **nic}]}
        return _instance(raw).enis[0]

    assert (eni(PrivateIpAddress="10.1.0.5").private_ip, eni(PrivateIpAddress="10.1.0.5").ipv6_only) == (
        "10.1.0.5",
        False,
    )
    for unusable in ({}, {"PrivateIpAddress": "2600:1f18::5"}, {"PrivateIpAddress": "169.254.3.4"}):
        assert (eni(**unusable).private_ip, eni(**unusable).ipv6_only) == ("", True)
