"""The writer: group-commit binary COPY with bounded bytes in flight.

Every export request becomes one Batch. ``submit`` admits it against the
in-flight byte bound and waits until its rows are committed. A flusher task
gathers the batches of concurrent requests and writes them together, one
binary COPY per table in one transaction, when enough rows or bytes wait or
a few milliseconds have passed. Then every waiting request is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Container, Iterable
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from flowguard._ratelimit import RateLimitedWarning
from flowguard.errors import (
    BackpressureError,
    StorageError,
    StorageUnavailableError,
)
from processing.batch import Batch
from storage.schema import LOG_PATTERNS, METRIC_SERIES, TABLES, Table

__all__ = ["Writer", "WriterSettings"]

logger = logging.getLogger(__name__)

_SERIES_CACHE_MAX = 200_000


@dataclass(frozen=True, slots=True)
class WriterSettings:
    """Limits of the writer."""

    max_inflight_bytes: int = 64 * 1024 * 1024
    batch_max_rows: int = 5000
    batch_max_bytes: int = 4 * 1024 * 1024
    batch_delay_ms: int = 5
    max_concurrent_flushes: int = 2
    probe_interval_s: float = 1.0


@dataclass(slots=True)
class _Pending:
    batch: Batch
    done: asyncio.Future[None]


class Writer:
    """Commits batches to the database; see the module docstring."""

    def __init__(self, pool: AsyncConnectionPool, settings: WriterSettings) -> None:
        self._pool = pool
        self._settings = settings
        self._pending: list[_Pending] = []
        self._pending_rows = 0
        self._pending_bytes = 0
        self._oldest = 0.0
        self._inflight_bytes = 0
        self._wakeup = asyncio.Event()
        self._flushes = asyncio.Semaphore(settings.max_concurrent_flushes)
        self._flush_tasks: set[asyncio.Task[None]] = set()
        self._known_series: OrderedDict[int, None] = OrderedDict()
        self._available = True
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._probe: asyncio.Task[None] | None = None
        self.commits = 0
        # Counted and rate-limited: a bad sender may trigger it per request.
        self.refused_warning = RateLimitedWarning(
            logger, "database refused a batch: %s"
        )

    @property
    def available(self) -> bool:
        """False while the database is known to be unreachable."""
        return self._available

    @property
    def known_series(self) -> Container[int]:
        """Series ids this writer has seen committed to the catalogue."""
        return self._known_series.keys()

    async def start(self) -> None:
        """Start the flusher task."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="writer-flusher")

    def admit(self, nbytes: int) -> None:
        """Reserve ``nbytes`` of the in-flight bound, or refuse retryably.

        Raises:
            StorageUnavailableError: the database is down or FlowGuard stops.
            BackpressureError: the bound is reached.
        """
        if self._closing:
            msg = "FlowGuard is shutting down; retry against another instance"
            raise StorageUnavailableError(msg)
        if not self._available:
            msg = "the database is unreachable; retry later"
            raise StorageUnavailableError(msg)
        limit = self._settings.max_inflight_bytes
        # One request larger than the whole bound still gets in when nothing
        # else is in flight, so no valid request is refused forever.
        if self._inflight_bytes and self._inflight_bytes + nbytes > limit:
            msg = f"{self._inflight_bytes} bytes in flight, limit {limit}; retry later"
            raise BackpressureError(msg)
        self._inflight_bytes += nbytes

    def release(self, nbytes: int) -> None:
        """Give back bytes reserved by ``admit``."""
        self._inflight_bytes -= nbytes

    async def write(self, batch: Batch) -> None:
        """Queue ``batch`` and wait until its rows are committed.

        The caller must have admitted ``batch.nbytes`` and releases it after.

        Raises:
            StorageUnavailableError: not committed; retrying will help.
            StorageError: the database refused the rows.
        """
        if batch.row_count == 0:
            return
        if self._closing and self._task is None:
            msg = "the writer is stopped"
            raise StorageUnavailableError(msg)
        done = asyncio.get_running_loop().create_future()
        if not self._pending:
            self._oldest = time.monotonic()
        self._pending.append(_Pending(batch, done))
        self._pending_rows += batch.row_count + len(batch.series)
        self._pending_bytes += batch.nbytes
        self._wakeup.set()
        await asyncio.shield(done)

    def _full(self) -> bool:
        return (
            self._pending_rows >= self._settings.batch_max_rows
            or self._pending_bytes >= self._settings.batch_max_bytes
        )

    async def _run(self) -> None:
        delay_s = self._settings.batch_delay_ms / 1000
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if not self._pending:
                if self._closing:
                    return
                continue
            wait_s = self._oldest + delay_s - time.monotonic()
            # Gather more rows only while another flush is running: an idle
            # writer commits at once, a busy one groups what arrives meanwhile.
            busy = bool(self._flush_tasks)
            if busy and wait_s > 0 and not self._full() and not self._closing:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), wait_s)
                self._wakeup.clear()
                if not self._full() and time.monotonic() < self._oldest + delay_s:
                    self._wakeup.set()
                    continue
            await self._flushes.acquire()
            taken = self._take()
            task = asyncio.create_task(self._flush(taken), name="writer-flush")
            self._flush_tasks.add(task)
            task.add_done_callback(self._flush_tasks.discard)
            if self._pending:
                self._wakeup.set()

    def _take(self) -> list[_Pending]:
        taken, self._pending = self._pending, []
        self._pending_rows = 0
        self._pending_bytes = 0
        return taken

    async def _flush(self, taken: list[_Pending]) -> None:
        try:
            await self._commit_or_split(taken)
        finally:
            self._flushes.release()
            if self._pending:
                self._wakeup.set()

    async def _commit_or_split(self, taken: list[_Pending]) -> None:
        try:
            await self._commit([p.batch for p in taken])
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            self._mark_down(exc)
            error = StorageUnavailableError(f"the database is unreachable: {exc}")
            _fail(taken, error)
            return
        except psycopg.Error as exc:
            if len(taken) == 1:
                self.refused_warning(exc)
                _fail(taken, StorageError(f"the database refused the rows: {exc}"))
                return
            # One bad request must not fail the others: write each alone.
            for pending in taken:
                await self._commit_or_split([pending])
            return
        for pending in taken:
            if not pending.done.done():
                pending.done.set_result(None)

    async def _commit(self, batches: list[Batch]) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            new_series = self._new_series(batches)
            if new_series:
                await _insert_series(conn, new_series)
            patterns = {pid: r for b in batches for pid, r in b.patterns.items()}
            if patterns:
                await _upsert_patterns(conn, list(patterns.values()))
            for name, table in TABLES.items():
                rows = [b.rows[name] for b in batches if b.rows.get(name)]
                if rows:
                    await _copy(conn, name, table.column_names, table.types, rows)
        self.commits += 1
        for row in new_series:
            self._remember_series(int(row[0]))  # type: ignore[call-overload]

    def _new_series(self, batches: list[Batch]) -> list[tuple[object, ...]]:
        seen: dict[int, tuple[object, ...]] = {}
        for batch in batches:
            for sid, row in batch.series.items():
                if sid not in self._known_series:
                    seen.setdefault(sid, row)
        return list(seen.values())

    def _remember_series(self, sid: int) -> None:
        if len(self._known_series) >= _SERIES_CACHE_MAX:
            # Forget the oldest entry; a forgotten series is inserted again
            # with ON CONFLICT DO NOTHING, which is harmless.
            self._known_series.popitem(last=False)
        self._known_series[sid] = None

    def _mark_down(self, exc: Exception) -> None:
        if not self._available:
            return
        self._available = False
        logger.warning(
            "database unreachable, refusing exports until it is back: %s", exc
        )
        self._probe = asyncio.create_task(self._probe_until_up(), name="writer-probe")

    async def _probe_until_up(self) -> None:
        while not self._closing:
            await asyncio.sleep(self._settings.probe_interval_s)
            try:
                async with self._pool.connection() as conn:
                    await conn.execute("SELECT 1")
            except psycopg.Error as exc:
                logger.debug("database still unreachable: %s", exc)
                continue
            self._available = True
            logger.info("database reachable again, accepting exports")
            return

    async def stop(self, timeout_s: float = 30.0) -> None:
        """Refuse new batches, commit what was accepted, stop the tasks.

        Safe before ``start`` and twice.
        """
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            self._wakeup.set()
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout_s)
                if self._flush_tasks:
                    await asyncio.wait_for(
                        asyncio.gather(*self._flush_tasks), timeout_s
                    )
            except TimeoutError:
                logger.warning("writer did not flush within %.1f s", timeout_s)
                task.cancel()
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        _fail(self._take(), StorageUnavailableError("the writer stopped"))


