"""Stack deletion deletes every session the stack manages, and only those: the custom resource SessionCleanup
(functions/session_cleanup) answering CloudFormation at a local ResponseURL, and ``mirror-cleanup`` for a stack
deleted before that existed. Against moto plus the strict layer.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from moto.cloudformation.models import cloudformation_backends

from functions.instance_state_change.app import handler as state_change
from functions.session_cleanup import app as cleanup_app
from functions.session_cleanup.app import handler as session_cleanup
from mirror_cli import cleanup as cleanup_cli
from simulation.account import SimulatedAccount
from simulation.strict_aws import StrictAws
from tests.integration.stack import ACCOUNT_ID, MANAGED_BY, LambdaContext, Stack, event, make_stack
from traffic_mirroring.runtime import Runtime

STACK_ID = f"arn:aws:cloudformation:us-east-1:123456789012:stack/{MANAGED_BY}/5b3b0e10-0000-0000-0000-000000000000"
MARKER = "mirror-managed-by"


# -- a CloudFormation stand-in: the pre-signed ResponseURL, served locally ------------------------------------------
class ResponseUrl:
    """Captures what is PUT to it: one answer per custom resource request."""

    def __init__(self) -> None:
        self.answers: list[dict[str, Any]] = []
        answers = self.answers

        class Capture(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                answers.append(
                    {"path": self.path, "content_type": self.headers.get("Content-Type"), "body": json.loads(body)}
                )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:  # keep the test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Capture)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cfn-response?X-Amz-Signature=test"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def only_answer(self) -> dict[str, Any]:
        [answer] = self.answers
        assert answer["path"] == "/cfn-response?X-Amz-Signature=test"
        assert answer["content_type"] == ""  # the pre-signed URL is signed for an empty Content-Type
        body: dict[str, Any] = answer["body"]
        return body


@pytest.fixture
def response_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[ResponseUrl]:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    served = ResponseUrl()
    served.thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


def properties(managed_by: str = MANAGED_BY, **settings: str) -> dict[str, Any]:
    """SessionCleanup's properties as the template gives them: the marker, and every function's settings."""
    env = {"TARGET_IDS": "tmt-0123456789abcdef0", "FILTER_ID": "tmf-0123456789abcdef0", "ACCOUNT_ID": ACCOUNT_ID}
    env.update(MANAGED_BY=managed_by, **settings)
    return {"ServiceToken": "arn:aws:lambda:…", "ManagedBy": managed_by, "Settings": [env]}


def request(
    kind: str,
    url: str,
    physical_id: str | None = "session-cleanup-mirror-stack",
    new: dict[str, Any] | None = None,
    old: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A custom resource request as CloudFormation sends it (``new``: ResourceProperties, ``old``: the Update's
    OldResourceProperties)."""
    sent: dict[str, Any] = {
        "RequestType": kind,
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:mirror-stack-SessionCleanupFunction",
        "ResponseURL": url,
        "StackId": STACK_ID,
        "RequestId": f"{kind.lower()}-5b3b0e10",
        "LogicalResourceId": "SessionCleanup",
        "ResourceType": "Custom::SessionCleanup",
        "ResourceProperties": new or properties(),
    }
    if kind != "Create" and physical_id:
        sent["PhysicalResourceId"] = physical_id
    if kind == "Update":
        sent["OldResourceProperties"] = old or dict(sent["ResourceProperties"])
    return sent


def status(value: str | None) -> Any:
    return lambda stack_id: value if stack_id == STACK_ID else "UNKNOWN_STACK"


# -- the account: 3 instances we mirror, and sessions that are not ours ---------------------------------------------
@pytest.fixture
def pool(account: SimulatedAccount) -> dict[str, str]:
    return {"nlb": account.nlb_target(), "filter": account.mirror_filter()}


@pytest.fixture
def stack(account: SimulatedAccount, pool: dict[str, str]) -> Stack:
    return make_stack(account, [pool["nlb"]], pool["filter"])


