"""All AWS access. Reads in bulk (largest pages, ID batches, every page followed) and wraps SDK errors.

botocore's EC2 model has no exception classes: every failure is a ClientError, which ``errors.call_aws`` turns into
the domain error its code means (``TargetFull``, ``SourceNotSupported``, ...), with its scope (transient, account,
request). This class implements the ports of every use case (``ports``; mypy checks it at the end of this module).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from traffic_mirroring.eligibility import TypeVerdicts, eni_target_source_limit
from traffic_mirroring.errors import AwsApiError, SessionNotFound, TransientAwsError, call_aws
from traffic_mirroring.model import (
    TARGET_KIND_ENI,
    TARGET_KIND_GWLB_ENDPOINT,
    TARGET_KIND_NLB,
    VXLAN_PORT,
    AttachedEni,
    FilterRule,
    Instance,
    MirrorFilter,
    MirrorSession,
    MirrorTarget,
)
from traffic_mirroring.preflight import AclEntry, IngressPermission, TargetIngress

if TYPE_CHECKING:
    from traffic_mirroring.ports import LifecyclePort, SessionPort

PAGE_SIZE = 1000  # the largest MaxResults DescribeTrafficMirror* and DescribeInstances accept
FILTER_VALUES_PER_CALL = 200  # EC2 caps the values of one filter
LOAD_BALANCERS_PER_CALL = 20
LISTENERS_PAGE_SIZE = 400
# Cross-zone load balancing only ever yields an advisory (it changes no placement), so what was read is kept this long
# in a container, across the reconciler's fresh target reads: an NLB's cross-zone change shows within 15 minutes.
ADVISORY_CACHE_SECONDS = 900
CROSS_ZONE = "load_balancing.cross_zone.enabled"

T = TypeVar("T")


def tags_of(resource: Mapping[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag.get("Value", "") for tag in resource.get("Tags") or []}


def _batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Ec2Gateway:
    """Traffic Mirroring reads and writes on one EC2 client (plus ELBv2 for NLB targets).

    Container-level caches (target facts, AWS's verdicts on instance types) live on the gateway; the handler keeps
    one gateway per container, so a warm invocation does not pay for them again. The reconciler asks for fresh
    target facts every run (``targets(fresh=True)``).
    """

    def __init__(
        self,
        ec2: Any,
        elbv2: Any | None = None,
        clock: Callable[[], float] = time.monotonic,
        target_cache_seconds: int = 60,
        autoscaling: Any | None = None,
        account_id: str = "",
        advisory_cache_seconds: int = ADVISORY_CACHE_SECONDS,
    ) -> None:
        self.ec2 = ec2
        self.elbv2 = elbv2
        self.autoscaling = autoscaling
        self.account_id = account_id
        self.verdicts = TypeVerdicts()
        self._clock = clock
        self._targets: dict[str, MirrorTarget] | None = None
        self._targets_read_at = 0.0
        self._target_cache_seconds = target_cache_seconds
        self._sources: dict[str, tuple[float, set[str]]] = {}  # target → (read at, source ENIs), for spreading
        self._advisory_cache_seconds = advisory_cache_seconds
        # (NLB, its UDP 4789 target groups) → (read at, (cross-zone on, which setting decides)), for preflight
        self._cross_zones: dict[tuple[str, tuple[str, ...]], tuple[float, tuple[bool | None, str]]] = {}

    # -- error handling ----------------------------------------------------------------------------------------
    def _call(self, operation: str, fn: Callable[..., T], **kwargs: Any) -> T:
        return call_aws(operation, fn, **kwargs)

    def _pages(self, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        method = getattr(self.ec2, _snake(operation))
        token: str | None = None
        while True:
            page_args = dict(kwargs, NextToken=token) if token else kwargs
            page: dict[str, Any] = self._call(operation, method, **page_args)
            yield from page.get(key, [])
            token = page.get("NextToken")
            if not token:
                return

    # -- instances ---------------------------------------------------------------------------------------------
    def describe_instances(self, instance_ids: Sequence[str]) -> tuple[dict[str, Instance], set[str]]:
        """Instances by ID, and the IDs that do not exist. A filter, not InstanceIds, so one unknown ID is no error."""
        found: dict[str, Instance] = {}
        for batch in _batches(list(dict.fromkeys(instance_ids)), FILTER_VALUES_PER_CALL):
            found.update(self._read_instances(Filters=[{"Name": "instance-id", "Values": list(batch)}]))
        return found, set(instance_ids) - set(found)

    def describe_instances_with_tag_key(self, *tag_keys: str) -> dict[str, Instance]:
        """Instances carrying any of these tag keys (one call: a filter's values are ORed)."""
        return self._read_instances(Filters=[{"Name": "tag-key", "Values": list(dict.fromkeys(tag_keys))}])

    def describe_instances_where(self, filter_name: str, values: Sequence[str]) -> dict[str, Instance]:
        """Instances whose ``filter_name`` (vpc-id, subnet-id) is any of the values."""
        found: dict[str, Instance] = {}
        for batch in _batches(list(dict.fromkeys(values)), FILTER_VALUES_PER_CALL):
            found.update(self._read_instances(Filters=[{"Name": filter_name, "Values": list(batch)}]))
        return found

    def _read_instances(self, **kwargs: Any) -> dict[str, Instance]:
        found: dict[str, Instance] = {}
        for reservation in self._pages("DescribeInstances", "Reservations", MaxResults=PAGE_SIZE, **kwargs):
            for raw in reservation.get("Instances", []):
                instance = _instance(raw)
                found[instance.instance_id] = instance
        return found

    # -- network interfaces ------------------------------------------------------------------------------------
    def describe_eni_attachments(self, eni_ids: Iterable[str]) -> dict[str, str | None]:
        """ENI → attached instance ID (None: detached). ENIs that no longer exist are absent."""
        return {eni_id: eni.attached for eni_id, eni in self._read_enis(eni_ids).items()}

    def _read_enis(self, eni_ids: Iterable[str]) -> dict[str, _Eni]:
        """ENI → its zone, attached instance (None: detached), VPC, subnet and groups. Absent: it does not exist."""
        result: dict[str, _Eni] = {}
        for batch in _batches(sorted(set(eni_ids)), FILTER_VALUES_PER_CALL):
            for raw in self._pages(
                "DescribeNetworkInterfaces",
                "NetworkInterfaces",
                Filters=[{"Name": "network-interface-id", "Values": list(batch)}],
                MaxResults=PAGE_SIZE,
            ):
                attachment = raw.get("Attachment") or {}
                attached = attachment.get("InstanceId") if attachment.get("Status") != "detached" else None
                result[raw["NetworkInterfaceId"]] = _Eni(
                    raw.get("AvailabilityZone", ""),
                    attached,
                    raw.get("VpcId", ""),
                    raw.get("SubnetId", ""),
                    tuple(g["GroupId"] for g in raw.get("Groups") or [] if g.get("GroupId")),
                )
        return result

    # -- preflight: what admits VXLAN to a target --------------------------------------------------------------
    def _target_ingress(
        self, enis: Mapping[str, _Eni], load_balancer_groups: Mapping[str, tuple[str, ...]]
    ) -> tuple[dict[str, TargetIngress], dict[str, TargetIngress]]:
        """What admits traffic to each ENI target (by its ENI: its security groups and its subnet's network ACL) and
        to each NLB with security groups (by ARN: those groups): one DescribeSecurityGroups for all of them and one
        DescribeNetworkAcls for every ENI target together (batched), whatever the number of sessions."""
        group_ids = sorted(
            {g for e in enis.values() for g in e.groups} | {g for gs in load_balancer_groups.values() for g in gs}
        )
        subnets = sorted({e.subnet_id for e in enis.values() if e.subnet_id})
        permissions: dict[str, list[IngressPermission]] = {g: [] for g in group_ids}
        for batch in _batches(group_ids, FILTER_VALUES_PER_CALL):
            filters = [{"Name": "group-id", "Values": list(batch)}]
            for raw in self._pages("DescribeSecurityGroups", "SecurityGroups", Filters=filters, MaxResults=PAGE_SIZE):
                permissions[raw["GroupId"]] = [_permission(raw["GroupId"], p) for p in raw.get("IpPermissions") or []]
        acls: dict[str, tuple[str, tuple[AclEntry, ...]]] = {}
        for batch in _batches(subnets, FILTER_VALUES_PER_CALL):
            filters = [{"Name": "association.subnet-id", "Values": list(batch)}]
            for raw in self._pages("DescribeNetworkAcls", "NetworkAcls", Filters=filters, MaxResults=PAGE_SIZE):
                entries = tuple(_acl_entry(e) for e in raw.get("Entries") or [] if not e.get("Egress"))
                for association in raw.get("Associations") or []:
                    acls[association.get("SubnetId", "")] = (raw.get("NetworkAclId", ""), entries)
        by_eni = {
            eni_id: TargetIngress(
                e.groups,
                tuple(p for g in e.groups for p in permissions.get(g, [])),
                acls.get(e.subnet_id, ("", ()))[0],
                acls[e.subnet_id][1] if e.subnet_id in acls else None,
            )
            for eni_id, e in enis.items()
        }
        by_load_balancer = {
            arn: TargetIngress(groups, tuple(p for g in groups for p in permissions.get(g, [])), load_balancer=True)
            for arn, groups in load_balancer_groups.items()
            if groups  # an NLB without security groups admits every client: nothing to judge
        }
        return by_eni, by_load_balancer

    # -- sessions ----------------------------------------------------------------------------------------------
    def describe_sessions(self, filters: Sequence[Mapping[str, Any]] = ()) -> list[MirrorSession]:
        """Sessions matching the filters; a filter with many values is split into batches the API accepts."""
        batched = [f for f in filters if len(f["Values"]) > FILTER_VALUES_PER_CALL]
        if not batched:
            return [
                _session(raw)
                for raw in self._pages(
                    "DescribeTrafficMirrorSessions",
                    "TrafficMirrorSessions",
                    MaxResults=PAGE_SIZE,
                    **({"Filters": list(filters)} if filters else {}),
                )
            ]
        wide = batched[0]
        rest = [f for f in filters if f is not wide]
        sessions: dict[str, MirrorSession] = {}
        for batch in _batches(list(wide["Values"]), FILTER_VALUES_PER_CALL):
            for session in self.describe_sessions([*rest, {"Name": wide["Name"], "Values": list(batch)}]):
                sessions[session.session_id] = session
        return list(sessions.values())

    def sessions_on_enis(self, eni_ids: Sequence[str]) -> list[MirrorSession]:
        return self.describe_sessions([{"Name": "network-interface-id", "Values": list(eni_ids)}])

    def sessions_on_targets(self, target_ids: Sequence[str]) -> list[MirrorSession]:
        return self.describe_sessions([{"Name": "traffic-mirror-target-id", "Values": list(target_ids)}])

    def sessions_described(self, descriptions: Sequence[str]) -> list[MirrorSession]:
        """Sessions whose Description is one of these. The call documents no tag filter (ours are told apart by
        their tags on the client side, ``Settings.owns``); ``description`` is one of its nine filters.
        https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeTrafficMirrorSessions.html"""
        return self.describe_sessions([{"Name": "description", "Values": list(descriptions)}])

    def sessions_by_id(self, session_ids: Sequence[str]) -> list[MirrorSession]:
        return self.describe_sessions([{"Name": "traffic-mirror-session-id", "Values": list(session_ids)}])

    def create_session(
        self,
        *,
        eni_id: str,
        target_id: str,
        filter_id: str,
        session_number: int,
        description: str,
        tags: Mapping[str, str],
        token: str,
        packet_length: int | None = None,
        virtual_network_id: int | None = None,
    ) -> MirrorSession:
        """Create a session. Without ``packet_length`` AWS mirrors whole packets (8500 bytes for an NLB target);
        without ``virtual_network_id`` it picks a VNI unique in the account, which the answer carries."""
        options: dict[str, int] = {}
        if packet_length is not None:
            options["PacketLength"] = packet_length
        if virtual_network_id is not None:
            options["VirtualNetworkId"] = virtual_network_id
        response = self._call(
            "CreateTrafficMirrorSession",
            self.ec2.create_traffic_mirror_session,
            NetworkInterfaceId=eni_id,
            TrafficMirrorTargetId=target_id,
            TrafficMirrorFilterId=filter_id,
            SessionNumber=session_number,
            Description=description,
            **options,
            TagSpecifications=[
                {
                    "ResourceType": "traffic-mirror-session",
                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                }
            ],
            ClientToken=token,
        )
        session = _session(response["TrafficMirrorSession"])
        if target_id in self._sources:
            self._sources[target_id][1].add(eni_id)  # keep this container's counts current between reads
        return session

    def delete_session(self, session_id: str) -> bool:
        """Delete; False when it was already gone (a re-delivered event or a concurrent run got there first)."""
        try:
            self._call(
                "DeleteTrafficMirrorSession",
                self.ec2.delete_traffic_mirror_session,
                TrafficMirrorSessionId=session_id,
            )
        except SessionNotFound:
            return False
        return True

    def modify_session(
        self,
        session_id: str,
        target_id: str | None,
        filter_id: str | None,
        *,
        packet_length: int | None = None,
        virtual_network_id: int | None = None,
        remove_fields: Sequence[str] = (),
    ) -> None:
        """One ModifyTrafficMirrorSession: the session keeps its ID and number, so its copies never stop.
        ``remove_fields`` (``packet-length``, ``virtual-network-id``) sets those back to AWS's default."""
        changes: dict[str, Any] = {}
        if target_id:
            changes["TrafficMirrorTargetId"] = target_id
        if filter_id:
            changes["TrafficMirrorFilterId"] = filter_id
        if packet_length is not None:
            changes["PacketLength"] = packet_length
        if virtual_network_id is not None:
            changes["VirtualNetworkId"] = virtual_network_id
        if remove_fields:
            changes["RemoveFields"] = list(remove_fields)
        self._call(
            "ModifyTrafficMirrorSession",
            self.ec2.modify_traffic_mirror_session,
            TrafficMirrorSessionId=session_id,
            **changes,
        )

    def tag_sessions(self, session_ids: Sequence[str], tags: Mapping[str, str]) -> None:
        """CreateTags on sessions: the sessions themselves are unchanged (ID, number, copies)."""
        self._call(
            "CreateTags",
            self.ec2.create_tags,
            Resources=list(session_ids),
            Tags=[{"Key": key, "Value": value} for key, value in tags.items()],
        )

    # -- filters -----------------------------------------------------------------------------------------------
    def describe_filters(self, filter_ids: Sequence[str] | None = None) -> dict[str, MirrorFilter]:
        """Filters with their rules: every filter of the account, or those of ``filter_ids`` that exist (a filter on
        traffic-mirror-filter-id, not TrafficMirrorFilterIds, so an unknown ID is no error)."""
        if filter_ids is None:
            raws = list(self._pages("DescribeTrafficMirrorFilters", "TrafficMirrorFilters", MaxResults=PAGE_SIZE))
        else:
            raws = [
                raw
                for batch in _batches(sorted(set(filter_ids)), FILTER_VALUES_PER_CALL)
                for raw in self._pages(
                    "DescribeTrafficMirrorFilters",
                    "TrafficMirrorFilters",
                    Filters=[{"Name": "traffic-mirror-filter-id", "Values": list(batch)}],
                    MaxResults=PAGE_SIZE,
                )
            ]
        return {raw["TrafficMirrorFilterId"]: _filter(raw) for raw in raws}

    # -- targets -----------------------------------------------------------------------------------------------
    def targets(self, fresh: bool = False) -> dict[str, MirrorTarget]:
        """Every target the account sees, with its source limit, zones and liveness.

        Cached for ``target_cache_seconds`` unless ``fresh``; any target-related error should call
        ``forget_targets`` so the next read is fresh.
        """
        now = self._clock()
        if fresh or self._targets is None or now - self._targets_read_at >= self._target_cache_seconds:
            self._targets = self._read_targets()
            self._targets_read_at = now
        return self._targets

    def forget_targets(self) -> None:
        self._targets = None

    def target_sources(self, target_ids: Sequence[str]) -> dict[str, frozenset[str]]:
        """Source ENIs per target, cached for ``target_cache_seconds``: counts to spread load, not to check limits."""
        now = self._clock()
        stale = [
            t for t in target_ids if t not in self._sources or now - self._sources[t][0] >= self._target_cache_seconds
        ]
        if stale:
            fresh: dict[str, set[str]] = {t: set() for t in stale}
            for session in self.sessions_on_targets(stale):
                fresh[session.target_id].add(session.eni_id)
            self._sources.update({t: (now, enis) for t, enis in fresh.items()})
        return {t: frozenset(self._sources[t][1]) for t in target_ids}

    def _read_targets(self) -> dict[str, MirrorTarget]:
        raws = list(self._pages("DescribeTrafficMirrorTargets", "TrafficMirrorTargets", MaxResults=PAGE_SIZE))
        endpoints = self._vpc_endpoints(
            [raw["GatewayLoadBalancerEndpointId"] for raw in raws if raw.get("Type") == TARGET_KIND_GWLB_ENDPOINT]
        )
        target_eni_ids = [raw["NetworkInterfaceId"] for raw in raws if raw.get("Type") == TARGET_KIND_ENI]
        endpoint_eni_ids = [eni for _, _, enis, _ in endpoints.values() for eni in enis]
        enis = self._read_enis([*target_eni_ids, *endpoint_eni_ids]) if target_eni_ids or endpoint_eni_ids else {}
        hosts = {attached for e in target_eni_ids if e in enis and (attached := enis[e].attached)}
        instances, _ = self.describe_instances(sorted(hosts)) if hosts else ({}, set())
        nlbs = self._load_balancers(
            [raw["NetworkLoadBalancerArn"] for raw in raws if raw.get("Type") == TARGET_KIND_NLB]
        )
        ingress, nlb_ingress = self._target_ingress(
            {e: enis[e] for e in target_eni_ids if e in enis},
            {arn: nlb.security_groups for arn, nlb in nlbs.items()},
        )
        targets: dict[str, MirrorTarget] = {}
        for raw in raws:
            target_id = raw["TrafficMirrorTargetId"]
            kind = raw.get("Type", "")
            owner = raw.get("OwnerId", "")
            shared_in = bool(self.account_id and owner and owner != self.account_id)
            if kind == TARGET_KIND_ENI:
                found = self._eni_target(raw, enis, instances, ingress, shared_in)
            elif kind == TARGET_KIND_NLB:
                found = self._nlb_target(raw, nlbs, nlb_ingress, shared_in)
            elif kind == TARGET_KIND_GWLB_ENDPOINT:
                found = self._endpoint_target(raw, endpoints, enis, shared_in)
            else:
                found = _TargetResource()
            resource_id = str(
                raw.get("NetworkInterfaceId")
                or raw.get("NetworkLoadBalancerArn")
                or raw.get("GatewayLoadBalancerEndpointId")
                or ""
            )
            targets[target_id] = MirrorTarget(
                target_id,
                kind,
                found.capacity,
                found.zones,
                live=not found.problem,
                problem=found.problem,
                eni_id=found.eni_id,
                owner_id=owner,
                vpc_id=found.vpc_id,
                tags=tags_of(raw),
                ingress=found.ingress,
                cross_zone=found.cross_zone[0],
                cross_zone_decided_by=found.cross_zone[1],
                resource_id=resource_id,
                appliance_id=found.appliance_id,
                endpoint_service=found.endpoint_service,
            )
        return targets

    @staticmethod
    def _eni_target(
        raw: Mapping[str, Any],
        enis: Mapping[str, _Eni],
        instances: Mapping[str, Instance],
        ingress: Mapping[str, TargetIngress],
        shared_in: bool,
    ) -> _TargetResource:
        """An ENI target: its appliance (the instance its ENI is attached to) sets its source limit and its life."""
        eni_id = raw.get("NetworkInterfaceId", "")
        eni = enis.get(eni_id)
        zone, attached, vpc = (eni.zone, eni.attached, eni.vpc_id) if eni else ("", None, "")
        host = instances.get(attached or "")
        problem = ""
        if eni_id not in enis:
            problem = _missing("network interface", shared_in)
        elif host is None:
            problem = "its network interface is not attached to an instance"
        elif host.state != "running":
            problem = f"its appliance {host.instance_id} is {host.state}"
        return _TargetResource(
            capacity=eni_target_source_limit(host.instance_type if host else None),
            zones=frozenset({zone}) if zone else frozenset(),
            problem=problem,
            vpc_id=vpc,
            eni_id=eni_id,
            ingress=ingress.get(eni_id),
            appliance_id=attached or "",
        )

    def _nlb_target(
        self,
        raw: Mapping[str, Any],
        nlbs: Mapping[str, _LoadBalancer],
        nlb_ingress: Mapping[str, TargetIngress],
        shared_in: bool,
    ) -> _TargetResource:
        """A Network Load Balancer target: live when active with a UDP listener on the VXLAN port; only then are its
        ingress and cross-zone setting read."""
        arn = raw.get("NetworkLoadBalancerArn", "")
        nlb = nlbs.get(arn)
        if nlb is None:
            return _TargetResource(problem=_missing("Network Load Balancer", shared_in))
        found = _TargetResource(zones=nlb.zones, vpc_id=nlb.vpc_id)
        if nlb.state not in _LIVE_LOAD_BALANCER_STATES:
            return found._replace(problem=f"its Network Load Balancer is {nlb.state}")
        if nlb.vxlan_target_groups is None:
            return found._replace(problem=f"its Network Load Balancer has no UDP listener on port {VXLAN_PORT}")
        return found._replace(ingress=nlb_ingress.get(arn), cross_zone=self._cross_zone(arn, nlb.vxlan_target_groups))

    @staticmethod
    def _endpoint_target(
        raw: Mapping[str, Any],
        endpoints: Mapping[str, tuple[str, str, tuple[str, ...], str]],
        enis: Mapping[str, _Eni],
        shared_in: bool,
    ) -> _TargetResource:
        """A Gateway Load Balancer endpoint target: in the zones of its network interfaces, live when available."""
        endpoint = endpoints.get(raw.get("GatewayLoadBalancerEndpointId", ""))
        if endpoint is None:
            return _TargetResource(problem=_missing("Gateway Load Balancer endpoint", shared_in))
        state, vpc, endpoint_enis, service = endpoint
        return _TargetResource(
            zones=frozenset(enis[e].zone for e in endpoint_enis if e in enis and enis[e].zone),
            problem="" if state.lower() == "available" else f"its Gateway Load Balancer endpoint is {state}",
            vpc_id=vpc,
            endpoint_service=service,
        )

    def _cross_zone(self, arn: str, target_groups: Sequence[str]) -> tuple[bool | None, str]:
        """Whether the NLB sends copies across zones, and which setting decides it (for the advisory).

        AWS applies the target group's ``load_balancing.cross_zone.enabled`` (``true``, ``false``, or
        ``use_load_balancer_configuration``, the default), else the load balancer's, which is off by default for an
        NLB (https://docs.aws.amazon.com/elasticloadbalancing/latest/network/edit-target-group-attributes.html
        #target-group-cross-zone). One DescribeTargetGroupAttributes per target group of the UDP 4789 listener, and one
        DescribeLoadBalancerAttributes only when a target group defers to the load balancer. Kept for
        ``advisory_cache_seconds``: it changes no placement. Off when any of the listener's target groups is off.
        An answer other than throttling or a server error (e.g. AccessDenied for an older role) is no failure of the
        run: (None, why), which reports that it could not be judged.
        """
        key = (arn, tuple(target_groups))
        now = self._clock()
        cached = self._cross_zones.get(key)
        if cached is not None and now - cached[0] < self._advisory_cache_seconds:
            return cached[1]
        try:
            verdict = self._read_cross_zone(arn, target_groups)
        except TransientAwsError:
            raise
        except AwsApiError as error:
            return None, f"not read: {error.operation} answered {error.code}"
        self._cross_zones[key] = (now, verdict)
        return verdict

    def _read_cross_zone(self, arn: str, target_groups: Sequence[str]) -> tuple[bool, str]:
        assert self.elbv2 is not None
        deferring: list[str] = []
        off: list[str] = []
        for group in target_groups:
            response = self._call(
                "DescribeTargetGroupAttributes", self.elbv2.describe_target_group_attributes, TargetGroupArn=group
            )
            value = str(_attributes(response).get(CROSS_ZONE, "use_load_balancer_configuration")).lower()
            if value == "false":
                off.append(group)
            elif value != "true":
                deferring.append(group)
        if off:
            return False, f"target group {', '.join(_target_group_name(g) for g in off)}"
        if deferring or not target_groups:
            response = self._call(
                "DescribeLoadBalancerAttributes", self.elbv2.describe_load_balancer_attributes, LoadBalancerArn=arn
            )
            if str(_attributes(response).get(CROSS_ZONE, "false")).lower() != "true":
                named = ", ".join(_target_group_name(g) for g in deferring)
                return False, f"its load balancer's setting, which target group {named} uses" if named else (
                    "its load balancer's setting"
                )
        return True, ""

    def _load_balancers(self, arns: Sequence[str]) -> dict[str, _LoadBalancer]:
        """NLB ARN → its state, zones, the target groups of its UDP 4789 listener, VPC and security groups. Absent: the
        load balancer does not exist."""
        found: dict[str, _LoadBalancer] = {}
        if not arns or self.elbv2 is None:
            return found
        described = _existing(arns, LOAD_BALANCERS_PER_CALL, self._describe_load_balancers, "LoadBalancerNotFound")
        for lb in described:
            arn = lb["LoadBalancerArn"]
            found[arn] = _LoadBalancer(
                (lb.get("State") or {}).get("Code", "active"),
                frozenset(z["ZoneName"] for z in lb.get("AvailabilityZones", []) if z.get("ZoneName")),
                self._vxlan_target_groups(arn),
                lb.get("VpcId", ""),
                tuple(lb.get("SecurityGroups") or ()),
            )
        return found

    def _describe_load_balancers(self, arns: Sequence[str]) -> list[Mapping[str, Any]]:
        assert self.elbv2 is not None
        response = self._call("DescribeLoadBalancers", self.elbv2.describe_load_balancers, LoadBalancerArns=list(arns))
        return list(response.get("LoadBalancers", []))

    def _vxlan_target_groups(self, arn: str) -> tuple[str, ...] | None:
        """The target groups the NLB's UDP listeners on port 4789 forward to; None: it has no such listener."""
        # A load balancer has at most 50 listeners: one page of 400 holds them all.
        assert self.elbv2 is not None
        response = self._call(
            "DescribeListeners", self.elbv2.describe_listeners, LoadBalancerArn=arn, PageSize=LISTENERS_PAGE_SIZE
        )
        listeners = [
            listener
            for listener in response.get("Listeners", [])
            if listener.get("Protocol") in ("UDP", "TCP_UDP") and listener.get("Port") == VXLAN_PORT
        ]
        if not listeners:
            return None
        groups = [
            group
            for listener in listeners
            for action in listener.get("DefaultActions") or []
            if action.get("Type") == "forward"
            for group in [
                action.get("TargetGroupArn"),
                *(g.get("TargetGroupArn") for g in (action.get("ForwardConfig") or {}).get("TargetGroups") or []),
            ]
            if group
        ]
        return tuple(dict.fromkeys(groups))

    def _vpc_endpoints(self, endpoint_ids: Sequence[str]) -> dict[str, tuple[str, str, tuple[str, ...], str]]:
        """Endpoint ID → (state, VPC, network interfaces, service name). Absent: the endpoint does not exist."""
        found: dict[str, tuple[str, str, tuple[str, ...], str]] = {}
        raws = _existing(endpoint_ids, FILTER_VALUES_PER_CALL, self._describe_vpc_endpoints, "InvalidVpcEndpointId")
        for raw in raws:
            found[raw["VpcEndpointId"]] = (
                str(raw.get("State", "")),
                str(raw.get("VpcId", "")),
                tuple(raw.get("NetworkInterfaceIds") or ()),
                str(raw.get("ServiceName", "")),
            )
        return found

    def _describe_vpc_endpoints(self, endpoint_ids: Sequence[str]) -> list[Mapping[str, Any]]:
        return list(self._pages("DescribeVpcEndpoints", "VpcEndpoints", VpcEndpointIds=list(endpoint_ids)))

    # -- instance tags (status, generation; a finding's window) ------------------------------------------------
    def set_instance_tags(self, instance_ids: Sequence[str], tags: Mapping[str, str]) -> None:
        self._call(
            "CreateTags",
            self.ec2.create_tags,
            Resources=list(instance_ids),
            Tags=[{"Key": key, "Value": value} for key, value in tags.items()],
        )

    def delete_instance_tags(self, instance_ids: Sequence[str], keys: Sequence[str]) -> None:
        # Always with keys: DeleteTags without any deletes every tag of the resources.
        if not keys:
            raise ValueError("delete_instance_tags needs at least one tag key")
        self._call("DeleteTags", self.ec2.delete_tags, Resources=list(instance_ids), Tags=[{"Key": k} for k in keys])

    # -- Auto Scaling lifecycle hook ---------------------------------------------------------------------------
    def complete_lifecycle_action(
        self, *, group_name: str, hook_name: str, token: str, instance_id: str, result: str
    ) -> None:
        if self.autoscaling is None:
            raise ValueError("this gateway has no Auto Scaling client")
        self._call(
            "CompleteLifecycleAction",
            self.autoscaling.complete_lifecycle_action,
            AutoScalingGroupName=group_name,
            LifecycleHookName=hook_name,
            LifecycleActionToken=token,
            InstanceId=instance_id,
            LifecycleActionResult=result,
        )


_LIVE_LOAD_BALANCER_STATES = frozenset({"active", "active_impaired"})  # impaired: some zones still serve


def _existing(
    ids: Sequence[str],
    per_call: int,
    describe: Callable[[Sequence[str]], list[Mapping[str, Any]]],
    not_found_code: str,
) -> list[Mapping[str, Any]]:
    """Describe by ID in batches. One missing ID fails a whole call (LoadBalancerNotFound,
    InvalidVpcEndpointId.NotFound): that batch is asked again one by one, so it hides no other."""
    found: list[Mapping[str, Any]] = []
    for batch in _batches(sorted(set(ids)), per_call):
        try:
            found.extend(describe(batch))
        except AwsApiError as error:
            if not error.code.startswith(not_found_code):
                raise
            for one in batch:
                try:
                    found.extend(describe([one]))
                except AwsApiError as single:
                    if not single.code.startswith(not_found_code):
                        raise
    return found


class _TargetResource(NamedTuple):
    """What a target's resource (its ENI, NLB or endpoint) says about the target; the defaults: nothing is known."""

    capacity: int | None = None
    zones: frozenset[str] = frozenset()
    problem: str = ""  # why it is not live
    vpc_id: str = ""
    eni_id: str | None = None
    ingress: TargetIngress | None = None
    cross_zone: tuple[bool | None, str] = (None, "")
    appliance_id: str = ""
    endpoint_service: str = ""


def _missing(resource: str, shared_in: bool) -> str:
    """Why a target whose resource is not found is not live; nothing for a target shared with this account: its
    resource is in its owner's account, out of sight, not gone."""
    return "" if shared_in else f"its {resource} no longer exists"


class _LoadBalancer(NamedTuple):
    state: str
    zones: frozenset[str]
    vxlan_target_groups: tuple[str, ...] | None  # None: no UDP listener on port 4789
    vpc_id: str
    security_groups: tuple[str, ...]  # none: every client reaches its listeners


def _attributes(response: Mapping[str, Any]) -> dict[str, Any]:
    return {a.get("Key"): a.get("Value") for a in response.get("Attributes", [])}


def _target_group_name(arn: str) -> str:
    """``arn:…:targetgroup/<name>/<id>`` → name (the ARN itself when it has another shape)."""
    parts = arn.split(":")[-1].split("/")
    return parts[1] if len(parts) >= 3 else arn


class _Eni(NamedTuple):
    zone: str
    attached: str | None
    vpc_id: str
    subnet_id: str
    groups: tuple[str, ...]


def _port(value: Any) -> int | None:
    return int(value) if value is not None else None


def _permission(group_id: str, raw: Mapping[str, Any]) -> IngressPermission:
    cidrs = [r["CidrIp"] for r in raw.get("IpRanges") or [] if r.get("CidrIp")]
    cidrs += [r["CidrIpv6"] for r in raw.get("Ipv6Ranges") or [] if r.get("CidrIpv6")]
    named = [p["GroupId"] for p in raw.get("UserIdGroupPairs") or [] if p.get("GroupId")]
    named += [p["PrefixListId"] for p in raw.get("PrefixListIds") or [] if p.get("PrefixListId")]
    return IngressPermission(
        group_id,
        str(raw.get("IpProtocol", "")),
        _port(raw.get("FromPort")),
        _port(raw.get("ToPort")),
        tuple(cidrs),
        tuple(named),
    )


def _acl_entry(raw: Mapping[str, Any]) -> AclEntry:
    ports = raw.get("PortRange") or {}
    return AclEntry(
        int(raw.get("RuleNumber", 32767)),
        str(raw.get("Protocol", "")),
        _port(ports.get("From")),
        _port(ports.get("To")),
        raw.get("CidrBlock") or raw.get("Ipv6CidrBlock") or "",
        raw.get("RuleAction") == "allow",
    )


def _snake(operation: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")


def _private_ipv4(nic: Mapping[str, Any]) -> str:
    """The ENI's primary private IPv4 address; "" when it has none. EC2 gives every ENI of an IPv4-only or dual-stack
    subnet one from the subnet's IPv4 range, and an IPv6-only subnet has no IPv4 range
    (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-instance-addressing.html#concepts-private-addresses):
    without one the ENI is in an IPv6-only subnet. Its IPv4 link-local address (169.254.0.0/16, which resources of
    IPv6-only subnets also get) or an IPv6 address in that field is not one."""
    try:
        address = ipaddress.ip_address(str(nic.get("PrivateIpAddress") or ""))
    except ValueError:
        return ""
    return str(address) if address.version == 4 and not address.is_link_local else ""


def _instance(raw: Mapping[str, Any]) -> Instance:
    enis = tuple(
        AttachedEni(
            nic["NetworkInterfaceId"],
            nic.get("InterfaceType") or "interface",
            (nic.get("Operator") or {}).get("Principal") if (nic.get("Operator") or {}).get("Managed") else None,
            # An ENI of another VPC can be attached (multi-VPC ENI attachments): its own VPC routes its copies.
            nic.get("VpcId") or raw.get("VpcId", ""),
            private_ip=_private_ipv4(nic),
            ipv6_only=not _private_ipv4(nic),
        )
        for nic in sorted(
            raw.get("NetworkInterfaces") or [], key=lambda n: (n.get("Attachment") or {}).get("DeviceIndex", 0)
        )
    )
    return Instance(
        instance_id=raw["InstanceId"],
        state=(raw.get("State") or {}).get("Name", "unknown"),
        instance_type=raw.get("InstanceType", ""),
        availability_zone=(raw.get("Placement") or {}).get("AvailabilityZone", ""),
        tags=tags_of(raw),
        enis=enis,
        vpc_id=raw.get("VpcId", ""),
        subnet_id=raw.get("SubnetId", ""),
    )


def _filter(raw: Mapping[str, Any]) -> MirrorFilter:
    return MirrorFilter(
        raw["TrafficMirrorFilterId"],
        tuple(_filter_rule(rule) for rule in raw.get("IngressFilterRules") or []),
        tuple(_filter_rule(rule) for rule in raw.get("EgressFilterRules") or []),
        frozenset(raw.get("NetworkServices") or []),
    )


def _filter_rule(raw: Mapping[str, Any]) -> FilterRule:
    def ports(name: str) -> tuple[int, int] | None:
        given = raw.get(name) or {}
        return (int(given.get("FromPort", 0)), int(given.get("ToPort", 65535))) if given else None

    return FilterRule(
        number=int(raw.get("RuleNumber", 0)),
        accept=raw.get("RuleAction") == "accept",
        source_cidr=str(raw.get("SourceCidrBlock", "")),
        destination_cidr=str(raw.get("DestinationCidrBlock", "")),
        protocol=int(raw["Protocol"]) if raw.get("Protocol") is not None else None,
        source_ports=ports("SourcePortRange"),
        destination_ports=ports("DestinationPortRange"),
    )


def _session(raw: Mapping[str, Any]) -> MirrorSession:
    return MirrorSession(
        session_id=raw["TrafficMirrorSessionId"],
        eni_id=raw["NetworkInterfaceId"],
        target_id=raw["TrafficMirrorTargetId"],
        filter_id=raw["TrafficMirrorFilterId"],
        session_number=int(raw["SessionNumber"]),
        tags=tags_of(raw),
        owner_id=raw.get("OwnerId", ""),
        packet_length=int(raw["PacketLength"]) if raw.get("PacketLength") is not None else None,
        virtual_network_id=int(raw["VirtualNetworkId"]) if raw.get("VirtualNetworkId") is not None else None,
    )


if TYPE_CHECKING:
    # mypy checks here that the gateway is the port each use case takes (``LifecyclePort`` holds the reconcile's, the
    # inventory's and the executor's); nothing of it runs.
    _IS_EVERY_PORT: tuple[type[LifecyclePort], type[SessionPort]] = (Ec2Gateway, Ec2Gateway)
