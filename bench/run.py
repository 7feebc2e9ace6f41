"""``make bench``: every figure, measured, written to bench/results.json, docs/benchmarks.md and the plots.

``python -m bench.run --quick`` runs every benchmark at toy sizes (the check ``make test`` runs), without the sam
build, the plot or the docs unless asked.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.machine import ROOT, machine, offline_environment


@dataclass(frozen=True)
class Plan:
    """How much of each benchmark to run."""

    api_runs: int = 3
    eni_counts: tuple[int, ...] = (1, 3)
    busy_pools: tuple[int, ...] = (1000, 10_000)
    sizes: tuple[int, ...] = (100, 1000, 10_000)
    scaling_runs: int = 3
    scaling_runs_at_largest: int = 1
    import_runs: int = 11
    sam_build: bool = True
    burst_launches: int = 500
    burst_runs: int = 1
    burst_rate: float = 50.0
    org_accounts: tuple[int, ...] = (5, 10, 20)
    org_sessions: int = 500
    org_workers: int = 8
    org_latency: float = 0.10  # figure 5's assumed round trip per call
    expired_sizes: tuple[int, ...] = (1000,)
    preflight_sizes: tuple[int, ...] = (1000, 2000)
    skip_check_sizes: tuple[int, ...] = (100, 1000, 10_000)
    delivery_sizes: tuple[int, ...] = (1000, 10_000)
    coverage_launches: int = 100
    coverage_latency: float = 0.05  # seconds added to every AWS call (time to coverage)
    coverage_sizes: tuple[int, ...] = (1000, 10_000)  # what coverage adds to a reconcile (issue 23)


FULL = Plan()
QUICK = Plan(
    api_runs=1,
    eni_counts=(1,),
    busy_pools=(),
    sizes=(10, 20),
    scaling_runs=1,
    import_runs=1,
    sam_build=False,
    burst_launches=8,
    burst_rate=500.0,
    org_accounts=(2, 3),
    org_sessions=5,
    org_workers=2,
    org_latency=0.0,
    expired_sizes=(20,),
    preflight_sizes=(20, 40),
    skip_check_sizes=(300,),  # over 250 instances: two GetMetricData calls
    delivery_sizes=(300,),  # 1,201 metrics: three GetMetricData calls
    coverage_launches=5,
    coverage_sizes=(20,),
)


def measure(plan: Plan, progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Run every benchmark; returns what bench/results.json holds."""
    from bench import api_calls, cold_start, cost, org_audit, reconcile_scaling, skip_check, windows_and_preflight

    started = time.perf_counter()
    results: dict[str, Any] = {
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "plan": plan.__dict__,
    }
    with offline_environment(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Powertools warns about runs without metrics (the preparing container)
        progress("1/8 API calls per trigger")
        results["api_calls"] = api_calls.run(runs=plan.api_runs, eni_counts=plan.eni_counts, busy_pools=plan.busy_pools)
        progress("2/8 reconcile scaling")
        results["reconcile_scaling"] = reconcile_scaling.run(
            sizes=plan.sizes, runs=plan.scaling_runs, runs_at_largest=plan.scaling_runs_at_largest
        )
        results["reconcile_scaling"]["coverage"] = reconcile_scaling.coverage_overhead(plan.coverage_sizes)
        progress("3/8 cold start" + (" (sam build)" if plan.sam_build else ""))
        results["cold_start"] = cold_start.run(runs=plan.import_runs, build=plan.sam_build)
        progress("4/8 burst")
        results["burst"] = _burst(plan)
        progress("5/8 skip check")
        results["skip_check"] = skip_check.run(plan.skip_check_sizes)
        progress("6/8 cost")
        results["cost"] = cost.estimate(
            results["api_calls"], results["reconcile_scaling"], results["cold_start"], results["skip_check"]
        )
        progress("7/8 organization audit")
        results["org_audit"] = org_audit.run(
            account_counts=plan.org_accounts,
            sessions=plan.org_sessions,
            workers=plan.org_workers,
            latency=plan.org_latency,
        )
        progress("8/8 windows, GuardDuty and preflight")
        results["windows_and_preflight"] = windows_and_preflight.run(plan.expired_sizes, plan.preflight_sizes)
        _delivery_and_time_to_coverage(plan, results, progress)
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    return results


def _delivery_and_time_to_coverage(plan: Plan, results: dict[str, Any], progress: Callable[[str], None]) -> None:
    """Issue 23: what mirror-audit --delivery adds, and how long a new instance waits to be mirrored."""
    from bench import delivery, time_to_coverage

    progress("+ delivery")
    results["delivery"] = delivery.run(plan.delivery_sizes)
    progress("+ time to coverage")
    results["time_to_coverage"] = time_to_coverage.run(plan.coverage_launches, plan.coverage_latency)


def _burst(plan: Plan) -> dict[str, Any]:
    from bench import burst

    return burst.run(launches=plan.burst_launches, runs=plan.burst_runs, rate=plan.burst_rate)


def write(
    results: dict[str, Any],
    results_path: Path,
    docs_path: Path | None,
    plot_path: Path | None,
    readme_path: Path | None = None,
) -> None:
    """``readme_path``: also rewrite the README's cost table, and docs/organization.md's cost per account beside it
    (`make bench` does; the toy run of the tests does not)."""
    from bench import report

    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    if plot_path is not None:
        report.plot(results, plot_path)
        if "org_audit" in results:
            report.plot_org_audit(results, plot_path.with_name(report.ORG_PLOT_NAME))
    if docs_path is not None:
        docs_path.parent.mkdir(parents=True, exist_ok=True)
        name = plot_path.name if plot_path is not None else None
        org_name = report.ORG_PLOT_NAME if plot_path is not None else None
        docs_path.write_text(report.markdown(results, plot_name=name, org_plot_name=org_name))
    if readme_path is not None:
        report.write_readme_cost(results["cost"], readme_path)
        organization = readme_path.parent / "docs" / "organization.md"
        if organization.exists():
            report.write_organization_cost(results["cost"], organization)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="toy sizes, one run, no sam build (make bench-check)")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "benchmarks-reconcile.png")
    parser.add_argument("--no-docs", action="store_true", help="write only the results")
    args = parser.parse_args(argv)

    def progress(step: str) -> None:
        print(f"bench: {step}", file=sys.stderr, flush=True)

    results = measure(QUICK if args.quick else FULL, progress)
    write(
        results,
        args.results,
        None if args.no_docs else args.docs,
        None if args.no_docs else args.plot,
        None if args.no_docs or args.quick else ROOT / "README.md",
    )
    print(f"bench: done in {results['total_seconds']} s → {args.results}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
