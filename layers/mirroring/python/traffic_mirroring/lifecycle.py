"""Auto Scaling launch lifecycle hook: mirror the instance while it waits, then let the group continue (or abandon).

A group with a launch lifecycle hook keeps each new instance in ``Pending:Wait`` until someone calls
CompleteLifecycleAction (or the hook's heartbeat timeout applies its default result). Completing only after the
mirroring is in place means no instance serves unmirrored, unless the mirroring fails: then the deployment chooses
between availability (``CONTINUE``: the instance serves, retries and the reconciler mirror it later) and strictness
(``ABANDON``: Auto Scaling terminates it and launches another).

A skip is not a failure: an instance the planner cannot mirror (unsupported type, no target capacity, ENI full)
completes with ``CONTINUE`` and carries the reason in its status tag. Abandoning those would only make the group
launch, and abandon, the same kind of instance again.
"""

from __future__ import annotations

from collections.abc import Mapping

from traffic_mirroring.config import Settings
from traffic_mirroring.errors import AwsApiError, ConfigurationError
from traffic_mirroring.events import ASG_LAUNCH_LIFECYCLE_ACTION, LifecycleAction
from traffic_mirroring.observability import logger, metrics
from traffic_mirroring.ports import LifecyclePort
from traffic_mirroring.reconcile import RunResult, reconcile_instance
from traffic_mirroring.settings_schema import load, setting, settings_class

CONTINUE = "CONTINUE"
ABANDON = "ABANDON"
FAILURE_RESULT_VARIABLE = "LIFECYCLE_FAILURE_RESULT"
# What Auto Scaling answers when the action is no longer waiting: completed by an earlier delivery of this event,
# or timed out. Completing it is then already done, not an error.
_NO_ACTIVE_ACTION = "No active Lifecycle Action found"


def _failure_result(raw: str, name: str) -> str:
    value = raw.strip().upper()
    if value not in (CONTINUE, ABANDON):
        raise ConfigurationError(f"{name}={value!r} must be {CONTINUE} or {ABANDON}")
    return value


@settings_class
class LifecycleSettings:
    """The lifecycle function's own settings (its environment only), declared as ``config.Settings`` are."""

    failure_result: str = setting(
        FAILURE_RESULT_VARIABLE, _failure_result, default=CONTINUE, parameter="LifecycleFailureResult"
    )


def load_lifecycle_settings(env: Mapping[str, str] | None = None) -> LifecycleSettings:
    return load(LifecycleSettings, env)


def mirror_then_complete(
    action: LifecycleAction, port: LifecyclePort, settings: Settings, lifecycle: LifecycleSettings
) -> RunResult:
    """Reconcile the launching instance, then complete its lifecycle action.

    On success the action completes with CONTINUE. On failure it completes with the configured failure result and
    the failure is raised again, so Lambda's retries and the failure queue see it.
    """
    try:
        result = reconcile_instance(action.instance_id, port, settings, ASG_LAUNCH_LIFECYCLE_ACTION)
    except Exception as failure:
        logger.error(
            "mirroring the launching instance failed; completing its lifecycle action",
            extra={"result": lifecycle.failure_result, "error": str(failure)},
        )
        try:
            complete(action, port, lifecycle.failure_result)
        except AwsApiError as error:
            # The hook's heartbeat timeout completes it with its default result; the mirroring failure matters more.
            logger.error("completing the lifecycle action failed too", extra={"error": str(error)})
        raise
    complete(action, port, CONTINUE)
    return result


def complete(action: LifecycleAction, port: LifecyclePort, result: str) -> bool:
    """Complete the action; False when Auto Scaling no longer waits for it (a re-delivered event, a timeout)."""
    try:
        port.complete_lifecycle_action(
            group_name=action.group_name,
            hook_name=action.hook_name,
            token=action.token,
            instance_id=action.instance_id,
            result=result,
        )
    except AwsApiError as error:
        if error.code == "ValidationError" and _NO_ACTIVE_ACTION in error.aws_message:
            logger.warning("lifecycle action already completed or timed out", extra={"error": error.aws_message})
            return False
        raise
    logger.info("lifecycle action completed", extra={"result": result, "hook": action.hook_name})
    metrics.add_metric(name=f"LifecycleAction.{result}", unit="Count", value=1)
    return True
