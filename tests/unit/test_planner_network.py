"""Pools discovered by tag and placement that follows the network: a source is placed only on a pool target its VPC
can reach, its own VPC's first; a target whose pool tag goes away is retired; a session whose target its VPC cannot
reach is moved, or deleted when nothing reachable is left (it bills and mirrors nothing)."""

from __future__ import annotations

from tests import builders
from tests.builders import SUPPORTED, settings
from traffic_mirroring.config import Settings, load_settings
from traffic_mirroring.errors import ConfigurationError
from traffic_mirroring.model import AttachedEni, Instance, MirrorSession, MirrorTarget, Plan, Reason
from traffic_mirroring.planner import can_reach, plan_mirroring, reachable_vpcs

ACCOUNT = "111111111111"
SETTINGS = settings(target_pool="prod", account_id=ACCOUNT)


def endpoint(target_id: str, vpc: str, zones: tuple[str, ...] = ("zone-a",), **tags: str) -> MirrorTarget:
    tags = {"mirror-pool": "prod", **{k.replace("_", "-"): v for k, v in tags.items()}}
    return builders.endpoint(target_id, *zones, vpc_id=vpc, owner_id=ACCOUNT, tags=tags)


def source(iid: str, vpc: str, zone: str = "zone-a") -> Instance:
    return builders.instance(iid, enis=(AttachedEni(f"eni-{iid}", vpc_id=vpc),), zone=zone)


def ours(eni: str, target: str, sid: str = "tms-1") -> MirrorSession:
    return builders.session(sid, eni, target, instance_id=None, owner_id=ACCOUNT)


def plan(*instances: Instance, targets: dict[str, MirrorTarget], sessions: tuple[MirrorSession, ...] = ()) -> Plan:
    return builders.plan(*instances, settings=SETTINGS, targets=targets, sessions=sessions, verdicts=SUPPORTED)


def test_a_source_goes_to_the_target_in_its_own_vpc_never_to_another_vpcs() -> None:
    targets = {"tmt-1": endpoint("tmt-1", "vpc-1"), "tmt-2": endpoint("tmt-2", "vpc-2")}
    result = plan(source("i-1", "vpc-1"), source("i-2", "vpc-2"), targets=targets)
    assert {c.eni_id: c.target_ids for c in result.creates} == {"eni-i-1": ("tmt-1",), "eni-i-2": ("tmt-2",)}


def test_a_source_whose_vpc_reaches_no_target_is_skipped_with_its_own_status() -> None:
    result = plan(source("i-3", "vpc-3"), targets={"tmt-1": endpoint("tmt-1", "vpc-1")})
    assert result.creates == []
    assert result.subjects["i-3"].status == Reason.NO_REACHABLE_TARGET


def test_the_own_vpc_comes_before_a_declared_one_then_the_zone_and_load_decide() -> None:
    targets = {
        "tmt-hub": endpoint("tmt-hub", "vpc-hub", ("zone-a",), mirror_reachable_from="vpc-1 vpc-2"),
        "tmt-own-b": endpoint("tmt-own-b", "vpc-1", ("zone-b",)),
        "tmt-own-a": endpoint("tmt-own-a", "vpc-1", ("zone-a",)),
    }
    result = plan(source("i-1", "vpc-1", "zone-a"), targets=targets)
    assert result.creates[0].target_ids == ("tmt-own-a", "tmt-own-b", "tmt-hub")
    result = plan(source("i-2", "vpc-2", "zone-a"), targets=targets)
    assert result.creates[0].target_ids == ("tmt-hub",)


def test_a_declaration_of_every_vpc_reaches_every_source() -> None:
    targets = {"tmt-hub": endpoint("tmt-hub", "vpc-hub", mirror_reachable_from="*")}
    assert plan(source("i-9", "vpc-9"), targets=targets).creates[0].target_ids == ("tmt-hub",)


def test_target_ids_are_reachable_from_everywhere_unless_the_operator_says_otherwise() -> None:
    shared = MirrorTarget("tmt-shared", "network-interface", 100, owner_id="999999999999")  # no VPC, no tags seen
    plain = Settings(target_ids=("tmt-shared",), filter_id="tmf-1", account_id=ACCOUNT)
    assert reachable_vpcs(shared, plain) is None
    assert can_reach("vpc-anything", shared, plain)
    declared = load_settings(
        {"FILTER_ID": "tmf-1", "TARGET_IDS": "tmt-shared", "TARGET_REACHABLE_FROM": "tmt-shared=vpc-1 vpc-2"}
    )
    assert can_reach("vpc-2", shared, declared)
    assert not can_reach("vpc-3", shared, declared)


