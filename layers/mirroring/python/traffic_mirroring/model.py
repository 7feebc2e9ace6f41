"""The Traffic Mirroring vocabulary as plain data: what exists (inventory) and what to change (plan)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from traffic_mirroring.eligibility import Verdict
from traffic_mirroring.preflight import TargetIngress

SESSION_NUMBER_MIN = 1
SESSION_NUMBER_MAX = 32766
SESSIONS_PER_ENI = 3

TARGET_KIND_ENI = "network-interface"
TARGET_KIND_NLB = "network-load-balancer"
TARGET_KIND_GWLB_ENDPOINT = "gateway-load-balancer-endpoint"
VXLAN_PORT = 4789


class Reason(StrEnum):
    """Why a session is created, deleted or moved, or why an ENI is skipped. Also the status-tag values."""

    MIRRORED = "mirrored"
    MISSING_SESSION = "missing-session"
    UNSUPPORTED_INSTANCE_TYPE = "unsupported-instance-type"
    AWAITING_VERDICT = "awaiting-verdict"  # another instance of this unlisted type is asking AWS first
    ENI_SESSION_LIMIT = "eni-session-limit"
    ENI_IS_MIRROR_TARGET = "eni-is-mirror-target"
    NO_TARGET_CAPACITY = "no-target-capacity"
    NO_LIVE_TARGET = "no-live-target"
    NO_REACHABLE_TARGET = "no-reachable-target"  # no live pool target is reachable from the source's VPC
    NO_HEALTHY_TARGET = "no-healthy-target"  # the reachable live targets drop its copies (no UDP 4789 admitted)
    TARGET_OVERRIDE_NOT_FOUND = "target-override-not-found"
    TARGET_NOT_APPROVED = "target-not-approved"
    FILTER_NOT_APPROVED = "filter-not-approved"
    FILTER_NOT_FOUND = "filter-not-found"
    POOL_EMPTY = "pool-empty"
    POOL_TARGET_NOT_FOUND = "pool-target-not-found"
    INSTANCE_STOPPED = "instance-stopped"
    INSTANCE_TERMINATED = "instance-terminated"
    INSTANCE_NOT_FOUND = "instance-not-found"
    INSTANCE_NOT_TAGGED = "instance-not-tagged"
    EXPIRED = "expired"  # its mirror-until time has passed
    UNTIL_UNREADABLE = "mirror-until-unreadable"  # its mirror-until tag is not an ISO 8601 UTC time
    TAG_REMOVED = "tag-removed"
    SOURCE_ENI_DELETED = "source-eni-deleted"
    SOURCE_ENI_DETACHED = "source-eni-detached"
    UNSUPPORTED_INTERFACE_TYPE = "unsupported-interface-type"
    DUPLICATE_SESSION = "duplicate-session"
    # Its instance's type changed to one AWS is to be asked about: deleted, and a new session asks AWS in its place.
    INSTANCE_TYPE_CHANGED = "instance-type-changed"
    TARGET_RETIRED = "target-retired"
    TARGET_MISSING = "target-missing"
    TARGET_DEAD = "target-dead"
    TARGET_UNREACHABLE = "target-unreachable"  # the session's target cannot be reached from the source's VPC
    TARGET_UNHEALTHY = "target-unhealthy"  # the session's target drops the source's copies (preflight)
    FILTER_CHANGED = "filter-changed"
    FILTER_MISSING = "filter-missing"
    OPTIONS_CHANGED = "options-changed"  # PacketLength or the VNI asked for changed: rolled over by modify
    PACKET_LENGTH_NOT_APPROVED = "packet-length-not-approved"  # a mirror-packet-length not in ApprovedPacketLengths
    VNI_UNREADABLE = "vni-unreadable"  # VniPolicy per-instance-tag: no mirror-vni tag, or not an integer 0-16777215
    IPV6_ONLY_SUBNET = "ipv6-only-subnet"  # an ENI in an IPv6-only subnet: AWS does not mirror those
    # A session not ours, with a lower number on the ENI, takes every packet ours would (AWS mirrors each packet once).
    SHADOWED_BY_OTHER_SESSION = "shadowed-by-other-session"
    # Coverage only, never a status: why an ENI read is not counted among those that should be mirrored.
    OPTED_OUT = "opted-out"  # its mirror tag is there with another value than MirrorTagValue (e.g. mirror=false)
    INSTANCE_PENDING = "instance-pending"  # not running yet: its running event follows


ERROR_STATUS_PREFIX = "error:"

# Statuses that ask an operator to act (counted in the InstancesNeedingAttention metric, which has an alarm).
ATTENTION_STATUSES = frozenset(
    {
        Reason.ENI_SESSION_LIMIT,
        Reason.NO_TARGET_CAPACITY,
        Reason.NO_LIVE_TARGET,
        Reason.NO_REACHABLE_TARGET,
        Reason.NO_HEALTHY_TARGET,
        Reason.TARGET_OVERRIDE_NOT_FOUND,
        Reason.TARGET_NOT_APPROVED,
        Reason.FILTER_NOT_APPROVED,
        Reason.FILTER_NOT_FOUND,
        Reason.POOL_TARGET_NOT_FOUND,
        Reason.TARGET_DEAD,
        Reason.UNTIL_UNREADABLE,
        Reason.PACKET_LENGTH_NOT_APPROVED,
        Reason.VNI_UNREADABLE,
        Reason.SHADOWED_BY_OTHER_SESSION,
    }
)


def needs_attention(status: str | None) -> bool:
    return bool(status) and (status in ATTENTION_STATUSES or str(status).startswith(ERROR_STATUS_PREFIX))


@dataclass(frozen=True)
class AttachedEni:
    eni_id: str
    interface_type: str = "interface"
    # Set when a service manages the ENI (DescribeInstances' Operator.Principal, or the requester of a
    # requester-managed ENI): only those created by Amazon RDS or ElastiCache may be sources.
    managed_by_service: str | None = None
    vpc_id: str = ""  # the ENI's VPC: mirrored packets leave by its route table, so it decides what is reachable
    # Its primary private IPv4 address: the outer source address of its copies, which the target must admit
    # ("" when not read). ``ipv6_only``: it has none, so it is in an IPv6-only subnet, which AWS does not mirror.
    private_ip: str = ""
    ipv6_only: bool = False


@dataclass(frozen=True)
class Instance:
    instance_id: str
    state: str
    instance_type: str
    availability_zone: str
    tags: Mapping[str, str]
    enis: tuple[AttachedEni, ...]
    vpc_id: str = ""
    subnet_id: str = ""


@dataclass(frozen=True)
class MirrorSession:
    session_id: str
    eni_id: str
    target_id: str
    filter_id: str
    session_number: int
    tags: Mapping[str, str] = field(default_factory=dict)
    owner_id: str = ""  # the account that owns the session (the source's account); "" when not known
    packet_length: int | None = None  # bytes mirrored of each packet; None: the whole packet
    virtual_network_id: int | None = None  # the VXLAN network identifier (VNI) of the copies; None when not read


@dataclass(frozen=True)
class FilterRule:
    """One rule of a Traffic Mirror filter, as DescribeTrafficMirrorFilters returns it. ``protocol`` None: the rule
    names no protocol; ports None: no range given."""

    number: int
    accept: bool
    source_cidr: str
    destination_cidr: str
    protocol: int | None = None
    source_ports: tuple[int, int] | None = None
    destination_ports: tuple[int, int] | None = None


@dataclass(frozen=True)
class MirrorFilter:
    """A Traffic Mirror filter: its rules in each direction (any order) and its network services (amazon-dns)."""

    filter_id: str
    ingress: tuple[FilterRule, ...] = ()
    egress: tuple[FilterRule, ...] = ()
    network_services: frozenset[str] = frozenset()


@dataclass(frozen=True)
class MirrorTarget:
    """A target, how many source ENIs it accepts (None: no limit, as for NLB and GWLB endpoint targets), and whether
    it can receive: ``live`` is False when its resource is gone or cannot take VXLAN (``problem`` says why).
    ``vpc_id`` is the VPC of its resource ("" when this account cannot see it, e.g. a target shared through RAM);
    ``tags`` are the target's own tags as this account sees them (none for a shared target)."""

    target_id: str
    kind: str
    capacity: int | None
    availability_zones: frozenset[str] = frozenset()
    live: bool = True
    problem: str = ""
    eni_id: str | None = None  # the target's own ENI (ENI targets): never a source
    owner_id: str = ""
    vpc_id: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    # Preflight (what AWS lets us see): what admits VXLAN to it (an ENI target's security groups and network ACL, an
    # NLB's own security groups; None: nothing to judge), judged per source address; and for an NLB whether
    # cross-zone load balancing is on (None: not known), and which setting decides it.
    ingress: TargetIngress | None = None
    cross_zone: bool | None = None
    cross_zone_decided_by: str = ""
    # What names its CloudWatch metrics (delivery): the resource as the target names it (the NLB's ARN, the endpoint's
    # ID, the ENI's ID), an ENI target's appliance instance, a Gateway Load Balancer endpoint's service name ("": not
    # known here).
    resource_id: str = ""
    appliance_id: str = ""
    endpoint_service: str = ""


