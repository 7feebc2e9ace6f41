"""Figure 2: API calls and wall time of one scheduled reconcile for N managed sessions, healthy or with 10% orphans.

The account is seeded straight into moto's backend objects (``bench.seeding``). Only the measured reconcile goes
through boto3, against moto with the strict layer on, in a cold container (empty caches), exactly as the scheduled
Lambda would run it. ``bench.moto_patches`` removes one of moto's own O(N) lookups per resource that would otherwise
make the wall time quadratic, and moto's.
"""

from __future__ import annotations

import math
import time
from statistics import median
from typing import Any

from moto import mock_aws

from bench.invoke import event, invoke
from bench.moto_patches import indexed_tags
from bench.seeding import backend, seed_mirrored_instances, untag
from functions.scheduled_reconciler.app import handler as scheduled_reconciler
from simulation.account import ApiCalls, SimulatedAccount
from simulation.strict_aws import StrictAws
from traffic_mirroring.config import load_settings
from traffic_mirroring.ec2_gateway import Ec2Gateway
from traffic_mirroring.runtime import Runtime

MANAGED_BY = "bench-stack"
SIZES = (100, 1000, 10_000)
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
