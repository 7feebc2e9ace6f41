"""`mirror-audit`: what the reconciler would change in a real account, computed without changing anything.

It reads the account the way the scheduled reconciler does (same inventory, same planner, same settings), prints
the sessions it would create, delete and move with the reason for each, and what our sessions cost a month now and
after the plan. It never applies the plan: there is no Executor here, and every AWS client it builds refuses, before
a request is even built, any operation outside a short read-only allow-list (``ReadOnlyGuard``). So the audit is
safe to run with credentials that could change things.

With ``--accounts`` or ``--organization`` the same audit runs in every account and Region of an organization,
through a read-only role in each, into one report (``organization_audit``).

Exit codes: 0 no drift, 1 drift (the reconciler would create, delete or move a session; with ``--delivery``, also a
pool target flagged for losing copies: ``delivery_check``), 2 error (one line on stderr, never a traceback), among
them settings that name a target or filter the account does not have or cannot see (the report lists them first:
``unknown_ids``), even with no instance to mirror yet. The text report wraps to the terminal's width (80 columns in a
pipe) without cutting an ID; ``--width 0`` keeps one line per row for grep, ``--json`` gives the same report as data.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn, TextIO

from botocore.exceptions import BotoCoreError, ClientError, NoRegionError, ProfileNotFound

from traffic_mirroring import coverage, planner
from traffic_mirroring import inventory as inventory_reader
from traffic_mirroring.config import FILTER_ID_PATTERN, TARGET_ID_PATTERN, Settings, load_settings
from traffic_mirroring.delivery import DEFAULT_MIN_RATIO, DEFAULT_WINDOW_MINUTES, SETTLE_MINUTES
from traffic_mirroring.ec2_gateway import Ec2Gateway
from traffic_mirroring.errors import AwsApiError, ConfigurationError, MirroringError
from traffic_mirroring.model import Inventory, Plan
from traffic_mirroring.session_options import vni_map

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
            "DescribeNetworkInterfaces",
            "DescribeTrafficMirrorSessions",
            "DescribeTrafficMirrorTargets",
            "DescribeTrafficMirrorFilters",
            "DescribeVpcEndpoints",  # whether a Gateway Load Balancer endpoint target still exists
            "DescribeSecurityGroups",  # preflight: does a target admit UDP 4789 from the sources' addresses?
            "DescribeNetworkAcls",
        }
    ),
    # An NLB target needs a UDP 4789 listener; its security groups and cross-zone load balancing (preflight).
    "elbv2": frozenset(
        {
            "DescribeLoadBalancers",
            "DescribeListeners",
            "DescribeLoadBalancerAttributes",
            "DescribeTargetGroupAttributes",
        }
    ),
    "sts": frozenset({"GetCallerIdentity"}),
    # --delivery: what the sources mirrored and the targets received (delivery_check).
    "cloudwatch": frozenset({"GetMetricData"}),
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


def client_config() -> Any:
    """Standard retries (throttling backs off); the attempt count stays the user's (AWS_MAX_ATTEMPTS, profile)."""
    from botocore.config import Config

    return Config(retries={"mode": "standard"}, connect_timeout=5, read_timeout=30)


def read_only_clients(
    where: AwsTarget,
    guard: ReadOnlyGuard | None = None,
    *,
    session: Any = None,
    credentials: Mapping[str, str] | None = None,
) -> tuple[Any, Any, Any]:
    """EC2, ELBv2 and STS clients, each guarded. Raises botocore errors.

    From the standard credential chain by default; with ``session`` and ``credentials`` (AssumeRole's
    ``Credentials``), from those temporary credentials in ``where.region`` (the organization audit's member clients).
    """
    import boto3

    guard = guard or ReadOnlyGuard()
    session = session or boto3.session.Session(profile_name=where.profile, region_name=where.region)
    keys: dict[str, Any] = {}
    if credentials is not None:
        keys = {
            "region_name": where.region,
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        }
    config = client_config()
    clients = (
        session.client(service, endpoint_url=where.endpoint_url, config=config, **keys)
        for service in ("ec2", "elbv2", "sts")
    )
    ec2, elbv2, sts = (guard.protect(client) for client in clients)
    return ec2, elbv2, sts


# -- text that fits the terminal -------------------------------------------------------------------------------
Cell = str | Sequence[str] | None
"""A table cell. None prints "-"; a str may wrap at its spaces; a sequence's items never break (an ID, "→ tmt-…"),
though the cell may wrap between them."""

GAP = "  "
HANGING = 2  # continuation lines of a table's first column are indented: a row starts where its first column does


def terminal_width() -> int:
    """The terminal's width (COLUMNS wins); 80 when stdout is not a terminal (a pipe, a file, CI)."""
    return shutil.get_terminal_size((80, 24)).columns


class _Items(list[str]):
    """The atoms of a sequence cell: when the cell wraps, its first item (an ID) keeps a line of its own."""


def _atoms(cell: Cell) -> list[str]:
    if cell is None:
        return ["-"]
    if isinstance(cell, str):
        return cell.split() or [""]
    return _Items(atom for atom in cell if atom) or ["-"]


def _wrap(atoms: Sequence[str], width: int | None, hanging: int = 0) -> list[str]:
    """Greedy fill; an atom is never broken, so a line may only exceed ``width`` by an atom longer than it."""
    lead_alone = isinstance(atoms, _Items) and width is not None and len(" ".join(atoms)) > width
    lines: list[str] = []
    for index, atom in enumerate(atoms):
        fits = width is None or len(lines[-1] if lines else "") + 1 + len(atom) <= width
        if lines and fits and not (lead_alone and index == 1):
            lines[-1] += " " + atom
        else:
            lines.append((" " * hanging if lines else "") + atom)
    return lines or [""]


def _narrowest(atoms: Sequence[str], hanging: int) -> int:
    """The narrowest width a cell wraps to: its longest atom (plus the indent of a continuation line)."""
    return max([len(atoms[0]), *(len(atom) + hanging for atom in atoms[1:])])


