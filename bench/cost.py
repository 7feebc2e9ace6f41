"""Figure 5: what the stack costs a month, line by line, next to the Traffic Mirroring sessions it manages.

One computation for every cost figure of the project. ``estimate`` prices every fixed and per-instance item of the
stack with its default parameters, as line items, for N = 100, 1,000 and 10,000 mirrored instances (one ENI each, in
Auto Scaling groups that propagate the mirror tag, 10% replaced every day), beside N sessions at $0.015 for 730 hours.
docs/benchmarks.md's section 5 and the README's cost table are both written from its result (``bench.report``), and
tests/bench/test_cost.py checks that the line items add up to the totals, that the goal holds (the stack at most 1%
of the sessions at 100 instances, 0.5% at 1,000 and 10,000) and that the README and the docs quote these figures.

Prices (``PRICES``): AWS's published unit, each with its page, us-east-1, before free tiers (an account's free tiers
are shared with everything else it runs). Where AWS does not publish a unit or a rate, the worse case is taken and
the price says so. Measured inputs come from the other benchmarks (API calls, wall times, log bytes, metric names,
import times, the skip check's calls); every other number is an assumption stated in ``assumptions``.

To add a cost (issue 23's coverage and delivery checks, for example): write a function that takes a ``Fleet`` and
returns its ``LineItem``s, add it to ``LINE_ITEMS``, and give any new resource type its entry in ``RESOURCE_COSTS``.
"""

from __future__ import annotations

import copy
import json
import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.machine import ROOT
from simulation.eventbridge import condition_holds, load_rules, load_template, matching_rules
from traffic_mirroring.config import Settings
from traffic_mirroring.mirror_skips import SKIP_CHECK_MINUTES, SKIP_METRICS

INSTANCES = (100, 1000, 10_000)
TIMES = "\u00d7"  # the multiplication sign, in generated text
DAILY_CHURN = 0.10
HOURS_PER_MONTH = 730  # the month AWS prices by
DAYS_PER_MONTH = HOURS_PER_MONTH / 24  # 30.42
# The goal (issue 21): the stack at most this share of the sessions it manages; fixed costs weigh most at 100.
BUDGET_SHARE = {100: 0.01}
DEFAULT_BUDGET_SHARE = 0.005
INSIGHTS_HOURS = 3  # a Metrics Insights alarm evaluates the latest 3 hours of data (alarm-limits)

LAMBDA_PRICING = "https://aws.amazon.com/lambda/pricing/"
CLOUDWATCH_PRICING = "https://aws.amazon.com/cloudwatch/pricing/"
CLOUDWATCH_BILLING = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_billing.html"


@dataclass(frozen=True)
class Price:
    """``amount`` USD per ``per`` units of ``unit``, as AWS publishes it on ``url``. ``note``: what AWS does not
    publish and which case was taken."""

    amount: float
    per: float
    unit: str
    url: str
    note: str = ""

    @property
    def each(self) -> float:
        return self.amount / self.per

    @property
    def label(self) -> str:
        per = "" if self.per == 1 else f"{_count(self.per)} "
        return f"{dollars(self.amount)} per {per}{self.unit}"


