"""Suite-wide settings: no tracing daemon, no real AWS, fresh Powertools metrics for every test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "traffic-mirroring")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "TrafficMirroringTests")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(autouse=True)
def fresh_metrics() -> Iterator[None]:
    from traffic_mirroring.observability import metrics

    metrics.clear_metrics()
    yield
    metrics.clear_metrics()
