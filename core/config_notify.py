"""Notifications: audiences, SMTP, templates, reminders, delivery settings.

```toml
[notify]
channel = "send"            # "file" writes to outbox_dir instead (default without [smtp])
outbox_dir = "var/outbox"
attempts = 8                # then the message is dead-lettered
base_url = "https://intake.example.com"   # links to incident pages (default http://127.0.0.1:8000)
ack_reply = false           # acknowledge reports that arrive by email (issue 4, item 5)

[smtp]
host = "smtp.example.com"
port = 587
tls = "starttls"            # implicit | starttls | plain (plain only to loopback)
username = "intake"
password_env = "SMTP_PASSWORD"     # or password_file
from = "Incident desk <intake@example.com>"
incident_address = "incidents@example.com"   # Reply-To of every mail

[templates]
folder = "my-templates"     # files here override the built-in ones by name

[reminders]
SEV1 = 30                   # minutes without an update before a reminder; 0 = never
SEV2 = 60

[[audience]]
name = "support"
emails = ["support-leads@example.com"]
telegram = [-1001234567890]
webhooks = [{ url = "https://hooks.example.com/x", secret_env = "HOOK_SECRET" }]
events = ["declared", "severity_changed", "update_posted", "resolved", "triage_needed"]
types = ["customer_success"]   # empty: every type
min_severity = "SEV2"
sources = ["email", "sentry"]  # empty: every source
digest = { cron = "0 9 * * mon-fri", timezone = "Europe/Berlin", options = { top_sources = 5 } }
```
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config_email import Secret, is_loopback
from core.config_errors import ConfigError
from core.triage.verdict import SEVERITIES, TYPES

# Top-level TOML keys this module reads; any other unknown key is refused.
SECTIONS = frozenset({"audience", "smtp", "notify", "templates", "reminders"})

EVENTS = ("declared", "severity_changed", "update_posted", "resolved", "triage_needed")
SOURCES = ("email", "sentry", "telegram", "alertmanager", "events")
TLS_MODES = ("implicit", "starttls", "plain")
DEFAULT_REMINDERS = {"SEV1": 30, "SEV2": 60, "SEV3": 240, "SEV4": 0}
DIGEST_OPTIONS = {"top_sources", "include_resolved", "grace_minutes", "max_listed"}

_NOTIFY_KEYS = {"channel", "outbox_dir", "attempts", "base_url", "ack_reply"}
_SMTP_KEYS = {
    "host",
    "port",
    "tls",
    "username",
    "password_env",
    "password_file",
    "from",
    "incident_address",
    "ca_file",
    "timeout_seconds",
}
_AUDIENCE_KEYS = {
    "name",
    "emails",
    "telegram",
    "webhooks",
    "events",
    "types",
    "min_severity",
    "sources",
    "digest",
}
_WEBHOOK_KEYS = {"url", "secret_env", "secret_file"}
_DIGEST_KEYS = {"cron", "timezone", "options"}
_ADDRESS = re.compile(r"^[^@\s<>\"(),;:\\\[\]]+@[^@\s<>\"(),;:\\\[\]]+\.[^@\s<>\"(),;:\\\[\]]+$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class Webhook:
    url: str
    secret: Secret


@dataclass(frozen=True)
class Digest:
    cron: str
    timezone: str
    top_sources: int = 5
    include_resolved: bool = True
    grace_minutes: int = 360  # a digest missed while down is sent on start within this
    max_listed: int = 25  # incidents listed per section; the counts cover all


@dataclass(frozen=True)
class Audience:
    name: str
    emails: tuple[str, ...] = ()
    telegram: tuple[int, ...] = ()
    webhooks: tuple[Webhook, ...] = ()
    events: tuple[str, ...] = EVENTS
    types: tuple[str, ...] = ()  # empty: every type
    min_severity: str = "SEV4"
    sources: tuple[str, ...] = ()  # empty: every source
    digest: Digest | None = None

    def wants(self, severity: str, types: list[str], sources: list[str]) -> bool:
        """The audience's filters: minimum severity, incident types, sources."""
        if severity in SEVERITIES and SEVERITIES.index(severity) > SEVERITIES.index(
            self.min_severity
        ):
            return False
        if self.types and not set(self.types) & set(types):
            return False
        return not (self.sources and not set(self.sources) & set(sources))


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    tls: str
    sender: str  # the From header
    incident_address: str  # Reply-To
    username: str = ""
    secret: Secret | None = None
    ca_file: Path | None = None
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class NotifyConfig:
    audiences: tuple[Audience, ...] = ()
    smtp: SmtpConfig | None = None
    channel: str = "file"  # file | send
    outbox_dir: Path = Path("var/outbox")
    attempts: int = 8
    base_url: str = ""
    ack_reply: bool = False
    templates_folder: Path | None = None
    reminders: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_REMINDERS))

    def audience(self, name: str) -> Audience | None:
        return next((a for a in self.audiences if a.name == name), None)


