"""The one-command deploy of README "Deploy": `make deploy TARGET_IDS=… ALARM_EMAIL=…` runs `sam deploy` without a
question, with exactly the two values given, and every other parameter at its default.

The command runs as documented, with make and the Makefile, in a scratch copy of the clone whose `sam` records its
arguments (moto cannot deploy the SAM template); SAM CLI itself (tests/integration/sam_cli.py) then says what its
deploy would do with them: samconfig.toml read, overrides parsed, and the parameters sent to CloudFormation.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest

from simulation.eventbridge import load_template
from tests.integration import recipes
from tests.integration.recipes import ROOT
from tests.integration.sam_cli import deploy_options, parameters_sent

TEMPLATE = ROOT / "template.yaml"
SAMCONFIG = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
MAKE_VARIABLE_OF = {"TargetIds": "TARGET_IDS", "AlarmEmail": "ALARM_EMAIL"}


def documented_command() -> str:
    """The first `make deploy` of README "Deploy"."""
    for block in recipes.shell_blocks([ROOT / "README.md"]):
        if block.heading != "Deploy":
            continue
        for line in recipes.without_comments(block.script).splitlines():
            if re.match(r"\s*make\s+deploy\b", line):
                return line.strip()
    raise AssertionError('README "Deploy" documents no `make deploy`')


def run_make(tmp_path: Path, command: str, **environment: str) -> tuple[Path, list[list[str]]]:
    """Run ``command`` in a scratch clone whose sam records its calls; the clone and the recorded argv lists."""
    clone = recipes.scratch_clone(tmp_path, {"sam": recipes.recorder("sam")})
    env = {**recipes.environment_variables(), "AWS_DEFAULT_REGION": "eu-west-1", **environment}
    run = recipes.run_recipe(command, cwd=clone, environment=env, work=tmp_path)
    assert run.returncode == 0 and not run.failures, run.explain()
    return clone, [[str(word) for word in call["argv"]] for call in run.stub_calls]  # type: ignore[union-attr]


def the_deploy(calls: list[list[str]], clone: Path) -> dict[str, Any]:
    assert [call[0] for call in calls] == ["build", "deploy"], calls
    return deploy_options(calls[1], clone)


def test_the_documented_command_passes_exactly_the_two_answers(tmp_path: Path) -> None:
    command = documented_command()
    words = shlex.split(command)
    given = dict(word.split("=", 1) for word in words[2:])
    assert words[:2] == ["make", "deploy"] and set(given) == {"TARGET_IDS", "ALARM_EMAIL"}, command

    clone, calls = run_make(tmp_path, command)
    options = the_deploy(calls, clone)
    # No question: not guided, no change set to confirm; the stack and capabilities of samconfig.toml's default
    deploy = SAMCONFIG["default"]["deploy"]["parameters"]
    assert options["guided"] is False and options["confirm_changeset"] is False
    assert options["config_env"] == "default" and options["stack_name"] == deploy["stack_name"]
    assert options["capabilities"] == deploy["capabilities"].split()
    # Exactly the two answers, as given
    assert options["parameter_overrides"] == {name: given[variable] for name, variable in MAKE_VARIABLE_OF.items()}

    # A first deploy sends CloudFormation these two and nothing else: every other parameter takes its Default
    sent = parameters_sent(TEMPLATE, options["parameter_overrides"], stack_exists=False)
    assert {p["ParameterKey"]: p["ParameterValue"] for p in sent} == options["parameter_overrides"]
    declared = load_template(TEMPLATE)["Parameters"]
    assert [name for name, spec in declared.items() if name not in MAKE_VARIABLE_OF and "Default" not in spec] == []
    # An update keeps the current value of every other parameter
    sent = parameters_sent(TEMPLATE, options["parameter_overrides"], stack_exists=True)
    kept = {p["ParameterKey"] for p in sent if p.get("UsePreviousValue")}
    assert kept == set(declared) - set(MAKE_VARIABLE_OF)


def test_without_values_nothing_is_overridden(tmp_path: Path) -> None:
    clone, calls = run_make(tmp_path, "make deploy")
    assert calls[1] == ["deploy", "--config-env", "default"]
    assert the_deploy(calls, clone)["parameter_overrides"] == {}


def test_a_variable_of_the_environment_is_not_passed(tmp_path: Path) -> None:
    # `eval "$(python -m simulation.server --background)"` exports the simulation's TARGET_IDS into the shell
    clone, calls = run_make(tmp_path, "make deploy ALARM_EMAIL=you@example.com", TARGET_IDS="tmt-0aaaaaaaaaaaaaaa1")
    assert the_deploy(calls, clone)["parameter_overrides"] == {"AlarmEmail": "you@example.com"}


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_an_environment_keeps_its_saved_settings_and_adds_the_given_ones(tmp_path: Path, environment: str) -> None:
    saved = deploy_options(["deploy", "--config-env", environment], ROOT)
    assert saved["parameter_overrides"]  # dev and prod save a few settings
    clone, calls = run_make(tmp_path, f"make deploy CONFIG_ENV={environment} TARGET_IDS=tmt-0123456789abcdef0")
    options = the_deploy(calls, clone)
    assert options["parameter_overrides"] == {**saved["parameter_overrides"], "TargetIds": "tmt-0123456789abcdef0"}
    deploy = SAMCONFIG[environment]["deploy"]["parameters"]
    assert options["stack_name"] == deploy["stack_name"]
    assert options["capabilities"] == deploy["capabilities"].split()
    assert options["confirm_changeset"] is deploy["confirm_changeset"]  # prod asks before applying its change set


def test_parameters_passes_any_other_setting_as_sam_reads_it(tmp_path: Path) -> None:
    reachable = 'TargetReachableFrom="tmt-0abc=vpc-01 vpc-02"'
    command = f"make deploy PARAMETERS='{reachable} CreateDashboard=true' ALARM_EMAIL="
    clone, calls = run_make(tmp_path, command)
    assert the_deploy(calls, clone)["parameter_overrides"] == {
        "TargetReachableFrom": "tmt-0abc=vpc-01 vpc-02",
        "CreateDashboard": "true",
        "AlarmEmail": "",  # given empty: set empty (an update would otherwise keep the address)
    }


def test_deploy_guided_asks_proposing_the_values_given(tmp_path: Path) -> None:
    clone, calls = run_make(tmp_path, "make deploy-guided")
    options = the_deploy(calls, clone)
    assert options["guided"] is True and options["parameter_overrides"] == {}
    # SAM CLI's guided deploy proposes a given value as the answer to its question (GuidedContext)
    (tmp_path / "given").mkdir()
    clone, calls = run_make(tmp_path / "given", "make deploy-guided TARGET_IDS=tmt-0123456789abcdef0")
    options = the_deploy(calls, clone)
    assert options["guided"] is True and options["parameter_overrides"] == {"TargetIds": "tmt-0123456789abcdef0"}
