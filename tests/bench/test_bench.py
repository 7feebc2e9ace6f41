"""`make bench` still works: every benchmark at toy sizes, one run, no sam build and no plot (`make bench-check`).

The figures themselves come from `make bench`; these tests only prove that the benchmark code runs against the
current product and that what it measures is what a user would see (instances mirrored, orphans deleted).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.report import README_COST_BEGIN, README_COST_END, markdown, readme_cost_table
from bench.run import QUICK, measure, write
from bench.time_to_coverage import Sample, percentile, queued


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    return measure(QUICK)


def test_every_trigger_is_counted_cold_and_warm(results: dict[str, Any]) -> None:
    rows = results["api_calls"]["rows"]
    assert {r["trigger"] for r in rows} >= {
        "state change: running",
        "state change: stopped",
        "state change: terminated",
        "tag added",
        "tag removed",
        "ASG launch successful",
    }
    for row in rows:
        # a warm container never pays more than a cold one, and never less than the logic needs
        assert row["warm"]["minimum"] <= row["warm"]["calls"] <= row["cold"]["calls"]
    assert results["api_calls"]["warm_launch_1_eni"]["calls"] <= 5


def test_reconcile_deletes_the_orphans_within_the_budget(results: dict[str, Any]) -> None:
    cases = results["reconcile_scaling"]["cases"]
    healthy = [c for c in cases if c["orphans"] == 0]
    orphaned = [c for c in cases if c["orphans"] > 0]
    assert len({c["api_calls"] for c in healthy}) == 1  # one page of everything at toy sizes
    for case in orphaned:
        assert case["changes"] == case["orphans"]  # each orphan's session deleted, nothing else changed
        assert case["api_calls"] > healthy[0]["api_calls"]
    assert all(c["within_budget"] for c in cases)


def test_coverage_adds_no_api_call_to_a_reconcile_and_counts_every_instance(results: dict[str, Any]) -> None:
    """Issue 23: computed from what the reconciler reads anyway."""
    for case in results["reconcile_scaling"]["cases"]:
        n = case["managed_sessions"] - case["orphans"]
        assert case["coverage"] == {"enis_to_mirror": n, "enis_mirrored": n, "percent": 100.0}
    figures = results["reconcile_scaling"]["coverage"]
    assert [row["instances"] for row in figures["cases"]] == list(QUICK.coverage_sizes)
    assert figures["added_api_calls"] == 0
    for row in figures["cases"]:
        assert row["coverage_api_calls"] == 0 < row["reconcile_api_calls"]
        assert 0 < row["coverage_seconds"] < row["reconcile_client_seconds"]


def test_the_coverage_measurement_would_see_a_call_made_while_computing_it() -> None:
    """The 0 above can fail: a call made from within a measured function is counted, one made outside is not."""
    from moto import mock_aws

    from bench.machine import offline_environment
    from bench.reconcile_scaling import _Inside, _measured

    class Counting:
        @staticmethod
        def with_a_call(client: Any) -> None:
            client.describe_traffic_mirror_sessions()

    inside = _Inside()
    with offline_environment(), mock_aws():
        import boto3

        client = boto3.client("ec2", region_name="us-east-1")
        with _measured(inside, [(Counting, "with_a_call")]):
            Counting.with_a_call(client)
            client.describe_traffic_mirror_targets()
    assert inside.calls == 1 and inside.seconds > 0


def test_cold_start_is_measured_against_boto3(results: dict[str, Any]) -> None:
    subjects = results["cold_start"]["dev_venv"]["subjects"]
    assert subjects["boto3"]["ratio"] == 1.0
    assert {"InstanceStateChangeFunction", "ScheduledReconcilerFunction"} <= set(subjects)
    assert all(s["median_seconds"] > 0 for s in subjects.values())


def test_burst_mirrors_every_instance_under_the_throttled_api(results: dict[str, Any]) -> None:
    burst = results["burst"]
    assert burst["mirrored"] == burst["launches"] == QUICK.burst_launches
    assert burst["failed_events"] == 0
    assert burst["total_calls"] > 0


def test_cost_shows_the_stack_next_to_the_sessions_it_manages(results: dict[str, Any]) -> None:
    cost = results["cost"]
    assert cost["routes"]["per_launch"] >= 2 and cost["routes"]["per_termination"] >= 1
    assert cost["reconciles_per_day"] == 144 and cost["skip_checks_per_day"] == 24
    assert [f["instances"] for f in cost["fleets"]] == [100, 1000, 10_000]
    for fleet in cost["fleets"]:
        assert fleet["sessions"] == pytest.approx(fleet["instances"] * 0.015 * 730)
        assert 0 < fleet["total"] < fleet["sessions"]
        assert fleet["total"] == pytest.approx(sum(item["monthly"] for item in fleet["items"]))


def test_the_skip_check_judges_every_instance_in_the_calls_it_needs(results: dict[str, Any]) -> None:
    figures = results["skip_check"]
    [case] = figures["cases"]
    assert case["instances"] == QUICK.skip_check_sizes[0] > 250  # two GetMetricData calls
    assert case["api_calls_by_operation"] == {"DescribeTrafficMirrorSessions": 1, "GetMetricData": 2}
    assert case["metrics_requested"] == 2 * case["instances"] and figures["all_as_needed"]


def test_delivery_is_counted_and_priced_and_judges_every_source(results: dict[str, Any]) -> None:
    [case] = results["delivery"]["cases"]
    assert case["instances"] == QUICK.delivery_sizes[0] == 300 and case["verdict"] == "no-loss-shown"
    assert case["metrics_requested"] == 4 * 300 + 1 and case["get_metric_data_calls"] == 3  # 500 queries a call
    assert case["cost_per_run"] == pytest.approx(case["metrics_requested"] * 0.01 / 1000, abs=1e-4)
    assert case["api_calls"] == case["calls_that_grow"] + results["delivery"]["fixed_calls"][300]
    assert "## 9. Delivery and time to coverage" in markdown(results)


def test_time_to_coverage_is_measured_against_its_floor(results: dict[str, Any]) -> None:
    figures = results["time_to_coverage"]
    assert figures["launches"] == QUICK.coverage_launches and figures["latency_seconds"] == 0.05
    for mode in ("cold", "warm"):
        measured = figures[mode]
        # Every call waits 50 ms: no launch is mirrored faster than the calls it made, nor than the floor
        assert measured["calls_to_coverage"] >= measured["floor_calls"]
        assert measured["p50"] >= measured["floor_seconds"] == round(measured["floor_calls"] * 0.05, 3)
        assert measured["p50"] <= measured["p99"] <= measured["max"]
        assert measured["sequence"][-1] == "CreateTrafficMirrorSession"
    assert figures["warm"]["floor_calls"] == 4 and figures["cold"]["floor_calls"] == 9
    assert figures["warm"]["p50"] < figures["cold"]["p50"]
    assert figures["reserved"]["p99"] >= figures["cold"]["p50"]  # a burst waits for free containers, if any


def test_the_organization_audit_audits_every_account_with_the_same_calls_per_account(results: dict[str, Any]) -> None:
    org = results["org_audit"]
    cases = org["cases"]
    assert [c["accounts"] for c in cases] == list(QUICK.org_accounts)
    for case in cases:
        # every account of the organization entered and audited, each with all its sessions
        assert case["audited"] == case["accounts"]
        assert case["managed_sessions"] == case["accounts"] * QUICK.org_sessions
        assert case["calls_per_account_by_operation"]["AssumeRole"] == 1
        assert case["caller_calls_by_operation"] == {"GetCallerIdentity": 1, "ListAccounts": 1}
        assert case["total_calls"] == case["caller_calls"] + case["accounts"] * case["calls_per_account"]
        assert set(case["seconds"]) == {"serial", "parallel"}  # QUICK adds no round trip
        assert case["serial_client_seconds"] + case["serial_moto_seconds"] == pytest.approx(
            case["seconds"]["serial"], abs=0.01
        )
        assert case["serial_moto_seconds"] > 0
        assert set(case["cpu_seconds"]) == {"serial", "parallel"}
    assert org["calls_per_account_constant"]
    assert set(org["fits"]) == {"serial", "parallel"}


def test_results_and_docs_are_written(results: dict[str, Any], tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{README_COST_BEGIN}\nold\n{README_COST_END}\nafter\n")
    write(results, tmp_path / "results.json", tmp_path / "benchmarks.md", plot_path=None, readme_path=readme)
    assert readme.read_text() == "before\n" + "\n".join(readme_cost_table(results["cost"])) + "\nafter\n"
    assert json.loads((tmp_path / "results.json").read_text())["machine"]["cpu_model"]
    docs = (tmp_path / "benchmarks.md").read_text()
    for heading in (
        "## 1. API calls",
        "## 2. Reconcile scaling",
        "## 3. Cold start",
        "## 4. Burst",
        "## 5. Cost",
        "## 6. Organization audit",
        "## 8. Skip check",
    ):
        assert heading in docs
    assert results["machine"]["cpu_model"] in docs
    assert "benchmarks-org-audit.png" not in docs  # no plot written, none linked


def test_the_organization_audit_plot_is_drawn(results: dict[str, Any], tmp_path: Path) -> None:
    from bench.report import plot_org_audit

    plot_org_audit(results, tmp_path / "org.png")
    assert (tmp_path / "org.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_windows_guardduty_and_preflight_are_counted(results: dict[str, Any]) -> None:
    figures = results["windows_and_preflight"]
    assert figures["guardduty"]["warm"]["calls"] <= figures["guardduty"]["cold"]["calls"]
    assert all(c["expired"] == round(c["instances"] * 0.1) for c in figures["expired"])
    assert len({c["preflight_calls"] for c in figures["preflight"]}) == 1
    assert all(c["within_budget"] for c in figures["preflight"])


def test_a_burst_on_reserved_containers_waits_for_a_free_one() -> None:
    """The queue model of time to coverage: first come, first served; a container's first launch is cold."""
    cold = [Sample(to_coverage=1.0, handler=1.5, calls_to_coverage=9, sequence=())] * 4
    warm = [Sample(to_coverage=0.2, handler=0.3, calls_to_coverage=4, sequence=())] * 4
    assert queued(cold, warm, workers=2) == [1.0, 1.0, 1.7, 1.7]
    assert queued(cold, warm, workers=4) == [1.0] * 4  # as many containers as launches: each waits its cold path
    assert percentile([3.0, 1.0, 2.0, 4.0], 0.5) == 2.0 and percentile([1.0, 2.0], 0.99) == 2.0
