"""`mirror-audit` against moto's server over HTTP (held to AWS's rules by the strict layer), with drift present.

The server records the action of every request it receives, so "the audit changed nothing" is checked where it
matters: no mutating request ever reached the server.
"""

from __future__ import annotations

import http.server
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from moto.moto_server import threaded_moto_server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.server import ThreadedMotoServer

import mirror_cli
import traffic_mirroring
from mirror_cli import account, aws, command
from mirror_cli.aws import READ_ONLY_OPERATIONS, AwsTarget, MutatingCallRefused, ReadOnlyGuard
from simulation.account import REGION, SimulatedAccount
from simulation.strict_aws import StrictAws
from traffic_mirroring.ec2_gateway import Ec2Gateway

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


def mirrored(account: SimulatedAccount, target: str, filter_id: str, name: str = "", **launch: Any) -> tuple[str, str]:
    instance = account.launch(tags={"mirror": "true", **({"Name": name} if name else {})}, **launch)
    return instance, managed_session(account, account.enis_of(instance)[0], target, filter_id, instance)


def run_audit(server: Server, pool: list[str], filter_id: str, *extra: str) -> int:
    return command.main(
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
    clean, _ = mirrored(account, pool, filter_id, "web-clean")
    account.tag(clean, **{"mirror-status": "mirrored"})
    foreign = account.foreign_session(account.enis_of(clean)[0], retired, filter_id, 2)
    # A tagged instance without a session (its launch event was lost)
    missing = account.launch(tags={"mirror": "true", "Name": "web new"})
    # Orphans: an instance whose tag was removed, and a terminated one whose secondary ENI kept its session
    untagged, untagged_session = mirrored(account, pool, filter_id, "web-untagged")
    account.tag(untagged, **{"mirror-status": "mirrored"})
    account.untag(untagged, "mirror")
    terminated = account.launch(tags={"mirror": "true", "Name": "batch-1"}, extra_enis=1)
    orphan_eni = account.enis_of(terminated)[1]
    orphan_session = managed_session(account, orphan_eni, pool, filter_id, terminated)
    account.terminate(terminated)
    # A session on a target the stack no longer lists
    on_retired, on_retired_session = mirrored(
        account, retired, filter_id, "db-1", instance_type="c5.xlarge", zone="us-east-1b"
    )
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
        "target_pool",
        "filter_id",
        "unknown_ids",
        "packet_length",
        "vni_policy",
        "session_options",
        "vni_map",
        "targets",
        "mirroring_windows",
        "mtu_warnings",
        "creates",
        "deletes",
        "moves",
        "skips",
        "status_tags",
        "instance_type_verdicts",
        "sessions",
        "cost",
        "coverage",
        "drift",
    }
    assert report["drift"] is True
    assert report["unknown_ids"] == []
    # Coverage (issue 23): of the 3 ENIs that should be mirrored, the clean one and the one on the retired target are
    # mirrored now; the untagged instance is out of the denominator
    coverage = report["coverage"]
    assert (coverage["enis_to_mirror"], coverage["enis_mirrored"], coverage["percent"]) == (3, 2, 66.67)
    assert (coverage["unmirrored"], coverage["not_counted"]) == ({"missing-session": 1}, {"tag-removed": 1})
    assert coverage["after_plan"]["enis_mirrored"] == 3
    assert (report["account"], report["region"], report["managed_by"]) == ("123456789012", REGION, STACK)
    # Each row names its instance: Name tag and instance type, next to the ID
    assert report["creates"] == [
        {
            "instance_id": drift.missing,
            "name": "web new",
            "instance_type": "m5.large",
            "probe_type": None,
            "eni_id": remote.enis_of(drift.missing)[0],
            "target_id": drift.pool,
            "session_number": 1,
            "filter_id": drift.filter_id,
            "packet_length": None,
            "virtual_network_id": None,
            "reason": "missing-session",
        }
    ]
    assert sorted(
        (d["subject"], d["name"], d["instance_type"], d["session_id"], d["eni_id"], d["reason"])
        for d in report["deletes"]
    ) == sorted(
        [
            (
                drift.untagged,
                "web-untagged",
                "m5.large",
                drift.untagged_session,
                remote.enis_of(drift.untagged)[0],
                "tag-removed",
            ),
            (drift.terminated, "batch-1", "m5.large", drift.orphan_session, drift.orphan_eni, "instance-terminated"),
        ]
    )
    assert all(
        set(d) == {"subject", "name", "instance_type", "session_id", "eni_id", "target_id", "session_number", "reason"}
        for d in report["deletes"]
    )
    [moved_vni] = [s["VirtualNetworkId"] for s in remote.sessions_on(remote.enis_of(drift.on_retired)[0])]
    assert report["moves"] == [
        {
            "instance_id": drift.on_retired,
            "name": "db-1",
            "instance_type": "c5.xlarge",
            "session_id": drift.on_retired_session,
            "eni_id": remote.enis_of(drift.on_retired)[0],
            "from_target_id": drift.retired,
            "to_target_id": drift.pool,
            "from_filter_id": drift.filter_id,
            "to_filter_id": drift.filter_id,
            "from_packet_length": None,
            "to_packet_length": None,
            "from_virtual_network_id": moved_vni,
            "to_virtual_network_id": moved_vni,
            "reason": "target-retired",
        }
    ]
    # The instances whose mirror-status tag would change, by ID (the clean one is already "mirrored")
    assert report["status_tags"] == sorted(
        [
            {
                "instance_id": drift.missing,
                "name": "web new",
                "instance_type": "m5.large",
                "current": None,
                "desired": "mirrored",
            },
            {
                "instance_id": drift.untagged,
                "name": "web-untagged",
                "instance_type": "m5.large",
                "current": "mirrored",
                "desired": None,
            },
            {
                "instance_id": drift.on_retired,
                "name": "db-1",
                "instance_type": "c5.xlarge",
                "current": None,
                "desired": "mirrored",
            },
        ],
        key=lambda row: str(row["instance_id"]),
    )
    assert report["skips"] == []
    assert report["sessions"] == {"managed_now": 4, "managed_after": 3, "asking_aws": 0}
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


