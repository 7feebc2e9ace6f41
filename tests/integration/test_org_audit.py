"""`mirror-audit --accounts …` / `--organization`: the same audit in every member account, one report.

moto holds every account (its credentials from AssumeRole act in the role's account), and the strict layer makes
AssumeRole answer as AWS does: AccessDenied unless the role exists in that account and trusts the caller. The audit
account is moto's default one; each member is prepared through requests that land in it (``x-moto-account-id``), as
its own administrators would, and has its own VPC, targets, filter and instances.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from mirror_cli import command
from mirror_cli.aws import ENTRY_OPERATIONS, READ_ONLY_OPERATIONS, EntryGuard, MutatingCallRefused, ReadOnlyGuard
from simulation.account import REGION, SimulatedAccount
from simulation.strict_aws import StrictAws

AUDIT_ACCOUNT = "123456789012"  # moto's default account: the caller, where mirror-audit runs
A, B, C = "111111111111", "222222222222", "333333333333"
STACK = "org-stack"
ROLE = "traffic-mirroring-audit-us-east-1"  # what the stack creates with AuditAccountId set (template.yaml)
MONTH = 0.015 * 730  # one session for a month at the default price


# -- the simulated organization ----------------------------------------------------------------------------------
def in_account(account_id: str) -> Any:
    """A boto3 session whose requests land in ``account_id``: how the member's own administrators act there."""
    session = boto3.session.Session(region_name=REGION)

    def to_account(request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = account_id

    session.events.register("request-created.*.*", to_account)
    return session


class Member(SimulatedAccount):
    """A member account of the organization, with the verbs of a simulated account."""

    def __init__(self, account_id: str, stack: str = STACK) -> None:  # SimulatedAccount's, landing in this account
        self.account_id = account_id
        self.stack = stack  # the stack's name: the marker of its filter and sessions
        self.region = REGION
        self.session = in_account(account_id)
        self.ec2 = self.session.client("ec2")
        self.elbv2 = self.session.client("elbv2")
        self.autoscaling = self.session.client("autoscaling")
        subnets = self.ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        self.subnets = {s["AvailabilityZone"]: s["SubnetId"] for s in subnets}

    def audit_role(self, trusted: str = AUDIT_ACCOUNT, name: str = ROLE) -> str:
        """The role the stack creates: trusted by the audit account (its root), allowed to describe."""
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{trusted}:root"}, "Action": "sts:AssumeRole"}
            ],
        }
        arn: str = self.session.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(policy))[
            "Role"
        ]["Arn"]
        return arn

    def stack_filter(self) -> str:
        """The filter the stack creates when its FilterId parameter is empty: tagged with the stack's marker."""
        filter_id: str = self.ec2.create_traffic_mirror_filter(
            Description=f"Mirror all traffic ({self.stack})",
            TagSpecifications=[
                {"ResourceType": "traffic-mirror-filter", "Tags": [{"Key": "mirror-managed-by", "Value": self.stack}]}
            ],
        )["TrafficMirrorFilter"]["TrafficMirrorFilterId"]
        return filter_id

    def our_session(self, eni: str, target: str, filter_id: str, instance_id: str, number: int = 1) -> str:
        """A session the stack created earlier: it carries the stack's marker tags."""
        session_id: str = self.ec2.create_traffic_mirror_session(
            NetworkInterfaceId=eni,
            TrafficMirrorTargetId=target,
            TrafficMirrorFilterId=filter_id,
            SessionNumber=number,
            TagSpecifications=[
                {
                    "ResourceType": "traffic-mirror-session",
                    "Tags": [
                        {"Key": "mirror-managed-by", "Value": self.stack},
                        {"Key": "mirror-instance-id", "Value": instance_id},
                    ],
                }
            ],
        )["TrafficMirrorSession"]["TrafficMirrorSessionId"]
        return session_id

    def mirrored(self, target: str, filter_id: str, **launch: Any) -> tuple[str, str]:
        instance = self.launch(tags={"mirror": "true", "mirror-status": "mirrored"}, **launch)
        return instance, self.our_session(self.enis_of(instance)[0], target, filter_id, instance)

    def snapshot(self) -> str:
        return json.dumps(sorted(self.sessions(), key=lambda s: s["TrafficMirrorSessionId"]), default=str)


