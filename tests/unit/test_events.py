"""Events are validated with errors that name the field; the instance is the only thing we take from them."""

import copy
import json

import pytest

from simulation.lambda_runtime import EVENTS  # the repository's samples, wherever this file is copied (make mutation)
from traffic_mirroring.config import Settings, load_settings
from traffic_mirroring.errors import EventValidationError
from traffic_mirroring.events import (
    TAG_CHANGE,
    InstanceTrigger,
    parse_autoscaling_launch,
    parse_guardduty_finding,
    parse_lifecycle_action,
    parse_network_interface_attached,
    parse_state_change,
    parse_tag_change,
)
from traffic_mirroring.triggers import INSTANCE_TAG_CHANGE

STATE = {
    "version": "0",
    "id": "e-1",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2026-11-24T10:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"],
    "detail": {"instance-id": "i-0123456789abcdef0", "state": "running"},
}


def test_state_change_gives_the_instance() -> None:
    assert parse_state_change(STATE).instance_id == "i-0123456789abcdef0"


def test_the_repository_s_samples_parse() -> None:
    """events/ holds AWS's published shapes (the EventBridge, Auto Scaling and GuardDuty guides' samples and a real
    captured state change), with this repository's IDs: each gives its instance."""
    load = lambda name: json.loads((EVENTS / name).read_text())  # noqa: E731
    assert parse_state_change(load("ec2-instance-running.json")).instance_id == "i-0123456789abcdef0"
    assert parse_tag_change(load("tag-change-mirror-added.json")).instance_id == "i-0123456789abcdef0"
    assert parse_autoscaling_launch(load("autoscaling-launch-successful.json")).instance_id == "i-0123456789abcdef0"
    action = parse_lifecycle_action(load("autoscaling-launch-lifecycle-action.json"))
    assert (action.group_name, action.hook_name) == ("web-asg", "mirror-before-in-service")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e["detail"].pop("instance-id"), "detail.instance-id is missing"),
        (lambda e: e["detail"].update({"instance-id": 42}), "detail.instance-id must be a non-empty string"),
        (lambda e: e["detail"].update({"instance-id": "vol-123"}), "detail.instance-id is not an EC2 instance ID"),
        (lambda e: e.pop("detail"), "detail is missing"),
        (lambda e: e.update({"detail": []}), "detail must be an object"),
        (lambda e: e.update({"detail-type": "Something Else"}), "detail-type is 'Something Else'"),
        (lambda e: e.pop("detail-type"), "detail-type is missing"),
    ],
)
def test_malformed_state_change_names_the_field(mutate, message) -> None:
    event = copy.deepcopy(STATE)
    mutate(event)
    with pytest.raises(EventValidationError, match=message):
        parse_state_change(event)


def test_not_an_object() -> None:
    with pytest.raises(EventValidationError, match="must be a JSON object"):
        parse_state_change(["nope"])


def test_leading_space_in_instance_id_is_tolerated() -> None:
    event = copy.deepcopy(STATE)
    event["detail"]["instance-id"] = " i-0123456789abcdef0"
    assert parse_state_change(event).instance_id == "i-0123456789abcdef0"


def test_tag_change_for_another_resource_type_is_rejected() -> None:
    event = {
        "detail-type": "Tag Change on Resource",
        "id": "x",
        "resources": ["arn:aws:ec2:us-east-1:123456789012:volume/vol-1"],
        "detail": {"service": "ec2", "resource-type": "volume", "changed-tag-keys": ["mirror"], "tags": {}},
    }
    with pytest.raises(EventValidationError, match="not an EC2 instance"):
        parse_tag_change(event)


def test_tag_change_needs_the_instance_arn() -> None:
    event = {
        "detail-type": "Tag Change on Resource",
        "id": "x",
        "resources": [],
        "detail": {"service": "ec2", "resource-type": "instance", "changed-tag-keys": ["mirror"], "tags": {}},
    }
    with pytest.raises(EventValidationError, match="resources"):
        parse_tag_change(event)


# -- GuardDuty findings, CloudTrail AttachNetworkInterface, tag keys --------------------------------------------------


def _load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def test_guardduty_finding_gives_what_decides_the_window() -> None:
    finding = parse_guardduty_finding(_load("guardduty-finding-ec2.json"))

    assert finding.instance_id == "i-0123456789abcdef0"
    assert (finding.severity, finding.account_id, finding.resource_type) == (8.0, "123456789012", "Instance")
    assert finding.label == "Backdoor:EC2/C&CActivity.B!DNS 16afba5c5c43e07c9e3e5e2e544e95df"
    assert (finding.sample, finding.region) == (False, "us-east-1")


