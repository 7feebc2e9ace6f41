"""moto, held to AWS's Traffic Mirroring rules.

moto (5.2.5) accepts anything for mirror sessions: unlimited sessions per ENI and sources per target, duplicate or
out-of-range session numbers, unknown ENIs/targets/filters, unsupported sources; it ignores ClientToken, paging,
``tag:`` filters and DeleteOnTermination set on an attachment, keeps sessions of deleted ENIs, and changes the type
of a running instance. While
``StrictAws`` is active, the same calls answer the way AWS documents, with AWS's error codes. It patches moto's
classes, so it holds for in-process mocks and for ``ThreadedMotoServer`` in the same process alike. The layer models
AWS from AWS's documentation (its data: ``aws_rules.json``) and never from the product's code.

Rules always on:

- Targets and filters get AWS's ID prefixes, ``tmt-`` and ``tmf-``, so CreateTags and DeleteTags work on them as on
  AWS (moto's ``traf-mir-tar-`` and ``traf-mir-fil-`` IDs make its own tagging refuse them with ``InvalidID``).
- Sources: an ENI of type ``interface`` attached to an instance whose family is on AWS's inclusion list
  (virtualized and bare-metal lists apart), or a requester-managed ENI created by Amazon RDS or Amazon ElastiCache;
  else ``NetworkInterfaceNotSupported`` ("eni-… must be attached to a supported instance").
- ENI targets take 10 source ENIs, 100 when the appliance's instance type is on AWS's explicit list; an ENI target
  whose ENI is gone (appliance terminated) or is another account's counts 10 unless its host type was given
  (``add_shared_target``). NLB and Gateway Load Balancer endpoint targets have no limit.
- Session options (the CreateTrafficMirrorSession and ModifyTrafficMirrorSession API reference): PacketLength 1-8500
  ("Setting a PacketLength greater than 8500 will result in an error response") and VirtualNetworkId 0-16777215
  (the VXLAN ID: 24 bits, RFC 7348), else ``InvalidParameterValue``. A create without VirtualNetworkId gets "an
  account-wide unique ID ... chosen at random"; a session on a Network Load Balancer target without PacketLength has
  8500 ("For sessions with NLB traffic mirror targets the default PacketLength will be set to 8500"), also after a
  modify. ModifyTrafficMirrorSession's ``RemoveFields`` (``packet-length``, ``description``,
  ``virtual-network-id``; another value ``InvalidParameterValue``) sets each back to its default ("When you remove
  a property from a Traffic Mirror session, the property is set to the default"): the whole packet (8500 on an NLB
  target), no description, a new VNI chosen at random. moto picks no VNI, knows no NLB default and ignores
  RemoveFields.
- DescribeTrafficMirrorSessions, DescribeTrafficMirrorTargets and DescribeTrafficMirrorFilters take only the filter
  names their API reference lists; any other name, ``tag:<key>`` and ``tag-key`` included (none of the three lists
  them), answers ``InvalidParameterValue``, as other EC2 describes do for an unknown filter name.
- ModifyInstanceAttribute changes an instance's type only while it is ``stopped``; in any other state it answers
  ``IncorrectInstanceState`` (moto changes it in any state).
- Filter rules (CreateTrafficMirrorFilterRule, which moto lacks): kept with their filter and answered in
  DescribeTrafficMirrorFilters (``IngressFilterRules``/``EgressFilterRules``), each with the fields it was created
  with (``Protocol`` and the port ranges only when given). An unknown filter answers
  ``InvalidTrafficMirrorFilterId.NotFound``; a rule number already used in that direction ("must be unique for each
  Traffic Mirror rule in a given direction", undocumented code) ``InvalidParameterValue``.
- Deleting the resource behind a target (NLB, Gateway Load Balancer endpoint, the appliance's ENI) leaves the target
  and its sessions; sessions can still be created on it or moved to it (AWS only stops mirroring).
- A session owned by another account answers ``UnauthorizedOperation`` to Delete/Modify; sessions the account
  cannot see (``add_hidden_session``) are in no describe, answer NotFound, and still count toward the ENI's limits.
- DescribeLoadBalancers fails as a whole (``LoadBalancerNotFound``) when one ARN or name is unknown, whatever its
  position (moto only notices an unknown first one). Load balancer ARNs carry AWS's ``net/``, ``gwy/`` or ``app/``.
- A ``GatewayLoadBalancer`` VPC endpoint gets its requester-managed ENI (``gateway_load_balancer_endpoint``) in its
  subnet, needs an existing endpoint service, and loses the ENI when deleted (moto creates none and checks nothing).
- What AWS creates by default: a VPC's default security group admits its own members only (one inbound rule, all
  traffic, naming the group itself; moto gives it none); an ENI in an IPv6-only subnet (``Ipv6Native``) has IPv6
  addresses and no private IPv4 address (moto gives it an IPv6 address as ``PrivateIpAddress``); an NLB created
  without security groups cannot be given any later (``InvalidConfigurationRequest``). Defaults moto already has as
  AWS does, which the layer's tests hold it to: a new VPC is IPv4-only unless an IPv6 block is asked for, its default
  network ACL allows all (rule 100) before the ``*`` deny, an NLB has cross-zone load balancing off and no security
  groups, a target group defers cross-zone to its load balancer (``use_load_balancer_configuration``).
- STS AssumeRole answers ``AccessDenied`` ("User: … is not authorized to perform: sts:AssumeRole on resource: …",
  HTTP 403) unless the role exists, by its ARN (path included), in the IAM of the account the ARN names, and its trust
  policy has an ``Allow`` statement for ``sts:AssumeRole`` whose ``Principal`` is ``*`` or names the calling account
  (its ID, ``arn:…:iam::<account>:root``) or the caller itself, and no such ``Deny`` statement; a statement with a
  ``Condition`` is not evaluated and allows nothing. moto assumes any ARN, of a role that exists or not, and its
  credentials then act in the account the ARN names (as AWS's do).
- Organizations ListAccounts answers at most 20 accounts a page (AWS's largest ``MaxResults``; moto: 100), and each
  account with its ``State`` only: AWS retired the ``Status`` field on 2026-09-09 (botocore's Organizations model).
  Only the management account and a delegated administrator may call it (the latter gets the organization's
  accounts); another member answers ``AccessDeniedException``, an account in no organization
  ``AWSOrganizationsNotInUseException`` (moto answers both with an empty list).

Switches (attributes of ``StrictAws``, reset on ``__exit__``):

- ``accept_families``: families AWS is told to accept as sources although they are not listed (a test of a product
  that probes AWS with a create). ``accept_family(name)`` adds one.
- ``describe_lag`` (0): after a session is created, the next ``describe_lag`` DescribeTrafficMirrorSessions calls
  of that account and Region (any IDs or filters; each page is a call) do not show it (by ID: NotFound); after one
  is deleted (also with its ENI), the next ``describe_lag`` calls still show it as it was. Creates, deletes and
  modifies see the truth, as AWS enforces its limits on it. The lag is fixed when the create or delete happens.
  ``target_describe_lag`` (0) does the same for created targets and DescribeTrafficMirrorTargets.
- ``token_replay`` (True): the same ClientToken with the same parameters answers the first create's result, even
  when that session was deleted since; other parameters answer ``IdempotentParameterMismatch``. False: tokens are
  ignored (AWS forgot them). A failed create never records its token.
- ``duplicate_numbers_accepted`` (False): AWS does not document that it refuses a session number already used on
  the ENI; True accepts it, False refuses it with ``InvalidParameterValue``.
- ``ipv6_only_sources_refused`` (False): AWS documents that Traffic Mirroring is not supported for IPv6-only subnets,
  not what CreateTrafficMirrorSession answers for such a source. False accepts the session (it would bill and mirror
  nothing), True refuses it with ``InvalidParameterValue``; the product must ask neither.
- ``page_cap``: the largest page AWS returns, whatever MaxResults asks (Traffic Mirroring describes; ListAccounts
  below its own 20).
- ``metric_page_cap`` (None): the most data points one GetMetricData page holds, below ``MaxDatapoints``.
- ``metric_status`` ({}): (metric name, a dimension value: an InstanceId, a LoadBalancer, a VPC endpoint ID, ...) → the
  ``StatusCode`` GetMetricData answers for that metric of that resource, without values (``InternalError``,
  ``Forbidden``: AWS did not answer that query).

Where AWS does not document an error code (a session number already used on the ENI, a source ENI that is a
target, an ENI target that is a source, a NextToken that was never handed out), ``InvalidParameterValue`` is used,
and the product must not depend on the code.

CloudWatch (GetMetricData, for the queries that name their metric with ``MetricStat``; other queries are moto's):

- At most 500 ``MetricDataQueries`` a call ("A single GetMetricData call can include as many as 500
  MetricDataQuery structures"), else ``ValidationError`` (the code is not documented: the product must not depend on
  it). moto takes any number.
- A query matches the metric of its namespace, name and exact set of dimensions (moto ignores the namespace when
  dimensions are given), its data points summed (``Sum``, ``Average``, ``Minimum``, ``Maximum``, ``SampleCount``) in
  periods from ``StartTime``, newest first unless ``ScanBy`` says ``TimestampAscending``.
- Pages of at most ``MaxDatapoints`` data points (AWS's default: 100,800) with a ``NextToken``: AWS documents that the
  call "paginates when the MaxDatapoints limit is reached" but not how the queries are split; modelled as the worse
  case, a query's values continued on the next page under the same ``Id``, with ``StatusCode`` ``PartialData`` until
  its last page.
- The metrics AWS services publish themselves (``AWS/EC2`` ``NetworkSkipMirrorIn``, ...) are absent from moto: a test
  publishes them with ``StrictAws.publish_aws_metric`` (PutMetricData is for custom metrics).

CompleteLifecycleAction, which moto lacks, is answered for actions a test starts with
``StrictAws.start_launch_lifecycle_action`` and recorded in ``StrictAws.completed_lifecycle_actions``.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import random
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from moto.autoscaling.exceptions import ValidationError
from moto.autoscaling.models import autoscaling_backends
from moto.autoscaling.responses import AutoScalingResponse
from moto.cloudwatch.exceptions import ValidationError as CloudWatchValidationError
from moto.cloudwatch.models import MetricDatum, cloudwatch_backends
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.exceptions import AccessDeniedError
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.core.responses import ActionResult, EmptyResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models import ec2_backends
from moto.ec2.models.elastic_network_interfaces import NetworkInterface, NetworkInterfaceBackend
from moto.ec2.models.instances import Instance, InstanceBackend
from moto.ec2.models.security_groups import SecurityGroup, SecurityGroupRule
from moto.ec2.models.traffic_mirrors import (
    TrafficMirrorFilter,
    TrafficMirrorsBackend,
    TrafficMirrorSession,
    TrafficMirrorTarget,
)
from moto.ec2.models.vpcs import VPCBackend
from moto.ec2.responses.elastic_network_interfaces import ElasticNetworkInterfaces
from moto.ec2.responses.traffic_mirrors import TrafficMirrors
from moto.ec2.utils import EC2_RESOURCE_TO_PREFIX, random_private_ip
from moto.elbv2 import models as elbv2_models
from moto.elbv2.exceptions import InvalidConfigurationRequest, LoadBalancerNotFoundError
from moto.elbv2.utils import make_arn_for_load_balancer
from moto.iam.exceptions import NotFoundException
from moto.iam.models import iam_backends
from moto.organizations.exceptions import AWSOrganizationsNotInUseException, OrganizationsClientError
from moto.organizations.models import FakeAccount, OrganizationsBackend, organizations_backends
from moto.sts.responses import TokenResponse

RULES: dict[str, Any] = json.loads((Path(__file__).with_name("aws_rules.json")).read_text())
_VIRTUALIZED_FAMILIES = frozenset(RULES["source_families_virtualized"])
_BARE_METAL_FAMILIES = frozenset(RULES["source_families_bare_metal"])
_HUNDRED_SOURCE_TARGETS = frozenset(RULES["eni_targets_with_100_sources"])
_SOURCE_REQUESTERS = frozenset(RULES["source_requester_ids"])
OTHER_ACCOUNT_ID = "111122223333"  # the account behind shared targets and sessions this account cannot change
_LOCK = threading.RLock()
_ABSENT = object()  # what _patch saves for an attribute moto does not have (a call moto does not implement)


# -- AWS's rules as functions of their data ----------------------------------------------------------------------
def instance_family(instance_type: str) -> str:
    """The family of an instance type: its name before the first dot, lower-case (``u7in-16tb.224xlarge``)."""
    return instance_type.split(".", 1)[0].lower()


def is_bare_metal(instance_type: str) -> bool:
    """``*.metal`` and ``*.metal-*`` (``c7i.metal-24xl``) are bare metal; every other size is virtualized."""
    size = instance_type.split(".", 1)[1].lower() if "." in instance_type else ""
    return size == "metal" or size.startswith("metal-")


def aws_supports_source(instance_type: str, *_legacy: object, accept_families: Iterable[str] = ()) -> bool:
    """Whether an instance of this type can be a Traffic Mirroring source, per AWS's inclusion list.

    https://docs.aws.amazon.com/vpc/latest/mirroring/what-is-traffic-mirroring.html#supported-instance-types
    (replaced the exclusion list on 2025-08-28): virtualized sizes of the listed families; bare metal only of the
    bare-metal list (Nitro v2). ``accept_families`` are accepted whatever the size. Extra positional arguments
    (the hypervisor and bare-metal flags of the former rule) are ignored.
    """
    family = instance_family(instance_type)
    if family in {f.lower() for f in accept_families}:
        return True
    return family in (_BARE_METAL_FAMILIES if is_bare_metal(instance_type) else _VIRTUALIZED_FAMILIES)


def eni_target_source_limit(instance_type: str | None) -> int:
    """Source ENIs an ENI target on an appliance of this type accepts: 100 for AWS's explicit list, else 10.

    https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-quotas.html#traffic-mirroring-quotas-sources
    """
    if instance_type is not None and instance_type.lower() in _HUNDRED_SOURCE_TARGETS:
        return int(RULES["sources_per_listed_eni_target"])
    return int(RULES["sources_per_eni_target"])


def _error(code: str, message: str) -> EC2ClientError:
    return EC2ClientError(code, message)


def _unauthorized() -> EC2ClientError:
    # https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html (UnauthorizedOperation);
    # https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-network-limitations.html: only a session's
    # owner may change it.
    return _error("UnauthorizedOperation", "You are not authorized to perform this operation.")


def source_limit(backend: Any, target: Any) -> int | None:
    """How many source ENIs a target accepts: 10 or 100 for an ENI target, no limit for NLB/GWLB endpoint.

    The appliance's type decides; an ENI target whose ENI is gone or belongs to another account counts 10 unless
    the layer was told its host type (``StrictAws.add_shared_target(host_instance_type=...)``).
    """
    if target.type != "network-interface":
        return None
    host_type: str | None = getattr(target, "host_instance_type", None)
    if host_type is None and target.owner_id == backend.account_id:
        try:
            eni = backend.get_network_interface(target.network_interface_id)
        except EC2ClientError:
            eni = None
        instance = getattr(eni, "instance", None)
        host_type = instance.instance_type if instance is not None else None
    return eni_target_source_limit(host_type)


def _supported_source(layer: StrictAws, eni: Any) -> bool:
    """AWS: "eni-… must be attached to a supported instance" (and be of type ``interface``).

    A requester-managed ENI is a source only when Amazon RDS or Amazon ElastiCache created it
    (https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-network-limitations.html, "Sources").
    """
    if getattr(eni, "interface_type", "interface") != "interface":
        return False
    if getattr(eni, "requester_managed", False):
        return getattr(eni, "requester_id", None) in _SOURCE_REQUESTERS
    instance = getattr(eni, "instance", None)
    if instance is None:
        return False
    return aws_supports_source(instance.instance_type, accept_families=layer.accept_families)


# -- other accounts' resources -------------------------------------------------------------------------------------
class OtherAccountSession(TrafficMirrorSession):
    """A session owned by another account: on one of our ENIs in a shared VPC (``visible`` False: we cannot describe
    it) or from another account's ENI to one of our (shared) targets (``visible`` True, with its ``OwnerId``)."""

    def __init__(self, backend: Any, owner_id: str, visible: bool, **kwargs: Any) -> None:
        super().__init__(backend, **kwargs)
        self._owner_id = owner_id
        self.visible = visible

    @property
    def owner_id(self) -> str:
        return self._owner_id


