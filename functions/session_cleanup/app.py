"""CloudFormation custom resource SessionCleanup → check the settings on every deploy; when ManagedBy changes, move the
stack's sessions to the new marker; when the stack is deleted, delete every session it manages.

Create and Update answer FAILED when a function would refuse a setting (CloudFormation rolls back). Delete reads only
the marker and the account, never the other settings: a bad one never keeps the sessions billing. Whatever happens,
CloudFormation gets an answer at the ResponseURL: the result, a FAILED with the error, or, if the work outlasts the
function, a FAILED from the watchdog just before the timeout. An event that is no custom resource request has
nowhere to be answered: it is raised (EventValidationError), so it reaches the invocation failure queue and its
alarm.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from typing import Any

from traffic_mirroring.cleanup import (
    FAILED,
    NEVER_CREATED,
    Answer,
    CustomResourceRequest,
    Responder,
    answer_request,
    physical_id,
    put_response,
    stack_status_reader,
)
from traffic_mirroring.ec2_gateway import Ec2Gateway
from traffic_mirroring.observability import logger, tracer
from traffic_mirroring.ports import SessionPort
from traffic_mirroring.runtime import RETRY_ATTEMPTS, Runtime

WATCHDOG_MARGIN_MS = 15_000  # answer FAILED this long before the timeout if the work is not done
DEADLINE_MARGIN_MS = 60_000  # start no deletion this long before the timeout (a call can take ~25 s with retries)


@cache
def _cloudformation() -> Any:
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=5, read_timeout=10)
    return boto3.client("cloudformation", config=config)


def _stack_status(stack_id: str) -> str | None:
    return stack_status_reader(_cloudformation())(stack_id)


@cache
def _gateway() -> SessionPort:
    """An EC2 gateway built without loading the settings (``Runtime`` would validate every one of them)."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "total_max_attempts": RETRY_ATTEMPTS}, connect_timeout=5, read_timeout=20
    )
    return Ec2Gateway(boto3.client("ec2", config=config), target_cache_seconds=0)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(
    event: dict[str, Any],
    context: Any,
    runtime: Runtime | None = None,
    stack_status: Callable[[str], str | None] = _stack_status,
    send: Callable[[str, bytes], bool] = put_response,
) -> dict[str, str]:
    request = CustomResourceRequest.parse(event)  # EventValidationError: nowhere to answer, so it is raised
    logger.append_keys(request_type=request.request_type, stack_id=request.stack_id)
    where = f"log group {getattr(context, 'log_group_name', '?')}, stream {getattr(context, 'log_stream_name', '?')}"

    def failed(reason: str) -> Answer:
        # A failed Create created nothing: the Delete that CloudFormation then sends must not clean up.
        resource_id = NEVER_CREATED if request.request_type == "Create" else physical_id(request)
        return Answer(FAILED, f"{reason} (details: {where})", resource_id)

    remaining = context.get_remaining_time_in_millis
    responder = Responder(request, send)
    watchdog = responder.watchdog(
        (remaining() - WATCHDOG_MARGIN_MS) / 1000,
        lambda: failed(
            "ran out of time before every session was deleted; delete the stack again to continue"
            if request.request_type == "Delete"
            else "ran out of time before every session carried the new marker; the update is rolled back"
        ),
    )
    try:
        answer = answer_request(
            request,
            # Never Runtime.current(): it loads (and validates) every setting, and a Delete must not depend on them.
            gateway=lambda: runtime.gateway if runtime is not None else _gateway(),
            stack_status=stack_status,
            keep_going=lambda: remaining() > DEADLINE_MARGIN_MS,
            fallback_marker=os.environ.get("MANAGED_BY", "").strip(),
            fallback_account=os.environ.get("ACCOUNT_ID", "").strip(),
        )
    except Exception as error:  # every failure is an answer: CloudFormation would otherwise wait for ServiceTimeout
        logger.exception("custom resource request failed")
        answer = failed(f"{type(error).__name__}: {error}")
    responder.respond(answer)
    watchdog.cancel()
    sent = responder.answer or answer
    return {"Status": sent.status, "Reason": sent.reason, "PhysicalResourceId": sent.physical_resource_id}