@dataclass
class Organization:
    members: dict[str, Member]
    pool: list[str]  # every member's pool target: one parameter set for all (a member's own is the one it has)


def drifting_member_a(strict: StrictAws) -> tuple[Member, str]:
    """Account A: 3 of our sessions, 1 of someone else; would create 1 (missing-session), delete 1 (tag-removed),
    move 1 (target-retired)."""
    member = Member(A)
    pool, retired = member.eni_target("us-east-1a"), member.eni_target("us-east-1b")
    filter_id = member.stack_filter()
    clean, _ = member.mirrored(pool, filter_id)
    member.foreign_session(member.enis_of(clean)[0], pool, filter_id, 2)
    member.launch(tags={"mirror": "true"})  # its launch event was lost: no session
    untagged, _ = member.mirrored(pool, filter_id)
    member.untag(untagged, "mirror")
    member.mirrored(retired, filter_id, instance_type="c5.xlarge", zone="us-east-1b")
    return member, pool


def drifting_member_b(strict: StrictAws) -> tuple[Member, str]:
    """Account B: 3 of our sessions, 6 of others (one of them carries our marker but is account A's, on B's target);
    would create 2 (missing-session), delete 1 (instance-terminated); skips 1 ENI (eni-session-limit)."""
    member = Member(B)
    pool = member.eni_target("us-east-1a")
    filter_id = member.stack_filter()
    for _ in range(2):
        clean, _ = member.mirrored(pool, filter_id)
        member.foreign_session(member.enis_of(clean)[0], pool, filter_id, 2)
    for _ in range(2):
        member.launch(tags={"mirror": "true"})
    terminated = member.launch(tags={"mirror": "true"}, extra_enis=1)
    member.our_session(member.enis_of(terminated)[1], pool, filter_id, terminated)
    member.terminate(terminated)
    full = member.launch(tags={"mirror": "true"})
    for number in (1, 2, 3):
        member.foreign_session(member.enis_of(full)[0], pool, filter_id, number)
    # Account A mirrors into B's target (shared through RAM), under the same stack name: A's session, not B's
    strict.add_foreign_account_session(
        pool,
        filter_id,
        owner_id=A,
        tags={"mirror-managed-by": STACK, "mirror-instance-id": "i-0aaaaaaaaaaaaaaaa"},
        session_number=1,
    )
    return member, pool


def unentered_member_c() -> Member:
    """Account C: drift of its own, but no audit role (the stack was deployed without AuditAccountId)."""
    member = Member(C)
    pool = member.eni_target()
    member.stack_filter()
    member.launch(tags={"mirror": "true"})
    member.eni_target()  # a target nobody uses
    assert pool
    return member


@pytest.fixture
def organization(strict: StrictAws) -> Organization:
    a, pool_a = drifting_member_a(strict)
    b, pool_b = drifting_member_b(strict)
    c = unentered_member_c()
    a.audit_role()
    b.audit_role()
    return Organization({A: a, B: b, C: c}, [pool_a, pool_b])


def run(pool: list[str], *extra: str) -> int:
    return command.main(["--region", REGION, "--targets", ",".join(pool), "--managed-by", STACK, *extra])


def run_json(pool: list[str], *extra: str) -> int:
    """The audit of accounts A and B as JSON, with ``extra`` flags (a later --managed-by wins)."""
    return run(pool, "--accounts", f"{A},{B}", "--json", *extra)


def rows_by_account(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["account"]: row for row in report["account_regions"]}


