"""The web app: bind address, auth, API tokens.

```toml
[web]
host = "127.0.0.1"                 # anything but loopback needs users (auth)
port = 8000
base_url = "https://intake.example.com"   # links in pages; https makes cookies Secure
secret_key_env = "INTAKE_WEB_SECRET"      # or secret_key_file; generated in var/ on loopback
users = [{ name = "ana", password_hash_env = "ANA_HASH" }]   # or password_hash = "$argon2id$..."
api_tokens_env = "INTAKE_API_TOKENS"      # or api_tokens_file: "name=token" per line or comma
secure_cookies = true                      # default: true when base_url is https
```
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config_errors import ConfigError

# Top-level TOML keys this module reads; any other unknown key is refused.
SECTIONS = frozenset({"web"})

_KEYS = {
    "host",
    "port",
    "base_url",
    "secret_key_env",
    "secret_key_file",
    "users",
    "api_tokens_env",
    "api_tokens_file",
    "secure_cookies",
}
_USER_KEYS = {"name", "password_hash", "password_hash_env", "password_hash_file"}


@dataclass(frozen=True)
class WebUser:
    name: str
    password_hash: str | None = None
    password_hash_env: str | None = None
    password_hash_file: Path | None = None


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    base_url: str = ""
    secret_key_env: str | None = None
    secret_key_file: Path | None = None
    users: tuple[WebUser, ...] = ()
    api_tokens_env: str | None = None
    api_tokens_file: Path | None = None
    secure_cookies: bool | None = None  # None: Secure when base_url is https
    # Where a session key is generated and kept when none is configured (loopback only).
    generated_secret_file: Path = Path("var/web-secret")

    @property
    def cookies_secure(self) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return self.base_url.startswith("https://")


def parse(data: dict[str, Any], where: str) -> WebConfig:
    """Check this area's sections of the TOML document; errors name file, key and reason."""
    raw = data.get("web", {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: 'web' must be a table ([web])")
    unknown = set(raw) - _KEYS
    if unknown:
        raise ConfigError(f"{where}: [web] has unknown key {sorted(unknown)[0]!r}")

    def key(name: str) -> str:
        return f"{where}: [web] key {name!r}"

    host = _string(raw, "host", key) or WebConfig.host
    port = raw.get("port", WebConfig.port)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(f"{key('port')} has value {port!r}: must be a port number 0..65535")
    base_url = (_string(raw, "base_url", key) or "").rstrip("/")
    if base_url and not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"{key('base_url')} has value {base_url!r}: must start with http(s)://")
    secure = raw.get("secure_cookies")
    if secure is not None and not isinstance(secure, bool):
        raise ConfigError(f"{key('secure_cookies')} has value {secure!r}: use true or false")
    secret_file = _string(raw, "secret_key_file", key)
    tokens_file = _string(raw, "api_tokens_file", key)
    return WebConfig(
        host=host,
        port=port,
        base_url=base_url,
        secret_key_env=_string(raw, "secret_key_env", key),
        secret_key_file=Path(secret_file) if secret_file else None,
        users=_users(raw.get("users", []), key("users")),
        api_tokens_env=_string(raw, "api_tokens_env", key),
        api_tokens_file=Path(tokens_file) if tokens_file else None,
        secure_cookies=secure,
    )


def _string(raw: dict[str, Any], name: str, key: Any) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key(name)} has value {value!r}: must be a non-empty string")
    return value.strip()


def _users(raw: Any, where: str) -> tuple[WebUser, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"{where} must be an array of {{name, password_hash}} tables")
    users: list[WebUser] = []
    for index, item in enumerate(raw):
        at = f"{where}[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{at} must be a table with name and password_hash")
        unknown = set(item) - _USER_KEYS
        if unknown:
            raise ConfigError(f"{at} has unknown key {sorted(unknown)[0]!r}")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{at} needs a 'name'")
        if any(u.name == name.strip() for u in users):
            raise ConfigError(f"{at} repeats the user name {name!r}")
        given = [
            k for k in ("password_hash", "password_hash_env", "password_hash_file") if k in item
        ]
        if len(given) != 1:
            raise ConfigError(
                f"{at} (user {name!r}) needs exactly one of password_hash, password_hash_env, "
                "password_hash_file (make a hash with `intake web hash-password`)"
            )
        value = item[given[0]]
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{at} key {given[0]!r} must be a non-empty string")
        if given[0] == "password_hash" and not value.startswith("$argon2"):
            raise ConfigError(
                f"{at} key 'password_hash' is not an argon2 hash (it must start with $argon2; "
                "make one with `intake web hash-password`)"
            )
        users.append(
            WebUser(
                name=name.strip(),
                password_hash=value if given[0] == "password_hash" else None,
                password_hash_env=value if given[0] == "password_hash_env" else None,
                password_hash_file=Path(value) if given[0] == "password_hash_file" else None,
            )
        )
    return tuple(users)