def wrap_text(text: str, width: int | None, *, indent: int = 0, hanging: int = 2) -> list[str]:
    """A line of prose, wrapped at its spaces (never inside an ID); continuation lines indented by ``hanging``."""
    room = None if not width else max(width - indent, 1)
    return [" " * indent + line for line in _wrap(text.split(), room, hanging)]


def fit_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    width: int | None,
    *,
    indent: int = 2,
    align: str = "",
    underline: bool = False,
) -> list[str]:
    """Rows as aligned text no wider than ``width`` (None or 0: no limit), cutting nothing.

    Every column starts at its natural width (one line per cell). While the table is too wide, the widest column
    that can still wrap is narrowed (cells wrap between words, never inside one). If even that is too wide, each row
    is printed as a block of ``column: value`` lines instead. ``align`` has one character per column, ``>`` for
    right-aligned (numbers); anything else is left-aligned.
    """
    heads = [title.split() or [""] for title in columns]
    cells = [[_atoms(cell) for cell in row] for row in rows]
    table = [heads, *cells]
    count = len(columns)
    hang = [HANGING if i == 0 else 0 for i in range(count)]

    def longest(i: int, limit: int | None) -> int:
        return max(len(line) for row in table for line in _wrap(row[i], limit, hang[i]))

    def total(widths: Sequence[int]) -> int:
        return indent + sum(widths) + len(GAP) * (count - 1)

    widths = [longest(i, None) for i in range(count)]
    if width:
        floor = [max(_narrowest(row[i], hang[i]) for row in table) for i in range(count)]
        while total(widths) > width:
            narrower = [i for i in range(count) if widths[i] > floor[i]]
            if not narrower:
                return _blocks(columns, cells, width, indent)
            i = max(narrower, key=lambda k: widths[k])
            widths[i] = longest(i, widths[i] - 1)
    lines: list[str] = []
    for number, row in enumerate(table):
        wrapped = [_wrap(row[i], widths[i], hang[i]) for i in range(count)]
        for k in range(max(len(w) for w in wrapped)):
            parts = [w[k] if k < len(w) else "" for w in wrapped]
            text = GAP.join(
                part.rjust(w) if align[i : i + 1] == ">" else part.ljust(w)
                for i, (part, w) in enumerate(zip(parts, widths, strict=True))
            )
            lines.append((" " * indent + text).rstrip())
        if number == 0 and underline:
            lines.append(" " * indent + GAP.join("-" * w for w in widths))
    return lines


def _blocks(columns: Sequence[str], cells: Sequence[Sequence[list[str]]], width: int, indent: int) -> list[str]:
    """The fallback of a table too wide for ``width``: each row as its first cell, then ``column: value`` lines."""
    lines: list[str] = []
    for row in cells:
        lines += [" " * indent + line for line in _wrap(row[0], width - indent, HANGING)]
        for title, atoms in zip(columns[1:], row[1:], strict=True):
            lines += [" " * (indent + 4) + line for line in _wrap([f"{title}:", *atoms], width - indent - 4, HANGING)]
    return lines


# -- the report --------------------------------------------------------------------------------------------------
def instance_facts(inventory: Inventory) -> dict[str, tuple[str | None, str]]:
    """Instance ID → (its Name tag, its instance type), for every instance the inventory read."""
    return {iid: (i.tags.get("Name"), i.instance_type) for iid, i in inventory.instances.items()}


def session_options(inventory: Inventory, settings: Settings) -> list[dict[str, Any]]:
    """Each of our sessions with its VNI and packet length as AWS describes them (null packet length: the whole
    packet), its source instance and VPC, and the ``mirror-vni`` tag written when it was created (null: none, e.g.
    a VNI AWS picked)."""
    enis = {eni.eni_id: (i.instance_id, eni.vpc_id) for i in inventory.instances.values() for eni in i.enis}
    rows = []
    for session in {s.session_id: s for s in inventory.sessions}.values():
        if not settings.owns(session):
            continue
        instance_id, vpc_id = enis.get(session.eni_id, (session.tags.get(settings.instance_tag_key), None))
        rows.append(
            {
                "session_id": session.session_id,
                "instance_id": instance_id,
                "eni_id": session.eni_id,
                "vpc_id": vpc_id,
                "target_id": session.target_id,
                "virtual_network_id": session.virtual_network_id,
                "packet_length": session.packet_length,
                "vni_tag": session.tags.get(settings.vni_tag_key),
            }
        )
    return sorted(rows, key=lambda row: (str(row["instance_id"]), row["session_id"]))


