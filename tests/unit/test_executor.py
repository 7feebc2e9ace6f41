"""The executor's decisions, against an in-memory AWS (tests/unit/fake_port.py).

Each test reads Given / When / Then. Plans are built by hand (model.CreateSession, ...) where the test is about the
executor alone, and by ``planner.plan_mirroring`` where runs follow each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

import pytest

from tests import builders
from tests.builders import OURS, SUPPORTED, nlb, settings
from tests.unit.fake_port import CREATE, CREATE_TAGS, DELETE, DELETE_TAGS, DESCRIBE, MODIFY, Call, FakeAws
from traffic_mirroring import executor as executor_module
from traffic_mirroring.client_token import client_token
from traffic_mirroring.eligibility import Verdict
from traffic_mirroring.errors import (
    AccountAwsError,
    MirroringFailed,
    RollbackIncomplete,
    SourceNotSupported,
    TransientAwsError,
)
from traffic_mirroring.executor import STATUS_FLUSH_SECONDS, STATUS_FLUSH_SUBJECTS, Executor
from traffic_mirroring.model import (
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
from traffic_mirroring.planner import CLEAR_STATUS, next_generation, plan_mirroring
from traffic_mirroring.run_report import Outcome

SETTINGS = settings("tmt-a", "tmt-b")
STATUS = SETTINGS.status_tag_key
GENERATION = SETTINGS.generation_tag_key


# -- builders ------------------------------------------------------------------------------------------------------
def world(**switches: object) -> FakeAws:
    """Two ENI targets without a source limit, the stack's filter, and ENIs eni-1..eni-3 that AWS accepts."""
    fake = FakeAws(**switches)  # type: ignore[arg-type]
    return fake.target("tmt-a").target("tmt-b").filter("tmf-1").eni("eni-1", "eni-2", "eni-3")


def create(
    eni: str = "eni-1",
    instance: str = "i-1",
    *,
    number: int = 1,
    targets: tuple[str, ...] = ("tmt-a", "tmt-b"),
    taken: tuple[int, ...] = (),
    generation: str = "",
    probe: str | None = None,
    filter_id: str = "tmf-1",
) -> CreateSession:
    return CreateSession(instance, eni, number, filter_id, targets, taken, generation, probe)


def subject(
    instance: str = "i-1",
    *,
    creates: Iterable[CreateSession] = (),
    deletes: Iterable[MirrorSession] = (),
    updates: Iterable[UpdateSession] = (),
    skips: Iterable[Skip] = (),
    status: str | None = Reason.MIRRORED,
    current: str | None = None,
    itype: str = "m5.large",
    generation: str = "",
    is_instance: bool = True,
) -> SubjectPlan:
    return SubjectPlan(
        instance,
        deletes=[DeleteSession(instance, s, Reason.DUPLICATE_SESSION) for s in deletes],
        updates=list(updates),
        creates=list(creates),
        skips=list(skips),
        status=status,
        current_status=current,
        instance_type=itype,
        is_instance=is_instance,
        generation=generation,
    )


def plan(*subjects: SubjectPlan) -> Plan:
    return Plan(subjects={s.subject: s for s in subjects})


def ours(fake: FakeAws, eni: str, target: str = "tmt-a", number: int = 1, instance: str = "i-1") -> MirrorSession:
    return fake.existing_session(eni, target, "tmf-1", number, {**OURS, "mirror-instance-id": instance})


def foreign(fake: FakeAws, eni: str, target: str = "tmt-a", number: int = 1, hidden: bool = False) -> MirrorSession:
    return fake.existing_session(eni, target, "tmf-1", number, {"team": "net"}, hidden=hidden)


def token(c: CreateSession, number: int | None = None, attempt: int = 0) -> str:
    number = c.session_number if number is None else number
    return client_token(SETTINGS.managed_by, c.eni_id, c.instance_id, c.generation, number, attempt)


def status_of(fake: FakeAws, instance: str = "i-1") -> str | None:
    return fake.instance_tags.get(instance, {}).get(STATUS)


def created_on(fake: FakeAws) -> list[tuple[str, str, int]]:
    """(ENI, target, number) of every CreateTrafficMirrorSession call, in order."""
    return [
        (c.params["eni_id"], c.params["target_id"], c.params["session_number"])
        for c in fake.calls
        if c.operation == CREATE
    ]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# -- order within an instance --------------------------------------------------------------------------------------
def test_deletes_free_what_updates_use_and_updates_free_what_creates_use() -> None:
    # Given tmt-b full with a duplicate of ours, tmt-a full with the session to move, and a new ENI for tmt-a only
    fake = world().target("tmt-a", limit=1).target("tmt-b", limit=1)
    duplicate = ours(fake, "eni-9", "tmt-b")
    kept = ours(fake, "eni-1", "tmt-a")
    move = UpdateSession("i-1", kept, ("tmt-b",), None, Reason.TARGET_RETIRED)
    # When the plan deletes, moves and creates
    outcome = Executor(fake, SETTINGS).apply(
        plan(subject(creates=[create("eni-2", targets=("tmt-a",))], deletes=[duplicate], updates=[move]))
    )
    # Then the calls go generation, delete, modify, create, status, and each finds the room the previous one freed
    assert fake.operations() == [CREATE_TAGS, DELETE, MODIFY, CREATE, CREATE_TAGS]
    assert [(s.eni_id, s.target_id) for s in fake.sessions.values()] == [("eni-1", "tmt-b"), ("eni-2", "tmt-a")]
    assert outcome.deleted == {Reason.DUPLICATE_SESSION: 1}
    assert outcome.updated == 1
    assert [s.eni_id for s in outcome.created] == ["eni-2"]
    assert outcome.applied == ["i-1"]


def test_subjects_are_applied_in_plan_order() -> None:
    fake = world()
    Executor(fake, SETTINGS).apply(plan(subject("i-2", creates=[create("eni-2", "i-2")]), subject("i-1")))
    assert [c.params["instance_ids"] for c in fake.tag_calls()] == [["i-2"], ["i-1"]]


# -- target fallbacks ----------------------------------------------------------------------------------------------
def test_a_target_filled_meanwhile_falls_back_to_the_next() -> None:
    # Given tmt-a (limit 1) filled by someone else since the plan
    fake = world().target("tmt-a", limit=1)
    foreign(fake, "eni-9", "tmt-a")
    # When the create tries tmt-a first
    outcome = Executor(fake, SETTINGS).apply(plan(subject(creates=[create()])))
    # Then it lands on tmt-b, the target list is not thrown away, and the instance is mirrored
    assert created_on(fake) == [("eni-1", "tmt-a", 1), ("eni-1", "tmt-b", 1)]
    assert [s.target_id for s in outcome.created] == ["tmt-b"]
    assert fake.forgotten_targets == 0
    assert status_of(fake) == Reason.MIRRORED


def test_a_target_deleted_meanwhile_falls_back_and_forgets_the_cached_targets() -> None:
    fake = world()
    outcome = Executor(fake, SETTINGS).apply(plan(subject(creates=[create(targets=("tmt-gone", "tmt-b"))])))
    assert created_on(fake) == [("eni-1", "tmt-gone", 1), ("eni-1", "tmt-b", 1)]
    assert [s.target_id for s in outcome.created] == ["tmt-b"]
    assert fake.forgotten_targets == 1


def test_no_target_with_room_skips_the_eni_and_says_so() -> None:
    # Given both targets full
    fake = world().target("tmt-a", limit=1).target("tmt-b", limit=1)
    foreign(fake, "eni-8", "tmt-a")
    foreign(fake, "eni-9", "tmt-b")
    # When eni-1 and eni-2 are to be mirrored, eni-2 on a target it may not use... none has room
    outcome = Executor(fake, SETTINGS).apply(plan(subject(creates=[create()])))
    # Then nothing is created, nothing raised, and the status names the reason
    assert len(created_on(fake)) == 2
    assert outcome.created == []
    assert outcome.skipped == {Reason.NO_TARGET_CAPACITY: 1}
    assert status_of(fake) == Reason.NO_TARGET_CAPACITY
    assert outcome.final_status == {"i-1": Reason.NO_TARGET_CAPACITY}


def test_a_skip_does_not_hide_an_earlier_skip_status() -> None:
    # Given a plan whose status already names a problem (not "mirrored"), and an ENI that finds no room
    fake = world().target("tmt-a", limit=0).target("tmt-b", limit=0)
    outcome = Executor(fake, SETTINGS).apply(plan(subject(creates=[create()], status=Reason.TARGET_NOT_APPROVED)))
    assert status_of(fake) == Reason.TARGET_NOT_APPROVED
    assert outcome.skipped == {Reason.NO_TARGET_CAPACITY: 1}


def test_a_move_falls_back_to_the_next_target() -> None:
    # Given a session to move, tmt-b gone and tmt-c full
    fake = world().target("tmt-c", limit=1).target("tmt-d")
    foreign(fake, "eni-9", "tmt-c")
    kept = ours(fake, "eni-1", "tmt-a")
    move = UpdateSession("i-1", kept, ("tmt-gone", "tmt-c", "tmt-d"), None, Reason.TARGET_DEAD)
    # When it is applied
    outcome = Executor(fake, SETTINGS).apply(plan(subject(updates=[move])))
    # Then it tries each in turn and ends on tmt-d
    assert [c.params["target_id"] for c in fake.calls if c.operation == MODIFY] == ["tmt-gone", "tmt-c", "tmt-d"]
    assert fake.sessions[kept.session_id].target_id == "tmt-d"
    assert fake.forgotten_targets == 1
    assert outcome.updated == 1
    assert not outcome.skipped