def test_the_operators_word_wins_over_the_targets_tag() -> None:
    target = endpoint("tmt-1", "vpc-1", mirror_reachable_from="*")
    declared = Settings(
        target_ids=(), filter_id="tmf-1", target_pool="prod", target_reachable_from={"tmt-1": frozenset({"vpc-2"})}
    )
    assert can_reach("vpc-2", target, declared)
    assert can_reach("vpc-1", target, declared)  # its own VPC, always
    assert not can_reach("vpc-3", target, declared)


def test_a_bad_reachability_parameter_is_a_clear_error() -> None:
    for bad in ("tmt-1", "tmt-1=", "tmt-1=subnet-1", "vpc-1=vpc-2"):
        try:
            load_settings({"FILTER_ID": "tmf-1", "TARGET_REACHABLE_FROM": bad})
        except ConfigurationError as error:
            assert "TARGET_REACHABLE_FROM" in str(error)
        else:
            raise AssertionError(f"{bad!r} was accepted")


def test_an_unreadable_reachability_tag_is_reported_and_reaches_only_its_own_vpc() -> None:
    targets = {"tmt-1": endpoint("tmt-1", "vpc-1", mirror_reachable_from="all of them")}
    result = plan(source("i-2", "vpc-2"), targets=targets)
    assert result.subjects["i-2"].status == Reason.NO_REACHABLE_TARGET
    assert "tmt-1" in result.reachability_problems


def test_a_session_on_a_target_its_vpc_cannot_reach_moves_to_one_it_can() -> None:
    targets = {"tmt-1": endpoint("tmt-1", "vpc-1"), "tmt-2": endpoint("tmt-2", "vpc-2")}
    result = plan(source("i-1", "vpc-1"), targets=targets, sessions=(ours("eni-i-1", "tmt-2"),))
    assert [(u.session.session_id, u.target_ids[0], u.reason) for u in result.updates] == [
        ("tms-1", "tmt-1", Reason.TARGET_UNREACHABLE)
    ]


def test_a_session_on_an_unreachable_target_with_nothing_reachable_is_deleted() -> None:
    targets = {"tmt-2": endpoint("tmt-2", "vpc-2")}
    result = plan(source("i-1", "vpc-1"), targets=targets, sessions=(ours("eni-i-1", "tmt-2"),))
    assert [(d.session.session_id, d.reason) for d in result.deletes] == [("tms-1", Reason.TARGET_UNREACHABLE)]
    assert result.subjects["i-1"].status == Reason.NO_REACHABLE_TARGET


def test_a_target_whose_pool_tag_is_removed_is_retired_and_its_sessions_move() -> None:
    untagged = MirrorTarget("tmt-old", "gateway-load-balancer-endpoint", None, vpc_id="vpc-1", owner_id=ACCOUNT)
    targets = {"tmt-old": untagged, "tmt-new": endpoint("tmt-new", "vpc-1")}
    result = plan(source("i-1", "vpc-1"), targets=targets, sessions=(ours("eni-i-1", "tmt-old"),))
    assert [(u.target_ids[0], u.reason) for u in result.updates] == [("tmt-new", Reason.TARGET_RETIRED)]
    assert result.pool == ("tmt-new",)


def test_a_discovered_target_can_be_chosen_by_an_instance_override() -> None:
    targets = {"tmt-1": endpoint("tmt-1", "vpc-1"), "tmt-x": endpoint("tmt-x", "vpc-1", mirror_pool="other")}
    pinned = builders.instance(
        "i-1", tags={"mirror": "true", "mirror-target": "tmt-1"}, enis=(AttachedEni("eni-1", vpc_id="vpc-1"),)
    )
    assert plan(pinned, targets=targets).creates[0].target_ids == ("tmt-1",)
    refused = builders.instance(
        "i-2", tags={"mirror": "true", "mirror-target": "tmt-x"}, enis=(AttachedEni("eni-2", vpc_id="vpc-1"),)
    )
    assert plan(refused, targets=targets).subjects["i-2"].status == Reason.TARGET_NOT_APPROVED


def test_a_single_vpc_stack_without_vpc_facts_changes_nothing() -> None:
    """Today's users: TargetIds only, and sources or targets whose VPC is not known still place as before."""
    plain = settings("tmt-a", "tmt-b")
    targets = {t: builders.nlb(t, "zone-a") for t in ("tmt-a", "tmt-b")}
    inventory = builders.inventory(builders.instance(), targets=targets, verdicts=SUPPORTED)
    assert plan_mirroring(inventory, plain).creates[0].target_ids == ("tmt-a", "tmt-b")
