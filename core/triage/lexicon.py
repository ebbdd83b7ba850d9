"""Phrase matching over words: the one pass over a report's text that rules read.

A phrase is a sequence of words; a word ending in `*` matches any word with
that prefix, and `#` matches any number. Text and phrases are
folded the same way (lower case, accents removed, apostrophes split) so
"can’t log in", "Can't log-in" and "cant log in" need no separate entries. Matching walks the words
once and looks each up in a dictionary (phrases are filed under their least
common word), so its cost grows with the text, not with the vocabulary.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter
from typing import NamedTuple

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


# Folding for non-ASCII text, all in C: decompose (NFKD) and drop the accents,
# turn typographic punctuation, symbols and emoji into spaces, and spell ß as
# ss. Latin-script text then is ASCII and takes the fast path below.
_ACCENTS = re.compile(r"[\u0300-\u036f]+")
_SYMBOLS = re.compile(
    r"[\u00a0-\u00bf\u00d7\u00f7\u2000-\u206f\u2190-\u2bff\U0001f000-\U0001faff]+"
)


def fold(text: str) -> str:
    lowered = text.lower()
    if lowered.isascii():
        return lowered
    folded = _SYMBOLS.sub(" ", _ACCENTS.sub("", unicodedata.normalize("NFKD", lowered)))
    return folded.replace("ß", "ss") if "ß" in folded else folded


# In ASCII text words are runs of [a-z0-9_], as \w matches there; a byte table
# turns everything else into spaces three times faster than the regex finds words.
_ASCII_WORDS = bytes(
    c if chr(c).isascii() and (chr(c).isalnum() or chr(c) == "_") else 32 for c in range(256)
)


def words(text: str) -> list[str]:
    folded = fold(text)
    if folded.isascii():
        return folded.encode("ascii").translate(_ASCII_WORDS).decode("ascii").split()
    return _WORD.findall(folded)


# Short, frequent words that make poor anchors: a phrase is looked up by its
# rarest-looking word instead, so common words cost nothing per occurrence.
_COMMON = frozenset(
    "a an the to of in on at for is are was be been it its s t no not can we our you i my me "
    "with and or by from as this that all any one up out now so do does did has have had will "
    "de la le les el los las un une una der die das den dem ein eine ist sind en y et und zu "
    "du des del al au aux se que qui il es er sie wir nous".split()
)


@dataclass(frozen=True, eq=False)  # identity: hashed per occurrence in match()
class Phrase:
    concept: str
    text: str  # as written in the vocabulary, for evidence
    words: tuple[str, ...]
    negatable: bool  # phrases that carry their own negation are never re-negated
    anchor: int  # the word the phrase is looked up by


def _anchor(parts: tuple[str, ...]) -> int:
    """The longest plain word, preferring uncommon ones; wildcards only as a last resort."""
    plain = [i for i, w in enumerate(parts) if w != "#" and not w.endswith("*")]
    uncommon = [i for i in plain if parts[i] not in _COMMON]
    pool = uncommon or plain
    if pool:
        return max(pool, key=lambda i: len(parts[i]))
    return next(i for i, w in enumerate(parts) if w != "#")


_HEAD = 3


class Hit(NamedTuple):  # a tuple: made by the thousand per second
    concept: str
    phrase: str
    found: str  # the words as they stand in the report
    negated: bool
    hedged: bool
    start: int  # word index
    end: int


class Lexicon:
    """Concepts (e.g. `outage`) and the phrases that signal them.

    Every phrase is filed under its anchor (its least common word). A
    one-word phrase is a hit wherever its anchor stands. A longer phrase is
    also filed under the word beside its anchor, so the text's next or previous
    word picks the few phrases worth checking instead of all of them.
    """

    def __init__(self, entries: Iterable[tuple[str, str]]) -> None:
        self._singles: dict[str, list[Phrase]] = {}  # anchor -> one-word phrases
        self._loose: dict[str, list[Phrase]] = {}  # anchor -> longer phrases, checked in full
        self._pairs: dict[tuple[str, str, int], list[Phrase]] = {}  # (anchor, neighbour, side)
        self._pair_anchors: set[str] = set()
        self._prefix: dict[str, tuple[list[Phrase], list[Phrase]]] = {}  # stem -> (singles, loose)
        self._prefix_lengths: set[int] = set()
        self._heads: set[str] = set()  # the first letters of every stem
        self._anchored: dict[str, _Starts] = {}  # text word -> what it anchors
        self._anchors: set[str] = set()  # text words that anchor at least one phrase
        self._seen: set[str] = set()  # text words already looked up
        self._known: set[tuple[str, tuple[str, ...]]] = set()
        self.concepts: set[str] = set()
        for concept, text in entries:
            self.add(concept, text)

    def add(self, concept: str, text: str) -> None:
        parts = phrase_words(text)
        if not parts or all(w == "#" for w in parts):
            raise ValueError(f"phrase {text!r} for {concept!r} has no words")
        if (concept, parts) in self._known:
            return  # the same words listed under two languages ("production")
        self._known.add((concept, parts))
        anchor = _anchor(parts)
        phrase = Phrase(concept, text, parts, not (set(parts) & NEGATORS), anchor)
        word = parts[anchor]
        if word.endswith("*"):
            stem = word[:-1]
            singles, loose = self._prefix.setdefault(stem, ([], []))
            (singles if len(parts) == 1 else loose).append(phrase)
            self._prefix_lengths.add(len(stem))
            self._heads.add(stem[:_HEAD])
        elif len(parts) == 1:
            self._singles.setdefault(word, []).append(phrase)
        else:
            side = _plain_neighbour(parts, anchor)
            if side:
                key = (word, parts[anchor + side], side)
                self._pairs.setdefault(key, []).append(phrase)
                self._pair_anchors.add(word)
            else:
                self._loose.setdefault(word, []).append(phrase)
        self.concepts.add(concept)
        self._anchored.clear()
        self._anchors.clear()
        self._seen.clear()

    def _lookup(self, word: str) -> _Starts | None:
        singles = list(self._singles.get(word, ()))
        loose = list(self._loose.get(word, ()))
        # Most words start like no stem at all (ids, names, numbers): a set of
        # stem beginnings rules them out before trying every stem length.
        if word[:_HEAD] in self._heads or len(word) < _HEAD:
            for length in self._prefix_lengths:
                if length <= len(word):
                    found = self._prefix.get(word[:length])
                    if found:
                        singles.extend(found[0])
                        loose.extend(found[1])
        paired = word in self._pair_anchors
        if not (singles or loose or paired):
            return None
        return tuple(singles), tuple(loose), paired

    def match(self, text: str) -> list[Hit]:
        tokens = words(text)
        hits: list[Hit] = []
        # Which distinct words anchor a phrase is settled with set operations
        # (in C); the Python loop below then visits only those positions.
        unique = set(tokens)
        unseen = unique - self._seen
        if unseen:
            if len(self._seen) > 200_000:
                self._seen.clear()
                self._anchored.clear()
                self._anchors.clear()
            for token in unseen:
                starts = self._lookup(token)
                if starts is not None:
                    self._anchored[token] = starts
                    self._anchors.add(token)
            self._seen |= unseen
        present = unique & self._anchors
        if not present:
            return hits
        last = len(tokens) - 1
        anchored, pairs = self._anchored, self._pairs
        # A phrase that already stood plainly (not negated, not hedged) tells
        # nothing new by standing again; long mails with pasted logs repeat
        # "error" and "timeout" hundreds of times.
        settled: set[Phrase] = set()
        for i in [i for i, token in enumerate(tokens) if token in present]:
            token = tokens[i]
            singles, loose, paired = anchored[token]
            longer: list[Phrase] = list(loose)
            if paired:
                if i < last:
                    longer.extend(pairs.get((token, tokens[i + 1], 1), ()))
                if i > 0:
                    longer.extend(pairs.get((token, tokens[i - 1], -1), ()))
            if singles:
                negation, hedged = _context(tokens, i)
                for phrase in singles:
                    if phrase in settled:
                        continue
                    negated = negation and phrase.negatable
                    hits.append(Hit(phrase.concept, phrase.text, token, negated, hedged, i, i + 1))
                    if not (negated or hedged):
                        settled.add(phrase)
            for phrase in longer:
                if phrase in settled:
                    continue
                start = i - phrase.anchor
                end = start + len(phrase.words)
                if start < 0 or end > last + 1 or not _fits(phrase, tokens, start):
                    continue
                negation, hedged = _context(tokens, start)
                negated = negation and phrase.negatable
                found = " ".join(tokens[start:end])
                hits.append(Hit(phrase.concept, phrase.text, found, negated, hedged, start, end))
                if not (negated or hedged):
                    settled.add(phrase)
        return _drop_covered(hits)


_Starts = tuple[tuple[Phrase, ...], tuple[Phrase, ...], bool]


def _plain_neighbour(parts: tuple[str, ...], anchor: int) -> int:
    """+1 or -1 for a plain word right after or before the anchor; 0 if neither."""
    for side in (1, -1):
        k = anchor + side
        if 0 <= k < len(parts) and parts[k] != "#" and not parts[k].endswith("*"):
            return side
    return 0


def _context(tokens: list[str], start: int) -> tuple[bool, bool]:
    """Whether a negation, and whether a hedge, stands just before `start`."""
    before = set(tokens[max(0, start - NEGATION_WINDOW) : start])
    return not NEGATORS.isdisjoint(before), not HEDGES.isdisjoint(before)


def _drop_covered(hits: list[Hit]) -> list[Hit]:
    """Keep the longest reading where phrases overlap.

    "will be unavailable" (planned) covers "unavailable" (outage), and "no
    downtime expected" covers "downtime": the longer phrase is what was meant.
    Hits with the very same span all stay (one phrase may mean two things).
    """
    if len(hits) < 2:
        return hits
    # By start, longest first: two stable C-level sorts, no Python key function.
    hits.sort(key=itemgetter(6), reverse=True)
    hits.sort(key=itemgetter(5))
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


def _fits(phrase: Phrase, tokens: list[str], start: int) -> bool:
    """Whether the phrase's other words stand around its anchor in the text."""
    anchor = phrase.anchor
    for k, want in enumerate(phrase.words):
        if k == anchor:
            continue
        got = tokens[start + k]
        if want == "#":  # any number, as in "in # minutes"
            if not got.isdigit():
                return False
        elif want.endswith("*"):
            if not got.startswith(want[:-1]):
                return False
        elif want != got:
            return False
    return True
