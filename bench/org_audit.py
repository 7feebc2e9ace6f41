"""Figure 6: ``mirror-audit --organization`` over N accounts of 500 managed sessions each.

An organization in moto (the audit account is its management account): N accounts, each with the stack's audit role
(trusted by the audit account), an NLB target, the stack's tagged filter and 500 mirrored instances seeded straight
into moto's backend (``bench.seeding``), 10% of them untagged (drift to report). The audit itself is the product's
``audit_organization``, through boto3 and the strict layer (AssumeRole refuses a role that does not exist or trust
the caller), measured at several N:

- **API calls per account**, counted per account with a botocore ``before-call`` hook on every client the audit
  builds (``instrument``): they must not depend on N, nor on the number of workers. The caller's own calls
  (GetCallerIdentity, ListAccounts pages of 20) are counted apart.
- **CPU time** of this process (every thread): the audit's work and moto's, which other work on the machine does not
  slow, so it shows how the work grows with N.
- **Wall time**, split into moto's part (answering: AWS's side in a deployment) and ours (the audit and botocore), with
  1 worker (serial) and ``workers`` threads (parallel) against moto as it is: every call is answered in this process,
  so the threads share one interpreter lock and can overlap nothing. Then parallel again with a round trip of
  ``latency`` seconds added to every call (a sleep, which threads overlap as they overlap network waits); serial with
  that round trip is computed (the serial time plus calls x latency), not waited for.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import boto3
from moto import mock_aws

from bench.cost import API_LATENCY_SECONDS
from bench.moto_patches import indexed_tags, server_time
from bench.seeding import seed_mirrored_instances, untag
from mirror_cli.aws import AwsTarget
from mirror_cli.organization import Request, audit_organization
from simulation.account import REGION, ApiCalls, SimulatedAccount
from simulation.strict_aws import StrictAws
from traffic_mirroring.config import load_settings

MANAGED_BY = "bench-stack"
AUDIT_ACCOUNT = "123456789012"  # moto's default account: the organization's management account, where the audit runs
ROLE = "traffic-mirroring-audit-{region}"
ACCOUNT_COUNTS = (5, 10, 20)
SESSIONS = 500
ORPHAN_SHARE = 0.10
WORKERS = 8
LATENCY_SECONDS = API_LATENCY_SECONDS  # the round trip of one call assumed by figure 5 (moto's answer apart)


class _Account(SimulatedAccount):
    """A simulated account whose requests land in ``account_id`` (moto's ``x-moto-account-id`` header)."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self.region = REGION
        self.session = boto3.session.Session(region_name=REGION)

        def to_account(request: Any, **_: Any) -> None:
            request.headers["x-moto-account-id"] = account_id

        self.session.events.register("request-created.*.*", to_account)
        self.ec2: Any = self.session.client("ec2")
        self.elbv2: Any = self.session.client("elbv2")
        self.autoscaling: Any = self.session.client("autoscaling")
        subnets = self.ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        self.subnets = {s["AvailabilityZone"]: s["SubnetId"] for s in subnets}

    def deploy_stack(self, sessions: int) -> str:
        """What the stack and its workload leave in the account: the audit role, the stack's filter, an NLB target
        and ``sessions`` mirrored instances (10% of them untagged since). Returns the target's ID."""
        trust = (
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", '
            f'"Principal": {{"AWS": "arn:aws:iam::{AUDIT_ACCOUNT}:root"}}}}]}}'
        )
        self.session.client("iam").create_role(
            RoleName=ROLE.replace("{region}", REGION), AssumeRolePolicyDocument=trust
        )
        filter_id = self.ec2.create_traffic_mirror_filter(
            TagSpecifications=[
                {"ResourceType": "traffic-mirror-filter", "Tags": [{"Key": "mirror-managed-by", "Value": MANAGED_BY}]}
            ]
        )["TrafficMirrorFilter"]["TrafficMirrorFilterId"]
        target_id = self.nlb_target()
        instances = seed_mirrored_instances(
            self.zones[0], sessions, target_id, filter_id, MANAGED_BY, account_id=self.account_id
        )
        untag(instances[: round(sessions * ORPHAN_SHARE)], account_id=self.account_id)
        return target_id


@dataclass
class Counted:
    """The calls of one audit: per member account, and the caller's own (key "")."""

    by_account: dict[str, ApiCalls]
    lock: threading.Lock

    def hook(self, latency: float) -> Any:
        def instrument(client: Any, account: str) -> None:
            with self.lock:
                calls = self.by_account.setdefault(account, ApiCalls())
            calls.attach(client)
            if latency:
                client.meta.events.register("before-call.*.*", lambda **_: time.sleep(latency))

        return instrument


@contextmanager
def organization(accounts: int, sessions: int) -> Iterator[list[str]]:
    """moto with the strict layer: an organization of ``accounts`` accounts (the management account and
    ``accounts - 1`` members), each with the stack deployed and ``sessions`` mirrored instances."""
    with mock_aws(), indexed_tags(), StrictAws():
        organizations = boto3.client("organizations", region_name=REGION)
        organizations.create_organization(FeatureSet="ALL")
        members = [
            organizations.create_account(AccountName=f"member-{n}", Email=f"member-{n}@example.com")[
                "CreateAccountStatus"
            ]["AccountId"]
            for n in range(accounts - 1)
        ]
        ids = sorted([AUDIT_ACCOUNT, *members])
        yield [_Account(account_id).deploy_stack(sessions) for account_id in ids]


def audit_once(pool: list[str], workers: int, latency: float) -> dict[str, Any]:
    """One organization audit: its wall time (and moto's part of it), its report, its calls per account."""
    settings = load_settings({"TARGET_IDS": ",".join(pool), "FILTER_ID": "per-account", "MANAGED_BY": MANAGED_BY})
    settings = replace(settings, filter_id="")  # each account's own stack filter, as without --filter-id
    counted = Counted({}, threading.Lock())
    with server_time() as moto:
        started, cpu_started = time.perf_counter(), time.process_time()
        report = audit_organization(
            settings,
            AwsTarget(REGION, None, None),
            Request(accounts=None, regions=(REGION,), role_name=ROLE, workers=workers),
            instrument=counted.hook(latency),
        )
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    members = {account: calls for account, calls in counted.by_account.items() if account}
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,  # this process's CPU (every thread): what other work on the machine cannot slow
        "moto_seconds": moto.seconds,
        "report": report,
        "entry": counted.by_account.get("", ApiCalls()),
        "members": members,
    }


