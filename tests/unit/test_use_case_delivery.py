"""``mirror-audit --delivery`` (``mirror_cli.delivery.check_delivery``): each pool target's sources read through
``ports.InventoryPort`` from the in-memory AWS (``fake_port``), judged on what CloudWatch answers
(``ports.DeliveryMetricsPort``, an in-memory answer here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from mirror_cli.delivery import check_delivery
from tests.builders import FILTER, METERED_APPLIANCE, instance, settings
from tests.unit.fake_port import usual_account
from traffic_mirroring.delivery import BYTES_OUT, PACKETS_OUT, MetricQuery, Series, source_queries
from traffic_mirroring.mirror_skips import MetricWindow

NOW = datetime(2026, 12, 1, 10, 7, tzinfo=UTC)
POOL = settings(METERED_APPLIANCE.target_id)  # the pool: the appliance's ENI target alone
APPLIANCE_IN = MetricQuery("AWS/EC2", "NetworkIn", (("InstanceId", "i-appl"),))


class CloudWatchSums:
    """The Sum of each metric in the window's first period (a metric not given: 0 in it); every query is answered."""

    def __init__(self, sums: Mapping[MetricQuery, float]) -> None:
        self.sums = sums
        self.asked: list[MetricQuery] = []

    def metric_series(self, queries: Sequence[MetricQuery], window: MetricWindow) -> dict[MetricQuery, Series]:
        self.asked += queries
        return {q: Series({window.start: self.sums[q]} if q in self.sums else {}) for q in queries}


def sent(instance_id: str, megabytes: float) -> dict[MetricQuery, float]:
    """What an instance mirrored out in the window: bytes, and packets of 1,000 bytes."""
    queries = source_queries(instance_id)
    return {queries[BYTES_OUT]: megabytes * 1e6, queries[PACKETS_OUT]: megabytes * 1e3}


def test_each_pool_target_is_judged_on_the_sources_its_sessions_come_from() -> None:
    # Given an ENI target (its appliance i-appl) that i-1 and i-2 mirror to, and a session on an ENI now detached
    fake = usual_account(instance("i-1"), instance("i-2", enis=("eni-2",)))
    fake.known_target(METERED_APPLIANCE).eni("eni-detached")
    for eni in ("eni-1", "eni-2", "eni-detached"):
        fake.existing_session(eni, METERED_APPLIANCE.target_id, FILTER, 1)
    # And CloudWatch: the sources sent 3 MB, the appliance received nothing
    metrics = CloudWatchSums({**sent("i-1", 1.0), **sent("i-2", 2.0)})
    # When the delivery is checked
    report = check_delivery(fake, metrics, POOL, now=NOW)
    # Then the target's sources are the instances its sessions' ENIs are attached to, each read (4 metrics), with the
    # appliance's NetworkIn, and the target is flagged: its sources sent, it received nothing
    (row,) = report["targets"]
    assert row["target_id"] == "tmt-eni" and row["sources"] == {"counted": 2, "also_elsewhere": 0, "not_read": 1}
    assert row["verdict"] == "nothing-received" and report["flagged"] == ["tmt-eni"]
    assert row["mirrored_bytes"] == 3e6 and report["metrics_requested"] == 9
    assert APPLIANCE_IN in metrics.asked


def test_a_target_that_received_what_its_sources_sent_shows_no_loss() -> None:
    fake = usual_account(instance("i-1")).known_target(METERED_APPLIANCE)
    fake.existing_session("eni-1", METERED_APPLIANCE.target_id, FILTER, 1)
    metrics = CloudWatchSums({**sent("i-1", 1.0), APPLIANCE_IN: 1.1e6})
    (row,) = check_delivery(fake, metrics, POOL, now=NOW)["targets"]
    assert row["verdict"] == "no-loss-shown" and not row["flagged"]
    assert row["received_bytes"] == 1.1e6
