"""Figure 2: API calls and wall time of one scheduled reconcile for N managed sessions, healthy or with 10% orphans.

The account is seeded straight into moto's backend objects (``bench.seeding``). Only the measured reconcile goes
through boto3, against moto with the strict layer on, in a cold container (empty caches), exactly as the scheduled
Lambda would run it. ``bench.moto_patches`` removes one of moto's own O(N) lookups per resource that would otherwise
make the wall time quadratic, and moto's.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

import botocore.client
from moto import mock_aws

from bench.invoke import event, invoke
from bench.machine import ROOT
from bench.moto_patches import indexed_tags
from bench.seeding import backend, seed_mirrored_instances, untag
from functions.scheduled_reconciler.app import handler as scheduled_reconciler
from simulation.account import ApiCalls, SimulatedAccount
from simulation.strict_aws import StrictAws
from traffic_mirroring import planner, reconcile
from traffic_mirroring.config import load_settings
from traffic_mirroring.ec2_gateway import Ec2Gateway
from traffic_mirroring.runtime import Runtime

MANAGED_BY = "bench-stack"
SIZES = (100, 1000, 10_000)
COVERAGE_SIZES = (1000, 10_000)
ORPHAN_SHARE = 0.10
TAG_BATCH = 1000  # CreateTags/DeleteTags accept up to 1,000 resource IDs per call
STATUS_OPERATIONS = ("CreateTags", "DeleteTags")


def budget(n: int) -> int:
    """The reconciler issue's budget for N healthy managed sessions (each change costs one call on top)."""
    return 3 * math.ceil(n / 1000) + 10


def run_case(n: int, orphans: int = 0) -> dict[str, Any]:
    """One reconcile over N managed sessions, ``orphans`` of which belong to instances that lost the mirror tag."""
    with mock_aws(), indexed_tags():
        account = SimulatedAccount()
        target_id = account.nlb_target()
        filter_id = account.mirror_filter()
        started = time.perf_counter()
        instance_ids = seed_mirrored_instances(account.zones[0], n, target_id, filter_id, MANAGED_BY)
        untag(instance_ids[:orphans])
        seeded = time.perf_counter() - started
        with StrictAws():
            settings = load_settings({"TARGET_IDS": target_id, "FILTER_ID": filter_id, "MANAGED_BY": MANAGED_BY})
            ec2 = account.session.client("ec2")  # the container's own clients: nothing cached, nothing counted before
            elbv2 = account.session.client("elbv2")
            calls = ApiCalls().attach(ec2, elbv2)
            runtime = Runtime(settings, Ec2Gateway(ec2, elbv2))
            done = invoke(scheduled_reconciler, event("scheduled-event.json", ""), runtime=runtime)
        left = len(backend().traffic_mirror_sessions)
    summary = done.result
    expected = {"tag-removed": orphans} if orphans else {}
    if summary["sessions_deleted"] != expected or summary["sessions_created"] or left != n - orphans:
        raise AssertionError(f"N={n}, orphans={orphans}: {summary}, {left} sessions left")
    figure = summary["coverage"]
    if (figure["enis_to_mirror"], figure["enis_mirrored"]) != (n - orphans, n - orphans):
        raise AssertionError(f"N={n}, orphans={orphans}: coverage {figure}")
    changes = summary["sessions_created"] + sum(summary["sessions_deleted"].values()) + summary["sessions_moved"]
    status_writes = sum(calls.counts[op] for op in STATUS_OPERATIONS)
    allowed = budget(n) + changes
    return {
        "managed_sessions": n,
        "orphans": orphans,
        "api_calls": calls.total,
        "api_calls_by_operation": dict(sorted(calls.counts.items())),
        "changes": changes,
        "budget": allowed,
        "within_budget": calls.total <= allowed,
        "status_tag_calls": status_writes,
        "api_calls_without_status_tags": calls.total - status_writes,
        "status_tag_calls_if_batched": math.ceil(status_writes / TAG_BATCH),
        "wall_seconds": done.seconds,
        "moto_seconds": done.moto_seconds,  # moto answering: AWS's side in a deployment
        "client_seconds": done.seconds - done.moto_seconds,  # our code and botocore: what the Lambda computes
        "seed_seconds": seeded,
        "log_bytes": done.log_bytes,
        "log_lines": done.log_lines,
        "metric_names": sorted(done.metric_names),
        "coverage": {key: figure[key] for key in ("enis_to_mirror", "enis_mirrored", "percent")},
    }


def run(sizes: tuple[int, ...] = SIZES, runs: int = 3, runs_at_largest: int = 1) -> dict[str, Any]:
    """Every N with no changes and with 10% orphans; the call counts must not vary between runs."""
    cases: list[dict[str, Any]] = []
    for n in sizes:
        for orphans in (0, round(n * ORPHAN_SHARE)):
            repeat = runs_at_largest if n == max(sizes) else runs
            samples = [run_case(n, orphans) for _ in range(repeat)]
            calls = {s["api_calls"] for s in samples}
            if len(calls) != 1:
                raise AssertionError(f"N={n}, orphans={orphans}: call counts differ between runs: {calls}")
            case = dict(samples[0])
            case["runs"] = repeat
            for key in ("wall_seconds", "moto_seconds", "client_seconds"):
                case[key] = round(median([s[key] for s in samples]), 3)
            case["wall_seconds_all"] = [round(s["wall_seconds"], 3) for s in samples]
            case["seed_seconds"] = round(case["seed_seconds"], 2)
            cases.append(case)
    return {
        "cases": cases,
        "budget_formula": "3*ceil(N/1000)+10, plus one call per change",
        "all_within_budget": all(c["within_budget"] for c in cases),
        "over_budget": [
            {
                "managed_sessions": c["managed_sessions"],
                "orphans": c["orphans"],
                "calls": c["api_calls"],
                "budget": c["budget"],
            }
            for c in cases
            if not c["within_budget"]
        ],
    }


