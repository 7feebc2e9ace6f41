"""Delivery arithmetic (issue 23): what a pool target's sources mirrored, what it should have received after VXLAN's
per-packet overhead, what it received, and the verdict; with zero traffic, missing data, partial windows and the
approximations (an instance mirrored to two targets, truncated copies). No AWS."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.builders import METERED_APPLIANCE as APPLIANCE
from tests.builders import METERED_ENDPOINT as ENDPOINT
from tests.builders import METERED_NLB as NLB
from tests.builders import NLB_ARN
from traffic_mirroring.delivery import (
    BYTES_IN,
    BYTES_OUT,
    DEFAULT_MIN_RATIO,
    DELIVERY_PERIOD_SECONDS,
    LARGEST_FRAME_BYTES,
    PACKETS_IN,
    PACKETS_OUT,
    RECEIVED,
    SETTLE_MINUTES,
    VXLAN_OVERHEAD_IPV4,
    DeliveryVerdict,
    MetricQuery,
    Series,
    TargetSources,
    attribute_sources,
    delivery_window,
    judge_delivery,
    load_balancer_dimension,
    source_queries,
    target_queries,
)
from traffic_mirroring.metrics_gateway import CloudWatchGateway
from traffic_mirroring.mirror_skips import MetricWindow
from traffic_mirroring.model import (
    TARGET_KIND_ENI,
    TARGET_KIND_GWLB_ENDPOINT,
    TARGET_KIND_NLB,
    MirrorSession,
    MirrorTarget,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PERIODS = [T0 + timedelta(minutes=5 * k) for k in range(12)]  # one hour


def sources(*counted: str, elsewhere: Sequence[str] = (), unknown: int = 0, length: int | None = None) -> TargetSources:
    return TargetSources(dict.fromkeys(counted, length), tuple(elsewhere), unknown)


def sent(
    instance: str,
    per_period: float,
    packets: float,
    periods: Sequence[datetime] = PERIODS,
    *,
    outbound: float = 0.0,
    complete: bool = True,
) -> dict[MetricQuery, Series]:
    """``instance`` mirrored ``per_period`` bytes in (and ``outbound`` out) in ``packets`` packets each period."""
    queries = source_queries(instance)
    return {
        queries[BYTES_IN]: Series(dict.fromkeys(periods, per_period), complete),
        queries[BYTES_OUT]: Series(dict.fromkeys(periods, outbound) if outbound else {}, complete),
        queries[PACKETS_IN]: Series(dict.fromkeys(periods, packets), complete),
        queries[PACKETS_OUT]: Series({}, complete),
    }


def received(
    target: MirrorTarget, per_period: float, periods: Sequence[datetime] = PERIODS, *, dropped: float = 0.0
) -> dict[MetricQuery, Series]:
    queries, why_not = target_queries(target)
    assert not why_not
    answer = {queries["received"]: Series(dict.fromkeys(periods, per_period) if per_period else {})}
    if "dropped" in queries:
        answer[queries["dropped"]] = Series(dict.fromkeys(periods, dropped) if dropped else {})
    return answer


def judge(target: MirrorTarget, of: TargetSources, *readings: Mapping[MetricQuery, Series], **kw: Any) -> Any:
    merged: dict[MetricQuery, Series] = {}
    for reading in readings:
        merged.update(reading)
    return judge_delivery(target, target.target_id, of, merged, **kw)


# -- overhead ----------------------------------------------------------------------------------------------------------
def test_vxlan_adds_54_bytes_a_packet_to_what_the_target_should_receive() -> None:
    # 1,000 packets of 100 bytes every 5 minutes: the target receives 100 kB of packets and 54 kB of outer headers
    mirrored = sent("i-a", 100_000, 1000)
    exactly = judge(NLB, sources("i-a"), mirrored, received(NLB, 154_000))
    assert exactly.expected_bytes == 12 * (100_000 + 1000 * VXLAN_OVERHEAD_IPV4) == 12 * 154_000
    assert exactly.mirrored_bytes == 12 * 100_000 and exactly.mirrored_packets == 12 * 1000
    assert exactly.ratio == 1.0 and exactly.verdict == DeliveryVerdict.NO_LOSS_SHOWN and not exactly.flagged
    # Without the overhead the figure would read 100%: with it, a target that got only the packets' bytes lost some
    short = judge(NLB, sources("i-a"), mirrored, received(NLB, 100_000))
    assert short.ratio == pytest.approx(100_000 / 154_000)
    assert short.verdict == DeliveryVerdict.LOSS and short.flagged
    assert "received 65%" in short.reason


def test_both_directions_count() -> None:
    both = sent("i-a", 50_000, 500, outbound=50_000)  # 500 packets counted inbound only
    row = judge(NLB, sources("i-a"), both, received(NLB, 127_000))
    assert row.expected_bytes == 12 * (100_000 + 500 * 54)
    assert row.verdict == DeliveryVerdict.NO_LOSS_SHOWN


def test_within_the_tolerance_is_not_flagged_and_below_it_is() -> None:
    mirrored = sent("i-a", 946_000, 1000)  # 1 MB a period with its overhead
    assert judge(NLB, sources("i-a"), mirrored, received(NLB, 810_000)).verdict == DeliveryVerdict.NO_LOSS_SHOWN
    assert judge(NLB, sources("i-a"), mirrored, received(NLB, 790_000)).verdict == DeliveryVerdict.LOSS
    strict = judge(NLB, sources("i-a"), mirrored, received(NLB, 810_000), min_ratio=0.9)
    assert strict.verdict == DeliveryVerdict.LOSS
    assert DEFAULT_MIN_RATIO == 0.8


def test_more_received_than_sent_shows_no_loss_and_is_never_called_healthy() -> None:
    row = judge(APPLIANCE, sources("i-a"), sent("i-a", 1000, 10), received(APPLIANCE, 9_000_000))
    assert row.verdict == DeliveryVerdict.NO_LOSS_SHOWN and row.ratio is not None and row.ratio > 1
    assert "include other traffic" in row.reason
    assert {v.value for v in DeliveryVerdict} == {
        "no-loss-shown",
        "loss",
        "nothing-received",
        "dropping",
        "idle",
        "not-judged",
    }


# -- zero traffic ------------------------------------------------------------------------------------------------------
def test_sources_that_sent_nothing_leave_nothing_to_judge() -> None:
    silent = sent("i-a", 0, 0)  # data points of 0
    assert judge(NLB, sources("i-a"), silent, received(NLB, 0)).verdict == DeliveryVerdict.IDLE
    no_points = sent("i-a", 0, 0, periods=[])  # no data point at all
    idle = judge(NLB, sources("i-a"), no_points, received(NLB, 5000))
    assert idle.verdict == DeliveryVerdict.IDLE and not idle.flagged and idle.periods == 0
    assert judge(NLB, sources(), received(NLB, 0)).verdict == DeliveryVerdict.IDLE  # no sources at all


def test_a_target_that_received_nothing_while_its_sources_sent_is_flagged() -> None:
    row = judge(NLB, sources("i-a", "i-b"), sent("i-a", 1e6, 1000), sent("i-b", 0, 0), received(NLB, 0))
    assert row.verdict == DeliveryVerdict.NOTHING_RECEIVED and row.flagged
    assert row.received_bytes == 0 and row.expected_bytes > 0 and row.sources_counted == 2


# -- missing data ------------------------------------------------------------------------------------------------------
def test_a_source_cloudwatch_did_not_answer_for_is_left_out_of_the_lower_bound() -> None:
    answered = sent("i-a", 1e6, 1000)
    unanswered = sent("i-b", 9e9, 1000, complete=False)
    row = judge(NLB, sources("i-a", "i-b"), answered, unanswered, received(NLB, 1e6 + 54_000))
    assert row.sources_counted == 1 and row.sources_not_read == 1
    assert row.expected_bytes == 12 * (1e6 + 54_000) and row.verdict == DeliveryVerdict.NO_LOSS_SHOWN
    # A query left out of the answer altogether counts as unanswered too
    missing = {q: s for q, s in sent("i-b", 1e6, 10).items() if q.metric != PACKETS_IN}
    alone = judge(NLB, sources("i-b"), missing, received(NLB, 0))
    assert alone.verdict == DeliveryVerdict.NOT_JUDGED and alone.sources_not_read == 1 and not alone.flagged


def test_a_target_cloudwatch_did_not_answer_for_is_not_judged() -> None:
    queries, _ = target_queries(NLB)
    row = judge(NLB, sources("i-a"), sent("i-a", 1e6, 1000), {queries["received"]: Series(complete=False)})
    assert row.verdict == DeliveryVerdict.NOT_JUDGED and "did not answer" in row.reason and not row.flagged


def test_missing_packet_counts_only_lower_what_is_expected() -> None:
    queries = source_queries("i-a")
    bytes_only = {
        queries[BYTES_IN]: Series(dict.fromkeys(PERIODS, 1000.0)),
        queries[BYTES_OUT]: Series({}),
        queries[PACKETS_IN]: Series({}),
        queries[PACKETS_OUT]: Series({}),
    }
    row = judge(NLB, sources("i-a"), bytes_only, received(NLB, 1000))
    assert row.expected_bytes == 12 * 1000 and row.verdict == DeliveryVerdict.NO_LOSS_SHOWN


# -- partial windows ---------------------------------------------------------------------------------------------------
def test_an_appliance_that_received_only_the_second_half_of_the_window_lost_the_first() -> None:
    row = judge(APPLIANCE, sources("i-a"), sent("i-a", 1e6, 1000), received(APPLIANCE, 2e6, PERIODS[6:]))
    assert row.periods == 12
    assert row.received_bytes == 6 * 2e6  # its traffic in the second half, nothing in the first
    assert row.ratio == pytest.approx(12e6 / (12 * 1.054e6))
    # Were the appliance's second half heavy enough to make up for the first, the window hides the gap: no loss shown
    # is all a target's figure can say when it also counts other traffic.
    assert row.verdict == DeliveryVerdict.NO_LOSS_SHOWN
    half = judge(APPLIANCE, sources("i-a"), sent("i-a", 1e6, 1000), received(APPLIANCE, 1.054e6, PERIODS[6:]))
    assert half.ratio == pytest.approx(0.5) and half.verdict == DeliveryVerdict.LOSS


def test_only_periods_in_which_the_sources_mirrored_are_compared() -> None:
    # A source launched half-way: the target's other traffic before it does not count as delivered copies
    late = sent("i-a", 1e6, 1000, PERIODS[6:])
    row = judge(NLB, sources("i-a"), late, received(NLB, 5e6, PERIODS[:6]), received(NLB, 1.054e6, PERIODS[6:]))
    assert row.periods == 6 and row.received_bytes == 6 * 1.054e6 and row.ratio == pytest.approx(1.0)
    nothing_then = judge(NLB, sources("i-a"), late, received(NLB, 5e6, PERIODS[:6]))
    assert nothing_then.verdict == DeliveryVerdict.NOTHING_RECEIVED


def test_the_window_ends_settled_and_aligned_to_5_minutes() -> None:
    window = delivery_window(datetime(2026, 12, 1, 10, 7, 42, tzinfo=UTC))
    assert window.end == datetime(2026, 12, 1, 9, 55, tzinfo=UTC)  # 10 minutes back, then the last whole period
    assert window.start == window.end - timedelta(minutes=60)
    assert window.period_seconds == DELIVERY_PERIOD_SECONDS == 300 and SETTLE_MINUTES == 10
    assert delivery_window(datetime(2026, 12, 1, 10, 7, tzinfo=UTC), 15).start == datetime(
        2026, 12, 1, 9, 40, tzinfo=UTC
    )


# -- approximations ----------------------------------------------------------------------------------------------------
def test_an_instance_mirrored_to_two_targets_counts_in_neither_lower_bound() -> None:
    sessions = [
        MirrorSession("tms-1", "eni-a1", "tmt-nlb", "tmf", 1),
        MirrorSession("tms-2", "eni-a2", "tmt-eni", "tmf", 1),  # i-a's second ENI, to another target
        MirrorSession("tms-3", "eni-b", "tmt-nlb", "tmf", 1, packet_length=8500),
        MirrorSession("tms-4", "eni-b", "tmt-nlb", "tmf", 2, packet_length=128),  # a second session of i-b's ENI
        MirrorSession("tms-5", "eni-x", "tmt-nlb", "tmf", 1),  # an ENI not known here (another account's)
        MirrorSession("tms-6", "eni-c", "tmt-other", "tmf", 1),  # not a pool target
    ]
    attached = {"eni-a1": "i-a", "eni-a2": "i-a", "eni-b": "i-b", "eni-c": "i-c"}
    by_target = attribute_sources(["tmt-nlb", "tmt-eni"], sessions, attached)
    assert by_target["tmt-nlb"] == TargetSources({"i-b": 128}, ("i-a",), 1)
    assert by_target["tmt-eni"] == TargetSources({}, ("i-a",), 0)
    # i-a's figures go to the upper bound only: alone, they judge nothing
    row = judge(APPLIANCE, by_target["tmt-eni"], sent("i-a", 1e6, 1000), received(APPLIANCE, 0))
    assert row.verdict == DeliveryVerdict.NOT_JUDGED and "split by network interface" in row.reason
    assert row.expected_bytes == 0 and row.expected_at_most == 12 * (1e6 + 1000 * 74) and row.sources_elsewhere == 1


def test_truncated_copies_lower_what_is_expected_never_raise_it() -> None:
    mirrored = sent("i-a", 9_000_000, 1000)  # 9,000-byte packets
    whole = judge(NLB, sources("i-a"), mirrored, received(NLB, 0))
    cut = judge(NLB, sources("i-a", length=128), mirrored, received(NLB, 0))
    assert whole.expected_bytes == 12 * (9e6 + 54_000)
    assert cut.expected_bytes == pytest.approx(12 * (9e6 * 128 / LARGEST_FRAME_BYTES + 54_000))
    # 182 bytes a copy (128 + 54) is all a truncating session delivers: within what is expected, no loss shown
    assert judge(NLB, sources("i-a", length=128), mirrored, received(NLB, 182_000)).verdict == (
        DeliveryVerdict.NO_LOSS_SHOWN
    )


def test_a_gateway_load_balancer_endpoint_that_drops_packets_is_flagged() -> None:
    mirrored = sent("i-a", 1e6, 1000)
    dropping = judge(ENDPOINT, sources("i-a"), mirrored, received(ENDPOINT, 1.054e6, dropped=3))
    assert dropping.verdict == DeliveryVerdict.DROPPING and dropping.flagged and dropping.dropped_packets == 36
    clean = judge(ENDPOINT, sources("i-a"), mirrored, received(ENDPOINT, 1.054e6))
    assert clean.verdict == DeliveryVerdict.NO_LOSS_SHOWN and clean.dropped_packets == 0


# -- what is read of each kind -----------------------------------------------------------------------------------------
def test_each_kind_of_target_is_read_from_its_own_metric_with_the_dimensions_aws_publishes() -> None:
    nlb, _ = target_queries(NLB)
    assert nlb == {
        "received": MetricQuery(
            "AWS/NetworkELB", "ProcessedBytes_UDP", (("LoadBalancer", "net/sensors/50dc6c495c0c9188"),)
        )
    }
    eni, _ = target_queries(APPLIANCE)
    assert eni == {"received": MetricQuery("AWS/EC2", "NetworkIn", (("InstanceId", "i-appl"),))}
    endpoint, _ = target_queries(ENDPOINT)
    dimensions = (
        ("Endpoint Type", "GatewayLoadBalancer"),
        ("Service Name", "com.amazonaws.vpce.us-east-1.vpce-svc-0123"),
        ("VPC Endpoint Id", "vpce-0abc"),
        ("VPC Id", "vpc-1"),
    )
    assert endpoint == {
        "received": MetricQuery("AWS/PrivateLinkEndpoints", "BytesProcessed", dimensions),
        "dropped": MetricQuery("AWS/PrivateLinkEndpoints", "PacketsDropped", dimensions),
    }
    assert set(RECEIVED) == {TARGET_KIND_NLB, TARGET_KIND_ENI, TARGET_KIND_GWLB_ENDPOINT}
    assert load_balancer_dimension("not-an-arn") == ""


def test_a_target_whose_resource_is_not_visible_or_gone_is_not_judged() -> None:
    shared = MirrorTarget("tmt-shared", TARGET_KIND_NLB, None, resource_id=NLB_ARN, owner_id="210987654321")
    dead = MirrorTarget("tmt-dead", TARGET_KIND_ENI, 10, live=False, problem="its appliance i-9 is stopped")
    for target, words in ((shared, "owner"), (dead, "not live")):
        row = judge_delivery(target, target.target_id, sources("i-a"), sent("i-a", 1e6, 1000))
        assert row.verdict == DeliveryVerdict.NOT_JUDGED and words in row.reason and not row.flagged
    assert judge_delivery(None, "tmt-gone", sources(), {}).verdict == DeliveryVerdict.NOT_JUDGED


# -- the gateway: any metric, per period -------------------------------------------------------------------------------
class PeriodCloudWatch:
    """GetMetricData as AWS shapes it: timestamps and values per query, across pages (``pages``)."""

    def __init__(self, points: dict[str, list[tuple[datetime, float]]], pages: int = 1) -> None:
        self.points, self.pages, self.calls = points, pages, 0

    def get_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        assert len(kwargs["MetricDataQueries"]) <= 500
        page = int(kwargs.get("NextToken", "0"))
        results = []
        for query in kwargs["MetricDataQueries"]:
            stat = query["MetricStat"]
            found = self.points.get(stat["Metric"]["MetricName"], [])[page :: self.pages]
            results.append(
                {
                    "Id": query["Id"],
                    "Timestamps": [t for t, _ in found],
                    "Values": [v for _, v in found],
                    "StatusCode": "Complete" if page == self.pages - 1 else "PartialData",
                }
            )
        answer: dict[str, Any] = {"MetricDataResults": results}
        if page + 1 < self.pages:
            answer["NextToken"] = str(page + 1)
        return answer


def test_the_gateway_returns_each_metric_by_period_across_pages_and_batches_of_500() -> None:
    points = {"NetworkMirrorIn": [(PERIODS[0], 1.0), (PERIODS[1], 2.0), (PERIODS[2], 3.0)]}
    cloudwatch = PeriodCloudWatch(points, pages=2)
    queries = [q for n in range(130) for q in source_queries(f"i-{n}").values()]  # 520 metrics
    series = CloudWatchGateway(cloudwatch).metric_series([*queries, queries[0]], MetricWindow(T0, PERIODS[-1]))
    assert len(series) == 520 and cloudwatch.calls == 4  # two calls of 500 and 20 queries, two pages each
    first = series[source_queries("i-0")[BYTES_IN]]
    assert first.points == {PERIODS[0]: 1.0, PERIODS[1]: 2.0, PERIODS[2]: 3.0} and first.complete
    assert series[source_queries("i-129")[BYTES_OUT]] == Series({}, complete=True)
