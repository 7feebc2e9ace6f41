"""Domain exceptions. Handlers re-raise the ones that mean "retry me" so EventBridge and the DLQ see them.

AWS errors reach the domain as ``AwsApiError`` subclasses named for what they mean to Traffic Mirroring, translated
once, here: ``call_aws`` makes every SDK call of the gateways and of the operator's commands, and ``from_sdk`` turns
what the SDK raised into the domain error (``aws_error`` classifies AWS's code). So the executor decides on types, and
the commands explain a failure from its type (``Unreachable``, ``NoCredentials``, ...), never from botocore's classes.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

T = TypeVar("T")


class MirroringError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigurationError(MirroringError):
    """An environment variable is missing or malformed. The message names the variable."""


class EventValidationError(MirroringError):
    """An event does not have the shape we expect. The message names the field."""


class Scope(StrEnum):
    """How far an AWS error reaches, which decides whether it is retried or stays with one instance."""

    TRANSIENT = "transient"  # throttling past the retries, 5xx, network: retry the event / the run
    ACCOUNT = "account"  # credentials and permissions: nothing else will work either
    REQUEST = "request"  # this request (this instance's tags, ENI, target): the instance's status says so


class AwsApiError(MirroringError):
    """An AWS call failed. Carries AWS's error code so callers can decide without parsing text."""

    scope = Scope.REQUEST

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(f"{operation} failed with {code}: {message}")
        self.operation = operation
        self.code = code
        self.aws_message = message

    @property
    def retryable(self) -> bool:
        return self.scope is not Scope.REQUEST


class TransientAwsError(AwsApiError):
    scope = Scope.TRANSIENT


class AccountAwsError(AwsApiError):
    scope = Scope.ACCOUNT


class Unreachable(TransientAwsError):
    """No answer at all: the endpoint could not be reached, or the connection failed (refused, timed out, closed)."""


class NoCredentials(AccountAwsError):
    """The SDK found no credentials to sign with (none configured, or their source failed: SSO, a process)."""


class CredentialsRejected(AccountAwsError):
    """AWS refused the credentials themselves: an unknown key, a wrong signature, an expired token or request."""


class AccessDenied(AccountAwsError):
    """The credentials are valid but not allowed the operation (IAM, an SCP, a permissions boundary)."""


class SourceNotSupported(AwsApiError):
    """NetworkInterfaceNotSupported: AWS refuses this ENI as a source (its instance type), whatever our data says."""


class EniSessionLimit(AwsApiError):
    """The source ENI has 3 sessions already (some may be invisible to this account)."""


class TargetFull(AwsApiError):
    """The target has as many source ENIs as it accepts (a concurrent placement may have filled it)."""


class TargetNotFound(AwsApiError):
    """The target does not exist (any more)."""


class FilterNotFound(AwsApiError):
    """The filter does not exist (a typo in a ``mirror-filter`` tag, or it was deleted)."""


class SessionNotFound(AwsApiError):
    """The session does not exist (any more)."""


class TokenReused(AwsApiError):
    """IdempotentParameterMismatch: the ClientToken was used with other parameters, by a concurrent invocation."""


