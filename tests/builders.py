"""Builders of the domain's values for unit tests: settings, instances, sessions, targets, inventories and plans.

The one home of what the planner's tests build by hand. Each builder takes what a test is about as a parameter and
fills the rest with the defaults of the usual world below (a running m5.large in zone-a tagged ``mirror=true`` with
one ENI, sessions of the stack "stack" with the filter tmf-1), so a test names only the values its rule depends on. A
test file that needs other defaults wraps a builder with its own parameters rather than copying it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from traffic_mirroring.config import Settings
from traffic_mirroring.eligibility import Verdict
from traffic_mirroring.model import AttachedEni, Instance, Inventory, MirrorSession, MirrorTarget, Plan
from traffic_mirroring.planner import plan_mirroring

STACK = "stack"
FILTER = "tmf-1"
OURS = {"mirror-managed-by": STACK}  # the marker of the stack's own sessions
MIRROR = {"mirror": "true"}
SUPPORTED = {"m5.large": Verdict.SUPPORTED}


# -- settings ----------------------------------------------------------------------------------------------------------
def settings(*target_ids: str, filter_id: str = FILTER, managed_by: str = STACK, **changes: Any) -> Settings:
    """The stack's settings with its pool ``target_ids``; ``changes``: any other field of Settings."""
    return Settings(target_ids=target_ids, filter_id=filter_id, managed_by=managed_by, **changes)


# -- targets -----------------------------------------------------------------------------------------------------------
def nlb(target_id: str = "tmt-nlb", *zones: str, **fields: Any) -> MirrorTarget:
    """A Network Load Balancer target (no source limit) in ``zones``; ``fields``: any other field of MirrorTarget."""
    return MirrorTarget(target_id, "network-load-balancer", None, frozenset(zones), **fields)


def eni_target(target_id: str, *zones: str, capacity: int = 10, **fields: Any) -> MirrorTarget:
    """A network interface target (an appliance's ENI): 10 sources unless ``capacity`` says otherwise."""
    return MirrorTarget(target_id, "network-interface", capacity, frozenset(zones), **fields)


def endpoint(target_id: str, *zones: str, **fields: Any) -> MirrorTarget:
    """A Gateway Load Balancer endpoint target (no source limit) in ``zones``."""
    return MirrorTarget(target_id, "gateway-load-balancer-endpoint", None, frozenset(zones), **fields)


# -- one target of each kind with what names its CloudWatch metrics (delivery: the resource, an ENI target's
# appliance, an endpoint's service) ---------------------------------------------------------------------------------
NLB_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/sensors/50dc6c495c0c9188"
METERED_NLB = nlb("tmt-nlb", vpc_id="vpc-1", resource_id=NLB_ARN)
METERED_APPLIANCE = eni_target("tmt-eni", vpc_id="vpc-1", resource_id="eni-t", appliance_id="i-appl")
METERED_ENDPOINT = endpoint(
    "tmt-gwlbe", vpc_id="vpc-1", resource_id="vpce-0abc", endpoint_service="com.amazonaws.vpce.us-east-1.vpce-svc-0123"
)


# -- the usual world: a pool of an ENI target in zone-a and an NLB in both zones (tmt-b, an ENI target in zone-b, is
# known but out of the pool); m5.large is supported, t2.micro is not -----------------------------------------------
SETTINGS = settings("tmt-a", "tmt-nlb")
TARGETS = {
    "tmt-a": eni_target("tmt-a", "zone-a"),
    "tmt-b": eni_target("tmt-b", "zone-b"),
    "tmt-nlb": nlb("tmt-nlb", "zone-a", "zone-b"),
}
VERDICTS = {"m5.large": Verdict.SUPPORTED, "t2.micro": Verdict.UNSUPPORTED}


# -- instances ---------------------------------------------------------------------------------------------------------
def instance(
    iid: str = "i-1",
    state: str = "running",
    tags: Mapping[str, str] | None = None,
    enis: Iterable[AttachedEni | str] = ("eni-1",),
    itype: str = "m5.large",
    *,
    zone: str = "zone-a",
    vpc: str = "",
    subnet: str = "",
) -> Instance:
    """An instance with its ENIs (IDs or AttachedEni); ``tags`` None: the mirror tag alone."""
    attached = tuple(AttachedEni(e) if isinstance(e, str) else e for e in enis)
    return Instance(iid, state, itype, zone, dict(MIRROR) if tags is None else tags, attached, vpc, subnet)


# -- sessions ----------------------------------------------------------------------------------------------------------
def session(
    sid: str,
    eni: str,
    target: str = "tmt-a",
    number: int = 1,
    ours: bool = True,
    filter_id: str = FILTER,
    instance_id: str | None = "i-1",
    *,
    managed_by: str = STACK,
    tags: Mapping[str, str] | None = None,
    owner_id: str = "",
    packet_length: int | None = None,
    vni: int | None = None,
) -> MirrorSession:
    """A session: the stack's (``ours``: its marker and the instance it was created for, None: not named) or another
    team's (``{"team": "net"}``); ``tags`` adds to either."""
    if ours:
        marker = {"mirror-managed-by": managed_by}
        if instance_id is not None:
            marker["mirror-instance-id"] = instance_id
    else:
        marker = {"team": "net"}
    return MirrorSession(sid, eni, target, filter_id, number, {**marker, **(tags or {})}, owner_id, packet_length, vni)


# -- inventories and plans ---------------------------------------------------------------------------------------------
def inventory(
    *instances: Instance,
    sessions: Iterable[MirrorSession] = (),
    targets: Mapping[str, MirrorTarget] | None = TARGETS,
    verdicts: Mapping[str, Verdict] = VERDICTS,
    attachments: Mapping[str, str | None] | None = None,
    **more: Any,
) -> Inventory:
    """What the inventory reads: the instances, their ENIs attached to them (``attachments`` adds or overrides), the
    sessions, the targets (None: not read), the type verdicts and ``more`` fields of Inventory."""
    attached: dict[str, str | None] = {e.eni_id: i.instance_id for i in instances for e in i.enis}
    attached.update(attachments or {})
    return Inventory(
        instances={i.instance_id: i for i in instances},
        sessions=list(sessions),
        eni_attachments=attached,
        targets=targets,
        type_verdicts=verdicts,
        **more,
    )


def plan(*instances: Instance, settings: Settings = SETTINGS, **inventory_fields: Any) -> Plan:
    """The planner's plan for the inventory of ``instances`` (``inventory_fields``: as ``inventory`` takes them)."""
    return plan_mirroring(inventory(*instances, **inventory_fields), settings)
