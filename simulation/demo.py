"""`make demo`: the whole story on a simulated account, offline, in a few seconds.

Events are routed the way EventBridge would: every event is matched against the patterns in template.yaml and
handed to the functions whose rules match; the schedule invokes the functions the template gives a Schedule event.
Nothing here wires an event to a handler by hand.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
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

from simulation.account import AMI, SimulatedAccount  # noqa: E402
from simulation.eventbridge import Rule, load_rules, load_template, matching_rules  # noqa: E402
from simulation.lambda_runtime import LambdaContext  # noqa: E402
from simulation.strict_aws import StrictAws  # noqa: E402
from traffic_mirroring.config import Settings, load_settings  # noqa: E402
from traffic_mirroring.ec2_gateway import Ec2Gateway  # noqa: E402
from traffic_mirroring.model import Plan  # noqa: E402
from traffic_mirroring.observability import logger, metrics, monthly_cost  # noqa: E402
from traffic_mirroring.reconcile import plan_account  # noqa: E402
from traffic_mirroring.runtime import Runtime  # noqa: E402

STACK = "traffic-mirroring-demo"
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
ASG_NAME = "web-asg"
ASG_SIZE = 3
MANAGED_TAG = {"Key": "mirror-managed-by", "Value": STACK}


def _import_handler(code_uri: str, handler: str) -> Callable[..., Any]:
    module_name, function_name = handler.split(".", 1)
    module = importlib.import_module(code_uri.strip("/").replace("/", ".") + "." + module_name)
    return getattr(module, function_name)  # type: ignore[no-any-return]


def scheduled_functions(template: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(logical ID, CodeUri, Handler) of every function the template invokes on a schedule."""
    function_globals = (template.get("Globals") or {}).get("Function") or {}
    found = []
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource.get("Properties") or {}
        events = (properties.get("Events") or {}).values()
        if any(event.get("Type") in ("Schedule", "ScheduleV2") for event in events):
            handler = properties.get("Handler", function_globals.get("Handler"))
            found.append((logical_id, str(properties["CodeUri"]), str(handler)))
    return found


