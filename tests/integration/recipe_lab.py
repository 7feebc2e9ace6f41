"""The laboratory of tests/integration/test_doc_recipes.py: a simulated account served over HTTP, a stack as it looks
once deployed, and the running of a recipe in the world it assumes."""

from __future__ import annotations

import importlib
import io
import json
import re
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from moto.awslambda.models import LambdaFunction

from simulation.account import SimulatedAccount
from simulation.eventbridge import load_rules, load_template, matching_rules
from simulation.lambda_runtime import LambdaContext, sample_event
from simulation.server import SimulatedAwsServer, simulated_aws_server
from simulation.strict_aws import StrictAws
from tests.integration import command_server, recipes
from tests.integration.recipes import ROOT, Block, RecipeRun
from tests.integration.transformed_template import STACK_FILTER, Resolver
from traffic_mirroring.config import Settings, load_settings
from traffic_mirroring.ec2_gateway import Ec2Gateway
from traffic_mirroring.runtime import Runtime

ACCOUNT = "123456789012"  # moto's account: the one the blocks run in
STACK = "traffic-mirroring"
TEMPLATE_PATH = ROOT / "template.yaml"


class NotMirrored(AssertionError):
    """The product ran on what a recipe built and mirrored nothing: the one failure a world may expect (xfail)."""


FunctionEntry = tuple[Callable[..., Any], "Runtime"]


@dataclass
class Shared:
    """What the module's tests share: the moto server, the functions it runs in process, the command servers."""

    server: SimulatedAwsServer
    functions: dict[str, FunctionEntry]
    commands: dict[str, str]  # "aws", "project" → socket of a tests/integration/command_server.py


@contextmanager
def shared_lab(where: Path) -> Iterator[Shared]:
    """One moto server for the module (strict layer on). moto runs a Lambda function in Docker; here a function the
    world registered runs the product's handler in this process instead (anything else answers an error)."""
    functions: dict[str, FunctionEntry] = {}

    def invoke_in_process(self: Any, event: Any = None) -> tuple[str, bool, str]:
        entry = functions.get(self.function_name)
        if entry is None:
            return json.dumps({"errorMessage": f"{self.function_name} is not simulated"}), True, ""
        handler, runtime = entry
        context = LambdaContext(function_name=self.function_name, invoked_function_arn=self.function_arn)
        try:
            result = handler(json.loads(event) if isinstance(event, str) else event, context, runtime=runtime)
        except Exception as error:  # Lambda answers the error as the payload, with X-Amz-Function-Error
            return json.dumps({"errorMessage": str(error), "errorType": type(error).__name__}), True, ""
        return json.dumps(result, default=str), False, ""

    sockets = {kind: str(where / f"{kind}.sock") for kind in ("aws", "project")}
    servers = [
        subprocess.Popen(
            [sys.executable, command_server.__file__, path, kind],
            stdout=subprocess.PIPE,
            env={**recipes.environment_variables(), "HOME": str(where)},
            cwd=ROOT,
            text=True,
        )
        for kind, path in sockets.items()
    ]
    try:
        for started in servers:
            assert started.stdout is not None and started.stdout.readline().strip() == "ready"
        with simulated_aws_server() as running:
            original = LambdaFunction._invoke_lambda
            LambdaFunction._invoke_lambda = invoke_in_process
            try:
                yield Shared(running, functions, sockets)
            finally:
                LambdaFunction._invoke_lambda = original
    finally:
        for started in servers:
            started.terminate()
            started.wait(timeout=10)


