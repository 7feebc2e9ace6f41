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
arithmetic over one-account reports, no AWS) are kept apart.
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

from traffic_mirroring.audit import (
    EXIT_DRIFT,
    EXIT_ERROR,
    EXIT_NO_DRIFT,
    AwsTarget,
    Cell,
    MutatingCallRefused,
    ReadOnlyGuard,
    audit_account,
    caller_account,
    client_config,
    explain,
    fit_table,
    pool_text,
    read_only_clients,
    wrap_text,
)
from traffic_mirroring.config import Settings
from traffic_mirroring.errors import AwsApiError, ConfigurationError, MirroringError

DEFAULT_ROLE_NAME = "traffic-mirroring-audit-{region}"  # the stack's audit role, one per Region (IAM is global)
DEFAULT_WORKERS = 8
ROLE_SESSION_NAME = "mirror-audit"  # what CloudTrail shows in each member account
ACTIVE = "ACTIVE"

# The calls made with the caller's own credentials, and nothing else. AssumeRole is not a read, so ReadOnlyGuard's
# naming rule (Describe/List/Get) would refuse it: this guard admits it by name. It is safe: AssumeRole changes
# nothing in either account (no resource, no policy; CloudTrail records it), and the temporary credentials it
# returns are only ever used through clients that ReadOnlyGuard protects with the one-account allow-list, for a
# role that itself may only read. The member accounts' clients keep READ_ONLY_OPERATIONS and the naming rule.
ENTRY_OPERATIONS: Mapping[str, frozenset[str]] = {
    "sts": frozenset({"AssumeRole", "GetCallerIdentity"}),
    "organizations": frozenset({"ListAccounts"}),
}
ASSUME_ROLE = "AssumeRole"

ClientHook = Callable[[Any, str], None]
"""Called with each AWS client the organization audit builds and the account it is for ("" for the calls made as the
caller: GetCallerIdentity, ListAccounts). The benchmark counts calls with it; the audit itself needs none."""


class EntryGuard(ReadOnlyGuard):
    """ReadOnlyGuard for the caller's own clients: ENTRY_OPERATIONS only, each a read by its name or AssumeRole."""

    def __init__(self) -> None:
        super().__init__(ENTRY_OPERATIONS)

    def permits(self, service: str, operation: str) -> bool:
        listed = operation in self.allowed.get(service, frozenset())
        return listed and (operation == ASSUME_ROLE or super().permits(service, operation))


@dataclass(frozen=True)
class Request:
    """What to audit: ``accounts`` (None: every ACTIVE account of the organization) in each of ``regions``."""

    accounts: tuple[str, ...] | None
    regions: tuple[str, ...]
    role_name: str = DEFAULT_ROLE_NAME
    workers: int = DEFAULT_WORKERS


# -- the command line ------------------------------------------------------------------------------------------
def account_list(text: str) -> tuple[str, ...]:
    """``--accounts``: comma-separated 12-digit account IDs, sorted, without repeats."""
    accounts = [item.strip() for item in text.split(",") if item.strip()]
    for account in accounts:
        if not re.fullmatch(r"\d{12}", account):
            raise argparse.ArgumentTypeError(f"{account!r} is not a 12-digit AWS account ID")
    if not accounts:
        raise argparse.ArgumentTypeError("no account ID given")
    return tuple(sorted(set(accounts)))


def region_list(text: str) -> tuple[str, ...]:
    """``--regions``: comma-separated Region names, in the order given, without repeats."""
    regions = [item.strip() for item in text.split(",") if item.strip()]
    for region in regions:
        if not re.fullmatch(r"[a-z]{2}(-[a-z0-9]+)+-\d+", region):
            raise argparse.ArgumentTypeError(f"{region!r} is not a Region name such as us-east-1")
    if not regions:
        raise argparse.ArgumentTypeError("no Region given")
    return tuple(dict.fromkeys(regions))


