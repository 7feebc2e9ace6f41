"""Planner rules for AWS as it really is: other accounts, dead targets, target ENIs, unlisted types, generations."""

from __future__ import annotations

from dataclasses import replace

from tests.builders import SETTINGS, TARGETS, instance, inventory, session
from traffic_mirroring.eligibility import Verdict
from traffic_mirroring.model import AttachedEni, Instance, MirrorSession, MirrorTarget, Reason
from traffic_mirroring.planner import next_generation, plan_mirroring

OURS_ACCOUNT = replace(SETTINGS, account_id="111111111111")
DEAD_ENI = replace(TARGETS["tmt-a"], live=False, problem="its appliance is terminated")


def foreign_account(sid: str, target: str = "tmt-a", eni: str = "eni-spoke") -> MirrorSession:
    """A spoke account's session on our shared target, deployed under the same stack name."""
    return replace(session(sid, eni, target, instance_id="i-spoke"), owner_id="222222222222")


def test_other_accounts_sessions_are_never_planned_or_counted_as_ours() -> None:
    spokes = tuple(foreign_account(f"x{n}", eni=f"eni-spoke-{n}") for n in range(12))
    inv = inventory(
        instance(tags={}, enis=("eni-9",)),  # an untagged instance: would make orphans of "our" sessions
        sessions=spokes,
        attachments={f"eni-spoke-{n}": None for n in range(12)},  # detached as far as we can tell
    )
    plan = plan_mirroring(inv, OURS_ACCOUNT)
    assert plan.deletes == [] and plan.managed_sessions == 0


def test_other_accounts_sessions_still_fill_the_target() -> None:
    spokes = tuple(foreign_account(f"x{n}", eni=f"eni-spoke-{n}") for n in range(10))
    plan = plan_mirroring(inventory(instance(), sessions=spokes), replace(OURS_ACCOUNT, target_ids=("tmt-a",)))
    assert plan.creates == [] and plan.subjects["i-1"].status == Reason.NO_TARGET_CAPACITY


def test_a_session_on_a_dead_target_moves_to_a_live_one() -> None:
    inv = inventory(instance(), sessions=(session("s1", "eni-1", "tmt-a"),), targets={**TARGETS, "tmt-a": DEAD_ENI})
    plan = plan_mirroring(inv, SETTINGS)
    assert [(u.session.session_id, u.target_ids[0], u.reason) for u in plan.updates] == [
        ("s1", "tmt-nlb", Reason.TARGET_DEAD)
    ]
    assert plan.dead_targets == {"tmt-a": "its appliance is terminated"}


def test_a_session_on_a_dead_target_with_no_live_room_is_deleted_and_the_status_says_so() -> None:
    inv = inventory(instance(), sessions=(session("s1", "eni-1", "tmt-a"),), targets={"tmt-a": DEAD_ENI})
    plan = plan_mirroring(inv, replace(SETTINGS, target_ids=("tmt-a",)))
    assert [(d.session.session_id, d.reason) for d in plan.deletes] == [("s1", Reason.TARGET_DEAD)]
    assert plan.subjects["i-1"].status == Reason.TARGET_DEAD


def test_no_new_session_goes_to_a_dead_target_even_the_least_used() -> None:
    busy_nlb = tuple(session(f"o{n}", f"eni-o{n}", "tmt-nlb", instance_id=f"i-o{n}") for n in range(5))
    inv = inventory(instance(), sessions=busy_nlb, targets={**TARGETS, "tmt-a": DEAD_ENI})
    plan = plan_mirroring(inv, SETTINGS)
    assert [c.target_ids for c in plan.creates] == [("tmt-nlb",)]


def test_only_dead_targets_give_their_own_status() -> None:
    plan = plan_mirroring(inventory(instance(), targets={"tmt-a": DEAD_ENI}), replace(SETTINGS, target_ids=("tmt-a",)))
    assert plan.creates == [] and plan.subjects["i-1"].status == Reason.NO_LIVE_TARGET


def test_an_empty_pool_and_a_missing_pool_target_have_their_own_status() -> None:
    idle = plan_mirroring(inventory(instance()), replace(SETTINGS, target_ids=()))
    assert idle.subjects["i-1"].status == Reason.POOL_EMPTY
    typo = plan_mirroring(inventory(instance()), replace(SETTINGS, target_ids=("tmt-typo",)))
    assert typo.subjects["i-1"].status == Reason.POOL_TARGET_NOT_FOUND
    assert typo.missing_pool_targets == ("tmt-typo",)


def test_a_target_eni_is_never_a_source_but_the_appliance_other_eni_is() -> None:
    appliance = instance(enis=("eni-target", "eni-mgmt"))
    targets = {**TARGETS, "tmt-a": replace(TARGETS["tmt-a"], eni_id="eni-target")}
    plan = plan_mirroring(inventory(appliance, targets=targets), SETTINGS)
    assert [c.eni_id for c in plan.creates] == ["eni-mgmt"]
    assert [(s.eni_id, s.reason) for s in plan.skips] == [("eni-target", Reason.ENI_IS_MIRROR_TARGET)]
    assert plan.subjects["i-1"].status == Reason.MIRRORED


def test_only_interface_enis_and_rds_or_elasticache_managed_ones_are_sources() -> None:
    enis = (
        AttachedEni("eni-plain"),
        AttachedEni("eni-efa", "efa"),
        AttachedEni("eni-rds", "interface", "rds.amazonaws.com"),
        AttachedEni("eni-other", "interface", "eks.amazonaws.com"),
    )
    host = Instance("i-1", "running", "m5.large", "zone-a", {"mirror": "true"}, enis)
    plan = plan_mirroring(inventory(host), SETTINGS)
    assert sorted(c.eni_id for c in plan.creates) == ["eni-plain", "eni-rds"]


