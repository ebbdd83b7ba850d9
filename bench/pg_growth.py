"""PostgreSQL growth: the per-message cost of `intake import` as stored reports grow to 1,000,000.

Run from the repository root (needs Debian's `postgresql`):

    .venv/bin/python bench/pg_growth.py [--levels 10000,100000,1000000] [--runs 5]
                                        [--template 5000] [--json FILE]

It starts its own PostgreSQL server with durable defaults (tests/postgres_fixture.py's
`start_postgres(dir, fsync=True)`, data on disk), then:

1. imports `--template` generated mails (bench/corpus.py's `EmailWriter`, varied shapes
   and languages) through the project's own store and pipeline (bench/pipeline.py's
   `Filler`): real raw bodies, reports, verdicts, incidents, fingerprints and timelines;
2. makes one database per level of `--levels` stored reports, each a copy of the one
   below (CREATE DATABASE ... TEMPLATE) grown with set-based SQL (`INSERT ... SELECT ...
   FROM generate_series`): copy g of every template row gets its own id, natural and
   content key, Message-ID, In-Reply-To and fingerprint (so the indexed columns stay as
   selective as in real data), its times shifted g days into the past, its incidents
   closed; then VACUUM ANALYZE and a CHECKPOINT. Filling 1,000,000 through the pipeline
   would take hours; the copies are what it would leave behind;
3. imports a fixed batch of real mail (every message of the mail folders of
   ../shared/corpora except the fuzzers' malformed seeds, each with its own numbered
   Message-ID) with the real `intake import` command in a fresh process, timed inside it
   from the command's start to its end (bench/pipeline.py's `run_import`): store, parse,
   triage, grouping, durable commits. Batch r runs on every level in turn (the order
   rotating), so a busy moment of a shared machine falls on all levels alike; after each
   batch the rows it added are deleted again, so every batch meets the same database.

The figure is the median per-message cost of `--runs` batches at each level; the anchor
is the same at the first level (10,000), measured in the same run; target: the cost at
1,000,000 at most 1.3 x the anchor (issue 3's rule). CPU ms of the importing process are
shown too (the database server's time is in the wall-clock figure only). The server's
folder, databases included (~8 GB at 1,000,000), is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, Python puts bench/ first on the path; bench/telegram.py would shadow
# the python-telegram-bot package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy import Table  # noqa: E402

from bench.pipeline import (  # noqa: E402
    Corpus,
    Dataset,
    Filler,
    Mix,
    canonical,
    checked,
    code_version,
    log,
    mbox_entry,
    run_import,
)
from bench.results import Figure, write_json  # noqa: E402
from core.models import Base  # noqa: E402
from tests.postgres_fixture import new_base_dir, start_postgres  # noqa: E402
from tests.test_fuzz_email import MAIL_FOLDERS, NOT_MAIL  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora"
FUZZ_SEEDS = "library-fuzzers/corp-email"  # malformed fragments, not real mail
MAX_MAIL = 300_000  # bytes; the corpora's few bigger files are torture tests
GROWTH_TARGET = 1.30  # issue 3's rule: cost at the top level <= 1.3 x the first
BATCH_NUMBER = 2_000_000_000  # Message-ID numbers of the timed batches' mails
DAY_PER_COPY = "1 day"  # copy g of the template is g days older
COPIES_PER_STATEMENT = 20  # bounds one INSERT's size (and shows progress)


# --- the server and its database ---------------------------------------------------------


@dataclass
class Database:
    """One database on our own PostgreSQL server."""

    server: Any  # tests.postgres_fixture.PostgresServer
    name: str

    @property
    def url(self) -> str:  # SQLAlchemy's
        return str(self.server.url_for(self.name))

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.server.conninfo(self.name), autocommit=True)

    def scalar(self, sql: str) -> int:
        with self.connect() as conn:
            row = conn.execute(sql).fetchone()
        return int(row[0]) if row and row[0] is not None else 0


def create_database(server: Any, name: str, copy_of: Database | None = None) -> Database:
    """A new empty database, or a file-level copy of `copy_of` (CREATE DATABASE ... TEMPLATE)."""
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        source = f' TEMPLATE "{copy_of.name}"' if copy_of else ""
        conn.execute(f'CREATE DATABASE "{name}"{source}')
    return Database(server, name)


# --- growing the database with set-based SQL ------------------------------------------------


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def _suffixed(column: str) -> str:
    """A text column made unique per copy; empty and NULL stay as they are."""
    return f'CASE WHEN t."{column}" = \'\' THEN t."{column}" ELSE t."{column}" || \'~\' || g END'


def _older(column: str) -> str:
    return f"t.\"{column}\" - g * interval '{DAY_PER_COPY}'"


def _offset(column: str, table: str) -> str:
    return f't."{column}" + g * :{table}'


# How copy g of each template row differs from it; columns not named are copied as they are.
# Tables in the order they are filled (incidents before the reports that point at them).
COPIES: dict[str, dict[str, str]] = {
    "incidents": {
        "id": _offset("id", "incidents"),
        "merged_into_id": _offset("merged_into_id", "incidents"),
        "follows_id": _offset("follows_id", "incidents"),
        # Old incidents are finished, as in a database that has run for months.
        "status": "CASE WHEN t.status IN ('triage', 'live') THEN 'closed' ELSE t.status END",
        "closed_at": "COALESCE(t.closed_at, t.last_activity_at) - g * interval '1 day'",
        "opened_at": _older("opened_at"),
        "last_activity_at": _older("last_activity_at"),
        "resolved_at": _older("resolved_at"),
    },
    "raw_messages": {
        "id": _offset("id", "raw_messages"),
        "natural_key": "t.natural_key || '~' || g",
        "content_key": "t.content_key || '~' || g",
        "received_at": _older("received_at"),
        "processed_at": _older("processed_at"),
    },
    "reports": {
        "id": _offset("id", "reports"),
        "raw_id": _offset("raw_id", "raw_messages"),
        "incident_id": _offset("incident_id", "incidents"),
        "message_id": _suffixed("message_id"),
        "in_reply_to": _suffixed("in_reply_to"),
        "fingerprint": _suffixed("fingerprint"),
        "sent_at": _older("sent_at"),
        "created_at": _older("created_at"),
        "triaged_at": _older("triaged_at"),
    },
    "verdict_changes": {
        "id": _offset("id", "verdict_changes"),
        "report_id": _offset("report_id", "reports"),
        "at": _older("at"),
    },
    "incident_fingerprints": {
        "id": _offset("id", "incident_fingerprints"),
        "incident_id": _offset("incident_id", "incidents"),
        "fingerprint": "t.fingerprint || '~' || g",
        "last_seen_at": _older("last_seen_at"),
        "resolved": "true",
    },
    "timeline_events": {
        "id": _offset("id", "timeline_events"),
        "incident_id": _offset("incident_id", "incidents"),
        "at": _older("at"),
    },
}


def copy_statement(name: str) -> str:
    """INSERT ... SELECT of copies :first..:last of the template rows (id <= :<name>)."""
    overrides = COPIES[name]
    columns = [c.name for c in _table(name).columns]
    unknown = set(overrides) - set(columns)
    if unknown:
        raise SystemExit(f"{name} has no column {sorted(unknown)[0]}: update COPIES")
    values = [overrides.get(c, f't."{c}"') for c in columns]
    quoted = ", ".join(f'"{c}"' for c in columns)
    return (
        f'INSERT INTO "{name}" ({quoted}) SELECT {", ".join(values)} '
        f'FROM "{name}" t CROSS JOIN '
        "generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS g "
        f"WHERE t.id <= :{name}"
    )


@dataclass
class Template:
    """The rows the pipeline wrote for the template mails: the highest id of each table."""

    top: dict[str, int]
    reports: int


def freeze(db: Database) -> Template:
    """The template rows as they will be copied: what still waits for a retry is parked."""
    with db.connect() as conn:
        # Everything still waiting for a retry would be retried by each timed import;
        # in a database that has run for months such messages are parked.
        conn.execute(
            "UPDATE raw_messages SET status = 'parked', next_attempt_at = NULL "
            "WHERE status IN ('pending', 'quarantined')"
        )
        top = {}
        for name in COPIES:
            row = conn.execute(f'SELECT max(id) FROM "{name}"').fetchone()
            top[name] = int(row[0] or 0) if row else 0
        others = [
            name
            for name in Base.metadata.tables
            if name not in COPIES and name != "alembic_version"
        ]
        for name in others:
            row = conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()
            if row and row[0]:
                raise SystemExit(f"the template import wrote to {name}, which is not copied")
    reports = db.scalar("SELECT count(*) FROM reports")
    if not reports:
        raise SystemExit("the template gave no reports")
    return Template(top, reports)


class Grower:
    """Grows a database by whole copies of the template rows."""

    def __init__(self, db: Database, template: Template, copies: int = 0) -> None:
        self.db = db
        self.template = template
        self.copies = copies  # copies the database already holds
        self.statements = {name: copy_statement(name) for name in COPIES}

    def grow_to(self, reports: int) -> None:
        """Add whole copies until at least `reports` reports are stored."""
        want = -(-reports // self.template.reports) - 1  # copies beyond the template itself
        if want <= self.copies:
            return
        began = time.perf_counter()
        with self.db.connect() as conn:
            conn.execute("SET session_replication_role = replica")  # ids are consistent by design
            conn.execute("SET maintenance_work_mem = '512MB'")
            first = self.copies + 1
            while first <= want:
                last = min(want, first + COPIES_PER_STATEMENT - 1)
                params = {**self.template.top, "first": first, "last": last}
                with conn.transaction():
                    for statement in self.statements.values():
                        conn.execute(_named(statement), params)
                log(f"  copies {first}..{last} of {want} stored")
                first = last + 1
            for name in COPIES:
                conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f'(SELECT max(id) FROM "{name}"))'
                )
        self.copies = want
        log(f"  grew to {count_reports(self.db):,} reports ({time.perf_counter() - began:.0f} s)")


def _named(statement: str) -> str:
    """:name parameters as psycopg's %(name)s (the SQL holds no other % sign)."""
    return re.sub(r":(\w+)", r"%(\1)s", statement.replace("::", "\0")).replace("\0", "::")


