"""Email intake: IMAP mailboxes (`[[mailbox]]`) and `[email]` settings."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config_errors import ConfigError
from core.config_secrets import Secret, SecretError  # noqa: F401  (re-exported)

# Top-level TOML keys this module reads; any other unknown key is refused.
SECTIONS = frozenset({"mailbox", "email"})

TLS_MODES = ("implicit", "starttls", "plain")
AFTER_ACTIONS = ("seen", "move", "delete")
DEFAULT_MAX_BYTES = 25 * 1024 * 1024
_MAILBOX_KEYS = {
    "name",
    "host",
    "port",
    "tls",
    "allow_plaintext",
    "ca_file",
    "username",
    "password_env",
    "password_file",
    "oauth2_token_env",
    "oauth2_token_file",
    "folders",
    "after",
    "move_to",
    "max_bytes",
    "poll_seconds",
    "idle",
    "timeout_seconds",
}
_EMAIL_KEYS = {"inbox", "inbox_max_bytes"}


@dataclass(frozen=True)
class MailboxConfig:
    name: str
    host: str
    username: str
    secret: Secret
    oauth2: bool = False  # the secret is an OAuth2 access token (XOAUTH2), not a password
    port: int = 993
    tls: str = "implicit"
    ca_file: Path | None = None  # extra CA to trust (a self-signed or private CA)
    folders: tuple[str, ...] = ("INBOX",)
    after: str = "seen"
    move_to: str | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    poll_seconds: float = 60.0  # when the server offers no IDLE, or idle = false
    idle: bool = True
    timeout_seconds: float = 60.0  # socket timeout for one command


@dataclass(frozen=True)
class EmailConfig:
    mailboxes: tuple[MailboxConfig, ...] = ()
    # The local Maildir drop folder that stands in for the incident mailbox.
    inbox: Path = Path("var/inbox")
    inbox_max_bytes: int = DEFAULT_MAX_BYTES

    def mailbox(self, name: str) -> MailboxConfig | None:
        return next((m for m in self.mailboxes if m.name == name), None)


def parse(data: dict[str, Any], where: str) -> EmailConfig:
    """Check this area's sections of the TOML document; errors name file, key and reason."""
    base = Path(where).parent if where != "<config>" else Path(".")
    email = data.get("email", {})
    if not isinstance(email, dict):
        raise ConfigError(f"{where}: 'email' must be a table ([email])")
    unknown = set(email) - _EMAIL_KEYS
    if unknown:
        raise ConfigError(f"{where}: [email] has unknown key {sorted(unknown)[0]!r}")
    inbox = email.get("inbox", str(EmailConfig.inbox))
    if not isinstance(inbox, str) or not inbox.strip():
        raise ConfigError(f"{where}: [email] key 'inbox' has value {inbox!r}: must be a path")
    inbox_max = _positive_int(email, "inbox_max_bytes", DEFAULT_MAX_BYTES, f"{where}: [email]")

    raw_boxes = data.get("mailbox", [])
    if not isinstance(raw_boxes, list):
        raise ConfigError(f"{where}: 'mailbox' must be an array of tables ([[mailbox]])")
    boxes: list[MailboxConfig] = []
    for index, item in enumerate(raw_boxes):
        box = _mailbox(item, f"{where}: [[mailbox]] #{index + 1}", base)
        if any(b.name == box.name for b in boxes):
            raise ConfigError(f"{where}: [[mailbox]] name {box.name!r} is used twice")
        boxes.append(box)
    # A path written in the file is taken from the file's folder; the default is
    # the embedded one, under the working directory like the default database.
    inbox_path = _path(inbox, base) if "inbox" in email else EmailConfig.inbox
    return EmailConfig(tuple(boxes), inbox_path, inbox_max)


