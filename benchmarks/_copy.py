"""The floor to compare against: binary COPY of ready rows on one connection.

The statement, the column list, ``set_types`` and ``write_row`` are those
of the writer's COPY in storage/writer.py, and the connection comes from a
pool opened by ``storage.database.open_pool``, so it is set up as the
writer's are. Only the HTTP server, decoding, processing and group commit
are left out.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from benchmarks._errors import BenchmarkError
from processing.batch import Row
from storage.database import open_pool
from storage.schema import Table

__all__ = ["CopyReport", "copy_rows"]


@dataclass(frozen=True, slots=True)
class CopyReport:
    """Rows sent by COPY, committed transactions, and the timed seconds."""

    rows: int
    transactions: int
    elapsed_s: float


def _statement(table: Table) -> sql.Composed:
    columns = sql.SQL(", ").join(map(sql.Identifier, table.column_names))
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table.name), columns
    )


async def _copy_transaction(
    conn: psycopg.AsyncConnection,
    statement: sql.Composed,
    types: list[str],
    rows: Iterable[Row],
) -> None:
    async with conn.transaction(), conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(types)
        for row in rows:
            await copy.write_row(row)


async def copy_rows(
    url: str,
    table: Table,
    rows: Sequence[Row],
    rows_per_transaction: int,
    seconds: float,
) -> CopyReport:
    """COPY ``rows`` into ``table`` over and over for ``seconds``.

    Each transaction holds ``rows_per_transaction`` rows, taken in turn
    from ``rows``; a transaction started before the deadline finishes.

    Raises:
        BenchmarkError: there are no rows to copy.
    """
    if not rows:
        msg = f"no {table.name} rows to copy"
        raise BenchmarkError(msg)
    statement = _statement(table)
    types = list(table.types)
    source = itertools.cycle(rows)
    transactions = 0
    pool = await open_pool(url, 1)
    try:
        async with pool.connection() as conn:
            started = time.monotonic()
            deadline = started + seconds
            while time.monotonic() < deadline:
                chunk = itertools.islice(source, rows_per_transaction)
                await _copy_transaction(conn, statement, types, chunk)
                transactions += 1
            elapsed_s = time.monotonic() - started
    finally:
        await pool.close()
    return CopyReport(transactions * rows_per_transaction, transactions, elapsed_s)
