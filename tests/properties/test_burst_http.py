"""A burst of launches over HTTP, through EC2's request rate limit, with Lambda's bounded concurrency.

moto runs as a real HTTP server (ThreadedMotoServer, with StrictAws active in this process) behind
``simulation.throttle.ThrottlingProxy``, which answers ``RequestLimitExceeded`` above RATE EC2 requests a second.
The instances are seeded directly against the server; then one running event per instance is processed by WORKERS
concurrent workers, as reserved concurrency would run the state-change function: each worker is a container with
its own Runtime, built by ``Runtime.from_environment`` with clients pointed at the proxy, so the SDK's retry mode
(standard, 5 attempts) meets the throttling as it would in production. A failed invocation is re-queued like
Lambda's asynchronous retry (TRIES attempts in all, without Lambda's delay); an event that fails them all would
reach the dead-letter queue.

Expected: every instance mirrored exactly once, no limit violated, nothing dead-lettered. The figures (calls,
throttled answers, completion time against the theoretical minimum: EC2 calls ÷ RATE) are printed in the
summary of the test run.
``make test`` bursts 100 instances, ``make soak`` 500 (BURST_INSTANCES overrides both).
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest

from functions.instance_state_change.app import handler as state_change
from simulation.account import SimulatedAccount
from simulation.moto_http import ProxiedSession
from simulation.moto_http import moto_server as http_moto_server
from simulation.throttle import ThrottlingProxy
from tests.integration.stack import MANAGED_BY, LambdaContext, event
from tests.properties.conftest import SOAK
from tests.properties.world import INSTANCE_KEY, is_ours, limit_violations, tags_of
from traffic_mirroring.runtime import Runtime

INSTANCES = int(os.environ.get("BURST_INSTANCES", "500" if SOAK else "100"))
WORKERS = 10  # the function's reserved concurrency
RATE = float(os.environ.get("BURST_RATE", "100"))  # EC2 requests a second the account may make
BURST = 10  # requests the bucket saves up
TRIES = 3  # Lambda's asynchronous invocation: the first attempt and 2 retries
ZONE = "us-east-1a"


@pytest.fixture
def moto_server() -> Iterator[str]:
    """moto over HTTP on 127.0.0.1, fresh backends, the strict layer active (it patches moto in this process)."""
    with http_moto_server() as url:
        yield url


@dataclass
class Burst:
    completed: int = 0
    dead_letters: list[str] = field(default_factory=list)
    failed_invocations: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def run_burst(events: list[dict[str, Any]], env: dict[str, str], endpoint_url: str) -> Burst:
    pending: queue.Queue[tuple[dict[str, Any], int]] = queue.Queue()
    for delivery in events:
        pending.put((delivery, 1))
    burst = Burst()

    def container() -> None:
        runtime = Runtime.from_environment(env, ProxiedSession(endpoint_url))
        while True:
            with burst.lock:
                if burst.completed == len(events):
                    return
            try:
                delivery, attempt = pending.get(timeout=0.05)
            except queue.Empty:
                continue
            try:
                state_change(delivery, LambdaContext(), runtime=runtime)
            except Exception as error:
                with burst.lock:
                    burst.failed_invocations[type(error).__name__] += 1
                    if attempt >= TRIES:
                        burst.dead_letters.append(f"{delivery['detail']['instance-id']}: {error}")
                        burst.completed += 1
                if attempt < TRIES:
                    pending.put((delivery, attempt + 1))
                continue
            with burst.lock:
                burst.completed += 1

    with ThreadPoolExecutor(WORKERS) as pool:
        for future in [pool.submit(container) for _ in range(WORKERS)]:
            future.result()
    return burst


def test_a_burst_of_launches_through_the_request_limit(
    moto_server: str, record_property: Callable[[str, object], None]
) -> None:
    # Given INSTANCES tagged instances, seeded directly against moto, and a pool with an ENI target and an NLB
    account = SimulatedAccount(endpoint_url=moto_server)
    pool = [account.eni_target(ZONE), account.nlb_target()]
    filter_id = account.mirror_filter()
    instances = sorted(account.launch_many(INSTANCES, tags={"mirror": "true"}, zone=ZONE))
    env = {"TARGET_IDS": ",".join(pool), "FILTER_ID": filter_id, "MANAGED_BY": MANAGED_BY}
    events = [event("ec2-instance-running.json", instance) for instance in instances]

    # When their running events arrive at once, handled by WORKERS containers through the rate limit
    with ThrottlingProxy(moto_server, RATE, burst=BURST) as proxy:
        started = time.monotonic()
        burst = run_burst(events, env, proxy.url)
        elapsed = time.monotonic() - started

    # Then nothing reached the dead-letter queue, every instance is mirrored exactly once, and no limit is exceeded
    assert burst.dead_letters == []
    ours = [s for s in account.sessions() if is_ours(s)]
    per_instance = Counter(tags_of(s)[INSTANCE_KEY] for s in ours)
    assert sorted(per_instance) == instances
    assert set(per_instance.values()) == {1}
    assert limit_violations() == []

    ec2_calls = proxy.forwarded["ec2"]
    minimum = (ec2_calls - BURST) / RATE
    figures = {
        "instances": INSTANCES,
        "workers": WORKERS,
        "rate_limit_per_s": RATE,
        "ec2_calls_forwarded": ec2_calls,
        "other_calls_forwarded": sum(proxy.forwarded.values()) - ec2_calls,
        "throttled_responses": proxy.throttled["ec2"],
        "failed_invocations_retried": dict(burst.failed_invocations),
        "dead_letters": len(burst.dead_letters),
        "completion_s": round(elapsed, 2),
        "theoretical_minimum_s": round(minimum, 2),
        "ratio": round(elapsed / minimum, 2) if minimum > 0 else None,
        "calls_by_operation": dict(proxy.operations.most_common()),
    }
    record_property("figures", json.dumps(figures))
