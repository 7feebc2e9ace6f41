"""Apply a plan, one instance at a time, and undo an instance's own creations when one of its steps fails.

Order within an instance: deletes (they free slots), then updates, then creates, then the status tag.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from traffic_mirroring.config import Settings
from traffic_mirroring.ec2_gateway import FILTER_VALUES_PER_CALL, Ec2Gateway, client_token
from traffic_mirroring.errors import AwsApiError, MirroringFailed, RollbackIncomplete
from traffic_mirroring.model import (
    CreateSession,
    MirrorSession,
    Plan,
    Reason,
    SubjectPlan,
    UpdateSession,
)
from traffic_mirroring.planner import CLEAR_STATUS

TARGET_FULL_CODES = frozenset(
    {"TrafficMirrorSourcesPerTargetLimitExceeded", "TrafficMirrorSessionsPerTargetLimitExceeded"}
)
TARGET_GONE_CODES = frozenset({"InvalidTrafficMirrorTargetId.NotFound", "InvalidTrafficMirrorTargetID.NotFound"})
ENI_FULL_CODE = "TrafficMirrorSessionsPerInterfaceLimitExceeded"
UNSUPPORTED_SOURCE_CODE = "NetworkInterfaceNotSupported"
TOKEN_WINDOW_SECONDS = 60
ERROR_STATUS_PREFIX = "error:"
TAG_RESOURCES_PER_CALL = 1000  # CreateTags/DeleteTags accept up to 1,000 resource IDs


@dataclass
class Outcome:
    """What applying a plan really did (it can differ from the plan: fallbacks, concurrent work, deadline)."""

    created: list[MirrorSession] = field(default_factory=list)
    deleted: Counter[str] = field(default_factory=Counter)  # by reason
    updated: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # by reason
    rolled_back: int = 0
    statuses: dict[str, str] = field(default_factory=dict)  # instance → status tag written
    unapplied: list[str] = field(default_factory=list)  # subjects left for the next run (deadline)


class _UnsupportedSource(Exception):
    """AWS refused an ENI as a source: the instance's type is not supported, whatever our data says."""