PRICES: dict[str, Price] = {
    # The stack's own default (SessionHourlyPrice), declared once on Settings.
    "session_hour": Price(
        Settings.session_hourly_price, 1, "session-hour (Traffic Mirroring)", "https://aws.amazon.com/vpc/pricing/"
    ),
    "lambda_request": Price(0.20, 1_000_000, "requests", LAMBDA_PRICING),
    "lambda_gb_second": Price(0.0000133334, 1, "GB-second (arm64)", LAMBDA_PRICING),
    "log_ingestion": Price(0.50, 1, "GB ingested (Standard log class)", CLOUDWATCH_PRICING),
    "log_storage": Price(
        0.03, 1, "GB-month stored", CLOUDWATCH_PRICING, "metered compressed; counted uncompressed (worse case)"
    ),
    "custom_metric": Price(
        0.30,
        1,
        "metric-month (first 10,000 metrics)",
        CLOUDWATCH_PRICING,
        "prorated by the hour and metered only when sent (CloudWatch user guide, cloudwatch_billing); every metric a "
        "healthy fleet emits is counted for the whole month (worse case)",
    ),
    "standard_alarm": Price(0.10, 1, "alarm metric-month (standard resolution)", CLOUDWATCH_PRICING),
    "metrics_insights_alarm": Price(
        0.10,
        1,
        "metric analyzed-month (Metrics Insights alarm)",
        CLOUDWATCH_BILLING,
        "AWS bills a Metrics Insights alarm for every metric its query's filter matches ('a query whose filter "
        "matches ten metrics incurs ten metrics analyzed cost'); the rate per metric analyzed is taken at a standard "
        "alarm metric's (assumed). No free tier.",
    ),
    "get_metric_data": Price(
        0.01,
        1000,
        "metrics requested (GetMetricData)",
        CLOUDWATCH_PRICING,
        "billed by the number of metrics requested, from the first call (no free tier): cloudwatch_billing",
    ),
    "dashboard": Price(3.00, 1, "dashboard-month", CLOUDWATCH_PRICING),
    "xray_trace": Price(
        5.00,
        1_000_000,
        "traces recorded",
        "https://aws.amazon.com/xray/pricing/",
        "every invocation counted as a trace (worse case: the default sampling rule records fewer)",
    ),
    "kms_key": Price(1.00, 1, "customer managed key-month", "https://aws.amazon.com/kms/pricing/"),
    "kms_request": Price(0.03, 10_000, "requests", "https://aws.amazon.com/kms/pricing/"),
    "sns_publish": Price(0.50, 1_000_000, "publishes", "https://aws.amazon.com/sns/pricing/"),
    "sqs_request": Price(0.40, 1_000_000, "requests", "https://aws.amazon.com/sqs/pricing/"),
    "aws_event": Price(
        0.0,
        1,
        "event from an AWS service or a schedule rule",
        "https://aws.amazon.com/eventbridge/pricing/",
        "AWS service events are free; if the schedules' events were billed as custom events ($1 per 1M), 168 a day "
        "would add $0.005 a month",
    ),
    "ec2_api_call": Price(
        0.0, 1, "EC2 API call", "https://aws.amazon.com/ec2/pricing/on-demand/", "AWS publishes no price for them"
    ),
}

# What each resource type of the template costs, by line item (a type missing here fails tests/bench/test_cost.py).
RESOURCE_COSTS: dict[str, str] = {
    "AWS::Serverless::Function": "Lambda requests and duration, X-Ray traces, custom metrics (EMF)",
    "AWS::Serverless::LayerVersion": "free (layers are billed as part of the functions)",
    "AWS::Logs::LogGroup": "CloudWatch Logs ingestion and storage",
    "AWS::CloudWatch::Alarm": "CloudWatch alarms",
    "AWS::CloudWatch::Dashboard": "CloudWatch dashboard",
    "AWS::KMS::Key": "KMS key",
    "AWS::SNS::Topic": "SNS and KMS requests: one publish per alarm state change",
    "AWS::SNS::Subscription": "SNS and KMS requests: one publish per alarm state change",
    "AWS::SQS::Queue": "SQS requests: only for failed events",
    "AWS::SQS::QueuePolicy": "free",
    "AWS::IAM::Role": "free",
    "AWS::IAM::RolePolicy": "free",
    "AWS::EC2::TrafficMirrorFilter": "free (sessions are billed, not filters)",
    "AWS::EC2::TrafficMirrorFilterRule": "free",
    "Custom::SessionCleanup": "one invocation per stack create, update or delete",
}
# Metrics only an optional function emits, by the function that emits them (not deployed by default: not counted).
OPTIONAL_METRICS = {"LifecycleAction.": "AutoScalingLifecycleFunction", "GuardDutyFindings": "GuardDutyFindingFunction"}
# Coverage (issue 23): its metric and the alarms on it are priced on their own lines (``coverage_items``).
COVERAGE_METRIC = "Coverage"

MEMORY_GB = 256 / 1024
# Lambda allocates CPU in proportion to memory: one vCPU at 1,769 MB. At 256 MB a CPU-bound step runs about
# 1769/256 = 6.9 times longer than on one full core of the benchmark machine (taken as equal to a Graviton core).
CPU_FACTOR = 1769 / 256
API_LATENCY_SECONDS = 0.10  # assumed round trip of one EC2 or CloudWatch API call from Lambda, in-region
LOG_EVENT_OVERHEAD_BYTES = 26  # CloudWatch Logs meters each event's size plus 26 bytes
PLATFORM_LOG_BYTES = 420  # Lambda's START, END and REPORT lines (with the X-Ray trace ID), text format
PLATFORM_LOG_LINES = 3


