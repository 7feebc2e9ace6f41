"""Figure 9a: what `mirror-audit --delivery` adds to an audit — its calls, the metrics it requests (what AWS bills)
and its wall time over N mirrored instances on one NLB target.

The account is seeded into moto's backend (``bench.seeding``); EC2's NetworkMirrorIn/Out and NetworkPacketsMirrorIn/Out
of every instance and the NLB's ProcessedBytes_UDP are published into moto's CloudWatch with
``StrictAws.publish_aws_metric``, one 5-minute period each (the number of data points changes no call count below
one GetMetricData page of 100,800). Only the measured check goes through boto3, against moto with the strict layer.
Each run checks the verdict a user would see: every source counted, the NLB received what they sent (no loss shown).
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

from moto import mock_aws

from bench.moto_patches import indexed_tags, server_time
from bench.seeding import seed_mirrored_instances
from mirror_cli.delivery import check_delivery
from simulation.account import ApiCalls, SimulatedAccount
from simulation.strict_aws import StrictAws
from traffic_mirroring.config import load_settings
from traffic_mirroring.delivery import (
    BYTES_IN,
    BYTES_OUT,
    PACKETS_IN,
    PACKETS_OUT,
    SOURCE_METRICS,
    VXLAN_OVERHEAD_IPV4,
    delivery_window,
)
from traffic_mirroring.ec2_gateway import FILTER_VALUES_PER_CALL, PAGE_SIZE, Ec2Gateway
from traffic_mirroring.metrics_gateway import QUERIES_PER_CALL, CloudWatchGateway

MANAGED_BY = "bench-stack"
SIZES = (1000, 10_000)
GET_METRIC_DATA_PRICE = 0.01 / 1000  # per metric requested (bench/cost.py PRICES["get_metric_data"])
BYTES, PACKETS = 600_000.0, 1000.0  # what each instance mirrors in the period, in and out alike


def calls_that_grow(n: int) -> int:
    """DescribeTrafficMirrorSessions pages + DescribeNetworkInterfaces batches (the instance behind each session's
    ENI) + GetMetricData calls (4 metrics per instance and 1 for the NLB, 500 a call)."""
    return (
        math.ceil(n / PAGE_SIZE)
        + math.ceil(n / FILTER_VALUES_PER_CALL)
        + math.ceil((len(SOURCE_METRICS) * n + 1) / QUERIES_PER_CALL)
    )


def run_case(n: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    period = delivery_window(now).start
    with mock_aws(), indexed_tags():
        account = SimulatedAccount()
        target_id, filter_id = account.nlb_target(), account.mirror_filter()
        [target] = account.ec2.describe_traffic_mirror_targets()["TrafficMirrorTargets"]
        load_balancer = target["NetworkLoadBalancerArn"].split(":loadbalancer/")[1]
        started = time.perf_counter()
        instance_ids = seed_mirrored_instances(account.zones[0], n, target_id, filter_id, MANAGED_BY)
        with StrictAws() as strict:
            for instance_id in instance_ids:
                for metric, value, unit in (
                    (BYTES_IN, BYTES, "Bytes"),
                    (BYTES_OUT, BYTES, "Bytes"),
                    (PACKETS_IN, PACKETS, "Count"),
                    (PACKETS_OUT, PACKETS, "Count"),
                ):
                    strict.publish_aws_metric("AWS/EC2", metric, {"InstanceId": instance_id}, period, value, unit)
            sent = n * 2 * (BYTES + PACKETS * VXLAN_OVERHEAD_IPV4)
            strict.publish_aws_metric(
                "AWS/NetworkELB", "ProcessedBytes_UDP", {"LoadBalancer": load_balancer}, period, sent
            )
            seeded = time.perf_counter() - started
            settings = load_settings({"TARGET_IDS": target_id, "FILTER_ID": filter_id, "MANAGED_BY": MANAGED_BY})
            ec2, elbv2 = account.session.client("ec2"), account.session.client("elbv2")
            cloudwatch = account.session.client("cloudwatch")
            calls = ApiCalls().attach(ec2, elbv2, cloudwatch)
            gateway = Ec2Gateway(ec2, elbv2, target_cache_seconds=0)
            with server_time() as moto:
                began = time.perf_counter()
                report = check_delivery(gateway, CloudWatchGateway(cloudwatch), settings, now=now)
                seconds = time.perf_counter() - began
    [row] = report["targets"]
    if row["verdict"] != "no-loss-shown" or row["sources"]["counted"] != n or row["ratio"] != 1.0:
        raise AssertionError(f"N={n}: {row['verdict']}, {row['sources']}, ratio {row['ratio']}")
    metrics = report["metrics_requested"]
    return {
        "instances": n,
        "api_calls": calls.total,
        "api_calls_by_operation": dict(sorted(calls.counts.items())),
        "calls_that_grow": calls_that_grow(n),
        "get_metric_data_calls": calls.counts["GetMetricData"],
        "metrics_requested": metrics,
        "cost_per_run": round(metrics * GET_METRIC_DATA_PRICE, 4),
        "wall_seconds": round(seconds, 3),
        "moto_seconds": round(moto.seconds, 3),
        "client_seconds": round(seconds - moto.seconds, 3),
        "seed_seconds": round(seeded, 2),
        "verdict": row["verdict"],
    }


def run(sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    cases = [run_case(n) for n in sizes]
    return {
        "cases": cases,
        "price_per_metric": GET_METRIC_DATA_PRICE,
        "metrics_per_instance": len(SOURCE_METRICS),
        "fixed_calls": {c["instances"]: c["api_calls"] - c["calls_that_grow"] for c in cases},
    }
