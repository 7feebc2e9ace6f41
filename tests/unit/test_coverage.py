"""Coverage's arithmetic (issue 23): each reason an ENI is in or out of the denominator, as the planner decides it, and
how coverage.py counts the verdicts as read, as planned and after a run."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests import builders
from tests.builders import nlb, settings
from traffic_mirroring import coverage
from traffic_mirroring.config import Settings, load_settings
from traffic_mirroring.eligibility import Verdict
from traffic_mirroring.model import (
    AttachedEni,
    EniVerdict,
    Instance,
    Inventory,
    MirrorSession,
    MirrorTarget,
    Plan,
)
from traffic_mirroring.planner import plan_mirroring
from traffic_mirroring.preflight import TargetIngress
from traffic_mirroring.reconcile import coverage_after, creations_only
from traffic_mirroring.run_report import Outcome

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SETTINGS = settings("tmt-a")
TARGETS = {"tmt-a": nlb("tmt-a", "zone-a")}
VERDICTS = {
    "m5.large": Verdict.SUPPORTED,
    "t2.micro": Verdict.ASK_AWS,  # not on AWS's list: documented as a previous generation, not supported
    "m9z.large": Verdict.ASK_AWS,  # a family newer than AWS's list: AWS is asked
    "c5.large": Verdict.UNSUPPORTED,  # EligibilityDeny, or refused by AWS in this container
}


def instance(
    iid: str = "i-1",
    tags: dict[str, str] | None = None,
    state: str = "running",
    itype: str = "m5.large",
    eni: AttachedEni | None = None,
) -> Instance:
    return builders.instance(iid, state, tags, (eni or AttachedEni(f"eni-{iid}"),), itype)


def ours(eni: str, target: str = "tmt-a", number: int = 1, filter_id: str = "tmf-1") -> MirrorSession:
    return builders.session(f"tms-{eni}-{number}", eni, target, number, filter_id=filter_id, instance_id=None)


def other_team(eni: str, number: int, filter_id: str = "tmf-other") -> MirrorSession:
    sid = f"tms-other-{eni}-{number}"
    return builders.session(sid, eni, "tmt-other", number, ours=False, filter_id=filter_id, tags={"team": "network"})


def world(
    *instances: Instance,
    sessions: tuple[MirrorSession, ...] = (),
    targets: dict[str, MirrorTarget] | None = None,
    filters: frozenset[str] = frozenset({"tmf-1", "tmf-other"}),
) -> Inventory:
    return builders.inventory(
        *instances,
        sessions=sessions,
        targets=TARGETS if targets is None else targets,
        verdicts=VERDICTS,
        existing_filter_ids=filters,
        read_at=NOW,
    )


def verdict_of(inventory: Inventory, iid: str = "i-1", settings: Settings = SETTINGS) -> EniVerdict:
    [found] = [v for v in plan_mirroring(inventory, settings).sources if v.instance_id == iid]
    return found


# -- out of the denominator --------------------------------------------------------------------------------------
# Each: the world, and the reason its one ENI is not counted. The README's "Coverage" table names every one.
NOT_COUNTED: dict[str, Callable[[], Inventory]] = {
    # Nobody asks for it now
    "opted-out": lambda: world(instance(tags={"mirror": "false", "mirror-status": "mirrored"})),
    "instance-not-tagged": lambda: world(instance(tags={"Name": "web"})),
    "tag-removed": lambda: world(instance(tags={"mirror-status": "mirrored"})),
    "expired": lambda: world(instance(tags={"mirror": "true", "mirror-until": "2026-11-30T00:00:00Z"})),
    # Not running
    "instance-stopped": lambda: world(instance(state="stopped")),
    "instance-pending": lambda: world(instance(state="pending")),
    "instance-terminated": lambda: world(instance(state="terminated")),
    # A type AWS does not support
    "unsupported-instance-type": lambda: world(instance(itype="c5.large")),
    # An ENI AWS does not mirror
    "eni-is-mirror-target": lambda: world(
        instance(),
        targets={**TARGETS, "tmt-eni": MirrorTarget("tmt-eni", "network-interface", 10, eni_id="eni-i-1")},
    ),
    "unsupported-interface-type": lambda: world(instance(eni=AttachedEni("eni-i-1", interface_type="efa"))),
    "ipv6-only-subnet": lambda: world(instance(eni=AttachedEni("eni-i-1", ipv6_only=True))),
}


@pytest.mark.parametrize("reason", sorted(NOT_COUNTED))
def test_an_eni_nobody_asks_for_that_does_not_run_or_that_aws_cannot_mirror_is_out_of_the_denominator(
    reason: str,
) -> None:
    verdict = verdict_of(NOT_COUNTED[reason]())
    assert (verdict.counted, verdict.reason) == (False, reason)
    figure = coverage.as_read([verdict])
    assert (figure.to_mirror, figure.percent, figure.not_counted) == (0, None, {reason: 1})


def test_a_type_aws_refused_when_last_asked_or_documents_as_unsupported_is_out_while_a_newer_one_is_asked() -> None:
    # Documented as not supported (T2), not yet asked in this container: out, and AWS is asked all the same
    inventory = world(instance(itype="t2.micro"))
    assert (verdict_of(inventory).counted, verdict_of(inventory).reason) == (False, "unsupported-instance-type")
    assert [c.probe_type for c in plan_mirroring(inventory, SETTINGS).creates] == ["t2.micro"]
    # A newer family AWS refused when last asked (its status says so): out
    refused = world(instance(itype="m9z.large", tags={"mirror": "true", "mirror-status": "unsupported-instance-type"}))
    assert verdict_of(refused).reason == "unsupported-instance-type" and not verdict_of(refused).counted
    # A newer family not asked yet: in, since it is likely supported; the instance that asks will be mirrored, the
    # one that waits for AWS's answer is not yet
    asked = world(instance("i-1", itype="m9z.large"), instance("i-2", itype="m9z.large"))
    first, waiting = verdict_of(asked, "i-1"), verdict_of(asked, "i-2")
    assert (first.counted, first.reason, first.reason_now) == (True, "", "missing-session")
    assert (waiting.counted, waiting.reason, waiting.reason_now) == (True, "awaiting-verdict", "awaiting-verdict")


# -- in the denominator ------------------------------------------------------------------------------------------
def test_a_mirrored_eni_counts_in_both_parts_of_the_figure() -> None:
    verdict = verdict_of(world(instance(), sessions=(ours("eni-i-1"),)))
    assert verdict == EniVerdict("i-1", "eni-i-1", True, "", "")
    assert coverage.as_read([verdict]).percent == 100


def test_an_instance_selected_by_a_finding_or_a_selector_counts_like_a_tagged_one() -> None:
    finding = instance(tags={"mirror": "false", "mirror-finding-until": "2026-12-02T00:00:00Z"})
    assert verdict_of(world(finding)).counted
    selected = replace(instance(tags={"team": "web"}), vpc_id="vpc-0abc")
    with_selector = load_settings(
        {"TARGET_IDS": "tmt-a", "FILTER_ID": "tmf-1", "MANAGED_BY": "stack", "MIRROR_SELECTORS": "vpc-0abc"}
    )
    assert verdict_of(world(selected), settings=with_selector).counted


# Each: the world, why its ENI is not mirrored as read, and as the plan would leave it ("" = mirrored).
UNMIRRORED: dict[str, tuple[Callable[[], Inventory], str, str]] = {
    "no session yet: the plan creates it": (lambda: world(instance()), "missing-session", ""),
    "its ENI holds 3 sessions of others": (
        lambda: world(instance(), sessions=tuple(other_team("eni-i-1", n) for n in (1, 2, 3))),
        "eni-session-limit",
        "eni-session-limit",
    ),
    "a session not ours with the same filter ahead of ours": (
        lambda: world(instance(), sessions=(other_team("eni-i-1", 1, "tmf-1"), ours("eni-i-1", number=2))),
        "shadowed-by-other-session",
        "shadowed-by-other-session",
    ),
    "its target tag names a target outside the pool": (
        lambda: world(instance(tags={"mirror": "true", "mirror-target": "tmt-rogue"})),
        "target-not-approved",
        "target-not-approved",
    ),
    "an unreadable mirror-until: its session is deleted": (
        lambda: world(instance(tags={"mirror": "true", "mirror-until": "tomorrow"}), sessions=(ours("eni-i-1"),)),
        "",
        "mirror-until-unreadable",
    ),
    "its session's target is dead, and no live target": (
        lambda: world(
            instance(),
            sessions=(ours("eni-i-1"),),
            targets={"tmt-a": replace(TARGETS["tmt-a"], live=False, problem="no UDP 4789 listener")},
        ),
        "target-dead",
        "target-dead",
    ),
    "its session's target is dead, and a live one takes it": (
        lambda: world(
            instance(),
            sessions=(ours("eni-i-1", target="tmt-gone"),),
        ),
        "target-missing",
        "",
    ),
    "its session's target drops its copies, and no other": (
        lambda: world(
            instance(eni=AttachedEni("eni-i-1", private_ip="10.0.1.5")),
            sessions=(ours("eni-i-1"),),
            targets={"tmt-a": replace(TARGETS["tmt-a"], ingress=TargetIngress(("sg-nlb",), (), load_balancer=True))},
        ),
        "target-unhealthy",
        "no-healthy-target",
    ),
    "its session's filter is gone: deleted, and a new one created": (
        lambda: world(instance(), sessions=(ours("eni-i-1", filter_id="tmf-gone"),)),
        "filter-missing",
        "",
    ),
    "every target is full": (
        lambda: world(
            instance(),
            targets={"tmt-a": MirrorTarget("tmt-a", "network-interface", 1, frozenset({"zone-a"}))},
            sessions=(ours("eni-x"),),
        ),
        "no-target-capacity",
        "no-target-capacity",
    ),
}


@pytest.mark.parametrize("case", sorted(UNMIRRORED))
def test_an_eni_that_should_be_mirrored_counts_with_why_it_is_not(case: str) -> None:
    build, now, planned = UNMIRRORED[case]
    verdict = verdict_of(build())
    assert (verdict.counted, verdict.reason_now, verdict.reason) == (True, now, planned)
    read, after = coverage.as_read([verdict]), coverage.as_planned([verdict])
    assert (read.to_mirror, read.mirrored, read.unmirrored) == (1, 0 if now else 1, {now: 1} if now else {})
    assert (after.to_mirror, after.mirrored, after.unmirrored) == (
        1,
        0 if planned else 1,
        {planned: 1} if planned else {},
    )


def test_the_readme_defines_every_reason_out_of_the_denominator() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Coverage") : readme.index("## Alarms")]
    table = section[section.index("| counts when |") : section.index("An owner's `mirror-until`")]
    named = set(re.findall(r"`([a-z0-9-]+)`", table))
    assert sorted(set(NOT_COUNTED) - named) == []
    assert "`mirror-until-unreadable`" in section  # the one owner's wish that counts although not mirrored


# -- the arithmetic --------------------------------------------------------------------------------------------------
def counted(iid: str, eni: str, reason: str = "", now: str = "") -> EniVerdict:
    return EniVerdict(iid, eni, True, reason, now)


def test_the_figure_its_reasons_and_what_to_fix_first() -> None:
    verdicts = [
        counted("i-1", "eni-1"),
        counted("i-2", "eni-2", "eni-session-limit", "eni-session-limit"),
        counted("i-3", "eni-3a", "no-target-capacity", "no-target-capacity"),
        counted("i-3", "eni-3b", "no-target-capacity", "no-target-capacity"),
        counted("i-4", "eni-4", "no-target-capacity", "no-target-capacity"),
        EniVerdict("i-5", "eni-5", False, "opted-out"),
    ]
    figure = coverage.as_read(verdicts)
    assert (figure.to_mirror, figure.mirrored, figure.percent) == (5, 1, 20)
    assert figure.unmirrored == {"eni-session-limit": 1, "no-target-capacity": 3}
    assert figure.not_counted == {"opted-out": 1}
    # The reason that recovers the most ENIs first, with its instances
    assert figure.fix_first() == [
        {"reason": "no-target-capacity", "enis": 3, "instances": 2, "examples": ["i-3", "i-4"]},
        {"reason": "eni-session-limit", "enis": 1, "instances": 1, "examples": ["i-2"]},
    ]
    assert figure.as_dict()["percent"] == 20 and "enis" not in figure.as_dict()
    assert [row["eni_id"] for row in figure.as_dict(with_enis=True)["enis"]] == [
        "eni-1",
        "eni-2",
        "eni-3a",
        "eni-3b",
        "eni-4",
        "eni-5",
    ]


def test_nothing_to_mirror_is_no_figure_not_zero() -> None:
    figure = coverage.as_read([EniVerdict("i-1", "eni-1", False, "instance-stopped")])
    assert figure.percent is None and figure.as_dict()["percent"] is None
    assert coverage.as_read([]).as_dict()["enis_to_mirror"] == 0


def test_percent_is_rounded_for_people_but_exact_for_the_metric() -> None:
    figure = coverage.as_read([counted("i-1", "eni-1"), counted("i-2", "eni-2"), counted("i-3", "eni-3", "x", "x")])
    assert figure.percent == pytest.approx(200 / 3) and figure.as_dict()["percent"] == 66.67


# -- after a run -----------------------------------------------------------------------------------------------------
def test_after_a_run_an_eni_is_mirrored_only_with_a_session_of_ours_on_it() -> None:
    planned = counted("i-1", "eni-1", "", "missing-session")
    # Created and confirmed
    assert coverage.after_run([planned], {"eni-1"}, {"i-1"}, {"i-1": "mirrored"}).mirrored == 1
    # Planned, but the create found the ENI full (sessions this account cannot see): its status says so
    full = coverage.after_run([planned], set(), {"i-1"}, {"i-1": "eni-session-limit"})
    assert full.unmirrored == {"eni-session-limit": 1}
    # Planned, but not confirmed by the describe after the run
    assert coverage.after_run([planned], set(), {"i-1"}, {"i-1": "mirrored"}).unmirrored == {"missing-session": 1}


def test_after_a_run_an_instance_it_did_not_finish_counts_as_read_and_an_error_names_itself() -> None:
    was_mirrored = counted("i-1", "eni-1", "", "")
    was_not = counted("i-2", "eni-2", "", "missing-session")
    # Left for the next run by the deadline: as read
    left = coverage.after_run([was_mirrored, was_not], {"eni-1"}, set(), {})
    assert (left.mirrored, left.unmirrored) == (1, {"missing-session": 1})
    # Rolled back after an AWS error: what was mirrored still is, the rest says the error
    failed = coverage.after_run([was_mirrored, was_not], {"eni-1"}, set(), {"i-1": "error:X", "i-2": "error:X"})
    assert (failed.mirrored, failed.unmirrored) == (1, {"error:X": 1})
    # A plan that leaves it unmirrored is believed only once applied: before, the session read still counts
    deleted = counted("i-3", "eni-3", "target-dead", "")
    assert coverage.after_run([deleted], {"eni-3"}, set(), {}).mirrored == 1
    assert coverage.after_run([deleted], set(), {"i-3"}, {}).unmirrored == {"target-dead": 1}


def test_after_a_run_a_type_aws_refused_leaves_the_denominator() -> None:
    probe = counted("i-1", "eni-1", "", "missing-session")
    figure = coverage.after_run([probe], set(), {"i-1"}, {"i-1": "unsupported-instance-type"})
    assert (figure.to_mirror, figure.not_counted) == (0, {"unsupported-instance-type": 1})


def test_under_the_safety_valve_an_instance_whose_deletes_and_moves_were_held_back_counts_as_read() -> None:
    # Given a plan that moves one session off a missing target and creates others, applied creations only: an
    # instance that only moves, and one that moves on one ENI and creates on the other
    two_enis = Instance(
        "i-2", "running", "m5.large", "zone-a", {"mirror": "true"}, (AttachedEni("eni-2a"), AttachedEni("eni-2b"))
    )
    inventory = world(
        instance("i-1"),
        two_enis,
        sessions=(ours("eni-i-1", target="tmt-gone"), ours("eni-2a", target="tmt-gone")),
    )
    plan: Plan = plan_mirroring(inventory, SETTINGS)
    assert sorted(u.session.eni_id for u in plan.updates) == ["eni-2a", "eni-i-1"]
    assert [c.eni_id for c in plan.creates] == ["eni-2b"]
    applied = creations_only(plan)
    outcome = Outcome(created=[ours("eni-2b")], applied=["i-2"], final_status={"i-2": "mirrored"})
    # When coverage is counted after the run
    figure = coverage_after(inventory, applied, outcome, SETTINGS, plan.subjects, applied.subjects)
    # Then the created one is mirrored; those whose move was held back are as read: on a missing target
    assert (figure.to_mirror, figure.mirrored, figure.unmirrored) == (3, 1, {"target-missing": 2})
