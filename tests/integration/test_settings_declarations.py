"""Each setting is declared once (``traffic_mirroring.settings_schema``: its variable, parser, default and template
parameter, on its field), and template.yaml agrees with the declarations: every declared parameter exists and sets
its variable in every function that loads the setting, its Default is the declared default, its bounds and allowed
values are the parser's; and every parameter that reaches a function's environment is declared.

A parameter added to the template with a variable but no declaration fails here, and so does a declaration whose
parameter or variable the template does not have.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, get_type_hints

import pytest

from mirror_cli.settings import FLAG_ENV, ID_SETTINGS
from simulation.eventbridge import load_template
from tests.integration.transformed_template import Resolver
from traffic_mirroring.deploy_check import DECLARED, LOADERS
from traffic_mirroring.settings_schema import Number, Setting, declarations

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
# What a deployment with samconfig.toml's defaults is named: the stack name is the session marker by default.
STACK_NAME = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))["default"]["deploy"]["parameters"][
    "stack_name"
]
# Powertools reads these (service name, metrics namespace, log level); no loader of ours does.
POWERTOOLS = "POWERTOOLS_"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def _functions(template: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def _environment(template: Mapping[str, Any], function: str) -> dict[str, Any]:
    """A function's variables as the template writes them: Globals', then its own (which win)."""
    shared = template["Globals"]["Function"]["Environment"]["Variables"]
    own = _functions(template)[function]["Properties"].get("Environment", {}).get("Variables", {})
    return {**shared, **own}


def _imported(function: Mapping[str, Any]) -> set[str]:
    """The names a function's handler imports from the domain package."""
    source = ROOT / function["Properties"]["CodeUri"] / "app.py"
    return {
        alias.name
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("traffic_mirroring")
        for alias in node.names
    }


def _loaded_by(template: Mapping[str, Any]) -> Iterator[tuple[str, Setting]]:
    """(function, setting) for each setting each function loads: a handler loads the settings of the loaders it
    imports, and every handler that builds a ``Runtime`` loads ``Settings`` (``Runtime.from_environment``)."""
    for load, _ in LOADERS:
        settings_class = get_type_hints(load)["return"]
        loaders = {load.__name__} | ({"Runtime"} if load.__name__ == "load_settings" else set())
        functions = [name for name, function in _functions(template).items() if _imported(function) & loaders]
        assert functions, f"no function loads {load.__name__}: a guard on the scan"
        for function in functions:
            for declared in declarations(settings_class).values():
                yield function, declared


def _references(node: Any) -> set[str]:
    """Every name a node refers to with Ref (parameters, pseudo parameters, resources)."""
    if isinstance(node, dict):
        found = {node["Ref"]} if isinstance(node.get("Ref"), str) else set()
        return found | {name for value in node.values() for name in _references(value)}
    if isinstance(node, list):
        return {name for item in node for name in _references(item)}
    return set()


def _parameters(template: Mapping[str, Any], node: Any) -> set[str]:
    return _references(node) & set(template["Parameters"])


# -- the declarations → the template ---------------------------------------------------------------------------------
def test_every_declared_setting_is_set_from_its_parameter_in_every_function_that_loads_it(
    template: dict[str, Any],
) -> None:
    problems = []
    for function, declared in _loaded_by(template):
        environment = _environment(template, function)
        if declared.parameter is None:
            # Declared without a parameter: the template writes its value (STATUS_TAG_KEY), takes it from a pseudo
            # parameter (ACCOUNT_ID) or leaves it to its default (TARGET_OVERRIDE_TAG_KEY); never from a parameter.
            if _parameters(template, environment.get(declared.variable)):
                problems.append(f"{declared.variable}: {function} sets it from {environment[declared.variable]}")
        elif declared.parameter not in template["Parameters"]:
            problems.append(f"{declared.variable}: the template has no parameter {declared.parameter}")
        elif declared.variable not in environment:
            problems.append(f"{declared.variable}: {function} does not set it")
        elif _parameters(template, environment[declared.variable]) != {declared.parameter}:
            problems.append(f"{declared.variable}: {function} sets it from {environment[declared.variable]}")
    assert sorted(set(problems)) == []


def test_each_declared_default_is_what_a_stack_deployed_with_the_defaults_gives_its_functions(
    template: dict[str, Any],
) -> None:
    resolver = Resolver(template, {})
    resolver.values["AWS::StackName"] = STACK_NAME
    differ: dict[str, tuple[Any, Any]] = {}
    for function, declared in _loaded_by(template):
        environment = _environment(template, function)
        if declared.variable not in environment:
            continue  # the template leaves it to its default
        node = environment[declared.variable]
        if declared.required:
            # No default: its parameter is empty by default and the template decides (FilterId: the stack creates a
            # filter; GuardDutyMinSeverity: no GuardDuty function).
            if declared.parameter in template["Parameters"]:
                assert template["Parameters"][declared.parameter]["Default"] == "", declared.variable
            continue
        if not _parameters(template, node) and _references(node):
            continue  # set from a pseudo parameter (ACCOUNT_ID: AWS::AccountId), not a setting with a default
        given = declared.read({declared.variable: str(resolver.resolve(node))})
        if given != declared.default_value():
            differ[declared.variable] = (declared.default_value(), given)
    # (declared default, what the functions of a stack deployed with the template's defaults load)
    assert differ == {}


def test_the_template_allows_what_the_declared_parsers_allow(template: dict[str, Any]) -> None:
    for declared in DECLARED.values():
        if declared.parameter not in template["Parameters"]:
            continue  # None, or a parameter the template lacks (the first test names it)
        spec = template["Parameters"][declared.parameter]
        if isinstance(declared.parse, Number) and spec["Type"] == "Number":
            assert (spec["MinValue"], spec["MaxValue"]) == (declared.parse.low, declared.parse.high), declared.variable
        for value in spec.get("AllowedValues", []):
            declared.read({declared.variable: str(value)})  # accepted: raises nothing


# -- the template → the declarations ---------------------------------------------------------------------------------
def test_every_parameter_that_reaches_a_function_is_declared(template: dict[str, Any]) -> None:
    undeclared: dict[str, list[str]] = {}
    for function in _functions(template):
        for variable, node in _environment(template, function).items():
            parameters = _parameters(template, node)
            if not parameters or variable.startswith(POWERTOOLS):
                continue
            declared = DECLARED.get(variable)
            if declared is None or declared.parameter not in parameters:
                undeclared[variable] = sorted(parameters)
    assert undeclared == {}


# -- and the commands name only declared settings --------------------------------------------------------------------
def test_the_commands_flags_stand_for_declared_settings() -> None:
    named = set(FLAG_ENV.values()) | {setting.variable for setting in ID_SETTINGS}
    assert sorted(named - set(DECLARED)) == []