def test_a_move_with_no_room_anywhere_is_counted_as_skipped() -> None:
    fake = world().target("tmt-b", limit=0)
    kept = ours(fake, "eni-1", "tmt-a")
    move = UpdateSession("i-1", kept, ("tmt-b",), None, Reason.TARGET_DEAD)
    outcome = Executor(fake, SETTINGS).apply(plan(subject(updates=[move])))
    assert fake.sessions[kept.session_id].target_id == "tmt-a"
    assert outcome.updated == 0
    assert outcome.skipped == {Reason.NO_TARGET_CAPACITY: 1}


def test_a_filter_change_keeps_the_target() -> None:
    fake = world().filter("tmf-2")
    kept = ours(fake, "eni-1", "tmt-a")
    outcome = Executor(fake, SETTINGS).apply(
        plan(subject(updates=[UpdateSession("i-1", kept, (), "tmf-2", Reason.FILTER_CHANGED)]))
    )
    assert fake.calls[0].params == {"session_id": kept.session_id, "target_id": None, "filter_id": "tmf-2"}
    assert (fake.sessions[kept.session_id].target_id, fake.sessions[kept.session_id].filter_id) == ("tmt-a", "tmf-2")
    assert outcome.updated == 1


# -- ENI at its limit ----------------------------------------------------------------------------------------------
def test_an_eni_at_its_limit_is_skipped_and_the_others_are_mirrored() -> None:
    # Given eni-1 with 3 sessions, one of them invisible to this account
    fake = world()
    foreign(fake, "eni-1", number=1)
    foreign(fake, "eni-1", number=2)
    foreign(fake, "eni-1", number=3, hidden=True)
    # When the plan (which saw 2) creates on eni-1 and eni-2
    outcome = Executor(fake, SETTINGS).apply(
        plan(subject(creates=[create("eni-1", number=3, taken=(1, 2)), create("eni-2")]))
    )
    # Then eni-1 is tried once and skipped, eni-2 is mirrored, nothing raises, and the status says why
    assert created_on(fake) == [("eni-1", "tmt-a", 3), ("eni-2", "tmt-a", 1)]
    assert [s.eni_id for s in outcome.created] == ["eni-2"]
    assert outcome.skipped == {Reason.ENI_SESSION_LIMIT: 1}
    assert status_of(fake) == Reason.ENI_SESSION_LIMIT
    assert not outcome.problems


# -- AWS refuses the source ----------------------------------------------------------------------------------------
def test_a_refused_source_rolls_back_the_instance_and_is_learned() -> None:
    # Given an instance whose second ENI AWS refuses as a source
    fake = world().eni("eni-2", supported=False)
    # When both ENIs are to be mirrored
    outcome = Executor(fake, SETTINGS).apply(
        plan(subject(creates=[create("eni-1"), create("eni-2")], itype="m5.large"))
    )
    # Then eni-1's new session is deleted again, the type is known as refused, and the status says so
    assert fake.sessions == {}
    assert fake.operations() == [CREATE, CREATE, DELETE, CREATE_TAGS]
    assert outcome.rolled_back == 1
    assert outcome.created == []
    assert fake.verdicts.verdict("m5.large") == Verdict.UNSUPPORTED
    assert outcome.learned == {"m5.large": "unsupported"}
    assert status_of(fake) == Reason.UNSUPPORTED_INSTANCE_TYPE
    assert outcome.skipped == {Reason.UNSUPPORTED_INSTANCE_TYPE: 1}
    assert "i-1" not in outcome.problems


def test_a_refused_source_is_not_learned_again() -> None:
    fake = world().eni("eni-1", supported=False)
    fake.verdicts.learn("m5.large", False)
    outcome = Executor(fake, SETTINGS).apply(plan(subject(creates=[create()])))
    assert outcome.learned == {}
    assert status_of(fake) == Reason.UNSUPPORTED_INSTANCE_TYPE


def test_a_successful_probe_learns_that_the_type_is_supported() -> None:
    fake = world()
    outcome = Executor(fake, SETTINGS).apply(plan(subject(creates=[create(probe="m8g.large")], itype="m8g.large")))
    assert fake.verdicts.verdict("m8g.large") == Verdict.SUPPORTED
    assert outcome.learned == {"m8g.large": "supported"}


def test_a_create_that_probes_nothing_learns_nothing() -> None:
    fake = world()
    outcome = Executor(fake, SETTINGS).apply(plan(subject(creates=[create()], itype="m8g.large")))
    assert fake.verdicts.learned() == {}
    assert outcome.learned == {}


# -- a filter that does not exist ----------------------------------------------------------------------------------
def test_a_missing_filter_rolls_back_and_becomes_the_status() -> None:
    fake = world()
    outcome = Executor(fake, SETTINGS).apply(
        plan(subject(creates=[create("eni-1"), create("eni-2", filter_id="tmf-typo")]), subject("i-2"))
    )
    assert fake.sessions == {}
    assert outcome.rolled_back == 1
    assert status_of(fake) == Reason.FILTER_NOT_FOUND
    assert outcome.problems == {"i-1": Reason.FILTER_NOT_FOUND}
    assert outcome.skipped == {Reason.FILTER_NOT_FOUND: 1}
    assert outcome.applied == ["i-1", "i-2"]


# -- session numbers AWS refuses -----------------------------------------------------------------------------------
def test_a_number_held_by_a_hidden_session_is_retried_with_the_next_free_one() -> None:
    # Given number 1 on eni-1 held by a session this account cannot see, and AWS refusing duplicate numbers
    fake = world()
    foreign(fake, "eni-1", number=1, hidden=True)
    # When the plan (which saw no session) creates number 1
    outcome = Executor(fake, SETTINGS).apply(plan(subject(creates=[create()])))
    # Then the session gets number 2, on the same target
    assert created_on(fake) == [("eni-1", "tmt-a", 1), ("eni-1", "tmt-a", 2)]
    assert [s.session_number for s in outcome.created] == [2]
    assert status_of(fake) == Reason.MIRRORED


def test_the_next_number_skips_the_numbers_the_plan_saw() -> None:
    fake = world()
    foreign(fake, "eni-1", number=1, hidden=True)
    foreign(fake, "eni-1", number=2)
    Executor(fake, SETTINGS).apply(plan(subject(creates=[create(taken=(2,))])))
    assert [n for _, _, n in created_on(fake)] == [1, 3]


def test_where_aws_accepts_duplicate_numbers_the_first_number_is_kept() -> None:
    fake = world(duplicate_numbers_refused=False)
    foreign(fake, "eni-1", number=1, hidden=True)
    outcome = Executor(fake, SETTINGS).apply(plan(subject(creates=[create()])))
    assert [s.session_number for s in outcome.created] == [1]


def test_a_refused_number_is_given_up_after_three_tries() -> None:
    # Given AWS refusing every number
    fake = world().fail(CREATE, "InvalidParameterValue", times=10)
    # When the create runs
    outcome = Executor(fake, SETTINGS).apply(plan(subject(creates=[create()]), subject("i-2")))
    # Then it tries numbers 1, 2, 3 with distinct tokens, then the instance's status carries AWS's code; no raise
    assert [n for _, _, n in created_on(fake)] == [1, 2, 3]
    assert len({c.params["token"] for c in fake.calls if c.operation == CREATE}) == 3
    assert outcome.problems == {"i-1": "error:InvalidParameterValue"}
    assert status_of(fake) == "error:InvalidParameterValue"
    assert outcome.applied == ["i-2"]


# -- tokens and concurrency ----------------------------------------------------------------------------------------
def test_tokens_derive_from_eni_instance_generation_number_and_attempt() -> None:
    fake = world().target("tmt-a", limit=0)
    c = create(generation="g1")
    Executor(fake, SETTINGS).apply(plan(subject(creates=[c])))
    assert [call.params["token"] for call in fake.calls if call.operation == CREATE] == [
        token(c, attempt=0),
        token(c, attempt=1),
    ]


def test_a_token_used_by_a_concurrent_invocation_is_no_error_and_no_duplicate() -> None:
    # Given a concurrent invocation that created eni-1's session on tmt-b with the same token
    fake = world()
    Executor(fake, SETTINGS).apply(plan(subject(creates=[create(targets=("tmt-b", "tmt-a"))])))
    # When this invocation, which ranked tmt-a first, creates with the same token
    outcome = Executor(fake, SETTINGS).apply(plan(subject(creates=[create(targets=("tmt-a", "tmt-b"))])))
    # Then AWS answers IdempotentParameterMismatch, and that is taken as "done elsewhere"
    assert [s.target_id for s in fake.sessions.values()] == ["tmt-b"]
    assert created_on(fake)[-1] == ("eni-1", "tmt-a", 1)
    assert fake.count(CREATE) == 2
    assert outcome.created == []
    assert not outcome.problems
    assert outcome.final_status == {"i-1": Reason.MIRRORED}


