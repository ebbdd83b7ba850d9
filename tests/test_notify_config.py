"""Notification config: bad input is refused at start, naming the key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.cli import main
from core.config import parse_config
from core.config_errors import ConfigError


def parse(text: str) -> object:
    return parse_config(tomllib.loads(text), Path("/etc/intake.toml"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[audience]]\nname = "a"\nchannels = ["pager"]\n',
            r"\[\[audience\]\] #1 has unknown key 'channels'",
        ),
        (
            '[[audience]]\nname = "a"\nevents = ["exploded"]\n',
            r"'a' key 'events' has value 'exploded'",
        ),
        (
            '[[audience]]\nname = "a"\nemails = ["x@y.example\\r\\nBcc: z@evil.example"]\n',
            r"key 'emails'.*not an email address",
        ),
        ('[[audience]]\nname = "a"\nmin_severity = "SEV9"\n', r"key 'min_severity'"),
        (
            '[[audience]]\nname = "a"\ndigest = { cron = "0 25 * * *" }\n',
            r"key 'digest' key 'cron'",
        ),
        (
            '[[audience]]\nname = "a"\ndigest = { cron = "0 9 * * *", timezone = "Mars/Olympus" }\n',
            r"not an IANA zone",
        ),
        (
            '[[audience]]\nname = "a"\nwebhooks = [{ url = "http://hooks.example.com/x", secret_env = "S" }]\n',
            r"plain http only to loopback",
        ),
        (
            '[[audience]]\nname = "a"\nwebhooks = [{ url = "https://h.example/x" }]\n',
            r"needs secret_env or secret_file",
        ),
        ('[[audience]]\nname = "a"\n[[audience]]\nname = "a"\n', r"name 'a' is used twice"),
        (
            '[smtp]\nhost = "smtp.example.com"\ntls = "plain"\nfrom = "d@o.example"\nincident_address = "i@o.example"\n',
            r"not loopback",
        ),
        (
            '[smtp]\nhost = "127.0.0.1"\nfrom = "d@o.example"\nincident_address = "i@o.example"\npassword = "hunter2"\n',
            r"secrets are not written in the file",
        ),
        ('[notify]\nchannel = "pigeon"\n', r"\[notify\] key 'channel'"),
        ("[reminders]\nSEV5 = 10\n", r"\[reminders\] has unknown key 'SEV5'"),
        (
            '[notify]\nchannel = "send"\n[[audience]]\nname = "ops"\ntelegram = [-1]\n',
            r"'ops' key 'telegram'.*no \[telegram\] bot",
        ),
    ],
)
def test_bad_notify_config_is_refused_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse(text)
    assert "/etc/intake.toml" in str(caught.value)


def test_unknown_audience_on_the_command_line(tmp_path: Path) -> None:
    config = tmp_path / "intake.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/db.sqlite"\n'
        '[[audience]]\nname = "support"\nemails = ["s@ourco.example"]\n'
    )
    result = CliRunner().invoke(main, ["--config", str(config), "digest", "sales"])
    assert result.exit_code == 2
    assert "unknown audience 'sales' (audiences: support)" in result.output
