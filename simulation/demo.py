"""`make demo`: the whole story on a simulated account, offline, in a few seconds.

Events are routed the way EventBridge would: every event is matched against the patterns in template.yaml and
handed to the functions whose rules match. Nothing here wires an event to a handler by hand.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "mirroring" / "python"))

DEMO_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "demo",
    "AWS_SECRET_ACCESS_KEY": "demo",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
    "POWERTOOLS_METRICS_NAMESPACE": "TrafficMirroringDemo",
    "POWERTOOLS_METRICS_DISABLED": "true",  # the demo prints its own summary instead of EMF lines
}

from moto import mock_aws  # noqa: E402

from simulation.account import SimulatedAccount  # noqa: E402
from simulation.eventbridge import Rule, load_rules, matching_rules  # noqa: E402
from simulation.strict_aws import StrictAws  # noqa: E402
from traffic_mirroring.config import load_settings  # noqa: E402
from traffic_mirroring.ec2_gateway import Ec2Gateway  # noqa: E402
from traffic_mirroring.observability import HOURS_PER_MONTH, metrics  # noqa: E402
from traffic_mirroring.runtime import Runtime  # noqa: E402

STACK = "traffic-mirroring-demo"


@dataclass
class Context:
    function_name: str = "demo"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:demo"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


class EventBus:
    """Delivers events to the handlers whose template rules match, as EventBridge does."""

    def __init__(self, runtime: Runtime, out: Callable[[str], None]) -> None:
        self.rules = load_rules(str(ROOT / "template.yaml"))
        self.runtime = runtime
        self.out = out
        self.delivered = 0
        self.failures: list[str] = []

    def _handler(self, rule: Rule) -> Callable[..., Any]:
        module = importlib.import_module(rule.code_uri.strip("/").replace("/", ".") + "." + rule.handler.split(".")[0])
        return getattr(module, rule.handler.split(".")[1])  # type: ignore[no-any-return]

    def put(self, detail_type: str, source: str, detail: dict[str, Any], resources: list[str]) -> None:
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": source,
            "account": "123456789012",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": "us-east-1",
            "resources": resources,
            "detail": detail,
        }
        for rule in matching_rules(self.rules, event):
            self.delivered += 1
            try:
                self._handler(rule)(event, Context(), runtime=self.runtime)
            except Exception as error:
                self.failures.append(f"{rule.function_logical_id}: {error}")
            metrics.clear_metrics()

    def instance_state(self, instance_id: str, state: str) -> None:
        self.put(
            "EC2 Instance State-change Notification",
            "aws.ec2",
            {"instance-id": instance_id, "state": state},
            [f"arn:aws:ec2:us-east-1:123456789012:instance/{instance_id}"],
        )

    def tag_change(self, instance_id: str, changed: list[str], tags: dict[str, str]) -> None:
        self.put(
            "Tag Change on Resource",
            "aws.tag",
            {"changed-tag-keys": changed, "service": "ec2", "resource-type": "instance", "version": 1, "tags": tags},
            [f"arn:aws:ec2:us-east-1:123456789012:instance/{instance_id}"],
        )

    def schedule(self) -> dict[str, Any]:
        from functions.scheduled_reconciler.app import handler

        result: dict[str, Any] = handler(
            {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": "123456789012",
                "time": "2026-11-25T10:00:00Z",
                "region": "us-east-1",
                "resources": [],
                "detail": {},
            },
            Context(),
            runtime=self.runtime,
        )
        metrics.clear_metrics()
        return result


class Printer:
    def __init__(self) -> None:
        self.rich = sys.stdout.isatty()
        if self.rich:
            from rich.console import Console

            self.console = Console()

    def heading(self, text: str) -> None:
        if self.rich:
            self.console.rule(f"[bold]{text}")
        else:
            print(f"\n== {text} ==")

    def line(self, text: str) -> None:
        if self.rich:
            self.console.print(text, highlight=False)
        else:
            print(text)

    def table(self, columns: list[str], rows: list[list[str]]) -> None:
        if self.rich:
            from rich.table import Table

            table = Table(*columns)
            for row in rows:
                table.add_row(*row)
            self.console.print(table)
            return
        widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
        print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
        for row in rows:
            print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def instance_rows(account: SimulatedAccount, names: dict[str, str], targets: dict[str, str]) -> list[list[str]]:
    rows = []
    for instance_id, label in names.items():
        described = account.instance(instance_id)
        tags = {t["Key"]: t["Value"] for t in described.get("Tags", [])}
        enis = [n["NetworkInterfaceId"] for n in described.get("NetworkInterfaces", [])]
        ours = [
            s for s in account.sessions() if {"Key": "mirror-instance-id", "Value": instance_id} in s.get("Tags", [])
        ]
        rows.append(
            [
                label,
                described["InstanceType"],
                described["Placement"]["AvailabilityZone"],
                described["State"]["Name"],
                str(len(enis)),
                ",".join(sorted({targets.get(s["TrafficMirrorTargetId"], "?") for s in ours})) or "-",
                ",".join(str(s["SessionNumber"]) for s in ours) or "-",
                tags.get("mirror-status", "-"),
            ]
        )
    return rows


@contextmanager
def simulated_account() -> Iterator[SimulatedAccount]:
    with mock_aws(), StrictAws():
        yield SimulatedAccount()


def run(out: Printer | None = None) -> dict[str, Any]:
    """Run the story; return the final facts (the demo test asserts them)."""
    out = out or Printer()
    started = time.monotonic()
    with simulated_account() as account:
        zone_a, zone_b = account.zones[:2]
        targets = {
            account.eni_target(zone_a): "eni-target-a",
            account.eni_target(zone_b): "eni-target-b",
            account.nlb_target([zone_a, zone_b]): "nlb-target",
        }
        filter_id = account.mirror_filter()
        settings = load_settings({"TARGET_IDS": ",".join(targets), "FILTER_ID": filter_id, "MANAGED_BY": STACK})
        runtime = Runtime(settings, Ec2Gateway(account.ec2, account.elbv2))
        bus = EventBus(runtime, out.line)

        tagged = {"mirror": "true"}
        names: dict[str, str] = {}
        for index in range(4):
            names[account.launch("m5.large", tagged, zone=(zone_a, zone_b)[index % 2])] = f"web-{index + 1}"
        names[account.launch("c5.xlarge", tagged, zone=zone_a, extra_enis=2)] = "db-1 (3 ENIs)"
        names[account.launch("c4.large", {"mirror": "True"}, zone=zone_b)] = "legacy-xen"
        names[account.launch("t2.micro", tagged)] = "t2-unsupported"
        names[account.launch("m6i.large", tagged)] = "m6i-unsupported"
        names[account.launch("m5.large", {"Name": "not-tagged"})] = "untagged"
        busy = account.launch("m5.large", tagged, zone=zone_a)
        names[busy] = "busy (3 foreign)"
        foreign_target = account.eni_target(zone_a)
        for number in (1, 2, 3):
            account.foreign_session(account.enis_of(busy)[0], foreign_target, filter_id, number)
        names[account.launch("m5.large", tagged, zone=zone_b, extra_enis=1, extra_enis_delete_on_termination=False)] = (
            "batch-1 (2 ENIs)"
        )
        for index in range(3):
            names[account.launch("m5.large", tagged, zone=(zone_a, zone_b)[index % 2])] = f"asg-{index + 1}"
        foreign_before = {
            s["TrafficMirrorSessionId"]: s
            for s in account.sessions()
            if {"Key": "mirror-managed-by", "Value": STACK} not in s.get("Tags", [])
        }

        for instance_id in names:
            bus.instance_state(instance_id, "running")
        out.heading("After launch: every supported tagged instance is mirrored")
        columns = ["instance", "type", "AZ", "state", "ENIs", "target", "session #", "status"]
        out.table(columns, instance_rows(account, names, targets))
        cost_before = len(_ours(account)) * settings.session_hourly_price * HOURS_PER_MONTH

        out.heading("A day later")
        by_label = {label: iid for iid, label in names.items()}
        account.untag(by_label["web-1"], "mirror")
        bus.tag_change(by_label["web-1"], ["mirror"], {})
        out.line("web-1: mirror tag removed (event delivered)")
        account.untag(by_label["web-2"], "mirror")
        out.line("web-2: mirror tag removed (event LOST: tag events are best effort)")
        account.stop(by_label["web-3"])
        bus.instance_state(by_label["web-3"], "stopped")
        out.line("web-3: stopped")
        account.terminate(by_label["batch-1 (2 ENIs)"])
        out.line("batch-1: terminated, its secondary ENI survived (event LOST)")
        account.ec2.delete_traffic_mirror_session(
            TrafficMirrorSessionId=_ours(account, by_label["asg-1"])[0]["TrafficMirrorSessionId"]
        )
        out.line("asg-1: its session deleted by hand")
        retired = next(t for t, label in targets.items() if label == "eni-target-b")
        runtime = Runtime(
            load_settings(
                {
                    "TARGET_IDS": ",".join(t for t in targets if t != retired),
                    "FILTER_ID": filter_id,
                    "MANAGED_BY": STACK,
                }
            ),
            Ec2Gateway(account.ec2, account.elbv2),
        )
        bus.runtime = runtime
        out.line("eni-target-b: retired from the pool (stack redeployed)")

        from traffic_mirroring.reconcile import plan_account

        plan = plan_account(runtime.gateway, runtime.settings)
        out.heading("The scheduled reconciler's plan")
        plan_rows = [
            ["create", c.instance_id and names.get(c.instance_id, c.instance_id), c.eni_id, c.reason]
            for c in plan.creates
        ]
        plan_rows += [["delete", names.get(d.subject, d.subject), d.session.eni_id, d.reason] for d in plan.deletes]
        plan_rows += [
            ["move", names.get(u.instance_id, u.instance_id), u.session.eni_id, u.reason] for u in plan.updates
        ]
        out.table(["action", "instance", "ENI", "reason"], [[str(v) for v in row] for row in plan_rows])
        summary = bus.schedule()
        out.heading("After the reconciler")
        out.table(columns, instance_rows(account, names, targets))
        cost_after = len(_ours(account)) * settings.session_hourly_price * HOURS_PER_MONTH
        out.line(
            f"Managed sessions: created {summary['sessions_created']}, moved {summary['sessions_moved']}, "
            f"deleted {summary['sessions_deleted']}"
        )
        out.line(
            f"Monthly Traffic Mirroring cost: ${cost_before:,.2f} before, ${cost_after:,.2f} after "
            f"(${summary['monthly_cost_avoided']:,.2f} a month no longer billed for orphans)"
        )
        if bus.failures:
            out.line(f"Failures (EventBridge would retry, then dead-letter): {bus.failures}")
        foreign_after = {s["TrafficMirrorSessionId"]: s for s in account.sessions()}
        out.line(f"Foreign sessions untouched: {all(foreign_after.get(k) == v for k, v in foreign_before.items())}")
        out.line(
            f"Events delivered through the template's rules: {bus.delivered}; took {time.monotonic() - started:.1f} s"
        )
        return {
            "account": account,
            "names": names,
            "targets": targets,
            "retired": retired,
            "foreign_before": foreign_before,
            "foreign_after": foreign_after,
            "summary": summary,
            "failures": bus.failures,
            "sessions": account.sessions(),
            "instances": {iid: account.instance(iid) for iid in names},
        }


def _ours(account: SimulatedAccount, instance_id: str | None = None) -> list[dict[str, Any]]:
    found = [s for s in account.sessions() if {"Key": "mirror-managed-by", "Value": STACK} in s.get("Tags", [])]
    if instance_id:
        found = [s for s in found if {"Key": "mirror-instance-id", "Value": instance_id} in s["Tags"]]
    return found


def main() -> int:
    os.environ.update(DEMO_ENVIRONMENT)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    result = run()
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
