"""The planner decides every rule without AWS: given an inventory, which sessions to create, delete, move, skip."""

from __future__ import annotations

from dataclasses import replace

from tests.builders import SETTINGS, instance, inventory, session
from traffic_mirroring.config import Settings
from traffic_mirroring.model import AttachedEni, Instance, MirrorSession, Reason
from traffic_mirroring.planner import CLEAR_STATUS, plan_mirroring


def test_each_eni_of_a_tagged_running_instance_gets_one_session() -> None:
    plan = plan_mirroring(inventory(instance(enis=("eni-1", "eni-2"))), SETTINGS)
    assert [(c.eni_id, c.session_number) for c in plan.creates] == [("eni-1", 1), ("eni-2", 1)]
    assert plan.subjects["i-1"].status == Reason.MIRRORED


def test_load_is_spread_across_targets() -> None:
    plan = plan_mirroring(inventory(instance(enis=("eni-1", "eni-2"))), SETTINGS)
    assert [c.target_ids[0] for c in plan.creates] == ["tmt-a", "tmt-nlb"]


def test_already_mirrored_instance_needs_nothing() -> None:
    plan = plan_mirroring(inventory(instance(), sessions=(session("s1", "eni-1"),)), SETTINGS)
    assert plan.creates == [] and plan.deletes == [] and plan.updates == []


def test_taken_numbers_are_avoided_counting_foreign_sessions() -> None:
    # (With their own filter: one with ours ahead of ours would take its packets, see test_planner_shadowing.)
    foreign = tuple(session(f"f{n}", "eni-1", "tmt-x", n, ours=False, filter_id="tmf-team") for n in (1, 3))
    plan = plan_mirroring(inventory(instance(), sessions=foreign), SETTINGS)
    assert plan.creates[0].session_number == 2


def test_eni_full_of_foreign_sessions_is_skipped() -> None:
    foreign = tuple(session(f"f{n}", "eni-1", "tmt-x", n, ours=False) for n in (1, 2, 3))
    plan = plan_mirroring(inventory(instance(), sessions=foreign), SETTINGS)
    assert plan.creates == [] and plan.deletes == []
    assert [s.reason for s in plan.skips] == [Reason.ENI_SESSION_LIMIT]
    assert plan.subjects["i-1"].status == Reason.ENI_SESSION_LIMIT


def test_unsupported_type_is_skipped_with_its_reason() -> None:
    plan = plan_mirroring(inventory(instance(itype="t2.micro")), SETTINGS)
    assert plan.creates == []
    assert [s.reason for s in plan.skips] == [Reason.UNSUPPORTED_INSTANCE_TYPE]
    assert plan.subjects["i-1"].status == Reason.UNSUPPORTED_INSTANCE_TYPE


def test_no_capacity_anywhere_is_skipped_and_visible() -> None:
    full = tuple(session(f"x{n}", f"eni-x{n}", "tmt-a", ours=False) for n in range(10))
    settings = Settings(target_ids=("tmt-a",), filter_id="tmf-1", managed_by="stack")
    plan = plan_mirroring(inventory(instance(), sessions=full), settings)
    assert plan.creates == []
    assert plan.subjects["i-1"].status == Reason.NO_TARGET_CAPACITY


def test_untagging_deletes_only_our_sessions_and_clears_the_status() -> None:
    sessions = (session("s1", "eni-1"), session("f1", "eni-1", number=2, ours=False))
    plan = plan_mirroring(inventory(instance(tags={"mirror-status": "mirrored"}), sessions=sessions), SETTINGS)
    assert [(d.session.session_id, d.reason) for d in plan.deletes] == [("s1", Reason.TAG_REMOVED)]
    assert plan.subjects["i-1"].status == CLEAR_STATUS


def test_other_tag_values_do_not_mirror() -> None:
    plan = plan_mirroring(inventory(instance(tags={"mirror": "yes"})), SETTINGS)
    assert plan.creates == []


def test_stopped_instance_loses_sessions_unless_configured_to_keep_them() -> None:
    inv = inventory(instance(state="stopped"), sessions=(session("s1", "eni-1"),))
    assert [d.reason for d in plan_mirroring(inv, SETTINGS).deletes] == [Reason.INSTANCE_STOPPED]
    keep = Settings(target_ids=SETTINGS.target_ids, filter_id="tmf-1", managed_by="stack", delete_when_stopped=False)
    assert plan_mirroring(inv, keep).deletes == []


def test_pending_instance_is_left_alone() -> None:
    plan = plan_mirroring(inventory(instance(state="pending")), SETTINGS)
    assert plan.creates == [] and plan.deletes == []


def test_sessions_of_another_stack_are_not_ours() -> None:
    other = MirrorSession("s9", "eni-1", "tmt-a", "tmf-1", 1, {"mirror-managed-by": "other-stack"})
    plan = plan_mirroring(inventory(instance(tags={}), sessions=(other,)), SETTINGS)
    assert plan.deletes == []


def test_duplicate_managed_sessions_keep_the_lowest_number() -> None:
    sessions = (session("s2", "eni-1", number=2), session("s1", "eni-1", number=1))
    plan = plan_mirroring(inventory(instance(), sessions=sessions), SETTINGS)
    assert [(d.session.session_id, d.reason) for d in plan.deletes] == [("s2", Reason.DUPLICATE_SESSION)]
    assert plan.creates == []


