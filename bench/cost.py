"""Figure 5: what the stack itself costs a month, next to the Traffic Mirroring charges it manages.

The fleet: 1,000 mirrored instances (one ENI each) in Auto Scaling groups that propagate the mirror tag at launch,
10% replaced every day. Every figure that can be measured comes from the other benchmarks (API calls, wall times,
log bytes, metric names, import times); every other number is a stated assumption.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

from bench.machine import ROOT
from simulation.eventbridge import condition_holds, load_rules, load_template, matching_rules

FLEET = 1000
DAILY_CHURN = 0.10
DAYS_PER_MONTH = 730 / 24  # 30.42: the month AWS prices by (730 hours)
HOURS_PER_MONTH = 730
SESSION_HOUR_PRICE = 0.015  # us-east-1, per session-hour (SessionHourlyPrice default)

LAMBDA_GB_SECOND_ARM64 = 0.0000133334
LAMBDA_REQUEST = 0.20 / 1_000_000
MEMORY_GB = 256 / 1024
# Lambda allocates CPU in proportion to memory: one vCPU at 1,769 MB. At 256 MB a CPU-bound step runs about
# 1769/256 = 6.9 times longer than on one full core of the benchmark machine (taken as equal to a Graviton core).
CPU_FACTOR = 1769 / 256
API_LATENCY_SECONDS = 0.10  # assumed round trip of one EC2 API call from Lambda, in-region
LOG_INGESTION_PER_GB = 0.50
LOG_EVENT_OVERHEAD_BYTES = 26  # CloudWatch Logs meters each event's size plus 26 bytes
PLATFORM_LOG_BYTES = 420  # Lambda's START, END and REPORT lines (with the X-Ray trace ID), text format
PLATFORM_LOG_LINES = 3
CUSTOM_METRIC_MONTH = 0.30  # first 10,000 metrics
ALARM_MONTH = 0.10  # standard resolution
KMS_KEY_MONTH = 1.00  # a customer managed key (the alarm topic's, created unless AlarmTopicArn is given)
XRAY_TRACE = 5.00 / 1_000_000  # traces recorded (after the free tier)


def _sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "events" / name).read_text())
    return loaded


def _state(state: str) -> dict[str, Any]:
    event = _sample("ec2-instance-running.json")
    event["detail"]["state"] = state
    return event


def events_per_instance() -> dict[str, Any]:
    """How many invocations one launch and one termination cause, by the template's real rules (defaults)."""
    asg_terminate = copy.deepcopy(_sample("autoscaling-launch-successful.json"))
    asg_terminate["detail-type"] = "EC2 Instance Terminate Successful"
    launch = {
        "state pending": _state("pending"),
        "state running": _state("running"),
        "EC2 Instance Launch Successful": _sample("autoscaling-launch-successful.json"),
        "Tag Change on Resource (mirror tag set at launch)": _sample("tag-change-mirror-added.json"),
    }
    termination = {
        "state shutting-down": _state("shutting-down"),
        "state terminated": _state("terminated"),
        "EC2 Instance Terminate Successful": asg_terminate,
    }
    rules = load_rules(ROOT / "template.yaml")

    def routed(events: Mapping[str, dict[str, Any]]) -> dict[str, list[str]]:
        return {name: [r.function_logical_id for r in matching_rules(rules, e)] for name, e in events.items()}

    launch_routes, termination_routes = routed(launch), routed(termination)
    return {
        "launch": launch_routes,
        "termination": termination_routes,
        "per_launch": sum(len(v) for v in launch_routes.values()),
        "per_termination": sum(len(v) for v in termination_routes.values()),
    }


def schedule_per_day() -> float:
    template = load_template(ROOT / "template.yaml")
    default = str(template["Parameters"]["ReconcileSchedule"]["Default"])
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours)\)", default)
    if not match:
        raise ValueError(f"cannot read the schedule {default!r}")
    every = int(match.group(1)) * (60 if match.group(2).startswith("hour") else 1)
    return 24 * 60 / every


def deployed_count(resource_type: str) -> int:
    """Resources of this type the template creates with its default parameters."""
    template = load_template(ROOT / "template.yaml")
    values = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    return sum(
        1
        for resource in template["Resources"].values()
        if resource.get("Type") == resource_type
        and ("Condition" not in resource or condition_holds(template, resource["Condition"], values))
    )


def alarms_deployed() -> int:
    return deployed_count("AWS::CloudWatch::Alarm")


def lambda_seconds(client_seconds: float, moto_seconds: float, calls: int) -> float:
    """Estimated billed seconds in Lambda: our compute scaled to 256 MB, AWS's side (moto's time stands for it,
    conservatively: moto's XML is slower than EC2), and one round trip per call."""
    return client_seconds * CPU_FACTOR + moto_seconds + calls * API_LATENCY_SECONDS


