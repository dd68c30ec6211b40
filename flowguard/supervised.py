"""What a worker process tells the supervisor that started it.

Kept apart from ``flowguard.workers``, which imports the service, so that
the service can use it too.
"""

from __future__ import annotations

import contextlib
import os
import signal

__all__ = [
    "READY_FD_VARIABLE",
    "SUPERVISOR_PID_VARIABLE",
    "reload_every_worker",
    "signal_ready",
]

# A worker writes one byte to this inherited file descriptor once it serves.
READY_FD_VARIABLE = "FLOWGUARD_READY_FD"
# The supervisor's process id, in each worker's environment.
SUPERVISOR_PID_VARIABLE = "FLOWGUARD_SUPERVISOR_PID"


def signal_ready() -> None:
    """Tell the supervisor, if there is one, that this worker serves."""
    fd = os.environ.get(READY_FD_VARIABLE)
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.write(int(fd), b"1")
        os.close(int(fd))


def reload_every_worker() -> bool:
    """Ask the supervisor, if this process is one of its workers, to make
    every worker reload the alert rules (it passes SIGHUP on to each);
    whether it was asked.

    Only the process named in the environment is signalled, and only while
    it is this process's parent: a worker started by hand has no one to ask.
    """
    named = os.environ.get(SUPERVISOR_PID_VARIABLE, "")
    parent = os.getppid()
    if not named.isdigit() or int(named) != parent or parent <= 1:
        return False
    try:
        os.kill(parent, signal.SIGHUP)
    except OSError:
        return False
    return True
