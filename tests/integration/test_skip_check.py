"""The hourly skip check through the scheduled reconciler's handler, against moto with the strict layer: CloudWatch's
GetMetricData as AWS shapes it (500 queries a call, pages, per-query status), EC2's own NetworkSkipMirrorIn/Out
published the way EC2 publishes them (``StrictAws.publish_aws_metric``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from functions.instance_state_change.app import handler as state_change
from functions.scheduled_reconciler.app import handler as scheduled
from simulation.account import SimulatedAccount
from simulation.strict_aws import StrictAws
from tests.integration.stack import LambdaContext, Stack, event, make_stack
from traffic_mirroring.errors import MetricsIncomplete
from traffic_mirroring.metrics_gateway import CloudWatchGateway
from traffic_mirroring.mirror_skips import INBOUND, OUTBOUND, SKIPPING_METRIC, skip_window
from traffic_mirroring.skip_check import SKIP_CHECK_INPUT

MIB = 1_048_576


@pytest.fixture
def stack(account: SimulatedAccount) -> Stack:
    stack = make_stack(account, [account.nlb_target()], account.mirror_filter())
    stack.runtime.skip_metrics = CloudWatchGateway(boto3.client("cloudwatch", region_name=account.region))
    return stack


def mirrored(stack: Stack) -> str:
    instance = stack.account.launch(tags={"mirror": "true"})
    state_change(event("ec2-instance-running.json", instance), LambdaContext(), runtime=stack.runtime)
    assert stack.our_sessions(instance)
    return instance


def dropped(strict: StrictAws, instance: str, metric: str, byte_count: float, minutes_ago: int = 20) -> None:
    """EC2 reports that ``instance`` dropped ``byte_count`` mirrored bytes in one 5-minute period."""
    strict.publish_aws_metric(
        "AWS/EC2", metric, {"InstanceId": instance}, datetime.now(UTC) - timedelta(minutes=minutes_ago), byte_count
    )


def check(stack: Stack) -> dict[str, Any]:
    return scheduled(dict(SKIP_CHECK_INPUT), LambdaContext(), runtime=stack.runtime)


def published(output: str) -> list[float]:
    """The values of the skip metric in the run's EMF log lines."""
    blobs = [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]
    values = [blob[SKIPPING_METRIC] for blob in blobs if SKIPPING_METRIC in blob]
    return [v for value in values for v in (value if isinstance(value, list) else [value])]


def test_an_instance_that_drops_mirrored_packets_is_named_and_counted_and_one_that_does_not_is_not(
    stack: Stack, strict: StrictAws, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given three mirrored instances: one dropped 3 MiB outbound in 5 minutes, one 1 KiB inbound, one nothing
    skipping, light, quiet = mirrored(stack), mirrored(stack), mirrored(stack)
    dropped(strict, skipping, OUTBOUND, 3 * MIB)
    dropped(strict, light, INBOUND, 1024)
    # and an instance we do not mirror dropping a lot (another tool's session): not ours to judge
    stranger = stack.account.launch(tags={})
    dropped(strict, stranger, INBOUND, 50 * MIB)
    capsys.readouterr()

    # When the hourly rule runs the function
    summary = check(stack)

    # Then only the skipping instance is named, with its worst 5 minutes, and the count is published
    assert summary["skipping"] == {skipping: {"in": 0.0, "out": 3 * MIB}}
    assert summary["instances_mirrored"] == summary["instances_judged"] == 3
    assert summary["instances_without_data"] == 1  # the quiet one: EC2 published nothing for it in the window
    assert published(capsys.readouterr().out) == [1]
    # And nothing was reconciled: the sessions are as they were
    assert {s["TrafficMirrorSessionId"] for s in stack.our_sessions()} == {
        s["TrafficMirrorSessionId"] for i in (skipping, light, quiet) for s in stack.our_sessions(i)
    }


def test_skips_older_than_the_window_or_under_the_threshold_name_no_one(
    stack: Stack, strict: StrictAws, capsys: pytest.CaptureFixture[str]
) -> None:
    instance = mirrored(stack)
    dropped(strict, instance, INBOUND, 10 * MIB, minutes_ago=3 * 60)  # read by the checks of three hours ago
    dropped(strict, instance, OUTBOUND, MIB)  # exactly the threshold: allowed
    capsys.readouterr()

    summary = check(stack)

    assert summary["skipping"] == {} and summary["instances_skipping"] == 0
    assert published(capsys.readouterr().out) == [0]  # a count every hour, so the alarm sees OK too


def test_the_threshold_is_the_stack_s_setting(stack: Stack, strict: StrictAws) -> None:
    instance = mirrored(stack)
    dropped(strict, instance, INBOUND, 2000)
    stack.configure(SKIP_THRESHOLD_BYTES="1000")
    stack.runtime.skip_metrics = CloudWatchGateway(boto3.client("cloudwatch", region_name=stack.account.region))

    assert check(stack)["skipping"] == {instance: {"in": 2000.0, "out": 0.0}}


def test_an_instance_cloudwatch_does_not_answer_for_fails_the_check_after_the_others_are_judged(
    stack: Stack, strict: StrictAws, capsys: pytest.CaptureFixture[str]
) -> None:
    unanswered, skipping = mirrored(stack), mirrored(stack)
    dropped(strict, skipping, INBOUND, 2 * MIB)
    strict.metric_status[(OUTBOUND, unanswered)] = "InternalError"
    capsys.readouterr()

    with pytest.raises(MetricsIncomplete, match=unanswered):
        check(stack)  # raised: EventBridge retries, and the function's error alarm fires

    assert published(capsys.readouterr().out) == [1]  # what could be judged still counts


def test_every_instance_is_judged_across_calls_and_pages(strict: StrictAws, account: SimulatedAccount) -> None:
    """600 instances (1,200 queries: three calls under AWS's 500) and pages of 50 data points: the one that skips,
    in the last call, is found, and every other is judged."""
    instances = [f"i-{n:017x}" for n in range(600)]
    for n, instance in enumerate(instances[:100]):
        dropped(strict, instance, INBOUND, float(n))
    dropped(strict, instances[-1], OUTBOUND, 2 * MIB)
    strict.metric_page_cap = 50
    gateway = CloudWatchGateway(boto3.client("cloudwatch", region_name=account.region))

    readings = gateway.skipped_bytes(instances, skip_window(datetime.now(UTC)))

    assert all(reading.complete for reading in readings.values()) and set(readings) == set(instances)
    assert readings[instances[-1]].outbound == (2 * MIB,)
    assert [readings[i].inbound for i in instances[:100]] == [(float(n),) for n in range(100)]


def test_aws_refuses_more_than_500_queries_in_one_call(strict: StrictAws, account: SimulatedAccount) -> None:
    """The rule the gateway's batching answers to (the strict layer's, from GetMetricData's API reference)."""
    cloudwatch = boto3.client("cloudwatch", region_name=account.region)
    window = skip_window(datetime.now(UTC))
    queries = [
        {
            "Id": f"q{n}",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/EC2",
                    "MetricName": INBOUND,
                    "Dimensions": [{"Name": "InstanceId", "Value": f"i-{n}"}],
                },
                "Period": 300,
                "Stat": "Sum",
            },
        }
        for n in range(501)
    ]

    with pytest.raises(cloudwatch.exceptions.ClientError):
        cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=window.start, EndTime=window.end)
