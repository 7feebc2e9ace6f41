"""The plan in detail: which instance and ENI each step names (the audit report and the logs show them), moves that
fill targets one by one, orphans among sessions of every kind, and the figures the report takes from the plan."""

from __future__ import annotations

from dataclasses import replace

from tests import builders
from tests.builders import SUPPORTED, nlb, settings
from traffic_mirroring.eligibility import Verdict
from traffic_mirroring.model import (
    AttachedEni,
    CreateSession,
    DeleteSession,
    Instance,
    Inventory,
    MirrorSession,
    MirrorTarget,
    Reason,
    Skip,
    UpdateSession,
)
from traffic_mirroring.planner import plan_mirroring

SETTINGS = settings("tmt-a", "tmt-b", approved_filter_ids=("tmf-2",))
NLB_A = nlb("tmt-a", "zone-a")
NLB_B = nlb("tmt-b", "zone-b")
TARGETS = {"tmt-a": NLB_A, "tmt-b": NLB_B}


def instance(
    iid: str = "i-1",
    *enis: AttachedEni,
    state: str = "running",
    tags: dict[str, str] | None = None,
    itype: str = "m5.large",
    zone: str = "zone-a",
) -> Instance:
    return builders.instance(iid, state, tags, enis or ("eni-1",), itype, zone=zone)


def ours(
    sid: str, eni: str = "eni-1", target: str = "tmt-a", number: int = 1, filter_id: str = "tmf-1", owner: str = "i-1"
) -> MirrorSession:
    return builders.session(sid, eni, target, number, filter_id=filter_id, instance_id=owner)


def theirs(sid: str, eni: str = "eni-1", target: str = "tmt-a", number: int = 1) -> MirrorSession:
    """Another team's session, with its own filter (with ours, a lower number would shadow ours: Reason
    SHADOWED_BY_OTHER_SESSION)."""
    return builders.session(sid, eni, target, number, ours=False, filter_id="tmf-team")


def inventory(*instances: Instance, sessions: tuple[MirrorSession, ...] = (), **kwargs: object) -> Inventory:
    return builders.inventory(*instances, sessions=sessions, **{"targets": TARGETS, "verdicts": SUPPORTED, **kwargs})


# -- every step names its instance and ENI -------------------------------------------------------------------------
def test_a_target_eni_is_skipped_and_the_next_enis_are_still_planned() -> None:
    efa_session = ours("s-efa", "eni-2")
    plan = plan_mirroring(
        inventory(
            instance("i-1", AttachedEni("eni-1"), AttachedEni("eni-2", "efa"), AttachedEni("eni-3")),
            sessions=(efa_session,),
            target_eni_ids=frozenset({"eni-1"}),
        ),
        SETTINGS,
    )
    subject = plan.subjects["i-1"]
    assert subject.skips == [Skip("i-1", "eni-1", Reason.ENI_IS_MIRROR_TARGET)]
    assert subject.deletes == [DeleteSession("i-1", efa_session, Reason.UNSUPPORTED_INTERFACE_TYPE)]
    assert [c.eni_id for c in subject.creates] == ["eni-3"]


def test_an_eni_at_its_limit_is_named_and_a_create_knows_the_numbers_taken() -> None:
    full = tuple(theirs(f"t{n}", "eni-1", number=n) for n in (1, 2, 3))
    sessions = (*full, theirs("t4", "eni-2", number=1), theirs("t5", "eni-2", number=3))
    plan = plan_mirroring(
        inventory(instance("i-1", AttachedEni("eni-1"), AttachedEni("eni-2")), sessions=sessions), SETTINGS
    )
    assert plan.subjects["i-1"].skips == [Skip("i-1", "eni-1", Reason.ENI_SESSION_LIMIT)]
    assert plan.creates == [
        CreateSession("i-1", "eni-2", 2, "tmf-1", ("tmt-a", "tmt-b"), (1, 3), instance_type="m5.large")
    ]


def test_an_eni_without_a_target_is_named() -> None:
    plan = plan_mirroring(inventory(instance(), targets={}), SETTINGS)
    assert plan.skips == [Skip("i-1", "eni-1", Reason.POOL_TARGET_NOT_FOUND)]


