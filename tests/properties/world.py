"""What the properties check, read from the simulated account itself: the truth, not what the product believes.

``limit_violations`` reads moto's backend directly (cheap enough to run after every step); ``convergence_problems``
reads the account through the EC2 API, the way a user would look at it after the reconciler ran.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends

from simulation.account import REGION, SimulatedAccount
from simulation.strict_aws import source_limit
from tests.integration.stack import MANAGED_BY

SUPPORTED_TYPES = ("m5.large", "c5.xlarge", "c4.large", "t3.micro")
UNSUPPORTED_TYPES = ("t2.micro", "r3.large", "c6i.metal")
SESSIONS_PER_ENI = 3
MANAGED_BY_KEY = "mirror-managed-by"
INSTANCE_KEY = "mirror-instance-id"
STATUS_KEY = "mirror-status"


def ec2_backend() -> Any:
    """moto's EC2 backend of the test account and region (the same object a ThreadedMotoServer serves)."""
    return ec2_backends[DEFAULT_ACCOUNT_ID][REGION]


def tags_of(resource: Mapping[str, Any]) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in resource.get("Tags") or []}


def is_ours(session: Mapping[str, Any]) -> bool:
    return tags_of(session).get(MANAGED_BY_KEY) == MANAGED_BY


def wants_mirroring(tags: Mapping[str, str]) -> bool:
    value = tags.get("mirror")
    return value is not None and value.strip().lower() == "true"


def limit_violations(backend: Any | None = None) -> list[str]:
    """Every ENI with more than 3 sessions or a repeated session number; every target over its source limit."""
    backend = backend or ec2_backend()
    numbers: dict[str, list[int]] = defaultdict(list)
    sources: dict[str, set[str]] = defaultdict(set)
    for session in list(backend.traffic_mirror_sessions.values()):
        numbers[session.network_interface_id].append(int(session.session_number))
        sources[session.traffic_mirror_target_id].add(session.network_interface_id)
    problems: list[str] = []
    for eni_id, taken in sorted(numbers.items()):
        if len(taken) > SESSIONS_PER_ENI:
            problems.append(f"{eni_id} has {len(taken)} sessions")
        if len(set(taken)) != len(taken):
            problems.append(f"{eni_id} repeats a session number: {sorted(taken)}")
    for target_id, enis in sorted(sources.items()):
        target = backend.traffic_mirror_targets.get(target_id)
        limit = source_limit(backend, target) if target is not None else None
        if limit is not None and len(enis) > limit:
            problems.append(f"target {target_id} has {len(enis)} sources, limit {limit}")
    return problems


@dataclass(frozen=True)
class ForeignSession:
    """A session someone else created, as it was when created (it must stay exactly so)."""

    session_id: str
    eni_id: str
    target_id: str
    filter_id: str
    number: int

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> ForeignSession:
        return cls(
            raw["TrafficMirrorSessionId"],
            raw["NetworkInterfaceId"],
            raw["TrafficMirrorTargetId"],
            raw["TrafficMirrorFilterId"],
            int(raw["SessionNumber"]),
        )


@dataclass(frozen=True)
class InstanceView:
    state: str
    instance_type: str
    tags: dict[str, str]
    enis: tuple[str, ...]  # by device index; none once terminated


def instance_view(instance_id: str, backend: Any | None = None) -> InstanceView:
    """An instance as DescribeInstances shows it, read from moto's backend (many times cheaper than the API)."""
    backend = backend or ec2_backend()
    raw = backend.get_instance(instance_id)
    tags = {t.get("key", t.get("Key")): t.get("value", t.get("Value", "")) for t in raw.get_tags()}
    nics = sorted(raw.network_interfaces, key=lambda nic: nic.device_index or 0)
    return InstanceView(raw.state, raw.instance_type, tags, tuple(nic.id for nic in nics))


@dataclass
class Snapshot:
    """The account: its sessions as the EC2 API lists them, its instances and targets as moto holds them."""

    sessions: list[dict[str, Any]]
    instances: dict[str, InstanceView]
    limits: dict[str, int | None]
    sources: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def read(cls, account: SimulatedAccount, instance_ids: Iterable[str]) -> Snapshot:
        sessions = account.sessions()
        backend = ec2_backend()
        instances = {instance_id: instance_view(instance_id, backend) for instance_id in instance_ids}
        limits = {tid: source_limit(backend, t) for tid, t in list(backend.traffic_mirror_targets.items())}
        sources: dict[str, set[str]] = defaultdict(set)
        for session in sessions:
            sources[session["TrafficMirrorTargetId"]].add(session["NetworkInterfaceId"])
        return cls(sessions, instances, limits, sources)

    def enis_of(self, instance_id: str) -> tuple[str, ...]:
        return self.instances[instance_id].enis

    def on_eni(self, eni_id: str) -> list[dict[str, Any]]:
        return [s for s in self.sessions if s["NetworkInterfaceId"] == eni_id]

    def pool_is_full_for(self, eni_id: str, pool: Iterable[str]) -> bool:
        """No target of the pool accepts this ENI as one more source."""
        for target_id in pool:
            limit = self.limits.get(target_id, 0)
            if limit is None or len(self.sources.get(target_id, set()) - {eni_id}) < limit:
                return False
        return True


