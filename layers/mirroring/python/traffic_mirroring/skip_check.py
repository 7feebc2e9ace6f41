"""Use case: once an hour, name the mirrored instances that drop mirrored packets, and count them in a metric.

The scheduled reconciler runs it when its hourly rule invokes it with ``SKIP_CHECK_INPUT`` (template.yaml,
``ScheduledReconcilerFunction``, event ``MirrorSkipCheck``). It reads our sessions (which instances we mirror), asks
CloudWatch what each one dropped (``ports.SkipMetricsPort``), judges (``mirror_skips``), logs the instances that skip
and publishes their number, which ``MirrorPacketsSkippedAlarm`` watches.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools.metrics import MetricUnit

from traffic_mirroring.config import Settings
from traffic_mirroring.errors import MetricsIncomplete
from traffic_mirroring.mirror_skips import SKIPPING_METRIC, judge_skips, mirrored_instances, skip_window
from traffic_mirroring.observability import logger, metrics
from traffic_mirroring.ports import InventoryPort, SkipMetricsPort

# The constant input of the hourly rule: what tells this run from a reconcile.
SKIP_CHECK_INPUT = {"check": "mirrored-packets-skipped"}
TRIGGER = "mirror skip check"
LISTED_AT_MOST = 1000  # instances named in the log line (worst first): one log event stays far below 256 KB


def is_skip_check(event: object) -> bool:
    return isinstance(event, dict) and event.get("check") == SKIP_CHECK_INPUT["check"]


def check_mirror_skips(
    port: InventoryPort, skip_metrics: SkipMetricsPort, settings: Settings, now: datetime | None = None
) -> dict[str, object]:
    """Judge every instance our sessions mirror; raise ``MetricsIncomplete`` (after reporting what was judged) when
    CloudWatch did not answer for some of them, so the run is retried and the function's error alarm fires."""
    instances = mirrored_instances(port.describe_sessions(), settings)
    window = skip_window(now or datetime.now(UTC))
    readings = skip_metrics.skipped_bytes(instances, window) if instances else {}
    verdicts = judge_skips(instances, readings, settings.skip_threshold_bytes)
    listed = dict(list(verdicts.skipping.items())[:LISTED_AT_MOST])
    summary: dict[str, object] = {
        "trigger": TRIGGER,
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat()},
        "threshold_bytes_per_5_minutes": settings.skip_threshold_bytes,
        "instances_mirrored": len(instances),
        "instances_judged": verdicts.judged,
        "instances_without_data": len(verdicts.without_data),
        "instances_skipping": len(verdicts.skipping),
        "skipping": {instance: {"in": worst[0], "out": worst[1]} for instance, worst in listed.items()},
        "not_judged": list(verdicts.not_judged),
    }
    if verdicts.skipping:
        logger.warning("mirrored instances dropping mirrored packets (production traffic first)", extra=summary)
    else:
        logger.info("no mirrored instance dropped mirrored packets above the threshold", extra=summary)
    metrics.add_metric(name=SKIPPING_METRIC, unit=MetricUnit.Count, value=len(verdicts.skipping))
    if verdicts.not_judged:
        raise MetricsIncomplete("GetMetricData", list(verdicts.not_judged))
    return summary
