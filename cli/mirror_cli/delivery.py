"""Use case: for each pool target, what its sources mirrored and what it received over a window (``mirror-audit
--delivery``). Reads only; the arithmetic and the verdicts are ``delivery``'s.

Reads: the targets (which are in the pool, and the resource behind each), every session the account sees, the
instance each session's ENI is attached to (DescribeNetworkInterfaces, 200 ENIs a call), then one GetMetricData per
500 metrics: four per source instance (``delivery.SOURCE_METRICS``) and one or two per target. Price: $0.01 per 1,000
metrics requested, so 4 per instance: $0.04 per 1,000 mirrored instances each time it runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from traffic_mirroring.config import Settings
from traffic_mirroring.delivery import (
    DEFAULT_MIN_RATIO,
    DEFAULT_WINDOW_MINUTES,
    RECEIVED,
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
from traffic_mirroring.model import TARGET_KIND_ENI, TARGET_KIND_GWLB_ENDPOINT, TARGET_KIND_NLB
from traffic_mirroring.planner import pool_targets
from traffic_mirroring.ports import DeliveryMetricsPort


def check_delivery(
    gateway: Ec2Gateway,
    metrics: DeliveryMetricsPort,
    settings: Settings,
    *,
    now: datetime | None = None,
    window_minutes: int = DEFAULT_WINDOW_MINUTES,
    min_ratio: float = DEFAULT_MIN_RATIO,
) -> dict[str, Any]:
    """Every pool target's delivery, as plain data with a stable shape (``mirror-audit --delivery --json``)."""
    targets = gateway.targets(fresh=True)
    pool = pool_targets(settings, targets)
    sessions = gateway.describe_sessions()
    eni_instances = gateway.describe_eni_attachments({s.eni_id for s in sessions}) if sessions else {}
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


_SHORT_KIND = {TARGET_KIND_NLB: "NLB", TARGET_KIND_GWLB_ENDPOINT: "GWLB endpoint", TARGET_KIND_ENI: "ENI"}


def _size(count: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:,.1f} {unit}"
    return f"{count:,.0f} B"


def print_delivery(delivery: Mapping[str, Any], out: TextIO, width: int | None = None) -> None:
    """The delivery section of the text report."""
    from traffic_mirroring.audit import fit_table, wrap_text

    def say(text: str = "") -> None:
        for line in wrap_text(text, width) if text else [""]:
            print(line, file=out)

    window = delivery["window"]
    say()
    say(
        f"Delivery, {window['start']} to {window['end']}: what each pool target's sources mirrored (with "
        f"{delivery['overhead_bytes_per_packet']} bytes of VXLAN a packet) and what it received. A target is flagged "
        f"below {delivery['min_ratio']:.0%}, or when it received nothing while its sources sent"
    )
    rows: list[Sequence[str | Sequence[str] | None]] = []
    for row in delivery["targets"]:
        sources = row["sources"]
        counted = str(sources["counted"])
        if sources["also_elsewhere"]:
            counted += f" (+{sources['also_elsewhere']} elsewhere too)"
        if sources["not_read"]:
            counted += f" (+{sources['not_read']} not read)"
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.0%}"
        verdict = row["verdict"] + (" !" if row["flagged"] else "")
        kind = _SHORT_KIND.get(row["kind"], row["kind"])
        rows.append(
            [
                [row["target_id"], f"({kind})"] if kind else row["target_id"],
                counted,
                _size(row["expected_bytes"]),
                _size(row["received_bytes"]),
                ratio,
                f"{verdict}: {row['reason']}" if row["reason"] else verdict,
            ]
        )
    columns = ["target", "sources", "expected", "received", "ratio", "verdict"]
    for line in fit_table(columns, rows, width):
        print(line, file=out)
    kinds = sorted({row["kind"] for row in delivery["targets"] if row["kind"] in RECEIVED})
    if kinds:
        say()
        say("Received is read from (each also counts traffic that is not mirrored: it shows a loss, never delivery):")
        for kind in kinds:
            spec = RECEIVED[kind]
            for line in wrap_text(f"{kind}: {spec.name}: {spec.includes}", width, indent=2):
                print(line, file=out)
    flagged_ids = delivery["flagged"]
    say()
    if flagged_ids:
        say(
            f'Delivery: {len(flagged_ids)} target(s) flagged ({", ".join(flagged_ids)}): see README, "Know that '
            'mirrored packets arrive"'
        )
    else:
        say("Delivery: no loss shown")


def audit_delivery(
    settings: Settings,
    where: Any,
    *,
    window_minutes: int = DEFAULT_WINDOW_MINUTES,
    min_ratio: float = DEFAULT_MIN_RATIO,
    guard: Any = None,
) -> dict[str, Any]:
    """``mirror-audit --delivery``: the delivery of one account's pool, through clients the audit's read-only guard
    protects (``where``: an ``audit.AwsTarget``)."""
    import boto3

    from traffic_mirroring.audit import ReadOnlyGuard, client_config, read_only_clients
    from traffic_mirroring.metrics_gateway import CloudWatchGateway

    guard = guard or ReadOnlyGuard()
    ec2, elbv2, _ = read_only_clients(where, guard)
    session = boto3.session.Session(profile_name=where.profile, region_name=where.region)
    cloudwatch = guard.protect(session.client("cloudwatch", endpoint_url=where.endpoint_url, config=client_config()))
    gateway = Ec2Gateway(ec2, elbv2, target_cache_seconds=0)
    return check_delivery(
        gateway, CloudWatchGateway(cloudwatch), settings, window_minutes=window_minutes, min_ratio=min_ratio
    )


def print_report_with_delivery(report: Mapping[str, Any], out: TextIO, width: int | None = None) -> None:
    """The audit's text report, then its delivery section when it has one."""
    from traffic_mirroring.audit import print_report

    print_report(report, out, width)
    if report.get("delivery"):
        print_delivery(report["delivery"], out, width)