@pytest.mark.parametrize(
    "additional_info",
    [
        {"sample": True},
        {"sample": "true"},
        {"sample": True, "type": "default", "value": '{"sample":true}'},
        {"type": "default", "value": '{"sample":true}'},
    ],
)
def test_sample_findings_are_recognised(additional_info: dict) -> None:
    event = _load("guardduty-finding-ec2.json")
    event["detail"]["service"]["additionalInfo"] = additional_info
    assert parse_guardduty_finding(event).sample


@pytest.mark.parametrize(
    "additional_info", [{}, {"sample": False}, {"value": "not json"}, {"value": '{"threatListName": "x"}'}, None]
)
def test_real_findings_are_no_samples(additional_info: dict | None) -> None:
    event = _load("guardduty-finding-ec2.json")
    event["detail"]["service"]["additionalInfo"] = additional_info
    assert not parse_guardduty_finding(event).sample


def test_a_finding_on_another_resource_or_without_instance_id_names_no_instance() -> None:
    access_key = _load("guardduty-finding-ec2.json")
    access_key["detail"]["resource"] = {"resourceType": "AccessKey", "accessKeyDetails": {"userName": "ci"}}
    no_id = _load("guardduty-finding-ec2.json")
    del no_id["detail"]["resource"]["instanceDetails"]["instanceId"]

    assert parse_guardduty_finding(access_key).instance_id is None
    assert parse_guardduty_finding(access_key).resource_type == "AccessKey"
    assert parse_guardduty_finding(no_id).instance_id is None


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update({"severity": "8"}), "detail.severity must be a number"),
        (lambda d: d.update({"severity": True}), "detail.severity must be a number"),
        (lambda d: d.pop("severity"), "detail.severity is missing"),
        (lambda d: d.pop("id"), "detail.id is missing"),
        (lambda d: d.pop("type"), "detail.type is missing"),
        (lambda d: d.pop("accountId"), "detail.accountId is missing"),
        (lambda d: d.pop("resource"), "detail.resource is missing"),
        (lambda d: d["resource"].pop("resourceType"), "detail.resource.resourceType is missing"),
        (lambda d: d["resource"]["instanceDetails"].update({"instanceId": "vol-1"}), "not an EC2 instance ID"),
    ],
)
def test_malformed_finding_names_the_field(mutate, message) -> None:
    event = _load("guardduty-finding-ec2.json")
    mutate(event["detail"])
    with pytest.raises(EventValidationError, match=message):
        parse_guardduty_finding(event)


# -- archived findings and attack sequences ---------------------------------------------------------------------
@pytest.mark.parametrize(("archived", "expected"), [(True, True), (False, False), (None, False), ("true", False)])
def test_an_archived_finding_is_recognised(archived: object, expected: bool) -> None:
    event = _load("guardduty-finding-ec2.json")
    if archived is None:
        del event["detail"]["service"]["archived"]
    else:
        event["detail"]["service"]["archived"] = archived
    assert parse_guardduty_finding(event).archived is expected


SEQUENCE = "guardduty-attack-sequence-ec2.json"
GROUP = ("i-0123456789abcdef0", "i-0123456789abcdef1", "i-0123456789abcdef2")


def _instances(event: dict) -> list[dict]:
    resources = event["detail"]["service"]["detection"]["sequence"]["resources"]
    return [r for r in resources if r["resourceType"] == "EC2_INSTANCE"]


def test_an_attack_sequence_names_every_instance_of_its_sequence() -> None:
    finding = parse_guardduty_finding(_load(SEQUENCE))

    assert finding.instance_ids == GROUP  # not the ENI, nor the Auto Scaling group it also names
    assert finding.attack_sequence
    assert finding.label == "AttackSequence:EC2/CompromisedInstanceGroup 7ac9e0b4d2f14b6a8c3e5d7f9a1b3c5d"
    assert (finding.severity, finding.archived, finding.left_out) == (9.0, False, ())


# The resource of an attack sequence is documented as "Resources involved in attack sequence" only: every shape.
@pytest.mark.parametrize(
    ("resource", "resource_type", "first"),
    [
        (None, "", GROUP[0]),
        ({}, "", GROUP[0]),
        ({"resourceType": "Instance"}, "Instance", GROUP[0]),
        ({"resourceType": "Instance", "instanceDetails": {"instanceId": GROUP[1]}}, "Instance", GROUP[1]),
        ({"resourceType": "Instance", "instanceDetails": {"instanceId": "i-0fedcba9876543210"}}, "Instance", None),
        ({"resourceType": "AccessKey", "accessKeyDetails": {"userName": "ci"}}, "AccessKey", GROUP[0]),
    ],
    ids=["no-resource", "empty", "instance-without-details", "instance-of-the-group", "one-more-instance", "other"],
)
def test_an_attack_sequence_s_own_resource_may_have_any_shape(
    resource: dict | None, resource_type: str, first: str | None
) -> None:
    event = _load(SEQUENCE)
    if resource is None:
        del event["detail"]["resource"]
    else:
        event["detail"]["resource"] = resource
    finding = parse_guardduty_finding(event)
    assert finding.resource_type == resource_type
    expected = tuple(dict.fromkeys((first or "i-0fedcba9876543210", *GROUP)))
    assert finding.instance_ids == expected  # the finding's own instance first, no repeats


