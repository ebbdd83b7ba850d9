"""Alert intake: Sentry integrations, Alertmanager and events-API credentials, resolution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.config_errors import ConfigError  # noqa: F401  (raised as the sections grow)

# Top-level TOML keys this module reads; any other unknown key is refused.
SECTIONS = frozenset({"sentry", "alertmanager", "events", "alerts"})


@dataclass(frozen=True)
class AlertsConfig:
    pass


def parse(data: dict[str, Any], where: str) -> AlertsConfig:
    """Check this area's sections of the TOML document; errors name file, key and reason."""
    return AlertsConfig()
