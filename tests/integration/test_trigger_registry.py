"""Every trigger of traffic_mirroring.triggers is wired, and nothing in the template invokes a function without one.

For each registered trigger: template.yaml has its function (code in functions/<its directory>, whose handler names
its entry) and an EventBridge rule that routes each of its samples in events/ (matched by the template's own pattern,
as EventBridge matches: simulation.eventbridge), deployed exactly when its parameters say; its parser accepts the
samples; the property tests send its events. Conversely, every rule, schedule, function and sample of the repository
belongs to an entry. And the tag rule, the tag-change trigger's filter and the planner agree on which tag keys matter.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulation.eventbridge import Rule, load_rules, load_template
from traffic_mirroring import triggers
from traffic_mirroring.config import load_settings
from traffic_mirroring.events import TAG_CHANGE, InstanceTrigger
from traffic_mirroring.planner import own_tags_that_do_not_matter, tag_keys_that_matter
from traffic_mirroring.triggers import INSTANCE_TRIGGERS, SCHEDULES, TRIGGERS, Schedule, Trigger

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"
FUNCTIONS = ROOT / "functions"
# Functions no EventBridge rule invokes: the uninstall is a CloudFormation custom resource.
NOT_TRIGGERED = {"SessionCleanupFunction": "session_cleanup"}
PATTERN_EVENTS = ("EventBridgeRule", "CloudWatchEvent")  # a SAM function's events that are EventBridge rules
SCHEDULE_EVENTS = ("Schedule", "ScheduleV2")

Entry = Trigger[Any] | Schedule
ENTRIES: tuple[Entry, ...] = (*TRIGGERS, *SCHEDULES)


def _sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


def _by_name(entries: tuple[Entry, ...]) -> list[Any]:
    return [pytest.param(entry, id=entry.name) for entry in entries]


def rules_in_template(template: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """Every EventBridge rule of the template, whatever its condition: (the function it invokes, where it is declared,
    "pattern" or "schedule"). A SAM function's EventBridgeRule, CloudWatchEvent and Schedule events, and any
    AWS::Events::Rule resource (by the functions its targets name)."""
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties") or {}
        if resource["Type"] == "AWS::Serverless::Function":
            for event_name, event in (properties.get("Events") or {}).items():
                if event["Type"] in PATTERN_EVENTS:
                    yield logical_id, f"{logical_id}.Events.{event_name}", "pattern"
                elif event["Type"] in SCHEDULE_EVENTS:
                    yield logical_id, f"{logical_id}.Events.{event_name}", "schedule"
        elif resource["Type"] == "AWS::Events::Rule":
            kind = "pattern" if "EventPattern" in properties else "schedule"
            for target in properties.get("Targets") or []:
                arn = target.get("Arn")
                named = arn["Fn::GetAtt"][0] if isinstance(arn, dict) and "Fn::GetAtt" in arn else str(arn)
                yield named, logical_id, kind


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


@cache
def _rules(parameters: frozenset[tuple[str, str]]) -> list[Rule]:
    return load_rules(TEMPLATE, dict(parameters))


def _rules_of(trigger: Trigger[Any], parameters: dict[str, str]) -> list[Rule]:
    return [rule for rule in _rules(frozenset(parameters.items())) if rule.function_logical_id == trigger.logical_id]


# -- the registry itself -------------------------------------------------------------------------------------------
def test_each_entry_has_its_own_name_function_and_samples() -> None:
    entries = ENTRIES
    for field in ("name", "function", "logical_id"):
        values = [getattr(entry, field) for entry in entries]
        assert len(values) == len(set(values)), field
    samples = [sample for entry in entries for sample in entry.samples]
    assert len(samples) == len(set(samples)), "a sample belongs to one trigger"
    assert all(entry.samples for entry in entries)
    assert set(INSTANCE_TRIGGERS) <= set(TRIGGERS)


@pytest.mark.parametrize("trigger", _by_name(TRIGGERS))
def test_a_trigger_whose_events_name_one_instance_is_an_instance_trigger(trigger: Trigger[Any]) -> None:
    # runtime.handle_instance_event serves these; the property tests send their events to random histories.
    parsed = [trigger.parse(_sample(sample)) for sample in trigger.samples]
    assert all(isinstance(p, InstanceTrigger) for p in parsed) == (trigger in INSTANCE_TRIGGERS)


# -- each trigger: its function, its rule, its samples, its parser -----------------------------------------------
@pytest.mark.parametrize("entry", _by_name(ENTRIES))
def test_each_trigger_has_its_function_in_the_template_and_its_handler(template: dict[str, Any], entry: Entry) -> None:
    function = template["Resources"].get(entry.logical_id)
    assert function is not None, f"template.yaml has no {entry.logical_id}"
    assert function["Type"] == "AWS::Serverless::Function"
    assert function["Properties"]["CodeUri"] == f"functions/{entry.function}"
    assert (FUNCTIONS / entry.function / "app.py").is_file()


@pytest.mark.parametrize("trigger", _by_name(TRIGGERS))
def test_each_handler_reads_its_own_entry(trigger: Trigger[Any]) -> None:
    tree = ast.parse((FUNCTIONS / trigger.function / "app.py").read_text(encoding="utf-8"))
    named = [
        getattr(triggers, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "traffic_mirroring.triggers"
        for alias in node.names
    ]
    assert named == [trigger], (
        f"functions/{trigger.function}/app.py must import its entry of traffic_mirroring.triggers"
    )


@pytest.mark.parametrize("trigger", _by_name(TRIGGERS))
def test_each_trigger_has_a_rule_deployed_exactly_with_its_parameters(trigger: Trigger[Any]) -> None:
    assert _rules_of(trigger, dict(trigger.enabled_by)), f"no EventBridge rule invokes {trigger.logical_id}"
    with_defaults = _rules_of(trigger, {})
    assert bool(with_defaults) == (not trigger.enabled_by), trigger.enabled_by


@pytest.mark.parametrize("trigger", _by_name(TRIGGERS))
def test_each_sample_is_routed_by_its_trigger_s_rule(trigger: Trigger[Any]) -> None:
    rules = _rules_of(trigger, dict(trigger.enabled_by))
    for sample in trigger.samples:
        event = _sample(sample)
        assert (event["source"], event["detail-type"]) == (trigger.source, trigger.detail_type), sample
        assert [rule.event_name for rule in rules if rule.matches(event)], (
            f"no rule of {trigger.logical_id} routes {sample}"
        )


@pytest.mark.parametrize("trigger", _by_name(TRIGGERS))
def test_each_trigger_s_parser_accepts_its_samples(trigger: Trigger[Any]) -> None:
    for sample in trigger.samples:
        assert trigger.parse(_sample(sample)).instance_id == "i-0123456789abcdef0", sample


@pytest.mark.parametrize("schedule", _by_name(SCHEDULES))
def test_a_schedule_has_schedules_only_and_its_sample_no_pattern_rule(
    template: dict[str, Any], schedule: Schedule
) -> None:
    kinds = {kind for function, _, kind in rules_in_template(template) if function == schedule.logical_id}
    assert kinds == {"schedule"}
    every_option = {name: value for trigger in TRIGGERS for name, value in trigger.enabled_by}
    for sample in schedule.samples:
        event = _sample(sample)
        assert (event["source"], event["detail-type"]) == ("aws.events", "Scheduled Event")
        assert [
            rule.function_logical_id for rule in _rules(frozenset(every_option.items())) if rule.matches(event)
        ] == []


# -- each trigger has a place in the property tests ------------------------------------------------------------------
# Read from their source, not imported: importing them would load the property tests' Hypothesis profile here.
PROPERTIES = ROOT / "tests/properties"


def _assigned(path: Path, name: str) -> ast.expr:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and [ast.unparse(t) for t in targets] == [name]:
            assert node.value is not None
            return node.value
    raise AssertionError(f"{path.name} assigns no {name}")


def history_events() -> dict[str, tuple[Trigger[Any], str]]:
    """test_random_histories.HISTORY_EVENTS: each event kind a history makes, its trigger and its sample."""
    value = _assigned(PROPERTIES / "test_random_histories.py", "HISTORY_EVENTS")
    assert isinstance(value, ast.Dict)
    events: dict[str, tuple[Trigger[Any], str]] = {}
    for key, item in zip(value.keys, value.values, strict=True):
        assert isinstance(key, ast.Constant) and isinstance(item, ast.Tuple)
        trigger, sample = item.elts
        assert isinstance(trigger, ast.Name) and isinstance(sample, ast.Constant)
        events[str(key.value)] = (getattr(triggers, trigger.id), str(sample.value))
    return events


def made_by_history_rules() -> set[str]:
    """The event kinds the random histories' rules make pending (``self.pending.append((kind, ...))`` or extend)."""
    tree = ast.parse((PROPERTIES / "test_random_histories.py").read_text(encoding="utf-8"))
    return {
        constant.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("self.pending.append", "self.pending.extend")
        for constant in ast.walk(node)
        if isinstance(constant, ast.Constant) and isinstance(constant.value, str)
    }


