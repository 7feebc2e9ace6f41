"""Figure 4: a burst of launches under a throttled EC2 API.

moto runs as a real HTTP server (``ThreadedMotoServer``, the strict layer on) behind
``simulation.throttle.ThrottlingProxy`` (the reliability issue's harness), which allows a set EC2 request rate (a
token bucket) and answers every request above it the way EC2 does: HTTP 503 with ``RequestLimitExceeded``. The
launches' running events are processed by a bounded pool of workers, each a Lambda container of its own
(``Runtime.from_environment``: its own clients with the standard retry mode, its own caches), as reserved
concurrency would run them. An event whose invocation fails goes back to the queue, as Lambda's asynchronous retries
would send it again (immediately here, not after Lambda's minutes), up to the template's attempts; after that it
would reach the failure destination.

Completion time is compared with the theoretical minimum: the EC2 requests the API accepted, less the bucket's
saved-up requests (free at the start), over the allowed rate, as tests/properties/test_burst_http.py reports it.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from bench.invoke import LambdaContext, captured_logs, event
from bench.moto_patches import indexed_tags
from simulation.account import SimulatedAccount
from simulation.moto_http import ProxiedSession, moto_server
from simulation.throttle import ThrottlingProxy
from traffic_mirroring.runtime import RETRY_ATTEMPTS, Runtime

BUDGET_RATIO = 1.5
ALLOWED_RATE = 50.0  # EC2 requests a second the proxy lets through
BURST = 10  # requests the bucket saves up (as tests/properties/test_burst_http.py)
WORKERS = 10  # ReservedConcurrency=10, the value the template suggests (its default, 0, reserves none)
ATTEMPTS_PER_EVENT = 3  # EventInvokeConfig MaximumRetryAttempts 2, plus the first
MANAGED_BY = "bench-burst"
ZONE = "us-east-1a"
HARNESS = "simulation/throttle.py ThrottlingProxy in front of ThreadedMotoServer"


def _once(launches: int, rate: float, workers: int) -> dict[str, Any]:
    from functions.instance_state_change.app import handler

    with moto_server(indexed_tags()) as direct:
        account = SimulatedAccount(endpoint_url=direct)
        targets = [account.eni_target(ZONE), account.nlb_target()]
        env = {
            "TARGET_IDS": ",".join(targets),
            "FILTER_ID": account.mirror_filter(),
            "MANAGED_BY": MANAGED_BY,
            "ACCOUNT_ID": "123456789012",
        }
        instances = account.launch_many(launches, tags={"mirror": "true"}, zone=ZONE)
        pending: queue.Queue[tuple[dict[str, Any], int]] = queue.Queue()
        for instance in instances:
            pending.put((event("ec2-instance-running.json", instance), 1))
        failed: list[str] = []
        retried = 0
        lock = threading.Lock()

        def work(runtime: Runtime) -> None:
            nonlocal retried
            while True:
                try:
                    payload, attempt = pending.get_nowait()
                except queue.Empty:
                    return
                try:
                    handler(payload, LambdaContext(), runtime=runtime)
                except Exception:
                    with lock:
                        if attempt < ATTEMPTS_PER_EVENT:
                            retried += 1
                            pending.put((payload, attempt + 1))
                        else:
                            failed.append(payload["detail"]["instance-id"])

        with ThrottlingProxy(direct, rate, burst=BURST) as proxy, captured_logs(level="ERROR"):
            containers = [Runtime.from_environment(env, ProxiedSession(proxy.url)) for _ in range(workers)]
            threads = [
                threading.Thread(target=work, args=(c,), name=f"container-{i}") for i, c in enumerate(containers)
            ]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            seconds = time.perf_counter() - started
        ec2_calls, throttled = proxy.forwarded["ec2"], proxy.throttled["ec2"]
        other_calls = sum(proxy.forwarded.values()) - ec2_calls
        ours = [s for s in account.sessions() if {"Key": "mirror-managed-by", "Value": MANAGED_BY} in s.get("Tags", [])]
        mirrored_enis = {s["NetworkInterfaceId"] for s in ours}
        described = account.ec2.describe_instances(InstanceIds=instances)["Reservations"]
        mirrored = sum(
            1
            for found in described
            for instance in found["Instances"]
            if all(n["NetworkInterfaceId"] in mirrored_enis for n in instance["NetworkInterfaces"])
        )
    minimum = max(ec2_calls - BURST, 1) / rate
    return {
        "seconds": seconds,
        "total_calls": ec2_calls,
        "other_calls": other_calls,
        "throttled": throttled,
        "minimum_seconds": minimum,
        "ratio": seconds / minimum,
        "mirrored": mirrored,
        "failed_events": len(failed),
        "events_retried": retried,
        "sessions_of_ours": len(ours),
    }


def run(launches: int = 500, runs: int = 1, rate: float = ALLOWED_RATE, workers: int = WORKERS) -> dict[str, Any]:
    samples = [_once(launches, rate, workers) for _ in range(runs)]
    worst = max(samples, key=lambda s: s["ratio"])
    return {
        "harness": HARNESS,
        "launches": launches,
        "runs": runs,
        "workers": workers,
        "allowed_rate": rate,
        "bucket_burst": BURST,
        "retry_attempts": RETRY_ATTEMPTS,
        "attempts_per_event": ATTEMPTS_PER_EVENT,
        "budget_ratio": BUDGET_RATIO,
        **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in worst.items()},
        "ratios": [round(s["ratio"], 3) for s in samples],
        "within_budget": worst["ratio"] <= BUDGET_RATIO and worst["mirrored"] == launches,
    }
