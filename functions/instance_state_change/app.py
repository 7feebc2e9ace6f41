"""EC2 Instance State-change Notification → reconcile that instance (mirror when running, clean up otherwise)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from traffic_mirroring.observability import logger, metrics, tracer
from traffic_mirroring.runtime import Runtime, handle_instance_event
from traffic_mirroring.triggers import INSTANCE_STATE_CHANGE


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any, runtime: Runtime | None = None) -> dict[str, object]:
    return handle_instance_event(INSTANCE_STATE_CHANGE, event, runtime)