def test_duplicates_and_a_kept_session_whose_filter_is_gone_are_deleted_in_the_instances_name() -> None:
    keep, duplicate = ours("s1", number=1, filter_id="tmf-gone"), ours("s2", number=2)
    plan = plan_mirroring(
        inventory(instance(), sessions=(keep, duplicate), existing_filter_ids=frozenset({"tmf-1"})), SETTINGS
    )
    assert plan.deletes == [
        DeleteSession("i-1", duplicate, Reason.DUPLICATE_SESSION),
        DeleteSession("i-1", keep, Reason.FILTER_MISSING),
    ]


# -- kept sessions: filter changes and moves -----------------------------------------------------------------------
FILTER_TAGS = {"mirror": "true", "mirror-filter": "tmf-2"}


def test_a_new_filter_tag_switches_the_filter_in_place() -> None:
    kept = ours("s1")
    plan = plan_mirroring(inventory(instance(tags=FILTER_TAGS), sessions=(kept,)), SETTINGS)
    assert plan.updates == [UpdateSession("i-1", kept, (), "tmf-2", Reason.FILTER_CHANGED)]


def test_a_move_off_a_dead_target_also_switches_a_new_filter() -> None:
    kept = ours("s1")
    dead = {**TARGETS, "tmt-a": replace(NLB_A, live=False, problem="gone")}
    plan = plan_mirroring(inventory(instance(tags=FILTER_TAGS), sessions=(kept,), targets=dead), SETTINGS)
    assert plan.updates == [UpdateSession("i-1", kept, ("tmt-b",), "tmf-2", Reason.TARGET_DEAD)]


def test_a_retired_target_with_no_room_elsewhere_stays_and_the_status_says_why() -> None:
    kept = ours("s1", target="tmt-old")
    full = {
        "tmt-old": MirrorTarget("tmt-old", "network-interface", 10),
        "tmt-a": MirrorTarget("tmt-a", "network-interface", 1),
        "tmt-b": MirrorTarget("tmt-b", "network-interface", 1),
    }
    sessions = (kept, theirs("t1", "eni-8", "tmt-a"), theirs("t2", "eni-9", "tmt-b"))
    plan = plan_mirroring(inventory(instance(), sessions=sessions, targets=full), SETTINGS)
    assert plan.updates == []
    assert plan.skips == [Skip("i-1", "eni-1", Reason.NO_TARGET_CAPACITY)]
    assert plan.subjects["i-1"].status == Reason.NO_TARGET_CAPACITY
    # With a new filter as well, the filter still changes, in place
    plan = plan_mirroring(inventory(instance(tags=FILTER_TAGS), sessions=sessions, targets=full), SETTINGS)
    assert plan.updates == [UpdateSession("i-1", kept, (), "tmf-2", Reason.FILTER_CHANGED)]


def test_a_dead_target_with_no_room_elsewhere_loses_its_session_and_says_so() -> None:
    kept = ours("s1")
    targets = {"tmt-a": replace(NLB_A, live=False, problem="gone")}
    plan = plan_mirroring(inventory(instance(), sessions=(kept,), targets=targets), SETTINGS)
    assert plan.deletes == [DeleteSession("i-1", kept, Reason.TARGET_DEAD)]
    assert plan.skips == [Skip("i-1", "eni-1", Reason.TARGET_DEAD)]


def test_moves_fill_the_pool_one_by_one() -> None:
    moving = [ours(f"s{n}", f"eni-{n}", "tmt-dead") for n in (1, 2, 3)]
    targets = {
        "tmt-dead": MirrorTarget("tmt-dead", "network-interface", 10, live=False, problem="gone"),
        "tmt-a": MirrorTarget("tmt-a", "network-interface", 2),
        "tmt-b": MirrorTarget("tmt-b", "network-interface", 2),
    }
    enis = tuple(AttachedEni(f"eni-{n}") for n in (1, 2, 3))
    plan = plan_mirroring(inventory(instance("i-1", *enis), sessions=tuple(moving), targets=targets), SETTINGS)
    assert [u.target_ids for u in plan.updates] == [("tmt-a", "tmt-b"), ("tmt-b", "tmt-a"), ("tmt-a", "tmt-b")]
    # A fourth would find tmt-a full
    enis += (AttachedEni("eni-4"),)
    moving.append(ours("s4", "eni-4", "tmt-dead"))
    plan = plan_mirroring(inventory(instance("i-1", *enis), sessions=tuple(moving), targets=targets), SETTINGS)
    assert plan.updates[-1].target_ids == ("tmt-b",)