@dataclass(frozen=True)
class Inventory:
    """Actual state, as read from AWS, for the instances in scope.

    ``eni_attachments`` maps ENIs onto the instance they are attached to (None: detached) and ``deleted_eni_ids``
    names ENIs that no longer exist; a managed session on an ENI in neither was read only to count target usage
    and is not judged. ``sessions`` holds every session read, ours or not, including every session on the
    candidate targets, so target usage can be counted (when targets were read). ``existing_filter_ids`` is None
    when the caller did not check filters. ``target_sources`` adds source ENIs per target known only as counts
    (cached, for targets without a limit), never judged.
    """

    instances: Mapping[str, Instance]
    sessions: Sequence[MirrorSession]
    eni_attachments: Mapping[str, str | None]
    targets: Mapping[str, MirrorTarget] | None  # None: not read, so targets are not judged
    type_verdicts: Mapping[str, Verdict]  # per instance type judged: listed, learned from AWS, or to ask AWS
    missing_instance_ids: frozenset[str] = frozenset()
    deleted_eni_ids: frozenset[str] = frozenset()
    target_sources: Mapping[str, frozenset[str]] = field(default_factory=dict)  # extra usage counts (cached)
    existing_filter_ids: frozenset[str] | None = None
    target_eni_ids: frozenset[str] = frozenset()  # ENIs that are mirror targets (from the targets read)
    read_at: datetime = field(default_factory=lambda: datetime.now(UTC))  # "now" for mirror-until windows
    # Filters read with their rules (None: not read), to judge a session of another marker ahead of ours on an ENI.
    filters: Mapping[str, MirrorFilter] | None = None


