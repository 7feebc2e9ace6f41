"""Incident response end to end: a GuardDuty finding, routed by the template's own rule, mirrors every ENI of each
instance it names for a window of its own; the scheduled reconciler ends the window and leaves each instance as its
owner tagged it. Against moto plus the strict AWS layer."""

from __future__ import annotations

import copy
import importlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from functions.scheduled_reconciler.app import handler as scheduled
from simulation.account import SimulatedAccount
from simulation.eventbridge import load_rules, matching_rules
from tests.integration.stack import LambdaContext, Stack, event, make_stack
from traffic_mirroring.incident import MIN_SEVERITY_VARIABLE, MIRROR_HOURS_VARIABLE, load_incident_settings
from traffic_mirroring.planner import parse_until

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
GUARDDUTY = "GuardDutyFindingFunction"
TAG_CHANGE = "InstanceTagChangeFunction"
THRESHOLD = {"GuardDutyMinSeverity": "7"}  # a deployment with the GuardDuty rule on, at "high"
FINDING_LABEL = "Backdoor:EC2/C&CActivity.B!DNS 16afba5c5c43e07c9e3e5e2e544e95df"
OTHER_ACCOUNT = "210987654321"
UNTIL, FINDING = "mirror-finding-until", "mirror-finding"  # the finding's own window and label
SEQUENCE_SAMPLE = "guardduty-attack-sequence-ec2.json"


@pytest.fixture
def pool(account: SimulatedAccount) -> dict[str, str]:
    return {"nlb": account.nlb_target(), "filter": account.mirror_filter()}


@pytest.fixture
def stack(account: SimulatedAccount, pool: dict[str, str]) -> Stack:
    return make_stack(account, [pool["nlb"]], pool["filter"])


