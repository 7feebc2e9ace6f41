"""`mirror-audit` against moto's server over HTTP (held to AWS's rules by the strict layer), with drift present.

The server records the action of every request it receives, so "the audit changed nothing" is checked where it
matters: no mutating request ever reached the server.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest
from moto.moto_server import threaded_moto_server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.server import ThreadedMotoServer

from simulation.account import REGION, SimulatedAccount
from simulation.strict_aws import StrictAws
from traffic_mirroring import audit
from traffic_mirroring.audit import READ_ONLY_OPERATIONS, AwsTarget, MutatingCallRefused, ReadOnlyGuard

STACK = "audited-stack"
HOURS_PER_MONTH = 730
READS = frozenset(op for ops in READ_ONLY_OPERATIONS.values() for op in ops)
MUTATING_PREFIXES = ("Create", "Delete", "Modify", "Run", "Terminate", "Stop", "Start", "Attach", "Detach", "Put")


@dataclass
class Requests:
    """Actions of the requests the server received, in order."""

    actions: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def taken(self) -> list[str]:
        with self.lock:
            taken, self.actions[:] = list(self.actions), []
        return taken


def _recording_dispatcher(requests: Requests) -> type[DomainDispatcherApplication]:
    class RecordingDispatcher(DomainDispatcherApplication):  # type: ignore[misc]
        def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            form = parse_qs(body.decode("utf-8", "replace")) | parse_qs(environ.get("QUERY_STRING", ""))
            action = (form.get("Action") or [""])[0] or environ.get("HTTP_X_AMZ_TARGET", "").rsplit(".", 1)[-1]
            if action:
                with requests.lock:
                    requests.actions.append(action)
            return super().__call__(environ, start_response)

    return RecordingDispatcher


@dataclass
class Server:
    url: str
    requests: Requests


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    requests = Requests()
    with pytest.MonkeyPatch.context() as patch, StrictAws():  # the strict layer patches moto's classes in-process
        patch.setattr(threaded_moto_server, "DomainDispatcherApplication", _recording_dispatcher(requests))
        moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto_server.start()
        host, port = moto_server.get_host_and_port()
        try:
            yield Server(f"http://{host}:{port}", requests)
        finally:
            moto_server.stop()


@pytest.fixture
def remote(server: Server, aws_env: None) -> SimulatedAccount:
    """A fresh account on the server (state reset), reached over HTTP."""
    urllib.request.urlopen(urllib.request.Request(f"{server.url}/moto-api/reset", method="POST"), timeout=10).read()
    return SimulatedAccount(endpoint_url=server.url)


def managed_session(account: SimulatedAccount, eni: str, target: str, filter_id: str, instance_id: str) -> str:
    """A session the stack created earlier: it carries the stack's marker tags."""
    session_id: str = account.ec2.create_traffic_mirror_session(
        NetworkInterfaceId=eni,
        TrafficMirrorTargetId=target,
        TrafficMirrorFilterId=filter_id,
        SessionNumber=1,
        TagSpecifications=[
            {
                "ResourceType": "traffic-mirror-session",
                "Tags": [
                    {"Key": "mirror-managed-by", "Value": STACK},
                    {"Key": "mirror-instance-id", "Value": instance_id},
                ],
            }
        ],
    )["TrafficMirrorSession"]["TrafficMirrorSessionId"]
    return session_id


def mirrored(account: SimulatedAccount, target: str, filter_id: str, **launch: Any) -> tuple[str, str]:
    instance = account.launch(tags={"mirror": "true"}, **launch)
    return instance, managed_session(account, account.enis_of(instance)[0], target, filter_id, instance)


def run_audit(server: Server, pool: list[str], filter_id: str, *extra: str) -> int:
    return audit.main(
        [
            "--endpoint-url",
            server.url,
            "--region",
            REGION,
            "--targets",
            ",".join(pool),
            "--filter-id",
            filter_id,
            "--managed-by",
            STACK,
            *extra,
        ]
    )


