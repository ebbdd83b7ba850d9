"""Alert intake: Sentry integrations, Alertmanager and events-API credentials, resolution.

```toml
[[sentry]]                          # one per Sentry internal integration
name = "main"
client_secret_env = "SENTRY_CLIENT_SECRET"    # or client_secret_file = "/run/secrets/sentry"

[sentry_legacy]                     # the legacy WebHooks plugin: /webhooks/sentry/legacy/<token>
token_env = "SENTRY_LEGACY_TOKEN"   # or token_file

[alertmanager]
bearer_token_env = "ALERTMANAGER_TOKEN"       # or bearer_token_file

[events]
routing_keys_env = "EVENTS_ROUTING_KEYS"      # or routing_keys_file: "name=key" per line or comma

[alerts]
resolve = "resolve"                 # or "suggest": only propose it when every source resolved
```

Secrets are read when the web app starts (never kept in the config or logged),
so a missing variable stops `intake run` with the key that names it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config_errors import ConfigError
from core.config_secrets import Secret, SecretError  # noqa: F401  (re-exported)

# Top-level TOML keys this module reads; any other unknown key is refused.
SECTIONS = frozenset({"sentry", "sentry_legacy", "alertmanager", "events", "alerts"})

RESOLVE_MODES = ("resolve", "suggest")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,60}$")


@dataclass(frozen=True)
class SentryIntegration:
    name: str
    client_secret: Secret


@dataclass(frozen=True)
class AlertsConfig:
    sentry: tuple[SentryIntegration, ...] = ()
    sentry_legacy_token: Secret | None = None
    alertmanager_token: Secret | None = None
    events_routing_keys: Secret | None = None
    resolve: str = "resolve"  # "suggest": a timeline event proposes it, a person resolves


def parse(data: dict[str, Any], where: str) -> AlertsConfig:
    """Check this area's sections of the TOML document; errors name file, key and reason."""
    return AlertsConfig(
        sentry=_sentry(data.get("sentry", []), where),
        sentry_legacy_token=_secret(_table(data, "sentry_legacy", where), "token", where),
        alertmanager_token=_secret(_table(data, "alertmanager", where), "bearer_token", where),
        events_routing_keys=_secret(_table(data, "events", where), "routing_keys", where),
        resolve=_resolve(_table(data, "alerts", where), where),
    )


def _table(data: dict[str, Any], name: str, where: str) -> tuple[str, dict[str, Any]]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: {name!r} must be a table ([{name}])")
    return name, value


def _secret(section: tuple[str, dict[str, Any]], key: str, where: str) -> Secret | None:
    name, raw = section
    unknown = set(raw) - {f"{key}_env", f"{key}_file"}
    if unknown:
        raise ConfigError(f"{where}: [{name}] has unknown key {sorted(unknown)[0]!r}")
    return _env_or_file(raw, key, f"{where}: [{name}]", required=False)


def _env_or_file(raw: dict[str, Any], key: str, at: str, required: bool) -> Secret | None:
    env, file = raw.get(f"{key}_env"), raw.get(f"{key}_file")
    if env is not None and file is not None:
        raise ConfigError(f"{at} sets both {key}_env and {key}_file: keep one")
    if env is None and file is None:
        if required:
            raise ConfigError(f"{at} needs {key}_env or {key}_file (secrets are never inline)")
        return None
    value = env if env is not None else file
    if not isinstance(value, str) or not value.strip():
        which = f"{key}_env" if env is not None else f"{key}_file"
        raise ConfigError(f"{at} key {which!r} has value {value!r}: must be a non-empty string")
    if env is not None:
        return Secret(where=f"{at} key '{key}_env'", env=value.strip())
    return Secret(where=f"{at} key '{key}_file'", file=Path(value))


def _sentry(raw: Any, where: str) -> tuple[SentryIntegration, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: 'sentry' must be an array of tables ([[sentry]])")
    integrations = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        at = f"{where}: [[sentry]] #{index + 1}"
        if not isinstance(item, dict):
            raise ConfigError(f"{at} must be a table")
        unknown = set(item) - {"name", "client_secret_env", "client_secret_file"}
        if unknown:
            raise ConfigError(f"{at} has unknown key {sorted(unknown)[0]!r}")
        name = item.get("name", f"sentry{index + 1}")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(f"{at} key 'name' has value {name!r}: use letters, digits, _ . -")
        if name in seen:
            raise ConfigError(f"{at} key 'name' repeats {name!r}: names must differ")
        seen.add(name)
        secret = _env_or_file(item, "client_secret", f"{where}: [[sentry]] {name!r}", True)
        assert secret is not None
        integrations.append(SentryIntegration(name, secret))
    return tuple(integrations)


def _resolve(section: tuple[str, dict[str, Any]], where: str) -> str:
    _, raw = section
    unknown = set(raw) - {"resolve"}
    if unknown:
        raise ConfigError(f"{where}: [alerts] has unknown key {sorted(unknown)[0]!r}")
    mode = raw.get("resolve", "resolve")
    if mode not in RESOLVE_MODES:
        raise ConfigError(
            f"{where}: [alerts] key 'resolve' has value {mode!r}: use 'resolve' or 'suggest'"
        )
    return str(mode)