class EventBus:
    """Delivers events to the handlers whose template rules match, as EventBridge does."""

    def __init__(self, runtime: Runtime) -> None:
        template_path = str(ROOT / "template.yaml")
        self.rules = load_rules(template_path)
        self.scheduled = scheduled_functions(load_template(template_path))
        self.runtime = runtime
        self.delivered: Counter[str] = Counter()  # function logical ID → events delivered
        self.failures: list[str] = []

    def _invoke(self, function_logical_id: str, handler: Callable[..., Any], event: dict[str, Any]) -> Any:
        self.delivered[function_logical_id] += 1
        try:
            return handler(event, LambdaContext(function_name="demo"), runtime=self.runtime)
        except Exception as error:  # EventBridge would retry, then dead-letter; the demo records it
            self.failures.append(f"{function_logical_id}: {error}")
            return None
        finally:
            metrics.clear_metrics()

    def put(self, detail_type: str, source: str, detail: dict[str, Any], resources: list[str]) -> None:
        event = _envelope(detail_type, source, detail, resources)
        for rule in matching_rules(self.rules, event):
            self._invoke(rule.function_logical_id, _import_rule_handler(rule), event)

    def instance_state(self, instance_id: str, state: str) -> None:
        self.put(
            "EC2 Instance State-change Notification",
            "aws.ec2",
            {"instance-id": instance_id, "state": state},
            [_instance_arn(instance_id)],
        )

    def tag_change(self, instance_id: str, changed: list[str], tags: dict[str, str]) -> None:
        self.put(
            "Tag Change on Resource",
            "aws.tag",
            {"changed-tag-keys": changed, "service": "ec2", "resource-type": "instance", "version": 1, "tags": tags},
            [_instance_arn(instance_id)],
        )

    def autoscaling_launch(self, group_name: str, instance_id: str, zone: str, subnet_id: str) -> None:
        """An "EC2 Instance Launch Successful" event shaped like events/autoscaling-launch-successful.json."""
        sample: dict[str, Any] = json.loads((ROOT / "events" / "autoscaling-launch-successful.json").read_text())
        detail = copy.deepcopy(sample["detail"])
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        detail.update(
            {
                "AutoScalingGroupName": group_name,
                "ActivityId": str(uuid.uuid4()),
                "RequestId": str(uuid.uuid4()),
                "Description": f"Launching a new EC2 instance: {instance_id}",
                "Details": {"Availability Zone": zone, "Subnet ID": subnet_id},
                "EC2InstanceId": instance_id,
                "StartTime": now,
                "EndTime": now,
            }
        )
        group_arn = f"arn:aws:autoscaling:{REGION}:{ACCOUNT_ID}:autoScalingGroup:{uuid.uuid4()}"
        group_arn += f":autoScalingGroupName/{group_name}"
        self.put(sample["detail-type"], sample["source"], detail, [group_arn, _instance_arn(instance_id)])

    def schedule(self) -> dict[str, Any]:
        """The schedule fires: every function the template schedules runs once; returns the reconciler's report."""
        event = _envelope("Scheduled Event", "aws.events", {}, [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/demo"])
        summary: dict[str, Any] = {}
        for logical_id, code_uri, handler in self.scheduled:
            summary = self._invoke(logical_id, _import_handler(code_uri, handler), event) or summary
        return summary


def _import_rule_handler(rule: Rule) -> Callable[..., Any]:
    return _import_handler(rule.code_uri, rule.handler)


def _envelope(detail_type: str, source: str, detail: dict[str, Any], resources: list[str]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT_ID,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": resources,
        "detail": detail,
    }


def _instance_arn(instance_id: str) -> str:
    return f"arn:aws:ec2:{REGION}:{ACCOUNT_ID}:instance/{instance_id}"


class Printer:
    """Rich tables on a terminal, plain aligned text otherwise (CI logs, pipes, tests)."""

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
            self.console.print(text, highlight=False, markup=False)
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
        print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
        for row in rows:
            print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


# -- what the tables show ----------------------------------------------------------------------------------------
INSTANCE_COLUMNS = ["instance", "type", "AZ", "state", "mirror tag", "ENIs", "target per ENI", "session #", "status"]


def _ours(sessions: list[dict[str, Any]], instance_id: str | None = None) -> list[dict[str, Any]]:
    found = [s for s in sessions if MANAGED_TAG in s.get("Tags", [])]
    if instance_id:
        found = [s for s in found if {"Key": "mirror-instance-id", "Value": instance_id} in s["Tags"]]
    return found


def instance_rows(account: SimulatedAccount, names: dict[str, str], targets: dict[str, str]) -> list[list[str]]:
    """One row per instance: its ENIs in device order, our session's target and number on each ('-': none)."""
    sessions = account.sessions()
    ours_by_eni = {s["NetworkInterfaceId"]: s for s in _ours(sessions)}
    rows = []
    for instance_id, label in names.items():
        described = account.instance(instance_id)
        tags = {t["Key"]: t["Value"] for t in described.get("Tags", [])}
        nics = sorted(described.get("NetworkInterfaces", []), key=lambda n: n["Attachment"]["DeviceIndex"])
        on_enis = [ours_by_eni.get(n["NetworkInterfaceId"]) for n in nics]
        target_column = ", ".join(targets.get(s["TrafficMirrorTargetId"], "?") if s else "-" for s in on_enis)
        number_column = ", ".join(str(s["SessionNumber"]) if s else "-" for s in on_enis)
        attached = {n["NetworkInterfaceId"] for n in nics}
        orphans = [s for s in _ours(sessions, instance_id) if s["NetworkInterfaceId"] not in attached]
        if orphans:
            target_column = (target_column + " " if target_column else "") + f"+{len(orphans)} on a detached ENI"
        rows.append(
            [
                label,
                described["InstanceType"],
                described["Placement"]["AvailabilityZone"],
                described["State"]["Name"],
                tags.get("mirror", "-"),
                str(len(nics)),
                target_column or "-",
                number_column or "-",
                # A terminated instance keeps its last tags for a while, but nothing is mirrored or skipped any more.
                "-" if described["State"]["Name"] == "terminated" else tags.get("mirror-status", "-"),
            ]
        )
    return rows


def plan_rows(plan: Plan, names: dict[str, str], targets: dict[str, str]) -> list[list[str]]:
    def label(subject: str) -> str:
        return names.get(subject, subject)

    def target(target_id: str) -> str:
        return targets.get(target_id, target_id)

    rows = [
        ["create", label(c.instance_id), c.eni_id, f"→ {target(c.target_ids[0])} #{c.session_number}", c.reason]
        for c in plan.creates
    ]
    rows += [
        [
            "delete",
            label(d.subject),
            d.session.eni_id,
            f"{target(d.session.target_id)} #{d.session.session_number}",
            d.reason,
        ]
        for d in plan.deletes
    ]
    rows += [
        [
            "move",
            label(u.instance_id),
            u.session.eni_id,
            f"{target(u.session.target_id)} → {target(u.target_ids[0]) if u.target_ids else '(same)'}",
            u.reason,
        ]
        for u in plan.updates
    ]
    rows += [["skip", label(s.subject), s.eni_id or "-", "", s.reason] for s in plan.skips]
    return rows


def _cost(account: SimulatedAccount, settings: Settings) -> float:
    return monthly_cost(len(_ours(account.sessions())), settings.session_hourly_price)


# -- the story ---------------------------------------------------------------------------------------------------
@contextmanager
def simulated_account() -> Iterator[SimulatedAccount]:
    with mock_aws(), StrictAws():
        yield SimulatedAccount()


def launch_autoscaling_group(account: SimulatedAccount, zones: list[str]) -> list[str]:
    """An Auto Scaling group whose tag ``mirror=true`` propagates to the instances it launches.

    moto applies ``PropagateAtLaunch`` itself (it tags the instances ``mirror=true`` and ``aws:autoscaling:groupName``),
    so the demo relies on the group, not on tagging the instances by hand.
    """
    account.ec2.create_launch_template(
        LaunchTemplateName=ASG_NAME, LaunchTemplateData={"ImageId": AMI, "InstanceType": "m5.large"}
    )
    account.autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=ASG_NAME,
        LaunchTemplate={"LaunchTemplateName": ASG_NAME, "Version": "$Latest"},
        MinSize=ASG_SIZE,
        MaxSize=ASG_SIZE,
        DesiredCapacity=ASG_SIZE,
        VPCZoneIdentifier=",".join(account.subnets[zone] for zone in zones),
        Tags=[
            {
                "ResourceId": ASG_NAME,
                "ResourceType": "auto-scaling-group",
                "Key": "mirror",
                "Value": "true",
                "PropagateAtLaunch": True,
            },
            {
                "ResourceId": ASG_NAME,
                "ResourceType": "auto-scaling-group",
                "Key": "team",
                "Value": "web",
                "PropagateAtLaunch": False,
            },
        ],
    )
    group = account.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[ASG_NAME])["AutoScalingGroups"][0]
    return sorted(i["InstanceId"] for i in group["Instances"])


