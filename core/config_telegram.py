"""Telegram: the bot token, chats and modes, cards.

```toml
[telegram]
token_env = "INTAKE_TELEGRAM_TOKEN"      # or token_file = "/run/secrets/telegram"
mode = "polling"                         # or "webhook" (POST /webhooks/telegram)
webhook_secret_env = "INTAKE_TELEGRAM_WEBHOOK_SECRET"   # or webhook_secret_file
webhook_url = "https://intake.example.com/webhooks/telegram"  # set with setWebhook
private_users = [5120334871, "@maya_ops"] # who may talk to the bot in a private chat
cards_for = "needs_review"               # or "all": a card for every new incident too

[[telegram.chats]]
id = -1001873264410
mode = "all"                             # or "mention"
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config_errors import ConfigError
from core.config_secrets import Secret, SecretError

# Top-level TOML keys this module reads; any other unknown key is refused.
SECTIONS = frozenset({"telegram"})

MODES = ("polling", "webhook")
CHAT_MODES = ("all", "mention")
CARDS_FOR = ("needs_review", "all")
DEFAULT_BASE_URL = "https://api.telegram.org/bot"
_KEYS = {
    "token_env",
    "token_file",
    "base_url",
    "mode",
    "webhook_secret_env",
    "webhook_secret_file",
    "webhook_url",
    "private_users",
    "cards_for",
    "poll_timeout",
    "chats",
}


@dataclass(frozen=True)
class ChatRule:
    id: int
    mode: str  # "all": every message is a candidate; "mention": mentions, replies, commands


@dataclass(frozen=True)
class TelegramConfig:
    token_env: str | None = None
    token_file: str | None = None
    base_url: str = DEFAULT_BASE_URL
    mode: str = "polling"
    webhook_secret_env: str | None = None
    webhook_secret_file: str | None = None
    webhook_url: str | None = None
    private_users: tuple[int | str, ...] = ()  # ids, or "@username" (lower-case)
    cards_for: str = "needs_review"
    poll_timeout: int = 30  # seconds a getUpdates call waits for news
    chats: tuple[ChatRule, ...] = field(default_factory=tuple)

    @property
    def enabled(self) -> bool:
        return bool(self.token_env or self.token_file)

    def chat(self, chat_id: int) -> ChatRule | None:
        return next((rule for rule in self.chats if rule.id == chat_id), None)

    def private_allowed(self, user_id: int | None, username: str | None) -> bool:
        handle = f"@{username.lower()}" if username else None
        return any(who == user_id or (handle and who == handle) for who in self.private_users)


def _secret(env: str | None, path: str | None, what: str) -> str:
    if not (env or path):
        raise ConfigError(f"[telegram] {what} is not configured ({what}_env or {what}_file)")
    file = Path(path) if path and not env else None
    place = Secret(env=env or None, file=file, where=f"[telegram] {what}")
    try:
        return place.read()
    except SecretError as exc:
        raise ConfigError(str(exc)) from exc


def token(config: TelegramConfig) -> str:
    """The bot token, read when needed (never kept in config or logged)."""
    return _secret(config.token_env, config.token_file, "token")


def webhook_secret(config: TelegramConfig) -> str:
    return _secret(config.webhook_secret_env, config.webhook_secret_file, "webhook_secret")


def _str(raw: dict[str, Any], name: str, where: str) -> str | None:
    value = raw.get(name)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigError(f"{where}: [telegram] key {name!r} must be a non-empty string")
    return value


def _choice(raw: dict[str, Any], name: str, allowed: tuple[str, ...], where: str) -> str:
    value = raw.get(name, allowed[0])
    if value not in allowed:
        raise ConfigError(
            f"{where}: [telegram] key {name!r} has value {value!r}: use {' or '.join(allowed)}"
        )
    return str(value)


def _chats(raw: Any, where: str) -> tuple[ChatRule, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: [telegram] key 'chats' must be an array ([[telegram.chats]])")
    rules = []
    for index, item in enumerate(raw):
        at = f"{where}: [[telegram.chats]] #{index + 1}"
        if not isinstance(item, dict):
            raise ConfigError(f"{at} must be a table")
        unknown = set(item) - {"id", "mode"}
        if unknown:
            raise ConfigError(f"{at} has unknown key {sorted(unknown)[0]!r}")
        chat_id = item.get("id")
        if isinstance(chat_id, bool) or not isinstance(chat_id, int):
            raise ConfigError(f"{at} key 'id' has value {chat_id!r}: the numeric chat id")
        mode = item.get("mode", "mention")
        if mode not in CHAT_MODES:
            raise ConfigError(f"{at} key 'mode' has value {mode!r}: use all or mention")
        rules.append(ChatRule(chat_id, mode))
    ids = [rule.id for rule in rules]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{where}: [[telegram.chats]] lists a chat id twice")
    return tuple(rules)


def _users(raw: Any, where: str) -> tuple[int | str, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: [telegram] key 'private_users' must be a list")
    users: list[int | str] = []
    for item in raw:
        if isinstance(item, int) and not isinstance(item, bool):
            users.append(item)
        elif isinstance(item, str) and item.startswith("@") and len(item) > 1:
            users.append(item.lower())
        else:
            raise ConfigError(
                f"{where}: [telegram] key 'private_users' has {item!r}: a user id or '@username'"
            )
    return tuple(users)


def parse(data: dict[str, Any], where: str) -> TelegramConfig:
    """Check this area's sections of the TOML document; errors name file, key and reason."""
    raw = data.get("telegram", {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: 'telegram' must be a table ([telegram])")
    if "token" in raw or "webhook_secret" in raw:
        raise ConfigError(f"{where}: [telegram] secrets come from *_env or *_file keys")
    unknown = set(raw) - _KEYS
    if unknown:
        raise ConfigError(f"{where}: [telegram] has unknown key {sorted(unknown)[0]!r}")
    if raw.get("token_env") and raw.get("token_file"):
        raise ConfigError(f"{where}: [telegram] give token_env or token_file, not both")
    base_url = _str(raw, "base_url", where) or DEFAULT_BASE_URL
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: [telegram] key 'base_url' has value {base_url!r}: not a URL")
    mode = _choice(raw, "mode", MODES, where)
    secret_env = _str(raw, "webhook_secret_env", where)
    secret_file = _str(raw, "webhook_secret_file", where)
    if mode == "webhook" and not (secret_env or secret_file):
        raise ConfigError(
            f"{where}: [telegram] mode 'webhook' needs webhook_secret_env or webhook_secret_file"
        )
    timeout = raw.get("poll_timeout", TelegramConfig.poll_timeout)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 0 <= timeout <= 50:
        raise ConfigError(
            f"{where}: [telegram] key 'poll_timeout' has value {timeout!r}: seconds, 0..50"
        )
    return TelegramConfig(
        token_env=_str(raw, "token_env", where),
        token_file=_str(raw, "token_file", where),
        base_url=base_url,
        mode=mode,
        webhook_secret_env=secret_env,
        webhook_secret_file=secret_file,
        webhook_url=_str(raw, "webhook_url", where),
        private_users=_users(raw.get("private_users", []), where),
        cards_for=_choice(raw, "cards_for", CARDS_FOR, where),
        poll_timeout=timeout,
        chats=_chats(raw.get("chats", []), where),
    )
