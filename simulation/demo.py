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
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

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
from moto.moto_api._internal import mock_random  # noqa: E402

from mirror_cli.table import Cell, fit_table, terminal_width, wrap_text  # noqa: E402
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
SEED = 2025  # moto's IDs: the same every run
MANAGED_TAG = {"Key": "mirror-managed-by", "Value": STACK}
# Families AWS does not list as sources; the simulated AWS accepts the first and refuses the second when asked.
# The pool's targets by what they are, in every table (a target's ID says nothing, and eni-… would read as a source
# ENI): an appliance's ENI in each zone, and a Network Load Balancer over both. Another team's target: its name.
APPLIANCE_A, APPLIANCE_B, NLB, OTHER_TEAM = "appliance-a", "appliance-b", "nlb", "net-team"
ACCEPTED_UNLISTED_FAMILY = "m8g"
REFUSED_UNLISTED_FAMILY = "c8g"


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
        self.verdicts: dict[str, str] = {}  # instance type → what AWS answered, as the functions reported it

    def _invoke(self, function_logical_id: str, handler: Callable[..., Any], event: dict[str, Any]) -> Any:
        self.delivered[function_logical_id] += 1
        try:
            result = handler(event, LambdaContext(function_name="demo"), runtime=self.runtime)
        except Exception as error:  # EventBridge would retry, then dead-letter; the demo records it
            self.failures.append(f"{function_logical_id}: {error}")
            return None
        finally:
            metrics.clear_metrics()
        if isinstance(result, dict):  # only answers: "ask-aws" says this container has not asked yet
            verdicts = result.get("instance_type_verdicts") or {}
            self.verdicts.update({name: verdict for name, verdict in verdicts.items() if verdict != "ask-aws"})
        return result

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
    """Text that fits the terminal (80 columns in a pipe), no cell ever cut: tables wrap between words and keep
    every ID whole (``mirror_cli.table.fit_table``). On a terminal, rich draws the headings."""

    def __init__(self, width: int | None = None, file: TextIO | None = None, rich: bool | None = None) -> None:
        self.file = file or sys.stdout
        self.width = width or terminal_width()
        self.rich = self.file.isatty() if rich is None else rich
        if self.rich:
            from rich.console import Console

            self.console = Console(file=self.file, width=self.width, highlight=False)

    def _print(self, text: str, style: str | None = None) -> None:
        if self.rich:
            self.console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)
        else:
            print(text, file=self.file)

    def heading(self, text: str) -> None:
        if self.rich:
            from rich.text import Text

            self.console.rule(Text(text, style="bold"))
        else:
            self._print("")
            for line in wrap_text(f"== {text} ==", self.width):
                self._print(line)

    def line(self, text: str) -> None:
        for line in wrap_text(text, self.width):
            self._print(line)

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Cell]], align: str = "") -> None:
        lines = fit_table(columns, rows, self.width, indent=0, align=align, underline=True)
        header = next((n + 1 for n, line in enumerate(lines) if line and set(line) <= {"-", " "}), 0)
        for number, line in enumerate(lines):
            self._print(line, "bold" if number < header else None)


# -- what the tables show ----------------------------------------------------------------------------------------
INSTANCE_COLUMNS = ["instance", "type", "AZ", "mirror tag", "sessions per ENI", "status"]
PLAN_COLUMNS = ["instance", "ENI", "change", "reason"]


def _ours(sessions: list[dict[str, Any]], instance_id: str | None = None) -> list[dict[str, Any]]:
    found = [s for s in sessions if MANAGED_TAG in s.get("Tags", [])]
    if instance_id:
        found = [s for s in found if {"Key": "mirror-instance-id", "Value": instance_id} in s["Tags"]]
    return found


