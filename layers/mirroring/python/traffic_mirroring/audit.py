"""`mirror-audit`: what the reconciler would change in a real account, computed without changing anything.

It reads the account the way the scheduled reconciler does (same inventory, same planner, same settings), prints
the sessions it would create, delete and move with the reason for each, and what our sessions cost a month now and
after the plan. It never applies the plan: there is no Executor here, and every AWS client it builds refuses, before
a request is even built, any operation outside a short read-only allow-list (``ReadOnlyGuard``). So the audit is
safe to run with credentials that could change things.

Exit codes: 0 no drift, 1 drift (the reconciler would create, delete or move a session), 2 error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

from traffic_mirroring.config import Settings, load_settings
from traffic_mirroring.ec2_gateway import Ec2Gateway
from traffic_mirroring.errors import AwsApiError, ConfigurationError
from traffic_mirroring.model import Plan

EXIT_NO_DRIFT = 0
EXIT_DRIFT = 1
EXIT_ERROR = 2

DEFAULT_PRICE = 0.015
DEFAULT_STACK_NAME = "traffic-mirroring"  # samconfig.toml's default stack name; sessions carry it as their marker

# Every operation the audit needs, per botocore service name. Nothing else can be called (see ReadOnlyGuard).
READ_ONLY_OPERATIONS: Mapping[str, frozenset[str]] = {
    "ec2": frozenset(
        {
            "DescribeInstances",
            "DescribeInstanceTypes",
            "DescribeNetworkInterfaces",
            "DescribeTrafficMirrorSessions",
            "DescribeTrafficMirrorTargets",
            "DescribeTrafficMirrorFilters",
        }
    ),
    "elbv2": frozenset({"DescribeLoadBalancers"}),
    "sts": frozenset({"GetCallerIdentity"}),
}
READ_ONLY_PREFIXES = ("Describe", "List", "Get")


class MutatingCallRefused(RuntimeError):
    """An AWS operation outside the read-only allow-list was attempted. Deliberately not a botocore error, so no
    retry handler or error wrapper can mistake it for an AWS answer."""


class ReadOnlyGuard:
    """A botocore event handler that refuses every operation not on the allow-list, before any request is built.

    Registered on ``before-parameter-build`` (nothing is serialized) and again on ``before-call`` (nothing is
    sent), for every operation of the client. An operation must be listed *and* named like a read
    (Describe/List/Get), so a mistake in the list cannot let a write through.
    """

    def __init__(self, allowed: Mapping[str, frozenset[str]] = READ_ONLY_OPERATIONS) -> None:
        self.allowed = allowed

    def permits(self, service: str, operation: str) -> bool:
        return operation in self.allowed.get(service, frozenset()) and operation.startswith(READ_ONLY_PREFIXES)

    def __call__(self, model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        if not self.permits(service, model.name):
            raise MutatingCallRefused(f"mirror-audit is read-only: refused to call {service}:{model.name}")

    def protect(self, client: Any) -> Any:
        client.meta.events.register("before-parameter-build", self, unique_id="mirror-audit-read-only-params")
        client.meta.events.register("before-call", self, unique_id="mirror-audit-read-only-call")
        return client


@dataclass(frozen=True)
class AwsTarget:
    region: str | None
    profile: str | None
    endpoint_url: str | None


def read_only_clients(where: AwsTarget, guard: ReadOnlyGuard | None = None) -> tuple[Any, Any, Any]:
    """EC2, ELBv2 and STS clients from the standard credential chain, each guarded. Raises botocore errors."""
    import boto3
    from botocore.config import Config

    guard = guard or ReadOnlyGuard()
    session = boto3.session.Session(profile_name=where.profile, region_name=where.region)
    # Standard retries (throttling backs off); the attempt count stays the user's (AWS_MAX_ATTEMPTS, profile).
    config = Config(retries={"mode": "standard"}, connect_timeout=5, read_timeout=30)
    clients = (
        session.client(service, endpoint_url=where.endpoint_url, config=config) for service in ("ec2", "elbv2", "sts")
    )
    ec2, elbv2, sts = (guard.protect(client) for client in clients)
    return ec2, elbv2, sts


# -- the report --------------------------------------------------------------------------------------------------
def plan_report(plan: Plan, settings: Settings, *, account: str, region: str) -> dict[str, Any]:
    """The plan as plain data with a stable shape (the --json output). Lists are sorted, keys always present."""
    from traffic_mirroring.observability import monthly_cost
    from traffic_mirroring.reconcile import plan_actions

    price = settings.session_hourly_price
    actions = plan_actions(plan)
    creates, deletes, moves, skips = (actions[kind] for kind in ("creates", "deletes", "moves", "skips"))
    status_tags = actions["status_tags"]
    managed_after = plan.managed_sessions + len(creates) - len(deletes)
    return {
        "account": account,
        "region": region,
        "managed_by": settings.managed_by,
        "target_ids": list(settings.target_ids),
        "filter_id": settings.filter_id,
        "creates": creates,
        "deletes": deletes,
        "moves": moves,
        "skips": skips,
        "status_tags": status_tags,
        "sessions": {"managed_now": plan.managed_sessions, "managed_after": managed_after},
        "cost": {
            "hourly_price": price,
            "monthly_now": monthly_cost(plan.managed_sessions, price),
            "monthly_after": monthly_cost(managed_after, price),
        },
        "drift": bool(creates or deletes or moves),
    }


def _table(columns: Sequence[str], rows: Sequence[Sequence[object]], out: TextIO) -> None:
    cells = [[("-" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    print("  " + "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(), file=out)
    for row in cells:
        print("  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), file=out)


def _cell(row: Mapping[str, Any], name: str) -> object:
    if name == "to_filter_id" and row[name] == row["from_filter_id"]:
        return None  # the filter stays
    return row[name]


def print_report(report: Mapping[str, Any], out: TextIO) -> None:
    print(
        f"Account {report['account']}, region {report['region']}, sessions marked mirror-managed-by="
        f"{report['managed_by']}",
        file=out,
    )
    pool = ", ".join(report["target_ids"]) or "(empty: nothing can be placed)"
    print(f"Target pool: {pool}; filter {report['filter_id']}", file=out)
    sections: list[tuple[str, str, list[str], list[str]]] = [
        (
            "create",
            "creates",
            ["instance", "ENI", "target", "session #", "reason"],
            ["instance_id", "eni_id", "target_id", "session_number", "reason"],
        ),
        (
            "delete",
            "deletes",
            ["instance or ENI", "session", "ENI", "target", "reason"],
            ["subject", "session_id", "eni_id", "target_id", "reason"],
        ),
        (
            "move",
            "moves",
            ["instance", "session", "ENI", "from target", "to target", "new filter", "reason"],
            ["instance_id", "session_id", "eni_id", "from_target_id", "to_target_id", "to_filter_id", "reason"],
        ),
    ]
    for verb, key, columns, fields in sections:
        rows = report[key]
        print(f"\nWould {verb} {len(rows)} session{'' if len(rows) == 1 else 's'}", file=out)
        if rows:
            _table(columns, [[_cell(row, f) for f in fields] for row in rows], out)
    if report["skips"]:
        print(f"\nSkipped: nothing the reconciler can do about these ({len(report['skips'])})", file=out)
        _table(["instance", "ENI", "reason"], [[s["subject"], s["eni_id"], s["reason"]] for s in report["skips"]], out)
    if report["status_tags"]:
        print(f"\nWould write the mirror-status tag of {len(report['status_tags'])} instance(s)", file=out)
    cost, sessions = report["cost"], report["sessions"]
    print(
        f"\nMonthly cost of our sessions at ${cost['hourly_price']:g} per session-hour: "
        f"${cost['monthly_now']:,.2f} now ({sessions['managed_now']} sessions), "
        f"${cost['monthly_after']:,.2f} after the plan ({sessions['managed_after']} sessions)",
        file=out,
    )
    print(
        "Drift: yes, the reconciler would change the sessions above" if report["drift"] else "Drift: none",
        file=out,
    )


# -- the command -------------------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mirror-audit",
        description=(
            "Show what the Traffic Mirroring reconciler would create, delete and move in an account, and what it "
            "costs, without changing anything. Exit code: 0 no drift, 1 drift, 2 error."
        ),
    )
    aws = parser.add_argument_group("AWS")
    aws.add_argument("--profile", help="named profile (default: the standard credential chain)")
    aws.add_argument("--region", help="region to audit (default: AWS_REGION / AWS_DEFAULT_REGION / the profile's)")
    aws.add_argument("--endpoint-url", help="send every request here instead (e.g. a moto server)")
    stack = parser.add_argument_group("the stack's settings (flags win over the environment variables)")
    stack.add_argument("--targets", help="comma-separated pool of target IDs (env TARGET_IDS; the stack's TargetIds)")
    stack.add_argument("--filter-id", help="filter of new sessions (env FILTER_ID; the stack's MirrorFilterId output)")
    stack.add_argument("--tag-key", help="tag key that asks for mirroring (env MIRROR_TAG_KEY; default mirror)")
    stack.add_argument("--tag-value", help="tag value that asks for mirroring (env MIRROR_TAG_VALUE; default true)")
    stack.add_argument(
        "--managed-by",
        help=f"stack name our sessions are tagged with (env MANAGED_BY; default {DEFAULT_STACK_NAME})",
    )
    stack.add_argument("--eligibility-allow", help="families/types to treat as supported (env ELIGIBILITY_ALLOW)")
    stack.add_argument("--eligibility-deny", help="families/types never to mirror (env ELIGIBILITY_DENY)")
    stack.add_argument(
        "--delete-when-stopped",
        choices=["true", "false"],
        help="the stack's DeleteWhenStopped (env DELETE_WHEN_STOPPED; default true)",
    )
    parser.add_argument(
        "--price",
        type=float,
        help=f"USD per session-hour (env SESSION_HOURLY_PRICE; default {DEFAULT_PRICE}, us-east-1)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    return parser


_FLAG_ENV = {
    "targets": "TARGET_IDS",
    "filter_id": "FILTER_ID",
    "tag_key": "MIRROR_TAG_KEY",
    "tag_value": "MIRROR_TAG_VALUE",
    "managed_by": "MANAGED_BY",
    "eligibility_allow": "ELIGIBILITY_ALLOW",
    "eligibility_deny": "ELIGIBILITY_DENY",
    "delete_when_stopped": "DELETE_WHEN_STOPPED",
    "price": "SESSION_HOURLY_PRICE",
}


def settings_from(args: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    """The stack's settings: each flag, else its environment variable, else the stack's default."""
    env = {name: environ[name] for name in _FLAG_ENV.values() if name in environ}
    env.update({name: str(getattr(args, flag)) for flag, name in _FLAG_ENV.items() if getattr(args, flag) is not None})
    env.setdefault("MANAGED_BY", DEFAULT_STACK_NAME)
    env.setdefault("SESSION_HOURLY_PRICE", str(DEFAULT_PRICE))
    if not env.get("FILTER_ID", "").strip():
        raise ConfigurationError(
            "--filter-id (or FILTER_ID) is required: the stack's FilterId, or its MirrorFilterId output"
        )
    return load_settings(env)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # --help, or a bad flag (argparse printed why)
        return EXIT_NO_DRIFT if exit_.code in (0, None) else EXIT_ERROR
    try:
        settings = settings_from(args, os.environ)
        region = args.region or os.environ.get("AWS_REGION") or None  # botocore itself reads AWS_DEFAULT_REGION only
        report = audit(settings, AwsTarget(region, args.profile, args.endpoint_url))
    except ConfigurationError as error:
        return _fail(f"invalid settings: {error}")
    except AwsApiError as error:
        return _fail(f"{error.operation} failed ({error.code}): {error.aws_message or error}")
    except MutatingCallRefused as error:
        return _fail(str(error))
    except NoRegionError:
        return _fail("no region: pass --region, or set AWS_REGION or a region in the profile")
    except BotoCoreError as error:  # raised while building clients: no region, unknown profile, bad endpoint URL
        return _fail(str(error))
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print_report(report, sys.stdout)
    return EXIT_DRIFT if report["drift"] else EXIT_NO_DRIFT


def audit(settings: Settings, where: AwsTarget, guard: ReadOnlyGuard | None = None) -> dict[str, Any]:
    """Read the account through guarded clients and plan; returns the report. Never applies anything."""
    from traffic_mirroring.reconcile import plan_account

    ec2, elbv2, sts = read_only_clients(where, guard)
    gateway = Ec2Gateway(ec2, elbv2, target_cache_seconds=0)
    account = caller_account(sts)  # first: a credentials problem then reads as one, not as a failed describe
    plan = plan_account(gateway, settings)
    return plan_report(plan, settings, account=account, region=ec2.meta.region_name)


def caller_account(sts: Any) -> str:
    try:
        return str(sts.get_caller_identity().get("Account", ""))
    except ClientError as error:
        details = error.response.get("Error", {})
        raise AwsApiError("GetCallerIdentity", details.get("Code", "Unknown"), details.get("Message", "")) from error
    except BotoCoreError as error:
        raise AwsApiError("GetCallerIdentity", type(error).__name__, str(error)) from error


def _fail(message: str) -> int:
    print(f"mirror-audit: {message}", file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
