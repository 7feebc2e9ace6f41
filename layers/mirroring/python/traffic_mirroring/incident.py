"""Incident response: a GuardDuty finding mirrors every ENI of every instance it names, for a window of time.

**The finding's window is its own.** A finding never writes the owner's tags (the mirror tag, ``mirror-until``):
it writes, in one CreateTags, ``mirror-finding-until`` (now plus GuardDutyMirrorHours, ISO 8601 UTC) and
``mirror-finding`` (``<finding type> <finding ID>``), and the planner mirrors an instance while that window is open,
whatever its owner's tags say (``planner.wanted``). When it ends, the reconciler deletes the sessions the owner does
not want and removes both tags: the instance is exactly as its owner left it (an opt-out ``mirror=false`` holds
again, an own window goes on, an instance mirrored without end stays so). Chosen over overriding the mirror tag and
restoring it later: nothing to restore means nothing to lose (an owner's change during the window, a failed
restore, a stale ``mirror-until`` that someone tidies away).

The window never shrinks: a later finding extends it, never shortens it; an owner's later ``mirror-until`` or an
owner mirroring without end keeps the instance mirrored past it. A finding at or above the operator's threshold
mirrors an instance its owner opted out (``mirror=false``) for the window: the threshold is the operator's
decision, and the override is logged.

**Which instances.** A finding on an instance names it in ``resource.instanceDetails``; an attack sequence (e.g.
``AttackSequence:EC2/CompromisedInstanceGroup``) names a group in its sequence's resources (``events.py``). Every
instance of this account and Region is marked in the same CreateTags (one per distinct set of tags) and reconciled
in the same invocation. The finding's ID goes on each instance's ``mirror-finding`` tag, not on the sessions: a
session outlives a finding (a later finding extends the same sessions, an owner's sessions predate it), and the
stack may tag sessions only when it creates them; each session names its instance (``mirror-instance-id``).

An archived finding (``detail.service.archived``: GuardDuty keeps sending the events of a finding an analyst archived,
https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_findings_eventbridge.html) opens and extends nothing: the
rule's pattern excludes it, and ``ignore_reason`` checks again.

The decisions (``ignore_reason``, ``plan_window``) are pure; ``respond`` makes the AWS calls, through its port.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from traffic_mirroring.config import Settings
from traffic_mirroring.errors import AwsApiError, ConfigurationError, MirroringFailed, RollbackIncomplete
from traffic_mirroring.events import GUARDDUTY_FINDING, GUARDDUTY_INSTANCE_RESOURCE, GuardDutyFinding
from traffic_mirroring.model import Instance
from traffic_mirroring.observability import logger, metrics
from traffic_mirroring.planner import finding_window_end, selected, wanted, window_end
from traffic_mirroring.ports import ReconcilePort
from traffic_mirroring.reconcile import reconcile_instance

MIN_SEVERITY_VARIABLE = "GUARDDUTY_MIN_SEVERITY"
MIRROR_HOURS_VARIABLE = "GUARDDUTY_MIRROR_HOURS"
TAG_VALUE_LIMIT = 256  # characters of an EC2 tag value
UNTIL_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # what mirror-until holds (ISO 8601, UTC)
SEVERITY_RANGE = (1.0, 10.0)  # GuardDuty's severities
HOURS_RANGE = (1.0, 720.0)  # GuardDutyMirrorHours: an hour to 30 days


@dataclass(frozen=True)
class IncidentSettings:
    """The GuardDuty function's own settings (its environment only)."""

    min_severity: float
    mirror_hours: float = 24.0


def load_incident_settings(env: Mapping[str, str] | None = None) -> IncidentSettings:
    env = os.environ if env is None else env
    return IncidentSettings(
        min_severity=_number(env, MIN_SEVERITY_VARIABLE, None, SEVERITY_RANGE),
        mirror_hours=_number(env, MIRROR_HOURS_VARIABLE, 24.0, HOURS_RANGE),
    )


def _number(env: Mapping[str, str], name: str, default: float | None, bounds: tuple[float, float]) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        if default is None:
            raise ConfigurationError(f"{name} is required but not set")
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number") from None
    low, high = bounds
    if not low <= value <= high:
        raise ConfigurationError(f"{name}={raw!r} must be between {low:g} and {high:g}")
    return value


# -- which findings are for us ----------------------------------------------------------------------------------
def ignore_reason(finding: GuardDutyFinding, settings: Settings, incident: IncidentSettings) -> str | None:
    """Why a finding leads to nothing (None: mirror its instances). Decided from the event alone: no AWS call."""
    if finding.sample:
        return "sample finding (generated by GuardDuty, about no real resource)"
    if finding.archived:
        return "archived finding (an analyst archived it): it opens or extends no window"
    if settings.account_id and finding.account_id != settings.account_id:
        # A delegated administrator receives its members' findings; the stack of that account acts on them.
        return f"finding of another account ({finding.account_id}); this stack serves {settings.account_id}"
    if not finding.instance_ids:
        if finding.attack_sequence:
            return "attack sequence naming no EC2 instance of this account and Region"
        if finding.resource_type != GUARDDUTY_INSTANCE_RESOURCE:
            return f"finding on a resource of type {finding.resource_type}, not an EC2 instance"
        return "finding names no instance ID"
    if finding.severity < incident.min_severity:
        return f"severity {finding.severity:g} is below GuardDutyMinSeverity {incident.min_severity:g}"
    return None


