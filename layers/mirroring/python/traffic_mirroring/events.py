"""Turn an EventBridge event into "reconcile this instance". Strict about shape, lenient about nothing else.

An event only says which instance to look at; the state to act on is always read from EC2 (level-triggered), so
the event's own claims (state, tags) are never trusted for decisions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from traffic_mirroring.errors import EventValidationError

STATE_CHANGE = "EC2 Instance State-change Notification"
TAG_CHANGE = "Tag Change on Resource"
ASG_LAUNCH_SUCCESSFUL = "EC2 Instance Launch Successful"
ASG_LAUNCH_LIFECYCLE_ACTION = "EC2 Instance-launch Lifecycle Action"
CLOUDTRAIL_API_CALL = "AWS API Call via CloudTrail"
GUARDDUTY_FINDING = "GuardDuty Finding"
ATTACH_NETWORK_INTERFACE = "AttachNetworkInterface"
GUARDDUTY_INSTANCE_RESOURCE = "Instance"  # detail.resource.resourceType of a finding about an EC2 instance
# An attack sequence (GuardDuty Extended Threat Detection) names its resources in
# detail.service.detection.sequence.resources[] (the SDK model's Finding → Service → Detection → Sequence →
# Resources, ResourceV2), an EC2 instance with resourceType EC2_INSTANCE (the model's FindingResourceType).
ATTACK_SEQUENCE_PREFIX = "AttackSequence:"  # detail.type of every attack-sequence finding
SEQUENCE_INSTANCE_RESOURCE = "EC2_INSTANCE"

_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
_INSTANCE_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:ec2:[^:]*:[^:]*:instance/(?P<id>.+)$")
_INSTANCE_ARN_PARTS = re.compile(r"^arn:aws[a-zA-Z-]*:ec2:(?P<region>[^:]*):(?P<account>[^:]*):instance/(?P<id>.+)$")


@dataclass(frozen=True)
class InstanceTrigger:
    """One instance to reconcile, with where the request came from (for logs)."""

    instance_id: str
    detail_type: str
    event_id: str
    region: str | None = None  # the event's region; None when the event does not say
    changed_tag_keys: tuple[str, ...] | None = None  # a tag change's keys; None: not a tag change


@dataclass(frozen=True)
class GuardDutyFinding:
    """What a GuardDuty finding says that decides whether and where to mirror (nothing else is kept).

    ``instance_ids``: the EC2 instances it names, in order and without repeats: the instance of a finding on an
    instance (``resource.instanceDetails``), then those of an attack sequence (its sequence's resources); empty
    when it names none. ``left_out``: instances a sequence names that are not this finding's (another account or
    Region), or whose ID cannot be read, for the log.
    """

    finding_id: str
    finding_type: str
    severity: float
    account_id: str
    resource_type: str
    instance_ids: tuple[str, ...]
    sample: bool
    event_id: str
    region: str | None = None
    archived: bool = False  # detail.service.archived: an analyst archived it (GuardDuty keeps sending its events)
    left_out: tuple[str, ...] = ()

    @property
    def instance_id(self) -> str | None:
        """The first instance it names (for logs), None when it names none."""
        return self.instance_ids[0] if self.instance_ids else None

    @property
    def attack_sequence(self) -> bool:
        return self.finding_type.startswith(ATTACK_SEQUENCE_PREFIX)

    @property
    def label(self) -> str:
        """``<finding type> <finding ID>``: what the instance's finding tag records."""
        return f"{self.finding_type} {self.finding_id}"


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
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise EventValidationError("event field detail.changed-tag-keys must be a list of tag keys")
    resources = event.get("resources")
    if not isinstance(resources, list) or len(resources) != 1 or not isinstance(resources[0], str):
        raise EventValidationError("event field resources must hold exactly one instance ARN")
    match = _INSTANCE_ARN.match(resources[0].strip())
    if not match:
        raise EventValidationError(f"event field resources[0] is not an EC2 instance ARN: {resources[0]!r}"[:300])
    instance_id = _instance_id(match.group("id"), "resources[0]")
    return InstanceTrigger(instance_id, detail_type, event_id, _region(event), tuple(keys))


def parse_network_interface_attached(event: Any) -> InstanceTrigger:
    """An ``AttachNetworkInterface`` call recorded by CloudTrail: the instance the ENI was attached to."""
    detail_type, event_id, detail = _envelope(event, (CLOUDTRAIL_API_CALL,))
    source = _text(detail, "eventSource", "detail.")
    name = _text(detail, "eventName", "detail.")
    if (source, name) != ("ec2.amazonaws.com", ATTACH_NETWORK_INTERFACE):
        raise EventValidationError(
            f"event is {source} {name}; this function handles ec2.amazonaws.com {ATTACH_NETWORK_INTERFACE}"[:300]
        )
    parameters = _mapping(detail, "requestParameters", "detail.")
    where = "detail.requestParameters.instanceId"
    instance_id = _instance_id(_text(parameters, "instanceId", "detail.requestParameters."), where)
    return InstanceTrigger(instance_id, detail_type, event_id, _region(event))


