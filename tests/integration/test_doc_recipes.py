"""Every shell recipe of README.md and docs/*.md that creates or changes AWS resources runs here, as a user copies
it, against a simulated account; then the product runs on what the recipe built and must work.

How a block is run (tests/integration/recipes.py):
- found automatically: every ```bash/sh/shell/console block; ``recipes.aws_changes`` picks those that create or
  change AWS resources (the AWS CLI's mutating operations, ``mirror-cleanup --apply``, ``sam deploy|delete|package``,
  ``make deploy``). Each runs in the one ``World`` of ``WORLDS`` whose ``matches`` pattern is in its text; a block
  with none fails and says what to add. ``test_the_recipes_found`` lists every block and how it is run.
- with bash, after what earlier blocks of its page define and it uses (``output()``, ``$STACK``, ``export``), in a
  scratch copy of the clone (writes stay there), ``set -E -o pipefail``: every command that fails is recorded, and
  the test fails unless the world expects that exit code.
- the real AWS CLI (awscli, pinned in requirements-dev.in) and the project's commands, ``.venv/bin`` first on PATH,
  fake credentials, ``AWS_ENDPOINT_URL`` at a moto server in this process with the strict layer active (one server
  for the module, reset before each block), the world's Region as ``AWS_DEFAULT_REGION``, and a profile ``prod``.
- ``aws`` runs the real CLI behind a few lines (recipe_lab.AWS_SHIM): users run AWS CLI v2, which reads
  ``AWS_REGION`` before ``AWS_DEFAULT_REGION`` (https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-envvars.html),
  sends every service to ``AWS_ENDPOINT_URL`` and takes ``--cli-binary-format raw-in-base64-out``
  (https://docs.aws.amazon.com/cli/latest/userguide/cliv2-migration-changes.html#cliv2-migration-binaryparam);
  awscli v1 (the one on PyPI) reads only ``AWS_DEFAULT_REGION``, sends SQS to its legacy ``queue.amazonaws.com``
  host whatever the endpoint setting, and refuses that option (it sends blobs raw already, what the option
  selects). The shim does those three things as v2 does, nothing else. ``aws``, ``mirror-audit`` and
  ``mirror-cleanup`` each run in a fork of a process that imported them already (command_server.py): the same
  ``main()`` the scripts run, without a second of imports per call.
- a function invoked through the simulated Lambda (``aws lambda invoke``) runs the product's real handler in this
  process, with the settings the deployed stack's parameters give it.
- placeholders users replace (``vpc-…``, ``i-appliance-a``, the example ARNs and IDs) are replaced by the IDs of the
  world the block assumes, through each world's ``placeholders`` map (text → world value), documented there. Worlds
  start from AWS's defaults (an NLB's cross-zone load balancing off, no security groups on it, a VPC's default
  security group and network ACL).
- a command that cannot run against moto 5.2.5 is replaced by a recorder (the world's ``stubs`` say which and why)
  and the test asserts its arguments are what the product needs.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import subprocess
import tomllib
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mirror_cli.command import main as mirror_audit
from simulation.account import AMI, SimulatedAccount
from simulation.eventbridge import load_rules, load_template, matching_rules
from simulation.server import seed_small_account
from tests.integration import recipes
from tests.integration.recipe_lab import (
    ACCOUNT,
    STACK,
    TEMPLATE_PATH,
    Build,
    DeployedStack,
    Lab,
    NotMirrored,
    Shared,
    World,
    assert_mirrored,
    run_in_world,
    shared_lab,
)
from tests.integration.recipes import ROOT, Block, RecipeRun
from tests.integration.sam_cli import deploy_options

BLOCKS = recipes.shell_blocks()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    """One moto server (strict layer on) and one AWS CLI server for the module."""
    with shared_lab(tmp_path_factory.mktemp("recipes")) as running:
        yield running


@pytest.fixture
def lab(shared: Shared, aws_env: None, tmp_path: Path) -> Lab:
    """A fresh account (the server reset), and this test's own scratch directory."""
    shared.server.reset()
    shared.functions.clear()
    shared.server.layer._reset_switches()
    return Lab(shared.server, shared.functions, shared.commands, tmp_path)


def _target_in_output(run: RecipeRun) -> str:
    found = re.findall(r"\btmt-[0-9a-f]{8,}\b", run.stdout)
    assert found, f"the recipe printed no traffic mirror target ID:\n{run.stdout}"
    return found[-1]


# -- the worlds --------------------------------------------------------------------------------------------------------
# README "Deploy": an NLB target --------------------------------------------------------------------------------------
def build_nlb_recipe(lab: Lab) -> dict[str, Any]:
    """An existing NLB named ``ids`` in a VPC of two zones, with AWS's defaults (cross-zone load balancing off, no
    security group), and two appliances, one per zone, that the recipe registers."""
    account = lab.account("eu-west-1").new_vpc("10.20.0.0/16")
    zone_a, zone_b = account.zones[:2]
    appliances = [account.launch("c5.large", zone=zone) for zone in (zone_a, zone_b)]
    nlb = account.elbv2.create_load_balancer(
        Name="ids", Subnets=[account.subnets[zone_a], account.subnets[zone_b]], Type="network", Scheme="internal"
    )["LoadBalancers"][0]["LoadBalancerArn"]
    return {
        "account": account,
        "nlb": nlb,
        "appliances": appliances,
        "placeholders": {
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/ids/0123456789abcdef": nlb,
            "vpc-…": account.vpc_id,
            "i-appliance-a": appliances[0],
            "i-appliance-b": appliances[1],
        },
    }


def check_nlb_recipe(lab: Lab, facts: dict[str, Any], run: RecipeRun) -> None:
    account: SimulatedAccount = facts["account"]
    target_id = _target_in_output(run)
    # The recipe built what it says: a target on the NLB, whose UDP 4789 listener forwards to both appliances.
    target = account.ec2.describe_traffic_mirror_targets(TrafficMirrorTargetIds=[target_id])["TrafficMirrorTargets"][0]
    assert target["NetworkLoadBalancerArn"] == facts["nlb"]
    listeners = account.elbv2.describe_listeners(LoadBalancerArn=facts["nlb"])["Listeners"]
    assert [(lst["Protocol"], lst["Port"]) for lst in listeners] == [("UDP", 4789)]
    group = listeners[0]["DefaultActions"][0]["TargetGroupArn"]
    health = account.elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    assert sorted(h["Target"]["Id"] for h in health) == sorted(facts["appliances"])
    # Then the product on it: a stack whose pool is that target; a tagged instance launched in the VPC.
    stack = lab.deploy("eu-west-1", TargetIds=target_id)
    stack.account = account  # the VPC's view of the account: launches land in its subnets
    instance = account.launch("m5.large", {"mirror": "true"}, zone=account.zones[0])
    answers = stack.launched(instance)
    assert list(answers) == ["InstanceStateChangeFunction"]
    assert_mirrored(stack, instance, target_id)
    assert answers["InstanceStateChangeFunction"]["sessions_created"] == 1


# make deploy ----------------------------------------------------------------------------------------------------------
def _option(argv: list[str], name: str) -> list[str]:
    start = argv.index(name) + 1
    values = []
    for word in argv[start:]:
        if word.startswith("--"):
            break
        values.append(word)
    return values


