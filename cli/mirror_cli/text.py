"""The terminal layout of mirror-audit's reports: one account's (``print_report``, with its ``--delivery`` section),
and an organization's (``print_organization_report``). Each report is laid out section by section, in the order
printed, from its plain data (``mirror_cli.account``, ``mirror_cli.organization``, ``mirror_cli.delivery``): the text
says nothing the ``--json`` output does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TextIO

from mirror_cli.organization import is_pattern
from mirror_cli.table import Cell, Page
from traffic_mirroring.delivery import RECEIVED
from traffic_mirroring.model import TARGET_KIND_ENI, TARGET_KIND_GWLB_ENDPOINT, TARGET_KIND_NLB
from traffic_mirroring.observability import monthly_cost


# -- words shared by both reports ------------------------------------------------------------------------------
def pool_text(report: Mapping[str, Any]) -> str:
    """The pool as the stack declares it: its TargetIds, and the tag that makes a target join it."""
    parts = [", ".join(report["target_ids"])] if report["target_ids"] else []
    if report.get("target_pool"):
        parts.append(f"targets tagged mirror-pool={report['target_pool']}")
    return "; ".join(parts) or "(empty: nothing can be placed)"


def coverage_line(figure: Mapping[str, Any]) -> str:
    """``6 of 7 ENIs (85.71%)``, or that none should be mirrored."""
    if not figure["enis_to_mirror"]:
        return "no ENI should be mirrored"
    return f"{figure['enis_mirrored']} of {_plural(figure['enis_to_mirror'], 'ENI')} ({figure['percent']:g}%)"


def unknown_ids_line(report: Mapping[str, Any]) -> str:
    """The one line on stderr when the settings name IDs the account does not have."""
    named = "; ".join(f"{row['setting']} names {row['id']}" for row in report["unknown_ids"])
    return (
        f"{named}: not in account {report['account']}, region {report['region']} (a typo, another account or Region, "
        "or an AWS RAM share not accepted)"
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# -- one account -------------------------------------------------------------------------------------------------
def print_report(report: Mapping[str, Any], out: TextIO, width: int | None = None) -> None:
    """The report as text that fits ``width`` columns (None or 0: one line per row, for grep); then its delivery
    section when it has one (``--delivery``)."""
    page = Page(out, width)
    for section in ACCOUNT_SECTIONS:
        section(page, report)
    if report.get("delivery"):
        print_delivery(report["delivery"], out, width)


def _header(page: Page, report: Mapping[str, Any]) -> None:
    page.say(
        f"Account {report['account']}, region {report['region']}: "
        f"sessions tagged mirror-managed-by={report['managed_by']}"
    )
    page.say(f"Target pool: {pool_text(report)}; filter of new sessions: {report['filter_id']}")


def _unknown_ids(page: Page, report: Mapping[str, Any]) -> None:
    if not report.get("unknown_ids"):
        return
    page.say()
    page.say("Not in this account and Region, or not visible to it (exit code 2): fix the setting before a deploy")
    page.table(["setting", "ID"], [[[r["setting"], f"({r['parameter']})"], r["id"]] for r in report["unknown_ids"]])


def _pool_targets(page: Page, report: Mapping[str, Any]) -> None:
    if not report.get("targets"):
        return
    page.say()
    page.say("Pool targets (preflight)")
    page.table(
        ["target", "kind", "VPC", "health"],
        [
            [row["target_id"], row["kind"] or None, row["vpc_id"] or None, f"{row['health']} {row['reason']}".strip()]
            for row in report["targets"]
        ],
    )
    risks = [(row["target_id"], risk) for row in report["targets"] for risk in row.get("advisories") or []]
    if risks:
        page.say()
        page.say("Target advisories (a risk, not a loss: sessions are still placed; what to do follows each)")
        page.table(["target", "advisory"], [[target, risk] for target, risk in risks])


def _mirroring_windows(page: Page, report: Mapping[str, Any]) -> None:
    if not report.get("mirroring_windows"):
        return
    page.say()
    page.say("Mirroring windows (mirror-until)")
    page.table(["instance", "until"], [[i, left] for i, left in report["mirroring_windows"].items()])


def _coverage(page: Page, report: Mapping[str, Any]) -> None:
    if not report.get("coverage"):
        return
    figure = report["coverage"]
    page.say()
    page.say(
        f"Coverage: {coverage_line(figure)} that should be mirrored are mirrored by a session of ours now; "
        f"with the plan applied: {coverage_line(figure['after_plan'])}"
    )
    if figure["fix_first"]:
        page.say('Not mirrored, what to fix first (the most ENIs first; README, "When an instance is not mirrored"):')
        page.table(
            ["reason", "ENIs", "instances", "for example"],
            [[r["reason"], str(r["enis"]), str(r["instances"]), r["examples"]] for r in figure["fix_first"]],
            align="<>>",
        )
    if figure["not_counted"]:
        counts = ", ".join(f"{count} {reason}" for reason, count in figure["not_counted"].items())
        page.say(f"Not counted (should not be mirrored now), ENIs: {counts}")


def _certain_creates(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The creates the reconciler would make (drift, in the cost), apart from those that ask AWS (``_probes``)."""
    return [r for r in report["creates"] if not r.get("probe_type")]