@dataclass(frozen=True)
class CreateSession:
    instance_id: str
    eni_id: str
    session_number: int
    filter_id: str
    target_ids: tuple[str, ...]  # the chosen target first, then fallbacks in order of preference
    taken_numbers: tuple[int, ...] = ()  # session numbers seen on the ENI when planning
    generation: str = ""  # the instance's mirror generation the session is created in (part of the token)
    probe_type: str | None = None  # an unlisted instance type this create asks AWS about
    instance_type: str = ""  # the source's type, recorded on the session (tag mirror-instance-type)
    reason: str = Reason.MISSING_SESSION
    packet_length: int | None = None  # None: the whole packet
    virtual_network_id: int | None = None  # None: AWS picks a VNI (VniPolicy aws)


@dataclass(frozen=True)
class DeleteSession:
    subject: str  # the instance the session belongs to, or its ENI when no instance does
    session: MirrorSession
    reason: str


@dataclass(frozen=True)
class UpdateSession:
    """ModifyTrafficMirrorSession: move to another target, switch filter and/or roll the session's options over
    (packet length, VNI), keeping the session (its ID and number): no gap in the copies."""

    instance_id: str
    session: MirrorSession
    target_ids: tuple[str, ...]  # empty: keep the target
    filter_id: str | None
    reason: str
    packet_length: int | None = None  # set PacketLength to this (None: leave it, unless removed below)
    virtual_network_id: int | None = None  # set VirtualNetworkId to this (None: leave it)
    remove_fields: tuple[str, ...] = ()  # RemoveFields, e.g. ("packet-length",): back to the whole packet

    @property
    def changes_options(self) -> bool:
        return self.packet_length is not None or self.virtual_network_id is not None or bool(self.remove_fields)


