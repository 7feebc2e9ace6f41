"""Each instance-event handler against moto plus the strict AWS layer: what a user would see in their account."""

from __future__ import annotations

import importlib
import threading
from pathlib import Path
from typing import Any

import pytest

from functions.autoscaling_launch.app import handler as autoscaling_launch
from functions.instance_state_change.app import handler as state_change
from functions.instance_tag_change.app import handler as tag_change
from functions.scheduled_reconciler.app import handler as reconcile
from simulation.account import SimulatedAccount
from simulation.eventbridge import load_rules, matching_rules
from tests.integration.stack import LambdaContext, Stack, event, make_stack
from traffic_mirroring.errors import EventValidationError, MirroringFailed, RollbackIncomplete

ZONE_A, ZONE_B = "us-east-1a", "us-east-1b"


@pytest.fixture
def pool(account: SimulatedAccount) -> dict[str, str]:
    return {
        "eni_a": account.eni_target(ZONE_A),
        "eni_b": account.eni_target(ZONE_B),
        "nlb": account.nlb_target([ZONE_A, ZONE_B]),
        "filter": account.mirror_filter(),
    }


@pytest.fixture
def stack(account: SimulatedAccount, pool: dict[str, str]) -> Stack:
    return make_stack(account, [pool["eni_a"], pool["nlb"]], pool["filter"])


def launched(stack: Stack, instance_id: str) -> dict[str, object]:
    return state_change(event("ec2-instance-running.json", instance_id), LambdaContext(), runtime=stack.runtime)


def test_tagged_instance_with_two_enis_is_mirrored(stack: Stack, pool: dict[str, str]) -> None:
    # Given a tagged m5.large with two ENIs
    instance = stack.account.launch(tags={"mirror": "true"}, extra_enis=1)
    enis = stack.account.enis_of(instance)
    # When its running event arrives
    launched(stack, instance)
    # Then each ENI has exactly one session of ours, on a pool target
    sessions = stack.our_sessions(instance)
    assert sorted(s["NetworkInterfaceId"] for s in sessions) == sorted(enis)
    assert {s["TrafficMirrorTargetId"] for s in sessions} <= {pool["eni_a"], pool["nlb"]}
    assert all(s["TrafficMirrorFilterId"] == pool["filter"] for s in sessions)
    assert stack.account.tags_of(instance)["mirror-status"] == "mirrored"


def test_session_numbers_are_unique_per_eni_and_avoid_taken_ones(stack: Stack, pool: dict[str, str]) -> None:
    instance = stack.account.launch(tags={"mirror": "true"})
    eni = stack.account.enis_of(instance)[0]
    team_filter = stack.account.mirror_filter()  # theirs (with our filter, theirs at 1 would shadow ours)
    stack.account.foreign_session(eni, pool["eni_b"], team_filter, 1)
    stack.account.foreign_session(eni, pool["eni_b"], team_filter, 3)
    launched(stack, instance)
    assert [s["SessionNumber"] for s in stack.our_sessions(instance)] == [2]
    assert sorted(s["SessionNumber"] for s in stack.account.sessions_on(eni)) == [1, 2, 3]


@pytest.mark.parametrize("instance_type", ["t2.micro", "c6i.metal", "g3s.xlarge"])
def test_unsupported_types_are_skipped_with_their_reason(stack: Stack, instance_type: str) -> None:
    instance = stack.account.launch(instance_type, tags={"mirror": "true"})
    summary = launched(stack, instance)
    assert stack.our_sessions(instance) == []
    assert summary["sessions_skipped"] == {"unsupported-instance-type": 1}
    assert stack.account.tags_of(instance)["mirror-status"] == "unsupported-instance-type"


def test_aws_refusing_the_source_counts_as_unsupported(stack: Stack) -> None:
    # Given eligibility data that (wrongly) allows t2: AWS's NetworkInterfaceNotSupported is the final word
    stack.configure(ELIGIBILITY_ALLOW="t2")
    instance = stack.account.launch("t2.micro", tags={"mirror": "true"}, extra_enis=1)
    summary = launched(stack, instance)
    assert stack.our_sessions(instance) == []
    assert summary["sessions_skipped"] == {"unsupported-instance-type": 1}
    assert stack.account.tags_of(instance)["mirror-status"] == "unsupported-instance-type"


