"""A GuardDuty finding's window beside the owner's tags, and the tag keys whose change matters: the planner's rules.

The finding writes only its own tags (mirror-finding-until, mirror-finding); the planner mirrors an instance while
that window is open, whatever its owner's tags say, and once it has ended leaves the instance as its owner tagged
it: the owner's choice decides again, and the finding's tags are removed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tests import builders
from tests.builders import SUPPORTED, nlb, settings
from traffic_mirroring.config import Settings, load_settings
from traffic_mirroring.model import AttachedEni, Instance, MirrorSession, Plan, Reason
from traffic_mirroring.planner import (
    CLEAR_STATUS,
    finding_tags_to_remove,
    in_finding_window,
    is_judged,
    own_tags_that_do_not_matter,
    tag_keys_that_matter,
    wanted,
    window_end,
)
from traffic_mirroring.reconcile import refuses_deletes

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
SETTINGS = settings("tmt-a")
TARGETS = {"tmt-a": nlb("tmt-a")}
AHEAD, PASSED, LATER = "2026-12-03T12:00:00Z", "2026-12-02T11:00:00Z", "2026-12-10T00:00:00Z"
FINDING = "Backdoor:EC2/C&CActivity.B!DNS 16afba5c"
UNTIL, LABEL = SETTINGS.finding_until_tag_key, SETTINGS.finding_tag_key


def instance(tags: dict[str, str], iid: str = "i-1", state: str = "running") -> Instance:
    return builders.instance(iid, state, tags, (AttachedEni(f"eni-{iid}", vpc_id="vpc-1"),), vpc="vpc-1")


def ours(iid: str = "i-1", **fields: object) -> MirrorSession:
    session = builders.session(f"tms-{iid}", f"eni-{iid}", instance_id=None)
    return replace(session, **fields)  # type: ignore[arg-type]


def plan(*instances: Instance, settings: Settings = SETTINGS, sessions: tuple[MirrorSession, ...] = ()) -> Plan:
    return builders.plan(
        *instances, settings=settings, sessions=sessions, targets=TARGETS, verdicts=SUPPORTED, read_at=NOW
    )


def finding(until: str = AHEAD, **owner: str) -> dict[str, str]:
    """An instance's tags: its owner's, and a finding's window ending at ``until``."""
    return {**owner, UNTIL: until, LABEL: FINDING}


# -- the rule, as pure functions --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tags", "mirrored"),
    [
        ({}, False),
        ({"mirror": "true"}, True),
        ({"mirror": "false"}, False),
        ({"mirror": "true", "mirror-until": PASSED}, False),
        (finding(), True),
        (finding(mirror="false"), True),  # the finding's window mirrors over the owner's opt-out...
        (finding(mirror="true", **{"mirror-until": PASSED}), True),  # ...and over the owner's ended window
        (finding(PASSED), False),
        (finding(PASSED, mirror="true"), True),  # ended: the owner's choice decides again
        (finding(PASSED, mirror="false"), False),
        (finding("not a time"), False),  # an unreadable end opens no window
        ({LABEL: FINDING}, False),  # a label without its window selects nothing
    ],
)
def test_an_instance_is_wanted_while_a_finding_s_window_is_open_or_its_owner_selects_it(
    tags: dict[str, str], mirrored: bool
) -> None:
    subject = instance(tags)
    assert wanted(subject, SETTINGS, NOW) is mirrored
    assert is_judged(subject, SETTINGS, NOW) is mirrored
    assert not is_judged(instance(tags, state="stopped"), SETTINGS, NOW)


def test_a_finding_s_window_ends_at_its_time() -> None:
    assert in_finding_window(instance(finding("2026-12-02T12:00:01Z")), SETTINGS, NOW)
    assert not in_finding_window(instance(finding("2026-12-02T12:00:00Z")), SETTINGS, NOW)
    assert not in_finding_window(instance(finding("2026-12-02T14:00:00+02:00")), SETTINGS, NOW)


@pytest.mark.parametrize(
    ("tags", "end"),
    [
        (finding(), AHEAD),
        (finding(mirror="true", **{"mirror-until": LATER}), LATER),  # the owner's later window
        (finding(LATER, mirror="true", **{"mirror-until": AHEAD}), LATER),  # the finding's later window
        (finding(mirror="true"), None),  # the owner mirrors without end: a finding adds none
        (finding(PASSED, mirror="true", **{"mirror-until": AHEAD}), AHEAD),
        ({"mirror": "true", "mirror-until": PASSED}, None),
    ],
)
def test_the_end_of_mirroring_is_the_later_open_window_or_none(tags: dict[str, str], end: str | None) -> None:
    found = window_end(instance(tags), SETTINGS, NOW)
    assert (found.strftime("%Y-%m-%dT%H:%M:%SZ") if found else None) == end