def _shorthand(text: str) -> dict[str, list[str]]:
    """The AWS CLI's shorthand ``Key=value,Key=v1,v2`` (a value's ``\\,`` is a comma in it)."""
    parsed: dict[str, list[str]] = {}
    key = ""
    for token in re.split(r"(?<!\\),", text):
        if "=" in token:
            key, _, value = token.partition("=")
            parsed[key] = [value.replace("\\,", ",")]
        else:
            parsed[key].append(token.replace("\\,", ","))
    return parsed


def _parameter_problems(overrides: Mapping[str, str]) -> list[str]:
    """Why CloudFormation would refuse these parameter values (unknown name, value outside AllowedValues or
    AllowedPattern)."""
    declared = load_template(TEMPLATE_PATH)["Parameters"]
    problems = []
    for name, value in overrides.items():
        spec = declared.get(name)
        if spec is None:
            problems.append(f"{name} is not a parameter of template.yaml")
            continue
        allowed = [str(v) for v in spec.get("AllowedValues", [])]
        if allowed and value not in allowed:
            problems.append(f"{name}={value!r}: not one of {allowed}")
        items = value.split(",") if spec["Type"] == "CommaDelimitedList" else [value]
        pattern = spec.get("AllowedPattern")
        if pattern and not all(re.fullmatch(pattern, item) for item in items):
            problems.append(f"{name}={value!r}: does not match {pattern}")
    return problems


def _key_values(words: list[str]) -> dict[str, str]:
    return dict(word.split("=", 1) for word in words)


MAKE_VARIABLES = {"TARGET_IDS": "TargetIds", "ALARM_EMAIL": "AlarmEmail"}  # the Makefile's, by name


def _make_deploys(script: str) -> list[tuple[str, dict[str, str]]]:
    """Each `make … deploy|deploy-guided …` of a script: the target and the variables given on make's command line."""
    found = []
    for line in recipes.without_comments(script).replace("\\\n", " ").splitlines():
        words = shlex.split(line) if re.match(r"\s*make\s", line) else []
        targets = [word for word in words[1:] if "=" not in word]
        if targets in (["deploy"], ["deploy-guided"]):
            found.append((targets[0], _key_values([word for word in words[1:] if "=" in word])))
    return found