def odd_event_cases() -> set[str]:
    """The handlers test_bad_input.PER_HANDLER writes odd events for."""
    value = _assigned(PROPERTIES / "test_bad_input.py", "PER_HANDLER")
    assert isinstance(value, ast.Dict)
    return {str(key.value) for key in value.keys if isinstance(key, ast.Constant)}


def _names(node: ast.expr) -> set[str]:
    return {name.id for name in ast.walk(node) if isinstance(name, ast.Name)}


def test_the_bad_input_tests_send_every_trigger_s_events_from_the_registry() -> None:
    # Every handler refuses every other trigger's event, and each instance trigger's odd events get a deliberate
    # outcome: both lists are read from the registry.
    bad_input = PROPERTIES / "test_bad_input.py"
    assert {"TRIGGERS", "SCHEDULES"} <= _names(_assigned(bad_input, "OTHER_EVENTS"))
    assert "INSTANCE_TRIGGERS" in _names(_assigned(bad_input, "INSTANCE_HANDLERS"))


@pytest.mark.parametrize("trigger", _by_name(INSTANCE_TRIGGERS))
def test_each_instance_trigger_has_a_place_in_the_property_tests(trigger: Trigger[InstanceTrigger]) -> None:
    assert trigger.function in odd_event_cases(), "write its odd events in tests/properties/test_bad_input.py"
    kinds = [kind for kind, (sent_by, _) in history_events().items() if sent_by == trigger]
    assert kinds, "give tests/properties/test_random_histories.py an event of it (HISTORY_EVENTS)"
    assert set(kinds) <= made_by_history_rules(), "and a rule of the history that makes it pending"


