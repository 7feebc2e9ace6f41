"""Text that fits the terminal: prose wrapped at its spaces, and tables whose columns narrow and wrap between words,
never inside an ID (``fit_table``). ``Page`` prints both to one output at one width: the reports' layouts
(``mirror_cli.text``), mirror-cleanup's list, and the demo are written with it.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from typing import TextIO

Cell = str | Sequence[str] | None
"""A table cell. None prints "-"; a str may wrap at its spaces; a sequence's items never break (an ID, "→ tmt-…"),
though the cell may wrap between them."""

GAP = "  "
HANGING = 2  # continuation lines of a table's first column are indented: a row starts where its first column does


def terminal_width() -> int:
    """The terminal's width (COLUMNS wins); 80 when stdout is not a terminal (a pipe, a file, CI)."""
    return shutil.get_terminal_size((80, 24)).columns


class _Items(list[str]):
    """The atoms of a sequence cell: when the cell wraps, its first item (an ID) keeps a line of its own."""


def _atoms(cell: Cell) -> list[str]:
    if cell is None:
        return ["-"]
    if isinstance(cell, str):
        return cell.split() or [""]
    return _Items(atom for atom in cell if atom) or ["-"]


def _wrap(atoms: Sequence[str], width: int | None, hanging: int = 0) -> list[str]:
    """Greedy fill; an atom is never broken, so a line may only exceed ``width`` by an atom longer than it."""
    lead_alone = isinstance(atoms, _Items) and width is not None and len(" ".join(atoms)) > width
    lines: list[str] = []
    for index, atom in enumerate(atoms):
        fits = width is None or len(lines[-1] if lines else "") + 1 + len(atom) <= width
        if lines and fits and not (lead_alone and index == 1):
            lines[-1] += " " + atom
        else:
            lines.append((" " * hanging if lines else "") + atom)
    return lines or [""]


def _narrowest(atoms: Sequence[str], hanging: int) -> int:
    """The narrowest width a cell wraps to: its longest atom (plus the indent of a continuation line)."""
    return max([len(atoms[0]), *(len(atom) + hanging for atom in atoms[1:])])


def wrap_text(text: str, width: int | None, *, indent: int = 0, hanging: int = 2) -> list[str]:
    """A line of prose, wrapped at its spaces (never inside an ID); continuation lines indented by ``hanging``."""
    room = None if not width else max(width - indent, 1)
    return [" " * indent + line for line in _wrap(text.split(), room, hanging)]


def fit_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    width: int | None,
    *,
    indent: int = 2,
    align: str = "",
    underline: bool = False,
) -> list[str]:
    """Rows as aligned text no wider than ``width`` (None or 0: no limit), cutting nothing.

    Every column starts at its natural width (one line per cell). While the table is too wide, the widest column
    that can still wrap is narrowed (cells wrap between words, never inside one). If even that is too wide, each row
    is printed as a block of ``column: value`` lines instead. ``align`` has one character per column, ``>`` for
    right-aligned (numbers); anything else is left-aligned.
    """
    heads = [title.split() or [""] for title in columns]
    cells = [[_atoms(cell) for cell in row] for row in rows]
    table = [heads, *cells]
    count = len(columns)
    hang = [HANGING if i == 0 else 0 for i in range(count)]

    def longest(i: int, limit: int | None) -> int:
        return max(len(line) for row in table for line in _wrap(row[i], limit, hang[i]))

    def total(widths: Sequence[int]) -> int:
        return indent + sum(widths) + len(GAP) * (count - 1)

    widths = [longest(i, None) for i in range(count)]
    if width:
        floor = [max(_narrowest(row[i], hang[i]) for row in table) for i in range(count)]
        while total(widths) > width:
            narrower = [i for i in range(count) if widths[i] > floor[i]]
            if not narrower:
                return _blocks(columns, cells, width, indent)
            i = max(narrower, key=lambda k: widths[k])
            widths[i] = longest(i, widths[i] - 1)
    lines: list[str] = []
    for number, row in enumerate(table):
        wrapped = [_wrap(row[i], widths[i], hang[i]) for i in range(count)]
        for k in range(max(len(w) for w in wrapped)):
            parts = [w[k] if k < len(w) else "" for w in wrapped]
            text = GAP.join(
                part.rjust(w) if align[i : i + 1] == ">" else part.ljust(w)
                for i, (part, w) in enumerate(zip(parts, widths, strict=True))
            )
            lines.append((" " * indent + text).rstrip())
        if number == 0 and underline:
            lines.append(" " * indent + GAP.join("-" * w for w in widths))
    return lines


def _blocks(columns: Sequence[str], cells: Sequence[Sequence[list[str]]], width: int, indent: int) -> list[str]:
    """The fallback of a table too wide for ``width``: each row as its first cell, then ``column: value`` lines."""
    lines: list[str] = []
    for row in cells:
        lines += [" " * indent + line for line in _wrap(row[0], width - indent, HANGING)]
        for title, atoms in zip(columns[1:], row[1:], strict=True):
            lines += [" " * (indent + 4) + line for line in _wrap([f"{title}:", *atoms], width - indent - 4, HANGING)]
    return lines


class Page:
    """Lines printed to ``out`` at ``width`` columns (None or 0: one line per row, for grep)."""

    def __init__(self, out: TextIO, width: int | None) -> None:
        self.out = out
        self.width = width

    def say(self, text: str = "", indent: int = 0) -> None:
        """A paragraph, wrapped at its spaces; without text, an empty line."""
        for line in wrap_text(text, self.width, indent=indent) if text else [""]:
            print(line, file=self.out)

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Cell]], align: str = "") -> None:
        for line in fit_table(columns, rows, self.width, align=align):
            print(line, file=self.out)