def plan_report(
    plan: Plan,
    settings: Settings,
    *,
    account: str,
    region: str,
    instances: Mapping[str, tuple[str | None, str]] | None = None,
    sessions: Sequence[Mapping[str, Any]] = (),
    vnis: Mapping[str, Sequence[str]] | None = None,
    targets: Sequence[Mapping[str, Any]] = (),
    mtu: Sequence[Mapping[str, Any]] = (),
    unknown: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """The plan as plain data with a stable shape (the --json output). Lists are sorted, keys always present.

    Each row whose subject is an instance carries its ``name`` (Name tag) and ``instance_type`` (null when the
    subject is an ENI or an instance no longer described); ``status_tags`` lists every instance whose
    ``mirror-status`` tag would change. A create whose ``probe_type`` is set asks AWS whether that unlisted
    instance type can be a source: AWS decides, so it is not drift (a type AWS refuses is asked again by every new
    reconciler container, and would otherwise read as drift for ever) and not counted in ``managed_after``.
    ``session_options`` lists our sessions with their VNI and packet length (``session_options``), ``vni_map`` the
    sources under each VNI now (VPCs under VniPolicy per-vpc, else instances); a session whose options the stack's
    settings no longer match is a move with reason ``options-changed``. ``unknown_ids`` lists each target or filter
    the settings name that this account and Region do not have or cannot see (``unknown_ids``): the command then
    exits 2. ``coverage``: the ENIs that should be mirrored and those a session of ours mirrors now, by reason, with
    every ENI read (``enis``), so the figure can be recomputed; ``coverage.after_plan``: the same if the reconciler
    applied this plan (README, "Coverage").
    """
    from traffic_mirroring.observability import monthly_cost
    from traffic_mirroring.reconcile import plan_actions

    facts = instances or {}

    def described(row: dict[str, Any], subject_key: str) -> dict[str, Any]:
        name, instance_type = facts.get(str(row[subject_key]), (None, None))
        return {**row, "name": name, "instance_type": instance_type}

    price = settings.session_hourly_price
    actions = plan_actions(plan)
    subject_keys = {"creates": "instance_id", "deletes": "subject", "moves": "instance_id", "skips": "subject"}
    rows = {kind: [described(row, key) for row in actions[kind]] for kind, key in subject_keys.items()}
    status_tags = [described(row, "instance_id") for row in actions["status_tags"]]
    probes = {(c.instance_id, c.eni_id): getattr(c, "probe_type", None) for c in plan.creates}
    creates = [{**row, "probe_type": probes.get((row["instance_id"], row["eni_id"]))} for row in rows["creates"]]
    deletes, moves = rows["deletes"], rows["moves"]
    certain = [row for row in creates if not row["probe_type"]]
    managed_after = plan.managed_sessions + len(certain) - len(deletes)
    verdicts = {row["probe_type"]: "ask-aws" for row in creates if row["probe_type"]}
    verdicts.update(getattr(plan, "type_verdicts", {}))
    return {
        "account": account,
        "region": region,
        "managed_by": settings.managed_by,
        "target_ids": list(settings.target_ids),
        "target_pool": settings.target_pool,  # "" when off; else targets tagged mirror-pool=<this> join the pool
        "filter_id": settings.filter_id,
        "unknown_ids": [dict(row) for row in unknown],  # settings naming a target or filter not here: exit code 2
        "packet_length": settings.packet_length,  # the stack's PacketLength; null: the whole packet
        "vni_policy": settings.vni_policy,
        "session_options": [dict(row) for row in sessions],
        "vni_map": {vni: list(sources) for vni, sources in (vnis or {}).items()},
        "targets": [dict(row) for row in targets],  # each pool target's health (preflight), as the reconciler judges
        "mirroring_windows": dict(sorted(plan.windows.items())),  # mirror-until still ahead: when, and time left
        "mtu_warnings": [dict(row) for row in mtu],
        "creates": creates,
        "deletes": deletes,
        "moves": moves,
        "skips": rows["skips"],
        "status_tags": status_tags,
        # Unlisted instance types: what AWS answered, or "ask-aws" (the reconciler's first create will ask).
        "instance_type_verdicts": dict(sorted(verdicts.items())),
        "sessions": {
            "managed_now": plan.managed_sessions,
            "managed_after": managed_after,
            "asking_aws": len(creates) - len(certain),
        },
        "cost": {
            "hourly_price": price,
            "monthly_now": monthly_cost(plan.managed_sessions, price),
            "monthly_after": monthly_cost(managed_after, price),
        },
        "coverage": coverage_report(plan),
        "drift": bool(certain or deletes or moves),
    }


def coverage_report(plan: Plan) -> dict[str, Any]:
    """Coverage as read (every ENI with its verdict), and as the plan would leave it."""
    return {
        **coverage.as_read(plan.sources).as_dict(with_enis=True),
        "after_plan": coverage.as_planned(plan.sources).as_dict(),
    }


def coverage_line(figure: Mapping[str, Any]) -> str:
    """``6 of 7 ENIs (85.71%)``, or that none should be mirrored."""
    if not figure["enis_to_mirror"]:
        return "no ENI should be mirrored"
    return f"{figure['enis_mirrored']} of {_plural(figure['enis_to_mirror'], 'ENI')} ({figure['percent']:g}%)"


def target_health(plan: Plan, inventory: Inventory) -> list[dict[str, Any]]:
    """Each pool target: its kind, VPC, health as the reconciler grades it (healthy / advisory: a risk, it still
    serves / drops: no new sessions from the sources it drops / dead / missing) with the reason, and its advisories
    (each with what to do)."""
    known = inventory.targets or {}
    rows: list[dict[str, Any]] = []
    for target_id in plan.pool:
        target = known.get(target_id)
        advisories = list(plan.target_advisories.get(target_id, []))
        if target is None:
            health, reason = "missing", "no such target in this account and Region"
        elif target_id in plan.dead_targets:
            health, reason = "dead", plan.dead_targets[target_id]
        elif target_id in plan.unhealthy_targets:
            health, reason = "drops", plan.unhealthy_targets[target_id]
        elif advisories:
            health, reason = "advisory", ""
        else:
            health, reason = "healthy", ""
        kind, vpc = (target.kind, target.vpc_id) if target else ("", "")
        rows.append(
            {
                "target_id": target_id,
                "kind": kind,
                "vpc_id": vpc,
                "health": health,
                "reason": reason,
                "advisories": advisories,
            }
        )
    return rows


@dataclass(frozen=True)
class IdSetting:
    """A setting that names targets or filters: its flag, its variable, the template parameter behind it, and the
    one value the template accepts (``pattern``; ``wildcard``: ``*`` too)."""

    flag: str
    variable: str
    parameter: str
    pattern: str
    is_list: bool
    wildcard: bool = False

    def accepts(self, raw: str) -> bool:
        """What CloudFormation accepts: ^(pattern)?$ against the value, or against each value of a list (the text
        between commas, spaces included)."""
        one = f"{self.pattern}|\\*" if self.wildcard else self.pattern
        values = raw.split(",") if self.is_list else [raw]
        return all(re.fullmatch(f"(?:{one})?", value) for value in values)


ID_SETTINGS = (
    IdSetting("--targets", "TARGET_IDS", "TargetIds", TARGET_ID_PATTERN, is_list=True),
    IdSetting("--filter-id", "FILTER_ID", "FilterId", FILTER_ID_PATTERN, is_list=False),
    IdSetting("--approved-filter-ids", "APPROVED_FILTER_IDS", "ApprovedFilterIds", FILTER_ID_PATTERN, is_list=True),
    IdSetting("--trusted-targets", "TRUSTED_TARGETS", "TrustedTargets", TARGET_ID_PATTERN, is_list=True, wildcard=True),
)


def malformed_ids(env: Mapping[str, str]) -> list[str]:
    """Why the template would refuse these settings' IDs (a typo, a space, another kind of ID): one line each."""
    problems = []
    for setting in ID_SETTINGS:
        raw = env.get(setting.variable)
        if raw is None or setting.accepts(raw):
            continue
        values = raw.split(",") if setting.is_list else [raw]
        bad = ", ".join(repr(value) for value in values if not setting.accepts(value))
        each = "each value between commas (no spaces) must be" if setting.is_list else "it must be"
        wildcard = ", or *" if setting.wildcard else ""
        problems.append(
            f"{setting.flag} ({setting.variable}) {bad}: the template's {setting.parameter} refuses it; {each} "
            f"{setting.pattern.replace('[0-9a-f]+', '')} and lower-case hexadecimal digits{wildcard}"
        )
    return problems


def unknown_ids(settings: Settings, inventory: Inventory) -> list[dict[str, str]]:
    """Each target of TargetIds and each filter of FilterId and ApprovedFilterIds that this account and Region do not
    have or cannot see (a target shared through AWS RAM is seen): the stack would not find them either. Nothing is
    claimed about what was not read."""
    rows = []
    if inventory.targets is not None:
        rows += [
            {"setting": "--targets", "parameter": "TargetIds", "id": target_id}
            for target_id in settings.target_ids
            if target_id not in inventory.targets
        ]
    if inventory.existing_filter_ids is not None:
        named = [("--filter-id", "FilterId", settings.filter_id)] if settings.filter_id else []
        named += [("--approved-filter-ids", "ApprovedFilterIds", f) for f in settings.approved_filter_ids]
        rows += [
            {"setting": flag, "parameter": parameter, "id": filter_id}
            for flag, parameter, filter_id in named
            if filter_id not in inventory.existing_filter_ids
        ]
    return rows


def unknown_ids_line(report: Mapping[str, Any]) -> str:
    """The one line on stderr when the settings name IDs the account does not have."""
    named = "; ".join(f"{row['setting']} names {row['id']}" for row in report["unknown_ids"])
    return (
        f"{named}: not in account {report['account']}, region {report['region']} (a typo, another account or Region, "
        "or an AWS RAM share not accepted)"
    )


# Jumbo frames: current-generation instances send packets up to 9001 bytes. VXLAN to an ENI target adds 54 bytes
# within the target's 9001-byte MTU, so a mirrored packet above 8947 bytes is truncated.
JUMBO_MTU, VXLAN_OVERHEAD = 9001, 54


def mtu_warnings(plan: Plan, inventory: Inventory, settings: Settings) -> list[dict[str, Any]]:
    """Sources that can send jumbo frames mirrored (or about to be) to a standalone ENI target."""
    from traffic_mirroring.eligibility import PREVIOUS_GENERATION_FAMILIES, family_of

    known = inventory.targets or {}
    eni_targets = {t for t, target in known.items() if target.kind == "network-interface"}
    placed = {s.eni_id: s.target_id for s in inventory.sessions if settings.owns(s)}
    placed.update({c.eni_id: c.target_ids[0] for c in plan.creates if c.target_ids})
    rows = []
    for instance in sorted(inventory.instances.values(), key=lambda i: i.instance_id):
        if family_of(instance.instance_type) in PREVIOUS_GENERATION_FAMILIES:
            continue
        for eni in instance.enis:
            target = placed.get(eni.eni_id)
            if target in eni_targets:
                rows.append(
                    {
                        "instance_id": instance.instance_id,
                        "instance_type": instance.instance_type,
                        "eni_id": eni.eni_id,
                        "target_id": target,
                        "truncated_above": JUMBO_MTU - VXLAN_OVERHEAD,
                    }
                )
    return rows


def pool_text(report: Mapping[str, Any]) -> str:
    """The pool as the stack declares it: its TargetIds, and the tag that makes a target join it."""
    parts = [", ".join(report["target_ids"])] if report["target_ids"] else []
    if report.get("target_pool"):
        parts.append(f"targets tagged mirror-pool={report['target_pool']}")
    return "; ".join(parts) or "(empty: nothing can be placed)"


def _who(row: Mapping[str, Any], subject_key: str) -> list[str]:
    """An instance ID (or ENI ID), then its Name and (type) when known."""
    type_ = [f"({row['instance_type']})"] if row.get("instance_type") else []
    return [str(row[subject_key]), *str(row.get("name") or "").split(), *type_]


def _move(row: Mapping[str, Any]) -> list[str]:
    atoms = [row["session_id"], f"on {row['eni_id']}"]
    if row["to_target_id"] != row["from_target_id"]:
        atoms += [row["from_target_id"], f"→ {row['to_target_id']}"]
    if row["to_filter_id"] != row["from_filter_id"]:
        atoms += ["filter", row["from_filter_id"], f"→ {row['to_filter_id']}"]
    if row.get("to_packet_length") != row.get("from_packet_length"):
        before, after = (_length(row.get(key)) for key in ("from_packet_length", "to_packet_length"))
        atoms += ["packet length", before, f"→ {after}"]
    if row.get("to_virtual_network_id") != row.get("from_virtual_network_id"):
        atoms += ["VNI", str(row.get("from_virtual_network_id")), f"→ {row.get('to_virtual_network_id')}"]
    return atoms


def _length(packet_length: Any) -> str:
    return "whole" if packet_length is None else str(packet_length)


def _vni_cell(row: Mapping[str, Any]) -> list[str]:
    """The VNI, and the session's mirror-vni tag when it says another (written at creation; a modify keeps tags)."""
    vni = str(row["virtual_network_id"]) if row["virtual_network_id"] is not None else "-"
    tag = row.get("vni_tag")
    return [vni, f"(tag {tag})"] if tag is not None and tag != vni else [vni]


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def print_report(report: Mapping[str, Any], out: TextIO, width: int | None = None) -> None:
    """The report as text that fits ``width`` columns (None or 0: one line per row, for grep)."""

    def say(text: str = "", indent: int = 0) -> None:
        for line in wrap_text(text, width, indent=indent) if text else [""]:
            print(line, file=out)

    def table(columns: Sequence[str], rows: Sequence[Sequence[Cell]], align: str = "") -> None:
        for line in fit_table(columns, rows, width, align=align):
            print(line, file=out)

    say(
        f"Account {report['account']}, region {report['region']}: "
        f"sessions tagged mirror-managed-by={report['managed_by']}"
    )
    say(f"Target pool: {pool_text(report)}; filter of new sessions: {report['filter_id']}")
    if report.get("unknown_ids"):
        say()
        say("Not in this account and Region, or not visible to it (exit code 2): fix the setting before a deploy")
        table(["setting", "ID"], [[[r["setting"], f"({r['parameter']})"], r["id"]] for r in report["unknown_ids"]])
    if report.get("targets"):
        say()
        say("Pool targets (preflight)")
        table(
            ["target", "kind", "VPC", "health"],
            [
                [
                    row["target_id"],
                    row["kind"] or None,
                    row["vpc_id"] or None,
                    f"{row['health']} {row['reason']}".strip(),
                ]
                for row in report["targets"]
            ],
        )
        risks = [(row["target_id"], risk) for row in report["targets"] for risk in row.get("advisories") or []]
        if risks:
            say()
            say("Target advisories (a risk, not a loss: sessions are still placed; what to do follows each)")
            table(["target", "advisory"], [[target, risk] for target, risk in risks])
    if report.get("mirroring_windows"):
        say()
        say("Mirroring windows (mirror-until)")
        table(["instance", "until"], [[i, left] for i, left in report["mirroring_windows"].items()])

    if report.get("coverage"):
        figure = report["coverage"]
        say()
        say(
            f"Coverage: {coverage_line(figure)} that should be mirrored are mirrored by a session of ours now; "
            f"with the plan applied: {coverage_line(figure['after_plan'])}"
        )
        if figure["fix_first"]:
            say('Not mirrored, what to fix first (the most ENIs first; README, "When an instance is not mirrored"):')
            table(
                ["reason", "ENIs", "instances", "for example"],
                [[r["reason"], str(r["enis"]), str(r["instances"]), r["examples"]] for r in figure["fix_first"]],
                align="<>>",
            )
        if figure["not_counted"]:
            counts = ", ".join(f"{count} {reason}" for reason, count in figure["not_counted"].items())
            say(f"Not counted (should not be mirrored now), ENIs: {counts}")

    deletes, moves = report["deletes"], report["moves"]
    creates = [r for r in report["creates"] if not r.get("probe_type")]
    probes = [r for r in report["creates"] if r.get("probe_type")]
    say()
    say(f"Would create {_plural(len(creates), 'session')}")
    if creates:
        table(
            ["instance", "ENI → target, session #", "reason"],
            [
                [_who(r, "instance_id"), [r["eni_id"], f"→ {r['target_id']}", f"#{r['session_number']}"], r["reason"]]
                for r in creates
            ],
        )
    if probes:
        say()
        say(
            f"Would ask AWS with {_plural(len(probes), 'create')} whether an instance type not on its list can be a "
            "source (AWS decides: not drift, not in the cost below)"
        )
        table(
            ["instance", "ENI → target, session #", "type asked"],
            [
                [
                    _who(r, "instance_id"),
                    [r["eni_id"], f"→ {r['target_id']}", f"#{r['session_number']}"],
                    r["probe_type"],
                ]
                for r in probes
            ],
        )
    say()
    say(f"Would delete {_plural(len(deletes), 'session')}")
    if deletes:
        table(
            ["instance or ENI", "session on ENI → target", "reason"],
            [
                [_who(r, "subject"), [r["session_id"], f"on {r['eni_id']}", f"→ {r['target_id']}"], r["reason"]]
                for r in deletes
            ],
        )
    say()
    say(f"Would move {_plural(len(moves), 'session')}")
    if moves:
        table(
            ["instance", "session on ENI: change", "reason"],
            [[_who(r, "instance_id"), _move(r), r["reason"]] for r in moves],
        )
    if report["skips"]:
        say()
        say(f"Skipped: nothing the reconciler can do about these ({len(report['skips'])})")
        table(
            ["instance or ENI", "ENI", "reason"],
            [[_who(s, "subject"), s["eni_id"], s["reason"]] for s in report["skips"]],
        )
    if report["status_tags"]:
        say()
        say(f"Would write the mirror-status tag of {_plural(len(report['status_tags']), 'instance')}")
        asking = {r["instance_id"] for r in probes}

        def would_be(row: Mapping[str, Any]) -> str:
            desired = str(row["desired"] or "(removed)")
            return f"{desired} if AWS accepts its type" if row["instance_id"] in asking else desired

        table(
            ["instance", "mirror-status now", "would be"],
            [[_who(t, "instance_id"), t["current"] or "(none)", would_be(t)] for t in report["status_tags"]],
        )
    options = report.get("session_options") or []
    if options:
        say()
        whole = "whole packets" if report.get("packet_length") is None else f"{report['packet_length']} bytes"
        say(
            f"Our sessions' VNI and packet length as AWS describes them (VniPolicy {report.get('vni_policy')}, "
            f"PacketLength {whole}):"
        )
        # By session and ENI: the text report names only the instances that change (--json has them all).
        table(
            ["session on ENI", "VNI", "packet length"],
            [
                [
                    [r["session_id"], f"on {r['eni_id']}"],
                    _vni_cell(r),
                    "whole packet" if r["packet_length"] is None else f"{r['packet_length']} bytes",
                ]
                for r in options
            ],
        )
    if report.get("vni_map") and report.get("vni_policy") == "per-vpc":
        say()
        say("VNI → source VPC:")
        table(["VNI", "VPC"], [[vni, sources] for vni, sources in report["vni_map"].items()])
    verdicts = report.get("instance_type_verdicts") or {}
    if verdicts:
        say()
        say("Instance types not on AWS's list of supported sources (ask-aws: the reconciler's first create asks):")
        table(["instance type", "verdict"], [[name, verdict] for name, verdict in sorted(verdicts.items())])

    from traffic_mirroring.observability import monthly_cost

    cost, sessions = report["cost"], report["sessions"]
    now, after, price = sessions["managed_now"], sessions["managed_after"], cost["hourly_price"]
    say()
    say(
        f"Monthly cost of our sessions at ${cost['hourly_price']:g} per session-hour (AWS bills each session every "
        "hour until it is deleted; a move keeps its session):"
    )
    money_rows = [["now", str(now), f"${cost['monthly_now']:,.2f}"]]
    if deletes:
        money_rows.append(["deleted", f"-{len(deletes)}", f"-${monthly_cost(len(deletes), price):,.2f}"])
    if creates:
        money_rows.append(["created", f"+{len(creates)}", f"+${monthly_cost(len(creates), price):,.2f}"])
    money_rows.append(["after the plan", str(after), f"${cost['monthly_after']:,.2f}"])
    table(["", "sessions", "a month"], money_rows, align="<>>")
    say()
    if report.get("mtu_warnings"):
        say()
        say(
            f"MTU: {_plural(len(report['mtu_warnings']), 'source ENI')} can send jumbo frames (9001 bytes) to a "
            "standalone ENI target: mirrored packets above 8947 bytes are truncated. Lower the sources' MTU to 8947, "
            "set PacketLength, or use an NLB or Gateway Load Balancer endpoint target."
        )
        table(
            ["instance", "ENI", "target"],
            [
                [f"{r['instance_id']} ({r['instance_type']})", r["eni_id"], r["target_id"]]
                for r in report["mtu_warnings"]
            ],
        )
    say("Drift: yes, the reconciler would change the sessions above" if report["drift"] else "Drift: none")


# -- the command -------------------------------------------------------------------------------------------------
class UsageError(Exception):
    """A bad command line (argparse's message)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line instead of argparse's usage block
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mirror-audit",
        description=(
            "Show what the Traffic Mirroring reconciler would create, delete and move in an account (or in every "
            "account of an organization), and what it costs, without changing anything. Exit code: 0 no drift, "
            "1 drift (or, with --delivery, a target flagged), 2 error (a target or filter of the settings the "
            "account does not have, or an account that could not be audited)."
        ),
    )
    aws = parser.add_argument_group("AWS")
    aws.add_argument("--profile", help="named profile (default: the standard credential chain)")
    aws.add_argument("--region", help="region to audit (default: AWS_REGION / AWS_DEFAULT_REGION / the profile's)")
    aws.add_argument(
        "--endpoint-url",
        help="send every request here instead (e.g. a moto server; it needs fake credentials, e.g. "
        "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing)",
    )
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
    stack.add_argument("--tag-key", help="tag key that asks for mirroring (env MIRROR_TAG_KEY; default mirror)")
    stack.add_argument("--tag-value", help="tag value that asks for mirroring (env MIRROR_TAG_VALUE; default true)")
    stack.add_argument(
        "--managed-by",
        help=f"stack name our sessions are tagged with (env MANAGED_BY; default {DEFAULT_STACK_NAME}). With "
        "--accounts or --organization it may be a pattern, e.g. 'StackSet-traffic-mirroring-*' (a StackSet names its "
        "stack differently in each account): each account's name is then read from its stack's filter",
    )
    stack.add_argument("--eligibility-allow", help="families/types to treat as supported (env ELIGIBILITY_ALLOW)")
    stack.add_argument("--eligibility-deny", help="families/types never to mirror (env ELIGIBILITY_DENY)")
    stack.add_argument(
        "--delete-when-stopped",
        choices=["true", "false"],
        help="the stack's DeleteWhenStopped (env DELETE_WHEN_STOPPED; default true)",
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
        choices=["aws", "per-vpc", "per-instance-tag"],
        help="the stack's VniPolicy (env VNI_POLICY; default aws)",
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
    parser.add_argument(
        "--price",
        type=float,
        help=f"USD per session-hour (env SESSION_HOURLY_PRICE; default {DEFAULT_PRICE}, us-east-1)",
    )
    from traffic_mirroring import organization_audit

    organization_audit.add_arguments(parser)
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
    output = parser.add_argument_group("output")
    output.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    output.add_argument(
        "--width",
        type=int,
        help="wrap the text report at this many columns (default: the terminal's, 80 in a pipe; 0: one line per row)",
    )
    output.add_argument("--debug", action="store_true", help="on an unexpected error, show its traceback")
    return parser


_FLAG_ENV = {
    "targets": "TARGET_IDS",
    "target_pool": "TARGET_POOL",
    "target_reachable_from": "TARGET_REACHABLE_FROM",
    "filter_id": "FILTER_ID",
    "approved_filter_ids": "APPROVED_FILTER_IDS",
    "tag_key": "MIRROR_TAG_KEY",
    "tag_value": "MIRROR_TAG_VALUE",
    "managed_by": "MANAGED_BY",
    "eligibility_allow": "ELIGIBILITY_ALLOW",
    "eligibility_deny": "ELIGIBILITY_DENY",
    "delete_when_stopped": "DELETE_WHEN_STOPPED",
    "packet_length": "PACKET_LENGTH",
    "approved_packet_lengths": "APPROVED_PACKET_LENGTHS",
    "vni_policy": "VNI_POLICY",
    "selectors": "MIRROR_SELECTORS",
    "trusted_targets": "TRUSTED_TARGETS",
    "price": "SESSION_HOURLY_PRICE",
}


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


def settings_from(args: argparse.Namespace, environ: Mapping[str, str], *, filter_required: bool = True) -> Settings:
    """The stack's settings: each flag, else the stack's (``--stack-json``), else its environment variable, else the
    stack's default. IDs the template would refuse are refused here too (``malformed_ids``).

    ``filter_required`` False (the organization audit): without a filter, ``filter_id`` is "" and each account's is
    the one its stack created (``organization_audit.stack_filter``).
    """
    env = {name: environ[name] for name in _FLAG_ENV.values() if name in environ}
    if getattr(args, "stack_json", None) is not None:
        env.update(stack_environment(read_stack(args.stack_json)))
    env.update({name: str(getattr(args, flag)) for flag, name in _FLAG_ENV.items() if getattr(args, flag) is not None})
    env.setdefault("MANAGED_BY", DEFAULT_STACK_NAME)
    env.setdefault("SESSION_HOURLY_PRICE", str(DEFAULT_PRICE))
    if problems := malformed_ids(env):
        raise ConfigurationError("; ".join(problems))
    if not env.get("FILTER_ID", "").strip():
        if not filter_required:
            return replace(load_settings({**env, "FILTER_ID": "per-account"}), filter_id="")  # load_settings needs one
        raise ConfigurationError(
            "--filter-id (or FILTER_ID) is required: the stack's FilterId, or its MirrorFilterId output"
        )
    return load_settings(env)


def read_stack(source: str) -> Mapping[str, Any]:
    """The stack described in ``source`` (a file, or - for standard input): describe-stacks' answer with one stack,
    or that stack alone (``--query 'Stacks[0]'``)."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        described = json.loads(text)
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"--stack-json {source}: not the JSON describe-stacks prints ({error})") from None
    if isinstance(described, dict) and "Stacks" in described:
        stacks = described["Stacks"]
        described = stacks[0] if isinstance(stacks, list) and len(stacks) == 1 else None
    if not isinstance(described, dict) or not isinstance(described.get("Parameters", []), list):
        raise ConfigurationError(f"--stack-json {source}: not one stack as describe-stacks prints it")
    return described


