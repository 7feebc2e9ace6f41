"""Figure 8: the hourly skip check — the calls, metrics requested, wall time and log bytes of one check over N mirrored
instances, 1% of them dropping mirrored packets.

The account is seeded into moto's backend (``bench.seeding``); EC2's own NetworkSkipMirrorIn/Out are published into
moto's CloudWatch with ``StrictAws.publish_aws_metric``, one data point per instance and direction (zero but for the
skipping ones): the number of data points changes no call count (500 queries of 15 five-minute points are 7,500 data
points, far below one GetMetricData page of 100,800). Only the measured check goes through boto3, against moto with
the strict layer, in a cold container, as the hourly rule runs it. Every run checks that exactly the instances that
skip are named and every instance was judged.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from moto import mock_aws

from bench.invoke import invoke
from bench.moto_patches import indexed_tags
from bench.seeding import seed_mirrored_instances
from functions.scheduled_reconciler.app import handler as scheduled_reconciler
from simulation.account import ApiCalls, SimulatedAccount
from simulation.strict_aws import StrictAws
from traffic_mirroring.config import load_settings
from traffic_mirroring.ec2_gateway import Ec2Gateway
from traffic_mirroring.metrics_gateway import INSTANCES_PER_CALL, CloudWatchGateway
from traffic_mirroring.mirror_skips import INBOUND, OUTBOUND, SKIP_METRICS
from traffic_mirroring.runtime import Runtime
from traffic_mirroring.skip_check import SKIP_CHECK_INPUT

MANAGED_BY = "bench-stack"
SIZES = (100, 1000, 10_000)
SKIPPING_EVERY = 100  # 1% of the instances drop mirrored packets
SKIPPED_BYTES = 5 * 1_048_576


def calls_needed(n: int) -> int:
    """DescribeTrafficMirrorSessions pages (1,000 sessions each) + GetMetricData calls (250 instances each)."""
    return math.ceil(n / 1000) + math.ceil(n / INSTANCES_PER_CALL)


def run_case(n: int) -> dict[str, Any]:
    with mock_aws(), indexed_tags():
        account = SimulatedAccount()
        target_id, filter_id = account.nlb_target(), account.mirror_filter()
        started = time.perf_counter()
        instance_ids = seed_mirrored_instances(account.zones[0], n, target_id, filter_id, MANAGED_BY)
        skipping = set(instance_ids[::SKIPPING_EVERY])
        with StrictAws() as strict:
            at = datetime.now(UTC) - timedelta(minutes=20)
            for instance_id in instance_ids:
                for metric in SKIP_METRICS:
                    value = SKIPPED_BYTES if instance_id in skipping and metric == OUTBOUND else 0.0
                    strict.publish_aws_metric("AWS/EC2", metric, {"InstanceId": instance_id}, at, value)
            seeded = time.perf_counter() - started
            settings = load_settings({"TARGET_IDS": target_id, "FILTER_ID": filter_id, "MANAGED_BY": MANAGED_BY})
            ec2, cloudwatch = account.session.client("ec2"), account.session.client("cloudwatch")
            calls = ApiCalls().attach(ec2, cloudwatch)
            runtime = Runtime(settings, Ec2Gateway(ec2), skip_metrics=CloudWatchGateway(cloudwatch))
            done = invoke(scheduled_reconciler, dict(SKIP_CHECK_INPUT), runtime=runtime)
    summary = done.result
    named = set(summary["skipping"])
    if named != skipping or summary["instances_judged"] != n or summary["not_judged"]:
        raise AssertionError(f"N={n}: named {len(named)} of {len(skipping)}, judged {summary['instances_judged']}")
    metrics_requested = len(SKIP_METRICS) * summary["instances_judged"]
    return {
        "instances": n,
        "skipping": len(skipping),
        "api_calls": calls.total,
        "api_calls_by_operation": dict(sorted(calls.counts.items())),
        "calls_needed": calls_needed(n),
        "get_metric_data_calls": calls.counts["GetMetricData"],
        "metrics_requested": metrics_requested,
        "wall_seconds": round(done.seconds, 3),
        "moto_seconds": round(done.moto_seconds, 3),
        "client_seconds": round(done.seconds - done.moto_seconds, 3),
        "seed_seconds": round(seeded, 2),
        "log_bytes": done.log_bytes,
        "log_lines": done.log_lines,
        "metric_names": sorted(done.metric_names),
    }


def run(sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    cases = [run_case(n) for n in sizes]
    return {
        "cases": cases,
        "skipping_share": 1 / SKIPPING_EVERY,
        "directions": [INBOUND, OUTBOUND],
        "all_as_needed": all(c["api_calls"] == c["calls_needed"] for c in cases),
    }
