"""`make demo`'s entry point, judged by the simulated account it leaves behind, not by its exit code."""

from __future__ import annotations

import pytest
from moto.ec2.models.instance_types import INSTANCE_TYPES

from simulation import demo
from simulation.strict_aws import aws_supports_source


def test_demo_ends_with_every_tagged_supported_instance_mirrored_and_no_orphan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in demo.DEMO_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    result = demo.run(demo.Printer())

    assert result["failures"] == []
    ours = [s for s in result["sessions"] if {"Key": "mirror-managed-by", "Value": demo.STACK} in s.get("Tags", [])]
    by_eni = {s["NetworkInterfaceId"]: s for s in ours}
    assert len(by_eni) == len(ours), "one managed session per ENI"
    live_enis: set[str] = set()
    for instance_id, described in result["instances"].items():
        tags = {t["Key"]: t["Value"] for t in described.get("Tags", [])}
        itype = described["InstanceType"]
        facts = INSTANCE_TYPES[itype]
        wanted = (
            described["State"]["Name"] == "running"
            and tags.get("mirror", "").lower() == "true"
            and aws_supports_source(itype, facts.get("Hypervisor"), bool(facts.get("BareMetal")))
        )
        enis = [n["NetworkInterfaceId"] for n in described.get("NetworkInterfaces", [])]
        for eni in enis:
            foreign = [s for s in result["sessions"] if s["NetworkInterfaceId"] == eni and s not in ours]
            if wanted and len(foreign) < 3:
                assert eni in by_eni, f"{result['names'][instance_id]} {eni} is not mirrored"
                assert by_eni[eni]["TrafficMirrorTargetId"] != result["retired"]
            if eni in by_eni:
                live_enis.add(eni)
                assert wanted, f"{result['names'][instance_id]} keeps a session it should not"
    assert set(by_eni) == live_enis, "no managed session on a detached ENI or a gone instance"
    assert result["foreign_after"] != {} and all(
        result["foreign_after"].get(k) == v for k, v in result["foreign_before"].items()
    )