def check_make_deploy(lab: Lab, facts: dict[str, Any], run: RecipeRun) -> None:
    """Each `make deploy` builds, then runs `sam deploy` in the caller's Region, with no question unless it is
    `make deploy-guided`, with a samconfig.toml environment that names the stack and acknowledges both IAM
    capabilities, and with exactly the parameter values given on make's command line after the ones the environment
    saved, all accepted by the template. SAM CLI itself reads the recorded arguments (tests/integration/sam_cli.py)."""
    calls = [call for call in run.stub_calls if call["command"] == "sam"]
    made = _make_deploys(run.script)
    deploys = [(position, call) for position, call in enumerate(calls) if call["argv"][:1] == ["deploy"]]
    assert len(deploys) == len(made) >= 1, calls
    for (position, call), (target, given) in zip(deploys, made, strict=True):
        argv = call["argv"]
        assert position > 0 and calls[position - 1]["argv"][:1] == ["build"], "sam deploy without sam build before it"
        assert call["region"] == facts["region"]  # not the Makefile's us-east-1 for the tests
        options = deploy_options(argv, Path(call["cwd"]))
        environment = given.get("CONFIG_ENV", "default")
        assert options["config_env"] == environment and options["stack_name"]
        assert {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"} <= set(options["capabilities"]), (environment, argv)
        assert options["guided"] is (target == "deploy-guided")
        overrides = options["parameter_overrides"]
        assert _parameter_problems(overrides) == []
        saved = deploy_options(["deploy", "--config-env", environment], Path(call["cwd"]))["parameter_overrides"]
        passed = {MAKE_VARIABLES[name]: value for name, value in given.items() if name in MAKE_VARIABLES}
        named = set(re.findall(r"(?:^|\s)([A-Za-z0-9]+)=", given.get("PARAMETERS", "")))
        assert {name: overrides.get(name) for name in passed} == passed
        assert set(overrides) == set(saved) | set(passed) | named, (argv, given)


def build_nothing(region: str) -> Build:
    def build(lab: Lab) -> dict[str, Any]:
        return {"region": region, "placeholders": {}}

    return build


# README "Uninstall": sam delete -------------------------------------------------------------------------------------
def check_sam_delete(lab: Lab, facts: dict[str, Any], run: RecipeRun) -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    [call] = [c["argv"] for c in run.stub_calls if c["command"] == "sam"]
    assert call[0] == "delete"
    assert call[call.index("--stack-name") + 1] == config["default"]["deploy"]["parameters"]["stack_name"]


# mirror-cleanup of a stack that is gone ---------------------------------------------------------------------------
def build_sessions_left(region: str, stack_name: str = STACK) -> Build:
    """A stack deleted before its cleanup existed: no CloudFormation stack, its sessions left (made by the product's
    reconciler, so tagged as a deployed stack tags them), and the network team's session beside them."""

    def build(lab: Lab) -> dict[str, Any]:
        seeded = seed_small_account(lab.server.url, region, stack_name)
        return {"region": region, "seeded": seeded, "placeholders": {}}

    return build


def check_sessions_cleaned(lab: Lab, facts: dict[str, Any], run: RecipeRun) -> None:
    seeded = facts["seeded"]
    sessions = lab.account(seeded.region).sessions()
    marker = {"Key": "mirror-managed-by", "Value": seeded.stack_name}
    assert [s for s in sessions if marker in s.get("Tags", [])] == []
    assert len(sessions) == seeded.others == 1  # the network team's session stays
    listed = f"{seeded.ours} session(s) of stack {seeded.stack_name}"
    assert run.stdout.count(listed) == 2, run.stdout  # the dry run and --apply list the same sessions
    assert f"Deleted {seeded.ours} of {seeded.ours} session(s)." in run.stdout
    assert "carry the tag" not in run.stdout  # no session of another account carries it here


# README "Uninstall": recovery from DELETE_FAILED ----------------------------------------------------------------------
def build_delete_failed(region: str, stack_name: str = STACK) -> Build:
    """A stack whose deletion stopped in DELETE_FAILED: CloudFormation deleted its functions, SessionCleanup could not
    delete every session, so the sessions are left beside the stack (moto cannot run the SAM template: a plain stack
    stands in for it, put in DELETE_FAILED as CloudFormation leaves it)."""

    def build(lab: Lab) -> dict[str, Any]:
        from moto.cloudformation.models import cloudformation_backends

        seeded = seed_small_account(lab.server.url, region, stack_name)
        cloudformation = lab.client("cloudformation", region)
        template = {"Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}
        stack_id = cloudformation.create_stack(StackName=stack_name, TemplateBody=json.dumps(template))["StackId"]
        account_id = stack_id.split(":")[4]
        cloudformation_backends[account_id][region].stacks[stack_id].status = "DELETE_FAILED"
        return {"region": region, "seeded": seeded, "stack_id": stack_id, "placeholders": {}}

    return build


def check_recovered(lab: Lab, facts: dict[str, Any], run: RecipeRun) -> None:
    """mirror-cleanup --apply runs on a stack in DELETE_FAILED (its functions are gone) and deletes the stack's
    sessions; the stack is then deleted again."""
    seeded = facts["seeded"]
    sessions = lab.account(seeded.region).sessions()
    marker = {"Key": "mirror-managed-by", "Value": seeded.stack_name}
    assert [s for s in sessions if marker in s.get("Tags", [])] == []
    assert len(sessions) == seeded.others == 1  # the network team's session stays
    assert f"Deleted {seeded.ours} of {seeded.ours} session(s)." in run.stdout
    stacks = lab.client("cloudformation", facts["region"]).list_stacks()["StackSummaries"]
    assert [s["StackStatus"] for s in stacks if s["StackId"] == facts["stack_id"]] == ["DELETE_COMPLETE"]


# README "Try it on a simulated account" ------------------------------------------------------------------------------
def check_simulated_account(lab: Lab, facts: dict[str, Any], run: RecipeRun) -> None:
    """The audit and the cleanup tell the truth about the account `python -m simulation.server` seeded: 6 sessions
    of the stack, 1 of the network team (untagged: never counted as the stack's), a tag removed and a launch missed
    while their events were lost, a t2.micro tagged."""
    out = run.stdout
    assert "Would create 1 session" in out and "missing-session" in out and "app-1 (m5.large)" in out
    assert "Would delete 1 session" in out and "tag-removed" in out and "batch-1 (c5.large)" in out
    assert re.search(r"now\s+6\s+\$65\.70", out), out
    assert "Drift: yes" in out
    assert out.count("6 session(s) of stack traffic-mirroring (tag mirror-managed-by=traffic-mirroring)") == 2
    assert "carry the tag" not in out  # plain moto ignores the tag filter and would count the team's session here
    assert "Deleted 6 of 6 session(s)." in out


# The deployed stack's queues: redriving -------------------------------------------------------------------------
def _failed_delivery(lab: Lab, stack: DeployedStack, instance_id: str) -> None:
    """What EventBridge puts in the stack's dead-letter queue when it could not invoke the function: the event, and
    the RULE_ARN, TARGET_ARN, ERROR_CODE and ERROR_MESSAGE attributes.
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html"""
    event = stack.event("ec2-instance-running.json", instance_id)
    lab.send(
        stack,
        "EventsDeadLetterQueue",
        event,
        {
            "RULE_ARN": f"arn:aws:events:{stack.region}:{ACCOUNT}:rule/{stack.name}-InstanceStateChange",
            "TARGET_ARN": lab.function_arn(stack, "InstanceStateChangeFunction"),
            "ERROR_CODE": "ResourceNotFoundException",
            "ERROR_MESSAGE": "Function does not exist",
        },
    )


def _failed_invocation(lab: Lab, stack: DeployedStack, instance_id: str) -> None:
    """What Lambda sends the stack's failure destination after an event's retries: the invocation record.
    https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html"""
    record = {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(),
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": lab.function_arn(stack, "InstanceStateChangeFunction") + ":$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": stack.event("ec2-instance-running.json", instance_id),
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "Rate exceeded", "errorType": "MirroringFailed"},
    }
    lab.send(stack, "InvocationFailureQueue", record, {})


def _pool(lab: Lab, region: str) -> tuple[SimulatedAccount, str]:
    """A VPC's appliance target (its group admits UDP 4789 from the VPC, as README "Deploy" asks)."""
    account = lab.account(region)
    return account, account.eni_target(account.zones[0], admit_vxlan_from="vpc")


def build_stack_with_failed_events(region: str, queues: tuple[str, ...]) -> Build:
    def build(lab: Lab) -> dict[str, Any]:
        account, target = _pool(lab, region)
        stack = lab.deploy(region, TargetIds=target)
        instances = {}
        for queue in queues:
            instance = account.launch("m5.large", {"mirror": "true"})
            if queue == "EventsDeadLetterQueue":
                _failed_delivery(lab, stack, instance)
            else:
                _failed_invocation(lab, stack, instance)
            instances[queue] = instance
        return {"stack": stack, "target": target, "instances": instances, "placeholders": {"/tmp/": f"{lab.work}/"}}

    return build


def check_replayed(lab: Lab, facts: dict[str, Any], run: RecipeRun) -> None:
    stack: DeployedStack = facts["stack"]
    for queue, instance in facts["instances"].items():
        assert_mirrored(stack, instance, facts["target"])
        assert lab.messages_left(stack, queue) == 0, f"{queue} still holds the replayed message"
    assert "still failing" not in run.stdout


# The settings of the stack in "after a fix": each one changes the reconciler's plan, so an audit that did not pass
# it would report drift the reconciler would not make (a session to move, to delete or to resize).
AFTER_A_FIX = {
    "TargetIds": "",  # the pool is discovered: targets tagged mirror-pool=prod
    "TargetPool": "prod",
    "MirrorSelectors": "team=sec*",
    "PacketLength": "128",
    "VniPolicy": "per-vpc",
}


def build_after_a_fix(lab: Lab) -> dict[str, Any]:
    """eu-west-1 (the runbook's Region): a failed invocation in the failure queue, a delivery in the dead-letter
    queue, and the instances they were about still unmirrored, until the reconciler runs; the stack's pool is
    discovered by tag, one more instance is selected by a selector (no mirror tag), one chooses an approved filter,
    and sessions keep 128 bytes of each packet under one VNI for the VPC."""
    region = "eu-west-1"
    account, target = _pool(lab, region)
    account.ec2.create_tags(Resources=[target], Tags=[{"Key": "mirror-pool", "Value": "prod"}])
    approved = account.mirror_filter()
    stack = lab.deploy(region, ApprovedFilterIds=approved, **AFTER_A_FIX)
    instances = {}
    for queue in ("EventsDeadLetterQueue", "InvocationFailureQueue"):
        instances[queue] = account.launch("m5.large", {"mirror": "true"})
    _failed_delivery(lab, stack, instances["EventsDeadLetterQueue"])
    _failed_invocation(lab, stack, instances["InvocationFailureQueue"])
    selected = account.launch("m5.large", {"team": "security"})  # by MirrorSelectors, without the mirror tag
    chooser = account.launch("m5.large", {"mirror": "true", "mirror-filter": approved})
    return {
        "stack": stack,
        "target": target,
        "instances": instances,
        "others": {"selected": selected, "chooser": chooser},
        "approved": approved,
        "placeholders": {"/tmp/": f"{lab.work}/"},
    }


def check_after_a_fix(lab: Lab, facts: dict[str, Any], run: RecipeRun) -> None:
    stack: DeployedStack = facts["stack"]
    report = json.loads((lab.work / "reconcile-report.json").read_text(encoding="utf-8"))
    assert report["sessions_created"] == 4, report
    for queue, instance in facts["instances"].items():
        assert_mirrored(stack, instance, facts["target"])
        assert lab.messages_left(stack, queue) == 0
    for instance in facts["others"].values():
        assert_mirrored(stack, instance, facts["target"])
    assert {s["PacketLength"] for s in stack.sessions()} == {128}
    [chosen] = stack.sessions(facts["others"]["chooser"])
    assert chosen["TrafficMirrorFilterId"] == facts["approved"]
    # The runbook's audit passed every setting: no drift (an exit code 1 would have failed the run), and it says so
    assert "Drift: none" in run.stdout
    assert "(VniPolicy per-vpc, PacketLength 128 bytes)" in " ".join(run.stdout.split())
    # Not by chance: with only the pool and the filter, as the helper passed them before, the plan differs
    endpoint = ["--endpoint-url", lab.server.url, "--region", stack.region]
    partial = [*endpoint, "--targets", facts["target"], "--filter-id", stack.settings.filter_id, "--json"]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert mirror_audit([*partial, "--managed-by", stack.settings.managed_by]) == 1
    plan = json.loads(out.getvalue())
    assert {row["reason"] for row in plan["moves"] + plan["deletes"]} >= {"options-changed"}, plan


# Auto Scaling ----------------------------------------------------------------------------------------------------
GROUP = "my-group"
HOOK = "mirror-before-serving"


def _group(lab: Lab, region: str, tags: list[dict[str, Any]] | None = None) -> SimulatedAccount:
    account = lab.account(region)
    account.ec2.create_launch_template(
        LaunchTemplateName=GROUP, LaunchTemplateData={"ImageId": AMI, "InstanceType": "m5.large"}
    )
    account.autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=GROUP,
        LaunchTemplate={"LaunchTemplateName": GROUP, "Version": "$Latest"},
        MinSize=0,
        MaxSize=4,
        DesiredCapacity=0,
        VPCZoneIdentifier=",".join(account.subnets[zone] for zone in account.zones[:2]),
        Tags=tags or [],
    )
    return account


