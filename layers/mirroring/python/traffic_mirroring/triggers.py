"""Every trigger of the stack, declared once: the function it invokes, the event that reaches it, the parser that
reads that event, its samples under events/, and, for a tag change, which instance tag keys it acts on.

template.yaml cannot read this list, so tests/integration/test_trigger_registry.py checks the template against it:
each trigger has its function and a rule that routes its samples, its parser accepts them, the property tests send
its events, and no rule or function of the template is left out of it. Adding a trigger is its handler, its entry
here (with its parser in events.py), its group in template.yaml, and its sample event with its tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from traffic_mirroring.config import Settings
from traffic_mirroring.events import (
    ASG_LAUNCH_LIFECYCLE_ACTION,
    ASG_LAUNCH_SUCCESSFUL,
    CLOUDTRAIL_API_CALL,
    GUARDDUTY_FINDING,
    STATE_CHANGE,
    TAG_CHANGE,
    GuardDutyFinding,
    InstanceTrigger,
    LifecycleAction,
    parse_autoscaling_launch,
    parse_guardduty_finding,
    parse_lifecycle_action,
    parse_network_interface_attached,
    parse_state_change,
    parse_tag_change,
)
from traffic_mirroring.planner import tag_keys_that_matter

Parsed = TypeVar("Parsed", InstanceTrigger, GuardDutyFinding, LifecycleAction)


@dataclass(frozen=True)
class Trigger(Generic[Parsed]):
    """An EventBridge rule of the stack and the function it invokes.

    ``enabled_by``: the template parameters (and values) that deploy it, as pairs; empty: it is always deployed.
    ``tag_keys``: for a tag change, the instance tag keys whose change it acts on (the rule routes at least these).
    """

    name: str
    function: str  # its handler's directory under functions/
    logical_id: str  # its function in template.yaml
    source: str
    detail_type: str
    parse: Callable[[Any], Parsed]
    samples: tuple[str, ...]  # under events/
    enabled_by: tuple[tuple[str, str], ...] = ()
    tag_keys: Callable[[Settings], frozenset[str]] | None = None

    def acts_on(self, parsed: InstanceTrigger, settings: Settings) -> bool:
        """Whether this event can change what is mirrored: any event, but a tag change only when one of its keys is
        one of ``tag_keys`` (a change of only our own status tags, or of any other tag, cannot)."""
        keys = parsed.changed_tag_keys
        if self.tag_keys is None or keys is None:
            return True
        keys_that_matter = self.tag_keys(settings)
        return any(key in keys_that_matter for key in keys)


@dataclass(frozen=True)
class Schedule:
    """A function the schedule invokes: its rules carry no pattern, and its event nothing to parse."""

    name: str
    function: str
    logical_id: str
    samples: tuple[str, ...]


INSTANCE_STATE_CHANGE = Trigger(
    name="instance state change",
    function="instance_state_change",
    logical_id="InstanceStateChangeFunction",
    source="aws.ec2",
    detail_type=STATE_CHANGE,
    parse=parse_state_change,
    samples=("ec2-instance-running.json", "ec2-instance-stopped.json", "ec2-instance-terminated.json"),
)
INSTANCE_TAG_CHANGE = Trigger(
    name="instance tag change",
    function="instance_tag_change",
    logical_id="InstanceTagChangeFunction",
    source="aws.tag",
    detail_type=TAG_CHANGE,
    parse=parse_tag_change,
    samples=("tag-change-mirror-added.json", "tag-change-mirror-removed.json"),
    tag_keys=tag_keys_that_matter,  # the planner's own list of the keys it reads
)
AUTOSCALING_LAUNCH = Trigger(
    name="Auto Scaling launch",
    function="autoscaling_launch",
    logical_id="AutoScalingLaunchFunction",
    source="aws.autoscaling",
    detail_type=ASG_LAUNCH_SUCCESSFUL,
    parse=parse_autoscaling_launch,
    samples=("autoscaling-launch-successful.json",),
)
NETWORK_INTERFACE_ATTACHED = Trigger(
    name="network interface attached",
    function="network_interface_attached",
    logical_id="NetworkInterfaceAttachedFunction",
    source="aws.ec2",
    detail_type=CLOUDTRAIL_API_CALL,
    parse=parse_network_interface_attached,
    samples=("cloudtrail-attach-network-interface.json",),
    enabled_by=(("AttachEventsFromCloudTrail", "true"),),
)
AUTOSCALING_LIFECYCLE = Trigger(
    name="Auto Scaling lifecycle action",
    function="autoscaling_lifecycle",
    logical_id="AutoScalingLifecycleFunction",
    source="aws.autoscaling",
    detail_type=ASG_LAUNCH_LIFECYCLE_ACTION,
    parse=parse_lifecycle_action,
    samples=("autoscaling-launch-lifecycle-action.json",),
    enabled_by=(("LifecycleHookMode", "true"),),
)
GUARDDUTY = Trigger(
    name="GuardDuty finding",
    function="guardduty_finding",
    logical_id="GuardDutyFindingFunction",
    source="aws.guardduty",
    detail_type=GUARDDUTY_FINDING,
    parse=parse_guardduty_finding,
    samples=("guardduty-finding-ec2.json", "guardduty-attack-sequence-ec2.json"),
    enabled_by=(("GuardDutyMinSeverity", "7"),),
)
SCHEDULED_RECONCILER = Schedule(
    name="schedule",
    function="scheduled_reconciler",
    logical_id="ScheduledReconcilerFunction",
    samples=("scheduled-event.json",),
)

# Each reconciles the one instance its event names (runtime.handle_instance_event).
INSTANCE_TRIGGERS: tuple[Trigger[InstanceTrigger], ...] = (
    INSTANCE_STATE_CHANGE,
    INSTANCE_TAG_CHANGE,
    AUTOSCALING_LAUNCH,
    NETWORK_INTERFACE_ATTACHED,
)
TRIGGERS: tuple[Trigger[Any], ...] = (*INSTANCE_TRIGGERS, AUTOSCALING_LIFECYCLE, GUARDDUTY)
SCHEDULES: tuple[Schedule, ...] = (SCHEDULED_RECONCILER,)
