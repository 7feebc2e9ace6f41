"""Coverage on the simulated account (issue 23): the scheduled reconciler and `mirror-audit --json` agree on the
figure and its reasons; an event, which judges one instance, publishes none."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.instance_state_change.app import handler as state_change
from functions.scheduled_reconciler.app import handler as scheduled
from simulation.account import REGION, SimulatedAccount
from tests.integration.stack import MANAGED_BY, LambdaContext, Stack, event, make_stack
from traffic_mirroring import audit


@pytest.fixture
def stack(account: SimulatedAccount) -> Stack:
    return make_stack(account, [account.nlb_target()], account.mirror_filter())


def emitted_metrics(output: str) -> dict[str, list[float]]:
    """Metric name → values, from the CloudWatch EMF lines a run printed."""
    found: dict[str, list[float]] = {}
    for line in output.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                found.setdefault(metric["Name"], []).extend(value if isinstance(value, list) else [value])
    return found


def ten_tagged_instances(stack: Stack) -> dict[str, Any]:
    """10 instances tagged mirror: 2 on a type AWS does not support, 1 opted out (mirror=false), 1 whose ENI holds 3
    sessions of another team already, 6 that can be mirrored."""
    account = stack.account
    mirrorable = [account.launch(tags={"mirror": "true"}) for _ in range(6)]
    unsupported = [account.launch("t2.micro", tags={"mirror": "true"}) for _ in range(2)]
    opted_out = account.launch(tags={"mirror": "false"})
    full = account.launch(tags={"mirror": "true"})
    other_team_target, other_team_filter = account.eni_target(), account.mirror_filter()
    for number in (1, 2, 3):
        account.foreign_session(account.enis_of(full)[0], other_team_target, other_team_filter, number)
    return {"mirrorable": mirrorable, "unsupported": unsupported, "opted_out": opted_out, "full": full}


def run_audit_json(stack: Stack, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    audit.main(
        [
            "--region",
            REGION,
            "--targets",
            ",".join(stack.settings.target_ids),
            "--filter-id",
            stack.settings.filter_id,
            "--managed-by",
            MANAGED_BY,
            "--json",
        ]
    )
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


def test_coverage_is_6_of_7_in_the_reconciler_s_report_its_metric_and_mirror_audit_with_the_one_reason(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given 10 tagged instances: 2 on unsupported types, 1 opted out, 1 whose ENI is full of other sessions
    world = ten_tagged_instances(stack)
    capsys.readouterr()

    # When the scheduled reconciler runs
    summary = scheduled(event("scheduled-event.json", ""), LambdaContext(), runtime=stack.runtime)
    metrics = emitted_metrics(capsys.readouterr().out)

    # Then 6 of the 7 ENIs that should be mirrored are: the opted-out and unsupported ones are out of the denominator
    expected = {
        "enis_to_mirror": 7,
        "enis_mirrored": 6,
        "percent": 85.71,
        "unmirrored": {"eni-session-limit": 1},
        "not_counted": {"opted-out": 1, "unsupported-instance-type": 2},
        "fix_first": [{"reason": "eni-session-limit", "enis": 1, "instances": 1, "examples": [world["full"]]}],
    }
    assert summary["coverage"] == expected
    assert metrics["Coverage"] == [pytest.approx(600 / 7)]
    assert len(stack.our_sessions()) == 6

    # And mirror-audit --json reads the same figure from the account, with every ENI to recompute it from
    report = run_audit_json(stack, capsys)
    figure = report["coverage"]
    assert {key: figure[key] for key in expected} == expected
    assert figure["after_plan"] == expected  # nothing left for the reconciler to do
    rows = {row["instance_id"]: row for row in figure["enis"]}
    assert len(rows) == 10
    assert rows[world["full"]] == {
        "instance_id": world["full"],
        "eni_id": stack.account.enis_of(world["full"])[0],
        "counted": True,
        "mirrored": False,
        "reason": "eni-session-limit",
    }
    assert rows[world["opted_out"]]["reason"] == "opted-out" and not rows[world["opted_out"]]["counted"]
    assert all(rows[i]["counted"] and rows[i]["mirrored"] for i in world["mirrorable"])
    # An auditor's recomputation from the rows gives the figure
    counted = [row for row in figure["enis"] if row["counted"]]
    assert (len(counted), sum(row["mirrored"] for row in counted)) == (7, 6)


def test_mirror_audit_shows_coverage_now_and_after_the_plan_and_its_text_names_what_to_fix_first(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the 10 instances, none mirrored yet (their launch events were lost)
    world = ten_tagged_instances(stack)
    # When the audit reads the account
    report = run_audit_json(stack, capsys)
    # Then none of the 7 is mirrored now, each for want of its session, and the plan would mirror 6
    figure = report["coverage"]
    assert (figure["enis_to_mirror"], figure["enis_mirrored"], figure["percent"]) == (7, 0, 0)
    assert figure["unmirrored"] == {"eni-session-limit": 1, "missing-session": 6}
    assert [row["reason"] for row in figure["fix_first"]] == ["missing-session", "eni-session-limit"]
    after = figure["after_plan"]
    assert (after["enis_mirrored"], after["unmirrored"]) == (6, {"eni-session-limit": 1})
    # And the text report says the same, with what to fix first
    capsys.readouterr()
    audit.main(
        [
            "--region",
            REGION,
            "--targets",
            ",".join(stack.settings.target_ids),
            "--filter-id",
            stack.settings.filter_id,
            "--managed-by",
            MANAGED_BY,
            "--width",
            "0",
        ]
    )
    text = capsys.readouterr().out
    assert (
        "Coverage: 0 of 7 ENIs (0%) that should be mirrored are mirrored by a session of ours now; after the plan: "
        "6 of 7 ENIs (85.71%)"
    ) in text
    rows = [line.split() for line in text.splitlines() if line.startswith(("  missing-session", "  eni-session"))]
    assert rows == [
        ["missing-session", "6", "6", *sorted(world["mirrorable"])[:5]],
        ["eni-session-limit", "1", "1", world["full"]],
    ]
    assert "Not counted (should not be mirrored now), ENIs: 1 opted-out, 2 unsupported-instance-type" in text


def test_an_event_publishes_no_coverage_and_an_empty_account_publishes_no_data(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an account where nothing asks to be mirrored
    stack.account.launch(tags={"mirror": "false"})
    capsys.readouterr()
    # When the reconciler runs
    summary = scheduled(event("scheduled-event.json", ""), LambdaContext(), runtime=stack.runtime)
    # Then its coverage has an empty denominator and no metric is sent: no data, not 0 %
    assert summary["coverage"]["enis_to_mirror"] == 0 and summary["coverage"]["percent"] is None
    assert "Coverage" not in emitted_metrics(capsys.readouterr().out)
    # And an event, which judges one instance, reports and publishes no coverage (it would read as the account's)
    instance = stack.account.launch(tags={"mirror": "true"})
    summary = state_change(event("ec2-instance-running.json", instance), LambdaContext(), runtime=stack.runtime)
    assert summary["coverage"] is None
    assert "Coverage" not in emitted_metrics(capsys.readouterr().out)
