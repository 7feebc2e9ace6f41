"""Coverage: of the ENIs that should be mirrored, the share a session of ours mirrors.

The planner says, for every ENI of every instance it plans, whether the ENI should be mirrored now (it is counted)
and, if not, why not (``model.EniVerdict``); this module only counts. The denominator is the ENIs counted: the
instance is asked for (its mirror tag, a selector, or a finding's window, within its owner's ``mirror-until`` if
any), running, of a type AWS supports or is being asked about, and the ENI is a source AWS can mirror. The numerator
is those of them with a session of ours that receives their packets: a session shadowed by another one ahead of it,
or on a target that is gone, dead, unreachable or drops the ENI's copies, mirrors nothing and does not count. The
README's "Coverage" says why each reason is in or out of the denominator.

Three views of the same verdicts, all pure (no AWS call: coverage costs no API call):
- ``as_read``: as the inventory was read, before any change (mirror-audit, a dry run);
- ``as_planned``: as the plan would leave it, if every step succeeds (mirror-audit's "after the plan");
- ``after_run``: as the scheduled reconciler leaves it, from what it really did (its report and its metric).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from traffic_mirroring.model import ERROR_STATUS_PREFIX, EniVerdict, Reason

FIX_FIRST_EXAMPLES = 5  # instance IDs named per reason in the list of what to fix first


@dataclass(frozen=True)
class EniCoverage:
    """One ENI as coverage counts it: in the denominator or not, mirrored or not, and why not."""

    instance_id: str
    eni_id: str
    counted: bool
    mirrored: bool
    reason: str  # not counted: why it is out; counted and not mirrored: why not; mirrored: ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "eni_id": self.eni_id,
            "counted": self.counted,
            "mirrored": self.mirrored,
            "reason": self.reason or None,
        }


@dataclass(frozen=True)
class Coverage:
    enis: tuple[EniCoverage, ...]

    @property
    def to_mirror(self) -> int:
        """The denominator: ENIs that should be mirrored."""
        return sum(1 for e in self.enis if e.counted)

    @property
    def mirrored(self) -> int:
        return sum(1 for e in self.enis if e.counted and e.mirrored)

    @property
    def percent(self) -> float | None:
        """100 * mirrored / to mirror; None when nothing should be mirrored (no data, not 0 %)."""
        return 100 * self.mirrored / self.to_mirror if self.to_mirror else None

    @property
    def unmirrored(self) -> dict[str, int]:
        """ENIs that should be mirrored and are not, by reason."""
        return _count(e.reason for e in self.enis if e.counted and not e.mirrored)

    @property
    def not_counted(self) -> dict[str, int]:
        """ENIs read that are out of the denominator, by reason."""
        return _count(e.reason for e in self.enis if not e.counted)

    def fix_first(self, examples: int = FIX_FIRST_EXAMPLES) -> list[dict[str, Any]]:
        """What to fix first: each reason ENIs are left unmirrored for, the one that would recover the most ENIs
        first (then the fewest instances to touch), with a few of its instances."""
        by_reason: dict[str, list[EniCoverage]] = {}
        for eni in self.enis:
            if eni.counted and not eni.mirrored:
                by_reason.setdefault(eni.reason, []).append(eni)
        rows = []
        for reason, enis in by_reason.items():
            instances = sorted({e.instance_id for e in enis})
            rows.append(
                {"reason": reason, "enis": len(enis), "instances": len(instances), "examples": instances[:examples]}
            )
        return sorted(rows, key=lambda row: (-row["enis"], row["instances"], row["reason"]))

    def as_dict(self, *, with_enis: bool = False) -> dict[str, Any]:
        """The figure with everything needed to recompute it: ``percent`` is 100 * ``enis_mirrored`` /
        ``enis_to_mirror`` (rounded to 2 decimals; null when nothing should be mirrored); ``unmirrored`` counts the
        rest of the denominator by reason, ``not_counted`` the ENIs read that are out of it. ``with_enis``: every ENI
        read, one row each (``counted``, ``mirrored``, ``reason``)."""
        percent = self.percent
        found: dict[str, Any] = {
            "enis_to_mirror": self.to_mirror,
            "enis_mirrored": self.mirrored,
            "percent": None if percent is None else round(percent, 2),
            "unmirrored": self.unmirrored,
            "not_counted": self.not_counted,
            "fix_first": self.fix_first(),
        }
        if with_enis:
            found["enis"] = [e.as_dict() for e in sorted(self.enis, key=lambda e: (e.instance_id, e.eni_id))]
        return found


def _count(reasons: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(reasons).items()))


def _excluded(verdict: EniVerdict) -> EniCoverage:
    return EniCoverage(verdict.instance_id, verdict.eni_id, False, False, verdict.reason)


def as_read(verdicts: Iterable[EniVerdict]) -> Coverage:
    """Coverage as the inventory was read: an ENI counts as mirrored when a session of ours on it receives its
    packets now."""
    return Coverage(
        tuple(
            EniCoverage(v.instance_id, v.eni_id, True, not v.reason_now, v.reason_now) if v.counted else _excluded(v)
            for v in verdicts
        )
    )


def as_planned(verdicts: Iterable[EniVerdict]) -> Coverage:
    """Coverage as the plan would leave it, every step succeeding."""
    return Coverage(
        tuple(
            EniCoverage(v.instance_id, v.eni_id, True, not v.reason, v.reason) if v.counted else _excluded(v)
            for v in verdicts
        )
    )


def after_run(
    verdicts: Iterable[EniVerdict],
    mirrored_enis: Collection[str],
    applied: Collection[str],
    final_status: Mapping[str, str],
    created_enis: Collection[str] = (),
) -> Coverage:
    """Coverage as a run leaves it.

    ``applied``: the instances whose whole plan was applied without a problem: their ENIs are as planned. Any other
    (left for the next run by the deadline, rolled back after an error, or applied only in part by the safety valve)
    is as read, except an ENI the run created a session on (``created_enis``) that the plan meant to mirror. Either
    way an ENI counts as mirrored only with a session of ours on it after the run (``mirrored_enis``: what was read,
    less what the run deleted, plus what it created and confirmed). An instance
    whose type AWS refused during the run (its ``final_status`` says so) leaves the denominator: AWS's answer is
    final. An ENI not mirrored for a reason the plan did not foresee takes its instance's status (an AWS error, an
    ENI found full at the create), else ``missing-session``.
    """
    rows: list[EniCoverage] = []
    for verdict in verdicts:
        status = final_status.get(verdict.instance_id, "")
        if not verdict.counted:
            rows.append(_excluded(verdict))
            continue
        if status == Reason.UNSUPPORTED_INSTANCE_TYPE:
            rows.append(EniCoverage(verdict.instance_id, verdict.eni_id, False, False, status))
            continue
        if verdict.instance_id in applied:
            expected = verdict.reason
        elif verdict.eni_id in created_enis and not verdict.reason:
            expected = ""  # its planned session was created, what else its plan held was not applied
        else:
            expected = verdict.reason_now
        mirrored = not expected and verdict.eni_id in mirrored_enis
        reason = "" if mirrored else _why_not(expected, status)
        rows.append(EniCoverage(verdict.instance_id, verdict.eni_id, True, mirrored, reason))
    return Coverage(tuple(rows))


def _why_not(expected: str, status: str) -> str:
    if status.startswith(ERROR_STATUS_PREFIX):
        return status  # the run failed for it: its AWS error says more than what the plan wanted
    if expected:
        return expected
    return status if status and status != Reason.MIRRORED else Reason.MISSING_SESSION