@pytest.mark.parametrize("refused", [True, False], ids=["duplicates-refused", "duplicates-accepted"])
@pytest.mark.parametrize("interleaved", [True, False], ids=["interleaved", "one-after-the-other"])
def test_the_same_plan_applied_twice_at_once_leaves_one_session_per_eni(refused: bool, interleaved: bool) -> None:
    # Given two invocations (EC2 running and Auto Scaling launch) with the same plan for a 2-ENI instance
    fake = world(duplicate_numbers_refused=refused)
    the_plan = plan(subject(creates=[create("eni-1"), create("eni-2")]))
    first, second = Executor(fake, SETTINGS), Executor(fake, SETTINGS)
    if interleaved:  # the second runs whole while the first waits for AWS's answer to its first create

        def run_second_once(call: Call) -> None:
            if call.operation == CREATE:
                fake.before_call = None
                second.apply(the_plan)

        fake.before_call = run_second_once
        outcome = first.apply(the_plan)
    else:
        outcome = first.apply(the_plan)
        second.apply(the_plan)
    # Then each ENI has one session, and both invocations report it
    assert [s.eni_id for s in fake.sessions.values()] == ["eni-1", "eni-2"]
    assert {s.session_id for s in outcome.created} == set(fake.sessions)
    assert not outcome.problems


# -- errors that are not this instance's ---------------------------------------------------------------------------
def test_a_transient_error_rolls_back_and_raises() -> None:
    # Given AWS throttling the second create
    fake = world().fail(CREATE, "RequestLimitExceeded", when=lambda p: p["eni_id"] == "eni-2")
    # When the instance is applied (event mode)
    with pytest.raises(MirroringFailed) as raised:
        Executor(fake, SETTINGS).apply(plan(subject(creates=[create("eni-1"), create("eni-2")])))
    # Then its first session is rolled back, the error is retried by the caller, and the status tells the code
    assert isinstance(raised.value.cause, TransientAwsError)
    assert raised.value.instance_id == "i-1"
    assert fake.sessions == {}
    assert status_of(fake) == "error:RequestLimitExceeded"


def test_a_rollback_that_fails_names_what_is_left() -> None:
    fake = world().fail(CREATE, "RequestLimitExceeded", when=lambda p: p["eni_id"] == "eni-2")
    fake.fail(DELETE, "RequestLimitExceeded")
    with pytest.raises(RollbackIncomplete) as raised:
        Executor(fake, SETTINGS).apply(plan(subject(creates=[create("eni-1"), create("eni-2")])))
    assert raised.value.remaining == list(fake.sessions)


def test_in_an_account_wide_run_a_transient_error_raises_after_the_other_instances() -> None:
    fake = world().fail(CREATE, "ServiceUnavailable", when=lambda p: p["eni_id"] == "eni-1")
    outcome = Outcome()
    with pytest.raises(MirroringFailed):
        Executor(fake, SETTINGS, account_wide=True).apply(
            plan(subject("i-1", creates=[create("eni-1", "i-1")]), subject("i-2", creates=[create("eni-2", "i-2")])),
            outcome,
        )
    assert [s.eni_id for s in fake.sessions.values()] == ["eni-2"]
    assert outcome.applied == ["i-2"]
    assert outcome.unapplied == []


def test_the_first_error_is_the_one_raised() -> None:
    fake = world().fail(CREATE, "ServiceUnavailable", times=2)
    with pytest.raises(MirroringFailed) as raised:
        Executor(fake, SETTINGS, account_wide=True).apply(
            plan(subject("i-1", creates=[create("eni-1", "i-1")]), subject("i-2", creates=[create("eni-2", "i-2")]))
        )
    assert raised.value.instance_id == "i-1"


def test_an_account_wide_error_stops_the_run_at_once() -> None:
    # Given AWS denying the first create (a missing permission)
    fake = world().fail(CREATE, "AccessDenied")
    outcome = Outcome()
    # When an account-wide run has three instances to mirror
    with pytest.raises(MirroringFailed) as raised:
        Executor(fake, SETTINGS, account_wide=True).apply(
            plan(*(subject(f"i-{n}", creates=[create(f"eni-{n}", f"i-{n}")]) for n in (1, 2, 3))), outcome
        )
    # Then nothing more is tried, and the others are left for the next run
    assert isinstance(raised.value.cause, AccountAwsError)
    assert created_on(fake) == [("eni-1", "tmt-a", 1)]
    assert outcome.unapplied == ["i-2", "i-3"]


def test_a_request_error_stays_with_its_instance() -> None:
    # Given AWS refusing i-1's delete for a reason of that request only
    fake = world()
    stale = ours(fake, "eni-1", number=2)
    fake.fail(DELETE, "IncorrectState")
    outcome = Outcome()
    # When an account-wide run applies i-1 and i-2
    Executor(fake, SETTINGS, account_wide=True).apply(
        plan(subject("i-1", deletes=[stale]), subject("i-2", creates=[create("eni-2", "i-2")])), outcome
    )
    # Then nothing raises, i-2 is mirrored, and i-1's problem is its status and in the outcome
    assert outcome.problems == {"i-1": "error:IncorrectState"}
    assert outcome.final_status["i-1"] == "error:IncorrectState"
    assert status_of(fake, "i-1") == "error:IncorrectState"
    assert status_of(fake, "i-2") == Reason.MIRRORED
    assert outcome.applied == ["i-2"]
    assert not outcome.deleted


# -- status and generation tags ------------------------------------------------------------------------------------
def test_event_mode_writes_the_new_generation_before_the_deletion_and_the_status_after_the_creation() -> None:
    # Given an instance whose duplicate session is deleted and whose ENI gets a new one
    fake = world()
    stale = ours(fake, "eni-1", number=2)
    generation = next_generation([stale.session_id])
    # When applied by the event path
    Executor(fake, SETTINGS).apply(plan(subject(deletes=[stale], creates=[create("eni-2", generation=generation)])))
    # Then the generation derived from the deleted session is written before it is deleted, and the status, which
    # the creation may still change, after it
    assert [(c.operation, c.params) for c in fake.calls if c.operation != DESCRIBE] == [
        (CREATE_TAGS, {"instance_ids": ["i-1"], "tags": {GENERATION: generation}}),
        (DELETE, {"session_id": stale.session_id}),
        (CREATE, fake.calls[2].params),
        (CREATE_TAGS, {"instance_ids": ["i-1"], "tags": {STATUS: Reason.MIRRORED}}),
    ]


def test_event_mode_writes_the_status_of_an_instance_that_only_loses_sessions_with_its_generation() -> None:
    fake = world()
    stale = ours(fake, "eni-1")
    Executor(fake, SETTINGS).apply(plan(subject(deletes=[stale], status=Reason.INSTANCE_STOPPED)))
    generation = next_generation([stale.session_id])
    assert [(c.operation, c.params) for c in fake.calls] == [
        (CREATE_TAGS, {"instance_ids": ["i-1"], "tags": {STATUS: Reason.INSTANCE_STOPPED, GENERATION: generation}}),
        (DELETE, {"session_id": stale.session_id}),
    ]


def test_no_session_is_deleted_while_its_next_generation_cannot_be_written() -> None:
    # Given an instance about to lose its session, and CreateTags throttled past the SDK's retries
    fake = world().fail(CREATE_TAGS, "RequestLimitExceeded", times=1)
    stale = ours(fake, "eni-1")
    gone = subject(deletes=[stale], status=Reason.INSTANCE_STOPPED)
    # When the event path applies the plan, it fails (Lambda retries) before deleting anything: written after the
    # deletion, the generation was lost for good and a later create reused the deleted session's token
    with pytest.raises(MirroringFailed):
        Executor(fake, SETTINGS).apply(plan(gone))
    assert list(fake.sessions) == [stale.session_id] and GENERATION not in fake.instance_tags.get("i-1", {})
    # And the retry records it, then deletes
    Executor(fake, SETTINGS).apply(plan(gone))
    assert fake.sessions == {} and fake.instance_tags["i-1"][GENERATION] == next_generation([stale.session_id])


def test_the_reconciler_records_new_generations_in_one_batch_before_any_deletion() -> None:
    fake = world()
    stale = [ours(fake, f"eni-{n}", instance=f"i-{n}") for n in (1, 2, 3)]
    gone = [subject(f"i-{n}", deletes=[s], status=Reason.TAG_REMOVED) for n, s in zip((1, 2, 3), stale, strict=True)]
    Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(plan(*gone))
    generation = next_generation(s.session_id for s in stale)
    assert fake.operations()[:2] == [CREATE_TAGS, DELETE]
    assert fake.calls[0].params == {"instance_ids": ["i-1", "i-2", "i-3"], "tags": {GENERATION: generation}}
    assert all(fake.instance_tags[f"i-{n}"] == {GENERATION: generation, STATUS: Reason.TAG_REMOVED} for n in (1, 2, 3))


def test_the_reconciler_leaves_an_instance_whose_generation_cannot_be_written_for_the_next_run() -> None:
    fake = world().fail(CREATE_TAGS, "RequestLimitExceeded", times=1)
    stale = ours(fake, "eni-1")
    executor = Executor(fake, SETTINGS, account_wide=True, clock=Clock())
    with pytest.raises(MirroringFailed):
        executor.apply(
            plan(subject(deletes=[stale], status=Reason.TAG_REMOVED), subject("i-2", creates=[create("eni-2", "i-2")]))
        )
    assert stale.session_id in fake.sessions  # not deleted
    assert [s.eni_id for s in fake.sessions.values() if s.session_id != stale.session_id] == ["eni-2"]  # the rest ran


