"""``flowguard serve`` in a subprocess, on one database, with free ports."""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from benchmarks._errors import BenchmarkError
from flowguard.config import Settings, to_environment

__all__ = ["ServeProcess"]

logger = logging.getLogger(__name__)

_HTTP_PORT = re.compile(r"otlp http listening on [^:\s]+:(\d+)")
_READY = "flowguard ready"
_POLL_S = 0.05


def _environment(
    settings: Settings, database_url: str, data_dir: Path
) -> dict[str, str]:
    # Every setting goes to the child explicitly, so it runs with exactly
    # these settings whatever the environment or a config file says.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWGUARD_")}
    env.update(to_environment(settings))
    env.update(
        FLOWGUARD_DATABASE_URL=database_url,
        FLOWGUARD_DATA_DIR=str(data_dir),
        FLOWGUARD_OTLP_GRPC_PORT="0",
        FLOWGUARD_OTLP_HTTP_PORT="0",
        FLOWGUARD_HTTP_PORT="0",
    )
    return env


class ServeProcess:
    """A ``flowguard serve`` process; a context manager that always stops it."""

    def __init__(self, settings: Settings, database_url: str) -> None:
        self._root = Path(tempfile.mkdtemp(prefix="flowguard-bench-serve-"))
        self._log_path = self._root / "serve.log"
        self._env = _environment(settings, database_url, self._root / "data")
        self._process: subprocess.Popen[bytes] | None = None
        self.otlp_http_port = 0

    @property
    def pid(self) -> int:
        """The process id of the running server."""
        if self._process is None:
            msg = "flowguard serve is not started"
            raise BenchmarkError(msg)
        return self._process.pid

    def log_text(self) -> str:
        """Everything the server has logged so far."""
        return self._log_path.read_text(errors="replace")

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the server and wait until it logs that it is ready.

        Raises:
            BenchmarkError: it exited or did not get ready in time.
        """
        with open(self._log_path, "wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "flowguard", "serve"],
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: a Ctrl-C reaches only the benchmark,
                # which then stops the server in order.
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = self.log_text()
            if _READY in text:
                self.otlp_http_port = _http_port(text)
                return
            if self._process.poll() is not None:
                msg = f"flowguard serve exited at start:\n{_tail(text)}"
                raise BenchmarkError(msg)
            time.sleep(_POLL_S)
        text = _tail(self.log_text())
        msg = f"flowguard serve not ready after {timeout_s:.0f} s:\n{text}"
        raise BenchmarkError(msg)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout_s``; return the exit code.

        Safe before ``start`` and twice.
        """
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                logger.warning("flowguard serve ignored SIGTERM; killing it")
                process.kill()
                process.wait()
        return process.returncode

    def _close(self) -> None:
        try:
            code = self.stop()
            if code:
                text = _tail(self.log_text())
                logger.warning("flowguard serve exited with %s:\n%s", code, text)
        finally:
            shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> ServeProcess:
        try:
            self.start()
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._close()


def _http_port(text: str) -> int:
    match = _HTTP_PORT.search(text)
    if match is None:
        msg = f"flowguard serve logged no OTLP/HTTP port:\n{_tail(text)}"
        raise BenchmarkError(msg)
    return int(match[1])


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.splitlines()[-lines:])