def worker_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= count <= 64:
        raise argparse.ArgumentTypeError(f"{count} must be between 1 and 64")
    return count


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "every account of an organization (with the caller's credentials: the management account or a delegated "
        "administrator)"
    )
    which = group.add_mutually_exclusive_group()
    which.add_argument(
        "--accounts", type=account_list, metavar="ID,ID", help="audit these accounts (comma-separated account IDs)"
    )
    which.add_argument(
        "--organization", action="store_true", help="audit every ACTIVE account that Organizations ListAccounts lists"
    )
    group.add_argument(
        "--role-name",
        help=f"role to assume in each account; {{region}} becomes the Region (default {DEFAULT_ROLE_NAME}, the role "
        "the stack creates)",
    )
    group.add_argument(
        "--regions", type=region_list, metavar="R,R", help="Regions to audit in each account (default: --region's)"
    )
    group.add_argument(
        "--parallel",
        type=worker_count,
        metavar="N",
        help=f"accounts audited at once (default {DEFAULT_WORKERS}; 1: one after the other)",
    )


def wanted(args: argparse.Namespace) -> bool:
    """Whether the command line asks for the organization audit (else: the one-account audit, as before)."""
    return args.accounts is not None or bool(args.organization)


def misplaced_flags(args: argparse.Namespace) -> list[str]:
    """Organization flags given without --accounts or --organization."""
    flags = {"--role-name": args.role_name, "--regions": args.regions, "--parallel": args.parallel}
    return [flag for flag, value in flags.items() if value is not None and not wanted(args)]


def request_from(args: argparse.Namespace, where: AwsTarget) -> Request:
    regions = args.regions or ((where.region,) if where.region else _configured_region(where))
    return Request(
        accounts=None if args.organization else args.accounts,
        regions=regions,
        role_name=args.role_name or DEFAULT_ROLE_NAME,
        workers=args.parallel or DEFAULT_WORKERS,
    )


def _configured_region(where: AwsTarget) -> tuple[str, ...]:
    import boto3

    region = boto3.session.Session(profile_name=where.profile).region_name
    if not region:
        raise NoRegionError()
    return (str(region),)


# -- reading AWS -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Caller:
    """Who runs the audit: the account the member roles must trust, and the partition of every role ARN."""

    account: str
    arn: str

    @property
    def partition(self) -> str:
        return self.arn.split(":")[1] if self.arn.startswith("arn:") else "aws"


def role_arn(partition: str, account: str, role_name: str, region: str) -> str:
    return f"arn:{partition}:iam::{account}:role/{role_name.replace('{region}', region)}"


def _aws_error(operation: str, error: ClientError | BotoCoreError) -> AwsApiError:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return AwsApiError(operation, details.get("Code", "Unknown"), details.get("Message", ""))
    return AwsApiError(operation, type(error).__name__, str(error))


def caller(sts: Any) -> Caller:
    try:
        identity = sts.get_caller_identity()
    except (ClientError, BotoCoreError) as error:
        raise _aws_error("GetCallerIdentity", error) from error
    return Caller(str(identity.get("Account", "")), str(identity.get("Arn", "")))


def organization_accounts(organizations: Any) -> tuple[tuple[str, ...], dict[str, str]]:
    """Every page of ListAccounts: the ACTIVE accounts (sorted), and the others with their state.

    ``State`` decides; ``Status``, which AWS retired on 2026-09-09, only when an answer has no ``State``.
    """
    active: list[str] = []
    inactive: dict[str, str] = {}
    try:
        for page in organizations.get_paginator("list_accounts").paginate():
            for account in page.get("Accounts", []):
                state = str(account.get("State") or account.get("Status") or "UNKNOWN")
                if state == ACTIVE:
                    active.append(str(account["Id"]))
                else:
                    inactive[str(account["Id"])] = state
    except (ClientError, BotoCoreError) as error:
        raise _aws_error("ListAccounts", error) from error
    return tuple(sorted(active)), dict(sorted(inactive.items()))