# -- issue 23: what coverage adds to a run -----------------------------------------------------------------------
@dataclass
class _Inside:
    """Time spent in, and AWS calls made from within, the functions that compute coverage."""

    depth: int = 0
    seconds: float = 0.0
    calls: int = 0


@contextlib.contextmanager
def _measured(inside: _Inside, functions: Sequence[tuple[Any, str]]) -> Iterator[None]:
    """Wrap each ``(owner, name)`` to add its time to ``inside``, and count every botocore call made within one."""
    saved: list[tuple[Any, str, Any]] = []

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            inside.depth += 1
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                inside.depth -= 1
                if not inside.depth:
                    inside.seconds += elapsed

        return timed

    api_call = botocore.client.BaseClient.__dict__["_make_api_call"]  # every client's calls pass here

    def counted(client: Any, operation: str, params: Any) -> Any:
        if inside.depth:
            inside.calls += 1
        return api_call(client, operation, params)

    try:
        for owner, name in functions:
            saved.append((owner, name, owner.__dict__[name]))
            setattr(owner, name, wrap(getattr(owner, name)))
        setattr(botocore.client.BaseClient, "_make_api_call", counted)  # noqa: B010 (a private name)
        yield
    finally:
        setattr(botocore.client.BaseClient, "_make_api_call", api_call)  # noqa: B010
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


# Where coverage is computed: the planner's verdict on each ENI, and the count after the run.
COVERAGE_FUNCTIONS: tuple[tuple[Any, str], ...] = (
    (planner._Planner, "_source_verdicts"),
    (reconcile, "coverage_after"),
)


def coverage_overhead(sizes: tuple[int, ...] = COVERAGE_SIZES) -> dict[str, Any]:
    """What coverage adds to one healthy scheduled reconcile of N instances (cold container, as ``run_case``): the
    AWS calls made from within the functions that compute it (none expected: they read the inventory and the plan
    the run has anyway) and their CPU time, measured inside the real run. Its cost a month follows: no call, one
    custom metric and one alarm (bench/cost.py prices them), and its CPU time, which is within the reconcile's
    measured duration."""
    from bench.cost import CPU_FACTOR, DAYS_PER_MONTH, MEMORY_GB, PRICES, schedule_per_day
    from simulation.eventbridge import load_template

    runs_a_month = schedule_per_day(load_template(ROOT / "template.yaml")) * DAYS_PER_MONTH
    rows = []
    for n in sizes:
        inside = _Inside()
        with _measured(inside, COVERAGE_FUNCTIONS):
            case = run_case(n)
        lambda_seconds = inside.seconds * CPU_FACTOR
        rows.append(
            {
                "instances": n,
                "coverage": case["coverage"],
                "coverage_api_calls": inside.calls,
                "reconcile_api_calls": case["api_calls"],
                "coverage_seconds": round(inside.seconds, 4),
                "reconcile_client_seconds": round(case["client_seconds"], 3),
                "coverage_share_of_client_seconds": round(inside.seconds / case["client_seconds"], 4),
                "lambda_seconds_per_run": round(lambda_seconds, 4),
                "lambda_usd_per_month": round(
                    lambda_seconds * runs_a_month * MEMORY_GB * PRICES["lambda_gb_second"].each, 4
                ),
            }
        )
    return {
        "cases": rows,
        "added_api_calls": max((r["coverage_api_calls"] for r in rows), default=0),
        "reconciles_per_day": round(runs_a_month / DAYS_PER_MONTH),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.reconcile_scaling --coverage [sizes…]``: measure what coverage adds to a reconcile (issue 23)
    and store it in bench/results.json under ``reconcile_scaling.coverage`` (then ``python -m bench.cost`` rewrites
    the cost figures and docs from it)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "--coverage":
        print("usage: python -m bench.reconcile_scaling --coverage [N ...]", file=sys.stderr)
        return 2
    sizes = tuple(int(a) for a in args[1:]) or COVERAGE_SIZES
    from bench.machine import offline_environment

    with offline_environment():
        figures = coverage_overhead(sizes)
    path = ROOT / "bench" / "results.json"
    results = json.loads(path.read_text())
    results["reconcile_scaling"]["coverage"] = figures
    path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    for row in figures["cases"]:
        figure = row["coverage"]
        print(
            f"N = {row['instances']:,}: coverage {figure['enis_mirrored']}/{figure['enis_to_mirror']}, "
            f"{row['coverage_api_calls']} API calls added (the reconcile made {row['reconcile_api_calls']}), "
            f"{row['coverage_seconds'] * 1000:.0f} ms of CPU here "
            f"({row['coverage_share_of_client_seconds']:.1%} of the run's), ~{row['lambda_seconds_per_run']:.2f} s "
            f"in Lambda, ${row['lambda_usd_per_month']:.4f} a month",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
