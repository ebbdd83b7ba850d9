"""HTML mail bodies to plain text, with the start of quoted history marked.

Uses lexbor (selectolax) because it is the fastest real HTML parser available; regex-based
tag stripping gets scripts, comments and entities wrong.

`html_to_marked_text` writes `QUOTE_MARK` on its own line where a mail client's quoted
history starts (Gmail's `gmail_quote`, Thunderbird's `moz-cite-prefix`, Outlook's reply
header divs, a rule followed by a From/Sent block...); `split_at_mark` cuts there.
Blockquotes become `> ` lines, so the plain-text reply splitter recognises them too.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

from ingest.html_quotes import quote_start_ids, quoting_rule_ids

# Lexbor is fast, but a mail body beyond this is a newsletter or an attack; its start is enough.
MAX_HTML_CHARS = 200_000
MAX_NESTING = 400
_NESTING_TAG = re.compile(
    r"<(/?)(?:div|blockquote|ul|ol|dl|section|article|aside|center|fieldset|figure|footer|header"
    r"|main|nav|form|details|dir|menu|address|h[1-6]|pre|listing|hgroup|figcaption|summary"
    r"|dialog|a|b|big|code|em|font|i|nobr|s|small|strike|strong|tt|u)(?=[\s/>])",
    re.IGNORECASE,
)
# Private-use character: cannot come from the mail (it is stripped from text nodes).
QUOTE_MARK = "\ue000"

_SKIPPED = frozenset(
    {"script", "style", "head", "title", "template", "noscript", "svg", "object", "iframe"}
    | {"xml", "meta", "link", "-comment", "select", "button", "map", "area"}
)
_BLOCKS = frozenset(
    {"address", "article", "aside", "center", "dd", "div", "dl", "dt", "fieldset"}
    | {"figcaption", "figure", "footer", "form", "header", "main", "nav", "section"}
    | {"table", "tbody", "thead", "tfoot", "tr", "caption", "body", "html", "hr"}
    | {"p", "pre", "blockquote", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6"}
)
# Blocks that read as paragraphs: a blank line around them.
_PARAGRAPHS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "pre", "dl"})
_CELLS = frozenset({"td", "th"})
_WHITESPACE = re.compile(r"[ \t\n\r\f\v\xa0]+")
# Zero-width and direction marks: invisible, but they break words and patterns apart.
_INVISIBLE = re.compile(r"[\u200b-\u200f\u2060\ufeff]")

# A sign-off this short between a block's start and its rule belongs to the quoted block.
_SIGN_OFF_CHARS = 40


class _Writer:
    """Collects lines; each remembers the blockquote depth it was written at."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []
        self.current: list[str] = []
        self.depth = 0
        self.line_depth = 0
        self.ends_in_space = True

    def text(self, chunk: str) -> None:
        if not self.current:
            self.line_depth = self.depth
            chunk = chunk.lstrip(" ")
            if not chunk:
                return
        elif self.ends_in_space and chunk.startswith(" "):
            chunk = chunk[1:]
            if not chunk:
                return
        self.current.append(chunk)
        self.ends_in_space = chunk.endswith(" ")

    def raw_lines(self, chunk: str) -> None:
        """Preformatted text: keep spaces and line breaks."""
        first, *rest = chunk.split("\n")
        if first:
            if not self.current:
                self.line_depth = self.depth
            self.current.append(first)
        for piece in rest:
            self.newline()
            if piece:
                self.line_depth = self.depth
                self.current.append(piece)
        self.ends_in_space = False

    def newline(self) -> None:
        depth = self.line_depth if self.current else self.depth
        self.lines.append((depth, "".join(self.current).rstrip()))
        self.current = []
        self.ends_in_space = True

    def line_start(self) -> None:
        if self.current:
            self.newline()

    def blank_line(self) -> None:
        self.line_start()
        if self.lines and self.lines[-1][1]:
            self.lines.append((self.depth, ""))

    def mark(self, at: int | None = None) -> None:
        self.line_start()
        if at is None:
            self.lines.append((0, QUOTE_MARK))
        else:
            self.lines.insert(at, (0, QUOTE_MARK))

    def text_since(self, index: int) -> str:
        return " ".join(text for _, text in self.lines[index:]) + "".join(self.current)

    def result(self) -> str:
        self.line_start()
        out: list[str] = []
        for depth, text in self.lines:
            prefix = ">" * depth
            line = f"{prefix} {text}" if depth and text else prefix or text
            if not line and out and not out[-1]:
                continue  # one blank line is enough between blocks
            out.append(line)
        return "\n".join(out).strip("\n")


def _parse(html: str) -> LexborHTMLParser:
    try:
        return LexborHTMLParser(html)
    except UnicodeEncodeError:
        # Lone surrogates cannot be handed to the C parser; replace them.
        return LexborHTMLParser(html.encode("utf-8", "replace").decode("utf-8"))


