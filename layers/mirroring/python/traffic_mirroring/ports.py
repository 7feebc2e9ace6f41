"""The port the executor applies plans through. ``Ec2Gateway`` implements it against AWS; tests use an in-memory
fake. Failures are ``errors.AwsApiError`` subclasses named for what they mean (``TargetFull``, ``EniSessionLimit``,
``SourceNotSupported``, ...), never SDK exceptions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from traffic_mirroring.delivery import MetricQuery, Series
from traffic_mirroring.eligibility import TypeVerdicts
from traffic_mirroring.mirror_skips import MetricWindow, SkippedBytes
from traffic_mirroring.model import MirrorSession


class MirroringPort(Protocol):
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


class SkipMetricsPort(Protocol):
    """What CloudWatch says each instance dropped of its mirrored traffic (``metrics_gateway.CloudWatchGateway``)."""

    def skipped_bytes(self, instance_ids: Sequence[str], window: MetricWindow) -> dict[str, SkippedBytes]: ...


class DeliveryMetricsPort(Protocol):
    """The Sum of CloudWatch metrics per period: what sources mirrored and targets received (``delivery``)."""

    def metric_series(self, queries: Sequence[MetricQuery], window: MetricWindow) -> dict[MetricQuery, Series]: ...
