"""Line patterns mail clients write around quoted and forwarded mail, in several languages.

Shared by the reply splitter and the forward detector. Every pattern is anchored and free of
nested repetition, so a hostile line cannot make it backtrack for long.
"""

from __future__ import annotations

import re

# "---------- Forwarded message ---------" (Gmail), "-------- Forwarded Message --------"
# (Thunderbird), "Begin forwarded message:" (Apple Mail), and their translations.
FORWARD_MARKER = re.compile(
    r"^[ \t]*(?:-{2,}[ \t]*(?:Forwarded message|Weitergeleitete Nachricht|Message transf[ée]r[ée]"
    r"|Mensaje reenviado|Messaggio inoltrato|Doorgestuurd bericht|Mensagem encaminhada"
    r"|Wiadomo[śs][ćc] przekazana dalej|Пересылаемое сообщение)[ \t]*-{2,}"
    r"|Begin forwarded message:|Anfang der weitergeleiteten Nachricht:"
    r"|D[ée]but du message r[ée]exp[ée]di[ée][ \t]?:|Inicio del mensaje reenviado:"
    r"|Comienzo del mensaje reenviado:)[ \t]*$",
    re.IGNORECASE,
)

# "-----Original Message-----" (Outlook), "----- Original Message -----" (Yahoo, Zimbra).
ORIGINAL_MESSAGE = re.compile(
    r"^[ \t]*-{2,}[ \t]*(?:Original Message|Ursprüngliche Nachricht|Originalnachricht"
    r"|Message d'origine|Message original|Mensaje original|Messaggio originale"
    r"|Oorspronkelijk bericht|Mensagem original|Původní zpráva|Исходное сообщение)"
    r"[ \t]*-{2,}[ \t]*$",
    re.IGNORECASE,
)

# A horizontal rule drawn with dashes or underscores (Outlook puts one above its header block).
RULE_LINE = re.compile(r"^[ \t]*(?:-{3,}|_{3,})[ \t]*$")

# "From: x", "*From:* x" (Outlook plain text of bold labels), "De : x" (French spacing).
_HEADER_LINE = re.compile(
    r"^[ \t]*\*{0,2}([^\W\d_]{1,14}(?: [^\W\d_]{1,10})?)\*{0,2}[ \t]?:\*{0,2}(?:[ \t]+(.*))?$"
)

_HEADER_KEYS = {
    "from": ["from", "von", "de", "от", "van", "da", "od", "från", "fra", "mittente"],
    "date": ["date", "datum", "fecha", "дата", "data", "sent", "gesendet", "envoyé", "enviado"],
    "to": ["to", "an", "à", "para", "кому", "aan", "till", "til", "do", "destinatario", "a"],
    "cc": ["cc", "kopie", "копия"],
    "subject": ["subject", "betreff", "objet", "asunto", "тема", "onderwerp", "oggetto", "temat"],
    "reply-to": ["reply-to", "antwort an", "répondre à", "responder a"],
}
_HEADER_KEYS["date"] += ["enviada", "отправлено", "verzonden", "inviato", "wysłano", "skickat"]
_HEADER_KEYS["date"] += ["sendt"]
_HEADER_KEYS["subject"] += ["ämne", "emne", "assunto"]
_KEY_TO_NAME = {key: name for name, keys in _HEADER_KEYS.items() for key in keys}


def header_line(line: str) -> tuple[str, str] | None:
    """('from'|'date'|'to'|'cc'|'subject'|'reply-to', value) for a quoted-header line."""
    if ":" not in line[:40]:
        return None
    match = _HEADER_LINE.match(line)
    if match is None:
        return None
    name = _KEY_TO_NAME.get(match.group(1).lower())
    if name is None:
        return None
    return name, (match.group(2) or "").strip().strip("*").strip()