def parse(data: dict[str, Any], where: str) -> NotifyConfig:
    """Check this area's sections of the TOML document; errors name file, key and reason."""
    base = Path(where).parent if where != "<config>" else Path(".")
    notify = _table(data, "notify", where)
    _unknown(notify, _NOTIFY_KEYS, f"{where}: [notify]")
    smtp = _smtp(data, where, base)
    at = f"{where}: [notify]"
    channel = notify.get("channel", "send" if smtp else "file")
    if channel not in ("file", "send"):
        raise ConfigError(f"{at} key 'channel' has value {channel!r}: use file or send")
    attempts = notify.get("attempts", 8)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 100:
        raise ConfigError(f"{at} key 'attempts' has value {attempts!r}: must be 1..100")
    base_url = _text(notify, "base_url", at) or ""
    if base_url and not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"{at} key 'base_url' has value {base_url!r}: must start with http(s)://")
    ack = notify.get("ack_reply", False)
    if not isinstance(ack, bool):
        raise ConfigError(f"{at} key 'ack_reply' has value {ack!r}: use true or false")
    if ack and smtp is None and channel == "send":
        raise ConfigError(f"{at} key 'ack_reply' is true but there is no [smtp] to send with")
    templates = _table(data, "templates", where)
    _unknown(templates, {"folder"}, f"{where}: [templates]")
    folder = _text(templates, "folder", f"{where}: [templates]")
    audiences = _audiences(data, where)
    chats = next((a for a in audiences if a.telegram), None)
    if channel == "send" and chats is not None and "telegram" not in data:
        raise ConfigError(
            f"{where}: [[audience]] {chats.name!r} key 'telegram' names chats, but there is no "
            "[telegram] bot to send with"
        )
    if channel == "send" and smtp is None and any(a.emails for a in audiences):
        raise ConfigError(
            f"{at} key 'channel' is 'send' and audiences have emails, but there is no [smtp]"
        )
    return NotifyConfig(
        audiences=audiences,
        smtp=smtp,
        channel=channel,
        # Written in the file: from the file's folder; else the working directory's var/.
        outbox_dir=_path(outbox, base)
        if (outbox := _text(notify, "outbox_dir", at))
        else NotifyConfig.outbox_dir,
        attempts=attempts,
        base_url=base_url.rstrip("/"),
        ack_reply=ack,
        templates_folder=_path(folder, base) if folder else None,
        reminders=_reminders(data, where),
    )


def _table(data: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: {name!r} must be a table ([{name}])")
    return value


def _unknown(raw: dict[str, Any], known: set[str], at: str) -> None:
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"{at} has unknown key {sorted(unknown)[0]!r}")


