"""Pytest plugin: Dovecot IMAP server started per test session (issue 4).

Fixtures:

- ``dovecot`` (session): a :class:`Dovecot` on 127.0.0.1 with a plain listener
  that also offers STARTTLS (``port``) and an implicit-TLS listener
  (``tls_port``), both with a self-signed certificate the fixture makes
  (``ca_file`` trusts it). Do not stop it; start your own with
  :func:`start_dovecot` for that.
- ``mail_user`` (function): a fresh user on that server with an empty Maildir.

Dovecot comes from Debian's ``dovecot-imapd``; without it (or without root,
which Dovecot needs to switch to the mail user) the tests skip, or fail when
``CI=true``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from imapclient import IMAPClient

from core.config_email import MailboxConfig, Secret

MISSING_MESSAGE = "Dovecot not installed (Debian package: dovecot-imapd)"
MAIL_UID = 5000  # Dovecot refuses uid 0 for mail; the homes are owned by this uid
PASSWORD = "secret"  # every test user's password
_users = itertools.count(1)
_seeded = itertools.count(1)


class DovecotUnavailable(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _make_cert(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@dataclass
class MailUser:
    server: Dovecot
    name: str
    password: str
    home: Path

    @property
    def maildir(self) -> Path:
        return self.home / "Maildir"

    def client(self, tls: bool = False) -> IMAPClient:
        if tls:
            import ssl

            context = ssl.create_default_context(cafile=str(self.server.ca_file))
            imap = IMAPClient("127.0.0.1", port=self.server.tls_port, ssl_context=context)
        else:
            imap = IMAPClient("127.0.0.1", port=self.server.port, ssl=False)
        imap.login(self.name, self.password)
        return imap

    def append(self, body: bytes, folder: str = "INBOX") -> None:
        with self.client() as imap:
            imap.append(folder, body)

    def create_folder(self, folder: str) -> None:
        with self.client() as imap:
            if not imap.folder_exists(folder):
                imap.create_folder(folder)

    def folder_dir(self, folder: str) -> Path:
        return self.maildir if folder == "INBOX" else self.maildir / f".{folder}"

    def seed(self, bodies: Iterable[bytes], folder: str = "INBOX") -> int:
        """Write messages straight into the Maildir (tmp/ then rename into new/), fastest."""
        target = self.folder_dir(folder)
        for sub in ("tmp", "new", "cur"):
            (target / sub).mkdir(parents=True, exist_ok=True)
            os.chown(target / sub, MAIL_UID, MAIL_UID)
        os.chown(target, MAIL_UID, MAIL_UID)
        count = 0
        stamp = int(time.time())
        for body in bodies:
            count += 1
            # Maildir names must be unique forever: Dovecot keys UIDs by them. S= and W=
            # (size on disk, size with CRLF) are what Dovecot's own delivery writes.
            virtual = len(body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
            name = f"{stamp}.M{next(_seeded)}P{os.getpid()}.seed,S={len(body)},W={virtual}"
            tmp = target / "tmp" / name
            tmp.write_bytes(body)
            os.chown(tmp, MAIL_UID, MAIL_UID)
            tmp.rename(target / "new" / name)
        return count

    def uids(self, folder: str = "INBOX") -> list[int]:
        with self.client() as imap:
            imap.select_folder(folder, readonly=True)
            found: list[int] = imap.search("ALL")
            return found

    def flags(self, folder: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
        with self.client() as imap:
            imap.select_folder(folder, readonly=True)
            rows = imap.fetch(imap.search("ALL"), ["FLAGS"])
            return {uid: data[b"FLAGS"] for uid, data in rows.items()}


@dataclass
class Dovecot:
    base: Path
    conf: Path
    port: int
    tls_port: int
    ca_file: Path
    ssl: bool = True
    pid_file: Path = field(init=False)

    def __post_init__(self) -> None:
        self.pid_file = self.base / "run" / "master.pid"

    def add_user(self) -> MailUser:
        # Any name logs in with PASSWORD (a static passdb): a fresh user needs no reload.
        name = f"user{next(_users)}x{os.getpid()}"
        home = self.base / "homes" / name
        home.mkdir(parents=True)
        os.chown(home, MAIL_UID, MAIL_UID)
        return MailUser(self, name, PASSWORD, home)

    def master_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def is_running(self) -> bool:
        pid = self.master_pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def start(self, timeout: float = 10.0) -> None:
        # The master daemonizes and keeps its inherited stdio: never hand it our pipes.
        errors = self.base / "start.err"
        with errors.open("wb") as err:
            result = subprocess.run(
                ["dovecot", "-c", str(self.conf)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                timeout=timeout,
            )
        if result.returncode != 0:
            raise RuntimeError(f"dovecot would not start: {errors.read_text(errors='replace')}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock,
            ):
                if sock.recv(100).startswith(b"* OK"):
                    return
            time.sleep(0.05)
        raise RuntimeError(f"Dovecot did not answer on port {self.port}: {self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        pid = self.master_pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.is_running():
            time.sleep(0.05)
        # The listeners close with the master; wait until the port is free for a restart.
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
            except OSError:
                return
            time.sleep(0.05)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join((self.base / "dovecot.log").read_text().splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _oauth2(base: Path, introspection_url: str | None) -> tuple[str, str]:
    """(extra auth mechanisms, passdb block) validating OAuth2 tokens at a local endpoint."""
    if introspection_url is None:
        return "", ""
    settings = base / "dovecot-oauth2.conf.ext"
    settings.write_text(
        f"introspection_mode = post\nintrospection_url = {introspection_url}\n"
        "username_attribute = username\nactive_attribute = active\nactive_value = true\n"
    )
    settings.chmod(0o644)
    passdb = f"""passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {settings}
}}
"""
    return " xoauth2 oauthbearer", passdb


def _config(
    base: Path, port: int, tls_port: int, ssl: bool, introspection_url: str | None = None
) -> str:
    mechanisms, oauth2_passdb = _oauth2(base, introspection_url)
    tls = (
        f"ssl = yes\nssl_cert = <{base / 'cert.pem'}\nssl_key = <{base / 'key.pem'}\n"
        if ssl
        else "ssl = no\n"
    )
    imaps = f"port = {tls_port}\n    address = 127.0.0.1" if ssl else "port = 0"
    return f"""
