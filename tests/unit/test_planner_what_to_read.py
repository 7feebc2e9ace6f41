"""What the planner tells the inventory to read: the candidate targets, which instances are judged by their type, and
whether target facts are worth reading at all (the event path skips them when nothing could be placed)."""

from __future__ import annotations

from datetime import UTC, datetime

from tests import builders
from tests.builders import SUPPORTED, endpoint, nlb, settings
from traffic_mirroring.config import Settings
from traffic_mirroring.eligibility import Verdict
from traffic_mirroring.model import AttachedEni, Instance, MirrorSession, MirrorTarget
from traffic_mirroring.planner import candidate_targets, is_judged, needs_placement

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
SETTINGS = settings("tmt-a", "tmt-b")
TARGETS = {t: nlb(t, vpc_id="vpc-hub") for t in ("tmt-a", "tmt-b")}


def instance(
    state: str = "running", tags: dict[str, str] | None = None, enis: tuple[AttachedEni, ...] = (AttachedEni("eni-1"),)
) -> Instance:
    return builders.instance("i-1", state, tags, enis)


def ours(eni: str, target: str = "tmt-a") -> MirrorSession:
    return builders.session(f"tms-{eni}-{target}", eni, target, instance_id=None)


def test_the_pool_is_the_candidates_unless_an_approved_override_names_one() -> None:
    assert candidate_targets(instance(), SETTINGS, TARGETS) == ("tmt-a", "tmt-b")
    assert candidate_targets(instance(tags={"mirror": "true", "mirror-target": "tmt-b"}), SETTINGS, TARGETS) == (
        "tmt-b",
    )
    assert candidate_targets(instance(tags={"mirror": "true", "mirror-target": "tmt-evil"}), SETTINGS, TARGETS) == ()


def test_only_a_running_tagged_instance_is_judged() -> None:
    assert is_judged(instance(), SETTINGS, NOW)
    assert not is_judged(instance(state="stopped"), SETTINGS, NOW)
    assert not is_judged(instance(tags={}), SETTINGS, NOW)


def test_an_unmirrored_eni_needs_placement() -> None:
    assert needs_placement(instance(), [], SETTINGS, SUPPORTED, TARGETS, NOW)


def test_an_eni_mirrored_to_a_candidate_needs_none() -> None:
    assert not needs_placement(instance(), [ours("eni-1")], SETTINGS, SUPPORTED, TARGETS, NOW)


def test_an_eni_mirrored_to_a_target_out_of_the_pool_needs_placement() -> None:
    assert needs_placement(instance(), [ours("eni-1", "tmt-retired")], SETTINGS, SUPPORTED, TARGETS, NOW)


def test_a_session_not_ours_does_not_count_as_mirrored() -> None:
    theirs = MirrorSession("tms-x", "eni-1", "tmt-a", "tmf-1", 1, {"team": "net"})
    assert needs_placement(instance(), [theirs], SETTINGS, SUPPORTED, TARGETS, NOW)


def test_one_unmirrored_eni_of_several_needs_placement() -> None:
    two = instance(enis=(AttachedEni("eni-1"), AttachedEni("eni-2")))
    assert needs_placement(two, [ours("eni-1")], SETTINGS, SUPPORTED, TARGETS, NOW)
    assert not needs_placement(two, [ours("eni-1"), ours("eni-2", "tmt-b")], SETTINGS, SUPPORTED, TARGETS, NOW)


def test_an_override_target_decides_what_counts_as_mirrored() -> None:
    pinned = instance(tags={"mirror": "true", "mirror-target": "tmt-b"})
    assert needs_placement(pinned, [ours("eni-1", "tmt-a")], SETTINGS, SUPPORTED, TARGETS, NOW)
    assert not needs_placement(pinned, [ours("eni-1", "tmt-b")], SETTINGS, SUPPORTED, TARGETS, NOW)


def test_interfaces_that_cannot_be_sources_need_none() -> None:
    efa_only = instance(enis=(AttachedEni("eni-1", interface_type="efa-only"),))
    assert not needs_placement(efa_only, [], SETTINGS, SUPPORTED, TARGETS, NOW)


def test_instances_not_judged_or_of_a_refused_type_need_none() -> None:
    assert not needs_placement(instance(state="stopped"), [], SETTINGS, SUPPORTED, TARGETS, NOW)
    assert not needs_placement(instance(tags={}), [], SETTINGS, SUPPORTED, TARGETS, NOW)
    assert not needs_placement(instance(), [], SETTINGS, {"m5.large": Verdict.UNSUPPORTED}, TARGETS, NOW)
    assert needs_placement(instance(), [], SETTINGS, {"m5.large": Verdict.ASK_AWS}, TARGETS, NOW)
    assert needs_placement(instance(), [], SETTINGS, {}, TARGETS, NOW)


# -- pools discovered by tag, and the network --------------------------------------------------------------------
DISCOVERING = settings(target_pool="prod", account_id="111")


def spoke_target(target_id: str, vpc: str, pool: str = "prod", owner: str = "111") -> MirrorTarget:
    return endpoint(target_id, vpc_id=vpc, tags={"mirror-pool": pool}, owner_id=owner)


def test_targets_tagged_with_the_pool_name_join_the_pool_after_target_ids() -> None:
    targets = {
        "tmt-2": spoke_target("tmt-2", "vpc-1"),
        "tmt-1": spoke_target("tmt-1", "vpc-1"),
        "tmt-other": spoke_target("tmt-other", "vpc-1", pool="staging"),
        "tmt-theirs": spoke_target("tmt-theirs", "vpc-1", owner="222"),
    }
    assert candidate_targets(instance(), DISCOVERING, targets) == ("tmt-1", "tmt-2")
    both = Settings(target_ids=("tmt-z",), filter_id="tmf-1", target_pool="prod", account_id="111")
    assert candidate_targets(instance(), both, targets) == ("tmt-z", "tmt-1", "tmt-2")
    off = Settings(target_ids=("tmt-z",), filter_id="tmf-1", account_id="111")
    assert candidate_targets(instance(), off, targets) == ("tmt-z",)


def test_an_eni_mirrored_to_a_target_its_vpc_cannot_reach_needs_placement() -> None:
    spoke = instance(enis=(AttachedEni("eni-1", vpc_id="vpc-1"),))
    assert not needs_placement(
        spoke, [ours("eni-1", "tmt-1")], DISCOVERING, SUPPORTED, {"tmt-1": spoke_target("tmt-1", "vpc-1")}, NOW
    )
    assert needs_placement(
        spoke, [ours("eni-1", "tmt-1")], DISCOVERING, SUPPORTED, {"tmt-1": spoke_target("tmt-1", "vpc-2")}, NOW
    )


def test_an_eni_mirrored_to_a_dead_target_needs_placement() -> None:
    dead = {t: MirrorTarget(t, "network-load-balancer", None, live=False, problem="gone") for t in ("tmt-a", "tmt-b")}
    assert needs_placement(instance(), [ours("eni-1")], SETTINGS, SUPPORTED, dead, NOW)


def test_an_expired_or_unreadable_window_is_not_judged() -> None:
    assert is_judged(instance(tags={"mirror": "true", "mirror-until": "2026-12-02T13:00:00Z"}), SETTINGS, NOW)
    assert not is_judged(instance(tags={"mirror": "true", "mirror-until": "2026-12-02T12:00:00Z"}), SETTINGS, NOW)
    assert not is_judged(instance(tags={"mirror": "true", "mirror-until": "tomorrow"}), SETTINGS, NOW)
