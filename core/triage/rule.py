"""A rule: a named check over the context that returns findings or nothing."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Protocol

from core.triage.context import Context
from core.triage.verdict import Finding

Check = Callable[[Context], Iterable[Finding] | Finding | None]


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    check: Check
    # The rule runs only when one of these concepts was found in the text
    # (None: always). Most reports touch a handful of concepts, so most rules
    # are skipped without a call.
    needs: frozenset[str] | None = None

    def applies(self, found: Collection[str]) -> bool:
        return self.needs is None or not self.needs.isdisjoint(found)

    def run(self, ctx: Context) -> list[Finding]:
        if not self.applies(ctx.hits.keys()):
            return []
        result = self.check(ctx)
        if result is None:
            return []
        if isinstance(result, Finding):
            return [result]
        return list(result)


class Register(Protocol):
    def __call__(
        self, name: str, description: str, needs: tuple[str, ...] | None = None
    ) -> Callable[[Check], Check]: ...


def registry(rules: list[Rule]) -> Register:
    """A decorator that appends each rule to `rules`, in the order they are written."""

    def rule(
        name: str, description: str, needs: tuple[str, ...] | None = None
    ) -> Callable[[Check], Check]:
        def register(check: Check) -> Check:
            rules.append(Rule(name, description, check, frozenset(needs) if needs else None))
            return check

        return register

    return rule
