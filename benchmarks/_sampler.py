"""Peak memory and CPU time of the server, sampled on a background thread."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

import psutil

__all__ = ["ProcessSampler"]


def _idle(times: Any) -> float:
    # iowait is counted apart from idle on Linux only.
    return float(times.idle + getattr(times, "iowait", 0.0))


def _server_processes(pid: int) -> list[psutil.Process]:
    # The server and, with FLOWGUARD_WORKERS, its worker processes; never
    # other children such as an embedded database.
    server = psutil.Process(pid)
    workers = [c for c in server.children() if "--worker" in c.cmdline()]
    return [server, *workers]


class ProcessSampler:
    """Samples the RSS of the server (with its workers, not other children)
    until closed; RSS and CPU time are summed over those processes.

    Use as a context manager. ``first_rss_bytes`` is the sample taken on
    entry, ``peak_rss_bytes`` the largest, and ``cpu_s`` the user and
    system CPU time the process used between entry and exit.
    ``machine_busy`` is the share of all CPUs of the machine that was busy
    meanwhile, from 0 to 1.
    """

    def __init__(self, pid: int, interval_s: float = 0.1) -> None:
        self._processes = _server_processes(pid)
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="bench-process-sampler", daemon=True
        )
        self._cpu_at_entry = 0.0
        self._machine_at_entry = psutil.cpu_times()
        self.first_rss_bytes = 0
        self.peak_rss_bytes = 0
        self.cpu_s = 0.0
        self.machine_busy = 0.0

    def _cpu(self) -> float:
        total = 0.0
        for process in self._processes:
            times = process.cpu_times()
            total += times.user + times.system
        return total

    def _sample(self) -> bool:
        try:
            rss = sum(int(p.memory_info().rss) for p in self._processes)
        except psutil.Error:
            # The process is gone; the samples taken so far stand.
            return False
        self.peak_rss_bytes = max(self.peak_rss_bytes, rss)
        return True

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            if not self._sample():
                return

    def _machine_busy(self) -> float:
        before, after = self._machine_at_entry, psutil.cpu_times()
        total = sum(after) - sum(before)
        idle = _idle(after) - _idle(before)
        return 1 - idle / total if total > 0 else 0.0

    def __enter__(self) -> ProcessSampler:
        self._machine_at_entry = psutil.cpu_times()
        self._cpu_at_entry = self._cpu()
        self._sample()
        self.first_rss_bytes = self.peak_rss_bytes
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.machine_busy = self._machine_busy()
        if self._sample():
            self.cpu_s = self._cpu() - self._cpu_at_entry