def instance_problems(
    snap: Snapshot,
    instance_id: str,
    *,
    pool: Collection[str],
    filter_id: str,
    delete_when_stopped: bool = True,
    supported: Collection[str] = SUPPORTED_TYPES,
    accounted: set[str] | None = None,
) -> list[str]:
    """What is wrong with one instance once it was reconciled (by its event or by the schedule).

    A tagged (value ``true`` in any case), running, supported instance has exactly one of our sessions on each ENI,
    on a pool target, with our filter, naming the instance, unless the ENI is full of other sessions, no pool
    target has room, or another session with our filter is ahead of where ours would be (AWS mirrors each packet
    once, to the lowest-numbered session that accepts it: ours would receive nothing); its status tag says
    ``mirrored`` (or why an ENI was skipped). Any other instance has none of
    our sessions on its ENIs (a stopped one keeps them with DELETE_WHEN_STOPPED=false), and a status tag only when
    it asks for mirroring. A terminated instance leaves none of our sessions anywhere.
    """
    accounted = set() if accounted is None else accounted
    view = snap.instances[instance_id]
    if view.state == "terminated":
        left = [s["TrafficMirrorSessionId"] for s in snap.sessions if is_ours(s) and _names(s, instance_id)]
        return [f"terminated {instance_id} still has sessions of ours: {left}"] if left else []
    tagged = wants_mirroring(view.tags)
    wanted = tagged and view.state == "running" and view.instance_type in supported
    kept = tagged and view.state == "stopped" and not delete_when_stopped
    problems: list[str] = []
    skips: set[str] = set()  # the status an ENI left unmirrored (or displaced) may give the instance
    for eni_id in view.enis:
        ours = [s for s in snap.on_eni(eni_id) if is_ours(s)]
        if not (wanted or kept):
            if ours:
                mirror = view.tags.get("mirror")
                problems.append(f"{instance_id} ({view.state}, mirror={mirror!r}) has our sessions on {eni_id}")
            continue
        accounted.update(s["TrafficMirrorSessionId"] for s in ours)
        if len(ours) > 1:
            problems.append(f"{instance_id} has {len(ours)} sessions of ours on {eni_id}")
        elif not ours and not kept:
            found, skipped = _unmirrored_eni(snap, instance_id, eni_id, pool=pool, filter_id=filter_id)
            problems, skips = problems + found, skips | skipped
        elif not kept:
            found, skipped = _our_session(snap, instance_id, eni_id, ours, pool=pool, filter_id=filter_id)
            problems, skips = problems + found, skips | skipped
    return problems + _status_problems(snap, instance_id, pool=pool, wanted=wanted, kept=kept, skips=skips)


def _unmirrored_eni(
    snap: Snapshot, instance_id: str, eni_id: str, *, pool: Collection[str], filter_id: str
) -> tuple[list[str], set[str]]:
    """An ENI that should be mirrored but has no session of ours: the skip that explains it, else a problem."""
    on_eni = snap.on_eni(eni_id)
    if len(on_eni) >= SESSIONS_PER_ENI:
        return [], {"eni-session-limit", "no-target-capacity"}
    if _ahead_with(on_eni, filter_id, []):
        return [], {"shadowed-by-other-session"}
    if snap.pool_is_full_for(eni_id, pool):
        return [], {"no-target-capacity"}
    return [f"{instance_id} is not mirrored on {eni_id} (sessions there: {len(on_eni)})"], set()