@dataclass
class Drift:
    pool: str
    retired: str
    filter_id: str
    clean: str
    missing: str
    untagged: str
    untagged_session: str
    terminated: str
    orphan_eni: str
    orphan_session: str
    on_retired: str
    on_retired_session: str
    foreign: str


@pytest.fixture
def drift(remote: SimulatedAccount) -> Drift:
    account = remote
    pool, retired = account.eni_target("us-east-1a"), account.eni_target("us-east-1b")
    filter_id = account.mirror_filter()
    clean, _ = mirrored(account, pool, filter_id)
    foreign = account.foreign_session(account.enis_of(clean)[0], retired, filter_id, 2)
    # A tagged instance without a session (its launch event was lost)
    missing = account.launch(tags={"mirror": "true"})
    # Orphans: an instance whose tag was removed, and a terminated one whose secondary ENI kept its session
    untagged, untagged_session = mirrored(account, pool, filter_id)
    account.untag(untagged, "mirror")
    terminated = account.launch(tags={"mirror": "true"}, extra_enis=1)
    orphan_eni = account.enis_of(terminated)[1]
    orphan_session = managed_session(account, orphan_eni, pool, filter_id, terminated)
    account.terminate(terminated)
    # A session on a target the stack no longer lists
    on_retired, on_retired_session = mirrored(account, retired, filter_id, zone="us-east-1b")
    return Drift(
        pool=pool,
        retired=retired,
        filter_id=filter_id,
        clean=clean,
        missing=missing,
        untagged=untagged,
        untagged_session=untagged_session,
        terminated=terminated,
        orphan_eni=orphan_eni,
        orphan_session=orphan_session,
        on_retired=on_retired,
        on_retired_session=on_retired_session,
        foreign=foreign,
    )


def snapshot(account: SimulatedAccount) -> str:
    return json.dumps(sorted(account.sessions(), key=lambda s: s["TrafficMirrorSessionId"]), default=str)