def deliver(stack: Stack, delivered: dict[str, Any], parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """Deliver an event as EventBridge would with this stack deployed with these parameters: to every function whose
    rule in template.yaml matches it (its handler, its settings). Returns each reached function's answer."""
    parameters = {**THRESHOLD, **(parameters or {})}
    answers: dict[str, Any] = {}
    for rule in matching_rules(load_rules(TEMPLATE, parameters), delivered):
        module = importlib.import_module(rule.code_uri.strip("/").replace("/", ".") + ".app")
        extra: dict[str, Any] = {}
        if rule.function_logical_id == GUARDDUTY:  # the function's own environment, from the same parameters
            extra["incident"] = load_incident_settings(
                {
                    MIN_SEVERITY_VARIABLE: parameters["GuardDutyMinSeverity"],
                    MIRROR_HOURS_VARIABLE: parameters.get("GuardDutyMirrorHours", "24"),
                }
            )
        answers[rule.function_logical_id] = module.handler(
            copy.deepcopy(delivered), LambdaContext(), runtime=stack.runtime, **extra
        )
    return answers


def finding(instance_id: str, severity: float = 8, **detail: Any) -> dict[str, Any]:
    """The sample finding (events/guardduty-finding-ec2.json) about this instance."""
    found = event("guardduty-finding-ec2.json", instance_id)
    found["detail"]["resource"]["instanceDetails"]["instanceId"] = instance_id
    found["detail"]["severity"] = severity
    found["detail"].update(detail)
    return found


def until_of(stack: Stack, instance_id: str, key: str = UNTIL) -> datetime:
    until = parse_until(stack.account.tags_of(instance_id)[key])
    assert until is not None
    return until


def owner_tags(stack: Stack, instance_id: str) -> dict[str, str]:
    """The instance's tags but the generation, the product's record of deleted sessions (docs/architecture.md)."""
    return {k: v for k, v in stack.account.tags_of(instance_id).items() if k != "mirror-generation"}


def answer_of(answers: dict[str, Any], instance_id: str) -> dict[str, Any]:
    """The GuardDuty function's report for one instance of the finding."""
    report: dict[str, Any] = answers[GUARDDUTY]["instances"][instance_id]
    return report


def mirrored_enis(stack: Stack, instance_id: str) -> list[str]:
    return sorted(s["NetworkInterfaceId"] for s in stack.our_sessions(instance_id))


def reconcile(stack: Stack) -> dict[str, Any]:
    return scheduled(event("scheduled-event.json", "i-0123456789abcdef0"), LambdaContext(), runtime=stack.runtime)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- a finding mirrors every ENI, for the window ----------------------------------------------------------------
def test_a_high_severity_finding_mirrors_every_eni_of_its_instance_for_the_window(stack: Stack) -> None:
    # Given an instance with two ENIs that nobody asked to mirror
    instance = stack.account.launch(tags={"Name": "web-1"}, extra_enis=1)
    before = datetime.now(UTC)
    # When GuardDuty reports a finding of severity 8 about it
    answers = deliver(stack, finding(instance, 8))
    # Then the GuardDuty function alone received it, and both ENIs are mirrored in that same invocation
    assert list(answers) == [GUARDDUTY]
    assert mirrored_enis(stack, instance) == sorted(stack.account.enis_of(instance))
    assert answer_of(answers, instance)["sessions_created"] == 2
    # And the instance carries the finding's window, 24 h ahead, and the finding; no owner's tag is written
    tags = stack.account.tags_of(instance)
    assert tags[FINDING] == FINDING_LABEL
    assert tags["mirror-status"] == "mirrored"
    assert "mirror" not in tags and "mirror-until" not in tags
    assert before + timedelta(hours=24) - timedelta(seconds=1) <= until_of(stack, instance)
    assert until_of(stack, instance) <= datetime.now(UTC) + timedelta(hours=24)
    assert answer_of(answers, instance)["incident_window"] == {"verdict": "opened", "until": tags[UNTIL]}


def test_the_window_follows_guardduty_mirror_hours(stack: Stack) -> None:
    instance = stack.account.launch()
    deliver(stack, finding(instance, 9), {"GuardDutyMirrorHours": "6"})
    assert until_of(stack, instance) - datetime.now(UTC) <= timedelta(hours=6)
    assert until_of(stack, instance) - datetime.now(UTC) > timedelta(hours=5, minutes=59)


def test_a_finding_below_the_threshold_reaches_no_function_and_changes_nothing(stack: Stack) -> None:
    instance = stack.account.launch(extra_enis=1)
    before = stack.account.tags_of(instance)
    stack.calls.reset()

    assert deliver(stack, finding(instance, 2)) == {}
    assert stack.calls.total == 0  # (before the checks below, which read through the same client)
    assert stack.account.tags_of(instance) == before
    assert stack.our_sessions(instance) == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"service": {"serviceName": "guardduty", "additionalInfo": {"sample": True}}}, "sample finding"),
        ({"accountId": OTHER_ACCOUNT}, "finding of another account"),
    ],
    ids=["sample", "another-account"],
)
def test_a_sample_finding_or_one_of_another_account_is_ignored_without_an_aws_call(
    stack: Stack, change: dict[str, Any], reason: str
) -> None:
    # Given a finding the rule does deliver (severity 8 on an instance)
    instance = stack.account.launch(extra_enis=1)
    before = stack.account.tags_of(instance)
    stack.calls.reset()
    # When it arrives
    answers = deliver(stack, finding(instance, 8, **change))
    # Then the function says why it ignored it, and made no AWS call: no tag, no session
    assert reason in answers[GUARDDUTY]["ignored"]
    assert stack.calls.total == 0
    assert stack.account.tags_of(instance) == before
    assert stack.our_sessions(instance) == []