def test_moves_and_creates_prefer_the_instances_zone() -> None:
    kept = ours("s1", "eni-1", "tmt-dead")
    targets = {**TARGETS, "tmt-dead": MirrorTarget("tmt-dead", "network-load-balancer", None, live=False)}
    plan = plan_mirroring(
        inventory(
            instance("i-1", AttachedEni("eni-1"), AttachedEni("eni-2"), zone="zone-b"),
            sessions=(kept,),
            targets=targets,
        ),
        SETTINGS,
    )
    assert plan.updates[0].target_ids == ("tmt-b", "tmt-a")
    assert plan.creates[0].target_ids == ("tmt-b", "tmt-a")


def test_an_eni_already_on_a_full_target_still_fits_there() -> None:
    targets = {"tmt-a": MirrorTarget("tmt-a", "network-interface", 1)}
    plan = plan_mirroring(inventory(instance(), sessions=(theirs("t1", "eni-1", "tmt-a"),), targets=targets), SETTINGS)
    assert plan.creates[0].target_ids == ("tmt-a",)


def test_declared_source_limits_apply_to_eni_targets_only() -> None:
    settings = replace(SETTINGS, target_source_limits={"tmt-a": 1, "tmt-b": 1})
    targets = {
        "tmt-a": MirrorTarget("tmt-a", "network-interface", 10),
        "tmt-b": MirrorTarget("tmt-b", "network-load-balancer", None),
    }
    sessions = (theirs("t1", "eni-8", "tmt-a"), theirs("t2", "eni-9", "tmt-b"))
    plan = plan_mirroring(inventory(instance(), sessions=sessions, targets=targets), settings)
    assert plan.creates[0].target_ids == ("tmt-b",)


def test_declared_limits_with_targets_not_read_are_no_error() -> None:
    settings = replace(SETTINGS, target_source_limits={"tmt-a": 1})
    kept = ours("s1")
    assert plan_mirroring(inventory(instance(), sessions=(kept,), targets=None), settings).updates == []


def test_cached_source_counts_steer_new_sessions_to_the_least_used_target() -> None:
    zoneless = {t: MirrorTarget(t, "network-load-balancer", None) for t in ("tmt-a", "tmt-b")}
    cached = {"tmt-a": frozenset({"eni-8", "eni-9"})}
    plan = plan_mirroring(inventory(instance(), target_sources=cached, targets=zoneless), SETTINGS)
    assert plan.creates[0].target_ids == ("tmt-b", "tmt-a")


# -- orphans -------------------------------------------------------------------------------------------------------
def test_orphans_are_found_whatever_comes_before_them() -> None:
    # Given sessions on ENIs sorted around a scoped instance's ENI, a foreign session, and ENIs of every fate
    scoped = instance("i-1", AttachedEni("eni-05"))
    on_other_instance = ours("s-other", "eni-11", owner="i-other")
    detached = ours("s-detached", "eni-12", owner="i-gone")
    untagged_detached = MirrorSession("s-untagged", "eni-13", "tmt-a", "tmf-1", 1, {"mirror-managed-by": "stack"})
    gone_instance = ours("s-missing", "eni-14", owner="i-missing")
    terminated = ours("s-terminated", "eni-15", owner="i-9")
    sessions = (
        ours("s-scoped", "eni-05"),
        theirs("t-first", "eni-10"),
        ours("s-after-foreign", "eni-10", owner="i-gone", number=2),
        on_other_instance,
        detached,
        untagged_detached,
        gone_instance,
        terminated,
    )
    attachments = {
        "eni-10": None,
        "eni-11": "i-other",
        "eni-12": None,
        "eni-13": None,
        "eni-14": "i-missing",
        "eni-15": None,
    }
    plan = plan_mirroring(
        inventory(
            scoped,
            instance("i-9", AttachedEni("eni-99"), state="terminated"),
            sessions=sessions,
            attachments=attachments,
            missing_instance_ids=frozenset({"i-missing"}),
        ),
        SETTINGS,
    )
    # Then each orphan is deleted in the name of the instance its tag names (or its ENI), and nothing else is
    deletes = {d.session.session_id: (d.subject, d.reason) for d in plan.deletes}
    assert deletes == {
        "s-after-foreign": ("i-gone", Reason.SOURCE_ENI_DETACHED),
        "s-detached": ("i-gone", Reason.SOURCE_ENI_DETACHED),
        "s-untagged": ("eni-13", Reason.SOURCE_ENI_DETACHED),
        "s-missing": ("i-missing", Reason.INSTANCE_NOT_FOUND),
        "s-terminated": ("i-9", Reason.INSTANCE_TERMINATED),
    }
    assert {d.subject for p in plan.subjects.values() for d in p.deletes} <= set(plan.subjects)


