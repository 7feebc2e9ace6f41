"""GuardDuty finding on an EC2 instance → mirror every ENI of it for a window (docs/incident-response.md)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from traffic_mirroring.incident import IncidentSettings, load_incident_settings
from traffic_mirroring.observability import logger, metrics, tracer
from traffic_mirroring.runtime import Runtime, handle_guardduty_finding
from traffic_mirroring.triggers import GUARDDUTY

# Validated once per container, like the rest of the settings.
incident_settings = cache(load_incident_settings)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(
    event: dict[str, Any], context: Any, runtime: Runtime | None = None, incident: IncidentSettings | None = None
) -> dict[str, object]:
    return handle_guardduty_finding(GUARDDUTY.parse(event), incident or incident_settings(), runtime)
