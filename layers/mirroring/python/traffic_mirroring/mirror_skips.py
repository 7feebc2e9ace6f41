"""Mirrored packets skipped: the rule that names the instances whose copies are incomplete. Pure: no AWS here.

When an instance is busy, AWS gives its production traffic priority and drops mirrored packets first, counting the
bytes in ``NetworkSkipMirrorIn`` and ``NetworkSkipMirrorOut`` (namespace ``AWS/EC2``, dimension ``InstanceId``):
https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirror-cloudwatch.html

The stack reads those two metrics of every instance its sessions mirror, once an hour, with GetMetricData (the
gateway, ``metrics_gateway``), and this module judges them: an instance that dropped more than
``SkipAlarmThresholdBytes`` in any 5 minutes of the window, in either direction, is skipping. Why not alarms on a
Metrics Insights query over ``SCHEMA("AWS/EC2", InstanceId)``: such an alarm is billed for every metric its filter
matches (a LIMIT does not change what the filter matches) and stops judging everyone past 500 returned series or
10,000 matched metrics (``PARTIAL_DATA``): README, "What it costs", and docs/alarms.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from traffic_mirroring.config import Settings
from traffic_mirroring.model import MirrorSession

# The template's skip-check schedule, rate(1 hour) (tests/integration/test_template.py holds them equal). Hourly
# keeps GetMetricData at 2 metrics per mirrored instance an hour: README, "What it costs".
SKIP_CHECK_MINUTES = 60
# EC2 publishes these metrics every 5 minutes (basic monitoring), and SkipAlarmThresholdBytes is bytes in 5 minutes.
SKIP_PERIOD_SECONDS = 300
# What one check reads: its hour and 15 minutes more, so a 5-minute period whose data arrived late is judged by the
# next check (consecutive windows overlap; an instance skipping in the overlap is named twice, never missed).
SKIP_LOOKBACK_MINUTES = SKIP_CHECK_MINUTES + 15
INBOUND, OUTBOUND = "NetworkSkipMirrorIn", "NetworkSkipMirrorOut"
SKIP_METRICS = (INBOUND, OUTBOUND)
SKIPPING_METRIC = "InstancesSkippingMirroredPackets"  # what the check publishes; MirrorPacketsSkippedAlarm watches it


@dataclass(frozen=True)
class MetricWindow:
    """The time a check reads, in periods of ``period_seconds`` aligned to the clock (as GetMetricData advises)."""

    start: datetime
    end: datetime
    period_seconds: int = SKIP_PERIOD_SECONDS


@dataclass(frozen=True)
class SkippedBytes:
    """What CloudWatch answered for one instance: the bytes dropped in each period, per direction (a period
    without a data point is absent). ``complete`` is False when a query's answer was not ``Complete``."""

    inbound: tuple[float, ...] = ()
    outbound: tuple[float, ...] = ()
    complete: bool = True


@dataclass(frozen=True)
class SkipVerdicts:
    """``skipping``: instance → the most bytes it dropped in one period (inbound, outbound), worst first.
    ``without_data``: judged, but CloudWatch has no data point for it in the window (nothing skipped, or not
    published yet). ``not_judged``: CloudWatch did not answer for it completely."""

    skipping: dict[str, tuple[float, float]]
    judged: int
    without_data: tuple[str, ...]
    not_judged: tuple[str, ...]


def skip_window(now: datetime, minutes: int = SKIP_LOOKBACK_MINUTES) -> MetricWindow:
    """The last ``minutes`` up to the last whole period before ``now``."""
    epoch = int(now.astimezone(UTC).timestamp())
    end = datetime.fromtimestamp(epoch - epoch % SKIP_PERIOD_SECONDS, UTC)
    return MetricWindow(start=end - timedelta(minutes=minutes), end=end)


def mirrored_instances(sessions: Iterable[MirrorSession], settings: Settings) -> list[str]:
    """The instances our sessions mirror (each session's ``mirror-instance-id`` tag), sorted, each once."""
    return sorted(
        {
            instance_id
            for session in sessions
            if settings.owns(session) and (instance_id := session.tags.get(settings.instance_tag_key))
        }
    )


def judge_skips(
    instance_ids: Sequence[str], readings: Mapping[str, SkippedBytes], threshold_bytes: float
) -> SkipVerdicts:
    """An instance skips when it dropped more than ``threshold_bytes`` in one period, in either direction."""
    skipping: dict[str, tuple[float, float]] = {}
    without_data: list[str] = []
    not_judged: list[str] = []
    for instance_id in instance_ids:
        reading = readings.get(instance_id)
        if reading is None or not reading.complete:
            not_judged.append(instance_id)
            continue
        if not reading.inbound and not reading.outbound:
            without_data.append(instance_id)
            continue
        worst = (max(reading.inbound, default=0.0), max(reading.outbound, default=0.0))
        if max(worst) > threshold_bytes:
            skipping[instance_id] = worst
    ranked = dict(sorted(skipping.items(), key=lambda item: (-max(item[1]), item[0])))
    return SkipVerdicts(
        skipping=ranked,
        judged=len(instance_ids) - len(not_judged),
        without_data=tuple(without_data),
        not_judged=tuple(not_judged),
    )
