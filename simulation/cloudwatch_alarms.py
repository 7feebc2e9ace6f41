"""How CloudWatch evaluates a standard metric alarm, from AWS's documentation, to test an alarm's definition against
a series of data points (what state would it be in?).

As documented (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html, "Evaluating
an alarm"; missing data: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html):
the data points of each period are aggregated with the alarm's statistic; the alarm looks at its latest
``EvaluationPeriods`` periods and goes to ALARM when ``DatapointsToAlarm`` of them (default: all) breach the
threshold; a period without data is treated as ``TreatMissingData`` says (``missing`` by default: not counted, and
INSUFFICIENT_DATA when every period is missing; ``ignore``: the state stays). Periods are aligned to whole multiples
of the period. Not modelled (not used by the stack's standard alarms): percentiles, metric math, anomaly detection,
and how far back a ``missing`` alarm reaches for data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from statistics import fmean
from typing import Any

ALARM, OK, INSUFFICIENT_DATA = "ALARM", "OK", "INSUFFICIENT_DATA"

_STATISTICS: Mapping[str, Callable[[Sequence[float]], float]] = {
    "Maximum": max,
    "Minimum": min,
    "Sum": sum,
    "Average": fmean,
    "SampleCount": len,
}
_COMPARISONS: Mapping[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}


def resolve(value: Any, parameters: Mapping[str, Any]) -> Any:
    """A property's value, with ``{"Ref": <parameter>}`` read from ``parameters``."""
    if isinstance(value, Mapping) and set(value) == {"Ref"}:
        return parameters[value["Ref"]]
    return value


def evaluate(
    alarm: Mapping[str, Any],
    datapoints: Iterable[tuple[float, float]],
    now: float,
    parameters: Mapping[str, Any] | None = None,
    state: str = OK,
) -> str:
    """The state of a standard alarm (its CloudFormation ``Properties``) at ``now`` (seconds), given the metric's
    ``(timestamp, value)`` data points; ``state``: its state before (what ``ignore`` keeps)."""
    params = parameters or {}
    period = int(resolve(alarm["Period"], params))
    periods = int(resolve(alarm["EvaluationPeriods"], params))
    needed = int(resolve(alarm.get("DatapointsToAlarm", periods), params))
    threshold = float(resolve(alarm["Threshold"], params))
    aggregate = _STATISTICS[alarm["Statistic"]]
    breaches = _COMPARISONS[alarm["ComparisonOperator"]]
    missing = alarm.get("TreatMissingData", "missing")
    last_end = int(now) // period * period  # the latest complete period ends here
    starts = [last_end - period * (periods - k) for k in range(periods)]
    points = list(datapoints)
    verdicts: list[bool | None] = []  # per period: breaching, not, or missing
    for start in starts:
        values = [value for at, value in points if start <= at < start + period]
        verdicts.append(breaches(aggregate(values), threshold) if values else None)
    if all(v is None for v in verdicts):
        if missing == "ignore":
            return state
        if missing == "missing":
            return INSUFFICIENT_DATA
    # breaching / notBreaching: a missing period counts as such; missing / ignore: only the periods with data count.
    filled = [missing == "breaching" if v is None else v for v in verdicts]
    return ALARM if sum(1 for v in filled if v) >= needed else OK
