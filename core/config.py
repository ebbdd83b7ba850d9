"""Configuration from a TOML file, checked at start: a bad value names the file, key and reason."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import config_alerts, config_email, config_notify, config_telegram, config_web
from core.config_errors import ConfigError
from core.triage.verdict import QUESTIONS, SEVERITIES, TYPES


@dataclass(frozen=True)
class CustomRule:
    """A rule written in config: a regular expression and what a match says."""

    name: str
    pattern: re.Pattern[str]
    yes: tuple[str, ...] = ()
    no: tuple[str, ...] = ()
    planned: bool | None = None
    urgent: bool | None = None
    types: tuple[str, ...] = ()
    severity: int | None = None
    sources: tuple[str, ...] = ()  # empty: every source


@dataclass(frozen=True)
class TriageConfig:
    threshold: int = 3  # golden "yes" answers that make an urgent, unplanned report an incident
    production_environments: tuple[str, ...] = ("production", "prod", "live", "prd")
    key_customer_domains: tuple[str, ...] = ()
    own_addresses: tuple[str, ...] = ()
    widespread_users: int = 50  # Sentry user count from which customers must be told
    storm_events: int = 100  # Sentry event count that makes an issue urgent on its own
    vocabulary: dict[str, tuple[str, ...]] = field(default_factory=dict)  # concept -> phrases
    # Phrases that answer a golden question directly: "impact" or "not_impact" -> phrases.
    keywords: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rules: tuple[CustomRule, ...] = ()


@dataclass(frozen=True)
class GroupingConfig:
    window_hours: float = 4.0  # a fingerprint seen within this many hours joins the open incident
    auto_live: bool = True  # incidents opened by automatic triage start live (else in triage)


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    database_url: str = "sqlite:///var/intake.db"
    triage: TriageConfig = field(default_factory=TriageConfig)
    grouping: GroupingConfig = field(default_factory=GroupingConfig)
    email: config_email.EmailConfig = field(default_factory=config_email.EmailConfig)
    alerts: config_alerts.AlertsConfig = field(default_factory=config_alerts.AlertsConfig)
    telegram: config_telegram.TelegramConfig = field(default_factory=config_telegram.TelegramConfig)
    notify: config_notify.NotifyConfig = field(default_factory=config_notify.NotifyConfig)
    web: config_web.WebConfig = field(default_factory=config_web.WebConfig)


_TRIAGE_KEYS = {
    "threshold",
    "production_environments",
    "key_customer_domains",
    "own_addresses",
    "widespread_users",
    "storm_events",
    "vocabulary",
    "keywords",
    "rules",
}
_RULE_KEYS = {"name", "pattern", "yes", "no", "planned", "urgent", "types", "severity", "sources"}
_SOURCES = ("email", "sentry", "telegram", "alertmanager", "events")


def load_config(path: Path | None) -> Config:
    if path is None:
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_config(data, path)


def parse_config(data: dict[str, Any], path: Path | None = None) -> Config:
    where = str(path) if path else "<config>"
    known = {"triage", "grouping", "database"}
    for module in _AREAS:
        known |= module.SECTIONS
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"{where}: unknown section or key {sorted(unknown)[0]!r}")
    return Config(
        path=path,
        database_url=_database(_table(data, "database", where), where),
        triage=_parse_triage(_table(data, "triage", where), where),
        grouping=_grouping(_table(data, "grouping", where), where),
        email=config_email.parse(data, where),
        alerts=config_alerts.parse(data, where),
        telegram=config_telegram.parse(data, where),
        notify=config_notify.parse(data, where),
        web=config_web.parse(data, where),
    )


# Each area checks its own sections (one module each, so they grow independently).
_AREAS = (config_email, config_alerts, config_telegram, config_notify, config_web)


def _table(data: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: {name!r} must be a table ([{name}])")
    return value


def _database(raw: dict[str, Any], where: str) -> str:
    unknown = set(raw) - {"url"}
    if unknown:
        raise ConfigError(f"{where}: [database] has unknown key {sorted(unknown)[0]!r}")
    url = raw.get("url", Config.database_url)
    if not isinstance(url, str) or not url.startswith(("sqlite:", "postgresql")):
        raise ConfigError(
            f"{where}: [database] key 'url' has value {url!r}: use sqlite:///PATH or postgresql://..."
        )
    return url


def _grouping(raw: dict[str, Any], where: str) -> GroupingConfig:
    unknown = set(raw) - {"window_hours", "auto_live"}
    if unknown:
        raise ConfigError(f"{where}: [grouping] has unknown key {sorted(unknown)[0]!r}")
    window = raw.get("window_hours", GroupingConfig.window_hours)
    if isinstance(window, bool) or not isinstance(window, int | float) or window <= 0:
        raise ConfigError(
            f"{where}: [grouping] key 'window_hours' has value {window!r}: must be a number > 0"
        )
    auto_live = raw.get("auto_live", GroupingConfig.auto_live)
    if not isinstance(auto_live, bool):
        raise ConfigError(
            f"{where}: [grouping] key 'auto_live' has value {auto_live!r}: use true or false"
        )
    return GroupingConfig(window_hours=float(window), auto_live=auto_live)


def _parse_triage(raw: dict[str, Any], where: str) -> TriageConfig:
    unknown = set(raw) - _TRIAGE_KEYS
    if unknown:
        raise ConfigError(f"{where}: [triage] has unknown key {sorted(unknown)[0]!r}")
    defaults = TriageConfig()

    def key(name: str) -> str:
        return f"{where}: [triage] key {name!r}"

    threshold = _int(raw, "threshold", defaults.threshold, 1, len(QUESTIONS), key)
    return TriageConfig(
        threshold=threshold,
        production_environments=_lower_list(
            raw, "production_environments", defaults.production_environments, key
        ),
        key_customer_domains=_lower_list(raw, "key_customer_domains", (), key),
        own_addresses=_lower_list(raw, "own_addresses", (), key),
        widespread_users=_int(raw, "widespread_users", defaults.widespread_users, 1, None, key),
        storm_events=_int(raw, "storm_events", defaults.storm_events, 1, None, key),
        vocabulary=_vocabulary(raw.get("vocabulary", {}), key("vocabulary")),
        keywords=_keywords(raw.get("keywords", {}), key("keywords")),
        rules=tuple(_rules(raw.get("rules", []), key("rules"))),
    )


def _int(raw: dict[str, Any], name: str, default: int, low: int, high: int | None, key: Any) -> int:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key(name)} has value {value!r}: not a whole number")
    if value < low or (high is not None and value > high):
        span = f"{low}..{high}" if high is not None else f">= {low}"
        raise ConfigError(f"{key(name)} has value {value}: must be {span}")
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where} must be a list of non-empty strings, got {value!r}")
    return tuple(value)


def _lower_list(
    raw: dict[str, Any], name: str, default: tuple[str, ...], key: Any
) -> tuple[str, ...]:
    if name not in raw:
        return default
    return tuple(v.strip().lower() for v in _strings(raw[name], key(name)))


def _phrase_table(raw: Any, where: str, known: list[str]) -> dict[str, tuple[str, ...]]:
    """name = [phrases], or name = {en = [...], de = [...]}, for names in `known`."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table of name = [phrases]")
    out: dict[str, tuple[str, ...]] = {}
    for name, value in raw.items():
        if name not in known:
            raise ConfigError(f"{where}: unknown name {name!r} (known: {', '.join(known)})")
        if isinstance(value, dict):
            phrases: list[str] = []
            for lang, items in value.items():
                phrases.extend(_strings(items, f"{where}.{name}.{lang}"))
            out[name] = tuple(phrases)
        else:
            out[name] = _strings(value, f"{where}.{name}")
    return out