def test_one_instance_per_unlisted_type_asks_aws_the_others_wait() -> None:
    fleet = [instance(f"i-{n}", itype="m8g.large") for n in range(3)]
    plan = plan_mirroring(inventory(*fleet, verdicts={"m8g.large": Verdict.ASK_AWS}), SETTINGS)
    assert [(c.instance_id, c.probe_type) for c in plan.creates] == [("i-0", "m8g.large")]
    assert plan.subjects["i-1"].status is None and plan.subjects["i-2"].status is None
    assert [s.reason for s in plan.subjects["i-1"].skips] == [Reason.AWAITING_VERDICT]
    assert plan.type_verdicts == {"m8g.large": "ask-aws"}


def test_probing_off_mirrors_listed_types_only() -> None:
    inv = inventory(instance(itype="m8g.large"), verdicts={"m8g.large": Verdict.ASK_AWS})
    plan = plan_mirroring(inv, replace(SETTINGS, probe_unlisted_types=False))
    assert plan.creates == [] and plan.subjects["i-1"].status == Reason.UNSUPPORTED_INSTANCE_TYPE


def test_a_declared_limit_applies_to_an_eni_target_we_cannot_see() -> None:
    shared = MirrorTarget("tmt-hub", "network-interface", 10, owner_id="999999999999")
    usage = tuple(session(f"h{n}", f"eni-h{n}", "tmt-hub", ours=False) for n in range(10))
    settings = replace(SETTINGS, target_ids=("tmt-hub",), target_source_limits={"tmt-hub": 100})
    plan = plan_mirroring(inventory(instance(), sessions=usage, targets={"tmt-hub": shared}), settings)
    assert [c.target_ids for c in plan.creates] == [("tmt-hub",)]


def test_creates_after_deletes_belong_to_the_next_generation() -> None:
    tags = {"mirror": "true", "mirror-generation": "g1"}
    dup = (session("s1", "eni-1", number=1), session("s2", "eni-1", number=2))
    plan = plan_mirroring(inventory(instance(tags=tags, enis=("eni-1", "eni-2")), sessions=dup), SETTINGS)
    assert [c.generation for c in plan.creates] == [next_generation(["s2"])]
    calm = plan_mirroring(inventory(instance(tags=tags)), SETTINGS)
    assert [c.generation for c in calm.creates] == ["g1"]


def test_generations_never_repeat_and_agree_between_invocations() -> None:
    assert next_generation(["b", "a"]) == next_generation(["a", "b"]) != next_generation(["a"])
    assert next_generation([]) == ""


def test_a_session_on_a_never_tagged_instance_is_not_a_removed_tag() -> None:
    plan = plan_mirroring(inventory(instance(tags={}), sessions=(session("s1", "eni-1"),)), SETTINGS)
    assert [d.reason for d in plan.deletes] == [Reason.INSTANCE_NOT_TAGGED]
    was_mirrored = instance(tags={"mirror-status": "mirrored"})
    plan = plan_mirroring(inventory(was_mirrored, sessions=(session("s1", "eni-1"),)), SETTINGS)
    assert [d.reason for d in plan.deletes] == [Reason.TAG_REMOVED]


ONE_SLOT_LEFT = tuple(session(f"x{n}", f"eni-x{n}", "tmt-a", ours=False) for n in range(9))  # tmt-a takes 10


def test_the_last_slot_goes_to_a_type_aws_accepts_before_a_type_asked_of_aws() -> None:
    # Given one slot left in the pool, an instance of an unlisted type (first by ID) and one of a listed type
    asks = instance("i-1", itype="m8g.large")
    known = instance("i-2", enis=("eni-2",))
    verdicts = {"m8g.large": Verdict.ASK_AWS, "m5.large": Verdict.SUPPORTED}
    inv = inventory(asks, known, sessions=ONE_SLOT_LEFT, verdicts=verdicts)
    plan = plan_mirroring(inv, replace(SETTINGS, target_ids=("tmt-a",)))
    # Then the listed type gets it, and the unlisted one waits for room (an ask AWS refuses held it for nothing)
    assert [(c.instance_id, c.target_ids) for c in plan.creates] == [("i-2", ("tmt-a",))]
    assert plan.subjects["i-1"].status == Reason.NO_TARGET_CAPACITY
    assert list(plan.subjects) == ["i-2", "i-1"]  # applied in that order too


def test_asks_of_several_types_may_all_try_the_last_slot() -> None:
    # Given one slot left and two unlisted types to ask AWS about
    fleet = (instance("i-1", itype="m8g.large"), instance("i-2", enis=("eni-2",), itype="m9z.large"))
    verdicts = {"m8g.large": Verdict.ASK_AWS, "m9z.large": Verdict.ASK_AWS}
    plan = plan_mirroring(
        inventory(*fleet, sessions=ONE_SLOT_LEFT, verdicts=verdicts), replace(SETTINGS, target_ids=("tmt-a",))
    )
    # Then both ask in this run: one AWS refuses frees the slot for the next; one it accepts fills it, and the next
    # finds the target full (reserved by the first, the second waited for a second pass that settles one ask more
    # only: found by tests/properties, an instance of a listed type left 'no-target-capacity' beside a free slot)
    assert [(c.instance_id, c.probe_type, c.target_ids) for c in plan.creates] == [
        ("i-1", "m8g.large", ("tmt-a",)),
        ("i-2", "m9z.large", ("tmt-a",)),
    ]
