"""A GuardDuty finding opens a mirroring window on the instances it names (``incident.respond``), against the in-memory
AWS (``fake_port``): the finding's tags are written, then each instance is reconciled through the same port."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.builders import SETTINGS, instance
from tests.unit.fake_port import CREATE, CREATE_TAGS, usual_account
from traffic_mirroring.errors import MirroringFailed
from traffic_mirroring.events import GUARDDUTY_FINDING, GuardDutyFinding
from traffic_mirroring.incident import IncidentSettings, WindowVerdict, respond
from traffic_mirroring.model import Reason

# The reconcile judges the window by the clock (``inventory.read_at``): the finding arrives now.
NOW = datetime.now(UTC).replace(microsecond=0)
IN_24H = (NOW + timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%SZ")
INCIDENT = IncidentSettings(min_severity=7.0, mirror_hours=24.0)
FINDING_UNTIL, FINDING_TAG = SETTINGS.finding_until_tag_key, SETTINGS.finding_tag_key
LABEL = "Backdoor:EC2/C&CActivity.B!DNS f-1"


def finding(*instance_ids: str) -> GuardDutyFinding:
    return GuardDutyFinding(
        finding_id="f-1",
        finding_type="Backdoor:EC2/C&CActivity.B!DNS",
        severity=8.0,
        account_id="",
        resource_type="Instance",
        instance_ids=instance_ids,
        sample=False,
        event_id="e-1",
    )


def test_a_finding_opens_a_window_and_mirrors_an_instance_nobody_tagged() -> None:
    # Given a running instance without the mirror tag
    fake = usual_account(instance("i-1", tags={}))
    # When a finding on it is answered
    answer = respond(finding("i-1"), fake, SETTINGS, INCIDENT, now=NOW)
    # Then the finding's window is on the instance (24 hours, with the finding's name), the owner's tags untouched
    assert fake.instance_tags["i-1"][FINDING_UNTIL] == IN_24H
    assert fake.instance_tags["i-1"][FINDING_TAG] == LABEL
    assert "mirror" not in fake.instance_tags["i-1"]
    # And its ENI is mirrored in this invocation, with its status
    assert [(s.eni_id, s.target_id) for s in fake.sessions.values()] == [("eni-1", "tmt-a")]
    assert fake.instance_tags["i-1"][SETTINGS.status_tag_key] == Reason.MIRRORED
    # And the answer carries the reconcile's report with the window
    report = answer["instances"]["i-1"]
    assert report["incident_window"] == {"verdict": WindowVerdict.OPENED, "until": IN_24H}
    assert report["sessions_created"] == 1 and answer["trigger"] == GUARDDUTY_FINDING


def test_instances_that_get_the_same_window_are_tagged_in_one_call() -> None:
    fake = usual_account(instance("i-1", tags={}), instance("i-2", tags={}, enis=("eni-2",)))
    respond(finding("i-1", "i-2"), fake, SETTINGS, INCIDENT, now=NOW)
    window_tags = [c.params for c in fake.calls if c.operation == CREATE_TAGS and FINDING_UNTIL in c.params["tags"]]
    assert window_tags == [{"instance_ids": ["i-1", "i-2"], "tags": {FINDING_UNTIL: IN_24H, FINDING_TAG: LABEL}}]
    assert {s.eni_id for s in fake.sessions.values()} == {"eni-1", "eni-2"}


def test_a_finding_on_an_instance_that_is_gone_is_ignored_and_writes_nothing() -> None:
    fake = usual_account()
    answer = respond(finding("i-gone"), fake, SETTINGS, INCIDENT, now=NOW)
    assert answer == {"trigger": GUARDDUTY_FINDING, "ignored": "the finding's instance does not exist (any more)"}
    assert fake.operations() == ["DescribeInstances"]


def test_one_instance_failing_does_not_stop_the_others_and_the_failure_is_raised_at_the_end() -> None:
    # Given two instances, and AWS throttling every create on the first one's ENI
    fake = usual_account(instance("i-1", tags={}), instance("i-2", tags={}, enis=("eni-2",)))
    fake.fail(CREATE, "RequestLimitExceeded", times=99, when=lambda params: params["eni_id"] == "eni-1")
    # When the finding is answered
    with pytest.raises(MirroringFailed):
        respond(finding("i-1", "i-2"), fake, SETTINGS, INCIDENT, now=NOW)
    # Then the second instance is mirrored all the same, and both keep their window (a retry finds them tagged)
    assert [s.eni_id for s in fake.sessions.values()] == ["eni-2"]
    assert fake.instance_tags["i-1"][FINDING_UNTIL] == fake.instance_tags["i-2"][FINDING_UNTIL] == IN_24H