class SharedTarget(TrafficMirrorTarget):
    """A target another account shares with us (AWS RAM): we see it and use it, not the resource behind it."""

    def __init__(self, backend: Any, owner_id: str, host_instance_type: str | None, **kwargs: Any) -> None:
        super().__init__(backend, **kwargs)
        self._owner_id = owner_id
        self.host_instance_type = host_instance_type

    @property
    def owner_id(self) -> str:
        return self._owner_id

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "OwnerId": self._owner_id}


def _visible(resource: Any) -> bool:
    return getattr(resource, "visible", True)


def _backends() -> Iterator[Any]:
    """Every EC2 backend in use (never creates one)."""
    for regions in list(ec2_backends.values()):
        yield from list(regions.values())


def _backend_with(collection: str, resource_id: str) -> Any:
    for backend in _backends():
        if resource_id in getattr(backend, collection):
            return backend
    raise ValueError(f"no account of this moto has {resource_id}")


def mark_requester_managed(eni_id: str, requester_id: str = "amazon-rds", interface_type: str = "interface") -> None:
    """Make an existing ENI look like one an AWS service created in our VPC (``RequesterManaged``, its service's
    ``RequesterId``, attached to the service's hidden instance). moto creates no such ENI itself."""
    with _LOCK:
        eni = _backend_with("enis", eni_id).enis[eni_id]
        eni.requester_managed = True
        eni.requester_id = requester_id
        eni.interface_type = interface_type
        eni.status = "in-use"


# -- per-backend state -----------------------------------------------------------------------------------------
@dataclass
class _Lag:
    """Eventual consistency of one Describe call of one backend: calls made, IDs hidden until a call number,
    deleted resources shown (as they were) until a call number."""

    calls: int = 0
    hidden_until: dict[str, int] = field(default_factory=dict)
    ghosts: dict[str, tuple[Any, int, int]] = field(default_factory=dict)  # id → (copy, shown until, hidden until)

    def created(self, resource_id: str, lag: int) -> None:
        if lag > 0:
            self.hidden_until[resource_id] = self.calls + lag

    def deleted(self, resource: Any, lag: int) -> None:
        if lag > 0:
            hidden = self.hidden_until.pop(resource.id, 0)
            self.ghosts[resource.id] = (copy.copy(resource), self.calls + lag, hidden)

    def view(self, resources: dict[str, Any]) -> dict[str, Any]:
        """Count one call and return what it shows."""
        self.calls += 1
        now = self.calls
        for resource_id, until in list(self.hidden_until.items()):
            if until < now:
                del self.hidden_until[resource_id]
            else:
                resources.pop(resource_id, None)
        for resource_id, (ghost, until, hidden) in list(self.ghosts.items()):
            if until < now:
                del self.ghosts[resource_id]
            elif hidden < now:
                resources.setdefault(resource_id, ghost)
        return resources