@dataclass(frozen=True)
class LineItem:
    name: str
    quantity: float  # a month, in the price's unit
    price: Price
    kind: str  # "fixed": the same at any N; "usage": grows with N and churn
    detail: str = ""

    @property
    def monthly(self) -> float:
        """USD a month, to the cent: the totals add up the rounded items, so every table adds up as printed."""
        return round(self.quantity * self.price.each, 2)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "quantity": self.quantity,
            "unit": self.price.unit,
            "price": self.price.label,
            "each": self.price.each,
            "url": self.price.url,
            "note": self.price.note,
            "detail": self.detail,
            "monthly": self.monthly,
        }


@dataclass(frozen=True)
class Invocations:
    """One kind of invocation: how many a day, estimated billed seconds and log bytes each."""

    per_day: float
    seconds: float
    log_bytes: int


@dataclass(frozen=True)
class Fleet:
    """N mirrored instances and what the stack does for them, from the measured inputs."""

    instances: int
    invocations: dict[str, Invocations]
    custom_metrics: tuple[str, ...]
    template: Mapping[str, Any] = field(repr=False)

    @property
    def requests_per_month(self) -> float:
        return sum(i.per_day for i in self.invocations.values()) * DAYS_PER_MONTH

    @property
    def seconds_per_month(self) -> float:
        return sum(i.per_day * i.seconds for i in self.invocations.values()) * DAYS_PER_MONTH

    @property
    def log_bytes_per_month(self) -> float:
        return sum(i.per_day * i.log_bytes for i in self.invocations.values()) * DAYS_PER_MONTH

    @property
    def sessions_monthly(self) -> float:
        return round(self.instances * HOURS_PER_MONTH * PRICES["session_hour"].each, 2)


# -- line items ------------------------------------------------------------------------------------------------------
def lambda_items(fleet: Fleet) -> list[LineItem]:
    requests = fleet.requests_per_month
    return [
        LineItem("Lambda requests", requests, PRICES["lambda_request"], "usage", f"{requests:,.0f} invocations"),
        LineItem(
            "Lambda duration",
            fleet.seconds_per_month * MEMORY_GB,
            PRICES["lambda_gb_second"],
            "usage",
            f"{fleet.seconds_per_month:,.0f} s {TIMES} {MEMORY_GB} GB",
        ),
        xray_item(fleet, requests),
    ]


def xray_item(fleet: Fleet, requests: float) -> LineItem:
    """X-Ray bills the traces of a stack deployed with Tracing=Active; the default, PassThrough, records none."""
    if parameter_default(fleet.template, "Tracing") == "Active":
        return LineItem("X-Ray traces (Tracing=Active)", requests, PRICES["xray_trace"], "usage", "one per invocation")
    would_be = requests * PRICES["xray_trace"].each
    return LineItem(
        "X-Ray traces (Tracing=PassThrough)",
        0,
        PRICES["xray_trace"],
        "usage",
        f"none; Tracing=Active would record one per invocation: ${would_be:,.2f}",
    )


def log_items(fleet: Fleet) -> list[LineItem]:
    ingested = fleet.log_bytes_per_month / 1e9
    retention = int(parameter_default(fleet.template, "LogRetentionDays"))
    stored = ingested * min(retention, DAYS_PER_MONTH) / DAYS_PER_MONTH  # what stays in the log groups at a time
    return [
        LineItem("CloudWatch Logs ingestion", ingested, PRICES["log_ingestion"], "usage", f"{ingested:.4f} GB"),
        LineItem(
            "CloudWatch Logs storage", stored, PRICES["log_storage"], "usage", f"{retention} days kept: {stored:.4f} GB"
        ),
    ]


