"""A throwaway PostgreSQL server for tests (pytest plugin).

Load it with ``pytest_plugins = ["tests.postgres_fixture"]`` in the top conftest.

Fixtures:

- ``postgres_server`` (session): the shared :class:`PostgresServer`, started once per
  session with fsync off. Do not stop, restart or kill it; start your own for that.
- ``postgres_url`` (session): its SQLAlchemy URL, ``postgresql+psycopg://postgres@
  127.0.0.1:PORT/postgres``.
- ``postgres_db_url`` (function): the URL of a fresh database ``test_<n>`` on that
  server, dropped after the test.
- ``postgres_base_dir`` (function): an empty directory the server user can use, for
  ``start_postgres(postgres_base_dir, fsync=True)`` in durability tests; any server
  started in it and still running is stopped, and the directory removed, after the test.

The server comes from Debian's ``postgresql`` package (``/usr/lib/postgresql/N/bin``,
newest N). Without it the tests skip, or fail when ``CI=true``. As root, initdb and
pg_ctl run as the ``postgres`` user (the server refuses to run as root); otherwise as
the current user.

Nothing is left behind: the fixtures stop the servers and remove their directories at
teardown, an ``atexit`` hook stops servers a test forgot, and each server has a small
watchdog process that shuts it down and removes its directory when the pytest process
dies without cleaning up (SIGKILL, segfault, a CI timeout), since the postmaster is
detached from pytest and would otherwise run on.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import itertools
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PG_LIB_ROOT = Path("/usr/lib/postgresql")
"""Where Debian installs the server binaries, one ``N/bin`` per major version."""

SERVER_USER = "postgres"
"""The OS user that runs the server when the tests run as root."""

DB_USER = "postgres"
"""The database superuser the cluster is created with (trust auth, no password)."""

MISSING_MESSAGE = "PostgreSQL server not installed (Debian package: postgresql)"

_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; leave room for "/.s.PGSQL.NNNNN.lock"
_START_ATTEMPTS = 5  # a free port can be taken between picking it and binding it


class PostgresUnavailable(RuntimeError):
    """The server binaries (or the user to run them as, or the driver) are missing."""


@dataclass(frozen=True)
class PostgresInstall:
    """Where the server binaries are and whom they run as (``None``: the current user)."""

    bin_dir: Path
    run_as: str | None

    @property
    def initdb(self) -> Path:
        return self.bin_dir / "initdb"

    @property
    def pg_ctl(self) -> Path:
        return self.bin_dir / "pg_ctl"

    def command(self, *args: str | Path) -> list[str]:
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        return [*prefix, *map(str, args)]


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.parent.name))


def find_bin_dir(root: Path | None = None) -> Path | None:
    """The newest ``ROOT/N/bin`` holding both ``initdb`` and ``pg_ctl``, or None."""
    root = PG_LIB_ROOT if root is None else root
    candidates = [
        initdb
        for initdb in root.glob("*/bin/initdb")
        if os.access(initdb, os.X_OK) and os.access(initdb.parent / "pg_ctl", os.X_OK)
    ]
    if not candidates:
        return None
    return max(candidates, key=_version_key).parent


def find_postgres(root: Path | None = None) -> PostgresInstall:
    """The installed server, or :class:`PostgresUnavailable` saying what is missing."""
    bin_dir = find_bin_dir(root)
    if bin_dir is None:
        raise PostgresUnavailable(MISSING_MESSAGE)
    if os.geteuid() != 0:
        return PostgresInstall(bin_dir, None)
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root but there is no {SERVER_USER!r} user to run the server as "
            "(Debian package: postgresql)"
        ) from None
    if shutil.which("runuser") is None:
        raise PostgresUnavailable("running as root but runuser is missing (util-linux)")
    return PostgresInstall(bin_dir, SERVER_USER)


def require_postgres(root: Path | None = None) -> PostgresInstall:
    """:func:`find_postgres` for tests: skip when missing, but fail under ``CI=true``."""
    try:
        install = find_postgres(root)
        if importlib.util.find_spec("psycopg") is None:
            raise PostgresUnavailable(
                "psycopg is not installed (pip install 'psycopg[binary]>=3.1')"
            )
    except PostgresUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc}; under CI=true the PostgreSQL tests must run", pytrace=False)
        pytest.skip(str(exc))
    return install


# --- processes -----------------------------------------------------------------------


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat from the state on (index 0 = state, 1 = ppid)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()


def _alive(pid: int) -> bool:
    """Is PID a running process? A zombie is not (nothing reaps orphans in some CI)."""
    if Path("/proc/self/stat").exists():
        stat = _proc_stat(pid)
        return stat is not None and stat[0] not in ("Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _children(pid: int) -> list[int]:
    found = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.listdir("/proc"):
            if entry.isdigit() and (stat := _proc_stat(int(entry))) and stat[1] == str(pid):
                found.append(int(entry))
    return found


def _wait_gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# The watchdog waits for EOF on a pipe whose only writer is the pytest process. EOF
# comes when pytest closes the pipe after its own cleanup, or when pytest dies. Then it
# shuts down whatever postmaster postmaster.pid names (immediate mode, SIGKILL if that
# hangs) and removes the server's directories. After a normal cleanup there is nothing
# left for it to do.
_WATCHDOG = r"""
import os, shutil, signal, sys, time

