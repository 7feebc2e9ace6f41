"""Figure 9b: time to coverage — how long a new instance waits to be mirrored, from its ``running`` event to its last
session created, over a burst of launches, in cold and warm containers.

Every AWS call is given a realistic round trip, ``LATENCY_SECONDS`` (a sleep in a ``before-call`` hook on the
container's botocore clients, as ``bench/org_audit.py`` adds its latency), and moto's own time answering is taken out
(``bench.moto_patches.server_time``): what remains is the product's critical path with AWS at 50 ms a call, not
moto's speed. The clock stops when the last CreateTrafficMirrorSession of the instance returns (an ``after-call``
hook); the status tag written after it is not waited for. A container's INIT (imports, clients) is not included:
figure 3 measures it.

- **cold**: each launch handled by a container of its own, built as Lambda builds one (``Runtime.from_environment``:
  new clients, empty caches), which is what Lambda does for a burst when nothing is reserved (``ReservedConcurrency``
  0, the default): every launch at once, each in a new container.
- **warm**: one container, already used, handles each launch in turn.
- **ReservedConcurrency 10**: the burst queued on 10 containers (each first cold, then warm), computed from the
  measured handler times: a launch waits for a free container, then for its own critical path.

The floor beside each: the calls the logic must make before the last create (bench/api_calls.py's minimum for a
launch, less the status write that follows it) x ``LATENCY_SECONDS``, one after the other as a handler makes them.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from moto import mock_aws

from bench.api_calls import _LAUNCH, _LAUNCH_COLD, ZONE, World, handler
from bench.invoke import LambdaContext, captured_logs, event
from bench.moto_patches import ServerTime, server_time
from simulation.strict_aws import StrictAws
from traffic_mirroring.runtime import Runtime

LATENCY_SECONDS = 0.05
LAUNCHES = 100
RESERVED = 10  # a ReservedConcurrency the template's description recommends once the account's quota allows it
CREATE = "CreateTrafficMirrorSession"


@dataclass
class Clock:
    """When each call of one container returned, with moto's time answering so far."""

    moto: ServerTime
    last_create: tuple[float, float] | None = None  # (wall, moto seconds) when the last create returned
    calls: int = 0
    calls_at_last_create: int = 0
    log: list[str] = field(default_factory=list)

    def hook(self, client: Any, latency: float) -> None:
        client.meta.events.register("before-call.*.*", lambda **_: time.sleep(latency))
        client.meta.events.register("after-call.*.*", self._returned)

    def _returned(self, model: Any, **_: Any) -> None:
        self.calls += 1
        self.log.append(model.name)
        if model.name == CREATE:
            self.last_create = (time.perf_counter(), self.moto.seconds)
            self.calls_at_last_create = self.calls


@dataclass(frozen=True)
class Sample:
    to_coverage: float  # running event → last session created, moto's time taken out
    handler: float  # the whole invocation (the container is busy until it returns), moto's time taken out
    calls_to_coverage: int  # calls made before the last create returned, the last create included
    sequence: tuple[str, ...]  # those calls, in order


def _container(world: World, moto: ServerTime, latency: float) -> tuple[Runtime, Clock]:
    runtime = Runtime.from_environment(world.env, session=world.account.session)
    clock = Clock(moto)
    gateway = runtime.gateway
    for client in (gateway.ec2, gateway.elbv2, gateway.autoscaling):
        clock.hook(client, latency)
    return runtime, clock


def _launch(world: World, runtime: Runtime, clock: Clock, moto: ServerTime) -> Sample:
    instance = world.account.launch(tags={"mirror": "true"}, zone=ZONE)
    payload = event("ec2-instance-running.json", instance)
    clock.last_create, clock.calls, clock.log = None, 0, []
    with captured_logs():
        moto_before, started = moto.seconds, time.perf_counter()
        handler("instance_state_change")(payload, LambdaContext(), runtime=runtime)
        ended, moto_after = time.perf_counter(), moto.seconds
    if clock.last_create is None or not world.fully_mirrored(instance):
        raise AssertionError(f"{instance} is not mirrored after its running event")
    created_at, moto_at = clock.last_create
    return Sample(
        to_coverage=(created_at - started) - (moto_at - moto_before),
        handler=(ended - started) - (moto_after - moto_before),
        calls_to_coverage=clock.calls_at_last_create,
        sequence=tuple(clock.log[: clock.calls_at_last_create]),
    )


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest rank: the smallest value at least ``share`` of the values are at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def queued(cold: Sequence[Sample], warm: Sequence[Sample], workers: int) -> list[float]:
    """A burst of ``len(cold)`` launches at once on ``workers`` containers, first come first served: each launch
    waits for a free container, whose first launch is cold and later ones warm."""
    free: list[tuple[float, int]] = [(0.0, k) for k in range(workers)]
    used: set[int] = set()
    waits: list[float] = []
    for n in range(len(cold)):
        at, worker = heapq.heappop(free)
        sample = warm[n % len(warm)] if worker in used else cold[n]
        used.add(worker)
        waits.append(at + sample.to_coverage)
        heapq.heappush(free, (at + sample.handler, worker))
    return waits


def _summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 0.50), 3),
        "p99": round(percentile(values, 0.99), 3),
        "max": round(max(values), 3),
    }


def run(launches: int = LAUNCHES, latency: float = LATENCY_SECONDS, workers: int = RESERVED) -> dict[str, Any]:
    with mock_aws(), StrictAws() as strict, server_time() as moto:
        world = World.create(strict)
        cold: list[Sample] = []
        for _ in range(launches):
            runtime, clock = _container(world, moto, latency)
            cold.append(_launch(world, runtime, clock, moto))
        runtime, clock = _container(world, moto, latency)
        _launch(world, runtime, clock, moto)  # its first launch makes it warm
        warm = [_launch(world, runtime, clock, moto) for _ in range(launches)]
    warm_floor = _LAUNCH.calls(1) - 1  # less the status write, made after the last create
    cold_floor = warm_floor + _LAUNCH_COLD.calls(1)
    modes = {"cold": (cold, cold_floor), "warm": (warm, warm_floor)}
    result: dict[str, Any] = {
        "launches": launches,
        "latency_seconds": latency,
        "reserved_concurrency": workers,
        "pool": "one ENI target (c5.large host, us-east-1a) and one NLB target (us-east-1a, us-east-1b)",
        "floor_why": f"warm: {_LAUNCH.why}, less the status write; cold: the same + {_LAUNCH_COLD.why}",
    }
    for mode, (samples, floor) in modes.items():
        result[mode] = {
            **_summary([s.to_coverage for s in samples]),
            "floor_calls": floor,
            "floor_seconds": round(floor * latency, 3),
            "calls_to_coverage": max(s.calls_to_coverage for s in samples),
            "sequence": list(samples[0].sequence),  # the first launch's (a cold one's target reads included)
        }
    reserved = queued(cold, warm, workers)
    result["reserved"] = _summary(reserved)
    return result
