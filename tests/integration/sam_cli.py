"""What the real SAM CLI makes of a ``sam deploy`` command line, without deploying anything.

``deploy_options()`` runs SAM CLI's own ``sam deploy`` command (the one in .venv, pinned) on recorded arguments, in
the directory they were recorded in: it reads samconfig.toml as it always does (the environment, its saved parameter
overrides, capabilities, confirm_changeset), parses ``--parameter-overrides`` with its own parser, and reaches its
deploy function, replaced here by a recorder of its arguments. ``parameters_sent()`` is what that deploy then sends
CloudFormation for the overrides: SAM CLI's own ``DeployContext.merge_parameters`` (every template parameter, a given
value or ``UsePreviousValue``), and for a stack that does not exist yet only the given ones, as its ``Deployer`` does
(``UsePreviousValue`` is invalid on create; CloudFormation uses each other parameter's Default).

SAM CLI runs with a configuration directory of its own (no telemetry setting, no metadata in the user's home) and no
version check over the network.
"""

from __future__ import annotations

import inspect
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

_CONFIG_DIR = tempfile.mkdtemp(prefix="sam-cli-config-")


@contextmanager
def _isolated(cwd: Path) -> Iterator[None]:
    saved_env = {name: os.environ.get(name) for name in ("__SAM_CLI_APP_DIR", "SAM_CLI_TELEMETRY")}
    saved_cwd = os.getcwd()
    os.environ["__SAM_CLI_APP_DIR"] = _CONFIG_DIR  # samcli.cli.global_config: its files there
    os.environ["SAM_CLI_TELEMETRY"] = "0"
    os.chdir(cwd)  # SAM CLI reads samconfig.toml from the working directory
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def deploy_options(argv: Sequence[str], cwd: Path) -> dict[str, Any]:
    """The arguments SAM CLI's deploy gets for ``sam <argv>`` (argv starts with ``deploy``), by name: stack_name,
    parameter_overrides, capabilities, guided, confirm_changeset, config_env, ..."""
    # Imported here: a second of imports, for the tests that call it only.
    import samcli.commands.deploy.command as deploy
    from samcli.cli.main import cli

    assert list(argv[:1]) == ["deploy"], argv
    names = list(inspect.signature(deploy.do_cli).parameters)
    seen: dict[str, Any] = {}

    def record(*values: Any) -> None:
        seen.update(zip(names, values, strict=True))

    with (
        _isolated(cwd),
        mock.patch.object(deploy, "do_cli", record),
        mock.patch("samcli.lib.utils.version_checker._inform_newer_version", lambda force_check=False: None),
    ):
        cli.main(args=list(argv), prog_name="sam", standalone_mode=False)
    assert seen, f"sam {' '.join(argv)} did not reach its deploy"
    return seen


def parameters_sent(template: Path, overrides: Mapping[str, str], *, stack_exists: bool) -> list[dict[str, Any]]:
    """The Parameters of the change set SAM CLI's deploy creates with these overrides."""
    from samcli.commands._utils.template import get_template_data
    from samcli.commands.deploy.deploy_context import DeployContext

    parameters: list[dict[str, Any]] = DeployContext.merge_parameters(get_template_data(str(template)), dict(overrides))
    if not stack_exists:  # samcli.lib.deploy.deployer.Deployer.create_changeset
        parameters = [p for p in parameters if not p.get("UsePreviousValue", False)]
    return parameters