fd, data_dir, paths = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
while True:
    try:
        if not os.read(fd, 64):
            break
    except InterruptedError:
        pass


def stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return ["X", "0"]
    return text[text.rindex(")") + 2 :].split()


def alive(pids):
    return [p for p in pids if stat(p)[0] not in ("Z", "X")]


try:
    try:
        with open(os.path.join(data_dir, "postmaster.pid")) as f:
            pid = int(f.readline())
        with open(f"/proc/{pid}/cmdline") as f:
            ours = "postgres" in f.read()
    except (OSError, ValueError):
        pid, ours = 0, False
    if ours and alive([pid]):
        kids = [int(e) for e in os.listdir("/proc") if e.isdigit() and stat(e)[1] == str(pid)]
        for sig, targets, wait in ((signal.SIGQUIT, [pid], 10), (signal.SIGKILL, [pid, *kids], 5)):
            for target in targets:
                try:
                    os.kill(target, sig)
                except OSError:
                    pass
            deadline = time.monotonic() + wait
            while alive([pid, *kids]) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not alive([pid, *kids]):
                break
finally:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
"""


# --- the server ----------------------------------------------------------------------


@dataclass(eq=False)
class PostgresServer:
    """One throwaway cluster in ``base_dir`` (data, socket and log), listening on
    127.0.0.1:``port``. ``url`` is the SQLAlchemy URL of its ``postgres`` database."""

    url: str
    port: int
    data_dir: Path
    base_dir: Path
    sock_dir: Path
    log_path: Path
    fsync: bool
    install: PostgresInstall
    _watchdog: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _watchdog_fd: int | None = field(default=None, repr=False)
    _owner_pid: int = field(default_factory=os.getpid, repr=False)
    closed: bool = field(default=False, repr=False)

    # -- urls

    def url_for(self, dbname: str) -> str:
        """The SQLAlchemy URL of database ``dbname`` on this server."""
        return f"postgresql+psycopg://{DB_USER}@127.0.0.1:{self.port}/{dbname}"

    def conninfo(self, dbname: str = "postgres") -> str:
        """A libpq connection string, for ``psycopg.connect``."""
        return f"host=127.0.0.1 port={self.port} user={DB_USER} dbname={dbname}"

    # -- state

    def postmaster_pid(self) -> int | None:
        """The postmaster's pid if the server is running."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def is_running(self) -> bool:
        return self.postmaster_pid() is not None

    # -- lifecycle

    def start(self, timeout: float = 60.0) -> None:
        """Start the server (after :meth:`stop` or :meth:`kill`) and wait until it
        accepts connections. After a kill this runs crash recovery."""
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-p {self.port}",
            f"-k {shlex.quote(str(self.sock_dir))}",
        ]
        if not self.fsync:
            options.append("-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run(
            self.install.pg_ctl,
            *("start", "-D", self.data_dir, "-l", self.log_path, "-w", "-t", str(int(timeout))),
            *("-o", " ".join(options)),
            timeout=timeout + 10,
        )
        self._wait_accepting(timeout)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the server cleanly (``pg_ctl stop -m fast``); no-op when not running."""
        if not self.is_running():
            return
        try:
            self._run(
                self.install.pg_ctl,
                *("stop", "-D", self.data_dir, "-m", "fast", "-w", "-t", str(int(timeout))),
                timeout=timeout + 10,
            )
        except (RuntimeError, subprocess.TimeoutExpired):
            if self.is_running():
                raise

    def restart(self, timeout: float = 60.0) -> None:
        """Stop (if running) and start again on the same port; the URL stays valid."""
        self.stop(timeout)
        self.start(timeout)

    def kill(self, timeout: float = 10.0) -> None:
        """Crash the server: SIGKILL the postmaster, then its children, with no chance
        to flush anything. :meth:`start` or :meth:`restart` then runs crash recovery."""
        pid = self.postmaster_pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)  # no new children between the scan and the kill
        children = _children(pid)
        for target in [pid, *children]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, signal.SIGKILL)
        if not _wait_gone([pid, *children], timeout):
            raise RuntimeError(f"postgres processes {[pid, *children]} survived SIGKILL")
        # The lock files name the dead postmaster. If nothing reaps it, it lingers as a
        # zombie that the next postmaster would take for a live server; a real crash
        # followed by a reboot would not have that problem, so remove them.
        for lock in (
            self.data_dir / "postmaster.pid",
            self.sock_dir / f".s.PGSQL.{self.port}.lock",
            self.sock_dir / f".s.PGSQL.{self.port}",
        ):
            lock.unlink(missing_ok=True)

    def close(self) -> None:
        """Stop the server (kill it if a clean stop fails) and remove its directories."""
        if self.closed:
            return
        self.closed = True
        try:
            try:
                self.stop(timeout=30)
            except Exception:
                self.kill()
        finally:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            if not self.sock_dir.is_relative_to(self.base_dir):
                shutil.rmtree(self.sock_dir, ignore_errors=True)
            self._release_watchdog()
            with contextlib.suppress(ValueError):
                _LIVE.remove(self)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals

    def _run(self, *args: str | Path, timeout: float) -> None:
        result = subprocess.run(
            self.install.command(*args),
            cwd=self.base_dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_server_env(),
        )
        if result.returncode != 0:
            what = " ".join(str(a) for a in args[:2] if not str(a).startswith("-"))
            raise RuntimeError(
                f"{Path(what).name} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}{self._log_tail()}"
            )

    def _wait_accepting(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.conninfo(), connect_timeout=5) as conn:
                    conn.execute("select 1")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline or not self.is_running():
                    raise RuntimeError(
                        f"postgres on port {self.port} does not accept connections: {exc}"
                        f"{self._log_tail()}"
                    ) from exc
                time.sleep(0.02)

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n--- " + str(self.log_path) + " ---\n" + "\n".join(text.splitlines()[-lines:])

    def _start_watchdog(self) -> None:
        read_fd, write_fd = os.pipe()
        paths = [self.data_dir, self.base_dir, self.sock_dir]
        try:
            self._watchdog = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _WATCHDOG, str(read_fd), *map(str, paths)],
                pass_fds=[read_fd],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd="/",
                start_new_session=True,  # a Ctrl-C or a kill of pytest's group spares it
            )
        except BaseException:
            os.close(write_fd)
            raise
        finally:
            os.close(read_fd)
        self._watchdog_fd = write_fd

    def _release_watchdog(self) -> None:
        if self._watchdog_fd is not None:
            os.close(self._watchdog_fd)
            self._watchdog_fd = None
        if self._watchdog is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._watchdog.wait(timeout=5)
            self._watchdog = None


def _server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "LC_"))}
    env["LANG"] = "C.UTF-8"
    return env


_LIVE: list[PostgresServer] = []


@atexit.register
def _close_forgotten_servers() -> None:
    for server in list(_LIVE):
        if server._owner_pid == os.getpid():
            with contextlib.suppress(Exception):
                server.close()


def start_postgres(base_dir: Path, fsync: bool = False) -> PostgresServer:
    """Create a cluster in ``base_dir`` and start it on a free port of 127.0.0.1.

    ``base_dir`` belongs to the server: it must be empty or not exist yet, and
    :meth:`PostgresServer.close` removes it. As root it is chowned to the ``postgres``
    user, who must be able to reach it (``postgres_base_dir`` gives such a directory;
    pytest's ``tmp_path`` is not reachable, its parents are mode 0700).

    ``fsync=False`` (functional tests) runs with fsync, synchronous_commit and
    full_page_writes off; ``fsync=True`` keeps PostgreSQL's durable defaults, for
    durability tests and benchmarks. initdb always runs with ``--no-sync``: that only
    matters if the machine itself crashes.

    Raises :class:`PostgresUnavailable` without the binaries, RuntimeError (with the
    server log) when the server does not start; nothing is left behind then.
    """
    install = find_postgres()
    base_dir = Path(base_dir).absolute()
    if base_dir.exists() and any(base_dir.iterdir()):
        raise ValueError(f"{base_dir} is not empty; start_postgres needs a directory of its own")
    base_dir.mkdir(parents=True, exist_ok=True)
    sock_dir = base_dir / "sock"
    sock_dir.mkdir()
    if len(str(sock_dir)) > _SOCKET_PATH_MAX - len("/.s.PGSQL.65535.lock"):
        sock_dir.rmdir()
        sock_dir = Path(tempfile.mkdtemp(prefix="intake-pgsock-"))
    if install.run_as:
        user = pwd.getpwnam(install.run_as)
        for path in (base_dir, sock_dir):
            os.chown(path, user.pw_uid, user.pw_gid)
    server = PostgresServer(
        url="",
        port=0,
        data_dir=base_dir / "data",
        base_dir=base_dir,
        sock_dir=sock_dir,
        log_path=base_dir / "postgres.log",
        fsync=fsync,
        install=install,
    )
    _LIVE.append(server)
    try:
        server._start_watchdog()
        try:
            server._run(
                install.initdb,
                *("-D", server.data_dir, "-U", DB_USER, "--auth=trust", "-E", "UTF8"),
                *("--locale=C.UTF-8", "--no-sync", "--no-instructions"),
                timeout=120,
            )
        except RuntimeError as exc:
            if "ermission denied" in str(exc) and install.run_as:
                raise RuntimeError(
                    f"{exc}\nThe {install.run_as!r} user cannot reach {base_dir}: every "
                    "parent directory must be searchable by it (use postgres_base_dir)."
                ) from exc
            raise
        for attempt in range(_START_ATTEMPTS):
            server.port = _free_port()
            server.url = server.url_for("postgres")
            try:
                server.start()
                break
            except RuntimeError as exc:
                taken = "could not bind" in str(exc) or "already in use" in str(exc)
                if not taken or attempt == _START_ATTEMPTS - 1:
                    raise
                server.kill()
    except BaseException:
        server.close()
        raise
    return server


# --- databases -----------------------------------------------------------------------

_db_numbers = itertools.count(1)


@contextlib.contextmanager
def fresh_database(server: PostgresServer) -> Iterator[str]:
    """Create database ``test_<n>`` on ``server``, yield its URL, drop it afterwards
    (closing any connection a test left open)."""
    import psycopg

    name = f"test_{next(_db_numbers)}"
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.url_for(name)
    finally:
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- fixtures ------------------------------------------------------------------------


_MEMORY_DIR = Path("/dev/shm")
_MEMORY_MIN_FREE = 512 * 1024 * 1024


def new_base_dir(in_memory: bool = False) -> Path:
    """A fresh empty directory for :func:`start_postgres`, under the system temp dir,
    or with ``in_memory`` on tmpfs (``/dev/shm``) when it has room: initdb and CREATE
    DATABASE are several times faster there. A process kill loses nothing on tmpfs
    either, but fsync costs nothing there, so timings and machine crashes need disk."""
    parent = None
    if in_memory and _MEMORY_DIR.is_dir() and os.access(_MEMORY_DIR, os.W_OK | os.X_OK):
        stat = os.statvfs(_MEMORY_DIR)
        if stat.f_bavail * stat.f_frsize >= _MEMORY_MIN_FREE:
            parent = _MEMORY_DIR
    return Path(tempfile.mkdtemp(prefix="intake-pg-", dir=parent))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's shared server (fsync off, on tmpfs when there is one). Do not stop,
    restart or kill it."""
    require_postgres()
    with start_postgres(new_base_dir(in_memory=True)) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """``postgresql+psycopg://postgres@127.0.0.1:PORT/postgres`` of the shared server."""
    return postgres_server.url


@pytest.fixture
def postgres_db_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh database on the shared server, dropped after the test."""
    with fresh_database(postgres_server) as url:
        yield url


@pytest.fixture
def postgres_base_dir() -> Iterator[Path]:
    """An empty directory for ``start_postgres(postgres_base_dir, fsync=True)``, on tmpfs
    when there is one (see :func:`new_base_dir`; a killed server loses no more there than
    on disk). Servers started in it are closed, and it is removed, after the test, even
    if it failed. Skips (fails under ``CI=true``) without PostgreSQL."""
    require_postgres()
    base_dir = new_base_dir(in_memory=True)
    try:
        yield base_dir
    finally:
        for server in list(_LIVE):
            if server.base_dir == base_dir:
                server.close()
        shutil.rmtree(base_dir, ignore_errors=True)
