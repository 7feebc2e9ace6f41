"""The session cleanup's decisions and its side of the custom-resource protocol, against an in-memory gateway: what is
deleted, what is answered, with which physical ID, within CloudFormation's size limit, and always before the
function's own timeout."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from functions.session_cleanup import app
from functions.session_cleanup.app import handler
from simulation.lambda_runtime import LambdaContext
from tests import builders
from traffic_mirroring import cleanup
from traffic_mirroring.cleanup import (
    FAILED,
    NEVER_CREATED,
    RESPONSE_LIMIT,
    SUCCESS,
    Answer,
    CustomResourceRequest,
    answer_request,
    delete_sessions,
    put_response,
    response_body,
    stack_sessions,
)
from traffic_mirroring.config import Settings
from traffic_mirroring.errors import AccountAwsError, EventValidationError
from traffic_mirroring.model import MirrorSession

ACCOUNT = "123456789012"
STACK = "mirror-stack"
STACK_ID = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/{STACK}/5b3b0e10"
SETTINGS = Settings(target_ids=("tmt-1",), filter_id="tmf-1", managed_by=STACK, account_id=ACCOUNT)


def session(number: int, *, stack: str = STACK, owner: str = ACCOUNT) -> MirrorSession:
    ids = f"{number:017x}"
    return builders.session(
        f"tms-{ids}", f"eni-{ids}", "tmt-1", instance_id=f"i-{ids}", managed_by=stack, owner_id=owner
    )


@dataclass
class FakeSessions:
    """The gateway's session reads and deletes, in memory. ``refuse`` maps a session ID to AWS's error code."""

    sessions: list[MirrorSession]
    refuse: dict[str, str] = field(default_factory=dict)
    hold: threading.Event | None = None  # deletions wait for it
    calls: list[str] = field(default_factory=list)

    def describe_sessions(self) -> list[MirrorSession]:
        self.calls.append("describe")
        return list(self.sessions)  # every session the account sees: DescribeTrafficMirrorSessions has no tag filter

    def delete_session(self, session_id: str) -> bool:
        self.calls.append(f"delete {session_id}")
        if self.hold is not None:
            self.hold.wait(5)
        if session_id in self.refuse:
            raise AccountAwsError("DeleteTrafficMirrorSession", self.refuse[session_id], "refused")
        before = len(self.sessions)
        self.sessions = [s for s in self.sessions if s.session_id != session_id]
        return len(self.sessions) < before

    def tag_sessions(self, session_ids: Sequence[str], tags: Mapping[str, str]) -> None:
        """CreateTags, all or nothing, as AWS answers for a batch: one refused session refuses the call."""
        self.calls.append(f"tag {','.join(session_ids)}")
        refused = [sid for sid in session_ids if sid in self.refuse]
        if refused:
            raise AccountAwsError("CreateTags", self.refuse[refused[0]], "refused")
        self.sessions = [
            replace(s, tags={**s.tags, **tags}) if s.session_id in session_ids else s for s in self.sessions
        ]


# What the template gives SessionCleanup: the marker, and the settings of every function (traffic_mirroring.config).
GOOD_SETTINGS = {"TARGET_IDS": "tmt-1", "FILTER_ID": "tmf-1", "MANAGED_BY": STACK, "ACCOUNT_ID": ACCOUNT}


def cfn_request(
    kind: str,
    physical_id: str | None = "session-cleanup-mirror-stack",
    settings: dict[str, str] | None = None,
    managed_by: str = STACK,
    old_managed_by: str | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "RequestType": kind,
        "ResponseURL": "https://cloudformation-custom-resource-response.example/answer?X-Amz-Signature=s",
        "StackId": STACK_ID,
        "RequestId": "r-1",
        "LogicalResourceId": "SessionCleanup",
        "ResourceType": "Custom::SessionCleanup",
        "ResourceProperties": {"ManagedBy": managed_by, "Settings": [settings or GOOD_SETTINGS]},
    }
    if physical_id and kind != "Create":
        event["PhysicalResourceId"] = physical_id
    if kind == "Update":
        event["OldResourceProperties"] = {"ManagedBy": old_managed_by or managed_by, "Settings": [GOOD_SETTINGS]}
    return event


def answer(kind: str, gateway: FakeSessions, status: str | None = "DELETE_IN_PROGRESS", **kwargs: Any) -> Answer:
    return answer_request(
        CustomResourceRequest.parse(cfn_request(kind, **kwargs)),
        gateway=lambda: gateway,
        stack_status=lambda _: status,
    )


# -- what is the stack's ----------------------------------------------------------------------------------------------
def test_the_stack_s_sessions_are_those_with_its_marker_in_its_account() -> None:
    ours = [session(1), session(2)]
    gateway = FakeSessions([*ours, session(3, stack="other-stack"), session(4, owner="111122223333")])

    assert stack_sessions(gateway, SETTINGS) == ours


# -- Delete -----------------------------------------------------------------------------------------------------------
def test_delete_deletes_the_stack_s_sessions_and_answers_success() -> None:
    gateway = FakeSessions([session(1), session(2), session(3, stack="other-stack")])

    result = answer("Delete", gateway)

    assert result.status == SUCCESS
    assert [s.session_id for s in gateway.sessions] == [session(3).session_id]
    assert result.data == {"Deleted": "2", "AlreadyGone": "0", "Left": "0"}


def test_a_refused_session_fails_the_answer_by_name_and_the_others_are_still_deleted() -> None:
    gateway = FakeSessions([session(1), session(2), session(3)], refuse={session(2).session_id: "AccessDenied"})

    result = answer("Delete", gateway)

    assert result.status == FAILED
    assert f"{session(2).session_id} (AccessDenied)" in result.reason
    assert [s.session_id for s in gateway.sessions] == [session(2).session_id]


@pytest.mark.parametrize("status", ["DELETE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", None])
def test_delete_cleans_up_when_the_stack_goes_away_or_its_status_is_unknown(status: str | None) -> None:
    gateway = FakeSessions([session(1)])

    assert answer("Delete", gateway, status).status == SUCCESS
    assert gateway.sessions == []


@pytest.mark.parametrize(
    "status", ["UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"]
)
def test_delete_while_the_stack_stays_touches_nothing(status: str) -> None:
    gateway = FakeSessions([session(1)])

    result = answer("Delete", gateway, status)

    assert result.status == SUCCESS and status in result.reason
    assert gateway.calls == []


def test_the_delete_after_a_failed_create_has_nothing_to_undo() -> None:
    gateway = FakeSessions([session(1)])

    result = answer("Delete", gateway, physical_id=NEVER_CREATED)

    assert result.status == SUCCESS and gateway.calls == []


@pytest.mark.parametrize("kind", ["Create", "Update"])
def test_create_and_update_read_nothing_and_keep_the_physical_id(kind: str) -> None:
    gateway = FakeSessions([session(1)])

    result = answer(kind, gateway, status="never asked")

    assert result == Answer(SUCCESS, result.reason, "session-cleanup-mirror-stack")
    assert gateway.calls == []


# -- Create and Update: the settings every function loads are checked before any function gets them --------------------
BAD_SELECTORS = {**GOOD_SETTINGS, "MIRROR_SELECTORS": "prod-cluster"}


def test_a_create_with_a_setting_the_functions_refuse_fails_naming_it_and_creates_nothing() -> None:
    gateway = FakeSessions([session(1)])

    result = answer("Create", gateway, settings=BAD_SELECTORS)

    assert result.status == FAILED
    assert "parameter MirrorSelectors: MIRROR_SELECTORS entry 'prod-cluster'" in result.reason
    assert result.physical_resource_id == NEVER_CREATED  # the Delete that follows must clean nothing
    assert gateway.calls == []


def test_an_update_to_a_setting_the_functions_refuse_fails_and_keeps_the_resource() -> None:
    gateway = FakeSessions([session(1)])

    result = answer("Update", gateway, status="UPDATE_IN_PROGRESS", settings=BAD_SELECTORS)

    assert result.status == FAILED and "MirrorSelectors" in result.reason
    assert result.physical_resource_id == "session-cleanup-mirror-stack"
    assert gateway.calls == []


@pytest.mark.parametrize(
    ("variable", "value", "parameter"),
    [
        ("GUARDDUTY_MIN_SEVERITY", "11", "GuardDutyMinSeverity"),
        ("LIFECYCLE_FAILURE_RESULT", "RETRY", "LifecycleFailureResult"),
        ("PACKET_LENGTH", "9000", "PacketLength"),
        ("FILTER_ID", "", "FilterId"),
    ],
)
def test_every_function_s_settings_are_checked(variable: str, value: str, parameter: str) -> None:
    # The optional functions' own settings are checked when the template passes them (the function is deployed).
    result = answer("Create", FakeSessions([]), settings={**GOOD_SETTINGS, variable: value})

    assert result.status == FAILED and f"parameter {parameter}: {variable}" in result.reason


def test_a_rollback_s_update_always_succeeds() -> None:
    # Answering FAILED during a rollback would leave the stack in UPDATE_ROLLBACK_FAILED.
    result = answer("Update", FakeSessions([]), status="UPDATE_ROLLBACK_IN_PROGRESS", settings=BAD_SELECTORS)

    assert result.status == SUCCESS and "MIRROR_SELECTORS" in result.reason


def test_a_resource_without_the_settings_property_has_nothing_to_check() -> None:
    event = cfn_request("Update")
    del event["ResourceProperties"]["Settings"]

    result = answer_request(CustomResourceRequest.parse(event), gateway=lambda: FakeSessions([]), stack_status=str)

    assert result.status == SUCCESS


def test_a_delete_reads_only_the_marker_and_the_account_whatever_the_settings() -> None:
    gateway = FakeSessions([session(1), session(2, owner="111122223333")])

    result = answer("Delete", gateway, settings=BAD_SELECTORS)

    assert result.status == SUCCESS
    assert gateway.sessions == [session(2, owner="111122223333")]  # the account comes from the stack's ARN


# -- Update: ManagedBy changed -----------------------------------------------------------------------------------------
NEW = "traffic-mirroring"


def markers(gateway: FakeSessions) -> dict[str, str]:
    return {s.session_id: s.tags["mirror-managed-by"] for s in gateway.sessions}


def test_a_new_marker_moves_the_stack_s_sessions_to_it_in_place() -> None:
    ours = [session(n) for n in range(1, 251)]
    gateway = FakeSessions([*ours, session(300, stack="other-stack"), session(301, owner="111122223333")])

    result = answer("Update", gateway, status="UPDATE_IN_PROGRESS", managed_by=NEW, old_managed_by=STACK)

    assert result.status == SUCCESS and result.data == {"Retagged": "250", "Left": "0"}
    assert markers(gateway) == {
        **{s.session_id: NEW for s in ours},
        session(300).session_id: "other-stack",
        session(301).session_id: STACK,  # another account's: not ours to change
    }
    assert len([c for c in gateway.calls if c.startswith("tag ")]) == 3  # 100 sessions per CreateTags


def test_a_move_that_fails_halfway_puts_back_what_it_moved_and_fails() -> None:
    ours = [session(n) for n in range(1, 4)]
    gateway = FakeSessions(list(ours), refuse={session(2).session_id: "UnauthorizedOperation"})

    result = answer("Update", gateway, status="UPDATE_IN_PROGRESS", managed_by=NEW, old_managed_by=STACK)

    assert result.status == FAILED
    assert f"{session(2).session_id} (UnauthorizedOperation)" in result.reason
    assert "2 moved meanwhile were put back" in result.reason
    assert set(markers(gateway).values()) == {STACK}  # the rollback that follows finds every session where it was


def test_a_rollback_that_cannot_move_the_sessions_back_succeeds_and_says_how_to_take_them_back() -> None:
    # Rolling back from NEW to STACK: the sessions carry NEW, and one cannot be moved back.
    ours = [replace(session(n), tags={**session(n).tags, "mirror-managed-by": NEW}) for n in (1, 2)]
    gateway = FakeSessions(list(ours), refuse={session(1).session_id: "UnauthorizedOperation"})

    result = answer("Update", gateway, status="UPDATE_ROLLBACK_IN_PROGRESS", managed_by=STACK, old_managed_by=NEW)

    assert result.status == SUCCESS
    assert f"keep mirror-managed-by={NEW}: {session(1).session_id} (UnauthorizedOperation)" in result.reason
    assert f"mirror-cleanup --stack-name {STACK} --managed-by {NEW} --apply --force" in result.reason
    assert markers(gateway) == {session(1).session_id: NEW, session(2).session_id: STACK}


def test_sessions_not_reached_before_the_deadline_are_left_and_named() -> None:
    gateway = FakeSessions([session(1), session(2)])
    budget = iter([True, False])

    outcome = delete_sessions(gateway, gateway.sessions, keep_going=lambda: next(budget), workers=1)

    assert outcome.deleted == [session(1).session_id]
    assert outcome.not_reached == [session(2).session_id]
    reason = cleanup.failure_reason(outcome, STACK)
    assert f"{session(2).session_id} (not reached in time)" in reason


# -- the answer itself -------------------------------------------------------------------------------------------------
def test_the_answer_carries_every_field_cloudformation_reads() -> None:
    request = CustomResourceRequest.parse(cfn_request("Delete"))

    body = json.loads(response_body(request, Answer(SUCCESS, "done", "pid", {"Deleted": "1"})))

    assert body == {
        "Status": "SUCCESS",
        "Reason": "done",
        "PhysicalResourceId": "pid",
        "StackId": STACK_ID,
        "RequestId": "r-1",
        "LogicalResourceId": "SessionCleanup",
        "NoEcho": False,
        "Data": {"Deleted": "1"},
    }


def test_a_long_reason_is_cut_to_fit_cloudformation_s_limit() -> None:
    gateway = FakeSessions(
        [session(n) for n in range(200)], refuse={session(n).session_id: "UnauthorizedOperation" for n in range(200)}
    )
    request = CustomResourceRequest.parse(cfn_request("Delete"))

    body = response_body(request, answer("Delete", gateway))

    assert len(body) <= RESPONSE_LIMIT
    parsed = json.loads(body)
    assert parsed["Status"] == FAILED and "200 session(s) of stack mirror-stack not deleted" in parsed["Reason"]
    assert "and 180 more" in parsed["Reason"]


@pytest.mark.parametrize(
    ("event", "missing"),
    [({}, "RequestType"), ({"RequestType": "Delete", "ResponseURL": "https://x"}, "StackId")],
)
def test_a_request_without_its_fields_is_refused_by_name(event: dict[str, Any], missing: str) -> None:
    with pytest.raises(EventValidationError, match=missing):
        CustomResourceRequest.parse(event)


def test_the_answer_is_retried_then_given_up_without_raising(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[urllib.request.Request] = []

    def unreachable(request: urllib.request.Request, timeout: float) -> Any:
        attempts.append(request)
        raise OSError("connection refused")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)

    assert put_response("https://x/answer", b"{}", pause=lambda _: None) is False
    assert len(attempts) == 3
    assert attempts[0].get_method() == "PUT" and attempts[0].get_header("Content-type") == ""


# -- the handler: always an answer, and only one ----------------------------------------------------------------------
@dataclass
class Runtime:
    settings: Settings
    gateway: Any


class BrokenRuntime:
    @property
    def gateway(self) -> Any:
        raise RuntimeError("boom")


def sender(sent: list[dict[str, Any]]) -> Any:
    return lambda url, body: bool(sent.append(json.loads(body))) or True


def test_an_exception_is_answered_failed_with_the_error() -> None:
    sent: list[dict[str, Any]] = []

    handler(
        cfn_request("Delete"),
        LambdaContext(),
        runtime=BrokenRuntime(),  # type: ignore[arg-type]
        stack_status=lambda _: "DELETE_IN_PROGRESS",
        send=sender(sent),
    )

    [body] = sent
    assert body["Status"] == FAILED and "RuntimeError: boom" in body["Reason"]
    assert body["PhysicalResourceId"] == "session-cleanup-mirror-stack"


def test_a_failed_create_answers_an_id_whose_delete_cleans_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*_: Any, **__: Any) -> Answer:
        raise RuntimeError("boom")

    monkeypatch.setattr(app, "answer_request", crash)
    sent: list[dict[str, Any]] = []

    handler(cfn_request("Create"), LambdaContext(), send=sender(sent))

    [body] = sent
    assert body["Status"] == FAILED and body["PhysicalResourceId"] == NEVER_CREATED


@pytest.mark.parametrize(
    ("event", "named"),
    [
        ({"RequestType": "Delete"}, "ResponseURL"),
        ([], "event must be a JSON object"),
        ({"detail-type": "EC2 Instance State-change Notification"}, "detail-type"),
    ],
)
def test_a_malformed_request_has_nowhere_to_be_answered_so_it_is_raised(event: Any, named: str) -> None:
    with pytest.raises(EventValidationError, match=named):
        handler(event, LambdaContext(), send=lambda *_: pytest.fail("nowhere to send"))


def test_the_watchdog_answers_failed_before_the_timeout_and_the_late_answer_is_dropped() -> None:
    # Given a deletion that outlasts the function: 16 s left when it starts, the watchdog fires 15 s before the end
    # (the time left read later stays high, so the deletion itself does start)
    hold = threading.Event()
    gateway = FakeSessions([session(1)], hold=hold)
    sent: list[dict[str, Any]] = []
    context = LambdaContext(remaining_ms=[16_000, 900_000])
    worker = threading.Thread(
        target=handler,
        args=(cfn_request("Delete"), context),
        kwargs={
            "runtime": Runtime(SETTINGS, gateway),
            "stack_status": lambda _: "DELETE_IN_PROGRESS",
            "send": sender(sent),
        },
    )
    worker.start()
    # When the watchdog's moment comes while the deletion still waits
    deadline = time.monotonic() + 5
    while not sent and time.monotonic() < deadline:
        time.sleep(0.05)
    hold.set()
    worker.join(5)
    # Then CloudFormation got exactly one answer: the watchdog's FAILED
    [body] = sent
    assert body["Status"] == FAILED and "ran out of time" in body["Reason"]