def _probes(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The creates that ask AWS whether an unlisted instance type can be a source: AWS decides, so not drift."""
    return [r for r in report["creates"] if r.get("probe_type")]


def _who(row: Mapping[str, Any], subject_key: str) -> list[str]:
    """An instance ID (or ENI ID), then its Name and (type) when known."""
    type_ = [f"({row['instance_type']})"] if row.get("instance_type") else []
    return [str(row[subject_key]), *str(row.get("name") or "").split(), *type_]


def _placement(row: Mapping[str, Any]) -> list[str]:
    """Where a create puts its session: the source ENI, → the target, the session number."""
    return [row["eni_id"], f"→ {row['target_id']}", f"#{row['session_number']}"]


def _creates(page: Page, report: Mapping[str, Any]) -> None:
    creates = _certain_creates(report)
    page.say()
    page.say(f"Would create {_plural(len(creates), 'session')}")
    if creates:
        page.table(
            ["instance", "ENI → target, session #", "reason"],
            [[_who(r, "instance_id"), _placement(r), r["reason"]] for r in creates],
        )
    probes = _probes(report)
    if probes:
        page.say()
        page.say(
            f"Would ask AWS with {_plural(len(probes), 'create')} whether an instance type not on its list can be a "
            "source (AWS decides: not drift, not in the cost below)"
        )
        page.table(
            ["instance", "ENI → target, session #", "type asked"],
            [[_who(r, "instance_id"), _placement(r), r["probe_type"]] for r in probes],
        )


def _deletes(page: Page, report: Mapping[str, Any]) -> None:
    deletes = report["deletes"]
    page.say()
    page.say(f"Would delete {_plural(len(deletes), 'session')}")
    if deletes:
        page.table(
            ["instance or ENI", "session on ENI → target", "reason"],
            [
                [_who(r, "subject"), [r["session_id"], f"on {r['eni_id']}", f"→ {r['target_id']}"], r["reason"]]
                for r in deletes
            ],
        )


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


def _moves(page: Page, report: Mapping[str, Any]) -> None:
    moves = report["moves"]
    page.say()
    page.say(f"Would move {_plural(len(moves), 'session')}")
    if moves:
        page.table(
            ["instance", "session on ENI: change", "reason"],
            [[_who(r, "instance_id"), _move(r), r["reason"]] for r in moves],
        )


def _skips(page: Page, report: Mapping[str, Any]) -> None:
    if not report["skips"]:
        return
    page.say()
    page.say(f"Skipped: nothing the reconciler can do about these ({len(report['skips'])})")
    page.table(
        ["instance or ENI", "ENI", "reason"],
        [[_who(s, "subject"), s["eni_id"], s["reason"]] for s in report["skips"]],
    )


def _status_tags(page: Page, report: Mapping[str, Any]) -> None:
    if not report["status_tags"]:
        return
    page.say()
    page.say(f"Would write the mirror-status tag of {_plural(len(report['status_tags']), 'instance')}")
    asking = {r["instance_id"] for r in _probes(report)}

    def would_be(row: Mapping[str, Any]) -> str:
        desired = str(row["desired"] or "(removed)")
        return f"{desired} if AWS accepts its type" if row["instance_id"] in asking else desired

    page.table(
        ["instance", "mirror-status now", "would be"],
        [[_who(t, "instance_id"), t["current"] or "(none)", would_be(t)] for t in report["status_tags"]],
    )


def _vni_cell(row: Mapping[str, Any]) -> list[str]:
    """The VNI, and the session's mirror-vni tag when it says another (written at creation; a modify keeps tags)."""
    vni = str(row["virtual_network_id"]) if row["virtual_network_id"] is not None else "-"
    tag = row.get("vni_tag")
    return [vni, f"(tag {tag})"] if tag is not None and tag != vni else [vni]


def _session_options(page: Page, report: Mapping[str, Any]) -> None:
    options = report.get("session_options") or []
    if options:
        page.say()
        whole = "whole packets" if report.get("packet_length") is None else f"{report['packet_length']} bytes"
        page.say(
            f"Our sessions' VNI and packet length as AWS describes them (VniPolicy {report.get('vni_policy')}, "
            f"PacketLength {whole}):"
        )
        # By session and ENI: the text report names only the instances that change (--json has them all).
        page.table(
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
        page.say()
        page.say("VNI → source VPC:")
        page.table(["VNI", "VPC"], [[vni, sources] for vni, sources in report["vni_map"].items()])


def _instance_types(page: Page, report: Mapping[str, Any]) -> None:
    verdicts = report.get("instance_type_verdicts") or {}
    if verdicts:
        page.say()
        page.say("Instance types not on AWS's list of supported sources (ask-aws: the reconciler's first create asks):")
        page.table(["instance type", "verdict"], [[name, verdict] for name, verdict in sorted(verdicts.items())])


def _cost(page: Page, report: Mapping[str, Any]) -> None:
    cost, sessions = report["cost"], report["sessions"]
    deletes, creates = report["deletes"], _certain_creates(report)
    now, after, price = sessions["managed_now"], sessions["managed_after"], cost["hourly_price"]
    page.say()
    page.say(
        f"Monthly cost of our sessions at ${cost['hourly_price']:g} per session-hour (AWS bills each session every "
        "hour until it is deleted; a move keeps its session):"
    )
    money_rows = [["now", str(now), f"${cost['monthly_now']:,.2f}"]]
    if deletes:
        money_rows.append(["deleted", f"-{len(deletes)}", f"-${monthly_cost(len(deletes), price):,.2f}"])
    if creates:
        money_rows.append(["created", f"+{len(creates)}", f"+${monthly_cost(len(creates), price):,.2f}"])
    money_rows.append(["after the plan", str(after), f"${cost['monthly_after']:,.2f}"])
    page.table(["", "sessions", "a month"], money_rows, align="<>>")
    page.say()


def _mtu(page: Page, report: Mapping[str, Any]) -> None:
    if not report.get("mtu_warnings"):
        return
    page.say()
    page.say(
        f"MTU: {_plural(len(report['mtu_warnings']), 'source ENI')} can send jumbo frames (9001 bytes) to a "
        "standalone ENI target: mirrored packets above 8947 bytes are truncated. Lower the sources' MTU to 8947, "
        "set PacketLength, or use an NLB or Gateway Load Balancer endpoint target."
    )
    page.table(
        ["instance", "ENI", "target"],
        [[f"{r['instance_id']} ({r['instance_type']})", r["eni_id"], r["target_id"]] for r in report["mtu_warnings"]],
    )


def _drift(page: Page, report: Mapping[str, Any]) -> None:
    page.say("Drift: yes, the reconciler would change the sessions above" if report["drift"] else "Drift: none")


ACCOUNT_SECTIONS = (
    _header,
    _unknown_ids,
    _pool_targets,
    _mirroring_windows,
    _coverage,
    _creates,
    _deletes,
    _moves,
    _skips,
    _status_tags,
    _session_options,
    _instance_types,
    _cost,
    _mtu,
    _drift,
)


# -- one account's delivery (--delivery) -------------------------------------------------------------------------
_SHORT_KIND = {TARGET_KIND_NLB: "NLB", TARGET_KIND_GWLB_ENDPOINT: "GWLB endpoint", TARGET_KIND_ENI: "ENI"}


def _size(count: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:,.1f} {unit}"
    return f"{count:,.0f} B"


def _delivery_row(row: Mapping[str, Any]) -> list[Cell]:
    """A pool target: its sources (and those counted elsewhere too, or not read), bytes expected and received, the
    ratio, the verdict."""
    sources = row["sources"]
    counted = str(sources["counted"])
    if sources["also_elsewhere"]:
        counted += f" (+{sources['also_elsewhere']} elsewhere too)"
    if sources["not_read"]:
        counted += f" (+{sources['not_read']} not read)"
    ratio = "-" if row["ratio"] is None else f"{row['ratio']:.0%}"
    verdict = row["verdict"] + (" !" if row["flagged"] else "")
    kind = _SHORT_KIND.get(row["kind"], row["kind"])
    return [
        [row["target_id"], f"({kind})"] if kind else row["target_id"],
        counted,
        _size(row["expected_bytes"]),
        _size(row["received_bytes"]),
        ratio,
        f"{verdict}: {row['reason']}" if row["reason"] else verdict,
    ]


def print_delivery(delivery: Mapping[str, Any], out: TextIO, width: int | None = None) -> None:
    """The delivery section of the text report."""
    page = Page(out, width)
    window = delivery["window"]
    page.say()
    page.say(
        f"Delivery, {window['start']} to {window['end']}: what each pool target's sources mirrored (with "
        f"{delivery['overhead_bytes_per_packet']} bytes of VXLAN a packet) and what it received. A target is flagged "
        f"below {delivery['min_ratio']:.0%}, or when it received nothing while its sources sent"
    )
    columns = ["target", "sources", "expected", "received", "ratio", "verdict"]
    page.table(columns, [_delivery_row(row) for row in delivery["targets"]])
    kinds = sorted({row["kind"] for row in delivery["targets"] if row["kind"] in RECEIVED})
    if kinds:
        page.say()
        page.say(
            "Received is read from (each also counts traffic that is not mirrored: it shows a loss, never delivery):"
        )
        for kind in kinds:
            spec = RECEIVED[kind]
            page.say(f"{kind}: {spec.name}: {spec.includes}", indent=2)
    flagged_ids = delivery["flagged"]
    page.say()
    if flagged_ids:
        page.say(
            f'Delivery: {len(flagged_ids)} target(s) flagged ({", ".join(flagged_ids)}): see README, "Know that '
            'mirrored packets arrive"'
        )
    else:
        page.say("Delivery: no loss shown")


# -- an organization ---------------------------------------------------------------------------------------------
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


def _total_where(report: Mapping[str, Any]) -> list[str]:
    return [f"total, {report['totals']['audited']} audited"]


def _audited(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [row for row in report["account_regions"] if row["audited"]]


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
    page = Page(out, width)
    _organization_header(page, report)
    if _audited(report):
        for section in AUDITED_SECTIONS:
            section(page, report)
    _not_audited(page, report)
    _organization_drift(page, report)


def _organization_header(page: Page, report: Mapping[str, Any]) -> None:
    accounts = sorted({row["account"] for row in report["account_regions"]})
    source = "every ACTIVE account of the organization" if report["source"] == "organization" else "--accounts"
    page.say(
        f"Audit from account {report['audit_account']} of {len(accounts)} accounts ({source}) in "
        f"{', '.join(report['regions'])}, through role {report['role_name']}: sessions tagged "
        f"mirror-managed-by={report['managed_by']}"
    )
    pool = pool_text(report)
    mirror_filter = report["filter_id"] or f"each account's own, tagged mirror-managed-by={report['managed_by']}"
    page.say(f"Target pool: {pool}; filter of new sessions: {mirror_filter}")
    if report["inactive_accounts"]:
        skipped = ", ".join(f"{a['account']} ({a['state']})" for a in report["inactive_accounts"])
        page.say(f"Not ACTIVE in the organization, not audited: {skipped}")


def _session_counts(row: Mapping[str, Any]) -> list[str]:
    """An account-region's (or the totals') sessions, changes and skips, as the sessions table's cells."""
    sessions, changes = row["sessions"], row["changes"]
    return [
        str(sessions.get("ours", 0)),
        str(sessions.get("others", 0)),
        str(changes.get("creates", 0)),
        str(changes.get("deletes", 0)),
        str(changes.get("moves", 0)),
        str(sum(row["skips"].values())),
        str(sessions.get("ours_after", 0)),
    ]


def _organization_sessions(page: Page, report: Mapping[str, Any]) -> None:
    summed = report["totals"]
    page.say()
    page.say("Sessions (ours now and after the plan; others: sessions in the account's view that are not ours)")
    page.table(
        ["account region", "ours", "others", "create", "delete", "move", "skipped", "ours after", "drift"],
        [[_where(row), *_session_counts(row), "yes" if row["drift"] else "no"] for row in _audited(report)]
        + [[_total_where(report), *_session_counts(summed), f"{summed['with_drift']} of {summed['audited']}"]],
        align="<>>>>>>>",
    )


def _organization_reasons(page: Page, report: Mapping[str, Any]) -> None:
    reasons = [[_where(row), *line] for row in _audited(report) for line in _reason_rows(row)]
    if reasons:
        page.say()
        page.say("Changes and skips by reason")
        page.table(
            ["account region", "what", "reason", "sessions"],
            [*reasons, *([_total_where(report), *line] for line in _reason_rows(report["totals"]))],
            align="<<<>",
        )


def _money(row: Mapping[str, Any]) -> list[str]:
    return [f"${row['cost']['monthly_now']:,.2f}", f"${row['cost']['monthly_after']:,.2f}"]


def _organization_cost(page: Page, report: Mapping[str, Any]) -> None:
    page.say()
    page.say(
        f"Monthly cost of our sessions at ${report['hourly_price']:g} per session-hour (AWS bills each session "
        "every hour until it is deleted)"
    )
    page.table(
        ["account region", "now", "after the plan"],
        [[_where(row), *_money(row)] for row in _audited(report)] + [[_total_where(report), *_money(report["totals"])]],
        align="<>>",
    )


def _organization_coverage(page: Page, report: Mapping[str, Any]) -> None:
    page.say()
    page.say('Coverage: ENIs that should be mirrored, and those a session of ours mirrors now (README, "Coverage")')
    page.table(
        ["account region", "to mirror", "mirrored", "coverage", "not mirrored, by reason"],
        [[_where(row), *_coverage_cells(row["coverage"])] for row in _audited(report)]
        + [[_total_where(report), *_coverage_cells(report["totals"]["coverage"])]],
        align="<>>><",
    )


def _each_stack(page: Page, report: Mapping[str, Any]) -> None:
    """Each account's stack name and filter, when they are each account's own (no --filter-id, or a pattern)."""
    if report["filter_id"] and not is_pattern(report["managed_by"]):
        return
    page.say()
    page.say("Each account's stack: its name (the sessions' marker) and its filter")
    page.table(
        ["account region", "stack name", "filter"],
        [[_where(row), row["managed_by"], row["filter_id"]] for row in _audited(report)],
    )


def _organization_unknown_ids(page: Page, report: Mapping[str, Any]) -> None:
    unknown = [
        [_where(row), [r["setting"], f"({r['parameter']})"], r["id"]]
        for row in _audited(report)
        for r in row["unknown_ids"]
    ]
    if unknown:
        page.say()
        page.say(
            "Targets and filters of the settings that an account-region does not have or cannot see (exit code 2 "
            "when no account-region has one: a typo; else a share not accepted, or a StackSet's overrides)"
        )
        page.table(["account region", "setting", "ID"], unknown)


def _not_audited(page: Page, report: Mapping[str, Any]) -> None:
    failed = [row for row in report["account_regions"] if not row["audited"]]
    if failed:
        page.say()
        page.say(f"Not audited ({len(failed)})")
        page.table(["account region", "reason"], [[_where(row), row["error"]] for row in failed])


def _organization_drift(page: Page, report: Mapping[str, Any]) -> None:
    summed = report["totals"]
    page.say()
    if summed["with_drift"]:
        page.say(f"Drift: yes in {summed['with_drift']} of {summed['audited']} account-regions audited")
    else:
        page.say(f"Drift: none in the {summed['audited']} account-regions audited")
    if not report["complete"]:
        page.say(incomplete_line(report))


AUDITED_SECTIONS = (
    _organization_sessions,
    _organization_reasons,
    _organization_cost,
    _organization_coverage,
    _each_stack,
    _organization_unknown_ids,
)
