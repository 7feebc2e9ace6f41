"""The shell recipes of README.md and docs/*.md: found, classified, and run as a user would run them.

``shell_blocks()`` finds every fenced block in ``bash``, ``sh``, ``shell`` or ``console``; ``aws_changes()`` says which
commands of a block create or change AWS resources (the AWS CLI's mutating operations, ``mirror-cleanup --apply``,
``sam deploy``/``delete``/``package``, ``make deploy``); ``prelude()`` collects what earlier blocks of the same page
define for it (the ``output()`` helper, ``$STACK``, ``export AWS_REGION=…``). ``run_recipe()`` runs a block with bash
in a scratch copy of the clone (symlinks: its writes, ``.aws-sam/`` included, stay there), with the AWS CLI and the
project's commands pointed at a moto server, and records each command that fails.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
SHELL_LANGUAGES = ("bash", "sh", "shell", "console")
_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<language>[\w+-]*)[ \t]*$")
_HEADING = re.compile(r"^#{1,6}[ \t]+(?P<text>.+?)[ \t#]*$")


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Block:
    """One fenced shell block: where it is (page, the heading above it, its rank among that heading's shell blocks,
    its first line) and its text without the fence's indentation."""

    path: str
    heading: str
    index: int
    line: int
    language: str
    text: str

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.heading.lower()).strip("-") or "top"
        return f"{self.path}:{slug}:{self.index}"

    @property
    def script(self) -> str:
        """What a user runs: the text, or for a ``console`` block the commands after its ``$`` prompts."""
        if self.language != "console":
            return self.text
        return "\n".join(line[2:] for line in self.text.splitlines() if line.startswith("$ "))

    @property
    def is_fragment(self) -> bool:
        """An option shown for the reader to add to a command of their own (``--parameters '…'``): no command."""
        first = next((line for line in self.script.splitlines() if line.strip()), "")
        return first.lstrip().startswith("-")


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def shell_blocks(paths: Sequence[Path] | None = None) -> list[Block]:
    found: list[Block] = []
    for path in paths if paths is not None else documents():
        lines = path.read_text(encoding="utf-8").splitlines()
        heading, counts = "", dict[str, int]()
        number = 0
        while number < len(lines):
            line = lines[number]
            fence = _FENCE.match(line)
            title = _HEADING.match(line)
            if title:
                heading = title.group("text")
            if not fence:
                number += 1
                continue
            indent, language = fence.group("indent"), fence.group("language")
            end = number + 1
            while end < len(lines) and not re.match(r"^[ \t]*```[ \t]*$", lines[end]):
                end += 1
            if language in SHELL_LANGUAGES:
                counts[heading] = counts.get(heading, 0) + 1
                body = [
                    text[len(indent) :] if text.startswith(indent) else text.lstrip()
                    for text in lines[number + 1 : end]
                ]
                found.append(Block(_shown(path), heading, counts[heading], number + 1, language, "\n".join(body)))
            number = end + 1
    return found


# -- what a block does -----------------------------------------------------------------------------------------------
def without_comments(script: str) -> str:
    """The script with its ``#`` comments removed (outside quotes, at a word's start), lines kept."""
    kept: list[str] = []
    for line in script.splitlines():
        quote, out = "", []
        for position, char in enumerate(line):
            if quote:
                if char == quote and (quote == "'" or line[position - 1] != "\\"):
                    quote = ""
            elif char in "'\"":
                quote = char
            elif char == "#" and (position == 0 or line[position - 1] in " \t;(") and not line[:position].endswith("$"):
                break
            out.append(char)
        kept.append("".join(out).rstrip())
    return "\n".join(kept)


