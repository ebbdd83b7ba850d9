"""Where quoted history starts in an HTML mail body, by the markup mail clients write.

Gmail wraps history in `div.gmail_quote`, Thunderbird starts it with `div.moz-cite-prefix`,
Outlook with `#divRplyFwdMsg`, `#appendonsend`, `#OLK_SRC_BODY_SECTION` or a top-bordered
div holding a From/Sent block, Hotmail and older Outlook with an `<hr>` followed by one.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

# Elements that start quoted history in the mail clients that write them.
_QUOTE_SELECTOR = (
    "div.gmail_quote, div.gmail_quote_container, div.moz-cite-prefix, .yahoo_quoted, "
    "#OLK_SRC_BODY_SECTION, #divRplyFwdMsg, #appendonsend, div[name=quote]"
)
_HEADER_KEY = re.compile(
    r"(?<!\w)(From|Von|De|От|Van|Da|Od|Från|Fra|Sent|Date|To|Subject|Cc|Gesendet|Datum|An"
    r"|Betreff|Envoyé|Objet|À|Enviado|Para|Asunto|Fecha|Отправлено|Кому|Тема|Дата|Verzonden"
    r"|Aan|Onderwerp|Inviato|Oggetto|Wysłano|Temat|Skickat|Till|Ämne)\s?:",
    re.IGNORECASE,
)
_FROM_KEY = re.compile(r"^\W{0,3}(From|Von|De|От|Van|Da|Od|Från|Fra|Date)\s?:", re.IGNORECASE)


def _looks_like_header_block(text: str) -> bool:
    text = text.lstrip()[:400]
    return bool(_FROM_KEY.match(text)) and len({k.lower() for k in _HEADER_KEY.findall(text)}) >= 2


def _following_text(node: LexborNode, limit: int = 300) -> str:
    """About `limit` characters of the document text that follows `node`."""
    parts: list[str] = []
    total = 0
    current: LexborNode | None = node
    while current is not None and total < limit:
        sibling = current.next
        while sibling is not None and total < limit:
            piece = sibling.text(deep=True, separator=" ") if sibling.tag != "-comment" else ""
            parts.append(piece)
            total += len(piece)
            sibling = sibling.next
        current = current.parent
    return " ".join(parts)


def quote_start_ids(tree: LexborHTMLParser) -> set[int]:
    """`mem_id`s of the elements that open quoted history."""
    starts = {node.mem_id for node in tree.css(_QUOTE_SELECTOR)}
    for node in tree.css("div[style*=border-top]")[:50]:
        if _looks_like_header_block(node.text(deep=True, separator=" ")[:400]):
            starts.add(node.mem_id)
    return starts


def quoting_rule_ids(tree: LexborHTMLParser) -> set[int]:
    """`mem_id`s of the `<hr>` rules directly followed by a quoted From/Sent block."""
    return {
        node.mem_id
        for node in tree.css("hr")[:20]
        if _looks_like_header_block(_following_text(node))
    }
