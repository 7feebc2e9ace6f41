"""Target preflight: does what AWS lets us see of an ENI target admit VXLAN (UDP 4789) from a source VPC? Pure.

AWS: "You must configure a security group for the traffic mirror target that allows VXLAN traffic (UDP port 4789)
from the traffic mirror source" (create-traffic-mirroring-target.html), and the subnet's network ACL, stateless,
must admit it too. A security group admits what any of its inbound permissions admits; a network ACL applies its
inbound entries in rule-number order, the first that matches decides, and its last entry (``*``) denies.

A rule this code cannot judge (one that names another security group or a prefix list: whether the source is in it
is not visible here) makes the verdict "cannot judge": an operator may accept such targets (AcceptUnjudgedTargets).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

VXLAN_PORT = 4789
UDP = frozenset({"udp", "17", "-1", "all"})
CANNOT_JUDGE = "cannot judge: "


@dataclass(frozen=True)
class IngressPermission:
    """One inbound permission of a security group, as DescribeSecurityGroups gives it."""

    group_id: str
    protocol: str
    from_port: int | None
    to_port: int | None
    cidrs: tuple[str, ...] = ()
    unjudged: tuple[str, ...] = ()  # security groups and prefix lists it names


@dataclass(frozen=True)
class AclEntry:
    """One inbound entry of a network ACL."""

    rule_number: int
    protocol: str
    from_port: int | None
    to_port: int | None
    cidr: str
    allow: bool


@dataclass(frozen=True)
class TargetIngress:
    """What decides whether an ENI target receives: its security groups' inbound permissions and its subnet's ACL.
    ``acl`` None: the ACL could not be read (unjudged)."""

    security_groups: tuple[str, ...]
    permissions: tuple[IngressPermission, ...]
    acl_id: str
    acl: tuple[AclEntry, ...] | None


def _carries_vxlan(protocol: str, from_port: int | None, to_port: int | None) -> bool:
    if protocol.lower() not in UDP:
        return False
    if protocol in ("-1", "all") or from_port is None or to_port is None or from_port == -1:
        return True
    return from_port <= VXLAN_PORT <= to_port


def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None


def _covers(outer: str, inner: str) -> bool:
    a, b = _network(outer), _network(inner)
    return a is not None and b is not None and a.version == b.version and b.subnet_of(a)  # type: ignore[arg-type]


def _overlaps(one: str, other: str) -> bool:
    a, b = _network(one), _network(other)
    return a is not None and b is not None and a.version == b.version and a.overlaps(b)  # type: ignore[arg-type]


def security_group_problem(ingress: TargetIngress, source_cidr: str) -> str | None:
    """None when a permission admits UDP 4789 from the whole source CIDR; else why not."""
    vxlan = [p for p in ingress.permissions if _carries_vxlan(p.protocol, p.from_port, p.to_port)]
    if any(_covers(cidr, source_cidr) for p in vxlan for cidr in p.cidrs):
        return None
    unjudged = sorted({name for p in vxlan for name in p.unjudged})
    if unjudged:
        return f"{CANNOT_JUDGE}security group rules name {', '.join(unjudged)}"
    groups = ", ".join(ingress.security_groups) or "(none)"
    return f"its security groups ({groups}) admit no UDP {VXLAN_PORT} from {source_cidr}"


def network_acl_problem(ingress: TargetIngress, source_cidr: str) -> str | None:
    """None when the ACL's first matching inbound entry allows UDP 4789 from the whole source CIDR; else why not."""
    if ingress.acl is None:
        return f"{CANNOT_JUDGE}its subnet's network ACL could not be read"
    for entry in sorted(ingress.acl, key=lambda e: e.rule_number):
        if not _carries_vxlan(entry.protocol, entry.from_port, entry.to_port):
            continue
        if _covers(entry.cidr, source_cidr):
            if entry.allow:
                return None
            return f"network ACL {ingress.acl_id} rule {entry.rule_number} denies UDP {VXLAN_PORT} from {source_cidr}"
        if _overlaps(entry.cidr, source_cidr):
            verb = "allows" if entry.allow else "denies"
            return (
                f"network ACL {ingress.acl_id} rule {entry.rule_number} {verb} UDP {VXLAN_PORT} from only part of "
                f"{source_cidr} ({entry.cidr})"
            )
    return f"network ACL {ingress.acl_id} admits no UDP {VXLAN_PORT} from {source_cidr}"


def ingress_problem(ingress: TargetIngress, source_cidrs: Sequence[str]) -> str | None:
    """The first reason the target would drop VXLAN from any of the source VPC's CIDRs; None when it admits all."""
    for cidr in source_cidrs:
        problem = security_group_problem(ingress, cidr) or network_acl_problem(ingress, cidr)
        if problem:
            return problem
    return None


def unjudged(problem: str) -> bool:
    return problem.startswith(CANNOT_JUDGE)