# -- instance states and the plan's own fields ---------------------------------------------------------------------
def test_a_pending_instance_keeps_its_sessions_and_its_status() -> None:
    plan = plan_mirroring(inventory(instance(state="pending"), sessions=(ours("s1"),)), SETTINGS)
    assert plan.deletes == []
    assert plan.subjects["i-1"].status is None


def test_a_stopped_instance_says_so() -> None:
    plan = plan_mirroring(inventory(instance(state="stopped"), sessions=(ours("s1"),)), SETTINGS)
    assert plan.deletes == [DeleteSession("i-1", ours("s1"), Reason.INSTANCE_STOPPED)]
    assert plan.subjects["i-1"].status == Reason.INSTANCE_STOPPED


def test_the_plan_carries_the_instances_type_status_and_generation() -> None:
    tags = {"mirror": "true", "mirror-status": "mirrored", "mirror-generation": "g7"}
    subject = plan_mirroring(inventory(instance(tags=tags)), SETTINGS).subjects["i-1"]
    assert (subject.instance_type, subject.current_status, subject.generation) == ("m5.large", "mirrored", "g7")
    bare = plan_mirroring(inventory(instance()), SETTINGS).subjects["i-1"]
    assert (bare.current_status, bare.generation) == (None, "")
    assert bare.creates[0].generation == ""


def test_a_listed_type_is_not_probed_and_a_type_nobody_judged_is() -> None:
    assert plan_mirroring(inventory(instance()), SETTINGS).creates[0].probe_type is None
    unjudged = plan_mirroring(inventory(instance(itype="m9z.large"), verdicts={}), SETTINGS)
    assert unjudged.creates[0].probe_type == "m9z.large"


def test_managed_sessions_are_counted_once_each() -> None:
    sessions = (ours("s1"), ours("s2", "eni-2"), theirs("t1", "eni-3"))
    plan = plan_mirroring(
        inventory(instance("i-1", AttachedEni("eni-1"), AttachedEni("eni-2")), sessions=sessions), SETTINGS
    )
    assert plan.managed_sessions == 2


def test_the_reported_verdicts_leave_out_types_the_operator_decided() -> None:
    settings = replace(SETTINGS, eligibility_allow=frozenset({"m8g"}), eligibility_deny=frozenset({"m9z"}))
    verdicts = {"m8g.large": Verdict.SUPPORTED, "m9z.large": Verdict.UNSUPPORTED, "m7z.large": Verdict.ASK_AWS}
    plan = plan_mirroring(inventory(instance(), verdicts={**verdicts, "m5.large": Verdict.SUPPORTED}), settings)
    assert plan.type_verdicts == {"m7z.large": "ask-aws"}


def test_a_documented_unsupported_type_loses_its_sessions_without_a_probe() -> None:
    t2 = instance(itype="t2.micro")
    plan = plan_mirroring(inventory(t2, sessions=(ours("s1"),), verdicts={"t2.micro": Verdict.ASK_AWS}), SETTINGS)
    assert plan.deletes == [DeleteSession("i-1", ours("s1"), Reason.UNSUPPORTED_INSTANCE_TYPE)]
    # Without sessions it is asked of AWS like any unlisted type
    plan = plan_mirroring(inventory(t2, verdicts={"t2.micro": Verdict.ASK_AWS}), SETTINGS)
    assert plan.creates[0].probe_type == "t2.micro"