class HeaderBlocks:
    """Finds quoted header blocks in a text's lines, reading each line's label only once
    (a hostile text of thousands of "From:" lines would otherwise be read twelve times)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self._labels: dict[int, tuple[str, str] | None] = {}

    def label(self, index: int) -> tuple[str, str] | None:
        if index not in self._labels:
            self._labels[index] = header_line(self.lines[index])
        return self._labels[index]

    def end(self, start: int) -> int:
        """End (exclusive) of a quoted header block such as Outlook's From/Sent/To/Subject
        at `start`, or -1 when there is none.

        The block must name a sender (From, Von, De, ...) and one more field, on consecutive
        lines; long To/Cc values may wrap onto lines of their own.
        """
        first = self.label(start)
        if first is None or first[0] not in ("from", "date"):
            return -1
        names = {first[0]}
        end = start + 1
        wrapped = 0
        limit = min(len(self.lines), start + 12)
        while end < limit:
            if not self.lines[end].strip():
                break
            found = self.label(end)
            if found is None:
                wrapped += 1
                if wrapped > 2:
                    break
            elif found[0] in names:
                break  # each field appears once; a second From starts another block
            else:
                names.add(found[0])
                wrapped = 0
            end += 1
        if "from" not in names or len(names) < 2:
            return -1
        while end > start + 1 and self.label(end - 1) is None:
            end -= 1  # a trailing unlabeled line is the message body, not a wrapped value
        return end


# Attribution lines above quoted text. Known forms start with a fixed word and end with the
# verb; unknown forms (Russian Android, Yandex, mail.ru) are recognised by what precedes a
# `>` block: a short line ending in ':' that carries a date, time or address.
ATTRIBUTION_START = re.compile(
    r"^[-*_ \t]*(?:On|Am|Le|El|Il|Op|Em|Den|På|W dniu|Dne|Dana|Pada|Vào)\s", re.IGNORECASE
)
ATTRIBUTION_END = re.compile(
    r"(?:\b(?:wrote|writes|a [ée]crit|escribi[óo]|ha scritto|schreef|escreveu|skrev|napisa[łl]"
    r"|napsal|kirjoitti|написал[аи]?|írta)[ \t]*:|\bschrieb\b[^:\n]{0,200}:)[ \t]*$",
    re.IGNORECASE,
)
GENERIC_ATTRIBUTION_START = re.compile(
    r"^[-*_ \t]*(?:\d|\"|'|(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun|Mo|Di|Mi|Do|Fr|Sa|So|lun|mar|mer|jeu"
    r"|ven|sam|dim|mié|jue|vie|sáb|dom)\w*\.?,?\s)",
    re.IGNORECASE,
)
GENERIC_ATTRIBUTION_FACT = re.compile(r"@|\b\d{1,2}:\d{2}\b|\b\d{1,4}[./-]\d{1,2}[./-]\d{2,4}\b")

# Subject prefixes: replies (Re, AW, SV, ...) and forwards (Fwd, FW, WG, TR, RV, ...), with
# optional counters such as "Re[2]:" or "RE(3):".
_PREFIX = r"(?:re|aw|sv|vs|antw|odp|ynt|r|res|fwd?|fw|wg|tr|rv|enc|doorst|i|vl|pd)"
SUBJECT_PREFIX = re.compile(
    r"^[ \t]*" + _PREFIX + r"[ \t]*(?:\[\d{1,4}\]|\(\d{1,4}\))?[ \t]*:[ \t]*", re.IGNORECASE
)
FORWARD_PREFIX = re.compile(r"^[ \t]*(?:fwd?|fw|wg|tr|rv|enc|doorst|i|vl|pd)[ \t]*:", re.IGNORECASE)
REPLY_PREFIX = re.compile(
    r"^[ \t]*(?:re|aw|sv|vs|antw|odp|ynt|r|res)[ \t]*(?:\[\d{1,4}\]|\(\d{1,4}\))?[ \t]*:",
    re.IGNORECASE,
)
_TAG = re.compile(r"^[ \t]*\[[^\[\]]{1,40}\][ \t]*")


def strip_subject_prefixes(subject: str) -> str:
    """Subject without leading Re:/Fwd:/AW:/WG:/TR:/RV:... prefixes; `[INC-12]` tags stay."""
    tags = ""
    rest = subject.strip()
    for _ in range(20):
        match = SUBJECT_PREFIX.match(rest)
        if match is not None:
            rest = rest[match.end() :]
            continue
        tag = _TAG.match(rest)
        # A tag is kept, but prefixes after it ("[INC-12] RE: x") are still removed.
        if tag is not None and SUBJECT_PREFIX.match(rest[tag.end() :]) is not None:
            tags += tag.group(0).strip() + " "
            rest = rest[tag.end() :]
            continue
        break
    return (tags + rest).strip()