@pytest.fixture
def mirrored(stack: Stack) -> list[str]:
    instances = [stack.account.launch(tags={"mirror": "true"}) for _ in range(3)]
    for instance in instances:
        state_change(event("ec2-instance-running.json", instance), LambdaContext(), runtime=stack.runtime)
    assert len(stack.our_sessions()) == 3
    return instances


@pytest.fixture
def not_ours(stack: Stack, strict: StrictAws, pool: dict[str, str]) -> set[str]:
    """Another team's session (no marker tag), and a session of another account carrying our marker (we own the
    target it mirrors to, so we see it; only its owner may delete it)."""
    other_team = stack.account.launch()
    foreign = stack.account.foreign_session(stack.account.enis_of(other_team)[0], pool["nlb"], pool["filter"], 1)
    other_account = strict.add_foreign_account_session(pool["nlb"], pool["filter"], tags={MARKER: MANAGED_BY})
    return {foreign, other_account}


def session_ids(account: SimulatedAccount) -> set[str]:
    return {s["TrafficMirrorSessionId"] for s in account.sessions()}


# -- Delete, Create, Update -------------------------------------------------------------------------------------------
def test_stack_deletion_deletes_every_session_of_ours_and_no_other(
    stack: Stack, mirrored: list[str], not_ours: set[str], response_url: ResponseUrl
) -> None:
    # Given 3 mirrored instances, another team's session and another account's session with our marker
    assert len(session_ids(stack.account)) == 5
    # When CloudFormation deletes the stack
    returned = session_cleanup(
        request("Delete", response_url.url),
        LambdaContext(),
        runtime=stack.runtime,
        stack_status=status("DELETE_IN_PROGRESS"),
    )
    # Then only the sessions that are not ours are left, and CloudFormation hears SUCCESS
    assert session_ids(stack.account) == not_ours
    answer = response_url.only_answer()
    assert answer["Status"] == "SUCCESS" == returned["Status"]
    assert answer["Reason"].startswith("deleted 3 session(s) of stack mirror-stack")
    assert answer["PhysicalResourceId"] == "session-cleanup-mirror-stack"
    assert answer["StackId"] == STACK_ID
    assert answer["RequestId"] == "delete-5b3b0e10"
    assert answer["LogicalResourceId"] == "SessionCleanup"
    assert answer["Data"] == {"Deleted": "3", "AlreadyGone": "0", "Left": "0"}


def test_stack_deletion_reads_every_session_once_without_a_tag_filter(
    stack: Stack, mirrored: list[str], not_ours: set[str], response_url: ResponseUrl
) -> None:
    # Given our 3 sessions and 2 that are not ours (the strict layer refuses any tag filter on the describe)
    stack.calls.reset()
    # When CloudFormation deletes the stack
    session_cleanup(
        request("Delete", response_url.url),
        LambdaContext(),
        runtime=stack.runtime,
        stack_status=status("DELETE_IN_PROGRESS"),
    )
    calls = dict(stack.calls.counts)
    # Then one page of sessions was read (ownership decided on our side), and each of ours deleted once
    assert session_ids(stack.account) == not_ours
    assert calls == {"DescribeTrafficMirrorSessions": 1, "DeleteTrafficMirrorSession": 3}


@pytest.mark.parametrize("kind", ["Create", "Update"])
def test_create_and_update_touch_nothing(
    stack: Stack, mirrored: list[str], not_ours: set[str], response_url: ResponseUrl, kind: str
) -> None:
    before = session_ids(stack.account)
    stack.calls.reset()

    session_cleanup(
        request(kind, response_url.url),
        LambdaContext(),
        runtime=stack.runtime,
        stack_status=status("UNREACHED"),
    )

    assert stack.calls.log == []  # not even a read
    assert session_ids(stack.account) == before
    answer = response_url.only_answer()
    assert answer["Status"] == "SUCCESS"
    # The same physical ID on Update: a new one would make CloudFormation delete the old resource, i.e. clean up.
    assert answer["PhysicalResourceId"] == "session-cleanup-mirror-stack"


