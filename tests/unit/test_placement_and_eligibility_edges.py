"""Edges of the pure rules: the last session number, source counts known only from a cache, bare-metal sizes, and the
operator's allow/deny lists as the learned verdicts see them."""

from __future__ import annotations

import pytest

from traffic_mirroring.eligibility import TypeVerdicts, Verdict, is_bare_metal, listed_verdict
from traffic_mirroring.placement import TargetUsage, lowest_free_session_number


def test_the_last_session_number_is_still_free() -> None:
    assert lowest_free_session_number(range(1, 32766)) == 32766


def test_source_counts_known_only_from_a_cache_count() -> None:
    usage = TargetUsage([], {"tmt-a": ["eni-1", "eni-2"], "tmt-b": []})
    assert (usage.sources("tmt-a"), usage.sources("tmt-b"), usage.sources("tmt-c")) == (2, 0, 0)


@pytest.mark.parametrize("size", ["metal", "metal-24xl", "metal-48xl"])
def test_every_bare_metal_size_is_bare_metal(size: str) -> None:
    assert is_bare_metal(f"m7i.{size}")


def test_bare_metal_of_a_family_on_neither_list_is_not_supported() -> None:
    assert listed_verdict("m8g.metal-24xl") == Verdict.UNSUPPORTED
    assert listed_verdict("c7gn.metal") == Verdict.UNSUPPORTED


def test_the_operators_exact_type_deny_wins_over_the_list() -> None:
    assert TypeVerdicts().verdict("m5.large", deny={"m5.large"}) == Verdict.UNSUPPORTED
    assert TypeVerdicts().verdict("M5.Large", deny={"m5.large"}) == Verdict.UNSUPPORTED


def test_the_operators_allow_settles_an_unlisted_family() -> None:
    assert TypeVerdicts().verdict("m8g.large", allow={"m8g"}) == Verdict.SUPPORTED
    assert TypeVerdicts().verdict("m8g.large") == Verdict.ASK_AWS
