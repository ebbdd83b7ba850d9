"""Import throughput: `intake import` of a generated mbox, end to end, against bare parsing.

Run from the repository root:

    .venv/bin/python bench/pipeline.py [--n 20000] [--big 100000] [--skip-big]
                                       [--postgres] [--seed 1] [--runs 3]

It writes mbox files of varied generated emails (bench/corpus.py's `EmailWriter`, the
generator behind `build_corpus(n, seed).emails`; every message gets a unique, numbered
Message-ID) to a temporary folder and prints one table:

1. import end to end on SQLite: `intake import FILE` run as a user runs it (a
   subprocess, fresh database each run, wall clock from start to exit: storing,
   parsing, triage and grouping), in messages/s, next to the bare-parse anchor
   `email.message_from_bytes(raw, policy=email.policy.default)` over the same messages
   in this process; the median of `--runs` runs of each, interleaved;
2. peak RSS of `intake import` over a `--big`-message mbox (the child's
   `ru_maxrss`, read by a wrapper process whose only child it is), and its rate;
3. the per-message cost of importing a fresh batch of `--batch` messages into a
   database already holding `--stored-small` reports, then `--stored-large`: each batch
   runs the real `import` command in a fresh process, timed inside it from the command's
   start to its end (so the interpreter's start-up, the same for both, is left out).
   The database is filled in this process with the project's own `store_raw` and
   `run_pending`: first `--stored-small` generated messages imported for real, then
   copies of them, each with its own Message-ID, thread ids and fingerprint. A copy is
   stored, triaged and grouped like any message; only its parse is taken from the
   original it copies (the bytes differ in the Message-ID alone), which makes filling
   the database about twice as fast.

`--postgres` repeats (1) and (3) on a throwaway PostgreSQL server with fsync on
(tests/postgres_fixture.py's `start_postgres(dir, fsync=True)`, data on disk).

The mbox files use LF line ends, "From " separator lines, and mboxrd escaping (">From ").
Nothing is held whole: the files are written by worker processes a message at a
time, and the importer streams them.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import email
import email.policy
import gc
import hashlib
import io
import json
import os
import platform
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, Python puts bench/ first on the path; the project's packages live at
# the root, and bench/ holds nothing that should shadow them.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bench.corpus import EmailWriter  # noqa: E402
from bench.results import Figure, write_json  # noqa: E402
from core.cli_store import BATCH as STORE_BATCH  # noqa: E402
from core.db import make_engine, transaction  # noqa: E402
from core.models import RawMessage, StoredReport  # noqa: E402
from core.pipeline import Stats, run_pending  # noqa: E402
from core.report import Report  # noqa: E402
from core.runtime import Runtime, open_runtime  # noqa: E402
from core.store import store_raw  # noqa: E402
from ingest.files_import import item_for, iter_mbox, walk  # noqa: E402
from ingest.raw import parse_raw  # noqa: E402

IMPORT_RATIO_TARGET = 0.50  # import end to end against bare parsing, same corpus, SQLite
RSS_TARGET_MB = 300.0  # peak RSS importing the big mbox
GROWTH_TARGET = 1.30  # per-message cost at the large stored count against the small one
PART = 1_000  # messages per generated piece; piece k is seeded on its own
COPY_BASE = 10_000_000  # Message-ID numbers of the copies that fill measure 3's database
GROW_STEP = 10_000  # copies stored, then processed, per round while filling
SEPARATOR = b"From bench@harbourline.invalid Mon Jan  6 09:00:00 2025\n"
_POLICY = email.policy.default
_FROM_LINE = re.compile(rb"^(>*From )", re.MULTILINE)
_MESSAGE_ID = re.compile(rb"^(Message-ID:[ \t]*<)(?:n\d+\.)?([^>\s]+>)", re.IGNORECASE | re.M)
_OWN_NUMBER = re.compile(r"^n\d+\.")
_STORED = re.compile(r"stored (\d+) new of (\d+) inputs \((\d+) already stored, (\d+) unreadable")
_PROCESSED = re.compile(
    r"processed (\d+), nothing to triage in (\d+), quarantined (\d+); (\d+) reports"
)


def code_version() -> str:
    """The commit under test, and whether the working tree differs from it."""
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip()


def log(text: str) -> None:
    """Progress, on stderr, so stdout holds the report alone."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# --- the corpus: mbox pieces written by worker processes ------------------------------