def run(out: Printer | None = None) -> dict[str, Any]:
    """Run the story; return the final facts (the demo test asserts them)."""
    out = out or Printer()
    started = time.monotonic()
    with simulated_account() as account:
        zone_a, zone_b = account.zones[:2]
        targets = {
            account.eni_target(zone_a): "eni-a",
            account.eni_target(zone_b): "eni-b",
            account.nlb_target([zone_a, zone_b]): "nlb",
        }
        filter_id = account.mirror_filter()
        settings = load_settings({"TARGET_IDS": ",".join(targets), "FILTER_ID": filter_id, "MANAGED_BY": STACK})
        runtime = Runtime(settings, Ec2Gateway(account.ec2, account.elbv2))
        bus = EventBus(runtime)
        foreign_target = account.eni_target(zone_a)
        all_targets = {**targets, foreign_target: "net-team"}

        # -- the fleet: about 20 instances over two AZs ----------------------------------------------------------
        tagged = {"mirror": "true"}
        names: dict[str, str] = {}

        def launch(label: str, instance_type: str, tags: dict[str, str], zone: str, extra_enis: int = 0) -> str:
            instance_id = account.launch(instance_type, tags, zone=zone, extra_enis=extra_enis)
            names[instance_id] = label
            return instance_id

        for index in range(4):
            launch(f"web-{index + 1}", "m5.large", tagged, (zone_a, zone_b)[index % 2])
        launch("db-1", "c5.xlarge", tagged, zone_a, extra_enis=2)
        app_1 = launch("app-1", "r5.large", tagged, zone_b, extra_enis=1)
        launch("app-2", "r5.large", tagged, zone_a, extra_enis=1)
        launch("legacy-xen", "c4.large", {"mirror": "True"}, zone_b)  # Xen, but a supported family; any case
        launch("storage-1", "i3.large", tagged, zone_a)
        launch("arm-1", "m6g.large", tagged, zone_b)
        launch("t2-micro", "t2.micro", tagged, zone_a)  # Xen, not supported
        launch("m6i-large", "m6i.large", tagged, zone_b)  # Nitro, but a family AWS excludes
        launch("metal-1", "m5.metal", tagged, zone_a)  # bare metal: never
        tagged_later = launch("tagged-later", "m5.large", {"Name": "not-asked"}, zone_a)
        launch("opted-out", "m5.large", {"mirror": "false"}, zone_b)
        busy = launch("busy", "m5.large", tagged, zone_a)
        for number in (1, 2, 3):  # the network team's sessions fill the ENI: AWS allows 3 per ENI
            account.foreign_session(account.enis_of(busy)[0], foreign_target, filter_id, number)
        # A session of someone else's holds number 1 on app-1's first ENI: ours takes the lowest free one, 2.
        account.foreign_session(account.enis_of(app_1)[0], foreign_target, filter_id, 1)
        launch("batch-1", "m5.large", tagged, zone_b, extra_enis=1)  # the secondary ENI survives termination
        launch("batch-2", "m5.large", tagged, zone_a, extra_enis=1)
        foreign_before = {s["TrafficMirrorSessionId"]: s for s in account.sessions() if MANAGED_TAG not in s["Tags"]}

        for instance_id in list(names):
            bus.instance_state(instance_id, "running")
        asg_instances = launch_autoscaling_group(account, [zone_a, zone_b])
        for index, instance_id in enumerate(asg_instances):
            names[instance_id] = f"asg-{index + 1}"
            zone = account.instance(instance_id)["Placement"]["AvailabilityZone"]
            # AWS also sends each of them an EC2 "running" state change; only the Auto Scaling event is delivered
            # here, so the table shows that path mirroring them on its own.
            bus.autoscaling_launch(ASG_NAME, instance_id, zone, account.subnets[zone])

        out.heading(f"After the launches: {len(names)} instances in {zone_a} and {zone_b}")
        out.line(f"Pool: eni-a ({zone_a}), eni-b ({zone_b}), nlb ({zone_a}+{zone_b}); filter {filter_id}")
        out.line(f"asg-1..{ASG_SIZE}: launched by Auto Scaling group {ASG_NAME}, whose tag mirror=true propagates")
        out.table(INSTANCE_COLUMNS, instance_rows(account, names, all_targets))
        after_launch = {
            "sessions": account.sessions(),
            "instances": {iid: account.instance(iid) for iid in names},
            "delivered": dict(bus.delivered),
        }
        cost_launch = _cost(account, settings)
        out.line(f"Monthly Traffic Mirroring cost of our sessions: ${cost_launch:,.2f}")

        # -- a day later --------------------------------------------------------------------------------------------
        out.heading("A day later")
        by_label = {label: iid for iid, label in names.items()}

        account.untag(by_label["web-1"], "mirror")
        bus.tag_change(by_label["web-1"], ["mirror"], {})
        out.line("web-1: mirror tag removed (event delivered: its session is deleted at once)")
        account.untag(by_label["web-2"], "mirror")
        out.line("web-2: mirror tag removed (event LOST: tag events are delivered on a best-effort basis)")
        account.tag(tagged_later, mirror="true")
        bus.tag_change(tagged_later, ["mirror"], {"Name": "not-asked", "mirror": "true"})
        out.line("tagged-later: mirror=true added (event delivered: mirrored at once)")
        account.stop(by_label["web-3"])
        bus.instance_state(by_label["web-3"], "stopped")
        out.line("web-3: stopped (AWS keeps billing a stopped instance's sessions: deleted)")
        account.terminate(by_label["batch-1"])
        bus.instance_state(by_label["batch-1"], "terminated")
        out.line("batch-1: terminated; its secondary ENI survived with its session (deleted by the event)")
        account.terminate(by_label["batch-2"])
        out.line("batch-2: terminated; its secondary ENI survived (event LOST: its session keeps billing)")
        hand_deleted = _ours(account.sessions(), by_label["web-4"])[0]["TrafficMirrorSessionId"]
        account.ec2.delete_traffic_mirror_session(TrafficMirrorSessionId=hand_deleted)
        out.line("web-4: its session deleted by hand in the console")
        retired = next(t for t, label in targets.items() if label == "eni-b")
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
        out.line("eni-b: retired from the pool (stack redeployed with TargetIds = eni-a, nlb)")
        cost_before = _cost(account, settings)

        # -- the scheduled reconciler -------------------------------------------------------------------------------
        plan = plan_account(runtime.gateway, runtime.settings)
        out.heading("The scheduled reconciler's plan")
        out.table(["action", "instance", "ENI", "session", "reason"], plan_rows(plan, names, all_targets))
        summary = bus.schedule()
        out.heading("After the reconciler")
        out.table(INSTANCE_COLUMNS, instance_rows(account, names, all_targets))
        cost_after = _cost(account, settings)
        out.line(
            f"Reconciler: created {summary.get('sessions_created')}, moved {summary.get('sessions_moved')}, "
            f"deleted {summary.get('sessions_deleted')}, skipped {summary.get('sessions_skipped')}"
        )
        out.line(
            f"Monthly Traffic Mirroring cost of our sessions: ${cost_before:,.2f} before the reconciler, "
            f"${cost_after:,.2f} after (${summary.get('monthly_cost_avoided', 0):,.2f} a month no longer billed "
            "for sessions nobody needs)"
        )
        if bus.failures:
            out.line(f"Failures (EventBridge would retry, then dead-letter): {bus.failures}")
        foreign_after = {s["TrafficMirrorSessionId"]: s for s in account.sessions() if MANAGED_TAG not in s["Tags"]}
        untouched = foreign_after == foreign_before
        out.line(f"Sessions of others ({len(foreign_before)}): {'untouched' if untouched else 'CHANGED'}")
        delivered = ", ".join(f"{name} {count}" for name, count in sorted(bus.delivered.items()))
        out.line(f"Events delivered through the template's rules: {delivered}")
        out.line(f"Took {time.monotonic() - started:.1f} s")
        return {
            "account": account,
            "names": names,
            "targets": targets,
            "retired": retired,
            "asg_instances": asg_instances,
            "after_launch": after_launch,
            "plan": plan,
            "foreign_before": foreign_before,
            "foreign_after": foreign_after,
            "summary": summary,
            "failures": bus.failures,
            "delivered": dict(bus.delivered),
            "sessions": account.sessions(),
            "instances": {iid: account.instance(iid) for iid in names},
            "cost": {"after_launch": cost_launch, "before": cost_before, "after": cost_after},
        }


def main() -> int:
    os.environ.update(DEMO_ENVIRONMENT)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    logger.setLevel(DEMO_ENVIRONMENT["POWERTOOLS_LOG_LEVEL"])  # the logger was built at import, before the env
    result = run()
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