def test_eni_full_of_foreign_sessions_is_untouched_and_skipped(stack: Stack, pool: dict[str, str]) -> None:
    instance = stack.account.launch(tags={"mirror": "true"})
    eni = stack.account.enis_of(instance)[0]
    foreign = [stack.account.foreign_session(eni, pool["eni_b"], pool["filter"], n) for n in (1, 2, 3)]
    before = stack.account.sessions_on(eni)
    summary = launched(stack, instance)
    assert stack.account.sessions_on(eni) == before
    assert sorted(s["TrafficMirrorSessionId"] for s in before) == sorted(foreign)
    assert summary["sessions_skipped"] == {"eni-session-limit": 1}
    assert stack.account.tags_of(instance)["mirror-status"] == "eni-session-limit"


def test_full_eni_target_sends_the_session_to_the_next_target(stack: Stack, pool: dict[str, str]) -> None:
    fillers = [stack.account.launch() for _ in range(10)]
    for filler in fillers:
        stack.account.foreign_session(stack.account.enis_of(filler)[0], pool["eni_a"], pool["filter"], 1)
    instance = stack.account.launch(tags={"mirror": "true"})
    launched(stack, instance)
    assert [s["TrafficMirrorTargetId"] for s in stack.our_sessions(instance)] == [pool["nlb"]]


def test_target_filled_by_a_concurrent_placement_falls_through(stack: Stack, pool: dict[str, str]) -> None:
    # AWS answers TrafficMirrorSourcesPerTargetLimitExceeded although our read said there was room
    instance = stack.account.launch(tags={"mirror": "true"})
    stack.calls.fail_operation("CreateTrafficMirrorSession", "TrafficMirrorSourcesPerTargetLimitExceeded")
    launched(stack, instance)
    assert [s["TrafficMirrorTargetId"] for s in stack.our_sessions(instance)] == [pool["nlb"]]


def test_no_target_capacity_is_visible(stack: Stack, pool: dict[str, str]) -> None:
    stack.configure(TARGET_IDS=pool["eni_a"])
    for _ in range(10):
        filler = stack.account.launch()
        stack.account.foreign_session(stack.account.enis_of(filler)[0], pool["eni_a"], pool["filter"], 1)
    instance = stack.account.launch(tags={"mirror": "true"})
    summary = launched(stack, instance)
    assert stack.our_sessions(instance) == []
    assert summary["sessions_skipped"] == {"no-target-capacity": 1}
    assert stack.account.tags_of(instance)["mirror-status"] == "no-target-capacity"


def test_target_in_the_same_zone_is_preferred(stack: Stack, pool: dict[str, str]) -> None:
    stack.configure(TARGET_IDS=f"{pool['eni_a']},{pool['eni_b']}")
    in_b = stack.account.launch(tags={"mirror": "true"}, zone=ZONE_B)
    in_a = stack.account.launch(tags={"mirror": "true"}, zone=ZONE_A)
    launched(stack, in_b)
    launched(stack, in_a)
    assert [s["TrafficMirrorTargetId"] for s in stack.our_sessions(in_b)] == [pool["eni_b"]]
    assert [s["TrafficMirrorTargetId"] for s in stack.our_sessions(in_a)] == [pool["eni_a"]]


def test_nlb_target_takes_more_than_ten_sources(stack: Stack, pool: dict[str, str]) -> None:
    stack.configure(TARGET_IDS=pool["nlb"])
    instances = [stack.account.launch(tags={"mirror": "true"}) for _ in range(12)]
    for instance in instances:
        launched(stack, instance)
    sessions = stack.our_sessions()
    assert len(sessions) == 12
    assert {s["TrafficMirrorTargetId"] for s in sessions} == {pool["nlb"]}


def test_per_instance_target_override_picks_a_pool_target(stack: Stack, pool: dict[str, str]) -> None:
    stack.configure(TARGET_IDS=f"{pool['eni_a']},{pool['eni_b']},{pool['nlb']}")
    instance = stack.account.launch(tags={"mirror": "true", "mirror-target": pool["eni_b"]})
    launched(stack, instance)
    assert [s["TrafficMirrorTargetId"] for s in stack.our_sessions(instance)] == [pool["eni_b"]]