def test_an_unchanged_status_and_generation_write_nothing() -> None:
    fake = world()
    outcome = Executor(fake, SETTINGS).apply(plan(subject(current=Reason.MIRRORED, generation="g1")))
    assert fake.calls == []
    assert outcome.final_status == {"i-1": Reason.MIRRORED}
    assert outcome.statuses == {}


def test_a_status_left_alone_is_still_reported() -> None:
    fake = world()
    outcome = Executor(fake, SETTINGS).apply(plan(subject(status=None, current=Reason.INSTANCE_STOPPED)))
    assert fake.calls == []
    assert outcome.final_status == {"i-1": Reason.INSTANCE_STOPPED}


def test_a_changed_status_is_written_and_reported() -> None:
    fake = world()
    outcome = Executor(fake, SETTINGS).apply(plan(subject(current=Reason.NO_TARGET_CAPACITY)))
    assert [c.params for c in fake.tag_calls()] == [{"instance_ids": ["i-1"], "tags": {STATUS: Reason.MIRRORED}}]
    assert outcome.statuses == {"i-1": Reason.MIRRORED}


def test_a_long_status_is_cut_to_the_tag_limit() -> None:
    fake = world()
    Executor(fake, SETTINGS).apply(plan(subject(status="error:" + "x" * 300)))
    assert len(status_of(fake) or "") == 256


def test_untagging_removes_the_status_tag_and_keeps_the_new_generation() -> None:
    fake = world()
    fake.instance_tags["i-1"] = {STATUS: Reason.MIRRORED}
    stale = ours(fake, "eni-1")
    Executor(fake, SETTINGS).apply(plan(subject(deletes=[stale], status=CLEAR_STATUS, current=Reason.MIRRORED)))
    assert [(c.operation, c.params) for c in fake.tag_calls()] == [
        (CREATE_TAGS, {"instance_ids": ["i-1"], "tags": {GENERATION: next_generation([stale.session_id])}}),
        (DELETE_TAGS, {"instance_ids": ["i-1"], "keys": [STATUS]}),
    ]
    assert fake.instance_tags["i-1"] == {GENERATION: next_generation([stale.session_id])}


FINDING_TAGS = (SETTINGS.finding_tag_key, SETTINGS.finding_until_tag_key)


def test_a_finding_s_ended_window_is_removed_with_the_status_in_one_call() -> None:
    # Given an instance mirrored only for a finding, whose window has ended
    fake = world()
    fake.instance_tags["i-1"] = {STATUS: Reason.MIRRORED, "mirror": "false", **dict.fromkeys(FINDING_TAGS, "x")}
    stale = ours(fake, "eni-1")
    ended = subject(deletes=[stale], status=CLEAR_STATUS, current=Reason.MIRRORED)
    ended.remove_tags = FINDING_TAGS
    # When the plan is applied
    Executor(fake, SETTINGS).apply(plan(ended))
    # Then one DeleteTags removes the status and the finding's tags; the owner's tag stays
    assert [c.params for c in fake.tag_calls() if c.operation == DELETE_TAGS] == [
        {"instance_ids": ["i-1"], "keys": [STATUS, *FINDING_TAGS]}
    ]
    assert fake.instance_tags["i-1"] == {"mirror": "false", GENERATION: next_generation([stale.session_id])}


def test_a_finding_s_tags_are_removed_even_when_nothing_else_changes() -> None:
    fake = world()
    fake.instance_tags["i-1"] = {STATUS: Reason.MIRRORED, "mirror": "true", **dict.fromkeys(FINDING_TAGS, "x")}
    kept = subject(status=Reason.MIRRORED, current=Reason.MIRRORED)
    kept.remove_tags = FINDING_TAGS
    Executor(fake, SETTINGS).apply(plan(kept))
    assert [(c.operation, c.params) for c in fake.tag_calls()] == [
        (DELETE_TAGS, {"instance_ids": ["i-1"], "keys": list(FINDING_TAGS)})
    ]
    assert fake.instance_tags["i-1"] == {STATUS: Reason.MIRRORED, "mirror": "true"}


def test_account_wide_removals_of_ended_windows_are_batched() -> None:
    fake = world()
    subjects = [subject(f"i-{n}", status=Reason.MIRRORED, current=Reason.MIRRORED) for n in (1, 2, 3)]
    for s in subjects[:2]:
        s.remove_tags = FINDING_TAGS
    Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(plan(*subjects))
    assert [(c.operation, c.params) for c in fake.tag_calls()] == [
        (DELETE_TAGS, {"instance_ids": ["i-1", "i-2"], "keys": list(FINDING_TAGS)})
    ]


def test_a_finding_s_tags_stay_when_the_instance_s_plan_fails() -> None:
    # The next run removes them once its sessions are really gone.
    fake = world().fail(DELETE, "IncorrectState")
    fake.instance_tags["i-1"] = dict.fromkeys(FINDING_TAGS, "x")
    failed = subject(deletes=[ours(fake, "eni-1")], status=CLEAR_STATUS, current=Reason.MIRRORED)
    failed.remove_tags = FINDING_TAGS
    Executor(fake, SETTINGS).apply(plan(failed))
    assert all(key in fake.instance_tags["i-1"] for key in FINDING_TAGS)


def test_untagging_an_instance_without_a_status_tag_writes_nothing() -> None:
    fake = world()
    Executor(fake, SETTINGS).apply(plan(subject(status=CLEAR_STATUS, current=None)))
    assert fake.calls == []


def test_an_orphaned_eni_gets_no_tags() -> None:
    # Given a session of ours on an ENI no instance holds (its subject is the ENI)
    fake = world()
    orphan = ours(fake, "eni-9")
    Executor(fake, SETTINGS).apply(plan(subject("eni-9", deletes=[orphan], status=CLEAR_STATUS, is_instance=False)))
    assert fake.operations() == [DELETE]


def test_account_wide_mode_writes_statuses_in_one_batch_at_the_end() -> None:
    fake = world()
    Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(
        plan(*(subject(f"i-{n}", creates=[create(f"eni-{n}", f"i-{n}")]) for n in (1, 2, 3)))
    )
    assert fake.operations() == [CREATE, CREATE, CREATE, CREATE_TAGS, DESCRIBE]
    assert fake.tag_calls()[0].params == {"instance_ids": ["i-1", "i-2", "i-3"], "tags": {STATUS: Reason.MIRRORED}}


def test_account_wide_mode_batches_by_tag_value() -> None:
    fake = world()
    Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(
        plan(
            subject("i-1"),
            subject("i-2", status=Reason.NO_TARGET_CAPACITY),
            subject("i-3"),
            subject("i-4", status=CLEAR_STATUS, current=Reason.MIRRORED),
        )
    )
    assert sorted((c.operation, tuple(c.params["instance_ids"])) for c in fake.tag_calls()) == [
        (CREATE_TAGS, ("i-1", "i-3")),
        (CREATE_TAGS, ("i-2",)),
        (DELETE_TAGS, ("i-4",)),
    ]


def test_account_wide_statuses_are_flushed_every_so_many_subjects() -> None:
    fake = world()
    subjects = [subject(f"i-{n}") for n in range(STATUS_FLUSH_SUBJECTS + 1)]
    Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(plan(*subjects))
    assert [len(c.params["instance_ids"]) for c in fake.tag_calls()] == [STATUS_FLUSH_SUBJECTS, 1]


def test_account_wide_statuses_are_flushed_every_so_many_seconds() -> None:
    # Given a run where each instance takes half the flush interval
    fake = world()
    clock = Clock()

    def half_interval_later() -> bool:
        clock.now += STATUS_FLUSH_SECONDS / 2
        return True

    # When three instances are applied
    Executor(fake, SETTINGS, account_wide=True, clock=clock).apply(
        plan(subject("i-1"), subject("i-2"), subject("i-3")), keep_going=half_interval_later
    )
    # Then the first two are written once the interval has passed, and the third at the end
    assert [c.params["instance_ids"] for c in fake.tag_calls()] == [["i-1", "i-2"], ["i-3"]]


def test_the_flush_interval_runs_from_the_last_flush() -> None:
    fake = world()
    clock = Clock()
    times = iter([4.0, 5.0, 9.0, 10.0])

    def tick() -> bool:
        clock.now = next(times)
        return True

    Executor(fake, SETTINGS, account_wide=True, clock=clock).apply(
        plan(*(subject(f"i-{n}") for n in range(1, 5))), keep_going=tick
    )
    assert [c.params["instance_ids"] for c in fake.tag_calls()] == [["i-1", "i-2"], ["i-3", "i-4"]]


def test_a_flush_writes_at_most_1000_instances_a_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executor_module, "STATUS_FLUSH_SUBJECTS", 10_000)
    fake = world()
    Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(plan(*(subject(f"i-{n}") for n in range(1001))))
    assert [len(c.params["instance_ids"]) for c in fake.tag_calls()] == [1000, 1]


def test_a_failed_tag_write_does_not_fail_the_mirroring() -> None:
    fake = world().fail(CREATE_TAGS, "RequestLimitExceeded")
    outcome = Executor(fake, SETTINGS).apply(plan(subject(creates=[create()])))
    assert len(outcome.created) == 1
    assert outcome.statuses == {"i-1": Reason.MIRRORED}


# -- a run cut short -----------------------------------------------------------------------------------------------
def three_instances() -> Plan:
    return plan(*(subject(f"i-{n}", creates=[create(f"eni-{n}", f"i-{n}")]) for n in (1, 2, 3)))