def stack_environment(stack: Mapping[str, Any]) -> dict[str, str]:
    """The settings a deployed stack gives its functions, from its description: each parameter under the variable
    the template passes it as (``deploy_check.PARAMETER_OF``), the filter and the session marker from its outputs
    (MirrorFilterId: FilterId, or the filter the stack created; ManagedBy: ManagedBy, or the stack name).

    Spaces around commas are dropped: CloudFormation trims each value of a CommaDelimitedList before the template
    joins them (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html),
    and the functions strip the items of every other list.
    """
    from traffic_mirroring.deploy_check import PARAMETER_OF

    parameters = {
        str(p.get("ParameterKey")): str(p.get("ParameterValue") or "")
        for p in stack.get("Parameters") or []
        if isinstance(p, dict)
    }
    outputs = {
        str(o.get("OutputKey")): str(o.get("OutputValue") or "")
        for o in stack.get("Outputs") or []
        if isinstance(o, dict)
    }
    env = {
        variable: ",".join(part.strip() for part in parameters[parameter].split(","))
        for variable, parameter in PARAMETER_OF.items()
        if parameter in parameters
    }
    env["FILTER_ID"] = outputs.get("MirrorFilterId") or parameters.get("FilterId", "")
    marker = outputs.get("ManagedBy") or parameters.get("ManagedBy") or str(stack.get("StackName") or "")
    if marker:
        env["MANAGED_BY"] = marker
    return env


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
        args = _parser().parse_args(argv)
    except UsageError as error:
        return _fail(f"{error} (see mirror-audit --help)")
    except SystemExit as exit_:  # --help (argparse printed it)
        return EXIT_NO_DRIFT if exit_.code in (0, None) else EXIT_ERROR
    from traffic_mirroring import organization_audit

    if misplaced := organization_audit.misplaced_flags(args):
        return _fail(f"{', '.join(misplaced)} need --accounts or --organization (see mirror-audit --help)")
    region = args.region or os.environ.get("AWS_REGION") or None  # botocore itself reads AWS_DEFAULT_REGION only
    where = AwsTarget(region, args.profile, args.endpoint_url)
    if organization_audit.wanted(args):
        if args.stack_json is not None:  # one stack's filter and marker are its own account's
            return _fail("--stack-json describes one stack: not with --accounts or --organization")
        if args.delivery:
            return _fail("--delivery audits one account: run it without --accounts or --organization")
        return _run_organization(args, where)
    from traffic_mirroring import delivery_check

    try:
        settings = settings_from(args, os.environ)
        report = audit(settings, where)
        if args.delivery:
            report["delivery"] = delivery_check.audit_delivery(
                settings, where, window_minutes=args.delivery_window, min_ratio=args.delivery_min_ratio
            )
    except Exception as error:
        return _explained(error, args, where)
    _print(report, args, delivery_check.print_report_with_delivery)
    if report["unknown_ids"]:  # a typo in the settings is an error, whatever the plan: the report, then why
        sys.stdout.flush()
        return _fail(unknown_ids_line(report))
    return EXIT_DRIFT if report["drift"] or delivery_check.flagged(report) else EXIT_NO_DRIFT


