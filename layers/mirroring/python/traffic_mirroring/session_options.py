"""Session options: how much of each packet is mirrored (PacketLength) and under which VXLAN network identifier
(VNI) the copies arrive. The planner asks this module what a session should carry; like the planner it makes no
AWS call.

**PacketLength.** The stack's ``PacketLength`` (None: the whole packet), or an instance's ``mirror-packet-length``
tag when its value is one of ``ApprovedPacketLengths`` (``Settings.packet_length_wanted``). AWS gives a session on
a Network Load Balancer target PacketLength 8500 when none is asked for, so 8500 there counts as "the whole packet".

**VNI** (``VniPolicy``):

- ``aws``: none is asked for; AWS picks one at random, unique in the account. Sessions keep the VNI they have
  (also one another policy gave them: it is as good as a random one, and changing it would only disturb the
  analysers).
- ``per-instance-tag``: the instance's ``mirror-vni`` tag, an integer 0-16777215.
- ``per-vpc``: one VNI for every session of a source VPC (``vpc_vnis``). The rule, in one line:
  **a VPC keeps the VNI most of its managed sessions carry (ties: the lowest) when it is among the first 16 values
  of its sequence h(V), h(V)+1, … (h = SHA-256 of the VPC ID into 1..16777215, wrapping) and no session not of
  ours carries it and no VPC with more sessions on it (ties: the lower VPC ID) keeps it; every other VPC, in
  VPC-ID order, takes the first value of its sequence that no session of another source carries and no VPC
  holds.** So a VPC's VNI is stable across runs (it keeps what its sessions carry), unique among the VPCs the
  account mirrors (a collision moves the newcomer on to the next free value), and known without any state but
  the sessions themselves. An event for one instance sees only that instance's sessions: it keeps what they carry,
  else takes the first value of the sequence (the VPC's VNI but after a collision, which the next scheduled
  reconcile then rolls over by modify).
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from traffic_mirroring.config import VNI_MAX, VNI_POLICY_PER_INSTANCE_TAG, VNI_POLICY_PER_VPC, Settings
from traffic_mirroring.model import TARGET_KIND_NLB, AttachedEni, Instance, Inventory, MirrorSession, MirrorTarget

NLB_DEFAULT_PACKET_LENGTH = 8500  # AWS: "For sessions with NLB targets the default PacketLength will be set to 8500"
REMOVE_PACKET_LENGTH = "packet-length"  # ModifyTrafficMirrorSession RemoveFields: back to the whole packet
KEEP_WINDOW = 16  # a VPC keeps a VNI its sessions carry only among the first this many values of its sequence


@dataclass(frozen=True)
class SessionOptions:
    packet_length: int | None  # None: the whole packet
    virtual_network_id: int | None  # None: whatever AWS picks (or the session already carries)


@dataclass(frozen=True)
class OptionChanges:
    """What a ModifyTrafficMirrorSession must set or remove to give a session its options."""

    packet_length: int | None = None
    virtual_network_id: int | None = None
    remove_fields: tuple[str, ...] = ()


def first_vni(vpc_id: str) -> int:
    """h(V): SHA-256 of the VPC ID (its first 8 bytes) into 1..16777215."""
    return int.from_bytes(hashlib.sha256(vpc_id.encode()).digest()[:8], "big") % VNI_MAX + 1


def vnis_from(first: int) -> Iterator[int]:
    """first, first+1, … through every VNI from 1 to 16777215 once, wrapping after 16777215 to 1."""
    for step in range(VNI_MAX):
        yield (first - 1 + step) % VNI_MAX + 1


def vni_sequence(vpc_id: str) -> Iterator[int]:
    """The VPC's sequence h(V), h(V)+1, … (per-vpc rule, module docstring)."""
    return vnis_from(first_vni(vpc_id))


def instance_vni(instance: Instance, settings: Settings) -> int | None:
    """The instance's ``mirror-vni`` tag as a VNI (0-16777215); None when missing or unreadable."""
    raw = instance.tags.get(settings.vni_tag_key, "").strip()
    if not (raw.isascii() and raw.isdigit()) or int(raw) > VNI_MAX:
        return None
    return int(raw)


def assign_vpc_vnis(
    carried: Mapping[str, Mapping[int, int]], foreign: frozenset[int], vpcs: frozenset[str]
) -> dict[str, int]:
    """VPC → its VNI by the per-vpc rule (module docstring), for ``vpcs`` and every VPC in ``carried``.

    ``carried``: per VPC, how many of our sessions on its ENIs carry each VNI. ``foreign``: VNIs that sessions not
    of ours carry (whatever their VPC).
    """
    assigned: dict[str, int] = {}
    keeper: dict[int, str] = {}
    for vpc in sorted(carried):
        window = set(itertools.islice(vni_sequence(vpc), KEEP_WINDOW))
        counts = {vni: n for vni, n in carried[vpc].items() if vni in window and vni not in foreign}
        if not counts:
            continue
        vni = max(counts, key=lambda v: (counts[v], -v))  # the most sessions; ties: the lowest VNI
        rival = keeper.get(vni)
        if rival is not None:
            if carried[rival][vni] >= counts[vni]:
                continue  # the rival has more sessions on it, or as many and the lower VPC ID (sorted first)
            del assigned[rival]
        assigned[vpc] = vni
        keeper[vni] = vpc
    carriers: dict[int, set[str]] = defaultdict(set)
    for vpc, carried_here in carried.items():
        for vni in carried_here:
            carriers[vni].add(vpc)
    for vpc in sorted((vpcs | set(carried)) - set(assigned)):
        for vni in vni_sequence(vpc):
            if vni not in foreign and vni not in keeper and not carriers.get(vni, set()) - {vpc}:
                assigned[vpc] = vni
                keeper[vni] = vpc
                break
    return assigned