def calls_allowed(subjects: int, then: Callable[[], bool]) -> Callable[[], bool]:
    calls = iter(range(subjects + 10))

    def keep_going() -> bool:
        return True if next(calls) < subjects else then()

    return keep_going


def test_a_run_told_to_stop_keeps_what_it_did_and_leaves_the_rest() -> None:
    fake = world()
    outcome = Outcome()
    Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(
        three_instances(), outcome, keep_going=calls_allowed(2, lambda: False)
    )
    assert outcome.applied == ["i-1", "i-2"]
    assert outcome.unapplied == ["i-3"]
    assert {i: t[STATUS] for i, t in fake.instance_tags.items()} == {"i-1": "mirrored", "i-2": "mirrored"}
    assert "eni-3" not in {s.eni_id for s in fake.sessions.values()}


class LambdaTimeout(Exception):
    pass


def test_a_run_cut_by_an_exception_keeps_the_statuses_it_set() -> None:
    fake = world()

    def timeout() -> bool:
        raise LambdaTimeout

    with pytest.raises(LambdaTimeout):
        Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(
            three_instances(), keep_going=calls_allowed(2, timeout)
        )
    assert {i: t[STATUS] for i, t in fake.instance_tags.items()} == {"i-1": "mirrored", "i-2": "mirrored"}


def test_a_run_killed_without_warning_has_written_what_the_interval_allowed() -> None:
    # Given a run where each instance takes a whole flush interval, killed (no finally) before the third
    fake = world()
    clock = Clock()
    written_at_kill: dict[str, dict[str, str]] = {}
    calls = iter(range(10))

    def interval_later() -> bool:
        if next(calls) == 2:
            written_at_kill.update({i: dict(t) for i, t in fake.instance_tags.items()})
            return False
        clock.now += STATUS_FLUSH_SECONDS
        return True

    Executor(fake, SETTINGS, account_wide=True, clock=clock).apply(three_instances(), keep_going=interval_later)
    # Then the tags of both instances it applied were already in AWS when it died
    assert {i: t[STATUS] for i, t in written_at_kill.items()} == {"i-1": "mirrored", "i-2": "mirrored"}


# -- the reconciler confirms what it created -----------------------------------------------------------------------
def test_a_creation_a_lagging_describe_hides_is_not_created_again() -> None:
    # Given describes that lag creates by one call
    fake = world(describe_lag=1)
    outcome = Outcome()
    # When the reconciler creates eni-1's session
    Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(plan(subject(creates=[create()])), outcome)
    # Then it makes no second one, reports it unconfirmed, and marks its generation (a first miss may be a lag)
    (session,) = fake.sessions.values()
    assert fake.count(CREATE) == 1
    assert outcome.unconfirmed == [session.session_id]
    assert outcome.created == []
    assert fake.instance_tags["i-1"] == {
        STATUS: Reason.MIRRORED,
        GENERATION: f"~{next_generation([session.session_id])}",
    }
    assert fake.operations() == [CREATE, CREATE_TAGS, DESCRIBE, CREATE_TAGS]


def test_a_creation_the_describe_shows_is_confirmed() -> None:
    fake = world()
    outcome = Outcome()
    Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(
        plan(subject(creates=[create()]), subject("i-2", creates=[create("eni-2", "i-2")])), outcome
    )
    assert [s.eni_id for s in outcome.created] == ["eni-1", "eni-2"]
    assert outcome.unconfirmed == []
    assert [c.params for c in fake.calls if c.operation == DESCRIBE] == [
        {"session_ids": [s.session_id for s in outcome.created]}
    ]
    assert all(GENERATION not in tags for tags in fake.instance_tags.values())


def test_only_the_unconfirmed_instances_get_their_generation_marked() -> None:
    # Given describes lagging, and i-1's session created long before the describe
    fake = world(describe_lag=1)
    outcome = Outcome()
    Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(
        plan(subject("i-1", creates=[create("eni-1", "i-1")]), subject("i-2", creates=[create("eni-2", "i-2")])),
        outcome,
    )
    assert len(outcome.unconfirmed) == 2
    assert {i: t.get(GENERATION) for i, t in fake.instance_tags.items()} == {
        "i-1": f"~{next_generation([outcome.unconfirmed[0]])}",
        "i-2": f"~{next_generation([outcome.unconfirmed[1]])}",
    }


def test_the_event_path_does_not_describe_what_it_created() -> None:
    fake = world(describe_lag=5)
    Executor(fake, SETTINGS).apply(plan(subject(creates=[create()])))
    assert DESCRIBE not in fake.operations()


def test_a_concurrent_creation_the_reconciler_cannot_find_marks_then_starts_a_new_generation() -> None:
    # Given a token a concurrent invocation used (other target) for a session deleted since by hand
    fake = world()
    (earlier,) = Executor(fake, SETTINGS).apply(plan(subject(creates=[create(targets=("tmt-b",))]))).created
    fake.remove_by_hand(earlier.session_id)
    # When the reconciler's create with that token is answered IdempotentParameterMismatch
    c = create(targets=("tmt-a",))
    Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(plan(subject(creates=[c], current="mirrored")))
    # Then, seeing no session of ours on the ENI, it marks the generation with the token's digest
    assert fake.sessions == {}
    digest = next_generation([token(c)])
    assert fake.instance_tags["i-1"][GENERATION] == f"~{digest}"
    assert fake.calls[-2].params == {"eni_ids": ["eni-1"]}
    # And a second miss of the same token, a run later, starts a new generation
    marked = subject(creates=[c], current="mirrored")
    marked.unconfirmed = digest  # as the planner reads the tag "~<digest>"
    Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(plan(marked))
    assert fake.instance_tags["i-1"][GENERATION] == digest


def test_a_concurrent_creation_the_reconciler_finds_is_left_alone() -> None:
    fake = world()
    Executor(fake, SETTINGS).apply(plan(subject(creates=[create(targets=("tmt-b",))])))
    Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(
        plan(subject(creates=[create(targets=("tmt-a",))], current="mirrored"))
    )
    assert len(fake.sessions) == 1
    assert GENERATION not in fake.instance_tags["i-1"]


def test_a_session_not_of_ours_does_not_confirm_a_concurrent_creation() -> None:
    fake = world()
    Executor(fake, SETTINGS).apply(plan(subject(creates=[create(targets=("tmt-b",))])))
    fake.remove_by_hand(next(iter(fake.sessions)))
    foreign(fake, "eni-1", number=2)
    Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(
        plan(subject(creates=[create(targets=("tmt-a",))], current="mirrored"))
    )
    assert GENERATION in fake.instance_tags["i-1"]


# -- runs that follow each other (plans by the planner) ------------------------------------------------------------
M5 = builders.instance()


def inventory_from(fake: FakeAws, instance: Instance = M5) -> Inventory:
    """What the inventory would read: the instance with its tags as AWS holds them, the sessions a describe shows."""
    tags = {**instance.tags, **fake.instance_tags.get(instance.instance_id, {})}
    shown = fake.sessions_on_enis([e.eni_id for e in instance.enis])
    return builders.inventory(
        replace(instance, tags=tags),
        sessions=shown,
        targets={t: nlb(t) for t in fake.mirror_targets},
        verdicts=SUPPORTED,
        existing_filter_ids=frozenset(fake.filters),
    )


def reconcile(fake: FakeAws) -> Outcome:
    return Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(
        plan_mirroring(inventory_from(fake), SETTINGS)
    )


def test_a_token_answered_with_a_deleted_session_is_caught_and_the_next_run_creates_anew() -> None:
    # Given a session the reconciler created, deleted by hand since (AWS still remembers its token)
    fake = world()
    (first,) = reconcile(fake).created
    fake.remove_by_hand(first.session_id)
    # When the reconciler runs again, AWS answers its create with the deleted session, twice in a row
    again = reconcile(fake)
    assert again.unconfirmed == [first.session_id] and again.created == []
    assert fake.instance_tags["i-1"][GENERATION] == f"~{next_generation([first.session_id])}"
    twice = reconcile(fake)
    # Then the second miss cannot be a lagging read: a new generation, and still no session claimed
    assert twice.unconfirmed == [first.session_id] and twice.created == []
    assert fake.instance_tags["i-1"][GENERATION] == next_generation([first.session_id])
    assert fake.sessions == {}
    # And the run after creates with a new token: a real session
    third = reconcile(fake)
    assert [s.eni_id for s in fake.sessions.values()] == ["eni-1"]
    assert third.created == list(fake.sessions.values())
    assert third.unconfirmed == []


def test_runs_after_a_lagging_confirm_never_leave_two_sessions() -> None:
    # Given describes that lag by one call: the reconciler's confirm does not see its creation, the next run does
    fake = world(describe_lag=1)
    # When the reconciler runs four times in a row
    for _ in range(4):
        reconcile(fake)
    # Then eni-1 has exactly one session, created once, and no run deleted one
    assert [s.eni_id for s in fake.sessions.values()] == ["eni-1"]
    assert fake.count(CREATE) == 1
    assert DELETE not in fake.operations()


def test_a_lag_that_outlasts_the_next_run_leaves_no_duplicate() -> None:
    # Given describes that lag by two calls (the confirm's and the next run's read)
    fake = world(describe_lag=2)
    # When the reconciler runs twice in a row
    reconcile(fake)
    reconcile(fake)
    # Then eni-1 still has one session
    assert [s.session_number for s in fake.sessions.values()] == [1]


