"""Several serving processes sharing the same ports.

With ``FLOWGUARD_WORKERS`` above one, ``flowguard serve`` becomes a
supervisor: it starts the embedded database when no URL is configured,
applies migrations once, then runs that many ``flowguard serve --worker``
processes. Each binds the OTLP and API ports with SO_REUSEPORT, so the
kernel spreads connections across them, and each has its own writer and
pool: processing, which runs on one core per process, scales with cores.
On SIGINT or SIGTERM the supervisor stops the workers (each flushes what it
accepted) and then the embedded database; SIGHUP is passed on to the
workers, which reload the alert rules (a worker asked to reload through
the API sends the supervisor a SIGHUP, so that all of them do). When a
worker dies, the others are stopped too and the supervisor exits with
status 1, so that whatever runs FlowGuard can restart it whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import socket
import sys

from alerting.rulefile import load_rules
from flowguard.config import Settings
from flowguard.service import prepare_database
from flowguard.supervised import READY_FD_VARIABLE, SUPERVISOR_PID_VARIABLE
from storage.embedded import EmbeddedPostgres

__all__ = ["Supervisor"]

logger = logging.getLogger(__name__)

_START_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 60.0


def _free_port(bind: str) -> int:
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    with socket.socket(family) as sock:
        sock.bind((bind, 0))
        return int(sock.getsockname()[1])


def _fixed_ports(settings: Settings) -> Settings:
    # Every worker must bind the same ports, so a port left to the system
    # (0) is chosen here, once.
    return dataclasses.replace(
        settings,
        otlp_grpc_port=settings.otlp_grpc_port or _free_port(settings.bind),
        otlp_http_port=settings.otlp_http_port or _free_port(settings.bind),
        http_port=settings.http_port or _free_port(settings.bind),
    )


def _check_rules(settings: Settings) -> None:
    """Refuse to start workers with a rule file they would refuse."""
    path = settings.rules_path
    if settings.rules is not None or path.exists():
        load_rules(path)


class Supervisor:
    """Runs and stops the worker processes; see the module docstring."""

    def __init__(self, settings: Settings) -> None:
        self._settings = _fixed_ports(settings)
        self._workers: list[asyncio.subprocess.Process] = []

    def _environment(self, database_url: str) -> dict[str, str]:
        s = self._settings
        return {
            **os.environ,
            "FLOWGUARD_DATABASE_URL": database_url,
            "FLOWGUARD_WORKERS": "1",
            "FLOWGUARD_OTLP_GRPC_PORT": str(s.otlp_grpc_port),
            "FLOWGUARD_OTLP_HTTP_PORT": str(s.otlp_http_port),
            "FLOWGUARD_HTTP_PORT": str(s.http_port),
            SUPERVISOR_PID_VARIABLE: str(os.getpid()),
        }

    async def _spawn(self, env: dict[str, str]) -> None:
        read_fd, write_fd = os.pipe()
        try:
            worker = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "flowguard",
                "serve",
                "--worker",
                env={**env, READY_FD_VARIABLE: str(write_fd)},
                pass_fds=(write_fd,),
            )
        finally:
            os.close(write_fd)
        self._workers.append(worker)
        try:
            # EOF without the byte means the worker exited before serving.
            ready = await asyncio.wait_for(
                asyncio.to_thread(os.read, read_fd, 1), _START_TIMEOUT_S
            )
        finally:
            os.close(read_fd)
        if ready != b"1":
            msg = f"worker {worker.pid} exited before it was ready"
            raise RuntimeError(msg)

    async def run(self, stop: asyncio.Event) -> int:
        """Serve until ``stop`` is set or a worker dies; return the exit status."""
        embedded = None
        url = self._settings.database_url
        try:
            if url is None:
                embedded = EmbeddedPostgres(self._settings.data_dir)
                url = await embedded.start()
            _check_rules(self._settings)
            tier = await prepare_database(url)
            env = self._environment(url)
            asyncio.get_running_loop().add_signal_handler(
                signal.SIGHUP, self._forward, signal.SIGHUP
            )
            for _ in range(self._settings.workers):
                await self._spawn(env)
            logger.info(
                "%d workers serving on storage tier %s",
                len(self._workers),
                tier.tier,
            )
            logger.info("flowguard ready")
            return await self._serve_until(stop)
        finally:
            await self._stop_workers()
            if embedded is not None:
                await embedded.stop()

    def _forward(self, signum: int) -> None:
        """Pass a signal on to every worker (SIGHUP: reload the rules)."""
        for worker in self._workers:
            if worker.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.send_signal(signum)

    async def _serve_until(self, stop: asyncio.Event) -> int:
        stopping = asyncio.create_task(stop.wait(), name="supervisor-stop")
        exits = [
            asyncio.create_task(w.wait(), name=f"worker-{w.pid}") for w in self._workers
        ]
        done, _ = await asyncio.wait(
            [stopping, *exits], return_when=asyncio.FIRST_COMPLETED
        )
        if stopping in done:
            logger.info("stopping workers: each flushes what it accepted")
            return 0
        stopping.cancel()
        for worker in self._workers:
            if worker.returncode is not None:
                logger.error(
                    "worker %d exited with status %s; stopping the others",
                    worker.pid,
                    worker.returncode,
                )
        return 1

    async def _stop_workers(self) -> None:
        running = [w for w in self._workers if w.returncode is None]
        for worker in running:
            with contextlib.suppress(ProcessLookupError):
                worker.send_signal(signal.SIGTERM)
        for worker in running:
            try:
                await asyncio.wait_for(worker.wait(), _STOP_TIMEOUT_S)
            except TimeoutError:
                logger.warning("worker %d did not stop in time; killing it", worker.pid)
                worker.kill()
                await worker.wait()
        failed = [w.pid for w in self._workers if w.returncode not in (0, None)]
        if failed:
            logger.warning("workers %s exited with an error", failed)
        self._workers.clear()
