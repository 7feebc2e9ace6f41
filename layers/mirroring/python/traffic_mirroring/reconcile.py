"""Use cases: reconcile one instance (every event trigger) and reconcile the whole account (the schedule)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from traffic_mirroring.config import Settings
from traffic_mirroring.ec2_gateway import Ec2Gateway
from traffic_mirroring.executor import Executor, Outcome
from traffic_mirroring.inventory import read_account_inventory, read_instance_inventory
from traffic_mirroring.model import Plan
from traffic_mirroring.observability import logger, metrics, report
from traffic_mirroring.planner import plan_mirroring

SAFETY_VALVE_MIN_DELETES = 10


@dataclass
class RunResult:
    plan: Plan
    outcome: Outcome
    summary: dict[str, object] = field(default_factory=dict)


def reconcile_instance(instance_id: str, gateway: Ec2Gateway, settings: Settings, trigger: str) -> RunResult:
    """Make one instance's sessions match its tag, type and state. Raises MirroringFailed after a rollback."""
    inventory = read_instance_inventory(gateway, settings, instance_id)
    if instance_id in inventory.missing_instance_ids and not inventory.sessions:
        logger.info("instance not found; nothing to do", extra={"instance_id": instance_id})
    plan = plan_mirroring(inventory, settings)
    outcome = Outcome()
    try:
        Executor(gateway, settings).apply(plan, outcome)
    finally:
        summary = report(plan, outcome, hourly_price=settings.session_hourly_price, trigger=trigger)
    return RunResult(plan, outcome, summary)


def plan_account(gateway: Ec2Gateway, settings: Settings) -> Plan:
    return plan_mirroring(read_account_inventory(gateway, settings), settings)


def reconcile_account(
    gateway: Ec2Gateway,
    settings: Settings,
    keep_going: Callable[[], bool] = lambda: True,
) -> RunResult:
    """Apply the account-wide plan, within the safety valve and the deadline."""
    plan = plan_account(gateway, settings)
    log_plan(plan)
    if settings.reconcile_dry_run:
        summary = report(plan, Outcome(), hourly_price=settings.session_hourly_price, trigger="schedule", dry_run=True)
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
    try:
        Executor(gateway, settings, confirm_creates=True).apply(to_apply, outcome, keep_going)
    finally:
        if outcome.unapplied:
            logger.warning("deadline: stopping before the Lambda timeout", extra={"left": outcome.unapplied})
        summary = report(plan, outcome, hourly_price=settings.session_hourly_price, trigger="schedule")
    return RunResult(plan, outcome, summary)


def refuses_deletes(plan: Plan, settings: Settings) -> bool:
    deletes = len(plan.deletes)
    if settings.force_deletes or deletes <= SAFETY_VALVE_MIN_DELETES:
        return False
    return deletes * 100 > settings.max_delete_percent * max(plan.managed_sessions, 1)


def creations_only(plan: Plan) -> Plan:
    kept = Plan(managed_sessions=plan.managed_sessions)
    for subject, subject_plan in plan.subjects.items():
        if subject_plan.creates:
            only = kept.for_subject(subject)
            only.creates = list(subject_plan.creates)
            only.skips = list(subject_plan.skips)
    return kept


def log_plan(plan: Plan) -> None:
    for create in plan.creates:
        logger.info(
            "plan: create",
            extra={
                "instance_id": create.instance_id,
                "eni_id": create.eni_id,
                "target_id": create.target_ids[0],
                "reason": create.reason,
            },
        )
    for delete in plan.deletes:
        logger.info(
            "plan: delete",
            extra={
                "subject": delete.subject,
                "session_id": delete.session.session_id,
                "eni_id": delete.session.eni_id,
                "reason": delete.reason,
            },
        )
    for update in plan.updates:
        logger.info(
            "plan: move",
            extra={
                "instance_id": update.instance_id,
                "session_id": update.session.session_id,
                "to": update.target_ids[:1],
                "filter": update.filter_id,
                "reason": update.reason,
            },
        )
    for skip in plan.skips:
        logger.info("plan: skip", extra={"subject": skip.subject, "eni_id": skip.eni_id, "reason": skip.reason})
