"""mirror-audit's command line: every flag, its help, and the checks of its value (argparse).

A bad command line is one line (``UsageError``), not argparse's usage block. What the flags mean for the stack's
settings is ``mirror_cli.settings``'; what to run, ``mirror_cli.command``'s.
"""

from __future__ import annotations

import argparse
import re
from typing import NoReturn

from mirror_cli.organization import DEFAULT_ROLE_NAME, DEFAULT_WORKERS
from traffic_mirroring.config import VNI_POLICIES, Settings
from traffic_mirroring.delivery import DEFAULT_MIN_RATIO, DEFAULT_WINDOW_MINUTES, SETTLE_MINUTES


class UsageError(Exception):
    """A bad command line (argparse's message)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line instead of argparse's usage block
        raise UsageError(message)


def parser() -> argparse.ArgumentParser:
    """mirror-audit's parser: its flags by group, in the order --help lists them."""
    parser = _Parser(
        prog="mirror-audit",
        description=(
            "Show what the Traffic Mirroring reconciler would create, delete and move in an account (or in every "
            "account of an organization), and what it costs, without changing anything. Exit code: 0 no drift, "
            "1 drift (or, with --delivery, a target flagged), 2 error (a target or filter of the settings the "
            "account does not have, or an account that could not be audited)."
        ),
    )
    _aws_flags(parser)
    _stack_flags(parser)
    parser.add_argument(
        "--price",
        type=float,
        help=f"USD per session-hour (env SESSION_HOURLY_PRICE; default {Settings.session_hourly_price}, us-east-1)",
    )
    _organization_flags(parser)
    _delivery_flags(parser)
    _output_flags(parser)
    return parser


def _aws_flags(parser: argparse.ArgumentParser) -> None:
    aws = parser.add_argument_group("AWS")
    aws.add_argument("--profile", help="named profile (default: the standard credential chain)")
    aws.add_argument("--region", help="region to audit (default: AWS_REGION / AWS_DEFAULT_REGION / the profile's)")
    aws.add_argument(
        "--endpoint-url",
        help="send every request here instead (e.g. a moto server; it needs fake credentials, e.g. "
        "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing)",
    )


def _stack_flags(parser: argparse.ArgumentParser) -> None:
    stack = parser.add_argument_group(
        "the stack's settings (flags win over --stack-json, which wins over the environment variables)"
    )
    stack.add_argument(
        "--stack-json",
        metavar="FILE",
        help="every setting of a deployed stack, from its description as `aws cloudformation describe-stacks "
        "--stack-name <stack>` prints it (JSON; - reads standard input): its parameters, and its outputs "
        "MirrorFilterId and ManagedBy",
    )
    stack.add_argument("--targets", help="comma-separated pool of target IDs (env TARGET_IDS; the stack's TargetIds)")
    stack.add_argument(
        "--target-pool",
        help="targets tagged mirror-pool=<this> join the pool (env TARGET_POOL; the stack's TargetPool)",
    )
    stack.add_argument(
        "--target-reachable-from",
        help="tmt-…=vpc-… vpc-…,tmt-…=*: the source VPCs that reach a target (env TARGET_REACHABLE_FROM; the "
        "stack's TargetReachableFrom)",
    )
    stack.add_argument(
        "--filter-id",
        help="filter of new sessions (env FILTER_ID; the stack's MirrorFilterId output). With --accounts or "
        "--organization it may be left out: each account's is then the filter its stack created (tagged "
        "mirror-managed-by=<stack name>)",
    )
    stack.add_argument(
        "--approved-filter-ids",
        help="filters a mirror-filter tag may choose besides the stack's, separated by commas (env "
        "APPROVED_FILTER_IDS; the stack's ApprovedFilterIds)",
    )
    stack.add_argument(
        "--tag-key", help=f"tag key that asks for mirroring (env MIRROR_TAG_KEY; default {Settings.mirror_tag_key})"
    )
    stack.add_argument(
        "--tag-value",
        help=f"tag value that asks for mirroring (env MIRROR_TAG_VALUE; default {Settings.mirror_tag_value})",
    )
    stack.add_argument(
        "--managed-by",
        help=f"stack name our sessions are tagged with (env MANAGED_BY; default {Settings.managed_by}). With "
        "--accounts or --organization it may be a pattern, e.g. 'StackSet-traffic-mirroring-*' (a StackSet names its "
        "stack differently in each account): each account's name is then read from its stack's filter",
    )
    stack.add_argument("--eligibility-allow", help="families/types to treat as supported (env ELIGIBILITY_ALLOW)")
    stack.add_argument("--eligibility-deny", help="families/types never to mirror (env ELIGIBILITY_DENY)")
    stack.add_argument(
        "--delete-when-stopped",
        choices=["true", "false"],
        help="the stack's DeleteWhenStopped (env DELETE_WHEN_STOPPED; default "
        f"{str(Settings.delete_when_stopped).lower()})",
    )
    stack.add_argument(
        "--packet-length",
        help="bytes mirrored of each packet, 64-8500, or empty for the whole packet (env PACKET_LENGTH; the stack's "
        "PacketLength)",
    )
    stack.add_argument(
        "--approved-packet-lengths",
        help="packet lengths a mirror-packet-length tag may choose, separated by commas (env APPROVED_PACKET_LENGTHS; "
        "the stack's ApprovedPacketLengths)",
    )
    stack.add_argument(
        "--vni-policy",
        choices=VNI_POLICIES,
        help=f"the stack's VniPolicy (env VNI_POLICY; default {Settings.vni_policy})",
    )
    stack.add_argument(
        "--selectors", help="the stack's MirrorSelectors, e.g. eks:cluster-name=prod,vpc-0abc (env MIRROR_SELECTORS)"
    )
    stack.add_argument(
        "--trusted-targets",
        "--accept-unjudged-targets",  # its former name
        dest="trusted_targets",
        help="the stack's TrustedTargets: targets (or *) whose preflight verdict is overridden (env TRUSTED_TARGETS)",
    )


