"""The fault test's table: what went in, what came out, what was lost or doubled, what struck."""

from __future__ import annotations

from collections.abc import Sequence

Row = tuple[str, object]


def render(title: str, sections: Sequence[tuple[str, Sequence[Row]]]) -> str:
    """A plain-text table: a title, then each section's rows as `name  value`, aligned."""
    rows = [row for _, part in sections for row in part]
    width = max([len(name) for name, _ in rows] + [len(head) for head, _ in sections] + [10])
    values = max([len(_format(value)) for _, value in rows] + [5])
    rule = "-" * (width + values + 4)
    lines = [title, rule]
    for head, part in sections:
        lines.append(head)
        lines += [f"  {name:<{width}}  {_format(value):>{values}}" for name, value in part]
    lines.append(rule)
    return "\n".join(lines)


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