def test_a_tag_naming_a_target_outside_the_pool_moves_and_creates_nothing(stack: Stack, pool: dict[str, str]) -> None:
    # Given a mirrored instance with a second ENI attached later
    instance = stack.account.launch(tags={"mirror": "true"})
    launched(stack, instance)
    before = stack.our_sessions(instance)
    stack.account.attach_new_eni(instance, ZONE_A, 1, False)
    # When someone who may tag it points it at a target the operator did not put in the pool
    stack.account.tag(instance, **{"mirror-target": pool["eni_b"]})
    summary = tag_change(event("tag-change-mirror-added.json", instance), LambdaContext(), runtime=stack.runtime)
    # Then its session stays where it was, nothing is created there, and the status names the problem
    assert stack.our_sessions(instance) == before
    assert stack.account.sessions(traffic_mirror_target_id=pool["eni_b"]) == []
    assert stack.account.tags_of(instance)["mirror-status"] == "target-not-approved"
    assert summary["instances_needing_attention"] == {instance: "target-not-approved"}


def test_same_event_twice_gives_one_session_per_eni(stack: Stack) -> None:
    instance = stack.account.launch(tags={"mirror": "true"}, extra_enis=1)
    delivery = event("ec2-instance-running.json", instance)
    state_change(delivery, LambdaContext(), runtime=stack.runtime)
    state_change(delivery, LambdaContext(), runtime=stack.runtime)
    assert len(stack.our_sessions(instance)) == 2


def test_concurrent_duplicate_deliveries_give_one_session_per_eni(stack: Stack) -> None:
    instance = stack.account.launch(tags={"mirror": "true"}, extra_enis=2)
    delivery = event("ec2-instance-running.json", instance)
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def deliver() -> None:
        start.wait()
        try:
            state_change(delivery, LambdaContext(), runtime=stack.runtime)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    per_eni = sorted(s["NetworkInterfaceId"] for s in stack.our_sessions(instance))
    assert per_eni == sorted(stack.account.enis_of(instance))


def test_failure_on_the_second_eni_rolls_back_and_raises(stack: Stack) -> None:
    instance = stack.account.launch(tags={"mirror": "true"}, extra_enis=1)
    stack.calls.fail_operation("CreateTrafficMirrorSession", "InternalError")  # queued for the 1st create
    stack.calls.fault_operations["CreateTrafficMirrorSession"].insert(0, None)  # type: ignore[arg-type]
    with pytest.raises(MirroringFailed, match="InternalError"):
        launched(stack, instance)
    assert stack.our_sessions(instance) == []
    assert stack.account.tags_of(instance)["mirror-status"] == "error:InternalError"


def test_retry_after_rollback_mirrors_fully(stack: Stack) -> None:
    # AWS answers a repeated ClientToken with the original (now rolled-back) session: the retry must notice
    instance = stack.account.launch(tags={"mirror": "true"}, extra_enis=1)
    stack.calls.fault_operations["CreateTrafficMirrorSession"] = [None, "InternalError"]  # type: ignore[list-item]
    delivery = event("ec2-instance-running.json", instance)
    with pytest.raises(MirroringFailed):
        state_change(delivery, LambdaContext(), runtime=stack.runtime)
    state_change(delivery, LambdaContext(), runtime=stack.runtime)
    assert sorted(s["NetworkInterfaceId"] for s in stack.our_sessions(instance)) == sorted(
        stack.account.enis_of(instance)
    )
    assert stack.account.tags_of(instance)["mirror-status"] == "mirrored"


def test_rollback_failure_names_the_sessions_left(stack: Stack) -> None:
    instance = stack.account.launch(tags={"mirror": "true"}, extra_enis=1)
    stack.calls.fault_operations["CreateTrafficMirrorSession"] = [None, "InternalError"]  # type: ignore[list-item]
    stack.calls.fail_operation("DeleteTrafficMirrorSession", "InternalError")
    with pytest.raises(RollbackIncomplete) as raised:
        launched(stack, instance)
    left = [s["TrafficMirrorSessionId"] for s in stack.our_sessions(instance)]
    assert len(left) == 1 and left[0] in str(raised.value)