def test_a_session_already_gone_is_not_counted_as_deleted() -> None:
    # Given a session a concurrent invocation deleted since the plan
    fake = world()
    gone = ours(fake, "eni-1", number=2)
    fake.remove_by_hand(gone.session_id)
    # When this invocation deletes it too
    outcome = Executor(fake, SETTINGS).apply(plan(subject(deletes=[gone])))
    # Then the report does not claim a deletion (nor its saving)
    assert fake.operations()[:2] == [CREATE_TAGS, DELETE]
    assert sum(outcome.deleted.values()) == 0


def test_a_planned_duplicate_deletion_moves_the_generation_into_the_new_token() -> None:
    # Given two sessions of ours on eni-1 and a filter that no longer exists for the kept one
    fake = world()
    kept = ours(fake, "eni-1", number=1)
    kept_gone_filter = fake.existing_session("eni-1", "tmt-a", "tmf-old", 2, {**OURS, "mirror-instance-id": "i-1"})
    # When the reconciler plans and applies
    outcome = reconcile(fake)
    # Then the duplicate is deleted, and the status and the new generation are written together
    assert outcome.deleted == {Reason.DUPLICATE_SESSION: 1}
    assert list(fake.sessions) == [kept.session_id]
    assert fake.instance_tags["i-1"] == {
        STATUS: Reason.MIRRORED,
        GENERATION: next_generation([kept_gone_filter.session_id]),
    }


# -- details a user would notice (each kills a mutant bench/mutation.py found alive) -------------------------------
def test_a_rollback_starts_a_new_generation_so_a_retry_gets_new_tokens() -> None:
    # Given an instance whose second create is throttled after its first succeeded
    fake = world().fail(CREATE, "RequestLimitExceeded", when=lambda p: p["eni_id"] == "eni-2")
    # When the event path applies it
    with pytest.raises(MirroringFailed):
        Executor(fake, SETTINGS).apply(plan(subject(creates=[create("eni-1"), create("eni-2")])))
    # Then the rolled-back session's ID starts the next generation: a retry is not answered with the deleted session
    (rolled_back,) = [c for c in fake.calls if c.operation == DELETE]
    assert fake.instance_tags["i-1"] == {
        STATUS: "error:RequestLimitExceeded",
        GENERATION: next_generation([rolled_back.params["session_id"]]),
    }


def test_a_refusal_after_a_creation_also_starts_a_new_generation() -> None:
    fake = world().eni("eni-2", supported=False)
    stale = ours(fake, "eni-3", number=1)
    Executor(fake, SETTINGS).apply(plan(subject(deletes=[stale], creates=[create("eni-1"), create("eni-2")])))
    (_, rolled_back) = [c.params["session_id"] for c in fake.calls if c.operation == DELETE]
    assert fake.instance_tags["i-1"][GENERATION] == next_generation([stale.session_id, rolled_back])
    assert fake.instance_tags["i-1"][STATUS] == Reason.UNSUPPORTED_INSTANCE_TYPE


def test_a_failure_before_any_creation_keeps_the_generation() -> None:
    fake = world().fail(CREATE, "IncorrectState", times=3)
    Executor(fake, SETTINGS).apply(plan(subject(creates=[create()], generation="g1")))
    assert fake.instance_tags["i-1"] == {STATUS: "error:IncorrectState"}


def test_each_attempt_of_a_create_has_its_own_token() -> None:
    fake = world().target("tmt-a", limit=0).target("tmt-b", limit=0).target("tmt-c")
    c = create(targets=("tmt-a", "tmt-b", "tmt-c"), generation="g1")
    Executor(fake, SETTINGS).apply(plan(subject(creates=[c])))
    assert [call.params["token"] for call in fake.calls if call.operation == CREATE] == [
        token(c, attempt=0),
        token(c, attempt=1),
        token(c, attempt=2),
    ]


def test_a_quiet_stretch_does_not_delay_the_next_flush() -> None:
    # Given a first instance with nothing to write, applied after the flush interval has passed
    fake = world()
    clock = Clock()
    times = iter([STATUS_FLUSH_SECONDS, STATUS_FLUSH_SECONDS + 1, STATUS_FLUSH_SECONDS + 2])

    def tick() -> bool:
        clock.now = next(times)
        return True

    Executor(fake, SETTINGS, account_wide=True, clock=clock).apply(
        plan(subject("i-1", current=Reason.MIRRORED), subject("i-2"), subject("i-3")), keep_going=tick
    )
    # Then the next status is written at once (the interval runs from the last write, not from a write of nothing)
    assert [c.params["instance_ids"] for c in fake.tag_calls()] == [["i-2"], ["i-3"]]


def test_flushes_by_count_go_on_after_the_first() -> None:
    fake = world()
    subjects = [subject(f"i-{n}") for n in range(2 * STATUS_FLUSH_SUBJECTS + 1)]
    Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(plan(*subjects))
    assert [len(c.params["instance_ids"]) for c in fake.tag_calls()] == [
        STATUS_FLUSH_SUBJECTS,
        STATUS_FLUSH_SUBJECTS,
        1,
    ]


def test_counts_add_up_over_sessions_and_instances() -> None:
    # Given two instances refused by AWS after a creation each, two duplicates to delete, two moves, and two ENIs
    # without room
    fake = world().eni("eni-5", "eni-6", supported=False).target("tmt-full", limit=0).filter("tmf-2")
    dup1, dup2 = ours(fake, "eni-7", number=2), ours(fake, "eni-8", number=2)
    kept1, kept2 = ours(fake, "eni-7"), ours(fake, "eni-8")
    moves = [UpdateSession("i-3", s, (), "tmf-2", Reason.FILTER_CHANGED) for s in (kept1, kept2)]
    stuck = [UpdateSession("i-4", s, ("tmt-full",), None, Reason.TARGET_DEAD) for s in (kept1, kept2)]
    skips = [Skip("i-4", "eni-9", Reason.ENI_IS_MIRROR_TARGET), Skip("i-4", None, Reason.TARGET_NOT_APPROVED)]
    outcome = Executor(fake, SETTINGS).apply(
        plan(
            subject("i-1", creates=[create("eni-1", "i-1"), create("eni-5", "i-1")]),
            subject("i-2", creates=[create("eni-2", "i-2"), create("eni-6", "i-2")]),
            subject("i-3", deletes=[dup1, dup2], updates=moves),
            subject("i-4", updates=stuck, skips=skips, creates=[create("eni-3", "i-4", targets=("tmt-full",))] * 2),
        )
    )
    assert outcome.rolled_back == 2
    assert outcome.deleted == {Reason.DUPLICATE_SESSION: 2}
    assert outcome.updated == 2
    assert outcome.skipped == {
        Reason.UNSUPPORTED_INSTANCE_TYPE: 2,
        Reason.NO_TARGET_CAPACITY: 4,
        Reason.ENI_IS_MIRROR_TARGET: 1,
        Reason.TARGET_NOT_APPROVED: 1,
    }


def test_a_partial_rollback_counts_what_it_deleted_and_names_the_rest() -> None:
    fake = world().fail(CREATE, "RequestLimitExceeded", when=lambda p: p["eni_id"] == "eni-3")
    fake.fail(DELETE, "RequestLimitExceeded", when=lambda p: p["session_id"] == "tms-00000000000000002")
    outcome = Outcome()
    with pytest.raises(RollbackIncomplete) as raised:
        Executor(fake, SETTINGS).apply(
            plan(subject("i-7", creates=[create("eni-1", "i-7"), create("eni-2", "i-7"), create("eni-3", "i-7")])),
            outcome,
        )
    assert outcome.rolled_back == 1
    assert raised.value.instance_id == "i-7"
    assert raised.value.remaining == ["tms-00000000000000002"]
    assert isinstance(raised.value.cause, TransientAwsError)


def test_a_refusal_whose_rollback_fails_names_the_instance_and_the_refusal() -> None:
    fake = world().eni("eni-2", supported=False).fail(DELETE, "RequestLimitExceeded")
    with pytest.raises(RollbackIncomplete) as raised:
        Executor(fake, SETTINGS).apply(plan(subject("i-7", creates=[create("eni-1", "i-7"), create("eni-2", "i-7")])))
    assert raised.value.instance_id == "i-7"
    assert isinstance(raised.value.cause, SourceNotSupported)


def test_a_generation_already_written_is_not_written_again() -> None:
    # Given a deletion a lagging describe shows again: the instance already carries the generation it leads to
    fake = world()
    stale = ours(fake, "eni-1", number=2)
    Executor(fake, SETTINGS).apply(
        plan(subject(deletes=[stale], current=Reason.MIRRORED, generation=next_generation([stale.session_id])))
    )
    assert fake.tag_calls() == []


def test_a_new_generation_alone_is_written_without_the_status() -> None:
    fake = world()
    stale = ours(fake, "eni-1", number=2)
    outcome = Executor(fake, SETTINGS).apply(plan(subject(deletes=[stale], current=Reason.MIRRORED)))
    assert [c.params["tags"] for c in fake.tag_calls()] == [{GENERATION: next_generation([stale.session_id])}]
    assert outcome.statuses == {}


def test_a_new_status_alone_is_written_without_the_generation() -> None:
    fake = world()
    stale = ours(fake, "eni-1", number=2)
    Executor(fake, SETTINGS).apply(
        plan(subject(deletes=[stale], current=None, generation=next_generation([stale.session_id])))
    )
    assert [c.params["tags"] for c in fake.tag_calls()] == [{STATUS: Reason.MIRRORED}]


