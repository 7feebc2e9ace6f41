"""Reconcile, the use case every trigger ends in, against the in-memory AWS (``fake_port``): one instance (an event)
and the whole account (the schedule), read, planned, applied and reported through ``ports.ReconcilePort``."""

from __future__ import annotations

from dataclasses import replace

from tests.builders import FILTER, OURS, SETTINGS, instance
from tests.unit.fake_port import CREATE, DELETE, DESCRIBE_TARGETS, FakeAws, usual_account
from traffic_mirroring.events import STATE_CHANGE, TAG_CHANGE
from traffic_mirroring.model import Reason
from traffic_mirroring.reconcile import reconcile_account, reconcile_instance

STATUS = SETTINGS.status_tag_key
UNTAGGED = instance("i-2", tags={}, enis=("eni-2",))


def ours(fake: FakeAws, instance_id: str, eni_id: str, target_id: str = "tmt-a", number: int = 1) -> str:
    """A session an earlier run made for the instance; its ID."""
    tags = {**OURS, SETTINGS.instance_tag_key: instance_id}
    description = SETTINGS.session_description(instance_id)
    return fake.existing_session(eni_id, target_id, FILTER, number, tags, description=description).session_id


def mirrored(fake: FakeAws) -> dict[str, str]:
    """ENI → the target of the session on it, for every session that exists."""
    return {s.eni_id: s.target_id for s in fake.sessions.values()}


# -- one instance (an event) -------------------------------------------------------------------------------------
def test_an_instance_tagged_to_be_mirrored_gets_a_session_on_the_target_in_its_zone_and_its_status() -> None:
    # Given a running m5.large in zone-a tagged mirror=true, no session yet
    fake = usual_account(instance())
    # When its state-change event is reconciled
    result = reconcile_instance("i-1", fake, SETTINGS, STATE_CHANGE)
    # Then its ENI mirrors to tmt-a (the pool's ENI target in its zone) with number 1, and it is tagged mirrored
    (session,) = fake.sessions.values()
    assert (session.eni_id, session.target_id, session.filter_id, session.session_number) == (
        "eni-1",
        "tmt-a",
        "tmf-1",
        1,
    )
    assert SETTINGS.owns(session) and session.tags[SETTINGS.instance_tag_key] == "i-1"
    assert fake.descriptions[session.session_id] == SETTINGS.session_description("i-1")
    assert fake.instance_tags["i-1"][STATUS] == Reason.MIRRORED
    # And the report counts it
    assert result.outcome.created == [session]
    assert result.summary["sessions_created"] == 1 and result.summary["sessions_managed"] == 1
    assert result.summary["trigger"] == STATE_CHANGE


def test_an_instance_whose_tag_was_removed_loses_its_session_and_its_status_tag() -> None:
    # Given i-2, mirrored by an earlier run, whose mirror tag was removed since (its status tag is still there)
    fake = usual_account(replace(UNTAGGED, tags={STATUS: Reason.MIRRORED}))
    ours(fake, "i-2", "eni-2")
    # When its tag-change event is reconciled
    result = reconcile_instance("i-2", fake, SETTINGS, TAG_CHANGE)
    # Then its session is deleted and so is its status tag
    assert fake.sessions == {}
    assert STATUS not in fake.instance_tags["i-2"]
    assert result.summary["sessions_deleted"] == {Reason.TAG_REMOVED: 1}
    assert result.summary["sessions_managed"] == 0


def test_a_terminated_instance_s_sessions_are_found_by_their_description_and_deleted() -> None:
    # Given a terminated instance (it lists no ENI) whose secondary ENI survived it with our session
    fake = usual_account(instance("i-3", state="terminated", enis=()))
    kept = ours(fake, "i-3", "eni-3")
    fake.existing_session("eni-9", "tmt-a", "tmf-1", 1, {"team": "net"})  # another team's: not ours to judge
    # When its state-change event is reconciled
    result = reconcile_instance("i-3", fake, SETTINGS, STATE_CHANGE)
    # Then our session is deleted, the other team's stays, and no target was read (nothing to place)
    assert kept not in fake.sessions and mirrored(fake) == {"eni-9": "tmt-a"}
    assert sum(result.outcome.deleted.values()) == 1
    assert DESCRIBE_TARGETS not in fake.operations()


def test_an_instance_already_mirrored_costs_no_write() -> None:
    fake = usual_account(instance(tags={"mirror": "true", STATUS: Reason.MIRRORED}))
    ours(fake, "i-1", "eni-1")
    result = reconcile_instance("i-1", fake, SETTINGS, STATE_CHANGE)
    assert CREATE not in fake.operations() and DELETE not in fake.operations()
    assert result.summary["sessions_managed"] == 1 and result.summary["sessions_created"] == 0


