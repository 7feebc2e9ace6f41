"""No file of the repository names a path a user of it does not have: a development machine's folders, a facts page
kept beside the repository, or a Python path that climbs out of it. What the product relies on cites AWS's own pages
(https://docs.aws.amazon.com/...), which anyone can read."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
THIS = Path(__file__).resolve().relative_to(ROOT)

# Folders of a development machine, and the facts page and event samples kept beside the repository. /tmp is not
# among them: the recipes write scratch files there, on any machine.
OUTSIDE = re.compile(
    "|".join(
        [
            r"/work/",
            r"/home/[\w.-]+",
            r"/Users/[\w.-]+",
            r"/root/",
            r"[A-Za-z]:\\\\Users",
            r"\.\./+shared",
            r"\baws-facts\b",
            r"(?<![\w.-])shared/aws-",
        ]
    )
)
PARENTS = re.compile(r"\.parents\[(\d+)\]")


def repository_files() -> list[Path]:
    """Every file git tracks, and every new one not ignored (what a commit would hold)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [Path(name) for name in listed if (ROOT / name).is_file()]


def outside_paths(path: Path, line: str) -> list[str]:
    """What ``line`` of ``path`` (relative to the root) names outside the repository."""
    found = [match.group(0) for match in OUTSIDE.finditer(line)]
    if path.suffix == ".py" and "__file__" in line:
        # Path(__file__).parents[n]: a file at depth d reaches the repository's root at n = d - 1
        found += [f"parents[{m.group(1)}]" for m in PARENTS.finditer(line) if int(m.group(1)) > len(path.parts) - 1]
    return found


def test_no_file_names_a_path_outside_the_repository() -> None:
    files = repository_files()
    assert Path("README.md") in files and Path("simulation/aws_rules.json") in files  # the listing itself works
    found = []
    for path in files:
        if path == THIS:
            continue
        try:
            text = (ROOT / path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # an image
        for number, line in enumerate(text.splitlines(), 1):
            found += [f"{path}:{number}: {what}" for what in outside_paths(path, line)]
    assert found == []


def test_the_check_finds_what_it_is_for() -> None:
    test_file = Path("tests/integration/test_x.py")
    for line in [
        "see /srv/shared/aws-facts.md",
        "SHARED = Path(__file__).resolve().parents[3] / 'shared'",
        "a sample in ../shared/aws-events",
        "cloned to /home/alice/src",
        "Copied from shared/aws-facts.md",
    ]:
        assert outside_paths(test_file, line), line
    for line in [
        "/tmp/out.json",
        "https://docs.aws.amazon.com/vpc/latest/mirroring/tm-sharing.html",
        "/opt/python",
        "ROOT = Path(__file__).resolve().parents[2]",
    ]:
        assert not outside_paths(test_file, line), line
