"""The AWS CLI, imported once: each ``aws`` command of a recipe runs in a fresh fork of a process that has already
imported awscli, instead of a new Python that imports it again (about 0.5 s of every call, most of a recipe's time).

``python -m tests.integration.aws_cli_server SOCKET`` serves; ``client(SOCKET)`` is the ``aws`` command the recipes
find on PATH. The client hands over its arguments, environment, working directory and its standard input, output
and error (the descriptors themselves); the fork takes them, runs ``awscli.clidriver.main()`` exactly as the ``aws``
script does, and the client exits with its exit code. Nothing else of the CLI changes: every call builds its own
session from the environment it was given.
"""

from __future__ import annotations

import json
import os
import socket
import sys

HEADER = 4  # bytes of the request's length
WARM_SERVICES = ("ec2", "elbv2", "cloudformation", "sqs", "lambda", "autoscaling", "s3", "organizations", "ram", "sts")


def _receive(connection: socket.socket) -> tuple[dict[str, object], list[int]]:
    message, descriptors, _, _ = socket.recv_fds(connection, 1 << 20, 3)
    size = int.from_bytes(message[:HEADER], "big")
    body = message[HEADER:]
    while len(body) < size:
        body += connection.recv(size - len(body))
    request: dict[str, object] = json.loads(body)
    return request, descriptors


def _run(request: dict[str, object], descriptors: list[int]) -> int:
    """In the fork: become the caller's `aws` process, then run the CLI as its script does."""
    import awscli
    import awscli.clidriver

    environment = dict(request["env"])  # type: ignore[call-overload]
    data_path = [environment["AWS_DATA_PATH"]] if environment.get("AWS_DATA_PATH") else []
    environment["AWS_DATA_PATH"] = os.pathsep.join([*data_path, os.path.join(os.path.dirname(awscli.__file__), "data")])
    if environment.get("LC_CTYPE", "") == "UTF-8":
        environment["LC_CTYPE"] = "en_US.UTF-8"
    os.environ.clear()
    os.environ.update(environment)
    os.chdir(str(request["cwd"]))
    for stream, descriptor in enumerate(descriptors):
        os.dup2(descriptor, stream)
        os.close(descriptor)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's own streams, as at start-up
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    sys.argv = ["aws", *request["argv"]]  # type: ignore[misc]
    try:
        code = awscli.clidriver.main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    sys.stdout.flush()
    sys.stderr.flush()
    return int(code or 0)


def serve(path: str) -> None:
    import awscli.clidriver
    import botocore.session  # the CLI's own copy (awscli.botocore), which it aliases as botocore

    # Every call would import the CLI's plugins and parse the same service models again: done once here, the
    # models kept in one cache that each call's loader reads (the data of the CLI's own files, unchanged).
    models: dict[object, object] = {}
    create_loader = botocore.session.create_loader

    def loader_sharing_models(*args: object, **kwargs: object) -> object:
        loader = create_loader(*args, **kwargs)
        loader._cache = models
        return loader

    botocore.session.create_loader = loader_sharing_models
    driver = awscli.clidriver.create_clidriver()
    for service in WARM_SERVICES:
        driver.session.get_service_model(service)
        driver.session.get_paginator_model(service)

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    print("ready", flush=True)
    while True:
        connection, _ = listener.accept()
        with connection:
            request, descriptors = _receive(connection)
            pid = os.fork()
            if pid == 0:
                listener.close()
                code = 255
                try:
                    code = _run(request, descriptors)
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
payload = json.dumps({{"argv": argv, "env": dict(os.environ), "cwd": os.getcwd()}}).encode()
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


def client(path: str, prepare: str = "") -> str:
    """The text of an ``aws`` command that runs each call in the server at ``path``; ``prepare`` (Python, at top
    level) may rewrite ``argv`` or ``os.environ`` first, or exit."""
    return CLIENT.format(python=sys.executable, path=path, prepare=prepare)


if __name__ == "__main__":
    serve(sys.argv[1])