EXPECTED_A = {
    "sessions": {"ours": 3, "others": 1, "ours_after": 3},
    "changes": {"creates": 1, "deletes": 1, "moves": 1},
    "reasons": {
        "creates": {"missing-session": 1},
        "deletes": {"tag-removed": 1},
        "moves": {"target-retired": 1},
    },
    "skips": {},
    "cost": {"monthly_now": round(3 * MONTH, 2), "monthly_after": round(3 * MONTH, 2)},
    # Of 3 ENIs that should be mirrored (the untagged instance is out), the clean and the retired-target ones are
    "coverage": {"enis_to_mirror": 3, "enis_mirrored": 2, "percent": 66.67, "unmirrored": {"missing-session": 1}},
    "drift": True,
}
EXPECTED_B = {
    "sessions": {"ours": 3, "others": 6, "ours_after": 4},
    "changes": {"creates": 2, "deletes": 1, "moves": 0},
    "reasons": {"creates": {"missing-session": 2}, "deletes": {"instance-terminated": 1}, "moves": {}},
    "skips": {"eni-session-limit": 1},
    "cost": {"monthly_now": round(3 * MONTH, 2), "monthly_after": round(4 * MONTH, 2)},
    "coverage": {
        "enis_to_mirror": 5,
        "enis_mirrored": 2,
        "percent": 40.0,
        "unmirrored": {"eni-session-limit": 1, "missing-session": 2},
    },
    "drift": True,
}


def figures(row: dict[str, Any]) -> dict[str, Any]:
    return {key: row[key] for key in EXPECTED_A}


