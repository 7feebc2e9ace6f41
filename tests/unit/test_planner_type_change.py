"""An instance whose type changed since its session was created (stop, ModifyInstanceAttribute, start: AWS deletes
no session for it) is judged again by its new type. Each session records the type it was created under
(``mirror-instance-type``); a session without the record (an older version's) is judged by the current type alone.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from tests import builders
from tests.builders import nlb, settings
from tests.unit.fake_port import CREATE, DELETE, FakeAws
from traffic_mirroring.eligibility import Verdict
from traffic_mirroring.executor import Executor
from traffic_mirroring.model import (
    DeleteSession,
    Instance,
    Inventory,
    MirrorSession,
    MirrorTarget,
    Reason,
    Skip,
)
from traffic_mirroring.planner import needs_placement, plan_mirroring, probes_changed_type

SETTINGS = settings("tmt-a")
NLB = nlb("tmt-a", "zone-a")
NOW = datetime(2026, 12, 1, tzinfo=UTC)
NEW_TYPE = "m8g.large"  # a family newer than AWS's list: AWS is asked


def instance(iid: str = "i-1", itype: str = NEW_TYPE, eni: str = "eni-1") -> Instance:
    return builders.instance(iid, enis=(eni,), itype=itype)


def ours(sid: str = "s1", eni: str = "eni-1", owner: str = "i-1", recorded: str | None = "m5.large") -> MirrorSession:
    tags = None if recorded is None else {"mirror-instance-type": recorded}
    return builders.session(sid, eni, instance_id=owner, tags=tags)


def inventory(
    *instances: Instance,
    sessions: tuple[MirrorSession, ...] = (),
    verdict: Verdict = Verdict.ASK_AWS,
    targets: dict[str, MirrorTarget] | None = None,
) -> Inventory:
    return builders.inventory(
        *instances,
        sessions=sessions,
        targets={"tmt-a": NLB} if targets is None else targets,
        verdicts={i.instance_type: verdict for i in instances},
        read_at=NOW,
    )


# -- the planner -----------------------------------------------------------------------------------------------------
def test_a_session_created_under_another_type_makes_way_for_one_probe_of_the_new_unlisted_type() -> None:
    old = ours()
    plan = plan_mirroring(inventory(instance(), sessions=(old,)), SETTINGS)

    # The old session is deleted and a new one asks AWS about the new type, under a new number, recording that type
    assert plan.deletes == [DeleteSession("i-1", old, Reason.INSTANCE_TYPE_CHANGED)]
    [create] = plan.creates
    assert (create.eni_id, create.probe_type, create.instance_type) == ("eni-1", NEW_TYPE, NEW_TYPE)
    assert create.session_number == 2 and create.taken_numbers == (1,)
    assert plan.subjects["i-1"].status == Reason.MIRRORED
    assert plan.type_verdicts == {NEW_TYPE: "ask-aws"}


def test_a_session_that_recorded_the_current_type_is_kept() -> None:
    plan = plan_mirroring(inventory(instance(), sessions=(ours(recorded=NEW_TYPE),)), SETTINGS)
    assert (plan.deletes, plan.creates) == ([], [])


def test_a_session_without_the_record_is_judged_by_the_current_type_as_before() -> None:
    # An older version's session: an unlisted type with a session keeps it (AWS accepted it once, for all we know)
    plan = plan_mirroring(inventory(instance(), sessions=(ours(recorded=None),)), SETTINGS)
    assert (plan.deletes, plan.creates) == ([], [])


def test_a_type_the_list_refuses_loses_its_session_without_a_probe() -> None:
    old = ours()
    plan = plan_mirroring(inventory(instance(itype="t2.micro"), sessions=(old,)), SETTINGS)
    assert plan.deletes == [DeleteSession("i-1", old, Reason.UNSUPPORTED_INSTANCE_TYPE)]
    assert plan.creates == []
    assert plan.subjects["i-1"].status == Reason.UNSUPPORTED_INSTANCE_TYPE


def test_a_type_aws_already_answered_is_not_asked_again() -> None:
    old = ours()
    accepted = plan_mirroring(inventory(instance(), sessions=(old,), verdict=Verdict.SUPPORTED), SETTINGS)
    refused = plan_mirroring(inventory(instance(), sessions=(old,), verdict=Verdict.UNSUPPORTED), SETTINGS)
    assert (accepted.deletes, accepted.creates) == ([], [])
    assert refused.deletes == [DeleteSession("i-1", old, Reason.UNSUPPORTED_INSTANCE_TYPE)]
    assert refused.creates == []


def test_with_probing_off_the_unlisted_type_loses_its_session_without_a_probe() -> None:
    old = ours()
    settings = replace(SETTINGS, probe_unlisted_types=False)
    plan = plan_mirroring(inventory(instance(), sessions=(old,)), settings)
    assert plan.deletes == [DeleteSession("i-1", old, Reason.UNSUPPORTED_INSTANCE_TYPE)]
    assert plan.creates == []


def test_one_instance_per_type_asks_and_the_others_keep_their_sessions_until_aws_answered() -> None:
    first, second = ours("s1", "eni-1", "i-1"), ours("s2", "eni-2", "i-2")
    plan = plan_mirroring(inventory(instance("i-1"), instance("i-2", eni="eni-2"), sessions=(first, second)), SETTINGS)
    assert plan.deletes == [DeleteSession("i-1", first, Reason.INSTANCE_TYPE_CHANGED)]
    assert [c.instance_id for c in plan.creates] == ["i-1"]
    assert plan.subjects["i-2"].skips == [Skip("i-2", None, Reason.AWAITING_VERDICT)]


def test_without_a_target_for_the_probe_the_old_session_stays() -> None:
    dead = replace(NLB, live=False, problem="its Network Load Balancer no longer exists")
    old = ours()
    plan = plan_mirroring(inventory(instance(), sessions=(old,), targets={"tmt-a": dead}), SETTINGS)
    assert plan.creates == []
    assert all(d.reason != Reason.INSTANCE_TYPE_CHANGED for d in plan.deletes)


def test_the_inventory_reads_the_targets_for_the_probe() -> None:
    # A well-placed session needs no placement, unless it must make way for a probe
    verdicts = {NEW_TYPE: Verdict.ASK_AWS}
    targets = {"tmt-a": NLB}
    changed, same = [ours()], [ours(recorded=NEW_TYPE)]
    assert probes_changed_type(instance(), changed, SETTINGS, verdicts)
    assert needs_placement(instance(), changed, SETTINGS, verdicts, targets, NOW)
    assert not probes_changed_type(instance(), same, SETTINGS, verdicts)
    assert not needs_placement(instance(), same, SETTINGS, verdicts, targets, NOW)
    assert not probes_changed_type(instance(itype="t2.micro"), changed, SETTINGS, {"t2.micro": Verdict.ASK_AWS})


# -- planned and applied ---------------------------------------------------------------------------------------------
def fake_world(supported: bool) -> tuple[FakeAws, MirrorSession]:
    fake = FakeAws().target("tmt-a").filter("tmf-1").eni("eni-1", supported=supported)
    old = fake.existing_session(
        "eni-1", "tmt-a", "tmf-1", 1, {"mirror-managed-by": "stack", "mirror-instance-id": "i-1", **TYPE_M5}
    )
    return fake, old


TYPE_M5 = {"mirror-instance-type": "m5.large"}


def applied(fake: FakeAws, old: MirrorSession) -> None:
    plan = plan_mirroring(inventory(instance(), sessions=(old,)), SETTINGS)
    Executor(fake, SETTINGS).apply(plan)


def test_aws_accepting_the_new_type_gives_a_session_that_records_it() -> None:
    fake, old = fake_world(supported=True)
    applied(fake, old)
    [session] = fake.on_eni("eni-1")
    assert session.session_id != old.session_id
    assert session.tags["mirror-instance-type"] == NEW_TYPE
    assert fake.verdicts.learned() == {NEW_TYPE: Verdict.SUPPORTED}
    assert fake.instance_tags["i-1"]["mirror-status"] == "mirrored"


def test_aws_refusing_the_new_type_leaves_no_session_after_one_probe() -> None:
    fake, old = fake_world(supported=False)
    applied(fake, old)
    assert fake.on_eni("eni-1") == []
    assert (fake.count(DELETE), fake.count(CREATE)) == (1, 1)
    assert fake.verdicts.learned() == {NEW_TYPE: Verdict.UNSUPPORTED}
    assert fake.instance_tags["i-1"]["mirror-status"] == "unsupported-instance-type"
