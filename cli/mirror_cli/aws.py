"""The operator's AWS access: the clients of both commands, and the guard that keeps the audit's read-only.

Every client is built here, with standard retries, and a failure to build one (no Region, an unknown profile, an
endpoint that is not a URL) is a ``SetupError``. Every call goes through ``errors.call_aws``, as the functions'
gateways' do, so a failed call is the domain's error (``Unreachable``, ``NoCredentials``, ``AccessDenied``, ...),
never botocore's.

``ReadOnlyGuard`` refuses, before a request is even built, any operation outside an allow-list: the audit is safe to
run with credentials that could change things.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, NoRegionError, ProfileNotFound

from traffic_mirroring.errors import call_aws

# Every operation the audit needs, per botocore service name. Nothing else can be called (see ReadOnlyGuard).
READ_ONLY_OPERATIONS: Mapping[str, frozenset[str]] = {
    "ec2": frozenset(
        {
            "DescribeInstances",
            "DescribeNetworkInterfaces",
            "DescribeTrafficMirrorSessions",
            "DescribeTrafficMirrorTargets",
            "DescribeTrafficMirrorFilters",
            "DescribeVpcEndpoints",  # whether a Gateway Load Balancer endpoint target still exists
            "DescribeSecurityGroups",  # preflight: does a target admit UDP 4789 from the sources' addresses?
            "DescribeNetworkAcls",
        }
    ),
    # An NLB target needs a UDP 4789 listener; its security groups and cross-zone load balancing (preflight).
    "elbv2": frozenset(
        {
            "DescribeLoadBalancers",
            "DescribeListeners",
            "DescribeLoadBalancerAttributes",
            "DescribeTargetGroupAttributes",
        }
    ),
    "sts": frozenset({"GetCallerIdentity"}),
    # --delivery: what the sources mirrored and the targets received (mirror_cli.delivery).
    "cloudwatch": frozenset({"GetMetricData"}),
}
READ_ONLY_PREFIXES = ("Describe", "List", "Get")

# The calls the organization audit makes with the caller's own credentials, and nothing else. AssumeRole is not a
# read, so ReadOnlyGuard's naming rule (Describe/List/Get) would refuse it: EntryGuard admits it by name. It is safe:
# AssumeRole changes nothing in either account (no resource, no policy; CloudTrail records it), and the temporary
# credentials it returns are only ever used through clients that ReadOnlyGuard protects with the one-account
# allow-list, for a role that itself may only read. The member accounts' clients keep READ_ONLY_OPERATIONS and the
# naming rule.
ENTRY_OPERATIONS: Mapping[str, frozenset[str]] = {
    "sts": frozenset({"AssumeRole", "GetCallerIdentity"}),
    "organizations": frozenset({"ListAccounts"}),
}
ASSUME_ROLE = "AssumeRole"


class MutatingCallRefused(RuntimeError):
    """An AWS operation outside the read-only allow-list was attempted. Deliberately not a botocore error, so no
    retry handler or error wrapper can mistake it for an AWS answer."""


class ReadOnlyGuard:
    """A botocore event handler that refuses every operation not on the allow-list, before any request is built.

    Registered on ``before-parameter-build`` (nothing is serialized) and again on ``before-call`` (nothing is
    sent), for every operation of the client. An operation must be listed *and* named like a read
    (Describe/List/Get), so a mistake in the list cannot let a write through.
    """

    def __init__(self, allowed: Mapping[str, frozenset[str]] = READ_ONLY_OPERATIONS) -> None:
        self.allowed = allowed

    def permits(self, service: str, operation: str) -> bool:
        return operation in self.allowed.get(service, frozenset()) and operation.startswith(READ_ONLY_PREFIXES)

    def __call__(self, model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        if not self.permits(service, model.name):
            raise MutatingCallRefused(f"mirror-audit is read-only: refused to call {service}:{model.name}")

    def protect(self, client: Any) -> Any:
        client.meta.events.register("before-parameter-build", self, unique_id="mirror-audit-read-only-params")
        client.meta.events.register("before-call", self, unique_id="mirror-audit-read-only-call")
        return client


class EntryGuard(ReadOnlyGuard):
    """ReadOnlyGuard for the caller's own clients: ENTRY_OPERATIONS only, each a read by its name or AssumeRole."""

    def __init__(self) -> None:
        super().__init__(ENTRY_OPERATIONS)

    def permits(self, service: str, operation: str) -> bool:
        listed = operation in self.allowed.get(service, frozenset())
        return listed and (operation == ASSUME_ROLE or super().permits(service, operation))


