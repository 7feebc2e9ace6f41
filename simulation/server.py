"""A simulated AWS account over HTTP: a moto server in this process with the strict layer active, so the AWS CLI,
`mirror-audit` and `mirror-cleanup` can be pointed at it with ``AWS_ENDPOINT_URL``.

``python -m simulation.server`` seeds a small account (the stack's pool of two appliance targets, its filter, five
instances mirrored by the product's own reconciler (six sessions), another team's target and session, then a day's
drift: a tag removed and an instance launched while their events were lost, an unsupported type tagged), prints the
settings a deployed stack would have as shell ``export`` lines, and serves until stopped (Ctrl-C, or ``kill`` of the
PID it prints). ``--background`` serves from a child process and returns once the account is ready, so a script can
``eval "$(python -m simulation.server --background)"``. ``--empty`` seeds nothing.

The strict layer patches moto's classes in this process, so its rules (AWS's ``tag:`` filters among them, which
plain moto ignores) hold for every request the server answers. The server listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "layers" / "mirroring" / "python") not in sys.path:  # `python -m simulation.server` from a clone
    sys.path.insert(0, str(ROOT / "layers" / "mirroring" / "python"))

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
STACK_NAME = "traffic-mirroring"
REGION = "us-east-1"


@dataclass
class SimulatedAwsServer:
    """A ThreadedMotoServer on 127.0.0.1 (a free port unless one is given) inside the strict layer."""

    port: int = 0
    url: str = ""
    layer: Any = None
    _server: Any = field(default=None, repr=False)

    def reset(self) -> None:
        """Forget every resource of every account and Region (moto's own reset), as a new account would be."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()


@contextmanager
def simulated_aws_server(port: int = 0) -> Iterator[SimulatedAwsServer]:
    from moto.server import ThreadedMotoServer

    from simulation.strict_aws import StrictAws

    with StrictAws() as layer:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        host, bound = server.get_host_and_port()
        running = SimulatedAwsServer(bound, f"http://{host}:{bound}", layer, server)
        try:
            yield running
        finally:
            server.stop()


# -- the seeded account ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SeededAccount:
    """What `python -m simulation.server` built, as a deployed stack's settings and the facts a reader can check."""

    region: str
    stack_name: str
    target_ids: tuple[str, ...]
    filter_id: str
    instances: dict[str, str]  # name → instance ID
    ours: int  # sessions of the stack
    others: int  # sessions of the network team (untagged)
    drift: dict[str, str] = field(default_factory=dict)  # name → what the reconciler would do about it

    def settings_environment(self) -> dict[str, str]:
        """The variables the functions (and mirror-audit, mirror-cleanup) read, as a deployed stack sets them."""
        return {
            "TARGET_IDS": ",".join(self.target_ids),
            "FILTER_ID": self.filter_id,
            "MANAGED_BY": self.stack_name,
        }


def seed_small_account(endpoint_url: str, region: str = REGION, stack_name: str = STACK_NAME) -> SeededAccount:
    """A stack's account a day after its last reconcile, built through the server like any client would.

    The pool is two appliance ENI targets (one per zone) whose security group admits UDP 4789 from the VPC's CIDR, as
    the README's "Deploy" asks of an appliance; every other resource has AWS's defaults. The product's own
    reconciler creates the stack's sessions, so they carry exactly the tags a deployed stack writes.
    """
    from simulation.account import SimulatedAccount
    from traffic_mirroring.config import load_settings
    from traffic_mirroring.ec2_gateway import Ec2Gateway
    from traffic_mirroring.reconcile import reconcile_account

    account = SimulatedAccount(region, endpoint_url)
    zone_a, zone_b = account.zones[:2]
    pool = (account.eni_target(zone_a, admit_vxlan_from="vpc"), account.eni_target(zone_b, admit_vxlan_from="vpc"))
    filter_id: str = account.ec2.create_traffic_mirror_filter(
        Description=f"{stack_name}: accept all",
        TagSpecifications=[
            {"ResourceType": "traffic-mirror-filter", "Tags": [{"Key": "mirror-managed-by", "Value": stack_name}]}
        ],
    )["TrafficMirrorFilter"]["TrafficMirrorFilterId"]
    tagged = {"mirror": "true"}
    instances = {
        "web-1": account.launch("m5.large", {**tagged, "Name": "web-1"}, zone=zone_a),
        "web-2": account.launch("m5.large", {**tagged, "Name": "web-2"}, zone=zone_b),
        "db-1": account.launch("r5.large", {**tagged, "Name": "db-1"}, zone=zone_a, extra_enis=1),
        "api-1": account.launch("m7i.large", {**tagged, "Name": "api-1"}, zone=zone_b),
        "batch-1": account.launch("c5.large", {**tagged, "Name": "batch-1"}, zone=zone_a),
    }
    # The network team's own target, filter (DNS traffic only: it takes no packet ours needs) and a session of theirs
    # on web-1 (number 1): ours takes number 2 beside it. With the stack's accept-all filter their session would take
    # every packet first, and ours would be shadowed (AWS mirrors each packet once, by ascending session number).
    network_team = account.eni_target(zone_a, admit_vxlan_from="vpc")
    dns_only = account.filter_with_rules(
        *(
            {
                "TrafficDirection": direction,
                "RuleNumber": 100,
                "RuleAction": "accept",
                "Protocol": 17,
                "DestinationPortRange": {"FromPort": 53, "ToPort": 53},
                "SourceCidrBlock": "0.0.0.0/0",
                "DestinationCidrBlock": "0.0.0.0/0",
            }
            for direction in ("ingress", "egress")
        ),
        description="network team: DNS",
    )
    account.foreign_session(account.enis_of(instances["web-1"])[0], network_team, dns_only, 1)
    settings = load_settings(
        {
            "TARGET_IDS": ",".join(pool),
            "FILTER_ID": filter_id,
            "MANAGED_BY": stack_name,
            "ACCOUNT_ID": account.session.client("sts", endpoint_url=endpoint_url).get_caller_identity()["Account"],
        }
    )
    gateway = Ec2Gateway(account.ec2, account.elbv2, account_id=settings.account_id)
    reconcile_account(gateway, settings)
    # A day later, with both events lost: batch-1's tag removed (its session still bills), app-1 launched tagged.
    account.untag(instances["batch-1"], "mirror")
    instances["app-1"] = account.launch("m5.large", {**tagged, "Name": "app-1"}, zone=zone_b)
    instances["legacy-1"] = account.launch("t2.micro", {**tagged, "Name": "legacy-1"}, zone=zone_a)
    sessions = account.sessions()
    marker = {"Key": "mirror-managed-by", "Value": stack_name}
    ours = sum(marker in s.get("Tags", []) for s in sessions)
    return SeededAccount(
        region=region,
        stack_name=stack_name,
        target_ids=pool,
        filter_id=filter_id,
        instances=instances,
        ours=ours,
        others=len(sessions) - ours,
        drift={"batch-1": "delete (tag removed)", "app-1": "create (missed launch)", "legacy-1": "skip (t2.micro)"},
    )


def exports(url: str, region: str, seeded: SeededAccount | None, pid: int) -> str:
    """Shell lines that point the AWS CLI, the SDKs, mirror-audit and mirror-cleanup at the server."""
    variables = {
        "AWS_ENDPOINT_URL": url,
        **FAKE_CREDENTIALS,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        **(seeded.settings_environment() if seeded else {}),
        "SIMULATION_PID": str(pid),
    }
    assignments = " ".join(f"{name}={shlex.quote(value)}" for name, value in variables.items())
    return f"unset AWS_PROFILE AWS_SESSION_TOKEN\nexport {assignments}\n"


def summary(url: str, seeded: SeededAccount | None) -> str:
    if seeded is None:
        return f"Simulated AWS at {url}: an empty account (123456789012), every Region.\n"
    names = ", ".join(f"{name} {instance}" for name, instance in seeded.instances.items())
    drift = "; ".join(f"{name}: {what}" for name, what in seeded.drift.items())
    return (
        f"Simulated AWS at {url}: account 123456789012, {seeded.region}.\n"
        f"Stack {seeded.stack_name} (gone: no CloudFormation stack), pool {', '.join(seeded.target_ids)}, "
        f"filter {seeded.filter_id}.\n"
        f"Instances: {names}.\n"
        f"Sessions: {seeded.ours} of the stack, {seeded.others} of the network team. Drift: {drift}.\n"
    )


# -- the command -----------------------------------------------------------------------------------------------------
def _serve(args: argparse.Namespace, ready: Callable[[str, str], None]) -> None:
    os.environ.update(FAKE_CREDENTIALS)  # the seeding's own clients; the server accepts any
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_ENDPOINT_URL", None)  # the seeding passes the server's URL itself
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with simulated_aws_server(args.port) as server:
        seeded = None if args.empty else seed_small_account(server.url, args.region, args.stack_name)
        ready(exports(server.url, args.region, seeded, os.getpid()), summary(server.url, seeded))
        with suppress(KeyboardInterrupt):
            stop.wait()


def _in_background(args: argparse.Namespace) -> int:
    """Fork a server that outlives this command; print its exports once it is ready."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the server: detached from the caller's terminal and output, so `$(…)` returns
        os.close(read_end)
        os.setsid()
        quiet = os.open(os.devnull, os.O_RDWR)
        for stream in (0, 1, 2):
            os.dup2(quiet, stream)

        def ready(lines: str, text: str) -> None:
            os.write(write_end, f"ok\n{lines}\0{text}".encode())
            os.close(write_end)

        try:
            _serve(args, ready)
        except BaseException as error:  # reported by the parent; the child only exits
            with suppress(OSError):
                os.write(write_end, f"error: {type(error).__name__}: {error}\n".encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, encoding="utf-8") as pipe:
        answer = pipe.read()
    if not answer.startswith("ok\n"):
        print(f"simulation.server: {answer.strip() or 'the server exited before it was ready'}", file=sys.stderr)
        return 2
    lines, _, text = answer[3:].partition("\0")
    sys.stdout.write(lines)
    sys.stderr.write(
        text + f"Serving in the background: kill {lines.rsplit('SIMULATION_PID=', 1)[-1].strip()} to stop.\n"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulation.server",
        description="Serve a simulated AWS account (moto held to AWS's rules) on 127.0.0.1 and print its exports.",
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    parser.add_argument("--region", default=REGION, help=f"Region of the seeded account (default {REGION})")
    parser.add_argument("--stack-name", default=STACK_NAME, help=f"the seeded stack's name (default {STACK_NAME})")
    parser.add_argument("--empty", action="store_true", help="seed nothing")
    parser.add_argument("--background", action="store_true", help="serve from a child process; return when ready")
    args = parser.parse_args(argv)
    if args.background:
        return _in_background(args)

    def ready(lines: str, text: str) -> None:
        sys.stdout.write(lines)
        sys.stderr.write(text + "Serving until Ctrl-C.\n")
        sys.stdout.flush()

    _serve(args, ready)
    return 0


if __name__ == "__main__":
    sys.exit(main())
