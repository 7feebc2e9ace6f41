"""CloudWatch reads: the bytes each mirrored instance dropped (``NetworkSkipMirrorIn``/``Out``), with GetMetricData.

One GetMetricData call takes at most 500 queries ("A single GetMetricData call can include as many as 500
MetricDataQuery structures") and returns at most ``MaxDatapoints`` data points (100,800 by default) before it pages
with ``NextToken``: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html
So 250 instances a call (two metrics each), every page followed, each query's values gathered by its ``Id`` across
pages. A query's last ``StatusCode`` other than ``Complete`` (``PartialData``, ``InternalError``, ``Forbidden``)
leaves its instance not judged. Errors are the domain's (``errors.call_aws``), as for EC2. This class implements
``ports.SkipMetricsPort`` and ``ports.DeliveryMetricsPort`` (any metrics, per period, for ``delivery``). Price: $0.01
per 1,000 metrics requested (README, "What it costs").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from traffic_mirroring.delivery import MetricQuery, Series
from traffic_mirroring.errors import call_aws
from traffic_mirroring.mirror_skips import INBOUND, OUTBOUND, SKIP_METRICS, MetricWindow, SkippedBytes

QUERIES_PER_CALL = 500  # the most MetricDataQuery structures one GetMetricData call may carry
INSTANCES_PER_CALL = QUERIES_PER_CALL // len(SKIP_METRICS)
COMPLETE = "Complete"


@dataclass
class _Answer:
    values: list[float] = field(default_factory=list)
    timestamps: list[datetime] = field(default_factory=list)
    status: str = ""


class CloudWatchGateway:
    def __init__(self, cloudwatch: Any) -> None:
        self.cloudwatch = cloudwatch

    def skipped_bytes(self, instance_ids: Sequence[str], window: MetricWindow) -> dict[str, SkippedBytes]:
        readings: dict[str, SkippedBytes] = {}
        unique = list(dict.fromkeys(instance_ids))
        for first in range(0, len(unique), INSTANCES_PER_CALL):
            batch = unique[first : first + INSTANCES_PER_CALL]
            # Query IDs must start with a lower-case letter: "i<n>" inbound, "o<n>" outbound, n the batch position.
            queries = [
                _query(f"{prefix}{n}", metric, instance_id, window.period_seconds)
                for n, instance_id in enumerate(batch)
                for prefix, metric in (("i", INBOUND), ("o", OUTBOUND))
            ]
            answers = self._metric_data(queries, window)
            for n, instance_id in enumerate(batch):
                inbound, outbound = answers.get(f"i{n}"), answers.get(f"o{n}")
                readings[instance_id] = SkippedBytes(
                    inbound=tuple(inbound.values) if inbound else (),
                    outbound=tuple(outbound.values) if outbound else (),
                    complete=bool(inbound and outbound and inbound.status == outbound.status == COMPLETE),
                )
        return readings

    def metric_series(self, queries: Sequence[MetricQuery], window: MetricWindow) -> dict[MetricQuery, Series]:
        """The Sum of each metric in each period of the window, 500 queries a call (query ``m<n>``: the n-th of its
        call). A query CloudWatch did not answer completely has ``complete`` False."""
        series: dict[MetricQuery, Series] = {}
        unique = list(dict.fromkeys(queries))
        for first in range(0, len(unique), QUERIES_PER_CALL):
            batch = unique[first : first + QUERIES_PER_CALL]
            stats = [
                _metric_stat(f"m{n}", q.namespace, q.metric, q.dimensions, window.period_seconds)
                for n, q in enumerate(batch)
            ]
            answers = self._metric_data(stats, window)
            for n, query in enumerate(batch):
                answer = answers.get(f"m{n}")
                if answer is None:
                    series[query] = Series(complete=False)
                    continue
                points: dict[datetime, float] = {}
                for moment, value in zip(answer.timestamps, answer.values, strict=False):
                    points[moment] = points.get(moment, 0.0) + value
                series[query] = Series(points, complete=answer.status == COMPLETE)
        return series

    def _metric_data(self, queries: list[dict[str, Any]], window: MetricWindow) -> dict[str, _Answer]:
        answers: dict[str, _Answer] = {}
        token: str | None = None
        while True:
            page: dict[str, Any] = call_aws(
                "GetMetricData",
                self.cloudwatch.get_metric_data,
                MetricDataQueries=queries,
                StartTime=window.start,
                EndTime=window.end,
                ScanBy="TimestampAscending",
                **({"NextToken": token} if token else {}),
            )
            for result in page.get("MetricDataResults", []):
                answer = answers.setdefault(result["Id"], _Answer())
                answer.values.extend(float(v) for v in result.get("Values", []))
                answer.timestamps.extend(result.get("Timestamps", []))
                answer.status = result.get("StatusCode", "")
            token = page.get("NextToken")
            if not token:
                return answers


def _query(query_id: str, metric: str, instance_id: str, period: int) -> dict[str, Any]:
    return _metric_stat(query_id, "AWS/EC2", metric, (("InstanceId", instance_id),), period)


def _metric_stat(
    query_id: str, namespace: str, metric: str, dimensions: Sequence[tuple[str, str]], period: int
) -> dict[str, Any]:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": metric,
                "Dimensions": [{"Name": name, "Value": value} for name, value in dimensions],
            },
            "Period": period,
            "Stat": "Sum",
        },
        "ReturnData": True,
    }
