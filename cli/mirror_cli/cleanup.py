"""`mirror-cleanup`: delete the sessions of a stack that is gone but whose sessions are not (a stack deleted before
it deleted its sessions itself, a stack whose deletion stopped in DELETE_FAILED, or a session created while it was
being deleted).

A dry run by default: it lists the sessions it would delete (session, source ENI, instance, target) and what they
cost, through AWS clients that refuse any call but the three reads it needs. ``--apply`` deletes them. A session is
the stack's exactly when the stack's own cleanup would say so (``Settings.owns``): the tag
``mirror-managed-by=<stack name>`` and this account as its owner.

Exit codes: 0 done (a dry run, or every session deleted), 1 some sessions could not be deleted (named on stderr),
2 an error (one line on stderr).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from mirror_cli.aws import AwsTarget, NoRegion, ReadOnlyGuard, SetupError, client, new_session
from mirror_cli.table import fit_table
from traffic_mirroring.cleanup import delete_sessions, owned_by_stack
from traffic_mirroring.config import Settings
from traffic_mirroring.ec2_gateway import Ec2Gateway
from traffic_mirroring.errors import AwsApiError, call_aws
from traffic_mirroring.model import MirrorSession
from traffic_mirroring.observability import monthly_cost

EXIT_OK = 0
EXIT_NOT_ALL_DELETED = 1
EXIT_ERROR = 2

# Stack statuses in which the stack's functions are gone or going: CloudFormation deletes them (and their roles and
# rules) before the custom resource SessionCleanup, so a deletion that stopped (DELETE_FAILED) or is under way left
# nothing that could create a session again; a rolled-back creation deletes every resource it created.
FUNCTIONS_GONE = frozenset(
    {"DELETE_IN_PROGRESS", "DELETE_FAILED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_FAILED", "ROLLBACK_COMPLETE"}
)

# The only calls a dry run may make; every other one is refused before a request is built.
DRY_RUN_OPERATIONS: Mapping[str, frozenset[str]] = {
    "ec2": frozenset({"DescribeTrafficMirrorSessions"}),
    "sts": frozenset({"GetCallerIdentity"}),
    "cloudformation": frozenset({"DescribeStacks"}),
}


class CleanupError(Exception):
    """A problem the user can fix; the message is the one line printed."""


@dataclass(frozen=True)
class Clients:
    ec2: Any
    sts: Any
    cloudformation: Any


def clients(region: str | None, profile: str | None, endpoint_url: str | None, *, dry_run: bool) -> Clients:
    """EC2, STS and CloudFormation clients; in a dry run, each refuses any call but DRY_RUN_OPERATIONS."""
    where = AwsTarget(region, profile, endpoint_url)
    session = new_session(where)
    guard = ReadOnlyGuard(DRY_RUN_OPERATIONS) if dry_run else None
    made = {name: client(session, name, where, guard) for name in ("ec2", "sts", "cloudformation")}
    return Clients(**made)


def stack_still_there(cloudformation: Any, stack_name: str) -> str | None:
    """The stack's status if a stack of that name exists (not deleted), else None."""
    try:
        stacks = call_aws("DescribeStacks", cloudformation.describe_stacks, StackName=stack_name)["Stacks"]
    except AwsApiError as error:
        if error.code == "ValidationError" and "does not exist" in error.aws_message:
            return None
        raise
    live = [s["StackStatus"] for s in stacks if s.get("StackStatus") != "DELETE_COMPLETE"]
    return str(live[0]) if live else None


