"""A simulated AWS account (moto + StrictAws) with the few verbs tests and the demo need."""

from __future__ import annotations

import copy
import ipaddress
import json
import threading
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError

from simulation.strict_aws import mark_requester_managed

REGION = "us-east-1"
AMI = "ami-12c6146b"  # an image moto knows
VXLAN_PORT = 4789  # where AWS sends mirrored traffic (UDP)


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


class SimulatedAccount:
    """Operates on whatever moto backend is active (``mock_aws`` or a server, through ``endpoint_url``)."""

    def __init__(
        self, region: str = REGION, endpoint_url: str | None = None, session: boto3.session.Session | None = None
    ) -> None:
        self.region = region
        self.session = session or boto3.session.Session(region_name=region)
        self.ec2: Any = self.session.client("ec2", endpoint_url=endpoint_url)
        self.elbv2: Any = self.session.client("elbv2", endpoint_url=endpoint_url)
        self.autoscaling: Any = self.session.client("autoscaling", endpoint_url=endpoint_url)
        subnets = self.ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        self.subnets = {s["AvailabilityZone"]: s["SubnetId"] for s in subnets}

    @property
    def zones(self) -> list[str]:
        return sorted(self.subnets)

    @classmethod
    def member(cls, account_id: str, region: str = REGION, endpoint_url: str | None = None) -> SimulatedAccount:
        """Another account of the organization, entered as an operator would: AssumeRole of its
        OrganizationAccountAccessRole (created here in moto's IAM of that account, trusting this caller's account)."""
        from moto.iam.models import iam_backends

        caller = boto3.session.Session(region_name=region)
        sts = caller.client("sts", endpoint_url=endpoint_url)
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{sts.get_caller_identity()['Account']}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        iam = iam_backends[account_id]["global"]
        if "OrganizationAccountAccessRole" not in {role.name for role in iam.roles.values()}:
            iam.create_role("OrganizationAccountAccessRole", json.dumps(trust), "/", None, "", [], None)
        credentials = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole", RoleSessionName="simulation"
        )["Credentials"]
        session = boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=region,
        )
        return cls(region, endpoint_url, session)

    def new_vpc(self, cidr: str, ipv6: bool = False) -> SimulatedAccount:
        """The same account, working in a new VPC (a subnet in each zone): launches and targets made through the
        returned view land in that VPC. ``vpc_id`` names it. IPv4-only, as AWS makes a VPC unless asked; ``ipv6``:
        dual-stack (an Amazon-provided IPv6 block, and a /64 of it in each subnet)."""
        vpc_id: str = self.ec2.create_vpc(CidrBlock=cidr, AmazonProvidedIpv6CidrBlock=ipv6)["Vpc"]["VpcId"]
        blocks = ipaddress.ip_network(cidr).subnets(new_prefix=24)
        ipv6_blocks = self._ipv6_subnet_blocks(vpc_id) if ipv6 else None
        view = copy.copy(self)
        view.subnets = {}
        for zone in self.zones:
            extra = {"Ipv6CidrBlock": str(next(ipv6_blocks))} if ipv6_blocks else {}
            view.subnets[zone] = self.ec2.create_subnet(
                VpcId=vpc_id, CidrBlock=str(next(blocks)), AvailabilityZone=zone, **extra
            )["Subnet"]["SubnetId"]
        return view

    def _ipv6_subnet_blocks(self, vpc_id: str) -> Any:
        vpc = self.ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
        block = vpc["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
        used = {
            a["Ipv6CidrBlock"]
            for s in self.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
            for a in s.get("Ipv6CidrBlockAssociationSet") or []
        }
        return (b for b in ipaddress.ip_network(block).subnets(new_prefix=64) if str(b) not in used)

    def ipv6_only_subnet(self, zone: str | None = None) -> str:
        """A new IPv6-only subnet (``Ipv6Native``) in this view's VPC, which must have an IPv6 block
        (``new_vpc(ipv6=True)``).
        https://docs.aws.amazon.com/vpc/latest/userguide/configure-subnets.html#subnet-ip-address-range"""
        vpc_id = self.vpc_id
        subnet_id: str = self.ec2.create_subnet(
            VpcId=vpc_id,
            Ipv6CidrBlock=str(next(self._ipv6_subnet_blocks(vpc_id))),
            Ipv6Native=True,
            AvailabilityZone=zone or self.zones[0],
        )["Subnet"]["SubnetId"]
        return subnet_id

    def subnet_cidr(self, zone: str | None = None) -> str:
        """The IPv4 CIDR of this view's subnet in ``zone``."""
        subnet = self.ec2.describe_subnets(SubnetIds=[self.subnets[zone or self.zones[0]]])["Subnets"][0]
        cidr: str = subnet["CidrBlock"]
        return cidr

    @property
    def vpc_id(self) -> str:
        return self.vpc_of(self.subnets[self.zones[0]])

    def tag_target(self, target_id: str, **tags: str) -> None:
        """Tag a target (keys may hold dashes: pass them as a dict with **)."""
        self.ec2.create_tags(Resources=[target_id], Tags=_tag_list(tags))

    def untag_target(self, target_id: str, *keys: str) -> None:
        self.ec2.delete_tags(Resources=[target_id], Tags=[{"Key": k} for k in keys])

    # -- instances ---------------------------------------------------------------------------------------------
    def launch(
        self,
        instance_type: str = "m5.large",
        tags: Mapping[str, str] | None = None,
        *,
        zone: str | None = None,
        extra_enis: int = 0,
        extra_enis_delete_on_termination: bool = False,
        subnet_id: str | None = None,
    ) -> str:
        zone = zone or self.zones[0]
        [instance_id] = self._run_instances(1, instance_type, tags, subnet_id or self.subnets[zone])
        for index in range(extra_enis):
            self.attach_new_eni(instance_id, zone, index + 1, extra_enis_delete_on_termination)
        return instance_id

    def launch_many(
        self, count: int, instance_type: str = "m5.large", tags: Mapping[str, str] | None = None, *, zone: str
    ) -> list[str]:
        """``count`` instances in one reservation (one RunInstances call) in ``zone``'s default subnet; their IDs."""
        return self._run_instances(count, instance_type, tags, self.subnets[zone])

    def _run_instances(
        self, count: int, instance_type: str, tags: Mapping[str, str] | None, subnet_id: str
    ) -> list[str]:
        args: dict[str, Any] = {
            "ImageId": AMI,
            "MinCount": count,
            "MaxCount": count,
            "InstanceType": instance_type,
            "SubnetId": subnet_id,
        }
        if tags:
            args["TagSpecifications"] = [{"ResourceType": "instance", "Tags": _tag_list(tags)}]
        return [i["InstanceId"] for i in self.ec2.run_instances(**args)["Instances"]]

    def attach_new_eni(self, instance_id: str, zone: str, device_index: int, delete_on_termination: bool) -> str:
        eni_id: str = self.ec2.create_network_interface(SubnetId=self.subnets[zone])["NetworkInterface"][
            "NetworkInterfaceId"
        ]
        attachment = self.ec2.attach_network_interface(
            NetworkInterfaceId=eni_id, InstanceId=instance_id, DeviceIndex=device_index
        )["AttachmentId"]
        if delete_on_termination:
            self.ec2.modify_network_interface_attribute(
                NetworkInterfaceId=eni_id,
                Attachment={"AttachmentId": attachment, "DeleteOnTermination": True},
            )
        return eni_id

    def instance(self, instance_id: str) -> dict[str, Any]:
        described: dict[str, Any] = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
            "Instances"
        ][0]
        return described

    def enis_of(self, instance_id: str) -> list[str]:
        nics = sorted(
            self.instance(instance_id).get("NetworkInterfaces", []), key=lambda n: n["Attachment"]["DeviceIndex"]
        )
        return [n["NetworkInterfaceId"] for n in nics]

    def tags_of(self, instance_id: str) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in self.instance(instance_id).get("Tags", [])}

    def tag(self, instance_id: str, **tags: str) -> None:
        self.ec2.create_tags(Resources=[instance_id], Tags=_tag_list(tags))

    def untag(self, instance_id: str, *keys: str) -> None:
        self.ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": k} for k in keys])

    def stop(self, instance_id: str) -> None:
        self.ec2.stop_instances(InstanceIds=[instance_id])

    def start(self, instance_id: str) -> None:
        self.ec2.start_instances(InstanceIds=[instance_id])

    def terminate(self, instance_id: str) -> None:
        self.ec2.terminate_instances(InstanceIds=[instance_id])

    def group_with_launch_hook(
        self, group: str, hook: str, tags: Mapping[str, str], *, zone: str, desired: int, max_size: int
    ) -> list[str]:
        """An Auto Scaling group of m5.large from a launch template, in ``zone``'s subnet, whose ``tags`` propagate to
        the instances it launches, with a launch lifecycle hook (``launch_hook``); the IDs of the instances it
        launched, sorted."""
        self.ec2.create_launch_template(
            LaunchTemplateName=group, LaunchTemplateData={"ImageId": AMI, "InstanceType": "m5.large"}
        )
        self.autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=group,
            LaunchTemplate={"LaunchTemplateName": group},
            MinSize=0,
            MaxSize=max_size,
            DesiredCapacity=desired,
            VPCZoneIdentifier=self.subnets[zone],
            Tags=[{"Key": k, "Value": v, "PropagateAtLaunch": True} for k, v in tags.items()],
        )
        self.launch_hook(group, hook)
        groups = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
        return sorted(i["InstanceId"] for i in groups[0]["Instances"])

    def launch_hook(self, group: str, hook: str) -> None:
        """A launch lifecycle hook on ``group``: each new instance waits in Pending:Wait, up to 300 s, then CONTINUE.
        https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks.html"""
        self.autoscaling.put_lifecycle_hook(
            LifecycleHookName=hook,
            AutoScalingGroupName=group,
            LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING",
            DefaultResult="CONTINUE",
            HeartbeatTimeout=300,
        )

    # -- targets and filters -----------------------------------------------------------------------------------
    def eni_target(
        self,
        zone: str | None = None,
        instance_type: str = "c5.large",
        admit_vxlan_from: str | Sequence[str] | None = None,
    ) -> str:
        """An ENI target on a new appliance. As AWS launches it, the appliance is in its VPC's default security group,
        which admits only that group's own members (a rule preflight cannot judge: an advisory). With
        ``admit_vxlan_from`` it is in a group of its own instead, admitting UDP 4789 from those CIDRs ("vpc": the
        VPC's IPv4 CIDR, a single-VPC set-up)."""
        host = self.launch(instance_type, zone=zone)
        eni = self.enis_of(host)[0]
        if admit_vxlan_from is not None:
            vpc = self.vpc_of(self.subnets[zone or self.zones[0]])
            wanted = [admit_vxlan_from] if isinstance(admit_vxlan_from, str) else list(admit_vxlan_from)
            vpc_cidr = self.ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["CidrBlock"]
            cidrs = [vpc_cidr if cidr == "vpc" else cidr for cidr in wanted]
            group = self.ec2.create_security_group(
                GroupName=f"mirror-target-{uuid.uuid4().hex[:8]}", Description="VXLAN from the sources", VpcId=vpc
            )["GroupId"]
            self.ec2.authorize_security_group_ingress(
                GroupId=group,
                IpPermissions=[
                    {
                        "IpProtocol": "udp",
                        "FromPort": VXLAN_PORT,
                        "ToPort": VXLAN_PORT,
                        "IpRanges": [{"CidrIp": cidr} for cidr in cidrs],
                    }
                ],
            )
            self.ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, Groups=[group])
        target_id: str = self.ec2.create_traffic_mirror_target(
            NetworkInterfaceId=eni, Description=f"ENI target on {host}"
        )["TrafficMirrorTarget"]["TrafficMirrorTargetId"]
        return target_id

    def nlb_target(
        self,
        zones: list[str] | None = None,
        name: str = "mirror-nlb",
        udp_listener: bool = True,
        cross_zone: bool = False,
        security_groups: Sequence[str] = (),
        target_group_cross_zone: str | None = None,
    ) -> str:
        """An NLB target as AWS makes one: cross-zone load balancing off, no security groups, its target group
        deferring cross-zone to the load balancer; with the UDP listener on port 4789 (to a UDP target group) without
        which AWS mirrors nothing to it, silently. ``udp_listener=False`` leaves the NLB without listener;
        ``cross_zone`` turns it on at the load balancer, ``target_group_cross_zone`` sets the target group's
        attribute ("true", "false" or "use_load_balancer_configuration"); ``security_groups`` are given at creation
        (AWS allows none later when the NLB was made without).
        https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-targets.html#traffic-mirroring-targets-nlb
        """
        subnets = [self.subnets[z] for z in (zones or self.zones[:2])]
        groups = {"SecurityGroups": list(security_groups)} if security_groups else {}
        arn = self.elbv2.create_load_balancer(Name=name, Subnets=subnets, Type="network", **groups)["LoadBalancers"][0][
            "LoadBalancerArn"
        ]
        if cross_zone:
            self.elbv2.modify_load_balancer_attributes(
                LoadBalancerArn=arn, Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": "true"}]
            )
        if udp_listener:
            group = self.elbv2.create_target_group(
                Name=f"{name[:25]}-vxlan",
                Protocol="UDP",
                Port=VXLAN_PORT,
                VpcId=self.vpc_of(subnets[0]),
                TargetType="instance",
                HealthCheckProtocol="TCP",
            )["TargetGroups"][0]["TargetGroupArn"]
            if target_group_cross_zone is not None:
                self.elbv2.modify_target_group_attributes(
                    TargetGroupArn=group,
                    Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": target_group_cross_zone}],
                )
            self.elbv2.create_listener(
                LoadBalancerArn=arn,
                Protocol="UDP",
                Port=VXLAN_PORT,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
            )
        target_id: str = self.ec2.create_traffic_mirror_target(NetworkLoadBalancerArn=arn)["TrafficMirrorTarget"][
            "TrafficMirrorTargetId"
        ]
        return target_id

    def gwlb_endpoint_target(self, zone: str | None = None) -> str:
        """A Gateway Load Balancer endpoint target: the target on a new ``gwlb_endpoint(zone)``.
        https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-targets.html#traffic-mirroring-targets-gwlb
        """
        target_id: str = self.ec2.create_traffic_mirror_target(GatewayLoadBalancerEndpointId=self.gwlb_endpoint(zone))[
            "TrafficMirrorTarget"
        ]["TrafficMirrorTargetId"]
        return target_id

    def gwlb_endpoint(self, zone: str | None = None) -> str:
        """A Gateway Load Balancer (in every zone, GENEVE target group and listener), its endpoint service (no
        acceptance needed), and a ``GatewayLoadBalancer`` VPC endpoint in ``zone``'s subnet: the endpoint's ID."""
        zone = zone or self.zones[0]
        name = f"mirror-gwlb-{uuid.uuid4().hex[:8]}"
        subnets = [self.subnets[z] for z in self.zones]
        vpc_id = self.vpc_of(self.subnets[zone])
        arn = self.elbv2.create_load_balancer(Name=name, Subnets=subnets, Type="gateway")["LoadBalancers"][0][
            "LoadBalancerArn"
        ]
        group = self.elbv2.create_target_group(
            Name=f"{name}-geneve",
            Protocol="GENEVE",
            Port=6081,
            VpcId=vpc_id,
            TargetType="instance",
            HealthCheckProtocol="TCP",
            HealthCheckPort="80",
        )["TargetGroups"][0]["TargetGroupArn"]
        self.elbv2.create_listener(LoadBalancerArn=arn, DefaultActions=[{"Type": "forward", "TargetGroupArn": group}])
        service = self.ec2.create_vpc_endpoint_service_configuration(
            GatewayLoadBalancerArns=[arn], AcceptanceRequired=False
        )["ServiceConfiguration"]["ServiceName"]
        endpoint: str = self.ec2.create_vpc_endpoint(
            VpcEndpointType="GatewayLoadBalancer",
            VpcId=vpc_id,
            ServiceName=service,
            SubnetIds=[self.subnets[zone]],
        )["VpcEndpoint"]["VpcEndpointId"]
        return endpoint

    def kill_target(self, target_id: str) -> None:
        """Delete the resource behind a target, as someone may: the NLB, the Gateway Load Balancer endpoint, or the
        appliance of an ENI target (terminated when the ENI is its primary one, which goes with it; a secondary ENI is
        detached and deleted). AWS leaves the target and its sessions; it only stops mirroring.
        https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-targets.html (Note)
        """
        target = self.ec2.describe_traffic_mirror_targets(TrafficMirrorTargetIds=[target_id])["TrafficMirrorTargets"][0]
        if target.get("NetworkLoadBalancerArn"):
            self.elbv2.delete_load_balancer(LoadBalancerArn=target["NetworkLoadBalancerArn"])
        elif target.get("GatewayLoadBalancerEndpointId"):
            self.ec2.delete_vpc_endpoints(VpcEndpointIds=[target["GatewayLoadBalancerEndpointId"]])
        else:
            eni = self.ec2.describe_network_interfaces(NetworkInterfaceIds=[target["NetworkInterfaceId"]])[
                "NetworkInterfaces"
            ][0]
            attachment = eni.get("Attachment") or {}
            if attachment.get("InstanceId") and attachment.get("DeviceIndex") == 0:
                self.terminate(attachment["InstanceId"])
                return
            if attachment.get("AttachmentId"):
                self.ec2.detach_network_interface(AttachmentId=attachment["AttachmentId"])
            self.ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])

    def vpc_of(self, subnet_id: str) -> str:
        vpc_id: str = self.ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["VpcId"]
        return vpc_id

    def requester_managed_eni(self, requester_id: str = "amazon-rds", zone: str | None = None) -> str:
        """An ENI an AWS service created in our subnet (``RequesterManaged``), e.g. for an RDS DB instance.

        moto cannot create one through the API; the strict layer marks a new ENI in moto's backend, so this works
        in-process and with a ThreadedMotoServer in this process only.
        """
        eni_id: str = self.ec2.create_network_interface(
            SubnetId=self.subnets[zone or self.zones[0]], Description="RDSNetworkInterface"
        )["NetworkInterface"]["NetworkInterfaceId"]
        mark_requester_managed(eni_id, requester_id)
        return eni_id

    def mirror_filter(self) -> str:
        filter_id: str = self.ec2.create_traffic_mirror_filter(Description="accept all")["TrafficMirrorFilter"][
            "TrafficMirrorFilterId"
        ]
        return filter_id

    def filter_with_rules(self, *rules: Mapping[str, Any], description: str = "filter") -> str:
        """A filter with these rules (CreateTrafficMirrorFilterRule parameters); needs StrictAws (moto has no rules)."""
        filter_id: str = self.ec2.create_traffic_mirror_filter(Description=description)["TrafficMirrorFilter"][
            "TrafficMirrorFilterId"
        ]
        for rule in rules:
            self.ec2.create_traffic_mirror_filter_rule(TrafficMirrorFilterId=filter_id, **rule)
        return filter_id

    def accept_all_filter(self) -> str:
        """A filter that accepts every IPv4 and IPv6 packet, in and out (what the stack's default filter holds)."""
        return self.filter_with_rules(
            *(
                {
                    "TrafficDirection": direction,
                    "RuleNumber": number,
                    "RuleAction": "accept",
                    "SourceCidrBlock": cidr,
                    "DestinationCidrBlock": cidr,
                }
                for direction in ("ingress", "egress")
                for number, cidr in ((100, "0.0.0.0/0"), (200, "::/0"))
            ),
            description="accept all",
        )

    # -- sessions ----------------------------------------------------------------------------------------------
    def foreign_session(self, eni_id: str, target_id: str, filter_id: str, number: int) -> str:
        """A session someone else created: no marker tag of ours."""
        session_id: str = self.ec2.create_traffic_mirror_session(
            NetworkInterfaceId=eni_id,
            TrafficMirrorTargetId=target_id,
            TrafficMirrorFilterId=filter_id,
            SessionNumber=number,
            Description="created by the network team",
            TagSpecifications=[{"ResourceType": "traffic-mirror-session", "Tags": [{"Key": "team", "Value": "net"}]}],
        )["TrafficMirrorSession"]["TrafficMirrorSessionId"]
        return session_id

    def sessions(self, **filters: str) -> list[dict[str, Any]]:
        args: dict[str, Any] = {}
        if filters:
            args["Filters"] = [{"Name": k.replace("_", "-"), "Values": [v]} for k, v in filters.items()]
        found: list[dict[str, Any]] = []
        for page in self.ec2.get_paginator("describe_traffic_mirror_sessions").paginate(**args):
            found.extend(page["TrafficMirrorSessions"])
        return found

    def sessions_on(self, eni_id: str) -> list[dict[str, Any]]:
        return self.sessions(network_interface_id=eni_id)


@dataclass
class ApiCalls:
    """Counts the AWS API calls a client makes (one per operation call, retries not counted) and injects faults."""

    counts: Counter[str] = field(default_factory=Counter)
    log: list[str] = field(default_factory=list)
    faults: dict[int, str] = field(default_factory=dict)  # call position (1-based) → error code to raise
    fault_operations: dict[str, list[str]] = field(default_factory=dict)  # operation → codes for its next calls
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, *clients: Any) -> ApiCalls:
        for client in clients:
            client.meta.events.register("before-call.*.*", self._before_call)
        return self

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def fail_operation(self, operation: str, code: str, times: int = 1) -> None:
        self.fault_operations.setdefault(operation, []).extend([code] * times)

    def reset(self) -> None:
        self.counts.clear()
        self.log.clear()

    def _before_call(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.counts[model.name] += 1
            self.log.append(model.name)
            position = len(self.log)
            code = self.faults.pop(position, None)
            queued = self.fault_operations.get(model.name)
            if code is None and queued:
                code = queued.pop(0)
        if code is not None:
            raise ClientError({"Error": {"Code": code, "Message": f"injected at call {position}"}}, model.name)