def _organization_flags(parser: argparse.ArgumentParser) -> None:
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


def _delivery_flags(parser: argparse.ArgumentParser) -> None:
    delivery = parser.add_argument_group("delivery (one account: do the copies reach the pool targets?)")
    delivery.add_argument(
        "--delivery",
        action="store_true",
        help="also compare, per pool target, what its sources mirrored with what it received (CloudWatch "
        "GetMetricData: $0.01 per 1,000 metrics, 4 per mirrored instance); a flagged target exits 1",
    )
    delivery.add_argument(
        "--delivery-window",
        type=_positive_int,
        default=DEFAULT_WINDOW_MINUTES,
        metavar="MINUTES",
        help=f"the window compared, ending {SETTLE_MINUTES} minutes ago (default {DEFAULT_WINDOW_MINUTES})",
    )
    delivery.add_argument(
        "--delivery-min-ratio",
        type=_ratio,
        default=DEFAULT_MIN_RATIO,
        metavar="RATIO",
        help="flag a target that received less than this share of what its sources certainly sent it "
        f"(default {DEFAULT_MIN_RATIO})",
    )


def _output_flags(parser: argparse.ArgumentParser) -> None:
    output = parser.add_argument_group("output")
    output.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    output.add_argument(
        "--width",
        type=int,
        help="wrap the text report at this many columns (default: the terminal's, 80 in a pipe; 0: one line per row)",
    )
    output.add_argument("--debug", action="store_true", help="on an unexpected error, show its traceback")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 5:
        raise argparse.ArgumentTypeError(f"{text} minutes: at least 5 (one period)")
    return value


def _ratio(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text}: a share above 0, at most 1 (e.g. 0.8)")
    return value


def _comma_list(text: str, pattern: str, refusal: str, nothing: str) -> list[str]:
    """The items between commas (spaces trimmed, empty ones dropped), each matching ``pattern``; at least one."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    for item in items:
        if not re.fullmatch(pattern, item):
            raise argparse.ArgumentTypeError(f"{item!r} {refusal}")
    if not items:
        raise argparse.ArgumentTypeError(nothing)
    return items


def account_list(text: str) -> tuple[str, ...]:
    """``--accounts``: comma-separated 12-digit account IDs, sorted, without repeats."""
    accounts = _comma_list(text, r"\d{12}", "is not a 12-digit AWS account ID", "no account ID given")
    return tuple(sorted(set(accounts)))


def region_list(text: str) -> tuple[str, ...]:
    """``--regions``: comma-separated Region names, in the order given, without repeats."""
    regions = _comma_list(
        text, r"[a-z]{2}(-[a-z0-9]+)+-\d+", "is not a Region name such as us-east-1", "no Region given"
    )
    return tuple(dict.fromkeys(regions))


def worker_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= count <= 64:
        raise argparse.ArgumentTypeError(f"{count} must be between 1 and 64")
    return count