def settle(db: Database) -> None:
    """Statistics and visibility map up to date, dirty pages written: a database at rest."""
    began = time.perf_counter()
    with db.connect() as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")
    log(f"  VACUUM ANALYZE and CHECKPOINT ({time.perf_counter() - began:.0f} s)")


def count_reports(db: Database) -> int:
    return db.scalar("SELECT count(*) FROM reports")


def database_size(db: Database) -> int:
    return db.scalar("SELECT pg_database_size(current_database())")


# --- the timed batches --------------------------------------------------------------------


def real_mail() -> list[bytes]:
    """Every mail of the corpora's mail folders but the fuzz seeds, read from there."""
    found = []
    for folder in MAIL_FOLDERS:
        if folder == FUZZ_SEEDS:
            continue
        for path in sorted((CORPORA / folder).rglob("*")):
            if (
                path.is_file()
                and path.suffix.lower() not in NOT_MAIL
                and not path.name.isupper()  # LICENSE, NOTICE
                and path.stat().st_size <= MAX_MAIL
            ):
                found.append(path.read_bytes())
    if not found:
        raise SystemExit(f"no mail found under {CORPORA}")
    return found


def write_batch(folder: Path, mails: list[bytes], run: int) -> Dataset:
    """The mails as one mbox, each with its own Message-ID (new to the database)."""
    path = folder / f"batch-{run}.mbox"
    mix = Mix()
    with path.open("wb") as out:
        for i, raw in enumerate(mails):
            message = canonical(raw, BATCH_NUMBER + run * 100_000 + i)
            out.write(mbox_entry(message))
            mix.sizes.append(len(message))
    return Dataset(path.stem, path, len(mails), mix)


