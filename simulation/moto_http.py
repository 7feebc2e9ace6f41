"""moto as a real HTTP server on 127.0.0.1, and boto3 sessions whose clients talk to it: the set-up of a burst under a
throttled EC2 API, where each Lambda container builds its own clients through ``Runtime.from_environment`` and the
SDK's retries meet ``simulation.throttle.ThrottlingProxy`` (bench/burst.py, the burst property test)."""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from simulation.strict_aws import StrictAws


class ProxiedSession:
    """A boto3 session whose clients talk to one endpoint (what ``AWS_ENDPOINT_URL`` does, without the process env)."""

    def __init__(self, endpoint_url: str) -> None:
        self._session = boto3.session.Session()
        self._endpoint_url = endpoint_url

    def client(self, service: str, **kwargs: Any) -> Any:
        return self._session.client(service, endpoint_url=self._endpoint_url, **kwargs)  # type: ignore[call-overload]


@contextmanager
def moto_server(*patches: AbstractContextManager[Any]) -> Iterator[str]:
    """moto over HTTP on 127.0.0.1 (its URL), fresh backends, ``patches`` entered, then the strict layer (both patch
    moto in this process, whose backends the server shares)."""
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    reset = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    try:
        urllib.request.urlopen(reset).close()
        with ExitStack() as stack:
            for patch in patches:
                stack.enter_context(patch)
            stack.enter_context(StrictAws())
            yield url
    finally:
        urllib.request.urlopen(reset).close()
        server.stop()
        werkzeug.setLevel(level)