def _lag(backend: Any, collection: str) -> _Lag:
    lags: dict[str, _Lag] = backend.__dict__.setdefault("_strict_lag", {})
    return lags.setdefault(collection, _Lag())


def _sessions(backend: Any) -> dict[str, TrafficMirrorSession]:
    return backend.traffic_mirror_sessions  # type: ignore[no-any-return]


def _tokens(backend: Any) -> dict[str, tuple[tuple[Any, ...], TrafficMirrorSession]]:
    if not hasattr(backend, "_strict_tokens"):
        backend._strict_tokens = {}
    return backend._strict_tokens  # type: ignore[no-any-return]


def _filter_rules(backend: Any) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Filter ID → direction (ingress, egress) → its rules, as DescribeTrafficMirrorFilters shows them."""
    if not hasattr(backend, "_strict_filter_rules"):
        backend._strict_filter_rules = {}
    return backend._strict_filter_rules  # type: ignore[no-any-return]


def _create_filter_rule(self: Any) -> ActionResult:
    """CreateTrafficMirrorFilterRule (EC2 API reference): the rule is the filter's, in its direction."""
    params = self._get_params()
    filter_id = str(params.get("TrafficMirrorFilterId", ""))
    direction, number = str(params.get("TrafficDirection", "")), int(params.get("RuleNumber", 0))
    if direction not in ("ingress", "egress"):
        raise _error("InvalidParameterValue", f"TrafficDirection '{direction}' is not ingress or egress")
    if params.get("RuleAction") not in ("accept", "reject"):
        raise _error("InvalidParameterValue", f"RuleAction '{params.get('RuleAction')}' is not accept or reject")
    with _LOCK:
        _require_filter(self.ec2_backend, filter_id)
        rules = _filter_rules(self.ec2_backend).setdefault(filter_id, {"ingress": [], "egress": []})[direction]
        if any(rule["RuleNumber"] == number for rule in rules):
            raise _error("InvalidParameterValue", f"Rule number {number} is already used in direction {direction}")
        rule: dict[str, Any] = {
            "TrafficMirrorFilterRuleId": _made_up_id("tmfr"),
            "TrafficMirrorFilterId": filter_id,
            "TrafficDirection": direction,
            "RuleNumber": number,
            "RuleAction": params["RuleAction"],
            "DestinationCidrBlock": params.get("DestinationCidrBlock", ""),
            "SourceCidrBlock": params.get("SourceCidrBlock", ""),
        }
        if params.get("Protocol") is not None:
            rule["Protocol"] = int(params["Protocol"])
        for name in ("DestinationPortRange", "SourcePortRange", "Description"):
            if params.get(name):
                rule[name] = params[name]
        rules.append(rule)
    return ActionResult({"TrafficMirrorFilterRule": rule})


def _rules_of(direction: str) -> property:
    """A filter's rules in one direction, as DescribeTrafficMirrorFilters answers them (its serializer reads
    ``ingress_filter_rules`` and ``egress_filter_rules``)."""

    def rules(self: Any) -> list[dict[str, Any]]:
        with _LOCK:
            found = _filter_rules(self.ec2_backend).get(self.id, {}).get(direction, [])
            return sorted(copy.deepcopy(found), key=lambda r: int(r["RuleNumber"]))

    return property(rules)


def _require_target(backend: Any, target_id: str) -> Any:
    target = backend.traffic_mirror_targets.get(target_id)
    if target is None:
        raise _error(
            "InvalidTrafficMirrorTargetId.NotFound", f"The traffic mirror target '{target_id}' does not exist."
        )
    return target


def _require_filter(backend: Any, filter_id: str) -> None:
    if filter_id not in backend.traffic_mirror_filters:
        raise _error(
            "InvalidTrafficMirrorFilterId.NotFound", f"The traffic mirror filter '{filter_id}' does not exist."
        )


def _session_not_found(session_id: str) -> EC2ClientError:
    return _error(
        "InvalidTrafficMirrorSessionId.NotFound", f"The traffic mirror session '{session_id}' does not exist."
    )


def _own_session(backend: Any, session_id: str) -> TrafficMirrorSession:
    """A session this account may change: NotFound if it cannot see it, UnauthorizedOperation if it is not its."""
    session = _sessions(backend).get(session_id)
    if session is None or not _visible(session):
        raise _session_not_found(session_id)
    if session.owner_id != backend.account_id:
        raise _unauthorized()
    return session


def _check_target_room(backend: Any, target: Any, eni_id: str, ignore_session: str | None = None) -> None:
    limit = source_limit(backend, target)
    if limit is None:
        return
    sources = {
        s.network_interface_id
        for s in _sessions(backend).values()
        if s.traffic_mirror_target_id == target.id and s.id != ignore_session
    }
    if eni_id not in sources and len(sources) >= limit:
        raise _error(
            "TrafficMirrorSourcesPerTargetLimitExceeded",
            f"The traffic mirror target '{target.id}' already has the maximum of {limit} sources.",
        )


def _check_eni_room(layer: StrictAws, backend: Any, eni_id: str, session_number: int) -> None:
    """3 sessions per source ENI, of anyone (also those this account cannot see); numbers unique unless the switch
    says AWS accepts a repeat."""
    on_eni = [s for s in _sessions(backend).values() if s.network_interface_id == eni_id]
    if len(on_eni) >= RULES["sessions_per_eni"]:
        raise _error(
            "TrafficMirrorSessionsPerInterfaceLimitExceeded",
            f"{eni_id} already has {len(on_eni)} traffic mirror sessions.",
        )
    if not layer.duplicate_numbers_accepted and any(s.session_number == session_number for s in on_eni):
        raise _error("InvalidParameterValue", f"Session number {session_number} is already in use on {eni_id}.")


def _in_range(name: str, value: int | None, bounds: list[int]) -> None:
    if value is not None and not bounds[0] <= value <= bounds[1]:
        raise _error("InvalidParameterValue", f"{name} {value} is out of range [{bounds[0]}, {bounds[1]}].")


VNI_RANGE = [0, 2**24 - 1]  # VXLAN's 24-bit network identifier (RFC 7348)
NLB_DEFAULT_PACKET_LENGTH = 8500  # CreateTrafficMirrorSession: the default PacketLength of a session on an NLB target
REMOVABLE_FIELDS = frozenset({"packet-length", "description", "virtual-network-id"})  # ModifyTrafficMirrorSession
_RANDOM = random.Random()


def _random_vni(backend: Any) -> int:
    """AWS: "If you do not specify a VirtualNetworkId, an account-wide unique ID is chosen at random"."""
    used = {s.virtual_network_id for s in _sessions(backend).values()}
    while True:
        vni = _RANDOM.randint(1, VNI_RANGE[1])
        if vni not in used:
            return vni


def _default_packet_length(backend: Any, session: Any) -> None:
    """A session on an NLB target never goes without a PacketLength: AWS's default there is 8500."""
    target = backend.traffic_mirror_targets.get(session.traffic_mirror_target_id)
    if session.packet_length is None and target is not None and target.type == "network-load-balancer":
        session.packet_length = NLB_DEFAULT_PACKET_LENGTH


# -- patched backend methods ---------------------------------------------------------------------------------
def _strict_create_session(layer: StrictAws, original: Callable[..., Any]) -> Callable[..., Any]:
    def create(
        self: Any,
        network_interface_id: str,
        traffic_mirror_target_id: str,
        traffic_mirror_filter_id: str,
        session_number: int,
        packet_length: int | None,
        virtual_network_id: int | None,
        description: str | None,
        tag_specifications: Any,
        client_token: str | None,
    ) -> Any:
        with _LOCK:
            params = (
                network_interface_id,
                traffic_mirror_target_id,
                traffic_mirror_filter_id,
                session_number,
                packet_length,
                virtual_network_id,
                description,
                json.dumps(tag_specifications, sort_keys=True),
            )
            if client_token and len(client_token) > 64:
                raise _error("InvalidParameterValue", "ClientToken must be at most 64 ASCII characters.")
            remember = bool(client_token) and layer.token_replay
            if remember:
                seen = _tokens(self).get(client_token)  # type: ignore[arg-type]
                if seen is not None:
                    if seen[0] != params:
                        raise _error(
                            "IdempotentParameterMismatch",
                            "The client token has already been used with different parameters.",
                        )
                    return seen[1]  # AWS answers with the original result, even if that session was deleted since
            eni = self.get_network_interface(network_interface_id)  # InvalidNetworkInterfaceID.NotFound
            target = _require_target(self, traffic_mirror_target_id)
            _require_filter(self, traffic_mirror_filter_id)
            _in_range("SessionNumber", session_number, RULES["session_number_range"])
            _in_range("PacketLength", packet_length, RULES["packet_length_range"])
            _in_range("VirtualNetworkId", virtual_network_id, VNI_RANGE)
            if not _supported_source(layer, eni):
                raise _error(
                    "NetworkInterfaceNotSupported", f"{network_interface_id} must be attached to a supported instance."
                )
            if layer.ipv6_only_sources_refused and getattr(eni.subnet, "ipv6_native", False):
                raise _error(
                    "InvalidParameterValue", f"{network_interface_id} is in an IPv6-only subnet: not supported."
                )
            if any(t.network_interface_id == network_interface_id for t in self.traffic_mirror_targets.values()):
                raise _error(
                    "InvalidParameterValue", f"{network_interface_id} is a traffic mirror target and can't be a source."
                )
            _check_eni_room(layer, self, network_interface_id, session_number)
            _check_target_room(self, target, network_interface_id)
            session = original(
                self,
                network_interface_id,
                traffic_mirror_target_id,
                traffic_mirror_filter_id,
                session_number,
                packet_length,
                _random_vni(self) if virtual_network_id is None else virtual_network_id,
                description,
                tag_specifications,
                client_token,
            )
            _default_packet_length(self, session)
            _lag(self, "traffic_mirror_sessions").created(session.id, layer.describe_lag)
            if remember:
                _tokens(self)[client_token] = (params, session)  # type: ignore[index]
            return session

    return create


