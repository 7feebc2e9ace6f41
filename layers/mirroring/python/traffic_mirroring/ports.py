"""The ports the use cases reach AWS through. ``Ec2Gateway`` implements them against AWS (mypy checks it, at the end
of ``ec2_gateway``); unit tests pass an in-memory fake (``tests/unit/fake_port.FakeAws``). Failures are
``errors.AwsApiError`` subclasses named for what they mean (``TargetFull``, ``EniSessionLimit``,
``SourceNotSupported``, ...), never SDK exceptions.

One port per need, each the smallest a use case takes:

- ``InventoryPort``: the reads of the actual state (``inventory``, the skip check, the delivery audit);
- ``MirroringPort``: what the executor applies a plan through (its writes and the reads that confirm them);
- ``ReconcilePort``: both, for a reconcile (``reconcile``, ``incident``); ``LifecyclePort`` adds Auto Scaling's
  CompleteLifecycleAction (``lifecycle``);
- ``SessionPort``: the stack's own sessions, for the cleanup when the stack is deleted (``cleanup``);
- ``SkipMetricsPort``, ``DeliveryMetricsPort``: CloudWatch (``metrics_gateway``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from traffic_mirroring.delivery import MetricQuery, Series
from traffic_mirroring.eligibility import TypeVerdicts
from traffic_mirroring.mirror_skips import MetricWindow, SkippedBytes
from traffic_mirroring.model import Instance, MirrorFilter, MirrorSession, MirrorTarget


class InventoryPort(Protocol):
    """The reads of what exists: instances, ENIs, sessions, filters and targets, each by a named read."""

    verdicts: TypeVerdicts  # AWS's answers about unlisted instance types, kept per container

    def describe_instances(self, instance_ids: Sequence[str]) -> tuple[dict[str, Instance], set[str]]:
        """Instances by ID, and the IDs that do not exist."""
        ...

    def describe_instances_with_tag_key(self, *tag_keys: str) -> dict[str, Instance]:
        """Instances carrying any of these tag keys."""
        ...

    def describe_instances_where(self, filter_name: str, values: Sequence[str]) -> dict[str, Instance]:
        """Instances whose ``filter_name`` (``vpc-id``, ``subnet-id``) is any of the values."""
        ...

    def describe_eni_attachments(self, eni_ids: Iterable[str]) -> dict[str, str | None]:
        """ENI → the instance it is attached to (None: detached); ENIs that no longer exist are absent."""
        ...

    def describe_sessions(self) -> list[MirrorSession]:
        """Every session the account sees."""
        ...

    def sessions_on_enis(self, eni_ids: Sequence[str]) -> list[MirrorSession]: ...

    def sessions_on_targets(self, target_ids: Sequence[str]) -> list[MirrorSession]: ...

    def sessions_described(self, descriptions: Sequence[str]) -> list[MirrorSession]:
        """Sessions whose Description is one of these."""
        ...

    def describe_filters(self, filter_ids: Sequence[str] | None = None) -> dict[str, MirrorFilter]:
        """Filters with their rules: every filter of the account (None), or those of ``filter_ids`` that exist."""
        ...

    def targets(self, fresh: bool = False) -> dict[str, MirrorTarget]:
        """Every target the account sees; a short per-container cache unless ``fresh``."""
        ...

    def target_sources(self, target_ids: Sequence[str]) -> dict[str, frozenset[str]]:
        """Source ENIs per target (cached: counts to spread load, not to check limits)."""
        ...


class MirroringPort(Protocol):
    """What the executor applies a plan through."""

    verdicts: TypeVerdicts  # AWS's answers about unlisted instance types, kept per container

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
    ) -> MirrorSession: ...

    def delete_session(self, session_id: str) -> bool: ...

    def modify_session(
        self,
        session_id: str,
        target_id: str | None,
        filter_id: str | None,
        *,
        packet_length: int | None = None,
        virtual_network_id: int | None = None,
        remove_fields: Sequence[str] = (),
    ) -> None: ...

    def sessions_by_id(self, session_ids: Sequence[str]) -> list[MirrorSession]: ...

    def sessions_on_enis(self, eni_ids: Sequence[str]) -> list[MirrorSession]: ...

    def set_instance_tags(self, instance_ids: Sequence[str], tags: Mapping[str, str]) -> None: ...

    def delete_instance_tags(self, instance_ids: Sequence[str], keys: Sequence[str]) -> None: ...

    def forget_targets(self) -> None: ...


class ReconcilePort(InventoryPort, MirroringPort, Protocol):
    """What a reconcile needs: read the actual state, then apply the plan (one instance or the account)."""


class LifecyclePort(ReconcilePort, Protocol):
    """A reconcile, then Auto Scaling's answer to a launch lifecycle hook."""

    def complete_lifecycle_action(
        self, *, group_name: str, hook_name: str, token: str, instance_id: str, result: str
    ) -> None: ...


class SessionPort(Protocol):
    """What the cleanup needs of the EC2 gateway: the sessions, deleting one, moving them to a new marker."""

    def describe_sessions(self) -> list[MirrorSession]: ...

    def delete_session(self, session_id: str) -> bool: ...

    def tag_sessions(self, session_ids: Sequence[str], tags: Mapping[str, str]) -> None: ...


class SkipMetricsPort(Protocol):
    """What CloudWatch says each instance dropped of its mirrored traffic (``metrics_gateway.CloudWatchGateway``)."""

    def skipped_bytes(self, instance_ids: Sequence[str], window: MetricWindow) -> dict[str, SkippedBytes]: ...


class DeliveryMetricsPort(Protocol):
    """The Sum of CloudWatch metrics per period: what sources mirrored and targets received (``delivery``)."""

    def metric_series(self, queries: Sequence[MetricQuery], window: MetricWindow) -> dict[MetricQuery, Series]: ...
