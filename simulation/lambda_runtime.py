"""What Lambda hands a handler, for the tests, the demo and the benchmarks: a context and real-shaped events."""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[1] / "events"


@dataclass
class LambdaContext:
    """What Powertools and the reconciler read from a Lambda context; remaining time is settable for deadlines.

    ``remaining_ms`` is consumed one value per call until a single value is left, which then holds.
    """

    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    remaining_ms: list[int] = field(default_factory=lambda: [900_000])

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms[0] if len(self.remaining_ms) == 1 else self.remaining_ms.pop(0)


def sample_event(name: str, instance_id: str, **detail: Any) -> dict[str, Any]:
    """A sample from events/ pointed at this instance: only IDs and values change, never the shape."""
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    sample = copy.deepcopy(loaded)
    sample["id"] = str(uuid.uuid4())
    if "instance-id" in sample["detail"]:
        sample["detail"]["instance-id"] = instance_id
    if "EC2InstanceId" in sample["detail"]:
        sample["detail"]["EC2InstanceId"] = instance_id
    called = sample["detail"].get("requestParameters")  # a CloudTrail record of an API call on an instance
    if isinstance(called, dict) and "instanceId" in called:
        called["instanceId"] = instance_id
    sample["resources"] = [
        r.rsplit("/", 1)[0] + "/" + instance_id if ":instance/" in r else r for r in sample.get("resources", [])
    ]
    sample["detail"].update(detail)
    return sample