@pytest.mark.parametrize(
    ("tags", "removed"),
    [
        (finding(), ()),  # still open
        (finding(PASSED), (LABEL, UNTIL)),
        (finding("not a time"), (LABEL, UNTIL)),
        ({LABEL: FINDING}, (LABEL,)),
        ({UNTIL: PASSED}, (UNTIL,)),
        ({"mirror": "false"}, ()),
    ],
)
def test_a_finding_s_tags_are_removed_once_no_window_of_it_is_open(
    tags: dict[str, str], removed: tuple[str, ...]
) -> None:
    assert finding_tags_to_remove(instance(tags), SETTINGS, NOW) == removed
    assert finding_tags_to_remove(instance(tags, state="terminated"), SETTINGS, NOW) == ()


# -- the plan ---------------------------------------------------------------------------------------------------
def test_a_finding_s_window_mirrors_an_opted_out_instance_without_touching_its_tags() -> None:
    result = plan(instance(finding(mirror="false")))

    assert [c.eni_id for c in result.creates] == ["eni-i-1"]
    assert result.subjects["i-1"].status == Reason.MIRRORED
    assert result.subjects["i-1"].remove_tags == ()
    assert result.windows == {"i-1": "2026-12-03T12:00:00Z (1d 0h 0m left)"}


def test_after_the_window_an_opted_out_instance_is_as_its_owner_left_it() -> None:
    # Given an instance its owner opted out, mirrored by a finding whose window has ended
    result = plan(instance(finding(PASSED, mirror="false", **{"mirror-status": "mirrored"})), sessions=(ours(),))
    subject = result.subjects["i-1"]
    # Then its session goes (the window expired), its status tag goes (nobody asks any more), and so do the
    # finding's tags; its owner's mirror=false is not a key the plan touches
    assert [(d.session.session_id, d.reason) for d in result.deletes] == [("tms-i-1", Reason.EXPIRED)]
    assert subject.status == CLEAR_STATUS
    assert subject.remove_tags == (LABEL, UNTIL)
    assert result.creates == []


def test_after_the_window_an_instance_its_owner_mirrors_without_end_stays_mirrored() -> None:
    result = plan(instance(finding(PASSED, mirror="true", **{"mirror-status": "mirrored"})), sessions=(ours(),))

    assert result.deletes == [] and result.creates == []
    assert result.subjects["i-1"].status == Reason.MIRRORED
    assert result.subjects["i-1"].remove_tags == (LABEL, UNTIL)
    assert result.windows == {}  # no end


def test_after_the_window_an_owner_s_own_window_goes_on_and_then_ends_as_its_own() -> None:
    going_on = plan(instance(finding(PASSED, mirror="true", **{"mirror-until": LATER})), sessions=(ours(),))
    assert going_on.deletes == []
    assert going_on.windows == {"i-1": "2026-12-10T00:00:00Z (7d 12h 0m left)"}
    assert going_on.subjects["i-1"].remove_tags == (LABEL, UNTIL)

    ended = plan(instance(finding(PASSED, mirror="true", **{"mirror-until": PASSED})), sessions=(ours(),))
    assert [d.reason for d in ended.deletes] == [Reason.EXPIRED]
    assert ended.subjects["i-1"].status == Reason.EXPIRED  # the owner asked for a window: it says it expired


def test_an_unreadable_finding_end_is_no_window_and_its_deletions_are_no_expiry() -> None:
    # An end nobody can read is not a deletion someone asked for at a time they chose: the safety valve counts it.
    result = plan(instance(finding("soon", **{"mirror-status": "mirrored"})), sessions=(ours(),))

    assert [d.reason for d in result.deletes] == [Reason.TAG_REMOVED]
    assert result.subjects["i-1"].remove_tags == (LABEL, UNTIL)


def test_windows_that_end_for_many_instances_at_once_do_not_trip_the_safety_valve() -> None:
    instances = [instance(finding(PASSED), iid=f"i-{n}") for n in range(20)]
    result = plan(*instances, sessions=tuple(ours(f"i-{n}") for n in range(20)))

    assert [d.reason for d in result.deletes] == [Reason.EXPIRED] * 20
    assert not refuses_deletes(result, SETTINGS)