def attack_sequence(instance_ids: list[str], **detail: Any) -> dict[str, Any]:
    """The sample attack sequence (events/guardduty-attack-sequence-ec2.json) naming these instances."""
    sequence = event(SEQUENCE_SAMPLE, instance_ids[0])
    named = sequence["detail"]["service"]["detection"]["sequence"]
    instances = [r for r in named["resources"] if r["resourceType"] == "EC2_INSTANCE"]
    assert len(instances) == len(instance_ids)
    renamed = {r["uid"]: instance_id for r, instance_id in zip(instances, instance_ids, strict=True)}
    for resource in instances:
        resource["uid"] = renamed[resource["uid"]]
    for signal in named["signals"]:
        signal["resourceUids"] = [renamed.get(uid, uid) for uid in signal["resourceUids"]]
    sequence["detail"].update(detail)
    return sequence


@pytest.mark.parametrize("kind", ["finding", "attack-sequence"])
def test_an_archived_finding_makes_no_aws_call_writes_no_tag_and_opens_no_window(stack: Stack, kind: str) -> None:
    # Given instances and a finding about them that an analyst archived (GuardDuty keeps sending its events)
    from functions.guardduty_finding.app import handler

    group = [stack.account.launch(tags={"mirror": "false"}, extra_enis=1) for _ in range(3)]
    archived = finding(group[0], 9) if kind == "finding" else attack_sequence(group)
    archived["detail"]["service"]["archived"] = True
    before = {i: stack.account.tags_of(i) for i in group}
    stack.calls.reset()
    # When EventBridge routes it by the template's rule: no function receives it
    assert deliver(stack, archived) == {}
    # And when the function receives it anyway (a rule edited by hand, a test invocation), it ignores it too
    incident = load_incident_settings({MIN_SEVERITY_VARIABLE: "7"})
    answer = handler(copy.deepcopy(archived), LambdaContext(), runtime=stack.runtime, incident=incident)
    assert "archived finding" in answer["ignored"]
    # Then no call to AWS, no tag written, no window, no session
    assert stack.calls.total == 0
    assert {i: stack.account.tags_of(i) for i in group} == before
    assert stack.our_sessions() == []


def test_an_attack_sequence_mirrors_every_instance_it_names_in_one_invocation(stack: Stack) -> None:
    # Given three instances nobody asked to mirror (one opted out), of which GuardDuty names the group
    group = [
        stack.account.launch(tags={"Name": "web-1"}, extra_enis=1),
        stack.account.launch(tags={"Name": "web-2", "mirror": "false"}),
        stack.account.launch(tags={"Name": "web-3"}, zone=stack.account.zones[1]),
    ]
    before = datetime.now(UTC)
    stack.calls.reset()
    # When its attack-sequence finding arrives (Critical, resource type undocumented: routed by its type)
    answers = deliver(stack, attack_sequence(group))
    calls = dict(stack.calls.counts)  # (before the checks below, which read through the same client)
    print(f"attack sequence, 3 instances (4 ENIs), cold: {sum(calls.values())} {calls}")
    # Then the GuardDuty function alone received it, and every ENI of all three is mirrored in that invocation
    assert list(answers) == [GUARDDUTY]
    assert sorted(answers[GUARDDUTY]["instances"]) == sorted(group)
    label = "AttackSequence:EC2/CompromisedInstanceGroup 7ac9e0b4d2f14b6a8c3e5d7f9a1b3c5d"
    for instance in group:
        assert mirrored_enis(stack, instance) == sorted(stack.account.enis_of(instance)), instance
        tags = stack.account.tags_of(instance)
        assert tags[FINDING] == label
        assert tags["mirror-status"] == "mirrored"
        assert before + timedelta(hours=24) - timedelta(seconds=1) <= until_of(stack, instance)
        assert answer_of(answers, instance)["incident_window"]["verdict"] == "opened"
    assert stack.account.tags_of(group[1])["mirror"] == "false"  # the owner's tag is not rewritten
    # And the three windows were written in one CreateTags (then one status write per instance)
    assert calls["CreateTags"] == 1 + len(group)
    assert calls["DescribeInstances"] == 1 + len(group)  # the finding's instances at once, then each reconcile
    assert calls["CreateTrafficMirrorSession"] == 4


