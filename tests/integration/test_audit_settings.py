"""`mirror-audit` takes the stack's settings as the stack gives them to its functions: the IDs the template accepts and
no others (one definition, ``config.TARGET_ID_PATTERN`` / ``FILTER_ID_PATTERN``), and with ``--stack-json`` every
setting of a deployed stack, read from one describe-stacks answer, so its plan is the reconciler's."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mirror_cli import command
from mirror_cli.flags import parser
from mirror_cli.settings import ID_SETTINGS, malformed_ids, settings_from, stack_environment
from simulation.eventbridge import load_template
from tests.integration.transformed_template import PSEUDO, STACK_FILTER, Resolver
from traffic_mirroring.config import Settings, load_settings
from traffic_mirroring.deploy_check import PARAMETER_OF

ROOT = Path(__file__).resolve().parents[2]
STACK_FILTER_ID = "tmf-0f11e7e100000000a"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


# -- the IDs the template accepts ----------------------------------------------------------------------------------
def test_the_template_s_patterns_are_the_audit_s(template: dict[str, Any]) -> None:
    for setting in ID_SETTINGS:
        spec = template["Parameters"][setting.parameter]
        one = f"{setting.pattern}|\\*" if setting.wildcard else setting.pattern
        assert spec["AllowedPattern"] == f"^({one})?$", setting.parameter
        assert (spec["Type"] == "CommaDelimitedList") == setting.is_list, setting.parameter
        assert PARAMETER_OF[setting.variable] == setting.parameter


def _deploys(spec: Mapping[str, Any], value: str) -> bool:
    """What CloudFormation accepts: AllowedPattern against the value, or against each value of a CommaDelimitedList
    (the text between commas: whether it trims before matching is not documented, so the worse case, untrimmed)."""
    values = value.split(",") if spec["Type"] == "CommaDelimitedList" else [value]
    return all(re.fullmatch(spec["AllowedPattern"], item) for item in values)


EXAMPLES = {
    "TargetIds": [
        "",
        "tmt-0123456789abcdef0",
        "tmt-0abc,tmt-0def",
        "tmt-0abc,",
        "tmt-0abc,,tmt-0def",
        "tmt-typo",
        "tmt-0abc, tmt-0def",
        " tmt-0abc",
        "tmt-0abc ",
        "tmt-0ABC",
        "tmt-",
        "eni-0abc",
        "tmf-0abc",
        "*",
        "tmt-0abc tmt-0def",
    ],
    "FilterId": ["", "tmf-0123456789abcdef0", "tmf-typo", "tmf-0abc,tmf-0def", " tmf-0abc", "tmt-0abc", "tmf-"],
    "ApprovedFilterIds": ["", "tmf-0abc", "tmf-0abc,tmf-0def", "tmf-0abc, tmf-0def", "tmf-0abc,tmt-0def", "tmf-x"],
    "TrustedTargets": ["", "*", "tmt-0abc", "tmt-0abc,*", "**", "tmt-0abc,tmt-", " *", "tmt-0abc,tmf-0abc"],
}


@pytest.mark.parametrize("parameter", sorted(EXAMPLES))
def test_the_audit_accepts_and_refuses_what_the_template_does(template: dict[str, Any], parameter: str) -> None:
    [setting] = [s for s in ID_SETTINGS if s.parameter == parameter]
    spec = template["Parameters"][parameter]
    verdicts = {
        value: (_deploys(spec, value), not malformed_ids({setting.variable: value})) for value in EXAMPLES[parameter]
    }
    assert {value: pair for value, pair in verdicts.items() if pair[0] != pair[1]} == {}
    # and the table holds both kinds
    assert {deploys for deploys, _ in verdicts.values()} == {True, False}


# -- --stack-json: every setting of a deployed stack ----------------------------------------------------------------
class Recording(dict[str, str]):
    """An environment that remembers which variables were asked for."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)


def _read_by_the_reconciler() -> set[str]:
    env = Recording({"FILTER_ID": "tmf-0abc"})
    load_settings(env)
    return env.asked


# A value other than the default for every parameter the reconciler's settings come from: a setting the audit did
# not take from the stack would then differ from the functions' own.
NOT_THE_DEFAULT = {
    "TargetIds": "tmt-0abc, tmt-0def",  # CloudFormation trims each value; the audit takes them as the functions do
    "TargetSourceLimits": "tmt-0abc=100",
    "TargetPool": "prod",
    "TargetReachableFrom": "tmt-0abc=vpc-01 vpc-02,tmt-0def=*",
    "TrustedTargets": "tmt-0def",
    "FilterId": "",  # the stack creates its filter: the output MirrorFilterId names it
    "ApprovedFilterIds": "tmf-0aaa,tmf-0bbb",
    "PacketLength": "128",
    "ApprovedPacketLengths": "64,128",
    "VniPolicy": "per-vpc",
    "MirrorTagKey": "capture",
    "MirrorTagValue": "yes",
    "MirrorSelectors": "eks:cluster-name=prod,vpc-0abc",
    "ManagedBy": "",  # the stack name, from the output ManagedBy
    "DeleteWhenStopped": "false",
    "EligibilityAllow": "m8g",
    "EligibilityDeny": "t3",
    "ProbeUnlistedInstanceTypes": "false",
    "SessionHourlyPrice": "0.02",
    "ReconcileDryRun": "true",
    "MaxDeletePercent": "20",
    "SkipAlarmThresholdBytes": "2097152",
}