def _explained(error: Exception, args: argparse.Namespace, where: AwsTarget) -> int:
    """One line on stderr and exit 2; with --debug, an unexpected error (not AWS's, not a refusal) is raised."""
    if args.debug and not isinstance(error, (MirroringError, BotoCoreError, MutatingCallRefused)):
        raise error
    return _fail(explain(error, where, debug_hint=not args.debug))


def _print(
    report: Mapping[str, Any], args: argparse.Namespace, text: Callable[[Any, TextIO, int | None], None]
) -> None:
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        text(report, sys.stdout, terminal_width() if args.width is None else args.width)


def _run_organization(args: argparse.Namespace, where: AwsTarget) -> int:
    """--accounts / --organization: the same audit in every account and Region (organization_audit)."""
    from traffic_mirroring import organization_audit

    try:
        settings = settings_from(args, os.environ, filter_required=False)
        request = organization_audit.request_from(args, where)
        report = organization_audit.audit_organization(settings, where, request, debug=args.debug)
    except Exception as error:
        return _explained(error, args, where)
    _print(report, args, organization_audit.print_organization_report)
    code = organization_audit.exit_code(report)
    if code == EXIT_ERROR:
        sys.stdout.flush()  # the report first, then the one line that says it is incomplete or names unknown IDs
        _fail(organization_audit.error_line(report))
    return code


