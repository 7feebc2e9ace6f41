"""Which instance types can be a Traffic Mirroring source.

AWS publishes the rule as prose and changes it; there is no API attribute. So the rule is data here, and an operator
extends or overrides it with ELIGIBILITY_ALLOW / ELIGIBILITY_DENY (families like ``m6i`` or types like ``m6i.large``).
AWS's ``NetworkInterfaceNotSupported`` answer stays the final word at creation time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Virtualized Nitro families that AWS nevertheless lists as unsupported sources.
EXCLUDED_NITRO_FAMILIES = frozenset(
    [
        "m8g",
        "m6a",
        "m6i",
        "m6id",
        "m6idn",
        "m6in",
        "m7a",
        "m7g",
        "m7gd",
        "m7i",
        "m7i-flex",
        "c8g",
        "c6a",
        "c6gd",
        "c6gn",
        "c6i",
        "c6id",
        "c6in",
        "c7a",
        "c7g",
        "c7gd",
        "c7gn",
        "c7i",
        "r8g",
        "r6a",
        "r6i",
        "r6id",
        "r6idn",
        "r6in",
        "r7a",
        "r7g",
        "r7gd",
        "r7i",
        "r7iz",
        "x8g",
        "x2idn",
        "x2iedn",
        "x2iezn",
        "i4g",
        "i4i",
        "im4gn",
        "is4gen",
        "inf2",
        "p5",
        "trn1",
        "trn1n",
        "hpc6a",
        "hpc6id",
        "hpc7a",
        "hpc7g",
    ]
)

# The only Xen families that are supported sources.
SUPPORTED_XEN_FAMILIES = frozenset(["c4", "d2", "g3", "g3s", "h1", "i3", "m4", "p2", "p3", "r4", "x1", "x1e"])

UNSUPPORTED_INSTANCE_TYPE = "unsupported-instance-type"


@dataclass(frozen=True)
class InstanceTypeInfo:
    """The facts of DescribeInstanceTypes that the rule needs."""

    instance_type: str
    hypervisor: str | None
    bare_metal: bool
    default_vcpus: int = 0


def family_of(instance_type: str) -> str:
    return instance_type.split(".", 1)[0].lower()


def is_supported_source(
    info: InstanceTypeInfo,
    allow: Iterable[str] = (),
    deny: Iterable[str] = (),
) -> bool:
    """The documented rule: virtualized Nitro minus excluded families, plus listed Xen families, never bare metal.

    Operator overrides win over the rule; an exact type wins over its family, and deny wins over allow.
    """
    name = info.instance_type.lower()
    family = family_of(name)
    allow_set, deny_set = frozenset(allow), frozenset(deny)
    if name in deny_set:
        return False
    if name in allow_set:
        return True
    if family in deny_set:
        return False
    if family in allow_set:
        return True
    if info.bare_metal or name.endswith(".metal") or ".metal-" in name:
        return False
    if info.hypervisor == "nitro":
        return family not in EXCLUDED_NITRO_FAMILIES
    if info.hypervisor == "xen":
        return family in SUPPORTED_XEN_FAMILIES
    return False