# -- the window -------------------------------------------------------------------------------------------------
class WindowVerdict(StrEnum):
    OPENED = "opened"  # not mirrored before: now + hours
    EXTENDED = "extended"  # mirrored until sooner: now + hours
    KEPT = "kept"  # mirrored until later (an earlier finding's window, or its owner's): that end stays
    WITHOUT_END = "mirrored-without-end"  # its owner mirrors it without end: the finding adds no end


@dataclass(frozen=True)
class IncidentWindow:
    """What a finding does to one instance: the finding's tags to write (only those that change; none: no call)
    and until when the instance is mirrored, all reasons together (None: no end)."""

    verdict: WindowVerdict
    until: datetime | None
    tags: Mapping[str, str] = field(default_factory=dict)
    overridden_opt_out: str | None = None  # the owner's opt-out value of the mirror tag, mirrored over for the window


def plan_window(
    instance: Instance,
    finding: GuardDutyFinding,
    settings: Settings,
    incident: IncidentSettings,
    now: datetime,
) -> IncidentWindow:
    """The finding's window on this instance: ``mirror-finding-until`` = now + GuardDutyMirrorHours, or the later
    end an earlier finding left; the owner's tags are never written."""
    new_end = (now + timedelta(hours=incident.mirror_hours)).astimezone(UTC).replace(microsecond=0)
    earlier = finding_window_end(instance, settings)
    finding_end = earlier if earlier is not None and earlier > new_end else new_end
    desired = {
        settings.finding_until_tag_key: finding_end.strftime(UNTIL_FORMAT),
        settings.finding_tag_key: finding.label[:TAG_VALUE_LIMIT],
    }
    tags = {key: value for key, value in desired.items() if instance.tags.get(key) != value}

    opt_out: str | None = None
    if settings.mirror_tag_key in instance.tags and not settings.wants_mirroring(instance.tags):
        opt_out = instance.tags[settings.mirror_tag_key]
    if selected(instance, settings) and settings.until_tag_key not in instance.tags:
        # Its owner mirrors it without end: the finding's window shortens nothing; it is recorded, and removed
        # when it ends.
        return IncidentWindow(WindowVerdict.WITHOUT_END, None, tags, opt_out)
    before = window_end(instance, settings, now) if wanted(instance, settings, now) else None
    if before is None:
        return IncidentWindow(WindowVerdict.OPENED, finding_end, tags, opt_out)
    if before > new_end:
        return IncidentWindow(WindowVerdict.KEPT, before, tags, opt_out)
    return IncidentWindow(WindowVerdict.EXTENDED, finding_end, tags, opt_out)


# -- acting on it -----------------------------------------------------------------------------------------------
def respond(
    finding: GuardDutyFinding,
    port: ReconcilePort,
    settings: Settings,
    incident: IncidentSettings,
    now: datetime | None = None,
) -> dict[str, object]:
    """Mark every instance the finding names for its window (one CreateTags per distinct set of tags: one for a
    group that had no window), then reconcile each: every ENI is mirrored, in this invocation.

    Returns each instance's reconcile report with its window. An instance that no longer exists is logged and
    left. A failure of one instance's reconcile does not stop the others; the first is raised at the end, so
    EventBridge retries the event (idempotent: the tags are already there, the sessions are matched).
    """
    assert finding.instance_ids, "ignore_reason lets no finding without an instance through"
    if finding.left_out:
        logger.info("instances of the finding left out", extra={"left_out": list(finding.left_out)})
    found, _ = port.describe_instances(list(finding.instance_ids))
    gone = [i for i in finding.instance_ids if i not in found]
    if gone:
        logger.info("the finding's instances that do not exist (any more)", extra={"instance_ids": gone})
    if not found:
        reason = "the finding's instance does not exist (any more)"
        logger.info(reason, extra={"finding": finding.label})
        return {"trigger": GUARDDUTY_FINDING, "ignored": reason}
    moment = now or datetime.now(UTC)
    ordered = [i for i in finding.instance_ids if i in found]
    windows = {i: plan_window(found[i], finding, settings, incident, moment) for i in ordered}
    batches: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for instance_id, window in windows.items():
        if window.overridden_opt_out is not None:
            logger.warning(
                "a finding at or above GuardDutyMinSeverity mirrors an instance its owner opted out, for its window",
                extra={
                    "instance_id": instance_id,
                    "opt_out": f"{settings.mirror_tag_key}={window.overridden_opt_out}",
                    "finding": finding.label,
                },
            )
        if window.tags:
            batches.setdefault(tuple(sorted(window.tags.items())), []).append(instance_id)
    for tags, instance_ids in batches.items():
        port.set_instance_tags(instance_ids, dict(tags))  # up to 1,000 resources a call; a sequence names ≤ 400
    metrics.add_metric(name="GuardDutyFindingsMirrored", unit="Count", value=1)
    answers: dict[str, object] = {}
    first_error: Exception | None = None
    for instance_id, window in windows.items():
        until = window.until.strftime(UNTIL_FORMAT) if window.until else None
        logger.info(
            "mirroring window for a GuardDuty finding",
            extra={
                "instance_id": instance_id,
                "window": window.verdict,
                "until": until,
                "finding": finding.label,
                "severity": finding.severity,
            },
        )
        try:
            result = reconcile_instance(instance_id, port, settings, GUARDDUTY_FINDING)
        except (MirroringFailed, RollbackIncomplete, AwsApiError) as error:
            first_error = first_error or error
            continue
        answers[instance_id] = {**result.summary, "incident_window": {"verdict": window.verdict, "until": until}}
    if first_error is not None:
        raise first_error
    return {"trigger": GUARDDUTY_FINDING, "finding": finding.label, "instances": answers}