def piece_seed(seed: int, k: int) -> int:
    """Piece k's messages are `build_corpus(PART, seed=piece_seed(seed, k)).emails`."""
    return seed * 10_000 + k


def renumber(message: bytes, number: int) -> bytes:
    """The message with its Message-ID made unique: `<n{number}.{original}>`."""
    end = message.find(b"\n\n")
    head = message if end < 0 else message[:end]
    new, count = _MESSAGE_ID.subn(rb"\g<1>n%d.\g<2>" % number, head, count=1)
    if not count:
        new = b"Message-ID: <n%d@bench.harbourline.invalid>\n" % number + head
    return new + (b"" if end < 0 else message[end:])


def canonical(raw: bytes, number: int) -> bytes:
    """A generated mail as it stands in an mbox: LF line ends, numbered, newline-ended."""
    message = renumber(raw.replace(b"\r\n", b"\n"), number)
    return message if message.endswith(b"\n") else message + b"\n"


def mbox_entry(message: bytes) -> bytes:
    """Separator line, message with mboxrd escaping (">From "), blank line."""
    return SEPARATOR + _FROM_LINE.sub(rb">\1", message) + b"\n"


@dataclass(frozen=True)
class Piece:
    """Messages lo..hi-1 of piece k; message i of piece k is message k * PART + i."""

    k: int
    lo: int
    hi: int

    @property
    def name(self) -> str:
        return f"p{self.k:05d}_{self.lo}_{self.hi}.mbox"


@dataclass
class Mix:
    """What a set of generated messages holds, for the reader to see it is varied."""

    sizes: list[int] = field(default_factory=list)
    shapes: Counter[str] = field(default_factory=Counter)
    langs: Counter[str] = field(default_factory=Counter)
    features: Counter[str] = field(default_factory=Counter)
    digests: list[bytes] = field(default_factory=list)  # sha256 of each message, in order

    def add(self, other: Mix) -> None:
        self.sizes += other.sizes
        self.shapes.update(other.shapes)
        self.langs.update(other.langs)
        self.features.update(other.features)
        self.digests += other.digests


def write_piece(job: tuple[Path, Piece, int]) -> Mix:
    """Generate one piece into its own mbox file (run in a worker process)."""
    folder, piece, seed = job
    writer = EmailWriter(random.Random(f"{piece_seed(seed, piece.k)}:email"))
    mix = Mix()
    with (folder / piece.name).open("wb") as out:
        for i in range(piece.hi):
            shape, lang, raw = writer.make()  # the generator is sequential: draw all
            if i < piece.lo:
                continue
            message = canonical(raw, piece.k * PART + i)
            out.write(mbox_entry(message))
            mix.sizes.append(len(message))
            mix.shapes[shape] += 1
            mix.langs[lang] += 1
            mix.digests.append(hashlib.sha256(message).digest())
    mix.features = writer.features
    return mix


def pieces(start: int, stop: int) -> list[Piece]:
    """The pieces holding messages start..stop-1, in order."""
    out = []
    at = start
    while at < stop:
        k = at // PART
        hi = min(stop, (k + 1) * PART) - k * PART
        out.append(Piece(k, at - k * PART, hi))
        at = k * PART + hi
    return out


@dataclass
class Dataset:
    name: str
    path: Path
    count: int
    mix: Mix


class Corpus:
    """Generates every piece the datasets need once, in parallel, then joins them."""

    def __init__(self, folder: Path, seed: int, workers: int) -> None:
        self.folder = folder
        self.seed = seed
        self.workers = workers
        self.wanted: dict[str, tuple[int, int]] = {}
        self.mixes: dict[Piece, Mix] = {}

    def want(self, name: str, start: int, stop: int) -> None:
        self.wanted[name] = (start, stop)

    def generate(self) -> float:
        todo = sorted(
            {p for a, b in self.wanted.values() for p in pieces(a, b)},
            key=lambda p: (-(p.hi - p.lo), p.k),
        )
        began = time.perf_counter()
        (self.folder / "pieces").mkdir(exist_ok=True)
        jobs = [(self.folder / "pieces", p, self.seed) for p in todo]
        with ProcessPoolExecutor(self.workers, mp_context=get_context("fork")) as pool:
            for done, (piece, mix) in enumerate(
                zip(todo, pool.map(write_piece, jobs), strict=True), 1
            ):
                self.mixes[piece] = mix
                if done % 20 == 0 or done == len(todo):
                    log(f"generated {done}/{len(todo)} pieces")
        return time.perf_counter() - began

    def dataset(self, name: str) -> Dataset:
        """Join the pieces of `name` into one mbox file (streamed, never loaded whole)."""
        start, stop = self.wanted[name]
        path = self.folder / f"{name}.mbox"
        mix = Mix()
        with path.open("wb") as out:
            for piece in pieces(start, stop):
                with (self.folder / "pieces" / piece.name).open("rb") as part:
                    shutil.copyfileobj(part, out, 1 << 20)
                mix.add(self.mixes[piece])
        return Dataset(name, path, stop - start, mix)

    def drop_pieces(self) -> None:
        shutil.rmtree(self.folder / "pieces", ignore_errors=True)