def instance_rows(account: SimulatedAccount, names: dict[str, str], targets: dict[str, str]) -> list[list[Cell]]:
    """One row per instance, in launch order: on each ENI (device order) our session's target and number ('-':
    none), and the mirror-status tag, after the state when the instance is not running."""
    sessions = account.sessions()
    ours_by_eni = {s["NetworkInterfaceId"]: s for s in _ours(sessions)}
    rows: list[list[Cell]] = []
    for instance_id, label in names.items():
        described = account.instance(instance_id)
        tags = {t["Key"]: t["Value"] for t in described.get("Tags", [])}
        nics = sorted(described.get("NetworkInterfaces", []), key=lambda n: n["Attachment"]["DeviceIndex"])
        on_enis = [ours_by_eni.get(n["NetworkInterfaceId"]) for n in nics]
        per_eni = [
            f"{targets.get(s['TrafficMirrorTargetId'], '?')} #{s['SessionNumber']}" if s else "-" for s in on_enis
        ]
        attached = {n["NetworkInterfaceId"] for n in nics}
        orphans = [s for s in _ours(sessions, instance_id) if s["NetworkInterfaceId"] not in attached]
        if orphans:
            per_eni.append(f"+{len(orphans)} detached")
        state = described["State"]["Name"]
        # A terminated instance keeps its last tags for a while, but nothing is mirrored or skipped any more.
        status = "" if state == "terminated" else tags.get("mirror-status", "")
        if state != "running":
            status = f"{state}: {status}" if status else state
        sessions_cell: Cell = [f"{cell}," for cell in per_eni[:-1]] + per_eni[-1:] if per_eni else None
        rows.append(
            [
                label,
                described["InstanceType"],
                described["Placement"]["AvailabilityZone"].removeprefix(REGION[:-1]),  # us-east-1a → 1a
                tags.get("mirror", "-"),
                sessions_cell,
                status or "-",
            ]
        )
    return rows


def plan_rows(
    plan: Plan, names: dict[str, str], targets: dict[str, str], eni_order: Mapping[str, int]
) -> list[list[Cell]]:
    """The plan, one row per change, sorted by instance, then ENI (device order), so every run prints it alike."""

    def label(subject: str) -> str:
        return names.get(subject, subject)

    def target(target_id: str) -> str:
        return targets.get(target_id, target_id)

    rows: list[tuple[str, str | None, list[Cell]]] = []
    for c in plan.creates:
        change = [f"create → {target(c.target_ids[0])} #{c.session_number}"]
        if getattr(c, "probe_type", None):  # the create asks AWS whether this type can be a source
            change.append("(asks AWS)")
        rows.append((label(c.instance_id), c.eni_id, [label(c.instance_id), c.eni_id, change, c.reason]))
    for d in plan.deletes:
        change = [f"delete {target(d.session.target_id)} #{d.session.session_number}"]
        rows.append((label(d.subject), d.session.eni_id, [label(d.subject), d.session.eni_id, change, d.reason]))
    for u in plan.updates:
        to = target(u.target_ids[0]) if u.target_ids else "(same target)"
        change = [f"move {target(u.session.target_id)} → {to}"]
        rows.append(
            (label(u.instance_id), u.session.eni_id, [label(u.instance_id), u.session.eni_id, change, u.reason])
        )
    for k in plan.skips:
        rows.append((label(k.subject), k.eni_id, [label(k.subject), k.eni_id or "-", "skip", k.reason]))
    rows.sort(key=lambda row: (row[0], eni_order.get(row[1] or "", -1), str(row[2][2]), str(row[2][3])))
    return [row for _, _, row in rows]


def _cost(account: SimulatedAccount, settings: Settings) -> float:
    return monthly_cost(len(_ours(account.sessions())), settings.session_hourly_price)


