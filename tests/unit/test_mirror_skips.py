"""The skip rule (which mirrored instances drop mirrored packets) and the CloudWatch gateway's batching, without AWS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests import builders
from traffic_mirroring.config import Settings
from traffic_mirroring.errors import AccountAwsError, TransientAwsError
from traffic_mirroring.metrics_gateway import QUERIES_PER_CALL, CloudWatchGateway
from traffic_mirroring.mirror_skips import (
    INBOUND,
    OUTBOUND,
    SKIP_PERIOD_SECONDS,
    SkippedBytes,
    judge_skips,
    mirrored_instances,
    skip_window,
)
from traffic_mirroring.model import MirrorSession

SETTINGS = Settings(target_ids=("tmt-1",), filter_id="tmf-1", managed_by="stack-a", account_id="123456789012")
MIB = 1_048_576


def _session(number: int, instance_id: str | None, managed_by: str = "stack-a", owner: str = "") -> MirrorSession:
    return builders.session(
        f"tms-{number}", f"eni-{number}", "tmt-1", instance_id=instance_id, managed_by=managed_by, owner_id=owner
    )


# -- which instances ---------------------------------------------------------------------------------------------------
def test_the_instances_checked_are_those_our_sessions_mirror_each_once() -> None:
    sessions = [
        _session(1, "i-b"),
        _session(2, "i-a"),
        _session(3, "i-a"),  # a second ENI of the same instance
        _session(4, "i-other", managed_by="stack-b"),  # another stack's
        _session(5, "i-foreign", owner="210987654321"),  # another account's, on a target we share
        _session(6, None),  # ours but unnamed: nothing to ask CloudWatch about
    ]

    assert mirrored_instances(sessions, SETTINGS) == ["i-a", "i-b"]


# -- the window --------------------------------------------------------------------------------------------------------
def test_the_window_ends_at_the_last_whole_5_minutes_and_covers_the_hour_and_a_quarter() -> None:
    window = skip_window(datetime(2026, 12, 1, 10, 7, 42, tzinfo=UTC))

    assert window.end == datetime(2026, 12, 1, 10, 5, tzinfo=UTC)
    assert window.start == datetime(2026, 12, 1, 8, 50, tzinfo=UTC)
    assert window.period_seconds == SKIP_PERIOD_SECONDS == 300


def test_consecutive_hourly_windows_overlap_so_no_5_minutes_is_left_unread() -> None:
    first = skip_window(datetime(2026, 12, 1, 10, 7, tzinfo=UTC))
    second = skip_window(datetime(2026, 12, 1, 11, 7, tzinfo=UTC) + timedelta(seconds=59))

    assert second.start < first.end


# -- the judgement -----------------------------------------------------------------------------------------------------
def test_an_instance_over_the_threshold_in_either_direction_skips_and_one_at_it_does_not() -> None:
    readings = {
        "i-in": SkippedBytes(inbound=(0.0, 2 * MIB), outbound=(0.0,)),
        "i-out": SkippedBytes(inbound=(0.0,), outbound=(MIB + 1,)),
        "i-at": SkippedBytes(inbound=(float(MIB),), outbound=(float(MIB),)),
        "i-quiet": SkippedBytes(inbound=(0.0, 0.0), outbound=(10.0,)),
    }

    verdicts = judge_skips(list(readings), readings, MIB)

    assert verdicts.skipping == {"i-in": (2 * MIB, 0.0), "i-out": (0.0, MIB + 1)}
    assert list(verdicts.skipping) == ["i-in", "i-out"]  # worst first
    assert verdicts.judged == 4 and verdicts.not_judged == () and verdicts.without_data == ()


def test_an_instance_cloudwatch_did_not_answer_for_is_not_judged_and_one_without_data_is_judged() -> None:
    readings = {
        "i-partial": SkippedBytes(inbound=(5 * MIB,), complete=False),
        "i-empty": SkippedBytes(),
    }

    verdicts = judge_skips(["i-partial", "i-empty", "i-missing"], readings, MIB)

    assert verdicts.skipping == {}  # an incomplete answer names no one, whatever it holds
    assert verdicts.not_judged == ("i-partial", "i-missing")
    assert verdicts.without_data == ("i-empty",)
    assert verdicts.judged == 1


# -- the gateway -------------------------------------------------------------------------------------------------------
class FakeCloudWatch:
    """Answers GetMetricData as AWS shapes it; ``pages`` > 1 splits every query's values over that many pages, the
    first ones marked PartialData, the way a NextToken continues them."""

    def __init__(self, bytes_of: dict[tuple[str, str], list[float]], pages: int = 1, status: str = "Complete") -> None:
        self.bytes_of = bytes_of
        self.pages = pages
        self.status = status
        self.calls: list[dict[str, Any]] = []

    def get_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        assert len(kwargs["MetricDataQueries"]) <= QUERIES_PER_CALL  # what AWS accepts in one call
        page = int(kwargs.get("NextToken", "0"))
        results = []
        for query in kwargs["MetricDataQueries"]:
            metric = query["MetricStat"]["Metric"]
            assert metric["Namespace"] == "AWS/EC2" and query["MetricStat"]["Stat"] == "Sum"
            [dimension] = metric["Dimensions"]
            values = self.bytes_of.get((metric["MetricName"], dimension["Value"]), [])
            last = page == self.pages - 1
            results.append(
                {
                    "Id": query["Id"],
                    "Values": values[page :: self.pages],
                    "StatusCode": self.status if last else "PartialData",
                }
            )
        answer: dict[str, Any] = {"MetricDataResults": results}
        if page < self.pages - 1:
            answer["NextToken"] = str(page + 1)
        return answer


WINDOW = skip_window(datetime(2026, 12, 1, 10, 7, tzinfo=UTC))


def test_the_gateway_asks_for_both_directions_of_every_instance_in_calls_of_at_most_500_queries() -> None:
    instances = [f"i-{n:04d}" for n in range(600)]
    cloudwatch = FakeCloudWatch({(OUTBOUND, "i-0555"): [0.0, 3 * MIB], (INBOUND, "i-0001"): [7.0]})

    readings = CloudWatchGateway(cloudwatch).skipped_bytes(instances, WINDOW)

    assert len(cloudwatch.calls) == 3  # 250 instances a call, two queries each
    asked = [
        (q["MetricStat"]["Metric"]["MetricName"], q["MetricStat"]["Metric"]["Dimensions"][0]["Value"])
        for call in cloudwatch.calls
        for q in call["MetricDataQueries"]
    ]
    assert sorted(asked) == sorted((m, i) for i in instances for m in (INBOUND, OUTBOUND))
    assert all(q["MetricStat"]["Period"] == 300 for c in cloudwatch.calls for q in c["MetricDataQueries"])
    assert {(c["StartTime"], c["EndTime"]) for c in cloudwatch.calls} == {(WINDOW.start, WINDOW.end)}
    assert readings["i-0555"] == SkippedBytes(inbound=(), outbound=(0.0, 3 * MIB))
    assert readings["i-0001"] == SkippedBytes(inbound=(7.0,), outbound=())
    assert set(readings) == set(instances)


def test_the_gateway_follows_every_page_and_gathers_each_query_s_values() -> None:
    cloudwatch = FakeCloudWatch({(INBOUND, "i-a"): [1.0, 2.0, 3.0, 4.0, 5.0]}, pages=3)

    readings = CloudWatchGateway(cloudwatch).skipped_bytes(["i-a", "i-b"], WINDOW)

    assert len(cloudwatch.calls) == 3
    assert sorted(readings["i-a"].inbound) == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert readings["i-a"].complete and readings["i-b"].complete  # PartialData on the first pages only


def test_a_query_left_without_its_data_leaves_its_instance_incomplete() -> None:
    readings = CloudWatchGateway(FakeCloudWatch({}, status="InternalError")).skipped_bytes(["i-a"], WINDOW)

    assert readings["i-a"].complete is False


@pytest.mark.parametrize(
    ("code", "error"),
    [("AccessDenied", AccountAwsError), ("Throttling", TransientAwsError)],
    ids=["denied", "throttled"],
)
def test_the_gateway_raises_the_domain_error_of_aws_s_code(code: str, error: type[Exception]) -> None:
    class Refusing:
        def get_metric_data(self, **_: Any) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": code, "Message": "no"}}, "GetMetricData")

    with pytest.raises(error, match="GetMetricData"):
        CloudWatchGateway(Refusing()).skipped_bytes(["i-a"], WINDOW)
