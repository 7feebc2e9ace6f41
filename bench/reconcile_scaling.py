"""Reconcile scaling: API calls and wall time of one scheduled reconcile for N managed sessions.

The account is seeded straight into moto's backend (fast, permissive), then the reconcile runs through boto3 against
moto with the strict layer on, in a cold container (empty caches), exactly as the scheduled Lambda would.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any

from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends

from simulation.account import REGION, ApiCalls, SimulatedAccount
from simulation.strict_aws import StrictAws
from traffic_mirroring.config import load_settings
from traffic_mirroring.ec2_gateway import Ec2Gateway
from traffic_mirroring.reconcile import reconcile_account

MANAGED_BY = "bench-stack"
BATCH = 1000


def budget(n: int) -> int:
    """The reconciler issue's budget for N healthy managed sessions (changes cost one call each on top)."""
    return 3 * math.ceil(n / 1000) + 10


def _seed(account: SimulatedAccount, n: int, target_id: str, filter_id: str) -> list[str]:
    """N tagged m5.large instances, each with one managed session on its primary ENI."""
    backend: Any = ec2_backends[DEFAULT_ACCOUNT_ID][REGION]
    # Default subnets are /20: too small for 10,000 instances.
    vpc = account.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = account.ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/16", AvailabilityZone=account.zones[0])
    instance_ids: list[str] = []
    for start in range(0, n, BATCH):
        count = min(BATCH, n - start)
        reservation = account.ec2.run_instances(
            ImageId="ami-12c6146b",
            MinCount=count,
            MaxCount=count,
            InstanceType="m5.large",
            SubnetId=subnet["Subnet"]["SubnetId"],
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": "mirror", "Value": "true"}, {"Key": "mirror-status", "Value": "mirrored"}],
                }
            ],
        )
        instance_ids.extend(i["InstanceId"] for i in reservation["Instances"])
    for instance_id in instance_ids:
        eni = backend.get_instance(instance_id).nics[0].id
        backend.create_traffic_mirror_session(
            eni,
            target_id,
            filter_id,
            1,
            None,
            None,
            None,
            [
                {
                    "ResourceType": "traffic-mirror-session",
                    "Tags": [
                        {"Key": "mirror-managed-by", "Value": MANAGED_BY},
                        {"Key": "mirror-instance-id", "Value": instance_id},
                    ],
                }
            ],
            None,
        )
    return instance_ids


def run_case(n: int, orphans: int = 0) -> dict[str, Any]:
    """One reconcile over N managed sessions, ``orphans`` of which belong to instances that lost the tag."""
    with mock_aws():
        account = SimulatedAccount()
        target_id = account.nlb_target()
        filter_id = account.mirror_filter()
        instance_ids = _seed(account, n, target_id, filter_id)
        for start in range(0, orphans, BATCH):
            account.ec2.delete_tags(
                Resources=instance_ids[start : min(start + BATCH, orphans)], Tags=[{"Key": "mirror"}]
            )
        with StrictAws():
            settings = load_settings({"TARGET_IDS": target_id, "FILTER_ID": filter_id, "MANAGED_BY": MANAGED_BY})
            calls = ApiCalls().attach(account.ec2, account.elbv2)
            gateway = Ec2Gateway(account.ec2, account.elbv2)
            started = time.perf_counter()
            result = reconcile_account(gateway, settings)
            elapsed = time.perf_counter() - started
    changes = len(result.outcome.created) + sum(result.outcome.deleted.values()) + result.outcome.updated
    return {
        "managed_sessions": n,
        "orphans": orphans,
        "api_calls": calls.total,
        "api_calls_by_operation": dict(Counter(calls.counts)),
        "changes": changes,
        "budget": budget(n) + changes,
        "within_budget": calls.total <= budget(n) + changes,
        "wall_seconds": round(elapsed, 2),
        "deleted": dict(result.outcome.deleted),
    }


if __name__ == "__main__":
    for case in ((1000, 0), (10_000, 0), (10_000, 1000)):
        print(run_case(*case))
