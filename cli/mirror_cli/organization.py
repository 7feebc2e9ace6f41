"""``mirror-audit --accounts …`` or ``--organization``: the one-account audit in every account and Region, one report.

The caller's credentials (the organization's management account, or a delegated administrator of AWS Organizations)
name the accounts: ``--accounts``, or every ACTIVE account of Organizations ListAccounts. In each account-region,
STS AssumeRole on the audit role the stack creates there (``traffic-mirroring-audit-<region>``, trusted by the audit
account) gives temporary credentials, and with them the same guarded read-only clients run the same audit as
``mirror-audit`` does in one account: the same settings everywhere (one parameter set serves every account), with
that account's ID for the ownership rule. What a StackSet makes differ from account to account is read in each
(``stack_settings``): without ``--filter-id``, the filter the account's stack created; with a ``--managed-by``
pattern, the account's stack name (the sessions' marker). Accounts are audited in parallel (threads, one boto3
Session per worker: boto3 sessions are not thread-safe); the report lists them by (account, Region), whatever
finished first.

An account or Region that cannot be entered or audited is listed with its one-line reason and does not stop the
others. Exit code: 2 when any could not be audited (the report is incomplete, and its last line says so), else 1
when any has drift, else 0.

Reading AWS (``audit_organization`` and the functions above it) and the report (``member_summary`` onwards: plain
arithmetic over one-account reports, no AWS) are kept apart; the flags are ``mirror_cli.flags``', the text layout
``mirror_cli.text``'s.
"""

from __future__ import annotations

import fnmatch
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from botocore import xform_name

from mirror_cli.account import audit_account
from mirror_cli.aws import (
    ASSUME_ROLE,
    AwsTarget,
    Caller,
    EntryGuard,
    ReadOnlyGuard,
    caller,
    client,
    read_only_clients,
    setting_up,
)
from mirror_cli.failures import expected, explain
from traffic_mirroring.config import Settings
from traffic_mirroring.errors import AwsApiError, ConfigurationError, MirroringError, call_aws

DEFAULT_ROLE_NAME = "traffic-mirroring-audit-{region}"  # the stack's audit role, one per Region (IAM is global)
DEFAULT_WORKERS = 8
ROLE_SESSION_NAME = "mirror-audit"  # what CloudTrail shows in each member account
ACTIVE = "ACTIVE"

ClientHook = Callable[[Any, str], None]
"""Called with each AWS client the organization audit builds and the account it is for ("" for the calls made as the
caller: GetCallerIdentity, ListAccounts). The benchmark counts calls with it; the audit itself needs none."""


@dataclass(frozen=True)
class Request:
    """What to audit: ``accounts`` (None: every ACTIVE account of the organization) in each of ``regions``."""

    accounts: tuple[str, ...] | None
    regions: tuple[str, ...]
    role_name: str = DEFAULT_ROLE_NAME
    workers: int = DEFAULT_WORKERS


# -- reading AWS -----------------------------------------------------------------------------------------------
def role_arn(partition: str, account: str, role_name: str, region: str) -> str:
    return f"arn:{partition}:iam::{account}:role/{role_name.replace('{region}', region)}"


def _every_item(operation: str, client: Any, key: str) -> list[dict[str, Any]]:
    """The items under ``key`` of every page of ``operation`` (read with the SDK's paginator, through
    ``errors.call_aws``)."""
    method = client.get_paginator(xform_name(operation))
    return call_aws(operation, lambda: [item for page in method.paginate() for item in page.get(key, [])])


def organization_accounts(organizations: Any) -> tuple[tuple[str, ...], dict[str, str]]:
    """Every page of ListAccounts: the ACTIVE accounts (sorted), and the others with their state.

    ``State`` decides; ``Status``, which AWS retired on 2026-09-09, only when an answer has no ``State``.
    """
    active: list[str] = []
    inactive: dict[str, str] = {}
    for account in _every_item("ListAccounts", organizations, "Accounts"):
        state = str(account.get("State") or account.get("Status") or "UNKNOWN")
        if state == ACTIVE:
            active.append(str(account["Id"]))
        else:
            inactive[str(account["Id"])] = state
    return tuple(sorted(active)), dict(sorted(inactive.items()))


def assume(sts: Any, arn: str) -> Mapping[str, str]:
    """Temporary credentials of the member account's audit role."""
    answer = call_aws(ASSUME_ROLE, sts.assume_role, RoleArn=arn, RoleSessionName=ROLE_SESSION_NAME)
    credentials: Mapping[str, str] = answer["Credentials"]
    return credentials


