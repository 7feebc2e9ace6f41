"""A deployed stack in the simulated account: pool targets, a filter, settings, and the handlers' ports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulation.account import ApiCalls, SimulatedAccount
from simulation.lambda_runtime import LambdaContext
from simulation.lambda_runtime import sample_event as event
from traffic_mirroring.config import Settings, load_settings
from traffic_mirroring.ec2_gateway import Ec2Gateway
from traffic_mirroring.runtime import Runtime

MANAGED_BY = "mirror-stack"
ACCOUNT_ID = "123456789012"  # moto's account: the stack's own


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
            "ACCOUNT_ID": ACCOUNT_ID,
        }
        self.settings = load_settings({**base, **env})
        self.runtime = Runtime(self.settings, gateway_for(self.account, self.settings))

    def our_sessions(self, instance_id: str | None = None) -> list[dict[str, Any]]:
        found = [
            s for s in self.account.sessions() if {"Key": "mirror-managed-by", "Value": MANAGED_BY} in s.get("Tags", [])
        ]
        if instance_id is not None:
            found = [s for s in found if {"Key": "mirror-instance-id", "Value": instance_id} in s["Tags"]]
        return found


def gateway_for(account: SimulatedAccount, settings: Settings) -> Ec2Gateway:
    return Ec2Gateway(
        account.ec2,
        account.elbv2,
        target_cache_seconds=settings.target_cache_seconds,
        account_id=settings.account_id,
    )


def make_stack(account: SimulatedAccount, target_ids: list[str], filter_id: str, **env: str) -> Stack:
    settings = load_settings(
        {
            "TARGET_IDS": ",".join(target_ids),
            "FILTER_ID": filter_id,
            "MANAGED_BY": MANAGED_BY,
            "ACCOUNT_ID": ACCOUNT_ID,
            **env,
        }
    )
    calls = ApiCalls().attach(account.ec2, account.elbv2)
    runtime = Runtime(settings, gateway_for(account, settings))
    return Stack(account, settings, runtime, calls)


__all__ = ["ACCOUNT_ID", "MANAGED_BY", "LambdaContext", "Stack", "event", "gateway_for", "make_stack"]
