"""Separating new text from quoted history: the email-reply-parser and talon expectations
(../shared/corpora/*/EXPECTED.md, read in place) and the splitter's own rules."""

from __future__ import annotations

import email
import re
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest

from ingest.email_parse import parse_email
from ingest.email_quotes import split_html_reply, split_reply
from tests.conftest import CORPORA
from tests.conftest import require_shared as corpus

ERP = CORPORA / "email-reply-parser" / "test" / "emails"
TALON = CORPORA / "talon" / "tests" / "fixtures"


def norm(text: str) -> str:
    return " ".join(text.split())


def squash(text: str) -> str:
    """All whitespace deleted, as talon's HTML tests compare."""
    return re.sub(r"\s+", "", text)


# --- email-reply-parser: every file EXPECTED.md lists ------------------------------------


@dataclass(frozen=True)
class Case:
    """What EXPECTED.md says the visible reply of one file is, in checkable form.

    `exact` compares whitespace-normalised text; for files whose expectation is stated as
    fragments, it is the concatenation of the visible fragments. The other fields restate
    "contains" / "does not contain" / "fragment N starts with" expectations.
    """

    name: str
    exact: str | None = None
    starts: str = ""
    ends: str = ""
    contains: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    quoted_starts: str = ""
    quoted_contains: tuple[str, ...] = ()


ERP_CASES = [
    # 3 fragments, only the first visible: the "-Name" sign-off and list footer are hidden.
    Case(
        "email_1_1.txt",
        exact="Hi folks What is the best way to clear a Riak bucket of all key, values after "
        "running a test? I am currently using the Java HTTP API.",
        absent=("riak-users", "-Abhishek Kona"),
    ),
    # Fragments 0-2 visible: the inline answer below the first quote is part of the reply.
    Case(
        "email_1_2.txt",
        starts="Hi, On Tue, 2011-03-01 at 18:02 +0530, Abhishek Kona wrote: > Hi folks",
        ends='you’ll need to delete them all individually."',
        contains=("You can list the keys for the bucket",),
        absent=("riak-users mailing list", "-Abhishek Kona"),
        quoted_contains=("> -Abhishek Kona", "riak-users"),
    ),
    # 5 fragments: top-posted text, then the quote and the footer below it.
    Case(
        "email_1_3.txt",
        starts="Oh thanks. Having the function would be great.",
        absent=(">", "Russell Brown"),
        quoted_starts="On 01/03/11 7:07 PM, Russell Brown wrote:",
        quoted_contains=("riak-users mailing list",),
    ),
    # The attribution and the quote it introduces stay together across blank lines.
    Case(
        "email_1_4.txt",
        exact="Awesome! I haven't had another problem with it.",
        quoted_starts="On Aug 22, 2011, at 7:37 PM, defunkt",
        quoted_contains=("> Loader seems to be working well.",),
    ),
    # One fragment: dash bullets are not signatures.
    Case(
        "email_1_5.txt",
        starts="One: Here's what I've got.",
        ends="It goes on and on for a while.",
        contains=("- This is the fourth bullet point", "- And another one"),
    ),
    # The attribution wraps over three lines.
    Case(
        "email_1_6.txt",
        exact="I get proper rendering as well. Sent from a magnificent torch of pixels",
        quoted_starts="On Dec 16, 2011, at 12:47 PM, Corey Donohoe",
    ),
    # CRLF line endings.
    Case(
        "email_1_7.txt",
        exact=":+1:",
        quoted_starts="On Tue, Sep 25, 2012 at 8:59 AM",
        quoted_contains=("Steps 0-2",),
    ),
    # 7 fragments, the first four visible: inline replies between quotes.
    Case(
        "email_1_8.txt",
        starts="On Tue, Apr 29, 2014 at 4:22 PM, Example Dev",
        ends="and under this.",
        contains=("I will reply under this one", "> okay?"),
        absent=("Hey there, this is my signature", "-- Tim"),
        quoted_contains=("-- Tim",),
    ),
    Case(
        "correct_sig.txt", exact="this is an email with a correct -- signature.", absent=("rick",)
    ),
    Case("email_gmail.txt", exact="This is a test for inbox replying to a github message."),
    Case("email_2_1.txt", exact="Outlook with a reply", quoted_contains=("*Sent:*",)),
    Case("email_2_2.txt", exact="Outlook with a reply directly above line"),
    Case("email_2_3.txt", exact="Outlook with a reply above headers using unusual format"),
    Case("email_iPhone.txt", exact="Here is another email", absent=("Sent from my iPhone",)),
    Case(
        "email_one_is_not_on.txt",
        contains=("One outstanding question I had:",),
        absent=("On Oct 1, 2012, at 11:55 PM, Dave Tapley wrote:",),
        quoted_starts="On Oct 1, 2012, at 11:55 PM, Dave Tapley wrote:",
    ),
    Case(
        "email_partial_quote_header.txt",
        contains=(
            "On your remote host you can run:",
            "telnet 127.0.0.1 52698",
            "This should connect to TextMate",
        ),
        quoted_starts="On 9 Jan 2014, at 2:47, George Plymale wrote:",
    ),
    Case("email_headers_no_delimiter.txt", exact="And another reply!"),
    # 3 fragments: fragment 0 starts "On your remote host", fragment 1 "On 9 Jan 2014".
    Case(
        "greedy_on.txt",
        starts="On your remote host you can run:",
        absent=("George Plymale",),
        quoted_starts="On 9 Jan 2014, at 2:47, George Plymale wrote:",
    ),
    Case(
        "email_sig_delimiter_in_middle_of_line.txt",
        exact="Hi there! Stuff happened. And here is a fix -- this is not a signature. kthxbai",
    ),
    # Files no upstream test reads: EXPECTED.md's reading of their intent.
    Case("email_BlackBerry.txt", exact="Here is another email"),
    Case("email_multi_word_sent_from_my_mobile_device.txt", exact="Here is another email"),
    Case(
        "email_sent_from_my_not_signature.txt",
        exact="Here is another email Sent from my desk, is much easier then my mobile phone.",
    ),
    Case(
        "email_bullets.txt",
        contains=("- how about bullets", "and retain this formatting"),
        absent=("Give us an example", "Joe Smith"),
        quoted_contains=("Give us an example",),
    ),
]


