"""`make demo`'s entry point, judged by the simulated account it leaves behind, not by its exit code."""

from __future__ import annotations

from typing import Any

import pytest
from moto.ec2.models.instance_types import INSTANCE_TYPES

from simulation import demo
from simulation.strict_aws import aws_supports_source

MANAGED = {"Key": "mirror-managed-by", "Value": demo.STACK}


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, value in demo.DEMO_ENVIRONMENT.items():
            monkeypatch.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        return demo.run(demo.Printer())


def tags(described: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in described.get("Tags", [])}


def wanted(described: dict[str, Any]) -> bool:
    """Whether AWS's rules (the strict layer's own copy, not the product's) say this instance should be mirrored."""
    itype = described["InstanceType"]
    facts = INSTANCE_TYPES[itype]
    return (
        described["State"]["Name"] == "running"
        and tags(described).get("mirror", "").lower() == "true"
        and aws_supports_source(itype, facts.get("Hypervisor"), bool(facts.get("BareMetal")))
    )


def enis(described: dict[str, Any]) -> list[str]:
    return [n["NetworkInterfaceId"] for n in described.get("NetworkInterfaces", [])]


def test_demo_ends_with_every_tagged_supported_instance_mirrored_and_no_orphan(result: dict[str, Any]) -> None:
    assert result["failures"] == []
    assert len(result["names"]) >= 20
    zones = {d["Placement"]["AvailabilityZone"] for d in result["instances"].values()}
    assert len(zones) == 2
    ours = [s for s in result["sessions"] if MANAGED in s.get("Tags", [])]
    by_eni = {s["NetworkInterfaceId"]: s for s in ours}
    assert len(by_eni) == len(ours), "one managed session per ENI"
    live_enis: set[str] = set()
    for instance_id, described in result["instances"].items():
        for eni in enis(described):
            foreign = [s for s in result["sessions"] if s["NetworkInterfaceId"] == eni and s not in ours]
            if wanted(described) and len(foreign) < 3:
                assert eni in by_eni, f"{result['names'][instance_id]} {eni} is not mirrored"
                assert by_eni[eni]["TrafficMirrorTargetId"] != result["retired"]
                taken = {s["SessionNumber"] for s in foreign}
                assert by_eni[eni]["SessionNumber"] == min(set(range(1, 5)) - taken), "lowest free session number"
            if eni in by_eni:
                live_enis.add(eni)
                assert wanted(described), f"{result['names'][instance_id]} keeps a session it should not"
    assert set(by_eni) == live_enis, "no managed session on a detached ENI or a gone instance"
    assert result["foreign_before"] != {}
    assert result["foreign_after"] == result["foreign_before"], "sessions of others untouched"


def test_the_story_covers_every_day_later_case(result: dict[str, Any]) -> None:
    plan = result["plan"]
    assert {c.reason for c in plan.creates} == {"missing-session"}  # the session deleted by hand
    # a lost tag event, a lost termination event
    assert {d.reason for d in plan.deletes} == {"tag-removed", "instance-terminated"}
    assert {u.reason for u in plan.updates} == {"target-retired"}
    assert {s.reason for s in plan.skips} == {"unsupported-instance-type", "eni-session-limit"}
    assert result["summary"]["sessions_created"] == len(plan.creates)
    assert result["summary"]["sessions_moved"] == len(plan.updates)
    assert result["cost"]["after"] < result["cost"]["before"]


def test_instances_launched_by_the_auto_scaling_group_are_mirrored_by_its_launch_event(
    result: dict[str, Any],
) -> None:
    asg = result["asg_instances"]
    assert len(asg) == demo.ASG_SIZE
    assert result["delivered"]["AutoScalingLaunchFunction"] == demo.ASG_SIZE
    launched = result["after_launch"]
    ours_then = {s["NetworkInterfaceId"] for s in launched["sessions"] if MANAGED in s.get("Tags", [])}
    for instance_id in asg:
        described = launched["instances"][instance_id]
        # The group's tag reached the instance through PropagateAtLaunch; the one without it did not.
        assert tags(described)["aws:autoscaling:groupName"] == demo.ASG_NAME
        assert tags(described)["mirror"] == "true"
        assert "team" not in tags(described)
        assert set(enis(described)) <= ours_then, f"{result['names'][instance_id]} not mirrored after its launch"
        assert tags(described)["mirror-status"] == "mirrored"
