"""The tables a reader acts on are held to the code and the template: a status, an alarm or a metric added without its
row fails here, and so does a row for one that no longer exists.

- statuses: ``model.Reason`` (each value is a status someone can see on an instance, or is listed in
  ``NOT_A_STATUS`` with why), ``ATTENTION_STATUSES`` (the rows marked for the InstancesNeedingAttention alarm);
- alarms: every ``AWS::CloudWatch::Alarm`` of template.yaml, whatever its condition, and the metric it watches;
- metrics: every name passed to Powertools' ``add_metric`` in the functions and the layer (read from the source).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulation.eventbridge import load_template
from traffic_mirroring.model import ATTENTION_STATUSES, ERROR_STATUS_PREFIX, Reason

ROOT = Path(__file__).resolve().parents[2]
ERROR_STATUS = f"{ERROR_STATUS_PREFIX}<code>"

# Reasons that are never the value of an instance's mirror-status tag: each says why a session is created, deleted or
# moved, or why one ENI is passed over without deciding the instance's status (planner._status, _SILENT_SKIPS).
NOT_A_STATUS = {
    Reason.MISSING_SESSION: "a create's reason",
    Reason.AWAITING_VERDICT: "a skip that leaves the tag as it is (the next run knows AWS's answer)",
    Reason.ENI_IS_MIRROR_TARGET: "a skip of one ENI, silent: a target's own ENI is never a source",
    Reason.INSTANCE_TERMINATED: "a delete's reason: a terminated instance keeps its last status",
    Reason.INSTANCE_NOT_FOUND: "a delete's reason: there is no instance to tag",
    Reason.INSTANCE_NOT_TAGGED: "a delete's reason: nobody asked, no status is written",
    Reason.TAG_REMOVED: "a delete's reason: the status tag is removed with it",
    Reason.SOURCE_ENI_DELETED: "a delete's reason",
    Reason.SOURCE_ENI_DETACHED: "a delete's reason",
    Reason.UNSUPPORTED_INTERFACE_TYPE: "a delete's reason (an EFA or other interface that cannot be a source)",
    Reason.DUPLICATE_SESSION: "a delete's reason",
    Reason.INSTANCE_TYPE_CHANGED: "a delete's reason",
    Reason.TARGET_RETIRED: "a move's reason",
    Reason.TARGET_MISSING: "a move's or delete's reason (the status is target-dead or another target's)",
    Reason.TARGET_UNREACHABLE: "a move's or delete's reason",
    Reason.TARGET_UNHEALTHY: "a move's reason",
    Reason.FILTER_CHANGED: "a move's reason",
    Reason.FILTER_MISSING: "a delete's reason",
    Reason.OPTIONS_CHANGED: "a move's reason",
    Reason.OPTED_OUT: "a coverage reason only: an opted-out instance is not in the denominator, no status is written",
    Reason.INSTANCE_PENDING: "a coverage reason only: a pending instance is judged when its running event comes",
}
STATUSES = {reason.value for reason in Reason if reason not in NOT_A_STATUS} | {ERROR_STATUS}
ATTENTION = {reason.value for reason in ATTENTION_STATUSES} | {ERROR_STATUS}


# -- reading the pages -------------------------------------------------------------------------------------------------
def section(page: str, heading: str) -> str:
    """The text under ``heading`` (a whole heading line, e.g. "## Alarms"), up to the next heading of its level or
    above."""
    text = (ROOT / page).read_text(encoding="utf-8")
    level = heading.split()[0]
    lines = text.splitlines()
    assert heading in lines, f"{page} has no heading {heading!r}"
    start = lines.index(heading) + 1
    end = next(
        (i for i in range(start, len(lines)) if re.match(r"#+ ", lines[i]) and len(lines[i].split()[0]) <= len(level)),
        len(lines),
    )
    return "\n".join(lines[start:end])


def table_rows(text: str) -> list[list[str]]:
    """The cells of every table row of ``text``, without header and separator rows."""
    rows: list[list[str]] = []
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if not line.startswith("|") or re.fullmatch(r"\|[-| :]+\|", line.strip()):
            continue
        if number + 1 < len(lines) and re.fullmatch(r"\|[-| :]+\|", lines[number + 1].strip()):
            continue  # a header
        rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


def spans(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


# -- statuses ----------------------------------------------------------------------------------------------------------
def test_every_reason_is_a_status_or_says_why_not() -> None:
    assert set(NOT_A_STATUS) <= set(Reason)
    assert not set(NOT_A_STATUS) & ATTENTION_STATUSES  # a status that needs attention is shown, by definition


def _status_rows(page: str, heading: str) -> dict[str, str]:
    """Each status of the first column of the section's table → its row."""
    found: dict[str, str] = {}
    for row in table_rows(section(page, heading)):
        for status in spans(row[0]):
            assert status not in found, f"{page}: {status} has two rows"
            found[status] = " | ".join(row)
    return found