def _table(sessions: Sequence[MirrorSession], settings: Settings, out: TextIO) -> None:
    """The sessions, one line each (the audit's table, not wrapped)."""
    rows = [[s.session_id, s.eni_id, s.tags.get(settings.instance_tag_key) or None, s.target_id] for s in sessions]
    for line in fit_table(["session", "source ENI", "instance", "target"], rows, None):
        print(line, file=out)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    # AWS_REGION as its help says (and as the AWS CLI v2 and mirror-audit read it); botocore reads only
    # AWS_DEFAULT_REGION, so without this a runbook's `export AWS_REGION=…` cleaned another Region.
    region = args.region or os.environ.get("AWS_REGION") or None
    where = clients(region, args.profile, args.endpoint_url, dry_run=not args.apply)
    identity = call_aws("GetCallerIdentity", where.sts.get_caller_identity)
    account, region = str(identity["Account"]), where.ec2.meta.region_name
    status = stack_still_there(where.cloudformation, args.stack_name)
    if status in FUNCTIONS_GONE:
        print(
            f"Stack {args.stack_name} is {status}: its functions were deleted before its own cleanup ran, so "
            "nothing creates these sessions again.",
            file=out,
        )
    elif status is not None:
        message = (
            f"stack {args.stack_name} still exists ({status}) and its functions manage these sessions: deleted here, "
            "they would be created again. Delete the stack instead (it deletes its sessions), or pass --force"
        )
        if args.apply and not args.force:
            raise CleanupError(message)
        print(f"mirror-cleanup: warning: {message}", file=err)
    marker = args.managed_by or args.stack_name
    settings = Settings(target_ids=(), filter_id="", managed_by=marker, account_id=account)
    gateway = Ec2Gateway(where.ec2, target_cache_seconds=0, account_id=account)
    visible = gateway.describe_sessions()  # no tag filter: the call documents none (see cleanup.stack_sessions)
    tagged = [s for s in visible if s.tags.get(settings.managed_by_tag_key) == settings.managed_by]
    sessions = owned_by_stack(visible, settings)
    print(
        f"Account {account}, region {region}: {len(sessions)} session(s) of stack {args.stack_name} "
        f"(tag {settings.managed_by_tag_key}={marker})",
        file=out,
    )
    others = len(tagged) - len(sessions)
    if others:
        print(f"  ({others} other session(s) carry the tag but belong to other accounts: left alone)", file=out)
    if not sessions:
        return EXIT_OK
    _table(sessions, settings, out)
    monthly = monthly_cost(len(sessions), settings.session_hourly_price)
    print(f"They cost about ${monthly:,.2f} a month (${settings.session_hourly_price:g} per session-hour).", file=out)
    if not args.apply:
        print(f"Dry run: nothing deleted. Run again with --apply to delete these {len(sessions)} session(s).", file=out)
        return EXIT_OK
    outcome = delete_sessions(gateway, sessions)
    gone = len(outcome.deleted) + len(outcome.already_gone)
    print(f"Deleted {gone} of {len(sessions)} session(s).", file=out)
    for session_id, code in sorted(outcome.failed.items()):
        print(f"mirror-cleanup: not deleted: {session_id} ({code})", file=err)
    if outcome.complete and status == "DELETE_FAILED":
        print(
            f"Now delete the stack again (its filter is no longer in use): "
            f"aws cloudformation delete-stack --stack-name {args.stack_name}",
            file=out,
        )
    return EXIT_OK if outcome.complete else EXIT_NOT_ALL_DELETED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mirror-cleanup",
        description=(
            "Delete the Traffic Mirroring sessions a deleted stack left behind: those tagged "
            "mirror-managed-by=<stack name> in this account. A dry run unless --apply. "
            "Exit code: 0 done, 1 some sessions not deleted, 2 error."
        ),
    )
    parser.add_argument(
        "--stack-name", required=True, help="name of the deleted stack, or of one stuck in DELETE_FAILED"
    )
    parser.add_argument(
        "--managed-by",
        help="the marker its sessions carry, when the stack set ManagedBy (default: the stack name)",
    )
    parser.add_argument("--region", help="Region (default: AWS_REGION / AWS_DEFAULT_REGION / the profile's)")
    parser.add_argument("--profile", help="named profile (default: the standard credential chain)")
    parser.add_argument("--endpoint-url", help="send every request here instead (e.g. a moto server)")
    parser.add_argument("--apply", action="store_true", help="delete the sessions (default: only list them)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="with --apply: even if the stack still exists and is not being deleted (its functions may recreate them)",
    )
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # --help, or a bad flag (argparse printed why)
        return EXIT_OK if exit_.code in (0, None) else EXIT_ERROR
    try:
        return run(args, out, err)
    except CleanupError as error:
        message = str(error)
    except AwsApiError as error:
        message = f"{error.operation} failed ({error.code}): {error.aws_message or error}"
    except NoRegion:
        message = "no region: pass --region, or set AWS_REGION or a region in the profile"
    except SetupError as error:  # an unknown profile, a malformed endpoint
        message = str(error)
    except BrokenPipeError:
        message = "output closed before the end"
    except Exception as error:  # e.g. a refused call in a dry run: still one line, never a traceback
        message = f"{type(error).__name__}: {error}"
    print(f"mirror-cleanup: {message}", file=err)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
