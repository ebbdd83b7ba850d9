"""Email: build the MIME message for an outbox row and send it over SMTP.

Every header value we write comes from config (checked at start), from a
template rendered to one line, or from ids we make: a CR or LF in a subject,
a name or an address can never start a new header. The connection is opened
lazily and kept for the whole batch the delivery worker hands us.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import SMTP, compat32
from email.utils import format_datetime, parseaddr

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


def build_email(
    smtp_from: str, reply_to: str, envelope: Envelope, rendered: Rendered
) -> EmailMessage:
    if not valid_address(envelope.recipient):
        raise PermanentError(f"not a plain email address: {envelope.recipient!r}")
    msg = EmailMessage(policy=SMTP)
    name, address = parseaddr(smtp_from)
    local, domain = address.rsplit("@", 1)
    msg["From"] = Address(display_name=one_line(name, 100), username=local, domain=domain)
    msg["To"] = envelope.recipient
    msg["Reply-To"] = reply_to
    msg["Subject"] = one_line(rendered.subject, 250)
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = envelope.message_id
    parent = envelope.in_reply_to if envelope.kind == "ack" else envelope.thread_root
    if parent and _MSGID.match(parent) and parent != envelope.message_id:
        msg["In-Reply-To"] = parent
        msg["References"] = parent
    msg["Auto-Submitted"] = "auto-replied" if envelope.kind == "ack" else "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg[HEADER] = f"{envelope.row_id}; {envelope.kind}"
    if envelope.incident_ref:
        msg["X-Intake-Incident"] = envelope.incident_ref
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    _check_headers(msg)
    return msg


def _check_headers(msg: EmailMessage) -> None:
    """Re-parse what will go on the wire: exactly the headers we set, nothing smuggled in."""
    parsed = BytesHeaderParser(policy=compat32).parsebytes(bytes(msg), headersonly=True)
    expected = [name.lower() for name in msg]
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

    def send(self, message: EmailMessage, recipient: str) -> None:
        reused = self._connection is not None
        try:
            self._send(message, recipient)
        except smtplib.SMTPServerDisconnected:
            self.close()
            if not reused:
                raise
            self._send(message, recipient)  # the kept connection had timed out: one fresh try

    def _send(self, message: EmailMessage, recipient: str) -> None:
        if self._connection is None:
            self._connection = self._connect()
        sender = parseaddr(self.config.sender)[1]
        try:
            self._connection.send_message(message, from_addr=sender, to_addrs=[recipient])
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
