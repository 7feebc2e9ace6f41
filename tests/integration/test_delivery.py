"""Delivery per pool target (issue 23) against recorded CloudWatch answers: moto with the strict layer serving
GetMetricData as AWS shapes it (500 queries a call, pages, per-query status), each service's own metrics published the
way it publishes them (``StrictAws.publish_aws_metric``): EC2's NetworkMirrorIn/Out and NetworkPacketsMirrorIn/Out
per source instance and NetworkIn per appliance, the NLB's ProcessedBytes_UDP, the Gateway Load Balancer endpoint's
BytesProcessed and PacketsDropped with the four dimensions PrivateLink publishes them with. ``mirror-audit
--delivery`` end to end: tests/integration/test_audit_delivery.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from mirror_cli.delivery import check_delivery
from simulation.account import SimulatedAccount
from simulation.eventbridge import load_template
from simulation.strict_aws import StrictAws
from tests.builders import METERED_APPLIANCE as APPLIANCE
from tests.builders import METERED_ENDPOINT as ENDPOINT
from tests.builders import METERED_NLB as NLB_EXAMPLE
from tests.integration.test_audit import managed_session
from tests.integration.test_production_stack import TEMPLATE, _dashboard
from traffic_mirroring.config import Settings, load_settings
from traffic_mirroring.delivery import (
    BYTES_IN,
    BYTES_OUT,
    LARGEST_FRAME_BYTES,
    PACKETS_IN,
    PACKETS_OUT,
    RECEIVED,
    SOURCE_METRICS,
    delivery_window,
    target_queries,
)
from traffic_mirroring.ec2_gateway import Ec2Gateway
from traffic_mirroring.metrics_gateway import CloudWatchGateway
from traffic_mirroring.model import TARGET_KIND_ENI, TARGET_KIND_GWLB_ENDPOINT, TARGET_KIND_NLB

NOW = datetime.now(UTC)
WINDOW = delivery_window(NOW)
PERIODS = [WINDOW.start + timedelta(minutes=5 * k) for k in range(12)]
MB = 1_000_000
# AWS gives a session on an NLB target PacketLength 8500 when none is asked for: a copy of a jumbo frame is cut, so the
# least an NLB is sure to receive of 1 MB of frames is 8500/9015 of it (delivery.LARGEST_FRAME_BYTES), plus the headers.
NLB_SHARE = 8500 / LARGEST_FRAME_BYTES


def publish(
    strict: StrictAws, namespace: str, metric: str, dimensions: dict[str, str], value: float, unit: str = "Bytes"
) -> None:
    """``value`` in every 5-minute period of the window, as the service publishes it."""
    for period in PERIODS:
        strict.publish_aws_metric(namespace, metric, dimensions, period, value, unit=unit)


def mirrors(strict: StrictAws, instance: str, bytes_in: float, packets_in: float, bytes_out: float = 0.0) -> None:
    """EC2 reports what ``instance`` mirrored in each period."""
    dims = {"InstanceId": instance}
    publish(strict, "AWS/EC2", BYTES_IN, dims, bytes_in)
    publish(strict, "AWS/EC2", BYTES_OUT, dims, bytes_out)
    publish(strict, "AWS/EC2", PACKETS_IN, dims, packets_in, unit="Count")
    publish(strict, "AWS/EC2", PACKETS_OUT, dims, 0, unit="Count")


def source(account: SimulatedAccount, target: str, filter_id: str) -> str:
    """A mirrored instance: one session of its ENI to ``target``."""
    instance = account.launch(tags={"mirror": "true"})
    managed_session(account, account.enis_of(instance)[0], target, filter_id, instance)
    return instance


def resource_of(account: SimulatedAccount, target_id: str) -> dict[str, str]:
    [target] = account.ec2.describe_traffic_mirror_targets(TrafficMirrorTargetIds=[target_id])["TrafficMirrorTargets"]
    return target  # type: ignore[no-any-return]


def appliance_of(account: SimulatedAccount, target_id: str) -> str:
    eni = resource_of(account, target_id)["NetworkInterfaceId"]
    [raw] = account.ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"]
    return str(raw["Attachment"]["InstanceId"])


def load_balancer_of(account: SimulatedAccount, target_id: str) -> str:
    """The NLB's ``LoadBalancer`` dimension: the final portion of its ARN."""
    return resource_of(account, target_id)["NetworkLoadBalancerArn"].split(":loadbalancer/")[1]


def endpoint_dimensions(account: SimulatedAccount, target_id: str) -> dict[str, str]:
    endpoint_id = resource_of(account, target_id)["GatewayLoadBalancerEndpointId"]
    [endpoint] = account.ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"]
    return {
        "Endpoint Type": "GatewayLoadBalancer",
        "Service Name": endpoint["ServiceName"],
        "VPC Endpoint Id": endpoint_id,
        "VPC Id": endpoint["VpcId"],
    }


