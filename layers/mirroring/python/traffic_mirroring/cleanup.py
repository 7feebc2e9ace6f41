"""Deleting every session a stack manages, and only those: when the stack is deleted (the custom resource
``SessionCleanup``, answered here with CloudFormation's custom-resource protocol) and, for a stack deleted before
that existed, with ``mirror-cleanup`` (``mirror_cli.cleanup``). The same resource checks the settings on Create and
Update (``deploy_check``), and moves the stack's sessions to a new marker when ``ManagedBy`` changes.

A session is the stack's when ``Settings.owns`` says so: the marker tag ``mirror-managed-by=<stack name>`` and this
account as its owner (the owner of a target shared through AWS RAM also sees other accounts' sessions on it).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from traffic_mirroring.config import Settings
from traffic_mirroring.deploy_check import merged_settings, settings_problem
from traffic_mirroring.errors import AwsApiError, EventValidationError, SessionNotFound
from traffic_mirroring.model import MirrorSession
from traffic_mirroring.observability import logger
from traffic_mirroring.ports import SessionPort

SUCCESS = "SUCCESS"
FAILED = "FAILED"

# Stack statuses in which a Delete request means the whole stack goes away: on stack deletion, and when a stack
# creation is rolled back. A Delete in any other status (an update removed the resource or is being rolled back)
# leaves the stack and its functions in place, so its sessions stay with them.
STACK_GOING_AWAY = frozenset({"DELETE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS"})
# The stack status in which an Update goes back to the settings that worked. Answering FAILED then would leave the
# stack in UPDATE_ROLLBACK_FAILED, worse than any problem it could report: a rollback's Update always succeeds.
STACK_ROLLING_BACK = "UPDATE_ROLLBACK_IN_PROGRESS"

# The physical ID answered with a FAILED Create: CloudFormation then sends a Delete for it, which has nothing to undo.
NEVER_CREATED = "session-cleanup-not-created"

RESPONSE_LIMIT = 4096  # bytes CloudFormation accepts in a custom resource response
HTTP_TIMEOUT_SECONDS = 10
HTTP_ATTEMPTS = 3
DELETE_WORKERS = 4  # concurrent DeleteTrafficMirrorSession calls: faster than one, gentle on the EC2 API rate
RETAG_BATCH = 100  # sessions per CreateTags call when the marker changes (EC2 takes up to 1,000 resources)
REASON_SESSIONS_SHOWN = 20


# -- finding and deleting the stack's sessions ----------------------------------------------------------------------
def stack_sessions(gateway: SessionPort, settings: Settings) -> list[MirrorSession]:
    """Every session the stack owns, by session ID: every session the account sees, and ``owns`` decides.
    DescribeTrafficMirrorSessions documents no tag filter, and a description filter would miss sessions an older
    version described otherwise: a stack is deleted once, so reading them all (1,000 a page) is the safe price."""
    return owned_by_stack(gateway.describe_sessions(), settings)


def owned_by_stack(sessions: Sequence[MirrorSession], settings: Settings) -> list[MirrorSession]:
    return sorted((s for s in sessions if settings.owns(s)), key=lambda s: s.session_id)


@dataclass
class SessionsOutcome:
    """What became of each session an operation was asked to change: already gone, refused by AWS (with its error
    code), or not reached before the deadline; the subclasses add those it changed."""

    already_gone: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    not_reached: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.failed and not self.not_reached

    @property
    def left(self) -> list[str]:
        """Sessions the operation may not have changed: they may still exist (and bill), or carry what they had."""
        return sorted([*self.failed, *self.not_reached])


@dataclass
class CleanupOutcome(SessionsOutcome):
    """Deleted, already gone, refused, or not reached."""

    deleted: list[str] = field(default_factory=list)


def delete_sessions(
    gateway: SessionPort,
    sessions: Sequence[MirrorSession],
    keep_going: Callable[[], bool] = lambda: True,
    workers: int = DELETE_WORKERS,
) -> CleanupOutcome:
    """Delete each session; one refused is recorded and the others go on. ``keep_going`` is asked before each."""
    outcome = CleanupOutcome()
    lock = threading.Lock()

    def delete(session: MirrorSession) -> None:
        if not keep_going():
            with lock:
                outcome.not_reached.append(session.session_id)
            return
        try:
            gone_now = gateway.delete_session(session.session_id)
        except AwsApiError as error:
            logger.error(
                "session not deleted",
                extra={"session_id": session.session_id, "eni_id": session.eni_id, "error_code": error.code},
            )
            with lock:
                outcome.failed[session.session_id] = error.code
            return
        with lock:
            (outcome.deleted if gone_now else outcome.already_gone).append(session.session_id)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(delete, sessions))  # list(): re-raises what is not an AwsApiError
    for ids in (outcome.deleted, outcome.already_gone, outcome.not_reached):
        ids.sort()
    return outcome


# -- a new marker (ManagedBy changed) --------------------------------------------------------------------------------
@dataclass
class RetagOutcome(SessionsOutcome):
    """What became of each session whose marker was to change: retagged, already gone, refused, or not reached."""

    retagged: list[str] = field(default_factory=list)


def retag_sessions(
    gateway: SessionPort,
    sessions: Sequence[MirrorSession],
    key: str,
    marker: str,
    keep_going: Callable[[], bool] = lambda: True,
) -> RetagOutcome:
    """Write ``key=marker`` on each session (CreateTags): the same session, its ID, number and copies unchanged.

    In batches; a refused batch is tried again one session at a time, so one session deleted meanwhile, or refused,
    does not hold the others back."""
    outcome = RetagOutcome()
    ids = [s.session_id for s in sessions]
    for start in range(0, len(ids), RETAG_BATCH):
        batch = ids[start : start + RETAG_BATCH]
        if not keep_going():
            outcome.not_reached.extend(ids[start:])
            break
        try:
            gateway.tag_sessions(batch, {key: marker})
            outcome.retagged.extend(batch)
            continue
        except AwsApiError:
            pass
        for session_id in batch:
            try:
                gateway.tag_sessions([session_id], {key: marker})
            except SessionNotFound:
                outcome.already_gone.append(session_id)
            except AwsApiError as error:
                logger.error("session not re-tagged", extra={"session_id": session_id, "error_code": error.code})
                outcome.failed[session_id] = error.code
            else:
                outcome.retagged.append(session_id)
    return outcome


# -- the custom resource ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CustomResourceRequest:
    """The fields of a CloudFormation custom resource request that this resource uses."""

    request_type: str  # Create, Update or Delete
    response_url: str
    stack_id: str
    request_id: str
    logical_resource_id: str
    physical_resource_id: str | None
    properties: Mapping[str, Any] = field(default_factory=dict)  # ResourceProperties
    old_properties: Mapping[str, Any] = field(default_factory=dict)  # OldResourceProperties (Update only)

    @classmethod
    def parse(cls, event: Any) -> CustomResourceRequest:
        if not isinstance(event, Mapping):
            raise EventValidationError("the event must be a JSON object: a CloudFormation custom resource request")
        if "detail-type" in event:  # a rule wired to the wrong function
            raise EventValidationError(
                f"an EventBridge event (detail-type {str(event['detail-type'])[:80]!r}) is not a CloudFormation "
                "custom resource request"
            )
        fields = ("RequestType", "ResponseURL", "StackId", "RequestId", "LogicalResourceId")
        missing = [name for name in fields if not isinstance(event.get(name), str) or not event[name]]
        if missing:
            raise EventValidationError(f"custom resource request without {', '.join(missing)}")
        if event["RequestType"] not in ("Create", "Update", "Delete"):
            raise EventValidationError(f"RequestType {event['RequestType']!r} is not Create, Update or Delete")
        physical = event.get("PhysicalResourceId")
        properties, old_properties = event.get("ResourceProperties"), event.get("OldResourceProperties")
        return cls(
            request_type=event["RequestType"],
            response_url=event["ResponseURL"],
            stack_id=event["StackId"],
            request_id=event["RequestId"],
            logical_resource_id=event["LogicalResourceId"],
            physical_resource_id=physical if isinstance(physical, str) and physical else None,
            properties=properties if isinstance(properties, Mapping) else {},
            old_properties=old_properties if isinstance(old_properties, Mapping) else {},
        )

    @property
    def stack_name(self) -> str:
        """The name in the stack ARN (arn:…:stack/<name>/<id>)."""
        parts = self.stack_id.split("/")
        return parts[1] if len(parts) >= 3 else self.stack_id

    @property
    def account_id(self) -> str:
        """The stack's account, from its ARN (arn:partition:cloudformation:region:account:stack/…); "" if unreadable."""
        parts = self.stack_id.split(":")
        return parts[4] if len(parts) > 5 and parts[4].isdigit() else ""

    def marker(self, old: bool = False) -> str:
        """The session marker the template gives the resource (property ManagedBy), or "" without one."""
        value = (self.old_properties if old else self.properties).get("ManagedBy")
        return value.strip() if isinstance(value, str) else ""