@pytest.mark.parametrize("case", ERP_CASES, ids=[case.name for case in ERP_CASES])
def test_email_reply_parser_expectations(case: Case) -> None:
    new, quoted = split_reply(corpus(ERP / case.name).read_text(encoding="utf-8"))
    if case.exact is not None:
        assert norm(new) == case.exact
    assert norm(new).startswith(case.starts)
    assert norm(new).endswith(case.ends)
    for phrase in case.contains:
        assert phrase in new
    for phrase in case.absent:
        assert phrase not in new
    assert norm(quoted).startswith(case.quoted_starts)
    for phrase in case.quoted_contains:
        assert phrase in quoted


def test_every_listed_email_reply_parser_file_has_a_case() -> None:
    listed = (corpus(ERP.parents[1] / "EXPECTED.md")).read_text(encoding="utf-8")
    named = {case.name for case in ERP_CASES} | {"pathological.txt"}
    for path in corpus(ERP).iterdir():
        if f"`{path.name}`" in listed:
            assert path.name in named, path.name


def test_erp_pathological_input_is_fast() -> None:
    text = corpus(ERP / "pathological.txt").read_text(encoding="utf-8")
    started = time.process_time()  # CPU, not wall time: a loaded machine does not count
    new, _ = split_reply(text)
    assert time.process_time() - started < 1.0  # backtracking would take minutes
    assert new.startswith("I think you're onto something.")