def test_a_delete_aws_refuses_fails_the_answer_and_names_that_session(
    stack: Stack, mirrored: list[str], not_ours: set[str], response_url: ResponseUrl
) -> None:
    # Given AWS refuses one of the deletions
    stack.calls.fail_operation("DeleteTrafficMirrorSession", "UnauthorizedOperation")
    # When the stack is deleted
    session_cleanup(
        request("Delete", response_url.url),
        LambdaContext(),
        runtime=stack.runtime,
        stack_status=status("DELETE_IN_PROGRESS"),
    )
    # Then the other two are deleted, and the answer is FAILED, naming the one left with AWS's error code
    [left] = session_ids(stack.account) - not_ours
    answer = response_url.only_answer()
    assert answer["Status"] == "FAILED"
    assert f"{left} (UnauthorizedOperation)" in answer["Reason"]
    assert "mirror-cleanup --stack-name mirror-stack --apply" in answer["Reason"]
    assert answer["Data"] == {"Deleted": "2", "AlreadyGone": "0", "Left": "1"}


def test_delete_of_a_stack_that_stays_touches_nothing(
    stack: Stack, mirrored: list[str], response_url: ResponseUrl
) -> None:
    # An update that added the resource was rolled back: CloudFormation deletes it, but the stack and its functions stay
    before = session_ids(stack.account)

    session_cleanup(
        request("Delete", response_url.url),
        LambdaContext(),
        runtime=stack.runtime,
        stack_status=status("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"),
    )

    assert session_ids(stack.account) == before
    answer = response_url.only_answer()
    assert answer["Status"] == "SUCCESS"
    assert "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS" in answer["Reason"]


def test_a_rolled_back_stack_creation_cleans_up_too(
    stack: Stack, mirrored: list[str], response_url: ResponseUrl
) -> None:
    session_cleanup(
        request("Delete", response_url.url),
        LambdaContext(),
        runtime=stack.runtime,
        stack_status=status("ROLLBACK_IN_PROGRESS"),
    )

    assert stack.our_sessions() == []
    assert response_url.only_answer()["Status"] == "SUCCESS"


def test_a_stack_status_read_from_cloudformation(stack: Stack, mirrored: list[str], response_url: ResponseUrl) -> None:
    # The default status reader asks CloudFormation; a stack it does not know reads as unknown, and unknown cleans up
    # (sessions billing with nobody left to notice cost more than a gap a live stack's reconciler repairs).
    session_cleanup(request("Delete", response_url.url), LambdaContext(), runtime=stack.runtime)

    assert stack.our_sessions() == []
    assert response_url.only_answer()["Status"] == "SUCCESS"


# -- mirror-cleanup ---------------------------------------------------------------------------------------------------
def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cleanup_cli.main(["--stack-name", MANAGED_BY, "--region", "us-east-1", *args], out, err)
    return code, out.getvalue(), err.getvalue()


def test_mirror_cleanup_is_a_dry_run_by_default(stack: Stack, mirrored: list[str], not_ours: set[str]) -> None:
    before = session_ids(stack.account)

    code, out, err = cli()

    assert (code, err) == (0, "")
    assert session_ids(stack.account) == before
    ours = [s for s in stack.our_sessions() if s["OwnerId"] == ACCOUNT_ID]
    assert len(ours) == 3
    for session in ours:
        row = next(line for line in out.splitlines() if session["TrafficMirrorSessionId"] in line)
        assert session["NetworkInterfaceId"] in row
        instance = {t["Key"]: t["Value"] for t in session["Tags"]}["mirror-instance-id"]
        assert instance in row
    assert not any(s in out for s in not_ours)
    assert "3 session(s) of stack mirror-stack" in out
    assert "1 other session(s) carry the tag but belong to other accounts" in out
    assert "Dry run: nothing deleted. Run again with --apply" in out


