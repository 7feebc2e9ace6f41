"""Invoke the real handlers as Lambda would: a context, real-shaped events, and the log bytes each run writes."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bench.moto_patches import server_time
from simulation.lambda_runtime import LambdaContext, sample_event


@dataclass
class Invocation:
    result: Any
    seconds: float
    moto_seconds: float  # moto answering (AWS's side in a deployment); seconds - moto_seconds is ours + botocore
    log_bytes: int  # application log lines and the metrics (EMF) line, as CloudWatch Logs would ingest them
    log_lines: int
    metric_names: frozenset[str]  # the CloudWatch metrics the run published (each name is a custom metric)


@contextlib.contextmanager
def captured_logs(level: str = "INFO") -> Iterator[io.StringIO]:
    """Everything the function writes to CloudWatch Logs: Powertools log lines (at the template's default level,
    INFO) and the EMF metrics line, which Powertools prints to stdout."""
    from traffic_mirroring.observability import logger

    handler = logger.registered_handler
    buffer = io.StringIO()
    previous_level = logger.log_level
    previous_stream = handler.setStream(buffer) if isinstance(handler, logging.StreamHandler) else None
    logger.setLevel(level)
    try:
        with contextlib.redirect_stdout(buffer):
            yield buffer
    finally:
        logger.setLevel(previous_level)
        if isinstance(handler, logging.StreamHandler) and previous_stream is not None:
            handler.setStream(previous_stream)


def metric_names(log_text: str) -> frozenset[str]:
    """Metric names in the EMF lines of a log (``{"_aws": {"CloudWatchMetrics": [{"Metrics": [{"Name": ...}]}]}}``)."""
    names: set[str] = set()
    for line in log_text.splitlines():
        if '"_aws"' not in line:
            continue
        try:
            document = json.loads(line)
        except ValueError:
            continue
        for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
            names.update(metric["Name"] for metric in directive.get("Metrics", []))
    return frozenset(names)


def invoke(handler: Callable[..., Any], payload: dict[str, Any], **ports: Any) -> Invocation:
    """Call a handler once; measure its wall time (and moto's part of it) and what it logs."""
    with captured_logs() as logs, server_time() as moto:
        started = time.perf_counter()
        result = handler(payload, LambdaContext(), **ports)
        seconds = time.perf_counter() - started
    text = logs.getvalue()
    return Invocation(result, seconds, moto.seconds, len(text.encode()), text.count("\n"), metric_names(text))


event = sample_event  # the benchmarks read the same samples as the tests
__all__ = ["Invocation", "LambdaContext", "captured_logs", "event", "invoke", "metric_names"]
