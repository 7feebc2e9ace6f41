"""Use cases: reconcile one instance (every event trigger) and reconcile the whole account (the schedule)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from traffic_mirroring import coverage
from traffic_mirroring.config import Settings
from traffic_mirroring.executor import Executor
from traffic_mirroring.inventory import read_account_inventory, read_instance_inventory
from traffic_mirroring.model import Inventory, MirrorSession, Plan, Reason, SubjectPlan, UpdateSession
from traffic_mirroring.observability import logger, metrics, report
from traffic_mirroring.planner import plan_mirroring
from traffic_mirroring.ports import ReconcilePort
from traffic_mirroring.run_report import Outcome
from traffic_mirroring.session_options import REMOVE_PACKET_LENGTH, vni_map

SAFETY_VALVE_MIN_DELETES = 10
# Subjects a second pass may place: they waited for a slot, or for AWS's answer about their instance type.
_WAITING = frozenset({Reason.NO_TARGET_CAPACITY, Reason.AWAITING_VERDICT})


@dataclass
class RunResult:
    plan: Plan
    outcome: Outcome
    summary: dict[str, object] = field(default_factory=dict)


def _log(message: str, **extra: Any) -> None:
    logger.info(message, extra=extra)


def reconcile_instance(instance_id: str, port: ReconcilePort, settings: Settings, trigger: str) -> RunResult:
    """Make one instance's sessions match its tag, type and state.

    A problem of this instance (a bad tag, a refused source, an ENI at its limit) ends in its status tag and the
    report; transient and account-wide failures raise MirroringFailed (after a rollback) so the event is retried.
    """
    inventory = read_instance_inventory(port, settings, instance_id)
    if instance_id in inventory.missing_instance_ids and not inventory.sessions:
        logger.info("instance not found; nothing to do", extra={"instance_id": instance_id})
    plan = plan_mirroring(inventory, settings)
    outcome = Outcome()
    try:
        Executor(port, settings, log=_log).apply(plan, outcome)
    finally:
        summary = report(
            plan,
            outcome,
            hourly_price=settings.session_hourly_price,
            trigger=trigger,
            vni_map=vni_map(sessions_after(inventory, plan, outcome), inventory, settings),
        )
    return RunResult(plan, outcome, summary)


def plan_account(port: ReconcilePort, settings: Settings) -> Plan:
    return plan_mirroring(read_account_inventory(port, settings), settings)


def reconcile_account(
    port: ReconcilePort,
    settings: Settings,
    keep_going: Callable[[], bool] = lambda: True,
) -> RunResult:
    """Apply the account-wide plan, within the safety valve and the deadline.

    Raises only for account-wide failures (reads failing, credentials, throttling past the retries); every other
    instance is finished first. A second pass places what waited for capacity freed by this run's deletions or for
    AWS's verdict on an unlisted type; it creates and moves but never deletes, so the safety valve holds over the
    whole run.
    """
    inventory = read_account_inventory(port, settings)
    plan = plan_mirroring(inventory, settings)
    log_plan(plan)
    if settings.reconcile_dry_run:
        summary = report(
            plan,
            Outcome(),
            hourly_price=settings.session_hourly_price,
            trigger="schedule",
            dry_run=True,
            vni_map=vni_map(inventory.sessions, inventory, settings),
            coverage=coverage.as_read(plan.sources),
        )
        return RunResult(plan, Outcome(), summary)
    to_apply = plan
    if refuses_deletes(plan, settings):
        logger.error(
            "safety valve: refusing a plan that deletes too many managed sessions; applying creations only",
            extra={"deletes": len(plan.deletes), "managed": plan.managed_sessions},
        )
        metrics.add_metric(name="SafetyValveTriggered", unit="Count", value=1)
        to_apply = creations_only(plan)
    outcome = Outcome()
    executor = Executor(port, settings, account_wide=True, log=_log)
    judged, applied = dict(plan.subjects), dict(to_apply.subjects)  # per instance: its verdicts, what was applied
    try:
        executor.apply(to_apply, outcome, keep_going)
        waiting = _waiting_subjects(to_apply)
        freed = bool(outcome.deleted) and any(
            s.reason == Reason.NO_TARGET_CAPACITY for p in to_apply.subjects.values() for s in p.skips
        )
        if waiting and (freed or outcome.learned) and keep_going():
            moves = to_apply is plan  # under the safety valve, creations only, as in the first pass
            again, second = _second_pass(port, settings, executor, to_apply, waiting, outcome, keep_going, moves)
            judged.update({subject: again.subjects[subject] for subject in second.subjects})
            applied.update(second.subjects)
    finally:
        if outcome.unapplied:
            logger.warning("deadline: stopping before the Lambda timeout", extra={"left": outcome.unapplied})
        summary = report(
            plan,
            outcome,
            hourly_price=settings.session_hourly_price,
            trigger="schedule",
            vni_map=vni_map(sessions_after(inventory, to_apply, outcome), inventory, settings),
            coverage=coverage_after(inventory, to_apply, outcome, settings, judged, applied),
        )
    return RunResult(plan, outcome, summary)


def coverage_after(
    inventory: Inventory,
    applied_plan: Plan,
    outcome: Outcome,
    settings: Settings,
    judged: Mapping[str, SubjectPlan],
    applied: Mapping[str, SubjectPlan],
) -> coverage.Coverage:
    """Coverage as the run leaves the account (``coverage.after_run``). ``judged``: each instance's plan whose ENI
    verdicts count (a second pass judged the waiting ones again); ``applied``: what was applied of it. An instance
    counts as planned only when the whole of its plan was applied (the safety valve applies creations only)."""
    done = set(outcome.applied) - set(outcome.problems)
    whole = {
        subject
        for subject in done
        if subject in judged
        and subject in applied
        and (
            applied[subject] is judged[subject]
            or (
                applied[subject].deletes == judged[subject].deletes
                and applied[subject].updates == judged[subject].updates
            )
        )
    }
    mirrored = {s.eni_id for s in sessions_after(inventory, applied_plan, outcome) if settings.owns(s)}
    verdicts = [v for subject_plan in judged.values() for v in subject_plan.sources]
    created = {s.eni_id for s in outcome.created}
    return coverage.after_run(verdicts, mirrored, whole, outcome.final_status, created)


def sessions_after(inventory: Inventory, applied: Plan, outcome: Outcome) -> list[MirrorSession]:
    """The sessions as this run leaves them, as far as it knows: those read, without the deletions of the subjects
    it applied, with their option changes, and what it created (with the VNI AWS answered)."""
    done = set(outcome.applied)
    gone = {d.session.session_id for d in applied.deletes if d.subject in done}
    changed = {u.session.session_id: u for u in applied.updates if u.instance_id in done and u.changes_options}
    kept = {s.session_id: s for s in inventory.sessions if s.session_id not in gone}
    return [*(_with_options(s, changed.get(s.session_id)) for s in kept.values()), *outcome.created]


def _with_options(session: MirrorSession, update: UpdateSession | None) -> MirrorSession:
    if update is None:
        return session
    return replace(
        session,
        packet_length=_packet_length_after(update),
        virtual_network_id=update.virtual_network_id
        if update.virtual_network_id is not None
        else session.virtual_network_id,
    )


def _packet_length_after(update: UpdateSession) -> int | None:
    if update.packet_length is not None:
        return update.packet_length
    return None if REMOVE_PACKET_LENGTH in update.remove_fields else update.session.packet_length


def _waiting_subjects(plan: Plan) -> set[str]:
    return {p.subject for p in plan.subjects.values() if any(s.reason in _WAITING for s in p.skips)}


def _second_pass(
    port: ReconcilePort,
    settings: Settings,
    executor: Executor,
    first: Plan,
    waiting: set[str],
    outcome: Outcome,
    keep_going: Callable[[], bool],
    moves: bool,
) -> tuple[Plan, Plan]:
    """Plan once more and apply it for the waiting subjects only (``second_pass_plan``). Returns the new plan
    and what of it was applied."""
    logger.info("placing what waited for freed capacity or AWS's verdict", extra={"subjects": sorted(waiting)})
    again = plan_account(port, settings)
    second = second_pass_plan(again, waiting, moves)
    for subject in second.subjects:
        for skip in first.subjects[subject].skips:  # judged again: the second verdict replaces the first
            outcome.skipped[skip.reason] -= 1
    outcome.skipped += Counter()  # drop the reasons that went to zero
    executor.apply(second, outcome, keep_going)
    return again, second


def second_pass_plan(again: Plan, waiting: set[str], moves: bool = True) -> Plan:
    """What the second pass applies: the new plan of the waiting subjects, their creations, moves and status, never
    a deletion (the safety valve judged the first plan's).

    Its moves are applied with its creations: the new plan counted the slots they take (a session leaving a retired
    target for the one freed this run), and a move planned but not applied would leave that slot empty while a
    later subject was told ``no-target-capacity``, and the moved session on its old target under a ``mirrored``
    status. ``moves=False`` (the safety valve cut the first pass to creations): creations only, as there.
    """
    second = Plan(managed_sessions=again.managed_sessions)
    for subject in sorted(waiting & set(again.subjects)):
        source = again.subjects[subject]
        only = second.for_subject(subject)
        only.creates, only.skips, only.status = list(source.creates), list(source.skips), source.status
        only.updates = list(source.updates) if moves else []
        only.current_status, only.is_instance, only.generation = (
            source.current_status,
            source.is_instance,
            source.generation,
        )
        only.instance_type = source.instance_type
    return second


def refuses_deletes(plan: Plan, settings: Settings) -> bool:
    # An expiry is a deletion someone asked for, at a time they chose: a window that ends for the whole fleet at
    # once is no misconfiguration, so it does not count toward the safety valve.
    deletes = sum(1 for d in plan.deletes if d.reason != Reason.EXPIRED)
    if settings.max_delete_percent >= 100 or deletes <= SAFETY_VALVE_MIN_DELETES:
        return False
    return deletes * 100 > settings.max_delete_percent * max(plan.managed_sessions, 1)


def creations_only(plan: Plan) -> Plan:
    kept = Plan(
        managed_sessions=plan.managed_sessions,
        type_verdicts=plan.type_verdicts,
        dead_targets=plan.dead_targets,
        missing_pool_targets=plan.missing_pool_targets,
    )
    for subject, subject_plan in plan.subjects.items():
        if subject_plan.creates:
            only = kept.for_subject(subject)
            only.creates = list(subject_plan.creates)
            only.skips = list(subject_plan.skips)
            only.generation, only.is_instance = subject_plan.generation, subject_plan.is_instance
            only.instance_type = subject_plan.instance_type
    return kept


def plan_actions(plan: Plan) -> dict[str, list[dict[str, Any]]]:
    """The plan as plain rows, sorted, each with its reason: what the reconciler logs and mirror-audit prints."""
    creates = sorted(
        (
            {
                "instance_id": c.instance_id,
                "eni_id": c.eni_id,
                "target_id": c.target_ids[0],
                "session_number": c.session_number,
                "filter_id": c.filter_id,
                "packet_length": c.packet_length,  # None: the whole packet
                "virtual_network_id": c.virtual_network_id,  # None: AWS picks one
                "reason": c.reason,
            }
            for c in plan.creates
        ),
        key=lambda row: (row["instance_id"], row["eni_id"]),
    )
    deletes = sorted(
        (
            {
                "subject": d.subject,
                "session_id": d.session.session_id,
                "eni_id": d.session.eni_id,
                "target_id": d.session.target_id,
                "session_number": d.session.session_number,
                "reason": d.reason,
            }
            for d in plan.deletes
        ),
        key=lambda row: (row["subject"], row["session_id"]),
    )
    moves = sorted(
        (
            {
                "instance_id": u.instance_id,
                "session_id": u.session.session_id,
                "eni_id": u.session.eni_id,
                "from_target_id": u.session.target_id,
                "to_target_id": u.target_ids[0] if u.target_ids else u.session.target_id,
                "from_filter_id": u.session.filter_id,
                "to_filter_id": u.filter_id or u.session.filter_id,
                "from_packet_length": u.session.packet_length,
                "to_packet_length": _packet_length_after(u),
                "from_virtual_network_id": u.session.virtual_network_id,
                "to_virtual_network_id": u.virtual_network_id
                if u.virtual_network_id is not None
                else u.session.virtual_network_id,
                "reason": u.reason,
            }
            for u in plan.updates
        ),
        key=lambda row: (row["instance_id"], row["session_id"]),
    )
    skips = sorted(
        ({"subject": s.subject, "eni_id": s.eni_id, "reason": s.reason} for s in plan.skips),
        key=lambda row: (row["subject"], row["eni_id"] or ""),
    )
    status_tags = sorted(
        (
            # desired None: the tag would be removed (the instance no longer asks to be mirrored)
            {"instance_id": p.subject, "current": p.current_status, "desired": p.status or None}
            for p in plan.subjects.values()
            if p.status is not None and p.status != (p.current_status or "")
        ),
        key=lambda row: str(row["instance_id"]),
    )
    return {"creates": creates, "deletes": deletes, "moves": moves, "skips": skips, "status_tags": status_tags}


_LOG_MESSAGES = {"creates": "plan: create", "deletes": "plan: delete", "moves": "plan: move", "skips": "plan: skip"}


def log_plan(plan: Plan) -> None:
    """One log line per action, so an operator can query a refused or dry-run plan in CloudWatch Logs Insights."""
    for kind, rows in plan_actions(plan).items():
        for row in rows:
            if kind in _LOG_MESSAGES:
                logger.info(_LOG_MESSAGES[kind], extra=row)
