"""The reconciler's second pass: what it takes from the new plan of the subjects that waited (``second_pass_plan``)."""

from __future__ import annotations

from dataclasses import replace

from tests.builders import SETTINGS, TARGETS, instance, inventory, session
from traffic_mirroring.model import MirrorTarget, Plan, Reason
from traffic_mirroring.planner import plan_mirroring
from traffic_mirroring.reconcile import second_pass_plan

# The pool is one ENI target with one slot left; tmt-old was taken out of the pool and still holds i-1's session.
POOL = replace(SETTINGS, target_ids=("tmt-a",))
TARGETS_AFTER = {**TARGETS, "tmt-old": MirrorTarget("tmt-old", "network-interface", 10, frozenset({"zone-a"}))}
NINE_OTHERS = tuple(session(f"x{n}", f"eni-x{n}", "tmt-a", ours=False) for n in range(9))


def _new_plan() -> Plan:
    """The plan the second pass makes after the first freed a slot on tmt-a: i-1's session leaves tmt-old for it,
    and i-2 (planned after i-1) is told there is none left."""
    retired = session("s1", "eni-1", "tmt-old")
    return plan_mirroring(
        inventory(
            instance("i-1"),
            instance("i-2", enis=("eni-2",)),
            sessions=(retired, *NINE_OTHERS),
            targets=TARGETS_AFTER,
        ),
        POOL,
    )


def test_the_second_pass_applies_the_moves_it_planned_with_the_creations() -> None:
    # Given a new plan in which i-1's session moves into the freed slot, so that i-2 is told there is none left
    again = _new_plan()
    assert [(u.instance_id, u.target_ids, u.reason) for u in again.updates] == [
        ("i-1", ("tmt-a",), Reason.TARGET_RETIRED)
    ]
    assert again.subjects["i-2"].status == Reason.NO_TARGET_CAPACITY
    # When the second pass takes it for the subjects that waited
    second = second_pass_plan(again, {"i-1", "i-2"})
    # Then the move is applied too: planned and dropped, it kept i-1 on the retired target under "mirrored" and left
    # the slot empty while i-2 was told no-target-capacity (found by tests/properties, random histories)
    assert [(u.session.session_id, u.target_ids) for u in second.updates] == [("s1", ("tmt-a",))]
    assert second.subjects["i-1"].status == Reason.MIRRORED
    assert second.subjects["i-2"].status == Reason.NO_TARGET_CAPACITY


def test_the_second_pass_never_deletes_and_moves_nothing_under_the_safety_valve() -> None:
    duplicate = (session("s1", "eni-1", "tmt-a", number=1), session("s2", "eni-1", "tmt-a", number=2))
    again = plan_mirroring(inventory(instance(), sessions=duplicate), SETTINGS)
    assert [d.reason for d in again.deletes] == [Reason.DUPLICATE_SESSION]
    assert second_pass_plan(again, {"i-1"}).deletes == []
    # The safety valve cut the first pass to creations: the second applies creations only, too
    assert second_pass_plan(_new_plan(), {"i-1", "i-2"}, moves=False).updates == []


def test_the_second_pass_leaves_the_subjects_that_did_not_wait() -> None:
    second = second_pass_plan(_new_plan(), {"i-2"})
    assert list(second.subjects) == ["i-2"] and second.updates == []