def parse_guardduty_finding(event: Any) -> GuardDutyFinding:
    """A GuardDuty finding. Strict about the fields every finding has (ID, type, severity, account, resource type);
    naming no instance is no error but a finding there is nothing to mirror for (``instance_ids`` empty).

    An attack sequence's ``resource`` is documented only as "Resources involved in attack sequence" (GuardDuty's
    finding types table), not by its type: every shape is accepted there (no resource, no resourceType, Instance with
    or without instanceDetails, another type), and its instances are read from the sequence's resources.
    """
    _, event_id, detail = _envelope(event, (GUARDDUTY_FINDING,))
    severity = _field(detail, "severity", "detail.")
    if isinstance(severity, bool) or not isinstance(severity, (int, float)):
        raise EventValidationError(f"event field detail.severity must be a number, got {severity!r}"[:300])
    service = detail.get("service")
    service = service if isinstance(service, Mapping) else {}
    detection = service.get("detection")
    sequence = detection.get("sequence") if isinstance(detection, Mapping) else None
    if isinstance(sequence, Mapping):
        resource = detail.get("resource")
        resource = resource if isinstance(resource, Mapping) else {}
        raw_type = resource.get("resourceType")
        resource_type = raw_type.strip() if isinstance(raw_type, str) else ""
    else:
        resource = _mapping(detail, "resource", "detail.")
        resource_type = _text(resource, "resourceType", "detail.resource.")
    instance_ids: list[str] = []
    details = resource.get("instanceDetails")
    if resource_type == GUARDDUTY_INSTANCE_RESOURCE and isinstance(details, Mapping):
        raw = details.get("instanceId")
        if isinstance(raw, str) and raw.strip():
            instance_ids.append(_instance_id(raw, "detail.resource.instanceDetails.instanceId"))
    account_id = _text(detail, "accountId", "detail.")
    region = _region(event)
    left_out: list[str] = []
    if isinstance(sequence, Mapping):
        named, left_out = _sequence_instances(sequence, account_id, region)
        instance_ids.extend(named)
    return GuardDutyFinding(
        finding_id=_text(detail, "id", "detail."),
        finding_type=_text(detail, "type", "detail."),
        severity=float(severity),
        account_id=account_id,
        resource_type=resource_type,
        instance_ids=tuple(dict.fromkeys(instance_ids)),
        sample=_is_sample(service.get("additionalInfo")),
        event_id=event_id,
        region=region,
        archived=service.get("archived") is True,
        left_out=tuple(left_out),
    )


def _sequence_instances(
    sequence: Mapping[str, Any], account_id: str, region: str | None
) -> tuple[list[str], list[str]]:
    """The EC2 instances an attack sequence names (``resources[]`` with resourceType EC2_INSTANCE), and those left
    out. A resource's ``uid`` is documented only as "the unique identifier of the resource" (API reference,
    ResourceV2): an instance ID and an instance ARN are both accepted. A resource whose ``accountId`` or ``region``
    (or its ARN's) is not the finding's is left out: this stack can mirror only its own account and Region."""
    named: list[str] = []
    left_out: list[str] = []
    resources = sequence.get("resources")
    for resource in resources if isinstance(resources, list) else []:
        if not isinstance(resource, Mapping) or resource.get("resourceType") != SEQUENCE_INSTANCE_RESOURCE:
            continue
        uid = resource.get("uid")
        uid = uid.strip() if isinstance(uid, str) else ""
        owner, where = resource.get("accountId"), resource.get("region")
        match = _INSTANCE_ARN_PARTS.match(uid)
        if match:
            uid = match.group("id")
            owner = match.group("account") or owner
            where = match.group("region") or where
        if not _INSTANCE_ID.match(uid):
            left_out.append(f"{uid or '(no uid)'}: not an EC2 instance ID"[:120])
        elif isinstance(owner, str) and owner and owner != account_id:
            left_out.append(f"{uid}: account {owner}")
        elif isinstance(where, str) and where and region and where != region:
            left_out.append(f"{uid}: Region {where}")
        else:
            named.append(uid)
    return named, left_out


def _is_sample(additional: Any) -> bool:
    """GuardDuty's generated sample findings say ``"sample": true`` in ``service.additionalInfo``; newer ones also
    (or only) in its ``value``, a JSON text."""
    if not isinstance(additional, Mapping):
        return False
    if additional.get("sample") in (True, "true"):
        return True
    value = additional.get("value")
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            return False
        return isinstance(decoded, Mapping) and decoded.get("sample") in (True, "true")
    return False


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
