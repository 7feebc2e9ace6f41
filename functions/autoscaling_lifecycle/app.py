"""Auto Scaling EC2 Instance-launch Lifecycle Action → mirror the waiting instance, then complete the action."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from traffic_mirroring.lifecycle import LifecycleSettings, load_lifecycle_settings, mirror_then_complete
from traffic_mirroring.observability import logger, metrics, tracer
from traffic_mirroring.runtime import Runtime, foreign_region
from traffic_mirroring.triggers import AUTOSCALING_LIFECYCLE

# Validated once per container, like the rest of the settings.
lifecycle_settings = cache(load_lifecycle_settings)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(
    event: dict[str, Any], context: Any, runtime: Runtime | None = None, lifecycle: LifecycleSettings | None = None
) -> dict[str, object]:
    action = AUTOSCALING_LIFECYCLE.parse(event)
    runtime = runtime or Runtime.current()
    lifecycle = lifecycle or lifecycle_settings()
    logger.append_keys(instance_id=action.instance_id, autoscaling_group=action.group_name)
    ignored = foreign_region(runtime, action.region, AUTOSCALING_LIFECYCLE.detail_type)
    if ignored is not None:
        return {"trigger": AUTOSCALING_LIFECYCLE.detail_type, "ignored": ignored}
    result = mirror_then_complete(action, runtime.gateway, runtime.settings, lifecycle)
    return result.summary
