"""Delivery: do the copies a pool target's sources mirror reach it? The arithmetic and the verdict. Pure: no AWS here.

Both sides are in CloudWatch, in 5-minute periods:

- What the sources mirrored: ``NetworkMirrorIn``/``NetworkMirrorOut`` (bytes) and ``NetworkPacketsMirrorIn``/``Out``
  (packets), namespace ``AWS/EC2``, dimension ``InstanceId``: "the number of bytes received [sent out] on all network
  interfaces by the instance that are mirrored"
  (https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirror-cloudwatch.html). Per instance, not per ENI.
- What the target received, by kind (``RECEIVED``): an NLB's ``ProcessedBytes_UDP`` (``AWS/NetworkELB``), a Gateway
  Load Balancer endpoint's ``BytesProcessed`` and ``PacketsDropped`` (``AWS/PrivateLinkEndpoints``), an ENI target's
  appliance ``NetworkIn`` (``AWS/EC2``). Each also counts traffic that is not mirrored (``includes``).

Each copy carries VXLAN outer headers: "54 bytes ... for IPv4 and 74 bytes ... when you use IPv6"
(https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-network-limitations.html, MTU). A copy's outer
source is the source ENI's primary private IPv4 address (traffic-mirroring-packet-formats.html), so 54; it is also the
smaller, which can only understate what was sent.

What a target should have received is bounded below (``expected_bytes``) by what its sources certainly sent it, and
a loss is shown only when it received less than ``min_ratio`` of that. Received at least that much proves nothing
(every received figure includes other traffic): the verdict is then "no loss shown", never "healthy". Approximations,
each towards the smaller expected figure:

- An instance with sessions to two targets (its ENIs, or one ENI's sessions, going to different targets): its
  per-instance figures cannot be split by ENI, so it counts in no target's lower bound, only in ``expected_at_most``.
- A session with ``PacketLength`` truncates copies: a copy then carries at least ``PacketLength / 9015`` of its frame
  (9015 bytes: the largest frame an instance sends, 9001-byte MTU and the 14-byte Ethernet header). The smallest
  PacketLength of the instance's sessions on the target is used.
- Only periods in which the counted sources mirrored something are compared, so a target's other traffic before or
  after them adds nothing; a period in which the target has no data point counts as 0 received (ELB and PrivateLink
  publish only periods with traffic).
- A source whose figures CloudWatch did not answer completely, or whose instance is not known here (an ENI of another
  account through a shared target), is left out of the lower bound and counted in ``sources_not_read``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from traffic_mirroring.mirror_skips import MetricWindow
from traffic_mirroring.model import (
    TARGET_KIND_ENI,
    TARGET_KIND_GWLB_ENDPOINT,
    TARGET_KIND_NLB,
    MirrorSession,
    MirrorTarget,
)

VXLAN_OVERHEAD_IPV4 = 54  # bytes of outer headers per copy (traffic-mirroring-network-limitations, MTU)
VXLAN_OVERHEAD_IPV6 = 74
LARGEST_FRAME_BYTES = 9001 + 14  # jumbo MTU + the inner Ethernet header: a copy's largest untruncated content
DELIVERY_PERIOD_SECONDS = 300  # NetworkPacketsMirrorIn/Out exist at basic (5-minute) monitoring only
DEFAULT_WINDOW_MINUTES = 60
# The window ends this long before now: EC2's 5-minute data points land minutes late, and a period one side has and
# the other not yet would read as a loss.
SETTLE_MINUTES = 10
# A loss is flagged below this share of what the sources certainly sent. The two sides' header accounting is not
# documented to the byte (is the inner Ethernet header in NetworkMirrorIn? the outer one in ProcessedBytes?): 20%
# absorbs 18 bytes of difference even on 64-byte packets, and any real loss of a fifth or more shows.
DEFAULT_MIN_RATIO = 0.8

EC2 = "AWS/EC2"
BYTES_IN, BYTES_OUT = "NetworkMirrorIn", "NetworkMirrorOut"
PACKETS_IN, PACKETS_OUT = "NetworkPacketsMirrorIn", "NetworkPacketsMirrorOut"
SOURCE_METRICS = (BYTES_IN, BYTES_OUT, PACKETS_IN, PACKETS_OUT)


@dataclass(frozen=True)
class MetricQuery:
    """One CloudWatch metric of one resource: namespace, name and its exact set of dimensions (a metric is matched
    by all of them)."""

    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Series:
    """What CloudWatch answered for one query: the Sum of each period (its start → value; a period without a data
    point is absent). ``complete`` is False when the answer was not ``Complete``."""

    points: Mapping[datetime, float] = field(default_factory=dict)
    complete: bool = True

    def total(self, periods: Iterable[datetime] | None = None) -> float:
        if periods is None:
            return sum(self.points.values())
        return sum(self.points.get(period, 0.0) for period in periods)


@dataclass(frozen=True)
class ReceivedMetric:
    """How a kind of target's received bytes are read, and everything that figure counts besides the copies."""

    namespace: str
    metric: str
    includes: str
    dropped_metric: str = ""  # a count of packets the target itself dropped ("": the kind publishes none)

    @property
    def name(self) -> str:
        return f"{self.namespace} {self.metric}"


