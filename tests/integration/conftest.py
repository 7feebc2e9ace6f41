"""Shared fixtures for integration tests: an offline AWS account (moto) held to AWS's rules by ``StrictAws``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import botocore.loaders
import botocore.session
import pytest
from moto import mock_aws

from simulation.account import REGION, SimulatedAccount
from simulation.strict_aws import StrictAws

_MODEL_CACHE: dict[Any, Any] = {}


def _loader_sharing_models(*args: Any, **kwargs: Any) -> botocore.loaders.Loader:
    """A botocore loader whose parsed service models are shared by every session of the test run.

    Each ``SimulatedAccount`` opens its own boto3 session, and parsing the EC2 model again costs ~0.2 s per test.
    The models are read-only data; only the parsing is saved.
    """
    loader = botocore.loaders.create_loader(*args, **kwargs)
    loader._cache = _MODEL_CACHE
    return loader


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region, so no test can reach (or bill) a real account."""
    monkeypatch.setattr(botocore.session, "create_loader", _loader_sharing_models)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)


@pytest.fixture
def strict(aws_env: None) -> Iterator[StrictAws]:
    """moto with the strict layer active; set ``strict.page_cap`` to force small pages."""
    with mock_aws(), StrictAws() as layer:
        yield layer


@pytest.fixture
def account(strict: StrictAws) -> SimulatedAccount:
    """A fresh simulated account (moto + StrictAws); ``account.ec2`` is a plain boto3 client."""
    return SimulatedAccount()