def vpc_vnis(inventory: Inventory, settings: Settings) -> dict[str, int]:
    """Under VniPolicy per-vpc, the VNI of each source VPC of the inventory's instances; else empty."""
    if settings.vni_policy != VNI_POLICY_PER_VPC:
        return {}
    eni_vpcs = {eni.eni_id: eni.vpc_id for i in inventory.instances.values() for eni in i.enis if eni.vpc_id}
    carried: dict[str, Counter[int]] = defaultdict(Counter)
    foreign: set[int] = set()
    for session in {s.session_id: s for s in inventory.sessions}.values():
        if session.virtual_network_id is None:
            continue
        if not settings.owns(session):
            foreign.add(session.virtual_network_id)
        elif session.eni_id in eni_vpcs:
            carried[eni_vpcs[session.eni_id]][session.virtual_network_id] += 1
        # Our sessions on ENIs of unknown VPC (detached, or another instance's seen only for target usage): not
        # counted. An event for one instance reads other instances' sessions only that way.
    return assign_vpc_vnis(carried, frozenset(foreign), frozenset(eni_vpcs.values()))


def wanted_options(
    instance: Instance, eni: AttachedEni, settings: Settings, vnis_by_vpc: Mapping[str, int]
) -> SessionOptions:
    """The options a session of this ENI should carry (an unapproved packet-length tag or an unreadable mirror-vni
    tag is the planner's refusal, not decided here)."""
    packet_length, _ = settings.packet_length_wanted(instance.tags)
    vni: int | None = None
    if settings.vni_policy == VNI_POLICY_PER_VPC:
        vni = vnis_by_vpc.get(eni.vpc_id)
    elif settings.vni_policy == VNI_POLICY_PER_INSTANCE_TAG:
        vni = instance_vni(instance, settings)
    return SessionOptions(packet_length, vni)


def option_changes(
    session: MirrorSession, wanted: SessionOptions, targets: Mapping[str, MirrorTarget] | None
) -> OptionChanges | None:
    """What must change for ``session`` to carry ``wanted``; None when it already does."""
    set_length: int | None = None
    remove: tuple[str, ...] = ()
    if wanted.packet_length is None:
        if session.packet_length is not None and not _nlb_default(session, targets):
            remove = (REMOVE_PACKET_LENGTH,)
    elif session.packet_length != wanted.packet_length:
        set_length = wanted.packet_length
    vni = wanted.virtual_network_id
    set_vni = vni if vni is not None and session.virtual_network_id != vni else None
    if set_length is None and set_vni is None and not remove:
        return None
    return OptionChanges(set_length, set_vni, remove)


def _nlb_default(session: MirrorSession, targets: Mapping[str, MirrorTarget] | None) -> bool:
    """8500 on an NLB target is AWS's default, the whole packet as far as AWS mirrors. When the target is not known
    (targets not read), it is not judged: left as it is."""
    if session.packet_length != NLB_DEFAULT_PACKET_LENGTH:
        return False
    target = (targets or {}).get(session.target_id)
    return target is None or target.kind == TARGET_KIND_NLB


def vni_map(sessions: Iterable[MirrorSession], inventory: Inventory, settings: Settings) -> dict[str, list[str]]:
    """The published VNI → source map: for each VNI our sessions on the inventory's instances carry, the sources
    whose copies arrive under it: VPC IDs under VniPolicy per-vpc, else instance IDs. Keys are the VNIs as text
    (JSON), in numeric order."""
    eni_vpcs = {eni.eni_id: eni.vpc_id for i in inventory.instances.values() for eni in i.enis}
    eni_instances = {eni.eni_id: i.instance_id for i in inventory.instances.values() for eni in i.enis}
    sources: dict[int, set[str]] = defaultdict(set)
    for session in {s.session_id: s for s in sessions}.values():
        vni = session.virtual_network_id
        if vni is None or session.eni_id not in eni_instances or not settings.owns(session):
            continue
        by_vpc = settings.vni_policy == VNI_POLICY_PER_VPC and eni_vpcs[session.eni_id]
        sources[vni].add(eni_vpcs[session.eni_id] if by_vpc else eni_instances[session.eni_id])
    return {str(vni): sorted(sources[vni]) for vni in sorted(sources)}
