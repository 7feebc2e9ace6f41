"""Schedule → reconcile the whole account: delete orphaned sessions, repair missed ones, report cost.

Its hourly rule (input ``SKIP_CHECK_INPUT``) runs the skip check instead: which mirrored instances drop mirrored
packets (``traffic_mirroring.skip_check``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from traffic_mirroring.observability import logger, metrics, tracer
from traffic_mirroring.reconcile import reconcile_account
from traffic_mirroring.runtime import Runtime
from traffic_mirroring.skip_check import check_mirror_skips, is_skip_check

# Stop starting new instances this long before the Lambda timeout; one instance takes a few calls.
DEADLINE_MARGIN_MS = 30_000


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any, runtime: Runtime | None = None) -> dict[str, object]:
    runtime = runtime or Runtime.current()
    if is_skip_check(event):
        return check_mirror_skips(runtime.gateway, runtime.skip_metrics_port(), runtime.settings)
    result = reconcile_account(
        runtime.gateway,
        runtime.settings,
        keep_going=lambda: context.get_remaining_time_in_millis() > DEADLINE_MARGIN_MS,
    )
    return result.summary