def _path(value: str, base: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() or base == Path(".") else base / path


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _mailbox(item: Any, at: str, base: Path) -> MailboxConfig:
    if not isinstance(item, dict):
        raise ConfigError(f"{at} must be a table")
    if "password" in item or "oauth2_token" in item:
        raise ConfigError(
            f"{at}: secrets are not written in the file; use password_env or password_file "
            "(oauth2_token_env or oauth2_token_file for a token)"
        )
    unknown = set(item) - _MAILBOX_KEYS
    if unknown:
        raise ConfigError(f"{at} has unknown key {sorted(unknown)[0]!r}")
    name = _string(item, "name", at, required=True)
    at = f"{at.rsplit(':', 1)[0]}: [[mailbox]] {name!r}"
    host = _string(item, "host", at, required=True)
    username = _string(item, "username", at, required=True)

    tls = item.get("tls", "implicit")
    if tls not in TLS_MODES:
        raise ConfigError(f"{at} key 'tls' has value {tls!r}: use one of {', '.join(TLS_MODES)}")
    allow_plaintext = _bool(item, "allow_plaintext", False, at)
    if tls == "plain":
        if not allow_plaintext:
            raise ConfigError(
                f"{at} key 'tls' is 'plain': the password would cross the network unencrypted; "
                "set allow_plaintext = true (loopback hosts only) or use implicit/starttls"
            )
        if not is_loopback(host):
            raise ConfigError(
                f"{at} key 'tls' is 'plain' but host {host!r} is not a loopback address: "
                "plaintext IMAP is only allowed to 127.0.0.1/::1/localhost"
            )
    port = item.get("port", 993 if tls == "implicit" else 143)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"{at} key 'port' has value {port!r}: must be 1..65535")
    ca = item.get("ca_file")
    if ca is not None and (not isinstance(ca, str) or not ca):
        raise ConfigError(f"{at} key 'ca_file' has value {ca!r}: must be a path")

    secret, oauth2 = _secret(item, at, base)

    folders = item.get("folders", ["INBOX"])
    if (
        not isinstance(folders, list)
        or not folders
        or not all(isinstance(f, str) and f for f in folders)
    ):
        raise ConfigError(f"{at} key 'folders' has value {folders!r}: a non-empty list of names")
    if len(set(folders)) != len(folders):
        raise ConfigError(f"{at} key 'folders' names a folder twice")
    after = item.get("after", "seen")
    if after not in AFTER_ACTIONS:
        raise ConfigError(
            f"{at} key 'after' has value {after!r}: use one of {', '.join(AFTER_ACTIONS)}"
        )
    move_to = item.get("move_to")
    if after == "move":
        if not isinstance(move_to, str) or not move_to:
            raise ConfigError(f"{at} has after = 'move' but no 'move_to' folder")
        if move_to in folders:
            raise ConfigError(f"{at} key 'move_to' {move_to!r} is also one of the folders read")
    elif move_to is not None:
        raise ConfigError(f"{at} key 'move_to' is only used with after = 'move'")
    return MailboxConfig(
        name=name,
        host=host,
        username=username,
        secret=secret,
        oauth2=oauth2,
        port=port,
        tls=tls,
        ca_file=_path(ca, base) if ca else None,
        folders=tuple(folders),
        after=after,
        move_to=move_to,
        max_bytes=_positive_int(item, "max_bytes", DEFAULT_MAX_BYTES, at),
        poll_seconds=_positive_number(item, "poll_seconds", 60.0, at),
        idle=_bool(item, "idle", True, at),
        timeout_seconds=_positive_number(item, "timeout_seconds", 60.0, at),
    )


def _secret(item: dict[str, Any], at: str, base: Path) -> tuple[Secret, bool]:
    keys = ("password_env", "password_file", "oauth2_token_env", "oauth2_token_file")
    given = [k for k in keys if k in item]
    if len(given) != 1:
        raise ConfigError(
            f"{at} needs exactly one of password_env, password_file, oauth2_token_env, "
            f"oauth2_token_file (got {', '.join(given) or 'none'})"
        )
    key = given[0]
    value = _string(item, key, at, required=True)
    oauth2 = key.startswith("oauth2")
    if key.endswith("_env"):
        return Secret(env=value), oauth2
    return Secret(file=_path(value, base)), oauth2


def _string(item: dict[str, Any], key: str, at: str, required: bool = False) -> str:
    value = item.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{at} key {key!r} has value {value!r}: must be a non-empty string")
    return value.strip()


def _bool(item: dict[str, Any], key: str, default: bool, at: str) -> bool:
    value = item.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{at} key {key!r} has value {value!r}: use true or false")
    return value


def _positive_int(item: dict[str, Any], key: str, default: int, at: str) -> int:
    value = item.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{at} key {key!r} has value {value!r}: must be a whole number > 0")
    return value


def _positive_number(item: dict[str, Any], key: str, default: float, at: str) -> float:
    value = item.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{at} key {key!r} has value {value!r}: must be a number > 0")
    return float(value)
