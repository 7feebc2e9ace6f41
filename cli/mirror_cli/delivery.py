"""``mirror-audit --delivery``: for each pool target, what its sources mirrored and what it received over a window.
Reads only, through the audit's read-only clients; the arithmetic and the verdicts are the domain's
(``traffic_mirroring.delivery``), the text ``mirror_cli.text``'s.

Reads: the targets (which are in the pool, and the resource behind each), every session the account sees, the
instance each session's ENI is attached to (DescribeNetworkInterfaces, 200 ENIs a call), then one GetMetricData per
500 metrics: four per source instance (``delivery.SOURCE_METRICS``) and one or two per target. Price: $0.01 per 1,000
metrics requested, so 4 per instance: $0.04 per 1,000 mirrored instances each time it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mirror_cli.aws import AwsTarget, ReadOnlyGuard, client, new_session, read_only_clients
from traffic_mirroring.config import Settings
from traffic_mirroring.delivery import (
    DEFAULT_MIN_RATIO,
    DEFAULT_WINDOW_MINUTES,
    VXLAN_OVERHEAD_IPV4,
    Delivery,
    MetricQuery,
    attribute_sources,
    delivery_window,
    judge_delivery,
    source_queries,
    target_queries,
)
from traffic_mirroring.ec2_gateway import Ec2Gateway
from traffic_mirroring.metrics_gateway import CloudWatchGateway
from traffic_mirroring.planner import pool_targets
from traffic_mirroring.ports import DeliveryMetricsPort, InventoryPort


def check_delivery(
    port: InventoryPort,
    metrics: DeliveryMetricsPort,
    settings: Settings,
    *,
    now: datetime | None = None,
    window_minutes: int = DEFAULT_WINDOW_MINUTES,
    min_ratio: float = DEFAULT_MIN_RATIO,
) -> dict[str, Any]:
    """Every pool target's delivery, as plain data with a stable shape (``mirror-audit --delivery --json``)."""
    targets = port.targets(fresh=True)
    pool = pool_targets(settings, targets)
    sessions = port.describe_sessions()
    eni_instances = port.describe_eni_attachments({s.eni_id for s in sessions}) if sessions else {}
    sources = attribute_sources(pool, sessions, eni_instances)
    window = delivery_window(now or datetime.now(UTC), window_minutes)
    queries: list[MetricQuery] = []
    for target_id in pool:
        if target_id in targets:
            queries += target_queries(targets[target_id])[0].values()
        for instance in sources[target_id].instances:
            queries += source_queries(instance).values()
    unique = list(dict.fromkeys(queries))
    readings = metrics.metric_series(unique, window) if unique else {}
    rows = [judge_delivery(targets.get(t), t, sources[t], readings, min_ratio) for t in pool]
    return {
        "window": {
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
            "minutes": window_minutes,
            "period_seconds": window.period_seconds,
        },
        "min_ratio": min_ratio,
        "overhead_bytes_per_packet": VXLAN_OVERHEAD_IPV4,
        "metrics_requested": len(unique),
        "targets": [delivery_row(row) for row in rows],
        "flagged": [row.target_id for row in rows if row.flagged],
    }


def delivery_row(row: Delivery) -> dict[str, Any]:
    ratio = row.ratio
    return {
        "target_id": row.target_id,
        "kind": row.kind,
        "verdict": str(row.verdict),
        "flagged": row.flagged,
        "reason": row.reason,
        "received_metric": row.received_metric,
        "includes": row.includes,
        "sources": {
            "counted": row.sources_counted,
            "also_elsewhere": row.sources_elsewhere,
            "not_read": row.sources_not_read,
        },
        "mirrored_bytes": row.mirrored_bytes,
        "mirrored_packets": row.mirrored_packets,
        "expected_bytes": row.expected_bytes,
        "expected_at_most": row.expected_at_most,
        "received_bytes": row.received_bytes,
        "ratio": None if ratio is None else round(ratio, 4),
        "dropped_packets": row.dropped_packets,
        "periods": row.periods,
    }


def flagged(report: Mapping[str, Any]) -> bool:
    """Whether a report's delivery section flags a target (absent: not asked)."""
    return bool((report.get("delivery") or {}).get("flagged"))


def audit_delivery(
    settings: Settings,
    where: AwsTarget,
    *,
    window_minutes: int = DEFAULT_WINDOW_MINUTES,
    min_ratio: float = DEFAULT_MIN_RATIO,
    guard: ReadOnlyGuard | None = None,
) -> dict[str, Any]:
    """``mirror-audit --delivery``: the delivery of one account's pool, through clients the audit's read-only guard
    protects."""
    guard = guard or ReadOnlyGuard()
    session = new_session(where)
    ec2, elbv2, _ = read_only_clients(where, guard, session=session)
    cloudwatch = client(session, "cloudwatch", where, guard)
    gateway = Ec2Gateway(ec2, elbv2, target_cache_seconds=0)
    return check_delivery(
        gateway, CloudWatchGateway(cloudwatch), settings, window_minutes=window_minutes, min_ratio=min_ratio
    )