def test_a_terminated_instance_keeps_its_tags() -> None:
    fake = world()
    stale = ours(fake, "eni-1")
    Executor(fake, SETTINGS).apply(
        plan(subject(deletes=[stale], status=CLEAR_STATUS, current=Reason.MIRRORED, is_instance=False))
    )
    assert fake.operations() == [DELETE]


def test_in_an_account_wide_run_instances_that_only_lose_sessions_share_one_generation() -> None:
    # Given two instances that only lose a session, and one that also gets a new one
    fake = world()
    s1, s2, s3 = ours(fake, "eni-1", instance="i-1"), ours(fake, "eni-2", instance="i-2"), ours(fake, "eni-3")
    the_plan = plan(
        subject("i-1", deletes=[s1], current=Reason.MIRRORED),
        subject("i-2", deletes=[s2], current=Reason.MIRRORED),
        subject("i-3", deletes=[s3], current=Reason.MIRRORED, creates=[create("eni-3", "i-3")]),
    )
    # When the reconciler applies them
    Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(the_plan)
    # Then the first two share the run's generation (one tag call); the third has its own (its creates used it)
    run = next_generation([s1.session_id, s2.session_id, s3.session_id])
    assert sorted((tuple(c.params["instance_ids"]), c.params["tags"][GENERATION]) for c in fake.tag_calls()) == [
        (("i-1", "i-2"), run),
        (("i-3",), next_generation([s3.session_id])),
    ]


def test_in_the_event_path_an_instance_that_only_loses_sessions_has_its_own_generation() -> None:
    fake = world()
    s1 = ours(fake, "eni-1")
    Executor(fake, SETTINGS).apply(plan(subject("i-1", deletes=[s1], current=Reason.MIRRORED)))
    assert fake.instance_tags["i-1"] == {GENERATION: next_generation([s1.session_id])}


def test_an_account_wide_error_status_is_written_at_once() -> None:
    # Given a reconciler run killed (no finally) right after an instance failed
    fake = world().fail(CREATE, "IncorrectState", times=3)
    written_at_kill: dict[str, dict[str, str]] = {}
    calls = iter(range(10))

    def killed_before_the_second() -> bool:
        if next(calls) == 1:
            written_at_kill.update({i: dict(t) for i, t in fake.instance_tags.items()})
        return True

    Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(
        plan(subject("i-1", creates=[create()]), subject("i-2")), keep_going=killed_before_the_second
    )
    assert written_at_kill == {"i-1": {STATUS: "error:IncorrectState"}}


def test_problems_and_tag_failures_are_logged_with_the_instance() -> None:
    fake = world().fail(DELETE, "IncorrectState").fail(CREATE_TAGS, "RequestLimitExceeded", times=5)
    stale = ours(fake, "eni-1", number=2)
    logs: list[tuple[str, dict[str, object]]] = []
    recorded = subject("i-1", deletes=[stale], generation=next_generation([stale.session_id]))  # no write first
    Executor(fake, SETTINGS, log=lambda message, **extra: logs.append((message, extra))).apply(
        plan(recorded, subject("i-2", creates=[create("eni-2", "i-2", probe="m8g.large")]))
    )
    fields = [extra for _, extra in logs]
    (attention,) = [f for f in fields if "status" in f]
    assert (attention["instance_id"], attention["status"]) == ("i-1", "error:IncorrectState")
    assert "IncorrectState" in str(attention["error"])
    assert any(f.get("instances") == ["i-1"] and "RequestLimitExceeded" in str(f.get("error")) for f in fields)
    assert {"instance_type": "m8g.large", "verdict": "supported"} in fields


def test_an_unconfirmed_creation_is_logged_with_its_instance_and_id() -> None:
    fake = world(describe_lag=1)
    logs: list[dict[str, object]] = []
    outcome = Executor(
        fake, SETTINGS, account_wide=True, clock=Clock(), log=lambda message, **extra: logs.append(extra)
    ).apply(plan(subject(creates=[create()])))
    assert {"instance_id": "i-1", "ids": outcome.unconfirmed} in logs


def test_a_failure_after_deletions_but_before_any_creation_keeps_the_deletions_generation() -> None:
    fake = world().fail(CREATE, "RequestLimitExceeded")
    stale = ours(fake, "eni-1", number=2)
    with pytest.raises(MirroringFailed):
        Executor(fake, SETTINGS).apply(plan(subject(deletes=[stale], creates=[create("eni-2")])))
    assert fake.instance_tags["i-1"] == {
        STATUS: "error:RequestLimitExceeded",
        GENERATION: next_generation([stale.session_id]),
    }


def test_a_refusal_after_deletions_but_before_any_creation_keeps_the_deletions_generation() -> None:
    fake = world()
    stale = ours(fake, "eni-1", number=2)
    Executor(fake, SETTINGS).apply(plan(subject(deletes=[stale], creates=[create("eni-2", filter_id="tmf-typo")])))
    assert fake.instance_tags["i-1"] == {
        STATUS: Reason.FILTER_NOT_FOUND,
        GENERATION: next_generation([stale.session_id]),
    }


def test_a_rollback_that_leaves_sessions_writes_its_status_and_next_generation_at_once() -> None:
    # Given an account-wide run in which the first instance's rollback cannot delete what it created
    fake = world().fail(CREATE, "RequestLimitExceeded", when=lambda p: p["eni_id"] == "eni-2")
    fake.fail(DELETE, "RequestLimitExceeded")
    created_before = {"eni-1"}
    with pytest.raises(RollbackIncomplete) as raised:
        Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(
            plan(
                subject("i-1", creates=[create("eni-1", "i-1"), create("eni-2", "i-1")]),
                subject("i-2", creates=[create("eni-3", "i-2")]),
            )
        )
    # Then the instance says so, with the generation a retry must use, written before the next instance started
    left = raised.value.remaining
    assert {fake.sessions[s].eni_id for s in left} == created_before
    assert fake.instance_tags["i-1"] == {STATUS: "error:RollbackIncomplete", GENERATION: next_generation(left)}
    first_tag_write = fake.operations().index(CREATE_TAGS)
    assert fake.operations()[first_tag_write:].count(CREATE) == 1  # i-2's create came after the write


# -- generations recorded before deletions (each kills a mutant bench/mutation.py found alive) ---------------------
@pytest.mark.parametrize("first", ["only gains a session", "has its generation recorded already"])
def test_the_reconciler_records_the_generation_of_every_instance_that_loses_sessions(first: str) -> None:
    # Given a run whose first instance needs no generation written, and whose second loses a session
    fake = world()
    earlier = ours(fake, "eni-1", number=2)
    stale = ours(fake, "eni-2", instance="i-2")
    if first == "only gains a session":
        i1 = subject(creates=[create()])
        generation = next_generation([stale.session_id])
    else:  # an earlier run wrote it, then its deletion failed
        i1 = subject(deletes=[earlier], creates=[create()], generation=next_generation([earlier.session_id]))
        generation = next_generation([earlier.session_id, stale.session_id])  # the run's, for i-2 only loses one
    # When the reconciler applies them
    Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(
        plan(i1, subject("i-2", deletes=[stale], status=Reason.TAG_REMOVED))
    )
    # Then the second's new generation is the run's first write, before any deletion or creation
    assert fake.operations()[0] == CREATE_TAGS
    assert fake.calls[0].params == {"instance_ids": ["i-2"], "tags": {GENERATION: generation}}