def _group_tag(key: str, value: str, propagate: bool) -> dict[str, Any]:
    return {
        "ResourceId": GROUP,
        "ResourceType": "auto-scaling-group",
        "Key": key,
        "Value": value,
        "PropagateAtLaunch": propagate,
    }


def _scale_out(account: SimulatedAccount) -> str:
    before = {i["InstanceId"] for i in _group_instances(account)}
    account.autoscaling.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=len(before) + 1)
    [new] = [i for i in _group_instances(account) if i["InstanceId"] not in before]
    instance_id: str = new["InstanceId"]
    return instance_id


def _group_instances(account: SimulatedAccount) -> list[dict[str, Any]]:
    groups = account.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"]
    instances: list[dict[str, Any]] = groups[0]["Instances"]
    return instances


def build_group(lab: Lab) -> dict[str, Any]:
    _, target = _pool(lab, "us-east-1")
    _group(lab, "us-east-1")
    return {"stack": lab.deploy("us-east-1", TargetIds=target), "target": target, "placeholders": {}}


def check_group_mirror_tag(lab: Lab, facts: dict[str, Any], run: RecipeRun) -> None:
    stack: DeployedStack = facts["stack"]
    instance = _scale_out(stack.account)
    zone = stack.account.instance(instance)["Placement"]["AvailabilityZone"]
    launch = stack.event(
        "autoscaling-launch-successful.json",
        instance,
        AutoScalingGroupName=GROUP,
        Details={"Availability Zone": zone, "Subnet ID": stack.account.subnets[zone]},
    )
    answers = {**stack.deliver(launch), **stack.launched(instance)}  # AWS sends both; either may come first
    assert sorted(answers) == ["AutoScalingLaunchFunction", "InstanceStateChangeFunction"]
    assert_mirrored(stack, instance, facts["target"])


def check_lifecycle_hook(lab: Lab, facts: dict[str, Any], run: RecipeRun) -> None:
    """The hook holds a launch until completed, CONTINUE when nobody answers in 300 s; the stack's lifecycle rule
    (with LifecycleHookMode=true) takes its action."""
    stack: DeployedStack = facts["stack"]
    [hook] = stack.account.autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=GROUP)["LifecycleHooks"]
    assert (hook["LifecycleHookName"], hook["LifecycleTransition"]) == (HOOK, "autoscaling:EC2_INSTANCE_LAUNCHING")
    assert (hook["DefaultResult"], hook["HeartbeatTimeout"]) == ("CONTINUE", 300)
    action = stack.event("autoscaling-launch-lifecycle-action.json", "i-0123456789abcdef0", AutoScalingGroupName=GROUP)
    action["detail"]["LifecycleHookName"] = HOOK
    rules = matching_rules(load_rules(TEMPLATE_PATH, {"LifecycleHookMode": "true"}), action)
    assert [rule.function_logical_id for rule in rules] == ["AutoScalingLifecycleFunction"]


def build_group_with_hook(lab: Lab) -> dict[str, Any]:
    """The group of the previous steps: its mirror tag propagates, its launch hook waits; the stack was deployed with
    LifecycleHookMode=true."""
    account, target = _pool(lab, "us-east-1")
    _group(lab, "us-east-1", [_group_tag("mirror", "true", True)])
    account.launch_hook(GROUP, HOOK)
    stack = lab.deploy("us-east-1", TargetIds=target, LifecycleHookMode="true")
    return {"stack": stack, "target": target, "placeholders": {}}


def check_lifecycle_mirrored(lab: Lab, facts: dict[str, Any], run: RecipeRun) -> None:
    """A launch waits on the hook; the lifecycle function mirrors the instance and lets it go in service."""
    stack: DeployedStack = facts["stack"]
    instance = _scale_out(stack.account)
    token = lab.layer.start_launch_lifecycle_action(GROUP, HOOK, instance)
    action = stack.event("autoscaling-launch-lifecycle-action.json", instance, AutoScalingGroupName=GROUP)
    action["detail"].update(LifecycleHookName=HOOK, LifecycleActionToken=token)
    answers = stack.deliver(action)
    assert list(answers) == ["AutoScalingLifecycleFunction"]
    assert_mirrored(stack, instance, facts["target"])
    [completed] = lab.layer.completed_lifecycle_actions
    assert (completed.instance_id, completed.result) == (instance, "CONTINUE")


# Incident response: a window -------------------------------------------------------------------------------------
def build_incident(lab: Lab) -> dict[str, Any]:
    account, target = _pool(lab, "us-east-1")
    instance = account.launch("m5.large", {"Name": "web-1"})
    return {
        "stack": lab.deploy("us-east-1", TargetIds=target),
        "target": target,
        "instance": instance,
        "placeholders": {"i-0abc ": f"{instance} "},
    }


def check_incident_window(lab: Lab, facts: dict[str, Any], run: RecipeRun) -> None:
    stack: DeployedStack = facts["stack"]
    instance = facts["instance"]
    tags = stack.account.tags_of(instance)
    until = datetime.fromisoformat(tags["mirror-until"].replace("Z", "+00:00"))
    assert timedelta(hours=3, minutes=58) < until - datetime.now(UTC) <= timedelta(hours=4)
    change = stack.event("tag-change-mirror-added.json", instance)
    change["detail"].update({"changed-tag-keys": ["mirror", "mirror-until"], "tags": tags})
    answers = stack.deliver(change)
    assert list(answers) == ["InstanceTagChangeFunction"]
    assert_mirrored(stack, instance, facts["target"])
    assert list(answers["InstanceTagChangeFunction"]["mirroring_windows"]) == [instance]  # the report shows it


# operations.md "Removing the automation" --------------------------------------------------------------------------
def check_removal(lab: Lab, facts: dict[str, Any], run: RecipeRun) -> None:
    check_sessions_cleaned(lab, facts, run)
    stacks = lab.client("cloudformation", facts["region"]).list_stacks()["StackSummaries"]
    assert [s for s in stacks if s["StackStatus"] != "DELETE_COMPLETE"] == []