def settings_for(pool: list[str], filter_id: str) -> Settings:
    return load_settings({"TARGET_IDS": ",".join(pool), "FILTER_ID": filter_id, "MANAGED_BY": "audited-stack"})


def delivery_of(account: SimulatedAccount, pool: list[str], filter_id: str) -> dict[str, dict[str, object]]:
    cloudwatch = boto3.client("cloudwatch", region_name=account.region)
    gateway = Ec2Gateway(account.ec2, account.elbv2, target_cache_seconds=0)
    report = check_delivery(gateway, CloudWatchGateway(cloudwatch), settings_for(pool, filter_id), now=NOW)
    return {row["target_id"]: row for row in report["targets"]}


@pytest.fixture
def world(account: SimulatedAccount) -> tuple[SimulatedAccount, str]:
    return account, account.mirror_filter()


def test_a_target_that_received_nothing_while_its_sources_sent_is_flagged_and_one_within_the_overhead_is_not(
    strict: StrictAws, world: tuple[SimulatedAccount, str]
) -> None:
    account, filter_id = world
    nlb, appliance = account.nlb_target(), account.eni_target()
    # Two sources mirror 1 MB in 1,000 packets every 5 minutes to the NLB, which processed no UDP byte
    for instance in (source(account, nlb, filter_id), source(account, nlb, filter_id)):
        mirrors(strict, instance, MB, 1000)
    # One source mirrors 0.5 MB in and 0.5 MB out, in 1,000 packets, to the appliance, which received 1 MB + 54 kB of
    # VXLAN headers less 5%: within the tolerance
    to_appliance = source(account, appliance, filter_id)
    mirrors(strict, to_appliance, MB / 2, 1000, bytes_out=MB / 2)
    publish(strict, "AWS/EC2", "NetworkIn", {"InstanceId": appliance_of(account, appliance)}, 0.95 * 1.054 * MB)

    rows = delivery_of(account, [nlb, appliance], filter_id)

    assert rows[nlb]["verdict"] == "nothing-received" and rows[nlb]["flagged"] is True
    assert rows[nlb]["sources"] == {"counted": 2, "also_elsewhere": 0, "not_read": 0}
    assert rows[nlb]["expected_bytes"] == pytest.approx(12 * 2 * (MB * NLB_SHARE + 54_000))
    assert rows[nlb]["received_bytes"] == 0
    assert rows[nlb]["received_metric"] == "AWS/NetworkELB ProcessedBytes_UDP"
    assert rows[appliance]["verdict"] == "no-loss-shown" and rows[appliance]["flagged"] is False
    assert rows[appliance]["ratio"] == pytest.approx(0.95)
    assert rows[appliance]["received_metric"] == "AWS/EC2 NetworkIn"


def test_an_nlb_below_the_tolerance_loses_copies_and_one_receiving_them_all_does_not(
    strict: StrictAws, world: tuple[SimulatedAccount, str]
) -> None:
    account, filter_id = world
    losing, delivering = account.nlb_target(name="losing"), account.nlb_target(name="delivering")
    mirrors(strict, source(account, losing, filter_id), MB, 1000)
    mirrors(strict, source(account, delivering, filter_id), MB, 1000)
    for target, processed in ((losing, MB / 2), (delivering, 1.054 * MB)):
        dimension = {"LoadBalancer": load_balancer_of(account, target)}
        publish(strict, "AWS/NetworkELB", "ProcessedBytes_UDP", dimension, processed)

    rows = delivery_of(account, [losing, delivering], filter_id)

    least = MB * NLB_SHARE + 54_000
    assert rows[losing]["verdict"] == "loss" and rows[losing]["ratio"] == pytest.approx(MB / 2 / least, abs=1e-4)
    assert rows[delivering]["verdict"] == "no-loss-shown"
    assert rows[delivering]["ratio"] == pytest.approx(1.054 * MB / least, abs=1e-4)


def test_a_gateway_load_balancer_endpoint_is_read_with_its_four_dimensions_and_its_drops_flagged(
    strict: StrictAws, world: tuple[SimulatedAccount, str]
) -> None:
    account, filter_id = world
    endpoint = account.gwlb_endpoint_target()
    mirrors(strict, source(account, endpoint, filter_id), MB, 1000)
    dimensions = endpoint_dimensions(account, endpoint)
    publish(strict, "AWS/PrivateLinkEndpoints", "BytesProcessed", dimensions, 1.054 * MB)
    publish(strict, "AWS/PrivateLinkEndpoints", "PacketsDropped", dimensions, 2, unit="Count")
    # The same metric published with fewer dimensions is another metric: it must not be what is read
    publish(strict, "AWS/PrivateLinkEndpoints", "BytesProcessed", {"VPC Endpoint Id": dimensions["VPC Endpoint Id"]}, 0)

    row = delivery_of(account, [endpoint], filter_id)[endpoint]

    assert row["verdict"] == "dropping" and row["flagged"] is True and row["dropped_packets"] == 24
    assert row["ratio"] == pytest.approx(1.0)


