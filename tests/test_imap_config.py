"""[[mailbox]] and [email] config: good values parse, bad ones name the file, key and reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.config import load_config, parse_config
from core.config_email import DEFAULT_MAX_BYTES, Secret, SecretError
from core.config_errors import ConfigError
from ingest.imap_poller import Backoff

GOOD = {"name": "incidents", "host": "imap.example.com", "username": "u", "password_env": "P"}


def box(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


def test_defaults_are_safe() -> None:
    config = parse_config({"mailbox": [box()]}).email
    mailbox = config.mailboxes[0]
    assert (mailbox.tls, mailbox.port, mailbox.after, mailbox.folders) == (
        "implicit",
        993,
        "seen",
        ("INBOX",),
    )
    assert mailbox.max_bytes == DEFAULT_MAX_BYTES == 25 * 1024 * 1024
    assert mailbox.idle and not mailbox.oauth2
    assert config.inbox == Path("var/inbox")
    assert parse_config({"mailbox": [box(tls="starttls")]}).email.mailboxes[0].port == 143


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tls": "ssl"}, "key 'tls' has value 'ssl': use one of implicit, starttls, plain"),
        ({"password": "hunter2"}, "secrets are not written in the file"),
        ({"password_env": None}, "needs exactly one of password_env"),
        ({"password_file": "/x"}, "needs exactly one of password_env, password_file"),
        ({"after": "move"}, "after = 'move' but no 'move_to' folder"),
        ({"after": "move", "move_to": "INBOX"}, "'move_to' 'INBOX' is also one of the folders"),
        ({"move_to": "Done"}, "'move_to' is only used with after = 'move'"),
        ({"folders": []}, "key 'folders' has value []"),
        ({"max_bytes": 0}, "key 'max_bytes' has value 0: must be a whole number > 0"),
        ({"port": 70000}, "key 'port' has value 70000"),
        ({"idle": "yes"}, "key 'idle' has value 'yes': use true or false"),
        ({"color": "blue"}, "unknown key 'color'"),
    ],
)
def test_bad_mailbox_values_are_refused_with_the_key(
    changes: dict[str, Any], message: str, tmp_path: Path
) -> None:
    values = {k: v for k, v in box(**changes).items() if v is not None}
    lines = ["[[mailbox]]"]
    for key, value in values.items():
        rendered = (
            "[" + ", ".join(f'"{v}"' for v in value) + "]"
            if isinstance(value, list)
            else str(value)
            if isinstance(value, int)
            else f'"{value}"'
        )
        lines.append(f"{key} = {rendered}")
    path = tmp_path / "intake.toml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_two_mailboxes_need_two_names() -> None:
    with pytest.raises(ConfigError, match="name 'incidents' is used twice"):
        parse_config({"mailbox": [box(), box()]})


def test_secrets_are_read_when_needed_and_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAP_PASSWORD", "s3cret")
    assert Secret(env="IMAP_PASSWORD").read() == "s3cret"
    (tmp_path / "token").write_text("tok\n")
    assert Secret(file=tmp_path / "token").read() == "tok"
    assert "s3cret" not in repr(parse_config({"mailbox": [box(password_env="IMAP_PASSWORD")]}))
    monkeypatch.delenv("IMAP_PASSWORD")
    with pytest.raises(SecretError, match="IMAP_PASSWORD is not set"):
        Secret(env="IMAP_PASSWORD").read()
    with pytest.raises(SecretError, match="cannot read"):
        Secret(file=tmp_path / "missing").read()


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "intake.toml"
    path.write_text(
        '[email]\ninbox = "drop"\n\n[[mailbox]]\nname = "m"\nhost = "h"\nusername = "u"\n'
        'password_file = "secret.txt"\nca_file = "ca.pem"\n'
    )
    email = load_config(path).email
    assert email.inbox == tmp_path / "drop"
    assert email.mailboxes[0].secret.file == tmp_path / "secret.txt"
    assert email.mailboxes[0].ca_file == tmp_path / "ca.pem"


def test_reconnect_backoff_grows_to_a_cap_with_jitter() -> None:
    backoff = Backoff(base=1.0, cap=60.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (5, 16.0), (7, 60.0), (30, 60.0)]:
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 100  # jittered, so many pollers do not reconnect in step