class Executor:
    def __init__(
        self,
        gateway: Ec2Gateway,
        settings: Settings,
        wall_clock: Callable[[], float] = time.time,
        account_wide: bool = False,
    ) -> None:
        self.gateway = gateway
        self.settings = settings
        self.wall_clock = wall_clock
        # The reconciler's mode: confirm every creation after applying, and write status tags in batches (one
        # CreateTags/DeleteTags per value and 1,000 instances) instead of one call per instance.
        self.account_wide = account_wide
        self._created: list[tuple[CreateSession, MirrorSession]] = []
        self._pending_status: dict[str, list[str]] = {}  # status value → instances (account-wide mode)

    def apply(
        self, plan: Plan, outcome: Outcome | None = None, keep_going: Callable[[], bool] = lambda: True
    ) -> Outcome:
        """Apply every subject; stop between subjects (never inside one) when ``keep_going`` says so.

        Raises the first MirroringFailed/RollbackIncomplete after finishing the other subjects.
        """
        outcome = outcome or Outcome()
        first_error: Exception | None = None
        for subject, subject_plan in plan.subjects.items():
            if not keep_going():
                outcome.unapplied.append(subject)
                continue
            try:
                self.apply_subject(subject_plan, outcome)
            except (MirroringFailed, RollbackIncomplete) as error:
                first_error = first_error or error
        if self.account_wide:
            self._flush_status(outcome)
        if self.account_wide and self._created:
            confirmed = self._confirm_created(self._created)
            replaced = {s.session_id for _, s in self._created} - {s.session_id for s in confirmed}
            outcome.created = [s for s in outcome.created if s.session_id not in replaced]
            outcome.created.extend(s for s in confirmed if s.session_id not in {c.session_id for c in outcome.created})
            self._created.clear()
        if first_error is not None:
            raise first_error
        return outcome

    def apply_subject(self, plan: SubjectPlan, outcome: Outcome) -> None:
        created: list[MirrorSession] = []
        created_for: list[CreateSession] = []
        status = plan.status
        try:
            for delete in plan.deletes:
                self.gateway.delete_session(delete.session.session_id)
                outcome.deleted[delete.reason] += 1
            for update in plan.updates:
                self._update(update, outcome)
            for create in plan.creates:
                skip = self._create(create, created)
                if len(created) > len(created_for):
                    created_for.append(create)
                if skip is not None:
                    outcome.skipped[skip] += 1
                    if status == Reason.MIRRORED:
                        status = skip
            if created and not self.account_wide:
                created[:] = self._confirm_created(list(zip(created_for, created, strict=True)))
            outcome.skipped.update(skip.reason for skip in plan.skips)
        except _UnsupportedSource:
            self._rollback(plan.subject, created, None)
            created = []
            outcome.skipped[Reason.UNSUPPORTED_INSTANCE_TYPE] += 1
            status = Reason.UNSUPPORTED_INSTANCE_TYPE
        except AwsApiError as error:
            outcome.rolled_back += len(created)
            self._write_status(plan, f"{ERROR_STATUS_PREFIX}{error.code}", outcome)
            self._rollback(plan.subject, created, error)
            raise MirroringFailed(plan.subject, error) from error
        outcome.created.extend(created)
        self._created.extend(zip(created_for, created, strict=True))
        self._write_status(plan, status, outcome)

    # -- steps -------------------------------------------------------------------------------------------------
    def _create(self, create: CreateSession, created: list[MirrorSession]) -> str | None:
        """Create on the first target with room; returns a skip reason when it cannot, None when done."""
        for target_id in create.target_ids:
            token = client_token(
                self.settings.managed_by,
                create.eni_id,
                create.session_number,
                target_id,
                create.filter_id,
                ",".join(create.eni_session_ids),
                # Tokens outlive deleted sessions at AWS: a window keeps a retry after rollback from being
                # answered with the session the rollback deleted. Duplicates across windows still collide on the
                # session number, which AWS keeps unique per ENI.
                int(self.wall_clock() // TOKEN_WINDOW_SECONDS),
            )
            try:
                session = self.gateway.create_session(**self._session_request(create, target_id), token=token)
            except AwsApiError as error:
                if error.code in TARGET_FULL_CODES:
                    continue  # a concurrent placement filled it: next target
                if error.code in TARGET_GONE_CODES:
                    self.gateway.forget_targets()  # our cached list is stale
                    continue
                if error.code == UNSUPPORTED_SOURCE_CODE:
                    raise _UnsupportedSource() from error
                if self._managed_session_exists(create.eni_id):
                    return None  # a concurrent invocation mirrored this ENI first
                if error.code == ENI_FULL_CODE:
                    return Reason.ENI_SESSION_LIMIT
                raise
            created.append(session)
            return None
        return Reason.NO_TARGET_CAPACITY

    def _confirm_created(self, pairs: list[tuple[CreateSession, MirrorSession]]) -> list[MirrorSession]:
        """Make sure no create was answered with a session that no longer exists; re-create those.

        AWS answers a repeated ClientToken with the original session even when it was deleted since: by our
        rollback, or because the ENI was mirrored, unmirrored (tag removed, instance stopped) and mirrored again
        within the token's window. One describe per 200 creations, after an instance's creates (event path) or after
        the whole plan (reconciler). A replacement gets a token of its own, never used before: it cannot be answered
        with a deleted session in turn.
        """
        alive: set[str] = set()
        ids = [session.session_id for _, session in pairs]
        for start in range(0, len(ids), FILTER_VALUES_PER_CALL):
            batch = ids[start : start + FILTER_VALUES_PER_CALL]
            found = self.gateway.describe_sessions([{"Name": "traffic-mirror-session-id", "Values": batch}])
            alive.update(s.session_id for s in found)
        confirmed: list[MirrorSession] = []
        for create, session in pairs:
            if session.session_id not in alive:
                token = client_token(self.settings.managed_by, "replaces", session.session_id, uuid.uuid4())
                session = self.gateway.create_session(**self._session_request(create, session.target_id), token=token)
            confirmed.append(session)
        return confirmed

    def _session_request(self, create: CreateSession, target_id: str) -> dict[str, Any]:
        return {
            "eni_id": create.eni_id,
            "target_id": target_id,
            "filter_id": create.filter_id,
            "session_number": create.session_number,
            "description": f"{self.settings.managed_by}: {create.instance_id} {create.eni_id}",
            "tags": {
                self.settings.managed_by_tag_key: self.settings.managed_by,
                self.settings.instance_tag_key: create.instance_id,
            },
        }

    def _update(self, update: UpdateSession, outcome: Outcome) -> None:
        targets: tuple[str | None, ...] = update.target_ids or (None,)
        for target_id in targets:
            try:
                self.gateway.modify_session(update.session.session_id, target_id, update.filter_id)
            except AwsApiError as error:
                if error.code in TARGET_FULL_CODES:
                    continue
                raise
            outcome.updated += 1
            return
        outcome.skipped[Reason.NO_TARGET_CAPACITY] += 1

    def _managed_session_exists(self, eni_id: str) -> bool:
        sessions = self.gateway.describe_sessions([{"Name": "network-interface-id", "Values": [eni_id]}])
        return any(self.settings.is_managed(s.tags) for s in sessions)

    def _rollback(self, subject: str, created: list[MirrorSession], cause: AwsApiError | None) -> None:
        remaining: list[str] = []
        for session in reversed(created):
            try:
                self.gateway.delete_session(session.session_id)
            except AwsApiError:
                remaining.append(session.session_id)
        if remaining:
            raise RollbackIncomplete(subject, cause or Exception("unsupported source"), remaining)

    def _write_status(self, plan: SubjectPlan, status: str | None, outcome: Outcome) -> None:
        """Best effort: the status tag is for people; failing to write it must not fail the mirroring."""
        if status is None or status == (plan.current_status or ""):
            return
        if self.account_wide:
            self._pending_status.setdefault(status[:256], []).append(plan.subject)
            return
        try:
            if status == CLEAR_STATUS:
                self.gateway.delete_instance_tag([plan.subject], self.settings.status_tag_key)
            else:
                self.gateway.set_instance_tag([plan.subject], self.settings.status_tag_key, status[:256])
            outcome.statuses[plan.subject] = status
        except AwsApiError:
            pass

    def _flush_status(self, outcome: Outcome) -> None:
        for status, instances in self._pending_status.items():
            for start in range(0, len(instances), TAG_RESOURCES_PER_CALL):
                batch = instances[start : start + TAG_RESOURCES_PER_CALL]
                try:
                    if status == CLEAR_STATUS:
                        self.gateway.delete_instance_tag(batch, self.settings.status_tag_key)
                    else:
                        self.gateway.set_instance_tag(batch, self.settings.status_tag_key, status)
                    outcome.statuses.update(dict.fromkeys(batch, status))
                except AwsApiError:
                    pass  # best effort, as for a single instance
        self._pending_status.clear()