def is_pattern(managed_by: str) -> bool:
    """A ``--managed-by`` that names many stacks (``StackSet-traffic-mirroring-*``): each account's is its own."""
    return any(char in managed_by for char in "*?[")


def stack_settings(ec2: Any, settings: Settings) -> Settings:
    """The settings of the stack in this account, when they differ from account to account.

    Without a filter (``filter_id`` ""), the filter is the one the stack created (its FilterId parameter empty), the
    filter tagged with the stack's marker. With a ``managed_by`` pattern, the marker is the stack's name in this
    account: a StackSet names each of its stacks ``StackSet-<name>-<UUID>``, and the stack tags its filter, as its
    sessions, with that name. Both come from the filters tagged with a marker the pattern matches: one, or the
    account cannot be audited (none: no stack here, or one deployed with a FilterId; several: several stacks).
    """
    if settings.filter_id and not is_pattern(settings.managed_by):
        return settings
    filters = _every_item("DescribeTrafficMirrorFilters", ec2, "TrafficMirrorFilters")
    key = settings.managed_by_tag_key
    tagged = sorted(
        (str(tag["Value"]), str(f["TrafficMirrorFilterId"]))
        for f in filters
        for tag in f.get("Tags", [])
        if tag.get("Key") == key and fnmatch.fnmatchcase(str(tag.get("Value", "")), settings.managed_by)
    )
    found = {marker for marker, _ in tagged} if settings.filter_id else {*tagged}
    if len(found) != 1:
        listed = ", ".join(f"{filter_id} ({marker})" for marker, filter_id in tagged)
        what = "filter" if not settings.filter_id else "stack name on a filter"
        raise ConfigurationError(
            f"no single {what} tagged {key}={settings.managed_by} here (found {listed or 'none'}): pass "
            + ("--filter-id" if not settings.filter_id else "--managed-by with this account's stack name")
            + ", or deploy the stack with an empty FilterId (it creates and tags its filter)"
        )
    marker, filter_id = tagged[0]
    return replace(settings, managed_by=marker, filter_id=settings.filter_id or filter_id)


class WrongAccount(MirroringError):
    """The role's credentials act in another account than the one audited (a wrong ARN, or a broken endpoint)."""


