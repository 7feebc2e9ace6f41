"""`mirror-audit`: what the reconciler would change in a real account, computed without changing anything.

It reads the account the way the scheduled reconciler does (same inventory, same planner, same settings), prints
the sessions it would create, delete and move with the reason for each, and what our sessions cost a month now and
after the plan (``mirror_cli.account``). It never applies the plan: there is no Executor here, and every AWS client it
builds refuses, before a request is even built, any operation outside a short read-only allow-list
(``mirror_cli.aws.ReadOnlyGuard``). So the audit is safe to run with credentials that could change things.

With ``--accounts`` or ``--organization`` the same audit runs in every account and Region of an organization,
through a read-only role in each, into one report (``mirror_cli.organization``).

Exit codes: 0 no drift, 1 drift (the reconciler would create, delete or move a session; with ``--delivery``, also a
pool target flagged for losing copies: ``mirror_cli.delivery``), 2 error (one line on stderr, never a traceback,
``mirror_cli.failures``), among them settings that name a target or filter the account does not have or cannot see
(the report lists them first: ``unknown_ids``), even with no instance to mirror yet. The text report wraps to the
terminal's width (80 columns in a pipe) without cutting an ID; ``--width 0`` keeps one line per row for grep,
``--json`` gives the same report as data.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from mirror_cli import account, delivery, organization, text
from mirror_cli.aws import AwsTarget, configured_region
from mirror_cli.failures import expected, explain
from mirror_cli.flags import UsageError, parser
from mirror_cli.settings import settings_from
from mirror_cli.table import terminal_width

EXIT_NO_DRIFT = 0
EXIT_DRIFT = 1
EXIT_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: exit 0 no drift, 1 drift, 2 on any error, always with one line on stderr, no traceback."""
    try:
        code = _run(argv)
        sys.stdout.flush()  # inside the try: a reader that went away is noticed here, not at interpreter exit
        return code
    except BrokenPipeError:
        # https://docs.python.org/3/library/signal.html#note-on-sigpipe: point stdout at devnull so the flush at exit
        # cannot fail again. Exit 2, not 0/1: the reader got part of the report only, so no verdict was delivered.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return _fail("the output was closed before the report was complete (broken pipe)")
    except KeyboardInterrupt:
        return _fail("interrupted")


def _run(argv: Sequence[str] | None) -> int:
    try:
        args = parser().parse_args(argv)
    except UsageError as error:
        return _fail(f"{error} (see mirror-audit --help)")
    except SystemExit as exit_:  # --help (argparse printed it)
        return EXIT_NO_DRIFT if exit_.code in (0, None) else EXIT_ERROR
    if misplaced := misplaced_flags(args):
        return _fail(f"{', '.join(misplaced)} need --accounts or --organization (see mirror-audit --help)")
    region = args.region or os.environ.get("AWS_REGION") or None  # botocore itself reads AWS_DEFAULT_REGION only
    where = AwsTarget(region, args.profile, args.endpoint_url)
    if not wanted(args):
        return _run_account(args, where)
    if args.stack_json is not None:  # one stack's filter and marker are its own account's
        return _fail("--stack-json describes one stack: not with --accounts or --organization")
    if args.delivery:
        return _fail("--delivery audits one account: run it without --accounts or --organization")
    return _run_organization(args, where)


def _run_account(args: argparse.Namespace, where: AwsTarget) -> int:
    """One account: its report, then exit 2 if the settings name IDs it does not have, else 1 on drift."""
    try:
        settings = settings_from(args, os.environ)
        report = account.audit(settings, where)
        if args.delivery:
            report["delivery"] = delivery.audit_delivery(
                settings, where, window_minutes=args.delivery_window, min_ratio=args.delivery_min_ratio
            )
    except Exception as error:
        return _explained(error, args, where)
    _print(report, args, text.print_report)
    if report["unknown_ids"]:  # a typo in the settings is an error, whatever the plan: the report, then why
        sys.stdout.flush()
        return _fail(text.unknown_ids_line(report))
    return EXIT_DRIFT if report["drift"] or delivery.flagged(report) else EXIT_NO_DRIFT


def _run_organization(args: argparse.Namespace, where: AwsTarget) -> int:
    """--accounts / --organization: the same audit in every account and Region (mirror_cli.organization)."""
    try:
        settings = settings_from(args, os.environ, filter_required=False)
        request = request_from(args, where)
        report = organization.audit_organization(settings, where, request, debug=args.debug)
    except Exception as error:
        return _explained(error, args, where)
    _print(report, args, text.print_organization_report)
    code = organization_exit_code(report)
    if code == EXIT_ERROR:
        sys.stdout.flush()  # the report first, then the one line that says it is incomplete or names unknown IDs
        _fail(text.error_line(report))
    return code


def wanted(args: argparse.Namespace) -> bool:
    """Whether the command line asks for the organization audit (else: the one-account audit)."""
    return args.accounts is not None or bool(args.organization)


def misplaced_flags(args: argparse.Namespace) -> list[str]:
    """Organization flags given without --accounts or --organization."""
    flags = {"--role-name": args.role_name, "--regions": args.regions, "--parallel": args.parallel}
    return [flag for flag, value in flags.items() if value is not None and not wanted(args)]


def request_from(args: argparse.Namespace, where: AwsTarget) -> organization.Request:
    """What the organization audit covers: the accounts, the Regions (--regions, else --region's, else the
    profile's), the role, the workers."""
    regions = args.regions or ((where.region,) if where.region else (configured_region(where),))
    return organization.Request(
        accounts=None if args.organization else args.accounts,
        regions=regions,
        role_name=args.role_name or organization.DEFAULT_ROLE_NAME,
        workers=args.parallel or organization.DEFAULT_WORKERS,
    )


def organization_exit_code(report: Mapping[str, Any]) -> int:
    """2 when the report is incomplete or the settings name an ID no account-region audited has (a typo), else 1
    when any account-region has drift, else 0."""
    if not report["complete"] or report["totals"].get("unknown_everywhere"):
        return EXIT_ERROR
    return EXIT_DRIFT if report["drift"] else EXIT_NO_DRIFT


def _explained(error: Exception, args: argparse.Namespace, where: AwsTarget) -> int:
    """One line on stderr and exit 2; with --debug, an unexpected error (not AWS's, not a refusal) is raised."""
    if args.debug and not expected(error):
        raise error
    return _fail(explain(error, where, debug_hint=not args.debug))


def _print(
    report: Mapping[str, Any], args: argparse.Namespace, layout: Callable[[Any, TextIO, int | None], None]
) -> None:
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        layout(report, sys.stdout, terminal_width() if args.width is None else args.width)


def _fail(message: str) -> int:
    print(f"mirror-audit: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