def blocks(lines: list[str]) -> list[str]:
    """The rows of a text report, each joined from its first line and its continuation lines."""
    rows: list[str] = []
    for line in lines:
        starts_row = not line.startswith("   ") or not rows
        if starts_row:
            rows.append(line)
        else:
            rows[-1] += " " + line.strip()
    return rows


def test_prints_each_change_with_its_instance_name_type_and_reason_and_the_cost(
    server: Server, remote: SimulatedAccount, drift: Drift, capsys: pytest.CaptureFixture[str]
) -> None:
    # With --width 0, one line per row: what grep needs
    code = run_audit(server, [drift.pool], drift.filter_id, "--price", "0.02", "--width", "0")
    report = capsys.readouterr().out
    assert code == 1
    assert report.splitlines()[-1].startswith("Drift: yes")
    # The changes, before the advice on MTU (which lists sources mirrored to an ENI target, changed or not)
    out = report.split("\nMTU:")[0]
    lines = out.splitlines()

    def line_with(*words: str) -> str:
        found = [line for line in lines if all(w in line for w in words)]
        assert len(found) == 1, f"no single line with {words} in:\n{out}"
        return found[0]

    assert "Would create 1 session" in lines and "Would delete 2 sessions" in lines and "Would move 1 session" in lines
    line_with(drift.missing, "web new (m5.large)", remote.enis_of(drift.missing)[0], drift.pool, "missing-session")
    line_with(drift.untagged, "web-untagged (m5.large)", drift.untagged_session, "tag-removed")
    line_with(drift.terminated, "batch-1 (m5.large)", drift.orphan_session, drift.orphan_eni, "instance-terminated")
    line_with(drift.on_retired, "db-1 (c5.xlarge)", drift.on_retired_session, drift.retired, drift.pool)
    assert drift.foreign not in out
    # The instances whose mirror-status tag would change, each with its current and desired value
    assert "Would write the mirror-status tag of 3 instances" in lines
    line_with(drift.missing, "web new (m5.large)", "(none)", "mirrored")
    line_with(drift.untagged, "web-untagged (m5.large)", "mirrored", "(removed)")
    line_with(drift.on_retired, "db-1 (c5.xlarge)", "(none)", "mirrored")
    assert drift.clean not in out
    # Cost lines that add up: now - deleted + created = after
    assert line_with("now", "4").split()[1:] == ["4", "$58.40"]
    assert line_with("deleted", "-2").split()[1:] == ["-2", "-$29.20"]
    assert line_with("created", "+1").split()[1:] == ["+1", "+$14.60"]
    assert line_with("after the plan").split()[3:] == ["3", "$43.80"]


