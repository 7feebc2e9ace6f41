"""Turn an EventBridge event into "reconcile this instance". Strict about shape, lenient about nothing else.

An event only says which instance to look at; the state to act on is always read from EC2 (level-triggered), so
the event's own claims (state, tags) are never trusted for decisions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from traffic_mirroring.errors import EventValidationError

STATE_CHANGE = "EC2 Instance State-change Notification"
TAG_CHANGE = "Tag Change on Resource"
ASG_LAUNCH_SUCCESSFUL = "EC2 Instance Launch Successful"
ASG_LAUNCH_LIFECYCLE_ACTION = "EC2 Instance-launch Lifecycle Action"

_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
_INSTANCE_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:ec2:[^:]*:[^:]*:instance/(?P<id>.+)$")


@dataclass(frozen=True)
class InstanceTrigger:
    """One instance to reconcile, with where the request came from (for logs)."""

    instance_id: str
    detail_type: str
    event_id: str
    region: str | None = None  # the event's region; None when the event does not say


@dataclass(frozen=True)
class LifecycleAction:
    instance_id: str
    group_name: str
    hook_name: str
    token: str
    event_id: str
    region: str | None = None


def _field(container: Mapping[str, Any], name: str, path: str) -> Any:
    if name not in container:
        raise EventValidationError(f"event field {path}{name} is missing")
    return container[name]


def _text(container: Mapping[str, Any], name: str, path: str = "") -> str:
    value = _field(container, name, path)
    if not isinstance(value, str) or not value.strip():
        raise EventValidationError(f"event field {path}{name} must be a non-empty string, got {value!r}"[:300])
    return value.strip()


def _mapping(container: Mapping[str, Any], name: str, path: str = "") -> Mapping[str, Any]:
    value = _field(container, name, path)
    if not isinstance(value, Mapping):
        raise EventValidationError(f"event field {path}{name} must be an object, got {type(value).__name__}")
    return value


def _instance_id(value: str, where: str) -> str:
    candidate = value.strip()
    if not _INSTANCE_ID.match(candidate):
        raise EventValidationError(f"event field {where} is not an EC2 instance ID: {value!r}"[:300])
    return candidate


def _region(event: Mapping[str, Any]) -> str | None:
    return _text(event, "region") if "region" in event else None


def _envelope(event: Any, expected: tuple[str, ...]) -> tuple[str, str, Mapping[str, Any]]:
    if not isinstance(event, Mapping):
        raise EventValidationError(f"event must be a JSON object, got {type(event).__name__}")
    detail_type = _text(event, "detail-type")
    if detail_type not in expected:
        raise EventValidationError(
            f"event field detail-type is {detail_type!r}; this function handles {', '.join(expected)}"
        )
    event_id = event.get("id") if isinstance(event.get("id"), str) else ""
    return detail_type, str(event_id), _mapping(event, "detail")


def parse_state_change(event: Any) -> InstanceTrigger:
    detail_type, event_id, detail = _envelope(event, (STATE_CHANGE,))
    instance_id = _instance_id(_text(detail, "instance-id", "detail."), "detail.instance-id")
    _text(detail, "state", "detail.")
    return InstanceTrigger(instance_id, detail_type, event_id, _region(event))


def parse_tag_change(event: Any) -> InstanceTrigger:
    detail_type, event_id, detail = _envelope(event, (TAG_CHANGE,))
    service = _text(detail, "service", "detail.")
    if service != "ec2":
        raise EventValidationError(f"event field detail.service is {service!r}, not an EC2 instance"[:300])
    resource_type = _text(detail, "resource-type", "detail.")
    if resource_type != "instance":
        raise EventValidationError(f"event field detail.resource-type is {resource_type!r}, not an EC2 instance"[:300])
    keys = _field(detail, "changed-tag-keys", "detail.")
    if not isinstance(keys, list):
        raise EventValidationError("event field detail.changed-tag-keys must be a list")
    resources = event.get("resources")
    if not isinstance(resources, list) or len(resources) != 1 or not isinstance(resources[0], str):
        raise EventValidationError("event field resources must hold exactly one instance ARN")
    match = _INSTANCE_ARN.match(resources[0].strip())
    if not match:
        raise EventValidationError(f"event field resources[0] is not an EC2 instance ARN: {resources[0]!r}"[:300])
    return InstanceTrigger(_instance_id(match.group("id"), "resources[0]"), detail_type, event_id, _region(event))


def parse_autoscaling_launch(event: Any) -> InstanceTrigger:
    detail_type, event_id, detail = _envelope(event, (ASG_LAUNCH_SUCCESSFUL,))
    instance_id = _instance_id(_text(detail, "EC2InstanceId", "detail."), "detail.EC2InstanceId")
    return InstanceTrigger(instance_id, detail_type, event_id, _region(event))


def parse_lifecycle_action(event: Any) -> LifecycleAction:
    _, event_id, detail = _envelope(event, (ASG_LAUNCH_LIFECYCLE_ACTION,))
    return LifecycleAction(
        instance_id=_instance_id(_text(detail, "EC2InstanceId", "detail."), "detail.EC2InstanceId"),
        group_name=_text(detail, "AutoScalingGroupName", "detail."),
        hook_name=_text(detail, "LifecycleHookName", "detail."),
        token=_text(detail, "LifecycleActionToken", "detail."),
        event_id=event_id,
        region=_region(event),
    )