def _described(template: dict[str, Any], overrides: Mapping[str, str]) -> tuple[dict[str, Any], Settings]:
    """The stack as describe-stacks shows it with these parameters, and the settings its functions load."""
    resolver = Resolver(template, overrides)

    def resolved(node: Any) -> str:  # the filter the stack creates gets an ID of AWS's form
        value = str(resolver.resolve(node))
        return STACK_FILTER_ID if value == STACK_FILTER else value

    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    functions = load_settings({name: resolved(value) for name, value in variables.items()})
    outputs = {key: resolved(template["Outputs"][key]["Value"]) for key in ("MirrorFilterId", "ManagedBy")}
    stack = {
        "StackName": PSEUDO["AWS::StackName"],
        "StackStatus": "UPDATE_COMPLETE",
        "Parameters": [
            {"ParameterKey": name, "ParameterValue": str(overrides.get(name, spec.get("Default", "")))}
            for name, spec in template["Parameters"].items()
        ],
        "Outputs": [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()],
    }
    return stack, functions


@pytest.fixture
def stack_file(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "stack.json"


def _audit_settings(path: Path, *flags: str, environ: Mapping[str, str] | None = None) -> Settings:
    args = parser().parse_args(["--stack-json", str(path), *flags])
    return settings_from(args, environ or {})


def test_every_setting_the_reconciler_reads_comes_from_the_stack(template: dict[str, Any], stack_file: Path) -> None:
    # The table covers every parameter behind a variable the reconciler's settings read
    read = _read_by_the_reconciler()
    assert {p for v, p in PARAMETER_OF.items() if v in read} == set(NOT_THE_DEFAULT)
    stack, functions = _described(template, NOT_THE_DEFAULT)
    _, defaults = _described(template, {})
    assert functions.filter_id == STACK_FILTER_ID and functions.managed_by == PSEUDO["AWS::StackName"]
    # Given describe-stacks' answer (all of it, as `aws cloudformation describe-stacks` prints it)
    stack_file.write_text(json.dumps({"Stacks": [stack]}), encoding="utf-8")
    # Then the audit's settings are the functions', field by field (the account is the caller's: STS tells it)
    taken = replace(_audit_settings(stack_file), account_id=functions.account_id)
    differs = {
        f: (getattr(taken, f), getattr(functions, f))
        for f in vars(functions)
        if getattr(taken, f) != getattr(functions, f)
    }
    assert differs == {}
    # and not by chance: every one of these parameters moves a field away from the stack's defaults
    for parameter, value in NOT_THE_DEFAULT.items():
        if value:
            _, moved = _described(template, {parameter: value})
            assert moved != defaults, parameter


def test_flags_win_over_the_stack_and_the_stack_over_the_environment(
    template: dict[str, Any], stack_file: Path
) -> None:
    stack, _ = _described(template, {"TargetIds": "tmt-0abc", "MirrorTagKey": "capture"})
    stack_file.write_text(json.dumps(stack), encoding="utf-8")  # Stacks[0] alone (--query 'Stacks[0]') also works
    environ = {"TARGET_IDS": "tmt-0eee", "MIRROR_TAG_KEY": "old", "MIRROR_TAG_VALUE": "yes"}
    settings = _audit_settings(stack_file, "--tag-key", "flagged", environ=environ)
    assert settings.target_ids == ("tmt-0abc",)
    assert settings.mirror_tag_key == "flagged"
    assert settings.mirror_tag_value == "true"  # the stack's (its default), not the environment's


@pytest.mark.parametrize("text", ["", "{", "[]", '{"Stacks": []}', '{"Parameters": "x"}'])
def test_a_file_that_is_not_one_stack_is_refused_in_one_line(
    stack_file: Path, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stack_file.write_text(text, encoding="utf-8")
    assert command.main(["--stack-json", str(stack_file)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"mirror-audit: invalid settings: --stack-json {stack_file}: ")


def test_list_values_are_taken_as_cloudformation_trims_them() -> None:
    env = stack_environment(
        {
            "StackName": "s",
            "Parameters": [{"ParameterKey": "TargetIds", "ParameterValue": " tmt-0abc , tmt-0def"}],
            "Outputs": [{"OutputKey": "MirrorFilterId", "OutputValue": "tmf-0abc"}],
        }
    )
    assert env == {"TARGET_IDS": "tmt-0abc,tmt-0def", "FILTER_ID": "tmf-0abc", "MANAGED_BY": "s"}
