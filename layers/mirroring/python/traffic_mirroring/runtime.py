"""Per-container wiring: settings validated once, clients with bounded retries, one gateway kept warm."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from traffic_mirroring.config import Settings, load_settings
from traffic_mirroring.ec2_gateway import Ec2Gateway
from traffic_mirroring.errors import ConfigurationError
from traffic_mirroring.events import GUARDDUTY_FINDING, GuardDutyFinding, InstanceTrigger
from traffic_mirroring.incident import IncidentSettings, ignore_reason, respond
from traffic_mirroring.metrics_gateway import CloudWatchGateway
from traffic_mirroring.observability import logger, metrics
from traffic_mirroring.ports import SkipMetricsPort
from traffic_mirroring.reconcile import reconcile_instance
from traffic_mirroring.triggers import Trigger

# Standard mode retries throttling (RequestLimitExceeded) and transient errors with backoff, a bounded number of
# times; what still fails is raised so EventBridge/Lambda retry the event and the DLQ catches the rest.
RETRY_ATTEMPTS = 5  # attempts in all, the first call included


@dataclass
class Runtime:
    settings: Settings
    gateway: Ec2Gateway
    # CloudWatch, for the hourly skip check only: built on first use, so no other invocation pays for its client.
    skip_metrics: SkipMetricsPort | None = None
    make_skip_metrics: Callable[[], SkipMetricsPort] | None = field(default=None, repr=False)

    _current: ClassVar[Runtime | None] = None

    @classmethod
    def current(cls) -> Runtime:
        if cls._current is None:
            cls._current = cls.from_environment()
        return cls._current

    @classmethod
    def reset(cls) -> None:
        cls._current = None

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None, session: Any = None) -> Runtime:
        import boto3
        from botocore.config import Config

        settings = load_settings(env)
        session = session or boto3.session.Session()
        if not settings.account_id:
            # Ownership compares a session's OwnerId with this account: ask once per container if not deployed.
            account = session.client("sts", config=Config(retries={"mode": "standard"})).get_caller_identity()
            settings = replace(settings, account_id=account["Account"])
        config = Config(
            # total_max_attempts counts the first call; botocore's max_attempts would count only the retries (one more).
            retries={"mode": "standard", "total_max_attempts": RETRY_ATTEMPTS},
            connect_timeout=5,
            read_timeout=20,
        )
        gateway = Ec2Gateway(
            session.client("ec2", config=config),
            session.client("elbv2", config=config),
            target_cache_seconds=settings.target_cache_seconds,
            autoscaling=session.client("autoscaling", config=config),
            account_id=settings.account_id,
        )
        return cls(
            settings, gateway, make_skip_metrics=lambda: CloudWatchGateway(session.client("cloudwatch", config=config))
        )

    def skip_metrics_port(self) -> SkipMetricsPort:
        if self.skip_metrics is None:
            if self.make_skip_metrics is None:
                raise ConfigurationError("no CloudWatch client: this runtime was built without one")
            self.skip_metrics = self.make_skip_metrics()
        return self.skip_metrics


def handle_instance_event(
    trigger: Trigger[InstanceTrigger], event: Any, runtime: Runtime | None = None
) -> dict[str, object]:
    """The body every instance-event handler shares: parse the event as its trigger says, reconcile that instance,
    report.

    An event from another region is logged and ignored: EventBridge routes a region's events to that region's
    rules only, so it was forwarded (a cross-region bus), and its instance is not where this function looks.
    """
    request = trigger.parse(event)
    runtime = runtime or Runtime.current()
    logger.append_keys(instance_id=request.instance_id)
    ignored = foreign_region(runtime, request.region, request.detail_type)
    if ignored is not None:
        return {"trigger": request.detail_type, "ignored": ignored}
    if not trigger.acts_on(request, runtime.settings):
        # With MirrorSelectors the rule fires for every tag key but our own status tags: most changes are not ours.
        ignored = "no changed tag key can change what is mirrored"
        logger.info(ignored, extra={"changed_tag_keys": list(request.changed_tag_keys or ())})
        return {"trigger": request.detail_type, "ignored": ignored}
    result = reconcile_instance(request.instance_id, runtime.gateway, runtime.settings, request.detail_type)
    return result.summary


def handle_guardduty_finding(
    finding: GuardDutyFinding, incident: IncidentSettings, runtime: Runtime | None = None
) -> dict[str, object]:
    """A finding that names instances of this account and Region at or above the threshold marks them for a
    window and mirrors them at once; any other (an archived one too) is logged, once, and left without an AWS
    call."""
    runtime = runtime or Runtime.current()
    if len(finding.instance_ids) == 1:
        logger.append_keys(instance_id=finding.instance_ids[0])
    elif finding.instance_ids:
        logger.append_keys(instance_ids=list(finding.instance_ids))
    ignored = foreign_region(runtime, finding.region, GUARDDUTY_FINDING) or ignore_reason(
        finding, runtime.settings, incident
    )
    if ignored is not None:
        logger.info(
            f"GuardDuty finding ignored: {ignored}",
            extra={"finding": finding.label, "severity": finding.severity, "account_id": finding.account_id},
        )
        metrics.add_metric(name="GuardDutyFindingsIgnored", unit="Count", value=1)
        return {"trigger": GUARDDUTY_FINDING, "ignored": ignored}
    return respond(finding, runtime.gateway, runtime.settings, incident)


def foreign_region(runtime: Runtime, event_region: str | None, detail_type: str) -> str | None:
    """Why an event is ignored when it comes from another region (None: it is ours), logged once here."""
    own_region = getattr(getattr(runtime.gateway.ec2, "meta", None), "region_name", None)
    if not event_region or not own_region or event_region == own_region:
        return None
    reason = f"event from another region ({event_region}); this function serves {own_region}"
    logger.warning(reason, extra={"event_region": event_region, "detail_type": detail_type})
    return reason