def test_random_histories_send_each_event_from_its_own_trigger_s_samples() -> None:
    for kind, (trigger, sample) in history_events().items():
        assert sample in trigger.samples, kind


@pytest.mark.parametrize("schedule", _by_name(SCHEDULES))
def test_random_histories_run_each_schedule(schedule: Schedule) -> None:
    # Its handler runs on SCHEDULE, in the reconcile rules.
    assert ast.unparse(_assigned(PROPERTIES / "test_random_histories.py", "SCHEDULE")) == (
        f"event({_entry_name(schedule)}.samples[0], 'i-00000000')"
    )


def _entry_name(entry: Entry) -> str:
    return next(name for name, value in vars(triggers).items() if value is entry)


# -- conversely: nothing triggers a function without an entry ------------------------------------------------------
def test_every_eventbridge_rule_of_the_template_belongs_to_a_registered_trigger(template: dict[str, Any]) -> None:
    registered = {"pattern": {t.logical_id for t in TRIGGERS}, "schedule": {s.logical_id for s in SCHEDULES}}
    unregistered = [
        f"{where} ({kind}) invokes {function}"
        for function, where, kind in rules_in_template(template)
        if function not in registered[kind]
    ]
    assert unregistered == [], "register each in traffic_mirroring.triggers"


def test_every_function_belongs_to_a_registered_trigger(template: dict[str, Any]) -> None:
    registered = {entry.logical_id: entry.function for entry in ENTRIES}
    functions = {
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] in ("AWS::Serverless::Function", "AWS::Lambda::Function")
    }
    assert functions == set(registered) | set(NOT_TRIGGERED)
    directories = {path.parent.name for path in FUNCTIONS.glob("*/app.py")}
    assert directories == set(registered.values()) | set(NOT_TRIGGERED.values())


