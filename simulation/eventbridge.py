"""Route events to functions the way EventBridge would, from the rules declared in template.yaml.

The patterns are read from the SAM template itself (not copied into tests), with ``!Ref``/``!Sub``/``!If`` resolved
from the parameters' defaults or overrides (a pattern written as JSON text, e.g. by ``!Sub``, is parsed as
EventBridge would parse it), and matched with moto's EventPattern, which implements EventBridge's matching rules
offline (numeric, anything-but and exists included). That makes "which function does this event reach" a fact
tests can check: a pattern that is too wide (re-triggering on our own status tag) or too narrow (missing a state)
fails a test instead of a deployment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import yaml  # type: ignore[import-untyped,unused-ignore]  # no types-PyYAML in the dev lock
from moto.events.models import EventPattern

if TYPE_CHECKING:
    from moto.events.utils import EventMessageType

# Pseudo parameters a template may reference; the values of a typical test deployment. Overridable like parameters.
PSEUDO_PARAMETERS: dict[str, str] = {
    "AWS::AccountId": "123456789012",
    "AWS::Region": "us-east-1",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "traffic-mirroring",
    "AWS::StackId": (
        "arn:aws:cloudformation:us-east-1:123456789012:stack/traffic-mirroring/00000000-0000-0000-0000-000000000000"
    ),
}

_SUB_VARIABLE = re.compile(r"\$\{(?!!)([^}]+)\}")


@dataclass(frozen=True)
class Rule:
    """One EventBridge rule of the template and the function it invokes."""

    function_logical_id: str
    code_uri: str
    handler: str
    event_name: str
    pattern: dict[str, Any]

    def matches(self, event: Mapping[str, Any]) -> bool:
        """EventBridge's verdict on this event, by moto's implementation of the pattern syntax."""
        return bool(EventPattern.load(json.dumps(self.pattern)).matches_event(cast("EventMessageType", dict(event))))


class CloudFormationLoader(yaml.SafeLoader):  # type: ignore[misc,unused-ignore]
    """A safe YAML loader that understands CloudFormation short tags: ``!Ref x`` → ``{"Ref": "x"}``,
    ``!Sub s`` → ``{"Fn::Sub": s}``, ``!GetAtt R.A`` → ``{"Fn::GetAtt": ["R", "A"]}``, and so on."""


def _construct_short_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - PyYAML has no other node kinds
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node for !{tag_suffix}", node.start_mark)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        # The short form is "Resource.Attribute"; the long form is a two-item list.
        return {"Fn::GetAtt": value.split(".", 1)}
    return {f"Fn::{tag_suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _construct_short_tag)


def load_template(template_path: str | Path = "template.yaml") -> dict[str, Any]:
    """Parse a CloudFormation/SAM template written in YAML (or JSON) into plain Python values."""
    with open(template_path, encoding="utf-8") as stream:
        template = yaml.load(stream, Loader=CloudFormationLoader)
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise ValueError(f"{template_path} is not a CloudFormation template: no Resources section")
    return template


def _parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, str | list[str]]:
    declared: Mapping[str, Any] = template.get("Parameters") or {}
    unknown = sorted(set(overrides) - set(declared) - set(PSEUDO_PARAMETERS))
    if unknown:
        raise ValueError(f"parameter_overrides names parameters the template does not declare: {', '.join(unknown)}")
    values: dict[str, str | list[str]] = dict(PSEUDO_PARAMETERS)
    for name, spec in declared.items():
        if name in overrides:
            raw: str | None = overrides[name]
        elif "Default" in spec:
            raw = str(spec["Default"])
        else:
            raw = None  # no value: referencing it in a pattern is an error, reported where it is referenced
        if raw is None:
            continue
        kind = str(spec.get("Type", "String"))
        values[name] = raw.split(",") if kind == "CommaDelimitedList" or kind.startswith("List<") else raw
    for name in set(overrides) & set(PSEUDO_PARAMETERS):
        values[name] = overrides[name]
    return values


def _resolve(
    node: Any,
    values: Mapping[str, str | list[str]],
    where: str,
    condition: Callable[[str], bool] | None = None,
) -> Any:
    """Replace the intrinsic functions an event pattern can use with their values (``Fn::If`` needs ``condition``,
    the verdict on a Condition of the template)."""
    if isinstance(node, list):
        return [_resolve(item, values, where, condition) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        [(function, argument)] = node.items()
        if function == "Ref":
            if argument not in values:
                raise ValueError(f"{where}: !Ref {argument} is not a parameter with a value (resources are unknown)")
            return values[argument]
        if function == "Fn::Sub":
            return _substitute(argument, values, where)
        if function == "Fn::Join":
            separator, items = argument
            resolved = _resolve(items, values, where, condition)
            return str(separator).join(str(item) for item in _flatten(resolved))
        if function == "Fn::If" and condition is not None:
            name, when_true, when_false = argument
            return _resolve(when_true if condition(name) else when_false, values, where, condition)
        if function.startswith("Fn::"):
            raise ValueError(f"{where}: {function} is not supported in event patterns by this router")
    return {key: _resolve(value, values, where, condition) for key, value in node.items()}


def _flatten(items: Any) -> list[Any]:
    flat: list[Any] = []
    for item in items if isinstance(items, list) else [items]:
        flat.extend(item if isinstance(item, list) else [item])
    return flat


def _substitute(argument: Any, values: Mapping[str, str | list[str]], where: str) -> str:
    text, local = (argument[0], argument[1]) if isinstance(argument, list) else (argument, {})
    scope: dict[str, Any] = {**values, **{k: _resolve(v, values, where) for k, v in local.items()}}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name not in scope or isinstance(scope[name], (list, dict)):
            raise ValueError(f"{where}: !Sub variable ${{{name}}} has no string value")
        return str(scope[name])

    return _SUB_VARIABLE.sub(replace, str(text)).replace("${!", "${")


def condition_holds(template: Mapping[str, Any], name: str, values: Mapping[str, str | list[str]]) -> bool:
    """Evaluate one of the template's Conditions (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition) for these values."""
    conditions: Mapping[str, Any] = template.get("Conditions") or {}
    if name not in conditions:
        raise ValueError(f"Condition {name} is not declared in the template's Conditions")

    def holds(node: Any) -> bool:
        [(function, argument)] = node.items()
        if function == "Condition":
            return holds(conditions[argument])
        if function == "Fn::Equals":
            left, right = (_resolve(item, values, f"Conditions.{name}") for item in argument)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not holds(argument[0])
        if function == "Fn::And":
            return all(holds(item) for item in argument)
        if function == "Fn::Or":
            return any(holds(item) for item in argument)
        raise ValueError(f"Conditions.{name}: {function} is not supported by this router")

    return holds(conditions[name])