def _fail(taken: Iterable[_Pending], error: Exception) -> None:
    for pending in taken:
        if not pending.done.done():
            pending.done.set_exception(error)


async def _merge(
    conn: psycopg.AsyncConnection,
    table: Table,
    rows: list[tuple[object, ...]],
    on_conflict: str,
) -> None:
    # COPY cannot skip or update existing keys, so rows go through a
    # temporary table and one INSERT ... ON CONFLICT.
    staging = f"_new_{table.name}"
    columns = sql.SQL(", ").join(map(sql.Identifier, table.column_names))
    await conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS)"
            " ON COMMIT DELETE ROWS"
        ).format(sql.Identifier(staging), sql.Identifier(table.name))
    )
    await _copy(conn, staging, table.column_names, table.types, [rows])
    await conn.execute(
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT {}").format(
            sql.Identifier(table.name),
            columns,
            columns,
            sql.Identifier(staging),
            sql.SQL(on_conflict),  # a constant of this module
        )
    )


async def _insert_series(
    conn: psycopg.AsyncConnection, rows: list[tuple[object, ...]]
) -> None:
    await _merge(conn, METRIC_SERIES, rows, "(series_id) DO NOTHING")


async def _upsert_patterns(
    conn: psycopg.AsyncConnection, rows: list[tuple[object, ...]]
) -> None:
    # Another process may have created the same pattern: keep the earliest
    # sighting and the latest template, which is the most general one seen.
    await _merge(
        conn,
        LOG_PATTERNS,
        rows,
        "(pattern_id) DO UPDATE SET"
        " template = EXCLUDED.template, lookup_key = EXCLUDED.lookup_key,"
        " first_seen = least(log_patterns.first_seen, EXCLUDED.first_seen),"
        " updated_at = now()",
    )


async def _copy(
    conn: psycopg.AsyncConnection,
    table: str,
    columns: tuple[str, ...],
    types: tuple[str, ...],
    groups: list[list[tuple[object, ...]]],
) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    async with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(list(types))
        for rows in groups:
            for row in rows:
                await copy.write_row(row)