def audit(settings: Settings, where: AwsTarget, guard: ReadOnlyGuard | None = None) -> dict[str, Any]:
    """Read the account through guarded clients and plan, as the reconciler does; returns the report.

    The inventory is read here (not through ``reconcile.plan_account``) because the report also names each
    instance and its type. Nothing is ever applied.
    """
    ec2, elbv2, sts = read_only_clients(where, guard)
    account = caller_account(sts)  # first: a credentials problem then reads as one, not as a failed describe
    return audit_account(settings, account, ec2, elbv2).report


@dataclass(frozen=True)
class AccountAudit:
    """One account's audit: its report, and how many sessions it saw that are not ours (the organization report
    shows them; the one-account report keeps its shape)."""

    report: dict[str, Any]
    other_sessions: int


def audit_account(settings: Settings, account: str, ec2: Any, elbv2: Any) -> AccountAudit:
    """Read ``account`` through the given guarded clients and plan, as the reconciler does."""
    # The functions get ACCOUNT_ID from the stack, so a session of another account (seen on a shared target) is never
    # theirs: the audit's plan is theirs only with the same rule.
    settings = settings if settings.account_id else replace(settings, account_id=account)
    gateway = Ec2Gateway(ec2, elbv2, target_cache_seconds=0)
    inventory = inventory_reader.read_account_inventory(gateway, settings)
    plan = planner.plan_mirroring(inventory, settings)
    report = plan_report(
        plan,
        settings,
        account=account,
        region=ec2.meta.region_name,
        instances=instance_facts(inventory),
        sessions=session_options(inventory, settings),
        vnis=vni_map(inventory.sessions, inventory, settings),
        targets=target_health(plan, inventory),
        mtu=mtu_warnings(plan, inventory, settings),
        unknown=unknown_ids(settings, inventory),
    )
    return AccountAudit(report, sum(1 for session in inventory.sessions if not settings.owns(session)))


