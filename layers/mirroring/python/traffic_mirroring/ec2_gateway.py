"""All AWS access. Reads in bulk (largest pages, ID batches, every page followed) and wraps SDK errors.

botocore's EC2 model has no exception classes: every failure is a ClientError whose code we carry in AwsApiError.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from traffic_mirroring.eligibility import InstanceTypeInfo, family_of
from traffic_mirroring.errors import AwsApiError
from traffic_mirroring.model import (
    ENI_TARGET_SOURCES,
    ENI_TARGET_SOURCES_LARGEST_SIZE,
    TARGET_KIND_ENI,
    TARGET_KIND_NLB,
    AttachedEni,
    Instance,
    MirrorSession,
    MirrorTarget,
)

PAGE_SIZE = 1000  # the largest MaxResults DescribeTrafficMirror* and DescribeInstances accept
FILTER_VALUES_PER_CALL = 200  # EC2 caps the values of one filter
INSTANCE_TYPES_PER_CALL = 100
LOAD_BALANCERS_PER_CALL = 20

NOT_FOUND_CODES = frozenset(
    {
        "InvalidTrafficMirrorSessionId.NotFound",
        "InvalidTrafficMirrorSessionID.NotFound",
        "InvalidTrafficMirrorTargetId.NotFound",
        "InvalidTrafficMirrorTargetID.NotFound",
        "InvalidTrafficMirrorFilterId.NotFound",
        "InvalidTrafficMirrorFilterID.NotFound",
        "InvalidInstanceID.NotFound",
        "InvalidNetworkInterfaceID.NotFound",
    }
)

T = TypeVar("T")


def tags_of(resource: Mapping[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag.get("Value", "") for tag in resource.get("Tags") or []}


def _batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def client_token(*parts: object) -> str:
    """A ClientToken derived from the inputs of a create (≤ 64 ASCII characters, as EC2 requires)."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:64]


