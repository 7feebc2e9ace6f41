"""One line for every failure of mirror-audit: what went wrong, and what to do about it where that is known.

AWS's failures are read from the domain's errors (``traffic_mirroring.errors``: ``Unreachable``, ``NoCredentials``,
``CredentialsRejected``, ``AccessDenied``), the SDK's failures to build a client from ``mirror_cli.aws``'s
``SetupError``s; nothing here knows botocore's classes.
"""

from __future__ import annotations

from mirror_cli.aws import (
    READ_ONLY_OPERATIONS,
    AwsTarget,
    BadEndpoint,
    MutatingCallRefused,
    NoRegion,
    SetupError,
    UnknownProfile,
)
from traffic_mirroring.errors import (
    AccessDenied,
    AwsApiError,
    ConfigurationError,
    CredentialsRejected,
    MirroringError,
    NoCredentials,
    Unreachable,
)

FAKE_CREDENTIALS = "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing"
_IAM_PREFIX = {"elbv2": "elasticloadbalancing"}


def needed_permissions() -> str:
    return ", ".join(
        f"{_IAM_PREFIX.get(service, service)}:{operation}"
        for service, operations in READ_ONLY_OPERATIONS.items()
        for operation in sorted(operations)
    )


def expected(error: BaseException) -> bool:
    """Whether ``error`` is one the command explains as a matter of course (not a bug: no traceback with --debug)."""
    return isinstance(error, (MirroringError, SetupError, MutatingCallRefused))


def explain(error: BaseException, where: AwsTarget, *, debug_hint: bool = True) -> str:
    """The one-line reason mirror-audit prints for ``error``, with what to do about it where that is known."""
    if isinstance(error, MutatingCallRefused):
        return str(error)
    if isinstance(error, ConfigurationError):
        return f"invalid settings: {error}"
    if isinstance(error, SetupError):
        return _setup(error, where)
    if isinstance(error, AwsApiError):
        return _aws(error, where)
    if isinstance(error, MirroringError):
        return str(error)
    hint = " (run with --debug for the traceback)" if debug_hint else ""
    return f"unexpected error: {type(error).__name__}: {error}{hint}"


def _setup(error: SetupError, where: AwsTarget) -> str:
    """The SDK could not build a client: which flag or variable to set."""
    if isinstance(error, NoRegion):
        return "no region: pass --region (e.g. --region us-east-1) or set AWS_REGION"
    if isinstance(error, UnknownProfile):
        return f"{error}: pass an existing --profile, or unset AWS_PROFILE to use the standard credential chain"
    if isinstance(error, BadEndpoint):
        return f"--endpoint-url {where.endpoint_url!r} is not a URL: give one like http://127.0.0.1:5000"
    return str(error)


def _aws(error: AwsApiError, where: AwsTarget) -> str:
    """An AWS call failed: why, by the kind of failure, and for a local endpoint what it needs."""
    code, operation, endpoint = error.code, error.operation, where.endpoint_url
    if isinstance(error, Unreachable):
        if endpoint:
            return f"cannot reach {endpoint} ({code} on {operation}): is a server listening there?"
        region = where.region or "the configured region"
        return f"cannot reach AWS in {region} ({code} on {operation}): {error.aws_message}"
    if isinstance(error, NoCredentials):
        if endpoint:
            return f"no credentials ({code}): a local endpoint still needs fake ones, e.g. export {FAKE_CREDENTIALS}"
        return (
            f"no credentials ({code}): pass --profile or set AWS_PROFILE, or set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(error, CredentialsRejected):
        if endpoint:
            return (
                f"{endpoint} rejected the credentials ({code}: {error.aws_message}): set the fake credentials it "
                f"accepts (moto accepts any, e.g. {FAKE_CREDENTIALS})"
            )
        return (
            f"AWS rejected the credentials ({code}: {error.aws_message}): check the profile or keys, or renew an "
            "expired session (e.g. aws sso login)"
        )
    if isinstance(error, AccessDenied):
        return f"{operation} was denied ({code}): the audit needs these read-only permissions: {needed_permissions()}"
    return f"{operation} failed ({code}): {error.aws_message or error}"
