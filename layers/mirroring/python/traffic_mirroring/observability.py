"""The one place that owns Powertools' logger, tracer and metrics, and the per-run report."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.shared.constants import TRACER_DISABLED_ENV
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

from traffic_mirroring.coverage import Coverage
from traffic_mirroring.model import Plan, needs_attention
from traffic_mirroring.run_report import Outcome

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer


def tracing_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """False when POWERTOOLS_TRACE_DISABLED (Powertools' own switch, which the template's Tracing parameter sets: "true"
    by default) is true by Powertools' own rule; True when it is unset or false (outside Lambda Powertools then
    disables the Tracer itself)."""
    return not resolve_truthy_env_var_choice(env=environ.get(TRACER_DISABLED_ENV, "false").strip())


class Untraced:
    """Stands in for Powertools' Tracer when tracing is off: its decorator returns the handler as it is. Building a
    Tracer, even a disabled one, loads X-Ray's SDK and patches botocore: about as long as importing boto3."""

    def capture_lambda_handler(
        self, lambda_handler: Callable[..., Any] | None = None, capture_response: bool | None = None
    ) -> Callable[..., Any]:
        if lambda_handler is None:
            return lambda handler: handler
        return lambda_handler


def _tracer() -> Tracer | Untraced:
    if not tracing_enabled():
        return Untraced()
    from aws_lambda_powertools import Tracer  # here, not at the top: only a traced function pays for X-Ray's SDK

    return Tracer(service="traffic-mirroring")


logger = Logger(service="traffic-mirroring")
tracer = _tracer()
# No namespace argument: Powertools then takes POWERTOOLS_METRICS_NAMESPACE, which the template sets from the
# MetricsNamespace parameter. An explicit argument would win over it, and the alarms and the dashboard, which read
# MetricsNamespace, would watch a namespace without data.
metrics = Metrics(service="traffic-mirroring")
metrics.namespace = metrics.namespace or "TrafficMirroring"  # outside Lambda, when the variable is not set

HOURS_PER_MONTH = 730


def monthly_cost(sessions: int, hourly_price: float) -> float:
    return round(sessions * hourly_price * HOURS_PER_MONTH, 2)


