from core.triage.lexicon import Lexicon, fold, words


def concepts(lexicon: Lexicon, text: str) -> set[tuple[str, bool]]:
    return {(h.concept, h.negated) for h in lexicon.match(text)}


def test_folding_makes_accents_case_and_apostrophes_equal() -> None:
    assert fold("Ÿ ÉCHEC Réclamation") == "y echec reclamation"
    assert words("Can’t log-in") == words("can't log in") == ["can", "t", "log", "in"]


def test_phrases_prefixes_and_languages() -> None:
    lexicon = Lexicon(
        [("outage", "can't log in"), ("complaints", "complain*"), ("outage", "panne")]
    )
    assert concepts(lexicon, "Customers CANNOT... no wait, they can’t log in") == {
        ("outage", False)
    }
    assert concepts(lexicon, "three people complained today") == {("complaints", False)}
    assert concepts(lexicon, "Le site est en PANNE") == {("outage", False)}
    assert concepts(lexicon, "nothing to see") == set()


def test_negation_within_a_short_window() -> None:
    lexicon = Lexicon([("outage", "down"), ("impact", "customer impact")])
    assert concepts(lexicon, "the site is not down") == {("outage", True)}
    assert concepts(lexicon, "There is no customer impact") == {("impact", True)}
    assert concepts(lexicon, "no idea why, but the API went down") == {("outage", False)}
    assert concepts(lexicon, "kein Ausfall, nicht down") == {("outage", True)}


def test_phrases_that_carry_their_own_negation_are_not_negated_again() -> None:
    lexicon = Lexicon([("outage", "not working"), ("outage", "no one can")])
    assert concepts(lexicon, "checkout is not working") == {("outage", False)}
    assert concepts(lexicon, "no one can sign in") == {("outage", False)}


def test_the_longest_overlapping_phrase_wins() -> None:
    lexicon = Lexicon([("outage", "unavailable"), ("planned", "will be unavailable")])
    hits = lexicon.match("The portal will be unavailable on Sunday")
    assert [(h.concept, h.found) for h in hits] == [("planned", "will be unavailable")]
    assert [h.concept for h in lexicon.match("The portal is unavailable")] == ["outage"]


def test_hash_matches_any_number_after_the_first_word() -> None:
    lexicon = Lexicon([("urgency", "in # min")])
    assert concepts(lexicon, "call them in 10 min") == {("urgency", False)}
    assert concepts(lexicon, "call them in ten min") == set()


def test_hedged_hits_are_marked() -> None:
    lexicon = Lexicon([("resolved", "is back up")])
    [hit] = lexicon.match("We will tell you when it is back up")
    assert hit.hedged
    [hit] = lexicon.match("Good news: the API is back up")
    assert not hit.hedged
