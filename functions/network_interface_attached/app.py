"""AttachNetworkInterface recorded by CloudTrail → reconcile that instance, so an ENI attached later is mirrored in
seconds rather than at the next scheduled run (which still picks it up without a trail)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from traffic_mirroring.observability import logger, metrics, tracer
from traffic_mirroring.runtime import Runtime, handle_instance_event
from traffic_mirroring.triggers import NETWORK_INTERFACE_ATTACHED


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any, runtime: Runtime | None = None) -> dict[str, object]:
    return handle_instance_event(NETWORK_INTERFACE_ATTACHED, event, runtime)
