"""A rule: a named check over the context that returns findings or nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from core.triage.context import Context
from core.triage.verdict import Finding

Check = Callable[[Context], Iterable[Finding] | Finding | None]


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    check: Check

    def run(self, ctx: Context) -> list[Finding]:
        result = self.check(ctx)
        if result is None:
            return []
        if isinstance(result, Finding):
            return [result]
        return list(result)


def registry(rules: list[Rule]) -> Callable[[str, str], Callable[[Check], Check]]:
    """A decorator that appends each rule to `rules`, in the order they are written."""

    def rule(name: str, description: str) -> Callable[[Check], Check]:
        def register(check: Check) -> Check:
            rules.append(Rule(name, description, check))
            return check

        return register

    return rule