def read_messages(dataset: Dataset) -> list[bytes]:
    """The messages as the importer reads them (the project's mbox reader), checked
    against what was written: the anchor must parse exactly what is imported."""
    messages = [body for body, _origin in iter_mbox(dataset.path)]
    digests = [hashlib.sha256(m).digest() for m in messages]
    if digests != dataset.mix.digests:
        bad = next(
            (
                i
                for i, (a, b) in enumerate(zip(digests, dataset.mix.digests, strict=False))
                if a != b
            ),
            min(len(digests), len(dataset.mix.digests)),
        )
        raise SystemExit(
            f"{dataset.path}: the mbox reader gives {len(messages)} messages, "
            f"{len(dataset.mix.digests)} were written; first difference at message {bad}"
        )
    return messages


# --- running `intake import` ------------------------------------------------------------

# A wrapper whose only child is the command: its RUSAGE_CHILDREN is that child's alone.
_WRAPPER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, capture_output=True)
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({
    "seconds": seconds,
    "cpu": usage.ru_utime + usage.ru_stime,
    "rc": done.returncode,
    "maxrss_kb": usage.ru_maxrss,
    "stdout": done.stdout.decode("utf-8", "replace")[-4000:],
    "stderr": done.stderr.decode("utf-8", "replace")[-4000:],
}))
"""

# The import command in a fresh process, timed inside it from the command's start to its
# end: what a user waits for, less the interpreter's start-up and imports.
_TIMED = """
import contextlib, io, json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from core.cli import main
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
out, err = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    start, used = time.perf_counter(), cpu()
    rc = main(["import", sys.argv[2]], standalone_mode=False)
    seconds, used = time.perf_counter() - start, cpu() - used