def report(
    plan: Plan,
    outcome: Outcome,
    *,
    hourly_price: float,
    trigger: str,
    dry_run: bool = False,
    vni_map: Mapping[str, Sequence[str]] | None = None,
    coverage: Coverage | None = None,
) -> dict[str, object]:
    """Emit one structured log line and the matching metrics; return the summary (also for tests).

    ``vni_map``: VNI → the sources (VPCs or instances) of our sessions carrying it after the run, published so an
    analyser can tell where a copy comes from (session_options.vni_map). ``coverage``: the account's coverage, from
    the scheduled reconciler only (an event judges one instance: its figure would read as the account's); None
    elsewhere. Its metric ``Coverage`` is published only when some ENI should be mirrored: an empty account sends no
    data, not 0 %.
    """
    deleted = sum(outcome.deleted.values())
    managed_after = plan.managed_sessions + len(outcome.created) - deleted
    attention = sorted(subject for subject, status in outcome.final_status.items() if needs_attention(status))
    verdicts = {**plan.type_verdicts, **outcome.learned}
    summary: dict[str, object] = {
        "trigger": trigger,
        "dry_run": dry_run,
        "sessions_managed": managed_after,
        "sessions_created": len(outcome.created),
        "sessions_moved": outcome.updated,
        "sessions_options_changed": outcome.options_changed,  # of the moved: packet length or VNI rolled over
        "sessions_deleted": dict(outcome.deleted),
        "sessions_skipped": dict(outcome.skipped),
        "sessions_rolled_back": outcome.rolled_back,
        "unapplied_subjects": outcome.unapplied,
        "instances_needing_attention": {subject: outcome.final_status[subject] for subject in attention},
        "instance_type_verdicts": verdicts,
        "instance_types_asked": sorted({c.probe_type for c in plan.creates if c.probe_type}),
        "pool_targets": list(plan.pool),
        "mirroring_windows": dict(plan.windows),
        "dead_targets": dict(plan.dead_targets),
        "unhealthy_targets": dict(plan.unhealthy_targets),  # drops: no new sessions there
        "target_advisories": {target: list(risks) for target, risks in plan.target_advisories.items()},
        "unreadable_reachability": dict(plan.reachability_problems),
        "missing_pool_targets": list(plan.missing_pool_targets),
        "unconfirmed_creations": outcome.unconfirmed,
        "vni_map": {vni: list(sources) for vni, sources in (vni_map or {}).items()},
        "coverage": coverage.as_dict() if coverage is not None else None,
        "estimated_monthly_cost": monthly_cost(managed_after, hourly_price),
        "monthly_cost_avoided": monthly_cost(deleted, hourly_price),
    }
    logger.info("traffic mirroring run", extra={"report": summary})
    if outcome.learned:
        logger.info("instance types learned from AWS", extra={"instance_type_verdicts": outcome.learned})
    if plan.dead_targets:
        logger.warning("pool targets that cannot receive", extra={"dead_targets": plan.dead_targets})
    if plan.unhealthy_targets:
        logger.warning(
            "pool targets that drop the copies of some sources: they get no new sessions from them",
            extra={"unhealthy_targets": plan.unhealthy_targets},
        )
    if plan.target_advisories:
        logger.warning(
            "pool targets with a risk (they still serve): see what to do",
            extra={"target_advisories": plan.target_advisories},
        )
    if plan.reachability_problems:
        logger.warning(
            "pool targets whose reachability tag names no VPC it can read (they serve their own VPC only)",
            extra={"unreadable_reachability": plan.reachability_problems},
        )
    if plan.missing_pool_targets:
        logger.warning("pool targets that do not exist", extra={"missing": list(plan.missing_pool_targets)})
    metrics.add_metric(name="InstancesNeedingAttention", unit=MetricUnit.Count, value=len(attention))
    metrics.add_metric(name="SessionsManaged", unit=MetricUnit.Count, value=managed_after)
    metrics.add_metric(name="SessionsCreated", unit=MetricUnit.Count, value=len(outcome.created))
    metrics.add_metric(name="SessionsMoved", unit=MetricUnit.Count, value=outcome.updated)
    metrics.add_metric(name="SessionsDeleted", unit=MetricUnit.Count, value=deleted)
    metrics.add_metric(name="SessionsSkipped", unit=MetricUnit.Count, value=sum(outcome.skipped.values()))
    metrics.add_metric(name="Rollbacks", unit=MetricUnit.Count, value=outcome.rolled_back)
    for reason, count in outcome.skipped.items():
        metrics.add_metric(name=f"Skipped.{reason}", unit=MetricUnit.Count, value=count)
    for reason, count in outcome.deleted.items():
        metrics.add_metric(name=f"Deleted.{reason}", unit=MetricUnit.Count, value=count)
    metrics.add_metric(name="MonthlyCostAvoided", unit=MetricUnit.NoUnit, value=monthly_cost(deleted, hourly_price))
    percent = coverage.percent if coverage is not None else None
    if percent is not None:
        metrics.add_metric(name="Coverage", unit=MetricUnit.Percent, value=percent)
    if trigger == "schedule":  # only a full reconciliation counts every session: the account's running cost
        metrics.add_metric(name="DeadTargets", unit=MetricUnit.Count, value=len(plan.dead_targets))
        metrics.add_metric(name="PoolTargetsMissing", unit=MetricUnit.Count, value=len(plan.missing_pool_targets))
        metrics.add_metric(name="UnhealthyTargets", unit=MetricUnit.Count, value=len(plan.unhealthy_targets))
        metrics.add_metric(name="TargetAdvisories", unit=MetricUnit.Count, value=len(plan.target_advisories))
        metrics.add_metric(
            name="EstimatedMonthlyCost", unit=MetricUnit.NoUnit, value=monthly_cost(managed_after, hourly_price)
        )
    return summary
