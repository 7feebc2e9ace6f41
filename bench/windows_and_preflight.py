"""Figure 7: what mirroring windows, GuardDuty findings and target preflight cost in AWS API calls.

- A GuardDuty finding (severity 8) on a 2-ENI instance, through the real GuardDuty function, in a cold container and
  in a warm one (a second instance): the calls from the finding to both ENIs mirrored.
- One scheduled reconcile of N mirrored instances, 10% of them past their ``mirror-until``: the expired sessions are
  deleted, the calls counted.
- Target preflight: scheduled reconciles of N sessions spread over 5 pool targets (2 ENI targets, 2 NLBs at AWS's
  defaults, 1 Gateway Load Balancer endpoint), counting the calls preflight adds (security groups, network ACLs, the
  NLBs' target group and load balancer attributes), at two sizes, in a cold container (its first run) and in the
  same container once warm (the steady state: cross-zone load balancing, an advisory only, is kept 15 minutes): they
  must not grow with the number of sessions, and the steady state stays within 5.

Every case checks the account afterwards (both ENIs mirrored, exactly the expired sessions gone, every target
healthy and nothing changed): a count of a run that did the wrong thing would mean nothing.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from moto import mock_aws

from bench.invoke import Invocation, event, invoke
from bench.moto_patches import indexed_tags
from bench.seeding import backend, seed_mirrored_instances
from functions.scheduled_reconciler.app import handler as scheduled_reconciler
from simulation.account import ApiCalls, SimulatedAccount
from simulation.lambda_runtime import EVENTS
from simulation.strict_aws import StrictAws
from traffic_mirroring.config import load_settings
from traffic_mirroring.ec2_gateway import Ec2Gateway
from traffic_mirroring.incident import IncidentSettings
from traffic_mirroring.runtime import Runtime

MANAGED_BY = "bench-stack"
ACCOUNT = "123456789012"
EXPIRED_SHARE = 0.10
PREFLIGHT_OPERATIONS = (
    "DescribeSecurityGroups",
    "DescribeNetworkAcls",
    "DescribeTargetGroupAttributes",
    "DescribeLoadBalancerAttributes",
)
PREFLIGHT_BUDGET = 5  # issues 15 and 19: at most 5 more calls a run for 5 targets, whatever the number of sessions


def _scheduled_reconcile(
    account: SimulatedAccount, pool: list[str], filter_id: str, runs: int = 1
) -> list[tuple[Invocation, dict[str, int]]]:
    """``runs`` scheduled reconciles in one container, cold at first (its own clients, counted), with the strict
    layer on: each run's result and its calls by operation."""
    with StrictAws():
        settings = load_settings({"TARGET_IDS": ",".join(pool), "FILTER_ID": filter_id, "MANAGED_BY": MANAGED_BY})
        client, elbv2 = account.session.client("ec2"), account.session.client("elbv2")
        calls = ApiCalls().attach(client, elbv2)
        runtime = Runtime(settings, Ec2Gateway(client, elbv2))
        done: list[tuple[Invocation, dict[str, int]]] = []
        for _ in range(runs):
            calls.reset()
            done.append(
                (invoke(scheduled_reconciler, event("scheduled-event.json", ""), runtime=runtime), calls.counts.copy())
            )
        return done


def _finding(instance_id: str, severity: float = 8.0) -> dict[str, Any]:
    finding: dict[str, Any] = copy.deepcopy(json.loads((EVENTS / "guardduty-finding-ec2.json").read_text()))
    finding["detail"]["resource"]["instanceDetails"]["instanceId"] = instance_id
    finding["detail"]["severity"] = severity
    finding["detail"]["accountId"] = ACCOUNT
    return finding


def guardduty_finding(enis: int = 2) -> dict[str, Any]:
    """Cold and warm calls of the GuardDuty function for a finding on an untagged ``enis``-ENI instance."""
    from functions.guardduty_finding.app import handler as guardduty

    with mock_aws(), StrictAws():
        account = SimulatedAccount()
        env = {
            "TARGET_IDS": account.nlb_target(),
            "FILTER_ID": account.mirror_filter(),
            "MANAGED_BY": MANAGED_BY,
            "ACCOUNT_ID": ACCOUNT,
        }
        runtime = Runtime.from_environment(env, session=account.session)
        gateway = runtime.gateway
        calls = ApiCalls().attach(gateway.ec2, gateway.elbv2)
        incident = IncidentSettings(min_severity=7.0, mirror_hours=24.0)
        measured: dict[str, Any] = {"enis": enis}
        for container in ("cold", "warm"):
            instance = account.launch(extra_enis=enis - 1)
            calls.reset()
            done = invoke(guardduty, _finding(instance), runtime=runtime, incident=incident)
            ours = [s for s in account.sessions() if s["NetworkInterfaceId"] in account.enis_of(instance)]
            if len(ours) != enis or "mirror-finding-until" not in account.tags_of(instance):
                raise AssertionError(f"GuardDuty finding, {container}: {len(ours)} of {enis} ENIs mirrored")
            measured[container] = {
                "calls": calls.total,
                "by_operation": dict(sorted(calls.counts.items())),
                "seconds": round(done.seconds, 4),
            }
        return measured