print(json.dumps({
    "seconds": seconds,
    "cpu": used,
    "rc": rc or 0,
    "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "stdout": out.getvalue()[-4000:],
    "stderr": err.getvalue()[-4000:],
}))
"""


@dataclass
class ImportRun:
    seconds: float  # wall clock
    cpu: float  # CPU seconds of the importing process
    rc: int
    maxrss_kb: int
    stored: int
    seen: int
    processed: int
    ignored: int
    quarantined: int
    reports: int
    stderr: str

    @property
    def rss_mb(self) -> float:
        return self.maxrss_kb / 1024  # ru_maxrss is in KB on Linux


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "INTAKE_CONFIG"}
    env["INTAKE_DATABASE_URL"] = url
    return env


def run_import(path: Path, url: str, workdir: Path, in_process: bool = False) -> ImportRun:
    """`intake import PATH` into `url`: as a user runs it, or timed inside (`in_process`)."""
    if in_process:
        command = [sys.executable, "-c", _TIMED, str(ROOT), str(path)]
    else:
        intake = Path(sys.executable).parent / "intake"
        command = [sys.executable, "-I", "-c", _WRAPPER, str(intake), "import", str(path)]
    done = subprocess.run(
        command, env=_env(url), cwd=workdir, capture_output=True, text=True, check=False
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise SystemExit(f"import of {path} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    stored = _STORED.search(result["stdout"])
    processed = _PROCESSED.search(result["stdout"])
    if result["rc"] != 0 or not stored or not processed:
        raise SystemExit(
            f"import of {path} exited {result['rc']}:\n{result['stdout']}\n{result['stderr']}"
        )
    return ImportRun(
        seconds=result["seconds"],
        cpu=result["cpu"],
        rc=result["rc"],
        maxrss_kb=result["maxrss_kb"],
        stored=int(stored.group(1)),
        seen=int(stored.group(2)),
        processed=int(processed.group(1)),
        ignored=int(processed.group(2)),
        quarantined=int(processed.group(3)),
        reports=int(processed.group(4)),
        stderr=result["stderr"],
    )


def checked(run: ImportRun, dataset: Dataset, what: str) -> ImportRun:
    """Stop when an import did not store every message; warn when some were quarantined."""
    if run.stored != dataset.count or run.seen != dataset.count:
        raise SystemExit(
            f"{what}: stored {run.stored} new of {run.seen}, expected {dataset.count}\n"
            f"{run.stderr[-2000:]}"
        )
    if run.quarantined:
        log(f"warning: {what}: {run.quarantined} message(s) quarantined")
    return run


# --- databases ----------------------------------------------------------------------------


class Databases:
    """Fresh databases: SQLite files in a folder, or databases on one PostgreSQL server."""

    def __init__(self, kind: str, folder: Path, server: Any = None) -> None:
        self.kind = kind
        self.folder = folder
        self.server = server
        self.number = 0

    @contextlib.contextmanager
    def fresh(self) -> Iterator[str]:
        self.number += 1
        if self.server is None:
            path = self.folder / f"intake-{self.number}.db"
            try:
                yield f"sqlite:///{path}"
            finally:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
            return
        from tests.postgres_fixture import fresh_database

        with fresh_database(self.server) as url:
            yield url


def count_reports(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            count = connection.execute(select(func.count()).select_from(StoredReport)).scalar()
            return int(count or 0)
    finally:
        engine.dispose()


def database_size(url: str) -> str:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        size = sum(
            Path(f"{path}{s}").stat().st_size for s in ("", "-wal") if Path(f"{path}{s}").exists()
        )
        return f"{size / 2**20:,.0f} MB"
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            query = "select pg_database_size(current_database())"
            pg_size = connection.exec_driver_sql(query).scalar()
            return f"{int(pg_size or 0) / 2**20:,.0f} MB"
    finally:
        engine.dispose()


# --- filling a database in process (measure 3) ------------------------------------------


def relabel(report: Report, number: int) -> Report:
    """A copy of `report` as its copy number `number` would parse: its own Message-ID,
    thread ids and fingerprint, so no two copies join one thread or incident."""
    own = _OWN_NUMBER.sub(f"n{number}.", report.message_id)
    fresh = {report.message_id: own} if report.message_id else {}

    def new(value: str) -> str:
        return fresh.setdefault(value, f"{value}~{number}") if value else value

    references = [new(r) for r in report.references]
    in_reply_to = new(report.in_reply_to)
    fingerprint = report.fingerprint
    if fingerprint.startswith("email:") and fingerprint[6:] in fresh:
        fingerprint = "email:" + fresh[fingerprint[6:]]
    elif fingerprint:
        fingerprint = f"{fingerprint}~{number}"
    return dataclasses.replace(
        report,
        message_id=own,
        in_reply_to=in_reply_to,
        references=references,
        fingerprint=fingerprint,
    )


class Filler:
    """Fills one database through the project's own `store_raw` and `run_pending`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.pool: list[bytes] = []  # the messages imported for real, to copy from
        self.parsed: dict[int, list[Report]] = {}  # their parse, by pool index
        self.copies = 0
        self.quarantined = 0

    def _runtime(self) -> Runtime:
        saved = {k: os.environ.get(k) for k in ("INTAKE_DATABASE_URL", "INTAKE_CONFIG")}
        os.environ["INTAKE_DATABASE_URL"] = self.url
        os.environ.pop("INTAKE_CONFIG", None)
        try:
            return open_runtime()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    @staticmethod
    def _close(rt: Runtime) -> None:
        rt.engine.dispose()
        bind = rt.work.kw.get("bind")
        if bind is not None:
            bind.dispose()

    @staticmethod
    def _store(rt: Runtime, inputs: Iterator[tuple[bytes, str, dict[str, Any]]]) -> int:
        """Store like `intake import` does: `store_raw`, STORE_BATCH inputs a transaction."""
        added = 0
        batch: list[tuple[bytes, str, dict[str, Any]]] = []

        def flush() -> None:
            nonlocal added
            with transaction(rt.factory) as session:
                for body, origin, meta in batch:
                    item = item_for(body, origin)
                    stored = store_raw(
                        session, item.source, item.natural_key, item.body, meta, item.content_key
                    )
                    added += stored.created
            batch.clear()

        for entry in inputs:
            batch.append(entry)
            if len(batch) >= STORE_BATCH:
                flush()
        if batch:
            flush()
        return added

    def _count(self, stats: Stats) -> None:
        self.quarantined += stats.quarantined + stats.parked
        if stats.errors:
            log(f"warning: while filling: {len(stats.errors)} error(s), first: {stats.errors[0]}")

    def import_pool(self, dataset: Dataset) -> None:
        """Import `dataset` for real (parse included), keeping each message and its parse."""
        rt = self._runtime()
        try:

            def inputs() -> Iterator[tuple[bytes, str, dict[str, Any]]]:
                for _path, body, origin, error in walk([dataset.path]):
                    if error is not None or body is None:
                        raise SystemExit(f"{origin}: {error}")
                    meta = {"origin": origin, "via": "bench", "pool": len(self.pool)}
                    self.pool.append(body)
                    yield body, origin, meta

            self._store(rt, inputs())

            def parse_and_keep(raw: RawMessage) -> list[Report]:
                reports = parse_raw(raw)
                self.parsed[raw.meta["pool"]] = reports
                return reports

            self._count(run_pending(rt.work, parse_and_keep, rt.config))
        finally:
            self._close(rt)

    def _copy_parse(self, raw: RawMessage) -> list[Report]:
        number = int(raw.meta["copy"])
        return [relabel(r, number) for r in self.parsed[raw.meta["pool"]]]

    def grow(self, reports: int) -> None:
        """Store and process copies of the pool until the database holds `reports` reports."""
        sources = [i for i in sorted(self.parsed) if self.parsed[i]]
        if not sources:
            raise SystemExit("no pool message gave a report; cannot fill the database")
        rt = self._runtime()
        try:
            began = time.perf_counter()
            have = count_reports(self.url)
            start = have
            while have < reports:
                step = min(GROW_STEP, reports - have)

                def inputs(step: int = step) -> Iterator[tuple[bytes, str, dict[str, Any]]]:
                    for _ in range(step):
                        index = sources[self.copies % len(sources)]
                        number = COPY_BASE + self.copies
                        self.copies += 1
                        meta = {"origin": "bench-copy", "via": "bench", "pool": index}
                        meta["copy"] = number
                        yield renumber(self.pool[index], number), f"copy#{number}", meta

                self._store(rt, inputs())
                self._count(run_pending(rt.work, self._copy_parse, rt.config))
                have = count_reports(self.url)
                rate = (have - start) / (time.perf_counter() - began)
                log(f"  filled to {have:,} reports ({rate:,.0f}/s)")
        finally:
            self._close(rt)