# organization.md -------------------------------------------------------------------------------------------------
PREFIX = "my-org-traffic-mirroring"
ORG_REGIONS = ("us-east-1", "eu-west-1")


@dataclass
class Organization:
    id: str
    root: str
    ou: str
    member: str
    master: str


def _organization(lab: Lab) -> Organization:
    org = lab.client("organizations", "us-east-1")
    described = org.create_organization(FeatureSet="ALL")["Organization"]
    root = org.list_roots()["Roots"][0]["Id"]
    ou = org.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
    member = org.create_account(Email="workload@example.com", AccountName="workload")["CreateAccountStatus"][
        "AccountId"
    ]
    org.move_account(AccountId=member, SourceParentId=root, DestinationParentId=ou)
    return Organization(described["Id"], root, ou, member, described["MasterAccountId"])


def _buckets(lab: Lab) -> None:
    s3 = lab.client("s3", "us-east-1")
    for region in ORG_REGIONS:
        where = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=f"{PREFIX}-{region}", **where)


def build_organization(lab: Lab) -> dict[str, Any]:
    return {"org": _organization(lab), "placeholders": {}}


def check_buckets(lab: Lab, facts: dict[str, Any], run: RecipeRun) -> None:
    """A bucket in each Region, each readable by every account of the organization and nobody else."""
    s3 = lab.client("s3", "us-east-1")
    for region in ORG_REGIONS:
        bucket = f"{PREFIX}-{region}"
        location = s3.get_bucket_location(Bucket=bucket)["LocationConstraint"]
        assert (location or "us-east-1") == region
        [statement] = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
        assert statement["Effect"] == "Allow" and statement["Action"] == "s3:GetObject"
        assert statement["Resource"] == f"arn:aws:s3:::{bucket}/*"
        assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": facts["org"].id}}


SAM_STANDIN = r"""
import hashlib, io, pathlib, zipfile
import yaml
class Loader(yaml.SafeLoader):  # CloudFormation's short tags kept as the long form (!Ref x: {"Ref": "x"})
    pass
def long_form(loader, suffix, node):
    value = loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else (
        loader.construct_sequence(node, deep=True) if isinstance(node, yaml.SequenceNode)
        else loader.construct_mapping(node, deep=True))
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}": value}
Loader.add_multi_constructor("!", long_form)
def load_template(path):
    return yaml.load(pathlib.Path(path).read_text(encoding="utf-8"), Loader=Loader)
def option(*names):
    for name in names:
        if name in argv:
            return argv[argv.index(name) + 1]
    return None
code_of = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}
if argv[:1] == ["build"]:  # the template sam build writes, its code where it was
    source = pathlib.Path(option("--template", "-t") or "template.yaml")
    template = load_template(source)
    for resource in template["Resources"].values():
        key = code_of.get(resource["Type"])
        if key:
            resource["Properties"][key] = str((source.parent / resource["Properties"][key]).resolve())
    out = pathlib.Path(option("--build-dir", "-b") or ".aws-sam/build")
    out.mkdir(parents=True, exist_ok=True)
    (out / "template.yaml").write_text(json.dumps(template), encoding="utf-8")
elif argv[:1] == ["package"]:  # what sam package does: each code directory zipped to the bucket, named by content
    template = load_template(option("--template-file"))
    bucket, prefix = option("--s3-bucket"), option("--s3-prefix")
    import boto3
    s3 = boto3.client("s3", region_name=option("--region"))
    for resource in template["Resources"].values():
        key = code_of.get(resource["Type"])
        if not key:
            continue
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zipped:
            for path in sorted(pathlib.Path(resource["Properties"][key]).rglob("*.py")):
                zipped.write(path, path.relative_to(resource["Properties"][key]))
        body = archive.getvalue()
        name = f"{prefix}/{hashlib.md5(body).hexdigest()}"
        s3.put_object(Bucket=bucket, Key=name, Body=body)
        resource["Properties"][key] = f"s3://{bucket}/{name}"
    pathlib.Path(option("--output-template-file")).write_text(json.dumps(template), encoding="utf-8")
"""


def build_packaging(lab: Lab) -> dict[str, Any]:
    org = _organization(lab)
    _buckets(lab)
    return {"org": org, "placeholders": {}}


def _code_keys(template: Mapping[str, Any]) -> set[str]:
    keys = set()
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        code = properties.get("Code") or properties.get("Content")
        if isinstance(code, dict) and "S3Key" in code:
            keys.add(str(code["S3Key"]))
    return keys


def _objects(lab: Lab, bucket: str) -> set[str]:
    listed = lab.client("s3", "us-east-1").list_objects_v2(Bucket=bucket).get("Contents", [])
    return {str(item["Key"]) for item in listed}


def check_packaging(lab: Lab, facts: dict[str, Any], run: RecipeRun) -> None:
    """The expanded template is in the home bucket, and every code object it names is in each Region's bucket."""
    calls = [call["argv"] for call in run.stub_calls if call["command"] == "sam"]
    assert [argv[0] for argv in calls] == ["build", "package"]
    home = f"{PREFIX}-us-east-1"
    [key] = [k for k in _objects(lab, home) if k.startswith("traffic-mirroring/stackset-")]
    body = lab.client("s3", "us-east-1").get_object(Bucket=home, Key=key)["Body"].read()
    template = json.loads(body)
    assert "Transform" not in template
    for region in ORG_REGIONS:
        assert _code_keys(template) <= _objects(lab, f"{PREFIX}-{region}"), region
    sub = {"Fn::Sub": PREFIX + "-${AWS::Region}"}
    assert all(
        (r["Properties"].get("Code") or r["Properties"].get("Content"))["S3Bucket"] == sub
        for r in template["Resources"].values()
        if r["Type"] in ("AWS::Lambda::Function", "AWS::Lambda::LayerVersion")
    )


_EXPANDED: dict[str, bytes] = {}