def estimate(
    api_calls: Mapping[str, Any], reconcile: Mapping[str, Any], cold_start: Mapping[str, Any]
) -> dict[str, Any]:
    rows = {(r["trigger"], r["enis"]): r for r in api_calls["rows"]}
    launch = rows[("state change: running", 1)]["cold"]
    termination = rows[("state change: terminated", 1)]["cold"]
    healthy = [c for c in reconcile["cases"] if c["orphans"] == 0]
    at_1000 = min(healthy, key=lambda c: abs(c["managed_sessions"] - FLEET))  # N = 1,000 unless a toy run
    deployed = cold_start.get("deployed") or cold_start["dev_venv"]
    imports = [v["median_seconds_with_boto3"] for k, v in deployed["subjects"].items() if k != "boto3"]
    init_seconds = max(imports) * CPU_FACTOR  # every invocation counted cold (billed INIT), conservatively

    routes = events_per_instance()
    launches = terminations = FLEET * DAILY_CHURN
    reconciles = schedule_per_day()
    event_invocations = launches * routes["per_launch"] + terminations * routes["per_termination"]

    # Every launch-side invocation is charged as a full cold launch (the first mirrors, the others find it done:
    # cheaper); every termination-side one as a cold termination.
    launch_s = init_seconds + lambda_seconds(launch["median_client_seconds"], _moto(launch), launch["calls"])
    termination_s = init_seconds + lambda_seconds(
        termination["median_client_seconds"], _moto(termination), termination["calls"]
    )
    reconcile_s = init_seconds + lambda_seconds(
        at_1000["client_seconds"], at_1000["moto_seconds"], at_1000["api_calls"]
    )
    per_day_seconds = (
        launches * routes["per_launch"] * launch_s
        + terminations * routes["per_termination"] * termination_s
        + reconciles * reconcile_s
    )
    invocations_day = event_invocations + reconciles
    gb_seconds_month = per_day_seconds * MEMORY_GB * DAYS_PER_MONTH
    requests_month = invocations_day * DAYS_PER_MONTH

    def log_bytes(measured: Mapping[str, Any], lines: int) -> int:
        return int(measured["log_bytes"]) + PLATFORM_LOG_BYTES + (lines + PLATFORM_LOG_LINES) * LOG_EVENT_OVERHEAD_BYTES

    bytes_day = (
        launches * routes["per_launch"] * log_bytes(launch, launch["log_lines"])
        + terminations * routes["per_termination"] * log_bytes(termination, termination["log_lines"])
        + reconciles * log_bytes(at_1000, at_1000["log_lines"])
    )
    log_gb_month = bytes_day * DAYS_PER_MONTH / 1e9

    names: set[str] = set()
    for row in api_calls["rows"]:
        for container in ("cold", "warm"):
            names.update(row[container]["metric_names"])
    for case in reconcile["cases"]:
        names.update(case["metric_names"])
    alarms = alarms_deployed()

    lambda_compute = gb_seconds_month * LAMBDA_GB_SECOND_ARM64
    lambda_requests = requests_month * LAMBDA_REQUEST
    logs = log_gb_month * LOG_INGESTION_PER_GB
    xray = requests_month * XRAY_TRACE
    metrics = len(names) * CUSTOM_METRIC_MONTH
    alarm_cost = alarms * ALARM_MONTH
    kms_keys = deployed_count("AWS::KMS::Key")
    kms_cost = kms_keys * KMS_KEY_MONTH
    usage_total = lambda_compute + lambda_requests + logs
    fixed_total = metrics + alarm_cost + kms_cost + xray
    mirroring = FLEET * SESSION_HOUR_PRICE * HOURS_PER_MONTH
    return {
        "fleet": FLEET,
        "daily_churn": DAILY_CHURN,
        "routes": routes,
        "launches_per_day": launches,
        "terminations_per_day": terminations,
        "reconciles_per_day": reconciles,
        "invocations_per_day": invocations_day,
        "invocations_per_month": round(requests_month),
        "init_seconds": round(init_seconds, 3),
        "seconds_per_launch_invocation": round(launch_s, 3),
        "seconds_per_termination_invocation": round(termination_s, 3),
        "seconds_per_reconcile": round(reconcile_s, 3),
        "reconcile_measured_at": at_1000["managed_sessions"],
        "gb_seconds_per_month": round(gb_seconds_month, 1),
        "log_bytes_per_day": round(bytes_day),
        "log_gb_per_month": round(log_gb_month, 4),
        "custom_metrics": sorted(names),
        "alarms": alarms,
        "monthly": {
            "lambda_compute": round(lambda_compute, 4),
            "lambda_requests": round(lambda_requests, 4),
            "cloudwatch_logs_ingestion": round(logs, 4),
            "ec2_api_calls": 0.0,
            "usage_total": round(usage_total, 4),
            "custom_metrics": round(metrics, 2),
            "alarms": round(alarm_cost, 2),
            "kms_keys": round(kms_cost, 2),
            "xray_traces": round(xray, 4),
            "fixed_total": round(fixed_total, 2),
            "stack_total": round(usage_total + fixed_total, 2),
            "traffic_mirroring_sessions": round(mirroring, 2),
        },
        "stack_share_of_mirroring": round((usage_total + fixed_total) / mirroring, 6),
        "assumptions": {
            "cpu_factor": round(CPU_FACTOR, 2),
            "api_latency_seconds": API_LATENCY_SECONDS,
            "platform_log_bytes": PLATFORM_LOG_BYTES,
            "log_event_overhead_bytes": LOG_EVENT_OVERHEAD_BYTES,
            "memory_gb": MEMORY_GB,
            "price_gb_second_arm64": LAMBDA_GB_SECOND_ARM64,
            "price_per_request": LAMBDA_REQUEST,
            "price_log_ingestion_gb": LOG_INGESTION_PER_GB,
            "price_custom_metric_month": CUSTOM_METRIC_MONTH,
            "price_alarm_month": ALARM_MONTH,
            "price_kms_key_month": KMS_KEY_MONTH,
            "price_xray_trace": XRAY_TRACE,
            "price_session_hour": SESSION_HOUR_PRICE,
            "days_per_month": round(DAYS_PER_MONTH, 2),
        },
    }


def _moto(measured: Mapping[str, Any]) -> float:
    return max(0.0, float(measured["median_seconds"]) - float(measured["median_client_seconds"]))
