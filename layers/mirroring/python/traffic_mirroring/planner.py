"""Desired state versus actual state: the one set of rules every trigger and the reconciler share.

``plan_mirroring`` takes an Inventory and returns a Plan. It makes no AWS call, so every rule here (eligibility,
the 3-per-ENI limit, session numbers, target capacity, AZ affinity, ownership) is testable without AWS.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from traffic_mirroring.config import Settings
from traffic_mirroring.model import (
    SESSIONS_PER_ENI,
    CreateSession,
    DeleteSession,
    Instance,
    Inventory,
    MirrorSession,
    Plan,
    Reason,
    Skip,
    SubjectPlan,
    UpdateSession,
)
from traffic_mirroring.placement import TargetUsage, lowest_free_session_number, rank_targets

CLEAR_STATUS = ""  # remove the status tag: the instance is not asking to be mirrored
_STOPPED_STATES = frozenset({"stopping", "stopped"})
_TERMINATED_STATES = frozenset({"shutting-down", "terminated"})


def plan_mirroring(inventory: Inventory, settings: Settings) -> Plan:
    planner = _Planner(inventory, settings)
    return planner.plan()


class _Planner:
    def __init__(self, inventory: Inventory, settings: Settings) -> None:
        self.inventory = inventory
        self.settings = settings
        self.usage = TargetUsage(inventory.sessions, inventory.target_sources)
        self.sessions_by_eni: dict[str, list[MirrorSession]] = defaultdict(list)
        for session in _unique(inventory.sessions):
            self.sessions_by_eni[session.eni_id].append(session)
        self.result = Plan()

    # -- entry point -------------------------------------------------------------------------------------------
    def plan(self) -> Plan:
        instance_enis: set[str] = set()
        for instance in sorted(self.inventory.instances.values(), key=lambda i: i.instance_id):
            instance_enis.update(eni.eni_id for eni in instance.enis)
            self._plan_instance(instance)
        self._plan_orphans(instance_enis)
        self.result.managed_sessions = sum(
            1 for s in _unique(self.inventory.sessions) if self.settings.is_managed(s.tags)
        )
        return self.result

    # -- one instance ------------------------------------------------------------------------------------------
    def _plan_instance(self, instance: Instance) -> None:
        plan = self.result.for_subject(instance.instance_id)
        plan.current_status = instance.tags.get(self.settings.status_tag_key)
        tagged = self.settings.wants_mirroring(instance.tags)
        supported = self.inventory.supported_types.get(instance.instance_type, False)

        if tagged and instance.state == "running" and not supported:
            plan.skips.append(Skip(instance.instance_id, None, Reason.UNSUPPORTED_INSTANCE_TYPE))
            plan.status = Reason.UNSUPPORTED_INSTANCE_TYPE
        keep_reason = self._reason_to_unmirror(instance, tagged, supported)

        for eni in instance.enis:
            managed = self._managed_on(eni.eni_id)
            if keep_reason is None and eni.interface_type != "interface":
                keep_reason_for_eni: str | None = Reason.UNSUPPORTED_INTERFACE_TYPE
            else:
                keep_reason_for_eni = keep_reason
            if keep_reason_for_eni == "keep":
                continue
            if keep_reason_for_eni is not None:
                plan.deletes.extend(DeleteSession(instance.instance_id, s, keep_reason_for_eni) for s in managed)
                continue
            self._plan_mirrored_eni(instance, eni.eni_id, managed, plan)

        if keep_reason is None:
            plan.status = plan.skips[0].reason if plan.skips else Reason.MIRRORED
        elif not tagged:
            plan.status = CLEAR_STATUS
        elif instance.state in _STOPPED_STATES:
            plan.status = Reason.INSTANCE_STOPPED

    def _reason_to_unmirror(self, instance: Instance, tagged: bool, supported: bool) -> str | None:
        """None when the instance should be mirrored; "keep" to leave its sessions as they are; else a reason."""
        if instance.state in _TERMINATED_STATES:
            return Reason.INSTANCE_TERMINATED
        if not tagged:
            return Reason.TAG_REMOVED
        if instance.state in _STOPPED_STATES:
            return Reason.INSTANCE_STOPPED if self.settings.delete_when_stopped else "keep"
        if instance.state != "running":
            return "keep"  # pending: a running event follows; nothing to create or delete yet
        if not supported:
            return Reason.UNSUPPORTED_INSTANCE_TYPE
        return None

    def _plan_mirrored_eni(
        self, instance: Instance, eni_id: str, managed: list[MirrorSession], plan: SubjectPlan
    ) -> None:
        desired_filter = instance.tags.get(self.settings.filter_override_tag_key) or self.settings.filter_id
        override_target = instance.tags.get(self.settings.target_override_tag_key)
        candidates = (override_target,) if override_target else self.settings.target_ids
        existing_filters = self.inventory.existing_filter_ids

        keep, duplicates = (managed[0], managed[1:]) if managed else (None, [])
        plan.deletes.extend(DeleteSession(instance.instance_id, s, Reason.DUPLICATE_SESSION) for s in duplicates)

        if keep is not None and existing_filters is not None and keep.filter_id not in existing_filters:
            plan.deletes.append(DeleteSession(instance.instance_id, keep, Reason.FILTER_MISSING))
            keep = None
        if keep is not None:
            self._plan_kept_session(instance, keep, candidates, desired_filter, plan)
            return

        on_eni = [s for s in self.sessions_by_eni[eni_id] if s not in plan_deleted(plan)]
        if len(on_eni) >= SESSIONS_PER_ENI:
            plan.skips.append(Skip(instance.instance_id, eni_id, Reason.ENI_SESSION_LIMIT))
            return
        number = lowest_free_session_number(s.session_number for s in self.sessions_by_eni[eni_id])
        known = self.inventory.targets or {}
        ranked = rank_targets(candidates, known, self.usage, eni_id, instance.availability_zone)
        if number is None or not ranked:
            reason = Reason.NO_TARGET_CAPACITY
            if override_target and override_target not in known:
                reason = Reason.TARGET_OVERRIDE_NOT_FOUND
            plan.skips.append(Skip(instance.instance_id, eni_id, reason))
            return
        self.usage.add(ranked[0], eni_id)
        plan.creates.append(
            CreateSession(
                instance.instance_id,
                eni_id,
                number,
                desired_filter,
                ranked,
                tuple(sorted(s.session_id for s in self.sessions_by_eni[eni_id])),
            )
        )

    def _plan_kept_session(
        self,
        instance: Instance,
        session: MirrorSession,
        candidates: Sequence[str],
        desired_filter: str,
        plan: SubjectPlan,
    ) -> None:
        known = self.inventory.targets
        target_ok = session.target_id in candidates and (known is None or session.target_id in known)
        new_filter = desired_filter if session.filter_id != desired_filter else None
        if target_ok and new_filter is None:
            return
        ranked: tuple[str, ...] = ()
        reason = Reason.FILTER_CHANGED
        if not target_ok:
            reason = Reason.TARGET_RETIRED if known and session.target_id in known else Reason.TARGET_MISSING
            ranked = rank_targets(candidates, known or {}, self.usage, session.eni_id, instance.availability_zone)
            if not ranked:
                if reason == Reason.TARGET_MISSING:
                    # Mirroring to a vanished target silently stops while AWS keeps billing: delete it.
                    plan.deletes.append(DeleteSession(instance.instance_id, session, reason))
                plan.skips.append(Skip(instance.instance_id, session.eni_id, Reason.NO_TARGET_CAPACITY))
                if new_filter is None or reason == Reason.TARGET_MISSING:
                    return
                reason = Reason.FILTER_CHANGED
            else:
                self.usage.add(ranked[0], session.eni_id)
        plan.updates.append(UpdateSession(instance.instance_id, session, ranked, new_filter, reason))

    # -- sessions no scoped instance accounts for --------------------------------------------------------------
    def _plan_orphans(self, instance_enis: set[str]) -> None:
        for eni_id, sessions in sorted(self.sessions_by_eni.items()):
            if eni_id in instance_enis:
                continue
            for session in sessions:
                if not self.settings.is_managed(session.tags):
                    continue
                reason = self._orphan_reason(session)
                if reason is None:
                    continue
                subject = session.tags.get(self.settings.instance_tag_key) or eni_id
                self.result.for_subject(subject).deletes.append(DeleteSession(subject, session, reason))

    def _orphan_reason(self, session: MirrorSession) -> str | None:
        """Why a managed session on an ENI outside every scoped instance must go; None to leave it alone."""
        attachments = self.inventory.eni_attachments
        named = self.inventory.instances.get(session.tags.get(self.settings.instance_tag_key, ""))
        if session.eni_id in self.inventory.deleted_eni_ids:
            return Reason.SOURCE_ENI_DELETED
        if session.eni_id not in attachments:
            return None  # read only for target usage
        owner = attachments[session.eni_id]
        if owner is None:
            if named is not None and named.state in _TERMINATED_STATES:
                return Reason.INSTANCE_TERMINATED
            return Reason.SOURCE_ENI_DETACHED
        if owner in self.inventory.missing_instance_ids:
            return Reason.INSTANCE_NOT_FOUND
        # Attached to an instance in scope (planned with it) or outside it (not ours to judge in this plan).
        return None

    def _managed_on(self, eni_id: str) -> list[MirrorSession]:
        managed = [s for s in self.sessions_by_eni.get(eni_id, []) if self.settings.is_managed(s.tags)]
        # Keep the lowest session number (it is evaluated first); the others are duplicates.
        return sorted(managed, key=lambda s: (s.session_number, s.session_id))


def plan_deleted(plan: SubjectPlan) -> list[MirrorSession]:
    return [d.session for d in plan.deletes]


def _unique(sessions: Sequence[MirrorSession]) -> list[MirrorSession]:
    return list({s.session_id: s for s in sessions}.values())