def cost_rows(
    before: list[dict[str, Any]], after: list[dict[str, Any]], plan: Plan, names: dict[str, str], price: float
) -> list[list[Cell]]:
    """Our sessions before and after the reconciler, and the difference, session by session, so that
    before - no longer billed + newly billed = after holds by construction (a move keeps its session)."""
    ours_before = {s["TrafficMirrorSessionId"]: s for s in _ours(before)}
    ours_after = {s["TrafficMirrorSessionId"]: s for s in _ours(after)}
    removed = [ours_before[i] for i in sorted(set(ours_before) - set(ours_after))]
    added = [ours_after[i] for i in sorted(set(ours_after) - set(ours_before))]
    why_deleted = {d.session.session_id: d.reason for d in plan.deletes}
    why_created = {c.eni_id: c.reason for c in plan.creates}

    def owners(sessions: list[dict[str, Any]], why: Callable[[dict[str, Any]], str]) -> list[str]:
        found = []
        for session in sessions:
            tags = {t["Key"]: t["Value"] for t in session.get("Tags", [])}
            owner = tags.get("mirror-instance-id", "")
            found.append(f"{names.get(owner, owner)} ({why(session) or 'changed'})")
        return sorted(found)

    def listed(items: list[str]) -> list[str]:
        return [f"{item}," for item in items[:-1]] + items[-1:]

    gone = owners(removed, lambda s: why_deleted.get(s["TrafficMirrorSessionId"], ""))
    new = owners(added, lambda s: why_created.get(s["NetworkInterfaceId"], ""))
    return [
        [["before the reconciler"], str(len(ours_before)), f"${monthly_cost(len(ours_before), price):,.2f}", ""],
        [["no longer billed"], f"-{len(removed)}", f"-${monthly_cost(len(removed), price):,.2f}", listed(gone)],
        [["newly billed"], f"+{len(added)}", f"+${monthly_cost(len(added), price):,.2f}", listed(new)],
        [["after the reconciler"], str(len(ours_after)), f"${monthly_cost(len(ours_after), price):,.2f}", ""],
    ]