# --- the measures ------------------------------------------------------------------------


@dataclass
class Row:
    measure: str
    value: str
    target: str = ""
    ratio: str = ""
    result: str = ""


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)  # the same, as numbers (--json)

    def add(self, *rows: Row) -> None:
        self.rows.extend(rows)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


@dataclass(frozen=True)
class Timing:
    wall: float  # seconds, wall clock
    cpu: float  # CPU seconds of the process doing the work


def bare_parse(messages: Sequence[bytes]) -> Timing:
    """One pass of the anchor over `messages`."""
    gc.collect()
    start, used = time.perf_counter(), time.process_time()
    for raw in messages:
        email.message_from_bytes(raw, policy=_POLICY)
    return Timing(time.perf_counter() - start, time.process_time() - used)


def measure_import(
    dataset: Dataset, dbs: Databases, runs: int, label: str, with_anchor: bool
) -> tuple[list[ImportRun], list[Timing]]:
    """`runs` imports on fresh databases, interleaved with anchor passes when asked."""
    messages = read_messages(dataset) if with_anchor else []
    if messages:
        bare_parse(messages[: min(len(messages), 500)])  # warm the stdlib parser's imports
    imports: list[ImportRun] = []
    anchors: list[Timing] = []
    for run in range(runs):
        if messages:
            anchors.append(bare_parse(messages))
            log(f"{label}: anchor pass {run + 1}: {len(messages) / anchors[-1].wall:,.0f} msg/s")
        with dbs.fresh() as url:
            result = checked(run_import(dataset.path, url, dbs.folder), dataset, label)
        imports.append(result)
        log(
            f"{label}: import {run + 1}: {dataset.count / result.seconds:,.0f} msg/s "
            f"({result.seconds:.1f} s, {result.cpu:.1f} CPU s, peak RSS {result.rss_mb:.0f} MB, "
            f"{result.quarantined} quarantined)"
        )
    del messages
    gc.collect()
    return imports, anchors


