"""The cost model (bench/cost.py), from the measurements in bench/results.json: its line items add up, the goal
holds, every price cites AWS's page, every resource type of the template is accounted for, and the README and
docs/benchmarks.md quote its figures (a figure that differs from the model fails here)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from bench.cost import (
    HOURS_PER_MONTH,
    INSTANCES,
    PRICES,
    RESOURCE_COSTS,
    Fleet,
    alarm_metrics,
    coverage_alarms,
    coverage_items,
    deployed_count,
    estimate,
    metric_and_alarm_items,
    skip_check_items,
)
from bench.machine import ROOT
from bench.report import README_COST_BEGIN, README_COST_END, _cost, organization_cost_lines, readme_cost_table
from simulation.eventbridge import load_template

RESULTS: dict[str, Any] = json.loads((ROOT / "bench" / "results.json").read_text())
TEMPLATE = load_template(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def cost() -> dict[str, Any]:
    return estimate(RESULTS["api_calls"], RESULTS["reconcile_scaling"], RESULTS["cold_start"], RESULTS["skip_check"])


def test_the_line_items_add_up_to_each_total(cost: dict[str, Any]) -> None:
    for fleet in cost["fleets"]:
        for item in fleet["items"]:
            assert item["monthly"] == round(item["quantity"] * item["each"], 2), item["name"]
        assert fleet["total"] == pytest.approx(sum(item["monthly"] for item in fleet["items"]), abs=1e-9)
        assert fleet["fixed"] + fleet["usage"] == pytest.approx(fleet["total"], abs=1e-9)
        assert fleet["sessions"] == pytest.approx(fleet["instances"] * 0.015 * HOURS_PER_MONTH)
        assert fleet["share"] == pytest.approx(fleet["total"] / fleet["sessions"])


def test_the_stack_costs_at_most_1_percent_of_its_sessions_at_100_and_half_a_percent_at_1000_and_10000(
    cost: dict[str, Any],
) -> None:
    assert [f["instances"] for f in cost["fleets"]] == list(INSTANCES) == [100, 1000, 10_000]
    assert [f["budget_share"] for f in cost["fleets"]] == [0.01, 0.005, 0.005]
    for fleet in cost["fleets"]:
        assert fleet["share"] <= fleet["budget_share"] and fleet["within_budget"], fleet["instances"]


def test_fixed_items_are_the_same_at_every_size_and_every_size_prices_the_same_items(cost: dict[str, Any]) -> None:
    fleets = cost["fleets"]
    assert len({tuple(i["name"] for i in f["items"]) for f in fleets}) == 1
    for position, item in enumerate(fleets[0]["items"]):
        if item["kind"] == "fixed":
            assert {f["items"][position]["monthly"] for f in fleets} == {item["monthly"]}, item["name"]


def test_the_skip_check_is_priced_as_measured_two_metrics_per_instance_every_hour(cost: dict[str, Any]) -> None:
    for fleet in cost["fleets"]:
        [item] = [i for i in fleet["items"] if i["name"].startswith("GetMetricData")]
        assert item["quantity"] == 2 * fleet["instances"] * HOURS_PER_MONTH
    for case in RESULTS["skip_check"]["cases"]:  # what one check requested, measured against the strict layer
        assert case["metrics_requested"] == 2 * case["instances"]
        assert case["api_calls"] == case["calls_needed"]


def test_coverage_is_priced_once_its_metric_and_its_alarm_and_no_api_call(cost: dict[str, Any]) -> None:
    """Issue 23: the Coverage metric and CoverageAlarm on their own lines, and nowhere else."""
    assert coverage_alarms(TEMPLATE) == ["CoverageAlarm"]
    for fleet in cost["fleets"]:
        items = {item["name"]: item for item in fleet["items"]}
        assert items["coverage: metric Coverage"]["monthly"] == 0.30
        assert items["coverage: its alarm"]["monthly"] == 0.10
        assert items["coverage: API calls"]["quantity"] == 0
        assert items["CloudWatch alarms (standard)"]["quantity"] == cost["alarms"] - 1
    # Once the measured metric names include it, it is still priced once
    fleet = Fleet(1000, {}, ("Coverage", "SessionsCreated"), TEMPLATE)
    priced = [item for build in (metric_and_alarm_items, coverage_items) for item in build(fleet)]
    metrics = sum(item.quantity for item in priced if item.price is PRICES["custom_metric"])
    alarms = sum(item.quantity for item in priced if item.price is PRICES["standard_alarm"])
    assert (metrics, alarms) == (2, deployed_count(TEMPLATE, "AWS::CloudWatch::Alarm"))


def test_every_alarm_is_priced_and_none_is_a_metrics_insights_alarm(cost: dict[str, Any]) -> None:
    assert cost["alarms"] == deployed_count(TEMPLATE, "AWS::CloudWatch::Alarm")
    assert cost["metrics_insights_queries"] == 0


def test_a_metrics_insights_alarm_would_be_priced_per_instance() -> None:
    """The model's honesty, should one come back: billed for every metric its filter matches."""
    template = copy.deepcopy(TEMPLATE)
    template["Resources"]["Watch"] = {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {"Metrics": [{"Id": "q", "Expression": 'SELECT SUM(NetworkSkipMirrorIn) FROM "AWS/EC2"'}]},
    }
    assert alarm_metrics(template)[1] == 1
    fleet = Fleet(1000, {}, (), template)
    [item] = [i for i in metric_and_alarm_items(fleet) if i.name == "Metrics Insights alarms"]
    assert item.quantity == 1000 and item.price is PRICES["metrics_insights_alarm"]