def test_session_on_retired_target_moves_to_the_pool() -> None:
    plan = plan_mirroring(inventory(instance(), sessions=(session("s1", "eni-1", "tmt-b"),)), SETTINGS)
    assert [(u.session.session_id, u.target_ids[0], u.reason) for u in plan.updates] == [
        ("s1", "tmt-a", Reason.TARGET_RETIRED)
    ]


def test_session_on_vanished_target_without_room_elsewhere_is_deleted() -> None:
    settings = Settings(target_ids=("tmt-a",), filter_id="tmf-1", managed_by="stack")
    full = tuple(session(f"x{n}", f"eni-x{n}", "tmt-a", ours=False) for n in range(10))
    inv = inventory(instance(), sessions=(session("s1", "eni-1", "tmt-gone"), *full))
    plan = plan_mirroring(inv, settings)
    assert [(d.session.session_id, d.reason) for d in plan.deletes] == [("s1", Reason.TARGET_MISSING)]


def test_targets_not_read_are_not_judged() -> None:
    plan = plan_mirroring(inventory(instance(), sessions=(session("s1", "eni-1"),), targets=None), SETTINGS)
    assert plan.updates == [] and plan.deletes == []


def test_missing_filter_is_recreated_with_the_configured_one() -> None:
    inv = inventory(
        instance(), sessions=(session("s1", "eni-1", filter_id="tmf-gone"),), existing_filter_ids=frozenset({"tmf-1"})
    )
    plan = plan_mirroring(inv, SETTINGS)
    assert [(d.session.session_id, d.reason) for d in plan.deletes] == [("s1", Reason.FILTER_MISSING)]
    assert [(c.eni_id, c.filter_id) for c in plan.creates] == [("eni-1", "tmf-1")]


APPROVING = replace(SETTINGS, target_ids=("tmt-a", "tmt-b", "tmt-nope"), approved_filter_ids=("tmf-9",))


def test_per_instance_overrides_choose_among_what_the_operator_approved() -> None:
    tags = {"mirror": "true", "mirror-target": "tmt-b", "mirror-filter": "tmf-9"}
    plan = plan_mirroring(inventory(instance(tags=tags)), APPROVING)
    assert [(c.target_ids, c.filter_id) for c in plan.creates] == [(("tmt-b",), "tmf-9")]


def test_approved_override_naming_an_unknown_target_is_skipped_with_a_reason() -> None:
    plan = plan_mirroring(inventory(instance(tags={"mirror": "true", "mirror-target": "tmt-nope"})), APPROVING)
    assert [s.reason for s in plan.skips] == [Reason.TARGET_OVERRIDE_NOT_FOUND]


def test_a_target_outside_the_pool_creates_and_moves_nothing() -> None:
    # Given a mirrored instance whose tag now names a target the operator did not approve
    tags = {"mirror": "true", "mirror-target": "tmt-b"}
    inv = inventory(instance(tags=tags, enis=("eni-1", "eni-2")), sessions=(session("s1", "eni-1"),))
    plan = plan_mirroring(inv, SETTINGS)
    # Then its session stays where it is, its other ENI gets nothing, and the status names the problem
    assert plan.creates == [] and plan.updates == [] and plan.deletes == []
    assert plan.subjects["i-1"].status == Reason.TARGET_NOT_APPROVED


def test_a_filter_the_operator_did_not_approve_is_refused() -> None:
    plan = plan_mirroring(inventory(instance(tags={"mirror": "true", "mirror-filter": "tmf-evil"})), SETTINGS)
    assert plan.creates == [] and plan.subjects["i-1"].status == Reason.FILTER_NOT_APPROVED


def test_terminated_instance_with_surviving_detached_eni_loses_that_session() -> None:
    gone = instance(state="terminated", enis=())
    inv = inventory(gone, sessions=(session("s1", "eni-2"),), attachments={"eni-2": None})
    plan = plan_mirroring(inv, SETTINGS)
    assert [(d.session.session_id, d.reason) for d in plan.deletes] == [("s1", Reason.INSTANCE_TERMINATED)]


def test_session_on_deleted_eni_is_deleted() -> None:
    inv = inventory(sessions=(session("s1", "eni-9"),), deleted_eni_ids=frozenset({"eni-9"}))
    plan = plan_mirroring(inv, SETTINGS)
    assert [(d.subject, d.reason) for d in plan.deletes] == [("i-1", Reason.SOURCE_ENI_DELETED)]


def test_sessions_read_only_for_target_usage_are_not_judged() -> None:
    elsewhere = session("s5", "eni-other", instance_id="i-other")
    plan = plan_mirroring(inventory(instance(), sessions=(elsewhere,)), SETTINGS)
    assert plan.deletes == []


def test_capacity_counts_sources_planned_in_the_same_plan() -> None:
    settings = Settings(target_ids=("tmt-a",), filter_id="tmf-1", managed_by="stack")
    many = [instance(f"i-{n}", enis=(f"eni-{n}",)) for n in range(12)]
    plan = plan_mirroring(inventory(*many), settings)
    assert len(plan.creates) == 10
    assert [s.reason for s in plan.skips] == [Reason.NO_TARGET_CAPACITY] * 2


def test_non_interface_enis_get_no_session() -> None:
    efa = Instance(
        "i-1", "running", "m5.large", "zone-a", {"mirror": "true"}, (AttachedEni("eni-1"), AttachedEni("eni-2", "efa"))
    )
    plan = plan_mirroring(inventory(efa), SETTINGS)
    assert [c.eni_id for c in plan.creates] == ["eni-1"]
