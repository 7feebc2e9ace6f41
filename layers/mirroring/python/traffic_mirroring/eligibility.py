"""Which instance types can be a Traffic Mirroring source, and how many sources an ENI target takes.

AWS publishes both as lists, not as an API attribute (aws_lists.py). A type on the source list is supported; any
other type is asked of AWS itself by default: the product tries the create and remembers AWS's answer per type
(``TypeVerdicts``). ``NetworkInterfaceNotSupported`` from CreateTrafficMirrorSession is the final word,
even for a listed type. Operators extend or override the list with ELIGIBILITY_ALLOW / ELIGIBILITY_DENY (families
like ``m8g`` or types like ``m8g.large``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from traffic_mirroring.aws_lists import (
    ENI_TARGETS_WITH_100_SOURCES,
    SOURCE_FAMILIES_BARE_METAL,
    SOURCE_FAMILIES_VIRTUALIZED,
)

ENI_TARGET_SOURCES = 10
# Previous-generation families that are not on AWS's page (some left it on 2025-08-28): documented as not supported.
PREVIOUS_GENERATION_FAMILIES = frozenset(
    ["t1", "t2", "m1", "m2", "m3", "c1", "c3", "cc2", "cr1", "g2", "g3s", "hi1", "hs1", "i2", "p2", "r3"]
)
ENI_TARGET_SOURCES_LISTED = 100


class Verdict(StrEnum):
    """Whether an instance type can be a source: listed (or learned) as supported, refused, or to be asked of AWS."""

    SUPPORTED = "supported"
    UNSUPPORTED = "unsupported"
    ASK_AWS = "ask-aws"


def family_of(instance_type: str) -> str:
    return instance_type.split(".", 1)[0].lower()


def is_bare_metal(instance_type: str) -> bool:
    size = instance_type.lower().split(".", 1)[-1]
    return size == "metal" or size.startswith("metal-")


def _override(name: str, allow: Iterable[str], deny: Iterable[str]) -> Verdict | None:
    """The operator's word, if any: an exact type wins over its family, and deny wins over allow."""
    family = family_of(name)
    allow_set, deny_set = frozenset(allow), frozenset(deny)
    for key in (name, family):
        if key in deny_set:
            return Verdict.UNSUPPORTED
        if key in allow_set:
            return Verdict.SUPPORTED
    return None


def listed_verdict(instance_type: str, allow: Iterable[str] = (), deny: Iterable[str] = ()) -> Verdict:
    """What AWS's published page says, with the operator's overrides.

    SUPPORTED: a listed family (bare metal only for the Nitro v2 families listed). UNSUPPORTED: a previous-generation
    family the page does not list (T2, R3, G3s, ...) or bare metal of another Nitro version. ASK_AWS: a family the
    page does not know yet (newer than it).
    """
    name = instance_type.strip().lower()
    family = family_of(name)
    override = _override(name, allow, deny)
    if override is not None:
        return override
    if family in (SOURCE_FAMILIES_BARE_METAL if is_bare_metal(name) else SOURCE_FAMILIES_VIRTUALIZED):
        return Verdict.SUPPORTED
    if is_bare_metal(name) or family in SOURCE_FAMILIES_VIRTUALIZED or family in PREVIOUS_GENERATION_FAMILIES:
        return Verdict.UNSUPPORTED
    return Verdict.ASK_AWS


class TypeVerdicts:
    """AWS's answers about types that are not on its list, learned by trying a create: one probe per type.

    The page is documentation; AWS's answer is the truth. A type the page does not name as a source, old or new,
    is asked of AWS (unless the operator denied it or turned probing off), and the answer is remembered per
    container; the reconciler plans one probe per type and run. ``NetworkInterfaceNotSupported`` is final, even for
    a listed type.
    """

    def __init__(self) -> None:
        self._learned: dict[str, Verdict] = {}

    def learn(self, instance_type: str, supported: bool) -> bool:
        """Record AWS's answer; True when it is news (so the caller logs it once)."""
        verdict = Verdict.SUPPORTED if supported else Verdict.UNSUPPORTED
        previous = self._learned.get(instance_type)
        self._learned[instance_type] = verdict
        return previous != verdict

    def learned(self) -> Mapping[str, Verdict]:
        return dict(self._learned)

    def verdict(self, instance_type: str, allow: Iterable[str] = (), deny: Iterable[str] = ()) -> Verdict:
        """The verdict to act on: the operator's deny, then AWS's refusal, then the list, then AWS's acceptance;
        anything else is to be asked of AWS."""
        name = instance_type.strip().lower()
        learned = self._learned.get(instance_type)
        if _override(name, allow, deny) == Verdict.UNSUPPORTED or learned == Verdict.UNSUPPORTED:
            return Verdict.UNSUPPORTED
        if listed_verdict(name, allow, deny) == Verdict.SUPPORTED or learned == Verdict.SUPPORTED:
            return Verdict.SUPPORTED
        return Verdict.ASK_AWS


def eni_target_source_limit(instance_type: str | None) -> int:
    """100 sources for an ENI target on a type of AWS's explicit list, else 10 (also when the type is unknown)."""
    if instance_type is not None and instance_type.strip().lower() in ENI_TARGETS_WITH_100_SOURCES:
        return ENI_TARGET_SOURCES_LISTED
    return ENI_TARGET_SOURCES
