"""Figure 1: AWS API calls per trigger, for 1 and 3 ENIs, in a cold container and in a warm one.

Each case runs the real handler on a real-shaped event against moto with the strict layer on. The measured container
is built the way Lambda builds it (``Runtime.from_environment``: its own clients, retries, empty caches) and its
clients carry an ``ApiCalls`` counter; the account is prepared through other clients, so preparation is not counted.
Cold: the container's first event. Warm: the same container, the same trigger, a second instance.

Every run checks what a user would see afterwards (sessions on every ENI, or none of ours left): a call count of a
run that did the wrong thing would mean nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from moto import mock_aws

from bench.invoke import Invocation, LambdaContext, captured_logs, event, invoke
from bench.moto_patches import indexed_tags
from bench.seeding import seed_mirrored_instances
from simulation.account import ApiCalls, SimulatedAccount
from simulation.strict_aws import StrictAws
from traffic_mirroring.config import Settings, load_settings
from traffic_mirroring.ec2_gateway import Ec2Gateway
from traffic_mirroring.runtime import Runtime

MANAGED_BY = "bench-stack"
ZONE = "us-east-1a"
GROUP, HOOK = "web-asg", "mirror-before-in-service"
WARM_LAUNCH_BUDGET = 5  # issue 11: at most 5 calls for a warm launch with 1 ENI, status write included
ENI_COUNTS = (1, 3)
BUSY_POOLS = (1000, 10_000)  # sessions already on the pool's NLB target


@dataclass(frozen=True)
class Minimum:
    """The calls the logic needs for k ENIs, and why."""

    formula: str
    calls: Callable[[int], int]
    why: str


@dataclass
class World:
    """One simulated account with the stack's pool (an ENI target and an NLB target) and a preparing container."""

    account: SimulatedAccount
    strict: StrictAws
    env: dict[str, str]
    settings: Settings
    helper: Runtime  # prepares state (mirrors instances before a stop, ...); its calls are not counted
    group_instances: list[str] = field(default_factory=list)  # Auto Scaling instances not yet used

    @classmethod
    def create(cls, strict: StrictAws) -> World:
        account = SimulatedAccount()
        targets = [account.eni_target(ZONE), account.nlb_target()]
        env = {
            "TARGET_IDS": ",".join(targets),
            "FILTER_ID": account.mirror_filter(),
            "MANAGED_BY": MANAGED_BY,
            "ACCOUNT_ID": "123456789012",  # the template sets it (AWS::AccountId); moto's account
        }
        settings = load_settings(env)
        helper = Runtime(settings, Ec2Gateway(account.ec2, account.elbv2, autoscaling=account.autoscaling))
        return cls(account, strict, env, settings, helper)

    def container(self) -> tuple[Runtime, ApiCalls]:
        """A fresh Lambda container: new clients (as Runtime.from_environment makes them), empty caches, counted."""
        runtime = Runtime.from_environment(self.env, session=self.account.session)
        gateway = runtime.gateway
        return runtime, ApiCalls().attach(gateway.ec2, gateway.elbv2, gateway.autoscaling)

    def mirrored(self, enis: int) -> str:
        instance = self.account.launch(tags={"mirror": "true"}, zone=ZONE, extra_enis=enis - 1)
        handler("instance_state_change")(
            event("ec2-instance-running.json", instance), LambdaContext(), runtime=self.helper
        )
        return instance

    def our_sessions(self, instance_id: str) -> list[dict[str, Any]]:
        ours = ({"Key": "mirror-managed-by", "Value": MANAGED_BY}, {"Key": "mirror-instance-id", "Value": instance_id})
        return [s for s in self.account.sessions() if all(tag in s.get("Tags", []) for tag in ours)]

    def fully_mirrored(self, instance_id: str) -> bool:
        sessions = self.our_sessions(instance_id)
        return sorted(s["NetworkInterfaceId"] for s in sessions) == sorted(self.account.enis_of(instance_id)) and (
            self.account.tags_of(instance_id).get("mirror-status") == "mirrored"
        )