def test_the_skip_check_costs_nothing_when_it_is_off() -> None:
    template = copy.deepcopy(TEMPLATE)
    assert skip_check_items(Fleet(1000, {}, (), template))
    template["Parameters"]["CreateSkipAlarms"]["Default"] = "false"
    assert skip_check_items(Fleet(1000, {}, (), template)) == []


def test_every_price_cites_aws_s_page() -> None:
    for key, price in PRICES.items():
        assert price.url.startswith(("https://aws.amazon.com/", "https://docs.aws.amazon.com/")), key
        assert price.unit and price.per > 0, key


def test_every_resource_type_of_the_template_is_accounted_for() -> None:
    """A new kind of resource must say what it costs (RESOURCE_COSTS names its line items, or why it is free)."""
    types = {resource["Type"] for resource in TEMPLATE["Resources"].values()}
    assert sorted(types - set(RESOURCE_COSTS)) == []


def test_the_readme_quotes_the_model(cost: dict[str, Any]) -> None:
    readme = (ROOT / "README.md").read_text()
    start, end = readme.index(README_COST_BEGIN), readme.index(README_COST_END) + len(README_COST_END)
    assert readme[start:end] == "\n".join(readme_cost_table(cost))
    section = readme[readme.index("## What it costs") : readme.index("## Incident response")]
    options = {o["option"]: o for o in cost["skip_check_options"]}
    insights = options["two Metrics Insights alarms, one per direction (issue 15)"]
    every_reconcile = options["GetMetricData at every reconcile (10 minutes), one alarm on the published count"]
    per_instance = 2 * HOURS_PER_MONTH * PRICES["get_metric_data"].each
    for claim in (
        f"{cost['alarms']} standard alarms",
        f"${per_instance:.4f} per mirrored",
        f"${2 * PRICES['metrics_insights_alarm'].each:.2f} per instance a month for the two",
        f"({insights['share'][-1]:.1%} of the sessions)",
        f"would cost {every_reconcile['share'][-1]:.1%} of the sessions",
    ):
        assert claim in " ".join(section.split()), claim


def test_the_benchmarks_page_quotes_the_model(cost: dict[str, Any]) -> None:
    assert "\n".join(_cost(cost)) in (ROOT / "docs" / "benchmarks.md").read_text()


def test_the_organization_page_quotes_the_model(cost: dict[str, Any]) -> None:
    lines = organization_cost_lines(cost)
    assert "\n".join(lines) in (ROOT / "docs" / "organization.md").read_text()
    first = cost["fleets"][0]
    assert f"${first['total']:,.2f} a month with {first['instances']:,} mirrored instances" in lines[1]
