"""An in-memory AWS behind the EC2 ports (``ports.LifecyclePort`` and ``SessionPort``: every read and write a use case
makes) that behaves the way AWS is documented to, for the executor's and the use cases' unit tests: the quotas
(https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-quotas.html) and the errors of the EC2 API
(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).

It knows nothing of the product's rules (no planner, placement or eligibility import): it only says yes or no the
way EC2 would, through the port's typed errors (``errors.aws_error``), and remembers every call.

What it models, each a switch a test sets:

- at most 3 sessions per source ENI, counting sessions this account cannot see (``EniSessionLimit``);
- a source limit per target (``target(..., limit=N)``; ``None`` = no limit, as NLB and GWLB endpoints); an ENI
  already mirroring to a target does not count twice (``TargetFull``);
- unknown targets, filters, ENIs and sessions (``TargetNotFound``, ``FilterNotFound``, a plain ``AwsApiError``,
  ``SessionNotFound``); an ENI AWS refuses as a source (``SourceNotSupported``);
- ClientToken: the same token with the same parameters answers the first session again, even if it was deleted
  since; with other parameters (PacketLength and VirtualNetworkId included) ``TokenReused``
  (IdempotentParameterMismatch);
- session options: PacketLength 1-8500 and VirtualNetworkId 0-16777215, else ``InvalidParameterValue``; a create
  without a VNI gets one unique among the account's sessions (AWS picks it at random; here the next unused from
  ``first_aws_vni``); ModifyTrafficMirrorSession sets them, and ``remove_fields`` puts them back to the default
  (whole packet; a new VNI AWS picks);
- duplicate session numbers on one ENI refused (``InvalidParameterValue``, a plain ``AwsApiError``) or accepted
  (``duplicate_numbers_refused=False``);
- hidden sessions: they count for the ENI and target limits and hold their number, but no describe shows them and
  this account cannot delete them (another account's, in a shared VPC);
- describes that lag creates and deletes by ``describe_lag`` describe calls;
- errors injected per operation (``fail``), e.g. ``RequestLimitExceeded`` (transient) or ``AccessDenied``
  (account-wide);
- instance tags (CreateTags / DeleteTags) and a call log (``calls``, ``operations()``);
- the reads the inventory makes: instances (``instance``; their tags are those CreateTags and DeleteTags left), the
  instance each ENI is attached to, sessions by ENI, target or description, filters, targets (``target``: an ENI
  target with a limit, else an NLB, or any facts of ``MirrorTarget``) and their sources, each a call in the log;
- CompleteLifecycleAction (``lifecycle_results``: instance → the result it was completed with).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from tests.builders import FILTER, TARGETS
from traffic_mirroring import errors
from traffic_mirroring.eligibility import TypeVerdicts
from traffic_mirroring.model import (
    TARGET_KIND_ENI,
    TARGET_KIND_NLB,
    Instance,
    MirrorFilter,
    MirrorSession,
    MirrorTarget,
)

if TYPE_CHECKING:
    from traffic_mirroring.ports import LifecyclePort, SessionPort

CREATE = "CreateTrafficMirrorSession"
DELETE = "DeleteTrafficMirrorSession"
MODIFY = "ModifyTrafficMirrorSession"
DESCRIBE = "DescribeTrafficMirrorSessions"
CREATE_TAGS = "CreateTags"
DELETE_TAGS = "DeleteTags"
DESCRIBE_INSTANCES = "DescribeInstances"
DESCRIBE_ENIS = "DescribeNetworkInterfaces"
DESCRIBE_FILTERS = "DescribeTrafficMirrorFilters"
DESCRIBE_TARGETS = "DescribeTrafficMirrorTargets"
COMPLETE_LIFECYCLE_ACTION = "CompleteLifecycleAction"
INSTANCE_FILTERS = {"vpc-id": "vpc_id", "subnet-id": "subnet_id"}  # DescribeInstances filters → Instance fields

SESSIONS_PER_ENI = 3  # AWS's quota, restated here on purpose (the fake does not import the product's constants)
SESSION_NUMBERS = range(1, 32767)
PACKET_LENGTHS = range(1, 8501)  # CreateTrafficMirrorSession / ModifyTrafficMirrorSession: "Valid values are 1-8500"
VNIS = range(0, 2**24)  # VXLAN's 24-bit network identifier
REMOVABLE_FIELDS = frozenset({"packet-length", "description", "virtual-network-id"})


@dataclass
class Call:
    operation: str
    params: dict[str, Any]


@dataclass
class _Failure:
    error: errors.AwsApiError
    times: int
    when: Callable[[dict[str, Any]], bool] | None


@dataclass
class _Lagging:
    kind: str  # "create" or "delete"
    session: MirrorSession
    describes_left: int


def usual_account(*instances: Instance, **switches: Any) -> FakeAws:
    """The usual world of ``tests.builders`` as AWS holds it: its targets (tmt-a, an ENI target in zone-a; tmt-b, one
    in zone-b; tmt-nlb, an NLB in both), the stack's filter and ``instances``; ``switches``: FakeAws's own."""
    return FakeAws(**switches).known_target(*TARGETS.values()).filter(FILTER).instance(*instances)


@dataclass
class FakeAws:
    """AWS as one account sees it. Build the world with ``target``/``filter``/``eni``/``existing_session``."""

    account_id: str = "111111111111"
    duplicate_numbers_refused: bool = True
    describe_lag: int = 0
    first_aws_vni: int = 7000000  # where the VNIs "AWS picks" start (AWS picks at random: tests must not care)
    verdicts: TypeVerdicts = field(default_factory=TypeVerdicts)
    mirror_targets: dict[str, MirrorTarget] = field(default_factory=dict)  # its capacity: source limit (None: none)
    filters: set[str] = field(default_factory=set)
    enis: dict[str, bool] = field(default_factory=dict)  # ENI → AWS accepts it as a source
    sessions: dict[str, MirrorSession] = field(default_factory=dict)  # what really exists
    descriptions: dict[str, str] = field(default_factory=dict)  # session → its Description
    hidden: set[str] = field(default_factory=set)  # sessions this account cannot see or change
    instances: dict[str, Instance] = field(default_factory=dict)  # their tags: ``instance_tags``
    instance_tags: dict[str, dict[str, str]] = field(default_factory=dict)
    lifecycle_results: dict[str, str] = field(default_factory=dict)  # instance → CompleteLifecycleAction's result
    calls: list[Call] = field(default_factory=list)
    forgotten_targets: int = 0
    before_call: Callable[[Call], None] | None = None  # runs before AWS answers (to interleave another invocation)
    tokens: dict[str, tuple[tuple[Any, ...], MirrorSession]] = field(default_factory=dict)
    _failures: dict[str, list[_Failure]] = field(default_factory=dict)
    _lagging: list[_Lagging] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- building the world ------------------------------------------------------------------------------------
    def target(self, target_id: str, limit: int | None = None, *, zones: Iterable[str] = (), **facts: Any) -> FakeAws:
        """A target that accepts ``limit`` source ENIs (an ENI target), or any number (None: an NLB); ``facts``: any
        other field of MirrorTarget."""
        kind = facts.pop("kind", TARGET_KIND_NLB if limit is None else TARGET_KIND_ENI)
        return self.known_target(MirrorTarget(target_id, kind, limit, frozenset(zones), **facts))

    def known_target(self, *targets: MirrorTarget) -> FakeAws:
        """Targets as the inventory reads them (``tests.builders``' ``eni_target``, ``nlb``, ...)."""
        self.mirror_targets.update({target.target_id: target for target in targets})
        return self

    def instance(self, *instances: Instance) -> FakeAws:
        """Instances as DescribeInstances shows them; their ENIs are sources AWS accepts unless ``eni`` said not."""
        for instance in instances:
            self.instances[instance.instance_id] = instance
            self.instance_tags[instance.instance_id] = dict(instance.tags)
            for eni in instance.enis:
                self.enis.setdefault(eni.eni_id, True)
        return self

    def filter(self, filter_id: str) -> FakeAws:
        self.filters.add(filter_id)
        return self

    def eni(self, *eni_ids: str, supported: bool = True) -> FakeAws:
        for eni_id in eni_ids:
            self.enis[eni_id] = supported
        return self

    def existing_session(
        self,
        eni_id: str,
        target_id: str,
        filter_id: str,
        number: int,
        tags: Mapping[str, str] | None = None,
        *,
        hidden: bool = False,
        owner_id: str | None = None,
        packet_length: int | None = None,
        virtual_network_id: int | None = None,
        description: str = "",
    ) -> MirrorSession:
        """A session that was there before the test (made by hand, by another account, or by an earlier run)."""
        self.enis.setdefault(eni_id, True)
        session = MirrorSession(
            self._new_id(),
            eni_id,
            target_id,
            filter_id,
            number,
            dict(tags or {}),
            owner_id or self.account_id,
            packet_length,
            self._aws_vni() if virtual_network_id is None else virtual_network_id,
        )
        self.sessions[session.session_id] = session
        self.descriptions[session.session_id] = description
        if hidden:
            self.hidden.add(session.session_id)
        return session

    def remove_by_hand(self, session_id: str) -> None:
        """Someone deletes a session outside the product (the console): no call is logged."""
        del self.sessions[session_id]

    def fail(
        self,
        operation: str,
        code: str,
        message: str = "injected",
        *,
        times: int = 1,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> FakeAws:
        """The next ``times`` calls of ``operation`` (that match ``when``) fail with AWS's ``code``."""
        error = errors.aws_error(operation, code, message)
        self._failures.setdefault(operation, []).append(_Failure(error, times, when))
        return self

    # -- what a test looks at ----------------------------------------------------------------------------------
    def operations(self) -> list[str]:
        return [call.operation for call in self.calls]

    def count(self, operation: str) -> int:
        return sum(1 for call in self.calls if call.operation == operation)

    def on_eni(self, eni_id: str) -> list[MirrorSession]:
        """Every session that really exists on the ENI, hidden ones included, by session number."""
        return sorted((s for s in self.sessions.values() if s.eni_id == eni_id), key=lambda s: s.session_number)

    def tag_calls(self) -> list[Call]:
        return [call for call in self.calls if call.operation in (CREATE_TAGS, DELETE_TAGS)]

    # -- the port ----------------------------------------------------------------------------------------------
    def create_session(
        self,
        *,
        eni_id: str,
        target_id: str,
        filter_id: str,
        session_number: int,
        description: str,
        tags: Mapping[str, str],
        token: str,
        packet_length: int | None = None,
        virtual_network_id: int | None = None,
    ) -> MirrorSession:
        params: dict[str, Any] = {
            "eni_id": eni_id,
            "target_id": target_id,
            "filter_id": filter_id,
            "session_number": session_number,
            "description": description,
            "tags": dict(tags),
            "token": token,
            "packet_length": packet_length,
            "virtual_network_id": virtual_network_id,
        }
        self._call(CREATE, params)
        request = (
            eni_id,
            target_id,
            filter_id,
            session_number,
            description,
            tuple(sorted(tags.items())),
            packet_length,
            virtual_network_id,
        )
        if token in self.tokens:
            first_request, first_answer = self.tokens[token]
            if first_request == request:
                return first_answer  # even when that session was deleted since
            raise self._error(CREATE, "IdempotentParameterMismatch", "token reused with other parameters")
        if eni_id not in self.enis:
            raise self._error(CREATE, "InvalidNetworkInterfaceID.NotFound", f"{eni_id} does not exist")
        if target_id not in self.mirror_targets:
            raise self._error(CREATE, "InvalidTrafficMirrorTargetId.NotFound", f"{target_id} does not exist")
        if filter_id not in self.filters:
            raise self._error(CREATE, "InvalidTrafficMirrorFilterId.NotFound", f"{filter_id} does not exist")
        if session_number not in SESSION_NUMBERS:
            raise self._error(CREATE, "InvalidParameterValue", f"session number {session_number} out of range")
        self._check_options(CREATE, packet_length, virtual_network_id)
        if not self.enis[eni_id]:
            raise self._error(
                CREATE, "NetworkInterfaceNotSupported", f"{eni_id} must be attached to a supported instance"
            )
        on_eni = self.on_eni(eni_id)
        if len(on_eni) >= SESSIONS_PER_ENI:
            raise self._error(CREATE, "TrafficMirrorSessionsPerInterfaceLimitExceeded", f"{eni_id} has 3 sessions")
        if self.duplicate_numbers_refused and any(s.session_number == session_number for s in on_eni):
            raise self._error(CREATE, "InvalidParameterValue", f"session number {session_number} is in use")
        self._check_room(CREATE, target_id, eni_id)
        session = MirrorSession(
            self._new_id(),
            eni_id,
            target_id,
            filter_id,
            session_number,
            dict(tags),
            self.account_id,
            packet_length,
            self._aws_vni() if virtual_network_id is None else virtual_network_id,
        )
        self.sessions[session.session_id] = session
        self.descriptions[session.session_id] = description
        self.tokens[token] = (request, session)
        self._lag("create", session)
        return session

    def delete_session(self, session_id: str) -> bool:
        self._call(DELETE, {"session_id": session_id})
        if session_id not in self.sessions or session_id in self.hidden:
            return False  # the gateway's answer to InvalidTrafficMirrorSessionId.NotFound
        session = self.sessions.pop(session_id)
        self._lag("delete", session)
        return True

    def modify_session(
        self,
        session_id: str,
        target_id: str | None,
        filter_id: str | None,
        *,
        packet_length: int | None = None,
        virtual_network_id: int | None = None,
        remove_fields: Sequence[str] = (),
    ) -> None:
        params: dict[str, Any] = {"session_id": session_id, "target_id": target_id, "filter_id": filter_id}
        options = {"packet_length": packet_length, "virtual_network_id": virtual_network_id}
        params.update({k: v for k, v in options.items() if v is not None})  # options only when asked for
        if remove_fields:
            params["remove_fields"] = list(remove_fields)
        self._call(MODIFY, params)
        session = self.sessions.get(session_id)
        if session is None or session_id in self.hidden:
            raise self._error(MODIFY, "InvalidTrafficMirrorSessionId.NotFound", f"{session_id} does not exist")
        if target_id is not None and target_id not in self.mirror_targets:
            raise self._error(MODIFY, "InvalidTrafficMirrorTargetId.NotFound", f"{target_id} does not exist")
        if filter_id is not None and filter_id not in self.filters:
            raise self._error(MODIFY, "InvalidTrafficMirrorFilterId.NotFound", f"{filter_id} does not exist")
        self._check_options(MODIFY, packet_length, virtual_network_id)
        unknown = set(remove_fields) - REMOVABLE_FIELDS
        if unknown:
            raise self._error(MODIFY, "InvalidParameterValue", f"cannot remove {sorted(unknown)}")
        if target_id is not None:
            self._check_room(MODIFY, target_id, session.eni_id, ignore=session_id)
        new_packet_length = session.packet_length if packet_length is None else packet_length
        new_vni = session.virtual_network_id if virtual_network_id is None else virtual_network_id
        if "packet-length" in remove_fields:
            new_packet_length = None
        if "virtual-network-id" in remove_fields:
            new_vni = self._aws_vni()
        self.sessions[session_id] = MirrorSession(
            session.session_id,
            session.eni_id,
            target_id or session.target_id,
            filter_id or session.filter_id,
            session.session_number,
            session.tags,
            session.owner_id,
            new_packet_length,
            new_vni,
        )

    def sessions_by_id(self, session_ids: Sequence[str]) -> list[MirrorSession]:
        self._call(DESCRIBE, {"session_ids": list(session_ids)})
        wanted = set(session_ids)
        return [s for s in self._describe() if s.session_id in wanted]

    def sessions_on_enis(self, eni_ids: Sequence[str]) -> list[MirrorSession]:
        self._call(DESCRIBE, {"eni_ids": list(eni_ids)})
        wanted = set(eni_ids)
        return [s for s in self._describe() if s.eni_id in wanted]

    def set_instance_tags(self, instance_ids: Sequence[str], tags: Mapping[str, str]) -> None:
        self._call(CREATE_TAGS, {"instance_ids": list(instance_ids), "tags": dict(tags)})
        for instance_id in instance_ids:
            self.instance_tags.setdefault(instance_id, {}).update(tags)

    def delete_instance_tags(self, instance_ids: Sequence[str], keys: Sequence[str]) -> None:
        self._call(DELETE_TAGS, {"instance_ids": list(instance_ids), "keys": list(keys)})
        for instance_id in instance_ids:
            for key in keys:
                self.instance_tags.get(instance_id, {}).pop(key, None)

    def forget_targets(self) -> None:
        self.forgotten_targets += 1  # a cache, not an AWS call: not in the call log

    def tag_sessions(self, session_ids: Sequence[str], tags: Mapping[str, str]) -> None:
        self._call(CREATE_TAGS, {"session_ids": list(session_ids), "tags": dict(tags)})
        for session_id in session_ids:
            session = self.sessions[session_id]
            self.sessions[session_id] = replace(session, tags={**session.tags, **tags})

    # -- the reads of the inventory ----------------------------------------------------------------------------
    def describe_instances(self, instance_ids: Sequence[str]) -> tuple[dict[str, Instance], set[str]]:
        self._call(DESCRIBE_INSTANCES, {"instance_ids": list(instance_ids)})
        found = {i: self._as_described(i) for i in dict.fromkeys(instance_ids) if i in self.instances}
        return found, set(instance_ids) - set(found)

    def describe_instances_with_tag_key(self, *tag_keys: str) -> dict[str, Instance]:
        self._call(DESCRIBE_INSTANCES, {"tag_keys": list(tag_keys)})
        tagged = [i for i in self.instances if any(key in self.instance_tags.get(i, {}) for key in tag_keys)]
        return {i: self._as_described(i) for i in tagged}

    def describe_instances_where(self, filter_name: str, values: Sequence[str]) -> dict[str, Instance]:
        self._call(DESCRIBE_INSTANCES, {filter_name: list(values)})
        if filter_name not in INSTANCE_FILTERS:
            raise self._error(DESCRIBE_INSTANCES, "InvalidParameterValue", f"unknown filter {filter_name}")
        name = INSTANCE_FILTERS[filter_name]
        return {i: self._as_described(i) for i, instance in self.instances.items() if getattr(instance, name) in values}

    def describe_eni_attachments(self, eni_ids: Iterable[str]) -> dict[str, str | None]:
        wanted = sorted(set(eni_ids))
        self._call(DESCRIBE_ENIS, {"eni_ids": wanted})
        attached = {eni.eni_id: i.instance_id for i in self.instances.values() for eni in i.enis}
        return {eni_id: attached.get(eni_id) for eni_id in wanted if eni_id in self.enis}

    def describe_sessions(self) -> list[MirrorSession]:
        self._call(DESCRIBE, {})
        return self._describe()

    def sessions_on_targets(self, target_ids: Sequence[str]) -> list[MirrorSession]:
        self._call(DESCRIBE, {"target_ids": list(target_ids)})
        wanted = set(target_ids)
        return [s for s in self._describe() if s.target_id in wanted]

    def sessions_described(self, descriptions: Sequence[str]) -> list[MirrorSession]:
        self._call(DESCRIBE, {"descriptions": list(descriptions)})
        wanted = set(descriptions)
        return [s for s in self._describe() if self.descriptions.get(s.session_id) in wanted]

    def describe_filters(self, filter_ids: Sequence[str] | None = None) -> dict[str, MirrorFilter]:
        self._call(DESCRIBE_FILTERS, {} if filter_ids is None else {"filter_ids": list(filter_ids)})
        wanted = self.filters if filter_ids is None else self.filters & set(filter_ids)
        return {filter_id: MirrorFilter(filter_id) for filter_id in sorted(wanted)}

    def targets(self, fresh: bool = False) -> dict[str, MirrorTarget]:
        self._call(DESCRIBE_TARGETS, {"fresh": fresh})  # no cache here: every read is a call
        return dict(self.mirror_targets)

    def target_sources(self, target_ids: Sequence[str]) -> dict[str, frozenset[str]]:
        on_targets = self.sessions_on_targets(target_ids)
        return {t: frozenset(s.eni_id for s in on_targets if s.target_id == t) for t in target_ids}

    # -- Auto Scaling ------------------------------------------------------------------------------------------
    def complete_lifecycle_action(
        self, *, group_name: str, hook_name: str, token: str, instance_id: str, result: str
    ) -> None:
        action = {"group_name": group_name, "hook_name": hook_name, "token": token, "instance_id": instance_id}
        self._call(COMPLETE_LIFECYCLE_ACTION, {**action, "result": result})
        self.lifecycle_results[instance_id] = result

    # -- inside ------------------------------------------------------------------------------------------------
    def _check_options(self, operation: str, packet_length: int | None, virtual_network_id: int | None) -> None:
        if packet_length is not None and packet_length not in PACKET_LENGTHS:
            raise self._error(operation, "InvalidParameterValue", f"PacketLength {packet_length} out of range")
        if virtual_network_id is not None and virtual_network_id not in VNIS:
            raise self._error(operation, "InvalidParameterValue", f"VirtualNetworkId {virtual_network_id} out of range")

    def _as_described(self, instance_id: str) -> Instance:
        return replace(self.instances[instance_id], tags=dict(self.instance_tags.get(instance_id, {})))

    def _aws_vni(self) -> int:
        """A VNI unique among the account's sessions, as AWS picks one when none is given."""
        used = {s.virtual_network_id for s in self.sessions.values()}
        vni = self.first_aws_vni
        while vni in used:
            vni += 1
        return vni

    def _new_id(self) -> str:
        return f"tms-{next(self._ids):017x}"

    def _call(self, operation: str, params: dict[str, Any]) -> None:
        call = Call(operation, params)
        self.calls.append(call)
        if self.before_call is not None:
            self.before_call(call)
        for failure in self._failures.get(operation, []):
            if failure.times > 0 and (failure.when is None or failure.when(params)):
                failure.times -= 1
                raise failure.error

    @staticmethod
    def _error(operation: str, code: str, message: str) -> errors.AwsApiError:
        return errors.aws_error(operation, code, message)

    def _check_room(self, operation: str, target_id: str, eni_id: str, ignore: str | None = None) -> None:
        limit = self.mirror_targets[target_id].capacity
        if limit is None:
            return
        sources = {s.eni_id for s in self.sessions.values() if s.target_id == target_id and s.session_id != ignore}
        if eni_id not in sources and len(sources) >= limit:
            raise self._error(operation, "TrafficMirrorSourcesPerTargetLimitExceeded", f"{target_id} is full")

    def _lag(self, kind: str, session: MirrorSession) -> None:
        if self.describe_lag > 0:
            self._lagging.append(_Lagging(kind, session, self.describe_lag))

    def _describe(self) -> list[MirrorSession]:
        """What a describe shows now: no hidden session, and writes younger than ``describe_lag`` describes undone."""
        view = {sid: s for sid, s in self.sessions.items() if sid not in self.hidden}
        for write in reversed(self._lagging):
            if write.kind == "create":
                view.pop(write.session.session_id, None)
            elif write.session.session_id not in self.hidden:
                view[write.session.session_id] = write.session
        for write in self._lagging:
            write.describes_left -= 1
        self._lagging = [w for w in self._lagging if w.describes_left > 0]
        return sorted(view.values(), key=lambda s: s.session_id)


if TYPE_CHECKING:
    # mypy checks here (``make typecheck``) that the fake is every port the use cases take; nothing of it runs.
    _IS_EVERY_PORT: tuple[type[LifecyclePort], type[SessionPort]] = (FakeAws, FakeAws)