def test_a_terminated_instance_keeps_its_tags_and_loses_its_sessions() -> None:
    result = plan(instance(finding(), state="terminated"), sessions=(ours(),))
    assert [d.reason for d in result.deletes] == [Reason.INSTANCE_TERMINATED]
    assert result.subjects["i-1"].remove_tags == ()


# -- the tag keys that matter: one list, and the planner's decisions read no other key ----------------------------
SELECTING = replace(
    load_settings(
        {
            "FILTER_ID": "tmf-1",
            "TARGET_IDS": "tmt-a",
            "MANAGED_BY": "stack",
            "MIRROR_SELECTORS": "eks:cluster-name=prod,team=sec*,vpc-0abc",
            "APPROVED_PACKET_LENGTHS": "128",
            "VNI_POLICY": "per-instance-tag",
        }
    ),
    approved_filter_ids=("tmf-2",),
)
MIRRORED = {"mirror": "true", "mirror-vni": "7"}
# For each key that matters: the instance's tags before (its session exists) and the change that changes the plan.
WITNESSES: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "mirror": (MIRRORED, {"mirror": "false"}),
    "mirror-until": (MIRRORED, {"mirror-until": PASSED}),
    "mirror-finding-until": ({"mirror-vni": "7"}, {"mirror-finding-until": AHEAD}),
    "mirror-target": (MIRRORED, {"mirror-target": "tmt-not-approved"}),
    "mirror-filter": (MIRRORED, {"mirror-filter": "tmf-2"}),
    "mirror-packet-length": (MIRRORED, {"mirror-packet-length": "128"}),
    "mirror-vni": (MIRRORED, {"mirror-vni": "8"}),
    "eks:cluster-name": ({"mirror-vni": "7"}, {"eks:cluster-name": "prod"}),
    "team": ({"mirror-vni": "7"}, {"team": "security"}),
}


def decisions(result: Plan) -> tuple[object, ...]:
    """What a plan does to sessions: creates, deletes, updates (with their options), skips."""
    return (
        sorted((c.eni_id, c.target_ids, c.filter_id, c.packet_length, c.virtual_network_id) for c in result.creates),
        sorted((d.session.session_id, d.reason) for d in result.deletes),
        sorted(
            (u.session.session_id, u.target_ids, u.filter_id, u.packet_length, u.virtual_network_id)
            for u in result.updates
        ),
        sorted((s.eni_id or "", s.reason) for s in result.skips),
    )


def session_for(tags: dict[str, str]) -> tuple[MirrorSession, ...]:
    return (ours(virtual_network_id=7),) if tags.get("mirror") == "true" else ()


def test_the_list_names_exactly_the_keys_with_a_change_that_changes_the_plan() -> None:
    assert set(WITNESSES) == tag_keys_that_matter(SELECTING)
    for key, (before, change) in WITNESSES.items():
        sessions = session_for(before)
        assert decisions(plan(instance(before), settings=SELECTING, sessions=sessions)) != decisions(
            plan(instance({**before, **change}), settings=SELECTING, sessions=sessions)
        ), key


@pytest.mark.parametrize("key", ["Name", "mirror-status", "mirror-generation", "mirror-finding", "owner", "vpc-0abc"])
@pytest.mark.parametrize("before", [MIRRORED, {"mirror-vni": "7"}, finding(mirror="false"), finding(PASSED)])
def test_a_change_of_any_other_key_changes_no_session(key: str, before: dict[str, str]) -> None:
    sessions = session_for(before)
    baseline = decisions(plan(instance(before), settings=SELECTING, sessions=sessions))
    for value in ("", "true", "false", "prod", "128", PASSED):
        changed = decisions(plan(instance({**before, key: value}), settings=SELECTING, sessions=sessions))
        assert changed == baseline, (key, value)
    if key in before:
        removed = {k: v for k, v in before.items() if k != key}
        assert decisions(plan(instance(removed), settings=SELECTING, sessions=sessions)) == baseline


def test_our_own_tags_that_do_not_matter_are_not_in_the_list() -> None:
    own = own_tags_that_do_not_matter(SELECTING)
    assert own == {"mirror-status", "mirror-generation", "mirror-finding"}
    assert not own & tag_keys_that_matter(SELECTING)
    assert tag_keys_that_matter(load_settings({"FILTER_ID": "f", "MIRROR_TAG_KEY": "monitor"})) == {
        "monitor",
        "mirror-until",
        "mirror-finding-until",
        "mirror-target",
        "mirror-filter",
        "mirror-packet-length",
        "mirror-vni",
    }
