"""Phrase matching over words: the one pass over a report's text that rules read.

A phrase is a sequence of words; a word ending in `*` matches any word with
that prefix, and `#` (not first) matches any number. Text and phrases are
folded the same way (lower case, accents removed, apostrophes split) so
"can’t log in", "Can't log-in" and "cant log in" need no separate entries. Matching walks the words
once and looks each up in a dictionary, so its cost grows with the text, not
with the vocabulary.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

_WORD = re.compile(r"\w+")
# Words that negate what follows them within a short window, in the four
# built-in languages ("t" is what is left of "n't" once apostrophes split).
NEGATORS = frozenset(
    "no not never without t nobody nothing kein keine keinen keinem keiner nicht "
    "ohne nie pas aucun aucune sans jamais ni sin ningun ninguna ninguno nunca".split()
)
NEGATION_WINDOW = 3
# Words that make what follows conditional or future ("when it is back up",
# "until it is fixed"); rules that need a fact, not a prospect, skip such hits.
HEDGES = frozenset(
    "when once until if unless whether after wenn sobald bis falls quand lorsque "
    "des si jusqu cuando hasta".split()
)


def _fold_char(char: str) -> str:
    decomposed = unicodedata.normalize("NFKD", char)
    base = "".join(c for c in decomposed if not unicodedata.combining(c))
    return base if len(base) == 1 else char


# Accents are folded by a translate table, built once for the Latin range,
# because per-character normalisation at run time costs more than the match.
_FOLD = {code: _fold_char(chr(code)) for code in range(0xC0, 0x250)}
_FOLD_TABLE = str.maketrans({chr(k): v for k, v in _FOLD.items() if v != chr(k)})


def fold(text: str) -> str:
    return text.lower().translate(_FOLD_TABLE)


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


@dataclass(frozen=True)
class Phrase:
    concept: str
    text: str  # as written in the vocabulary, for evidence
    words: tuple[str, ...]
    negatable: bool  # phrases that carry their own negation are never re-negated


@dataclass(frozen=True)
class Hit:
    concept: str
    phrase: str
    found: str  # the words as they stand in the report
    negated: bool
    hedged: bool
    start: int  # word index
    end: int


class Lexicon:
    """Concepts (e.g. `outage`) and the phrases that signal them."""

    def __init__(self, entries: Iterable[tuple[str, str]]) -> None:
        self._exact: dict[str, list[Phrase]] = {}
        self._prefix: dict[str, list[Phrase]] = {}
        self._prefix_lengths: set[int] = set()
        self.concepts: set[str] = set()
        for concept, text in entries:
            self.add(concept, text)

    def add(self, concept: str, text: str) -> None:
        parts = phrase_words(text)
        if not parts:
            raise ValueError(f"phrase {text!r} for {concept!r} has no words")
        phrase = Phrase(concept, text, parts, negatable=not (set(parts) & NEGATORS))
        first = parts[0]
        if first.endswith("*"):
            stem = first[:-1]
            self._prefix.setdefault(stem, []).append(phrase)
            self._prefix_lengths.add(len(stem))
        else:
            self._exact.setdefault(first, []).append(phrase)
        self.concepts.add(concept)
        self._starting.cache_clear()

    @lru_cache(maxsize=65536)  # noqa: B019 - one lexicon per process; words repeat (Zipf)
    def _starting(self, word: str) -> tuple[Phrase, ...]:
        found = list(self._exact.get(word, ()))
        for length in self._prefix_lengths:
            if length <= len(word):
                found.extend(self._prefix.get(word[:length], ()))
        return tuple(found)

    def match(self, text: str) -> list[Hit]:
        tokens = words(text)
        hits: list[Hit] = []
        for i, token in enumerate(tokens):
            for phrase in self._starting(token):
                n = len(phrase.words)
                if n > 1 and not _rest_matches(phrase.words, tokens, i):
                    continue
                before = tokens[max(0, i - NEGATION_WINDOW) : i]
                negated = phrase.negatable and any(t in NEGATORS for t in before)
                hedged = any(t in HEDGES for t in before)
                found = " ".join(tokens[i : i + n])
                hits.append(Hit(phrase.concept, phrase.text, found, negated, hedged, i, i + n))
        return _drop_covered(hits)


def _drop_covered(hits: list[Hit]) -> list[Hit]:
    """Keep the longest reading where phrases overlap.

    "will be unavailable" (planned) covers "unavailable" (outage), and "no
    downtime expected" covers "downtime": the longer phrase is what was meant.
    Hits with the very same span all stay (one phrase may mean two things).
    """
    if len(hits) < 2:
        return hits
    hits.sort(key=lambda h: (h.start, -h.end))
    kept: list[Hit] = []
    reach, reach_span = -1, (-1, -1)
    for hit in hits:
        span = (hit.start, hit.end)
        if reach >= hit.end and reach_span != span:
            continue
        kept.append(hit)
        if hit.end > reach:
            reach, reach_span = hit.end, span
    return kept


def phrase_words(text: str) -> tuple[str, ...]:
    """A vocabulary phrase as words; a trailing `*` on a word keeps it as a prefix."""
    out: list[str] = []
    for piece in fold(text).split():
        if piece == "#":
            out.append("#")
            continue
        found = _WORD.findall(piece)
        if found and piece.endswith("*"):
            found[-1] += "*"
        out.extend(found)
    return tuple(out)


def _rest_matches(pattern: tuple[str, ...], tokens: list[str], start: int) -> bool:
    if start + len(pattern) > len(tokens):
        return False
    for k in range(1, len(pattern)):
        want, got = pattern[k], tokens[start + k]
        if want == "#":  # any number, as in "in # minutes"
            if not got.isdigit():
                return False
        elif want.endswith("*"):
            if not got.startswith(want[:-1]):
                return False
        elif want != got:
            return False
    return True
