"""Figure 3: import time of each handler module as a ratio to ``import boto3`` alone, and the package sizes.

Deployed form: the functions and the layer as ``sam build`` leaves them, imported by the template's runtime (Python
3.13) the way Lambda imports them: ``-S`` (no site), sys.path = [function dir, layer dir/python] before the standard
library, and no bytecode cache (the layer is built with --no-compile and /opt is read-only, so nothing is cached
there), with the Lambda environment variables that change what Powertools does at import: tracing as the template's
default Tracing parameter sets it, and, for contrast, with Tracing=Active.

Each measurement is a fresh interpreter, subjects alternating round by round (boto3, then each handler, the order
rotated every round), so a slow moment of the machine hits every subject alike. The import is timed inside the
interpreter (interpreter start-up is the same for all and not counted), in CPU time of the process: other work on the
machine delays an import (wall time) but barely changes the CPU it takes, so the ratio is the code's, not the load's.
Wall time is kept beside it (the cost model of figure 5 prices what Lambda bills: wall time).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

from bench.machine import ROOT, python_version_of
from simulation.eventbridge import load_template

BUDGET_RATIO = 1.15
RUNTIME_VERSION = "3.13.0"
BASELINE = "boto3"

# Runs in the measured interpreter: argv = [module, path, path, ...]. Prints seconds for the module, then for
# `import boto3` right after it (what the first invocation adds when the handler builds its clients).
_PROBE = """
import json, sys, time
module, paths = sys.argv[1], sys.argv[2:]
sys.path[:] = paths + [p for p in sys.path if p]
cpu_started, started = time.process_time(), time.perf_counter()
__import__(module)
cpu_imported, imported = time.process_time(), time.perf_counter()
import boto3
cpu_done, done = time.process_time(), time.perf_counter()
print(json.dumps({
    "seconds": imported - started, "with_boto3": done - started,
    "cpu_seconds": cpu_imported - cpu_started, "cpu_with_boto3": cpu_done - cpu_started,
    "modules": len(sys.modules),
}))
"""


@dataclass(frozen=True)
class Subject:
    name: str  # "boto3" or the function's logical ID
    module: str
    paths: tuple[str, ...]
    task_root: str


def functions_of_template() -> dict[str, str]:
    """Logical ID → CodeUri of every function in template.yaml."""
    template = load_template(ROOT / "template.yaml")
    return {
        logical_id: str(resource["Properties"]["CodeUri"])
        for logical_id, resource in template["Resources"].items()
        if isinstance(resource, dict) and resource.get("Type") == "AWS::Serverless::Function"
    }


def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def _env_with_venv() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["SAM_CLI_TELEMETRY"] = "0"
    return env


@contextmanager
def sam_build() -> Iterator[Path]:
    """``sam build`` of template.yaml into a temporary directory (its own cache: a fresh clone's first build)."""
    with tempfile.TemporaryDirectory(prefix="bench-sam-") as tmp:
        build_dir = Path(tmp) / "build"
        subprocess.run(
            [
                _tool("sam"),
                "build",
                "--template",
                str(ROOT / "template.yaml"),
                "--build-dir",
                str(build_dir),
                "--cache-dir",
                str(Path(tmp) / "cache"),
            ],
            cwd=ROOT,
            env=_env_with_venv(),
            check=True,
            capture_output=True,
            text=True,
        )
        yield build_dir


def runtime_python() -> tuple[str, str, str | None]:
    """(executable, version, note): the template's runtime, Python 3.13, or this interpreter when it is missing."""
    env = dict(os.environ, PYENV_VERSION=RUNTIME_VERSION)
    for candidate in ("python", "python3.13"):
        path = shutil.which(candidate)
        if path is None:
            continue
        try:
            done = subprocess.run(
                [path, "-c", "import sys; print(sys.executable)"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        executable = done.stdout.strip()
        version = python_version_of(executable)
        if version is not None and version.startswith("3.13"):
            return executable, version, None
    here = python_version_of(sys.executable) or "?"
    return sys.executable, here, f"Python 3.13 not found: measured with Python {here} instead"


def tracing_by_default() -> bool:
    """Does a stack deployed with the template's defaults trace (its Tracing parameter's default is Active)?"""
    return bool(load_template(ROOT / "template.yaml")["Parameters"]["Tracing"]["Default"] == "Active")


def lambda_environment(task_root: str, *, traced: bool) -> dict[str, str]:
    """What Lambda sets and what the template sets that matters at import (Powertools reads it then)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LAMBDA_TASK_ROOT": task_root,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": "bench-function",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "traffic-mirroring",
        "POWERTOOLS_METRICS_NAMESPACE": "TrafficMirroring",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        # The template's Globals: !If [TracingActive, "false", "true"]
        "POWERTOOLS_TRACE_DISABLED": "false" if traced else "true",
    }


def _measure_once(python: str, flags: tuple[str, ...], subject: Subject, traced: bool) -> dict[str, float]:
    done = subprocess.run(
        [python, *flags, "-c", _PROBE, subject.module, *subject.paths],
        env=lambda_environment(subject.task_root, traced=traced),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=tempfile.gettempdir(),  # nothing importable from the working directory
    )
    if done.returncode != 0:
        raise RuntimeError(f"importing {subject.name} failed:\n{done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(
    python: str, flags: tuple[str, ...], subjects: list[Subject], runs: int, *, traced: bool
) -> dict[str, dict[str, Any]]:
    """Median import CPU and wall seconds per subject, alternating subjects in fresh interpreters; ratios (of CPU
    time) to the baseline."""
    samples: dict[str, list[dict[str, float]]] = {s.name: [] for s in subjects}
    for round_ in range(runs):
        shift = round_ % len(subjects)
        for subject in subjects[shift:] + subjects[:shift]:
            samples[subject.name].append(_measure_once(python, flags, subject, traced))
    baseline = median(s["cpu_seconds"] for s in samples[BASELINE])
    results: dict[str, dict[str, Any]] = {}
    for name, measured in samples.items():
        cpu = median(s["cpu_seconds"] for s in measured)
        cpu_with_boto3 = median(s["cpu_with_boto3"] for s in measured)
        results[name] = {
            "median_cpu_seconds": round(cpu, 4),
            "median_cpu_seconds_with_boto3": round(cpu_with_boto3, 4),
            "median_seconds": round(median(s["seconds"] for s in measured), 4),
            "median_seconds_with_boto3": round(median(s["with_boto3"] for s in measured), 4),
            "ratio": round(cpu / baseline, 2),
            "ratio_with_boto3": round(cpu_with_boto3 / baseline, 2),
            "modules_loaded": int(median(s["modules"] for s in measured)),
            "runs": len(measured),
        }
    return results


def _sizes(directory: Path) -> dict[str, int]:
    on_disk = 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                on_disk += path.stat().st_size
                archive.write(path, path.relative_to(directory).as_posix())
    return {"bytes_on_disk": on_disk, "zipped_bytes": len(buffer.getvalue())}


def deployed_subjects(build_dir: Path, functions: Mapping[str, str]) -> list[Subject]:
    layer = str(build_dir / "MirroringLayer" / "python")
    subjects = [Subject(BASELINE, "boto3", (layer,), layer)]
    for logical_id in functions:
        task_root = str(build_dir / logical_id)
        subjects.append(Subject(logical_id, "app", (task_root, layer), task_root))
    return subjects


def source_subjects(functions: Mapping[str, str]) -> list[Subject]:
    """The dev venv (site-packages with their .pyc): the function's source dir first, the layer package from source."""
    layer = str(ROOT / "layers" / "mirroring" / "python")
    subjects = [Subject(BASELINE, "boto3", (), layer)]
    for logical_id, code_uri in functions.items():
        task_root = str(ROOT / code_uri)
        subjects.append(Subject(logical_id, "app", (task_root, layer), task_root))
    return subjects


def run(runs: int = 11, build: bool = True) -> dict[str, Any]:
    """Deployed form after ``sam build`` (when ``build``), and the dev venv for contrast."""
    functions = functions_of_template()
    traced = tracing_by_default()
    result: dict[str, Any] = {"budget_ratio": BUDGET_RATIO, "runs": runs, "traced_by_default": traced}
    dev_python = sys.executable
    result["dev_venv"] = {
        "python": python_version_of(dev_python),
        "form": "the dev venv: site enabled, site-packages with .pyc, function and layer from source",
        "subjects": measure(dev_python, (), source_subjects(functions), runs, traced=traced),
    }
    if build:
        python, version, note = runtime_python()
        form = "after sam build: python -S, PYTHONDONTWRITEBYTECODE=1, sys.path = [function dir, layer/python]"
        with sam_build() as build_dir:
            subjects = deployed_subjects(build_dir, functions)
            measured = measure(python, ("-S",), subjects, runs, traced=traced)
            measured_traced = measure(python, ("-S",), subjects, runs, traced=not traced)
            sizes = {name: _sizes(build_dir / name) for name in [*functions, "MirroringLayer"]}
        tracing = "Active" if traced else "PassThrough"
        result["deployed"] = {
            "python": version,
            "note": note,
            "form": f"{form}; the template's default Tracing={tracing}",
            "subjects": measured,
        }
        result["deployed_other_tracing"] = {
            "python": version,
            "note": note,
            "form": f"{form}; Tracing={'PassThrough' if traced else 'Active'}, for contrast (no budget)",
            "subjects": measured_traced,
        }
        result["package_sizes"] = sizes
        handlers = {k: v for k, v in measured.items() if k != BASELINE}
        result["worst_ratio"] = max(v["ratio"] for v in handlers.values())
        result["within_budget"] = result["worst_ratio"] <= BUDGET_RATIO
    return result
