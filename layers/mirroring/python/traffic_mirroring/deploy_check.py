"""What a deploy checks before CloudFormation commits to it: every setting every function loads, by the loaders the
functions use, so a bad value fails the deploy with a reason that names it, and CloudFormation rolls back to the
stack that worked (instead of functions that fail at every cold start, and a stack that then cannot be deleted).

The custom resource ``SessionCleanup`` runs this on Create and Update, on its ``Settings`` property: the environment
of each function, as the template gives it, so CloudFormation sends an Update whenever any setting changes, and the
functions, which depend on the resource, are updated only once it answered SUCCESS.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from traffic_mirroring.config import Settings, load_settings
from traffic_mirroring.errors import ConfigurationError
from traffic_mirroring.incident import MIN_SEVERITY_VARIABLE, IncidentSettings, load_incident_settings
from traffic_mirroring.lifecycle import FAILURE_RESULT_VARIABLE, LifecycleSettings, load_lifecycle_settings
from traffic_mirroring.settings_schema import Setting, declarations

# Each loader a function runs at cold start, and the variable that says the function is deployed (None: every
# mirroring function). The GuardDuty and lifecycle functions exist only with their parameters set.
LOADERS: tuple[tuple[Callable[[Mapping[str, str]], object], str | None], ...] = (
    (load_settings, None),
    (load_incident_settings, MIN_SEVERITY_VARIABLE),
    (load_lifecycle_settings, FAILURE_RESULT_VARIABLE),
)

# Every setting a function loads, by its variable: the declarations of the three settings classes.
DECLARED: Mapping[str, Setting] = {
    declared.variable: declared
    for kind in (Settings, IncidentSettings, LifecycleSettings)
    for declared in declarations(kind).values()
}
# The template parameter behind each variable, to name in the answer (tests/integration/test_settings_declarations.py
# holds the declarations to template.yaml).
PARAMETER_OF: Mapping[str, str] = {
    variable: declared.parameter for variable, declared in DECLARED.items() if declared.parameter is not None
}

_VARIABLE = re.compile(r"[A-Z][A-Z0-9_]*")  # every ConfigurationError message starts with its variable's name


def merged_settings(property_value: Any) -> dict[str, str] | None:
    """The ``Settings`` property (a list of environments, one per kind of function, or one environment) as one
    environment; None when there is none (a resource from a template older than this check)."""
    parts = property_value if isinstance(property_value, list) else [property_value]
    if property_value is None or not all(isinstance(part, Mapping) for part in parts):
        return None
    return {str(name): "" if value is None else str(value) for part in parts for name, value in part.items()}


def settings_problem(env: Mapping[str, str]) -> str | None:
    """Why the functions would refuse these settings, naming the parameter and the variable; None if they load."""
    for load, deployed_with in LOADERS:
        if deployed_with is not None and deployed_with not in env:
            continue
        try:
            load(env)
        except ConfigurationError as error:
            message = str(error)
            variable = _VARIABLE.match(message)
            parameter = PARAMETER_OF.get(variable.group(0)) if variable else None
            return f"parameter {parameter}: {message}" if parameter else message
    return None