# --- talon ----------------------------------------------------------------------------------

STANDARD_REPLIES = [
    "android.eml", "aol.eml", "apple_mail.eml", "apple_mail_2.eml", "comcast.eml", "gmail.eml",
    "hotmail.eml", "outlook.eml", "thunderbird.eml", "yahoo.eml", "iphone.eml", "sparrow.eml",
]  # fmt: skip


def first_plain_part(path: Path) -> str:
    """What talon's test feeds its splitter: the first text/plain part, decoded."""
    message = email.message_from_bytes(path.read_bytes(), policy=default)
    assert isinstance(message, EmailMessage)
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            content = part.get_content()
            assert isinstance(content, str)
            return content
    raise AssertionError(f"{path} has no text/plain part")


def talon_expected(path: Path) -> str:
    reply_text = path.with_name(path.stem + "_reply_text")
    return reply_text.read_text(encoding="utf-8").strip() if reply_text.exists() else "Hello"


@pytest.mark.parametrize("name", STANDARD_REPLIES)
def test_talon_standard_replies(name: str) -> None:
    path = corpus(TALON / "standard_replies" / name)
    new, quoted = split_reply(first_plain_part(path))
    assert norm(new) == norm(talon_expected(path))
    assert quoted


@pytest.mark.parametrize("name", STANDARD_REPLIES)
def test_talon_standard_replies_through_parse_email(name: str) -> None:
    path = corpus(TALON / "standard_replies" / name)
    report = parse_email(path.read_bytes())
    assert norm(report.text) == norm(talon_expected(path))


HTML_REPLIES = [
    "gmail.html", "mail_ru.html", "hotmail.html", "ms_outlook_2003.html", "ms_outlook_2007.html",
    "ms_outlook_2010.html", "thunderbird.html", "windows_mail.html", "yandex_ru.html",
]  # fmt: skip


@pytest.mark.parametrize("name", HTML_REPLIES)
def test_talon_html_replies(name: str) -> None:
    html = corpus(TALON / "html_replies" / name).read_text(encoding="utf-8")
    new, quoted = split_html_reply(html)
    assert squash(new) == "Hi.Iamfine.Thanks,Alex"
    assert "Hello! How are you?" in quoted


def test_talon_reply_quotations_share_block_raw_file() -> None:
    raw = corpus(TALON / "reply-quotations-share-block.eml").read_text(encoding="utf-8")
    new, _ = split_reply(raw)
    assert new.strip() and "From" not in new


def test_talon_reply_quotations_share_block_body() -> None:
    report = parse_email(corpus(TALON / "reply-quotations-share-block.eml").read_bytes())
    assert report.text.startswith("Hi Katharine.")
    assert "From" not in report.text
    assert "New Booking Inquiry" in report.quoted


def test_talon_outlook_olk_src_body_section() -> None:
    new, quoted = split_html_reply(corpus(TALON / "OLK_SRC_BODY_SECTION.html").read_text())
    assert squash(new) == "Reply"
    assert "From: Bob" in quoted


def test_talon_reply_separated_by_hr() -> None:
    new, quoted = split_html_reply(corpus(TALON / "reply-separated-by-hr.html").read_text())
    assert squash(new) == "Hithere"
    assert "Subject: Hello" in quoted


# --- the splitter's own rules ---------------------------------------------------------------


@pytest.mark.parametrize(
    "attribution",
    [
        "On Mon, 7 Apr 2025 at 09:12, Ines Costa <ines@example.com> wrote:",
        "Am Mo., 7. Apr. 2025 um 09:12 Uhr schrieb Ines Costa <ines@example.com>:",
        "Am 07.04.2025 um 09:12 schrieb Ines Costa:",
        "Le lun. 7 avr. 2025 à 09:12, Ines Costa <ines@example.com> a écrit :",
        "El lun, 7 abr 2025 a las 9:12, Ines Costa (<ines@example.com>) escribió:",
        "On 7 Apr 2025, at 09:12, Ines Costa\n<ines@example.com> wrote:",
    ],
)
def test_attributions_in_four_languages(attribution: str) -> None:
    text = f"Fixed, deploying now.\n\n{attribution}\n> The map page is blank.\n> Ines\n"
    new, quoted = split_reply(text)
    assert new == "Fixed, deploying now."
    assert quoted.startswith(attribution.split("\n")[0]) and "The map page is blank." in quoted