def test_a_documented_unsupported_type_loses_its_sessions_even_while_another_instance_asks_aws() -> None:
    # Given two T2 instances not yet judged by AWS: i-1 without a session (it asks), i-2 with one of ours
    asks = instance("i-1", AttachedEni("eni-1"), itype="t2.micro")
    had_one = instance("i-2", AttachedEni("eni-2"), itype="t2.micro")
    old = ours("s2", "eni-2", owner="i-2")
    plan = plan_mirroring(inventory(asks, had_one, sessions=(old,), verdicts={"t2.micro": Verdict.ASK_AWS}), SETTINGS)
    # Then i-1 asks, and i-2 loses its session in this plan instead of waiting for the answer: the second pass, which
    # applies the answer, never deletes (found by tests/properties: the session outlived its reconcile)
    assert [(c.instance_id, c.probe_type) for c in plan.creates] == [("i-1", "t2.micro")]
    assert plan.deletes == [DeleteSession("i-2", old, Reason.UNSUPPORTED_INSTANCE_TYPE)]
    assert plan.subjects["i-2"].status == Reason.UNSUPPORTED_INSTANCE_TYPE
    assert Reason.AWAITING_VERDICT not in [s.reason for s in plan.subjects["i-2"].skips]


def test_a_type_aws_accepted_or_a_new_unlisted_type_keeps_its_sessions() -> None:
    accepted = plan_mirroring(
        inventory(instance(itype="t2.micro"), sessions=(ours("s1"),), verdicts={"t2.micro": Verdict.SUPPORTED}),
        SETTINGS,
    )
    assert accepted.deletes == []
    new = plan_mirroring(
        inventory(instance(itype="m8g.large"), sessions=(ours("s1"),), verdicts={"m8g.large": Verdict.ASK_AWS}),
        SETTINGS,
    )
    assert new.deletes == []


def test_every_eni_of_an_instance_no_longer_tagged_loses_its_session() -> None:
    s1, s2 = ours("s1", "eni-1"), ours("s2", "eni-2")
    untagged = instance("i-1", AttachedEni("eni-1"), AttachedEni("eni-2"), tags={"mirror-status": "mirrored"})
    plan = plan_mirroring(inventory(untagged, sessions=(s1, s2)), SETTINGS)
    assert plan.deletes == [DeleteSession("i-1", s, Reason.TAG_REMOVED) for s in (s1, s2)]


def test_an_unapproved_override_still_cleans_interfaces_that_cannot_be_sources() -> None:
    efa_session = ours("s-efa", "eni-2")
    tags = {"mirror": "true", "mirror-target": "tmt-evil"}
    plan = plan_mirroring(
        inventory(
            instance("i-1", AttachedEni("eni-1"), AttachedEni("eni-2", "efa"), tags=tags), sessions=(efa_session,)
        ),
        SETTINGS,
    )
    assert plan.deletes == [DeleteSession("i-1", efa_session, Reason.UNSUPPORTED_INTERFACE_TYPE)]
    assert plan.skips == [Skip("i-1", None, Reason.TARGET_NOT_APPROVED)]
    assert plan.creates == []


def test_instance_wide_skips_name_the_instance() -> None:
    waiting = (instance("i-1", itype="m9z.large"), instance("i-2", AttachedEni("eni-2"), itype="m9z.large"))
    plan = plan_mirroring(inventory(*waiting, verdicts={"m9z.large": Verdict.ASK_AWS}), SETTINGS)
    assert plan.subjects["i-2"].skips == [Skip("i-2", None, Reason.AWAITING_VERDICT)]
    refused = plan_mirroring(inventory(instance(), verdicts={"m5.large": Verdict.UNSUPPORTED}), SETTINGS)
    assert refused.skips == [Skip("i-1", None, Reason.UNSUPPORTED_INSTANCE_TYPE)]


def test_without_target_facts_a_mirrored_instance_is_left_as_it_is() -> None:
    plan = plan_mirroring(inventory(instance(), sessions=(ours("s1"),), targets=None), SETTINGS)
    assert (plan.updates, plan.skips, plan.deletes) == ([], [], [])
    assert plan.subjects["i-1"].status == Reason.MIRRORED
