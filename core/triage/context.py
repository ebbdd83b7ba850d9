"""What rules look at: the report, its matched vocabulary, and the config."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from core.config import TriageConfig
from core.report import Report
from core.triage.lexicon import Hit, Lexicon
from core.triage.verdict import Finding
from core.triage.vocabulary import builtin_entries

# What decides a report stands at its start (subject, note, first paragraphs);
# the long tail of big mails is pasted logs and signatures, and reading it
# would cost more than it tells.
MAX_TEXT = 4_000
# Concepts that state a fact; "when it is back up" is a prospect, not a fact.
FACTUAL = frozenset({"resolved"})


@lru_cache(maxsize=8)
def lexicon_for(extra: tuple[tuple[str, tuple[str, ...]], ...]) -> Lexicon:
    lexicon = Lexicon(builtin_entries())
    for concept, phrases in extra:
        for phrase in phrases:
            lexicon.add(concept, phrase)
    return lexicon


@dataclass
class Context:
    report: Report
    config: TriageConfig
    hits: dict[str, list[Hit]] = field(default_factory=dict)  # affirmed, by concept
    negated: dict[str, list[Hit]] = field(default_factory=dict)
    parent_hits: dict[str, list[Hit]] = field(default_factory=dict)  # the message replied to
    findings: list[Finding] = field(default_factory=list)  # so far, for rules that build on others
    disrupted: bool | None = (
        None  # worked out once by text_rules.disrupted  # so far, for rules that build on others
    )

    def weight(self, question: str, answer: bool = True) -> float:
        """How strongly the findings so far answer a golden question."""
        return sum(f.weight for f in self.findings if question in (f.yes if answer else f.no))

    def fired(self, *rules: str) -> bool:
        return any(f.rule in rules for f in self.findings)

    def has(self, *concepts: str) -> bool:
        return not self.hits.keys().isdisjoint(concepts)

    def found(self, *concepts: str, limit: int = 3) -> str:
        """The words behind these concepts, quoted, for evidence."""
        seen: list[str] = []
        for concept in concepts:
            for hit in self.hits.get(concept, ()):
                if hit.found not in seen:
                    seen.append(hit.found)
        return '"' + '", "'.join(seen[:limit]) + '"' if seen else ""

    def count(self, concept: str) -> int:
        return len({h.found for h in self.hits.get(concept, ())})


KEYWORD_PREFIX = "ask:"  # concepts made from [triage.keywords], e.g. "ask:not_impact"


def _extra_phrases(config: TriageConfig) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The config's phrases as a hashable key for the lexicon cache."""
    if not (config.vocabulary or config.keywords):
        return ()
    keywords = {f"{KEYWORD_PREFIX}{k}": v for k, v in config.keywords.items()}
    return tuple(sorted({**config.vocabulary, **keywords}.items()))


def build_context(report: Report, config: TriageConfig) -> Context:
    lexicon = lexicon_for(_extra_phrases(config))
    ctx = Context(report=report, config=config)
    for hit in lexicon.match(report.full_text[:MAX_TEXT]):
        if hit.hedged and hit.concept in FACTUAL:
            continue
        target = ctx.negated if hit.negated else ctx.hits
        target.setdefault(hit.concept, []).append(hit)
    parent = report.fields.get("reply_to_text")
    if isinstance(parent, str) and parent:
        for hit in lexicon.match(parent[:MAX_TEXT]):
            if not hit.negated:
                ctx.parent_hits.setdefault(hit.concept, []).append(hit)
    return ctx