# -- the tests ---------------------------------------------------------------------------------------------------
def test_an_account_without_the_role_is_listed_as_not_entered_and_the_others_are_audited_and_summed(
    organization: Organization, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given three member accounts with drift, two of which have the audit role
    before = {account: member.snapshot() for account, member in organization.members.items()}

    # When the organization audit runs over the three
    code = run(organization.pool, "--accounts", f"{C},{A},{B}", "--json")

    # Then the two with the role are audited with exactly their figures, each with its own stack's filter
    out, err = capsys.readouterr()
    report = json.loads(out)
    rows = rows_by_account(report)
    assert [(row["account"], row["region"]) for row in report["account_regions"]] == [
        (A, REGION),
        (B, REGION),
        (C, REGION),
    ]
    assert figures(rows[A]) == EXPECTED_A
    assert figures(rows[B]) == EXPECTED_B
    assert rows[A]["filter_id"] != rows[B]["filter_id"]
    assert rows[A]["filter_id"] in organization.members[A].snapshot()
    # And the third is listed, not entered, with its one-line reason
    assert rows[C]["audited"] is False
    assert rows[C]["sessions"] is None and rows[C]["cost"] is None and rows[C]["coverage"] is None
    assert rows[C]["error"] == (
        f"AssumeRole of arn:aws:iam::{C}:role/{ROLE} was denied (AccessDenied): the role must exist in account {C} "
        f"and trust the audit account {AUDIT_ACCOUNT} (the caller is arn:aws:sts::{AUDIT_ACCOUNT}:user/moto); the "
        "stack creates it"
    )
    # And the totals are the sums over the two audited
    assert report["totals"] == {
        "audited": 2,
        "not_audited": 1,
        "with_drift": 2,
        "sessions": {"ours": 6, "others": 7, "ours_after": 7},
        "changes": {"creates": 3, "deletes": 2, "moves": 1},
        "reasons": {
            "creates": {"missing-session": 3},
            "deletes": {"instance-terminated": 1, "tag-removed": 1},
            "moves": {"target-retired": 1},
        },
        "skips": {"eni-session-limit": 1},
        "asking_aws": {},
        "cost": {"monthly_now": round(6 * MONTH, 2), "monthly_after": round(7 * MONTH, 2)},
        "with_unknown_ids": 2,  # each account's target is not in the other: named per account-region, no typo
        "unknown_everywhere": [],
        # ENIs summed over the accounts (not an average of their percentages)
        "coverage": {
            "enis_to_mirror": 8,
            "enis_mirrored": 4,
            "percent": 50.0,
            "unmirrored": {"eni-session-limit": 1, "missing-session": 3},
        },
    }
    pool_a, pool_b = organization.pool
    assert rows[A]["unknown_ids"] == [{"setting": "--targets", "parameter": "TargetIds", "id": pool_b}]
    assert rows[B]["unknown_ids"] == [{"setting": "--targets", "parameter": "TargetIds", "id": pool_a}]
    assert (report["complete"], report["drift"], report["audit_account"]) == (False, True, AUDIT_ACCOUNT)
    # And the exit code says the report is incomplete, in one line on stderr
    assert code == 2
    assert err == (
        "mirror-audit: Incomplete: 1 of 3 account-regions could not be audited (listed above); the totals cover the "
        "2 audited\n"
    )
    # And nothing changed anywhere
    assert {account: member.snapshot() for account, member in organization.members.items()} == before


def test_the_text_report_carries_the_same_numbers_as_the_json_and_ends_with_incomplete(
    organization: Organization, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(organization.pool, "--accounts", f"{A},{B},{C}", "--json") == 2
    report = json.loads(capsys.readouterr().out)
    assert run(organization.pool, "--accounts", f"{A},{B},{C}", "--width", "0") == 2
    lines = capsys.readouterr().out.splitlines()

    def line_of(*words: str) -> list[str]:
        found = [line.split() for line in lines if all(word in line.split() for word in words)]
        assert len(found) == 1, f"no single line with {words} in:\n" + "\n".join(lines)
        return found[0]

    # One line per account in the sessions table: ours, others, create, delete, move, skipped, ours after, drift
    for account in (A, B):
        row = report["account_regions"][[A, B].index(account)]
        sessions, changes = row["sessions"], row["changes"]
        numbers = line_of(account, REGION, "yes")[2:]
        assert numbers == [
            str(sessions["ours"]),
            str(sessions["others"]),
            str(changes["creates"]),
            str(changes["deletes"]),
            str(changes["moves"]),
            str(sum(row["skips"].values())),
            str(sessions["ours_after"]),
            "yes",
        ]
        assert line_of(account, REGION, f"${row['cost']['monthly_now']:,.2f}")[2:] == [
            f"${row['cost']['monthly_now']:,.2f}",
            f"${row['cost']['monthly_after']:,.2f}",
        ]
        for kind, what in (("creates", "create"), ("deletes", "delete"), ("moves", "move")):
            for reason, count in row["reasons"][kind].items():
                assert line_of(account, what, reason)[-1] == str(count)
        figure = row["coverage"]
        assert line_of(account, REGION, f"{figure['percent']:g}%")[2:] == [
            str(figure["enis_to_mirror"]),
            str(figure["enis_mirrored"]),
            f"{figure['percent']:g}%",
            *", ".join(f"{count} {reason}" for reason, count in figure["unmirrored"].items()).split(),
        ]
    totals = report["totals"]
    assert line_of("total,", "audited", "50%")[3:] == [
        "8",
        "4",
        "50%",
        "1",
        "eni-session-limit,",
        "3",
        "missing-session",
    ]
    assert line_of("total,", "audited", "of")[3:] == [
        str(totals["sessions"]["ours"]),
        str(totals["sessions"]["others"]),
        str(totals["changes"]["creates"]),
        str(totals["changes"]["deletes"]),
        str(totals["changes"]["moves"]),
        "1",
        str(totals["sessions"]["ours_after"]),
        "2",
        "of",
        "2",
    ]
    assert line_of("total,", "audited", f"${totals['cost']['monthly_now']:,.2f}")[3:] == [
        f"${totals['cost']['monthly_now']:,.2f}",
        f"${totals['cost']['monthly_after']:,.2f}",
    ]
    assert line_of(C, REGION, "(AccessDenied):")[:4] == [C, REGION, "AssumeRole", "of"]
    assert lines[-2] == "Drift: yes in 2 of 2 account-regions audited"
    assert lines[-1].startswith("Incomplete: 1 of 3 account-regions could not be audited")


def test_the_text_report_fits_80_columns(organization: Organization, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(organization.pool, "--accounts", f"{A},{B},{C}", "--width", "80") == 2
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80, out
    assert f"arn:aws:iam::{C}:role/{ROLE}" in out.split()  # wrapped between words, never inside an ARN


def test_accounts_that_all_have_the_role_exit_1_with_drift(
    strict: StrictAws, capsys: pytest.CaptureFixture[str]
) -> None:
    a, pool_a = drifting_member_a(strict)
    b, pool_b = drifting_member_b(strict)
    a.audit_role()
    b.audit_role()

    code = run([pool_a, pool_b], "--accounts", f"{A},{B}", "--json")

    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert (report["complete"], report["drift"]) == (True, True)
    assert [figures(row) for row in report["account_regions"]] == [EXPECTED_A, EXPECTED_B]


def clean_member(account_id: str) -> tuple[Member, str]:
    member = Member(account_id)
    pool = member.eni_target()
    filter_id = member.stack_filter()
    instance, _ = member.mirrored(pool, filter_id)
    member.foreign_session(member.enis_of(instance)[0], pool, filter_id, 2)
    member.launch(tags={"Name": "not asked"})
    member.audit_role()
    return member, pool


def test_a_target_no_account_has_is_a_typo_and_exits_2_one_missing_in_some_is_named_in_theirs(
    strict: StrictAws, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given two clean accounts, each with its own target (one set of settings names both), and a typo in TargetIds
    _, pool_a = clean_member(A)
    _, pool_b = clean_member(B)
    typo = "tmt-0123456789abcdef0"

    code = run([pool_a, pool_b, typo], "--accounts", f"{A},{B}", "--json")

    # Then each account-region names what it lacks; the typo, which none has, exits 2 with one line
    out, err = capsys.readouterr()
    rows = rows_by_account(json.loads(out))
    assert {account: [r["id"] for r in row["unknown_ids"]] for account, row in rows.items()} == {
        A: [pool_b, typo],
        B: [pool_a, typo],
    }
    assert json.loads(out)["totals"]["unknown_everywhere"] == [{"setting": "--targets", "id": typo}]
    assert code == 2
    assert err == f"mirror-audit: Unknown IDs: no account-region audited has --targets {typo} (a typo?)\n"
    # Without the typo: no exit code 2 for a target only one account has (a StackSet may override TargetIds)
    assert run([pool_a, pool_b], "--accounts", f"{A},{B}", "--width", "0") == 0
    text = capsys.readouterr().out
    assert f"{A} {REGION}  --targets (TargetIds)  {pool_b}" in text


def test_accounts_without_drift_exit_0(strict: StrictAws, capsys: pytest.CaptureFixture[str]) -> None:
    _, pool_a = clean_member(A)
    _, pool_b = clean_member(B)

    code = run([pool_a, pool_b], "--accounts", f"{A},{B}")

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[-1] == "Drift: none in the 2 account-regions audited"


def test_the_organization_lists_its_active_accounts_page_by_page_and_audits_each(
    strict: StrictAws, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an organization (this account its management account) with four member accounts, one of them closed
    organizations = boto3.client("organizations")
    organizations.create_organization(FeatureSet="ALL")
    created = [
        organizations.create_account(AccountName=f"member-{n}", Email=f"member-{n}@example.com")["CreateAccountStatus"][
            "AccountId"
        ]
        for n in range(4)
    ]
    closed = created[3]
    organizations.close_account(AccountId=closed)
    # every account has the stack and its role, the management account too; each mirrors one instance
    pools = []
    for account in [AUDIT_ACCOUNT, *created]:
        _, pool = clean_member(account)
        if account != closed:  # no account audited has its target: it would be named as a typo (exit code 2)
            pools.append(pool)
    Member(created[0]).launch(tags={"mirror": "true"})  # drift in the first member: a missing session
    strict.page_cap = 2  # ListAccounts answers in pages of 2: every page must be read

    code = run(pools, "--organization", "--json")

    report = json.loads(capsys.readouterr().out)
    audited = sorted([AUDIT_ACCOUNT, *created[:3]])
    assert [row["account"] for row in report["account_regions"]] == audited
    assert all(row["audited"] for row in report["account_regions"])
    assert report["inactive_accounts"] == [{"account": closed, "state": "SUSPENDED"}]
    assert report["source"] == "organization"
    assert {row["account"]: row["changes"]["creates"] for row in report["account_regions"]} == {
        account: int(account == created[0]) for account in audited
    }
    assert report["totals"]["sessions"] == {"ours": 4, "others": 4, "ours_after": 5}
    assert code == 1


def test_serial_and_parallel_give_the_same_report(
    organization: Organization, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = []
    for workers in ("1", "3"):
        assert run(organization.pool, "--accounts", f"{C},{B},{A}", "--json", "--parallel", workers) == 2
        reports.append(json.loads(capsys.readouterr().out))
    assert reports[0] == reports[1]


def test_several_regions_assume_each_region_s_role(strict: StrictAws, capsys: pytest.CaptureFixture[str]) -> None:
    # Given an account whose stack is deployed in us-east-1 only (one role, one Region's resources)
    _, pool = clean_member(A)

    # When it is audited in us-east-1 and us-west-2, through roles named per Region
    code = run([pool], "--accounts", A, "--regions", "us-west-2,us-east-1", "--json")

    # Then us-east-1 is audited, and us-west-2 has no role to enter
    report = json.loads(capsys.readouterr().out)
    assert code == 2
    assert [(row["account"], row["region"], row["audited"]) for row in report["account_regions"]] == [
        (A, "us-east-1", True),
        (A, "us-west-2", False),
    ]
    assert "role/traffic-mirroring-audit-us-west-2 was denied (AccessDenied)" in report["account_regions"][1]["error"]


def test_a_role_name_without_region_and_a_given_filter_are_used_everywhere(
    strict: StrictAws, capsys: pytest.CaptureFixture[str]
) -> None:
    member = Member(A)
    pool = member.eni_target()
    filter_id = member.mirror_filter()  # not tagged by a stack: passed as --filter-id
    member.mirrored(pool, filter_id)
    member.audit_role(name="org-reader")

    code = run([pool], "--accounts", A, "--role-name", "org-reader", "--filter-id", filter_id, "--json")

    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["account_regions"][0]["role_arn"] == f"arn:aws:iam::{A}:role/org-reader"
    assert (report["filter_id"], report["account_regions"][0]["filter_id"]) == (filter_id, filter_id)


def test_an_account_without_its_stack_filter_is_listed_with_what_to_do(
    strict: StrictAws, capsys: pytest.CaptureFixture[str]
) -> None:
    member = Member(A)
    pool = member.eni_target()
    member.mirror_filter()  # a filter, but not the stack's
    member.audit_role()

    code = run([pool], "--accounts", A, "--json")

    row = json.loads(capsys.readouterr().out)["account_regions"][0]
    assert code == 2
    assert row["error"] == (
        f"invalid settings: no single filter tagged mirror-managed-by={STACK} here (found none): pass --filter-id, "
        "or deploy the stack with an empty FilterId (it creates and tags its filter)"
    )


# -- the guards --------------------------------------------------------------------------------------------------
def test_the_caller_s_clients_may_only_assume_identify_and_list_accounts() -> None:
    entry = EntryGuard()
    for service, operations in ENTRY_OPERATIONS.items():
        for operation in operations:
            assert entry.permits(service, operation)
    assert {
        "sts": frozenset({"AssumeRole", "GetCallerIdentity"}),
        "organizations": frozenset({"ListAccounts"}),
    } == ENTRY_OPERATIONS
    for service, operation in (
        ("sts", "AssumeRoleWithWebIdentity"),
        ("sts", "GetSessionToken"),
        ("organizations", "CreateAccount"),
        ("organizations", "DescribeOrganization"),  # a read, but not one the audit needs
        ("ec2", "DescribeInstances"),  # the caller's own account is not read
        ("iam", "CreateRole"),
    ):
        assert not entry.permits(service, operation), operation
    # The member accounts' clients keep the one-account allow-list and its naming rule: no AssumeRole from there
    member = ReadOnlyGuard()
    assert not member.permits("sts", "AssumeRole")
    assert not ReadOnlyGuard({**READ_ONLY_OPERATIONS, "sts": frozenset({"AssumeRole"})}).permits("sts", "AssumeRole")


def test_the_entry_guard_refuses_before_the_call_is_sent(strict: StrictAws) -> None:
    organizations = EntryGuard().protect(boto3.client("organizations"))
    with pytest.raises(MutatingCallRefused, match="organizations:CreateOrganization"):
        organizations.create_organization(FeatureSet="ALL")
    with pytest.raises(MutatingCallRefused, match="organizations:DescribeOrganization"):
        organizations.describe_organization()


# -- the command line --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--regions", "us-east-1"],
            "mirror-audit: --regions need --accounts or --organization (see mirror-audit --help)",
        ),
        (
            ["--role-name", "x", "--parallel", "2"],
            "mirror-audit: --role-name, --parallel need --accounts or --organization (see mirror-audit --help)",
        ),
        (
            ["--accounts", "1234"],
            "mirror-audit: argument --accounts: '1234' is not a 12-digit AWS account ID (see mirror-audit --help)",
        ),
        (
            ["--accounts", A, "--organization"],
            "mirror-audit: argument --organization: not allowed with argument --accounts (see mirror-audit --help)",
        ),
        (
            ["--organization", "--regions", "us-east-1,mars"],
            "mirror-audit: argument --regions: 'mars' is not a Region name such as us-east-1 (see mirror-audit --help)",
        ),
        (
            ["--organization", "--parallel", "0"],
            "mirror-audit: argument --parallel: 0 must be between 1 and 64 (see mirror-audit --help)",
        ),
    ],
)
def test_bad_organization_flags_exit_2_with_one_line(
    aws_env: None, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert command.main(["--filter-id", "tmf-1", *argv]) == 2
    assert capsys.readouterr().err == message + "\n"


def test_the_whole_audit_fails_in_one_line_when_the_caller_cannot_list_the_organization(
    strict: StrictAws, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["tmt-1"], "--organization")  # this account is in no organization
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert re.fullmatch(r"mirror-audit: ListAccounts failed \(AWSOrganizationsNotInUseException\): .+\n", err), err


def test_a_stack_set_s_stacks_named_differently_in_each_account_are_recognised_by_a_pattern(
    strict: StrictAws, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given two accounts whose stacks a StackSet named StackSet-org-<UUID>, each tagging its filter and sessions so
    stacks = {A: "StackSet-org-0a1b2c3d", B: "StackSet-org-4e5f6a7b"}
    pools = []
    for account, stack in stacks.items():
        member = Member(account, stack)
        pool = member.eni_target()
        filter_id = member.stack_filter()
        instance, _ = member.mirrored(pool, filter_id)
        member.untag(instance, "mirror")  # drift: its session is an orphan
        member.mirrored(pool, filter_id)
        member.audit_role()
        pools.append(pool)

    # When the audit names the stacks by the StackSet's pattern
    code = run(pools, "--accounts", f"{A},{B}", "--width", "0", "--managed-by", "StackSet-org-*")
    out = capsys.readouterr().out
    assert code == 1
    assert run_json(pools, "--managed-by", "StackSet-org-*") == 1
    report = json.loads(capsys.readouterr().out)

    # Then each account's sessions are recognised by its own stack's name, and the text says which
    rows = rows_by_account(report)
    for account, stack in stacks.items():
        assert rows[account]["managed_by"] == stack
        assert rows[account]["sessions"]["ours"] == 2
        assert rows[account]["reasons"]["deletes"] == {"tag-removed": 1}
        assert f"{account} {REGION} {stack} {rows[account]['filter_id']}" in " ".join(out.split())
    assert report["managed_by"] == "StackSet-org-*"


def test_one_parameter_set_for_a_stack_set_target_pool_by_tag_filters_and_names_per_account(
    strict: StrictAws, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given two accounts of a StackSet with TargetPool=prod: each stack named apart, its own filter, its own target
    # tagged mirror-pool=prod; in each, one mirrored instance and one whose session is missing
    stacks = {A: "StackSet-org-0a1b2c3d", B: "StackSet-org-4e5f6a7b"}
    for account, stack in stacks.items():
        member = Member(account, stack)
        pool = member.eni_target()
        member.ec2.create_tags(Resources=[pool], Tags=[{"Key": "mirror-pool", "Value": "prod"}])
        member.mirrored(pool, member.stack_filter())
        member.launch(tags={"mirror": "true"})
        member.audit_role()

    # When the audit is given the StackSet's parameters only: no target ID, no filter ID, the stacks' name pattern
    stack_set = ["--target-pool", "prod", "--managed-by", "StackSet-org-*"]
    code = command.main(["--region", REGION, "--accounts", f"{A},{B}", *stack_set, "--json"])

    # Then each account places its missing session on its own tagged target
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert (report["target_ids"], report["target_pool"]) == ([], "prod")
    for row in report["account_regions"]:
        assert row["reasons"]["creates"] == {"missing-session": 1}, row
        assert row["skips"] == {}
        assert row["sessions"] == {"ours": 1, "others": 0, "ours_after": 2}