protocols = imap
listen = 127.0.0.1
base_dir = {base / "run"}
state_dir = {base / "state"}
log_path = {base / "dovecot.log"}
{tls}disable_plaintext_auth = no
auth_mechanisms = plain login{mechanisms}
mail_location = maildir:~/Maildir
first_valid_uid = {MAIL_UID}
mail_max_userip_connections = 200
{oauth2_passdb}passdb {{
  driver = static
  args = password={PASSWORD}
  mechanisms = plain login
}}
userdb {{
  driver = static
  args = uid={MAIL_UID} gid={MAIL_UID} home={base / "homes"}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    {imaps}
  }}
}}
service anvil {{
  chroot =
}}
"""


def find_dovecot() -> str:
    binary = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
    )
    if binary is None:
        raise DovecotUnavailable(MISSING_MESSAGE)
    if os.geteuid() != 0:
        raise DovecotUnavailable(
            f"{MISSING_MESSAGE}: the tests start it as root, not as uid {os.geteuid()}"
        )
    if shutil.which("openssl") is None:
        raise DovecotUnavailable("openssl not installed (needed for the test certificate)")
    return binary


def start_dovecot(base: Path, ssl: bool = True, introspection_url: str | None = None) -> Dovecot:
    """A Dovecot under `base` (made readable for the dovecot user), started and answering."""
    find_dovecot()
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)
    for parent in base.parents:
        if parent == Path("/"):
            break
        mode = parent.stat().st_mode
        if not mode & 0o005:
            raise DovecotUnavailable(f"{parent} is not readable by the dovecot user")
    (base / "homes").mkdir(exist_ok=True)
    (base / "homes").chmod(0o755)
    cert, _key = _make_cert(base)
    port, tls_port = _free_port(), _free_port()
    conf = base / "dovecot.conf"
    conf.write_text(_config(base, port, tls_port, ssl, introspection_url))
    server = Dovecot(base, conf, port, tls_port, cert, ssl)
    server.start()
    return server


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI needs it)")
    pytest.skip(reason)


def _temp_base() -> Path:
    # /tmp is world-traversable, so the dovecot user can reach the config and homes.
    return Path(tempfile.mkdtemp(prefix="intake-dovecot-", dir="/tmp"))


@contextlib.contextmanager
def running_dovecot(ssl: bool = True, introspection_url: str | None = None) -> Iterator[Dovecot]:
    """A Dovecot of the test's own; with `introspection_url`, XOAUTH2 checks tokens there."""
    base = _temp_base()
    try:
        server = start_dovecot(base, ssl=ssl, introspection_url=introspection_url)
    except DovecotUnavailable as exc:
        shutil.rmtree(base, ignore_errors=True)
        _unavailable(str(exc))
        raise
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    with running_dovecot() as server:
        yield server


@pytest.fixture
def mail_user(dovecot: Dovecot) -> MailUser:
    if not dovecot.is_running():
        dovecot.start()  # a test that stopped it must not break the next
    return dovecot.add_user()


def mailbox_for(user: MailUser, secret_dir: Path, **overrides: object) -> MailboxConfig:
    """A [[mailbox]] config reading `user` over the plain loopback listener, unless overridden."""
    password = secret_dir / f"{user.name}.password"
    password.write_text(user.password)
    values: dict[str, object] = {
        "name": "incidents",
        "host": "127.0.0.1",
        "port": user.server.port,
        "tls": "plain",
        "username": user.name,
        "secret": Secret(file=password),
        "poll_seconds": 0.2,
        "timeout_seconds": 10.0,
    }
    values.update(overrides)
    return MailboxConfig(**values)  # type: ignore[arg-type]
