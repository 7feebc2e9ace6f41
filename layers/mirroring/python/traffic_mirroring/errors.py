"""Domain exceptions. Handlers re-raise the ones that mean "retry me" so EventBridge and the DLQ see them."""

from __future__ import annotations


class MirroringError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigurationError(MirroringError):
    """An environment variable is missing or malformed. The message names the variable."""


class EventValidationError(MirroringError):
    """An event does not have the shape we expect. The message names the field."""


class AwsApiError(MirroringError):
    """An EC2 call failed. Carries AWS's error code so callers can decide without parsing text."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(f"{operation} failed with {code}: {message}")
        self.operation = operation
        self.code = code
        self.aws_message = message


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