def handler(function: str) -> Callable[..., Any]:
    """The function's real ``handler(event, context, runtime=None, ...)``."""
    entry: Callable[..., Any] = importlib.import_module(f"functions.{function}.app").handler
    return entry


# -- the triggers: how to bring an instance to the moment its event fires, and what must hold afterwards ------------
@dataclass(frozen=True)
class Trigger:
    name: str
    function: str
    prepare: Callable[[World, int], tuple[str, dict[str, Any]]]  # → instance, event
    check: Callable[[World, str], bool]
    minimum: Minimum  # warm
    cold_extra: Minimum  # what a container must learn once, on top (its caches)


def _launched(world: World, enis: int) -> tuple[str, dict[str, Any]]:
    instance = world.account.launch(tags={"mirror": "true"}, zone=ZONE, extra_enis=enis - 1)
    return instance, event("ec2-instance-running.json", instance)


def _stopped(world: World, enis: int) -> tuple[str, dict[str, Any]]:
    instance = world.mirrored(enis)
    world.account.stop(instance)
    return instance, event("ec2-instance-stopped.json", instance)


def _terminated(world: World, enis: int) -> tuple[str, dict[str, Any]]:
    # Secondary ENIs attached after launch keep DeleteOnTermination false (the AWS default): they and their sessions
    # survive the instance, and bill until deleted. The primary ENI goes, and AWS deletes its session with it.
    instance = world.mirrored(enis)
    world.account.terminate(instance)
    return instance, event("ec2-instance-terminated.json", instance)


def _tag_added(world: World, enis: int) -> tuple[str, dict[str, Any]]:
    instance = world.account.launch(zone=ZONE, extra_enis=enis - 1)
    world.account.tag(instance, mirror="true")
    return instance, event("tag-change-mirror-added.json", instance)


def _tag_removed(world: World, enis: int) -> tuple[str, dict[str, Any]]:
    instance = world.mirrored(enis)
    world.account.untag(instance, "mirror")
    return instance, event("tag-change-mirror-removed.json", instance)


def _autoscaling_launch(world: World, enis: int) -> tuple[str, dict[str, Any]]:
    instance = world.account.launch(tags={"mirror": "true"}, zone=ZONE, extra_enis=enis - 1)
    return instance, event("autoscaling-launch-successful.json", instance)


def _lifecycle_action(world: World, enis: int) -> tuple[str, dict[str, Any]]:
    account = world.account
    if not world.group_instances:  # a group of two with a launch hook: one instance for each container state
        world.group_instances = account.group_with_launch_hook(
            GROUP, HOOK, {"mirror": "true"}, zone=ZONE, desired=2, max_size=2
        )
    instance = world.group_instances.pop(0)
    for index in range(1, enis):
        account.attach_new_eni(instance, ZONE, index, False)
    token = world.strict.start_launch_lifecycle_action(GROUP, HOOK, instance)
    payload = event(
        "autoscaling-launch-lifecycle-action.json",
        instance,
        AutoScalingGroupName=GROUP,
        LifecycleHookName=HOOK,
        LifecycleActionToken=token,
    )
    return instance, payload


def _none_of_ours(world: World, instance: str) -> bool:
    return world.our_sessions(instance) == []


def _completed(world: World, instance: str) -> bool:
    done = [a for a in world.strict.completed_lifecycle_actions if a.instance_id == instance]
    return world.fully_mirrored(instance) and [a.result for a in done] == ["CONTINUE"]


_LAUNCH = Minimum(
    "4 + k",
    lambda k: 4 + k,
    "DescribeInstances (the event names only the instance: state, tags, type, ENIs) + "
    "DescribeTrafficMirrorSessions on its ENIs (the 3-per-ENI limit, numbers taken, already ours?) + "
    "DescribeTrafficMirrorSessions on the pool targets (an ENI target takes 10 sources) + "
    "k x CreateTrafficMirrorSession (no batch create exists) + CreateTags (status)",
)
_LAUNCH_COLD = Minimum(
    "5",
    lambda _: 5,
    "once per container (and again after TARGET_CACHE_SECONDS): DescribeTrafficMirrorTargets (the pool) + "
    "DescribeNetworkInterfaces on the ENI targets (zone, attached?) + DescribeInstances on their appliances (running? "
    "its type: 10 or 100 sources) + DescribeLoadBalancers (NLB zones, active?) + DescribeListeners (UDP 4789?). "
    "No DescribeInstanceTypes: AWS's lists name types",
)
_NO_CACHE = Minimum("0", lambda _: 0, "nothing: removing sessions needs neither type nor target facts")

