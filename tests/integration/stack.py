"""A deployed stack in the simulated account: pool targets, a filter, settings, and the handlers' ports."""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulation.account import ApiCalls, SimulatedAccount
from traffic_mirroring.config import Settings, load_settings
from traffic_mirroring.ec2_gateway import Ec2Gateway
from traffic_mirroring.runtime import Runtime

EVENTS = Path(__file__).resolve().parents[2] / "events"
MANAGED_BY = "mirror-stack"


@dataclass
class LambdaContext:
    """What Powertools reads from a Lambda context; remaining time is settable for deadline tests."""

    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    remaining_ms: list[int] = field(default_factory=lambda: [900_000])

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms[0] if len(self.remaining_ms) == 1 else self.remaining_ms.pop(0)


@dataclass
class Stack:
    account: SimulatedAccount
    settings: Settings
    runtime: Runtime
    calls: ApiCalls

    def configure(self, **env: str) -> None:
        """Redeploy with other settings (keeps the warm gateway, as a config change would not)."""
        base = {
            "TARGET_IDS": ",".join(self.settings.target_ids),
            "FILTER_ID": self.settings.filter_id,
            "MANAGED_BY": MANAGED_BY,
        }
        self.settings = load_settings({**base, **env})
        self.runtime = Runtime(self.settings, Ec2Gateway(self.account.ec2, self.account.elbv2))

    def our_sessions(self, instance_id: str | None = None) -> list[dict[str, Any]]:
        found = [
            s for s in self.account.sessions() if {"Key": "mirror-managed-by", "Value": MANAGED_BY} in s.get("Tags", [])
        ]
        if instance_id is not None:
            found = [s for s in found if {"Key": "mirror-instance-id", "Value": instance_id} in s["Tags"]]
        return found


def make_stack(account: SimulatedAccount, target_ids: list[str], filter_id: str, **env: str) -> Stack:
    settings = load_settings(
        {"TARGET_IDS": ",".join(target_ids), "FILTER_ID": filter_id, "MANAGED_BY": MANAGED_BY, **env}
    )
    calls = ApiCalls().attach(account.ec2, account.elbv2)
    runtime = Runtime(settings, Ec2Gateway(account.ec2, account.elbv2))
    return Stack(account, settings, runtime, calls)


def event(name: str, instance_id: str, **detail: Any) -> dict[str, Any]:
    """A sample from events/ pointed at this instance (the shape is never changed, only IDs and values)."""
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    sample = copy.deepcopy(loaded)
    sample["id"] = str(uuid.uuid4())
    if "instance-id" in sample["detail"]:
        sample["detail"]["instance-id"] = instance_id
    if "EC2InstanceId" in sample["detail"]:
        sample["detail"]["EC2InstanceId"] = instance_id
    sample["resources"] = [
        r.rsplit("/", 1)[0] + "/" + instance_id if ":instance/" in r else r for r in sample.get("resources", [])
    ]
    sample["detail"].update(detail)
    return sample
