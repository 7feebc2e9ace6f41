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


@pytest.fixture
def containers_in_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Concurrent Lambda containers simulated by threads of one process share Powertools' process-wide metrics
    buffer, which Lambda never shares (one invocation per container at a time): adding to it and flushing it are
    made one thread at a time. Nothing of the handlers' own code is serialized."""
    import threading

    from traffic_mirroring.observability import metrics

    lock = threading.RLock()
    for name in ("add_metric", "flush_metrics", "add_dimension"):
        original = getattr(metrics, name)

        def one_at_a_time(*args: object, _original: object = original, **kwargs: object) -> object:
            with lock:
                return _original(*args, **kwargs)  # type: ignore[operator]

        monkeypatch.setattr(metrics, name, one_at_a_time)