@dataclass(frozen=True)
class Answer:
    status: str
    reason: str
    physical_resource_id: str
    data: Mapping[str, str] = field(default_factory=dict)


def response_body(request: CustomResourceRequest, answer: Answer) -> bytes:
    """The JSON CloudFormation reads at the ResponseURL, shortened to fit its 4,096-byte limit (the reason gives)."""
    document: dict[str, Any] = {
        "Status": answer.status,
        "Reason": answer.reason,
        "PhysicalResourceId": answer.physical_resource_id,
        "StackId": request.stack_id,
        "RequestId": request.request_id,
        "LogicalResourceId": request.logical_resource_id,
        "NoEcho": False,
        "Data": dict(answer.data),
    }
    body = json.dumps(document).encode()
    while len(body) > RESPONSE_LIMIT and document["Reason"]:
        excess = len(body) - RESPONSE_LIMIT
        reason = str(document["Reason"])
        document["Reason"] = reason[: max(0, len(reason) - excess - 3)] + "..."
        if len(reason) <= 3:
            document["Reason"] = ""
        body = json.dumps(document).encode()
    return body


def put_response(
    url: str,
    body: bytes,
    *,
    timeout: float = HTTP_TIMEOUT_SECONDS,
    attempts: int = HTTP_ATTEMPTS,
    pause: Callable[[float], None] = time.sleep,
) -> bool:
    """PUT the answer to the pre-signed URL (empty Content-Type, as the signature expects); True once accepted."""
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(
            url, data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                if 200 <= response.status < 300:
                    return True
                logger.warning("response URL refused the answer", extra={"http_status": response.status})
        except (OSError, ValueError) as error:  # URLError and timeouts are OSErrors; ValueError: a malformed URL
            logger.warning("could not send the answer", extra={"attempt": attempt, "error": str(error)})
        if attempt < attempts:
            pause(2 ** (attempt - 1))
    logger.error("the answer never reached CloudFormation; the stack operation waits for ServiceTimeout")
    return False


class Responder:
    """Answers a request exactly once, whichever comes first: the handler's answer, or the watchdog's FAILED just
    before the function's own timeout (so CloudFormation never waits for a function that was stopped)."""

    def __init__(self, request: CustomResourceRequest, send: Callable[[str, bytes], bool] = put_response) -> None:
        self.request = request
        self._send = send
        self._lock = threading.Lock()
        self.answer: Answer | None = None

    def respond(self, answer: Answer) -> bool:
        """Send ``answer`` unless one was sent already; True if this call sent it."""
        with self._lock:
            if self.answer is not None:
                return False
            self.answer = answer
            log = logger.info if answer.status == SUCCESS else logger.error
            log(
                "custom resource answer",
                extra={"status": answer.status, "reason": answer.reason, "request_type": self.request.request_type},
            )
            self._send(self.request.response_url, response_body(self.request, answer))
            return True

    def watchdog(self, seconds: float, answer: Callable[[], Answer]) -> threading.Timer:
        """A started timer that answers ``answer()`` after ``seconds`` if nothing was answered by then."""
        timer = threading.Timer(max(0.0, seconds), lambda: self.respond(answer()))
        timer.daemon = True
        timer.start()
        return timer


def physical_id(request: CustomResourceRequest) -> str:
    """Stable across updates: a new ID on Update would make CloudFormation delete the old resource, i.e. clean up."""
    return request.physical_resource_id or f"session-cleanup-{request.stack_name}"


def answer_request(
    request: CustomResourceRequest,
    *,
    gateway: Callable[[], SessionPort],
    stack_status: Callable[[str], str | None],
    keep_going: Callable[[], bool] = lambda: True,
    fallback_marker: str = "",
    fallback_account: str = "",
) -> Answer:
    """Create and Update check every setting the functions will load (``deploy_check``) and answer FAILED, naming
    it, when one would be refused: CloudFormation then rolls back, the previous stack stays. An Update that changes
    ``ManagedBy`` moves the stack's sessions to the new marker. Delete deletes the stack's sessions when the stack
    is going away, reading only the marker and the account: whatever else is wrong, the sessions go.

    A Delete that leaves sessions behind answers FAILED, naming them: a stack that reported itself deleted while
    its sessions go on billing, with no reconciler left to notice, is the failure this resource exists to prevent;
    deleting the stack again retries (and the filter, still in use, could not be deleted anyway).
    """
    if request.request_type == "Create":
        problem = _settings_problem(request)
        if problem is not None:
            return Answer(FAILED, _refused(problem), NEVER_CREATED)
        return Answer(SUCCESS, f"{_CHECKED}; {_UNTIL_DELETED}", physical_id(request))
    account = request.account_id or fallback_account
    if request.request_type == "Update":
        return _answer_update(request, gateway, stack_status, keep_going, account)
    return _answer_delete(request, gateway, stack_status, keep_going, request.marker() or fallback_marker, account)


_CHECKED = "every setting the functions load was checked"
_UNTIL_DELETED = "the sessions the stack manages are deleted with the stack"


def _settings_problem(request: CustomResourceRequest) -> str | None:
    env = merged_settings(request.properties.get("Settings"))
    return None if env is None else settings_problem(env)  # no Settings: a template older than the check


def _refused(problem: str) -> str:
    return f"the functions would refuse this setting: {problem}. Fix the parameter and deploy again"


def _answer_update(
    request: CustomResourceRequest,
    gateway: Callable[[], SessionPort],
    stack_status: Callable[[str], str | None],
    keep_going: Callable[[], bool],
    account: str,
) -> Answer:
    resource_id = physical_id(request)
    statuses: list[str | None] = []

    def rolling_back() -> bool:
        if not statuses:
            statuses.append(stack_status(request.stack_id))
        return statuses[0] == STACK_ROLLING_BACK

    problem = _settings_problem(request)
    if problem is not None and not rolling_back():
        return Answer(FAILED, _refused(problem), resource_id)
    note = f" (the settings restored are refused too: {problem})" if problem else ""
    old, new = request.marker(old=True), request.marker()
    if not old or not new or old == new:
        checked = "settings restored by the rollback" if problem else _CHECKED
        return Answer(SUCCESS, f"{checked}; {_UNTIL_DELETED}{note}", resource_id)
    port = gateway()
    sessions = stack_sessions(port, Settings(target_ids=(), filter_id="", managed_by=old, account_id=account))
    key = Settings(target_ids=(), filter_id="").managed_by_tag_key
    logger.info("moving the sessions to a new marker", extra={"old": old, "new": new, "sessions": len(sessions)})
    outcome = retag_sessions(port, sessions, key, new, keep_going)
    data = {"Retagged": str(len(outcome.retagged)), "Left": str(len(outcome.left))}
    if outcome.complete:
        reason = f"{len(outcome.retagged)} session(s) now carry {key}={new} instead of {old}: the same sessions"
        return Answer(SUCCESS, reason + note, resource_id, data)
    left = _named(outcome.failed, outcome.not_reached)
    if rolling_back():
        # Those sessions keep the marker of the update that failed. No function of the restored stack owns them, and
        # none creates a second session behind one of them (shadowed-by-other-session): no gap, no double bill.
        reason = (
            f"{len(outcome.left)} session(s) keep {key}={old}: {left}. The restored stack ({new}) does not manage "
            f"them. Deploy again with ManagedBy={old} to take them back, or delete them: mirror-cleanup "
            f"--stack-name {request.stack_name} --managed-by {old} --apply --force"
        )
        return Answer(SUCCESS, reason + note, resource_id, data)
    # Put back the ones moved, so the rollback that follows finds every session where it was.
    undone = retag_sessions(port, [s for s in sessions if s.session_id in outcome.retagged], key, old)
    reason = (
        f"{len(outcome.left)} session(s) could not be moved from {key}={old} to {new}: {left}. "
        f"{len(undone.retagged)} moved meanwhile were put back"
    )
    if undone.left:
        reason += f"; {len(undone.left)} could not be put back and keep {new}: {_named(undone.failed, [])}"
    return Answer(FAILED, reason, resource_id, data)


def _named(failed: Mapping[str, str], not_reached: Sequence[str]) -> str:
    named = [f"{sid} ({failed[sid]})" for sid in sorted(failed)]
    named += [f"{sid} (not reached in time)" for sid in sorted(not_reached)]
    more = f" and {len(named) - REASON_SESSIONS_SHOWN} more" if len(named) > REASON_SESSIONS_SHOWN else ""
    return ", ".join(named[:REASON_SESSIONS_SHOWN]) + more


def _answer_delete(
    request: CustomResourceRequest,
    gateway: Callable[[], SessionPort],
    stack_status: Callable[[str], str | None],
    keep_going: Callable[[], bool],
    marker: str,
    account: str,
) -> Answer:
    resource_id = physical_id(request)
    if resource_id == NEVER_CREATED:
        return Answer(SUCCESS, "the resource was never created: nothing to delete", resource_id)
    status = stack_status(request.stack_id)
    if status is not None and status not in STACK_GOING_AWAY:
        reason = f"the stack stays ({status}): its sessions stay with its functions"
        return Answer(SUCCESS, reason, resource_id)
    if not marker:
        reason = "no session marker (neither the property ManagedBy nor MANAGED_BY): cannot tell which sessions"
        return Answer(FAILED, reason, resource_id)
    current = Settings(target_ids=(), filter_id="", managed_by=marker, account_id=account)
    port = gateway()
    sessions = stack_sessions(port, current)
    logger.info(
        "deleting the stack's sessions",
        extra={"managed_by": current.managed_by, "stack_status": status, "sessions": len(sessions)},
    )
    outcome = delete_sessions(port, sessions, keep_going)
    data = {
        "Deleted": str(len(outcome.deleted)),
        "AlreadyGone": str(len(outcome.already_gone)),
        "Left": str(len(outcome.left)),
    }
    if outcome.complete:
        reason = f"deleted {len(outcome.deleted)} session(s) of stack {current.managed_by}"
        if outcome.already_gone:
            reason += f" ({len(outcome.already_gone)} were already gone)"
        return Answer(SUCCESS, reason, resource_id, data)
    return Answer(FAILED, failure_reason(outcome, current.managed_by, request.stack_name), resource_id, data)


def failure_reason(outcome: CleanupOutcome, managed_by: str, stack_name: str | None = None) -> str:
    """Names the sessions left, with AWS's error code for each refused one (the first ones; all are in the log)."""
    named = [f"{sid} ({outcome.failed[sid]})" for sid in sorted(outcome.failed)]
    named += [f"{sid} (not reached in time)" for sid in outcome.not_reached]
    shown = ", ".join(named[:REASON_SESSIONS_SHOWN])
    more = f" and {len(named) - REASON_SESSIONS_SHOWN} more" if len(named) > REASON_SESSIONS_SHOWN else ""
    stack = stack_name or managed_by
    marker = f" --managed-by {managed_by}" if managed_by != stack else ""
    return (
        f"{len(named)} session(s) of stack {managed_by} not deleted: {shown}{more}. They still bill. Delete the "
        "stack again to retry (once the cause of an AWS refusal is fixed), or run: mirror-cleanup --stack-name "
        f"{stack}{marker} --apply. Deleted meanwhile: {len(outcome.deleted)}."
    )


def stack_status_reader(cloudformation: Any) -> Callable[[str], str | None]:
    """The stack's status from CloudFormation; None when it cannot be read (the cleanup then goes ahead: sessions
    left billing with nobody to notice cost more than a gap the reconciler of a stack that stays repairs)."""

    def status(stack_id: str) -> str | None:
        try:
            stacks = cloudformation.describe_stacks(StackName=stack_id).get("Stacks") or [{}]
            found = stacks[0].get("StackStatus")
            return str(found) if found else None
        except Exception as error:  # any failure to read means "unknown", never a crash of the answer
            logger.warning("could not read the stack status", extra={"stack_id": stack_id, "error": str(error)})
            return None

    return status