def test_tag_removed_deletes_ours_and_leaves_others(stack: Stack, pool: dict[str, str]) -> None:
    instance = stack.account.launch(tags={"mirror": "true"})
    eni = stack.account.enis_of(instance)[0]
    foreign = stack.account.foreign_session(eni, pool["eni_b"], pool["filter"], 5)
    launched(stack, instance)
    stack.account.untag(instance, "mirror")
    tag_change(event("tag-change-mirror-removed.json", instance), LambdaContext(), runtime=stack.runtime)
    assert stack.our_sessions(instance) == []
    assert [s["TrafficMirrorSessionId"] for s in stack.account.sessions_on(eni)] == [foreign]
    assert "mirror-status" not in stack.account.tags_of(instance)


def test_tag_added_later_mirrors(stack: Stack) -> None:
    instance = stack.account.launch()
    stack.account.tag(instance, mirror="true")
    tag_change(event("tag-change-mirror-added.json", instance), LambdaContext(), runtime=stack.runtime)
    assert len(stack.our_sessions(instance)) == 1


def test_instance_stop_deletes_ours_and_leaves_others(stack: Stack, pool: dict[str, str]) -> None:
    instance = stack.account.launch(tags={"mirror": "true"})
    eni = stack.account.enis_of(instance)[0]
    foreign = stack.account.foreign_session(eni, pool["eni_b"], pool["filter"], 5)
    launched(stack, instance)
    stack.account.stop(instance)
    state_change(event("ec2-instance-stopped.json", instance), LambdaContext(), runtime=stack.runtime)
    assert stack.our_sessions(instance) == []
    assert [s["TrafficMirrorSessionId"] for s in stack.account.sessions_on(eni)] == [foreign]


def test_terminated_instance_surviving_eni_loses_its_session(stack: Stack) -> None:
    instance = stack.account.launch(tags={"mirror": "true"}, extra_enis=1)
    launched(stack, instance)
    secondary = stack.account.enis_of(instance)[1]
    stack.account.terminate(instance)
    assert len(stack.account.sessions_on(secondary)) == 1  # AWS keeps billing it
    state_change(event("ec2-instance-terminated.json", instance), LambdaContext(), runtime=stack.runtime)
    assert stack.account.sessions_on(secondary) == []


# -- documented filters only: the strict layer refuses a tag filter on DescribeTrafficMirrorSessions -----------------
# The calls each event needs (bench/api_calls.py states why), for an instance with 2 ENIs in a warm container.
EVENT_BUDGETS = {
    "stopped": {
        "DescribeInstances": 1,
        "DescribeTrafficMirrorSessions": 1,
        "DeleteTrafficMirrorSession": 2,
        "CreateTags": 1,
    },
    # AWS deleted the primary ENI's session with the ENI; the secondary ENI survived, detached, with its session.
    "terminated": {
        "DescribeInstances": 1,
        "DescribeTrafficMirrorSessions": 1,
        "DescribeNetworkInterfaces": 1,
        "DeleteTrafficMirrorSession": 1,
    },
    "tag removed": {
        "DescribeInstances": 1,
        "DescribeTrafficMirrorSessions": 1,
        "DeleteTrafficMirrorSession": 2,
        "DeleteTags": 1,
        "CreateTags": 1,
    },
}


@pytest.mark.parametrize("change", sorted(EVENT_BUDGETS))
def test_an_event_that_ends_the_mirroring_finds_our_sessions_with_documented_filters_within_its_budget(
    stack: Stack, change: str
) -> None:
    # Given a mirrored instance with two ENIs (the stack's marker and the instance in each session's description)
    instance = stack.account.launch(tags={"mirror": "true"}, extra_enis=1)
    launched(stack, instance)
    enis = stack.account.enis_of(instance)
    assert len(stack.our_sessions(instance)) == 2
    launched(stack, stack.account.launch(tags={"mirror": "true"}))  # a warm container: the caches are filled
    # When it is stopped, terminated or untagged, and its event arrives
    if change == "stopped":
        stack.account.stop(instance)
        handler, sample = state_change, "ec2-instance-stopped.json"
    elif change == "terminated":
        stack.account.terminate(instance)
        handler, sample = state_change, "ec2-instance-terminated.json"
    else:
        stack.account.untag(instance, "mirror")
        handler, sample = tag_change, "tag-change-mirror-removed.json"
    stack.calls.reset()
    handler(event(sample, instance), LambdaContext(), runtime=stack.runtime)
    calls = dict(stack.calls.counts)
    # Then none of our sessions is left on any of its ENIs (the strict layer refuses any tag filter), with the
    # calls of the event's budget and no more
    assert stack.our_sessions(instance) == []
    assert all(stack.account.sessions_on(eni) == [] for eni in enis if change != "terminated" or eni != enis[0])
    assert calls == EVENT_BUDGETS[change]