def run_case(accounts: int, sessions: int, workers: int, latency: float) -> dict[str, Any]:
    """Audits of one organization: serial, parallel, and (``latency`` > 0) parallel with the round trip added."""
    with organization(accounts, sessions) as pool:
        samples = {"serial": audit_once(pool, 1, 0.0), "parallel": audit_once(pool, workers, 0.0)}
        if latency:
            samples["parallel_latency"] = audit_once(pool, workers, latency)
    serial = samples["serial"]
    report = serial["report"]
    per_account = {account: calls.total for account, calls in serial["members"].items()}
    for mode, sample in samples.items():
        totals = {account: calls.total for account, calls in sample["members"].items()}
        if totals != per_account:
            raise AssertionError(f"{accounts} accounts, {mode}: calls per account differ: {totals} vs {per_account}")
        if sample["report"]["totals"] != report["totals"]:
            raise AssertionError(f"{accounts} accounts, {mode}: the report differs from the serial one")
    summed = report["totals"]
    expected_orphans = round(sessions * ORPHAN_SHARE) * accounts
    if summed["audited"] != accounts or summed["changes"]["deletes"] != expected_orphans:
        raise AssertionError(f"{accounts} accounts: {summed}")
    calls = sorted(set(per_account.values()))
    total_calls = serial["entry"].total + sum(per_account.values())
    seconds = {"serial": serial["seconds"], "parallel": samples["parallel"]["seconds"]}
    if latency:
        # One call after the other, a sleep adds exactly calls x latency: computed, not run (it would only wait).
        seconds["serial_latency"] = serial["seconds"] + total_calls * latency
        seconds["parallel_latency"] = samples["parallel_latency"]["seconds"]
    any_member = next(iter(serial["members"].values()))
    cpu = {mode: round(samples[mode]["cpu_seconds"], 3) for mode in ("serial", "parallel")}
    return {
        "accounts": accounts,
        "sessions_per_account": sessions,
        "audited": summed["audited"],
        "managed_sessions": summed["sessions"]["ours"],
        "deletes_reported": summed["changes"]["deletes"],
        "calls_per_account": calls[0] if len(calls) == 1 else calls,
        "calls_per_account_by_operation": dict(sorted(any_member.counts.items())),
        "caller_calls": serial["entry"].total,
        "caller_calls_by_operation": dict(sorted(serial["entry"].counts.items())),
        "total_calls": total_calls,
        "seconds": {mode: round(value, 3) for mode, value in seconds.items()},
        "cpu_seconds": cpu,
        "serial_moto_seconds": round(serial["moto_seconds"], 3),  # moto answering: AWS's side in a deployment
        "serial_client_seconds": round(serial["seconds"] - serial["moto_seconds"], 3),  # ours and botocore's
    }


def fit(points: list[tuple[int, float]]) -> dict[str, float]:
    """Least squares ``seconds = fixed + per_account * N``, and the largest distance of a point from that line
    relative to the point (how linear the growth is)."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0
    fixed = mean_y - slope * mean_x
    worst = max(abs(y - (fixed + slope * x)) / y for x, y in points if y > 0) if points else 0.0
    return {"per_account": round(slope, 3), "fixed": round(fixed, 3), "worst_deviation": round(worst, 3)}


def run(
    account_counts: tuple[int, ...] = ACCOUNT_COUNTS,
    sessions: int = SESSIONS,
    workers: int = WORKERS,
    latency: float = LATENCY_SECONDS,
) -> dict[str, Any]:
    """One organization per N; its serial and parallel audits (see run_case)."""
    load_before = [round(x, 2) for x in os.getloadavg()]  # other work on the machine slows wall times, never calls
    cases = [run_case(n, sessions, workers, latency) for n in account_counts]
    load_after = [round(x, 2) for x in os.getloadavg()]
    per_account = [c["calls_per_account"] for c in cases]
    modes = list(cases[0]["seconds"])
    largest = max(cases, key=lambda c: c["accounts"])["seconds"]
    speedup = {"moto": round(largest["serial"] / largest["parallel"], 2)}
    if "serial_latency" in largest:
        speedup["latency"] = round(largest["serial_latency"] / largest["parallel_latency"], 2)
    return {
        "cases": cases,
        "sessions_per_account": sessions,
        "workers": workers,
        "latency_seconds": latency,
        "load_average": {"before": load_before, "after": load_after},
        "calls_per_account_constant": all(isinstance(n, int) for n in per_account) and len(set(per_account)) == 1,
        "fits": {mode: fit([(c["accounts"], c["seconds"][mode]) for c in cases]) for mode in modes},
        "cpu_fits": {
            mode: fit([(c["accounts"], c["cpu_seconds"][mode]) for c in cases]) for mode in ("serial", "parallel")
        },
        "speedup_at_largest": speedup,
    }