def test_an_attack_sequence_naming_no_instance_of_this_account_is_ignored_without_an_aws_call(stack: Stack) -> None:
    instance = stack.account.launch()
    elsewhere = attack_sequence([instance, "i-0fedcba9876543210", "i-0fedcba9876543211"])
    for resource in elsewhere["detail"]["service"]["detection"]["sequence"]["resources"]:
        resource["accountId"] = OTHER_ACCOUNT
    stack.calls.reset()

    answers = deliver(stack, elsewhere)

    assert "naming no EC2 instance of this account" in answers[GUARDDUTY]["ignored"]
    assert stack.calls.total == 0


def test_a_finding_below_the_threshold_delivered_anyway_is_ignored_by_the_function(stack: Stack) -> None:
    # Belt and braces: a rule edited by hand, or a test invocation, still cannot mirror below the threshold.
    from functions.guardduty_finding.app import handler

    instance = stack.account.launch()
    stack.calls.reset()
    incident = load_incident_settings({MIN_SEVERITY_VARIABLE: "7"})
    answer = handler(finding(instance, 6.9), LambdaContext(), runtime=stack.runtime, incident=incident)
    assert "below GuardDutyMinSeverity" in answer["ignored"]
    assert stack.calls.total == 0


def test_a_finding_about_an_instance_that_is_gone_tags_nothing(stack: Stack) -> None:
    answers = deliver(stack, finding("i-0fedcba9876543210", 9))
    assert "does not exist" in answers[GUARDDUTY]["ignored"]
    assert stack.our_sessions() == []


# -- later findings: the window grows, never shrinks --------------------------------------------------------------
def test_a_later_finding_extends_the_window(stack: Stack) -> None:
    # Given an instance whose window (from an earlier finding) ends in an hour
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    instance = stack.account.launch(tags={UNTIL: iso(soon), FINDING: "Recon:EC2/Portscan 1"}, extra_enis=1)
    # When a new finding arrives
    answers = deliver(stack, finding(instance, 7))
    # Then the window ends 24 hours from now, and the instance is (still) fully mirrored
    assert until_of(stack, instance) > soon + timedelta(hours=22)
    assert answer_of(answers, instance)["incident_window"]["verdict"] == "extended"
    assert stack.account.tags_of(instance)[FINDING] == FINDING_LABEL
    assert mirrored_enis(stack, instance) == sorted(stack.account.enis_of(instance))


def test_a_later_finding_never_shortens_the_window(stack: Stack) -> None:
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=5)
    instance = stack.account.launch(tags={UNTIL: iso(later)})

    answers = deliver(stack, finding(instance, 9.5))

    assert until_of(stack, instance) == later
    assert answer_of(answers, instance)["incident_window"] == {"verdict": "kept", "until": iso(later)}
    assert stack.account.tags_of(instance)[FINDING] == FINDING_LABEL
    assert len(stack.our_sessions(instance)) == 1


def test_an_owner_s_own_window_is_never_written_and_a_later_one_is_kept(stack: Stack) -> None:
    # Given an instance its owner mirrors for 5 days (docs/incident-response.md, mirror-until by hand)
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=5)
    instance = stack.account.launch(tags={"mirror": "true", "mirror-until": iso(later)})

    answers = deliver(stack, finding(instance, 9.5))

    # Then its own window is untouched and ends later than the finding's: mirrored until then
    tags = stack.account.tags_of(instance)
    assert (tags["mirror"], tags["mirror-until"]) == ("true", iso(later))
    assert until_of(stack, instance) < later
    assert answer_of(answers, instance)["incident_window"] == {"verdict": "kept", "until": iso(later)}


def test_the_same_finding_twice_gives_one_session_per_eni(stack: Stack) -> None:
    instance = stack.account.launch(extra_enis=2)
    delivered = finding(instance, 8)
    deliver(stack, delivered)
    first_until = until_of(stack, instance)
    deliver(stack, delivered)
    assert mirrored_enis(stack, instance) == sorted(stack.account.enis_of(instance))
    assert until_of(stack, instance) >= first_until


