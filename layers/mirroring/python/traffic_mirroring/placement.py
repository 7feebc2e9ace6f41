"""Where a new session goes: its session number on the ENI and its target. Pure functions, no AWS."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from traffic_mirroring.model import (
    SESSION_NUMBER_MAX,
    SESSION_NUMBER_MIN,
    MirrorSession,
    MirrorTarget,
)


def lowest_free_session_number(taken: Iterable[int]) -> int | None:
    """The lowest number in 1..32766 that no session on the ENI uses, ours or not."""
    used = set(taken)
    for number in range(SESSION_NUMBER_MIN, SESSION_NUMBER_MAX + 1):
        if number not in used:
            return number
    return None


class TargetUsage:
    """Source ENIs per target, kept up to date while a plan places sessions."""

    def __init__(self, sessions: Iterable[MirrorSession], extra: Mapping[str, Iterable[str]] | None = None) -> None:
        self._sources: dict[str, set[str]] = {}
        for session in sessions:
            self._sources.setdefault(session.target_id, set()).add(session.eni_id)
        for target_id, enis in (extra or {}).items():
            self._sources.setdefault(target_id, set()).update(enis)

    def sources(self, target_id: str) -> int:
        return len(self._sources.get(target_id, ()))

    def has_room(self, target: MirrorTarget, eni_id: str) -> bool:
        sources = self._sources.get(target.target_id, set())
        # An ENI that already mirrors to this target does not count twice against its limit.
        return target.capacity is None or eni_id in sources or len(sources) < target.capacity

    def add(self, target_id: str, eni_id: str) -> None:
        self._sources.setdefault(target_id, set()).add(eni_id)


def rank_targets(
    candidates: Sequence[str],
    targets: Mapping[str, MirrorTarget],
    usage: TargetUsage,
    eni_id: str,
    availability_zone: str,
    vpc_id: str = "",
) -> tuple[str, ...]:
    """Live candidates with room for this ENI, best first: in the source's VPC (no transit hop), then same AZ (no
    inter-AZ charge), then least used, then pool order. Which candidates the source can reach is the caller's rule.

    Unknown IDs (targets that do not exist) and targets that cannot receive (not live) are left out.
    """
    order = {target_id: index for index, target_id in enumerate(candidates)}
    usable = [
        targets[target_id]
        for target_id in order
        if target_id in targets and targets[target_id].live and usage.has_room(targets[target_id], eni_id)
    ]

    def preference(target: MirrorTarget) -> tuple[bool, bool, int, int]:
        other_vpc = not (vpc_id and target.vpc_id == vpc_id)
        other_zone = bool(target.availability_zones) and availability_zone not in target.availability_zones
        return (other_vpc, other_zone, usage.sources(target.target_id), order[target.target_id])

    return tuple(target.target_id for target in sorted(usable, key=preference))
