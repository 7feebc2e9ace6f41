"""Session numbers and target choice, without AWS."""

from tests.builders import TARGETS  # ENI targets tmt-a (zone-a) and tmt-b (zone-b), tmt-nlb in both
from traffic_mirroring.model import MirrorSession, MirrorTarget
from traffic_mirroring.placement import TargetUsage, lowest_free_session_number, rank_targets


def session(eni: str, target: str, number: int = 1, sid: str | None = None) -> MirrorSession:
    return MirrorSession(sid or f"tms-{eni}-{number}", eni, target, "tmf-1", number)


def test_lowest_free_number_fills_gaps() -> None:
    assert lowest_free_session_number([]) == 1
    assert lowest_free_session_number([1, 2]) == 3
    assert lowest_free_session_number([2, 3]) == 1
    assert lowest_free_session_number([1, 3]) == 2


def test_no_free_number_when_all_are_taken() -> None:
    assert lowest_free_session_number(range(1, 32767)) is None


def test_same_zone_is_preferred() -> None:
    ranked = rank_targets(["tmt-b", "tmt-a"], TARGETS, TargetUsage([]), "eni-1", "zone-a")
    assert ranked == ("tmt-a", "tmt-b")


def test_least_used_target_wins_within_a_zone() -> None:
    usage = TargetUsage([session("eni-x", "tmt-a")])
    ranked = rank_targets(["tmt-a", "tmt-nlb"], TARGETS, usage, "eni-1", "zone-a")
    assert ranked == ("tmt-nlb", "tmt-a")


def test_full_eni_target_is_left_out() -> None:
    usage = TargetUsage([session(f"eni-{i}", "tmt-a") for i in range(10)])
    assert rank_targets(["tmt-a", "tmt-b"], TARGETS, usage, "eni-new", "zone-a") == ("tmt-b",)


def test_an_eni_already_mirroring_to_a_full_target_still_fits() -> None:
    usage = TargetUsage([session(f"eni-{i}", "tmt-a") for i in range(10)])
    assert rank_targets(["tmt-a"], TARGETS, usage, "eni-3", "zone-a") == ("tmt-a",)


def test_largest_size_eni_target_takes_100() -> None:
    big = MirrorTarget("tmt-big", "network-interface", 100)
    usage = TargetUsage([session(f"eni-{i}", "tmt-big") for i in range(99)])
    assert rank_targets(["tmt-big"], {"tmt-big": big}, usage, "eni-new", "z") == ("tmt-big",)
    usage.add("tmt-big", "eni-new")
    assert rank_targets(["tmt-big"], {"tmt-big": big}, usage, "eni-newer", "z") == ()


def test_nlb_has_no_source_limit() -> None:
    usage = TargetUsage([session(f"eni-{i}", "tmt-nlb") for i in range(500)])
    assert rank_targets(["tmt-nlb"], TARGETS, usage, "eni-new", "zone-a") == ("tmt-nlb",)


def test_unknown_target_ids_are_left_out() -> None:
    assert rank_targets(["tmt-gone", "tmt-a"], TARGETS, TargetUsage([]), "eni-1", "zone-a") == ("tmt-a",)


def test_the_last_session_number_is_still_free() -> None:
    assert lowest_free_session_number(range(1, 32766)) == 32766


def test_source_counts_known_only_from_a_cache_count() -> None:
    usage = TargetUsage([], {"tmt-a": ["eni-1", "eni-2"], "tmt-b": []})
    assert (usage.sources("tmt-a"), usage.sources("tmt-b"), usage.sources("tmt-c")) == (2, 0, 0)