def _spread(values: Sequence[float], fmt: str) -> str:
    return f"{format(min(values), fmt)}..{format(max(values), fmt)}"


def import_rows(
    dataset: Dataset,
    imports: list[ImportRun],
    anchors: list[Timing],
    db: str,
    sqlite: bool,
    figures: list[Figure],
) -> list[Row]:
    """Rows of measure 1; PostgreSQL's are compared with SQLite's anchor, and untargeted."""
    n = dataset.count
    rates = [n / r.seconds for r in imports]
    bare = [n / t.wall for t in anchors]
    rate, anchor = statistics.median(rates), statistics.median(bare)
    ratio = rate / anchor
    cpu_rate = statistics.median(n / r.cpu for r in imports)
    cpu_anchor = statistics.median(n / t.cpu for t in anchors)
    quarantined = max(r.quarantined for r in imports)
    target = f">= {IMPORT_RATIO_TARGET:.2f} x bare parse"
    figures.append(
        Figure(
            name=f"import end to end, {db} ({n:,} msgs)",
            ours=rate,
            unit="msg/s",
            anchor=anchor,
            anchor_name="bare parse, same messages",
            ratio=ratio,
            target=f">= {IMPORT_RATIO_TARGET:.2f}" if sqlite else "",
            passed=ratio >= IMPORT_RATIO_TARGET if sqlite else None,
            note=f"median of {len(rates)} ({_spread(rates, ',.0f')})",
        )
    )
    rows = [
        Row(
            f"import end to end, {db} ({n:,} msgs, median of {len(rates)})",
            f"{rate:,.0f} msg/s ({_spread(rates, ',.0f')}; peak RSS "
            f"{max(r.rss_mb for r in imports):.0f} MB; {quarantined} quarantined)",
            target if sqlite else "(none on PostgreSQL)",
            f"{ratio:.2f}",
            verdict(ratio >= IMPORT_RATIO_TARGET) if sqlite else "info",
        ),
        Row(
            f"  bare parse, same messages (median of {len(bare)})",
            f"{anchor:,.0f} msg/s ({_spread(bare, ',.0f')})",
            "",
            "",
            "anchor",
        ),
        Row(
            "  the same two on CPU seconds (import / bare parse)",
            f"{cpu_rate:,.0f} / {cpu_anchor:,.0f} msg/s",
            "",
            f"{cpu_rate / cpu_anchor:.2f}",
            "info",
        ),
    ]
    return rows if sqlite else [rows[0], rows[2]]