def _text(raw: dict[str, Any], key: str, at: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{at} key {key!r} has value {value!r}: must be a non-empty string")
    if "\r" in value or "\n" in value:
        raise ConfigError(f"{at} key {key!r} must be on one line")
    return value.strip()


def _path(value: str, base: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() or base == Path(".") else base / path


def _secret(raw: dict[str, Any], prefix: str, at: str, base: Path) -> Secret | None:
    env, file = raw.get(f"{prefix}_env"), raw.get(f"{prefix}_file")
    if prefix in raw:
        raise ConfigError(f"{at}: secrets are not written in the file; use {prefix}_env or _file")
    if env is not None and file is not None:
        raise ConfigError(f"{at}: give one of {prefix}_env and {prefix}_file, not both")
    if env is not None:
        return Secret(env=_text(raw, f"{prefix}_env", at))
    if file is not None:
        return Secret(file=_path(_text(raw, f"{prefix}_file", at) or "", base))
    return None


def check_address(value: Any, at: str) -> str:
    """A bare address (no display name): anything that could smuggle a header is refused."""
    if not isinstance(value, str) or not _ADDRESS.match(value.strip()):
        raise ConfigError(f"{at} has value {value!r}: not an email address (name@domain)")
    return value.strip()


def _smtp(data: dict[str, Any], where: str, base: Path) -> SmtpConfig | None:
    if "smtp" not in data:
        return None
    raw = _table(data, "smtp", where)
    at = f"{where}: [smtp]"
    _secret(raw, "password", at, base)  # an inline password is refused with its own reason
    _unknown(raw, _SMTP_KEYS, at)
    host = _text(raw, "host", at)
    if not host:
        raise ConfigError(f"{at} needs a 'host'")
    tls = raw.get("tls", "starttls")
    if tls not in TLS_MODES:
        raise ConfigError(f"{at} key 'tls' has value {tls!r}: use one of {', '.join(TLS_MODES)}")
    if tls == "plain" and not is_loopback(host):
        raise ConfigError(
            f"{at} key 'tls' is 'plain' but host {host!r} is not loopback: "
            "unencrypted SMTP is only allowed to 127.0.0.1/::1/localhost"
        )
    port = raw.get("port", {"implicit": 465, "starttls": 587, "plain": 25}[tls])
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"{at} key 'port' has value {port!r}: must be 1..65535")
    sender = _text(raw, "from", at)
    if not sender:
        raise ConfigError(f"{at} needs a 'from' address")
    _from_address(sender, f"{at} key 'from'")
    incident = check_address(raw.get("incident_address"), f"{at} key 'incident_address'")
    username = _text(raw, "username", at) or ""
    secret = _secret(raw, "password", at, base)
    if username and secret is None:
        raise ConfigError(f"{at} has a username but neither password_env nor password_file")
    ca = _text(raw, "ca_file", at)
    timeout = raw.get("timeout_seconds", 30.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ConfigError(f"{at} key 'timeout_seconds' has value {timeout!r}: must be > 0")
    return SmtpConfig(
        host=host,
        port=port,
        tls=tls,
        sender=sender,
        incident_address=incident,
        username=username,
        secret=secret,
        ca_file=_path(ca, base) if ca else None,
        timeout_seconds=float(timeout),
    )


def _from_address(value: str, at: str) -> None:
    from email.utils import parseaddr

    _name, address = parseaddr(value)
    check_address(address, at)


def _audiences(data: dict[str, Any], where: str) -> tuple[Audience, ...]:
    raw = data.get("audience", [])
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: 'audience' must be an array of tables ([[audience]])")
    audiences: list[Audience] = []
    for index, item in enumerate(raw):
        audience = _audience(item, f"{where}: [[audience]] #{index + 1}", where)
        if any(a.name == audience.name for a in audiences):
            raise ConfigError(f"{where}: [[audience]] name {audience.name!r} is used twice")
        audiences.append(audience)
    return tuple(audiences)


def _list(item: dict[str, Any], key: str, at: str) -> list[Any]:
    value = item.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"{at} key {key!r} has value {value!r}: must be a list")
    return value


def _choices(item: dict[str, Any], key: str, allowed: tuple[str, ...], at: str) -> tuple[str, ...]:
    values = _list(item, key, at)
    for value in values:
        if value not in allowed:
            raise ConfigError(
                f"{at} key {key!r} has value {value!r}: use any of {', '.join(allowed)}"
            )
    return tuple(values)


def _audience(item: Any, at: str, where: str) -> Audience:
    if not isinstance(item, dict):
        raise ConfigError(f"{at} must be a table")
    _unknown(item, _AUDIENCE_KEYS, at)
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{at} key 'name' has value {name!r}: letters, digits, _ . - (1-64)")
    at = f"{where}: [[audience]] {name!r}"
    base = Path(where).parent if where != "<config>" else Path(".")
    emails = tuple(check_address(v, f"{at} key 'emails'") for v in _list(item, "emails", at))
    chats = _list(item, "telegram", at)
    for chat in chats:
        if isinstance(chat, bool) or not isinstance(chat, int):
            raise ConfigError(f"{at} key 'telegram' has value {chat!r}: chat ids are integers")
    webhooks = tuple(_webhook(w, f"{at} key 'webhooks'", base) for w in _list(item, "webhooks", at))
    events = _choices(item, "events", EVENTS, at) if "events" in item else EVENTS
    severity = item.get("min_severity", "SEV4")
    if severity not in SEVERITIES:
        raise ConfigError(
            f"{at} key 'min_severity' has value {severity!r}: use one of {', '.join(SEVERITIES)}"
        )
    return Audience(
        name=name,
        emails=emails,
        telegram=tuple(chats),
        webhooks=webhooks,
        events=events,
        types=_choices(item, "types", TYPES, at),
        min_severity=severity,
        sources=_choices(item, "sources", SOURCES, at),
        digest=_digest(item.get("digest"), f"{at} key 'digest'"),
    )


def _webhook(raw: Any, at: str, base: Path) -> Webhook:
    if not isinstance(raw, dict):
        raise ConfigError(f"{at}: each webhook is a table {{ url = ..., secret_env = ... }}")
    _secret(raw, "secret", at, base)
    _unknown(raw, _WEBHOOK_KEYS, at)
    url = _text(raw, "url", at)
    if not url or not url.startswith(("http://", "https://")):
        raise ConfigError(f"{at} key 'url' has value {url!r}: must start with http(s)://")
    host = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    if url.startswith("http://") and not _loopback_host(host):
        raise ConfigError(f"{at} url {url!r}: plain http only to loopback; use https")
    secret = _secret(raw, "secret", at, base)
    if secret is None:
        raise ConfigError(f"{at} ({url}) needs secret_env or secret_file to sign requests")
    return Webhook(url=url, secret=secret)


def _loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _digest(raw: Any, at: str) -> Digest | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{at} must be a table {{ cron = ..., timezone = ... }}")
    _unknown(raw, _DIGEST_KEYS, at)
    cron = _text(raw, "cron", at)
    if not cron:
        raise ConfigError(f"{at} needs a 'cron' expression (minute hour day month weekday)")
    zone = _text(raw, "timezone", at) or "UTC"
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{at} key 'timezone' has value {zone!r}: not an IANA zone") from None
    try:
        from apscheduler.triggers.cron import CronTrigger

        CronTrigger.from_crontab(cron, timezone=zoneinfo.ZoneInfo(zone))
    except ValueError as exc:
        raise ConfigError(f"{at} key 'cron' has value {cron!r}: {exc}") from None
    options = raw.get("options", {})
    if not isinstance(options, dict):
        raise ConfigError(f"{at} key 'options' must be a table")
    _unknown(options, DIGEST_OPTIONS, f"{at} options")
    top = options.get("top_sources", 5)
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= 100:
        raise ConfigError(f"{at} option 'top_sources' has value {top!r}: must be 1..100")
    resolved = options.get("include_resolved", True)
    if not isinstance(resolved, bool):
        raise ConfigError(f"{at} option 'include_resolved' has value {resolved!r}: true or false")
    grace = options.get("grace_minutes", 360)
    if isinstance(grace, bool) or not isinstance(grace, int) or grace < 0:
        raise ConfigError(f"{at} option 'grace_minutes' has value {grace!r}: minutes >= 0")
    listed = options.get("max_listed", 25)
    if isinstance(listed, bool) or not isinstance(listed, int) or not 1 <= listed <= 1000:
        raise ConfigError(f"{at} option 'max_listed' has value {listed!r}: must be 1..1000")
    return Digest(cron, zone, top, resolved, grace, listed)


def _reminders(data: dict[str, Any], where: str) -> dict[str, int]:
    raw = _table(data, "reminders", where)
    at = f"{where}: [reminders]"
    _unknown(raw, set(SEVERITIES), at)
    minutes = dict(DEFAULT_REMINDERS)
    for severity, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(
                f"{at} key {severity!r} has value {value!r}: minutes >= 0 (0 = never)"
            )
        minutes[severity] = value
    return minutes
