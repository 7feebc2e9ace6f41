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

from traffic_mirroring.config import load_settings
from traffic_mirroring.errors import ConfigurationError
from traffic_mirroring.incident import MIN_SEVERITY_VARIABLE, load_incident_settings
from traffic_mirroring.lifecycle import FAILURE_RESULT_VARIABLE, load_lifecycle_settings

# Each loader a function runs at cold start, and the variable that says the function is deployed (None: every
# mirroring function). The GuardDuty and lifecycle functions exist only with their parameters set.
LOADERS: tuple[tuple[Callable[[Mapping[str, str]], object], str | None], ...] = (
    (load_settings, None),
    (load_incident_settings, MIN_SEVERITY_VARIABLE),
    (load_lifecycle_settings, FAILURE_RESULT_VARIABLE),
)

# The template parameter behind each variable, to name in the answer (tests/integration: checked against
# template.yaml, which passes each parameter to the functions under these names).
PARAMETER_OF: Mapping[str, str] = {
    "TARGET_IDS": "TargetIds",
    "TARGET_SOURCE_LIMITS": "TargetSourceLimits",
    "TARGET_POOL": "TargetPool",
    "TARGET_REACHABLE_FROM": "TargetReachableFrom",
    "TRUSTED_TARGETS": "TrustedTargets",
    "FILTER_ID": "FilterId",
    "APPROVED_FILTER_IDS": "ApprovedFilterIds",
    "PACKET_LENGTH": "PacketLength",
    "APPROVED_PACKET_LENGTHS": "ApprovedPacketLengths",
    "VNI_POLICY": "VniPolicy",
    "MIRROR_TAG_KEY": "MirrorTagKey",
    "MIRROR_TAG_VALUE": "MirrorTagValue",
    "MIRROR_SELECTORS": "MirrorSelectors",
    "MANAGED_BY": "ManagedBy",
    "DELETE_WHEN_STOPPED": "DeleteWhenStopped",
    "ELIGIBILITY_ALLOW": "EligibilityAllow",
    "ELIGIBILITY_DENY": "EligibilityDeny",
    "PROBE_UNLISTED_TYPES": "ProbeUnlistedInstanceTypes",
    "SESSION_HOURLY_PRICE": "SessionHourlyPrice",
    "RECONCILE_DRY_RUN": "ReconcileDryRun",
    "MAX_DELETE_PERCENT": "MaxDeletePercent",
    "SKIP_THRESHOLD_BYTES": "SkipAlarmThresholdBytes",
    "GUARDDUTY_MIN_SEVERITY": "GuardDutyMinSeverity",
    "GUARDDUTY_MIRROR_HOURS": "GuardDutyMirrorHours",
    "LIFECYCLE_FAILURE_RESULT": "LifecycleFailureResult",
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
