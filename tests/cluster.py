"""Several real `intake run --only ROLE` processes on one PostgreSQL, for scale-out and fault tests.

    cluster = Cluster(tmp_path, postgres_db_url, smtp=smtp_server, imap_user=mail_user,
                      botapi=botapi, webhook_sink=sink)
    cluster.start("web"); cluster.start("web"); cluster.start("worker")
    cluster.start("poller"); cluster.start("poller"); cluster.start("scheduler")
    inputs = make_inputs(5000)                       # tests.cluster_inputs
    Sender(cluster).send(inputs)                      # email, webhooks, Telegram updates
    settle(cluster, inputs)                           # tests.cluster_ledger
    cluster.stop()
    print(Ledger(cluster, inputs).table())

Public names (other tests build on them; keep them stable):

- `Cluster(folder, db_url, *, smtp, imap_user=None, botapi=None, webhook_sink=None,
  digest_cron="* * * * *")`: writes one config file per process under `folder`
  (same settings; a web process gets its own port; each process's database URL
  carries `application_name=<process name>`, so PostgreSQL shows who holds
  which lock) and migrates the database once before any process starts.
  The config has a `[[sentry]]` integration, an Alertmanager bearer token, an
  events routing key, an IMAP `[[mailbox]]` on the Dovecot user (when given),
  a polling Telegram bot on the loopback Bot API (when given) reading chat
  `INTAKE_CHAT`, and one audience `oncall` hearing declared, triage_needed and
  resolved on email (the aiosmtpd sink), Telegram (private chat `NOTIFY_CHAT`)
  and a webhook (the sink), with a digest on `digest_cron` (None: no digest).
  Secrets reach the processes only through the environment (`SECRETS`).
- `start(role, name=None, wait=True) -> name` (`role-1`, `role-2`, ...), `kill(name)`
  (SIGKILL), `terminate(name)` (SIGTERM, wait), `restart(name)` (start again
  with the same name, config and port), `stop()` (SIGTERM to all, wait; SIGKILL
  after 30 s), `alive(name)`, `names(role=None)`, `web_ports` (ports of live web
  processes), `wait_ready(name)`, `log(name)` (its log file's text; every start
  appends to the same file), `lock_holders()` ({"imap"|"telegram": process
  name} from pg_locks), `wait_holder(kind, not_name=None, timeout)`,
  `cpu_seconds()` ({name: CPU seconds used} of the live processes);
  `process_cpu_seconds(pid, reaped_children=False)` for any process.
- `engine` (SQLAlchemy, NullPool) for reading the database from the test.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from core.db import make_engine
from core.migrate import upgrade
from ingest.imap_lock import lock_key as imap_lock_key
from ingest.poller_lock import lock_key
from tests.botapi_fixture import BotApiServer
from tests.conftest import ROOT
from tests.dovecot_fixture import MailUser
from tests.smtp_fixture import SmtpServer
from tests.webhook_sink import WebhookSink

SENTRY_SECRET = "5e1f0c9a7b3d4e2f8a6c0b1d9e7f3a2c"
AM_TOKEN = "am-cluster-7c1d2e"
ROUTING_KEY = "R0UTINGKEYCLUSTER0000000000000AA"
HOOK_SECRET = "hook-cluster-secret-3f2a"
INTAKE_CHAT = -1001873264410  # the incident room the bot reads (from the shared examples)
NOTIFY_CHAT = 5120334871  # a private chat: notifications, no group rate limit
NOTIFY_EMAIL = "oncall@ourco.example"
SECRETS = {
    "CLUSTER_SENTRY_SECRET": SENTRY_SECRET,
    "CLUSTER_AM_TOKEN": AM_TOKEN,
    "CLUSTER_ROUTING_KEYS": f"ops={ROUTING_KEY}",
    "CLUSTER_HOOK_SECRET": HOOK_SECRET,
}
ROLES = ("web", "worker", "poller", "scheduler")
STOP_TIMEOUT = 30.0
INTAKE = [sys.executable, "-m", "core.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def process_cpu_seconds(pid: int, reaped_children: bool = False) -> float | None:
    """CPU seconds (user + system) of a live process; with `reaped_children`, plus those
    of its children that have exited (a PostgreSQL postmaster's finished backends)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # utime is field 14 of the whole line
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def with_application_name(url: str, name: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query["application_name"] = name
    return urlunsplit(parts._replace(query=urlencode(query)))


@dataclass
class Proc:
    name: str
    role: str
    config: Path
    log: Path
    port: int | None = None
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0
    log_offset: int = 0  # where this start's lines begin in the log


class Cluster:
    def __init__(
        self,
        folder: Path,
        db_url: str,
        *,
        smtp: SmtpServer,
        imap_user: MailUser | None = None,
        botapi: BotApiServer | None = None,
        webhook_sink: WebhookSink | None = None,
        digest_cron: str | None = "* * * * *",
    ) -> None:
        if not db_url.startswith("postgresql"):
            raise ValueError("a cluster shares one PostgreSQL database")
        self.folder, self.db_url = folder, db_url
        self.smtp, self.imap_user, self.botapi = smtp, imap_user, botapi
        self.webhook_sink, self.digest_cron = webhook_sink, digest_cron
        self.procs: dict[str, Proc] = {}
        self._numbers = {role: itertools.count(1) for role in ROLES}
        folder.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, **SECRETS, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        if imap_user is not None:
            self.env["CLUSTER_IMAP_PASSWORD"] = imap_user.password
        if botapi is not None:
            self.env["CLUSTER_TELEGRAM_TOKEN"] = botapi.token
        self.env.pop("INTAKE_DATABASE_URL", None)  # the config file's URL names the process
        self.env.pop("INTAKE_CONFIG", None)
        # Several processes starting on an empty database would each run the migrations.
        migrating = make_engine(db_url)
        try:
            upgrade(migrating)
        finally:
            migrating.dispose()
        self.engine: Engine = create_engine(db_url, poolclass=NullPool)

    # --- config ------------------------------------------------------------------------

    def config_text(self, name: str, port: int) -> str:
        url = with_application_name(self.db_url, name)
        parts = [
            f'[database]\nurl = "{url}"\n',
            f'[web]\nhost = "127.0.0.1"\nport = {port}\n',
            "[grouping]\nwindow_hours = 4\nauto_live = true\n",
            '[[sentry]]\nname = "main"\nclient_secret_env = "CLUSTER_SENTRY_SECRET"\n',
            '[alertmanager]\nbearer_token_env = "CLUSTER_AM_TOKEN"\n',
            '[events]\nrouting_keys_env = "CLUSTER_ROUTING_KEYS"\n',
        ]
        if self.imap_user is not None:
            parts.append(
                f'[[mailbox]]\nname = "incidents"\nhost = "127.0.0.1"\n'
                f'port = {self.imap_user.server.port}\ntls = "plain"\n'
                f'username = "{self.imap_user.name}"\npassword_env = "CLUSTER_IMAP_PASSWORD"\n'
                "allow_plaintext = true\ntimeout_seconds = 10\n"
            )
        if self.botapi is not None:
            parts.append(
                f'[telegram]\ntoken_env = "CLUSTER_TELEGRAM_TOKEN"\n'
                f'base_url = "{self.botapi.base_url}"\npoll_timeout = 2\n'
                f'[[telegram.chats]]\nid = {INTAKE_CHAT}\nmode = "all"\n'
            )
        parts.append(
            f'[notify]\nchannel = "send"\nbase_url = "http://127.0.0.1:8000"\n'
            f'[smtp]\nhost = "127.0.0.1"\nport = {self.smtp.port}\ntls = "plain"\n'
            'from = "Incident desk <desk@ourco.example>"\n'
            'incident_address = "incidents@ourco.example"\n'
        )
        audience = [
            '[[audience]]\nname = "oncall"',
            f'emails = ["{NOTIFY_EMAIL}"]',
            'events = ["declared", "triage_needed", "resolved"]',
        ]
        if self.botapi is not None:
            audience.append(f"telegram = [{NOTIFY_CHAT}]")
        if self.webhook_sink is not None:
            audience.append(
                f'webhooks = [{{ url = "{self.webhook_sink.url}", '
                'secret_env = "CLUSTER_HOOK_SECRET" }]'
            )
        if self.digest_cron:
            audience.append(f'digest = {{ cron = "{self.digest_cron}", timezone = "UTC" }}')
        parts.append("\n".join(audience) + "\n")
        return "\n".join(parts)

    # --- processes -----------------------------------------------------------------------

    def start(self, role: str, name: str | None = None, wait: bool = True) -> str:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        name = name or f"{role}-{next(self._numbers[role])}"
        proc = self.procs.get(name)
        if proc is None:
            port = free_port()  # every process needs one in its config; only web binds it
            config = self.folder / f"{name}.toml"
            config.write_text(self.config_text(name, port))
            proc = Proc(name, role, config, self.folder / f"{name}.log", port)
            self.procs[name] = proc
        if self.alive(name):
            raise RuntimeError(f"{name} is running already")
        with proc.log.open("ab") as log:
            proc.log_offset = log.tell()
            log.write(f"--- start {proc.starts + 1} of {name}\n".encode())
            log.flush()
            proc.popen = subprocess.Popen(
                [*INTAKE, "--config", str(proc.config), "run", "--only", role],
                cwd=self.folder,
                env=self.env,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
            )
        proc.starts += 1
        if wait:
            self.wait_ready(name)
        return name

    def wait_ready(self, name: str, timeout: float = 60.0) -> None:
        """Started: its components announced, and for web the port answering /healthz."""
        proc = self.procs[name]
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive(name):
                raise RuntimeError(f"{name} exited at start:\n{self.log(name)[-3000:]}")
            started = "starting " in self._this_start(proc)
            if started and (proc.role != "web" or self._healthy(proc)):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready in {timeout} s:\n{self.log(name)[-3000:]}")
            time.sleep(0.05)

    def _this_start(self, proc: Proc) -> str:
        with proc.log.open("rb") as log:
            log.seek(proc.log_offset)
            return log.read().decode(errors="replace")

    @staticmethod
    def _healthy(proc: Proc) -> bool:
        try:
            answer = httpx.get(f"http://127.0.0.1:{proc.port}/healthz", timeout=1.0)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200

    def alive(self, name: str) -> bool:
        popen = self.procs[name].popen
        return popen is not None and popen.poll() is None

    def names(self, role: str | None = None) -> list[str]:
        return [n for n, p in self.procs.items() if role is None or p.role == role]

    @property
    def web_ports(self) -> list[int]:
        return [
            p.port
            for n, p in self.procs.items()
            if p.role == "web" and p.port is not None and self.alive(n)
        ]

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) each live process has used so far."""
        used = {}
        for name, proc in self.procs.items():
            if proc.popen is not None and self.alive(name):
                seconds = process_cpu_seconds(proc.popen.pid)
                if seconds is not None:
                    used[name] = seconds
        return used

    def kill(self, name: str) -> None:
        popen = self.procs[name].popen
        if popen is not None and popen.poll() is None:
            popen.send_signal(signal.SIGKILL)
            popen.wait(timeout=10)

    def terminate(self, name: str, timeout: float = STOP_TIMEOUT) -> None:
        popen = self.procs[name].popen
        if popen is None or popen.poll() is not None:
            return
        popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(name)

    def restart(self, name: str, wait: bool = True) -> None:
        self.terminate(name)
        self.start(self.procs[name].role, name, wait=wait)

    def stop(self) -> None:
        running = [p.popen for p in self.procs.values() if p.popen and p.popen.poll() is None]
        for popen in running:
            popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for popen in running:
            try:
                popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(timeout=10)
        self.engine.dispose()

    def log(self, name: str) -> str:
        return self.procs[name].log.read_text(errors="replace")

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- who polls --------------------------------------------------------------------

    def lock_holders(self) -> dict[str, str]:
        """Which process holds the IMAP folder lock and the Telegram polling lock now."""
        keys: dict[int, str] = {imap_lock_key("incidents", "INBOX"): "imap"}
        if self.botapi is not None:
            keys[lock_key(f"telegram:{self.botapi.bot_user['id']}")] = "telegram"
        # A bigint key is split over classid (high 32 bits) and objid (low 32 bits).
        query = text(
            "SELECT (l.classid::bigint << 32) | l.objid::bigint AS key, a.application_name "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND a.datname = current_database()"  # other tests' clusters share the server
        )
        holders: dict[str, str] = {}
        with self.engine.connect() as connection:
            for key, app in connection.execute(query):
                signed = key - (1 << 64) if key >= (1 << 63) else key
                if signed in keys:
                    holders[keys[signed]] = app
        return holders

    def wait_holder(self, kind: str, not_name: str | None = None, timeout: float = 30.0) -> str:
        """The process holding `kind`'s lock (another than `not_name`), waiting for one."""
        deadline = time.monotonic() + timeout
        while True:
            holder = self.lock_holders().get(kind)
            if holder is not None and holder != not_name:
                return holder
            if time.monotonic() > deadline:
                raise AssertionError(f"no process took the {kind} lock in {timeout} s")
            time.sleep(0.05)
