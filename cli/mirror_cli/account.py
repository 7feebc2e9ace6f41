"""One account's audit: what the reconciler would change there, computed without changing anything, as a report.

It reads the account the way the scheduled reconciler does (same inventory, same planner, same settings) through the
read-only clients of ``mirror_cli.aws``, and never applies the plan: there is no Executor here. The report
(``plan_report``) is plain data with a stable shape: the ``--json`` output, and what ``mirror_cli.text`` lays out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from mirror_cli.aws import AwsTarget, ReadOnlyGuard, caller, read_only_clients
from traffic_mirroring import coverage, planner
from traffic_mirroring import inventory as inventory_reader
from traffic_mirroring.config import Settings
from traffic_mirroring.ec2_gateway import Ec2Gateway
from traffic_mirroring.eligibility import PREVIOUS_GENERATION_FAMILIES, family_of
from traffic_mirroring.model import Inventory, Plan
from traffic_mirroring.observability import monthly_cost
from traffic_mirroring.reconcile import plan_actions
from traffic_mirroring.session_options import vni_map

# Jumbo frames: current-generation instances send packets up to 9001 bytes. VXLAN to an ENI target adds 54 bytes
# within the target's 9001-byte MTU, so a mirrored packet above 8947 bytes is truncated.
JUMBO_MTU, VXLAN_OVERHEAD = 9001, 54


def audit(settings: Settings, where: AwsTarget, guard: ReadOnlyGuard | None = None) -> dict[str, Any]:
    """Read the account through guarded clients and plan, as the reconciler does; returns the report.

    The inventory is read here (not through ``reconcile.plan_account``) because the report also names each
    instance and its type. Nothing is ever applied.
    """
    ec2, elbv2, sts = read_only_clients(where, guard)
    account = caller(sts).account  # first: a credentials problem then reads as one, not as a failed describe
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


def mtu_warnings(plan: Plan, inventory: Inventory, settings: Settings) -> list[dict[str, Any]]:
    """Sources that can send jumbo frames mirrored (or about to be) to a standalone ENI target."""
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
