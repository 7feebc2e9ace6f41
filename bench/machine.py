"""The machine and software a figure was measured with, and the offline environment every benchmark runs in."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# No benchmark may reach a real account: fake credentials, no endpoint override, no profile.
OFFLINE_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "traffic-mirroring",
    "POWERTOOLS_METRICS_NAMESPACE": "TrafficMirroring",
}
_REMOVED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL")


@contextmanager
def offline_environment() -> Iterator[None]:
    """Fake credentials and region for the duration of a benchmark; the caller's environment comes back after."""
    saved = {name: os.environ.get(name) for name in (*OFFLINE_ENVIRONMENT, *_REMOVED)}
    os.environ.update(OFFLINE_ENVIRONMENT)
    for name in _REMOVED:
        os.environ.pop(name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def python_version_of(executable: str, env: Mapping[str, str] | None = None) -> str | None:
    try:
        done = subprocess.run(
            [executable, "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            timeout=60,
            env=dict(env) if env is not None else None,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def machine() -> dict[str, Any]:
    """What every figure states: CPU model, cores, memory, OS, Python, and the versions of moto/boto3/botocore."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    return {
        "cpu_model": _cpu_model(),
        "cores": usable,
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "moto": version("moto"),
        "boto3": version("boto3"),
        "botocore": version("botocore"),
    }


def describe(info: Mapping[str, Any]) -> str:
    """One line for the docs: '<cpu>, <n> cores, Python x.y.z, moto a.b.c'."""
    return (
        f"{info['cpu_model']}, {info['cores']} cores, {info['memory_gib']} GiB, {info['os']}, "
        f"Python {info['python']}, moto {info['moto']}, boto3 {info['boto3']}"
    )
