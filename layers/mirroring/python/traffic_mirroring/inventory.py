"""Read the actual state the planner needs, with as few calls as the rules allow.

One instance (event path), warm container, tagged running instance with N ENIs needing sessions:
DescribeInstances, DescribeTrafficMirrorSessions on its ENIs, DescribeTrafficMirrorSessions on the candidate targets
(target usage). Instance-type and target facts are cached per container.
"""

from __future__ import annotations

from traffic_mirroring.config import Settings
from traffic_mirroring.ec2_gateway import Ec2Gateway
from traffic_mirroring.eligibility import is_supported_source
from traffic_mirroring.model import Instance, Inventory, MirrorSession, MirrorTarget

_LIVE_STATES = frozenset({"pending", "running"})


def supported_types(gateway: Ec2Gateway, settings: Settings, instance_types: set[str]) -> dict[str, bool]:
    infos = gateway.instance_type_info(sorted(instance_types))
    return {
        name: info is not None and is_supported_source(info, settings.eligibility_allow, settings.eligibility_deny)
        for name, info in infos.items()
    }


def read_instance_inventory(gateway: Ec2Gateway, settings: Settings, instance_id: str) -> Inventory:
    found, missing = gateway.describe_instances([instance_id])
    instance = found.get(instance_id)
    if instance is not None and instance.state in _LIVE_STATES and instance.enis:
        # Everything on its ENIs, ours or not: the 3-per-ENI limit and session numbers count all of them.
        sessions = gateway.describe_sessions(
            [{"Name": "network-interface-id", "Values": [eni.eni_id for eni in instance.enis]}]
        )
    else:
        # Stopped, terminated or gone: only our sessions matter, wherever its ENIs went.
        sessions = gateway.describe_sessions([{"Name": f"tag:{settings.instance_tag_key}", "Values": [instance_id]}])
        sessions = [s for s in sessions if settings.is_managed(s.tags)]

    attachments: dict[str, str | None] = {}
    if instance is not None:
        attachments.update({eni.eni_id: instance.instance_id for eni in instance.enis})
    stray = {s.eni_id for s in sessions if s.eni_id not in attachments}
    if stray:
        attachments.update(gateway.describe_eni_attachments(stray))
    deleted = frozenset(stray - set(attachments))

    # Only a running instance that asks for mirroring is judged by its type (stop, terminate, untag are not).
    judged = instance is not None and instance.state == "running" and settings.wants_mirroring(instance.tags)
    types = supported_types(gateway, settings, {instance.instance_type}) if instance and judged else {}
    targets: dict[str, MirrorTarget] | None = None  # not read: the plan places nothing
    target_sources: dict[str, frozenset[str]] = {}
    if instance is not None and _may_place(instance, sessions, settings, types):
        targets = gateway.targets()
        candidates = [c for c in _candidates(instance, settings) if c in targets]
        # A limit must be checked against fresh data; an ENI target has at most 100 sources, so one page does.
        limited = [c for c in candidates if targets[c].capacity is not None]
        if limited:
            usage = gateway.describe_sessions([{"Name": "traffic-mirror-target-id", "Values": limited}])
            sessions = [*sessions, *usage]
        # NLB/GWLB targets have no limit: their counts only spread the load, so a per-container cache will do,
        # instead of paging through every session of the pool on every launch.
        unlimited = [c for c in candidates if targets[c].capacity is None]
        if unlimited:
            target_sources = gateway.target_sources(unlimited)
    return Inventory(
        instances=found,
        sessions=sessions,
        eni_attachments=attachments,
        targets=targets,
        supported_types=types,
        missing_instance_ids=frozenset(missing),
        deleted_eni_ids=deleted,
        target_sources=target_sources,
    )


def read_account_inventory(gateway: Ec2Gateway, settings: Settings) -> Inventory:
    """Every session, every instance carrying the mirror tag key, our status tag, or holding one of our sessions.

    An instance whose mirror tag went away while it had no session (stopped, unsupported) keeps a status tag that
    only the reconciler can clear when the tag-change event was missed.
    """
    sessions = gateway.describe_sessions()
    instances = gateway.describe_instances_with_tag_key(settings.mirror_tag_key, settings.status_tag_key)
    attachments: dict[str, str | None] = {
        eni.eni_id: instance.instance_id for instance in instances.values() for eni in instance.enis
    }
    stray = {s.eni_id for s in sessions if settings.is_managed(s.tags) and s.eni_id not in attachments}
    attachments.update(gateway.describe_eni_attachments(stray) if stray else {})
    deleted = frozenset(stray - set(attachments))
    owners = {owner for eni, owner in attachments.items() if owner and owner not in instances}
    missing: set[str] = set()
    if owners:
        more, missing = gateway.describe_instances(sorted(owners))
        instances.update(more)
        for instance in more.values():
            attachments.update({eni.eni_id: instance.instance_id for eni in instance.enis})
    types = supported_types(gateway, settings, {i.instance_type for i in instances.values()})
    return Inventory(
        instances=instances,
        sessions=sessions,
        eni_attachments=attachments,
        targets=gateway.targets(),
        supported_types=types,
        missing_instance_ids=frozenset(missing),
        deleted_eni_ids=deleted,
        existing_filter_ids=gateway.existing_filter_ids(),
    )


def _candidates(instance: Instance, settings: Settings) -> list[str]:
    override = instance.tags.get(settings.target_override_tag_key)
    return [override] if override else list(settings.target_ids)


def _may_place(instance: Instance, sessions: list[MirrorSession], settings: Settings, types: dict[str, bool]) -> bool:
    """Whether the plan could create or move a session, so target facts and usage are worth reading."""
    if instance.state != "running" or not settings.wants_mirroring(instance.tags):
        return False
    if not types.get(instance.instance_type, False):
        return False
    candidates = set(_candidates(instance, settings))
    managed = [s for s in sessions if settings.is_managed(s.tags)]
    mirrored = {s.eni_id for s in managed if s.target_id in candidates}
    return any(eni.eni_id not in mirrored for eni in instance.enis if eni.interface_type == "interface")
