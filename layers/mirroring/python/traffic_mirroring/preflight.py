"""Target preflight: will a target receive the copies of a given source, by what AWS lets us see? Pure.

Each finding has a grade:

- ``dead``: AWS delivers nothing to the target (its resource is gone, an NLB without a UDP 4789 listener, an endpoint
  not ``available``, an appliance not running). The gateway reads these as the target's liveness.
- ``drops``: proof that copies are dropped: the target's security groups (or an NLB's own), or its subnet's network
  ACL, do not admit UDP 4789 from the address a source sends its copies from.
- ``advisory``: a risk, not a loss: an NLB without cross-zone load balancing, a rule this code cannot judge (one that
  names a security group or a prefix list: whether a source is in it is not visible here), a network ACL that could
  not be read.

The copies' outer source address is the source ENI's primary private IP address ("Source IP address — The primary IP
address of the source network interface",
https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-packet-formats.html), so that address is what the
target's rules must admit: "The security groups for a traffic mirror target must allow VXLAN traffic (UDP port 4789)
from the traffic mirror source" (https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-targets.html).
A security group admits what any of its inbound rules admits, and an ENI's groups admit the union of theirs; a network
ACL applies its inbound entries in rule-number order, the first that matches decides, and its last entry (``*``)
denies (https://docs.aws.amazon.com/vpc/latest/userguide/nacl-rules.html). An NLB without security groups admits
every client ("If you don't assign a security group to your Network Load Balancer, all client traffic can reach the
Network Load Balancer listeners",
https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-security-groups.html).
An address is judged only against rules of its own IP version: an IPv4 source needs no IPv6 rule.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

VXLAN_PORT = 4789
UDP = frozenset({"udp", "17", "-1", "all"})
ADDRESSES_NAMED = 10  # a reason names this many addresses, then counts the rest (a status line, not a listing)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Grade(StrEnum):
    """How bad a finding is: AWS delivers nothing, copies are provably dropped, or a risk only."""

    DEAD = "dead"
    DROPS = "drops"
    ADVISORY = "advisory"


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
    """What decides whether a target receives: its security groups' inbound permissions and, for an ENI target, its
    subnet's network ACL. ``acl`` None: the ACL could not be read (cannot judge). ``load_balancer``: these are an
    NLB's own security groups (no network ACL of its own is judged)."""

    security_groups: tuple[str, ...]
    permissions: tuple[IngressPermission, ...]
    acl_id: str = ""
    acl: tuple[AclEntry, ...] | None = None
    load_balancer: bool = False

    @property
    def groups_text(self) -> str:
        owner = "its Network Load Balancer's security groups" if self.load_balancer else "its security groups"
        return f"{owner} ({', '.join(self.security_groups) or 'none'})"


@dataclass(frozen=True)
class Finding:
    """One finding about a target: its grade, its cause and the source addresses it concerns (none: the whole
    target). ``reason`` reads as one sentence, e.g. "its security groups (sg-1) admit no UDP 4789 from 10.0.1.5"."""

    grade: Grade
    cause: str
    addresses: tuple[str, ...] = ()
    remedy: str = ""  # what to do, for advisories

    @property
    def reason(self) -> str:
        named = ", ".join(self.addresses[:ADDRESSES_NAMED])
        if len(self.addresses) > ADDRESSES_NAMED:
            named += f" and {len(self.addresses) - ADDRESSES_NAMED} more"
        told = f"{self.cause} {named}" if named else self.cause
        return f"{told}: {self.remedy}" if self.remedy else told


@dataclass
class _Parsed:
    """A target's ingress with every CIDR parsed once (judging thousands of sources must stay cheap)."""

    vxlan_networks: list[Network] = field(default_factory=list)  # what the security groups admit for UDP 4789
    unjudged: tuple[str, ...] = ()  # groups and prefix lists named by UDP 4789 permissions
    acl: list[tuple[AclEntry, Network]] | None = None  # the ACL's UDP 4789 entries, in rule order


def _carries_vxlan(protocol: str, from_port: int | None, to_port: int | None) -> bool:
    if protocol.lower() not in UDP:
        return False
    if protocol in ("-1", "all") or from_port is None or to_port is None or from_port == -1:
        return True
    return from_port <= VXLAN_PORT <= to_port


def _network(cidr: str) -> Network | None:
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _contains(network: Network, address: Address) -> bool:
    return address in network  # False for an address of the other IP version: an IPv4 source needs no IPv6 rule


def _parse(ingress: TargetIngress) -> _Parsed:
    vxlan = [p for p in ingress.permissions if _carries_vxlan(p.protocol, p.from_port, p.to_port)]
    parsed = _Parsed(
        [net for p in vxlan for cidr in p.cidrs if (net := _network(cidr)) is not None],
        tuple(sorted({name for p in vxlan for name in p.unjudged})),
    )
    if ingress.acl is not None:
        parsed.acl = [
            (entry, net)
            for entry in sorted(ingress.acl, key=lambda e: e.rule_number)
            if _carries_vxlan(entry.protocol, entry.from_port, entry.to_port) and (net := _network(entry.cidr))
        ]
    return parsed