def test_a_session_made_by_an_older_version_is_left_to_the_reconciler_by_the_stop_event(
    stack: Stack, pool: dict[str, str]
) -> None:
    # Given a session of ours made by an older version, whose description also named the ENI
    instance = stack.account.launch(tags={"mirror": "true", "mirror-status": "mirrored"})
    eni = stack.account.enis_of(instance)[0]
    stack.account.ec2.create_traffic_mirror_session(
        NetworkInterfaceId=eni,
        TrafficMirrorTargetId=pool["nlb"],
        TrafficMirrorFilterId=pool["filter"],
        SessionNumber=1,
        Description=f"mirror-stack: {instance} {eni}",
        TagSpecifications=[
            {
                "ResourceType": "traffic-mirror-session",
                "Tags": [
                    {"Key": "mirror-managed-by", "Value": "mirror-stack"},
                    {"Key": "mirror-instance-id", "Value": instance},
                ],
            }
        ],
    )
    # When the instance stops and its event arrives, then the reconciler runs
    stack.account.stop(instance)
    state_change(event("ec2-instance-stopped.json", instance), LambdaContext(), runtime=stack.runtime)
    missed = len(stack.our_sessions(instance))
    reconcile(event("scheduled-event.json", ""), LambdaContext(), runtime=stack.runtime)
    # Then the event did not see it (one exact description filter), and the reconciler deleted it
    assert missed == 1
    assert stack.our_sessions(instance) == []


def test_tag_value_true_in_any_case_works(stack: Stack) -> None:
    instance = stack.account.launch(tags={"mirror": "True"})
    launched(stack, instance)
    assert len(stack.our_sessions(instance)) == 1


def test_autoscaling_launch_mirrors_the_new_instance(stack: Stack) -> None:
    instance = stack.account.launch(tags={"mirror": "true"})
    autoscaling_launch(event("autoscaling-launch-successful.json", instance), LambdaContext(), runtime=stack.runtime)
    assert len(stack.our_sessions(instance)) == 1


def test_malformed_event_gets_a_clear_validation_error(stack: Stack) -> None:
    broken = event("ec2-instance-running.json", "i-0123456789abcdef0")
    del broken["detail"]["instance-id"]
    with pytest.raises(EventValidationError, match="detail.instance-id is missing"):
        state_change(broken, LambdaContext(), runtime=stack.runtime)


def test_instance_already_gone_creates_nothing(stack: Stack) -> None:
    summary = launched(stack, "i-0fedcba9876543210")
    assert summary["sessions_created"] == 0
    assert stack.our_sessions() == []


def test_warm_launch_with_one_eni_stays_within_five_api_calls(stack: Stack) -> None:
    warm_up = stack.account.launch(tags={"mirror": "true"})
    launched(stack, warm_up)  # cold: fills the instance-type and target caches
    instance = stack.account.launch(tags={"mirror": "true"})
    stack.calls.reset()
    launched(stack, instance)
    print(f"warm launch, 1 ENI: {stack.calls.total} calls {dict(stack.calls.counts)}")
    assert stack.calls.total <= 5  # the budget of figure 1 (bench/api_calls.py WARM_LAUNCH_BUDGET)
    assert len(stack.our_sessions(instance)) == 1