TRIGGERS: tuple[Trigger, ...] = (
    Trigger("state change: running", "instance_state_change", _launched, World.fully_mirrored, _LAUNCH, _LAUNCH_COLD),
    Trigger(
        "state change: stopped",
        "instance_state_change",
        _stopped,
        _none_of_ours,
        Minimum(
            "3 + k",
            lambda k: 3 + k,
            "DescribeInstances (stopped? still tagged?) + DescribeTrafficMirrorSessions (ours, by their description) + "
            "k x DeleteTrafficMirrorSession + CreateTags (status instance-stopped)",
        ),
        _NO_CACHE,
    ),
    Trigger(
        "state change: terminated",
        "instance_state_change",
        _terminated,
        _none_of_ours,
        Minimum(
            "2, or k + 2 when k > 1",
            lambda k: 2 if k == 1 else k + 2,
            "DescribeInstances (terminated? a late or repeated event must not undo a newer state) + "
            "DescribeTrafficMirrorSessions (ours, by their description: AWS deleted the primary ENI's session with the "
            "ENI); when k > 1, DescribeNetworkInterfaces (the k - 1 secondary ENIs survived: detached, or attached "
            "elsewhere?) + (k - 1) x DeleteTrafficMirrorSession; no status tag on a terminated instance",
        ),
        _NO_CACHE,
    ),
    Trigger("tag added", "instance_tag_change", _tag_added, World.fully_mirrored, _LAUNCH, _LAUNCH_COLD),
    Trigger(
        "tag removed",
        "instance_tag_change",
        _tag_removed,
        _none_of_ours,
        Minimum(
            "4 + k",
            lambda k: 4 + k,
            "DescribeInstances (is the tag really gone?) + DescribeTrafficMirrorSessions on its ENIs + "
            "k x DeleteTrafficMirrorSession + DeleteTags (status) + CreateTags (its next generation: a later create "
            "never reuses the token of a deleted session)",
        ),
        _NO_CACHE,
    ),
    Trigger(
        "ASG launch successful", "autoscaling_launch", _autoscaling_launch, World.fully_mirrored, _LAUNCH, _LAUNCH_COLD
    ),
    Trigger(
        "ASG lifecycle action",
        "autoscaling_lifecycle",
        _lifecycle_action,
        _completed,
        Minimum("5 + k", lambda k: 5 + k, "as a launch + CompleteLifecycleAction"),
        _LAUNCH_COLD,
    ),
)


def available_triggers() -> tuple[Trigger, ...]:
    """The lifecycle trigger only when its function exists (it is optional in the template)."""
    try:
        importlib.import_module("functions.autoscaling_lifecycle.app")
    except ModuleNotFoundError:
        return tuple(t for t in TRIGGERS if t.function != "autoscaling_lifecycle")
    return TRIGGERS


# -- measuring ---------------------------------------------------------------------------------------------------
def _measure(trigger: Trigger, enis: int) -> dict[str, dict[str, Any]]:
    """Cold and warm counts for one trigger and ENI count, in a fresh account."""
    with mock_aws(), StrictAws() as strict:
        world = World.create(strict)
        with captured_logs():  # the preparing container's logs are not the measured function's
            first, second = trigger.prepare(world, enis), trigger.prepare(world, enis)
        runtime, calls = world.container()
        entry = handler(trigger.function)
        measured: dict[str, dict[str, Any]] = {}
        for container, (instance, payload) in (("cold", first), ("warm", second)):
            calls.reset()
            done: Invocation = invoke(entry, payload, runtime=runtime)
            if not trigger.check(world, instance):
                raise AssertionError(f"{trigger.name}, {enis} ENI(s), {container}: the account is not as expected")
            measured[container] = {
                "calls": calls.total,
                "by_operation": dict(sorted(calls.counts.items())),
                "sequence": list(calls.log),
                "seconds": done.seconds,
                "client_seconds": done.seconds - done.moto_seconds,
                "log_bytes": done.log_bytes,
                "log_lines": done.log_lines,
                "metric_names": sorted(done.metric_names),
            }
        return measured


