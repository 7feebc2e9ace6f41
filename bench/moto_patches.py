"""moto, made to measure: the time it spends answering, and two of its costs that grow with the account.

``server_time`` adds up the time moto spends inside its request handler (what AWS's side and the network would
take in a deployment), so a wall time can be split into moto's part and ours (our code plus botocore).

The two speed-ups give moto's own answers, only faster; every patch is undone on exit.

- ``indexed_tags``: moto's ``TaggedEC2Resource.get_tags`` scans every tag of the account for each resource it
  serializes, so describing N instances costs O(N²) (at N = 1,000 it is 7 of the reconcile's 8 seconds). The
  replacement reads moto's own tag index by resource ID, and returns the same list of dicts in the same order.
- ``fast_seeding``: each new moto instance filters the whole AMI catalogue to find its image, and looks itself up
  among all instances to attach its root volume (O(N²) for N instances). The replacements cache the image and search
  the newest reservations first.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from moto.core.botocore_stubber import BotocoreStubber
from moto.ec2.models.amis import AmiBackend
from moto.ec2.models.core import TaggedEC2Resource
from moto.ec2.models.instances import InstanceBackend
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix


def _indexed_get_tags(self: Any) -> list[dict[str, str]]:
    if not self.id:
        return []
    resource_id: str = self.id
    tags: dict[str, str] = self.ec2_backend.tags.get(resource_id, {})
    resource_type = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
    return [
        {"resource_id": resource_id, "key": key, "value": value, "resource_type": resource_type}
        for key, value in tags.items()
    ]


@contextmanager
def indexed_tags() -> Iterator[None]:
    original = TaggedEC2Resource.__dict__["get_tags"]
    TaggedEC2Resource.get_tags = _indexed_get_tags  # type: ignore[method-assign]
    try:
        yield
    finally:
        TaggedEC2Resource.get_tags = original  # type: ignore[method-assign]


@contextmanager
def fast_seeding() -> Iterator[None]:
    original = AmiBackend.__dict__["describe_images"]
    original_get_instance = InstanceBackend.__dict__["get_instance"]
    found: dict[str, Any] = {}

    def describe_images(self: Any, ami_ids: Any = None, filters: Any = None, *args: Any, **kwargs: Any) -> Any:
        if not ami_ids and not args and not kwargs and filters and list(filters) == ["image-id"]:
            key = f"{id(self)}:{filters['image-id']}"
            if key not in found:
                found[key] = original(self, filters=filters)
            return found[key]
        return original(self, ami_ids, filters, *args, **kwargs)

    def get_instance(self: Any, instance_id: str) -> Any:
        for reservation in reversed(self.reservations.values()):
            for instance in reversed(reservation.instances):
                if instance.id == instance_id:
                    return instance
        return original_get_instance(self, instance_id)  # raises moto's own error

    AmiBackend.describe_images = describe_images  # type: ignore[method-assign]
    InstanceBackend.get_instance = get_instance  # type: ignore[method-assign]
    try:
        yield
    finally:
        AmiBackend.describe_images = original  # type: ignore[method-assign]
        InstanceBackend.get_instance = original_get_instance  # type: ignore[method-assign]


@dataclass
class ServerTime:
    seconds: float = 0.0
    requests: int = 0


@contextmanager
def server_time() -> Iterator[ServerTime]:
    """The seconds moto spends answering requests (its dispatch, model and response serialization)."""
    original = BotocoreStubber.__dict__["process_request"]
    clock = ServerTime()

    def process_request(self: Any, request: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(self, request)
        finally:
            clock.seconds += time.perf_counter() - started
            clock.requests += 1

    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]
    try:
        yield clock
    finally:
        BotocoreStubber.process_request = original  # type: ignore[method-assign]
