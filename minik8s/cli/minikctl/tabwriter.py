"""Go's text/tabwriter, as kubectl uses it: cells end with a tab, and each column of a block of
consecutive lines holding that column is as wide as its widest cell plus padding."""

from __future__ import annotations


def tabwrite(lines: list[str], *, padding: int, min_width: int = 0) -> list[str]:
    """Align tab-separated `lines`; the text after a line's last tab is left as it is."""
    rows = [line.split("\t") for line in lines]
    widths: list[list[int]] = [[] for _ in rows]
    _format(rows, widths, 0, len(rows), 0, padding, min_width)
    out = []
    for row, row_widths in zip(rows, widths, strict=True):
        cells = [cell.ljust(row_widths[i]) for i, cell in enumerate(row[:-1])]
        out.append("".join([*cells, row[-1]]))
    return out


def _format(
    rows: list[list[str]],
    widths: list[list[int]],
    start: int,
    end: int,
    column: int,
    padding: int,
    min_width: int,
) -> None:
    i = start
    while i < end:
        if len(rows[i]) - 1 <= column:
            i += 1
            continue
        block_end = i
        width = min_width
        while block_end < end and len(rows[block_end]) - 1 > column:
            width = max(width, len(rows[block_end][column]) + padding)
            block_end += 1
        for j in range(i, block_end):
            widths[j].append(width)
        _format(rows, widths, i, block_end, column + 1, padding, min_width)
        i = block_end