def _nesting_cut(html: str) -> int:
    """Where block or formatting elements nest deeper than MAX_NESTING, or -1.

    HTML5 tree building scans the stack of open elements for each block start tag and runs
    the adoption agency for formatting tags, so thousands of unclosed <div>s or <a><b>s take
    quadratic time (seconds for 200 KB). No real mail nests anywhere near this deep.
    """
    depth = 0
    for match in _NESTING_TAG.finditer(html):
        if match.group(1):
            depth = max(0, depth - 1)
        else:
            depth += 1
            if depth > MAX_NESTING:
                return match.start()
    return -1


def html_to_marked_text(html: str, problems: list[str] | None = None) -> str:
    """Readable text of an HTML body, with `QUOTE_MARK` lines where quoted history starts.

    Only the first MAX_HTML_CHARS characters are read, and only up to MAX_NESTING levels of
    nesting; either cut is reported in `problems`.
    """
    if len(html) > MAX_HTML_CHARS:
        html = html[:MAX_HTML_CHARS]
        if problems is not None:
            problems.append(
                f"HTML body longer than {MAX_HTML_CHARS} characters; only the start was read"
            )
    cut = _nesting_cut(html)
    if cut != -1:
        html = html[:cut]
        if problems is not None:
            problems.append(
                f"HTML nested deeper than {MAX_NESTING} elements; only the start was read"
            )
    tree = _parse(html)
    root = tree.body or tree.root
    if root is None:
        return ""
    quote_starts = quote_start_ids(tree)
    rules = quoting_rule_ids(tree)
    plain_paragraphs = {node.mem_id for node in tree.css("p.MsoNormal")}

    out = _Writer()
    lists: list[list[int]] = []  # [is_ordered, counter] per open list
    div_starts: list[int] = []
    preformatted = 0
    stack: list[tuple[LexborNode, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        tag = node.tag or ""
        if leaving:
            if tag == "blockquote":
                out.line_start()
                out.depth -= 1
            elif tag == "pre":
                preformatted -= 1
            elif tag in ("ul", "ol"):
                lists.pop()
            elif tag == "div":
                div_starts.pop()
            if tag in _CELLS:
                out.text(" ")
            elif tag in _PARAGRAPHS and node.mem_id not in plain_paragraphs:
                out.blank_line()
            elif tag in _BLOCKS:
                out.line_start()
            continue
        if tag == "-text":
            chunk = node.text_content or ""
            if not chunk.isascii():
                chunk = _INVISIBLE.sub("", chunk.replace(QUOTE_MARK, ""))
            if preformatted:
                out.raw_lines(chunk.replace("\r\n", "\n").replace("\xa0", " "))
            else:
                out.text(_WHITESPACE.sub(" ", chunk))
            continue
        if tag in _SKIPPED or tag.startswith("-"):
            continue
        if tag == "br":
            out.newline()
            continue
        if tag == "img":
            continue
        if node.mem_id in quote_starts:
            out.mark()
        if tag == "hr":
            if node.mem_id in rules:
                # Outlook and Hotmail put the rule inside the quoted block's own div; a
                # sign-off-sized text before it in that div goes with the quote.
                start = div_starts[-1] if div_starts else None
                if start is not None and len(out.text_since(start).strip()) <= _SIGN_OFF_CHARS:
                    out.mark(start)
                else:
                    out.mark()
            out.line_start()
            out.lines.append((out.depth, "----------"))
            continue
        if tag in _PARAGRAPHS and node.mem_id not in plain_paragraphs:
            out.blank_line()
        elif tag in _BLOCKS:
            out.line_start()
        if tag == "div":
            div_starts.append(len(out.lines))
        elif tag == "blockquote":
            out.depth += 1
        elif tag == "pre":
            preformatted += 1
        elif tag in ("ul", "ol"):
            lists.append([tag == "ol", 0])
        elif tag == "li":
            if lists and lists[-1][0]:
                lists[-1][1] += 1
                out.text(f"{lists[-1][1]}. ")
            else:
                out.text("- ")
        stack.append((node, True))
        children = list(node.iter(include_text=True))
        children.reverse()
        stack.extend((child, False) for child in children)
    return out.result()


def strip_marks(text: str) -> str:
    """Marked text without its marks."""
    if QUOTE_MARK not in text:
        return text
    return "\n".join(line for line in text.split("\n") if line != QUOTE_MARK)


def split_at_mark(text: str) -> tuple[str, str]:
    """(text before the first mark that has real text above it, everything after it)."""
    if QUOTE_MARK not in text:
        return text, ""
    lines = text.split("\n")
    seen_text = False
    for index, line in enumerate(lines):
        if line == QUOTE_MARK and seen_text:
            head = "\n".join(lines[:index])
            tail = "\n".join(lines[index + 1 :])
            return strip_marks(head).strip("\n"), strip_marks(tail).strip("\n")
        seen_text = seen_text or (line != QUOTE_MARK and bool(line.strip()))
    return strip_marks(text), ""


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML body: no scripts or styles, blocks on their own lines."""
    return strip_marks(html_to_marked_text(html))
