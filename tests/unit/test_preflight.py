"""Target preflight, pure: does an ENI target's security group and network ACL admit VXLAN from a source VPC?"""

from __future__ import annotations

from traffic_mirroring.config import Settings
from traffic_mirroring.eligibility import Verdict
from traffic_mirroring.model import AttachedEni, Instance, Inventory, MirrorSession, MirrorTarget, Reason
from traffic_mirroring.planner import plan_mirroring
from traffic_mirroring.preflight import AclEntry, IngressPermission, TargetIngress, ingress_problem, unjudged

OPEN_ACL = (AclEntry(100, "-1", None, None, "0.0.0.0/0", True), AclEntry(32767, "-1", None, None, "0.0.0.0/0", False))


def ingress(*permissions: IngressPermission, acl: tuple[AclEntry, ...] | None = OPEN_ACL) -> TargetIngress:
    return TargetIngress(("sg-1",), permissions, "acl-1", acl)


def udp(cidr: str, low: int = 4789, high: int = 4789, protocol: str = "udp") -> IngressPermission:
    return IngressPermission("sg-1", protocol, low, high, (cidr,))


def test_a_group_admitting_udp_4789_from_the_vpc_passes() -> None:
    assert ingress_problem(ingress(udp("10.1.0.0/16")), ["10.1.0.0/16"]) is None
    assert ingress_problem(ingress(udp("10.0.0.0/8", 4000, 5000)), ["10.1.0.0/16"]) is None
    assert (
        ingress_problem(ingress(IngressPermission("sg-1", "-1", None, None, ("0.0.0.0/0",))), ["10.1.0.0/16"]) is None
    )


def test_a_group_admitting_other_ports_protocols_or_part_of_the_vpc_fails() -> None:
    for permission in (udp("10.1.0.0/16", 443, 443), udp("10.1.0.0/16", protocol="tcp"), udp("10.1.0.0/24")):
        problem = ingress_problem(ingress(permission), ["10.1.0.0/16"])
        assert problem is not None and "admit no UDP 4789 from 10.1.0.0/16" in problem
    assert ingress_problem(ingress(), ["10.1.0.0/16"]) is not None
    # every CIDR of the VPC must be admitted
    assert ingress_problem(ingress(udp("10.1.0.0/16")), ["10.1.0.0/16", "10.9.0.0/16"]) is not None


def test_a_rule_naming_a_group_or_prefix_list_cannot_be_judged() -> None:
    named = IngressPermission("sg-1", "udp", 4789, 4789, (), ("sg-appliances",))
    problem = ingress_problem(ingress(named), ["10.1.0.0/16"])
    assert problem is not None and unjudged(problem) and "sg-appliances" in problem


def test_the_network_acl_decides_by_its_first_matching_entry() -> None:
    deny_first = (AclEntry(90, "17", 4789, 4789, "10.1.0.0/16", False), *OPEN_ACL)
    problem = ingress_problem(ingress(udp("10.1.0.0/16"), acl=deny_first), ["10.1.0.0/16"])
    assert problem is not None and "rule 90 denies" in problem
    allow_first = (AclEntry(80, "17", 4789, 4789, "10.1.0.0/16", True), *deny_first)
    assert ingress_problem(ingress(udp("10.1.0.0/16"), acl=allow_first), ["10.1.0.0/16"]) is None
    only_tcp = (AclEntry(100, "6", 0, 65535, "0.0.0.0/0", True), AclEntry(32767, "-1", None, None, "0.0.0.0/0", False))
    assert ingress_problem(ingress(udp("10.1.0.0/16"), acl=only_tcp), ["10.1.0.0/16"]) is not None
    part = (AclEntry(100, "17", 4789, 4789, "10.1.0.0/24", True), *OPEN_ACL)
    problem = ingress_problem(ingress(udp("10.1.0.0/16"), acl=part), ["10.1.0.0/16"])
    assert problem is not None and "only part of" in problem
    unread = ingress_problem(ingress(udp("10.1.0.0/16"), acl=None), ["10.1.0.0/16"])
    assert unread is not None and unjudged(unread)


# -- the planner: an unhealthy target gets no new session, and is reported --------------------------------------
SETTINGS = Settings(target_ids=("tmt-eni", "tmt-nlb"), filter_id="tmf-1", managed_by="stack")


def plan(targets: dict[str, MirrorTarget], settings: Settings = SETTINGS, sessions: tuple[MirrorSession, ...] = ()):  # type: ignore[no-untyped-def]
    source = Instance(
        "i-1", "running", "m5.large", "zone-a", {"mirror": "true"}, (AttachedEni("eni-1", vpc_id="vpc-1"),)
    )
    return plan_mirroring(
        Inventory(
            {"i-1": source},
            list(sessions),
            {"eni-1": "i-1"},
            targets,
            {"m5.large": Verdict.SUPPORTED},
            vpc_cidrs={"vpc-1": ("10.1.0.0/16",)},
        ),
        settings,
    )