RECEIVED: Mapping[str, ReceivedMetric] = {
    # https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-cloudwatch-metrics.html
    TARGET_KIND_NLB: ReceivedMetric(
        "AWS/NetworkELB",
        "ProcessedBytes_UDP",
        "the bytes of every UDP listener of the load balancer, with their IP and UDP headers, from any client; what "
        "reached the NLB, not what its appliances accepted",
    ),
    # https://docs.aws.amazon.com/vpc/latest/privatelink/privatelink-cloudwatch-metrics.html
    TARGET_KIND_GWLB_ENDPOINT: ReceivedMetric(
        "AWS/PrivateLinkEndpoints",
        "BytesProcessed",
        "every byte through the endpoint, in both directions (also traffic routed through it for inspection)",
        dropped_metric="PacketsDropped",
    ),
    # https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/viewing_metrics_with_cloudwatch.html
    TARGET_KIND_ENI: ReceivedMetric(
        EC2,
        "NetworkIn",
        "everything the appliance instance receives, on all its network interfaces",
    ),
}


class DeliveryVerdict(StrEnum):
    NO_LOSS_SHOWN = "no-loss-shown"  # received at least min_ratio of the lower bound: proves nothing more
    LOSS = "loss"  # received less than min_ratio of what its sources certainly sent it
    NOTHING_RECEIVED = "nothing-received"  # its sources sent, it received nothing
    DROPPING = "dropping"  # a Gateway Load Balancer endpoint counted packets it dropped
    IDLE = "idle"  # its sources mirrored nothing in the window: nothing to compare
    NOT_JUDGED = "not-judged"  # no figure that could show a loss (the reason says why)


FLAGGED = frozenset({DeliveryVerdict.LOSS, DeliveryVerdict.NOTHING_RECEIVED, DeliveryVerdict.DROPPING})


@dataclass(frozen=True)
class TargetSources:
    """The source instances of one target's sessions. ``counted``: instance → the smallest PacketLength of its
    sessions on the target (None: whole packets), for instances that mirror to this target only. ``elsewhere``:
    instances that also mirror to another target. ``unknown``: sessions whose instance is not known here."""

    counted: Mapping[str, int | None] = field(default_factory=dict)
    elsewhere: tuple[str, ...] = ()
    unknown: int = 0

    @property
    def instances(self) -> tuple[str, ...]:
        return (*self.counted, *self.elsewhere)


@dataclass(frozen=True)
class Delivery:
    """One pool target's delivery over the window. Bytes are window totals over the ``periods`` compared;
    ``expected_bytes`` is the lower bound (counted sources, overhead included, truncation allowed for),
    ``expected_at_most`` the upper (every source, whole packets, 74 bytes of overhead). ``ratio``: received over
    expected (None: nothing expected)."""

    target_id: str
    kind: str
    verdict: DeliveryVerdict
    reason: str = ""
    sources_counted: int = 0
    sources_elsewhere: int = 0
    sources_not_read: int = 0
    mirrored_bytes: float = 0.0
    mirrored_packets: float = 0.0
    expected_bytes: float = 0.0
    expected_at_most: float = 0.0
    received_bytes: float = 0.0
    dropped_packets: float | None = None
    periods: int = 0
    received_metric: str = ""
    includes: str = ""

    @property
    def flagged(self) -> bool:
        return self.verdict in FLAGGED

    @property
    def ratio(self) -> float | None:
        return self.received_bytes / self.expected_bytes if self.expected_bytes else None


def delivery_window(now: datetime, minutes: int = DEFAULT_WINDOW_MINUTES) -> MetricWindow:
    """The ``minutes`` before the last whole 5-minute period that ended ``SETTLE_MINUTES`` before ``now``."""
    epoch = int((now.astimezone(UTC) - timedelta(minutes=SETTLE_MINUTES)).timestamp())
    end = datetime.fromtimestamp(epoch - epoch % DELIVERY_PERIOD_SECONDS, UTC)
    return MetricWindow(start=end - timedelta(minutes=minutes), end=end, period_seconds=DELIVERY_PERIOD_SECONDS)