# -- the whole account (the schedule) ----------------------------------------------------------------------------
def test_the_account_run_mirrors_every_tagged_instance_and_removes_what_is_no_longer_wanted() -> None:
    # Given two tagged instances without sessions, one in each zone, and i-2 untagged with a session of an earlier run
    in_b = instance("i-4", enis=("eni-4",), zone="zone-b")
    fake = usual_account(instance(), in_b, replace(UNTAGGED, tags={STATUS: Reason.MIRRORED}))
    ours(fake, "i-2", "eni-2", target_id="tmt-nlb")
    # When the schedule reconciles the account
    result = reconcile_account(fake, SETTINGS)
    # Then each tagged ENI mirrors to the pool's target of its zone (tmt-a in zone-a; in zone-b, the NLB), i-2's
    # session is gone, and each instance carries its status
    assert mirrored(fake) == {"eni-1": "tmt-a", "eni-4": "tmt-nlb"}
    assert fake.instance_tags["i-1"][STATUS] == fake.instance_tags["i-4"][STATUS] == Reason.MIRRORED
    assert STATUS not in fake.instance_tags["i-2"]
    # And the report says so, coverage included
    summary = result.summary
    assert summary["trigger"] == "schedule" and summary["sessions_created"] == 2
    assert summary["sessions_deleted"] == {Reason.TAG_REMOVED: 1} and summary["sessions_managed"] == 2
    assert summary["coverage"] == {
        "enis_to_mirror": 2,
        "enis_mirrored": 2,
        "percent": 100.0,
        "unmirrored": {},
        "not_counted": {Reason.TAG_REMOVED: 1},  # i-2's ENI: not asked to be mirrored
        "fix_first": [],
    }


def test_a_dry_run_reports_the_plan_and_changes_nothing() -> None:
    fake = usual_account(instance(), replace(UNTAGGED, tags={STATUS: Reason.MIRRORED}))
    kept = ours(fake, "i-2", "eni-2")
    result = reconcile_account(fake, replace(SETTINGS, reconcile_dry_run=True))
    assert list(fake.sessions) == [kept] and CREATE not in fake.operations()
    assert fake.instance_tags["i-1"] == {"mirror": "true"}
    assert result.summary["dry_run"] is True
    assert [c.eni_id for c in result.plan.creates] == ["eni-1"]
    assert [d.session.session_id for d in result.plan.deletes] == [kept]


def test_the_safety_valve_keeps_the_sessions_of_a_plan_that_deletes_too_many_and_still_creates() -> None:
    # Given 11 instances whose sessions the plan would all delete (tags removed), and one tagged instance
    gone = [instance(f"i-x{n}", tags={}, enis=(f"eni-x{n}",)) for n in range(11)]
    fake = usual_account(instance(), *gone)
    for n in range(11):
        ours(fake, f"i-x{n}", f"eni-x{n}", target_id="tmt-nlb")
    # When the account is reconciled (MaxDeletePercent 50)
    result = reconcile_account(fake, SETTINGS)
    # Then no session is deleted, and the tagged instance is still mirrored
    assert DELETE not in fake.operations()
    assert len(fake.sessions) == 12 and mirrored(fake)["eni-1"] == "tmt-a"
    assert len(result.plan.deletes) == 11 and result.summary["sessions_deleted"] == {}


def test_the_second_pass_places_an_instance_in_the_slot_a_deletion_freed() -> None:
    # Given a pool of one ENI target with room for one source, taken by i-2 whose tag was removed, and i-1 tagged
    fake = usual_account(instance(), replace(UNTAGGED, tags={STATUS: Reason.MIRRORED}))
    fake.target("tmt-a", 1, zones=("zone-a",))
    ours(fake, "i-2", "eni-2")
    # When the account is reconciled
    result = reconcile_account(fake, replace(SETTINGS, target_ids=("tmt-a",)))
    # Then i-2's deletion freed the slot and the second pass gave it to i-1, in the same run
    assert mirrored(fake) == {"eni-1": "tmt-a"}
    assert fake.instance_tags["i-1"][STATUS] == Reason.MIRRORED
    assert result.plan.subjects["i-1"].status == Reason.NO_TARGET_CAPACITY  # what the first pass had to say
    assert result.summary["sessions_created"] == 1 and result.summary["sessions_skipped"] == {}
