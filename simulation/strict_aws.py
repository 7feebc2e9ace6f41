"""moto, held to AWS's Traffic Mirroring rules.

moto (5.2.5) accepts anything for mirror sessions: unlimited sessions per ENI and sources per target, duplicate or
out-of-range session numbers, unknown ENIs/targets/filters, unsupported sources; it ignores ClientToken, paging,
``tag:`` filters and DeleteOnTermination set on an attachment, and keeps sessions of deleted ENIs. While
``StrictAws`` is active, the same calls answer the way AWS documents, with AWS's error codes. It patches moto's
classes, so it holds for in-process mocks and for ``ThreadedMotoServer`` in the same process alike.

CompleteLifecycleAction, which moto lacks, is answered for actions a test starts with
``StrictAws.start_launch_lifecycle_action`` and recorded in ``StrictAws.completed_lifecycle_actions``.

Where AWS does not document an error code (a session number already used on the ENI, a source ENI that is a
target, an ENI target that is a source, a NextToken that was never handed out), ``InvalidParameterValue`` is used,
and the product must not depend on the code.
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moto.autoscaling.exceptions import ValidationError
from moto.autoscaling.models import autoscaling_backends
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.core.responses import ActionResult, EmptyResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.elastic_network_interfaces import NetworkInterfaceBackend
from moto.ec2.models.instances import Instance
from moto.ec2.models.traffic_mirrors import TrafficMirrorsBackend, TrafficMirrorSession
from moto.ec2.responses.elastic_network_interfaces import ElasticNetworkInterfaces
from moto.ec2.responses.traffic_mirrors import TrafficMirrors

RULES: dict[str, Any] = json.loads((Path(__file__).with_name("aws_rules.json")).read_text())
_LOCK = threading.RLock()
_ABSENT = object()  # what _patch saves for an attribute moto does not have (a call moto does not implement)


def aws_supports_source(instance_type: str, hypervisor: str | None, bare_metal: bool) -> bool:
    family = instance_type.split(".", 1)[0]
    if bare_metal or instance_type.endswith(".metal"):
        return False
    if hypervisor == "nitro":
        return family not in RULES["nitro_families_not_supported"]
    if hypervisor == "xen":
        return family in RULES["xen_families_supported"]
    return False


def _error(code: str, message: str) -> EC2ClientError:
    return EC2ClientError(code, message)


def _type_facts(backend: Any, instance_type: str) -> tuple[str | None, bool]:
    from moto.ec2.models.instance_types import INSTANCE_TYPES

    raw = INSTANCE_TYPES.get(instance_type, {})
    return raw.get("Hypervisor"), bool(raw.get("BareMetal"))


def source_limit(backend: Any, target: Any) -> int | None:
    """How many source ENIs a target accepts: 10 or 100 for an ENI target, no limit for NLB/GWLB endpoint."""
    if target.type != "network-interface":
        return None
    try:
        eni = backend.get_network_interface(target.network_interface_id)
    except EC2ClientError:
        return int(RULES["sources_per_eni_target"])
    instance = getattr(eni, "instance", None)
    if instance is not None and instance.instance_type in RULES["eni_target_largest_sizes"]:
        return int(RULES["sources_per_largest_eni_target"])
    return int(RULES["sources_per_eni_target"])


def _supported_source(backend: Any, eni: Any) -> bool:
    """AWS: "eni-… must be attached to a supported instance" (and be of type ``interface``)."""
    instance = getattr(eni, "instance", None)
    if instance is None or getattr(eni, "interface_type", "interface") != "interface":
        return False
    return aws_supports_source(instance.instance_type, *_type_facts(backend, instance.instance_type))


def _sessions(backend: Any) -> dict[str, TrafficMirrorSession]:
    return backend.traffic_mirror_sessions  # type: ignore[no-any-return]


def _tokens(backend: Any) -> dict[str, tuple[tuple[Any, ...], TrafficMirrorSession]]:
    if not hasattr(backend, "_strict_tokens"):
        backend._strict_tokens = {}
    return backend._strict_tokens  # type: ignore[no-any-return]


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


def _in_range(name: str, value: int | None, bounds: list[int]) -> None:
    if value is not None and not bounds[0] <= value <= bounds[1]:
        raise _error("InvalidParameterValue", f"{name} {value} is out of range [{bounds[0]}, {bounds[1]}].")


# -- patched backend methods ---------------------------------------------------------------------------------
def _strict_create_session(original: Callable[..., Any]) -> Callable[..., Any]:
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
            if client_token:
                if len(client_token) > 64:
                    raise _error("InvalidParameterValue", "ClientToken must be at most 64 ASCII characters.")
                seen = _tokens(self).get(client_token)
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
            if virtual_network_id is not None:
                _in_range("VirtualNetworkId", virtual_network_id, [0, 2**24 - 1])
            if not _supported_source(self, eni):
                raise _error(
                    "NetworkInterfaceNotSupported", f"{network_interface_id} must be attached to a supported instance."
                )
            if any(t.network_interface_id == network_interface_id for t in self.traffic_mirror_targets.values()):
                raise _error(
                    "InvalidParameterValue", f"{network_interface_id} is a traffic mirror target and can't be a source."
                )
            on_eni = [s for s in _sessions(self).values() if s.network_interface_id == network_interface_id]
            if len(on_eni) >= RULES["sessions_per_eni"]:
                raise _error(
                    "TrafficMirrorSessionsPerInterfaceLimitExceeded",
                    f"{network_interface_id} already has {len(on_eni)} traffic mirror sessions.",
                )
            if any(s.session_number == session_number for s in on_eni):
                raise _error(
                    "InvalidParameterValue",
                    f"Session number {session_number} is already in use on {network_interface_id}.",
                )
            _check_target_room(self, target, network_interface_id)
            session = original(
                self,
                network_interface_id,
                traffic_mirror_target_id,
                traffic_mirror_filter_id,
                session_number,
                packet_length,
                virtual_network_id,
                description,
                tag_specifications,
                client_token,
            )
            if client_token:
                _tokens(self)[client_token] = (params, session)
            return session

    return create


def _strict_create_target(original: Callable[..., Any]) -> Callable[..., Any]:
    def create(self: Any, network_interface_id: str | None, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            if network_interface_id:
                self.get_network_interface(network_interface_id)  # InvalidNetworkInterfaceID.NotFound
                if any(s.network_interface_id == network_interface_id for s in _sessions(self).values()):
                    raise _error(
                        "InvalidParameterValue",
                        f"{network_interface_id} is a traffic mirror source and can't be a target.",
                    )
            return original(self, network_interface_id, *args, **kwargs)

    return create


def _strict_delete_session(original: Callable[..., Any]) -> Callable[..., Any]:
    def delete(self: Any, traffic_mirror_session_id: str) -> Any:
        with _LOCK:
            if traffic_mirror_session_id not in _sessions(self):
                raise _error(
                    "InvalidTrafficMirrorSessionId.NotFound",
                    f"The traffic mirror session '{traffic_mirror_session_id}' does not exist.",
                )
            return original(self, traffic_mirror_session_id)

    return delete


def _strict_modify_session(original: Callable[..., Any]) -> Callable[..., Any]:
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
            session = _sessions(self).get(traffic_mirror_session_id)
            if session is None:
                raise _error(
                    "InvalidTrafficMirrorSessionId.NotFound",
                    f"The traffic mirror session '{traffic_mirror_session_id}' does not exist.",
                )
            if traffic_mirror_target_id:
                target = _require_target(self, traffic_mirror_target_id)
                _check_target_room(self, target, session.network_interface_id, ignore_session=session.id)
            if traffic_mirror_filter_id:
                _require_filter(self, traffic_mirror_filter_id)
            _in_range("SessionNumber", session_number, RULES["session_number_range"])
            _in_range("PacketLength", packet_length, RULES["packet_length_range"])
            if virtual_network_id is not None:
                _in_range("VirtualNetworkId", virtual_network_id, [0, 2**24 - 1])
            if session_number is not None and any(
                s.session_number == session_number
                and s.id != session.id
                and s.network_interface_id == session.network_interface_id
                for s in _sessions(self).values()
            ):
                raise _error("InvalidParameterValue", f"Session number {session_number} is already in use.")
            return original(
                self,
                traffic_mirror_session_id,
                traffic_mirror_target_id,
                traffic_mirror_filter_id,
                packet_length,
                session_number,
                virtual_network_id,
                description,
            )

    return modify


# The filters each Describe call documents (plus the generic ``tag:<key>`` and ``tag-key``), to model attributes.
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
    """AWS rejects an unknown filter name even when there is nothing to filter."""
    for name in filters:
        if not (name.startswith("tag:") or name == "tag-key" or name in _FILTER_ATTRIBUTES[collection]):
            raise _error("InvalidParameterValue", f"The filter '{name}' is invalid")


def _matches(resource: Any, attributes: dict[str, str], filters: dict[str, list[str]]) -> bool:
    tags: dict[str, str] = {}
    if any(name.startswith("tag") for name in filters):
        # moto's own index of tags by resource ID: get_tags() scans every tag of the account (O(N) per resource).
        tags = dict(resource.ec2_backend.tags.get(resource.id, {}))
    for name, values in filters.items():
        wanted = set(values)
        if name.startswith("tag:"):
            if tags.get(name[4:]) not in wanted:
                return False
        elif name == "tag-key":
            if not wanted & set(tags):
                return False
        elif str(getattr(resource, attributes[name], None)) not in wanted:
            return False
    return True


def _strict_describe(collection: str, not_found: str) -> Callable[..., Any]:
    attributes = _FILTER_ATTRIBUTES[collection]

    def describe(self: Any, ids: list[str] | None, filters: Any) -> list[Any]:
        _check_filter_names(collection, filters or {})
        with _LOCK:
            resources = dict(getattr(self, collection))
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


# -- ENI and instance lifecycle ------------------------------------------------------------------------------
def _delete_eni_with_sessions(original: Callable[..., Any]) -> Callable[..., Any]:
    def delete_network_interface(self: Any, eni_id: str) -> None:
        with _LOCK:
            original(self, eni_id)
            for session_id in [s.id for s in _sessions(self).values() if s.network_interface_id == eni_id]:
                _sessions(self).pop(session_id, None)

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


def _listed_network_interfaces(self: Any) -> list[Any]:
    """A terminated instance lists no network interfaces (moto keeps listing them)."""
    return [] if self._state.name == "terminated" else list(self.nics.values())


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


class StrictAws:
    """Activate with ``with StrictAws():`` inside a moto mock (or around a ThreadedMotoServer)."""

    def __init__(self, page_cap: int | None = None) -> None:
        self.page_cap = page_cap
        self._saved: list[tuple[Any, str, Any]] = []
        self.waiting_lifecycle_actions: dict[LifecycleActionKey, str] = {}  # → token
        self.completed_lifecycle_actions: list[CompletedLifecycleAction] = []

    def _patch(self, owner: Any, name: str, replacement: Any) -> None:
        self._saved.append((owner, name, owner.__dict__.get(name, _ABSENT)))
        setattr(owner, name, replacement)

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
        backend = TrafficMirrorsBackend
        self._patch(
            backend, "create_traffic_mirror_target", _strict_create_target(backend.create_traffic_mirror_target)
        )
        self._patch(
            backend, "create_traffic_mirror_session", _strict_create_session(backend.create_traffic_mirror_session)
        )
        self._patch(
            backend, "delete_traffic_mirror_session", _strict_delete_session(backend.delete_traffic_mirror_session)
        )
        self._patch(
            backend, "modify_traffic_mirror_session", _strict_modify_session(backend.modify_traffic_mirror_session)
        )
        self._patch(
            backend,
            "describe_traffic_mirror_sessions",
            _strict_describe("traffic_mirror_sessions", "InvalidTrafficMirrorSessionId.NotFound"),
        )
        self._patch(
            backend,
            "describe_traffic_mirror_targets",
            _strict_describe("traffic_mirror_targets", "InvalidTrafficMirrorTargetId.NotFound"),
        )
        self._patch(
            backend,
            "describe_traffic_mirror_filters",
            _strict_describe("traffic_mirror_filters", "InvalidTrafficMirrorFilterId.NotFound"),
        )
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
            _delete_eni_with_sessions(NetworkInterfaceBackend.delete_network_interface),
        )
        self._patch(Instance, "prep_nics", _launch_enis_delete_on_termination(Instance.prep_nics))
        self._patch(Instance, "terminate", _terminate_like_aws(Instance.terminate))
        self._patch(
            ElasticNetworkInterfaces,
            "modify_network_interface_attribute",
            _attachment_delete_on_termination(ElasticNetworkInterfaces.modify_network_interface_attribute),
        )
        self._patch(Instance, "network_interfaces", property(_listed_network_interfaces))
        self._patch(AutoScalingResponse, "complete_lifecycle_action", _complete_lifecycle_action(self))
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._saved):
            if original is _ABSENT:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        self._saved.clear()


@contextmanager
def strict_aws(page_cap: int | None = None) -> Iterator[StrictAws]:
    with StrictAws(page_cap) as layer:
        yield layer