def test_mirror_cleanup_apply_deletes_exactly_ours(stack: Stack, mirrored: list[str], not_ours: set[str]) -> None:
    code, out, err = cli("--apply")

    assert (code, err) == (0, "")
    assert session_ids(stack.account) == not_ours
    assert "Deleted 3 of 3 session(s)." in out


def test_mirror_cleanup_names_what_it_could_not_delete(
    stack: Stack, mirrored: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    built = cleanup_cli.clients

    def clients_with_a_refusal(*args: Any, **kwargs: Any) -> cleanup_cli.Clients:
        made = built(*args, **kwargs)
        stack.calls.attach(made.ec2)
        return made

    monkeypatch.setattr(cleanup_cli, "clients", clients_with_a_refusal)
    stack.calls.fail_operation("DeleteTrafficMirrorSession", "UnauthorizedOperation")

    code, out, err = cli("--apply")

    [left] = [s["TrafficMirrorSessionId"] for s in stack.our_sessions()]
    assert code == 1
    assert err == f"mirror-cleanup: not deleted: {left} (UnauthorizedOperation)\n"
    assert "Deleted 2 of 3 session(s)." in out


def test_mirror_cleanup_reads_every_session_once_without_a_tag_filter(
    stack: Stack, mirrored: list[str], not_ours: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    built = cleanup_cli.clients

    def counted_clients(*args: Any, **kwargs: Any) -> cleanup_cli.Clients:
        made = built(*args, **kwargs)
        stack.calls.attach(made.ec2)
        return made

    monkeypatch.setattr(cleanup_cli, "clients", counted_clients)
    stack.calls.reset()

    code, out, _ = cli("--apply")
    calls = dict(stack.calls.counts)

    # One read serves both the list of ours and the count of other accounts' sessions carrying the marker
    assert code == 0 and session_ids(stack.account) == not_ours
    assert "1 other session(s) carry the tag but belong to other accounts" in out
    assert calls == {"DescribeTrafficMirrorSessions": 1, "DeleteTrafficMirrorSession": 3}


def test_mirror_cleanup_refuses_to_apply_while_the_stack_exists(stack: Stack, mirrored: list[str]) -> None:
    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName=MANAGED_BY,
        TemplateBody=json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}),
    )

    code, out, err = cli("--apply")

    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "stack mirror-stack still exists (CREATE_COMPLETE)" in err
    assert len(stack.our_sessions()) == 3


def test_mirror_cleanup_without_a_region_says_so_in_one_line(
    stack: Stack, mirrored: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    out, err = io.StringIO(), io.StringIO()

    code = cleanup_cli.main(["--stack-name", MANAGED_BY], out, err)

    assert code == 2
    assert err.getvalue() == "mirror-cleanup: no region: pass --region, or set AWS_REGION or a region in the profile\n"


def test_mirror_cleanup_with_a_managed_by_marker_checks_the_stack_by_its_own_name(
    stack: Stack, mirrored: list[str]
) -> None:
    """A stack deployed with ManagedBy (a StackSet's): its sessions carry the marker, not the stack's name, and the
    stack-still-exists check must look for the stack itself."""
    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName="StackSet-traffic-mirroring-0f1e2d3c",
        TemplateBody=json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}),
    )
    out, err = io.StringIO(), io.StringIO()
    argv = ["--stack-name", "StackSet-traffic-mirroring-0f1e2d3c", "--managed-by", MANAGED_BY, "--region", "us-east-1"]

    code = cleanup_cli.main([*argv, "--apply"], out, err)

    assert code == 2 and "stack StackSet-traffic-mirroring-0f1e2d3c still exists" in err.getvalue()
    assert len(stack.our_sessions()) == 3
    out = io.StringIO()
    assert cleanup_cli.main([*argv, "--apply", "--force"], out, io.StringIO()) == 0
    assert f"tag mirror-managed-by={MANAGED_BY}" in out.getvalue()
    assert "Deleted 3 of 3 session(s)." in out.getvalue()


