"""Commands imported once: each call of a recipe's ``aws``, ``mirror-audit`` or ``mirror-cleanup`` runs in a fresh fork
of a process that has already imported that command, instead of a new Python importing it again (about 0.5 s for
the AWS CLI, 1 s for the project's commands, most of a recipe's time).

``python tests/integration/command_server.py SOCKET aws`` serves the AWS CLI; ``… SOCKET project`` serves the
project's console scripts (pyproject.toml's ``[project.scripts]``). Two processes: the AWS CLI aliases ``botocore``
to its own copy, which the project's boto3 must not see. ``client(SOCKET, name)`` is the text of the command the
recipes find on PATH: it hands over its arguments, environment, working directory and its standard input, output
and error (the descriptors themselves); the fork takes them and runs the command's ``main()`` exactly as its script
does; the client exits with its exit code. Nothing of the commands changes: every call builds its own clients and
sessions from the environment it was given.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HEADER = 4  # bytes of the request's length
# Service models parsed before the first call (any other is parsed by the call that needs it).
AWS_CLI_SERVICES = ("ec2", "elbv2", "cloudformation", "sqs", "lambda", "autoscaling", "s3", "organizations", "sts")
PROJECT_SERVICES = ("ec2", "elbv2", "sts", "cloudformation")


def _share_models(session_module: Any) -> None:
    """Every session's loader reads one cache of parsed models (the same files' data, parsed once)."""
    models: dict[object, object] = {}
    create_loader = session_module.create_loader

    def loader_sharing_models(*args: object, **kwargs: object) -> object:
        loader = create_loader(*args, **kwargs)
        loader._cache = models
        return loader

    session_module.create_loader = loader_sharing_models


def _aws_cli() -> dict[str, Callable[[], Any]]:
    import awscli.clidriver
    import botocore.session  # the CLI's own copy (awscli.botocore), which it aliases as botocore

    _share_models(botocore.session)
    driver = awscli.clidriver.create_clidriver()  # imports the CLI's plugins, as every call would
    for service in AWS_CLI_SERVICES:
        driver.session.get_service_model(service)
        driver.session.get_paginator_model(service)
    return {"aws": awscli.clidriver.main}


def _project() -> dict[str, Callable[[], Any]]:
    import botocore.session

    _share_models(botocore.session)
    for service in PROJECT_SERVICES:
        botocore.session.get_session().get_service_model(service)
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    entries: dict[str, Callable[[], Any]] = {}
    for name, target in scripts.items():
        module, function = target.split(":")
        entries[name] = getattr(importlib.import_module(module), function)
    return entries


def _receive(connection: socket.socket) -> tuple[dict[str, Any], list[int]]:
    message, descriptors, _, _ = socket.recv_fds(connection, 1 << 20, 3)
    size = int.from_bytes(message[:HEADER], "big")
    body = message[HEADER:]
    while len(body) < size:
        body += connection.recv(size - len(body))
    request: dict[str, Any] = json.loads(body)
    return request, descriptors


def _run(main: Callable[[], Any], request: dict[str, Any], descriptors: list[int]) -> int:
    """In the fork: become the caller's process (environment, directory, streams, arguments), then run ``main``."""
    environment = dict(request["env"])
    if request["command"] == "aws":  # what importing awscli does to the environment, and the aws script
        import awscli

        data = [environment["AWS_DATA_PATH"]] if environment.get("AWS_DATA_PATH") else []
        environment["AWS_DATA_PATH"] = os.pathsep.join([*data, os.path.join(os.path.dirname(awscli.__file__), "data")])
        if environment.get("LC_CTYPE", "") == "UTF-8":
            environment["LC_CTYPE"] = "en_US.UTF-8"
    os.environ.clear()
    os.environ.update(environment)
    os.chdir(request["cwd"])
    for stream, descriptor in enumerate(descriptors):
        os.dup2(descriptor, stream)
        os.close(descriptor)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's own streams, as at start-up
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    sys.argv = [request["command"], *request["argv"]]
    try:
        code = main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    sys.stdout.flush()
    sys.stderr.flush()
    return int(code or 0)


def serve(path: str, kind: str) -> None:
    entries = _aws_cli() if kind == "aws" else _project()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    listener.settimeout(2)
    parent = os.getppid()
    print("ready", flush=True)
    while True:
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            if os.getppid() != parent:  # the test run is gone (even killed): so is this server
                return
            continue
        connection.settimeout(None)
        with connection:
            request, descriptors = _receive(connection)
            pid = os.fork()
            if pid == 0:
                listener.close()
                code = 255
                try:
                    code = _run(entries[request["command"]], request, descriptors)
                finally:
                    os._exit(code)
            for descriptor in descriptors:
                os.close(descriptor)
            _, status = os.waitpid(pid, 0)
            connection.sendall(os.waitstatus_to_exitcode(status).to_bytes(4, "big", signed=True))


CLIENT = """#!{python} -S
import json, os, socket, sys
argv = sys.argv[1:]
{prepare}
payload = json.dumps({{"command": {command!r}, "argv": argv, "env": dict(os.environ), "cwd": os.getcwd()}}).encode()
connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
connection.connect({path!r})
socket.send_fds(connection, [len(payload).to_bytes(4, "big") + payload], [0, 1, 2])
answer = b""
while len(answer) < 4:
    part = connection.recv(4 - len(answer))
    if not part:
        sys.exit(255)
    answer += part
sys.exit(int.from_bytes(answer, "big", signed=True) & 0xFF)
"""


def client(path: str, command: str, prepare: str = "") -> str:
    """The text of a ``command`` that runs each call in the server at ``path``; ``prepare`` (Python, at top level)
    may rewrite ``argv`` or ``os.environ`` first, or exit."""
    return CLIENT.format(python=sys.executable, path=path, command=command, prepare=prepare)


def project_commands() -> list[str]:
    scripts: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    return sorted(scripts)


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])
