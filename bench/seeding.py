"""Large accounts, seeded straight into moto's backend objects (no API calls: nothing to serialize or parse).

Going through boto3 would make moto serialize, and botocore parse, ten 1,000-instance RunInstances answers and
10,000 CreateTrafficMirrorSession answers: minutes of work that measure nothing.
"""

from __future__ import annotations

from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends

from bench.moto_patches import fast_seeding
from simulation.account import AMI, REGION

MIRROR_TAG, STATUS_TAG = "mirror", "mirror-status"


def backend(region: str = REGION, account_id: str = DEFAULT_ACCOUNT_ID) -> Any:
    return ec2_backends[account_id][region]


def seed_mirrored_instances(
    zone: str,
    n: int,
    target_id: str,
    filter_id: str,
    managed_by: str,
    cidr: str = "10.0.0.0/16",
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> list[str]:
    """N running, tagged, mirrored m5.large instances in ``zone`` of ``account_id``, each with one managed session on
    its primary ENI (session number 1) to ``target_id``, in a VPC of their own (a default subnet is /20: too small for
    10,000).

    One reservation per instance, as Auto Scaling launches them: moto pages DescribeInstances by reservation, so
    N instances in one reservation would come back in one page where EC2 needs ⌈N/1000⌉."""
    ec2 = backend(account_id=account_id)
    with fast_seeding():
        vpc = ec2.create_vpc(cidr)
        subnet = ec2.create_subnet(vpc_id=vpc.id, cidr_block=cidr, availability_zone=zone)
        launched = [
            ec2.run_instances(
                AMI,
                1,
                None,
                [],
                instance_type="m5.large",
                is_instance_type_default=False,
                region_name=REGION,
                subnet_id=subnet.id,
                tags={"instance": {MIRROR_TAG: "true", STATUS_TAG: "mirrored"}},
            ).instances[0]
            for _ in range(n)
        ]
        instance_ids: list[str] = []
        for instance in launched:
            instance_ids.append(instance.id)
            eni_id = instance.nics[0].id
            ec2.create_traffic_mirror_session(
                eni_id,
                target_id,
                filter_id,
                1,
                None,
                None,
                f"{managed_by}: {instance.id} {eni_id}",
                [
                    {
                        "ResourceType": "traffic-mirror-session",
                        "Tags": [
                            {"Key": "mirror-managed-by", "Value": managed_by},
                            {"Key": "mirror-instance-id", "Value": instance.id},
                        ],
                    }
                ],
                None,
            )
    return instance_ids


def untag(instance_ids: list[str], key: str = MIRROR_TAG, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    ec2 = backend(account_id=account_id)
    for instance_id in instance_ids:
        ec2.delete_tags([instance_id], {key: None})