def _our_session(
    snap: Snapshot,
    instance_id: str,
    eni_id: str,
    ours: list[dict[str, Any]],
    *,
    pool: Collection[str],
    filter_id: str,
) -> tuple[list[str], set[str]]:
    """An ENI with one session of ours: it names the instance, has our filter, and is on a pool target (or stays on
    a retired one only while the pool is full); a session ahead of it with our filter is a skip."""
    session = ours[0]
    name = session["TrafficMirrorSessionId"]
    problems: list[str] = []
    skips: set[str] = set()
    if _ahead_with(snap.on_eni(eni_id), filter_id, ours):
        skips.add("shadowed-by-other-session")  # ours is kept: the other session is the problem
    if not _names(session, instance_id):
        problems.append(f"session {name} names another instance")
    if session["TrafficMirrorFilterId"] != filter_id:
        problems.append(f"session {name} has filter of another deployment")
    if session["TrafficMirrorTargetId"] not in pool:
        if snap.pool_is_full_for(eni_id, pool):
            skips.add("no-target-capacity")  # kept where it is (still mirroring) until the pool has room
        else:
            problems.append(
                f"session {name} of {instance_id} stays on retired target {session['TrafficMirrorTargetId']} "
                "although the pool has room"
            )
    return problems, skips


def _status_problems(
    snap: Snapshot, instance_id: str, *, pool: Collection[str], wanted: bool, kept: bool, skips: set[str]
) -> list[str]:
    """The instance's status tag against what its state, its tags and its ENIs' skips make it."""
    view = snap.instances[instance_id]
    status = view.tags.get(STATUS_KEY)
    expected: tuple[str | None, ...]
    if wanted:
        expected = tuple(sorted(skips)) if skips else ("mirrored",)
    elif kept:
        expected = (status,)  # left alone
    elif wants_mirroring(view.tags) and view.state == "running":
        # AWS is asked about a type its page does not list by trying a create: where no ENI can get one (full
        # ENIs, a full pool) nothing was asked yet, and the status is the placement's.
        blocked = all(len(snap.on_eni(e)) >= SESSIONS_PER_ENI or snap.pool_is_full_for(e, pool) for e in view.enis)
        expected = (
            ("unsupported-instance-type", "no-target-capacity", "eni-session-limit")
            if blocked
            else ("unsupported-instance-type",)
        )
    elif wants_mirroring(view.tags) and view.state == "stopped":
        expected = ("instance-stopped",)
    else:
        expected = (None,)
    if status in expected:
        return []
    return [
        f"{instance_id} ({view.state}, {view.instance_type}, mirror={view.tags.get('mirror')!r}) has status "
        f"{status!r}, expected {' or '.join(map(repr, expected))}"
    ]


def _ahead_with(on_eni: list[dict[str, Any]], filter_id: str, ours: list[dict[str, Any]]) -> bool:
    """A session not ours, with the filter ours has, ahead of ours (or of the lowest free number, where ours would
    go): it takes every packet ours would."""
    taken = {int(s["SessionNumber"]) for s in on_eni}
    number = min(int(s["SessionNumber"]) for s in ours) if ours else min(set(range(1, len(taken) + 2)) - taken)
    return any(
        not is_ours(s) and s["TrafficMirrorFilterId"] == filter_id and int(s["SessionNumber"]) < number for s in on_eni
    )


def _names(session: Mapping[str, Any], instance_id: str) -> bool:
    return tags_of(session).get(INSTANCE_KEY) == instance_id


def convergence_problems(
    snap: Snapshot,
    *,
    pool: Collection[str],
    filter_id: str,
    foreign: Mapping[str, ForeignSession],
    delete_when_stopped: bool = True,
    supported: Collection[str] = SUPPORTED_TYPES,
) -> list[str]:
    """What is wrong with the account after a clean reconcile; empty when it is as the user was promised.

    Every instance passes ``instance_problems``; none of our sessions exists anywhere else (detached or deleted
    ENIs, instances that do not ask for mirroring); the sessions someone else created are exactly as they were
    created (unless AWS deleted them with their ENI), and no other appeared.
    """
    problems: list[str] = []
    accounted: set[str] = set()
    for instance_id in sorted(snap.instances):
        problems.extend(
            instance_problems(
                snap,
                instance_id,
                pool=pool,
                filter_id=filter_id,
                delete_when_stopped=delete_when_stopped,
                supported=supported,
                accounted=accounted,
            )
        )
    for session in snap.sessions:
        if is_ours(session) and session["TrafficMirrorSessionId"] not in accounted:
            problems.append(
                f"session of ours {session['TrafficMirrorSessionId']} on {session['NetworkInterfaceId']} "
                f"(for {tags_of(session).get(INSTANCE_KEY)}) should not exist"
            )
    now = {s["TrafficMirrorSessionId"]: ForeignSession.of(s) for s in snap.sessions if not is_ours(s)}
    if now != dict(foreign):
        gone = sorted(set(foreign) - set(now))
        new = sorted(set(now) - set(foreign))
        changed = sorted(k for k in set(now) & set(foreign) if now[k] != foreign[k])
        problems.append(f"foreign sessions changed: gone {gone}, unknown {new}, modified {changed}")
    return problems
