"""Recognise automatic mail (bounces, auto-replies, bulk mail, our own notifications).

Strength order: our own mail, then bounces, then auto-replies, then bulk: a bounce often also
carries `Auto-Submitted: auto-replied` or `Precedence: bulk`, and the stronger kind is what
a person would call it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from core.report import SetAside

_RANK: dict[SetAside, int] = {"own": 0, "bounce": 1, "auto_reply": 2, "bulk": 3}

_BOUNCE_SENDER = re.compile(
    r"^(?:mailer-daemon|mailer_daemon|mailerdaemon|postmaster|post_master|mail-daemon)(?:@|$)"
)
# Anchored at the start: phrases such as "delivery failed" also occur in human subjects of a
# delivery business, but not at the very start in exactly the MTAs' wording.
_BOUNCE_SUBJECT = re.compile(
    r"^[ \t]*(?:\[[^\]]{0,30}\][ \t]*)?(?:Undelivered Mail Returned to Sender"
    r"|Delivery Status Notification|Mail delivery failed|Undeliverable(?: mail| message)?[ \t]*:"
    r"|Undeliverable (?:mail|message)\b|Undelivered Mail\b|failure notice|Returned mail(?::|\s*$)"
    r"|Mail System Error|Non[- ]?delivery (?:notification|report|of)|Nondeliverable mail"
    r"|Delivery Notification: Delivery has failed|Permanent Delivery Failure"
    r"|Mail Delivery Failure|Warning: could not send message|Warning: message \S+ delayed"
    r"|Delayed Mail \(still being retried\)|Unzustellbar[ \t]*:|Nicht zustellbar[ \t]*:"
    r"|Non remis[ \t]*:|No se puede entregar[ \t]*:|DSN:|Mail delivery problem"
    r"|Mail Delivery Subsystem|Notification d'état de remise"
    r"|Benachrichtigung zum Übermittlungsstatus|Sorry, we were unable to deliver your message"
    r"|complaint about message from|メールエラー通知|Недоставленное сообщение)",
    re.IGNORECASE,
)
# Phrases only auto-responders put first take anything after them; phrases a person might
# also start a subject with ("Out of office tomorrow?") count only as a whole subject or
# before a colon, the way responders write them.
_AUTO_REPLY_SUBJECT = re.compile(
    r"^[ \t]*(?:\[[^\]]{0,30}\][ \t]*)?(?:Automatic reply|Auto[- ]?reply|Auto[- ]?response"
    r"|Autorespons|Auto[- ]?antwort|Abwesenheitsnotiz|Automatische Antwort"
    r"|R[ée]ponse automatique|Respuesta autom[áa]tica|Risposta automatica"
    r"|Automatisch antwoord|(?:Out of (?:the )?office(?: auto[- ]?reply)?|R[ée]ponse en absence"
    r"|Absence du bureau|Fuera de la oficina|Vacation reply|Abwesend)[ \t]*(?::|$))",
    re.IGNORECASE,
)
# Amazon SES event notifications delivered by SNS: JSON, sometimes wrapped (escaped) in an
# SNS envelope. "Delivery" events are delivery reports too, like a DSN with Action: delivered.
_SES_NOTIFICATION = re.compile(
    r'\\?"notificationType\\?"[ \t]*:[ \t]*\\?"(Bounce|Complaint|Delivery)\\?"'
)
_HEADER_NAMES = {"mailing-list": "Mailing-List", "x-mlserver": "X-MLServer"}
_NO_VALUES = frozenset({"no", "false", "0", "off", ""})


@dataclass(frozen=True)
class Shape:
    """What the MIME walk found out that matters here."""

    content_type: str = ""  # of the whole message, lower case
    report_type: str = ""  # multipart/report's report-type parameter, lower case
    has_delivery_status: bool = False  # a message/delivery-status part anywhere
    has_feedback_report: bool = False  # a message/feedback-report part anywhere
    has_returned_message: bool = False  # a message/rfc822 or text/rfc822-headers part
    text_start: str = ""  # the first thousand characters of the body text


def _short(value: str, limit: int = 80) -> str:
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _signals(
    headers: Mapping[str, str], sender: str, subject: str, shape: Shape
) -> list[tuple[SetAside, str]]:
    found: list[tuple[SetAside, str]] = []
    if "x-intake-notification" in headers:
        found.append(("own", f"X-Intake-Notification: {_short(headers['x-intake-notification'])}"))

    if shape.content_type == "multipart/report" and shape.report_type == "feedback-report":
        found.append(
            ("bounce", "Content-Type: multipart/report; report-type=feedback-report (complaint)")
        )
    elif shape.content_type == "multipart/report" and shape.report_type == "delivery-status":
        found.append(("bounce", "Content-Type: multipart/report; report-type=delivery-status"))
    elif (
        shape.content_type == "multipart/report" and shape.report_type == "disposition-notification"
    ):
        found.append(
            (
                "auto_reply",
                "Content-Type: multipart/report; "
                "report-type=disposition-notification (read receipt)",
            )
        )
    elif shape.content_type == "multipart/report":
        found.append(
            ("bulk", f"Content-Type: multipart/report; report-type={_short(shape.report_type, 40)}")
        )
    elif shape.has_delivery_status:
        found.append(("bounce", "a message/delivery-status part"))
    elif shape.has_feedback_report:
        found.append(("bounce", "a message/feedback-report part (complaint)"))
    if "x-failed-recipients" in headers:
        found.append(("bounce", f"X-Failed-Recipients: {_short(headers['x-failed-recipients'])}"))
    if _BOUNCE_SENDER.match(sender):
        found.append(("bounce", f"From: {sender}"))
    if _BOUNCE_SUBJECT.match(subject):
        found.append(("bounce", f"Subject: {_short(subject)}"))
    if shape.has_returned_message and headers.get("return-path", "").strip() == "<>":
        # A null envelope sender marks automatic mail; with the original attached, it is
        # a delivery report written by an MTA that does not use multipart/report.
        found.append(("bounce", "Return-Path: <> with the returned message attached"))
    if "x-amz-sns-message-id" in headers:
        kind_match = _SES_NOTIFICATION.search(shape.text_start)
        if kind_match is not None:
            found.append(("bounce", f"Amazon SES {kind_match.group(1)} notification"))

    auto_submitted = headers.get("auto-submitted", "").split(";")[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        kind: SetAside = "auto_reply" if auto_submitted == "auto-replied" else "bulk"
        found.append((kind, f"Auto-Submitted: {_short(auto_submitted)}"))
    for name, shown in (("x-autoreply", "X-Autoreply"), ("x-autorespond", "X-Autorespond")):
        if name in headers and headers[name].strip().lower() not in _NO_VALUES:
            found.append(("auto_reply", f"{shown}: {_short(headers[name])}"))
    if _AUTO_REPLY_SUBJECT.match(subject):
        found.append(("auto_reply", f"Subject: {_short(subject)}"))
    if "x-auto-response-suppress" in headers:
        found.append(
            (
                "auto_reply",
                f"X-Auto-Response-Suppress: {_short(headers['x-auto-response-suppress'])}",
            )
        )

    precedence = headers.get("precedence", "").strip().lower()
    if precedence in ("bulk", "junk", "list"):
        found.append(("bulk", f"Precedence: {precedence}"))
    elif precedence in ("auto_reply", "auto-reply"):
        found.append(("auto_reply", f"Precedence: {precedence}"))
    if "list-id" in headers:
        found.append(("bulk", f"List-Id: {_short(headers['list-id'])}"))
    if "list-unsubscribe" in headers:
        found.append(("bulk", "List-Unsubscribe header"))
    for name in sorted(headers):
        # Other RFC 2369 list headers, ezmlm's Mailing-List, fml's X-MLServer.
        if name.startswith("list-") or name in ("mailing-list", "x-mlserver"):
            found.append(("bulk", f"{_HEADER_NAMES.get(name, name.title())} header"))
            break
    return found


def classify_automatic(
    headers: Mapping[str, str],
    *,
    sender: str,
    subject: str = "",
    shape: Shape = Shape(),
) -> tuple[SetAside, str] | None:
    """(set-aside kind, evidence naming the header or field) for automatic mail, else None.

    `headers` maps lower-case names to decoded values; `sender` is the lower-case From
    address. The evidence is the first signal of the strongest kind found.
    """
    found = _signals(headers, sender, subject, shape)
    if not found:
        return None
    return min(found, key=lambda signal: _RANK[signal[0]])
