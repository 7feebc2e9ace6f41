"""Events are validated with errors that name the field; the instance is the only thing we take from them."""

import copy
import json
from pathlib import Path

import pytest

from traffic_mirroring.errors import EventValidationError
from traffic_mirroring.events import (
    parse_autoscaling_launch,
    parse_lifecycle_action,
    parse_state_change,
    parse_tag_change,
)

SHARED = Path(__file__).resolve().parents[3] / "shared" / "aws-events"
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


def test_real_shared_samples_parse() -> None:
    if not SHARED.exists():
        pytest.skip("shared/ not beside the repo")
    load = lambda name: json.loads((SHARED / name).read_text())  # noqa: E731
    assert parse_state_change(load("ec2-state-change-running.json")).instance_id == "i-0533ccc4be7f511af"
    assert parse_tag_change(load("tag-change-on-resource.json")).instance_id == "i-0000000aaaaaaaaaa"
    assert parse_autoscaling_launch(load("autoscaling-launch-successful.json")).instance_id == "i-1234567890abcdef0"
    action = parse_lifecycle_action(load("autoscaling-launch-lifecycle-action.json"))
    assert (action.group_name, action.hook_name) == ("my-asg", "my-launch-lifecycle-hook")


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
