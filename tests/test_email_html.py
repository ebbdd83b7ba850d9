"""HTML bodies to text: what is dropped, what becomes a line, quotes and client quote markup."""

from __future__ import annotations

import time

import pytest

from ingest.html_text import (
    MAX_NESTING,
    QUOTE_MARK,
    html_to_marked_text,
    html_to_text,
    split_at_mark,
)


def test_head_scripts_styles_and_comments_are_dropped() -> None:
    html = (
        "<html><head><title>T</title><style>p{color:red}</style><meta charset=utf-8></head>"
        "<body><script>alert(1)</script><noscript>enable js</noscript><p>Visible</p>"
        "<!-- hidden --><template><p>tpl</p></template></body></html>"
    )
    assert html_to_text(html) == "Visible"


def test_blocks_breaks_and_inline_whitespace() -> None:
    html = "<div>one <b>two</b>\n   three</div><div>four<br>five<br></div><span>six</span>"
    assert html_to_text(html) == "one two three\nfour\nfive\nsix"


def test_gmail_blank_line_divs() -> None:
    html = "<div>Hi.</div><div><br></div><div>Thanks,</div><div>Alex</div>"
    assert html_to_text(html) == "Hi.\n\nThanks,\nAlex"


def test_paragraphs_get_blank_lines_but_outlook_msonormal_does_not() -> None:
    assert html_to_text("<p>a</p><p>b</p>") == "a\n\nb"
    assert html_to_text('<p class="MsoNormal">a</p><p class="MsoNormal">b</p>') == "a\nb"


def test_lists_items_on_their_own_lines() -> None:
    html = "<ul><li>apples</li><li>pears<ol><li>first</li><li>second</li></ol></li></ul>"
    assert html_to_text(html) == "- apples\n- pears\n1. first\n2. second"


def test_table_rows_are_lines_and_cells_are_separated() -> None:
    html = "<table><tr><th>host</th><th>p95</th></tr><tr><td>gw-3</td><td>1240 ms</td></tr></table>"
    assert html_to_text(html) == "host p95\ngw-3 1240 ms"


def test_preformatted_text_keeps_its_lines() -> None:
    html = '<pre>Traceback:\n  File "a.py", line 3\n    x = 1/0</pre><p>after</p>'
    assert html_to_text(html) == 'Traceback:\n  File "a.py", line 3\n    x = 1/0\n\nafter'


def test_entities_nbsp_and_invisible_marks() -> None:
    html = "<p>caf&eacute;&nbsp;&amp;&nbsp;bar &lt;ok&gt; \u200eju\u200bne\ufeff</p>"
    assert html_to_text(html) == "café & bar <ok> june"


def test_blockquotes_become_quoted_lines() -> None:
    html = "<p>Agreed.</p><blockquote><p>Outer</p><blockquote>Inner</blockquote></blockquote>"
    assert html_to_text(html) == "Agreed.\n\n> Outer\n>\n>> Inner"


@pytest.mark.parametrize(
    "markup",
    [
        '<div class="gmail_quote">On Mon, A wrote:<blockquote>old</blockquote></div>',
        '<div class="moz-cite-prefix">On 01.02.2025, A wrote:</div><blockquote>old</blockquote>',
        '<div id="divRplyFwdMsg"><b>From:</b> A<br><b>Sent:</b> Monday</div><div>old</div>',
        '<div id="appendonsend"></div><div>From: A<br>Sent: Monday<br></div><div>old</div>',
        '<div style="border:none;border-top:solid #E1E1E1 1.0pt"><p><b>Von:</b> A<br>'
        "<b>Gesendet:</b> Montag</p></div><p>old</p>",
        "<hr><b>De :</b> A<br><b>Envoyé :</b> lundi<br><b>Objet :</b> x<br><p>old</p>",
    ],
)
def test_client_quote_markup_is_marked(markup: str) -> None:
    marked = html_to_marked_text(f"<div>New text.</div>{markup}")
    assert QUOTE_MARK in marked
    new, quoted = split_at_mark(marked)
    assert new == "New text."
    assert "old" in quoted


def test_plain_rule_is_not_a_quote_start() -> None:
    marked = html_to_marked_text("<p>Status</p><hr><p>All systems normal.</p>")
    assert QUOTE_MARK not in marked
    assert html_to_text("<p>Status</p><hr><p>All systems normal.</p>") == (
        "Status\n\n----------\n\nAll systems normal."
    )


def test_quote_mark_characters_in_the_mail_are_removed() -> None:
    assert html_to_text(f"<p>a{QUOTE_MARK}b</p>") == "ab"


def test_lone_surrogates_do_not_break_the_parser() -> None:
    text = html_to_text("<p>ok \udc80 fine</p>")
    assert text.startswith("ok") and text.endswith("fine")
    assert "\udc80" not in text


def test_deep_nesting_is_cut_and_reported_quickly() -> None:
    problems: list[str] = []
    html = "<div>" * 50_000 + "deep"
    started = time.process_time()  # CPU, not wall time: a loaded machine does not count
    html_to_marked_text(html, problems)
    assert time.process_time() - started < 1.0  # a runaway parse takes far longer
    assert any(str(MAX_NESTING) in problem for problem in problems)


def test_ordinary_nesting_is_not_cut() -> None:
    problems: list[str] = []
    html = "<div>" * 100 + "deep" + "</div>" * 100 + "<b>x</b>" * 5000
    text = html_to_marked_text(html, problems)
    assert text.startswith("deep") and problems == []