def _strict_create_target(layer: StrictAws, original: Callable[..., Any]) -> Callable[..., Any]:
    def create(self: Any, network_interface_id: str | None, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            if network_interface_id:
                self.get_network_interface(network_interface_id)  # InvalidNetworkInterfaceID.NotFound
                if any(s.network_interface_id == network_interface_id for s in _sessions(self).values()):
                    raise _error(
                        "InvalidParameterValue",
                        f"{network_interface_id} is a traffic mirror source and can't be a target.",
                    )
            target = original(self, network_interface_id, *args, **kwargs)
            _lag(self, "traffic_mirror_targets").created(target.id, layer.target_describe_lag)
            return target

    return create


def _strict_delete_session(layer: StrictAws, original: Callable[..., Any]) -> Callable[..., Any]:
    def delete(self: Any, traffic_mirror_session_id: str) -> Any:
        with _LOCK:
            session = _own_session(self, traffic_mirror_session_id)
            _lag(self, "traffic_mirror_sessions").deleted(session, layer.describe_lag)
            return original(self, traffic_mirror_session_id)

    return delete


def _strict_modify_session(layer: StrictAws, original: Callable[..., Any]) -> Callable[..., Any]:
    def modify(
        self: Any,
        traffic_mirror_session_id: str,
        traffic_mirror_target_id: str | None,
        traffic_mirror_filter_id: str | None,
        packet_length: int | None,
        session_number: int | None,
        virtual_network_id: int | None,
        description: str | None,
    ) -> Any:
        with _LOCK:
            session = _own_session(self, traffic_mirror_session_id)
            if traffic_mirror_target_id:
                # A target whose resource was deleted is still a target: AWS accepts the move (mirroring stops).
                target = _require_target(self, traffic_mirror_target_id)
                _check_target_room(self, target, session.network_interface_id, ignore_session=session.id)
            if traffic_mirror_filter_id:
                _require_filter(self, traffic_mirror_filter_id)
            _in_range("SessionNumber", session_number, RULES["session_number_range"])
            _in_range("PacketLength", packet_length, RULES["packet_length_range"])
            _in_range("VirtualNetworkId", virtual_network_id, VNI_RANGE)
            if (
                session_number is not None
                and not layer.duplicate_numbers_accepted
                and any(
                    s.session_number == session_number
                    and s.id != session.id
                    and s.network_interface_id == session.network_interface_id
                    for s in _sessions(self).values()
                )
            ):
                raise _error("InvalidParameterValue", f"Session number {session_number} is already in use.")
            modified = original(
                self,
                traffic_mirror_session_id,
                traffic_mirror_target_id,
                traffic_mirror_filter_id,
                packet_length,
                session_number,
                virtual_network_id,
                description,
            )
            _default_packet_length(self, modified)
            return modified

    return modify


def _modify_removes_fields(original: Callable[..., Any]) -> Callable[..., Any]:
    """ModifyTrafficMirrorSession with ``RemoveFields`` (the query's ``RemoveField.N``), which moto's response
    ignores: each field goes back to its default after the other changes."""

    def modify_traffic_mirror_session(self: Any) -> Any:
        fields = [str(f) for f in self._get_param("RemoveFields", []) or []]
        unknown = sorted(set(fields) - REMOVABLE_FIELDS)
        if unknown:
            raise _error("InvalidParameterValue", f"Invalid value for RemoveFields: {', '.join(unknown)}.")
        with _LOCK:
            result = original(self)
            if not fields:
                return result
            backend = self.ec2_backend
            session = _sessions(backend)[self._get_param("TrafficMirrorSessionId")]
            if "packet-length" in fields:
                session.packet_length = None
                _default_packet_length(backend, session)
            if "description" in fields:
                session.description = None
            if "virtual-network-id" in fields:
                session.virtual_network_id = _random_vni(backend)
            return ActionResult({"TrafficMirrorSession": session.to_dict()})

    return modify_traffic_mirror_session


# The filters each Describe call documents, and the attribute of moto's resource each one matches. No other name is
# accepted: not even ``tag:<key>`` or ``tag-key``, which these three calls do not list (many other EC2 describes do).
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeTrafficMirrorSessions.html
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeTrafficMirrorTargets.html
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeTrafficMirrorFilters.html
_FILTER_ATTRIBUTES: dict[str, dict[str, str]] = {
    "traffic_mirror_sessions": {
        "traffic-mirror-session-id": "id",
        "traffic-mirror-target-id": "traffic_mirror_target_id",
        "traffic-mirror-filter-id": "traffic_mirror_filter_id",
        "network-interface-id": "network_interface_id",
        "owner-id": "owner_id",
        "session-number": "session_number",
        "description": "description",
        "packet-length": "packet_length",
        "virtual-network-id": "virtual_network_id",
    },
    "traffic_mirror_targets": {
        "traffic-mirror-target-id": "id",
        "network-interface-id": "network_interface_id",
        "network-load-balancer-arn": "network_load_balancer_arn",
        "owner-id": "owner_id",
        "description": "description",
    },
    "traffic_mirror_filters": {
        "traffic-mirror-filter-id": "id",
        "description": "description",
    },
}


def _check_filter_names(collection: str, filters: dict[str, list[str]]) -> None:
    """AWS rejects a filter name the call does not document, even when there is nothing to filter."""
    for name in filters:
        if name not in _FILTER_ATTRIBUTES[collection]:
            raise _error("InvalidParameterValue", f"The filter '{name}' is invalid")


def _matches(resource: Any, attributes: dict[str, str], filters: dict[str, list[str]]) -> bool:
    """Every filter holds (names ANDed), each with any of its values (values ORed), matched exactly."""
    return all(str(getattr(resource, attributes[name], None)) in set(values) for name, values in filters.items())


def _strict_describe(collection: str, not_found: str, lagged: bool) -> Callable[..., Any]:
    """Describe what this account can see: not other accounts' sessions on its ENIs, and (``lagged``) what
    eventual consistency shows of recent creates and deletes."""
    attributes = _FILTER_ATTRIBUTES[collection]

    def describe(self: Any, ids: list[str] | None, filters: Any) -> list[Any]:
        _check_filter_names(collection, filters or {})
        with _LOCK:
            resources = {rid: r for rid, r in getattr(self, collection).items() if _visible(r)}
            if lagged:
                resources = _lag(self, collection).view(resources)
        if ids:
            missing = [i for i in ids if i not in resources]
            if missing:
                raise _error(not_found, f"The ID '{missing[0]}' does not exist.")
            chosen = [resources[i] for i in dict.fromkeys(ids)]
        else:
            chosen = list(resources.values())
        return [r for r in chosen if _matches(r, attributes, filters or {})]

    return describe


def _paged_response(method: str, ids_param: str, key: str, page_cap: Callable[[], int | None]) -> Callable[..., Any]:
    def respond(self: Any) -> ActionResult:
        ids = self._get_param(ids_param)
        filters = self._filters_from_querystring()
        items = getattr(self.ec2_backend, method)(ids, filters)
        max_results = self._get_int_param("MaxResults")
        if max_results is not None:
            _in_range("MaxResults", max_results, RULES["max_results_range"])
        size = max_results or 1000
        cap = page_cap()
        if cap is not None:
            size = min(size, cap)
        token = self._get_param("NextToken") or "0"
        if not token.isdigit():  # only tokens this layer handed out
            raise _error("InvalidParameterValue", f"The NextToken '{token}' is invalid.")
        start = int(token)
        page = items[start : start + size]
        result: dict[str, Any] = {key: page}
        if start + size < len(items):
            result["NextToken"] = str(start + size)
        return ActionResult(result)

    return respond


# -- CloudWatch ----------------------------------------------------------------------------------------------
_STATISTICS: dict[str, Callable[[list[float]], float]] = {
    "Sum": sum,
    "Average": lambda values: sum(values) / len(values),
    "Minimum": min,
    "Maximum": max,
    "SampleCount": lambda values: float(len(values)),
}


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_MetricKey = tuple[str, str, frozenset[tuple[str, str]]]


def _metric_index(backend: Any) -> dict[_MetricKey, list[Any]]:
    """Every data point of the account and Region by metric: namespace, name and its exact set of dimensions."""
    index: dict[_MetricKey, list[Any]] = {}
    for datum in backend.get_all_metrics():
        key = (datum.namespace, datum.name, frozenset((d.name, d.value) for d in datum.dimensions))
        index.setdefault(key, []).append(datum)
    return index


def _metric_points(
    index: dict[_MetricKey, list[Any]], query: dict[str, Any], start: datetime, end: datetime
) -> list[tuple[datetime, float]]:
    """One MetricStat query's (period start, statistic) pairs, oldest first: periods from ``start``, empty ones left
    out, as GetMetricData answers."""
    stat = query["MetricStat"]
    metric = stat["Metric"]
    wanted = frozenset((d["Name"], d["Value"]) for d in metric.get("Dimensions") or [])
    period = timedelta(seconds=int(stat["Period"]))
    unit = stat.get("Unit")
    buckets: dict[int, list[float]] = {}
    for datum in index.get((metric["Namespace"], metric["MetricName"], wanted), []):
        timestamp = _utc(datum.timestamp)
        if not start <= timestamp < end or not hasattr(datum, "value") or (unit and datum.unit != unit):
            continue
        buckets.setdefault(int((timestamp - start) / period), []).append(float(datum.value))
    return [(start + k * period, _STATISTICS[stat["Stat"]](buckets[k])) for k in sorted(buckets)]


def _get_metric_data_like_aws(layer: StrictAws, original: Callable[..., Any]) -> Callable[..., Any]:
    def get_metric_data(self: Any) -> Any:
        params = self._get_params()
        queries = params.get("MetricDataQueries", [])
        most = RULES["get_metric_data_max_queries"]
        if len(queries) > most:
            raise CloudWatchValidationError(
                f"The collection MetricDataQueries must not have a size greater than {most}."
            )
        if not queries or not all("MetricStat" in q for q in queries):
            return original(self)
        start, end = _utc(params["StartTime"]).replace(second=0, microsecond=0), _utc(params["EndTime"])
        ascending = params.get("ScanBy") == "TimestampAscending"
        answers: list[tuple[dict[str, Any], list[tuple[datetime, float]], str]] = []
        index = _metric_index(self.cloudwatch_backend)
        for query in queries:
            dimensions = query["MetricStat"]["Metric"].get("Dimensions") or []
            name = query["MetricStat"]["Metric"]["MetricName"]
            status = next(
                (
                    layer.metric_status[(name, d["Value"])]
                    for d in dimensions
                    if (name, d["Value"]) in layer.metric_status
                ),
                None,
            )
            points = [] if status else _metric_points(index, query, start, end)
            answers.append((query, points if ascending else points[::-1], status or "Complete"))
        size = int(params.get("MaxDatapoints") or RULES["get_metric_data_max_datapoints"])
        if layer.metric_page_cap is not None:
            size = min(size, layer.metric_page_cap)
        token = params.get("NextToken") or "0"
        if not token.isdigit():
            raise CloudWatchValidationError(f"The NextToken '{token}' is invalid.")
        first, total = int(token), sum(len(points) for _, points, _ in answers)
        results, before, last_page = [], 0, first + size >= total
        for query, points, status in answers:
            taken = points[max(0, first - before) : max(0, first + size - before)]
            # A query without data points shows on the page its position falls in (the last page, past the end).
            empty_here = not points and (first <= before < first + size or (before >= total and last_page))
            if taken or empty_here:
                more = before + len(points) > first + size
                results.append(
                    {
                        "Id": query["Id"],
                        "Label": query.get("Label") or query["MetricStat"]["Metric"]["MetricName"],
                        "Timestamps": [t for t, _ in taken],
                        "Values": [v for _, v in taken],
                        "StatusCode": "PartialData" if more else status,
                    }
                )
            before += len(points)
        result: dict[str, Any] = {"MetricDataResults": results, "Messages": []}
        if first + size < total:
            result["NextToken"] = str(first + size)
        return ActionResult(result)

    return get_metric_data


# -- ENI and instance lifecycle ------------------------------------------------------------------------------
def _delete_eni_with_sessions(layer: StrictAws, original: Callable[..., Any]) -> Callable[..., Any]:
    """AWS deletes the sessions of a deleted source ENI (anyone's). A deleted ENI target's target stays."""

    def delete_network_interface(self: Any, eni_id: str) -> None:
        with _LOCK:
            original(self, eni_id)
            lag = _lag(self, "traffic_mirror_sessions")
            for session in [s for s in _sessions(self).values() if s.network_interface_id == eni_id]:
                if _visible(session):
                    lag.deleted(session, layer.describe_lag)
                _sessions(self).pop(session.id, None)

    return delete_network_interface


def _launch_enis_delete_on_termination(original: Callable[..., Any]) -> Callable[..., Any]:
    def prep_nics(self: Any, nic_spec: list[dict[str, Any]], *args: Any, **kwargs: Any) -> None:
        original(self, nic_spec, *args, **kwargs)
        kept = {int(n["DeviceIndex"]) for n in nic_spec or [] if n.get("NetworkInterfaceId")}
        explicit = {
            int(n["DeviceIndex"]): n.get("DeleteOnTermination") for n in nic_spec or [] if "DeleteOnTermination" in n
        }
        for index, nic in self.nics.items():
            if index not in kept:
                # ENIs created by RunInstances default to DeleteOnTermination=true.
                nic.delete_on_termination = explicit.get(index) not in (False, "false")

    return prep_nics


def _terminate_like_aws(original: Callable[..., Any]) -> Callable[..., Any]:
    def terminate(self: Any) -> Any:
        with _LOCK:
            if self._state.name == "terminated":  # AWS: terminating again succeeds and changes nothing
                return copy.copy(self._state)
            survivors = [nic for nic in self.nics.values() if not nic.delete_on_termination]
            result = original(self)
            for nic in survivors:  # surviving ENIs are detached (and keep their sessions, and their bill)
                nic.instance, nic.attachment_id, nic.attach_time = None, None, None
                nic.status, nic.device_index = "available", None
            return result

    return terminate


def _attachment_delete_on_termination(original: Callable[..., Any]) -> Callable[..., Any]:
    """ModifyNetworkInterfaceAttribute ``Attachment={AttachmentId, DeleteOnTermination}``: moto ignores it."""

    def modify_network_interface_attribute(self: Any) -> Any:
        attachment = self._get_param("Attachment")
        if attachment:
            eni = self.ec2_backend.get_network_interface(self._get_param("NetworkInterfaceId"))
            if not eni.attachment_id or attachment.get("AttachmentId") != eni.attachment_id:
                raise _error(
                    "InvalidAttachmentID.NotFound",
                    f"The attachment ID '{attachment.get('AttachmentId')}' does not exist",
                )
        result = original(self)
        if attachment and "DeleteOnTermination" in attachment:
            eni.delete_on_termination = attachment["DeleteOnTermination"] in (True, "true")
        return result

    return modify_network_interface_attribute


def _type_changes_only_while_stopped(original: Callable[..., Any]) -> Callable[..., Any]:
    """AWS: "You must stop your instance before you can change its instance type"; in another state it answers
    IncorrectInstanceState ("some instance attributes ... can only be modified if the instance is in a 'stopped'
    state").

    https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/change-instance-type-of-ebs-backed-instance.html
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
    """

    def modify_instance_attribute(self: Any, instance_id: str, key: str, value: Any) -> Any:
        if key == "instance_type":
            state = self.get_instance(instance_id)._state.name
            if state != "stopped":
                raise _error(
                    "IncorrectInstanceState",
                    f"The instance '{instance_id}' is not in the 'stopped' state (it is '{state}').",
                )
        return original(self, instance_id, key, value)

    return modify_instance_attribute


def _listed_network_interfaces(self: Any) -> list[Any]:
    """A terminated instance lists no network interfaces (moto keeps listing them)."""
    return [] if self._state.name == "terminated" else list(self.nics.values())


# -- what AWS creates by default: security groups, IPv6-only subnets -------------------------------------------------
def _admit_own_members(group: Any) -> None:
    """The default inbound rule of a VPC's default security group: all traffic from its own members (a rule that names
    the group itself), https://docs.aws.amazon.com/vpc/latest/userguide/default-security-group.html. moto gives the
    default group no inbound rule at all."""
    if group.is_default and not group.ingress_rules and not getattr(group, "aws_default_rule", False):
        member = {"GroupId": group.id, "UserId": group.owner_id}
        group.ingress_rules.append(
            SecurityGroupRule(group.ec2_backend, "-1", group.id, None, None, None, member, is_egress=False)
        )
        group.aws_default_rule = True


def _default_group_admits_its_members(original: Callable[..., Any]) -> Callable[..., Any]:
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        _admit_own_members(self)

    return init


def _ipv6_only_subnet_enis_have_no_ipv4(original: Callable[..., Any]) -> Callable[..., Any]:
    """An ENI in an IPv6-only subnet gets IPv6 addresses only: such a subnet has no IPv4 range, and EC2 gives a primary
    private IPv4 address only in IPv4-only and dual-stack subnets
    (https://docs.aws.amazon.com/vpc/latest/userguide/configure-subnets.html#subnet-ip-address-range,
    https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-instance-addressing.html#concepts-private-addresses).
    moto hands it an IPv6 address as its private IPv4 address (``PrivateIpAddress``)."""

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if not getattr(self.subnet, "ipv6_native", False):
            return
        given = [self.private_ip_address, *(a.get("PrivateIpAddress") for a in self.private_ip_addresses)]
        ipv6 = [a for a in dict.fromkeys(given) if a and ":" in a]
        blocks = [a.get("ipv6CidrBlock") for a in self.subnet.ipv6_cidr_block_associations.values()]
        if not ipv6 and not self.ipv6_addresses and blocks and blocks[0]:
            ipv6 = [random_private_ip(blocks[0], ipv6=True)]  # an ENI there has at least one address: an IPv6 one
        self.ipv6_addresses = list(dict.fromkeys([*self.ipv6_addresses, *ipv6]))
        self.private_ip_address = None
        self.private_ip_addresses = []
        self.private_dns_name = f"{self.id}.ec2.internal"  # resource-based names: the only kind IPv6-only allows

    return init


# -- load balancers and Gateway Load Balancer endpoints ------------------------------------------------------------
_ARN_KIND = {"network": "net", "gateway": "gwy", "application": "app"}
_CREATING = threading.local()  # the type of the load balancer being created, for its ARN


def _typed_create_load_balancer(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_load_balancer(self: Any, *args: Any, **kwargs: Any) -> Any:
        _CREATING.kind = kwargs.get("loadbalancer_type") or (args[5] if len(args) > 5 else None) or "application"
        try:
            return original(self, *args, **kwargs)
        finally:
            _CREATING.kind = None

    return create_load_balancer


def _typed_load_balancer_arn(account_id: str, lb_id: str, name: str, region_name: str) -> str:
    """``loadbalancer/net/…`` for an NLB, ``gwy/`` for a Gateway Load Balancer (moto writes ``app/`` for all).

    https://docs.aws.amazon.com/elasticloadbalancing/latest/network/network-load-balancers.html
    """
    arn = make_arn_for_load_balancer(account_id=account_id, lb_id=lb_id, name=name, region_name=region_name)
    kind = _ARN_KIND.get(getattr(_CREATING, "kind", None) or "application", "app")
    return arn.replace(":loadbalancer/app/", f":loadbalancer/{kind}/", 1)


def _describe_load_balancers_all_or_nothing(original: Callable[..., Any]) -> Callable[..., Any]:
    """DescribeLoadBalancers answers ``LoadBalancerNotFound`` when any ARN or name is unknown, and returns nothing
    (its response has no partial-failure field). moto only fails when the unknown one comes first.

    https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeLoadBalancers.html (Errors)
    """

    def describe_load_balancers(self: Any, arns: list[str] | None, names: list[str] | None) -> Any:
        balancers = list(self.load_balancers.values())
        known_arns = {b.arn for b in balancers}
        known_names = {b.name for b in balancers}
        if any(arn not in known_arns for arn in arns or []) or any(n not in known_names for n in names or []):
            raise LoadBalancerNotFoundError()
        return original(self, arns, names)

    return describe_load_balancers


def _nlb_security_groups_only_from_creation(original: Callable[..., Any]) -> Callable[..., Any]:
    """AWS: "If you create a Network Load Balancer without associating any security groups, you can't associate them
    with the Network Load Balancer later on"
    (https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-security-groups.html). moto lets
    SetSecurityGroups add them. The error code is not documented for this case: one SetSecurityGroups documents."""

    def set_security_groups(self: Any, arn: str, sec_groups: list[str]) -> None:
        balancer = self.load_balancers.get(arn)
        if balancer is not None and balancer.type == "network" and not balancer.security_groups and sec_groups:
            raise InvalidConfigurationRequest(
                "You cannot set security groups on a Network Load Balancer which was created without any."
            )
        original(self, arn, sec_groups)

    return set_security_groups


def _gateway_endpoint_like_aws(original: Callable[..., Any]) -> Callable[..., Any]:
    """A Gateway Load Balancer endpoint: an existing endpoint service, and one requester-managed ENI of type
    ``gateway_load_balancer_endpoint`` in its subnet (moto checks nothing and creates no ENI).

    https://docs.aws.amazon.com/vpc/latest/privatelink/gateway-load-balancer-endpoints.html
    """

    def create_vpc_endpoint(self: Any, *args: Any, **kwargs: Any) -> Any:
        endpoint_type = kwargs.get("endpoint_type")
        if (endpoint_type or "").lower() != "gatewayloadbalancer":
            return original(self, *args, **kwargs)
        service_name = kwargs.get("service_name")
        if not any(c.service_name == service_name for c in self.configurations.values()):
            raise _error("InvalidServiceName", f"The Vpc Endpoint Service '{service_name}' does not exist")
        with _LOCK:
            endpoint = original(self, *args, **kwargs)
            for subnet_id in endpoint.subnet_ids or []:
                eni = self.create_network_interface(
                    subnet_id, random_private_ip(), description=f"VPC Endpoint Interface {endpoint.id}"
                )
                eni.requester_managed, eni.interface_type, eni.status = True, "gateway_load_balancer_endpoint", "in-use"
                endpoint.network_interface_ids.append(eni.id)
            return endpoint

    return create_vpc_endpoint


def _delete_gateway_endpoint_enis(original: Callable[..., Any]) -> Callable[..., Any]:
    def delete_vpc_endpoints(self: Any, vpce_ids: list[str] | None = None) -> Any:
        with _LOCK:
            for vpce_id in vpce_ids or []:
                endpoint = self.vpc_end_points.get(vpce_id)
                if endpoint is not None and (endpoint.vpc_endpoint_type or "").lower() == "gatewayloadbalancer":
                    for eni_id in endpoint.network_interface_ids:
                        self.enis.pop(eni_id, None)
            return original(self, vpce_ids)

    return delete_vpc_endpoints


# -- Auto Scaling lifecycle actions (moto implements hooks, not CompleteLifecycleAction) ---------------------------
@dataclass(frozen=True)
class LifecycleActionKey:
    account_id: str
    region: str
    group_name: str
    hook_name: str
    instance_id: str


@dataclass(frozen=True)
class CompletedLifecycleAction:
    """One successful CompleteLifecycleAction call, as the caller made it."""

    group_name: str
    hook_name: str
    token: str | None
    instance_id: str | None
    result: str


def _complete_lifecycle_action(layer: StrictAws) -> Callable[..., Any]:
    """CompleteLifecycleAction the way Auto Scaling answers it: only for an action that waits (started with
    ``StrictAws.start_launch_lifecycle_action``), by token or by instance; CONTINUE puts the instance in service,
    ABANDON terminates it."""

    def complete_lifecycle_action(self: Any) -> EmptyResult:
        group_name = self._get_param("AutoScalingGroupName")
        hook_name = self._get_param("LifecycleHookName")
        token = self._get_param("LifecycleActionToken")
        instance_id = self._get_param("InstanceId")
        result = self._get_param("LifecycleActionResult")
        if result not in ("CONTINUE", "ABANDON"):
            raise ValidationError(f"Invalid LifecycleActionResult {result!r}: must be CONTINUE or ABANDON.")
        if not token and not instance_id:
            raise ValidationError("Either LifecycleActionToken or InstanceId must be specified.")
        with _LOCK:
            waiting = [
                (key, action_token)
                for key, action_token in layer.waiting_lifecycle_actions.items()
                if key.account_id == self.current_account
                and key.region == self.region
                and key.group_name == group_name
                and key.hook_name == hook_name
                and (not token or action_token == token)
                and (not instance_id or key.instance_id == instance_id)
            ]
            if not waiting:
                found_by = f"token {token}" if token else f"instance ID {instance_id}"
                raise ValidationError(f"No active Lifecycle Action found with {found_by}")
            key, _ = waiting[0]
            del layer.waiting_lifecycle_actions[key]
            layer.completed_lifecycle_actions.append(
                CompletedLifecycleAction(group_name, hook_name, token, instance_id, result)
            )
            backend = self.autoscaling_backend
            if result == "ABANDON":
                backend.terminate_instance(key.instance_id, should_decrement=False)
            else:
                for state in backend.autoscaling_groups[group_name].instance_states:
                    if state.instance.id == key.instance_id:
                        state.lifecycle_state = "InService"
        return EmptyResult()

    return complete_lifecycle_action


# -- STS and Organizations ---------------------------------------------------------------------------------------
_ROLE_ARN = re.compile(r"arn:(?P<partition>[\w-]+):iam::(?P<account>\d{12}):role/(?:[^/]+/)*(?P<name>[^/]+)")
_ASSUMED_ROLE_ARN = re.compile(r"arn:(?P<partition>[\w-]+):sts::(?P<account>\d{12}):assumed-role/(?P<name>[^/]+)/.+")
ORGANIZATIONS_PAGE_MAX = 20  # ListAccounts' largest MaxResults


def _listed(value: Any) -> list[str]:
    """A policy element that may be one string or a list of strings."""
    if isinstance(value, str):
        return [value]
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _names_caller(entry: str, caller_account: str, caller_arn: str) -> bool:
    """A trust policy's AWS principal that covers the caller: ``*``, its account (ID or root ARN), itself, or (for
    an assumed-role session) the role the session belongs to."""
    if entry in ("*", caller_account, caller_arn) or re.fullmatch(rf"arn:[\w-]+:iam::{caller_account}:root", entry):
        return True
    session, role = _ASSUMED_ROLE_ARN.fullmatch(caller_arn), _ROLE_ARN.fullmatch(entry)
    return bool(
        session and role and session.group("partition", "account", "name") == role.group("partition", "account", "name")
    )


def trust_allows(document: Any, caller_account: str, caller_arn: str) -> bool:
    """Whether a role's trust policy lets the caller assume the role.

    An ``Allow`` statement for ``sts:AssumeRole`` (wildcards as IAM reads them) whose ``Principal`` covers the
    caller, and no ``Deny`` statement that does. A statement with a ``Condition`` is not evaluated, so it allows
    nothing; ``NotAction`` and ``NotPrincipal`` are not modelled either (such a statement matches nothing).
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html (trust policy)
    """
    try:
        policy = json.loads(document) if isinstance(document, str) else document
    except ValueError:
        return False
    statements = policy.get("Statement", []) if isinstance(policy, dict) else []
    allowed = False
    for statement in [statements] if isinstance(statements, dict) else statements:
        if not isinstance(statement, dict):
            continue
        actions = _listed(statement.get("Action"))
        principal = statement.get("Principal")
        principals = ["*"] if principal == "*" else _listed(principal.get("AWS")) if isinstance(principal, dict) else []
        if not any(fnmatch.fnmatchcase("sts:assumerole", action.lower()) for action in actions) or not any(
            _names_caller(entry, caller_account, caller_arn) for entry in principals
        ):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or (statement.get("Effect") == "Allow" and "Condition" not in statement)
    return allowed


def may_assume(role_arn: str, caller_account: str, caller_arn: str) -> bool:
    """The role exists in the IAM of the account its ARN names (path included), and its trust policy lets the
    caller in. AWS answers AccessDenied otherwise, whichever of the two it is."""
    match = _ROLE_ARN.fullmatch(role_arn)
    if match is None:
        return False
    with _LOCK:
        try:
            role = iam_backends[match["account"]][match["partition"]].get_role_by_arn(role_arn)
        except (KeyError, NotFoundException):
            return False
        return trust_allows(role.assume_role_policy_document, caller_account, caller_arn)


def _assume_role_like_aws(original: Callable[..., Any]) -> Callable[..., Any]:
    """AssumeRole of a role that does not exist, or does not trust the caller, is AccessDenied (HTTP 403):
    "User: <caller> is not authorized to perform: sts:AssumeRole on resource: <role ARN>"."""

    def assume_role(self: Any) -> Any:
        role_arn = self._get_param("RoleArn") or ""
        caller_arn = self.backend.get_caller_identity(self.get_access_key(), self.region)[1]
        if not may_assume(role_arn, self.current_account, caller_arn):
            raise AccessDeniedError(caller_arn, f"sts:AssumeRole on resource: {role_arn}")
        return original(self)

    return assume_role


def _account_state_only(original: Callable[..., Any]) -> Callable[..., Any]:
    def describe(self: Any) -> dict[str, Any]:
        described: dict[str, Any] = original(self)
        described.pop("Status", None)  # retired by AWS on 2026-09-09: State replaces it
        return described

    return describe


def _organization_of(backend: Any) -> Any:
    """The Organizations backend whose accounts ``backend``'s account may list: its own when it is the management
    account, the management account's when it is a delegated administrator. Else AWS's error.
    https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAccounts.html
    """
    if backend.org is not None:
        return backend
    management = organizations_backends.master_accounts.get(backend.account_id)
    if management is None:
        raise AWSOrganizationsNotInUseException()
    organization = organizations_backends[management[0]][management[1]]
    if not any(admin.account.id == backend.account_id for admin in organization.admins):
        raise OrganizationsClientError("AccessDeniedException", "You don't have permissions to access this resource.")
    return organization


def _accounts_in_pages(layer: StrictAws, original: Callable[..., Any]) -> Callable[..., Any]:
    def list_accounts(self: Any, **kwargs: Any) -> Any:
        cap = min(ORGANIZATIONS_PAGE_MAX, layer.page_cap or ORGANIZATIONS_PAGE_MAX)
        kwargs["max_results"] = min(kwargs.get("max_results") or cap, cap)
        return original(_organization_of(self), **kwargs)

    return list_accounts


def _made_up_id(prefix: str, length: int = 17) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:length]}"


