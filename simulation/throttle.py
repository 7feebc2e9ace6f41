"""A rate-limiting front for a moto server: EC2's request rate limit, offline.

EC2 meters API requests per account with token buckets and answers ``RequestLimitExceeded`` (HTTP 503) to a request
above the rate. moto never throttles, so ``ThrottlingProxy`` sits between the SDK and a moto server (for example
``moto.server.ThreadedMotoServer``): it forwards every request and, for the services it limits (EC2 by default),
answers a request with no token left the way EC2 does. The SDK's retry mode then does what it does in production.

Only for tests and benchmarks: it binds 127.0.0.1 and trusts its upstream.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

EC2_THROTTLED_BODY = (
    b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error>"
    b"</Errors><RequestID>x</RequestID></Response>"
)
_SERVICE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"})


class TokenBucket:
    """``rate`` tokens a second, at most ``capacity`` saved up; one token per request. Thread-safe."""

    def __init__(self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("rate must be positive and capacity at least 1")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._at = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


class ThrottlingProxy:
    """A threaded HTTP proxy on 127.0.0.1 in front of ``upstream`` (``http://host:port``).

    Requests to a limited service above ``rate`` a second (after a burst of ``burst``) get EC2's throttling
    answer. ``forwarded``, ``throttled`` and ``operations`` (by service and Action, forwarded only) count what
    passed. Use as a context manager, or ``start()``/``stop()``.
    """

    def __init__(
        self,
        upstream: str,
        rate: float,
        *,
        burst: float | None = None,
        limited_services: Collection[str] = ("ec2",),
        port: int = 0,
    ) -> None:
        target = urlsplit(upstream)
        if target.scheme != "http" or not target.hostname:
            raise ValueError(f"upstream must be http://host:port, got {upstream!r}")
        self.upstream_host = target.hostname
        self.upstream_port = target.port or 80
        self.bucket = TokenBucket(rate, burst if burst is not None else max(1.0, rate / 10))
        self.limited_services = frozenset(limited_services)
        self.forwarded: Counter[str] = Counter()  # by service
        self.throttled: Counter[str] = Counter()  # by service
        self.operations: Counter[str] = Counter()  # "service:Action", forwarded
        self._count_lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ThrottlingProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, name="throttling-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> ThrottlingProxy:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    # -- one request -------------------------------------------------------------------------------------------
    def _admit(self, service: str, action: str) -> bool:
        allowed = service not in self.limited_services or self.bucket.take()
        with self._count_lock:
            if allowed:
                self.forwarded[service] += 1
                self.operations[f"{service}:{action}"] += 1
            else:
                self.throttled[service] += 1
        return allowed

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self
        local = threading.local()  # one keep-alive connection upstream per proxy thread

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                found = _SERVICE.search(self.headers.get("Authorization", ""))
                service = found.group(1) if found else "unknown"
                action = (parse_qs(body.decode("utf-8", "replace")).get("Action") or ["?"])[0]
                if not proxy._admit(service, action):
                    self._answer(503, EC2_THROTTLED_BODY, [("Content-Type", "text/xml;charset=UTF-8")])
                    return
                status, payload, headers = self._upstream(body)
                self._answer(status, payload, headers)

            def _upstream(self, body: bytes) -> tuple[int, bytes, list[tuple[str, str]]]:
                for attempt in (1, 2):  # a kept-alive connection the server closed meanwhile: reconnect once
                    connection: http.client.HTTPConnection | None = getattr(local, "connection", None)
                    if connection is None:
                        connection = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
                        local.connection = connection
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                    try:
                        connection.request(self.command, self.path, body=body, headers=headers)
                        response = connection.getresponse()
                        payload = response.read()
                    except (ConnectionError, http.client.HTTPException):
                        connection.close()
                        local.connection = None
                        if attempt == 2:
                            raise
                        continue
                    kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
                    return response.status, payload, kept
                raise AssertionError("unreachable")

            def _answer(self, status: int, payload: bytes, headers: list[tuple[str, str]]) -> None:
                self.send_response(status)
                for key, value in headers:
                    if key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _forward  # http.server dispatches on these names

        return Handler
