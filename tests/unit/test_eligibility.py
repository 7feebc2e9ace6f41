"""Which instance types can be a Traffic Mirroring source: the documented rule, as a table."""

import pytest

from traffic_mirroring.eligibility import InstanceTypeInfo, is_supported_source

# (type, hypervisor, bare metal) as DescribeInstanceTypes reports them
FACTS = {
    "m5.large": ("nitro", False),
    "c5n.18xlarge": ("nitro", False),
    "t3.micro": ("nitro", False),
    "c4.large": ("xen", False),
    "i3.large": ("xen", False),
    "t2.micro": ("xen", False),
    "m6i.large": ("nitro", False),
    "m7g.large": ("nitro", False),
    "c6gn.large": ("nitro", False),
    "m5.metal": (None, True),
    "r3.large": ("xen", False),
}


def info(instance_type: str) -> InstanceTypeInfo:
    hypervisor, metal = FACTS[instance_type]
    return InstanceTypeInfo(instance_type, hypervisor, metal)


@pytest.mark.parametrize(
    ("instance_type", "supported"),
    [
        ("m5.large", True),
        ("c5n.18xlarge", True),
        ("t3.micro", True),
        ("c4.large", True),
        ("i3.large", True),
        ("t2.micro", False),
        ("m6i.large", False),
        ("m7g.large", False),
        ("c6gn.large", False),
        ("m5.metal", False),
        ("r3.large", False),
    ],
)
def test_documented_rule(instance_type: str, supported: bool) -> None:
    assert is_supported_source(info(instance_type)) is supported


def test_bare_metal_is_never_supported_even_when_reported_as_nitro() -> None:
    assert not is_supported_source(InstanceTypeInfo("m5.metal", "nitro", True))


def test_unknown_hypervisor_is_not_supported() -> None:
    assert not is_supported_source(InstanceTypeInfo("z9.large", None, False))


def test_operator_can_allow_a_family_aws_added_later() -> None:
    assert is_supported_source(info("m6i.large"), allow={"m6i"})


def test_operator_can_deny_a_single_type() -> None:
    assert not is_supported_source(info("m5.large"), deny={"m5.large"})
    assert is_supported_source(InstanceTypeInfo("m5.xlarge", "nitro", False), deny={"m5.large"})


def test_exact_type_beats_family_and_deny_beats_allow() -> None:
    assert is_supported_source(info("m6i.large"), allow={"m6i.large"}, deny={"m6i"})
    assert not is_supported_source(info("m5.large"), allow={"m5.large"}, deny={"m5.large"})
