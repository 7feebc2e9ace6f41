"""Property tests: Hypothesis profiles (fast in ``make test``, long in ``make soak``) and an offline AWS per test.

``HYPOTHESIS_PROFILE=soak`` (``make soak``) runs thousands of random histories and the 500-instance burst;
the default profile, ``fast``, keeps ``make test`` under a minute and a half, with the same examples every run.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator

import botocore.session
import pytest
from hypothesis import HealthCheck, settings
from moto import mock_aws

from simulation.account import REGION, SimulatedAccount
from simulation.strict_aws import StrictAws
from tests.integration.conftest import _loader_sharing_models

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    "print_blob": True,
}
# make test is a gate: the same 200 histories every run, so a failure there is the change's and replays anywhere;
# make soak explores new ones (random seeds) and is where new counterexamples are found.
settings.register_profile(
    "fast",
    max_examples=200,
    stateful_step_count=15,
    derandomize=True,
    **_COMMON,  # type: ignore[arg-type]
)
settings.register_profile("soak", max_examples=3000, stateful_step_count=40, **_COMMON)  # type: ignore[arg-type]
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "fast")
settings.load_profile(PROFILE)

SOAK = PROFILE == "soak"


@pytest.fixture(autouse=True, scope="session")
def fewer_garbage_collections() -> Iterator[None]:
    """Every history builds and drops a whole moto backend: with the default thresholds, the collector walks the
    long-lived heap (boto3 models, moto's instance-type tables) over and over, a third of the run's time."""
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    yield
    gc.set_threshold(*previous)
    gc.unfreeze()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and region (no test can reach a real account); boto3 models parsed once per run."""
    monkeypatch.setattr(botocore.session, "create_loader", _loader_sharing_models)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # 0.15 s per fresh backend; AMIs are not validated
    yield


@pytest.fixture
def strict() -> Iterator[StrictAws]:
    """moto with the strict layer active (as in tests/integration)."""
    with mock_aws(), StrictAws() as layer:
        yield layer


@pytest.fixture
def account(strict: StrictAws) -> SimulatedAccount:
    return SimulatedAccount()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the figures property tests record (``record_property("figures", ...)``), also from xdist workers."""
    lines = [
        f"{report.nodeid}: {value}"
        for outcome in ("passed", "failed")
        for report in terminalreporter.stats.get(outcome, [])
        for name, value in getattr(report, "user_properties", [])
        if name == "figures" and report.when == "call"
    ]
    if lines:
        terminalreporter.section(f"property test figures (profile {PROFILE})")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The random histories first: the longest tests start at once, one per xdist worker, the rest fill in."""
    items.sort(key=lambda item: "test_random_histories[" not in item.nodeid)