def assume(sts: Any, arn: str) -> Mapping[str, str]:
    """Temporary credentials of the member account's audit role."""
    try:
        credentials: Mapping[str, str] = sts.assume_role(RoleArn=arn, RoleSessionName=ROLE_SESSION_NAME)["Credentials"]
    except (ClientError, BotoCoreError) as error:
        raise _aws_error(ASSUME_ROLE, error) from error
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
    try:
        filters = [
            found
            for page in ec2.get_paginator("describe_traffic_mirror_filters").paginate()
            for found in page.get("TrafficMirrorFilters", [])
        ]
    except (ClientError, BotoCoreError) as error:
        raise _aws_error("DescribeTrafficMirrorFilters", error) from error
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
            if self.debug and not isinstance(error, (MirroringError, BotoCoreError, MutatingCallRefused)):
                raise
            return not_audited(account, region, arn, self._reason(error, account, where, arn))
        return member_summary(report, others, arn)

    def _audit(self, account: str, where: AwsTarget, arn: str) -> tuple[dict[str, Any], int]:
        session = self.sessions.get()
        sts = EntryGuard().protect(
            session.client("sts", region_name=where.region, endpoint_url=where.endpoint_url, config=client_config())
        )
        self._observe(sts, account)
        credentials = assume(sts, arn)
        ec2, elbv2, member_sts = read_only_clients(where, self.guard, session=session, credentials=credentials)
        for client in (ec2, elbv2, member_sts):
            self._observe(client, account)
        entered = caller_account(member_sts)
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
    sts = entry.protect(session.client("sts", endpoint_url=where.endpoint_url, config=client_config()))
    _observe(instrument, sts)
    who = caller(sts)  # first: a credentials problem then reads as one, not as a failed AssumeRole in every account
    inactive: dict[str, str] = {}
    accounts = request.accounts
    if accounts is None:
        organizations = entry.protect(
            session.client("organizations", endpoint_url=where.endpoint_url, config=client_config())
        )
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
    """One account-region's line of the organization report, from its one-account report (``audit.plan_report``).

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


def exit_code(report: Mapping[str, Any]) -> int:
    """2 when the report is incomplete or the settings name an ID no account-region audited has (a typo), else 1
    when any account-region has drift, else 0."""
    if not report["complete"] or report["totals"].get("unknown_everywhere"):
        return EXIT_ERROR
    return EXIT_DRIFT if report["drift"] else EXIT_NO_DRIFT


def incomplete_line(report: Mapping[str, Any]) -> str:
    summed = report["totals"]
    count = summed["audited"] + summed["not_audited"]
    return (
        f"Incomplete: {summed['not_audited']} of {count} account-regions could not be audited (listed above); the "
        f"totals cover the {summed['audited']} audited"
    )


def error_line(report: Mapping[str, Any]) -> str:
    """The one line on stderr with exit code 2: what is incomplete, and the IDs no account-region has."""
    summed = report["totals"]
    lines = [incomplete_line(report)] if not report["complete"] else []
    if summed.get("unknown_everywhere"):
        named = ", ".join(f"{row['setting']} {row['id']}" for row in summed["unknown_everywhere"])
        lines.append(f"Unknown IDs: no account-region audited has {named} (a typo?)")
    return "; ".join(lines)


def _where(row: Mapping[str, Any]) -> list[str]:
    return [row["account"], row["region"]]


def _reason_rows(row: Mapping[str, Any]) -> list[list[str]]:
    """(what, reason, count) for one line: its changes by reason, its skips, its creates that ask AWS."""
    found = [
        [what, reason, str(count)]
        for kind, what in (("creates", "create"), ("deletes", "delete"), ("moves", "move"))
        for reason, count in row["reasons"][kind].items()
    ]
    found += [["skip", reason, str(count)] for reason, count in row["skips"].items()]
    found += [["ask AWS", f"type {name}", str(count)] for name, count in row["asking_aws"].items()]
    return found


def _coverage_cells(figure: Mapping[str, Any]) -> list[Cell]:
    percent = "-" if figure["percent"] is None else f"{figure['percent']:g}%"
    reasons = [f"{count} {reason}" for reason, count in figure["unmirrored"].items()]
    return [str(figure["enis_to_mirror"]), str(figure["enis_mirrored"]), percent, ", ".join(reasons) or None]


def print_organization_report(report: Mapping[str, Any], out: TextIO, width: int | None = None) -> None:
    """The organization report as text that fits ``width`` columns (None or 0: one line per row, for grep)."""

    def say(text: str = "") -> None:
        for line in wrap_text(text, width) if text else [""]:
            print(line, file=out)

    def table(columns: Sequence[str], rows: Sequence[Sequence[Cell]], align: str = "") -> None:
        for line in fit_table(columns, rows, width, align=align):
            print(line, file=out)

    rows = report["account_regions"]
    audited = [row for row in rows if row["audited"]]
    failed = [row for row in rows if not row["audited"]]
    summed = report["totals"]
    accounts = sorted({row["account"] for row in rows})
    source = "every ACTIVE account of the organization" if report["source"] == "organization" else "--accounts"
    say(
        f"Audit from account {report['audit_account']} of {len(accounts)} accounts ({source}) in "
        f"{', '.join(report['regions'])}, through role {report['role_name']}: sessions tagged "
        f"mirror-managed-by={report['managed_by']}"
    )
    pool = pool_text(report)
    mirror_filter = report["filter_id"] or f"each account's own, tagged mirror-managed-by={report['managed_by']}"
    say(f"Target pool: {pool}; filter of new sessions: {mirror_filter}")
    if report["inactive_accounts"]:
        skipped = ", ".join(f"{a['account']} ({a['state']})" for a in report["inactive_accounts"])
        say(f"Not ACTIVE in the organization, not audited: {skipped}")
    total_where = [f"total, {summed['audited']} audited"]
    if audited:
        say()
        say("Sessions (ours now and after the plan; others: sessions in the account's view that are not ours)")
        sessions = summed["sessions"]
        changes = summed["changes"]
        table(
            ["account region", "ours", "others", "create", "delete", "move", "skipped", "ours after", "drift"],
            [
                [
                    _where(row),
                    str(row["sessions"]["ours"]),
                    str(row["sessions"]["others"]),
                    str(row["changes"]["creates"]),
                    str(row["changes"]["deletes"]),
                    str(row["changes"]["moves"]),
                    str(sum(row["skips"].values())),
                    str(row["sessions"]["ours_after"]),
                    "yes" if row["drift"] else "no",
                ]
                for row in audited
            ]
            + [
                [
                    total_where,
                    str(sessions.get("ours", 0)),
                    str(sessions.get("others", 0)),
                    str(changes.get("creates", 0)),
                    str(changes.get("deletes", 0)),
                    str(changes.get("moves", 0)),
                    str(sum(summed["skips"].values())),
                    str(sessions.get("ours_after", 0)),
                    f"{summed['with_drift']} of {summed['audited']}",
                ]
            ],
            align="<>>>>>>>",
        )
        reasons = [[_where(row), *line] for row in audited for line in _reason_rows(row)]
        if reasons:
            say()
            say("Changes and skips by reason")
            table(
                ["account region", "what", "reason", "sessions"],
                [*reasons, *([total_where, *line] for line in _reason_rows(summed))],
                align="<<<>",
            )
        say()
        say(
            f"Monthly cost of our sessions at ${report['hourly_price']:g} per session-hour (AWS bills each session "
            "every hour until it is deleted)"
        )
        table(
            ["account region", "now", "after the plan"],
            [
                [_where(row), f"${row['cost']['monthly_now']:,.2f}", f"${row['cost']['monthly_after']:,.2f}"]
                for row in audited
            ]
            + [[total_where, f"${summed['cost']['monthly_now']:,.2f}", f"${summed['cost']['monthly_after']:,.2f}"]],
            align="<>>",
        )
    if audited:
        say()
        say('Coverage: ENIs that should be mirrored, and those a session of ours mirrors now (README, "Coverage")')
        table(
            ["account region", "to mirror", "mirrored", "coverage", "not mirrored, by reason"],
            [[_where(row), *_coverage_cells(row["coverage"])] for row in audited]
            + [[total_where, *_coverage_cells(summed["coverage"])]],
            align="<>>><",
        )
    if audited and (not report["filter_id"] or is_pattern(report["managed_by"])):
        say()
        say("Each account's stack: its name (the sessions' marker) and its filter")
        table(
            ["account region", "stack name", "filter"],
            [[_where(row), row["managed_by"], row["filter_id"]] for row in audited],
        )
    unknown = [
        [_where(row), [r["setting"], f"({r['parameter']})"], r["id"]] for row in audited for r in row["unknown_ids"]
    ]
    if unknown:
        say()
        say(
            "Targets and filters of the settings that an account-region does not have or cannot see (exit code 2 "
            "when no account-region has one: a typo; else a share not accepted, or a StackSet's overrides)"
        )
        table(["account region", "setting", "ID"], unknown)
    if failed:
        say()
        say(f"Not audited ({len(failed)})")
        table(["account region", "reason"], [[_where(row), row["error"]] for row in failed])
    say()
    if summed["with_drift"]:
        say(f"Drift: yes in {summed['with_drift']} of {summed['audited']} account-regions audited")
    else:
        say(f"Drift: none in the {summed['audited']} account-regions audited")
    if not report["complete"]:
        say(incomplete_line(report))