def source_queries(instance_id: str) -> dict[str, MetricQuery]:
    """The four figures of what one instance mirrored, by metric name."""
    return {metric: MetricQuery(EC2, metric, (("InstanceId", instance_id),)) for metric in SOURCE_METRICS}


def load_balancer_dimension(arn: str) -> str:
    """``arn:…:loadbalancer/net/<name>/<id>`` → ``net/<name>/<id>``, the ``LoadBalancer`` dimension ("the final
    portion of the load balancer ARN"); "" when the ARN has another shape."""
    _, found, tail = arn.partition(":loadbalancer/")
    return tail if found else ""


def target_queries(target: MirrorTarget) -> tuple[dict[str, MetricQuery], str]:
    """What to read of a target: ``received`` (and ``dropped`` for an endpoint), or why nothing can be."""
    spec = RECEIVED.get(target.kind)
    if spec is None:
        return {}, f"unknown target kind {target.kind!r}"
    if target.problem:
        return {}, f"not live: {target.problem}"
    dimensions: tuple[tuple[str, str], ...] = ()
    # (An NLB's VPC is known only when this account could describe it: a shared target's metrics are its owner's.)
    if target.kind == TARGET_KIND_NLB and target.vpc_id and (name := load_balancer_dimension(target.resource_id)):
        dimensions = (("LoadBalancer", name),)
    elif target.kind == TARGET_KIND_ENI and target.appliance_id:
        dimensions = (("InstanceId", target.appliance_id),)
    elif target.kind == TARGET_KIND_GWLB_ENDPOINT and target.endpoint_service and target.vpc_id:
        # All four dimensions AWS publishes it with: a metric is matched by its exact set of dimensions.
        dimensions = (
            ("Endpoint Type", "GatewayLoadBalancer"),
            ("Service Name", target.endpoint_service),
            ("VPC Endpoint Id", target.resource_id),
            ("VPC Id", target.vpc_id),
        )
    if not dimensions:
        return {}, "its resource is not visible from this account (its metrics are in its owner's)"
    queries = {"received": MetricQuery(spec.namespace, spec.metric, dimensions)}
    if spec.dropped_metric:
        queries["dropped"] = MetricQuery(spec.namespace, spec.dropped_metric, dimensions)
    return queries, ""


def attribute_sources(
    pool: Sequence[str], sessions: Iterable[MirrorSession], eni_instances: Mapping[str, str | None]
) -> dict[str, TargetSources]:
    """Each pool target's source instances, from every session this account sees (anyone's: a target receives them
    all) and the instance each session's ENI is attached to."""
    sessions = list(sessions)
    targets_of: dict[str, set[str]] = {}
    for session in sessions:
        if instance := eni_instances.get(session.eni_id):
            targets_of.setdefault(instance, set()).add(session.target_id)
    counted: dict[str, dict[str, int | None]] = {t: {} for t in pool}
    elsewhere: dict[str, set[str]] = {t: set() for t in pool}
    unknown = dict.fromkeys(pool, 0)
    for session in sessions:
        target = session.target_id
        if target not in counted:
            continue
        instance = eni_instances.get(session.eni_id)
        if instance is None:
            unknown[target] += 1
        elif targets_of[instance] != {target}:
            elsewhere[target].add(instance)
        else:
            lengths = counted[target]
            length = session.packet_length
            lengths[instance] = _shorter(lengths[instance], length) if instance in lengths else length
    return {t: TargetSources(dict(sorted(counted[t].items())), tuple(sorted(elsewhere[t])), unknown[t]) for t in pool}