@pytest.mark.parametrize("width", ["--width=80", "COLUMNS=80"])
def test_the_text_report_fits_80_columns_without_cutting_an_id(
    server: Server,
    remote: SimulatedAccount,
    drift: Drift,
    width: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if width.startswith("COLUMNS"):  # the default width: the terminal's, which COLUMNS overrides
        monkeypatch.setenv("COLUMNS", "80")
        extra: tuple[str, ...] = ()
    else:
        extra = (width,)
    code = run_audit(server, [drift.pool], drift.filter_id, *extra)
    out = capsys.readouterr().out
    assert code == 1
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80, "\n".join(line for line in lines if len(line) > 80)
    assert "…" not in out
    rows = blocks(lines)

    def row_with(*words: str) -> str:
        found = [row for row in rows if all(w in row.split() for w in words)]
        assert len(found) == 1, f"no single row with {words} in:\n{out}"
        return found[0]

    # Every ID whole, and each row still holds its instance's name, type, session, ENI, target and reason
    row_with(drift.missing, "web", "new", "(m5.large)", remote.enis_of(drift.missing)[0], drift.pool, "missing-session")
    row_with(drift.untagged, "web-untagged", "(m5.large)", drift.untagged_session, "tag-removed")
    row_with(drift.terminated, "batch-1", "(m5.large)", drift.orphan_session, drift.orphan_eni, "instance-terminated")
    row_with(drift.on_retired, "db-1", "(c5.xlarge)", drift.on_retired_session, drift.retired, drift.pool)
    row_with(drift.untagged, "web-untagged", "(m5.large)", "mirrored", "(removed)")


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
    assert (report["deletes"], report["moves"]) == ([], [])
    # The t2.micro is no drift: either skipped by the list, or a create that asks AWS (which AWS decides)
    assert all(c["probe_type"] == "t2.micro" for c in report["creates"])
    assert {s["reason"] for s in report["skips"]} <= {"unsupported-instance-type"}
    assert len(report["creates"]) + len(report["skips"]) == 1
    assert report["cost"]["monthly_now"] == report["cost"]["monthly_after"] == round(0.015 * HOURS_PER_MONTH, 2)

    assert run_audit(server, [pool], filter_id, "--width", "80") == 0
    text = capsys.readouterr().out
    assert "Would create 0 sessions" in text.splitlines()
    if report["creates"]:
        assert "Would ask AWS with 1 create whether an instance type not on its list" in text


def test_targets_and_filters_the_account_does_not_have_are_named_and_exit_2_even_with_no_tagged_instance(
    server: Server, remote: SimulatedAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an empty account: no instance asks to be mirrored, one target and one filter exist
    pool, filter_id = remote.eni_target(), remote.mirror_filter()
    missing_target, missing_filter, missing_approved = "tmt-0123456789abcdef0", "tmf-0123456789abcdef0", "tmf-0abc"
    # When the settings name a target, a filter and an approved filter it does not have
    code = run_audit(
        server, [pool, missing_target], missing_filter, "--approved-filter-ids", missing_approved, "--width", "0"
    )
    out, err = capsys.readouterr()
    # Then the report names each, and the command exits 2 with one line that names them too
    assert code == 2
    assert one_line(err) == (
        f"mirror-audit: --targets names {missing_target}; --filter-id names {missing_filter}; --approved-filter-ids "
        f"names {missing_approved}: not in account 123456789012, region {REGION} (a typo, another account or Region, "
        "or an AWS RAM share not accepted)"
    )
    lines = out.splitlines()
    start = lines.index(
        "Not in this account and Region, or not visible to it (exit code 2): fix the setting before a deploy"
    )
    assert [line.split() for line in lines[start + 1 : start + 5]] == [
        ["setting", "ID"],
        ["--targets", "(TargetIds)", missing_target],
        ["--filter-id", "(FilterId)", missing_filter],
        ["--approved-filter-ids", "(ApprovedFilterIds)", missing_approved],
    ], out
    assert lines[-1] == "Drift: none"  # nothing to plan: without the check this exited 0
    # And as JSON, the same rows; settings that all exist exit 0
    assert run_audit(server, [pool, missing_target], filter_id, "--json") == 2
    report = json.loads(capsys.readouterr().out)
    assert report["unknown_ids"] == [{"setting": "--targets", "parameter": "TargetIds", "id": missing_target}]
    assert run_audit(server, [pool], filter_id, "--approved-filter-ids", filter_id) == 0


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--targets", "tmt-typo"], "--targets (TARGET_IDS) 'tmt-typo'"),
        (["--targets", "tmt-0abc, tmt-0def"], "--targets (TARGET_IDS) ' tmt-0def'"),
        (["--targets", "eni-0abc"], "--targets (TARGET_IDS) 'eni-0abc'"),
        (["--filter-id", "tmf-0ABC"], "--filter-id (FILTER_ID) 'tmf-0ABC'"),
        (["--approved-filter-ids", "tmf-0abc,tmt-0abc"], "--approved-filter-ids (APPROVED_FILTER_IDS) 'tmt-0abc'"),
        (["--trusted-targets", "tmt-0abc,**"], "--trusted-targets (TRUSTED_TARGETS) '**'"),
    ],
)
def test_ids_the_template_would_refuse_exit_2_before_any_request(
    server: Server, remote: SimulatedAccount, argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    server.requests.taken()
    code = command.main(["--endpoint-url", server.url, "--region", REGION, "--filter-id", "tmf-0abc", *argv])
    assert code == 2
    reason = one_line(capsys.readouterr().err)
    assert reason.startswith(f"mirror-audit: invalid settings: {named}: the template's "), reason
    assert server.requests.taken() == []


def test_the_guard_refuses_every_mutating_call_before_it_is_sent(server: Server, remote: SimulatedAccount) -> None:
    pool = remote.eni_target()
    filter_id = remote.mirror_filter()
    instance = remote.launch(tags={"mirror": "true"})
    eni = remote.enis_of(instance)[0]
    server.requests.taken()
    ec2, elbv2, sts = aws.read_only_clients(AwsTarget(REGION, None, server.url))

    with pytest.raises(MutatingCallRefused, match="ec2:CreateTrafficMirrorSession"):
        ec2.create_traffic_mirror_session(
            NetworkInterfaceId=eni,
            TrafficMirrorTargetId=pool,
            TrafficMirrorFilterId=filter_id,
            SessionNumber=1,
        )
    with pytest.raises(MutatingCallRefused, match="ec2:CreateTags"):
        ec2.create_tags(Resources=[instance], Tags=[{"Key": "mirror-status", "Value": "mirrored"}])
    with pytest.raises(MutatingCallRefused, match="ec2:DescribeSubnets"):  # a read, but not one the audit needs
        ec2.describe_subnets()
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
    import traffic_mirroring.planner as planner
    from traffic_mirroring.executor import Executor

    plan_mirroring = planner.plan_mirroring
    gateways: list[Any] = []

    def remembered_gateway(*args: Any, **kwargs: Any) -> Any:
        gateways.append(Ec2Gateway(*args, **kwargs))
        return gateways[-1]

    def plan_and_apply(inventory: Any, settings: Any) -> Any:
        plan = plan_mirroring(inventory, settings)
        Executor(gateways[-1], settings).apply(plan)  # what a careless change to the audit could do
        return plan

    monkeypatch.setattr(account, "Ec2Gateway", remembered_gateway)
    monkeypatch.setattr(planner, "plan_mirroring", plan_and_apply)
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


def one_line(err: str) -> str:
    """stderr holds exactly one line, the reason: no traceback, no usage block."""
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line:\n{err}"
    assert "Traceback" not in err
    return err.rstrip("\n")


def test_errors_exit_2_with_a_one_line_reason(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    for name in ("TARGET_IDS", "FILTER_ID", "MANAGED_BY", "SESSION_HOURLY_PRICE"):
        monkeypatch.delenv(name, raising=False)
    unreachable = f"http://127.0.0.1:{_closed_port()}"

    def fails(*argv: str) -> str:
        assert command.main(list(argv)) == 2
        return one_line(capsys.readouterr().err)

    reason = fails("--endpoint-url", unreachable, "--filter-id", "tmf-1", "--targets", "tmt-1")
    assert reason == (
        f"mirror-audit: cannot reach {unreachable} (EndpointConnectionError on GetCallerIdentity): is a server "
        "listening there?"
    )
    assert "is not a URL" in fails("--endpoint-url", "localhost:4566", "--filter-id", "tmf-1")
    assert "--filter-id (or FILTER_ID) is required" in fails("--endpoint-url", unreachable, "--targets", "tmt-1")
    assert "argument --price: invalid float value: 'lots'" in fails("--filter-id", "tmf-1", "--price", "lots")
    assert "SESSION_HOURLY_PRICE='-1.0' must be between 0 and 100" in fails("--filter-id", "tmf-1", "--price", "-1")
    assert fails("--no-such-flag") == ("mirror-audit: unrecognized arguments: --no-such-flag (see mirror-audit --help)")
    assert "no-such-profile" in fails("--filter-id", "tmf-1", "--profile", "no-such-profile")

    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert fails("--filter-id", "tmf-1") == (
        "mirror-audit: no region: pass --region (e.g. --region us-east-1) or set AWS_REGION"
    )

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # Against a local endpoint: say that fake credentials are needed, and how to set them
    assert fails("--endpoint-url", unreachable, "--region", REGION, "--filter-id", "tmf-1") == (
        "mirror-audit: no credentials (NoCredentialsError): a local endpoint still needs fake ones, e.g. export "
        "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing"
    )


def test_an_interrupt_or_an_unexpected_error_exits_2_with_one_line(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*_: Any, **__: Any) -> Any:
        raise KeyboardInterrupt

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("a bug\nover two lines")

    monkeypatch.setattr(account, "audit", interrupted)
    assert command.main(["--filter-id", "tmf-1"]) == 2
    assert one_line(capsys.readouterr().err) == "mirror-audit: interrupted"

    monkeypatch.setattr(account, "audit", broken)
    assert command.main(["--filter-id", "tmf-1"]) == 2
    assert one_line(capsys.readouterr().err) == (
        "mirror-audit: unexpected error: RuntimeError: a bug over two lines (run with --debug for the traceback)"
    )
    with pytest.raises(RuntimeError, match="a bug"):
        command.main(["--filter-id", "tmf-1", "--debug"])


# -- a local endpoint that answers like AWS refusing --------------------------------------------------------------
STS_IDENTITY = (
    '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>'
    "<Arn>arn:aws:iam::123456789012:user/auditor</Arn><UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account>"
    "</GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>"
    "</GetCallerIdentityResponse>"
)
STS_REJECTED = (
    '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
    "<Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message>"
    "</Error><RequestId>1</RequestId></ErrorResponse>"
)
EC2_DENIED = (
    "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this "
    "operation.</Message></Error></Errors><RequestID>1</RequestID></Response>"
)


@contextmanager
def refusing_endpoint(answer: Callable[[str], tuple[int, str]]) -> Iterator[str]:
    """An HTTP endpoint that answers every request by its Action with ``answer(action)``: (status, XML body)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            status, xml = answer(parse_qs(body).get("Action", [""])[0])
            payload = xml.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_credentials_a_local_endpoint_rejects_are_named_with_what_to_set(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with refusing_endpoint(lambda action: (403, STS_REJECTED)) as url:
        code = command.main(["--endpoint-url", url, "--filter-id", "tmf-1"])
    assert code == 2
    assert one_line(capsys.readouterr().err) == (
        f"mirror-audit: {url} rejected the credentials (InvalidClientTokenId: The security token included in the "
        "request is invalid.): set the fake credentials it accepts (moto accepts any, e.g. "
        "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing)"
    )


def test_access_denied_names_the_operation_and_the_read_only_permissions_needed(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with refusing_endpoint(
        lambda action: (200, STS_IDENTITY) if action == "GetCallerIdentity" else (403, EC2_DENIED)
    ) as url:
        code = command.main(["--endpoint-url", url, "--filter-id", "tmf-1"])
    assert code == 2
    reason = one_line(capsys.readouterr().err)
    assert re.fullmatch(r"mirror-audit: Describe\w+ was denied \(UnauthorizedOperation\): .*", reason), reason
    assert "ec2:DescribeTrafficMirrorSessions" in reason and "elasticloadbalancing:DescribeLoadBalancers" in reason


# -- the real command, in its own process ------------------------------------------------------------------------
def run_command(*argv: str, env: dict[str, str], close_stdout: bool = False) -> tuple[int, str]:
    """``python -m mirror_cli.command`` (what the mirror-audit console script runs); returns (code, stderr).

    ``close_stdout``: the reader of stdout goes away at once, as ``mirror-audit | head -1`` does.
    """
    # The two packages' directories, as the editable install puts them on the path: the domain's and the commands'.
    packages = (mirror_cli, traffic_mirroring)
    path = os.pathsep.join(str(Path(str(package.__file__)).resolve().parents[1]) for package in packages)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TARGET_IDS", "FILTER_ID", "MANAGED_BY"))}
    clean |= {
        "PYTHONPATH": path,
        "AWS_CONFIG_FILE": "/nonexistent/config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
        "AWS_EC2_METADATA_DISABLED": "true",
        "COLUMNS": "80",
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "mirror_cli.command", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean,
        text=True,
    )
    if close_stdout:
        assert process.stdout is not None
        process.stdout.close()
        _, err = process.communicate(timeout=120)
    else:
        _, err = process.communicate(timeout=120)
    return process.returncode, err


FAKE = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def test_the_command_exits_2_with_one_line_when_nothing_listens_at_the_endpoint() -> None:
    unreachable = f"http://127.0.0.1:{_closed_port()}"
    code, err = run_command(
        "--endpoint-url", unreachable, "--region", REGION, "--filter-id", "tmf-1", env={**FAKE, "AWS_MAX_ATTEMPTS": "2"}
    )
    assert code == 2
    assert one_line(err).startswith(f"mirror-audit: cannot reach {unreachable} ")


def test_the_command_exits_2_with_one_line_when_no_region_is_set() -> None:
    code, err = run_command("--filter-id", "tmf-1", env=FAKE)
    assert code == 2
    assert one_line(err) == "mirror-audit: no region: pass --region (e.g. --region us-east-1) or set AWS_REGION"


@pytest.mark.parametrize("output", ["text", "json"])
def test_the_command_exits_2_with_one_line_when_its_reader_closes_the_pipe(
    server: Server, remote: SimulatedAccount, drift: Drift, output: str
) -> None:
    flags = ["--json"] if output == "json" else []
    code, err = run_command(
        "--endpoint-url",
        server.url,
        "--region",
        REGION,
        "--targets",
        drift.pool,
        "--filter-id",
        drift.filter_id,
        "--managed-by",
        STACK,
        *flags,
        env=FAKE,
        close_stdout=True,
    )
    assert code == 2  # the reader got part of the report at most: neither "no drift" nor "drift" was delivered
    assert one_line(err) == "mirror-audit: the output was closed before the report was complete (broken pipe)"


def test_shows_each_sessions_vni_and_packet_length_in_json_and_text(
    server: Server, remote: SimulatedAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given two of our sessions: one created with PacketLength 128 and VNI 77 (its mirror-vni tag says 5: written at
    # creation, a later modify kept it), one mirroring whole packets under a VNI AWS picked
    pool, filter_id = remote.eni_target(), remote.mirror_filter()
    truncated, whole = (remote.launch(tags={"mirror": "true", "mirror-status": "mirrored"}) for _ in range(2))
    first = managed_session(remote, remote.enis_of(truncated)[0], pool, filter_id, truncated)
    remote.ec2.modify_traffic_mirror_session(TrafficMirrorSessionId=first, PacketLength=128, VirtualNetworkId=77)
    remote.ec2.create_tags(Resources=[first], Tags=[{"Key": "mirror-vni", "Value": "5"}])
    second = managed_session(remote, remote.enis_of(whole)[0], pool, filter_id, whole)
    [picked] = [s["VirtualNetworkId"] for s in remote.sessions_on(remote.enis_of(whole)[0])]
    # When the audit runs for a stack with the default options (JSON, then text)
    json_code = run_audit(server, [pool], filter_id, "--json")
    report = json.loads(capsys.readouterr().out)
    text_code = run_audit(server, [pool], filter_id, "--width", "0")
    out = capsys.readouterr().out
    # Then JSON lists each session with its VNI and packet length as AWS describes them, and the VNI → instance map
    assert (report["packet_length"], report["vni_policy"]) == (None, "aws")
    by_instance = sorted([(truncated, (first, 77, 128, "5")), (whole, (second, picked, None, None))])
    assert [
        (r["session_id"], r["virtual_network_id"], r["packet_length"], r["vni_tag"]) for r in report["session_options"]
    ] == [row for _, row in by_instance]
    assert report["vni_map"] == {str(v): [i] for v, i in sorted([(77, truncated), (picked, whole)])}
    # the stack asks for whole packets: the 128-byte session rolls over (a move with reason options-changed)
    assert [
        (m["session_id"], m["from_packet_length"], m["to_packet_length"], m["reason"]) for m in report["moves"]
    ] == [(first, 128, None, "options-changed")]
    assert (json_code, text_code) == (1, 1)
    # And the text report has a row per session with its VNI (and the tag that says otherwise) and packet length
    lines = out.splitlines()
    assert [line for line in lines if first in line and "77 (tag 5)" in line and "128 bytes" in line]
    assert [line for line in lines if second in line and str(picked) in line and "whole packet" in line]
    assert [line for line in lines if first in line and "packet length 128 → whole" in line]


def test_audits_with_the_stacks_packet_length_and_vni_policy(
    server: Server, remote: SimulatedAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a session as a stack with PacketLength=128 and VniPolicy=per-instance-tag created it
    pool, filter_id = remote.eni_target(), remote.mirror_filter()
    instance = remote.launch(tags={"mirror": "true", "mirror-status": "mirrored", "mirror-vni": "77"})
    session = managed_session(remote, remote.enis_of(instance)[0], pool, filter_id, instance)
    remote.ec2.modify_traffic_mirror_session(TrafficMirrorSessionId=session, PacketLength=128, VirtualNetworkId=77)
    # When the audit is given the stack's options, it sees no drift; without them it would roll the session over
    options = ("--packet-length", "128", "--vni-policy", "per-instance-tag")
    assert run_audit(server, [pool], filter_id, "--json", *options) == 0
    assert json.loads(capsys.readouterr().out)["moves"] == []
    assert run_audit(server, [pool], filter_id, "--json") == 1
    assert [m["reason"] for m in json.loads(capsys.readouterr().out)["moves"]] == ["options-changed"]
