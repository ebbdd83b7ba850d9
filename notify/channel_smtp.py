"""Email: build the MIME message for an outbox row and send it over SMTP.

Every header value we write comes from config (checked at start), from a
template rendered to one line, or from ids we make: a CR or LF in a subject,
a name or an address can never start a new header. The connection is opened
lazily and kept for the whole batch the delivery worker hands us.
"""

from __future__ import annotations

import base64
import re
import secrets
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import format_datetime, formataddr, parseaddr

from core.config_notify import SmtpConfig
from notify.render import Rendered, one_line

HEADER = "X-Intake-Notification"  # email intake sets mail carrying it aside as our own
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$")
_MSGID = re.compile(r"^<[^<>\s]{1,900}>$")


class PermanentError(Exception):
    """Retrying cannot help (a recipient refused with 5xx, an invalid address)."""


@dataclass(frozen=True)
class Envelope:
    """What the delivery worker knows about one email to send."""

    row_id: int
    kind: str
    recipient: str
    message_id: str
    thread_root: str | None  # Message-ID this incident's mail threads under
    in_reply_to: str | None = None  # acknowledgements answer the reporter's message
    incident_ref: str = ""


def message_id(row_id: int, created_at: datetime, domain: str) -> str:
    """Stable per outbox row: a retry, or a duplicate after a dropped connection, keeps it."""
    stamp = int(created_at.timestamp())
    return f"<intake.{row_id}.{stamp:x}@{domain}>"


def sender_domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.rsplit("@", 1)[1] if "@" in address else "intake.invalid"


def valid_address(value: str) -> bool:
    return bool(_ADDRESS.match(value))


def _header(value: str) -> str:
    """A one-line header value; non-ASCII as RFC 2047 encoded words."""
    value = one_line(value, 250)
    return value if value.isascii() else Header(value, "utf-8").encode(linesep="\r\n")


def build_email(smtp_from: str, reply_to: str, envelope: Envelope, rendered: Rendered) -> bytes:
    """The message as it goes on the wire: multipart/alternative, text then HTML.

    Written out directly (the stdlib's generators cost more than the SMTP
    exchange): every header value passes through one_line (no CR/LF, no
    encoded-word tricks, RFC 2047 for non-ASCII) or is an address or id
    checked here, and the result is re-parsed to prove no header was added.
    """
    if not valid_address(envelope.recipient):
        raise PermanentError(f"not a plain email address: {envelope.recipient!r}")
    name, address = parseaddr(smtp_from)
    headers = [
        ("From", formataddr((_header(name) if name else "", address))),
        ("To", envelope.recipient),
        ("Reply-To", reply_to),
        ("Subject", _header(rendered.subject)),
        ("Date", format_datetime(datetime.now(UTC))),
        ("Message-ID", envelope.message_id),
    ]
    parent = envelope.in_reply_to if envelope.kind == "ack" else envelope.thread_root
    if parent and _MSGID.match(parent) and parent != envelope.message_id:
        headers += [("In-Reply-To", parent), ("References", parent)]
    headers += [
        ("Auto-Submitted", "auto-replied" if envelope.kind == "ack" else "auto-generated"),
        ("X-Auto-Response-Suppress", "All"),
        (HEADER, f"{envelope.row_id}; {envelope.kind}"),
    ]
    if envelope.incident_ref:
        headers.append(("X-Intake-Incident", one_line(envelope.incident_ref, 40)))
    boundary = f"=_intake_{secrets.token_hex(12)}"
    headers += [
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    ]
    lines = [f"{key}: {value}" for key, value in headers]
    for subtype, body in (("plain", rendered.text), ("html", rendered.html)):
        lines += [
            "",
            f"--{boundary}",
            f'Content-Type: text/{subtype}; charset="utf-8"',
            "Content-Transfer-Encoding: base64",
            "",
            base64.encodebytes(body.encode("utf-8"))
            .decode("ascii")
            .rstrip("\n")
            .replace("\n", "\r\n"),
        ]
    lines += ["", f"--{boundary}--", ""]
    data = "\r\n".join(lines).encode("ascii")
    _check_headers(data, [key.lower() for key, _ in headers])
    return data


def _check_headers(data: bytes, expected: list[str]) -> None:
    """Re-parse what will go on the wire: exactly the headers we set, nothing smuggled in."""
    head = data.split(b"\r\n\r\n", 1)[0]
    parsed = BytesHeaderParser(policy=compat32).parsebytes(head + b"\r\n\r\n", headersonly=True)
    if [name.lower() for name in parsed] != expected:
        raise PermanentError(
            f"refusing a message whose headers changed on the wire: {parsed.keys()}"
        )


class SmtpChannel:
    """One SMTP connection, reused across a batch; reopened once if the server dropped it."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._connection: smtplib.SMTP | None = None

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.config.ca_file is not None:
            context.load_verify_locations(cafile=str(self.config.ca_file))
        return context

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        connection: smtplib.SMTP
        if config.tls == "implicit":
            connection = smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout_seconds, context=self._context()
            )
        else:
            connection = smtplib.SMTP(config.host, config.port, timeout=config.timeout_seconds)
        try:
            connection.ehlo()
            if config.tls == "starttls":
                # Refuses (SMTPNotSupportedError) when the server does not offer STARTTLS.
                connection.starttls(context=self._context())
                connection.ehlo()
            if config.username and config.secret is not None:
                connection.login(config.username, config.secret.read())
        except Exception:
            connection.close()
            raise
        return connection

    def send(self, message: bytes, recipient: str) -> None:
        reused = self._connection is not None
        try:
            self._send(message, recipient)
        except smtplib.SMTPServerDisconnected:
            self.close()
            if not reused:
                raise
            self._send(message, recipient)  # the kept connection had timed out: one fresh try

    def _send(self, message: bytes, recipient: str) -> None:
        if self._connection is None:
            self._connection = self._connect()
        sender = parseaddr(self.config.sender)[1]
        try:
            self._connection.sendmail(sender, [recipient], message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(code >= 500 for code in codes):
                raise PermanentError(f"recipient refused: {exc.recipients}") from exc
            raise
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500 and not isinstance(exc, smtplib.SMTPSenderRefused):
                self.close()
                raise PermanentError(f"refused with {exc.smtp_code}: {exc.smtp_error!r}") from exc
            self.close()
            raise
        except (OSError, smtplib.SMTPException):
            self.close()
            raise

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.quit()
        except (OSError, smtplib.SMTPException):
            connection.close()