def test_a_generation_write_that_fails_leaves_only_the_instances_of_that_call(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given two instances that only lose sessions, their generation written one instance a call, the first throttled
    monkeypatch.setattr(executor_module, "TAG_RESOURCES_PER_CALL", 1)
    fake = world().fail(CREATE_TAGS, "RequestLimitExceeded", times=1)
    stale = [ours(fake, f"eni-{n}", instance=f"i-{n}") for n in (1, 2)]
    outcome = Outcome()
    # When the reconciler applies them
    with pytest.raises(MirroringFailed) as raised:
        Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(
            plan(
                *(subject(f"i-{n}", deletes=[s], status=Reason.TAG_REMOVED) for n, s in zip((1, 2), stale, strict=True))
            ),
            outcome,
        )
    # Then the first is left for the next run, named by the error, and the second is applied, its generation first
    assert raised.value.instance_id == "i-1"
    generation = next_generation(s.session_id for s in stale)
    assert [(c.operation, c.params) for c in fake.calls[1:3]] == [
        (CREATE_TAGS, {"instance_ids": ["i-2"], "tags": {GENERATION: generation}}),
        (DELETE, {"session_id": stale[1].session_id}),
    ]
    assert [s.eni_id for s in fake.sessions.values()] == ["eni-1"]
    assert outcome.applied == ["i-2"]


def test_an_account_wide_error_recording_generations_stops_the_run() -> None:
    # Given a reconciler run whose first write, the generation of an instance losing a session, is denied
    fake = world().fail(CREATE_TAGS, "AccessDenied")
    stale = ours(fake, "eni-1")
    outcome = Outcome()
    # When it runs
    with pytest.raises(MirroringFailed) as raised:
        Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(
            plan(subject(deletes=[stale], status=Reason.TAG_REMOVED), subject("i-2", creates=[create("eni-2", "i-2")])),
            outcome,
        )
    # Then it stops at once, with AWS's answer as the cause: no other instance would fare better
    assert isinstance(raised.value.cause, AccountAwsError)
    assert fake.count(DELETE) == fake.count(CREATE) == 0
    assert outcome.unapplied == ["i-2"]


def test_the_status_written_with_a_new_generation_is_cut_to_the_tag_limit() -> None:
    fake = world()
    stale = ours(fake, "eni-1")
    long_status = "error:" + "x" * 300
    Executor(fake, SETTINGS).apply(plan(subject(deletes=[stale], status=long_status)))
    assert fake.instance_tags["i-1"] == {STATUS: long_status[:256], GENERATION: next_generation([stale.session_id])}


@pytest.mark.parametrize("ending", ["applied", "refused", "failed"])
def test_a_generation_the_event_path_could_not_record_is_written_with_the_status(ending: str) -> None:
    # Given an instance losing a session, whose new generation AWS refuses to write once (not a transient error)
    fake = world().fail(CREATE_TAGS, "InvalidInstanceID.NotFound", times=1)
    stale = ours(fake, "eni-1", number=2)
    new = {"applied": create("eni-2"), "refused": create("eni-2", filter_id="tmf-typo"), "failed": create("eni-2")}
    if ending == "failed":
        fake.fail(CREATE, "InvalidParameterValue", times=3)  # a session number AWS refuses three times
    # When the deletion goes on and the instance ends applied, refused or failed
    Executor(fake, SETTINGS).apply(plan(subject(deletes=[stale], creates=[new[ending]])))
    # Then the generation is written with the status, since a retry must not reuse the deleted session's tokens
    status = {"applied": Reason.MIRRORED, "refused": Reason.FILTER_NOT_FOUND, "failed": "error:InvalidParameterValue"}
    assert stale.session_id not in fake.sessions
    assert fake.instance_tags["i-1"] == {STATUS: status[ending], GENERATION: next_generation([stale.session_id])}


# -- the confirm's marks (each kills a mutant bench/mutation.py found alive) ---------------------------------------
@pytest.mark.parametrize("written", ["before the deletion", "with the status, its first write refused"])
def test_an_unconfirmed_creation_marks_the_generation_this_run_wrote(written: str) -> None:
    # Given an instance that loses a duplicate and gains a session a lagging describe does not show
    fake = world(describe_lag=1)
    if written != "before the deletion":
        fake.fail(CREATE_TAGS, "InvalidInstanceID.NotFound", times=1)
    duplicate = ours(fake, "eni-1", number=2)
    # When the reconciler applies it
    outcome = Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(
        plan(subject(deletes=[duplicate], creates=[create("eni-2")], generation="g1"))
    )
    # Then the mark is on the generation this run wrote, not the one the plan read
    generation = next_generation([duplicate.session_id])
    assert fake.instance_tags["i-1"][GENERATION] == f"{generation}~{next_generation(outcome.unconfirmed)}"


def test_a_concurrent_creation_of_a_failed_instance_keeps_its_generation_when_marked() -> None:
    # Given an instance in generation g1: its first ENI's token was used by a concurrent invocation whose session
    # is gone since, and its second ENI's create is throttled
    fake = world()
    claimed = create("eni-1", generation="g1")
    (earlier,) = (
        Executor(fake, SETTINGS).apply(plan(subject(creates=[replace(claimed, target_ids=("tmt-b",))]))).created
    )
    fake.remove_by_hand(earlier.session_id)
    fake.fail(CREATE, "RequestLimitExceeded", when=lambda p: p["eni_id"] == "eni-2")
    # When the reconciler applies it (the instance fails, the run goes on to the confirm)
    with pytest.raises(MirroringFailed):
        Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(
            plan(
                subject(
                    creates=[replace(claimed, target_ids=("tmt-a",)), create("eni-2", generation="g1")],
                    generation="g1",
                )
            )
        )
    # Then the claimed ENI is marked in generation g1: the next run must not fall back to tokens of an older one
    assert fake.instance_tags["i-1"][GENERATION] == f"g1~{next_generation([token(claimed)])}"


def test_a_number_held_by_a_concurrent_session_gone_by_the_confirm_marks_the_generation() -> None:
    # Given an ENI whose session number 1 is held by a session of ours (a concurrent invocation's), deleted by hand
    # before the reconciler confirms
    fake = world()
    concurrent = ours(fake, "eni-1")
    looks_at_the_eni: list[Call] = []

    def delete_by_hand_before_the_confirm(call: Call) -> None:
        if call.operation == DESCRIBE and call.params == {"eni_ids": ["eni-1"]}:
            looks_at_the_eni.append(call)
            if len(looks_at_the_eni) == 2:
                fake.remove_by_hand(concurrent.session_id)

    fake.before_call = delete_by_hand_before_the_confirm
    c = create(number=1)
    # When the reconciler's create is refused that number
    Executor(fake, SETTINGS, account_wide=True, clock=Clock()).apply(plan(subject(creates=[c], current="mirrored")))
    # Then the ENI is left to the concurrent invocation, and, its session not found, marked for the next run
    assert created_on(fake) == [("eni-1", "tmt-a", 1)]
    assert fake.instance_tags["i-1"][GENERATION] == f"~{next_generation([token(c)])}"


# -- options rolled over --------------------------------------------------------------------------------------------
def test_every_option_change_is_counted() -> None:
    fake = world()
    sessions = [ours(fake, eni) for eni in ("eni-1", "eni-2")]
    updates = [UpdateSession("i-1", s, (), None, Reason.OPTIONS_CHANGED, packet_length=128) for s in sessions]
    outcome = Executor(fake, SETTINGS).apply(plan(subject(updates=updates, current=Reason.MIRRORED)))
    assert (outcome.updated, outcome.options_changed) == (2, 2)


def test_an_unchanged_status_is_not_reported_as_written_when_other_tags_are() -> None:
    fake = world()
    fake.instance_tags["i-1"] = {STATUS: Reason.MIRRORED, **dict.fromkeys(FINDING_TAGS, "x")}
    kept = subject(status=Reason.MIRRORED, current=Reason.MIRRORED)
    kept.remove_tags = FINDING_TAGS
    outcome = Executor(fake, SETTINGS).apply(plan(kept))
    assert fake.instance_tags["i-1"] == {STATUS: Reason.MIRRORED}
    assert outcome.statuses == {}
    assert outcome.final_status == {"i-1": Reason.MIRRORED}


# -- what the log lines name (each kills a mutant bench/mutation.py found alive) -----------------------------------
def logged(logs: list[dict[str, object]]) -> Callable[..., None]:
    return lambda message, **extra: logs.append(extra)


@pytest.mark.parametrize("write", ["generation", "status"])
def test_a_failed_tag_write_is_logged_with_its_first_20_instances_and_the_error(write: str) -> None:
    # Given 21 instances whose generation (before their deletions) or status (at the flush) AWS refuses to write
    fake = world().fail(CREATE_TAGS, "InvalidInstanceID.NotFound")
    names = [f"i-{n:02d}" for n in range(1, 22)]
    if write == "generation":
        subjects = [subject(name, deletes=[ours(fake, "eni-1", instance=name)], status="") for name in names]
    else:
        subjects = [subject(name, status=Reason.INSTANCE_NOT_TAGGED) for name in names]
    logs: list[dict[str, object]] = []
    # When the reconciler applies them
    Executor(fake, SETTINGS, account_wide=True, clock=Clock(), log=logged(logs)).apply(plan(*subjects))
    # Then the log line names the first 20 of them, and what AWS answered
    (failure,) = [extra for extra in logs if "error" in extra]
    assert failure["instances"] == names[:20]
    assert "InvalidInstanceID.NotFound" in str(failure["error"])


def test_a_flush_logs_how_many_instances_it_wrote() -> None:
    logs: list[dict[str, object]] = []
    Executor(world(), SETTINGS, account_wide=True, clock=Clock(), log=logged(logs)).apply(
        plan(*(subject(f"i-{n}", status=Reason.INSTANCE_NOT_TAGGED) for n in (1, 2, 3)))
    )
    assert {"instances": 3} in logs


def test_a_finding_s_ended_window_is_logged_with_the_instance_and_its_keys() -> None:
    fake = world()
    ended = subject(status=Reason.MIRRORED, current=Reason.MIRRORED)
    ended.remove_tags = FINDING_TAGS
    logs: list[dict[str, object]] = []
    Executor(fake, SETTINGS, log=logged(logs)).apply(plan(ended))
    assert {"instance_id": "i-1", "keys": FINDING_TAGS} in logs


def test_a_creation_missed_twice_is_logged_with_its_instance_and_ids() -> None:
    # Given a token a concurrent invocation used for a session deleted since by hand, and a run that missed it once
    fake = world()
    (earlier,) = Executor(fake, SETTINGS).apply(plan(subject(creates=[create(targets=("tmt-b",))]))).created
    fake.remove_by_hand(earlier.session_id)
    c = create(targets=("tmt-a",))
    marked = subject(creates=[c], current="mirrored")
    marked.unconfirmed = next_generation([token(c)])
    logs: list[dict[str, object]] = []
    # When the reconciler misses it again
    Executor(fake, SETTINGS, account_wide=True, clock=Clock(), log=logged(logs)).apply(plan(marked))
    # Then the log line names the instance and the token
    assert {"instance_id": "i-1", "ids": [token(c)]} in logs