@pytest.mark.parametrize(
    ("page", "heading", "mark"),
    [
        ("docs/operations.md", "## Status tags", "(operator)"),
        ("README.md", "## When an instance is not mirrored", "(*attention*)"),
    ],
)
def test_the_status_tables_have_a_row_for_every_status_and_mark_those_needing_attention(
    page: str, heading: str, mark: str
) -> None:
    rows = _status_rows(page, heading)
    statuses = set(rows) - {"mirror-status"}
    assert sorted(STATUSES - statuses) == [], f"{page}: statuses without a row"
    assert sorted(statuses - STATUSES) == [], f"{page}: rows for values the code never writes"
    # A status marked (in its own cell: "`a` (mark), `b` (mark)") is one InstancesNeedingAttention counts.
    marked = {
        status
        for row in table_rows(section(page, heading))
        for status in re.findall(r"`([^`]+)` " + re.escape(mark), row[0])
    }
    assert sorted(marked ^ ATTENTION) == [], f"{page}: the attention marks differ from ATTENTION_STATUSES"


def test_the_alarm_runbook_lists_exactly_the_statuses_that_need_attention() -> None:
    text = section("docs/alarms.md", "## Instances needing attention")
    listed = text.split("**What to do.**")[0]
    assert {s for s in spans(listed) if s in STATUSES} == ATTENTION


def test_the_runbook_names_the_reasons_that_are_not_statuses() -> None:
    text = section("docs/operations.md", "## Status tags")
    assert {Reason.AWAITING_VERDICT.value, Reason.ENI_IS_MIRROR_TARGET.value} <= set(spans(text))


# -- alarms ------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


def _alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }


FUNCTION_ALARM = re.compile(r"<Function>(Errors|Throttles)Alarm")


def _alarm_functions() -> list[str]:
    """The functions docs/alarms.md says have the per-function alarms."""
    text = section("docs/alarms.md", "# Alarms, throttling, and the Auto Scaling lifecycle hook")
    [paragraph] = [p for p in text.split("\n\n") if p.startswith("The functions with these two alarms are")]
    sentence = re.sub(r"\([^)]*\)", "", paragraph.split(".\n")[0])  # "(when GuardDutyMinSeverity is set)" is no name
    return [name for name in spans(sentence) if re.fullmatch(r"[A-Z]\w+", name)]


def _expanded(names: list[str]) -> set[str]:
    out: set[str] = set()
    for name in names:
        kind = FUNCTION_ALARM.fullmatch(name)
        out |= {f"{f}{kind.group(1)}Alarm" for f in _alarm_functions()} if kind else {name}
    return out


def test_the_functions_said_to_have_alarms_are_the_template_s(template: dict[str, Any]) -> None:
    with_alarms = {
        m.group(1) for m in (re.fullmatch(r"(\w+)(Errors|Throttles)Alarm", a) for a in _alarms(template)) if m
    }
    assert sorted(_alarm_functions()) == sorted(with_alarms)
    assert all(f"{name}Function" in template["Resources"] for name in with_alarms)


def test_the_alarm_table_has_a_row_for_every_alarm_with_its_metric(template: dict[str, Any]) -> None:
    alarms = _alarms(template)
    header = "| alarm (logical ID) | metric | fires when |"
    text = section("docs/alarms.md", "# Alarms, throttling, and the Auto Scaling lifecycle hook")
    assert header in text
    rows = {name: row for row in table_rows(text.split(header)[1].split("\n\n")[0]) for name in spans(row[0])}
    documented = {name for name in _expanded([n for n in rows if n.endswith("Alarm")])}
    assert sorted(set(alarms) ^ documented) == []
    for name, row in rows.items():
        if not name.endswith("Alarm"):
            continue
        watched = {str(alarms[a]["MetricName"]) for a in _expanded([name])}
        assert watched <= set(spans(row[1])), f"{name}: the row names {spans(row[1])}, the alarm watches {watched}"