@dataclass(frozen=True)
class AwsTarget:
    """Where the command's requests go: a Region (None: the profile's or the environment's), a named profile (None:
    the standard credential chain), an endpoint (None: AWS's)."""

    region: str | None
    profile: str | None
    endpoint_url: str | None


# -- building clients ------------------------------------------------------------------------------------------
class SetupError(Exception):
    """The SDK could not build a client from the command line and the environment; the message is the SDK's."""


class NoRegion(SetupError):
    """No Region: none given, none in the environment or the profile."""


class UnknownProfile(SetupError):
    """The named profile is in no config or credentials file."""


class BadEndpoint(SetupError):
    """The endpoint given is not a URL."""


@contextmanager
def setting_up() -> Iterator[None]:
    """Turns the SDK's failures to build a session or a client into ``SetupError``s."""
    try:
        yield
    except NoRegionError as error:
        raise NoRegion(str(error)) from error
    except ProfileNotFound as error:
        raise UnknownProfile(str(error)) from error
    except BotoCoreError as error:  # e.g. a Region name the SDK refuses
        raise SetupError(str(error)) from error
    except ValueError as error:
        if str(error).startswith("Invalid endpoint"):
            raise BadEndpoint(str(error)) from error
        raise


def client_config() -> Any:
    """Standard retries (throttling backs off); the attempt count stays the user's (AWS_MAX_ATTEMPTS, profile)."""
    from botocore.config import Config

    return Config(retries={"mode": "standard"}, connect_timeout=5, read_timeout=30)


def new_session(where: AwsTarget) -> Any:
    """A boto3 session for ``where``'s profile and Region."""
    import boto3

    with setting_up():
        return boto3.session.Session(profile_name=where.profile, region_name=where.region)


def client(session: Any, service: str, where: AwsTarget, guard: ReadOnlyGuard | None = None, **keys: Any) -> Any:
    """A client of ``service`` at ``where``'s endpoint, protected by ``guard`` when one is given."""
    with setting_up():
        made = session.client(service, endpoint_url=where.endpoint_url, config=client_config(), **keys)
    return guard.protect(made) if guard is not None else made


def read_only_clients(
    where: AwsTarget,
    guard: ReadOnlyGuard | None = None,
    *,
    session: Any = None,
    credentials: Mapping[str, str] | None = None,
) -> tuple[Any, Any, Any]:
    """EC2, ELBv2 and STS clients, each guarded.

    From the standard credential chain by default; with ``session`` and ``credentials`` (AssumeRole's
    ``Credentials``), from those temporary credentials in ``where.region`` (the organization audit's member clients).
    """
    guard = guard or ReadOnlyGuard()
    session = session or new_session(where)
    keys: dict[str, Any] = {}
    if credentials is not None:
        keys = {
            "region_name": where.region,
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        }
    ec2, elbv2, sts = (client(session, service, where, guard, **keys) for service in ("ec2", "elbv2", "sts"))
    return ec2, elbv2, sts


# -- who is calling ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Caller:
    """Who the credentials are: their account, and their ARN (whose partition every role ARN shares)."""

    account: str
    arn: str

    @property
    def partition(self) -> str:
        return self.arn.split(":")[1] if self.arn.startswith("arn:") else "aws"


def caller(sts: Any) -> Caller:
    """STS GetCallerIdentity: the account and ARN of the credentials."""
    identity = call_aws("GetCallerIdentity", sts.get_caller_identity)
    return Caller(str(identity.get("Account", "")), str(identity.get("Arn", "")))


def configured_region(where: AwsTarget) -> str:
    """The Region ``where`` names, else its profile's or the environment's (AWS_DEFAULT_REGION); else ``NoRegion``."""
    region = new_session(where).region_name
    if not region:
        raise NoRegion("You must specify a region.")
    return str(region)