def metric_and_alarm_items(fleet: Fleet) -> list[LineItem]:
    standard, insights = alarm_metrics(fleet.template)
    standard -= len(coverage_alarms(fleet.template))  # on the coverage lines
    metrics = [name for name in fleet.custom_metrics if name != COVERAGE_METRIC]  # likewise
    items = [
        LineItem(
            "custom metrics",
            len(metrics),
            PRICES["custom_metric"],
            "fixed",
            f"{len(metrics)} names, dimension service",
        ),
        LineItem("CloudWatch alarms (standard)", standard, PRICES["standard_alarm"], "fixed", f"{standard} alarms"),
    ]
    if insights:  # none with the default parameters since issue 21; priced here if one comes back
        analyzed = insights * fleet.instances
        items.append(
            LineItem(
                "Metrics Insights alarms", analyzed, PRICES["metrics_insights_alarm"], "usage", f"{analyzed:,} metrics"
            )
        )
    dashboards = deployed_count(fleet.template, "AWS::CloudWatch::Dashboard")
    items.append(LineItem("CloudWatch dashboard", dashboards, PRICES["dashboard"], "fixed", "CreateDashboard=false"))
    return items


def skip_check_items(fleet: Fleet) -> list[LineItem]:
    """The hourly skip check: NetworkSkipMirrorIn and Out of every mirrored instance, with GetMetricData."""
    if not condition_holds(fleet.template, "SkipAlarmsEnabled", parameter_defaults(fleet.template)):
        return []
    checks = HOURS_PER_MONTH * 60 / SKIP_CHECK_MINUTES
    metrics = len(SKIP_METRICS) * fleet.instances * checks
    return [
        LineItem(
            "GetMetricData (hourly skip check)",
            metrics,
            PRICES["get_metric_data"],
            "usage",
            f"{len(SKIP_METRICS)} metrics {TIMES} {fleet.instances:,} instances {TIMES} {checks:.0f} checks",
        )
    ]


def coverage_alarms(template: Mapping[str, Any]) -> list[str]:
    """The standard alarms deployed by default on the coverage metric."""
    return sorted(
        name
        for name, resource in deployed(template).items()
        if resource.get("Type") == "AWS::CloudWatch::Alarm"
        and resource["Properties"].get("MetricName") == COVERAGE_METRIC
    )


def coverage_items(fleet: Fleet) -> list[LineItem]:
    """Coverage (issue 23), every scheduled reconcile: one custom metric, the alarm on it, and no API call (it is
    counted from the inventory and plan the reconcile has anyway: ``reconcile_scaling.coverage_overhead`` measures
    0). Its CPU time is within the reconcile's measured duration (the Lambda lines)."""
    alarms = coverage_alarms(fleet.template)
    return [
        LineItem(f"coverage: metric {COVERAGE_METRIC}", 1, PRICES["custom_metric"], "fixed", "one value a reconcile"),
        LineItem("coverage: its alarm", len(alarms), PRICES["standard_alarm"], "fixed", ", ".join(alarms) or "none"),
        LineItem("coverage: API calls", 0, PRICES["ec2_api_call"], "fixed", "none: counted from the reconcile's reads"),
    ]


def alarm_topic_items(fleet: Fleet) -> list[LineItem]:
    keys = deployed_count(fleet.template, "AWS::KMS::Key")
    return [
        LineItem("KMS key of the alarm topic", keys, PRICES["kms_key"], "fixed", "none with AlarmTopicArn"),
        LineItem(
            "SNS publishes and KMS requests", 0, PRICES["sns_publish"], "fixed", "one per alarm state change: none"
        ),
        LineItem("SQS (dead-letter and failure queues)", 0, PRICES["sqs_request"], "fixed", "only for failed events"),
        LineItem("EventBridge events and schedules", 0, PRICES["aws_event"], "fixed", "AWS service events"),
        LineItem("EC2 API calls", 0, PRICES["ec2_api_call"], "fixed", "Describe*, Create/Delete/Modify*, tags"),
    ]


LINE_ITEMS: tuple[Callable[[Fleet], list[LineItem]], ...] = (
    lambda_items,
    log_items,
    metric_and_alarm_items,
    coverage_items,
    skip_check_items,
    alarm_topic_items,
)


# -- the template ----------------------------------------------------------------------------------------------------
def parameter_defaults(template: Mapping[str, Any]) -> dict[str, str | list[str]]:
    return {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}


def parameter_default(template: Mapping[str, Any], name: str) -> str:
    return str(template["Parameters"][name]["Default"])