def stack_in(status: str, name: str = MANAGED_BY) -> None:
    """A stack of that name in this status. moto's deletions never fail, so a stuck one is set by hand."""
    client = boto3.client("cloudformation", region_name="us-east-1")
    stack_id = client.create_stack(
        StackName=name, TemplateBody=json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
    )["StackId"]
    cloudformation_backends[ACCOUNT_ID]["us-east-1"].stacks[stack_id].status = status


@pytest.mark.parametrize("status", ["DELETE_FAILED", "DELETE_IN_PROGRESS"])
def test_mirror_cleanup_recovers_a_stack_whose_deletion_stopped(
    stack: Stack, mirrored: list[str], not_ours: set[str], status: str
) -> None:
    # Given the stack's deletion stopped (or is under way): CloudFormation deleted its functions before its cleanup
    stack_in(status)
    # When the runbook's recovery runs
    code, out, err = cli("--apply")
    # Then our sessions are gone, and the messages say what is true
    assert (code, err) == (0, "")
    assert session_ids(stack.account) == not_ours
    assert f"Stack mirror-stack is {status}: its functions were deleted before its own cleanup ran" in out
    assert "Deleted 3 of 3 session(s)." in out
    told = "Now delete the stack again (its filter is no longer in use): aws cloudformation delete-stack"
    assert (told in out) == (status == "DELETE_FAILED")


# -- every setting checked on Create and Update; Delete whatever the settings -----------------------------------------
def answered(response_url: ResponseUrl) -> dict[str, Any]:
    body: dict[str, Any] = response_url.answers[-1]["body"]
    return body


def test_a_create_with_a_selector_the_functions_refuse_fails_naming_it(stack: Stack, response_url: ResponseUrl) -> None:
    bad = properties(MIRROR_SELECTORS="prod-cluster")

    session_cleanup(request("Create", response_url.url, new=bad), LambdaContext(), runtime=stack.runtime)

    answer = response_url.only_answer()
    assert answer["Status"] == "FAILED"
    assert "parameter MirrorSelectors: MIRROR_SELECTORS entry 'prod-cluster'" in answer["Reason"]
    assert answer["PhysicalResourceId"] == "session-cleanup-not-created"


def test_an_update_to_a_bad_setting_fails_and_the_stack_keeps_its_old_settings(
    stack: Stack, mirrored: list[str], response_url: ResponseUrl
) -> None:
    good, bad = properties(MIRROR_SELECTORS="eks:cluster-name=prod"), properties(MIRROR_SELECTORS="prod-cluster")
    stack.configure(MIRROR_SELECTORS="eks:cluster-name=prod")
    before = session_ids(stack.account)
    # When CloudFormation updates SessionCleanup (first: every function and role depends on it)
    session_cleanup(
        request("Update", response_url.url, new=bad, old=good),
        LambdaContext(),
        runtime=stack.runtime,
        stack_status=status("UPDATE_IN_PROGRESS"),
    )
    # Then it fails, naming the setting: CloudFormation updates no function, and rolls back
    assert answered(response_url)["Status"] == "FAILED"
    assert "MirrorSelectors" in answered(response_url)["Reason"]
    session_cleanup(
        request("Update", response_url.url, new=good, old=bad),
        LambdaContext(),
        runtime=stack.runtime,
        stack_status=status("UPDATE_ROLLBACK_IN_PROGRESS"),
    )
    assert answered(response_url)["Status"] == "SUCCESS"  # the rollback's Update back to the good settings
    # And the stack works as before, with its old settings: nothing was touched, a new instance is mirrored
    assert session_ids(stack.account) == before
    selected = stack.account.launch(tags={"eks:cluster-name": "prod"})
    state_change(event("ec2-instance-running.json", selected), LambdaContext(), runtime=stack.runtime)
    assert len(stack.our_sessions(selected)) == 1