def test_an_instance_mirrored_without_end_keeps_no_end(stack: Stack) -> None:
    # Given an instance tagged for mirroring, with no window, and mirrored
    instance = stack.account.launch(tags={"mirror": "true"}, extra_enis=1)
    deliver(stack, event("ec2-instance-running.json", instance))
    sessions = stack.our_sessions(instance)
    assert len(sessions) == 2
    # When a finding arrives about it
    answers = deliver(stack, finding(instance, 8))
    # Then no end is added to its owner's tags; the finding is recorded with its own window
    tags = stack.account.tags_of(instance)
    assert "mirror-until" not in tags
    assert tags[FINDING] == FINDING_LABEL
    assert answer_of(answers, instance)["incident_window"] == {"verdict": "mirrored-without-end", "until": None}
    assert stack.our_sessions(instance) == sessions
    # And once the finding's window is over, it is still mirrored, without end, and the finding's tags are gone
    stack.account.tag(instance, **{UNTIL: iso(datetime.now(UTC) - timedelta(minutes=1))})
    reconcile(stack)
    tags = stack.account.tags_of(instance)
    assert UNTIL not in tags and FINDING not in tags and "mirror-until" not in tags
    assert stack.our_sessions(instance) == sessions


def test_a_finding_mirrors_an_opted_out_instance_for_its_window_and_then_leaves_it_as_its_owner_did(
    stack: Stack,
) -> None:
    # Given an instance its owner opted out
    instance = stack.account.launch(tags={"Name": "db-1", "mirror": "false"}, extra_enis=1)
    # When a finding arrives about it
    deliver(stack, finding(instance, 8))
    # Then it is mirrored for the window, and its owner's opt-out is not rewritten
    assert mirrored_enis(stack, instance) == sorted(stack.account.enis_of(instance))
    assert stack.account.tags_of(instance)["mirror"] == "false"
    # When the window is over and the scheduled reconciler runs
    stack.account.tag(instance, **{UNTIL: iso(datetime.now(UTC) - timedelta(minutes=1))})
    summary = reconcile(stack)
    # Then it carries exactly its owner's tags again, and no session (mirror-generation stays: it records that
    # sessions were deleted, so a later window never reuses their client tokens)
    assert owner_tags(stack, instance) == {"Name": "db-1", "mirror": "false"}
    assert stack.our_sessions(instance) == []
    assert summary["sessions_deleted"] == {"expired": 2}


def test_the_tag_change_the_window_causes_reaches_the_tag_function_and_changes_nothing(stack: Stack) -> None:
    # The function's own CreateTags (mirror-finding-until, mirror-finding) is a tag change AWS reports too.
    instance = stack.account.launch(extra_enis=1)
    deliver(stack, finding(instance, 8))
    sessions = stack.our_sessions(instance)
    change = event("tag-change-mirror-added.json", instance)
    change["detail"]["changed-tag-keys"] = [UNTIL, FINDING]
    change["detail"]["tags"] = stack.account.tags_of(instance)

    answers = deliver(stack, change)

    assert list(answers) == [TAG_CHANGE]
    assert answers[TAG_CHANGE]["sessions_created"] == 0
    assert stack.our_sessions(instance) == sessions


