"""The Traffic Mirroring vocabulary as plain data: what exists (inventory) and what to change (plan)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

SESSION_NUMBER_MIN = 1
SESSION_NUMBER_MAX = 32766
SESSIONS_PER_ENI = 3
ENI_TARGET_SOURCES = 10
ENI_TARGET_SOURCES_LARGEST_SIZE = 100

TARGET_KIND_ENI = "network-interface"
TARGET_KIND_NLB = "network-load-balancer"
TARGET_KIND_GWLB_ENDPOINT = "gateway-load-balancer-endpoint"


class Reason:
    """Why a session is created, deleted or moved, or why an ENI is skipped. Also the status-tag values."""

    MIRRORED = "mirrored"
    MISSING_SESSION = "missing-session"
    UNSUPPORTED_INSTANCE_TYPE = "unsupported-instance-type"
    ENI_SESSION_LIMIT = "eni-session-limit"
    NO_TARGET_CAPACITY = "no-target-capacity"
    TARGET_OVERRIDE_NOT_FOUND = "target-override-not-found"
    INSTANCE_STOPPED = "instance-stopped"
    INSTANCE_TERMINATED = "instance-terminated"
    INSTANCE_NOT_FOUND = "instance-not-found"
    TAG_REMOVED = "tag-removed"
    SOURCE_ENI_DELETED = "source-eni-deleted"
    SOURCE_ENI_DETACHED = "source-eni-detached"
    UNSUPPORTED_INTERFACE_TYPE = "unsupported-interface-type"
    DUPLICATE_SESSION = "duplicate-session"
    TARGET_RETIRED = "target-retired"
    TARGET_MISSING = "target-missing"
    FILTER_CHANGED = "filter-changed"
    FILTER_MISSING = "filter-missing"


@dataclass(frozen=True)
class AttachedEni:
    eni_id: str
    interface_type: str = "interface"


@dataclass(frozen=True)
class Instance:
    instance_id: str
    state: str
    instance_type: str
    availability_zone: str
    tags: Mapping[str, str]
    enis: tuple[AttachedEni, ...]


@dataclass(frozen=True)
class MirrorSession:
    session_id: str
    eni_id: str
    target_id: str
    filter_id: str
    session_number: int
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MirrorTarget:
    """A target and how many source ENIs it accepts (None: no limit, as for NLB and GWLB endpoint targets)."""

    target_id: str
    kind: str
    capacity: int | None
    availability_zones: frozenset[str] = frozenset()


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
    supported_types: Mapping[str, bool]
    missing_instance_ids: frozenset[str] = frozenset()
    deleted_eni_ids: frozenset[str] = frozenset()
    target_sources: Mapping[str, frozenset[str]] = field(default_factory=dict)  # extra usage counts (cached)
    existing_filter_ids: frozenset[str] | None = None


@dataclass(frozen=True)
class CreateSession:
    instance_id: str
    eni_id: str
    session_number: int
    filter_id: str
    target_ids: tuple[str, ...]  # the chosen target first, then fallbacks in order of preference
    eni_session_ids: tuple[str, ...] = ()  # the sessions seen on the ENI when planning (part of the token)
    reason: str = Reason.MISSING_SESSION


@dataclass(frozen=True)
class DeleteSession:
    subject: str  # the instance the session belongs to, or its ENI when no instance does
    session: MirrorSession
    reason: str


@dataclass(frozen=True)
class UpdateSession:
    """ModifyTrafficMirrorSession: move to another target and/or switch filter, keeping the session number."""

    instance_id: str
    session: MirrorSession
    target_ids: tuple[str, ...]  # empty: keep the target
    filter_id: str | None
    reason: str


@dataclass(frozen=True)
class Skip:
    subject: str
    eni_id: str | None
    reason: str


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

    @property
    def changes(self) -> int:
        return len(self.deletes) + len(self.updates) + len(self.creates)


@dataclass
class Plan:
    subjects: dict[str, SubjectPlan] = field(default_factory=dict)
    managed_sessions: int = 0  # managed sessions that exist before the plan is applied

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