def measure_growth(
    pool: Dataset,
    batches_small: list[Dataset],
    batches_large: list[Dataset],
    dbs: Databases,
    large: int,
    label: str,
    figures: list[Figure],
) -> list[Row]:
    """Per-message cost of importing a fresh batch with few, then many, reports stored."""
    with dbs.fresh() as url:
        filler = Filler(url)
        began = time.perf_counter()
        filler.import_pool(pool)
        log(
            f"{label}: imported the {pool.count:,}-message pool in process "
            f"({time.perf_counter() - began:.0f} s)"
        )

        def batches(datasets: list[Dataset], level: str) -> tuple[list[Timing], int, str]:
            stored = count_reports(url)
            size = database_size(url)
            costs = []
            for dataset in datasets:
                run = run_import(dataset.path, url, dbs.folder, in_process=True)
                checked(run, dataset, f"{label} {level}")
                n = dataset.count
                costs.append(Timing(run.seconds / n * 1000, run.cpu / n * 1000))
                log(
                    f"{label}: {level}: batch of {n:,}: {costs[-1].wall:.2f} ms/msg "
                    f"({costs[-1].cpu:.2f} CPU ms)"
                )
            return costs, stored, size

        small_costs, small_stored, small_size = batches(batches_small, "small")
        began = time.perf_counter()
        filler.grow(large)
        log(f"{label}: grew to {large:,} reports ({time.perf_counter() - began:.0f} s)")
        large_costs, large_stored, large_size = batches(batches_large, "large")
    small = statistics.median(t.wall for t in small_costs)
    big = statistics.median(t.wall for t in large_costs)
    small_cpu = statistics.median(t.cpu for t in small_costs)
    big_cpu = statistics.median(t.cpu for t in large_costs)
    ratio = big / small

    figures.append(
        Figure(
            name=f"import per message, {label}, {large_stored:,} reports stored",
            ours=big,
            unit="ms/msg",
            anchor=small,
            anchor_name=f"the same at {small_stored:,} stored",
            ratio=ratio,
            target=f"<= {GROWTH_TARGET:.2f}",
            passed=ratio <= GROWTH_TARGET,
            note=(
                f"median of {len(large_costs)} batches of {batches_small[0].count:,}; "
                f"CPU ratio {big_cpu / small_cpu:.2f}; db {large_size}"
            ),
            lower_is_better=True,
        )
    )

    def cell(cost: float, costs: list[Timing], size: str) -> str:
        return f"{cost:.2f} ms ({_spread([t.wall for t in costs], '.2f')}; db {size})"

    return [
        Row(
            f"per message, {label}, {small_stored:,} reports stored",
            cell(small, small_costs, small_size),
            "",
            "",
            "base",
        ),
        Row(
            f"per message, {label}, {large_stored:,} reports stored",
            cell(big, large_costs, large_size),
            f"<= {GROWTH_TARGET:.2f} x base",
            f"{ratio:.2f}",
            verdict(ratio <= GROWTH_TARGET),
        ),
        Row(
            "  the same two on CPU ms",
            f"{small_cpu:.2f} / {big_cpu:.2f} ms",
            "",
            f"{big_cpu / small_cpu:.2f}",
            "info",
        ),
        Row(
            f"  (batches of {batches_small[0].count:,} new msgs, median of "
            f"{len(small_costs)}; {filler.quarantined} quarantined while filling)",
            "",
        ),
    ]


def print_mix(title: str, mix: Mix) -> None:
    sizes = sorted(mix.sizes)

    def kb(n: float) -> str:
        return f"{n / 1024:.1f} KB"

    def listing(counter: Counter[str]) -> str:
        return ", ".join(f"{name} {count:,}" for name, count in counter.most_common())

    print(
        f"{title}: {len(sizes):,} emails, {sum(sizes) / 2**20:,.0f} MB; size min / median / "
        f"max {kb(sizes[0])} / {kb(statistics.median(sizes))} / {kb(sizes[-1])}"
    )
    print(f"  shapes:    {listing(mix.shapes)}")
    print(f"  languages: {listing(mix.langs)}")
    print(f"  features:  {listing(mix.features)}")


def print_table(rows: list[Row]) -> None:
    widths = [
        max(len(name), *(len(getattr(r, name)) for r in rows))
        for name in ("measure", "value", "target")
    ]
    head = ("measure", "value", "target", "ratio", "result")
    print(
        f"  {head[0]:<{widths[0]}}  {head[1]:<{widths[1]}}  {head[2]:<{widths[2]}}  "
        f"{head[3]:>5}  {head[4]}"
    )
    for r in rows:
        print(
            f"  {r.measure:<{widths[0]}}  {r.value:<{widths[1]}}  {r.target:<{widths[2]}}  "
            f"{r.ratio:>5}  {r.result}".rstrip()
        )


