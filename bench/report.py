"""docs/benchmarks.md and the reconcile scaling plot, from bench/results.json's content."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.cost import API_LATENCY_SECONDS as API_LATENCY
from bench.cost import CPU_FACTOR as LAMBDA_CPU_FACTOR
from bench.cost import PRICES, dollars, lambda_seconds
from bench.machine import describe
from traffic_mirroring.config import Settings
from traffic_mirroring.ec2_gateway import ADVISORY_CACHE_SECONDS

# What a container keeps target facts for, as the functions load it (TARGET_CACHE_SECONDS), said in the text.
TARGET_CACHE_SECONDS = Settings(target_ids=(), filter_id="").target_cache_seconds

PLOT_NAME = "benchmarks-reconcile.png"
ORG_PLOT_NAME = "benchmarks-org-audit.png"
TIMES = "\u00d7"  # the multiplication sign, in the generated text
SESSION_HOUR = dollars(PRICES["session_hour"].each)  # "$0.015"


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)
    return lines


def _verdict(ok: bool) -> str:
    return "yes" if ok else "**NO**"


def _money(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def _ops(by_operation: Mapping[str, int]) -> str:
    return ", ".join(f"{op} {n}" if n > 1 else op for op, n in by_operation.items())


def plot(results: Mapping[str, Any], path: Path) -> None:
    """Two panels, log x: API calls against N (with the budget), wall time against N (ours and moto's part)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = results["reconcile_scaling"]["cases"]
    sizes = sorted({c["managed_sessions"] for c in cases})

    def series(orphans: bool, key: str) -> list[float]:
        return [
            next(c[key] for c in cases if c["managed_sessions"] == n and (c["orphans"] > 0) == orphans) for n in sizes
        ]

    figure, (calls, seconds) = plt.subplots(1, 2, figsize=(11, 4.2))
    calls.plot(sizes, series(False, "api_calls"), "o-", label="no changes")
    calls.plot(sizes, series(True, "api_calls"), "s-", label="10% orphans")
    calls.plot(sizes, series(True, "api_calls_without_status_tags"), "s--", label="10% orphans, status tags excluded")
    calls.plot(sizes, series(False, "budget"), "k:", label="budget, no changes: 3·⌈N/1000⌉+10")
    calls.plot(sizes, series(True, "budget"), "k-.", label="budget, 10% orphans (+1 per change)")
    calls.set_xscale("log")
    calls.set_yscale("log")
    calls.set_xlabel("managed sessions N")
    calls.set_ylabel("AWS API calls per reconcile")
    calls.legend(fontsize=7)
    calls.grid(True, which="both", alpha=0.3)

    seconds.plot(sizes, series(False, "wall_seconds"), "o-", label="wall, no changes")
    seconds.plot(sizes, series(True, "wall_seconds"), "s-", label="wall, 10% orphans")
    seconds.plot(sizes, series(False, "client_seconds"), "o--", label="ours + botocore, no changes")
    seconds.plot(sizes, series(True, "client_seconds"), "s--", label="ours + botocore, 10% orphans")
    seconds.set_xscale("log")
    seconds.set_yscale("log")
    seconds.set_xlabel("managed sessions N")
    seconds.set_ylabel("seconds (moto in-process)")
    seconds.legend(fontsize=7)
    seconds.grid(True, which="both", alpha=0.3)

    machine = results["machine"]
    runs = ", ".join(f"{n:,}: {next(c['runs'] for c in cases if c['managed_sessions'] == n)}" for n in sizes)
    figure.suptitle(
        f"Scheduled reconcile, cold container: {machine['cpu_model']}, {machine['cores']} cores, "
        f"Python {machine['python']}, moto {machine['moto']}; runs per point (median) {runs}",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


_ORG_MODES = {
    "serial": "1 worker",
    "parallel": "{workers} workers",
    "serial_latency": "1 worker, +{latency:g} s a call (computed)",
    "parallel_latency": "{workers} workers, +{latency:g} s a call",
}


def _org_mode(org: Mapping[str, Any], mode: str) -> str:
    return _ORG_MODES[mode].format(workers=org["workers"], latency=org["latency_seconds"])


def plot_org_audit(results: Mapping[str, Any], path: Path) -> None:
    """Two panels against the number of accounts: wall time (serial and parallel, with and without the added round
    trip, each with its least-squares line) and API calls per account (with the caller's own)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    org = results["org_audit"]
    cases = org["cases"]
    accounts = [c["accounts"] for c in cases]
    figure, (seconds, calls) = plt.subplots(1, 2, figsize=(11, 4.2))
    for mode, marker in zip(org["fits"], ("o-", "s-", "o--", "s--"), strict=False):
        line = org["fits"][mode]
        seconds.plot(accounts, [c["seconds"][mode] for c in cases], marker, label=_org_mode(org, mode))
        seconds.plot(
            accounts, [line["fixed"] + line["per_account"] * n for n in accounts], "k:", linewidth=0.8, label=None
        )
    seconds.set_xlabel("accounts audited")
    seconds.set_ylabel("seconds (moto in-process)")
    seconds.set_ylim(bottom=0)
    seconds.set_xlim(left=0)
    seconds.legend(fontsize=7)
    seconds.grid(True, alpha=0.3)
    seconds.set_title(
        f"wall time, {org['sessions_per_account']} sessions per account (dotted: least squares)", fontsize=9
    )

    per_account = [c["calls_per_account"] if isinstance(c["calls_per_account"], int) else 0 for c in cases]
    for mode, marker in (("serial", "o:"), ("parallel", "s:")):
        if all("cpu_seconds" in c for c in cases):
            seconds.plot(
                accounts, [c["cpu_seconds"][mode] for c in cases], marker, label=f"CPU s, {_org_mode(org, mode)}"
            )
    seconds.legend(fontsize=7)
    calls.plot(accounts, per_account, "o-", label="API calls per account (member's role)")
    calls.plot(accounts, [c["caller_calls"] for c in cases], "s-", label="the caller's own calls, in all")
    calls.set_xlabel("accounts audited")
    calls.set_ylabel("API calls")
    calls.set_ylim(bottom=0, top=max(per_account + [c["caller_calls"] for c in cases]) * 1.5)
    calls.set_xlim(left=0)
    calls.legend(fontsize=7)
    calls.grid(True, alpha=0.3)
    calls.set_title("calls per account do not depend on the number of accounts", fontsize=9)

    machine = results["machine"]
    figure.suptitle(
        f"mirror-audit --organization: {machine['cpu_model']}, {machine['cores']} cores, Python {machine['python']}, "
        f"moto {machine['moto']}",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def markdown(
    results: Mapping[str, Any], plot_name: str | None = PLOT_NAME, org_plot_name: str | None = ORG_PLOT_NAME
) -> str:
    machine = results["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m bench.run`); edit `bench/report.py`, not this file. "
        "Raw figures: `bench/results.json`.",
        "",
        f"- **Machine**: {describe(machine)}. Load average when the run started: {machine.get('load_average')} "
        f"(other work on the machine slows wall times, never call counts). Generated {results['generated']}.",
        f"- **`make bench` itself**: {results['total_seconds']:.0f} s for every figure below (sam build included).",
        "- AWS is moto with the strict layer (`simulation/strict_aws.py`), in process: call counts are exact; "
        "wall times are this machine's, with moto standing in for EC2 and the network.",
        "",
        "## Summary",
        "",
    ]
    lines.extend(_summary(results))
    lines.extend(_api_calls(results["api_calls"]))
    lines.extend(_reconcile(results["reconcile_scaling"], plot_name))
    lines.extend(_cold_start(results["cold_start"]))
    lines.extend(_burst(results.get("burst")))
    lines.extend(_cost(results["cost"]))
    lines.extend(_org_audit(results.get("org_audit"), org_plot_name))
    lines.extend(_windows_and_preflight(results.get("windows_and_preflight")))
    lines.extend(_skip_check(results.get("skip_check")))
    lines.extend(_delivery_and_time_to_coverage(results.get("delivery"), results.get("time_to_coverage")))
    return "\n".join(lines) + "\n"


def _windows_and_preflight(figures: Mapping[str, Any] | None) -> list[str]:
    if not figures:
        return []
    guardduty = figures["guardduty"]
    lines = [
        "",
        "## 7. Incident windows, GuardDuty findings and target preflight",
        "",
        "`bench/windows_and_preflight.py`. Each case checks the account afterwards (both ENIs mirrored, exactly the "
        "expired sessions gone, every target healthy and nothing changed).",
        "",
        f"**A GuardDuty finding (severity 8) on a {guardduty['enis']}-ENI instance**, through the GuardDuty "
        "function, from the finding to every ENI mirrored with the finding's window (`mirror-finding-until`) set:",
        "",
    ]
    lines.extend(
        _table(
            ["container", "calls", "by operation"],
            [[c, guardduty[c]["calls"], _ops(guardduty[c]["by_operation"])] for c in ("cold", "warm")],
        )
    )
    lines += ["", "**One scheduled reconcile with 10% of the instances past their `mirror-until`:**", ""]
    lines.extend(
        _table(
            ["instances", "expired (deleted)", "calls", "by operation", "wall s"],
            [
                [c["instances"], c["expired"], c["calls"], _ops(c["by_operation"]), c["seconds"]]
                for c in figures["expired"]
            ],
        )
    )
    lines += [
        "",
        "Each expired session costs its DeleteTrafficMirrorSession; the status tags of every instance go in one "
        "batched CreateTags. Expiries do not count toward the safety valve (a window someone chose to end).",
        "",
        "**Target preflight: the calls it adds to a scheduled reconcile, 5 pool targets (2 ENI targets, 2 NLBs at "
        "AWS's defaults, 1 Gateway Load Balancer endpoint), in a container's first run and once warm:**",
        "",
    ]
    lines.extend(
        _table(
            ["sessions", "targets", "run", "reconcile calls", "preflight calls", "by operation", f"≤ {5}"],
            [
                row
                for c in figures["preflight"]
                for row in (
                    [
                        c["sessions"],
                        c["targets"],
                        "first",
                        c.get("first_run_calls", c["calls"]),
                        c.get("first_run_preflight_calls", c["preflight_calls"]),
                        _ops(c.get("first_run_preflight_by_operation", c["preflight_by_operation"])),
                        _verdict(c.get("first_run_preflight_calls", c["preflight_calls"]) <= 5),
                    ],
                    [
                        c["sessions"],
                        c["targets"],
                        "warm",
                        c["calls"],
                        c["preflight_calls"],
                        _ops(c["preflight_by_operation"]),
                        _verdict(c["within_budget"]),
                    ],
                )
            ],
        )
    )
    lines += [
        "",
        "One DescribeSecurityGroups for every ENI target's and NLB's security groups together and one "
        "DescribeNetworkAcls for every ENI target's subnet: the same at every size, since the sources' addresses "
        "come with DescribeInstances and nothing is read per session. Cross-zone load balancing (one "
        "DescribeTargetGroupAttributes per NLB, and one DescribeLoadBalancerAttributes where its target group "
        "defers to it, as AWS's default does) only ever yields an advisory, so a container keeps it "
        f"{ADVISORY_CACHE_SECONDS // 60} minutes: "
        "a container's first run pays it, a warm one does not.",
    ]
    return lines


def _summary(results: Mapping[str, Any]) -> list[str]:
    api = results["api_calls"]["warm_launch_1_eni"]
    scaling = results["reconcile_scaling"]
    cold = results["cold_start"]
    burst = results.get("burst")
    cost = results["cost"]
    rows: list[list[object]] = [
        ["API calls, warm launch, 1 ENI", api["calls"], f"≤ {api['budget']}", _verdict(api["within_budget"])],
    ]
    for busy in results["api_calls"].get("busy_pool") or []:
        rows.append(
            [
                f"API calls, warm launch, 1 ENI, {busy['sessions_on_pool']:,} sessions already on the pool",
                busy["calls"],
                f"≤ {api['budget']}",
                _verdict(busy["calls"] <= api["budget"])
                + " (capacity read pages, see 1)" * (busy["calls"] > api["budget"]),
            ]
        )
    healthy = [c for c in scaling["cases"] if c["orphans"] == 0]
    orphaned = [c for c in scaling["cases"] if c["orphans"] > 0]
    rows.append(
        [
            "reconcile calls, no changes, N = " + ", ".join(f"{c['managed_sessions']:,}" for c in healthy),
            ", ".join(str(c["api_calls"]) for c in healthy),
            ", ".join(f"≤ {c['budget']}" for c in healthy),
            _verdict(all(c["within_budget"] for c in healthy)),
        ]
    )
    rows.append(
        [
            "reconcile calls, 10% orphans, N = " + ", ".join(f"{c['managed_sessions']:,}" for c in orphaned),
            ", ".join(str(c["api_calls"]) for c in orphaned),
            ", ".join(f"≤ {c['budget']}" for c in orphaned),
            _verdict(all(c["within_budget"] for c in orphaned))
            + " (status tags: one call per instance, see 2)" * (not all(c["within_budget"] for c in orphaned)),
        ]
    )
    if "deployed" in cold:
        rows.append(
            [
                f"handler import ÷ `import boto3`, Python {cold['deployed']['python']} after sam build (worst)",
                f"{cold['worst_ratio']:.2f}{TIMES}",
                f"≤ {cold['budget_ratio']}{TIMES}",
                _verdict(cold["within_budget"]),
            ]
        )
    if burst:
        rows.append(
            [
                f"burst of {burst['launches']} launches, time ÷ (calls ÷ allowed rate)",
                f"{burst['ratio']:.2f}{TIMES}",
                f"≤ {burst['budget_ratio']}{TIMES}",
                _verdict(burst["within_budget"]),
            ]
        )
    org = results.get("org_audit")
    if org:
        cases = org["cases"]
        rows.append(
            [
                "organization audit, API calls per account, "
                + ", ".join(f"{c['accounts']}" for c in cases)
                + f" accounts of {org['sessions_per_account']:,} sessions",
                ", ".join(str(c["calls_per_account"]) for c in cases),
                "the same at every size",
                _verdict(org["calls_per_account_constant"]),
            ]
        )
    for fleet in cost["fleets"]:
        rows.append(
            [
                f"stack cost ÷ session cost, {fleet['instances']:,} instances, {cost['daily_churn']:.0%} daily churn "
                f"({_money(fleet['total'])} of {_money(fleet['sessions'])} a month)",
                _share(fleet["share"]),
                f"≤ {fleet['budget_share']:.1%}",
                _verdict(fleet["within_budget"]),
            ]
        )
    skip = results.get("skip_check")
    if skip:
        rows.append(
            [
                "skip check, API calls per run, "
                + ", ".join(f"{c['instances']:,}" for c in skip["cases"])
                + " instances",
                ", ".join(str(c["api_calls"]) for c in skip["cases"]),
                "⌈N/1000⌉ + ⌈N/250⌉",
                _verdict(skip["all_as_needed"]),
            ]
        )
    return [*_table(["figure", "measured", "budget", "met"], rows), ""]


def _api_calls(api: Mapping[str, Any]) -> list[str]:
    lines = [
        "## 1. API calls per trigger",
        "",
        f"Each handler runs on a real-shaped event (`events/`), {api['runs']} runs per case (counts are identical "
        f"across runs, checked). Pool: {api['pool']}. **Cold**: a fresh container (`Runtime.from_environment`: new "
        "clients, empty caches), its first event. **Warm**: the same container, the same trigger, a second instance. "
        "Every run also checks the account afterwards (sessions on every ENI, or none of ours left). The minimum is "
        "what the logic needs (explained below the table); a cold container must also learn, once, what the warm "
        "one has cached.",
        "",
    ]
    rows = []
    for row in api["rows"]:
        cold, warm = row["cold"], row["warm"]
        rows.append(
            [
                row["trigger"],
                row["enis"],
                cold["calls"],
                cold["minimum"],
                warm["calls"],
                warm["minimum"],
                _ops(warm["by_operation"]),
            ]
        )
    lines.extend(_table(["trigger", "ENIs", "cold", "cold min", "warm", "warm min", "warm calls"], rows))
    lines.append("")
    lines.append("Minimum, warm (k = ENIs):")
    lines.append("")
    seen: set[str] = set()
    for row in api["rows"]:
        if row["trigger"] in seen:
            continue
        seen.add(row["trigger"])
        lines.append(f"- **{row['trigger']}**: {row['minimum_formula']}: {row['minimum_why']}.")
    launch = api["rows"][0]
    lines.append(f"- **Cold, launch-like triggers**: + {launch['cold_extra_formula']}, {launch['cold_extra_why']}.")
    lines.append("- **Cold, removal triggers**: + 0; removing sessions needs neither type nor target facts.")
    lines.append("")
    lines.extend(_over_minimum(api["rows"]))
    budget = api["warm_launch_1_eni"]
    lines.append(
        f"Budget: warm launch with 1 ENI ≤ {budget['budget']} calls: measured **{budget['calls']}** "
        f"({'met' if budget['within_budget'] else 'MISSED'}) with the pool above, nearly empty."
    )
    lines.append("")
    busy = api.get("busy_pool") or []
    if busy:
        lines.extend(
            [
                "**The same warm launch when the pool already mirrors many instances** (sessions seeded on the "
                "pool's NLB target). A launch reads how many sources the pool's targets have, to respect an ENI "
                "target's limit and to spread the load; a describe of sessions pages at 1,000:",
                "",
                *_table(
                    ["sessions already on the pool", "cold launch", "warm launch", "warm calls by operation", "warm s"],
                    (
                        [
                            f"{b['sessions_on_pool']:,}",
                            b["cold_calls"],
                            b["calls"],
                            _ops(b["by_operation"]),
                            f"{b['seconds']:.2f}",
                        ]
                        for b in busy
                    ),
                ),
                "",
                *_busy_pool_verdict(busy, budget["budget"]),
            ]
        )
    return lines


def _busy_pool_verdict(busy: Sequence[Mapping[str, Any]], budget: int) -> list[str]:
    worst = max(busy, key=lambda b: (b["calls"], b["sessions_on_pool"]))
    if worst["calls"] <= budget:
        largest = max(busy, key=lambda b: b["sessions_on_pool"])
        return [
            f"The warm budget of {budget} holds at every pool size measured (up to "
            f"{largest['sessions_on_pool']:,} sessions). A cold container reads the pool's counts once "
            f"({largest['cold_calls']} calls at {largest['sessions_on_pool']:,} sessions: "
            f"{_ops(largest['cold_by_operation'])}) and keeps them for the target cache period "
            f"(`TARGET_CACHE_SECONDS`, {TARGET_CACHE_SECONDS} s).",
            "",
        ]
    return [
        f"**Budget missed at scale**: ≤ {budget} holds only while the pool's targets hold fewer than about 1,000 "
        f"sessions ({worst['calls']} calls at {worst['sessions_on_pool']:,}). A cheaper correct way: count usage "
        "fresh only on targets that have a source limit (ENI targets: at most 100 sources each, so one page for up "
        "to 10 of them) and spread sessions over unlimited NLB/GWLB targets from counts cached per container (or "
        "without counting); the warm launch would then cost the same at any account size.",
        "",
    ]


def _over_minimum(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Why the product spends more than the minimum, read from what it called (so it stays true as it changes)."""
    by_case = {(r["trigger"], r["enis"]): r for r in rows}
    notes: list[str] = []
    launch = by_case.get(("state change: running", 1))
    if launch:
        warm, cold = launch["warm"], launch["cold"]
        if warm["calls"] > warm["minimum"] and warm["by_operation"].get("DescribeTrafficMirrorSessions", 0) >= 3:
            notes.append(
                f"- **Warm launch: {warm['calls'] - warm['minimum']} call(s) over the minimum**, the "
                "DescribeTrafficMirrorSessions after the creates. AWS answers a repeated ClientToken with the session "
                "it created first, even when that session was deleted since (by our rollback, or an unmirror and "
                "re-mirror within the token's window); the executor confirms its creations with one describe per "
                "instance and re-creates any that is gone. No cheaper way was found that stays correct for a retry "
                "landing in another container."
            )
        extra = cold["calls"] - warm["calls"] - launch_cold_extra(rows)
        if extra > 0:
            parts = []
            types = cold["by_operation"].get("DescribeInstanceTypes", 0)
            if types > 1:
                parts.append(
                    f"DescribeInstanceTypes is called {types} times (the source type, the target host's family for "
                    "the 10-or-100 sources rule, and the target host's own type, which the family answer already "
                    "holds): one call can ask for the source type and the host family together"
                )
            if cold["by_operation"].get("DescribeNetworkInterfaces"):
                parts.append(
                    "the ENI target's zone and host come from DescribeNetworkInterfaces + DescribeInstances, where "
                    "one DescribeInstances filtered on `network-interface.network-interface-id` gives both (a "
                    "detached target ENI would still need DescribeNetworkInterfaces)"
                )
            preflight = [
                name
                for name in (
                    "DescribeSecurityGroups",
                    "DescribeNetworkAcls",
                    "DescribeTargetGroupAttributes",
                    "DescribeLoadBalancerAttributes",
                )
                if cold["by_operation"].get(name)
            ]
            if preflight:
                parts.append(
                    f"target preflight, {' + '.join(preflight)}: what admits UDP 4789 to the targets, and an NLB's "
                    f"cross-zone setting (kept {ADVISORY_CACHE_SECONDS // 60} minutes), read with the targets"
                )
            cold_reads = cold["by_operation"].get("DescribeTrafficMirrorSessions", 0)
            if cold_reads > warm["by_operation"].get("DescribeTrafficMirrorSessions", 0):
                more = cold_reads - warm["by_operation"]["DescribeTrafficMirrorSessions"]
                parts.append(
                    f"DescribeTrafficMirrorSessions {more} more time(s): the unlimited (NLB) targets' source counts, "
                    "read once and cached per container to spread the load (one page per 1,000 sessions on them, "
                    "see the next table)"
                )
            notes.append(
                f"- **Cold launch: {cold['calls'] - cold['minimum']} call(s) over the cold minimum**: the warm "
                f"launch's {warm['calls'] - warm['minimum']}, and {extra} a container pays once"
                + (": " + "; ".join(parts) if parts else "")
                + "."
            )
    stop = by_case.get(("state change: stopped", 1))
    if (
        stop
        and stop["cold"]["calls"] > stop["cold"]["minimum"]
        and stop["cold"]["by_operation"].get("DescribeInstanceTypes")
    ):
        notes.append(
            f"- **Cold stop / terminate / untag: {stop['cold']['calls'] - stop['cold']['minimum']} call over the "
            "minimum**: DescribeInstanceTypes for an instance whose sessions are removed whatever its type. Once "
            "per container."
        )
    notes.append(
        "- **Terminated, 3 ENIs**: the secondary ENIs (attached after launch: DeleteOnTermination false) survive the "
        "instance with their sessions, which bill until deleted; DescribeNetworkInterfaces tells where they went."
    )
    return ["Where the product spends more than the minimum, and why:", "", *notes, ""]


def launch_cold_extra(rows: Sequence[Mapping[str, Any]]) -> int:
    row = next(r for r in rows if r["trigger"] == "state change: running")
    return int(row["cold"]["minimum"] - row["warm"]["minimum"])


def _reconcile(scaling: Mapping[str, Any], plot_name: str | None) -> list[str]:
    lines = [
        "## 2. Reconcile scaling",
        "",
        "One scheduled reconcile (the real handler, `functions/scheduled_reconciler`) in a cold container over N "
        "tagged m5.large instances, each with one managed session on an NLB target; with no changes, and with 10% "
        "of the instances untagged (their sessions are orphans: 10, 100, 1,000 deletes). The account is seeded "
        "through moto's backend objects; only the reconcile goes through boto3 and the strict layer. Wall time is "
        "split into moto's part (answering: AWS's side in a deployment) and ours (our code and botocore's "
        "serializing and parsing: what the Lambda computes). `bench/moto_patches.py` removes one of moto's own "
        "O(N) lookups per resource that would otherwise make the wall time quadratic, and moto's. Each instance is "
        "its own reservation, as Auto Scaling launches them (moto pages DescribeInstances by reservation). "
        '"Lambda s" estimates the run\'s duration in the deployed function (256 MB), by the model of figure 5: '
        f"ours {TIMES} {LAMBDA_CPU_FACTOR:.1f} + moto's time (for EC2's) + {API_LATENCY:g} s per call; the "
        "function's timeout is 900 s.",
        "",
    ]
    rows = []
    for case in scaling["cases"]:
        rows.append(
            [
                f"{case['managed_sessions']:,}",
                case["orphans"],
                case["api_calls"],
                case["budget"],
                _verdict(case["within_budget"]),
                case["status_tag_calls"],
                case["api_calls_without_status_tags"],
                f"{case['wall_seconds']:.2f}",
                f"{case['client_seconds']:.2f}",
                f"{case['moto_seconds']:.2f}",
                f"{lambda_seconds(case['client_seconds'], case['moto_seconds'], case['api_calls']):.0f}",
                case["runs"],
                _ops(case["api_calls_by_operation"]),
            ]
        )
    lines.extend(
        _table(
            [
                "N",
                "orphans",
                "calls",
                "budget",
                "met",
                "status-tag calls",
                "calls without them",
                "wall s",
                "ours s",
                "moto s",
                "Lambda s",
                "runs",
                "calls by operation",
            ],
            rows,
        )
    )
    lines.append("")
    if plot_name:
        lines.extend([f"![API calls and wall time of one reconcile against N]({plot_name})", ""])
    over = scaling["over_budget"]
    orphaned = [c for c in scaling["cases"] if c["orphans"] > 0]
    status = ", ".join(
        f"{c['status_tag_calls']} for {c['orphans']:,} orphans (N = {c['managed_sessions']:,})" for c in orphaned
    )
    lines.extend([f"Status tag writes (CreateTags/DeleteTags) in the orphan cases: {status}.", ""])
    if over:
        worst = max(over, key=lambda c: c["calls"])
        per_instance = all(c["status_tag_calls"] >= c["orphans"] for c in orphaned)
        why = (
            "The excess is the status tag: the executor writes `mirror-status` with one CreateTags/DeleteTags per "
            "instance, so every orphan costs 2 calls, not 1. CreateTags and DeleteTags accept up to 1,000 resource "
            "IDs per call: batching the reconciler's status writes by value would make them ⌈changes/1000⌉ calls "
            'and bring every case within budget (the "calls without them" column plus 1).'
            if per_instance
            else "See the calls by operation for where the excess goes."
        )
        lines.extend(
            [
                f"**Budget missed** in {len(over)} of {len(scaling['cases'])} cases (worst: N = "
                f"{worst['managed_sessions']:,}, {worst['calls']} calls for a budget of {worst['budget']}). {why}",
                "",
            ]
        )
    else:
        lines.extend(["Every case is within its budget.", ""])
    lines.extend(_coverage_overhead(scaling.get("coverage")))
    return lines


def _coverage_overhead(figures: Mapping[str, Any] | None) -> list[str]:
    """What coverage (issue 23) adds to one healthy reconcile (``reconcile_scaling.coverage_overhead``)."""
    if not figures:
        return []
    rows = [
        [
            f"{row['instances']:,}",
            f"{row['coverage']['enis_mirrored']:,} / {row['coverage']['enis_to_mirror']:,}",
            row["coverage_api_calls"],
            row["reconcile_api_calls"],
            f"{row['coverage_seconds'] * 1000:.0f}",
            f"{row['coverage_share_of_client_seconds']:.1%}",
            f"{row['lambda_seconds_per_run']:.2f}",
            f"${row['lambda_usd_per_month']:.4f}",
        ]
        for row in figures["cases"]
    ]
    return [
        "**Coverage** (issue 23) in the same reconcile, cold container: the API calls made from within the "
        "functions that compute it (the planner's verdict on each ENI, the count after the run) and their time, "
        "measured inside the real run (`python -m bench.reconcile_scaling --coverage`). It is counted from the "
        "inventory and plan the run has anyway. Its CPU time is part of the reconcile's measured duration; "
        f'"Lambda s" scales it to 256 MB, "a month" prices it at {figures.get("reconciles_per_day", 144)} '
        "reconciles a day. Its metric and alarm are the cost lines `coverage:` of figure 5.",
        "",
        *_table(
            [
                "N",
                "mirrored / to mirror",
                "calls added",
                "calls of the reconcile",
                "ours ms",
                "share of ours",
                "Lambda s",
                "a month",
            ],
            rows,
        ),
        "",
    ]


def _cold_start(cold: Mapping[str, Any]) -> list[str]:
    lines = [
        "## 3. Cold start",
        "",
        "Import time of each handler module as a ratio to `import boto3` alone, medians of "
        f"{cold['runs']} fresh interpreters per subject, alternating subjects round by round in one benchmark run. "
        "Timed inside the interpreter (start-up is common to all and not counted), in CPU time of the process, which "
        "other work on the machine barely moves (wall time, which it does move, is in results.json). With the Lambda "
        "environment: `LAMBDA_TASK_ROOT` set, and `POWERTOOLS_TRACE_DISABLED` as the template's Tracing parameter "
        "sets it. With Tracing=Active Powertools' Tracer loads X-Ray's SDK and patches botocore at import; with "
        "PassThrough (the default) `observability.py` does not build it. "
        '"+ boto3" also imports boto3 after the handler: the handler module does not import it, the first '
        "invocation does (`Runtime.from_environment`), so that column is the whole import cost of a cold start.",
        "",
    ]
    forms = (
        ("deployed", "Deployed form"),
        ("deployed_other_tracing", "Deployed form, other tracing setting"),
        ("dev_venv", "Dev venv, for contrast"),
    )
    for key, title in forms:
        if key not in cold:
            continue
        form = cold[key]
        lines.append(f"**{title}**: Python {form['python']}; {form['form']}.")
        if form.get("note"):
            lines.append(f"Note: {form['note']}.")
        lines.append("")
        rows = [
            [
                name,
                f"{v['median_cpu_seconds'] * 1000:.0f}",
                f"{v['ratio']:.2f}{TIMES}",
                f"{v['median_cpu_seconds_with_boto3'] * 1000:.0f}",
                f"{v['ratio_with_boto3']:.2f}{TIMES}",
                v["modules_loaded"],
                v["runs"],
            ]
            for name, v in form["subjects"].items()
        ]
        lines.extend(
            _table(["module", "import CPU ms", "÷ boto3", "+ boto3 CPU ms", "÷ boto3", "modules", "runs"], rows)
        )
        lines.append("")
    if "deployed" in cold:
        lines.append(
            f"Budget ≤ {cold['budget_ratio']}{TIMES} (deployed form): worst handler "
            f"**{cold['worst_ratio']:.2f}{TIMES}** "
            f"({'met' if cold['within_budget'] else 'MISSED'}). The whole import of a cold start, the handler and "
            "then boto3 (its first invocation builds the clients), is worst "
            f"**{max(v['ratio_with_boto3'] for k, v in cold['deployed']['subjects'].items() if k != 'boto3'):.2f}"
            f"{TIMES}** `import boto3`: what our package and Powertools' logger and metrics add, compiled from "
            "source as in Lambda (the layer ships no bytecode)."
        )
        lines.append("")
        lines.append(
            "The layer is built for arm64: on an x86 machine wrapt's C extension cannot load and its pure-Python "
            "fallback is imported instead (slightly slower than on Lambda)."
        )
        lines.append("")
    sizes = cold.get("package_sizes")
    if sizes:
        lines.append("Deployment packages after `sam build` (bytes on disk; zipped with deflate, as `sam package`):")
        lines.append("")
        lines.extend(
            _table(
                ["package", "on disk", "zipped"],
                ([name, f"{s['bytes_on_disk']:,}", f"{s['zipped_bytes']:,}"] for name, s in sizes.items()),
            )
        )
        lines.append("")
        lines.append(
            "The layer carries its own boto3/botocore (pinned with the tracer's botocore, "
            "`layers/mirroring/requirements.lock`): most of its size is botocore's service models. Lambda's limits: "
            "250 MB unzipped for function and layers together, 50 MB zipped for a direct upload."
        )
        lines.append("")
    return lines


def _burst(burst: Mapping[str, Any] | None) -> list[str]:
    lines = ["## 4. Burst", ""]
    if not burst:
        return [*lines, "Not measured in this run.", ""]
    lines.extend(
        [
            f"{burst['launches']} tagged instances launched at once; their running events processed by "
            f"{burst['workers']} concurrent workers (`ReservedConcurrency={burst['workers']}`, the value the template "
            "suggests once the account's quota allows; the default, 0, reserves none), each a container of its "
            f"own with the Lambda runtime's clients (standard retry mode, {burst['retry_attempts']} attempts), "
            "against moto's HTTP server behind the reliability issue's `ThrottlingProxy` "
            f"(`simulation/throttle.py`): {burst['allowed_rate']:g} EC2 requests a second, a bucket of "
            f"{burst['bucket_burst']}, `RequestLimitExceeded` (HTTP 503) above. A failed invocation is queued again "
            f"as Lambda's asynchronous retry would (without its delay), {burst['attempts_per_event']} attempts in all. "
            f"Pool: an ENI target and an NLB target. {burst['runs']} run(s). Unthrottled, moto answers about three "
            "times the allowed rate on this machine, so the rate limit, not moto, sets the pace.",
            "",
        ]
    )
    rows = [
        ["instances mirrored", f"{burst['mirrored']} of {burst['launches']}"],
        ["events that would reach the failure destination", burst["failed_events"]],
        ["invocations failed and retried (Lambda's async retry)", burst["events_retried"]],
        ["EC2 requests accepted", burst["total_calls"]],
        ["EC2 requests throttled (RequestLimitExceeded)", burst["throttled"]],
        ["theoretical minimum: (accepted - bucket) / rate", f"{burst['minimum_seconds']:.1f} s"],
        ["completion time", f"{burst['seconds']:.1f} s"],
        ["ratio", f"**{burst['ratio']:.2f}{TIMES}** (budget ≤ {burst['budget_ratio']}{TIMES})"],
    ]
    lines.extend(_table(["", "value"], rows))
    lines.append("")
    return lines


def _share(value: float) -> str:
    return f"{value:.3%}"


def _cost(cost: Mapping[str, Any]) -> list[str]:
    """Section 5, from ``bench.cost.estimate``: the goal per N, the line items, the prices with their pages, how each
    quantity is counted, and why the skip check reads metrics hourly."""
    fleets = cost["fleets"]
    sizes = [f"N = {f['instances']:,}" for f in fleets]
    a = cost["assumptions"]
    routes = cost["routes"]
    launch_routes = "; ".join(f"{name} → {', '.join(f) or 'no rule'}" for name, f in routes["launch"].items())
    termination_routes = "; ".join(f"{name} → {', '.join(f) or 'no rule'}" for name, f in routes["termination"].items())
    names = [item["name"] for item in fleets[0]["items"]]
    item_rows = [
        [name, *(_money(next(i for i in f["items"] if i["name"] == name)["monthly"]) for f in fleets)] for name in names
    ]
    lines = [
        "## 5. Cost",
        "",
        "`bench/cost.py` (`estimate`): every fixed and per-instance item of the stack with its default parameters, "
        "priced with AWS's published unit, for N mirrored instances (one ENI each) in Auto Scaling groups that "
        f"propagate the mirror tag, {cost['daily_churn']:.0%} replaced every day, next to the N sessions it manages "
        f"(N {TIMES} {SESSION_HOUR} {TIMES} 730 h). us-east-1, arm64, a month of {a['days_per_month']} days "
        "(730 hours), "
        "before free tiers (an account's free tier is shared with everything else in it). The README's cost table "
        "is written from the same result; `python -m bench.cost` recomputes both from bench/results.json.",
        "",
        "**The goal:** the stack at most 1% of the sessions it manages at 100 instances, 0.5% at 1,000 and 10,000.",
        "",
        *_table(
            ["instances", "stack a month", "sessions a month", "stack ÷ sessions", "goal", "met"],
            [
                [
                    f"{f['instances']:,}",
                    _money(f["total"]),
                    _money(f["sessions"]),
                    _share(f["share"]),
                    f"≤ {f['budget_share']:.1%}",
                    _verdict(f["within_budget"]),
                ]
                for f in fleets
            ],
        ),
        "",
        "**Line items, a month** (each rounded to the cent; the totals add up the rounded items):",
        "",
        *_table(
            ["item", *sizes],
            [
                *item_rows,
                ["**stack total**", *(f"**{_money(f['total'])}**" for f in fleets)],
                [
                    f"Traffic Mirroring sessions (N {TIMES} {SESSION_HOUR} {TIMES} 730 h)",
                    *(_money(f["sessions"]) for f in fleets),
                ],
            ],
        ),
        "",
        "**Prices** (AWS's unit, with the page that publishes it):",
        "",
        *_table(
            ["price", "unit", "source", "note"],
            [[key, p["label"], p["url"], p["note"] or "-"] for key, p in cost["prices"].items()],
        ),
        "",
        "**Invocations.** Routed through the template's real rules (default parameters):",
        "",
        f"- a launch: {launch_routes}: **{routes['per_launch']}** invocations (assumed: the tag set at launch "
        "emits a Tag Change event);",
        f"- a termination: {termination_routes}: **{routes['per_termination']}** invocations;",
        f"- the reconciler: {cost['reconciles_per_day']:.0f} a day (`ReconcileSchedule` `rate(10 minutes)`); the "
        f"skip check: {cost['skip_checks_per_day']:.0f} a day (`rate(1 hour)`, on with `CreateSkipAlarms`).",
        "",
        "**Duration.** Estimated billed seconds = INIT (every invocation counted cold; INIT is billed) + our "
        f"compute {TIMES} {a['cpu_factor']} (Lambda gives one vCPU at 1,769 MB: 256 MB is {1 / a['cpu_factor']:.3f} of "
        "a core) + moto's answering time (standing in for AWS's, conservatively) + "
        f"{a['api_latency_seconds']} s per API call (round trip, assumed). INIT = the deployed handler + boto3 "
        f"import (figure 3) {TIMES} {a['cpu_factor']} = {cost['init_seconds']} s (an upper bound). Measured inputs: "
        "a cold launch with 1 ENI and a cold termination (figure 1; at 10,000 instances plus the capacity pages "
        "of a busy pool), a no-change reconcile at the nearest measured N (figure 2), one skip check (figure 8). "
        "Every launch-side invocation is charged as a full cold launch, though only the first mirrors.",
        "",
        *_table(
            ["invocation", *(f"{s}: a day" for s in sizes), *(f"{s}: s each" for s in sizes)],
            [
                [
                    kind,
                    *(f"{f['invocations'][kind]['per_day']:,.0f}" for f in fleets),
                    *(f"{f['invocations'][kind]['seconds']:.2f}" for f in fleets),
                ]
                for kind in fleets[0]["invocations"]
            ],
        ),
        "",
        *_table(
            ["a month", *sizes],
            [
                ["requests (and X-Ray traces)", *(f"{f['requests_per_month']:,}" for f in fleets)],
                ["GB-seconds", *(f"{f['gb_seconds_per_month']:,}" for f in fleets)],
                ["GB of logs ingested", *(f"{f['log_gb_per_month']}" for f in fleets)],
            ],
        ),
        "",
        "**CloudWatch Logs.** Bytes per invocation measured from the real log lines at the template's default level "
        "(INFO) plus the EMF metrics line, plus Lambda's START/END/REPORT lines "
        f"({a['platform_log_bytes']} bytes, estimated) and {a['log_event_overhead_bytes']} bytes metered per log "
        "event; stored for `LogRetentionDays` (30).",
        "",
        f"**Custom metrics** ({len(cost['custom_metrics'])}, each with the one dimension `service`): "
        f"{', '.join(cost['custom_metrics'])}. Others appear only when their case happens (skips and deletions by "
        "reason, the safety valve) and are billed by the hour they are sent. **Alarms**: "
        f"{cost['alarms']} standard alarms, each on one metric; "
        f"{cost['metrics_insights_queries']} Metrics Insights queries.",
        "",
        "**Why the skip check reads metrics hourly.** AWS bills an alarm on a Metrics Insights query for every metric "
        "its filter matches (a LIMIT returns fewer series, the filter matches as many metrics), and such an alarm "
        "goes to `PARTIAL_DATA`, judging only part of the fleet, past 500 returned series or 10,000 matched metrics "
        "(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html). GetMetricData takes "
        "500 queries a call, any number of calls, at $0.01 per 1,000 metrics requested: every instance is judged at "
        "any N. Each option, a month, and whether it judges every instance:",
        "",
        *_table(
            ["option", *sizes, "judges every instance"],
            [
                [
                    o["option"],
                    *(f"{_money(m)} ({_share(sh)})" for m, sh in zip(o["monthly"], o["share"], strict=True)),
                    "; ".join(f"{n:,}: {j}" for n, j in zip(cost["instances"], o["judges_everyone"], strict=True)),
                ]
                for o in cost["skip_check_options"]
            ],
        ),
        "",
    ]
    return lines


README_COST_BEGIN = "<!-- cost table: generated by bench/cost.py (python -m bench.cost); do not edit -->"
README_COST_END = "<!-- end of the cost table -->"


def readme_cost_table(cost: Mapping[str, Any]) -> list[str]:
    """The README's cost table: the stack's line items at each N, the total, the sessions and the share."""
    fleets = cost["fleets"]
    names = [item["name"] for item in fleets[0]["items"] if any(_in(f, item["name"])["monthly"] for f in fleets)]
    free = [item["name"] for item in fleets[0]["items"] if item["name"] not in names]
    rows = [[name, _in(fleets[0], name)["price"], *(_money(_in(f, name)["monthly"]) for f in fleets)] for name in names]
    return [
        README_COST_BEGIN,
        *_table(
            ["a month, us-east-1", "price", *(f"{f['instances']:,} instances" for f in fleets)],
            [
                *rows,
                [f"{', '.join(free)}", "$0 with the defaults", *("$0.00" for _ in fleets)],
                ["**this stack**", "", *(f"**{_money(f['total'])}**" for f in fleets)],
                [
                    "Traffic Mirroring sessions",
                    f"{SESSION_HOUR} per session-hour",
                    *(_money(f["sessions"]) for f in fleets),
                ],
                [
                    "**stack ÷ sessions** (goal)",
                    "",
                    *(f"**{_share(f['share'])}** (≤ {f['budget_share']:.1%})" for f in fleets),
                ],
            ],
        ),
        README_COST_END,
    ]


def _in(fleet: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    return next(item for item in fleet["items"] if item["name"] == name)


def write_readme_cost(cost: Mapping[str, Any], readme: Path) -> None:
    """Replace the README's cost table (between its markers) with the model's."""
    text = readme.read_text()
    start, end = text.index(README_COST_BEGIN), text.index(README_COST_END) + len(README_COST_END)
    readme.write_text(text[:start] + "\n".join(readme_cost_table(cost)) + text[end:])


ORGANIZATION_COST_BEGIN = "<!-- cost per account: generated by bench/cost.py (python -m bench.cost); do not edit -->"
ORGANIZATION_COST_END = "<!-- end of the cost per account -->"
OU_EXAMPLE = (50, 2)  # accounts and Regions of the example in docs/organization.md


def organization_cost_lines(cost: Mapping[str, Any]) -> list[str]:
    """docs/organization.md's cost of one account and Region, and of an OU, from the cost model."""
    fleets = cost["fleets"]
    fixed = [item for item in fleets[0]["items"] if item["kind"] == "fixed" and item["monthly"]]
    fixed_total = round(sum(item["monthly"] for item in fixed), 2)
    same = all(round(sum(i["monthly"] for i in f["items"] if i["kind"] == "fixed"), 2) == fixed_total for f in fleets)
    accounts, regions = OU_EXAMPLE
    stacks = accounts * regions
    first = fleets[0]
    sizes = ", ".join(f"{_money(f['total'])} with {f['instances']:,}" for f in fleets[1:])
    return [
        ORGANIZATION_COST_BEGIN,
        f"- **Each account and Region** pays its own stack, as the cost model (`bench/cost.py`) prices it with the "
        f"default parameters: **{_money(first['total'])} a month with {first['instances']:,} mirrored instances**, "
        f'{sizes} (README, "What it costs"; [benchmarks.md](benchmarks.md#5-cost)). Of that, '
        f"{_money(fixed_total)} is fixed{' at every size' if same else ''}: "
        + ", ".join(f"{item['name']} ({_money(item['monthly'])})" for item in fixed)
        + f"; the rest grows with the instances. An OU of {accounts} accounts in {regions} Regions with "
        f"{first['instances']:,} instances in each: {stacks} stacks, {_money(stacks * first['total'])} a month, next "
        f"to {_money(stacks * first['sessions'])} of sessions.",
        ORGANIZATION_COST_END,
    ]


def write_organization_cost(cost: Mapping[str, Any], page: Path) -> None:
    """Replace docs/organization.md's cost per account (between its markers) with the model's."""
    text = page.read_text()
    start = text.index(ORGANIZATION_COST_BEGIN)
    end = text.index(ORGANIZATION_COST_END) + len(ORGANIZATION_COST_END)
    page.write_text(text[:start] + "\n".join(organization_cost_lines(cost)) + text[end:])


def write_docs(results: Mapping[str, Any], docs: Path, readme: Path) -> None:
    """docs/benchmarks.md, the README's cost table and docs/organization.md's cost per account from results already
    measured (``python -m bench.cost``)."""
    docs.write_text(markdown(results, plot_name=PLOT_NAME, org_plot_name=ORG_PLOT_NAME))
    write_readme_cost(results["cost"], readme)
    write_organization_cost(results["cost"], docs.parent / "organization.md")


def _skip_check(figures: Mapping[str, Any] | None) -> list[str]:
    if not figures:
        return []
    cases = figures["cases"]
    return [
        "",
        "## 8. Skip check",
        "",
        "`bench/skip_check.py`: one hourly skip check (the scheduled reconciler's `MirrorSkipCheck` rule) over N "
        f"mirrored instances, {figures['skipping_share']:.0%} of them dropping mirrored packets, in a cold container, "
        "against moto with the strict layer (GetMetricData: 500 queries a call, pages, per-query status). Each run "
        "checks that exactly the skipping instances are named and every instance judged. The calls it adds to an "
        "hour: one DescribeTrafficMirrorSessions page per 1,000 sessions, one GetMetricData call per 250 instances "
        "(two metrics each).",
        "",
        *_table(
            ["instances", "calls", "by operation", "⌈N/1000⌉ + ⌈N/250⌉", "metrics requested", "wall s", "log bytes"],
            [
                [
                    f"{c['instances']:,}",
                    c["api_calls"],
                    _ops(c["api_calls_by_operation"]),
                    c["calls_needed"],
                    f"{c['metrics_requested']:,}",
                    c["wall_seconds"],
                    f"{c['log_bytes']:,}",
                ]
                for c in cases
            ],
        ),
    ]


def _org_audit(org: Mapping[str, Any] | None, plot_name: str | None) -> list[str]:
    lines = ["## 6. Organization audit", ""]
    if not org:
        return [*lines, "Not measured in this run.", ""]
    cases = org["cases"]
    modes = list(org["fits"])
    latency = org["latency_seconds"]
    lines.extend(
        [
            f"`mirror-audit --organization` (`audit_organization`, the code the command runs) over an organization "
            f"of N accounts in moto, the audit account its management account: each account has the stack's audit "
            f"role, the stack's tagged filter, an NLB target and {org['sessions_per_account']:,} mirrored instances "
            "(seeded into moto's backend, 10% of them untagged since: deletes to report). Through boto3 and the "
            "strict layer: ListAccounts in pages of 20, AssumeRole in each account (refused unless the role exists "
            "and trusts the caller), then the one-account audit with the role's credentials. Calls are counted per "
            "account with a botocore hook on every client the audit builds; every audit of an organization must "
            "count the same calls per account, whatever N and the workers, and report the same totals (checked). "
            f"Wall times: 1 worker (serial, split into moto's part and ours) and {org['workers']} threads "
            "(parallel), against moto answering in this process: the threads share one interpreter lock, so they "
            "cannot overlap moto's work, nor ours"
            + (
                f". Then {org['workers']} threads again with {latency:g} s added to every call (a sleep standing for "
                "the network round trip of figure 5, which threads overlap); the serial time with that round trip is "
                "computed (serial + calls in all " + TIMES + f" {latency:g} s), not waited for."
                if latency
                else "."
            ),
            "",
        ]
    )
    rows = [
        [
            c["accounts"],
            f"{c['managed_sessions']:,}",
            c["calls_per_account"],
            c["caller_calls"],
            c["total_calls"],
            *(f"{c['seconds'][mode]:.2f}" for mode in modes),
            f"{c['serial_client_seconds']:.2f}",
            f"{c['serial_moto_seconds']:.2f}",
            *(f"{c['cpu_seconds'][mode]:.2f}" for mode in ("serial", "parallel") if "cpu_seconds" in c),
        ]
        for c in cases
    ]
    lines.extend(
        _table(
            [
                "accounts",
                "sessions",
                "calls per account",
                "caller's calls",
                "calls in all",
                *(f"s, {_org_mode(org, mode)}" for mode in modes),
                "serial: ours s",
                "serial: moto s",
                *(["CPU s, 1 worker", f"CPU s, {org['workers']} workers"] if "cpu_fits" in org else []),
            ],
            rows,
        )
    )
    lines.append("")
    largest = max(cases, key=lambda c: c["accounts"])
    lines.append(
        f"Calls per account, by operation: {_ops(largest['calls_per_account_by_operation'])} (one "
        "DescribeTrafficMirrorFilters finds the account's stack filter, as without `--filter-id`; the other is the "
        "one-account audit's own); the caller's own at "
        f"{largest['accounts']} accounts: {_ops(largest['caller_calls_by_operation'])} (one ListAccounts page per "
        "20 accounts). "
        + (
            "The same count per account at every N: "
            if org["calls_per_account_constant"]
            else "**The count per account varies with N**: "
        )
        + f"{', '.join(str(c['calls_per_account']) for c in cases)}."
    )
    lines.append("")
    fits = [
        f"{_org_mode(org, mode)}: {org['fits'][mode]['fixed']:.2f} s + {org['fits'][mode]['per_account']:.3f} s "
        f"{TIMES} N (worst point {org['fits'][mode]['worst_deviation']:.0%} off the line)"
        for mode in modes
    ]
    cpu_fits = org.get("cpu_fits") or {}
    if cpu_fits:
        lines.append(
            "CPU time of the audit's process against N, least squares (other work on the machine does not slow it): "
            + "; ".join(
                f"{_org_mode(org, mode)}: {line['fixed']:.2f} s + {line['per_account']:.3f} s {TIMES} N (worst point "
                f"{line['worst_deviation']:.0%} off the line)"
                for mode, line in cpu_fits.items()
            )
            + "."
        )
        lines.append("")
    lines.append("Wall time against N, least squares: " + "; ".join(fits) + ".")
    lines.append("")
    seconds = largest["seconds"]
    n = largest["accounts"]
    ours = largest["serial_client_seconds"] / n
    moto = largest["serial_moto_seconds"] / n
    note = (
        f"At {n} accounts, {org['workers']} workers take {seconds['parallel'] / seconds['serial']:.0%} of the serial "
        f"time against in-process moto: per account, {ours:.2f} s are ours (the audit, botocore) and {moto:.2f} s "
        "moto's, all of it computation in this one interpreter, which threads cannot overlap (and their switching "
        "costs a little)"
    )
    if "parallel_latency" in seconds:
        saved = seconds["serial_latency"] - seconds["parallel_latency"]
        waiting = largest["total_calls"] * latency
        note += (
            f". With {latency:g} s a call, serial would take {seconds['serial_latency']:.1f} s and "
            f"{org['workers']} workers take {seconds['parallel_latency']:.1f} s: "
            + (
                f"the workers overlap the waits ({saved:.1f} s saved of the {waiting:.1f} s of waiting)"
                if 0 < saved < waiting
                else f"the workers overlap all {waiting:.1f} s of waiting (the rest of the {saved:.1f} s difference "
                "is the machine's load, which varies between runs)"
                if saved >= waiting
                else f"no gain measured here, where the {waiting:.1f} s of waiting are small beside the computation "
                "and the machine was busy"
            )
        )
    load = org.get("load_average")
    if load:
        note += (
            f". Load average of the machine when this figure started: {load['before']}, when it ended: "
            f"{load['after']} (other work slows these wall times, never the call counts)"
        )
    note += (
        ". Against AWS, moto's part is AWS's, answered on AWS's machines, which workers overlap like the waits; only "
        f"ours stays one after the other. So {org['workers']} workers should take about the larger of N "
        f"{TIMES} ours and N / {org['workers']} {TIMES} (ours + AWS's answer + calls {TIMES} round trip): an "
        "estimate, not measured here. The fixed part is the audit's start: botocore reading its service models "
        "(once per run, shared by the workers' sessions), the caller's identity and the account list."
    )
    lines.extend([note, ""])
    if plot_name:
        lines.extend([f"![Wall time and API calls per account of the organization audit against N]({plot_name})", ""])
    return lines


def _delivery_and_time_to_coverage(delivery: Mapping[str, Any] | None, coverage: Mapping[str, Any] | None) -> list[str]:
    """Issue 23: the calls and cost of ``mirror-audit --delivery``; time to coverage against its floor."""
    if not delivery and not coverage:
        return []
    lines = ["", "## 9. Delivery and time to coverage", ""]
    if delivery:
        cases = delivery["cases"]
        lines += [
            "`bench/delivery.py`: what `mirror-audit --delivery` adds to an audit of N mirrored instances on one NLB "
            "target, against moto with the strict layer (GetMetricData: 500 queries a call, pages, per-query status), "
            "each run checking the verdict (every source counted, no loss shown). It runs on demand only: "
            "GetMetricData bills every metric requested, "
            f"{delivery['metrics_per_instance']} per instance and 1 or 2 per target, at "
            f"{_money(delivery['price_per_metric'] * 1000)} per 1,000.",
            "",
            *_table(
                [
                    "instances",
                    "calls",
                    "by operation",
                    "that grow with N: ⌈N/1000⌉ + ⌈N/200⌉ + ⌈(4N+1)/500⌉",
                    "metrics requested",
                    "cost a run",
                    "wall s (moto's part)",
                ],
                [
                    [
                        f"{c['instances']:,}",
                        c["api_calls"],
                        _ops(c["api_calls_by_operation"]),
                        c["calls_that_grow"],
                        f"{c['metrics_requested']:,}",
                        _money(c["cost_per_run"]),
                        f"{c['wall_seconds']} ({c['moto_seconds']})",
                    ]
                    for c in cases
                ],
            ),
            "",
        ]
    if coverage:
        latency = coverage["latency_seconds"]
        lines += [
            "`bench/time_to_coverage.py`: how long a new instance waits to be mirrored, from its `running` event to "
            f"its last session created, over {coverage['launches']} launches (1 ENI each; the pool: "
            f"{coverage['pool']}), "
            f"with {latency * 1000:g} ms added to every AWS call and moto's own time taken out: the critical path "
            "with AWS's round trip, not moto's speed. A container's INIT is not included (figure 3). **cold**: each "
            "launch in a new container, as Lambda runs a burst when nothing is reserved (`ReservedConcurrency` 0, the "
            "default); **warm**: one container, already used; **ReservedConcurrency "
            f"{coverage['reserved_concurrency']}**: the burst at once, queued on that many containers (computed from "
            "the measured times). The floor: the calls the logic must make before the last create, one after the "
            f"other, {TIMES} {latency * 1000:g} ms ({coverage['floor_why']}).",
            "",
            *_table(
                ["containers", "p50 s", "p99 s", "max s", "calls to coverage", f"floor (calls {TIMES} latency)"],
                [
                    *(
                        [
                            mode,
                            coverage[mode]["p50"],
                            coverage[mode]["p99"],
                            coverage[mode]["max"],
                            coverage[mode]["calls_to_coverage"],
                            f"{coverage[mode]['floor_seconds']} s ({coverage[mode]['floor_calls']} calls)",
                        ]
                        for mode in ("cold", "warm")
                    ),
                    [
                        f"ReservedConcurrency {coverage['reserved_concurrency']}, {coverage['launches']} at once",
                        coverage["reserved"]["p50"],
                        coverage["reserved"]["p99"],
                        coverage["reserved"]["max"],
                        "",
                        "",
                    ],
                ],
            ),
            "",
            "Calls to coverage in a cold container: "
            + ", ".join(coverage["cold"]["sequence"])
            + "; in a warm one: "
            + ", ".join(coverage["warm"]["sequence"])
            + ".",
        ]
    return lines