def test_warm_launch_cost_does_not_grow_with_sessions_on_unlimited_targets(
    stack: Stack, pool: dict[str, str], strict
) -> None:  # type: ignore[no-untyped-def]
    # Given a pool of one NLB already mirroring many sources, and pages of 5 (so a full read would take pages)
    stack.configure(TARGET_IDS=pool["nlb"])
    for _ in range(12):
        launched(stack, stack.account.launch(tags={"mirror": "true"}))
    strict.page_cap = 5
    instance = stack.account.launch(tags={"mirror": "true"})
    stack.calls.reset()
    # When a warm container mirrors one more instance
    launched(stack, instance)
    # Then no call pages through the NLB's 12 sessions (3 pages): its count only spreads load, so a cached one
    # serves. The one read left: the sessions on the instance's ENI (no confirming describe: tokens make it safe).
    assert stack.calls.counts["DescribeTrafficMirrorSessions"] == 1
    assert stack.calls.total <= 5
    assert [s["TrafficMirrorTargetId"] for s in stack.our_sessions(instance)] == [pool["nlb"]]


def test_limited_targets_are_always_read_fresh(stack: Stack, pool: dict[str, str]) -> None:
    # The ENI target fills up between two launches in the same warm container: the limit must still be seen
    stack.configure(TARGET_IDS=f"{pool['eni_a']},{pool['nlb']}")
    launched(stack, stack.account.launch(tags={"mirror": "true"}))  # warms the caches; takes eni_a's first slot
    for _ in range(9):
        filler = stack.account.launch()
        stack.account.foreign_session(stack.account.enis_of(filler)[0], pool["eni_a"], pool["filter"], 1)
    instance = stack.account.launch(tags={"mirror": "true"})
    launched(stack, instance)
    assert [s["TrafficMirrorTargetId"] for s in stack.our_sessions(instance)] == [pool["nlb"]]


# -- selectors beyond the mirror tag, and ENIs attached later: events routed by the template's own rules ----------
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
SELECTORS = "eks:cluster-name=prod"


def routed(stack: Stack, delivered: dict[str, Any], **parameters: str) -> dict[str, Any]:
    """Deliver an event as EventBridge would with the stack deployed with these parameters: to each function whose
    rule in template.yaml matches it. Returns each reached function's answer."""
    answers: dict[str, Any] = {}
    for rule in matching_rules(load_rules(TEMPLATE, parameters), delivered):
        module = importlib.import_module(rule.code_uri.strip("/").replace("/", ".") + ".app")
        answers[rule.function_logical_id] = module.handler(delivered, LambdaContext(), runtime=stack.runtime)
    return answers


def tag_changed(stack: Stack, instance: str, *keys: str) -> dict[str, Any]:
    """The Tag Change on Resource event AWS sends after a change of these keys (tags: the set after the change)."""
    change = event("tag-change-mirror-added.json", instance)
    change["detail"]["changed-tag-keys"] = list(keys)
    change["detail"]["tags"] = stack.account.tags_of(instance)
    return change


def test_an_instance_matching_a_selector_is_mirrored_when_the_tag_arrives(stack: Stack) -> None:
    # Given a stack deployed with MirrorSelectors, and an EKS node without the mirror tag
    stack.configure(MIRROR_SELECTORS=SELECTORS)
    node = stack.account.launch(tags={"eks:nodegroup-name": "web"}, extra_enis=1)
    # When EKS tags it with its cluster's name
    stack.account.tag(node, **{"eks:cluster-name": "prod"})
    answers = routed(stack, tag_changed(stack, node, "eks:cluster-name"), MirrorSelectors=SELECTORS)
    # Then the tag function received the change and mirrored every ENI
    assert list(answers) == ["InstanceTagChangeFunction"]
    assert sorted(s["NetworkInterfaceId"] for s in stack.our_sessions(node)) == sorted(stack.account.enis_of(node))
    assert stack.account.tags_of(node)["mirror-status"] == "mirrored"


def test_an_instance_matching_a_selector_but_opted_out_is_not_mirrored(stack: Stack) -> None:
    stack.configure(MIRROR_SELECTORS=SELECTORS)
    node = stack.account.launch(tags={"mirror": "false"})
    stack.account.tag(node, **{"eks:cluster-name": "prod"})

    answers = routed(stack, tag_changed(stack, node, "eks:cluster-name"), MirrorSelectors=SELECTORS)

    assert list(answers) == ["InstanceTagChangeFunction"]
    assert stack.our_sessions(node) == []


