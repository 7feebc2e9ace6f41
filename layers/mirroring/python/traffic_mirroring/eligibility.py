"""Which instance types can be a Traffic Mirroring source, and how many sources an ENI target takes.

AWS publishes both as lists, not as an API attribute (aws_lists.py). A type on the source list is supported; a type
the list does not know is asked of AWS itself by default: the product tries the create and remembers AWS's answer
per type (``TypeVerdicts``). ``NetworkInterfaceNotSupported`` from CreateTrafficMirrorSession is the final word,
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


def listed_verdict(instance_type: str, allow: Iterable[str] = (), deny: Iterable[str] = ()) -> Verdict:
    """The verdict AWS's published list gives, with the operator's overrides.

    An exact type wins over its family, and deny wins over allow. A type the list does not name is ASK_AWS: AWS
    adds families faster than it updates the page.
    """
    name = instance_type.strip().lower()
    family = family_of(name)
    allow_set, deny_set = frozenset(allow), frozenset(deny)
    if name in deny_set:
        return Verdict.UNSUPPORTED
    if name in allow_set:
        return Verdict.SUPPORTED
    if family in deny_set:
        return Verdict.UNSUPPORTED
    if family in allow_set:
        return Verdict.SUPPORTED
    listed = SOURCE_FAMILIES_BARE_METAL if is_bare_metal(name) else SOURCE_FAMILIES_VIRTUALIZED
    return Verdict.SUPPORTED if family in listed else Verdict.ASK_AWS


class TypeVerdicts:
    """AWS's answers about unlisted types, learned by trying a create: one probe per type, remembered.

    Kept per container (the gateway holds one); the reconciler also starts each run knowing what the container
    learned, so a type costs at most one probe per container and per run.
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
        """The list's verdict; AWS's refusal overrides it, and AWS's answer settles a type the list does not know."""
        listed = listed_verdict(instance_type, allow, deny)
        learned = self._learned.get(instance_type)
        if learned == Verdict.UNSUPPORTED:
            return Verdict.UNSUPPORTED  # NetworkInterfaceNotSupported is final, even for a listed type
        if listed == Verdict.ASK_AWS and learned is not None:
            return learned
        return listed


def eni_target_source_limit(instance_type: str | None) -> int:
    """100 sources for an ENI target on a type of AWS's explicit list, else 10 (also when the type is unknown)."""
    if instance_type is not None and instance_type.strip().lower() in ENI_TARGETS_WITH_100_SOURCES:
        return ENI_TARGET_SOURCES_LISTED
    return ENI_TARGET_SOURCES