def test_reports_the_plan_as_json_with_exit_code_1_and_no_mutating_request_reaches_the_server(
    server: Server, remote: SimulatedAccount, drift: Drift, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given drift in the account
    before = snapshot(remote)
    server.requests.taken()
    # When the audit runs
    code = run_audit(server, [drift.pool], drift.filter_id, "--json")
    received = server.requests.taken()
    report = json.loads(capsys.readouterr().out)
    # Then it reports exactly what the reconciler would do, and exits 1
    assert code == 1
    assert set(report) == {
        "account",
        "region",
        "managed_by",
        "target_ids",
        "filter_id",
        "creates",
        "deletes",
        "moves",
        "skips",
        "status_tags",
        "sessions",
        "cost",
        "drift",
    }
    assert report["drift"] is True
    assert (report["account"], report["region"], report["managed_by"]) == ("123456789012", REGION, STACK)
    assert report["creates"] == [
        {
            "instance_id": drift.missing,
            "eni_id": remote.enis_of(drift.missing)[0],
            "target_id": drift.pool,
            "session_number": 1,
            "filter_id": drift.filter_id,
            "reason": "missing-session",
        }
    ]
    assert sorted((d["subject"], d["session_id"], d["eni_id"], d["reason"]) for d in report["deletes"]) == sorted(
        [
            (drift.untagged, drift.untagged_session, remote.enis_of(drift.untagged)[0], "tag-removed"),
            (drift.terminated, drift.orphan_session, drift.orphan_eni, "instance-terminated"),
        ]
    )
    assert all(
        set(d) == {"subject", "session_id", "eni_id", "target_id", "session_number", "reason"}
        for d in report["deletes"]
    )
    assert report["moves"] == [
        {
            "instance_id": drift.on_retired,
            "session_id": drift.on_retired_session,
            "eni_id": remote.enis_of(drift.on_retired)[0],
            "from_target_id": drift.retired,
            "to_target_id": drift.pool,
            "from_filter_id": drift.filter_id,
            "to_filter_id": drift.filter_id,
            "reason": "target-retired",
        }
    ]
    assert report["skips"] == []
    assert report["sessions"] == {"managed_now": 4, "managed_after": 3}
    assert report["cost"] == {
        "hourly_price": 0.015,
        "monthly_now": round(4 * 0.015 * HOURS_PER_MONTH, 2),
        "monthly_after": round(3 * 0.015 * HOURS_PER_MONTH, 2),
    }
    # And nothing changed: the server saw reads only, and the sessions are as they were
    assert "DescribeTrafficMirrorSessions" in received and "GetCallerIdentity" in received
    assert set(received) <= READS, f"not a read: {set(received) - READS}"
    assert not [a for a in received if a.startswith(MUTATING_PREFIXES)]
    assert snapshot(remote) == before


def test_prints_each_change_with_its_reason_and_the_monthly_cost(
    server: Server, remote: SimulatedAccount, drift: Drift, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_audit(server, [drift.pool], drift.filter_id, "--price", "0.02")
    out = capsys.readouterr().out
    assert code == 1
    lines = out.splitlines()

    def line_with(*words: str) -> str:
        found = [line for line in lines if all(w in line for w in words)]
        assert len(found) == 1, f"no single line with {words} in:\n{out}"
        return found[0]

    assert "Would create 1 session" in lines and "Would delete 2 sessions" in lines and "Would move 1 session" in lines
    line_with(drift.missing, drift.pool, "missing-session")
    line_with(drift.untagged_session, "tag-removed")
    line_with(drift.orphan_session, drift.orphan_eni, "instance-terminated")
    line_with(drift.on_retired_session, drift.retired, drift.pool, "target-retired")
    assert drift.foreign not in out
    line_with("$58.40 now (4 sessions)", "$43.80 after the plan (3 sessions)")
    assert lines[-1].startswith("Drift: yes")


def test_a_clean_account_exits_0(server: Server, remote: SimulatedAccount, capsys: pytest.CaptureFixture[str]) -> None:
    pool, other = remote.eni_target("us-east-1a"), remote.eni_target("us-east-1b")
    filter_id = remote.mirror_filter()
    instance, _ = mirrored(remote, pool, filter_id)
    remote.tag(instance, **{"mirror-status": "mirrored"})
    remote.foreign_session(remote.enis_of(instance)[0], other, filter_id, 2)
    remote.launch(tags={"Name": "not asked"})
    remote.launch("t2.micro", tags={"mirror": "true"})  # unsupported: a skip, not drift

    code = run_audit(server, [pool], filter_id, "--json")

    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["drift"] is False
    assert (report["creates"], report["deletes"], report["moves"]) == ([], [], [])
    assert [s["reason"] for s in report["skips"]] == ["unsupported-instance-type"]
    assert report["cost"]["monthly_now"] == report["cost"]["monthly_after"] == round(0.015 * HOURS_PER_MONTH, 2)


def test_the_guard_refuses_every_mutating_call_before_it_is_sent(server: Server, remote: SimulatedAccount) -> None:
    pool = remote.eni_target()
    filter_id = remote.mirror_filter()
    instance = remote.launch(tags={"mirror": "true"})
    eni = remote.enis_of(instance)[0]
    server.requests.taken()
    ec2, elbv2, sts = audit.read_only_clients(AwsTarget(REGION, None, server.url))

    with pytest.raises(MutatingCallRefused, match="ec2:CreateTrafficMirrorSession"):
        ec2.create_traffic_mirror_session(
            NetworkInterfaceId=eni,
            TrafficMirrorTargetId=pool,
            TrafficMirrorFilterId=filter_id,
            SessionNumber=1,
        )
    with pytest.raises(MutatingCallRefused, match="ec2:CreateTags"):
        ec2.create_tags(Resources=[instance], Tags=[{"Key": "mirror-status", "Value": "mirrored"}])
    with pytest.raises(MutatingCallRefused, match="ec2:DescribeVpcs"):  # a read, but not one the audit needs
        ec2.describe_vpcs()
    with pytest.raises(MutatingCallRefused, match="elbv2:DeleteLoadBalancer"):
        elbv2.delete_load_balancer(LoadBalancerArn="arn:aws:elasticloadbalancing:us-east-1:123456789012:x")
    assert server.requests.taken() == []
    assert ec2.describe_traffic_mirror_sessions()["TrafficMirrorSessions"] == []
    assert sts.get_caller_identity()["Account"] == "123456789012"
    assert server.requests.taken() == ["DescribeTrafficMirrorSessions", "GetCallerIdentity"]


def test_a_write_anywhere_in_the_audit_path_fails_it_with_exit_code_2(
    server: Server,
    remote: SimulatedAccount,
    drift: Drift,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import traffic_mirroring.reconcile as reconcile
    from traffic_mirroring.executor import Executor
    from traffic_mirroring.inventory import read_account_inventory
    from traffic_mirroring.planner import plan_mirroring

    def plan_and_apply(gateway: Any, settings: Any) -> Any:
        plan = plan_mirroring(read_account_inventory(gateway, settings), settings)
        Executor(gateway, settings).apply(plan)  # what a careless change to the audit could do
        return plan

    monkeypatch.setattr(reconcile, "plan_account", plan_and_apply)
    before = snapshot(remote)
    server.requests.taken()

    code = run_audit(server, [drift.pool], drift.filter_id)

    assert code == 2
    assert "read-only: refused to call ec2:" in capsys.readouterr().err
    assert not [a for a in server.requests.taken() if a.startswith(MUTATING_PREFIXES)]
    assert snapshot(remote) == before


def test_the_allow_list_holds_reads_only() -> None:
    guard = ReadOnlyGuard()
    for service, operations in READ_ONLY_OPERATIONS.items():
        for operation in operations:
            assert operation.startswith(("Describe", "List", "Get")), operation
            assert guard.permits(service, operation)
    # Listed by mistake, a write is still refused: the name must read like a read
    assert not ReadOnlyGuard({"ec2": frozenset({"DeleteTrafficMirrorSession"})}).permits(
        "ec2", "DeleteTrafficMirrorSession"
    )
    assert not guard.permits("ec2", "ModifyTrafficMirrorSession")
    assert not guard.permits("s3", "GetObject")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_errors_exit_2_with_a_message_on_stderr(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    for name in ("TARGET_IDS", "FILTER_ID", "MANAGED_BY", "SESSION_HOURLY_PRICE"):
        monkeypatch.delenv(name, raising=False)
    unreachable = f"http://127.0.0.1:{_closed_port()}"

    assert audit.main(["--endpoint-url", unreachable, "--filter-id", "tmf-1", "--targets", "tmt-1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mirror-audit: GetCallerIdentity failed (EndpointConnectionError)"), err

    assert audit.main(["--endpoint-url", unreachable, "--targets", "tmt-1"]) == 2
    assert "--filter-id (or FILTER_ID) is required" in capsys.readouterr().err

    assert audit.main(["--filter-id", "tmf-1", "--price", "lots"]) == 2
    assert "argument --price: invalid float value: 'lots'" in capsys.readouterr().err

    assert audit.main(["--filter-id", "tmf-1", "--price", "-1"]) == 2
    assert "SESSION_HOURLY_PRICE='-1.0' must be between 0 and 100" in capsys.readouterr().err

    assert audit.main(["--no-such-flag"]) == 2
    assert "unrecognized arguments: --no-such-flag" in capsys.readouterr().err

    assert audit.main(["--filter-id", "tmf-1", "--profile", "no-such-profile"]) == 2
    assert "no-such-profile" in capsys.readouterr().err

    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert audit.main(["--filter-id", "tmf-1"]) == 2
    assert "mirror-audit: no region: pass --region" in capsys.readouterr().err

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert audit.main(["--endpoint-url", unreachable, "--region", REGION, "--filter-id", "tmf-1"]) == 2
    assert "GetCallerIdentity failed (NoCredentialsError): Unable to locate credentials" in capsys.readouterr().err
