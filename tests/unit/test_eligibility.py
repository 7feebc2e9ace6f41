"""Which types AWS documents as sources, which targets take 100 sources, and what the product learns from AWS."""

from __future__ import annotations

import pytest

from traffic_mirroring.aws_lists import LISTS_DATE, LISTS_SOURCE
from traffic_mirroring.eligibility import TypeVerdicts, Verdict, eni_target_source_limit, is_bare_metal, listed_verdict

SUPPORTED = [
    "m6i.large",
    "m7i.large",
    "m7i-flex.large",
    "m7g.large",
    "c7g.large",
    "c6gn.large",
    "r7i.large",
    "i4i.large",
    "t3.micro",
    "c4.large",
    "m5.metal",
    "mac2.metal",
]
NOT_SUPPORTED = ["t2.micro", "r3.large", "g3s.xlarge", "c6i.metal"]
ASKED_OF_AWS = ["m8g.large", "m8i.large"]


@pytest.mark.parametrize("instance_type", SUPPORTED)
def test_listed_families_are_supported(instance_type: str) -> None:
    assert listed_verdict(instance_type) == Verdict.SUPPORTED


@pytest.mark.parametrize("instance_type", NOT_SUPPORTED)
def test_types_the_page_does_not_list_are_not_supported_by_it(instance_type: str) -> None:
    # Previous-generation families that left the list, and bare metal of other Nitro versions.
    assert listed_verdict(instance_type) == Verdict.UNSUPPORTED


@pytest.mark.parametrize("instance_type", [*NOT_SUPPORTED, *ASKED_OF_AWS])
def test_aws_has_the_last_word_on_every_type_the_page_does_not_list(instance_type: str) -> None:
    assert TypeVerdicts().verdict(instance_type) == Verdict.ASK_AWS
    assert TypeVerdicts().verdict(instance_type, deny=[instance_type.split(".")[0]]) == Verdict.UNSUPPORTED


@pytest.mark.parametrize("instance_type", ASKED_OF_AWS)
def test_families_newer_than_the_list_are_asked_of_aws(instance_type: str) -> None:
    assert listed_verdict(instance_type) == Verdict.ASK_AWS


def test_operator_overrides_win_type_over_family_and_deny_over_allow() -> None:
    assert listed_verdict("m8g.large", allow=["m8g"]) == Verdict.SUPPORTED
    assert listed_verdict("m7i.large", deny=["m7i"]) == Verdict.UNSUPPORTED
    assert listed_verdict("m7i.large", allow=["m7i.large"], deny=["m7i"]) == Verdict.SUPPORTED
    assert listed_verdict("m7i.large", allow=["m7i"], deny=["m7i.large"]) == Verdict.UNSUPPORTED
    assert listed_verdict("m7i.large", allow=["m7i"], deny=["m7i"]) == Verdict.UNSUPPORTED


def test_learned_answers_settle_unlisted_types_and_a_refusal_is_final_even_for_listed_ones() -> None:
    verdicts = TypeVerdicts()
    assert verdicts.learn("m8g.large", True) is True
    assert verdicts.learn("m8g.large", True) is False  # not news the second time
    verdicts.learn("t2.nano", True)
    verdicts.learn("m7i.large", False)
    assert verdicts.verdict("m8g.large") == Verdict.SUPPORTED
    assert verdicts.verdict("m8i.large") == Verdict.ASK_AWS
    assert verdicts.verdict("t2.nano") == Verdict.SUPPORTED  # AWS said yes to a type the list does not know
    assert verdicts.verdict("m7i.large") == Verdict.UNSUPPORTED  # NetworkInterfaceNotSupported wins over the list
    assert verdicts.learned() == {
        "m8g.large": Verdict.SUPPORTED,
        "t2.nano": Verdict.SUPPORTED,
        "m7i.large": Verdict.UNSUPPORTED,
    }


@pytest.mark.parametrize("instance_type", ["c5.18xlarge", "p5.4xlarge", "m7i.48xlarge", "g6e.12xlarge"])
def test_eni_targets_on_listed_types_take_100_sources(instance_type: str) -> None:
    assert eni_target_source_limit(instance_type) == 100


@pytest.mark.parametrize("instance_type", ["t3.2xlarge", "m7g.16xlarge", "x1.32xlarge", "c4.8xlarge", None])
def test_every_other_eni_target_takes_10(instance_type: str | None) -> None:
    assert eni_target_source_limit(instance_type) == 10


def test_the_lists_say_where_they_come_from() -> None:
    assert "docs.aws.amazon.com" in LISTS_SOURCE and LISTS_DATE.startswith("20")


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
