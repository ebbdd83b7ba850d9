"""Open a logged-in IMAP connection for a configured mailbox, with errors a person can act on.

TLS is implicit (port 993) or STARTTLS; the certificate is verified against
the system store, plus `ca_file` when set. Plaintext is only used when the
config allows it for a loopback host (checked again here, not only in the
config). A server that does not offer STARTTLS when it is required is refused
before the password is sent.
"""

from __future__ import annotations

import contextlib
import socket
import ssl

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from core.config_email import MailboxConfig, SecretError, is_loopback


class MailboxError(Exception):
    """Why a mailbox cannot be used, in words that name the host, user or folder."""


def tls_context(box: MailboxConfig) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if box.ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(box.ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise MailboxError(f"cannot load ca_file {box.ca_file}: {exc}") from exc
    return context


def _where(box: MailboxConfig) -> str:
    return f"{box.host}:{box.port}"


def _open(box: MailboxConfig) -> IMAPClient:
    timeout = box.timeout_seconds
    if box.tls == "implicit":
        return IMAPClient(
            box.host, box.port, ssl=True, ssl_context=tls_context(box), timeout=timeout
        )
    if box.tls == "plain" and not is_loopback(box.host):
        raise MailboxError(f"{box.name}: plaintext IMAP refused for non-loopback host {box.host!r}")
    client = IMAPClient(box.host, box.port, ssl=False, timeout=timeout)
    if box.tls == "starttls":
        if b"STARTTLS" not in client.capabilities():
            _drop(client)
            raise MailboxError(
                f"{_where(box)} does not offer STARTTLS, which tls = 'starttls' requires; "
                "refusing to log in without encryption"
            )
        client.starttls(tls_context(box))
    return client


def _drop(client: IMAPClient) -> None:
    with contextlib.suppress(OSError, IMAPClientError):
        client.shutdown()


def connect(box: MailboxConfig) -> IMAPClient:
    """Connect and log in, or raise MailboxError saying which step failed and why."""
    try:
        secret = box.secret.read()
    except SecretError as exc:
        kind = "OAuth2 token" if box.oauth2 else "password"
        raise MailboxError(f"{box.name}: cannot read the {kind}: {exc}") from exc
    try:
        client = _open(box)
    except MailboxError:
        raise
    except socket.gaierror as exc:
        raise MailboxError(f"cannot resolve host {box.host!r}: {exc.strerror or exc}") from exc
    except ssl.SSLCertVerificationError as exc:
        raise MailboxError(
            f"TLS certificate of {_where(box)} is not trusted ({exc.verify_message}); "
            "set ca_file to the CA that signed it"
        ) from exc
    except ssl.SSLError as exc:
        raise MailboxError(f"TLS handshake with {_where(box)} failed: {exc.reason or exc}") from exc
    except ConnectionRefusedError as exc:
        raise MailboxError(f"connection to {_where(box)} refused (is the port right?)") from exc
    except TimeoutError as exc:
        raise MailboxError(
            f"no answer from {_where(box)} within {box.timeout_seconds:g} s"
        ) from exc
    except OSError as exc:
        raise MailboxError(f"cannot connect to {_where(box)}: {exc.strerror or exc}") from exc
    except IMAPClientError as exc:
        raise MailboxError(f"{_where(box)} did not greet as an IMAP server: {exc}") from exc
    try:
        if box.oauth2:
            client.oauth2_login(box.username, secret)
        else:
            client.login(box.username, secret)
    except LoginError as exc:
        _drop(client)
        raise MailboxError(
            f"login to {_where(box)} refused for user {box.username!r}: {_text(exc)}"
        ) from exc
    except (IMAPClientError, OSError) as exc:
        _drop(client)
        raise MailboxError(f"login to {_where(box)} failed: {_text(exc)}") from exc
    return client


def _text(exc: BaseException) -> str:
    text = str(exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text


def disconnect(client: IMAPClient) -> None:
    """Log out politely when the connection still works; just close it when it does not."""
    try:
        client.logout()
    except (OSError, IMAPClientError):
        _drop(client)