@dataclass
class DeployedStack:
    """What a deployed stack shows the runbooks and does: its name, parameters and outputs in CloudFormation, its two
    queues, its functions (each one the product's handler), the filter it created, and its settings."""

    name: str
    region: str
    account: SimulatedAccount
    parameters: dict[str, str]
    settings: Settings
    runtime: Runtime
    functions: dict[str, str]  # logical ID → function name
    queues: dict[str, str]  # logical ID → queue URL

    def sessions(self, instance_id: str | None = None) -> list[dict[str, Any]]:
        marker = {"Key": "mirror-managed-by", "Value": self.settings.managed_by}
        found = [s for s in self.account.sessions() if marker in s.get("Tags", [])]
        if instance_id is not None:
            found = [s for s in found if {"Key": "mirror-instance-id", "Value": instance_id} in s["Tags"]]
        return found

    def event(self, name: str, instance_id: str, **detail: Any) -> dict[str, Any]:
        """A sample from events/ for this instance, from this stack's account and Region."""
        sample = sample_event(name, instance_id, **detail)
        sample["region"], sample["account"] = self.region, self.settings.account_id
        sample["resources"] = [r.replace(":us-east-1:", f":{self.region}:") for r in sample.get("resources", [])]
        return sample

    def deliver(self, event: dict[str, Any]) -> dict[str, Any]:
        """Hand the event to every function whose rule in template.yaml (with this stack's parameters) matches it."""
        answers: dict[str, Any] = {}
        for rule in matching_rules(load_rules(TEMPLATE_PATH, self.parameters), event):
            module_name, function = rule.handler.split(".", 1)
            module = importlib.import_module(rule.code_uri.strip("/").replace("/", ".") + "." + module_name)
            answers[rule.function_logical_id] = getattr(module, function)(event, LambdaContext(), runtime=self.runtime)
        return answers

    def launched(self, instance_id: str) -> dict[str, Any]:
        return self.deliver(self.event("ec2-instance-running.json", instance_id))

    def status(self, instance_id: str) -> str | None:
        return self.account.tags_of(instance_id).get("mirror-status")