def caller_account(sts: Any) -> str:
    try:
        return str(sts.get_caller_identity().get("Account", ""))
    except ClientError as error:
        details = error.response.get("Error", {})
        raise AwsApiError("GetCallerIdentity", details.get("Code", "Unknown"), details.get("Message", "")) from error
    except BotoCoreError as error:
        raise AwsApiError("GetCallerIdentity", type(error).__name__, str(error)) from error


# -- one line for every failure --------------------------------------------------------------------------------
FAKE_CREDENTIALS = "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing"
_UNREACHABLE = frozenset(
    {
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ConnectionClosedError",
        "ProxyConnectionError",
        "ConnectionError",
        "HTTPClientError",
    }
)
_NO_CREDENTIALS = frozenset(
    {
        "NoCredentialsError",
        "PartialCredentialsError",
        "CredentialRetrievalError",
        "SSOTokenLoadError",
        "TokenRetrievalError",
        "UnauthorizedSSOTokenError",
        "NoAuthTokenError",
        "LoginTokenLoadError",
    }
)
_CREDENTIALS_REJECTED = frozenset(
    {
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "AuthFailure",
        "InvalidAccessKeyId",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "IncompleteSignature",
        "InvalidSignatureException",
        "MissingAuthenticationToken",
    }
)
_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess"})
_IAM_PREFIX = {"elbv2": "elasticloadbalancing"}