@dataclass(frozen=True)
class Skip:
    subject: str
    eni_id: str | None
    reason: str


@dataclass(frozen=True)
class EniVerdict:
    """The planner's word on one ENI of an instance it planned, from which coverage is counted (coverage.py).

    ``counted``: the ENI should be mirrored now (its instance is asked for and running, of a type AWS supports or is
    being asked about, and the ENI is a source AWS can mirror): it is in coverage's denominator. ``reason``: when not
    counted, why not; when counted, why the plan leaves it without a session of ours that receives its packets (""
    when the plan leaves it mirrored). ``reason_now``: when counted, why no session of ours receives its packets as
    read, before the plan ("" when one does)."""

    instance_id: str
    eni_id: str
    counted: bool
    reason: str = ""
    reason_now: str = ""


@dataclass
class SubjectPlan:
    """Everything to do for one instance (or one orphaned ENI); applied and rolled back as a unit."""

    subject: str
    deletes: list[DeleteSession] = field(default_factory=list)
    updates: list[UpdateSession] = field(default_factory=list)
    creates: list[CreateSession] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    status: str | None = None  # desired status-tag value; None leaves the tag alone
    current_status: str | None = None
    instance_type: str = ""
    is_instance: bool = False  # an existing, not terminated instance (it carries status and generation tags)
    generation: str = ""  # the instance's current mirror generation (tag), "" when none
    unconfirmed: str = ""  # digest of the creations the last run could not confirm (tag, after "~"), "" when none
    remove_tags: tuple[str, ...] = ()  # instance tags to remove once applied: a finding's, after its window ended
    sources: list[EniVerdict] = field(default_factory=list)  # each of the instance's ENIs, for coverage

    @property
    def changes(self) -> int:
        return len(self.deletes) + len(self.updates) + len(self.creates)


@dataclass
class Plan:
    subjects: dict[str, SubjectPlan] = field(default_factory=dict)
    managed_sessions: int = 0  # managed sessions that exist before the plan is applied
    type_verdicts: dict[str, str] = field(default_factory=dict)  # unlisted types: learned verdict or ask-aws
    dead_targets: dict[str, str] = field(default_factory=dict)  # pool targets that cannot receive → why
    missing_pool_targets: tuple[str, ...] = ()  # pool target IDs that do not exist
    pool: tuple[str, ...] = ()  # the pool as judged: TargetIds, then targets discovered by tag (when targets read)
    reachability_problems: dict[str, str] = field(default_factory=dict)  # pool target → unreadable declaration
    windows: dict[str, str] = field(default_factory=dict)  # mirrored instance → "<mirror-until> (<time> left)"
    unhealthy_targets: dict[str, str] = field(default_factory=dict)  # pool target → why it drops copies (preflight)
    target_advisories: dict[str, list[str]] = field(default_factory=dict)  # pool target → risks, with what to do

    def for_subject(self, subject: str) -> SubjectPlan:
        if subject not in self.subjects:
            self.subjects[subject] = SubjectPlan(subject)
        return self.subjects[subject]

    @property
    def creates(self) -> list[CreateSession]:
        return [c for p in self.subjects.values() for c in p.creates]

    @property
    def deletes(self) -> list[DeleteSession]:
        return [d for p in self.subjects.values() for d in p.deletes]

    @property
    def updates(self) -> list[UpdateSession]:
        return [u for p in self.subjects.values() for u in p.updates]

    @property
    def skips(self) -> list[Skip]:
        return [s for p in self.subjects.values() for s in p.skips]

    @property
    def sources(self) -> list[EniVerdict]:
        return [v for p in self.subjects.values() for v in p.sources]