@pytest.mark.parametrize("selectors", ["eks:cluster-name=prod", ""], ids=["with-selectors", "without-selectors"])
def test_a_packet_length_tag_change_is_applied_by_the_event(stack: Stack, selectors: str) -> None:
    # Given a stack that lets an instance's mirror-packet-length tag choose 128, and a mirrored instance
    parameters = {"MirrorSelectors": selectors, "ApprovedPacketLengths": "128"}
    stack.configure(MIRROR_SELECTORS=selectors, APPROVED_PACKET_LENGTHS="128")
    instance = stack.account.launch(tags={"eks:cluster-name": "prod"} if selectors else {"mirror": "true"})
    deliver(stack, event("ec2-instance-running.json", instance), parameters)
    [before] = stack.our_sessions(instance)
    assert before.get("PacketLength") != 128
    # When its owner tags it mirror-packet-length=128, and AWS reports the tag change
    stack.account.tag(instance, **{"mirror-packet-length": "128"})
    change = event("tag-change-mirror-added.json", instance)
    change["detail"]["changed-tag-keys"] = ["mirror-packet-length"]
    change["detail"]["tags"] = stack.account.tags_of(instance)
    answers = deliver(stack, change, parameters)
    # Then the template's rule routes it to the tag-change function, which rolls the session over at once
    assert list(answers) == [TAG_CHANGE]
    assert "ignored" not in answers[TAG_CHANGE]
    [after] = stack.our_sessions(instance)
    assert (after["TrafficMirrorSessionId"], after["PacketLength"]) == (before["TrafficMirrorSessionId"], 128)


def test_api_calls_of_a_finding_on_a_two_eni_instance(stack: Stack) -> None:
    # Cold: the first finding in a container (targets and the instance type's verdict are not cached yet).
    cold = stack.account.launch(extra_enis=1)
    stack.calls.reset()
    deliver(stack, finding(cold, 8))
    cold_calls = dict(stack.calls.counts)
    # Warm: the next finding in the same container.
    warm = stack.account.launch(extra_enis=1)
    stack.calls.reset()
    deliver(stack, finding(warm, 8))
    print(f"GuardDuty finding, 2 ENIs: cold {sum(cold_calls.values())} {cold_calls}")
    print(f"GuardDuty finding, 2 ENIs: warm {stack.calls.total} {dict(stack.calls.counts)}")
    # The window costs one read and one write: DescribeInstances and CreateTags, before the reconcile of the instance.
    assert stack.calls.counts["CreateTags"] == 2  # the window, then the status and generation
    assert stack.calls.counts["CreateTrafficMirrorSession"] == 2
    assert stack.calls.total <= 8
    assert mirrored_enis(stack, warm) == sorted(stack.account.enis_of(warm))


# -- the window ends: the scheduled reconciler deletes the sessions -------------------------------------------------
def test_an_instance_whose_window_has_passed_loses_its_sessions_on_the_next_reconcile(stack: Stack) -> None:
    # Given an instance mirrored for a finding, and a second instance mirrored without end
    windowed = stack.account.launch(extra_enis=1)
    deliver(stack, finding(windowed, 8))
    endless = stack.account.launch(tags={"mirror": "true"})
    deliver(stack, event("ec2-instance-running.json", endless))
    assert len(stack.our_sessions(windowed)) == 2
    # When its window is over (mirror-finding-until in the past) and the schedule fires
    stack.account.tag(windowed, **{UNTIL: iso(datetime.now(UTC) - timedelta(minutes=1))})
    summary = reconcile(stack)
    # Then its sessions are gone, and so are the finding's tags and the status (nobody asks for it any more);
    # the other instance keeps its session
    assert stack.our_sessions(windowed) == []
    assert summary["sessions_deleted"] == {"expired": 2}
    assert owner_tags(stack, windowed) == {}
    assert len(stack.our_sessions(endless)) == 1


def test_an_instance_whose_window_is_ahead_is_mirrored_by_the_reconciler(stack: Stack) -> None:
    # Given an instance tagged with a window ahead, whose events were all missed
    ahead = datetime.now(UTC) + timedelta(hours=3)
    instance = stack.account.launch(tags={"mirror": "true", "mirror-until": iso(ahead)}, extra_enis=1)
    # When the schedule fires
    summary = reconcile(stack)
    # Then every ENI is mirrored, and the report shows the time left
    assert mirrored_enis(stack, instance) == sorted(stack.account.enis_of(instance))
    assert summary["mirroring_windows"][instance].startswith(iso(ahead))