def launch_with_busy_pool(sessions_on_pool: int) -> dict[str, Any]:
    """A warm launch (1 ENI) when the pool's NLB target already mirrors ``sessions_on_pool`` instances."""
    with mock_aws(), indexed_tags(), StrictAws() as strict:
        world = World.create(strict)
        nlb = world.settings.target_ids[1]
        seed_mirrored_instances(ZONE, sessions_on_pool, nlb, world.settings.filter_id, MANAGED_BY)
        with captured_logs():
            first, second = _launched(world, 1), _launched(world, 1)
        runtime, calls = world.container()
        entry = handler("instance_state_change")
        invoke(entry, first[1], runtime=runtime)
        cold, cold_by_operation = calls.total, dict(sorted(calls.counts.items()))
        calls.reset()
        done = invoke(entry, second[1], runtime=runtime)
        if not (world.fully_mirrored(first[0]) and world.fully_mirrored(second[0])):
            raise AssertionError(f"busy pool ({sessions_on_pool} sessions): an instance is not mirrored")
        return {
            "sessions_on_pool": sessions_on_pool,
            "cold_calls": cold,
            "cold_by_operation": cold_by_operation,
            "calls": calls.total,
            "by_operation": dict(sorted(calls.counts.items())),
            "seconds": round(done.seconds, 4),
        }


def run(
    runs: int = 3,
    triggers: tuple[Trigger, ...] | None = None,
    eni_counts: tuple[int, ...] = ENI_COUNTS,
    busy_pools: tuple[int, ...] = BUSY_POOLS,
) -> dict[str, Any]:
    """Every trigger x ENI count, ``runs`` times; call counts must be identical across runs (they are counted)."""
    rows: list[dict[str, Any]] = []
    for trigger in triggers or available_triggers():
        for enis in eni_counts:
            samples = [_measure(trigger, enis) for _ in range(runs)]
            row: dict[str, Any] = {"trigger": trigger.name, "function": trigger.function, "enis": enis}
            for container in ("cold", "warm"):
                counts = {s[container]["calls"] for s in samples}
                if len(counts) != 1:
                    raise AssertionError(f"{trigger.name}, {enis} ENI(s), {container}: call counts differ {counts}")
                minimum = trigger.minimum.calls(enis) + (trigger.cold_extra.calls(enis) if container == "cold" else 0)
                row[container] = {
                    "calls": counts.pop(),
                    "minimum": minimum,
                    "by_operation": samples[0][container]["by_operation"],
                    "sequence": samples[0][container]["sequence"],
                    "median_seconds": round(median(s[container]["seconds"] for s in samples), 4),
                    "median_client_seconds": round(median(s[container]["client_seconds"] for s in samples), 4),
                    "log_bytes": samples[0][container]["log_bytes"],
                    "log_lines": samples[0][container]["log_lines"],
                    "metric_names": samples[0][container]["metric_names"],
                }
            row["minimum_formula"] = trigger.minimum.formula
            row["minimum_why"] = trigger.minimum.why
            row["cold_extra_formula"] = trigger.cold_extra.formula
            row["cold_extra_why"] = trigger.cold_extra.why
            rows.append(row)
    warm_launch = next(r for r in rows if r["trigger"] == "state change: running" and r["enis"] == 1)
    return {
        "runs": runs,
        "pool": "one ENI target (c5.large host, us-east-1a) and one NLB target (us-east-1a, us-east-1b)",
        "rows": rows,
        "busy_pool": [launch_with_busy_pool(n) for n in busy_pools],
        "warm_launch_1_eni": {
            "calls": warm_launch["warm"]["calls"],
            "budget": WARM_LAUNCH_BUDGET,
            "within_budget": warm_launch["warm"]["calls"] <= WARM_LAUNCH_BUDGET,
        },
    }