def load_rules(
    template_path: str | Path = "template.yaml", parameter_overrides: Mapping[str, str] | None = None
) -> list[Rule]:
    """Every ``EventBridgeRule`` event (with a ``Pattern``) of every ``AWS::Serverless::Function``, resolved.

    A function whose Condition does not hold for these parameters is not deployed, and neither are its rules.
    """
    template = load_template(template_path)
    values = _parameter_values(template, parameter_overrides or {})
    function_globals: Mapping[str, Any] = (template.get("Globals") or {}).get("Function") or {}
    rules: list[Rule] = []
    for logical_id, resource in template["Resources"].items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        if "Condition" in resource and not condition_holds(template, resource["Condition"], values):
            continue
        properties: Mapping[str, Any] = resource.get("Properties") or {}
        code_uri = properties.get("CodeUri", function_globals.get("CodeUri"))
        handler = properties.get("Handler", function_globals.get("Handler"))
        for event_name, event in (properties.get("Events") or {}).items():
            if event.get("Type") != "EventBridgeRule" or "Pattern" not in (event.get("Properties") or {}):
                continue
            where = f"{logical_id}.Events.{event_name}.Properties.Pattern"
            pattern = _resolve(
                event["Properties"]["Pattern"], values, where, lambda name: condition_holds(template, name, values)
            )
            if isinstance(pattern, str):
                # EventPattern takes JSON text too; EventBridge parses it (a number in it stays a number).
                try:
                    pattern = json.loads(pattern)
                except ValueError as error:
                    raise ValueError(f"{where} is not valid JSON once resolved: {error}") from None
            if not isinstance(pattern, dict):
                raise ValueError(f"{where} must be an object")
            rules.append(Rule(logical_id, str(code_uri), str(handler), event_name, pattern))
    return rules


def matching_rules(rules: list[Rule], event: Mapping[str, Any]) -> list[Rule]:
    """The rules EventBridge would deliver this event to, in template order."""
    return [rule for rule in rules if rule.matches(event)]