def test_a_delete_with_a_bad_setting_in_the_environment_deletes_every_session_of_ours(
    stack: Stack, mirrored: list[str], not_ours: set[str], response_url: ResponseUrl, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the function's environment holds a setting the functions refuse (deployed before it was checked)
    environment = {
        "TARGET_IDS": ",".join(stack.settings.target_ids),
        "FILTER_ID": stack.settings.filter_id,
        "MANAGED_BY": MANAGED_BY,
        "ACCOUNT_ID": ACCOUNT_ID,
        "MIRROR_SELECTORS": "prod-cluster",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    Runtime.reset()
    cleanup_app._gateway.cache_clear()
    try:
        # When the stack is deleted: the function as deployed, building what it needs from its environment
        session_cleanup(
            request("Delete", response_url.url, new=properties(MIRROR_SELECTORS="prod-cluster")),
            LambdaContext(),
            stack_status=status("DELETE_IN_PROGRESS"),
        )
    finally:
        cleanup_app._gateway.cache_clear()
        Runtime.reset()
    # Then every session of ours is deleted, and CloudFormation hears SUCCESS
    assert session_ids(stack.account) == not_ours
    assert response_url.only_answer()["Status"] == "SUCCESS"


# -- ManagedBy changed: the same sessions, under the new marker -------------------------------------------------------
NEW_MARKER = "traffic-mirroring"


def sessions_by_eni(account: SimulatedAccount, marker: str) -> dict[str, list[tuple[str, str]]]:
    """ENI → (session ID, marker) of every session on it, for the ENIs holding a session of this account with
    ``marker`` (another account's session with our marker is on a target we own, not on our ENIs)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for session in account.sessions():
        if session["OwnerId"] != ACCOUNT_ID:
            continue
        tags = {t["Key"]: t["Value"] for t in session.get("Tags", [])}
        found.setdefault(session["NetworkInterfaceId"], []).append(
            (session["TrafficMirrorSessionId"], tags.get(MARKER, ""))
        )
    return {eni: sessions for eni, sessions in found.items() if any(m == marker for _, m in sessions)}


def test_a_new_marker_leaves_one_session_per_eni_the_same_ones_now_carrying_it(
    stack: Stack, mirrored: list[str], not_ours: set[str], response_url: ResponseUrl
) -> None:
    # Given 3 mirrored instances, one session of ours on each ENI
    before = sessions_by_eni(stack.account, MANAGED_BY)
    assert len(before) == 3 and all(len(sessions) == 1 for sessions in before.values())
    # When CloudFormation updates SessionCleanup with the new ManagedBy (before any function: they depend on it)
    session_cleanup(
        request("Update", response_url.url, new=properties(NEW_MARKER), old=properties(MANAGED_BY)),
        LambdaContext(),
        runtime=stack.runtime,
        stack_status=status("UPDATE_IN_PROGRESS"),
    )
    answer = response_url.only_answer()
    assert answer["Status"] == "SUCCESS" and answer["Data"] == {"Retagged": "3", "Left": "0"}
    # Then each ENI holds exactly one session: the same one, carrying the new marker
    after = sessions_by_eni(stack.account, NEW_MARKER)
    assert after == {eni: [(session_id, NEW_MARKER)] for eni, [(session_id, _)] in before.items()}
    # And while the functions still run with the old marker, they create no second session behind it
    for instance in mirrored:
        state_change(event("ec2-instance-running.json", instance), LambdaContext(), runtime=stack.runtime)
    assert sessions_by_eni(stack.account, NEW_MARKER) == after
    assert {stack.account.tags_of(i)["mirror-status"] for i in mirrored} == {"shadowed-by-other-session"}
    # Nor once they run with the new one: the sessions are theirs, and mirrored
    stack.configure(MANAGED_BY=NEW_MARKER)
    for instance in mirrored:
        state_change(event("ec2-instance-running.json", instance), LambdaContext(), runtime=stack.runtime)
    assert sessions_by_eni(stack.account, NEW_MARKER) == after
    assert {stack.account.tags_of(i)["mirror-status"] for i in mirrored} == {"mirrored"}
    assert not_ours <= session_ids(stack.account)