@dataclass
class Lab:
    """One test's view of the shared server (reset for it) and its scratch directory, with the verbs worlds use."""

    server: SimulatedAwsServer
    functions: dict[str, FunctionEntry]
    commands: dict[str, str]
    work: Path
    accounts: dict[str, SimulatedAccount] = field(default_factory=dict)

    @property
    def layer(self) -> StrictAws:
        layer: StrictAws = self.server.layer
        return layer

    def account(self, region: str) -> SimulatedAccount:
        if region not in self.accounts:
            self.accounts[region] = SimulatedAccount(region, self.server.url)
        return self.accounts[region]

    def client(self, service: str, region: str) -> Any:
        return boto3.session.Session(region_name=region).client(service, endpoint_url=self.server.url)

    def stack_filter(self, account: SimulatedAccount, managed_by: str) -> str:
        """The filter a stack with an empty FilterId creates: accept everything, tagged with its marker."""
        filter_id: str = account.ec2.create_traffic_mirror_filter(
            Description=f"{managed_by}: all traffic",
            TagSpecifications=[
                {"ResourceType": "traffic-mirror-filter", "Tags": [{"Key": "mirror-managed-by", "Value": managed_by}]}
            ],
        )["TrafficMirrorFilter"]["TrafficMirrorFilterId"]
        return filter_id

    def settings(
        self, region: str, parameters: Mapping[str, str], stack_name: str = STACK, account_id: str = ACCOUNT
    ) -> tuple[Settings, str]:
        """The functions' settings for these parameters: template.yaml's Globals environment, resolved as
        CloudFormation would (the filter the stack creates stands in for !Ref MirrorFilter). Also the marker."""
        template = load_template(TEMPLATE_PATH)
        resolver = Resolver(template, dict(parameters))
        resolver.values.update({"AWS::StackName": stack_name, "AWS::Region": region, "AWS::AccountId": account_id})
        variables = resolver.resolve(template["Globals"]["Function"]["Environment"]["Variables"])
        environment = {name: str(value) for name, value in variables.items()}
        return load_settings(environment), environment["MANAGED_BY"]

    def runtime(self, account: SimulatedAccount, settings: Settings) -> Runtime:
        gateway = Ec2Gateway(
            account.ec2,
            account.elbv2,
            target_cache_seconds=settings.target_cache_seconds,
            autoscaling=account.autoscaling,
            account_id=settings.account_id,
        )
        return Runtime(settings, gateway)

    def deploy(self, region: str, stack_name: str = STACK, **parameters: str) -> DeployedStack:
        """A stack as `make deploy` leaves it, as far as the runbooks see it (see DeployedStack). CloudFormation in
        moto cannot run the SAM template itself (its transform; SessionCleanup answers CloudFormation through
        Lambda), so the stack here holds the template's own parameters and outputs and the two queues; the functions
        are created in the simulated Lambda under the names CloudFormation gives them."""
        account = self.account(region)
        template = load_template(TEMPLATE_PATH)
        resolver = Resolver(template, parameters)
        resolver.values.update({"AWS::StackName": stack_name, "AWS::Region": region})
        settings, managed_by = self.settings(region, parameters, stack_name)
        filter_id = settings.filter_id
        if filter_id == STACK_FILTER:
            filter_id = self.stack_filter(account, managed_by)
            settings, _ = self.settings(region, {**parameters, "FilterId": filter_id}, stack_name)
        runtime = self.runtime(account, settings)
        function_names: dict[str, str] = {}
        lam, iam = self.client("lambda", region), self.client("iam", region)
        role = iam.create_role(RoleName=f"{stack_name}-functions-{uuid.uuid4().hex[:6]}", AssumeRolePolicyDocument="{}")
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("app.py", "")
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] != "AWS::Serverless::Function":
                continue
            if "Condition" in resource and not resolver.condition(resource["Condition"]):
                continue
            name = f"{stack_name}-{logical_id}-{uuid.uuid4().hex[:12].upper()}"[-64:]
            properties = resource["Properties"]
            entry = str(properties.get("Handler", template["Globals"]["Function"].get("Handler")))
            lam.create_function(
                FunctionName=name,
                Runtime="python3.13",
                Role=role["Role"]["Arn"],
                Handler=entry,
                Code={"ZipFile": code.getvalue()},
            )
            module_name, handler = entry.split(".", 1)
            module = importlib.import_module(
                str(properties["CodeUri"]).strip("/").replace("/", ".") + "." + module_name
            )
            self.functions[name] = (getattr(module, handler), runtime)
            function_names[logical_id] = name
        queues = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::SQS::Queue"]
        outputs: dict[str, Any] = {}
        for key, output in template["Outputs"].items():
            if "Condition" in output and not resolver.condition(output["Condition"]):
                continue
            value = resolver.resolve(output["Value"])
            if value == STACK_FILTER:
                value = filter_id
            elif isinstance(value, str) and value.startswith("ref:"):
                logical_id = value[4:]
                value = {"Ref": logical_id} if logical_id in queues else function_names.get(logical_id, value)
            outputs[key] = {"Value": value}
        body = {
            "Parameters": {name: {"Type": "String", "Default": ""} for name in template["Parameters"]},
            "Resources": {logical_id: {"Type": "AWS::SQS::Queue"} for logical_id in queues},
            "Outputs": outputs,
        }
        values = {
            name: str(parameters.get(name, spec.get("Default", ""))) for name, spec in template["Parameters"].items()
        }
        cloudformation = self.client("cloudformation", region)
        cloudformation.create_stack(
            StackName=stack_name,
            TemplateBody=json.dumps(body),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
        )
        resources = cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]
        queue_urls = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
        return DeployedStack(
            stack_name, region, account, dict(parameters), settings, runtime, function_names, queue_urls
        )

    def function_arn(self, stack: DeployedStack, logical_id: str) -> str:
        return f"arn:aws:lambda:{stack.region}:{ACCOUNT}:function:{stack.functions[logical_id]}"

    def send(self, stack: DeployedStack, queue: str, body: Mapping[str, Any], attributes: Mapping[str, str]) -> None:
        self.client("sqs", stack.region).send_message(
            QueueUrl=stack.queues[queue],
            MessageBody=json.dumps(body),
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )

    def messages_left(self, stack: DeployedStack, queue: str) -> int:
        sqs = self.client("sqs", stack.region)
        attributes = sqs.get_queue_attributes(
            QueueUrl=stack.queues[queue],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


Build = Callable[[Lab], dict[str, Any]]
Check = Callable[[Lab, dict[str, Any], RecipeRun], None]


@dataclass(frozen=True)
class World:
    """What a block assumes, and what must hold after it.

    ``matches``: a regular expression found in the blocks this world is for. ``region``: ``AWS_DEFAULT_REGION`` of the
    shell the block runs in (a page may export ``AWS_REGION``, which wins, as in AWS CLI v2). ``build(lab)`` creates
    the resources and returns facts for ``check``; its ``placeholders`` entry (text in the block → the world's value)
    makes the block name this world's resources. ``check(lab, facts, run)`` asserts what the product needs.
    ``stubs``: command → why it is replaced by a recorder. ``expected_exits``: a command (text in the failing line) →
    the exit code it must have. ``xfail``: a known product gap, reported until fixed (the test must then fail with
    ``NotMirrored`` only).
    """

    name: str
    matches: str
    region: str
    build: Build
    check: Check
    stubs: Mapping[str, str] = field(default_factory=dict)
    expected_exits: Mapping[str, int] = field(default_factory=dict)
    xfail: str | None = None


def assert_mirrored(stack: DeployedStack, instance_id: str, target_id: str | None = None) -> None:
    """Mirrored on the event just delivered: every ENI has one session of ours (on ``target_id``), status mirrored."""
    sessions = stack.sessions(instance_id)
    enis = stack.account.enis_of(instance_id)
    status = stack.status(instance_id)
    if sorted(s["NetworkInterfaceId"] for s in sessions) != sorted(enis) or status != "mirrored":
        raise NotMirrored(f"{instance_id}: mirror-status {status!r}, sessions {sessions}")
    if target_id is not None:
        assert {s["TrafficMirrorTargetId"] for s in sessions} == {target_id}


AWS_SHIM = r"""
# AWS CLI v2, which users run, reads AWS_REGION before AWS_DEFAULT_REGION, sends every service to AWS_ENDPOINT_URL
# and takes --cli-binary-format raw-in-base64-out; the pinned v1 is made to do the same (it sends blobs raw already).
if os.environ.get("AWS_REGION"):
    os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"]
given, argv = argv, []
while given:
    word = given.pop(0)
    if word == "--cli-binary-format" and given[:1] == ["raw-in-base64-out"]:
        given.pop(0)
    elif word != "--cli-binary-format=raw-in-base64-out":
        argv.append(word)
if ":".join(argv[:2]) in os.environ.get("RECIPE_AWS_STUBS", "").split():
    with open(os.environ["RECIPE_STUB_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps({"command": "aws", "argv": argv, "cwd": os.getcwd()}) + "\n")
    print(json.dumps({"OperationId": "recorded-by-the-test"}))
    sys.exit(0)
argv = ["--endpoint-url", os.environ["AWS_ENDPOINT_URL"], *argv]
"""


def substitute(script: str, placeholders: Mapping[str, str]) -> str:
    for text, value in placeholders.items():
        assert text in script, f"placeholder {text!r} is not in the block any more: update its world"
        script = script.replace(text, value)
    return script


def run_in_world(
    lab: Lab, block: Block, world: World, blocks: Sequence[Block], stub_scripts: Mapping[str, str]
) -> tuple[dict[str, Any], RecipeRun]:
    """Build the world, then run the block after its prelude in a scratch clone; ``stub_scripts``: command → the
    recorder that replaces it (for the world's stubs that are not `aws` subcommands)."""
    facts = world.build(lab)
    region = world.region
    stubs = {name: stub_scripts[name] for name in world.stubs if not name.startswith("aws ")}
    stubs["aws"] = command_server.client(lab.commands["aws"], "aws", AWS_SHIM)
    for name in command_server.project_commands():
        stubs.setdefault(name, command_server.client(lab.commands["project"], name))
    clone = recipes.scratch_clone(lab.work, stubs)
    home = lab.work / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "config").write_text("[default]\n[profile prod]\n", encoding="utf-8")
    (home / ".aws" / "credentials").write_text(
        "[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
        "[prod]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
        encoding="utf-8",
    )
    environment = {
        **recipes.environment_variables(),
        "PATH": f"{clone / '.venv' / 'bin'}:{recipes.environment_variables()['PATH']}",
        "HOME": str(home),
        "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": region,
        "AWS_ENDPOINT_URL": lab.server.url,
        "AWS_EC2_METADATA_DISABLED": "true",
        "TMPDIR": str(lab.work),
        "SAM_CLI_TELEMETRY": "0",
        "RECIPE_AWS_STUBS": " ".join(name[4:].replace(" ", ":") for name in world.stubs if name.startswith("aws ")),
    }
    script = recipes.prelude(block, blocks) + "\n" + substitute(block.script, facts["placeholders"])
    leftover = re.findall(r"\S*…\S*", recipes.without_comments(script))
    assert not leftover, f"placeholders {leftover} of {block.id}: map each to a value in its world's placeholders"
    run = recipes.run_recipe(script, cwd=clone, environment=environment, work=lab.work)
    return facts, run
