"""[[sentry]], [sentry_legacy], [alertmanager], [events] and [alerts]: checked at start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.config import parse_config
from core.config_alerts import SecretError
from core.config_errors import ConfigError


def alerts(data: dict[str, Any]) -> Any:
    return parse_config(data, Path("intake.toml")).alerts


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"sentry": [{"name": "a", "client_secret": "inline"}]}, "unknown key 'client_secret'"),
        ({"sentry": [{"name": "a"}]}, "needs client_secret_env or client_secret_file"),
        (
            {"sentry": [{"name": "a", "client_secret_env": "X", "client_secret_file": "f"}]},
            "sets both",
        ),
        (
            {
                "sentry": [
                    {"name": "a", "client_secret_env": "X"},
                    {"name": "a", "client_secret_env": "Y"},
                ]
            },
            "repeats 'a'",
        ),
        ({"sentry": {"name": "a"}}, "array of tables"),
        ({"alertmanager": {"bearer_token": "t"}}, "[alertmanager] has unknown key 'bearer_token'"),
        ({"events": {"routing_keys_env": ""}}, "must be a non-empty string"),
        ({"alerts": {"resolve": "close"}}, "use 'resolve' or 'suggest'"),
        ({"alerts": {"resolve_after": 3}}, "unknown key 'resolve_after'"),
    ],
)
def test_bad_alert_config_names_file_key_and_reason(data: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError) as error:
        alerts(data)
    assert words in str(error.value) and "intake.toml" in str(error.value)


def test_secrets_are_read_from_env_or_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "secret").write_text("from-file\n")
    (tmp_path / "keys").write_text("ops=abc\ndev=def\n")
    monkeypatch.setenv("S1", "from-env")
    config = alerts(
        {
            "sentry": [
                {"name": "one", "client_secret_env": "S1"},
                {"name": "two", "client_secret_file": str(tmp_path / "secret")},
            ],
            "events": {"routing_keys_file": str(tmp_path / "keys")},
            "alerts": {"resolve": "suggest"},
        }
    )
    assert [(i.name, i.client_secret.read()) for i in config.sentry] == [
        ("one", "from-env"),
        ("two", "from-file"),
    ]
    assert config.events_routing_keys.read_named() == {"ops": "abc", "dev": "def"}
    assert config.resolve == "suggest"
    assert "from-env" not in repr(config)  # the config never holds the secret itself


def test_a_missing_secret_says_which_key_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    config = alerts({"alertmanager": {"bearer_token_env": "NOT_SET_ANYWHERE"}})
    with pytest.raises(SecretError) as error:
        config.alertmanager_token.read()
    assert "bearer_token_env" in str(error.value) and "NOT_SET_ANYWHERE" in str(error.value)