def _vocabulary(raw: Any, where: str) -> dict[str, tuple[str, ...]]:
    from core.triage.vocabulary import VOCABULARY

    return _phrase_table(raw, where, sorted(VOCABULARY))


def _keywords(raw: Any, where: str) -> dict[str, tuple[str, ...]]:
    return _phrase_table(raw, where, [*QUESTIONS, *(f"not_{q}" for q in QUESTIONS)])


def _rules(raw: Any, where: str) -> list[CustomRule]:
    if not isinstance(raw, list):
        raise ConfigError(f"{where} must be an array of tables ([[triage.rules]])")
    rules = []
    for index, item in enumerate(raw):
        at = f"{where}[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{at} must be a table")
        unknown = set(item) - _RULE_KEYS
        if unknown:
            raise ConfigError(f"{at} has unknown key {sorted(unknown)[0]!r}")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{at} needs a 'name'")
        at = f"{where} rule {name!r}"
        pattern = item.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            raise ConfigError(f"{at} needs a 'pattern' (a regular expression)")
        try:
            compiled = re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise ConfigError(
                f"{at} key 'pattern' is not a valid regular expression: {exc}"
            ) from exc
        yes = _choice(item.get("yes", []), QUESTIONS, f"{at} key 'yes'")
        no = _choice(item.get("no", []), QUESTIONS, f"{at} key 'no'")
        types = _choice(item.get("types", []), TYPES, f"{at} key 'types'")
        sources = _choice(item.get("sources", []), _SOURCES, f"{at} key 'sources'")
        severity = item.get("severity")
        if severity is not None and severity not in SEVERITIES:
            raise ConfigError(
                f"{at} key 'severity' has value {severity!r}: use one of {SEVERITIES}"
            )
        flags = {}
        for flag in ("planned", "urgent"):
            value = item.get(flag)
            if value is not None and not isinstance(value, bool):
                raise ConfigError(f"{at} key {flag!r} has value {value!r}: use true or false")
            flags[flag] = value
        rules.append(
            CustomRule(
                name=name,
                pattern=compiled,
                yes=yes,
                no=no,
                planned=flags["planned"],
                urgent=flags["urgent"],
                types=types,
                severity=SEVERITIES.index(severity) + 1 if severity else None,
                sources=sources,
            )
        )
    return rules


def _choice(value: Any, allowed: tuple[str, ...], where: str) -> tuple[str, ...]:
    items = _strings(value, where) if value != [] else ()
    for item in items:
        if item not in allowed:
            raise ConfigError(f"{where} has value {item!r}: use any of {', '.join(allowed)}")
    return items
