"""The text layout the demo and mirror-audit share (``mirror_cli.table.fit_table``): it fits the width it is
given and never cuts a cell; an ID is never broken."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mirror_cli.table import Cell, fit_table, wrap_text

INSTANCE = "i-0123456789abcdef0"  # 19 characters, the longest instance ID
ENI = "eni-0123456789abcdef0"
SESSION = "tms-0123456789abcdef0"
TARGET = "tmt-0123456789abcdef0"


def test_a_table_that_fits_prints_one_line_per_row() -> None:
    lines = fit_table(["instance", "reason"], [[[INSTANCE, "web-1", "(m5.large)"], "missing-session"]], 120)
    first = f"{INSTANCE} web-1 (m5.large)"
    assert lines == [f"  {'instance'.ljust(len(first))}  reason", f"  {first}  missing-session"]


def test_a_wide_table_wraps_between_items_keeping_each_id_whole_and_the_id_on_its_own_line() -> None:
    rows = [
        [[INSTANCE, "web-1", "(m5.large)"], [SESSION, f"on {ENI}", f"→ {TARGET}"], "instance-terminated"],
        [[ENI], [SESSION, f"on {ENI}", f"→ {TARGET}"], "source-eni-detached"],
    ]
    lines = fit_table(["instance or ENI", "session on ENI → target", "reason"], rows, 80)
    assert max(map(len, lines)) <= 80
    assert lines[1:5] == [
        f"  {INSTANCE}    {SESSION}     instance-terminated",
        f"    web-1 (m5.large)     on {ENI}",
        f"                         → {TARGET}",
        f"  {ENI}  {SESSION}     source-eni-detached",
    ]


def test_a_table_too_wide_for_any_wrapping_becomes_one_block_per_row() -> None:
    lines = fit_table(["instance", "session", "target"], [[INSTANCE, SESSION, TARGET]], 40)
    assert lines == [f"  {INSTANCE}", f"      session: {SESSION}", f"      target: {TARGET}"]


def test_numbers_align_right_and_a_header_can_be_underlined() -> None:
    lines = fit_table(["", "sessions", "a month"], [["now", "4", "$43.80"], ["deleted", "-2", "-$21.90"]], 80,
                      indent=0, align="<>>", underline=True)  # fmt: skip
    assert lines == [
        "         sessions  a month",
        "-------  --------  -------",
        "now             4   $43.80",
        "deleted        -2  -$21.90",
    ]


def test_prose_wraps_at_spaces_with_a_hanging_indent() -> None:
    text = f"Target pool: {TARGET}, {TARGET}; filter of new sessions: tmf-0123456789abcdef0"
    assert wrap_text(text, 60) == [
        f"Target pool: {TARGET}, {TARGET};",
        "  filter of new sessions: tmf-0123456789abcdef0",
    ]
    assert wrap_text(text, None) == [text]


ATOM = st.text(alphabet="abcdef0123456789-", min_size=1, max_size=24)
CELL = st.one_of(ATOM, st.lists(ATOM, min_size=1, max_size=4), st.none())


@settings(max_examples=200, deadline=None)
@given(
    columns=st.integers(min_value=1, max_value=6).flatmap(
        lambda n: st.tuples(st.lists(ATOM, min_size=n, max_size=n), st.lists(st.lists(CELL, min_size=n, max_size=n)))
    ),
    width=st.integers(min_value=40, max_value=200),
)
def test_no_line_is_wider_than_asked_and_every_item_is_printed_whole(
    columns: tuple[list[str], list[list[Cell]]], width: int
) -> None:
    titles, rows = columns
    lines = fit_table(titles, rows, width)
    assert max(map(len, lines), default=0) <= width
    text = "\n".join(lines)
    for row in rows:
        for cell in row:
            for atom in [cell] if isinstance(cell, str) else cell or []:
                assert any(atom in line for line in lines), f"{atom!r} cut in:\n{text}"
