"""[telegram] config: good settings parse; each bad one names the key and the reason; `intake telegram check`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from core.cli import main
from core.config import ConfigError, parse_config
from core.config_telegram import ChatRule, token, webhook_secret
from tests.botapi_fixture import BotApiServer


def test_a_full_section_parses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("TG_TOKEN", "123:abc")
    config = parse_config(
        {
            "telegram": {
                "token_env": "TG_TOKEN",
                "mode": "webhook",
                "webhook_secret_file": str(secret),
                "private_users": [5120334871, "@Maya_Ops"],
                "cards_for": "all",
                "chats": [{"id": -100, "mode": "all"}, {"id": -200}],
            }
        }
    ).telegram
    assert config.enabled and config.mode == "webhook" and config.cards_for == "all"
    assert config.chats == (ChatRule(-100, "all"), ChatRule(-200, "mention"))
    assert config.private_allowed(None, "maya_ops") and config.private_allowed(5120334871, None)
    assert not config.private_allowed(1, "eve")
    assert token(config) == "123:abc" and webhook_secret(config) == "from-a-file"
    assert not parse_config({}).telegram.enabled


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"token": "123:abc"}, "secrets come from *_env or *_file"),
        ({"tokn_env": "X"}, "unknown key 'tokn_env'"),
        ({"token_env": "A", "token_file": "B"}, "not both"),
        ({"mode": "push"}, "'mode' has value 'push': use polling or webhook"),
        ({"mode": "webhook"}, "needs webhook_secret_env or webhook_secret_file"),
        ({"cards_for": "some"}, "'cards_for' has value 'some'"),
        ({"base_url": "ftp://x"}, "'base_url' has value 'ftp://x': not a URL"),
        ({"poll_timeout": 90}, "'poll_timeout' has value 90"),
        ({"chats": {"id": 1}}, "must be an array"),
        ({"chats": [{"id": "-100"}]}, "key 'id' has value '-100'"),
        ({"chats": [{"id": -1, "mode": "some"}]}, "'mode' has value 'some': use all or mention"),
        ({"chats": [{"id": -1, "name": "ops"}]}, "unknown key 'name'"),
        ({"chats": [{"id": -1}, {"id": -1}]}, "lists a chat id twice"),
        ({"private_users": ["maya"]}, "'maya': a user id or '@username'"),
    ],
)
def test_bad_settings_are_refused_naming_file_key_and_reason(
    section: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=r"intake\.toml") as error:
        parse_config({"telegram": section}, Path("intake.toml"))
    assert message in str(error.value)


def test_a_missing_secret_is_named_not_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TG_TOKEN", raising=False)
    config = parse_config({"telegram": {"token_env": "TG_TOKEN"}}).telegram
    with pytest.raises(ConfigError, match="TG_TOKEN is not set"):
        token(config)


def test_check_calls_getme_and_lists_the_chats(
    botapi: BotApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "intake.toml"
    path.write_text(
        f"""
[database]
url = "sqlite:///{tmp_path}/intake.db"
[telegram]
token_env = "TG_TOKEN"
base_url = "{botapi.base_url}"
[[telegram.chats]]
id = -1001873264410
mode = "all"
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("TG_TOKEN", botapi.token)
    result = CliRunner().invoke(main, ["--config", str(path), "telegram", "check"])
    assert result.exit_code == 0, result.output
    assert "bot: @intake_test_bot (id 123456)" in result.output
    assert "chat -1001873264410: all" in result.output
    assert "privacy mode: on" in result.output
    assert botapi.calls_of("getMe")
    monkeypatch.setenv("TG_TOKEN", "999:wrong")
    result = CliRunner().invoke(main, ["--config", str(path), "telegram", "check"])
    assert result.exit_code == 1 and "Telegram refused getMe" in result.output


def test_set_webhook_registers_the_url_and_secret(
    botapi: BotApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "intake.toml"
    path.write_text(
        f"""
[database]
url = "sqlite:///{tmp_path}/intake.db"
[telegram]
token_env = "TG_TOKEN"
base_url = "{botapi.base_url}"
mode = "webhook"
webhook_secret_env = "TG_SECRET"
webhook_url = "https://intake.example.com/webhooks/telegram"
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("TG_TOKEN", botapi.token)
    monkeypatch.setenv("TG_SECRET", "hook-secret")
    result = CliRunner().invoke(main, ["--config", str(path), "telegram", "set-webhook"])
    assert result.exit_code == 0, result.output
    assert botapi.webhook is not None
    assert botapi.webhook["url"] == "https://intake.example.com/webhooks/telegram"
    assert botapi.webhook["secret_token"] == "hook-secret"
