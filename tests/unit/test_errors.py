"""The one translation of SDK errors into domain errors (``errors.from_sdk``, ``errors.call_aws``): what the gateways
and the operator's commands see when a call fails."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
    SSLError,
)

from traffic_mirroring.errors import (
    AccessDenied,
    AccountAwsError,
    AwsApiError,
    CredentialsRejected,
    NoCredentials,
    Scope,
    SourceNotSupported,
    TargetFull,
    TransientAwsError,
    Unreachable,
    call_aws,
    from_sdk,
)


def answer(code: str, message: str = "AWS says no") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "CreateTrafficMirrorSession")


@pytest.mark.parametrize(
    ("code", "kind", "scope"),
    [
        ("TrafficMirrorSourcesPerTargetLimitExceeded", TargetFull, Scope.REQUEST),
        ("NetworkInterfaceNotSupported", SourceNotSupported, Scope.REQUEST),
        ("RequestLimitExceeded", TransientAwsError, Scope.TRANSIENT),
        ("InternalError", TransientAwsError, Scope.TRANSIENT),
        ("UnauthorizedOperation", AccessDenied, Scope.ACCOUNT),
        ("AccessDeniedException", AccessDenied, Scope.ACCOUNT),
        ("AuthFailure", CredentialsRejected, Scope.ACCOUNT),
        ("ExpiredTokenException", CredentialsRejected, Scope.ACCOUNT),
        ("OptInRequired", AccountAwsError, Scope.ACCOUNT),
        ("InvalidParameterValue", AwsApiError, Scope.REQUEST),
    ],
)
def test_aws_s_answer_becomes_the_error_its_code_means(code: str, kind: type[AwsApiError], scope: Scope) -> None:
    error = from_sdk("CreateTrafficMirrorSession", answer(code))

    assert type(error) is kind
    assert (error.operation, error.code, error.aws_message, error.scope) == (
        "CreateTrafficMirrorSession",
        code,
        "AWS says no",
        scope,
    )


@pytest.mark.parametrize(
    "raised",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        ReadTimeoutError(endpoint_url="https://ec2.us-east-1.amazonaws.com"),
        SSLError(endpoint_url="https://ec2.us-east-1.amazonaws.com", error=Exception("bad certificate")),
    ],
)
def test_no_answer_at_all_is_unreachable_and_retried(raised: Exception) -> None:
    error = from_sdk("DescribeInstances", raised)  # type: ignore[arg-type]

    assert isinstance(error, Unreachable) and error.retryable
    assert error.code == type(raised).__name__ and error.aws_message == str(raised)


def test_the_sdk_s_own_failures_are_named_by_their_class() -> None:
    no_credentials = from_sdk("GetCallerIdentity", NoCredentialsError())
    bad_parameter = from_sdk("DescribeInstances", ParamValidationError(report="MaxResults too big"))

    assert isinstance(no_credentials, NoCredentials) and no_credentials.scope is Scope.ACCOUNT
    assert no_credentials.code == "NoCredentialsError"
    assert type(bad_parameter) is AwsApiError and bad_parameter.code == "ParamValidationError"


def test_call_aws_returns_the_answer_or_raises_the_domain_error_with_the_sdk_s_as_cause() -> None:
    def describe(**kwargs: Any) -> dict[str, Any]:
        if kwargs.get("fail"):
            raise answer("TrafficMirrorSessionsPerTargetLimitExceeded")
        return {"asked": kwargs}

    assert call_aws("CreateTrafficMirrorSession", describe, Size=1) == {"asked": {"Size": 1}}
    with pytest.raises(TargetFull) as raised:
        call_aws("CreateTrafficMirrorSession", describe, fail=True)
    assert isinstance(raised.value.__cause__, ClientError)


def test_call_aws_lets_what_is_not_the_sdk_s_through() -> None:
    def refused() -> None:
        raise RuntimeError("refused before any request")  # e.g. the audit's read-only guard

    with pytest.raises(RuntimeError, match="refused before any request"):
        call_aws("DeleteTrafficMirrorSession", refused)
