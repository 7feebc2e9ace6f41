"""Coverage on the simulated account (issue 23): the scheduled reconciler and `mirror-audit --json` agree on the
figure and its reasons; an event, which judges one instance, publishes none."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from functions.instance_state_change.app import handler as state_change
from functions.scheduled_reconciler.app import handler as scheduled
from mirror_cli import command
from simulation.account import REGION, SimulatedAccount
from simulation.cloudwatch_alarms import ALARM, INSUFFICIENT_DATA, OK, evaluate
from simulation.eventbridge import load_template
from simulation.strict_aws import StrictAws
from tests.integration.stack import MANAGED_BY, LambdaContext, Stack, event, make_stack


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
    command.main(
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
    command.main(
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
        "Coverage: 0 of 7 ENIs (0%) that should be mirrored are mirrored by a session of ours now; with the plan "
        "applied: 6 of 7 ENIs (85.71%)"
    ) in text
    rows = [line.split() for line in text.splitlines() if line.startswith(("  missing-session", "  eni-session"))]
    assert rows == [
        ["missing-session", "6", "6", *sorted(world["mirrorable"])[:5]],
        ["eni-session-limit", "1", "1", world["full"]],
    ]
    assert "Not counted (should not be mirrored now), ENIs: 1 opted-out, 2 unsupported-instance-type" in text


def test_a_dry_run_reports_coverage_as_read(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    # Given the 10 instances, none mirrored yet, and a reconciler that only plans
    world = ten_tagged_instances(stack)
    stack.configure(RECONCILE_DRY_RUN="true")
    capsys.readouterr()
    # When it runs
    summary = scheduled(event("scheduled-event.json", ""), LambdaContext(), runtime=stack.runtime)
    # Then it changed nothing and reports the account as it is: none of the 7 mirrored
    assert stack.our_sessions() == []
    figure = summary["coverage"]
    assert (figure["enis_to_mirror"], figure["enis_mirrored"]) == (7, 0)
    assert figure["unmirrored"] == {"eni-session-limit": 1, "missing-session": 6}
    assert figure["fix_first"][0]["examples"] == sorted(world["mirrorable"])[:5]
    assert emitted_metrics(capsys.readouterr().out)["Coverage"] == [0]


@pytest.mark.parametrize("aws_accepts", [False, True])
def test_a_newer_family_counts_while_aws_is_asked_and_its_answer_decides_within_the_run(
    stack: Stack, strict: StrictAws, aws_accepts: bool
) -> None:
    # Given two instances of a family newer than AWS's list (one asks AWS, the other waits), and a listed one
    if aws_accepts:
        strict.accept_family("m8g")
    for _ in range(2):
        stack.account.launch("m8g.large", tags={"mirror": "true"})
    stack.account.launch(tags={"mirror": "true"})
    # When the reconciler runs (its second pass places the one that waited, once AWS has answered)
    summary = scheduled(event("scheduled-event.json", ""), LambdaContext(), runtime=stack.runtime)
    # Then AWS's answer decides: accepted, both are mirrored; refused, both leave the denominator
    figure = summary["coverage"]
    if aws_accepts:
        assert (figure["enis_to_mirror"], figure["enis_mirrored"], figure["not_counted"]) == (3, 3, {})
    else:
        assert (figure["enis_to_mirror"], figure["enis_mirrored"]) == (1, 1)
        assert figure["not_counted"] == {"unsupported-instance-type": 2}


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


# -- the alarm, on its definition in template.yaml ----------------------------------------------------------------
TEMPLATE = load_template(Path(__file__).resolve().parents[2] / "template.yaml")
HOUR = 3600
RUNS = 6  # the default ReconcileSchedule, rate(10 minutes): six figures an hour


def coverage_alarm() -> dict[str, Any]:
    alarms: list[dict[str, Any]] = [
        r["Properties"]
        for r in TEMPLATE["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"].get("MetricName") == "Coverage"
    ]
    [alarm] = alarms
    return alarm


def defaults() -> dict[str, Any]:
    return {name: spec.get("Default") for name, spec in TEMPLATE["Parameters"].items()}


def hourly_runs(*hours: list[float]) -> list[tuple[float, float]]:
    """One figure per scheduled reconcile: the values of each hour in turn, from 00:00."""
    return [(h * HOUR + k * HOUR / len(values) + 30, v) for h, values in enumerate(hours) for k, v in enumerate(values)]


def test_the_alarm_watches_the_figure_the_reconciler_publishes(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    ten_tagged_instances(stack)
    capsys.readouterr()
    scheduled(event("scheduled-event.json", ""), LambdaContext(), runtime=stack.runtime)
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    [blob] = [b for b in blobs if "Coverage" in b]
    [directive] = blob["_aws"]["CloudWatchMetrics"]
    alarm = coverage_alarm()
    assert directive["Namespace"] == "TrafficMirroringTests"  # the test run's MetricsNamespace
    assert alarm["Namespace"] == {"Ref": "MetricsNamespace"}
    assert [{"Name": name, "Value": blob[name]} for name in directive["Dimensions"][0]] == alarm["Dimensions"]
    assert {"Name": "Coverage", "Unit": "Percent"} in directive["Metrics"]


def test_the_alarm_fires_when_coverage_stays_below_the_threshold_for_an_hour() -> None:
    alarm, parameters = coverage_alarm(), defaults()
    assert parameters["CoverageAlarmPercent"] == 95
    # A drop: every run of an hour left 6 of 7 ENIs mirrored
    assert evaluate(alarm, hourly_runs([100.0] * RUNS, [600 / 7] * RUNS), now=2 * HOUR, parameters=parameters) == ALARM
    # Just below the threshold for the hour fires; at it, not
    assert evaluate(alarm, hourly_runs([94.9] * RUNS), now=HOUR, parameters=parameters) == ALARM
    assert evaluate(alarm, hourly_runs([95.0] * RUNS), now=HOUR, parameters=parameters) == OK
    # Another threshold chosen at deploy time is the one judged
    assert (
        evaluate(alarm, hourly_runs([94.9] * RUNS), now=HOUR, parameters={**parameters, "CoverageAlarmPercent": 90})
        == OK
    )


def test_the_alarm_does_not_fire_on_a_healthy_stack_one_short_run_or_an_empty_account() -> None:
    alarm, parameters = coverage_alarm(), defaults()
    # A healthy day: every run leaves every ENI that should be mirrored mirrored
    day = hourly_runs(*([[100.0] * RUNS] * 24))
    assert all(evaluate(alarm, day, now=h * HOUR, parameters=parameters) == OK for h in range(1, 25))
    # One run of the hour cut short (its deadline) or racing a burst of launches: the others recovered
    assert (
        evaluate(alarm, hourly_runs([100.0, 40.0, 100.0, 100.0, 100.0, 100.0]), now=HOUR, parameters=parameters) == OK
    )
    # Below it for half an hour only: it has not stayed there for an hour yet
    assert evaluate(alarm, hourly_runs([100.0] * 3 + [80.0] * 3), now=HOUR, parameters=parameters) == OK
    # Nothing to mirror: no data at all, which is not an alarm (nor INSUFFICIENT_DATA)
    assert evaluate(alarm, [], now=HOUR, parameters=parameters) == OK
    # 0 turns it off, even at 0 %
    assert (
        evaluate(alarm, hourly_runs([0.0] * RUNS), now=HOUR, parameters={**parameters, "CoverageAlarmPercent": 0}) == OK
    )


def test_the_alarm_evaluator_follows_aws_s_rules_for_missing_data_and_m_of_n() -> None:
    """The model the tests above lean on (simulation/cloudwatch_alarms.py), on a made-up alarm."""
    base = {"Statistic": "Maximum", "Period": 60, "EvaluationPeriods": 3, "Threshold": 10}
    above = {**base, "ComparisonOperator": "GreaterThanThreshold"}
    assert evaluate({**above, "TreatMissingData": "breaching"}, [], now=180) == ALARM
    assert evaluate({**above, "TreatMissingData": "notBreaching"}, [], now=180) == OK
    assert evaluate(above, [], now=180) == INSUFFICIENT_DATA  # missing, the default
    assert evaluate({**above, "TreatMissingData": "ignore"}, [], now=180, state=ALARM) == ALARM
    two_of_three = [(0, 11.0), (60, 9.0), (120, 11.0)]
    assert evaluate(above, two_of_three, now=180) == OK  # all three must breach by default
    assert evaluate({**above, "DatapointsToAlarm": 2}, two_of_three, now=180) == ALARM
    assert evaluate(above, [(0, 11.0), (60, 11.0), (120, 11.0), (180, 1.0)], now=190) == ALARM  # 180-240 is not over