# --- main ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="messages in measure 1's mbox")
    parser.add_argument("--big", type=int, default=100_000, help="messages in measure 2's mbox")
    parser.add_argument("--skip-big", action="store_true", help="skip measure 2 (peak RSS)")
    parser.add_argument("--postgres", action="store_true", help="also run 1 and 3 on PostgreSQL")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    parser.add_argument("--runs", type=int, default=3, help="imports (and batches) per measure")
    parser.add_argument("--batch", type=int, default=2_000, help="messages per measure-3 batch")
    parser.add_argument("--stored-small", type=int, default=10_000, help="measure 3, first level")
    parser.add_argument("--stored-large", type=int, default=200_000, help="measure 3, second")
    parser.add_argument("--tmp", type=Path, default=None, help="work folder (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    sizes = (args.n, args.big, args.runs, args.batch, args.stored_small)
    if min(sizes) < 1 or args.stored_large <= args.stored_small + args.runs * args.batch:
        parser.error("sizes must be positive and --stored-large above what measure 3 adds first")

    began = time.perf_counter()
    cpus = len(os.sched_getaffinity(0))
    work = Path(tempfile.mkdtemp(prefix="intake-bench-", dir=args.tmp))
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # the table and the progress, in order
    print(
        f"intake import benchmark: seed {args.seed}, {args.runs} runs per measure; "
        f"code {code_version()}"
    )
    print(
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{cpus} CPUs; SQLite {sqlite3.sqlite_version}; load average at start "
        f"{os.getloadavg()[0]:.2f}; work folder {work}\n"
    )
    report = Results()
    server = None
    try:
        corpus = Corpus(work, args.seed, cpus)
        corpus.want("import", 0, args.n)
        if not args.skip_big:
            corpus.want("big", 0, args.big)
        corpus.want("pool", 0, args.stored_small)
        at = args.stored_small
        for level in ("small", "large"):
            for i in range(args.runs):
                corpus.want(f"{level}-{i}", at, at + args.batch)
                at += args.batch
        seconds = corpus.generate()
        log(f"generated the corpus in {seconds:.0f} s")
        data = {name: corpus.dataset(name) for name in corpus.wanted}
        corpus.drop_pieces()
        print_mix(f"corpus of measure 1 ({data['import'].path.name})", data["import"].mix)
        if "big" in data:
            big = data["big"]
            print(
                f"measure 2's mbox: {big.count:,} emails, {big.path.stat().st_size / 2**20:,.0f} MB"
            )
        print(f"(generated in {seconds:.0f} s with {cpus} worker processes)\n")
        small = [data[f"small-{i}"] for i in range(args.runs)]
        large = [data[f"large-{i}"] for i in range(args.runs)]

        sqlite_dbs = Databases("sqlite", work)
        imports, anchors = measure_import(data["import"], sqlite_dbs, args.runs, "sqlite", True)
        figures = report.figures
        report.add(
            *import_rows(data["import"], imports, anchors, "SQLite", sqlite=True, figures=figures)
        )
        report.add(
            *measure_growth(
                data["pool"], small, large, sqlite_dbs, args.stored_large, "SQLite", figures
            )
        )
        if not args.skip_big:
            big = data["big"]
            with sqlite_dbs.fresh() as url:
                run = checked(run_import(big.path, url, work), big, "big")
            log(f"big: {big.count / run.seconds:,.0f} msg/s, peak RSS {run.rss_mb:.0f} MB")
            report.add(
                Row(
                    f"peak RSS, import of a {big.count:,}-message mbox, SQLite",
                    f"{run.rss_mb:,.0f} MB ({big.count / run.seconds:,.0f} msg/s, "
                    f"{run.seconds:.0f} s; {run.quarantined} quarantined)",
                    f"<= {RSS_TARGET_MB:.0f} MB",
                    f"{run.rss_mb / RSS_TARGET_MB:.2f}",
                    verdict(run.rss_mb <= RSS_TARGET_MB),
                )
            )
            figures.append(
                Figure(
                    name=f"peak RSS, import of a {big.count:,}-message mbox, SQLite",
                    ours=run.rss_mb,
                    unit="MB",
                    target=f"<= {RSS_TARGET_MB:.0f} MB",
                    passed=run.rss_mb <= RSS_TARGET_MB,
                    note=f"one run, {big.count / run.seconds:,.0f} msg/s",
                    lower_is_better=True,
                )
            )
        if args.postgres:
            from tests.postgres_fixture import new_base_dir, start_postgres

            server = start_postgres(new_base_dir(in_memory=False), fsync=True)
            log(f"PostgreSQL started (fsync on) at {server.url}")
            pg_dbs = Databases("postgres", work, server)
            imports, _ = measure_import(data["import"], pg_dbs, args.runs, "postgres", False)
            report.add(
                *import_rows(
                    data["import"], imports, anchors, "PostgreSQL", sqlite=False, figures=figures
                )
            )
            report.add(
                *measure_growth(
                    data["pool"], small, large, pg_dbs, args.stored_large, "PostgreSQL", figures
                )
            )
    finally:
        if server is not None:
            server.close()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print("results")
    print_table(report.rows)
    failed = [r for r in report.rows if r.result == "FAIL"]
    if args.json:
        write_json(args.json, "pipeline", report.figures)
    took = time.perf_counter() - began
    print(
        f"\nall targets met: {'yes' if not failed else 'NO'}; the run took {took / 60:.1f} min; "
        f"load average at the end {os.getloadavg()[0]:.2f} (1 min)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