def test_the_readme_explains_every_alarm(template: dict[str, Any]) -> None:
    text = section("README.md", "## Alarms")
    named = [name for line in text.splitlines() if line.startswith("### ") for name in spans(line)]
    assert sorted(set(_alarms(template)) ^ _expanded([n for n in named if n.endswith("Alarm")])) == []


# -- metrics -----------------------------------------------------------------------------------------------------------
def _metric_name(node: ast.expr, constants: dict[str, str]) -> str:
    """A metric's name as the docs write it: an f-string's fields become <field>."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            else:
                assert isinstance(value, ast.FormattedValue)
                parts.append(f"<{ast.unparse(value.value)}>")
        return "".join(parts)
    raise AssertionError(f"a metric name the docs test cannot read: {ast.unparse(node)}")


def _sources() -> Iterator[Path]:
    yield from sorted((ROOT / "layers" / "mirroring" / "python" / "traffic_mirroring").glob("*.py"))
    yield from sorted((ROOT / "functions").glob("*/app.py"))


def emitted_metrics() -> dict[str, str]:
    """Every metric name given to ``add_metric`` (by keyword or first argument) → the file that publishes it."""
    constants: dict[str, str] = {}
    calls: list[tuple[ast.Call, Path]] = []
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                constants.update({t.id: node.value.value for t in node.targets if isinstance(t, ast.Name)})
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_metric":
                calls.append((node, path))
    found: dict[str, str] = {}
    for call, path in calls:
        named = [k.value for k in call.keywords if k.arg == "name"] or call.args[:1]
        assert named, f"{path.name}: add_metric without a name"
        found[_metric_name(named[0], constants)] = path.name
    return found


def test_the_scan_finds_the_metrics_it_should() -> None:
    found = emitted_metrics()
    # A guard on the scan itself: one of each kind (a constant, an f-string, a module constant, another module)
    assert {"InstancesNeedingAttention", "Skipped.<reason>", "InstancesSkippingMirroredPackets"} <= set(found)
    assert found["LifecycleAction.<result>"] == "lifecycle.py"


def test_the_metric_table_has_a_row_for_every_metric_the_code_publishes(template: dict[str, Any]) -> None:
    rows = {spans(row[0])[0]: row for row in table_rows(section("docs/alarms.md", "## Metrics"))}
    emitted = emitted_metrics()
    assert sorted(set(emitted) ^ set(rows)) == []
    # The alarm column names the alarms on that metric, and each alarm of our namespace watches a metric published
    alarms = {
        name: str(properties["MetricName"])
        for name, properties in _alarms(template).items()
        if properties.get("Namespace") == {"Ref": "MetricsNamespace"}
    }
    for name, metric in alarms.items():
        row = next(
            (row for pattern, row in rows.items() if re.fullmatch(re.sub(r"<\w+>", ".+", pattern), metric)), None
        )
        assert row is not None, f"{name} watches {metric}, which no code publishes"
        assert name in spans(row[3]), f"the row of {metric} does not name {name}"
    named = {alarm for row in rows.values() for alarm in spans(row[3]) if alarm.endswith("Alarm")}
    assert named <= set(alarms)


# -- architecture --------------------------------------------------------------------------------------------------
def test_the_architecture_draws_every_function_and_every_rule_that_invokes_it(template: dict[str, Any]) -> None:
    flow = section("docs/architecture.md", "## The flow: event → reconcile → apply")
    functions = {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert sorted(name for name in functions if name not in flow) == []
    # Each scheduled rule by its name, each pattern by what it matches (its detail-type, as the diagram words it)
    drawn = " ".join(flow.replace("<br/>", " ").split())
    for name, properties in functions.items():
        for event_name, event in (properties.get("Events") or {}).items():
            if event["Type"] == "Schedule":
                assert f"Schedule {event_name}" in drawn, event_name
                continue
            pattern = event["Properties"]["Pattern"]
            if "Fn::Sub" in pattern:  # the GuardDuty rule: a JSON text with the severity threshold substituted
                pattern = json.loads(re.sub(r"\$\{\w+\}", "0", pattern["Fn::Sub"]))
            for kind in pattern["detail-type"]:
                words = {"AWS API Call via CloudTrail": "CloudTrail"}.get(kind, kind.removesuffix(" Notification"))
                assert words in drawn, (name, event_name, words)
    custom = [n for n, r in template["Resources"].items() if r["Type"].startswith("Custom::")]
    assert custom and all(f"custom resource<br/>{n}" in flow for n in custom)