class Rewinder:
    """Deletes whatever a timed batch added, so the next batch meets the same database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        with db.connect() as conn:
            rows = conn.execute(
                "SELECT table_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND column_name = 'id'"
            ).fetchall()
            self.top = {}
            for (name,) in rows:
                row = conn.execute(f'SELECT max(id) FROM "{name}"').fetchone()
                self.top[str(name)] = int(row[0] or 0) if row else 0

    def rewind(self) -> int:
        deleted = 0
        with self.db.connect() as conn, conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            for name, top in self.top.items():
                done = conn.execute(f'DELETE FROM "{name}" WHERE id > %s', (top,))
                deleted += done.rowcount
        with self.db.connect() as conn:
            for name in self.top:
                conn.execute(f'VACUUM ANALYZE "{name}"')
        return deleted


@dataclass
class Level:
    stored: int  # reports stored when the batches ran
    size_mb: float  # database size then
    costs: list[float]  # wall ms per message, one per batch
    cpu: list[float]  # CPU ms per message of the importing process

    @property
    def cost(self) -> float:
        return statistics.median(self.costs)


def time_batches(dbs: list[Database], batches: list[Dataset], work: Path) -> list[Level]:
    """Batch r runs on every database in turn (the order rotating), so a busy moment of
    the machine falls on all levels alike; each batch is rewound before the next."""
    levels = [Level(count_reports(db), database_size(db) / 2**20, [], []) for db in dbs]
    rewinders = [Rewinder(db) for db in dbs]
    for r, batch in enumerate(batches):
        order = [(r + i) % len(dbs) for i in range(len(dbs))]
        for i in order:
            level, label = levels[i], f"{levels[i].stored:,}"
            run = checked(run_import(batch.path, dbs[i].url, work, in_process=True), batch, label)
            level.costs.append(run.seconds / batch.count * 1000)
            level.cpu.append(run.cpu / batch.count * 1000)
            removed = rewinders[i].rewind()
            log(
                f"{label} stored: batch {r + 1}: {level.costs[-1]:.2f} ms/msg "
                f"({level.cpu[-1]:.2f} CPU ms; {run.reports} reports, {run.quarantined} "
                f"quarantined; {removed:,} rows rewound)"
            )
    return levels


# --- main ----------------------------------------------------------------------------------


def measures(levels: list[Level], runs: int, batch: int) -> list[Figure]:
    base = levels[0]
    out = []
    for level in levels[1:]:
        ratio = level.cost / base.cost
        out.append(
            Figure(
                name=f"import per message, PostgreSQL, {level.stored:,} reports stored",
                ours=level.cost,
                unit="ms/msg",
                anchor=base.cost,
                anchor_name=f"the same at {base.stored:,} stored",
                ratio=ratio,
                target=f"<= {GROWTH_TARGET:.2f}",
                passed=ratio <= GROWTH_TARGET,
                note=(
                    f"median of {runs} batches of {batch:,} real mails; "
                    f"db {level.size_mb:,.0f} MB; CPU {statistics.median(level.cpu):.2f} "
                    f"vs {statistics.median(base.cpu):.2f} ms"
                ),
                lower_is_better=True,
            )
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="10000,100000,1000000", help="reports stored")
    parser.add_argument("--runs", type=int, default=5, help="timed batches per level")
    parser.add_argument("--template", type=int, default=5_000, help="mails imported for real")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed")
    parser.add_argument("--json", type=Path, help="also write the measures to this file")
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",")]
    if len(levels) < 2 or levels != sorted(levels) or args.runs < 1:
        parser.error("--levels: at least two, ascending; --runs >= 1")

    began = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="intake-pg-growth-"))
    server = None
    try:
        mails = real_mail()
        batches = [write_batch(work, mails, run) for run in range(args.runs)]
        corpus = Corpus(work, args.seed, len(os.sched_getaffinity(0)))
        corpus.want("template", 0, args.template)
        corpus.generate()
        template = corpus.dataset("template")
        corpus.drop_pieces()

        server = start_postgres(new_base_dir(in_memory=False), fsync=True)
        log(f"PostgreSQL started (fsync on) at {server.url}")
        first = create_database(server, "stored_0")
        started = time.perf_counter()
        Filler(first.url).import_pool(template)
        log(
            f"imported {template.count:,} template mails through the pipeline "
            f"({time.perf_counter() - started:.0f} s; {count_reports(first):,} reports)"
        )
        frozen = freeze(first)
        if frozen.reports > levels[0]:
            raise SystemExit(
                f"the template gave {frozen.reports:,} reports, more than the first level "
                f"{levels[0]:,}: use a smaller --template"
            )
        # One database per level, each grown from a copy of the one below.
        dbs: list[Database] = []
        copies = 0
        for n, level in enumerate(levels):
            db = first if n == 0 else create_database(server, f"stored_{n}", copy_of=dbs[-1])
            grower = Grower(db, frozen, copies)
            grower.grow_to(level)
            settle(db)
            copies = grower.copies
            dbs.append(db)
        results = time_batches(dbs, batches, work)
        for done in results:
            log(f"{done.stored:,} stored: median {done.cost:.2f} ms/msg, db {done.size_mb:,.0f} MB")
    finally:
        if server is not None:
            server.close()
        shutil.rmtree(work, ignore_errors=True)

    found = measures(results, args.runs, len(mails))
    print(
        f"PostgreSQL growth, code {code_version()}: `intake import` of {len(mails):,} real mails "
        f"(../shared/corpora) per batch, median of {args.runs}; fsync on"
    )
    print(f"  {'reports stored':>14}  {'db size':>9}  {'ms/msg':>7}  {'CPU ms':>7}  ratio")
    for done in results:
        print(
            f"  {done.stored:>14,}  {done.size_mb:>6,.0f} MB  {done.cost:>7.2f}  "
            f"{statistics.median(done.cpu):>7.2f}  {done.cost / results[0].cost:5.2f}"
        )
    top = found[-1]
    print(
        f"cost at {results[-1].stored:,} / at {results[0].stored:,}: {top.ratio:.2f} "
        f"(target {top.target}): {'PASS' if top.passed else 'FAIL'}; "
        f"took {(time.perf_counter() - began) / 60:.1f} min"
    )
    if args.json:
        write_json(args.json, "pg_growth", found)
    return 0 if all(m.passed for m in found) else 1


if __name__ == "__main__":
    sys.exit(main())