class Ec2Gateway:
    """Traffic Mirroring reads and writes on one EC2 client (plus ELBv2 for NLB target zones).

    Container-level caches (instance-type facts, target facts) live on the gateway; the handler keeps one gateway
    per container, so a warm invocation does not pay for them again.
    """

    def __init__(
        self,
        ec2: Any,
        elbv2: Any | None = None,
        clock: Callable[[], float] = time.monotonic,
        target_cache_seconds: int = 300,
        autoscaling: Any | None = None,
    ) -> None:
        self.ec2 = ec2
        self.elbv2 = elbv2
        self.autoscaling = autoscaling
        self._clock = clock
        self._type_info: dict[str, InstanceTypeInfo | None] = {}
        self._largest_in_family: dict[str, int] = {}
        self._targets: dict[str, MirrorTarget] | None = None
        self._targets_read_at = 0.0
        self._target_cache_seconds = target_cache_seconds
        self._sources: dict[str, tuple[float, set[str]]] = {}  # target → (read at, source ENIs), for spreading

    # -- error handling ----------------------------------------------------------------------------------------
    def _call(self, operation: str, fn: Callable[..., T], **kwargs: Any) -> T:
        try:
            return fn(**kwargs)
        except ClientError as error:
            details = error.response.get("Error", {})
            raise AwsApiError(operation, details.get("Code", "Unknown"), details.get("Message", "")) from error
        except BotoCoreError as error:
            raise AwsApiError(operation, type(error).__name__, str(error)) from error

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
        return self._read_instances(Filters=[{"Name": "tag-key", "Values": list(tag_keys)}])

    def _read_instances(self, **kwargs: Any) -> dict[str, Instance]:
        found: dict[str, Instance] = {}
        for reservation in self._pages("DescribeInstances", "Reservations", MaxResults=PAGE_SIZE, **kwargs):
            for raw in reservation.get("Instances", []):
                instance = _instance(raw)
                found[instance.instance_id] = instance
        return found

    def instance_type_info(self, instance_types: Iterable[str]) -> dict[str, InstanceTypeInfo | None]:
        """Facts per instance type, cached per container (None: EC2 does not know the type)."""
        wanted = sorted({t for t in instance_types if t and t not in self._type_info})
        for batch in _batches(wanted, INSTANCE_TYPES_PER_CALL):
            try:
                for raw in self._pages("DescribeInstanceTypes", "InstanceTypes", InstanceTypes=list(batch)):
                    self._type_info[raw["InstanceType"]] = _type_info(raw)
            except AwsApiError as error:
                if error.code != "InvalidInstanceType":
                    raise
                for name in batch:  # one unknown type fails the batch: ask one by one
                    self._type_info.setdefault(name, self._single_type_info(name))
            for name in batch:
                self._type_info.setdefault(name, None)
        return {t: self._type_info.get(t) for t in instance_types}

    def _single_type_info(self, name: str) -> InstanceTypeInfo | None:
        try:
            raw = self._call("DescribeInstanceTypes", self.ec2.describe_instance_types, InstanceTypes=[name])
        except AwsApiError as error:
            if error.code == "InvalidInstanceType":
                return None
            raise
        types = raw.get("InstanceTypes", [])
        return _type_info(types[0]) if types else None

    def _is_largest_in_family(self, instance_type: str) -> bool:
        family = family_of(instance_type)
        if family not in self._largest_in_family:
            sizes = [
                _type_info(raw)
                for raw in self._pages(
                    "DescribeInstanceTypes",
                    "InstanceTypes",
                    Filters=[{"Name": "instance-type", "Values": [f"{family}.*"]}],
                )
            ]
            self._largest_in_family[family] = max((s.default_vcpus for s in sizes if not s.bare_metal), default=0)
        info = self.instance_type_info([instance_type])[instance_type]
        return info is not None and info.default_vcpus >= self._largest_in_family[family] > 0

    # -- network interfaces ------------------------------------------------------------------------------------
    def describe_eni_attachments(self, eni_ids: Iterable[str]) -> dict[str, str | None]:
        """ENI → attached instance ID (None: detached). ENIs that no longer exist are absent."""
        return {eni_id: raw[1] for eni_id, raw in self._describe_enis(eni_ids).items()}

    def _describe_enis(self, eni_ids: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        result: dict[str, tuple[str, str | None]] = {}
        for batch in _batches(sorted(set(eni_ids)), FILTER_VALUES_PER_CALL):
            for raw in self._pages(
                "DescribeNetworkInterfaces",
                "NetworkInterfaces",
                Filters=[{"Name": "network-interface-id", "Values": list(batch)}],
                MaxResults=PAGE_SIZE,
            ):
                attachment = raw.get("Attachment") or {}
                attached = attachment.get("InstanceId") if attachment.get("Status") != "detached" else None
                result[raw["NetworkInterfaceId"]] = (raw.get("AvailabilityZone", ""), attached)
        return result

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
    ) -> MirrorSession:
        response = self._call(
            "CreateTrafficMirrorSession",
            self.ec2.create_traffic_mirror_session,
            NetworkInterfaceId=eni_id,
            TrafficMirrorTargetId=target_id,
            TrafficMirrorFilterId=filter_id,
            SessionNumber=session_number,
            Description=description,
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
        except AwsApiError as error:
            if error.code in NOT_FOUND_CODES:
                return False
            raise
        return True

    def modify_session(self, session_id: str, target_id: str | None, filter_id: str | None) -> None:
        changes: dict[str, str] = {}
        if target_id:
            changes["TrafficMirrorTargetId"] = target_id
        if filter_id:
            changes["TrafficMirrorFilterId"] = filter_id
        self._call(
            "ModifyTrafficMirrorSession",
            self.ec2.modify_traffic_mirror_session,
            TrafficMirrorSessionId=session_id,
            **changes,
        )

    # -- filters -----------------------------------------------------------------------------------------------
    def existing_filter_ids(self) -> frozenset[str]:
        return frozenset(
            raw["TrafficMirrorFilterId"]
            for raw in self._pages("DescribeTrafficMirrorFilters", "TrafficMirrorFilters", MaxResults=PAGE_SIZE)
        )

    # -- targets -----------------------------------------------------------------------------------------------
    def targets(self) -> dict[str, MirrorTarget]:
        """Every target of the account with its source limit and zones, cached for ``target_cache_seconds``."""
        now = self._clock()
        if self._targets is None or now - self._targets_read_at >= self._target_cache_seconds:
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
            for session in self.describe_sessions([{"Name": "traffic-mirror-target-id", "Values": stale}]):
                fresh[session.target_id].add(session.eni_id)
            self._sources.update({t: (now, enis) for t, enis in fresh.items()})
        return {t: frozenset(self._sources[t][1]) for t in target_ids}

    def _read_targets(self) -> dict[str, MirrorTarget]:
        raws = list(self._pages("DescribeTrafficMirrorTargets", "TrafficMirrorTargets", MaxResults=PAGE_SIZE))
        target_enis = self._describe_enis(
            raw["NetworkInterfaceId"] for raw in raws if raw.get("Type") == TARGET_KIND_ENI
        )
        eni_instances = {eni: attached for eni, (_, attached) in target_enis.items() if attached}
        instances, _ = self.describe_instances(sorted(set(eni_instances.values()))) if eni_instances else ({}, set())
        nlb_zones = self._load_balancer_zones(
            [raw["NetworkLoadBalancerArn"] for raw in raws if raw.get("Type") == TARGET_KIND_NLB]
        )
        targets: dict[str, MirrorTarget] = {}
        for raw in raws:
            kind = raw.get("Type", "")
            capacity: int | None = None
            zones: frozenset[str] = frozenset()
            if kind == TARGET_KIND_ENI:
                eni_id = raw.get("NetworkInterfaceId", "")
                zone, attached = target_enis.get(eni_id, ("", None))
                zones = frozenset({zone}) if zone else frozenset()
                instance = instances.get(attached or "")
                largest = instance is not None and self._is_largest_in_family(instance.instance_type)
                capacity = ENI_TARGET_SOURCES_LARGEST_SIZE if largest else ENI_TARGET_SOURCES
            elif kind == TARGET_KIND_NLB:
                zones = nlb_zones.get(raw.get("NetworkLoadBalancerArn", ""), frozenset())
            target_id = raw["TrafficMirrorTargetId"]
            targets[target_id] = MirrorTarget(target_id, kind, capacity, zones)
        return targets

    def _load_balancer_zones(self, arns: Sequence[str]) -> dict[str, frozenset[str]]:
        zones: dict[str, frozenset[str]] = {}
        if not arns or self.elbv2 is None:
            return zones
        for batch in _batches(sorted(set(arns)), LOAD_BALANCERS_PER_CALL):
            try:
                response = self._call(
                    "DescribeLoadBalancers", self.elbv2.describe_load_balancers, LoadBalancerArns=list(batch)
                )
            except AwsApiError as error:
                if error.code == "LoadBalancerNotFound":
                    continue  # the target outlived its NLB: no zone preference, mirroring to it stops anyway
                raise
            for lb in response.get("LoadBalancers", []):
                zones[lb["LoadBalancerArn"]] = frozenset(
                    z["ZoneName"] for z in lb.get("AvailabilityZones", []) if z.get("ZoneName")
                )
        return zones

    # -- status tag --------------------------------------------------------------------------------------------
    def set_instance_tag(self, instance_ids: Sequence[str], key: str, value: str) -> None:
        self._call(
            "CreateTags", self.ec2.create_tags, Resources=list(instance_ids), Tags=[{"Key": key, "Value": value}]
        )

    def delete_instance_tag(self, instance_ids: Sequence[str], key: str) -> None:
        self._call("DeleteTags", self.ec2.delete_tags, Resources=list(instance_ids), Tags=[{"Key": key}])

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


def _snake(operation: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")


def _instance(raw: Mapping[str, Any]) -> Instance:
    enis = tuple(
        AttachedEni(nic["NetworkInterfaceId"], nic.get("InterfaceType") or "interface")
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
    )


def _type_info(raw: Mapping[str, Any]) -> InstanceTypeInfo:
    return InstanceTypeInfo(
        instance_type=raw["InstanceType"],
        hypervisor=raw.get("Hypervisor"),
        bare_metal=bool(raw.get("BareMetal")),
        default_vcpus=int((raw.get("VCpuInfo") or {}).get("DefaultVCpus", 0)),
    )


def _session(raw: Mapping[str, Any]) -> MirrorSession:
    return MirrorSession(
        session_id=raw["TrafficMirrorSessionId"],
        eni_id=raw["NetworkInterfaceId"],
        target_id=raw["TrafficMirrorTargetId"],
        filter_id=raw["TrafficMirrorFilterId"],
        session_number=int(raw["SessionNumber"]),
        tags=tags_of(raw),
    )