_THROTTLING = {
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
    "TooManyRequestsException",
    "SlowDown",
}
_SERVER = {"InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable", "ServerError"}
# Credentials and permissions: AWS's common error codes
# (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html, and STS's and ELB's spellings), and the
# names of botocore's own exceptions when it cannot sign at all.
_NO_CREDENTIALS = {
    "NoCredentialsError",
    "PartialCredentialsError",
    "CredentialRetrievalError",
    "SSOTokenLoadError",
    "TokenRetrievalError",
    "UnauthorizedSSOTokenError",
    "NoAuthTokenError",
    "LoginTokenLoadError",
}
_CREDENTIALS_REJECTED = {
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "AuthFailure",
    "InvalidAccessKeyId",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "IncompleteSignature",
    "InvalidSignatureException",
    "MissingAuthenticationToken",
}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess"}
_ACCOUNT = {"OptInRequired", "Blocked", "NoRegionError"}  # account-wide too, with no finer meaning
_BY_CODE: dict[str, type[AwsApiError]] = {
    **dict.fromkeys(_NO_CREDENTIALS, NoCredentials),
    **dict.fromkeys(_CREDENTIALS_REJECTED, CredentialsRejected),
    **dict.fromkeys(_DENIED, AccessDenied),
    "NetworkInterfaceNotSupported": SourceNotSupported,
    "TrafficMirrorSessionsPerInterfaceLimitExceeded": EniSessionLimit,
    "TrafficMirrorSourcesPerTargetLimitExceeded": TargetFull,
    "TrafficMirrorSessionsPerTargetLimitExceeded": TargetFull,
    # The API returns "Id"; AWS's error reference spells "ID": accept both.
    "InvalidTrafficMirrorTargetId.NotFound": TargetNotFound,
    "InvalidTrafficMirrorTargetID.NotFound": TargetNotFound,
    "InvalidTrafficMirrorFilterId.NotFound": FilterNotFound,
    "InvalidTrafficMirrorFilterID.NotFound": FilterNotFound,
    "InvalidTrafficMirrorSessionId.NotFound": SessionNotFound,
    "InvalidTrafficMirrorSessionID.NotFound": SessionNotFound,
    "IdempotentParameterMismatch": TokenReused,
}


def aws_error(operation: str, code: str, message: str, *, network: bool = False) -> AwsApiError:
    """The domain error for AWS's answer (``network``: no answer at all, e.g. a timeout or a refused connection)."""
    if network:
        return Unreachable(operation, code, message)
    if code in _THROTTLING or code in _SERVER or code.startswith("Unknown"):
        return TransientAwsError(operation, code, message)
    if code in _ACCOUNT:
        return AccountAwsError(operation, code, message)
    return _BY_CODE.get(code, AwsApiError)(operation, code, message)


def from_sdk(operation: str, error: BotoCoreError | ClientError) -> AwsApiError:
    """The domain error for what the SDK raised on ``operation``: AWS's answer (a ClientError, by its code), no
    answer (a connection error or timeout: ``Unreachable``), or the SDK's own failure (credentials, region, parameter
    validation: its class name is the code)."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return aws_error(operation, details.get("Code", "Unknown"), details.get("Message", ""))
    network = isinstance(error, ConnectionError | HTTPClientError)
    return aws_error(operation, type(error).__name__, str(error), network=network)


def call_aws(operation: str, fn: Callable[..., T], **kwargs: Any) -> T:
    """One AWS call, its SDK errors turned into the domain error they mean (``from_sdk``). Every AWS call of the
    gateways and of the operator's commands goes through here."""
    try:
        return fn(**kwargs)
    except (ClientError, BotoCoreError) as error:
        raise from_sdk(operation, error) from error


class MirroringFailed(MirroringError):
    """Mirroring an instance failed; what this invocation created was rolled back."""

    def __init__(self, instance_id: str, cause: AwsApiError) -> None:
        super().__init__(f"mirroring {instance_id} failed ({cause}); the sessions this run created were rolled back")
        self.instance_id = instance_id
        self.cause = cause


class RollbackIncomplete(MirroringError):
    """Rollback could not delete everything it created. The message lists the sessions left behind."""

    def __init__(self, instance_id: str, cause: Exception, remaining: list[str]) -> None:
        super().__init__(
            f"mirroring {instance_id} failed ({cause}) and rollback left these sessions: {', '.join(remaining)}"
        )
        self.instance_id = instance_id
        self.cause = cause
        self.remaining = remaining


class MetricsIncomplete(MirroringError):
    """CloudWatch answered some metric queries without all their data (a ``StatusCode`` other than ``Complete``):
    the instances they were about could not be judged, and the check fails so that it is retried and alarmed."""

    def __init__(self, operation: str, instance_ids: list[str]) -> None:
        shown = ", ".join(instance_ids[:20]) + (f" and {len(instance_ids) - 20} more" if len(instance_ids) > 20 else "")
        super().__init__(f"{operation} answered incompletely for {len(instance_ids)} instances: {shown}")
        self.operation = operation
        self.instance_ids = instance_ids