def _new_sessions(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    known = {s["TrafficMirrorSessionId"] for s in _ours(before)}
    return [s for s in _ours(after) if s["TrafficMirrorSessionId"] not in known]


def _owners(sessions: list[dict[str, Any]], names: Mapping[str, str]) -> list[str]:
    """The demo names of the instances these sessions mirror, sorted."""
    owners = ({t["Key"]: t["Value"] for t in s.get("Tags", [])}.get("mirror-instance-id", "") for s in sessions)
    return sorted({names.get(owner, owner) for owner in owners})


def _tags(described: Mapping[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in described.get("Tags", [])}


def creates_line(
    plan: Plan,
    before: list[dict[str, Any]],
    runs: Sequence[list[dict[str, Any]]],
    statuses: Mapping[str, str | None],
    names: Mapping[str, str],
) -> str:
    """Why the first run created fewer sessions than it planned, create by create, from what the account shows
    after each run (``runs``: the sessions after the first, the second, ...): created; asked AWS about a type not on
    its list and refused (the instance's status after the first run says so); created by a later run; not created."""
    new_enis = [{s["NetworkInterfaceId"] for s in _new_sessions(before, after)} for after in runs]
    created, refused, later, not_created = [], [], [], []
    for create in sorted(plan.creates, key=lambda c: names.get(c.instance_id, c.instance_id)):
        name = names.get(create.instance_id, create.instance_id)
        if create.eni_id in new_enis[0]:
            created.append(name)
        elif create.probe_type and statuses.get(create.instance_id) == "unsupported-instance-type":
            refused.append(f"{name} ({create.probe_type})")
        elif any(create.eni_id in enis for enis in new_enis[1:]):
            later.append(name)
        else:
            not_created.append(f"{name} ({statuses.get(create.instance_id) or 'no status'})")
    parts = [f"{len(created)} created" + (f" ({', '.join(created)})" if created else "")]
    if refused:
        parts.append(
            f"{len(refused)} asked AWS whether a type not on its list can be a source, and AWS said no: "
            + ", ".join(refused)
        )
    if later:
        parts.append(f"{len(later)} created by a later run (below): " + ", ".join(later))
    if not_created:
        parts.append(f"{len(not_created)} not created: " + ", ".join(not_created))
    return f"Of the {len(plan.creates)} creates planned, the first run made: " + "; ".join(parts)


def _run_line(summary: Mapping[str, Any]) -> str:
    return (
        f"created {_counts(summary.get('sessions_created'))}, moved {_counts(summary.get('sessions_moved'))}, "
        f"deleted {_counts(summary.get('sessions_deleted'))}, skipped {_counts(summary.get('sessions_skipped'))}"
    )


def _counts(counts: Any) -> str:
    """A reconcile summary's count: a number, or reason → count (shown as the total and each reason)."""
    if isinstance(counts, Mapping):
        parts = ", ".join(f"{reason} {count}" for reason, count in sorted(counts.items()))
        return f"{sum(counts.values())} ({parts})" if parts else "0"
    return str(counts if counts is not None else 0)


def _verdicts(verdicts: Mapping[str, str]) -> str:
    return ", ".join(f"{instance_type} {verdict}" for instance_type, verdict in sorted(verdicts.items()))


# -- the story ---------------------------------------------------------------------------------------------------
@contextmanager
def simulated_account(seed: int | None = SEED) -> Iterator[SimulatedAccount]:
    """An offline account held to AWS's rules. Asked about the unlisted ``ACCEPTED_UNLISTED_FAMILY``, its AWS says
    yes (as AWS does for families newer than its list); every other unlisted family is refused.

    moto draws its IDs from one random generator: seeded, every run gets the same IDs, so the same output (the
    generator's state is restored afterwards). None: random IDs.
    """
    state = mock_random.getstate()
    if seed is not None:
        mock_random.seed(seed)
    try:
        with mock_aws(), StrictAws() as layer:
            accept_family = getattr(layer, "accept_family", None)
            if callable(accept_family):
                accept_family(ACCEPTED_UNLISTED_FAMILY)
            yield SimulatedAccount()
    finally:
        mock_random.setstate(state)


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


def run(
    out: Printer | None = None,
    inspect: Callable[[SimulatedAccount], Any] | None = None,
    seed: int | None = SEED,
) -> dict[str, Any]:
    """Run the story; return the final facts (the demo test asserts them). ``inspect`` is called with the account
    at the end, while it still exists; its result is returned as ``inspected``. ``seed``: see simulated_account."""
    out = out or Printer()
    started = time.monotonic()
    with simulated_account(seed) as account:
        zone_a, zone_b = account.zones[:2]
        targets = {
            account.eni_target(zone_a): APPLIANCE_A,
            account.eni_target(zone_b): APPLIANCE_B,
            account.nlb_target([zone_a, zone_b]): NLB,
        }
        filter_id = account.mirror_filter()
        settings = load_settings({"TARGET_IDS": ",".join(targets), "FILTER_ID": filter_id, "MANAGED_BY": STACK})
        runtime = Runtime(settings, Ec2Gateway(account.ec2, account.elbv2))
        bus = EventBus(runtime)
        foreign_target = account.eni_target(zone_a)
        all_targets = {**targets, foreign_target: OTHER_TEAM}

        # -- the fleet: about 20 instances over two AZs ----------------------------------------------------------
        tagged = {"mirror": "true"}
        names: dict[str, str] = {}
        eni_order: dict[str, int] = {}  # ENI → its device index (ENIs of terminated instances are gone later)

        def launch(label: str, instance_type: str, tags: dict[str, str], zone: str, extra_enis: int = 0) -> str:
            instance_id = account.launch(instance_type, tags, zone=zone, extra_enis=extra_enis)
            names[instance_id] = label
            return instance_id

        for index in range(4):
            launch(f"web-{index + 1}", "m5.large", tagged, (zone_a, zone_b)[index % 2])
        launch("db-1", "c5.xlarge", tagged, zone_a, extra_enis=2)
        app_1 = launch("app-1", "r5.large", tagged, zone_b, extra_enis=1)
        launch("app-2", "r5.large", tagged, zone_a, extra_enis=1)
        launch("api-1", "m7i.large", tagged, zone_b)  # current families, on AWS's list since 2025-08-28
        launch("arm-1", "c7g.large", tagged, zone_a)
        launch("legacy-xen", "c4.large", {"mirror": "True"}, zone_b)  # Xen, but a listed family; any case
        launch("storage-1", "i3.large", tagged, zone_a)
        launch("m8g-1", "m8g.large", tagged, zone_b)  # 8th generation: not on AWS's list, so AWS is asked
        launch("m8g-2", "m8g.large", tagged, zone_a)
        launch("c8g-1", "c8g.large", tagged, zone_b)
        launch("t2-micro", "t2.micro", tagged, zone_a)  # previous-generation Xen: not on the list
        launch("metal-1", "c6i.metal", tagged, zone_b)  # bare metal of a Nitro version AWS does not list
        tagged_later = launch("late-tag", "m5.large", {"Name": "not-asked"}, zone_a)
        launch("opted-out", "m5.large", {"mirror": "false"}, zone_b)
        busy = launch("busy", "m5.large", tagged, zone_a)
        team_filter = account.mirror_filter()  # the network team's own filter (with ours, theirs would shadow ours)
        for number in (1, 2, 3):  # the network team's sessions fill the ENI: AWS allows 3 per ENI
            account.foreign_session(account.enis_of(busy)[0], foreign_target, team_filter, number)
        # A session of someone else's holds number 1 on app-1's first ENI: ours takes the lowest free one, 2.
        account.foreign_session(account.enis_of(app_1)[0], foreign_target, team_filter, 1)
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
        for instance_id in names:
            for nic in account.instance(instance_id).get("NetworkInterfaces", []):
                eni_order[nic["NetworkInterfaceId"]] = nic["Attachment"]["DeviceIndex"]

        out.heading(f"After the launches: {len(names)} instances in {zone_a} and {zone_b}")
        out.line(
            f"Pool of targets: {APPLIANCE_A}, an appliance's ENI target in {zone_a}; {APPLIANCE_B}, one in {zone_b}; "
            f"{NLB}, a Network Load Balancer target over both zones. Filter {filter_id}"
        )
        out.line(f"asg-1..{ASG_SIZE}: launched by Auto Scaling group {ASG_NAME}, whose tag mirror=true propagates")
        out.line("Types on AWS's published list of sources are mirrored (api-1, arm-1: current M7i and C7g).")
        out.line(
            "A type not on the list is asked of AWS with a create, once per type, and the answer is remembered. "
            f"This simulated AWS accepts {ACCEPTED_UNLISTED_FAMILY} (m8g-1, m8g-2: newer than the list) and refuses "
            f"{REFUSED_UNLISTED_FAMILY}, t2 and c6i.metal."
        )
        out.table(INSTANCE_COLUMNS, instance_rows(account, names, all_targets))
        out.line(
            f"AZ: 1a is {zone_a}, 1b {zone_b}. sessions per ENI: on each of the instance's ENIs, in device order, "
            "the pool target our session sends its copies to and the session's number (-: none)"
        )
        if bus.verdicts:
            out.line(f"What AWS answered about types not on its list: {_verdicts(bus.verdicts)}")
        after_launch = {
            "sessions": account.sessions(),
            "instances": {iid: account.instance(iid) for iid in names},
            "delivered": dict(bus.delivered),
            "verdicts": dict(bus.verdicts),
        }
        cost_launch = _cost(account, settings)
        count = len(_ours(account.sessions()))
        out.line(
            f"Monthly Traffic Mirroring cost of our {count} sessions: ${cost_launch:,.2f} "
            f"(${monthly_cost(1, settings.session_hourly_price):,.2f} each)"
        )

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
        out.line("late-tag: mirror=true added (event delivered: mirrored at once)")
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
        retired = next(t for t, label in targets.items() if label == APPLIANCE_B)
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
        out.line(f"{APPLIANCE_B}: retired from the pool (stack redeployed with TargetIds = {APPLIANCE_A}, {NLB})")
        sessions_before = account.sessions()
        cost_before = _cost(account, settings)

        # -- the scheduled reconciler -------------------------------------------------------------------------------
        plan = plan_account(runtime.gateway, runtime.settings)
        out.heading("The scheduled reconciler's plan")
        out.table(PLAN_COLUMNS, plan_rows(plan, names, all_targets, eni_order))
        summary = bus.schedule()
        after_first = account.sessions()
        status_first = {iid: _tags(account.instance(iid)).get("mirror-status") for iid in names}
        # The schedule fires twice more: what the first run left to do (if anything) is done then.
        summary_second = bus.schedule()
        summary_next = bus.schedule()
        sessions_after = account.sessions()
        out.heading("After the reconciler (three scheduled runs)")
        out.table(INSTANCE_COLUMNS, instance_rows(account, names, all_targets))
        cost_after = _cost(account, settings)
        out.line(f"First run: {_run_line(summary)}")
        out.line(creates_line(plan, sessions_before, [after_first, sessions_after], status_first, names))
        verdicts = summary.get("instance_type_verdicts") or getattr(plan, "type_verdicts", None) or {}
        if verdicts:
            out.line(
                f"Instance types not on AWS's list, as the reconciler knows them: {_verdicts(verdicts)} "
                "(ask-aws: its new container has not needed to ask yet)"
            )
        created_next = _owners(_new_sessions(after_first, sessions_after), names)
        out.line(f"Second run: {_run_line(summary_second)}")
        out.line(f"Third run: {_run_line(summary_next)}")
        if created_next:
            out.line(
                f"Created by a later run: {', '.join(created_next)}. AWS remembers the token of a session deleted "
                "by hand and may answer it with that session. The first run's describe cannot tell that from a read "
                "that lags, so it only marks the instance; the second miss starts a new generation, and the third "
                "run creates with a token never used before (never a duplicate)."
            )
        price = settings.session_hourly_price
        out.line("")
        out.line(
            f"Monthly cost of our sessions. AWS bills every session by the hour (${price:g}, so "
            f"${monthly_cost(1, price):,.2f} a month) until it is deleted, whatever its instance does. A move keeps "
            "its session, so it changes nothing here:"
        )
        out.table(
            ["", "sessions", "a month", "which"],
            cost_rows(sessions_before, sessions_after, plan, names, price),
            align="<>>",
        )
        if bus.failures:
            out.line(f"Failures (EventBridge would retry, then dead-letter): {bus.failures}")
        foreign_after = {s["TrafficMirrorSessionId"]: s for s in sessions_after if MANAGED_TAG not in s["Tags"]}
        untouched = foreign_after == foreign_before
        out.line("")
        out.line(f"Sessions of others ({len(foreign_before)}): {'untouched' if untouched else 'CHANGED'}")
        delivered = ", ".join(f"{name} {count}" for name, count in sorted(bus.delivered.items()))
        out.line(f"Events delivered through the template's rules: {delivered}")
        out.line(f"Took {time.monotonic() - started:.1f} s")
        inspected = inspect(account) if inspect else None
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
            "summary_next": summary_next,
            "failures": bus.failures,
            "delivered": dict(bus.delivered),
            "verdicts": dict(bus.verdicts),
            "sessions": sessions_after,
            "instances": {iid: account.instance(iid) for iid in names},
            "cost": {"after_launch": cost_launch, "before": cost_before, "after": cost_after},
            "inspected": inspected,
        }


def main() -> int:
    os.environ.update(DEMO_ENVIRONMENT)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    logger.setLevel(DEMO_ENVIRONMENT["POWERTOOLS_LOG_LEVEL"])  # the logger was built at import, before the env
    try:
        result = run()
        sys.stdout.flush()
    except BrokenPipeError:  # `make demo | head`: the reader stopped reading, which is no failure of the demo
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # as the signal module's docs advise
        return 0
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
