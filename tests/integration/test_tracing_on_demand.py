"""Tracing is the Tracing parameter: off by default, and then no handler loads X-Ray's SDK at import (issue 22 item 8,
a cold start close to boto3's own); on (Active), every function is traced, and may write to X-Ray."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from simulation.eventbridge import load_template
from tests.integration.transformed_template import ROOT, TEMPLATE, Resolver

LAYER = ROOT / "layers" / "mirroring" / "python"
HANDLERS = sorted(p.parent for p in (ROOT / "functions").glob("*/app.py"))

_PROBE = """
import json, sys
sys.path[:0] = sys.argv[1:]
import app
print(json.dumps({
    "xray_loaded": any(name.startswith("aws_xray_sdk") for name in sys.modules),
    "tracer": type(app.tracer).__name__,
}))
"""


def _import_handler(function_dir: Path, trace_disabled: str) -> dict[str, Any]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("POWERTOOLS_", "AWS_LAMBDA", "_X_AMZN"))
    }
    env.update(
        LAMBDA_TASK_ROOT=str(function_dir),  # as in Lambda: Powertools would trace
        AWS_LAMBDA_FUNCTION_NAME="test-function",
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_TRACE_DISABLED=trace_disabled,
    )
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(function_dir), str(LAYER)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _functions_and_roles(overrides: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    template = load_template(TEMPLATE)
    resolver = Resolver(template, overrides)
    resources = template["Resources"]
    env_node = template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"]
    settings = {
        "Tracing": resolver.resolve(template["Globals"]["Function"]["Tracing"]),
        "POWERTOOLS_TRACE_DISABLED": resolver.resolve(env_node),
    }
    function_roles = {_role_of(resource) for resource in resources.values() if resource["Type"] == FUNCTION}
    roles = {name: resolver.resolve(resources[name]["Properties"].get("ManagedPolicyArns")) for name in function_roles}
    return settings, roles


FUNCTION = "AWS::Serverless::Function"


def _role_of(function: dict[str, Any]) -> str:
    role = function["Properties"]["Role"]["Fn::GetAtt"]
    return str(role[0] if isinstance(role, list) else role.split(".")[0])


def _writes_to_xray(arns: list[str] | None) -> bool:
    return bool(arns) and any("AWSXrayWriteOnlyAccess" in arn for arn in arns or [])


@pytest.mark.parametrize("function_dir", HANDLERS, ids=lambda p: p.name)
def test_an_untraced_handler_loads_no_xray_code(function_dir: Path) -> None:
    assert _import_handler(function_dir, "true") == {"xray_loaded": False, "tracer": "Untraced"}


@pytest.mark.parametrize("function_dir", HANDLERS[:1], ids=lambda p: p.name)
def test_a_traced_handler_builds_powertools_tracer(function_dir: Path) -> None:
    assert _import_handler(function_dir, "false") == {"xray_loaded": True, "tracer": "Tracer"}


def test_the_default_stack_does_not_trace_and_active_traces_with_write_access_to_xray() -> None:
    default, default_roles = _functions_and_roles({})
    assert default == {"Tracing": "PassThrough", "POWERTOOLS_TRACE_DISABLED": "true"}
    assert len(default_roles) == len(HANDLERS)
    assert [name for name, arns in default_roles.items() if _writes_to_xray(arns)] == []

    active, active_roles = _functions_and_roles({"Tracing": "Active"})
    assert active == {"Tracing": "Active", "POWERTOOLS_TRACE_DISABLED": "false"}
    assert [name for name, arns in active_roles.items() if not _writes_to_xray(arns)] == []