def test_opting_out_a_selected_instance_deletes_its_sessions(stack: Stack) -> None:
    stack.configure(MIRROR_SELECTORS=SELECTORS)
    node = stack.account.launch(tags={"eks:cluster-name": "prod"})
    launched(stack, node)
    assert len(stack.our_sessions(node)) == 1
    stack.account.tag(node, mirror="false")

    routed(stack, tag_changed(stack, node, "mirror"), MirrorSelectors=SELECTORS)

    assert stack.our_sessions(node) == []


def test_a_change_of_only_our_status_tag_reaches_no_function(stack: Stack) -> None:
    stack.configure(MIRROR_SELECTORS=SELECTORS)
    node = stack.account.launch(tags={"eks:cluster-name": "prod"})
    launched(stack, node)

    for keys in (["mirror-status"], ["mirror-status", "mirror-generation"]):
        assert routed(stack, tag_changed(stack, node, *keys), MirrorSelectors=SELECTORS) == {}, keys


def test_with_selectors_a_change_that_cannot_matter_is_ignored_without_an_aws_call(stack: Stack) -> None:
    # The rule fires for any change but one of our own tags (CloudFormation cannot list the selectors' keys in it);
    # the function drops what cannot change the mirroring before any AWS call.
    stack.configure(MIRROR_SELECTORS=SELECTORS)
    node = stack.account.launch(tags={"Name": "web-1"})
    change = tag_changed(stack, node, "Name", "owner")
    stack.calls.reset()

    answers = routed(stack, change, MirrorSelectors=SELECTORS)

    assert answers["InstanceTagChangeFunction"]["ignored"] == "no changed tag key can change what is mirrored"
    assert stack.calls.total == 0


def test_a_mirror_until_change_reaches_the_tag_function_and_ends_the_mirroring(stack: Stack) -> None:
    instance = stack.account.launch(tags={"mirror": "true"})
    launched(stack, instance)
    stack.account.tag(instance, **{"mirror-until": "2020-01-01T00:00:00Z"})

    answers = routed(stack, tag_changed(stack, instance, "mirror-until"))

    assert list(answers) == ["InstanceTagChangeFunction"]
    assert stack.our_sessions(instance) == []
    assert stack.account.tags_of(instance)["mirror-status"] == "expired"


def attached(instance: str, eni: str) -> dict[str, Any]:
    """The CloudTrail record of AttachNetworkInterface as EventBridge delivers it (events/ sample)."""
    call = event("cloudtrail-attach-network-interface.json", instance)
    call["detail"]["requestParameters"].update({"instanceId": instance, "networkInterfaceId": eni})
    return call


def test_an_eni_attached_later_is_mirrored_by_its_cloudtrail_event(stack: Stack) -> None:
    # Given a mirrored instance, and the stack deployed with AttachEventsFromCloudTrail
    instance = stack.account.launch(tags={"mirror": "true"})
    launched(stack, instance)
    # When an ENI is attached to it (the VPC CNI scaling pods out) and CloudTrail reports the call
    eni = stack.account.attach_new_eni(instance, ZONE_A, 1, False)
    answers = routed(stack, attached(instance, eni), AttachEventsFromCloudTrail="true")
    # Then the ENI function reconciled the instance: the new ENI is mirrored too
    assert list(answers) == ["NetworkInterfaceAttachedFunction"]
    assert answers["NetworkInterfaceAttachedFunction"]["sessions_created"] == 1
    assert len(stack.account.sessions_on(eni)) == 1
    assert sorted(s["NetworkInterfaceId"] for s in stack.our_sessions(instance)) == sorted(
        stack.account.enis_of(instance)
    )


def test_without_the_trail_option_the_reconciler_mirrors_an_eni_attached_later(stack: Stack) -> None:
    from functions.scheduled_reconciler.app import handler as scheduled

    instance = stack.account.launch(tags={"mirror": "true"})
    launched(stack, instance)
    eni = stack.account.attach_new_eni(instance, ZONE_A, 1, False)

    assert routed(stack, attached(instance, eni)) == {}  # the default: no rule for CloudTrail's API calls
    assert stack.account.sessions_on(eni) == []
    scheduled(event("scheduled-event.json", instance), LambdaContext(), runtime=stack.runtime)
    assert len(stack.account.sessions_on(eni)) == 1