def _stackset_template(lab: Lab) -> tuple[bytes, set[str]]:
    """The expanded template, as `make stackset-template` writes it from what `sam package` wrote (computed once)."""
    if "template" not in _EXPANDED:
        import subprocess

        source = load_template(TEMPLATE_PATH)
        for logical_id, resource in source["Resources"].items():
            key = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}.get(
                resource["Type"]
            )
            if key:
                resource["Properties"][key] = f"s3://{PREFIX}-us-east-1/traffic-mirroring/{logical_id.lower()}"
        work = lab.work / "stackset"
        work.mkdir()
        (work / "packaged.json").write_text(json.dumps(source), encoding="utf-8")
        subprocess.run(
            [
                "make",
                "--no-print-directory",
                "-o",
                ".venv/bin/.installed",
                "stackset-template",
                f"STACKSET_PACKAGED={work / 'packaged.json'}",
                f"STACKSET_TEMPLATE={work / 'stackset.json'}",
                f"ARTIFACT_BUCKET_PREFIX={PREFIX}",
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        _EXPANDED["template"] = (work / "stackset.json").read_bytes()
    body = _EXPANDED["template"]
    return body, _code_keys(json.loads(body))


STACKSET_KEY = "traffic-mirroring/stackset-0123456.json"


def build_released(lab: Lab, *, stack_set: bool, placeholders: tuple[str, ...] = ()) -> dict[str, Any]:
    """The organization after "Package": the buckets with the code, the expanded template at TEMPLATE_URL (whose key
    the block computes from the clone's HEAD). With ``stack_set``, also the StackSet and its instances."""
    org = _organization(lab)
    _buckets(lab)
    body, keys = _stackset_template(lab)
    s3 = lab.client("s3", "us-east-1")
    for region in ORG_REGIONS:
        for key in keys:
            s3.put_object(Bucket=f"{PREFIX}-{region}", Key=key, Body=b"code")

    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    s3.put_object(Bucket=f"{PREFIX}-us-east-1", Key=f"traffic-mirroring/stackset-{head.strip()}.json", Body=body)
    if stack_set:
        cloudformation = lab.client("cloudformation", "us-east-1")
        cloudformation.create_stack_set(
            StackSetName=STACK,
            TemplateBody=body.decode(),
            PermissionModel="SERVICE_MANAGED",
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
            Parameters=[
                {"ParameterKey": "ManagedBy", "ParameterValue": STACK},
                {"ParameterKey": "TargetPool", "ParameterValue": "prod"},
                {"ParameterKey": "AuditAccountId", "ParameterValue": "444455556666"},
            ],
        )
    ids = {"ou-abcd-11111111": org.ou, "Accounts=222222222222": f"Accounts={org.member}"}
    return {"org": org, "placeholders": {text: ids[text] for text in placeholders}}


STACK_INSTANCES_STUB = (
    "moto 5.2.5 deploys a service-managed stack instance in a hidden stack that its custom resource support cannot "
    "find: SessionCleanup fails with ValidationError 'Stack with id …hiddenstackfor… does not exist'"
)


def _stack_set_parameters(lab: Lab) -> dict[str, str]:
    described = lab.client("cloudformation", "us-east-1").describe_stack_set(StackSetName=STACK)["StackSet"]
    return {p["ParameterKey"]: p["ParameterValue"] for p in described.get("Parameters", [])}


def _instances_calls(run: RecipeRun, operation: str) -> list[list[str]]:
    return [
        c["argv"] for c in run.stub_calls if c["command"] == "aws" and c["argv"][:2] == ["cloudformation", operation]
    ]


def check_stack_set_created(lab: Lab, facts: dict[str, Any], run: RecipeRun) -> None:
    """The StackSet holds the expanded template and parameters the template accepts; its instances target an OU of
    the organization in Regions whose buckets hold every code object; and a stack of that StackSet mirrors, in a
    member account, an instance on a target of its pool."""
    org: Organization = facts["org"]
    parameters = _stack_set_parameters(lab)
    assert _parameter_problems(parameters) == []
    [argv] = _instances_calls(run, "create-stack-instances")
    targets = _shorthand(_option(argv, "--deployment-targets")[0])
    assert targets["OrganizationalUnitIds"] == [org.ou]
    _, keys = _stackset_template(lab)
    for region in _option(argv, "--regions"):
        assert keys <= _objects(lab, f"{PREFIX}-{region}"), f"{region}: its bucket lacks the code"
    # A stack instance in the member account: the functions' settings from the StackSet's parameters.
    member = SimulatedAccount.member(org.member, "eu-west-1", lab.server.url)
    stack_name = f"StackSet-{STACK}-{uuid.uuid4()}"
    settings, managed_by = lab.settings("eu-west-1", parameters, stack_name, org.member)
    filter_id = lab.stack_filter(member, managed_by)
    settings, _ = lab.settings("eu-west-1", {**parameters, "FilterId": filter_id}, stack_name, org.member)
    assert settings.managed_by == STACK
    target = member.gwlb_endpoint_target()
    member.tag_target(target, **{"mirror-pool": "prod"})
    stack = DeployedStack(stack_name, "eu-west-1", member, parameters, settings, lab.runtime(member, settings), {}, {})
    instance = member.launch("m5.large", {"mirror": "true"})
    stack.launched(instance)
    assert_mirrored(stack, instance, target)


def check_stack_instances_updated(lab: Lab, facts: dict[str, Any], run: RecipeRun) -> None:
    org: Organization = facts["org"]
    [argv] = _instances_calls(run, "update-stack-instances")
    targets = _shorthand(_option(argv, "--deployment-targets")[0])
    assert targets == {
        "OrganizationalUnitIds": [org.ou],
        "Accounts": [org.member],
        "AccountFilterType": ["INTERSECTION"],
    }
    overrides = _shorthand(_option(argv, "--parameter-overrides")[0])
    parameters = {overrides["ParameterKey"][0]: overrides["ParameterValue"][0]}
    assert parameters == {"TargetIds": "tmt-0aaa,tmt-0bbb"}  # one value: two targets, in order
    assert _parameter_problems(parameters) == []


def check_stack_set_updated(lab: Lab, facts: dict[str, Any], run: RecipeRun) -> None:
    assert _stack_set_parameters(lab) == {"ManagedBy": STACK, "TargetPool": "prod", "AuditAccountId": "444455556666"}


def check_stack_set_removed(lab: Lab, facts: dict[str, Any], run: RecipeRun) -> None:
    org: Organization = facts["org"]
    [argv] = _instances_calls(run, "delete-stack-instances")
    assert _shorthand(_option(argv, "--deployment-targets")[0]) == {"OrganizationalUnitIds": [org.ou]}
    assert "--no-retain-stacks" in argv  # their stacks' SessionCleanup deletes their sessions
    stack_sets = lab.client("cloudformation", "us-east-1").list_stack_sets()["Summaries"]
    assert [s for s in stack_sets if s["Status"] != "DELETED"] == []


def build_pool_discovery(lab: Lab) -> dict[str, Any]:
    """A spoke with a Gateway Load Balancer endpoint in its VPC, and an existing target (an appliance's ENI) not yet in
    the pool; the stack discovers targets tagged mirror-pool=prod."""
    account, existing = _pool(lab, "us-east-1")
    endpoint = account.gwlb_endpoint()
    stack = lab.deploy("us-east-1", TargetPool="prod")
    return {
        "stack": stack,
        "endpoint": endpoint,
        "existing": existing,
        "placeholders": {"vpce-0123456789abcdef0": endpoint, "tmt-0123456789abcdef0": existing},
    }


def check_pool_discovery(lab: Lab, facts: dict[str, Any], run: RecipeRun) -> None:
    """Both targets carry the pool's tag (read without a tag: filter, which DescribeTrafficMirrorTargets does not
    document); a tagged instance of the VPC is mirrored on one of them."""
    stack: DeployedStack = facts["stack"]
    targets = stack.account.ec2.describe_traffic_mirror_targets()["TrafficMirrorTargets"]
    pool = {t["TrafficMirrorTargetId"] for t in targets if {"Key": "mirror-pool", "Value": "prod"} in t.get("Tags", [])}
    endpoint = [
        t["TrafficMirrorTargetId"] for t in targets if t.get("GatewayLoadBalancerEndpointId") == facts["endpoint"]
    ]
    assert pool == {*endpoint, facts["existing"]} and len(pool) == 2
    instance = stack.account.launch("m5.large", {"mirror": "true"})
    stack.launched(instance)
    assert_mirrored(stack, instance)
    [session] = stack.sessions(instance)
    assert session["TrafficMirrorTargetId"] in pool


def build_shared_targets(lab: Lab) -> dict[str, Any]:
    """The hub (the organization's management account here: the simulated account) with two targets to share."""
    org = _organization(lab)
    account = lab.account("us-east-1")
    targets = [account.eni_target(zone, admit_vxlan_from="vpc") for zone in account.zones[:2]]
    return {
        "org": org,
        "targets": targets,
        "placeholders": {
            ":111111111111:": f":{ACCOUNT}:",
            "tmt-0aaaaaaaaaaaaaaa1": targets[0],
            "tmt-0bbbbbbbbbbbbbbb2": targets[1],
            "999999999999": org.master,
            "o-exampleorgid": org.id,
            "ou-abcd-11111111": org.ou,
        },
    }


def check_shared_targets(lab: Lab, facts: dict[str, Any], run: RecipeRun) -> None:
    """One share, of targets that exist in the hub's account and Region, with an OU of its organization (by the ARN
    form RAM takes: arn:aws:organizations::<management account>:ou/<organization>/<OU>)."""
    org: Organization = facts["org"]
    [argv] = [c["argv"] for c in run.stub_calls if c["argv"][:2] == ["ram", "create-resource-share"]]
    assert _option(argv, "--name") == ["traffic-mirroring-targets"]
    arns = _option(argv, "--resource-arns")
    assert arns == [f"arn:aws:ec2:us-east-1:{ACCOUNT}:traffic-mirror-target/{t}" for t in facts["targets"]]
    found = lab.account("us-east-1").ec2.describe_traffic_mirror_targets(TrafficMirrorTargetIds=facts["targets"])
    assert len(found["TrafficMirrorTargets"]) == 2
    [principal] = _option(argv, "--principals")
    assert principal == f"arn:aws:organizations::{org.master}:ou/{org.id}/{org.ou}"
    described = lab.client("organizations", "us-east-1").describe_organizational_unit(OrganizationalUnitId=org.ou)
    assert described["OrganizationalUnit"]["Arn"] == principal


def build_reachability(lab: Lab) -> dict[str, Any]:
    """A hub VPC's appliance target in the pool (tag mirror-pool=prod), and two spoke VPCs that route to it."""
    account = lab.account("us-east-1")
    hub = account.new_vpc("10.40.0.0/16")
    spokes = [account.new_vpc("10.41.0.0/16"), account.new_vpc("10.42.0.0/16")]
    target = hub.eni_target(admit_vxlan_from="10.0.0.0/8")
    hub.tag_target(target, **{"mirror-pool": "prod"})
    stack = lab.deploy("us-east-1", TargetPool="prod")
    return {
        "stack": stack,
        "target": target,
        "spokes": spokes,
        "placeholders": {
            "tmt-0123456789abcdef0": target,
            "vpc-0aaaaaaaaaaaaaaa1": spokes[0].vpc_id,
            "vpc-0bbbbbbbbbbbbbbb2": spokes[1].vpc_id,
        },
    }


def check_reachability(lab: Lab, facts: dict[str, Any], run: RecipeRun) -> None:
    stack: DeployedStack = facts["stack"]
    for spoke in facts["spokes"]:
        instance = spoke.launch("m5.large", {"mirror": "true"})
        stack.launched(instance)
        assert_mirrored(stack, instance, facts["target"])


SAM = {
    "sam": "moto's CloudFormation cannot deploy the SAM template (the AWS::Serverless transform; SessionCleanup "
    "answers CloudFormation through Lambda): sam build and deploy are recorded, their arguments and samconfig.toml "
    "checked"
}
WORLDS: list[World] = [
    World(
        "an existing NLB, AWS defaults",
        r"create-traffic-mirror-target --network-load-balancer-arn",
        "eu-west-1",
        build_nlb_recipe,
        check_nlb_recipe,
    ),
    World(
        "make deploy (sam recorded)",
        r"\bmake\s+deploy\b",
        "us-east-1",
        build_nothing("us-east-1"),
        check_make_deploy,
        stubs=SAM,
    ),
    World(
        "a deployed stack to delete (sam recorded)",
        r"sam delete --stack-name",
        "us-east-1",
        build_nothing("us-east-1"),
        check_sam_delete,
        stubs={
            "sam": "moto cannot deploy the SAM template (transform, SessionCleanup); test_session_cleanup.py "
            "runs the deletion's cleanup"
        },
    ),
    World(
        "a stack in DELETE_FAILED with its sessions left, eu-west-1",
        r"--apply +# runs on DELETE_FAILED",
        "eu-west-1",
        build_delete_failed("eu-west-1"),
        check_recovered,
    ),
    World(
        "sessions of a deleted stack, eu-west-1",
        r"mirror-cleanup --stack-name traffic-mirroring --region eu-west-1 +# lists them",
        "eu-west-1",
        build_sessions_left("eu-west-1"),
        check_sessions_cleaned,
    ),
    World(
        "the recipe's own simulated account",
        r"python -m simulation\.server",
        "us-east-1",
        build_nothing("us-east-1"),
        check_simulated_account,
        expected_exits={"mirror-audit": 1},  # drift
    ),
    World(
        "a delivery in the events dead-letter queue",
        r"TARGET_ARN\.StringValue' <<<",
        "us-east-1",
        build_stack_with_failed_events("us-east-1", ("EventsDeadLetterQueue",)),
        check_replayed,
    ),
    World(
        "a record in the invocation failure queue",
        r"body=\$\(jq -r '\.Messages\[0\]\.Body'",
        "us-east-1",
        build_stack_with_failed_events("us-east-1", ("InvocationFailureQueue",)),
        check_replayed,
    ),
    World(
        "an Auto Scaling group",
        r"Key=mirror,Value=true,PropagateAtLaunch=true",
        "us-east-1",
        build_group,
        check_group_mirror_tag,
    ),
    World(
        "an Auto Scaling group (hook)",
        r"put-lifecycle-hook --auto-scaling-group-name my-group",
        "us-east-1",
        build_group,
        check_lifecycle_hook,
    ),
    World(
        "an Auto Scaling group with the hook, LifecycleHookMode=true",
        r"Key=mirror-lifecycle-hook,Value=traffic-mirroring",
        "us-east-1",
        build_group_with_hook,
        check_lifecycle_mirrored,
    ),
    World(
        "an instance to watch for 4 hours",
        r"create-tags --resources i-0abc --tags Key=mirror,Value=true",
        "us-east-1",
        build_incident,
        check_incident_window,
    ),
    World(
        "a deployed stack after a fix, both queues holding failures",
        r"audit\s+# expect \"Drift: none\"",
        "us-east-1",  # the runbook's `export AWS_REGION=eu-west-1` decides
        build_after_a_fix,
        check_after_a_fix,
    ),
    World(
        "a deployed stack, a failure in each queue",
        r"^replay EventsDeadLetterQueueUrl",
        "us-east-1",
        build_stack_with_failed_events("eu-west-1", ("EventsDeadLetterQueue", "InvocationFailureQueue")),
        check_replayed,
    ),
    World(
        "sessions of a deleted stack (the runbook's Region)",
        r"mirror-cleanup --stack-name \"\$STACK\" --apply",
        "us-east-1",
        build_sessions_left("eu-west-1"),
        check_removal,
    ),
    World("an organization", r"aws s3api create-bucket", "us-east-1", build_organization, check_buckets),
    World(
        "an organization with its buckets (sam recorded)",
        r"sam package --template-file",
        "us-east-1",
        build_packaging,
        check_packaging,
        stubs={
            "sam": "sam build installs the layer's requirements with pip (network, ~5 s) and sam package uploads "
            "what it built: its stand-in zips each code directory to the bucket and writes the packaged template"
        },
    ),
    World(
        "a release in the buckets",
        r"create-stack-set --region",
        "us-east-1",
        lambda lab: build_released(lab, stack_set=False, placeholders=("ou-abcd-11111111",)),
        check_stack_set_created,
        stubs={"aws cloudformation create-stack-instances": STACK_INSTANCES_STUB},
    ),
    World(
        "a StackSet",
        r"update-stack-instances --region",
        "us-east-1",
        lambda lab: build_released(lab, stack_set=True, placeholders=("ou-abcd-11111111", "Accounts=222222222222")),
        check_stack_instances_updated,
        stubs={"aws cloudformation update-stack-instances": STACK_INSTANCES_STUB},
    ),
    World(
        "a StackSet and a new release",
        r"update-stack-set --region",
        "us-east-1",
        lambda lab: build_released(lab, stack_set=True),
        check_stack_set_updated,
    ),
    World(
        "a StackSet to remove",
        r"delete-stack-instances --region",
        "us-east-1",
        lambda lab: build_released(lab, stack_set=True, placeholders=("ou-abcd-11111111",)),
        check_stack_set_removed,
        stubs={"aws cloudformation delete-stack-instances": STACK_INSTANCES_STUB},
    ),
    World(
        "a spoke with a Gateway Load Balancer endpoint",
        r"--gateway-load-balancer-endpoint-id vpce-",
        "us-east-1",
        build_pool_discovery,
        check_pool_discovery,
    ),
    World(
        "a hub with targets to share",
        r"aws ram create-resource-share",
        "us-east-1",
        build_shared_targets,
        check_shared_targets,
        stubs={
            "aws ram create-resource-share": "moto 5.2.5's RAM refuses traffic mirror target ARNs "
            "(MalformedArnException: You cannot share the selected resource type), which AWS RAM shares"
        },
    ),
    World(
        "a hub target and two spoke VPCs",
        r"Key\": \"mirror-reachable-from\"",
        "us-east-1",
        build_reachability,
        check_reachability,
    ),
]


# -- running a block in its world ------------------------------------------------------------------------------------
def worlds_for(block: Block) -> list[World]:
    return [world for world in WORLDS if re.search(world.matches, block.script, re.MULTILINE)]


def world_of(block: Block) -> World:
    """The one world of a block that changes AWS resources; otherwise the test fails and says what to add."""
    found = worlds_for(block)
    if len(found) != 1:
        pytest.fail(
            f"{block.path}:{block.line} ({block.id}) changes AWS resources "
            f"({', '.join(recipes.aws_changes(block.script))}) and {len(found) or 'no'} World of "
            f"tests/integration/test_doc_recipes.py matches it{': ' if found else ''}"
            f"{', '.join(w.name for w in found)}. Add one World to WORLDS whose `matches` finds this block only: "
            "`build` creates the resources the block assumes (AWS's defaults) and maps its placeholders to them, "
            "`check` asserts what the product needs of the result and runs the product on it."
        )
    return found[0]


CHANGING = [block for block in BLOCKS if recipes.aws_changes(block.script)]


def _param(block: Block) -> Any:
    found = worlds_for(block)
    marks = [pytest.mark.xfail(strict=True, raises=NotMirrored, reason=world.xfail) for world in found if world.xfail]
    return pytest.param(block, id=block.id, marks=marks)


@pytest.mark.parametrize("block", [_param(block) for block in CHANGING])
def test_the_recipe_works(lab: Lab, block: Block) -> None:
    world = world_of(block)
    stubs = {"sam": recipes.recorder("sam", SAM_STANDIN)}
    facts, run = run_in_world(lab, block, world, BLOCKS, stubs)
    expected = world.expected_exits.items()
    unexpected = [f for f in run.failures if not any(c in f.command and f.exit_code == e for c, e in expected)]
    assert not unexpected, run.explain()
    for command, code in expected:
        assert [f.exit_code for f in run.failed(command)] == [code], run.explain()
    world.check(lab, facts, run)


def test_the_recipes_found() -> None:
    """Every shell block of README.md and docs/, and how it is run (printed with -s): a block that changes AWS runs in
    its world; a read-only block needs none; a fragment shows options to add to a command."""
    rows = {}
    for block in BLOCKS:
        changes = recipes.aws_changes(block.script)
        if block.is_fragment:
            how = "fragment: options to add to a command, nothing to run"
        elif not changes:
            how = "read-only or local: not run"
        else:
            found = worlds_for(block)
            stubs = sorted({name for world in found for name in world.stubs})
            how = f"runs in: {', '.join(w.name for w in found) or 'NO WORLD'}" + (
                f" (recorded: {', '.join(stubs)})" if stubs else ""
            )
        rows[block.id] = how
    print("\n".join(f"{block_id:75} {how}" for block_id, how in rows.items()))
    assert len(rows) == len(BLOCKS)  # ids are unique
    assert rows["README.md:a-mirror-target:1"] == "runs in: an existing NLB, AWS defaults"
    assert rows["README.md:deploy:1"] == "runs in: make deploy (sam recorded) (recorded: sam)"  # the one command
    assert rows["README.md:quick-start:1"] == "read-only or local: not run"  # make demo, make test
    assert rows["README.md:audit-a-real-account:1"] == "read-only or local: not run"


# -- the harness itself -----------------------------------------------------------------------------------------------
def test_a_new_recipe_that_changes_aws_fails_until_it_has_a_world(tmp_path: Path) -> None:
    page = tmp_path / "new.md"
    page.write_text(
        "# New\n\n```bash\naws ec2 describe-vpcs   # read-only\n```\n\n"
        "```sh\n# aws ec2 delete-vpc in a comment changes nothing\naws ec2 create-vpc --cidr-block 10.9.0.0/16\n```\n",
        encoding="utf-8",
    )
    read_only, creating = recipes.shell_blocks([page])
    assert (recipes.aws_changes(read_only.script), recipes.aws_changes(creating.script)) == ([], ["aws ec2 create-vpc"])
    with pytest.raises(pytest.fail.Exception, match=r"aws ec2 create-vpc\) and no World .* Add one World"):
        world_of(creating)


def test_a_block_runs_after_what_its_page_defined_for_it() -> None:
    page = [b for b in BLOCKS if b.path == "docs/operations.md"]
    replay = next(b for b in page if "replay EventsDeadLetterQueueUrl" in b.script)
    prelude = recipes.prelude(replay, BLOCKS)
    assert prelude.startswith("export AWS_PROFILE=prod AWS_REGION=eu-west-1")  # every export of the page before it
    assert "output() {" in prelude and "STACK=traffic-mirroring" in prelude  # used through replay → output
    assert "audit() {" not in prelude  # defined earlier, not used here