class _WorkerSessions:
    """One boto3 Session per worker thread, made on its first task: boto3 sessions are not thread-safe.

    They share one botocore loader: the service models it reads and parses (EC2's alone takes a few tenths of a
    second) are read-only data, parsed once for every worker instead of once per worker.
    """

    def __init__(self, profile: str | None) -> None:
        self._profile = profile
        self._local = threading.local()
        self._lock = threading.Lock()
        self._loader: Any = None

    def new(self, region: str | None = None) -> Any:
        import boto3
        import botocore.session

        core = botocore.session.Session()
        with self._lock:
            if self._loader is None:
                self._loader = core.get_component("data_loader")
        core.register_component("data_loader", self._loader)
        with setting_up():
            return boto3.session.Session(botocore_session=core, profile_name=self._profile, region_name=region)

    def get(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self.new()
        return session


@dataclass(frozen=True)
class _Member:
    """Everything one account-region task needs; ``run`` never raises an ordinary error: it reports it."""

    settings: Settings
    where: AwsTarget
    caller: Caller
    role_name: str
    guard: ReadOnlyGuard
    sessions: _WorkerSessions
    instrument: ClientHook | None
    debug: bool

    def run(self, account: str, region: str) -> dict[str, Any]:
        where = AwsTarget(region, self.where.profile, self.where.endpoint_url)
        arn = role_arn(self.caller.partition, account, self.role_name, region)
        try:
            report, others = self._audit(account, where, arn)
        except Exception as error:
            if self.debug and not expected(error):
                raise
            return not_audited(account, region, arn, self._reason(error, account, where, arn))
        return member_summary(report, others, arn)

    def _audit(self, account: str, where: AwsTarget, arn: str) -> tuple[dict[str, Any], int]:
        session = self.sessions.get()
        sts = client(session, "sts", where, EntryGuard(), region_name=where.region)
        self._observe(sts, account)
        credentials = assume(sts, arn)
        ec2, elbv2, member_sts = read_only_clients(where, self.guard, session=session, credentials=credentials)
        for made in (ec2, elbv2, member_sts):
            self._observe(made, account)
        entered = caller(member_sts).account
        if entered != account:
            raise WrongAccount(f"the credentials of {arn} act in account {entered or '(unknown)'}, not {account}")
        settings = replace(self.settings, account_id=account)  # the ownership rule: sessions of this account only
        settings = stack_settings(ec2, settings)
        audited = audit_account(settings, account, ec2, elbv2)
        return audited.report, audited.other_sessions

    def _observe(self, client: Any, account: str) -> None:
        if self.instrument is not None:
            self.instrument(client, account)

    def _reason(self, error: BaseException, account: str, where: AwsTarget, arn: str) -> str:
        if isinstance(error, AwsApiError) and error.operation == ASSUME_ROLE and error.code == "AccessDenied":
            return (
                f"AssumeRole of {arn} was denied (AccessDenied): the role must exist in account {account} and trust "
                f"the audit account {self.caller.account} (the caller is {self.caller.arn}); the stack creates it"
            )
        return " ".join(explain(error, where, debug_hint=not self.debug).split())


def audit_organization(
    settings: Settings,
    where: AwsTarget,
    request: Request,
    *,
    guard: ReadOnlyGuard | None = None,
    instrument: ClientHook | None = None,
    debug: bool = False,
) -> dict[str, Any]:
    """Audit every account-region of ``request``; returns the organization report.

    Raises (the whole audit fails, exit 2) only when the caller's own credentials cannot say who they are or list
    the organization's accounts; a member account that fails is a line of the report.
    """
    sessions = _WorkerSessions(where.profile)
    session = sessions.new(where.region or request.regions[0])
    entry = EntryGuard()
    sts = client(session, "sts", where, entry)
    _observe(instrument, sts)
    who = caller(sts)  # first: a credentials problem then reads as one, not as a failed AssumeRole in every account
    inactive: dict[str, str] = {}
    accounts = request.accounts
    if accounts is None:
        organizations = client(session, "organizations", where, entry)
        _observe(instrument, organizations)
        accounts, inactive = organization_accounts(organizations)
        if not accounts:  # auditing nothing is no verdict
            raise ConfigurationError("Organizations ListAccounts listed no ACTIVE account to audit")
    member = _Member(
        settings,
        where,
        who,
        request.role_name,
        guard or ReadOnlyGuard(),
        sessions,
        instrument,
        debug,
    )
    tasks = [(account, region) for account in sorted(accounts) for region in sorted(request.regions)]
    rows = _run_all(member, tasks, request.workers)
    return organization_report(
        rows,
        settings,
        audit_account=who.account,
        source="accounts" if request.accounts is not None else "organization",
        role_name=request.role_name,
        regions=sorted(request.regions),
        inactive=inactive,
    )


def _observe(instrument: ClientHook | None, client: Any) -> None:
    if instrument is not None:
        instrument(client, "")


def _run_all(member: _Member, tasks: Sequence[tuple[str, str]], workers: int) -> list[dict[str, Any]]:
    """Each task's row, in the order of ``tasks``; at most ``workers`` at once."""
    if not tasks:
        return []
    pool = ThreadPoolExecutor(max_workers=min(workers, len(tasks)), thread_name_prefix="mirror-audit")
    try:
        futures = [pool.submit(member.run, account, region) for account, region in tasks]
        return [future.result() for future in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # an interrupt or a --debug error: start nothing more


# -- the report (no AWS) -----------------------------------------------------------------------------------------
def _by_reason(rows: Sequence[Mapping[str, Any]], key: str = "reason") -> dict[str, int]:
    return dict(sorted(Counter(str(row[key]) for row in rows).items()))


def member_summary(report: Mapping[str, Any], other_sessions: int, arn: str = "") -> dict[str, Any]:
    """One account-region's line of the organization report, from its one-account report (``account.plan_report``).

    A create that asks AWS whether an unlisted instance type can be a source is not drift (AWS decides), as in the
    one-account report: it is counted apart, by instance type, under ``asking_aws``.
    """
    creates = [row for row in report["creates"] if not row.get("probe_type")]
    probes = [row for row in report["creates"] if row.get("probe_type")]
    return {
        "account": report["account"],
        "region": report["region"],
        "role_arn": arn,
        "managed_by": report["managed_by"],
        "filter_id": report["filter_id"],
        "audited": True,
        "error": None,
        "sessions": {
            "ours": report["sessions"]["managed_now"],
            "others": other_sessions,
            "ours_after": report["sessions"]["managed_after"],
        },
        "changes": {"creates": len(creates), "deletes": len(report["deletes"]), "moves": len(report["moves"])},
        "reasons": {
            "creates": _by_reason(creates),
            "deletes": _by_reason(report["deletes"]),
            "moves": _by_reason(report["moves"]),
        },
        "skips": _by_reason(report["skips"]),
        "asking_aws": _by_reason(probes, "probe_type"),
        "cost": {"monthly_now": report["cost"]["monthly_now"], "monthly_after": report["cost"]["monthly_after"]},
        "coverage": coverage_summary(report["coverage"]),
        "drift": bool(report["drift"]),
        # Targets and filters the settings name that this account-region does not have or cannot see (see totals).
        "unknown_ids": [dict(row) for row in report.get("unknown_ids", [])],
    }


def coverage_summary(figure: Mapping[str, Any]) -> dict[str, Any]:
    """An account's coverage as read (README, "Coverage"): ENIs that should be mirrored, those mirrored, their
    percentage, and the rest by reason. Its ENI rows stay in the one-account report (mirror-audit in that account)."""
    return {key: figure[key] for key in ("enis_to_mirror", "enis_mirrored", "percent", "unmirrored")}


def _coverage_total(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The organization's coverage: ENIs summed over the accounts, not an average of their percentages."""
    to_mirror = sum(row["coverage"]["enis_to_mirror"] for row in rows)
    mirrored = sum(row["coverage"]["enis_mirrored"] for row in rows)
    return {
        "enis_to_mirror": to_mirror,
        "enis_mirrored": mirrored,
        "percent": round(100 * mirrored / to_mirror, 2) if to_mirror else None,
        "unmirrored": _add([row["coverage"]["unmirrored"] for row in rows]),
    }


def not_audited(account: str, region: str, arn: str, reason: str) -> dict[str, Any]:
    """The line of an account-region that could not be entered or audited: its reason, and no figures."""
    return {
        "account": account,
        "region": region,
        "role_arn": arn,
        "managed_by": None,
        "filter_id": None,
        "audited": False,
        "error": reason,
        "sessions": None,
        "changes": None,
        "reasons": None,
        "skips": None,
        "asking_aws": None,
        "cost": None,
        "coverage": None,
        "drift": None,
        "unknown_ids": None,
    }


def _add(counts: Sequence[Mapping[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for count in counts:
        total.update(count)
    return dict(sorted(total.items()))


def totals(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Sums over the account-regions that were audited (those not audited add nothing, and are counted)."""
    audited = [row for row in rows if row["audited"]]
    return {
        "audited": len(audited),
        "not_audited": len(rows) - len(audited),
        "with_drift": sum(1 for row in audited if row["drift"]),
        "with_unknown_ids": sum(1 for row in audited if row.get("unknown_ids")),
        "unknown_everywhere": unknown_everywhere(audited),
        "sessions": _add([row["sessions"] for row in audited]),
        "changes": _add([row["changes"] for row in audited]),
        "reasons": {kind: _add([row["reasons"][kind] for row in audited]) for kind in ("creates", "deletes", "moves")},
        "skips": _add([row["skips"] for row in audited]),
        "asking_aws": _add([row["asking_aws"] for row in audited]),
        "cost": {key: round(sum(row["cost"][key] for row in audited), 2) for key in ("monthly_now", "monthly_after")},
        "coverage": _coverage_total(audited),
    }


def unknown_ids(row: Mapping[str, Any]) -> set[tuple[str, str]]:
    return {(str(r["setting"]), str(r["id"])) for r in row.get("unknown_ids") or []}


def unknown_everywhere(audited: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The IDs no audited account-region has: a typo, for certain. One missing in some account-regions only is named
    in theirs but proves nothing: a StackSet's parameter overrides may give each account and Region its own pool and
    filter, which this audit, with one set of settings, cannot see."""
    if not audited:
        return []
    common = set.intersection(*(unknown_ids(row) for row in audited))
    return [{"setting": setting, "id": id_} for setting, id_ in sorted(common)]


def organization_report(
    rows: Sequence[Mapping[str, Any]],
    settings: Settings,
    *,
    audit_account: str,
    source: str,
    role_name: str,
    regions: Sequence[str],
    inactive: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The organization report (the --json output): one line per account-region in (account, Region) order,
    then the totals over those audited. ``complete`` is False when any could not be audited."""
    ordered = sorted(rows, key=lambda row: (row["account"], row["region"]))
    summed = totals(ordered)
    return {
        "audit_account": audit_account,
        "source": source,
        "role_name": role_name,
        "regions": list(regions),
        "managed_by": settings.managed_by,
        "target_ids": list(settings.target_ids),
        "target_pool": settings.target_pool,
        "filter_id": settings.filter_id or None,  # None: each account's own (its stack's), in its line
        "hourly_price": settings.session_hourly_price,
        "inactive_accounts": [{"account": a, "state": s} for a, s in sorted((inactive or {}).items())],
        "account_regions": [dict(row) for row in ordered],
        "totals": summed,
        "complete": summed["not_audited"] == 0,
        "drift": summed["with_drift"] > 0,
    }