def eni_target(*permissions: IngressPermission) -> MirrorTarget:
    return MirrorTarget(
        "tmt-eni", "network-interface", 10, frozenset({"zone-a"}), vpc_id="vpc-1", ingress=ingress(*permissions)
    )


def test_an_eni_target_that_admits_no_vxlan_gets_no_session_and_is_reported() -> None:
    nlb = MirrorTarget("tmt-nlb", "network-load-balancer", None, frozenset({"zone-b"}), vpc_id="vpc-1")
    result = plan({"tmt-eni": eni_target(), "tmt-nlb": nlb})
    assert result.creates[0].target_ids == ("tmt-nlb",)
    assert "admit no UDP 4789" in result.unhealthy_targets["tmt-eni"]
    only = plan({"tmt-eni": eni_target()})
    assert only.creates == [] and only.subjects["i-1"].status == Reason.NO_HEALTHY_TARGET


def test_a_healthy_pool_reports_nothing() -> None:
    result = plan({"tmt-eni": eni_target(udp("10.1.0.0/16"))})
    assert result.creates[0].target_ids == ("tmt-eni",) and result.unhealthy_targets == {}


def test_an_unjudged_target_is_unhealthy_unless_the_operator_accepts_it() -> None:
    named = eni_target(IngressPermission("sg-1", "udp", 4789, 4789, (), ("pl-123",)))
    assert plan({"tmt-eni": named}).creates == []
    accepted = Settings(target_ids=("tmt-eni",), filter_id="tmf-1", accept_unjudged_targets=frozenset({"tmt-eni"}))
    assert plan({"tmt-eni": named}, accepted).creates[0].target_ids == ("tmt-eni",)


def test_a_session_on_an_unhealthy_target_moves_when_a_healthy_one_has_room_and_stays_otherwise() -> None:
    ours = MirrorSession("tms-1", "eni-1", "tmt-eni", "tmf-1", 1, {"mirror-managed-by": "stack"})
    nlb = MirrorTarget("tmt-nlb", "network-load-balancer", None, vpc_id="vpc-1")
    moved = plan({"tmt-eni": eni_target(), "tmt-nlb": nlb}, sessions=(ours,))
    assert [(u.target_ids[0], u.reason) for u in moved.updates] == [("tmt-nlb", Reason.TARGET_UNHEALTHY)]
    kept = plan({"tmt-eni": eni_target()}, sessions=(ours,))
    assert kept.updates == [] and kept.deletes == []  # our judgement may be wrong: it is not deleted


def test_an_nlb_without_cross_zone_is_unhealthy() -> None:
    nlb = MirrorTarget("tmt-nlb", "network-load-balancer", None, health_problem="cross-zone load balancing is off")
    result = plan({"tmt-nlb": nlb})
    assert result.creates == [] and "cross-zone" in result.unhealthy_targets["tmt-nlb"]


def test_unhealthy_is_judged_only_for_the_vpcs_that_reach_the_target() -> None:
    """A discovered target serves its own VPC: a source elsewhere neither uses it nor makes it unhealthy."""
    discovering = Settings(target_ids=(), filter_id="tmf-1", managed_by="stack", target_pool="prod")
    target = MirrorTarget(
        "tmt-1",
        "network-interface",
        10,
        vpc_id="vpc-1",
        tags={"mirror-pool": "prod"},
        ingress=ingress(udp("10.1.0.0/16")),
    )

    def unhealthy(source_vpc: str, cidr: str, target: MirrorTarget = target) -> dict[str, str]:
        source = Instance(
            "i-1", "running", "m5.large", "zone-a", {"mirror": "true"}, (AttachedEni("eni-1", vpc_id=source_vpc),)
        )
        inventory = Inventory(
            {"i-1": source},
            [],
            {"eni-1": "i-1"},
            {"tmt-1": target},
            {"m5.large": Verdict.SUPPORTED},
            vpc_cidrs={source_vpc: (cidr,)},
        )
        return plan_mirroring(inventory, discovering).unhealthy_targets

    assert unhealthy("vpc-2", "10.2.0.0/16") == {}  # cannot reach it: not its problem
    assert unhealthy("vpc-1", "10.1.0.0/16") == {}  # admitted
    closed = MirrorTarget(
        "tmt-1", "network-interface", 10, vpc_id="vpc-1", tags={"mirror-pool": "prod"}, ingress=ingress()
    )
    assert unhealthy("vpc-1", "10.1.0.0/16", closed)["tmt-1"].startswith("vpc-1: ")