def test_a_sequence_resource_may_name_its_instance_by_arn() -> None:
    event = _load(SEQUENCE)
    first, second, _ = _instances(event)
    first["uid"] = "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"
    del second["accountId"], second["region"]
    assert parse_guardduty_finding(event).instance_ids == GROUP


def test_instances_of_another_account_or_region_or_unreadable_are_left_out() -> None:
    event = _load(SEQUENCE)
    first, second, third = _instances(event)
    first["accountId"] = "210987654321"
    second["uid"] = "arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef1"
    third["uid"] = "web-3"
    finding = parse_guardduty_finding(event)
    assert finding.instance_ids == ()
    assert finding.left_out == (
        "i-0123456789abcdef0: account 210987654321",
        "i-0123456789abcdef1: Region eu-west-1",
        "web-3: not an EC2 instance ID",
    )


def test_a_sequence_without_resources_names_no_instance() -> None:
    event = _load(SEQUENCE)
    event["detail"]["type"] = "AttackSequence:S3/CompromisedData"
    del event["detail"]["service"]["detection"]["sequence"]["resources"]
    assert parse_guardduty_finding(event).instance_ids == ()


def test_attach_network_interface_gives_the_instance() -> None:
    trigger = parse_network_interface_attached(_load("cloudtrail-attach-network-interface.json"))

    assert (trigger.instance_id, trigger.detail_type, trigger.region) == (
        "i-0123456789abcdef0",
        "AWS API Call via CloudTrail",
        "us-east-1",
    )
    assert trigger.changed_tag_keys is None


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update({"eventName": "DetachNetworkInterface"}), "DetachNetworkInterface"),
        (lambda d: d.update({"eventSource": "ecs.amazonaws.com"}), "ecs.amazonaws.com"),
        (lambda d: d.update({"requestParameters": None}), "detail.requestParameters must be an object"),
        (lambda d: d["requestParameters"].pop("instanceId"), "detail.requestParameters.instanceId is missing"),
        (lambda d: d["requestParameters"].update({"instanceId": "eni-1"}), "not an EC2 instance ID"),
    ],
)
def test_malformed_attach_call_names_the_field(mutate, message) -> None:
    event = _load("cloudtrail-attach-network-interface.json")
    mutate(event["detail"])
    with pytest.raises(EventValidationError, match=message):
        parse_network_interface_attached(event)


def test_tag_change_carries_its_changed_keys() -> None:
    event = _load("tag-change-mirror-added.json")
    event["detail"]["changed-tag-keys"] = ["mirror", "Name"]
    assert parse_tag_change(event).changed_tag_keys == ("mirror", "Name")
    event["detail"]["changed-tag-keys"] = ["mirror", 3]
    with pytest.raises(EventValidationError, match="list of tag keys"):
        parse_tag_change(event)


def tag_change_matters(keys: tuple[str, ...], settings: Settings) -> bool:
    """Whether the tag-change function acts on a change of these keys (its entry in the registry decides)."""
    change = InstanceTrigger("i-0123456789abcdef0", TAG_CHANGE, "e-1", changed_tag_keys=keys)
    return INSTANCE_TAG_CHANGE.acts_on(change, settings)


SELECTING = load_settings({"FILTER_ID": "tmf-0", "MIRROR_SELECTORS": "eks:cluster-name=prod,team=sec*,vpc-0abc"})


@pytest.mark.parametrize(
    ("keys", "matters"),
    [
        (("mirror",), True),
        (("mirror-until",), True),
        (("mirror-target",), True),
        (("mirror-filter",), True),
        (("eks:cluster-name",), True),
        (("team",), True),
        (("Name", "team"), True),
        (("mirror-status",), False),
        (("mirror-status", "mirror-generation"), False),
        (("mirror-finding",), False),
        (("Name", "eks:nodegroup-name"), False),
        (("vpc-0abc",), False),  # a VPC selector is no tag key
        ((), False),
    ],
)
def test_a_tag_change_matters_when_a_key_can_change_what_is_mirrored(keys: tuple[str, ...], matters: bool) -> None:
    assert tag_change_matters(keys, SELECTING) is matters


def test_without_selectors_only_the_mirroring_keys_matter() -> None:
    plain = load_settings({"FILTER_ID": "tmf-0", "MIRROR_TAG_KEY": "monitor"})
    assert tag_change_matters(("monitor",), plain)
    assert not tag_change_matters(("mirror",), plain)
    assert not tag_change_matters(("eks:cluster-name",), plain)