class StrictAws:
    """Activate with ``with StrictAws():`` inside a moto mock (or around a ThreadedMotoServer).

    Switches (see the module docstring) are plain attributes a test may set while the layer is active; ``__exit__``
    resets them: ``page_cap``, ``accept_families``, ``describe_lag``, ``target_describe_lag``, ``token_replay``,
    ``duplicate_numbers_accepted``, ``ipv6_only_sources_refused``.
    """

    def __init__(self, page_cap: int | None = None) -> None:
        self._initial_page_cap = page_cap
        self._saved: list[tuple[Any, str, Any]] = []
        self._saved_prefixes: list[tuple[str, str]] = []
        self.waiting_lifecycle_actions: dict[LifecycleActionKey, str] = {}  # → token
        self.completed_lifecycle_actions: list[CompletedLifecycleAction] = []
        self._reset_switches()

    def _reset_switches(self) -> None:
        self.page_cap: int | None = self._initial_page_cap
        self.accept_families: set[str] = set()
        self.describe_lag: int = 0
        self.target_describe_lag: int = 0
        self.token_replay: bool = True
        self.duplicate_numbers_accepted: bool = False
        self.ipv6_only_sources_refused: bool = False
        self.metric_page_cap: int | None = None
        self.metric_status: dict[tuple[str, str], str] = {}

    def _patch(self, owner: Any, name: str, replacement: Any) -> None:
        self._saved.append((owner, name, owner.__dict__.get(name, _ABSENT)))
        setattr(owner, name, replacement)

    # -- switches and other accounts -----------------------------------------------------------------------------
    def accept_family(self, name: str) -> None:
        """Have AWS accept sources of an unlisted family (lower-cased), as it may for families newer than its list."""
        self.accept_families.add(name.lower())

    mark_requester_managed = staticmethod(mark_requester_managed)

    @staticmethod
    def publish_aws_metric(
        namespace: str,
        name: str,
        dimensions: dict[str, str],
        timestamp: datetime,
        value: float,
        unit: str = "Bytes",
        region: str = "us-east-1",
        account_id: str = DEFAULT_ACCOUNT_ID,
    ) -> None:
        """A data point an AWS service publishes on its own (EC2's NetworkSkipMirrorIn of an instance, ...)."""
        cloudwatch_backends[account_id][region].metric_data.append(
            MetricDatum(
                namespace=namespace,
                name=name,
                value=value,
                dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
                timestamp=timestamp,
                unit=unit,
            )
        )

    def add_hidden_session(self, eni_id: str, session_number: int, *, owner_id: str = OTHER_ACCOUNT_ID) -> str:
        """A session another account (the shared VPC's owner or a participant) has on our ENI ``eni_id``.

        This account cannot describe, modify or delete it (NotFound), yet it counts toward the ENI's 3 sessions and
        its session numbers, as AWS enforces them on every session of the ENI.
        https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-network-limitations.html (Shared VPCs)
        """
        with _LOCK:
            backend = _backend_with("enis", eni_id)
            _in_range("SessionNumber", session_number, RULES["session_number_range"])
            _check_eni_room(self, backend, eni_id, session_number)
            session = OtherAccountSession(
                backend,
                owner_id,
                visible=False,
                network_interface_id=eni_id,
                traffic_mirror_target_id=_made_up_id("tmt"),
                traffic_mirror_filter_id=_made_up_id("tmf"),
                session_number=session_number,
                packet_length=None,
                virtual_network_id=None,
                description=None,
                tag_specifications=None,
                client_token=None,
            )
            _sessions(backend)[session.id] = session
            return session.id

    def add_foreign_account_session(
        self,
        target_id: str,
        filter_id: str,
        *,
        owner_id: str = OTHER_ACCOUNT_ID,
        tags: dict[str, str] | None = None,
        session_number: int = 1,
        eni_id: str | None = None,
    ) -> str:
        """A session of another account (its source ENI is that account's; made up when ``eni_id`` is None) on one
        of our targets, shared with it. We see it (``OwnerId`` = ``owner_id``, its tags), it counts toward the
        target's sources, and Delete/ModifyTrafficMirrorSession on it answer ``UnauthorizedOperation``.
        https://docs.aws.amazon.com/vpc/latest/mirroring/tm-sharing.html
        """
        with _LOCK:
            backend = _backend_with("traffic_mirror_targets", target_id)
            target = backend.traffic_mirror_targets[target_id]
            source = eni_id or _made_up_id("eni")
            _in_range("SessionNumber", session_number, RULES["session_number_range"])
            _check_eni_room(self, backend, source, session_number)
            _check_target_room(backend, target, source)
            tag_list = [{"Key": k, "Value": v} for k, v in (tags or {}).items()]
            spec = [{"ResourceType": "traffic-mirror-session", "Tags": tag_list}]
            session = OtherAccountSession(
                backend,
                owner_id,
                visible=True,
                network_interface_id=source,
                traffic_mirror_target_id=target_id,
                traffic_mirror_filter_id=filter_id,
                session_number=session_number,
                packet_length=None,
                virtual_network_id=None,
                description=f"created by account {owner_id}",
                tag_specifications=spec if tags else None,
                client_token=None,
            )
            _sessions(backend)[session.id] = session
            _lag(backend, "traffic_mirror_sessions").created(session.id, self.describe_lag)
            return session.id

    def add_shared_target(
        self,
        kind: str = "network-interface",
        *,
        owner_id: str = OTHER_ACCOUNT_ID,
        host_instance_type: str | None = None,
        account_id: str = DEFAULT_ACCOUNT_ID,
        region: str = "us-east-1",
    ) -> str:
        """A target another account shares with this one (AWS RAM): visible in DescribeTrafficMirrorTargets with its
        ``OwnerId``, usable by sessions, while its ENI / NLB / endpoint is that account's and not describable here.
        ``kind``: ``network-interface`` (its limit follows ``host_instance_type``; 10 when None),
        ``network-load-balancer`` or ``gateway-load-balancer-endpoint`` (no limit).
        https://docs.aws.amazon.com/vpc/latest/mirroring/tm-sharing.html
        """
        resource: dict[str, str | None] = {
            "network_interface_id": None,
            "network_load_balancer_arn": None,
            "gateway_load_balancer_endpoint_id": None,
        }
        if kind == "network-interface":
            resource["network_interface_id"] = _made_up_id("eni")
        elif kind == "network-load-balancer":
            name = f"net/shared-mirror/{uuid.uuid4().hex[:16]}"
            resource["network_load_balancer_arn"] = (
                f"arn:aws:elasticloadbalancing:{region}:{owner_id}:loadbalancer/{name}"
            )
        elif kind == "gateway-load-balancer-endpoint":
            resource["gateway_load_balancer_endpoint_id"] = _made_up_id("vpce")
        else:
            raise ValueError(f"unknown traffic mirror target type {kind!r}")
        with _LOCK:
            backend = ec2_backends[account_id][region]
            target = SharedTarget(
                backend,
                owner_id,
                host_instance_type,
                description=f"shared by account {owner_id}",
                tag_specifications=None,
                client_token=None,
                **resource,
            )
            backend.traffic_mirror_targets[target.id] = target
            return target.id

    def start_launch_lifecycle_action(
        self,
        group_name: str,
        hook_name: str,
        instance_id: str,
        region: str = "us-east-1",
        account_id: str = DEFAULT_ACCOUNT_ID,
    ) -> str:
        """Put a group's new instance in ``Pending:Wait`` on its launch hook, as Auto Scaling does before it sends
        "EC2 Instance-launch Lifecycle Action"; returns the action's token."""
        backend = autoscaling_backends[account_id][region]
        hooks = backend.describe_lifecycle_hooks(group_name, [hook_name])
        if not hooks or hooks[0].lifecycle_transition != "autoscaling:EC2_INSTANCE_LAUNCHING":
            raise ValueError(f"group {group_name} has no launch lifecycle hook {hook_name}")
        states = [s for s in backend.autoscaling_groups[group_name].instance_states if s.instance.id == instance_id]
        if not states:
            raise ValueError(f"{instance_id} is not an instance of group {group_name}")
        token = str(uuid.uuid4())
        with _LOCK:
            states[0].lifecycle_state = "Pending:Wait"
            self.waiting_lifecycle_actions[
                LifecycleActionKey(account_id, region, group_name, hook_name, instance_id)
            ] = token
        return token

    def __enter__(self) -> StrictAws:
        # AWS's ID prefixes (tmt-, tmf-): moto's own (traf-mir-tar-, traf-mir-fil-) make its CreateTags and
        # DeleteTags refuse targets and filters as InvalidID, where AWS tags them like any EC2 resource.
        for resource, prefix in (("traffic-mirror-target", "tmt"), ("traffic-mirror-filter", "tmf")):
            self._saved_prefixes.append((resource, EC2_RESOURCE_TO_PREFIX[resource]))
            EC2_RESOURCE_TO_PREFIX[resource] = prefix
        backend = TrafficMirrorsBackend
        self._patch(
            backend,
            "create_traffic_mirror_target",
            _strict_create_target(self, backend.create_traffic_mirror_target),
        )
        self._patch(
            backend,
            "create_traffic_mirror_session",
            _strict_create_session(self, backend.create_traffic_mirror_session),
        )
        self._patch(
            backend,
            "delete_traffic_mirror_session",
            _strict_delete_session(self, backend.delete_traffic_mirror_session),
        )
        self._patch(
            backend,
            "modify_traffic_mirror_session",
            _strict_modify_session(self, backend.modify_traffic_mirror_session),
        )
        self._patch(
            backend,
            "describe_traffic_mirror_sessions",
            _strict_describe("traffic_mirror_sessions", "InvalidTrafficMirrorSessionId.NotFound", lagged=True),
        )
        self._patch(
            backend,
            "describe_traffic_mirror_targets",
            _strict_describe("traffic_mirror_targets", "InvalidTrafficMirrorTargetId.NotFound", lagged=True),
        )
        self._patch(
            backend,
            "describe_traffic_mirror_filters",
            _strict_describe("traffic_mirror_filters", "InvalidTrafficMirrorFilterId.NotFound", lagged=False),
        )
        self._patch(
            TrafficMirrors,
            "modify_traffic_mirror_session",
            _modify_removes_fields(TrafficMirrors.modify_traffic_mirror_session),
        )
        self._patch(TrafficMirrors, "create_traffic_mirror_filter_rule", _create_filter_rule)
        self._patch(TrafficMirrorFilter, "ingress_filter_rules", _rules_of("ingress"))
        self._patch(TrafficMirrorFilter, "egress_filter_rules", _rules_of("egress"))
        cap = lambda: self.page_cap  # noqa: E731 - read at call time so a test can change it
        self._patch(
            TrafficMirrors,
            "describe_traffic_mirror_sessions",
            _paged_response(
                "describe_traffic_mirror_sessions", "TrafficMirrorSessionIds", "TrafficMirrorSessions", cap
            ),
        )
        self._patch(
            TrafficMirrors,
            "describe_traffic_mirror_targets",
            _paged_response("describe_traffic_mirror_targets", "TrafficMirrorTargetIds", "TrafficMirrorTargets", cap),
        )
        self._patch(
            TrafficMirrors,
            "describe_traffic_mirror_filters",
            _paged_response("describe_traffic_mirror_filters", "TrafficMirrorFilterIds", "TrafficMirrorFilters", cap),
        )
        self._patch(
            NetworkInterfaceBackend,
            "delete_network_interface",
            _delete_eni_with_sessions(self, NetworkInterfaceBackend.delete_network_interface),
        )
        self._patch(Instance, "prep_nics", _launch_enis_delete_on_termination(Instance.prep_nics))
        self._patch(Instance, "terminate", _terminate_like_aws(Instance.terminate))
        self._patch(
            ElasticNetworkInterfaces,
            "modify_network_interface_attribute",
            _attachment_delete_on_termination(ElasticNetworkInterfaces.modify_network_interface_attribute),
        )
        self._patch(Instance, "network_interfaces", property(_listed_network_interfaces))
        self._patch(
            InstanceBackend,
            "modify_instance_attribute",
            _type_changes_only_while_stopped(InstanceBackend.modify_instance_attribute),
        )
        self._patch(SecurityGroup, "__init__", _default_group_admits_its_members(SecurityGroup.__init__))
        for backend in _backends():  # default groups moto made before the layer was entered
            for groups in list(backend.groups.values()):
                for group in list(groups.values()):
                    _admit_own_members(group)
        self._patch(NetworkInterface, "__init__", _ipv6_only_subnet_enis_have_no_ipv4(NetworkInterface.__init__))
        self._patch(AutoScalingResponse, "complete_lifecycle_action", _complete_lifecycle_action(self))
        self._patch(
            CloudWatchResponse, "get_metric_data", _get_metric_data_like_aws(self, CloudWatchResponse.get_metric_data)
        )
        elb = elbv2_models.ELBv2Backend
        self._patch(elb, "create_load_balancer", _typed_create_load_balancer(elb.create_load_balancer))
        self._patch(elbv2_models, "make_arn_for_load_balancer", _typed_load_balancer_arn)
        self._patch(
            elb, "describe_load_balancers", _describe_load_balancers_all_or_nothing(elb.describe_load_balancers)
        )
        self._patch(elb, "set_security_groups", _nlb_security_groups_only_from_creation(elb.set_security_groups))
        self._patch(VPCBackend, "create_vpc_endpoint", _gateway_endpoint_like_aws(VPCBackend.create_vpc_endpoint))
        self._patch(VPCBackend, "delete_vpc_endpoints", _delete_gateway_endpoint_enis(VPCBackend.delete_vpc_endpoints))
        self._patch(TokenResponse, "assume_role", _assume_role_like_aws(TokenResponse.assume_role))
        self._patch(FakeAccount, "describe", _account_state_only(FakeAccount.describe))
        self._patch(OrganizationsBackend, "list_accounts", _accounts_in_pages(self, OrganizationsBackend.list_accounts))
        return self

    def __exit__(self, *exc: object) -> None:
        for resource, prefix in reversed(self._saved_prefixes):
            EC2_RESOURCE_TO_PREFIX[resource] = prefix
        self._saved_prefixes.clear()
        for owner, name, original in reversed(self._saved):
            if original is _ABSENT:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        self._saved.clear()
        self._reset_switches()


@contextmanager
def strict_aws(page_cap: int | None = None) -> Iterator[StrictAws]:
    with StrictAws(page_cap) as layer:
        yield layer