def test_an_instance_mirrored_to_two_targets_and_a_source_cloudwatch_did_not_answer_for_are_not_counted(
    strict: StrictAws, world: tuple[SimulatedAccount, str]
) -> None:
    account, filter_id = world
    nlb, other = account.nlb_target(name="main"), account.nlb_target(name="other")
    split = account.launch(tags={"mirror": "true"}, extra_enis=1)
    first, second = account.enis_of(split)
    managed_session(account, first, nlb, filter_id, split)
    account.foreign_session(second, other, filter_id, 1)  # the network team mirrors its second ENI elsewhere
    mirrors(strict, split, 10 * MB, 1000)
    unanswered = source(account, nlb, filter_id)
    mirrors(strict, unanswered, 10 * MB, 1000)
    strict.metric_status[(BYTES_IN, unanswered)] = "InternalError"

    row = delivery_of(account, [nlb], filter_id)[nlb]

    # Neither can show a loss: not judged, never flagged, and why is said
    assert row["sources"] == {"counted": 0, "also_elsewhere": 1, "not_read": 1}
    assert row["verdict"] == "not-judged" and row["flagged"] is False
    assert "split by network interface" in str(row["reason"])


# -- the dashboard -----------------------------------------------------------------------------------------------------
def test_the_dashboard_graphs_what_each_kind_of_target_received_and_what_the_sources_sent() -> None:
    """Where the template cannot know the pool's resources (TargetIds names targets, not load balancers), a Metrics
    Insights query per kind, on the very metric and dimensions delivery reads (delivery.RECEIVED)."""
    dashboard = _dashboard(load_template(TEMPLATE), lifecycle_hook_mode=False)
    expressions = [
        item["expression"]
        for widget in dashboard["widgets"]
        for metric in widget["properties"]["metrics"]
        for item in metric
        if isinstance(item, dict) and "expression" in item
    ]
    for metric in SOURCE_METRICS:  # what the sources sent, bytes and packets
        assert f'SELECT SUM({metric}) FROM SCHEMA("AWS/EC2", InstanceId)' in expressions
    nlb = RECEIVED[TARGET_KIND_NLB]
    assert f'SELECT SUM({nlb.metric}) FROM SCHEMA("{nlb.namespace}", LoadBalancer) GROUP BY LoadBalancer' in expressions
    endpoint = RECEIVED[TARGET_KIND_GWLB_ENDPOINT]
    dimensions = target_queries(ENDPOINT)[0]["received"].dimensions
    schema = ", ".join(f'"{name}"' for name, _ in dimensions)  # every dimension it is published with
    for metric in (endpoint.metric, endpoint.dropped_metric):
        assert (
            f'SELECT SUM({metric}) FROM SCHEMA("{endpoint.namespace}", {schema}) '
            f'WHERE "Endpoint Type" = \'GatewayLoadBalancer\' GROUP BY "VPC Endpoint Id"'
        ) in expressions
    titles = [widget["properties"]["title"] for widget in dashboard["widgets"]]
    assert sum(title.startswith("Delivery:") for title in titles) == 2


# -- the README's table of the metrics read ----------------------------------------------------------------------------
def test_the_readme_names_the_metrics_delivery_reads_for_each_side() -> None:
    readme = (TEMPLATE.parent / "README.md").read_text(encoding="utf-8")
    marker = "<!-- delivery metrics: tested against traffic_mirroring.delivery (RECEIVED, SOURCE_METRICS) -->"
    rows = readme.split(marker, 1)[1].split("\n\n", 1)[0].splitlines()[3:]
    by_side = {row.split(" | ")[0].strip("| "): row for row in rows}
    assert set(by_side) == {
        "every source instance",
        "NLB target",
        "Gateway Load Balancer endpoint target",
        "ENI target",
    }
    assert all(f"`{metric}`" in by_side["every source instance"] for metric in SOURCE_METRICS)
    sides = {
        TARGET_KIND_NLB: "NLB target",
        TARGET_KIND_GWLB_ENDPOINT: "Gateway Load Balancer endpoint target",
        TARGET_KIND_ENI: "ENI target",
    }
    assert set(sides) == set(RECEIVED)
    examples = {TARGET_KIND_NLB: NLB_EXAMPLE, TARGET_KIND_GWLB_ENDPOINT: ENDPOINT, TARGET_KIND_ENI: APPLIANCE}
    for kind, side in sides.items():
        spec, row = RECEIVED[kind], by_side[side]
        assert f"`{spec.namespace}` `{spec.metric}`" in row, kind
        assert not spec.dropped_metric or f"`{spec.dropped_metric}`" in row, kind
        dimensions = target_queries(examples[kind])[0]["received"].dimensions
        assert row.split(" | ")[2] == ", ".join(f"`{name}`" for name, _ in dimensions), kind
