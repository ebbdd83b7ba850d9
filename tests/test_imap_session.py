"""Connecting to a real Dovecot: TLS modes, certificates, and `intake mailbox check` errors."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from click.testing import CliRunner
from imapclient import IMAPClient

from core.cli import main
from core.config import parse_config
from core.config_errors import ConfigError
from ingest import imap_fetch as fetch
from ingest.imap_session import MailboxError, connect, disconnect
from tests.dovecot_fixture import Dovecot, MailUser, mailbox_for, running_dovecot
from tests.helpers import mail


def test_implicit_tls_with_the_configured_ca_file(mail_user: MailUser, tmp_path: Path) -> None:
    server = mail_user.server
    box = mailbox_for(
        mail_user, tmp_path, tls="implicit", port=server.tls_port, ca_file=server.ca_file
    )
    mail_user.append(mail("over TLS", "read through the encrypted connection"))
    client = connect(box)
    assert isinstance(client._imap.sock, ssl.SSLSocket)
    client.select_folder("INBOX")
    assert b"read through the encrypted" in fetch.bodies(client, fetch_all(client))[1]
    disconnect(client)


def fetch_all(client: IMAPClient) -> list[int]:
    return list(fetch.sizes_from(client, 1))


def test_implicit_tls_with_a_self_signed_certificate_is_refused_by_default(
    mail_user: MailUser, tmp_path: Path
) -> None:
    box = mailbox_for(mail_user, tmp_path, tls="implicit", port=mail_user.server.tls_port)
    with pytest.raises(MailboxError, match=r"certificate .* is not trusted .*set ca_file"):
        connect(box)


def test_starttls_upgrades_before_logging_in(mail_user: MailUser, tmp_path: Path) -> None:
    box = mailbox_for(mail_user, tmp_path, tls="starttls", ca_file=mail_user.server.ca_file)
    mail_user.append(mail("after STARTTLS", "read after the upgrade"))
    client = connect(box)
    assert isinstance(client._imap.sock, ssl.SSLSocket)
    client.select_folder("INBOX")
    assert b"read after the upgrade" in fetch.bodies(client, fetch_all(client))[1]
    disconnect(client)


def test_uid_sets_are_ranges() -> None:
    assert fetch.uid_set([5, 1, 2, 3, 9, 10, 7]) == "1:3,5,7,9:10"
    assert fetch.uid_set([4]) == "4"


def test_starttls_required_but_not_offered_refuses_to_log_in(tmp_path: Path) -> None:
    with running_dovecot(ssl=False) as bare:
        user = bare.add_user()
        box = mailbox_for(user, tmp_path, tls="starttls")
        with pytest.raises(MailboxError, match=r"does not offer STARTTLS.*refusing to log in"):
            connect(box)
        log = (bare.base / "dovecot.log").read_text()
        assert f"user=<{user.name}>" not in log  # the password never went out


def test_plaintext_is_refused_for_a_host_that_is_not_loopback() -> None:
    mailbox = {
        "name": "m",
        "host": "imap.example.com",
        "username": "u",
        "password_env": "P",
        "tls": "plain",
        "allow_plaintext": True,
    }
    with pytest.raises(ConfigError, match="not a loopback address"):
        parse_config({"mailbox": [mailbox]})
    with pytest.raises(ConfigError, match="allow_plaintext"):
        parse_config({"mailbox": [{**mailbox, "host": "127.0.0.1", "allow_plaintext": False}]})


def _check(tmp_path: Path, dovecot: Dovecot, **box: object) -> tuple[int, str]:
    password = tmp_path / "password"
    password.write_text(str(box.pop("password", "secret")))
    values = {
        "name": "incidents",
        "host": "127.0.0.1",
        "port": dovecot.port,
        "tls": "starttls",
        "ca_file": str(dovecot.ca_file),
        "password_file": str(password),
        **box,
    }
    lines = ["[[mailbox]]"]
    for key, value in values.items():
        rendered = (
            "[" + ", ".join(f'"{v}"' for v in value) + "]"  # type: ignore[attr-defined]
            if isinstance(value, list)
            else (str(value) if isinstance(value, int) else f'"{value}"')
        )
        lines.append(f"{key} = {rendered}")
    config = tmp_path / "intake.toml"
    config.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(main, ["--config", str(config), "mailbox", "check"])
    return result.exit_code, result.output


def test_check_prints_capabilities_and_waiting_messages(
    mail_user: MailUser, tmp_path: Path
) -> None:
    mail_user.append(mail("one", "first"))
    mail_user.append(mail("two", "second"))
    code, output = _check(tmp_path, mail_user.server, username=mail_user.name)
    assert code == 0, output
    assert "(STARTTLS)" in output and "IDLE" in output
    assert "INBOX: 2 message(s) waiting, 2 unseen" in output
    assert output.rstrip().endswith("ok")


def test_check_says_when_login_is_refused(mail_user: MailUser, tmp_path: Path) -> None:
    code, output = _check(
        tmp_path, mail_user.server, username=mail_user.name, password="wrong-password"
    )
    assert code == 1
    assert f"login to 127.0.0.1:{mail_user.server.port} refused for user '{mail_user.name}'" in (
        output
    )
    assert "wrong-password" not in output


def test_check_names_an_unknown_folder(mail_user: MailUser, tmp_path: Path) -> None:
    code, output = _check(
        tmp_path, mail_user.server, username=mail_user.name, folders=["INBOX", "Nope"]
    )
    assert code == 1
    assert "error: folder 'Nope' does not exist" in output


def test_check_says_when_the_host_name_does_not_resolve(dovecot: Dovecot, tmp_path: Path) -> None:
    code, output = _check(tmp_path, dovecot, username="x", host="imap.invalid")
    assert code == 1
    assert "error: cannot resolve host 'imap.invalid'" in output


def test_check_explains_an_untrusted_certificate(dovecot: Dovecot, tmp_path: Path) -> None:
    password = tmp_path / "p"
    password.write_text("secret")
    config = tmp_path / "intake.toml"
    config.write_text(
        f'[[mailbox]]\nname = "m"\nhost = "127.0.0.1"\nport = {dovecot.tls_port}\n'
        f'username = "u"\npassword_file = "{password}"\n'
    )
    result = CliRunner().invoke(main, ["--config", str(config), "mailbox", "check"])
    assert result.exit_code == 1
    assert "is not trusted" in result.output and "set ca_file" in result.output
