"""The stack's settings as the operator gives them: each flag, else the deployed stack's (``--stack-json``), else its
environment variable, else the stack's default; IDs the template would refuse are refused here too."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from traffic_mirroring.config import FILTER_ID_PATTERN, TARGET_ID_PATTERN, Settings, load_settings
from traffic_mirroring.deploy_check import PARAMETER_OF
from traffic_mirroring.errors import ConfigurationError


@dataclass(frozen=True)
class IdSetting:
    """A setting that names targets or filters: its flag, its variable, and the one value the template's parameter
    behind it accepts (``pattern``; ``wildcard``: ``*`` too)."""

    flag: str
    variable: str
    pattern: str
    is_list: bool
    wildcard: bool = False

    @property
    def parameter(self) -> str:
        return PARAMETER_OF[self.variable]

    def accepts(self, raw: str) -> bool:
        """What CloudFormation accepts: ^(pattern)?$ against the value, or against each value of a list (the text
        between commas, spaces included)."""
        one = f"{self.pattern}|\\*" if self.wildcard else self.pattern
        values = raw.split(",") if self.is_list else [raw]
        return all(re.fullmatch(f"(?:{one})?", value) for value in values)


ID_SETTINGS = (
    IdSetting("--targets", "TARGET_IDS", TARGET_ID_PATTERN, is_list=True),
    IdSetting("--filter-id", "FILTER_ID", FILTER_ID_PATTERN, is_list=False),
    IdSetting("--approved-filter-ids", "APPROVED_FILTER_IDS", FILTER_ID_PATTERN, is_list=True),
    IdSetting("--trusted-targets", "TRUSTED_TARGETS", TARGET_ID_PATTERN, is_list=True, wildcard=True),
)


def malformed_ids(env: Mapping[str, str]) -> list[str]:
    """Why the template would refuse these settings' IDs (a typo, a space, another kind of ID): one line each."""
    problems = []
    for setting in ID_SETTINGS:
        raw = env.get(setting.variable)
        if raw is None or setting.accepts(raw):
            continue
        values = raw.split(",") if setting.is_list else [raw]
        bad = ", ".join(repr(value) for value in values if not setting.accepts(value))
        each = "each value between commas (no spaces) must be" if setting.is_list else "it must be"
        wildcard = ", or *" if setting.wildcard else ""
        problems.append(
            f"{setting.flag} ({setting.variable}) {bad}: the template's {setting.parameter} refuses it; {each} "
            f"{setting.pattern.replace('[0-9a-f]+', '')} and lower-case hexadecimal digits{wildcard}"
        )
    return problems


# Each flag of mirror-audit that sets a setting: the environment variable it stands for.
FLAG_ENV = {
    "targets": "TARGET_IDS",
    "target_pool": "TARGET_POOL",
    "target_reachable_from": "TARGET_REACHABLE_FROM",
    "filter_id": "FILTER_ID",
    "approved_filter_ids": "APPROVED_FILTER_IDS",
    "tag_key": "MIRROR_TAG_KEY",
    "tag_value": "MIRROR_TAG_VALUE",
    "managed_by": "MANAGED_BY",
    "eligibility_allow": "ELIGIBILITY_ALLOW",
    "eligibility_deny": "ELIGIBILITY_DENY",
    "delete_when_stopped": "DELETE_WHEN_STOPPED",
    "packet_length": "PACKET_LENGTH",
    "approved_packet_lengths": "APPROVED_PACKET_LENGTHS",
    "vni_policy": "VNI_POLICY",
    "selectors": "MIRROR_SELECTORS",
    "trusted_targets": "TRUSTED_TARGETS",
    "price": "SESSION_HOURLY_PRICE",
}


def settings_from(args: argparse.Namespace, environ: Mapping[str, str], *, filter_required: bool = True) -> Settings:
    """The stack's settings: each flag, else the stack's (``--stack-json``), else its environment variable, else the
    stack's default (declared on ``Settings``, as the functions have it). IDs the template would refuse are refused
    here too (``malformed_ids``).

    ``filter_required`` False (the organization audit): without a filter, ``filter_id`` is "" and each account's is
    the one its stack created (``organization.stack_settings``).
    """
    env = {name: environ[name] for name in FLAG_ENV.values() if name in environ}
    if getattr(args, "stack_json", None) is not None:
        env.update(stack_environment(read_stack(args.stack_json)))
    env.update({name: str(getattr(args, flag)) for flag, name in FLAG_ENV.items() if getattr(args, flag) is not None})
    if problems := malformed_ids(env):
        raise ConfigurationError("; ".join(problems))
    if not env.get("FILTER_ID", "").strip():
        if not filter_required:
            return replace(load_settings({**env, "FILTER_ID": "per-account"}), filter_id="")  # load_settings needs one
        raise ConfigurationError(
            "--filter-id (or FILTER_ID) is required: the stack's FilterId, or its MirrorFilterId output"
        )
    return load_settings(env)


def read_stack(source: str) -> Mapping[str, Any]:
    """The stack described in ``source`` (a file, or - for standard input): describe-stacks' answer with one stack,
    or that stack alone (``--query 'Stacks[0]'``)."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        described = json.loads(text)
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"--stack-json {source}: not the JSON describe-stacks prints ({error})") from None
    if isinstance(described, dict) and "Stacks" in described:
        stacks = described["Stacks"]
        described = stacks[0] if isinstance(stacks, list) and len(stacks) == 1 else None
    if not isinstance(described, dict) or not isinstance(described.get("Parameters", []), list):
        raise ConfigurationError(f"--stack-json {source}: not one stack as describe-stacks prints it")
    return described


def stack_environment(stack: Mapping[str, Any]) -> dict[str, str]:
    """The settings a deployed stack gives its functions, from its description: each parameter under the variable
    the template passes it as (``deploy_check.PARAMETER_OF``), the filter and the session marker from its outputs
    (MirrorFilterId: FilterId, or the filter the stack created; ManagedBy: ManagedBy, or the stack name).

    Spaces around commas are dropped: CloudFormation trims each value of a CommaDelimitedList before the template
    joins them (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html),
    and the functions strip the items of every other list.
    """
    parameters = {
        str(p.get("ParameterKey")): str(p.get("ParameterValue") or "")
        for p in stack.get("Parameters") or []
        if isinstance(p, dict)
    }
    outputs = {
        str(o.get("OutputKey")): str(o.get("OutputValue") or "")
        for o in stack.get("Outputs") or []
        if isinstance(o, dict)
    }
    env = {
        variable: ",".join(part.strip() for part in parameters[parameter].split(","))
        for variable, parameter in PARAMETER_OF.items()
        if parameter in parameters
    }
    env["FILTER_ID"] = outputs.get("MirrorFilterId") or parameters.get("FilterId", "")
    marker = outputs.get("ManagedBy") or parameters.get("ManagedBy") or str(stack.get("StackName") or "")
    if marker:
        env["MANAGED_BY"] = marker
    return env
