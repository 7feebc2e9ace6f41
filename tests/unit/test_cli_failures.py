"""mirror-audit's one line for every failure (``mirror_cli.failures.explain``), read from the domain's errors and the
commands' set-up errors, never from botocore's classes; and the set-up errors the SDK's failures become."""

from __future__ import annotations

import pytest
from botocore.exceptions import EndpointConnectionError, NoCredentialsError

from mirror_cli.aws import AwsTarget, BadEndpoint, NoRegion, UnknownProfile, client, new_session, setting_up
from mirror_cli.failures import explain
from traffic_mirroring.errors import ConfigurationError, aws_error, from_sdk

AWS = AwsTarget("eu-west-1", None, None)
LOCAL = AwsTarget("eu-west-1", None, "http://127.0.0.1:5000")


def test_an_unreachable_endpoint_says_which_and_what_was_asked() -> None:
    error = from_sdk("GetCallerIdentity", EndpointConnectionError(endpoint_url="http://127.0.0.1:5000"))

    assert explain(error, LOCAL).startswith(
        "cannot reach http://127.0.0.1:5000 (EndpointConnectionError on GetCallerIdentity): is a server listening"
    )
    assert explain(error, AWS).startswith("cannot reach AWS in eu-west-1 (EndpointConnectionError on GetCallerIdentity")


def test_credentials_missing_rejected_or_short_of_a_permission_each_say_what_to_do() -> None:
    missing = from_sdk("GetCallerIdentity", NoCredentialsError())
    rejected = aws_error("GetCallerIdentity", "ExpiredTokenException", "The security token included has expired")
    denied = aws_error("DescribeInstances", "UnauthorizedOperation", "You are not authorized")

    assert explain(missing, LOCAL).startswith("no credentials (NoCredentialsError): a local endpoint still needs fake")
    assert explain(missing, AWS).startswith("no credentials (NoCredentialsError): pass --profile or set AWS_PROFILE")
    assert explain(rejected, AWS).startswith("AWS rejected the credentials (ExpiredTokenException: The security")
    assert explain(rejected, LOCAL).startswith("http://127.0.0.1:5000 rejected the credentials (ExpiredTokenException")
    assert explain(denied, AWS).startswith("DescribeInstances was denied (UnauthorizedOperation): the audit needs")
    assert "elasticloadbalancing:DescribeLoadBalancers" in explain(denied, AWS)


def test_any_other_aws_error_names_its_operation_and_code() -> None:
    error = aws_error("DescribeTrafficMirrorTargets", "InvalidParameterValue", "bad value")

    assert explain(error, AWS) == "DescribeTrafficMirrorTargets failed (InvalidParameterValue): bad value"


def test_settings_and_set_up_errors_name_the_flag_to_fix() -> None:
    assert explain(ConfigurationError("FILTER_ID is empty"), AWS) == "invalid settings: FILTER_ID is empty"
    assert explain(NoRegion("You must specify a region."), AWS) == (
        "no region: pass --region (e.g. --region us-east-1) or set AWS_REGION"
    )
    assert explain(UnknownProfile("The config profile (nope) could not be found"), AWS) == (
        "The config profile (nope) could not be found: pass an existing --profile, or unset AWS_PROFILE to use the "
        "standard credential chain"
    )
    bad = AwsTarget("eu-west-1", None, "localhost:4566")
    assert explain(BadEndpoint("Invalid endpoint: localhost:4566"), bad) == (
        "--endpoint-url 'localhost:4566' is not a URL: give one like http://127.0.0.1:5000"
    )


def test_an_unexpected_error_is_named_with_the_way_to_its_traceback() -> None:
    assert explain(KeyError("x"), AWS) == "unexpected error: KeyError: 'x' (run with --debug for the traceback)"
    assert explain(KeyError("x"), AWS, debug_hint=False) == "unexpected error: KeyError: 'x'"


def test_the_sdk_s_failures_to_build_a_client_become_set_up_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)

    with pytest.raises(UnknownProfile, match="nope"):
        new_session(AwsTarget(None, "nope", None))
    with pytest.raises(NoRegion):
        client(new_session(AwsTarget(None, None, None)), "ec2", AwsTarget(None, None, None))
    with pytest.raises(BadEndpoint):
        client(new_session(AWS), "ec2", AwsTarget("eu-west-1", None, "localhost:4566"))
    with pytest.raises(ValueError, match="not the SDK's"), setting_up():
        raise ValueError("not the SDK's")