# AWS CLI operations that create or change something (the rest describe, list or get). `lambda invoke` runs a
# function that changes the account; `sqs receive-message` is a read (the visibility it changes is transient).
MUTATING_OPERATION = re.compile(
    r"^(create|delete|modify|put|register|deregister|tag|untag|update|attach|detach|associate|disassociate|authorize"
    r"|revoke|run|start|stop|terminate|reboot|invoke|send|purge|enable|disable|accept|reject|import|set|add|remove"
    r"|replace|reset|complete|cancel|restore|copy|move|publish|activate|deactivate|execute|deploy)(-|$)"
)
S3_WRITES = {"cp", "mv", "rm", "sync", "mb", "rb"}
_AWS_CALL = re.compile(r"(?:^|[\s;|&($`])aws\s+([a-z0-9-]+)\s+([a-z0-9-]+)")
_OTHER_CHANGES = [
    re.compile(r"\bmirror-cleanup\b[^\n]*--apply\b"),
    re.compile(r"\bsam\s+(deploy|delete|package|sync)\b"),
    re.compile(r"\bmake\s+(?:\S+=\S*\s+)*deploy[\w-]*\b"),
]


def aws_changes(script: str) -> list[str]:
    """The commands of a script that create or change AWS resources, as written (continuations joined)."""
    code = without_comments(script).replace("\\\n", " ")
    changes: list[str] = []
    for match in _AWS_CALL.finditer(code):
        service, operation = match.groups()
        if (service == "s3" and operation in S3_WRITES) or (service != "s3" and MUTATING_OPERATION.match(operation)):
            changes.append(f"aws {service} {operation}")
    for pattern in _OTHER_CHANGES:
        changes.extend(" ".join(m.group(0).split()) for m in pattern.finditer(code))
    return changes


