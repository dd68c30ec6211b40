"""Apply the versioned SQL files in ``migrations/`` in order, once each."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from storage.database import ensure_timescaledb

__all__ = ["Migration", "apply_migrations", "load_migrations"]

logger = logging.getLogger(__name__)

# Any constant works; it only has to be the same in every FlowGuard process.
_LOCK_KEY = 0x466C6F77_4D696772  # "FlowMigr"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One SQL file: its version number, name and text."""

    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """The migrations shipped with FlowGuard, in version order."""
    found = []
    for entry in resources.files("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(
                Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8"))
            )
    return sorted(found, key=lambda m: m.version)


async def apply_migrations(conn: psycopg.AsyncConnection) -> list[Migration]:
    """Prepare the database and apply pending migrations, each in its own
    transaction.

    A session advisory lock makes concurrent callers wait for each other, so
    two processes starting at once create the extension and apply every
    migration exactly once. Returns the migrations applied by this call.
    """
    await conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        await ensure_timescaledb(conn)
        return await _apply_pending(conn)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


async def _apply_pending(conn: psycopg.AsyncConnection) -> list[Migration]:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    cur = await conn.execute("SELECT version FROM schema_migrations")
    done = {row[0] for row in await cur.fetchall()}
    applied: list[Migration] = []
    for migration in load_migrations():
        if migration.version in done:
            continue
        async with conn.transaction():
            await conn.execute(migration.sql.encode())
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
        logger.info("applied migration %04d_%s", migration.version, migration.name)
        applied.append(migration)
    return applied
