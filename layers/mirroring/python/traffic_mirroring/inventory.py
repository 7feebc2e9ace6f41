"""Read the actual state the planner needs, with as few calls as the rules allow. The planner says what is
needed (``candidate_targets``, ``may_need_placement``, ``needs_placement``, ``is_judged``); this module only fetches.

One instance (event path), warm container, tagged running instance with N ENIs needing sessions:
DescribeInstances, DescribeTrafficMirrorSessions on its ENIs, and, when a candidate target has a source limit,
DescribeTrafficMirrorSessions on those targets (their usage must be fresh); DescribeTrafficMirrorFilters only when a
session not ours, with another filter, is ahead of ours on an ENI (``filters_to_judge``). Target facts (which say what
is in the pool and where each target is) are cached per container for a short time; the reconciler reads them fresh
every run.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from traffic_mirroring.config import SELECTOR_SUBNET, SELECTOR_TAG, SELECTOR_VPC, Settings
from traffic_mirroring.eligibility import Verdict
from traffic_mirroring.model import Instance, Inventory, MirrorFilter, MirrorTarget
from traffic_mirroring.planner import (
    candidate_targets,
    filters_to_judge,
    is_judged,
    may_need_placement,
    needs_placement,
)
from traffic_mirroring.ports import InventoryPort

_LIVE_STATES = frozenset({"pending", "running"})


def type_verdicts(
    port: InventoryPort, settings: Settings, instances: Iterable[Instance], now: datetime
) -> dict[str, Verdict]:
    """The verdict on each judged instance's type: AWS's list, the operator's overrides, and AWS's own answers."""
    allow, deny = settings.eligibility_allow, settings.eligibility_deny
    return {
        i.instance_type: port.verdicts.verdict(i.instance_type, allow, deny)
        for i in instances
        if is_judged(i, settings, now)
    }


def read_instance_inventory(port: InventoryPort, settings: Settings, instance_id: str) -> Inventory:
    now = datetime.now(UTC)
    found, missing = port.describe_instances([instance_id])
    instance = found.get(instance_id)
    if instance is not None and instance.state in _LIVE_STATES and instance.enis:
        # Everything on its ENIs, ours or not: the 3-per-ENI limit and session numbers count all of them.
        sessions = port.sessions_on_enis([eni.eni_id for eni in instance.enis])
    else:
        # Stopped, terminated or gone: only our sessions matter, wherever its ENIs went (a terminated instance lists
        # none, yet a secondary ENI may survive it with its session). One exact description filter finds them: the
        # call documents no tag filter, and reading every session of the account per event would grow with it.
        # Sessions an older version described otherwise are left to the reconciler, which reads every session.
        described = port.sessions_described([settings.session_description(instance_id)])
        sessions = [s for s in described if settings.owns(s) and s.tags.get(settings.instance_tag_key) == instance_id]

    attachments: dict[str, str | None] = {}
    if instance is not None:
        attachments.update({eni.eni_id: instance.instance_id for eni in instance.enis})
    stray = {s.eni_id for s in sessions if s.eni_id not in attachments}
    if stray:
        attachments.update(port.describe_eni_attachments(stray))
    deleted = frozenset(stray - set(attachments))

    verdicts = type_verdicts(port, settings, [instance] if instance else [], now)
    # A session not ours ahead of ours on an ENI, with another filter: its rules say whether it takes our packets.
    wanted_filters = filters_to_judge(instance, sessions, settings, now) if instance is not None else set()
    filters: dict[str, MirrorFilter] | None = port.describe_filters(sorted(wanted_filters)) if wanted_filters else None
    targets: dict[str, MirrorTarget] | None = None  # not read: the plan places nothing
    target_sources: dict[str, frozenset[str]] = {}
    if instance is not None and may_need_placement(instance, settings, verdicts, now):
        # The targets say which are in the pool (tags) and which the instance's VPC reaches: cached, mostly free.
        targets = port.targets()
        if needs_placement(instance, sessions, settings, verdicts, targets, now) and any(
            c not in targets for c in (*settings.target_ids, *candidate_targets(instance, settings, targets))
        ):
            targets = port.targets(fresh=True)  # an unknown ID: the cached list may be stale
        if not needs_placement(instance, sessions, settings, verdicts, targets, now):
            targets = None  # nothing to place, so no usage is read: the plan must not move anything either
    if instance is not None and targets is not None:
        wanted = candidate_targets(instance, settings, targets)
        candidates = [targets[c] for c in wanted if c in targets and targets[c].live]
        # A limit must be checked against fresh data; an ENI target has at most 100 sources, so one page does.
        limited = [t.target_id for t in candidates if t.capacity is not None]
        if limited:
            sessions = [*sessions, *port.sessions_on_targets(limited)]
        # NLB/GWLB targets have no limit: their counts only spread the load, so a per-container cache will do,
        # instead of paging through every session of the pool on every launch.
        unlimited = [t.target_id for t in candidates if t.capacity is None]
        if unlimited:
            target_sources = port.target_sources(unlimited)
    return Inventory(
        instances=found,
        sessions=sessions,
        eni_attachments=attachments,
        targets=targets,
        type_verdicts=verdicts,
        missing_instance_ids=frozenset(missing),
        deleted_eni_ids=deleted,
        target_sources=target_sources,
        read_at=now,
        filters=filters,
    )


def read_account_inventory(port: InventoryPort, settings: Settings) -> Inventory:
    """Every session, every instance carrying the mirror tag key, our status tag, or holding one of our sessions.

    An instance whose mirror tag went away while it had no session (stopped, unsupported) keeps a status tag that
    only the reconciler can clear when the tag-change event was missed. Target facts are read fresh.
    """
    now = datetime.now(UTC)
    sessions = port.describe_sessions()
    instances = read_selected_instances(port, settings)
    attachments: dict[str, str | None] = {
        eni.eni_id: instance.instance_id for instance in instances.values() for eni in instance.enis
    }
    stray = {s.eni_id for s in sessions if settings.owns(s) and s.eni_id not in attachments}
    attachments.update(port.describe_eni_attachments(stray) if stray else {})
    deleted = frozenset(stray - set(attachments))
    owners = {owner for eni, owner in attachments.items() if owner and owner not in instances}
    missing: set[str] = set()
    if owners:
        more, missing = port.describe_instances(sorted(owners))
        instances.update(more)
        for instance in more.values():
            attachments.update({eni.eni_id: instance.instance_id for eni in instance.enis})
    targets = port.targets(fresh=True)
    filters = port.describe_filters()  # which exist, and their rules: one read serves both
    return Inventory(
        instances=instances,
        sessions=sessions,
        eni_attachments=attachments,
        targets=targets,
        type_verdicts=type_verdicts(port, settings, instances.values(), now),
        missing_instance_ids=frozenset(missing),
        deleted_eni_ids=deleted,
        existing_filter_ids=frozenset(filters),
        read_at=now,
        filters=filters,
    )


def read_selected_instances(port: InventoryPort, settings: Settings) -> dict[str, Instance]:
    """Every instance that could be selected or was: carrying the mirror tag key, a finding's window, our status tag
    or a selector's tag key (one call: a filter's values are ORed), or in a selected VPC or subnet (one call
    each)."""
    tag_keys = [s.key for s in settings.selectors if s.kind == SELECTOR_TAG]
    instances = port.describe_instances_with_tag_key(
        settings.mirror_tag_key, settings.finding_until_tag_key, settings.status_tag_key, *tag_keys
    )
    for kind, name in ((SELECTOR_VPC, "vpc-id"), (SELECTOR_SUBNET, "subnet-id")):
        ids = [s.key for s in settings.selectors if s.kind == kind]
        if ids:
            instances.update(port.describe_instances_where(name, ids))
    return instances