def test_attribution_without_quote_marks_cuts_everything_below() -> None:
    text = "Yes.\n\nAm 07.04.2025 um 09:12 schrieb Ines Costa:\nDie Karte ist leer.\n"
    assert split_reply(text) == (
        "Yes.",
        "Am 07.04.2025 um 09:12 schrieb Ines Costa:\nDie Karte ist leer.",
    )


@pytest.mark.parametrize(
    "block",
    [
        "-----Original Message-----\nFrom: A <a@example.com>\nSent: Monday\nTo: B\nSubject: x",
        "-----Ursprüngliche Nachricht-----\nVon: A\nGesendet: Montag\nAn: B\nBetreff: x",
        "________________________________\nDe : A\nEnvoyé : lundi\nÀ : B\nObjet : x",
        "De: A <a@example.com>\nEnviado: lunes\nPara: B\nAsunto: x",
    ],
)
def test_outlook_header_blocks_in_four_languages(block: str) -> None:
    new, quoted = split_reply(f"Looking into it.\n\n{block}\n\nOld text.\n")
    assert new == "Looking into it."
    assert quoted.endswith("Old text.")


def test_bottom_posted_reply_keeps_only_the_new_text() -> None:
    text = "On Mon, 7 Apr 2025, Ines wrote:\n> Is it down?\n\nYes, since 09:00.\n"
    assert split_reply(text) == (
        "Yes, since 09:00.",
        "On Mon, 7 Apr 2025, Ines wrote:\n> Is it down?",
    )


def test_signature_kept_above_history_dropped_without_history() -> None:
    with_history = "Done.\n\n-- \nOps Team\n\nOn Mon, 7 Apr 2025, Ines wrote:\n> Status?\n"
    assert norm(split_reply(with_history)[0]) == "Done. -- Ops Team"
    assert split_reply("Done.\n\n-- \nOps Team\n+49 30 1234\n") == ("Done.", "")


def test_text_without_history_is_returned_whole() -> None:
    text = "Line one.\n\nLine two with a > sign inside.\n"
    assert split_reply(text) == ("Line one.\n\nLine two with a > sign inside.", "")


def test_only_quoted_text_has_no_new_text() -> None:
    assert split_reply("> quoted only\n> more\n") == ("", "> quoted only\n> more")


def test_empty_text() -> None:
    assert split_reply("") == ("", "")


@pytest.mark.parametrize(
    "text",
    [
        "On " + "x" * 200_000 + "\n" + ("From: " + "a" * 5000 + "\n") * 20,
        "From: a\n" * 8_000,
        "From: a\nSent: b\n" * 8_000,
        "> q\n12:30 a@b:\n" * 8_000,
        "On a:\nOn b:\n" * 5_000,
        "On Mon, 1 Jan 2020, A wrote:\n> x\ny\n" * 4_000,
        "-- \n" * 15_000,
        "____\nFrom: a\n" * 5_000,
        ">\n\n" * 15_000,
    ],
    ids=["long-lines", "from", "from-sent", "generic", "on", "inline", "sig", "rule", "blank"],
)
def test_hostile_texts_split_quickly(text: str) -> None:
    started = time.process_time()  # CPU, not wall time: a loaded machine does not count
    split_reply(text)
    parse_email(("From: a@example.com\nSubject: Fwd: x\n\n" + text).encode())
    assert time.process_time() - started < 1.0  # backtracking would take minutes