def test_every_sample_event_belongs_to_a_registered_trigger() -> None:
    registered = {sample for entry in ENTRIES for sample in entry.samples}
    assert {path.name for path in EVENTS.glob("*.json")} == registered


# -- which tag keys matter: one rule, read by the tag rule, the trigger's filter and the planner -------------------
TAG_SETTINGS = [
    pytest.param({}, id="defaults"),
    pytest.param({"MirrorTagKey": "monitor"}, id="MirrorTagKey=monitor"),
    pytest.param({"MirrorSelectors": "eks:cluster-name=prod,team=sec*,vpc-0abc"}, id="MirrorSelectors"),
]
ENVIRONMENT = {"MirrorTagKey": "MIRROR_TAG_KEY", "MirrorSelectors": "MIRROR_SELECTORS"}
OTHER_KEYS = ["Name", "mirror", "eks:nodegroup-name", "karpenter.sh/nodepool", "vpc-0abc", "mirror-managed-by"]
TAG_TRIGGERS = [trigger for trigger in TRIGGERS if trigger.tag_keys is not None]


def _tag_change(keys: list[str]) -> dict[str, Any]:
    event = _sample(triggers.INSTANCE_TAG_CHANGE.samples[0])
    event["detail"]["changed-tag-keys"] = keys
    return event


def test_the_tag_change_trigger_acts_on_the_planner_s_keys() -> None:
    assert [trigger.name for trigger in TAG_TRIGGERS] == [triggers.INSTANCE_TAG_CHANGE.name]
    assert triggers.INSTANCE_TAG_CHANGE.tag_keys is tag_keys_that_matter


@pytest.mark.parametrize("parameters", TAG_SETTINGS)
@pytest.mark.parametrize("trigger", TAG_TRIGGERS, ids=lambda trigger: trigger.name)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_the_tag_rule_routes_every_change_its_trigger_acts_on_and_without_selectors_no_other(
    trigger: Trigger[InstanceTrigger], parameters: dict[str, str], data: st.DataObject
) -> None:
    """The template's rule and the function's filter, on any change of keys: without selectors the rule routes
    exactly the changes the function acts on; with selectors (keys the template cannot list) it routes at least
    those, and never a change of only our own tags."""
    settings_ = load_settings({"FILTER_ID": "tmf-0", **{ENVIRONMENT[k]: v for k, v in parameters.items()}})
    [rule] = _rules_of(trigger, {**dict(trigger.enabled_by), **parameters})
    assert trigger.tag_keys is not None
    candidates = sorted(trigger.tag_keys(settings_) | own_tags_that_do_not_matter(settings_) | set(OTHER_KEYS))
    keys = data.draw(st.lists(st.sampled_from(candidates), max_size=4, unique=True))
    change = InstanceTrigger("i-0123456789abcdef0", TAG_CHANGE, "e-1", changed_tag_keys=tuple(keys))
    acts, routed = trigger.acts_on(change, settings_), rule.matches(_tag_change(keys))
    if "MirrorSelectors" in parameters:
        assert routed >= acts, keys
        assert routed == bool(set(keys) - own_tags_that_do_not_matter(settings_)), keys
    else:
        assert routed == acts, keys