def _shorter(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _truncation(packet_length: int | None) -> float:
    """The least share of a frame a copy carries: 1 for whole packets, else PacketLength over the largest frame."""
    return 1.0 if packet_length is None else min(1.0, packet_length / LARGEST_FRAME_BYTES)


def judge_delivery(
    target: MirrorTarget | None,
    target_id: str,
    sources: TargetSources,
    readings: Mapping[MetricQuery, Series],
    min_ratio: float = DEFAULT_MIN_RATIO,
) -> Delivery:
    """One pool target's verdict from what CloudWatch answered (``readings``: query → series; a query without an
    answer is not complete)."""
    if target is None:
        return Delivery(target_id, "", DeliveryVerdict.NOT_JUDGED, "no such target in this account and Region")
    spec = RECEIVED.get(target.kind)
    base = Delivery(
        target_id,
        target.kind,
        DeliveryVerdict.NOT_JUDGED,
        sources_elsewhere=len(sources.elsewhere),
        received_metric=spec.name if spec else "",
        includes=spec.includes if spec else "",
    )
    queries, why_not = target_queries(target)
    if why_not:
        return _with(base, reason=why_not, sources_not_read=sources.unknown + len(sources.counted))

    def answered(query: MetricQuery) -> Series:
        return readings.get(query) or Series(complete=False)

    read = {i: [answered(q) for q in source_queries(i).values()] for i in sources.instances}
    complete = {i for i, series in read.items() if all(s.complete for s in series)}
    counted = {i: length for i, length in sources.counted.items() if i in complete}
    lower, mirrored_bytes, mirrored_packets = _certainly_sent(counted, read)
    upper = _sent_at_most((i for i in sources.instances if i in complete), read)

    received = answered(queries["received"])
    dropped = answered(queries["dropped"]) if "dropped" in queries else None
    figures = _with(
        base,
        sources_counted=len(counted),
        sources_not_read=sources.unknown + len(sources.counted) - len(counted),
        mirrored_bytes=mirrored_bytes,
        mirrored_packets=mirrored_packets,
        expected_bytes=sum(lower.values()),
        expected_at_most=upper,
        received_bytes=received.total(lower),
        dropped_packets=dropped.total() if dropped is not None and dropped.complete else None,
        periods=len(lower),
    )
    if not received.complete or (dropped is not None and not dropped.complete):
        return _with(figures, reason="CloudWatch did not answer completely for the target's metrics")
    if not figures.periods:
        return _nothing_to_compare(figures)
    return _compare(figures, min_ratio)


def _certainly_sent(
    counted: Mapping[str, int | None], read: Mapping[str, Sequence[Series]]
) -> tuple[dict[datetime, float], float, float]:
    """What the counted sources (instance → its smallest PacketLength) certainly sent the target in each period they
    mirrored something (truncation and IPv4 overhead allowed for), and the bytes and packets they mirrored then."""
    lower: dict[datetime, float] = {}
    mirrored_bytes = mirrored_packets = 0.0
    for instance, packet_length in counted.items():
        bytes_in, bytes_out, packets_in, packets_out = read[instance]
        share = _truncation(packet_length)
        for period in {*bytes_in.points, *bytes_out.points, *packets_in.points, *packets_out.points}:
            sent = bytes_in.points.get(period, 0.0) + bytes_out.points.get(period, 0.0)
            packets = packets_in.points.get(period, 0.0) + packets_out.points.get(period, 0.0)
            if sent or packets:
                lower[period] = lower.get(period, 0.0) + sent * share + packets * VXLAN_OVERHEAD_IPV4
                mirrored_bytes += sent
                mirrored_packets += packets
    return lower, mirrored_bytes, mirrored_packets


def _sent_at_most(instances: Iterable[str], read: Mapping[str, Sequence[Series]]) -> float:
    """The most these sources can have sent over the window: whole packets, with IPv6's larger overhead."""
    upper = 0.0
    for instance in instances:
        bytes_in, bytes_out, packets_in, packets_out = read[instance]
        upper += bytes_in.total() + bytes_out.total() + (packets_in.total() + packets_out.total()) * VXLAN_OVERHEAD_IPV6
    return upper


def _nothing_to_compare(figures: Delivery) -> Delivery:
    """No period in which a counted source mirrored something: why there is nothing to compare."""
    if figures.expected_at_most:
        return _with(
            figures,
            reason="every source that mirrored also mirrors to another target: per-instance figures cannot be "
            "split by network interface",
        )
    if figures.sources_not_read:
        return _with(figures, reason="no source's figures could be read here")
    return _with(figures, verdict=DeliveryVerdict.IDLE, reason="its sources mirrored nothing in the window")


def _compare(figures: Delivery, min_ratio: float) -> Delivery:
    """What the target received against what its sources certainly sent it, then what it dropped."""
    if not figures.received_bytes:
        return _with(figures, verdict=DeliveryVerdict.NOTHING_RECEIVED, reason="its sources sent, it received nothing")
    ratio = figures.received_bytes / figures.expected_bytes
    if ratio < min_ratio:
        return _with(
            figures,
            verdict=DeliveryVerdict.LOSS,
            reason=f"received {ratio:.0%} of what its sources certainly sent it (below {min_ratio:.0%})",
        )
    if figures.dropped_packets:
        return _with(
            figures,
            verdict=DeliveryVerdict.DROPPING,
            reason=f"the endpoint dropped {figures.dropped_packets:,.0f} packets (mirrored or not)",
        )
    return _with(figures, verdict=DeliveryVerdict.NO_LOSS_SHOWN, reason="received figures include other traffic")


def _with(delivery: Delivery, **changes: object) -> Delivery:
    return replace(delivery, **changes)  # type: ignore[arg-type]