def expired_reconcile(n: int = 1000, share: float = EXPIRED_SHARE) -> dict[str, Any]:
    """One scheduled reconcile of ``n`` mirrored instances, ``share`` of them expired."""
    with mock_aws(), indexed_tags():
        account = SimulatedAccount()
        target, filter_id = account.nlb_target(), account.mirror_filter()
        instances = seed_mirrored_instances(account.zones[0], n, target, filter_id, MANAGED_BY)
        expired = instances[: round(n * share)]
        ec2 = backend()
        for instance_id in expired:
            ec2.create_tags([instance_id], {"mirror-until": "2026-01-01T00:00:00Z"})
        for instance_id in instances[len(expired) :]:
            ec2.create_tags([instance_id], {"mirror-until": "2099-01-01T00:00:00Z"})
        ((done, counts),) = _scheduled_reconcile(account, [target], filter_id)
        summary = done.result
        if summary["sessions_deleted"] != {"expired": len(expired)} or len(
            backend().traffic_mirror_sessions
        ) != n - len(expired):
            raise AssertionError(f"expired reconcile of {n}: {summary['sessions_deleted']}")
        return {
            "instances": n,
            "expired": len(expired),
            "calls": sum(counts.values()),
            "by_operation": dict(sorted(counts.items())),
            "seconds": round(done.seconds, 3),
        }


def preflight(n: int = 1000) -> dict[str, Any]:
    """Two scheduled reconciles (cold, then warm) of ``n`` sessions over 5 targets: the calls preflight adds."""
    with mock_aws(), indexed_tags():
        account = SimulatedAccount()
        zone = account.zones[0]
        # The appliances admit the sources' addresses; the NLBs are at AWS's defaults (cross-zone off: an advisory)
        eni_targets = [account.eni_target(zone, admit_vxlan_from="10.0.0.0/8") for _ in range(2)]
        others = [account.nlb_target(name="mirror-nlb-1"), account.nlb_target(name="mirror-nlb-2")]
        others.append(account.gwlb_endpoint_target(zone))
        filter_id = account.mirror_filter()
        on_eni = 5  # an ENI target takes 10 sources
        for index, target in enumerate(eni_targets):
            seed_mirrored_instances(zone, on_eni, target, filter_id, MANAGED_BY, cidr=f"10.{200 + index}.0.0/16")
        rest = n - on_eni * len(eni_targets)
        for index, target in enumerate(others):
            share = rest // len(others) + (1 if index < rest % len(others) else 0)
            seed_mirrored_instances(zone, share, target, filter_id, MANAGED_BY, cidr=f"10.{index}.0.0/16")
        pool = [*eni_targets, *others]
        (cold, cold_counts), (warm, warm_counts) = _scheduled_reconcile(account, pool, filter_id, runs=2)
        for done in (cold, warm):
            summary = done.result
            changes = summary["sessions_created"] + summary["sessions_moved"]
            changes += sum(summary["sessions_deleted"].values())
            advised = sorted(summary["target_advisories"])
            if summary["unhealthy_targets"] or summary["dead_targets"] or changes or advised != sorted(others[:2]):
                raise AssertionError(
                    f"preflight at {n}: {summary['unhealthy_targets']} {summary['dead_targets']} {changes} {advised}"
                )
        first = {op: cold_counts[op] for op in PREFLIGHT_OPERATIONS if cold_counts.get(op)}
        added = {op: warm_counts[op] for op in PREFLIGHT_OPERATIONS if warm_counts.get(op)}
        return {
            "sessions": n,
            "targets": len(pool),
            "calls": sum(warm_counts.values()),
            "preflight_calls": sum(added.values()),
            "preflight_by_operation": added,
            "first_run_calls": sum(cold_counts.values()),
            "first_run_preflight_calls": sum(first.values()),
            "first_run_preflight_by_operation": first,
            "within_budget": sum(added.values()) <= PREFLIGHT_BUDGET,
        }


def run(expired_sizes: tuple[int, ...] = (1000,), preflight_sizes: tuple[int, ...] = (1000, 2000)) -> dict[str, Any]:
    cases = [preflight(n) for n in preflight_sizes]
    counts = {(case["preflight_calls"], case["first_run_preflight_calls"]) for case in cases}
    if len(counts) != 1 or not all(case["within_budget"] for case in cases):
        raise AssertionError(f"preflight calls vary with the sessions or exceed {PREFLIGHT_BUDGET}: {cases}")
    result = {
        "guardduty": guardduty_finding(),
        "expired": [expired_reconcile(n) for n in expired_sizes],
        "preflight": cases,
    }
    return result


if __name__ == "__main__":
    print(json.dumps(run((100,), (100, 200)), indent=2))
