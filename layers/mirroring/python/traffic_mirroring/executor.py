"""Apply a plan, one instance at a time, and undo an instance's own creations when one of its steps fails.

Order within an instance: deletes (they free slots), then updates, then creates, then the status tag.

**Tokens, eventual consistency and concurrency** (docs/architecture.md has the whole argument). A create's
ClientToken is derived from the ENI, the instance, the instance's *mirror generation*, the session number and the
attempt. Concurrent invocations for one ENI (EC2 ``running`` and Auto Scaling's launch event arrive together) build
the same token, so AWS answers both with one session, or the second with IdempotentParameterMismatch when it chose
another target: either way one session, whether or not AWS refuses duplicate session numbers. Nothing is confirmed
by an immediate describe (it may lag). Any deletion of an instance's sessions starts a new generation, written with
the status tag and derived from the deleted session IDs, so a token is never reused after its session was deleted
by us. What nobody can foresee (a session deleted by hand within the token's memory) the reconciler catches: a
creation its describe does not show starts a new generation for the next run instead of a hasty replacement that a
lagging describe would turn into a duplicate.

**Session options are not part of the token**, on purpose. A create replayed with other options (PacketLength or
VNI changed since, or a concurrent invocation that computed another per-vpc VNI) reuses the token with other
parameters, and AWS answers IdempotentParameterMismatch, which this module reads as "this ENI's session was created
by another invocation" and confirms by describe (reconciler); the session that exists is then rolled over to the
new options by ModifyTrafficMirrorSession, as every existing session is. A token that changed with the options would
instead let the replay create a second session on the ENI whenever the first is not yet visible (a lagging
describe). A token is never reused after its session was deleted by us (generations, above), so no other request
can be answered with an old session of other options. Option changes of existing sessions are modifies (no gap):
``UpdateSession`` carries them, and a VNI change cannot rewrite the session's ``mirror-vni`` tag (the stack may tag
sessions only when it creates them), so that tag records the VNI a session was created with.

Problems of one instance (a refused source, a bad filter, an ENI at its limit, any other error AWS answers for that
request) end as its status tag, a metric and a log line; only transient and account-wide errors raise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from traffic_mirroring.client_token import client_token
from traffic_mirroring.config import Settings
from traffic_mirroring.errors import (
    AwsApiError,
    EniSessionLimit,
    FilterNotFound,
    MirroringFailed,
    RollbackIncomplete,
    Scope,
    SourceNotSupported,
    TargetFull,
    TargetNotFound,
    TokenReused,
)
from traffic_mirroring.model import (
    ERROR_STATUS_PREFIX,
    SESSIONS_PER_ENI,
    CreateSession,
    MirrorSession,
    Plan,
    Reason,
    SubjectPlan,
    UpdateSession,
)
from traffic_mirroring.placement import lowest_free_session_number
from traffic_mirroring.planner import CLEAR_STATUS, UNCONFIRMED_MARK, next_generation
from traffic_mirroring.ports import MirroringPort
from traffic_mirroring.run_report import Outcome

TAG_RESOURCES_PER_CALL = 1000  # CreateTags/DeleteTags accept up to 1,000 resource IDs
STATUS_FLUSH_SUBJECTS = 200  # the reconciler writes pending status tags at least this often...
STATUS_FLUSH_SECONDS = 5.0  # ...and this often, so a run cut short keeps what it did


@dataclass(frozen=True)
class _Result:
    session: MirrorSession | None = None
    skip: str | None = None  # why the ENI has no new session
    elsewhere: str | None = None  # the token a concurrent invocation already used for this ENI


class Executor:
    def __init__(
        self,
        port: MirroringPort,
        settings: Settings,
        *,
        account_wide: bool = False,
        log: Callable[..., None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.port = port
        self.settings = settings
        # The reconciler's mode: confirm creations after applying, and write status tags in batches (one
        # CreateTags/DeleteTags per value and 1,000 instances), flushed as the run goes.
        self.account_wide = account_wide
        self.log = log or (lambda message, **extra: None)
        self.clock = clock
        self._created: list[tuple[str, MirrorSession]] = []  # (instance, session) to confirm
        self._elsewhere: list[tuple[str, str, str]] = []  # (instance, ENI, token) created by someone else
        # (tags to write, tag keys to remove) → instances
        self._pending: dict[tuple[tuple[tuple[str, str], ...], tuple[str, ...]], list[str]] = {}
        self._pending_count = 0
        self._last_flush = clock()
        self._generations: dict[str, str] = {}  # instance → its generation as this run knows it
        self._status_written: dict[str, str] = {}  # instance → the status written with its generation, before deletes
        self._plans: dict[str, SubjectPlan] = {}  # instance → its plan, for the confirm (generation, last miss)
        self._run_generation = ""

    def apply(
        self, plan: Plan, outcome: Outcome | None = None, keep_going: Callable[[], bool] = lambda: True
    ) -> Outcome:
        """Apply every subject; stop between subjects (never inside one) when ``keep_going`` says so.

        Raises the first MirroringFailed/RollbackIncomplete after finishing the other subjects; an account-wide
        failure (credentials, permissions) stops the run at once, since no other subject would fare better.
        """
        outcome = outcome or Outcome()
        # Instances that only lose sessions this run share one new generation, so their tags batch in one call.
        self._run_generation = next_generation(d.session.session_id for d in plan.deletes)
        first_error: MirroringFailed | RollbackIncomplete | None = None
        stop = False
        # The reconciler records every new generation before its first deletion, in batches; the event path, per
        # subject (apply_subject). A subject whose generation could not be written is left for the next run.
        unrecorded = self._record_generations(list(plan.subjects.values())) if self.account_wide else {}
        try:
            for subject, subject_plan in plan.subjects.items():
                if stop or not keep_going():
                    outcome.unapplied.append(subject)
                    continue
                try:
                    if subject in unrecorded:
                        raise unrecorded[subject]
                    self.apply_subject(subject_plan, outcome)
                except (MirroringFailed, RollbackIncomplete) as error:
                    first_error = first_error or error
                    cause = error.cause
                    stop = isinstance(cause, AwsApiError) and cause.scope is Scope.ACCOUNT
                self._flush_if_due()
        finally:
            if self.account_wide:
                self._flush_status()
        if self.account_wide and (self._created or self._elsewhere):
            self._confirm(outcome)
            self._flush_status()
        if first_error is not None:
            raise first_error
        return outcome

    def apply_subject(self, plan: SubjectPlan, outcome: Outcome) -> None:
        # For the confirm, also when the subject fails: an ENI a concurrent invocation claimed before the failure is
        # still confirmed, and its mark must keep the subject's generation.
        self._plans[plan.subject] = plan
        generation = self._record_own_generation(plan)
        created: list[MirrorSession] = []  # this instance's creations so far: what a rollback deletes
        try:
            for delete in plan.deletes:
                if self.port.delete_session(delete.session.session_id):  # False: already gone
                    outcome.deleted[delete.reason] += 1
            for update in plan.updates:
                self._update(update, outcome)
            status = self._create_sessions(plan, created, outcome)
            outcome.skipped.update(skip.reason for skip in plan.skips)
        except (SourceNotSupported, FilterNotFound) as refusal:
            self._roll_back_refused(plan, created, generation, refusal, outcome)
        except AwsApiError as error:
            self._roll_back_failed(plan, created, generation, error, outcome)
        else:
            self._tag_applied(plan, created, status, generation, outcome)

    def _record_own_generation(self, plan: SubjectPlan) -> str | None:
        """The instance's generation after its deletes (None: it deletes nothing), recorded before the first of them
        on the event path (the reconciler records them all in batches before applying)."""
        if not plan.deletes:
            return None
        generation = self._generation_after_deletes(plan)
        if not self.account_wide:
            failed = self._record_generations([plan]).get(plan.subject)
            if failed is not None:
                raise failed
        return generation

    def _create_sessions(self, plan: SubjectPlan, created: list[MirrorSession], outcome: Outcome) -> str | None:
        """Create the instance's sessions, appending each to ``created``; returns its status: the plan's, or why the
        first ENI left without a session was left so."""
        status = plan.status
        for create in plan.creates:
            result = self._create(create)
            if result.session is not None:
                created.append(result.session)
                self._learn(create.probe_type, True, outcome)
            elif result.elsewhere is not None:
                self._elsewhere.append((create.instance_id, create.eni_id, result.elsewhere))
            elif result.skip is not None:
                outcome.skipped[result.skip] += 1
                if status == Reason.MIRRORED:
                    status = result.skip
        return status

    def _roll_back_refused(
        self,
        plan: SubjectPlan,
        created: list[MirrorSession],
        generation: str | None,
        refusal: SourceNotSupported | FilterNotFound,
        outcome: Outcome,
    ) -> None:
        """AWS refused the source or the filter: undo, and the instance is applied with that refusal as its status."""
        generation = self._after_rollback(plan, created, generation)
        if isinstance(refusal, SourceNotSupported):
            # AWS's word is final, even for a listed type: every instance of the type learns it.
            self._learn(plan.instance_type, False, outcome)
            status = Reason.UNSUPPORTED_INSTANCE_TYPE
        else:
            status = Reason.FILTER_NOT_FOUND
        self._undo_then_tag(plan, created, outcome, refusal, status, generation)
        outcome.skipped[status] += 1
        if status == Reason.FILTER_NOT_FOUND:
            outcome.problems[plan.subject] = status
        outcome.applied.append(plan.subject)

    def _roll_back_failed(
        self,
        plan: SubjectPlan,
        created: list[MirrorSession],
        generation: str | None,
        error: AwsApiError,
        outcome: Outcome,
    ) -> None:
        """Any other error: undo; a transient or account-wide one raises (retried), else the status says what AWS
        answered."""
        generation = self._after_rollback(plan, created, generation)
        status = f"{ERROR_STATUS_PREFIX}{error.code}"
        self._undo_then_tag(plan, created, outcome, error, status, generation)
        if error.retryable:
            raise MirroringFailed(plan.subject, error) from error
        # This instance's problem (its tags, its ENI, its target): its status says so; the run goes on.
        outcome.problems[plan.subject] = status
        self.log("instance needs attention", instance_id=plan.subject, status=status, error=str(error))

    def _tag_applied(
        self,
        plan: SubjectPlan,
        created: list[MirrorSession],
        status: str | None,
        generation: str | None,
        outcome: Outcome,
    ) -> None:
        """Every step done: keep the creations for the confirm, write the status and the generation."""
        outcome.created.extend(created)
        self._created.extend((plan.subject, s) for s in created)
        if plan.remove_tags:
            self.log(
                "a finding's window has ended: its tags are removed", instance_id=plan.subject, keys=plan.remove_tags
            )
        self._write_status(plan, status, generation, outcome, remove=plan.remove_tags)
        outcome.applied.append(plan.subject)

    def _generation_after_deletes(self, plan: SubjectPlan) -> str:
        own = next_generation(d.session.session_id for d in plan.deletes)
        # Creates of this instance were planned in its own next generation (planner); one that only deletes
        # may take the run's: any value its deleted sessions were not created in will do.
        return own if plan.creates or not self.account_wide else self._run_generation

    def _record_generations(self, plans: list[SubjectPlan]) -> dict[str, MirroringFailed]:
        """Write the new generation of every instance that is about to lose sessions, before the first deletion.

        Written after the deletions, as it once was with the status, a failed CreateTags (or a process that died
        before the reconciler's flush) lost it for good: the sessions it stood for were gone, so no later run could
        derive it again, and the instance's next create reused the token of a deleted session, which AWS answers
        with that session (or IdempotentParameterMismatch): a status ``mirrored`` over nothing, for up to three
        schedule periods. Written first, a failure leaves everything as it was, to be retried.

        On the event path, an instance that only loses sessions writes its status in the same call (one CreateTags,
        as before); the reconciler writes the generations in batches (one CreateTags per value and 1,000 instances)
        and the statuses as before. Returns the subjects whose generation could not be written (a transient or
        account-wide error: not applied, retried); any other error is logged and the deletions go on, as before
        (a missing instance makes no more sessions).
        """
        batches: dict[tuple[tuple[str, str], ...], list[str]] = {}
        statuses: dict[str, str] = {}
        for plan in plans:
            if not plan.deletes or not plan.is_instance:
                continue
            generation = self._generation_after_deletes(plan)
            if generation == self._generations.get(plan.subject, plan.generation):
                continue
            tags = {self.settings.generation_tag_key: generation}
            status = plan.status
            # (Not in the reconciler: a subject the deadline leaves unapplied must not show a status it did not earn.)
            alone = not self.account_wide and not plan.creates and not plan.updates
            if alone and status and status != CLEAR_STATUS and status != (plan.current_status or ""):
                tags[self.settings.status_tag_key] = status[:256]
                statuses[plan.subject] = status
            batches.setdefault(tuple(sorted(tags.items())), []).append(plan.subject)
        failed: dict[str, MirroringFailed] = {}
        for batch, instances in batches.items():
            written = dict(batch)
            for start in range(0, len(instances), TAG_RESOURCES_PER_CALL):
                chunk = instances[start : start + TAG_RESOURCES_PER_CALL]
                try:
                    self.port.set_instance_tags(chunk, written)
                except AwsApiError as error:
                    self.log("could not record the next generation", instances=chunk[:20], error=str(error))
                    if error.retryable:
                        failed.update((i, MirroringFailed(i, error)) for i in chunk)
                    continue
                for instance_id in chunk:
                    self._generations[instance_id] = written[self.settings.generation_tag_key]
                    if instance_id in statuses:
                        self._status_written[instance_id] = statuses[instance_id]
        return failed

    # -- steps -------------------------------------------------------------------------------------------------
    def _create(self, create: CreateSession) -> _Result:
        """Create on the first target with room, retrying a session number AWS refuses with the next free one."""
        taken = set(create.taken_numbers)
        number = create.session_number
        attempt = 0
        refused_numbers = 0
        for target_id in create.target_ids:
            while True:
                token = client_token(
                    self.settings.managed_by, create.eni_id, create.instance_id, create.generation, number, attempt
                )
                attempt += 1
                try:
                    session = self.port.create_session(**self._session_request(create, target_id, number), token=token)
                except TargetFull:
                    break  # a concurrent placement filled it: next target
                except TargetNotFound:
                    self.port.forget_targets()  # our cached list is stale
                    break
                except EniSessionLimit:
                    return _Result(skip=Reason.ENI_SESSION_LIMIT)  # some of its sessions may be invisible to us
                except TokenReused:
                    return _Result(elsewhere=token)  # a concurrent invocation created this ENI's session
                except AwsApiError as error:
                    if error.retryable or isinstance(error, (SourceNotSupported, FilterNotFound)):
                        raise
                    if refused_numbers >= SESSIONS_PER_ENI - 1:
                        raise
                    # AWS refused the number (its code is undocumented). A concurrent invocation may hold it with
                    # a session of ours: then this ENI is done. Otherwise it is held by a session this account
                    # cannot see (shared VPC): try the next free one; at most 3 sessions share an ENI.
                    if any(self.settings.owns(s) for s in self.port.sessions_on_enis([create.eni_id])):
                        return _Result(elsewhere=token)
                    refused_numbers += 1
                    taken.add(number)
                    next_number = lowest_free_session_number(taken)
                    if next_number is None:
                        raise
                    number = next_number
                    continue
                return _Result(session=session)
        return _Result(skip=Reason.NO_TARGET_CAPACITY)

    def _session_request(self, create: CreateSession, target_id: str, number: int) -> dict[str, Any]:
        tags = {
            self.settings.managed_by_tag_key: self.settings.managed_by,
            self.settings.instance_tag_key: create.instance_id,
        }
        if create.instance_type:
            # What AWS judged the source as: a session of an instance whose type changed since is judged again.
            tags[self.settings.instance_type_tag_key] = create.instance_type
        if create.virtual_network_id is not None:
            # The VNI → source map, on the session itself. A VNI AWS picks is known only from its answer, after the
            # tags are written: those sessions are mapped from DescribeTrafficMirrorSessions (report, mirror-audit).
            tags[self.settings.vni_tag_key] = str(create.virtual_network_id)
        return {
            "eni_id": create.eni_id,
            "target_id": target_id,
            "filter_id": create.filter_id,
            "session_number": number,
            "description": self.settings.session_description(create.instance_id),
            "tags": tags,
            "packet_length": create.packet_length,
            "virtual_network_id": create.virtual_network_id,
        }

    def _update(self, update: UpdateSession, outcome: Outcome) -> None:
        targets: tuple[str | None, ...] = update.target_ids or (None,)
        for target_id in targets:
            try:
                self.port.modify_session(
                    update.session.session_id,
                    target_id,
                    update.filter_id,
                    packet_length=update.packet_length,
                    virtual_network_id=update.virtual_network_id,
                    remove_fields=update.remove_fields,
                )
            except TargetFull:
                continue
            except TargetNotFound:
                self.port.forget_targets()
                continue
            outcome.updated += 1
            outcome.options_changed += update.changes_options
            return
        outcome.skipped[Reason.NO_TARGET_CAPACITY] += 1

    def _learn(self, instance_type: str | None, supported: bool, outcome: Outcome) -> None:
        if not instance_type:
            return
        if self.port.verdicts.learn(instance_type, supported):
            verdict = "supported" if supported else "unsupported"
            outcome.learned[instance_type] = verdict
            self.log(
                "learned from AWS whether an instance type can be a source",
                instance_type=instance_type,
                verdict=verdict,
            )

    def _after_rollback(self, plan: SubjectPlan, created: list[MirrorSession], generation: str | None) -> str | None:
        """The generation after rolling back: a retry must not be answered with a session the rollback deleted."""
        if not created:
            return generation
        return next_generation([*(d.session.session_id for d in plan.deletes), *(s.session_id for s in created)])

    def _undo_then_tag(
        self,
        plan: SubjectPlan,
        created: list[MirrorSession],
        outcome: Outcome,
        cause: Exception,
        status: str,
        generation: str | None,
    ) -> None:
        """Roll back, then write the status and the new generation at once, also when the rollback left sessions:
        the next run must not be answered with a session the rollback deleted."""
        try:
            self._undo(plan, created, outcome, cause)
        except RollbackIncomplete:
            self._write_status(plan, f"{ERROR_STATUS_PREFIX}RollbackIncomplete", generation, outcome, now=True)
            raise
        self._write_status(plan, status, generation, outcome, now=True)

    def _undo(self, plan: SubjectPlan, created: list[MirrorSession], outcome: Outcome, cause: Exception) -> None:
        """Roll back this instance's own creations, newest first; raises RollbackIncomplete if any is left."""
        remaining: list[str] = []
        for session in reversed(created):
            try:
                self.port.delete_session(session.session_id)
            except AwsApiError:
                remaining.append(session.session_id)
        outcome.rolled_back += len(created) - len(remaining)
        if remaining:
            raise RollbackIncomplete(plan.subject, cause, remaining)

    # -- confirmation (reconciler) -----------------------------------------------------------------------------
    def _confirm(self, outcome: Outcome) -> None:
        """Creations a describe does not show, and ENIs a concurrent invocation claimed but that hold no session
        of ours, start a new generation: the next run creates them with a token never used before. Nothing is
        re-created now: the describe may only be lagging, and a replacement would then be a duplicate."""
        shown = {s.session_id for s in self.port.sessions_by_id([s.session_id for _, s in self._created])}
        unseen: dict[str, list[str]] = {}
        for instance_id, session in self._created:
            if session.session_id not in shown:
                unseen.setdefault(instance_id, []).append(session.session_id)
                outcome.unconfirmed.append(session.session_id)
        if self._elsewhere:
            enis = sorted({eni for _, eni, _ in self._elsewhere})
            mirrored = {s.eni_id for s in self.port.sessions_on_enis(enis) if self.settings.owns(s)}
            for instance_id, eni_id, token in self._elsewhere:
                if eni_id not in mirrored:
                    unseen.setdefault(instance_id, []).append(token)
        lost = {s.session_id for ids in unseen.values() for s in outcome.created if s.session_id in ids}
        outcome.created = [s for s in outcome.created if s.session_id not in lost]
        for instance_id, ids in unseen.items():
            digest = next_generation(ids)
            planned = self._plans[instance_id]  # every subject applied this run, failed or not
            if planned.unconfirmed == digest:
                # Missed by two runs a period apart: not a lagging read but a token answered with a deleted
                # session. A new generation gives the next run a token never used.
                self.log("creation not confirmed twice: a new generation", instance_id=instance_id, ids=ids)
                self._generations[instance_id] = digest
                value = digest
            else:
                # Maybe only lagging: keep the generation (the next run's create replays the same answer, so no
                # duplicate) and mark it, so a second miss of the same creations starts a new one.
                self.log("creation not confirmed: marked for the next run", instance_id=instance_id, ids=ids)
                base = self._generations.get(instance_id, planned.generation)
                value = f"{base}{UNCONFIRMED_MARK}{digest}"
            self._queue({self.settings.generation_tag_key: value}, (), instance_id)
        self._created.clear()
        self._elsewhere.clear()

    # -- status and generation tags ----------------------------------------------------------------------------
    def _write_status(
        self,
        plan: SubjectPlan,
        status: str | None,
        generation: str | None,
        outcome: Outcome,
        now: bool = False,
        remove: tuple[str, ...] = (),
    ) -> None:
        """Best effort: the status tag is for people; failing to write it must not fail the mirroring. ``remove``:
        more tag keys to remove in the same DeleteTags (a finding's, once its window has ended and the plan is
        applied; left in place, they are removed by the next run)."""
        if status is not None:
            outcome.final_status[plan.subject] = status
        elif plan.current_status:
            outcome.final_status[plan.subject] = plan.current_status
        status_changes = status is not None and status != (plan.current_status or "")
        written = status is not None and self._status_written.get(plan.subject) == status
        known = self._generations.get(plan.subject, plan.generation)
        generation_changes = plan.is_instance and generation is not None and generation != known
        if not plan.is_instance and status == CLEAR_STATUS:
            status_changes = False
        if not status_changes and not generation_changes and not remove:
            return
        tags: dict[str, str] = {}
        removed = (self.settings.status_tag_key, *remove) if status_changes and status == CLEAR_STATUS else remove
        if status_changes and status and not written:
            tags[self.settings.status_tag_key] = status[:256]
        if generation_changes and generation is not None:
            tags[self.settings.generation_tag_key] = generation
            self._generations[plan.subject] = generation
        if status_changes and status is not None:
            outcome.statuses[plan.subject] = status
        if self.account_wide and not now:
            self._queue(tags, removed, plan.subject)
            return
        self._write_tags([plan.subject], tags, removed)

    def _queue(self, tags: Mapping[str, str], removed: tuple[str, ...], instance_id: str) -> None:
        self._pending.setdefault((tuple(sorted(tags.items())), removed), []).append(instance_id)
        self._pending_count += 1

    def _flush_if_due(self) -> None:
        if not self.account_wide or not self._pending_count:
            return
        if self._pending_count >= STATUS_FLUSH_SUBJECTS or self.clock() - self._last_flush >= STATUS_FLUSH_SECONDS:
            self._flush_status()

    def _flush_status(self) -> None:
        for (tags, removed), instances in self._pending.items():
            for start in range(0, len(instances), TAG_RESOURCES_PER_CALL):
                self._write_tags(instances[start : start + TAG_RESOURCES_PER_CALL], dict(tags), removed)
        if self._pending_count:
            self.log("status tags written", instances=self._pending_count)
        self._pending.clear()
        self._pending_count = 0
        self._last_flush = self.clock()

    def _write_tags(self, instances: list[str], tags: Mapping[str, str], removed: tuple[str, ...]) -> None:
        try:
            if removed:
                self.port.delete_instance_tags(instances, removed)
            if tags:
                self.port.set_instance_tags(instances, tags)
        except AwsApiError as error:
            self.log("could not write status tags", instances=instances[:20], error=str(error))