def deployed(template: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The resources the template creates with its default parameters."""
    values = parameter_defaults(template)
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if "Condition" not in resource or condition_holds(template, resource["Condition"], values)
    }


def deployed_count(template: Mapping[str, Any], resource_type: str) -> int:
    return sum(1 for resource in deployed(template).values() if resource.get("Type") == resource_type)


def alarm_metrics(template: Mapping[str, Any]) -> tuple[int, int]:
    """(alarm metrics of the standard alarms, Metrics Insights queries) deployed by default. A standard alarm on one
    metric is one alarm metric; one with metric math, one per metric it references."""
    standard = insights = 0
    for resource in deployed(template).values():
        if resource.get("Type") != "AWS::CloudWatch::Alarm":
            continue
        queries = resource["Properties"].get("Metrics")
        if not queries:
            standard += 1
            continue
        selects = sum(1 for q in queries if str(q.get("Expression", "")).lstrip().upper().startswith("SELECT"))
        insights += selects
        standard += sum(1 for q in queries if "MetricStat" in q)
    return standard, insights


def schedule_per_day(template: Mapping[str, Any]) -> float:
    default = parameter_default(template, "ReconcileSchedule")
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours)\)", default)
    if not match:
        raise ValueError(f"cannot read the schedule {default!r}")
    every = int(match.group(1)) * (60 if match.group(2).startswith("hour") else 1)
    return 24 * 60 / every


def functions_deployed(template: Mapping[str, Any]) -> set[str]:
    return {name for name, r in deployed(template).items() if r.get("Type") == "AWS::Serverless::Function"}


# -- measured inputs -------------------------------------------------------------------------------------------------
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


def lambda_seconds(client_seconds: float, moto_seconds: float, calls: int) -> float:
    """Estimated billed seconds in Lambda: our compute scaled to 256 MB, AWS's side (moto's time stands for it,
    conservatively: moto's XML is slower than EC2), and one round trip per call."""
    return client_seconds * CPU_FACTOR + moto_seconds + calls * API_LATENCY_SECONDS


def _moto(measured: Mapping[str, Any]) -> float:
    return max(0.0, float(measured["median_seconds"]) - float(measured["median_client_seconds"]))


def _log_bytes(measured_bytes: int, lines: int) -> int:
    return int(measured_bytes) + PLATFORM_LOG_BYTES + (lines + PLATFORM_LOG_LINES) * LOG_EVENT_OVERHEAD_BYTES


def _nearest(cases: Sequence[Mapping[str, Any]], key: str, n: int) -> Mapping[str, Any]:
    return min(cases, key=lambda c: (abs(c[key] - n), c[key]))


@dataclass(frozen=True)
class Measured:
    """The other benchmarks' figures this model reads (bench/results.json)."""

    api_calls: Mapping[str, Any]
    reconcile: Mapping[str, Any]
    cold_start: Mapping[str, Any]
    skip_check: Mapping[str, Any]

    @property
    def init_seconds(self) -> float:
        """Every invocation counted cold (INIT is billed), at the 256 MB CPU share: an upper bound."""
        deployed_imports = self.cold_start.get("deployed") or self.cold_start["dev_venv"]
        imports = [v["median_seconds_with_boto3"] for k, v in deployed_imports["subjects"].items() if k != "boto3"]
        return float(max(imports)) * CPU_FACTOR

    def custom_metrics(self, template: Mapping[str, Any]) -> tuple[str, ...]:
        names: set[str] = set()
        for row in self.api_calls["rows"]:
            for container in ("cold", "warm"):
                names.update(row[container]["metric_names"])
        for case in self.reconcile["cases"]:
            names.update(case["metric_names"])
        for case in self.skip_check["cases"]:
            names.update(case["metric_names"])
        present = functions_deployed(template)
        return tuple(
            sorted(
                name
                for name in names
                if not any(name.startswith(p) and fn not in present for p, fn in OPTIONAL_METRICS.items())
            )
        )

    def fleet(self, n: int, template: Mapping[str, Any], routes: Mapping[str, Any]) -> Fleet:
        rows = {(r["trigger"], r["enis"]): r for r in self.api_calls["rows"]}
        launch = rows[("state change: running", 1)]["cold"]
        termination = rows[("state change: terminated", 1)]["cold"]
        busy = [b for b in self.api_calls.get("busy_pool") or [] if b["sessions_on_pool"] == n]
        extra_calls = max(0, busy[0]["cold_calls"] - launch["calls"]) if busy else 0  # capacity pages of a busy pool
        healthy = [c for c in self.reconcile["cases"] if c["orphans"] == 0]
        reconcile = _nearest(healthy, "managed_sessions", n)
        check = _nearest(self.skip_check["cases"], "instances", n)
        init = self.init_seconds
        churn = n * DAILY_CHURN
        invocations = {
            "launch side": Invocations(
                churn * routes["per_launch"],
                init + lambda_seconds(launch["median_client_seconds"], _moto(launch), launch["calls"] + extra_calls),
                _log_bytes(launch["log_bytes"], launch["log_lines"]),
            ),
            "termination side": Invocations(
                churn * routes["per_termination"],
                init + lambda_seconds(termination["median_client_seconds"], _moto(termination), termination["calls"]),
                _log_bytes(termination["log_bytes"], termination["log_lines"]),
            ),
            "scheduled reconcile": Invocations(
                schedule_per_day(template),
                init + lambda_seconds(reconcile["client_seconds"], reconcile["moto_seconds"], reconcile["api_calls"]),
                _log_bytes(reconcile["log_bytes"], reconcile["log_lines"]),
            ),
        }
        if condition_holds(template, "SkipAlarmsEnabled", parameter_defaults(template)):
            invocations["skip check"] = Invocations(
                24 * 60 / SKIP_CHECK_MINUTES,
                init + lambda_seconds(check["client_seconds"], check["moto_seconds"], check["api_calls"]),
                _log_bytes(check["log_bytes"], check["log_lines"]),
            )
        return Fleet(n, invocations, self.custom_metrics(template), template)


# -- the estimate ----------------------------------------------------------------------------------------------------
def budget_share(n: int) -> float:
    return BUDGET_SHARE.get(n, DEFAULT_BUDGET_SHARE)


def price_fleet(fleet: Fleet) -> dict[str, Any]:
    items = [item for build in LINE_ITEMS for item in build(fleet)]
    total = round(sum(item.monthly for item in items), 2)
    share = total / fleet.sessions_monthly
    return {
        "instances": fleet.instances,
        "launches_per_day": fleet.instances * DAILY_CHURN,
        "invocations": {name: asdict(i) for name, i in fleet.invocations.items()},
        "requests_per_month": round(fleet.requests_per_month),
        "gb_seconds_per_month": round(fleet.seconds_per_month * MEMORY_GB, 1),
        "log_gb_per_month": round(fleet.log_bytes_per_month / 1e9, 4),
        "items": [item.as_dict() for item in items],
        "total": total,
        "fixed": round(sum(i.monthly for i in items if i.kind == "fixed"), 2),
        "usage": round(sum(i.monthly for i in items if i.kind == "usage"), 2),
        "sessions": fleet.sessions_monthly,
        "share": share,
        "budget_share": budget_share(fleet.instances),
        "within_budget": share <= budget_share(fleet.instances),
    }


def skip_check_options(instances: Sequence[int], template: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What each way of watching NetworkSkipMirrorIn/Out would cost a month, and whether it judges every instance
    (the reason the stack reads them with GetMetricData once an hour). The limits are AWS's, for alarms on a Metrics
    Insights query: PARTIAL_DATA past 500 returned series or 10,000 matched metrics
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html)."""
    alarm = PRICES["standard_alarm"].each + PRICES["custom_metric"].each  # one alarm on one published count
    gmd = PRICES["get_metric_data"].each
    hourly = HOURS_PER_MONTH * 60 / SKIP_CHECK_MINUTES
    every_reconcile = schedule_per_day(template) * DAYS_PER_MONTH
    insights = PRICES["metrics_insights_alarm"].each
    directions = len(SKIP_METRICS)

    def matched(n: int) -> int:
        """Metrics a query over SCHEMA("AWS/EC2", InstanceId) matches: the mirrored instances and those replaced in
        the 3 hours a Metrics Insights alarm reads (their metrics still have data)."""
        return math.ceil(n * (1 + DAILY_CHURN * INSIGHTS_HOURS / 24))

    def by_series(n: int) -> str:
        return "yes" if matched(n) <= 500 else f"no: {matched(n):,} series, PARTIAL_DATA past 500"

    def by_metrics(n: int) -> str:
        return "yes" if matched(n) <= 10_000 else f"no: {matched(n):,} metrics matched, PARTIAL_DATA past 10,000"

    options: list[tuple[str, Callable[[int], float], Callable[[int], str]]] = [
        (
            "two Metrics Insights alarms, one per direction (issue 15)",
            lambda n: directions * matched(n) * insights,
            by_series,
        ),
        (
            "the same with ORDER BY … LIMIT 500 (a LIMIT returns fewer series, the filter matches as many metrics)",
            lambda n: directions * matched(n) * insights,
            by_metrics,
        ),
        (
            "one alarm over both directions (a query selects one metric: two queries and a math expression)",
            lambda n: directions * matched(n) * insights,
            by_metrics,
        ),
        (
            "GetMetricData at every reconcile (10 minutes), one alarm on the published count",
            lambda n: directions * n * every_reconcile * gmd + alarm,
            lambda n: "yes",
        ),
        (
            "GetMetricData hourly, one alarm on the published count (chosen)",
            lambda n: directions * n * hourly * gmd + alarm,
            lambda n: "yes",
        ),
    ]
    rows = []
    for name, monthly, judges in options:
        costs = [round(monthly(n), 2) for n in instances]
        rows.append(
            {
                "option": name,
                "monthly": costs,  # in the order of ``instances``
                "share": [
                    c / (n * HOURS_PER_MONTH * PRICES["session_hour"].each)
                    for c, n in zip(costs, instances, strict=True)
                ],
                "judges_everyone": [judges(n) for n in instances],
            }
        )
    return rows


def estimate(
    api_calls: Mapping[str, Any],
    reconcile: Mapping[str, Any],
    cold_start: Mapping[str, Any],
    skip_check: Mapping[str, Any],
    instances: Sequence[int] = INSTANCES,
) -> dict[str, Any]:
    template = load_template(ROOT / "template.yaml")
    routes = events_per_instance()
    measured = Measured(api_calls, reconcile, cold_start, skip_check)
    fleets = [price_fleet(measured.fleet(n, template, routes)) for n in instances]
    standard, insights = alarm_metrics(template)
    return {
        "instances": list(instances),
        "daily_churn": DAILY_CHURN,
        "routes": routes,
        "reconciles_per_day": schedule_per_day(template),
        "skip_checks_per_day": 24 * 60 / SKIP_CHECK_MINUTES,
        "init_seconds": round(measured.init_seconds, 3),
        "custom_metrics": list(measured.custom_metrics(template)),
        "alarms": standard,
        "metrics_insights_queries": insights,
        "fleets": fleets,
        "skip_check_options": skip_check_options(instances, template),
        "prices": {key: {"label": p.label, "url": p.url, "note": p.note} for key, p in PRICES.items()},
        "assumptions": {
            "cpu_factor": round(CPU_FACTOR, 2),
            "api_latency_seconds": API_LATENCY_SECONDS,
            "platform_log_bytes": PLATFORM_LOG_BYTES,
            "log_event_overhead_bytes": LOG_EVENT_OVERHEAD_BYTES,
            "memory_gb": MEMORY_GB,
            "days_per_month": round(DAYS_PER_MONTH, 2),
            "hours_per_month": HOURS_PER_MONTH,
        },
    }


def dollars(amount: float) -> str:
    """A price as AWS writes it: cents at least, every significant digit (``$0.20``, ``$0.015``, ``$0.0000133334``)."""
    digits = f"{amount:.10f}".rstrip("0")
    whole, _, cents = digits.partition(".")
    return f"${int(whole):,}.{cents.ljust(2, '0')}"


def _count(value: float) -> str:
    if value >= 1_000_000 and value % 1_000_000 == 0:
        return f"{value / 1_000_000:g}M"
    return f"{value:,.0f}"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.cost``: the cost figures again from the measurements in bench/results.json (no benchmark
    run): rewrites its ``cost``, docs/benchmarks.md and the README's cost table."""
    from bench import report

    args = list(sys.argv[1:] if argv is None else argv)
    results_path = Path(args[0]) if args else ROOT / "bench" / "results.json"
    results = json.loads(results_path.read_text())
    results["cost"] = estimate(
        results["api_calls"], results["reconcile_scaling"], results["cold_start"], results["skip_check"]
    )
    results_path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    report.write_docs(results, ROOT / "docs" / "benchmarks.md", ROOT / "README.md")
    for fleet in results["cost"]["fleets"]:
        print(
            f"N = {fleet['instances']:,}: ${fleet['total']:,.2f} a month, {fleet['share']:.3%} of "
            f"${fleet['sessions']:,.2f} (≤ {fleet['budget_share']:.1%}: {fleet['within_budget']})",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