# -- what earlier blocks of the page define ----------------------------------------------------------------------------
_FUNCTION_START = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\(\)\s*\{")
_ASSIGNMENT = re.compile(r"^(?P<export>export\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)=")


@dataclass(frozen=True)
class Definition:
    names: tuple[str, ...]
    text: str
    exported: bool


def definitions(script: str) -> list[Definition]:
    """Top-level functions and variable assignments (``export`` lines define each name they set)."""
    lines, found, number = script.splitlines(), [], 0
    while number < len(lines):
        line = lines[number]
        function = _FUNCTION_START.match(line)
        if function:
            end = number
            while not re.match(r"^\}", lines[end]):
                end += 1
            found.append(Definition((function.group("name"),), "\n".join(lines[number : end + 1]), False))
            number = end + 1
            continue
        assignment = _ASSIGNMENT.match(line)
        if assignment:
            end = number
            while lines[end].endswith("\\"):
                end += 1
            text = "\n".join(lines[number : end + 1])
            if assignment.group("export"):
                words = shlex.split(without_comments(text).replace("\\\n", " "))[1:]
                names = tuple(word.split("=", 1)[0] for word in words if "=" in word)
            else:
                names = (assignment.group("name"),)
            found.append(Definition(names, text, bool(assignment.group("export"))))
            number = end + 1
            continue
        number += 1
    return found


def _uses(code: str, name: str) -> bool:
    return bool(re.search(rf"\$\{{?{name}\b|(?:^|[\s;|&($`]){name}(?:\s|$|\))", code, re.MULTILINE))


def prelude(block: Block, blocks: Sequence[Block]) -> str:
    """What the page defined before ``block`` and the block uses: every ``export`` (it sets the environment of what
    follows), and each function or variable the block (or another definition it uses) refers to, in page order."""
    earlier = [d for b in blocks if b.path == block.path and b.line < block.line for d in definitions(b.script)]
    needed: set[int] = {i for i, d in enumerate(earlier) if d.exported}
    code = without_comments(block.script)
    frontier = [code]
    while frontier:
        text = frontier.pop()
        for position, definition in enumerate(earlier):
            if position not in needed and any(_uses(text, name) for name in definition.names):
                needed.add(position)
                frontier.append(without_comments(definition.text))
    # A later definition of a name replaces an earlier one: keep both in order, bash does the same.
    return "\n".join(earlier[position].text for position in sorted(needed))


# -- running a block -------------------------------------------------------------------------------------------------
@dataclass
class Failure:
    line: int
    exit_code: int
    command: str


@dataclass
class RecipeRun:
    script: str
    returncode: int
    stdout: str
    stderr: str
    failures: list[Failure] = field(default_factory=list)
    stub_calls: list[dict[str, object]] = field(default_factory=list)

    def failed(self, command: str) -> list[Failure]:
        return [f for f in self.failures if command in f.command]

    def explain(self) -> str:
        lines = self.script.splitlines()
        failed = [f"  line {f.line} exit {f.exit_code}: {lines[f.line - 1].strip()!s}" for f in self.failures]
        return "\n".join(
            ["commands that failed:", *failed, "--- stdout", self.stdout[-3000:], "--- stderr", self.stderr[-3000:]]
        )


HEADER = """set -E -o pipefail
trap 'recipe_exit=$?; printf "%s\\t%s\\t%s\\n" "$LINENO" "$recipe_exit" "$BASH_COMMAND" >> "$RECIPE_FAILURES"' ERR
"""


def scratch_clone(where: Path, replaced: Mapping[str, str]) -> Path:
    """A directory that looks like the clone (each top-level entry a symlink), whose .venv/bin holds the scripts of
    ``replaced`` (name → script text) in place of the commands of those names."""
    clone = where / "clone"
    clone.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in {".venv", ".aws-sam", ".pytest_cache", ".mypy_cache", ".ruff_cache", "build"}:
            (clone / entry.name).symlink_to(entry)
    venv = clone / ".venv"
    venv.mkdir()
    for entry in (ROOT / ".venv").iterdir():
        if entry.name != "bin":
            (venv / entry.name).symlink_to(entry)
    (venv / "bin").mkdir()
    for entry in VENV_BIN.iterdir():
        if entry.name not in replaced:
            (venv / "bin" / entry.name).symlink_to(entry)
    for name, text in replaced.items():
        script = venv / "bin" / name
        script.write_text(text, encoding="utf-8")
        script.chmod(0o755)
    return clone


def run_recipe(
    script: str, *, cwd: Path, environment: Mapping[str, str], work: Path, timeout: float = 120
) -> RecipeRun:
    failures_file, stub_log = work / "failures.tsv", work / "stub-calls.jsonl"
    failures_file.write_text("", encoding="utf-8")
    stub_log.write_text("", encoding="utf-8")
    full = HEADER + script + "\n"
    script_file = work / "recipe.sh"
    script_file.write_text(full, encoding="utf-8")
    env = {**environment, "RECIPE_FAILURES": str(failures_file), "RECIPE_STUB_LOG": str(stub_log)}
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", str(script_file)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    _stop_left_behind(cwd)
    failures = []
    for row in failures_file.read_text(encoding="utf-8").splitlines():
        line, code, command = row.split("\t", 2)
        failures.append(Failure(int(line), int(code), command))
    calls = [json.loads(row) for row in stub_log.read_text(encoding="utf-8").splitlines() if row]
    return RecipeRun(full, done.returncode, done.stdout, done.stderr, failures, calls)


def _stop_left_behind(clone: Path) -> None:
    """Stop what a recipe started in the background and left running (a `kill` it never reached): the processes whose
    working directory is this test's scratch clone."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if Path(os.readlink(entry / "cwd")).is_relative_to(clone):
                os.kill(int(entry.name), signal.SIGTERM)
        except OSError:  # gone meanwhile, or not ours to read
            continue


def recorder(name: str, extra: str = "") -> str:
    """A stand-in command: appends its arguments, working directory and Region to $RECIPE_STUB_LOG, then runs ``extra``
    (Python, with ``argv`` and ``cwd`` defined) if any."""
    python = VENV_BIN / "python"
    return (
        f"#!{python}\n"
        "import json, os, sys\n"
        "argv, cwd = sys.argv[1:], os.getcwd()\n"
        "with open(os.environ['RECIPE_STUB_LOG'], 'a', encoding='utf-8') as log:\n"
        f"    log.write(json.dumps({{'command': {name!r}, 'argv': argv, 'cwd': cwd, "
        "'region': os.environ.get('AWS_DEFAULT_REGION')}) + '\\n')\n" + extra
    )


def environment_variables(names: Sequence[str] = ("PATH", "LANG", "LC_ALL", "TERM")) -> dict[str, str]:
    return {name: os.environ[name] for name in names if name in os.environ}
