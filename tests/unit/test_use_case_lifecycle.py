"""Auto Scaling's launch lifecycle hook (``lifecycle.mirror_then_complete``) against the in-memory AWS (``fake_port``):
the launching instance is mirrored, then its lifecycle action is completed through the same port."""

from __future__ import annotations

import pytest

from tests.builders import SETTINGS, instance
from tests.unit.fake_port import COMPLETE_LIFECYCLE_ACTION, CREATE, usual_account
from traffic_mirroring.errors import MirroringFailed
from traffic_mirroring.events import LifecycleAction
from traffic_mirroring.lifecycle import ABANDON, CONTINUE, LifecycleSettings, mirror_then_complete
from traffic_mirroring.model import Reason

ACTION = LifecycleAction(instance_id="i-1", group_name="web", hook_name="mirror", token="tok-1", event_id="e-1")
STRICT = LifecycleSettings(failure_result=ABANDON)


def test_the_launching_instance_is_mirrored_before_the_group_is_told_to_continue() -> None:
    # Given a launching instance tagged to be mirrored (in Auto Scaling's Pending:Wait, EC2 says running)
    fake = usual_account(instance())
    # When its lifecycle action is handled
    result = mirror_then_complete(ACTION, fake, SETTINGS, STRICT)
    # Then its ENI has its session, and only then is the action completed with CONTINUE
    assert [(s.eni_id, s.target_id) for s in fake.sessions.values()] == [("eni-1", "tmt-a")]
    assert fake.lifecycle_results == {"i-1": CONTINUE}
    assert fake.operations().index(CREATE) < fake.operations().index(COMPLETE_LIFECYCLE_ACTION)
    (complete,) = [c.params for c in fake.calls if c.operation == COMPLETE_LIFECYCLE_ACTION]
    assert complete == {
        "group_name": "web",
        "hook_name": "mirror",
        "token": "tok-1",
        "instance_id": "i-1",
        "result": CONTINUE,
    }
    assert result.summary["sessions_created"] == 1


def test_an_instance_the_planner_cannot_mirror_continues_with_its_reason_in_its_status() -> None:
    fake = usual_account(instance(itype="t2.micro"))
    fake.verdicts.learn("t2.micro", supported=False)  # AWS refused it as a source before
    mirror_then_complete(ACTION, fake, SETTINGS, STRICT)
    assert fake.sessions == {}
    assert fake.instance_tags["i-1"][SETTINGS.status_tag_key] == Reason.UNSUPPORTED_INSTANCE_TYPE
    assert fake.lifecycle_results == {"i-1": CONTINUE}


def test_a_failed_mirroring_completes_with_the_configured_result_and_is_raised() -> None:
    # Given AWS throttling every create (past the retries)
    fake = usual_account(instance())
    fake.fail(CREATE, "RequestLimitExceeded", times=99)
    # When the lifecycle action is handled under LifecycleFailureResult ABANDON
    with pytest.raises(MirroringFailed):
        mirror_then_complete(ACTION, fake, SETTINGS, STRICT)
    # Then the group is told to abandon the instance, and nothing is left mirrored
    assert fake.lifecycle_results == {"i-1": ABANDON}
    assert fake.sessions == {}


def test_an_action_already_completed_is_no_failure() -> None:
    # Given Auto Scaling no longer waits (an earlier delivery of the event completed it)
    fake = usual_account(instance())
    fake.fail(COMPLETE_LIFECYCLE_ACTION, "ValidationError", "No active Lifecycle Action found with instance ID i-1")
    # When the lifecycle action is handled again
    result = mirror_then_complete(ACTION, fake, SETTINGS, STRICT)
    # Then the instance is mirrored and nothing is raised
    assert [s.eni_id for s in fake.sessions.values()] == ["eni-1"]
    assert result.outcome.final_status == {"i-1": Reason.MIRRORED}