class IngressJudge:
    """Judges source addresses against one target's ingress; each address once (memoized), the CIDRs parsed once."""

    def __init__(self, ingress: TargetIngress) -> None:
        self.ingress = ingress
        self._parsed = _parse(ingress)
        self._verdicts: dict[str, tuple[Finding, ...]] = {}

    def judge(self, source_address: str) -> tuple[Finding, ...]:
        """What stops or may stop UDP 4789 from this address; () when it is admitted."""
        if source_address not in self._verdicts:
            self._verdicts[source_address] = self._judge(source_address)
        return self._verdicts[source_address]

    def _judge(self, source_address: str) -> tuple[Finding, ...]:
        address = _address(source_address)
        if address is None:
            return ()  # not an address: nothing to judge
        findings = [f for f in (self._security_groups(address), self._network_acl(address)) if f is not None]
        return tuple(findings)

    def _security_groups(self, address: Address) -> Finding | None:
        parsed, ingress = self._parsed, self.ingress
        if any(_contains(net, address) for net in parsed.vxlan_networks):
            return None
        if parsed.unjudged:
            return Finding(
                Grade.ADVISORY,
                f"cannot judge: {ingress.groups_text} admit UDP {VXLAN_PORT} only through rules that name "
                f"{', '.join(parsed.unjudged)} (whether the sources are in them is not visible)",
                remedy="check that they admit the sources, or add a rule for the sources' addresses; to vouch for "
                "the target, list it in TrustedTargets",
            )
        return Finding(Grade.DROPS, f"{ingress.groups_text} admit no UDP {VXLAN_PORT} from", (str(address),))

    def _network_acl(self, address: Address) -> Finding | None:
        ingress, acl = self.ingress, self._parsed.acl
        if ingress.load_balancer:
            return None
        if acl is None:
            return Finding(
                Grade.ADVISORY,
                "cannot judge: its subnet's network ACL could not be read",
                remedy="check that it admits UDP 4789 from the sources",
            )
        for entry, network in acl:
            if _contains(network, address):
                if entry.allow:
                    return None
                cause = f"network ACL {ingress.acl_id} rule {entry.rule_number} denies UDP {VXLAN_PORT} from"
                return Finding(Grade.DROPS, cause, (str(address),))
        return Finding(Grade.DROPS, f"network ACL {ingress.acl_id} admits no UDP {VXLAN_PORT} from", (str(address),))


def cross_zone_advisory(cross_zone: bool | None, decided_by: str) -> Finding | None:
    """An NLB without cross-zone load balancing is a risk, not a loss: "If all registered target instances in an
    Availability Zone become unhealthy and cross-zone load balancing is disabled, the load balancer can't send the
    mirrored traffic to target instances in another Availability Zone", and a zone added later receives nothing
    (https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-targets.html#traffic-mirroring-targets-nlb).
    ``cross_zone`` None: not known (``decided_by`` then says why it could not be read; "": not an NLB)."""
    if cross_zone is None and decided_by:
        return Finding(
            Grade.ADVISORY,
            f"cannot judge cross-zone load balancing ({decided_by})",
            remedy="allow elasticloadbalancing:DescribeTargetGroupAttributes and DescribeLoadBalancerAttributes",
        )
    if cross_zone is not False:
        return None
    where = decided_by or "its Network Load Balancer"
    return Finding(
        Grade.ADVISORY,
        f"cross-zone load balancing is off ({where}): copies reaching a zone whose appliances are all unhealthy "
        "are lost, and a zone added later receives nothing",
        remedy="register healthy appliances in every zone the load balancer serves, or turn cross-zone load "
        "balancing on (target group attribute load_balancing.cross_zone.enabled=true)",
    )


def merge(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per grade and cause, with the addresses of all of them (in address order): what a report names."""
    merged: dict[tuple[Grade, str, str], set[str]] = {}
    for finding in findings:
        merged.setdefault((finding.grade, finding.cause, finding.remedy), set()).update(finding.addresses)
    return [
        Finding(grade, cause, tuple(sorted(addresses, key=_address_order)), remedy)
        for (grade, cause, remedy), addresses in merged.items()
    ]


def _address_order(text: str) -> tuple[int, int, str]:
    address = _address(text)
    return (address.version, int(address), text) if address is not None else (9, 0, text)


def worst(findings: Iterable[Finding]) -> Grade | None:
    """The worst grade among these findings (dead, then drops, then advisory); None when there are none."""
    grades = {f.grade for f in findings}
    return next((g for g in (Grade.DEAD, Grade.DROPS, Grade.ADVISORY) if g in grades), None)