def needed_permissions() -> str:
    return ", ".join(
        f"{_IAM_PREFIX.get(service, service)}:{operation}"
        for service, operations in READ_ONLY_OPERATIONS.items()
        for operation in sorted(operations)
    )


def explain(error: BaseException, where: AwsTarget, *, debug_hint: bool = True) -> str:
    """The one-line reason mirror-audit prints for ``error``, with what to do about it where that is known."""
    endpoint = where.endpoint_url
    if isinstance(error, MutatingCallRefused):
        return str(error)
    if isinstance(error, ConfigurationError):
        return f"invalid settings: {error}"
    if isinstance(error, NoRegionError):
        return "no region: pass --region (e.g. --region us-east-1) or set AWS_REGION"
    if isinstance(error, ProfileNotFound):
        return f"{error}: pass an existing --profile, or unset AWS_PROFILE to use the standard credential chain"
    if isinstance(error, ValueError) and str(error).startswith("Invalid endpoint"):
        return f"--endpoint-url {endpoint!r} is not a URL: give one like http://127.0.0.1:5000"
    if isinstance(error, AwsApiError):
        code, operation = error.code, error.operation
        if code in _UNREACHABLE:
            if endpoint:
                return f"cannot reach {endpoint} ({code} on {operation}): is a server listening there?"
            region = where.region or "the configured region"
            return f"cannot reach AWS in {region} ({code} on {operation}): {error.aws_message}"
        if code in _NO_CREDENTIALS:
            if endpoint:
                return (
                    f"no credentials ({code}): a local endpoint still needs fake ones, e.g. export {FAKE_CREDENTIALS}"
                )
            return (
                f"no credentials ({code}): pass --profile or set AWS_PROFILE, or set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY"
            )
        if code in _CREDENTIALS_REJECTED:
            if endpoint:
                return (
                    f"{endpoint} rejected the credentials ({code}: {error.aws_message}): set the fake credentials it "
                    f"accepts (moto accepts any, e.g. {FAKE_CREDENTIALS})"
                )
            return (
                f"AWS rejected the credentials ({code}: {error.aws_message}): check the profile or keys, or renew an "
                "expired session (e.g. aws sso login)"
            )
        if code in _DENIED:
            return (
                f"{operation} was denied ({code}): the audit needs these read-only permissions: {needed_permissions()}"
            )
        return f"{operation} failed ({code}): {error.aws_message or error}"
    if isinstance(error, (MirroringError, BotoCoreError)):
        return str(error)
    hint = " (run with --debug for the traceback)" if debug_hint else ""
    return f"unexpected error: {type(error).__name__}: {error}{hint}"


def _fail(message: str) -> int:
    print(f"mirror-audit: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
