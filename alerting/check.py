"""``flowguard rules check FILE``: check a rule file without a server.

On success it prints one line saying what the file holds, then any
warnings, and exits 0; otherwise it prints each error as ``FILE:LINE:
message`` on stderr and exits 1. Channel URLs are checked by apprise
without sending anything; ``${NAME}`` references are filled in from the
environment, so a variable the server would see must be set here too.
"""

from __future__ import annotations

import sys

from alerting.model import RuleSet
from alerting.rulefile import RuleFileError, load_rules, warnings

__all__ = ["check_command", "summary"]


def check_command(path: str) -> int:
    """Run ``flowguard rules check``; return the exit code (0 or 1)."""
    try:
        ruleset = load_rules(path)
    except RuleFileError as exc:
        print(exc, file=sys.stderr)
        count = len(exc.errors)
        print(f"{path}: {_counted(count, 'error')}", file=sys.stderr)
        return 1
    print(summary(ruleset))
    for note in warnings(ruleset):
        print(f"{path}: warning: {note}", file=sys.stderr)
    return 0


def summary(ruleset: RuleSet) -> str:
    """One line: ``rules.yaml: 5 rules in 1 group, 2 routes, 3 channels``."""
    counts = (
        _counted(len(ruleset.rules), "rule"),
        _counted(len(ruleset.groups), "group"),
        _counted(len(ruleset.routes), "route"),
        _counted(len(ruleset.channels), "channel"),
    )
    return f"{ruleset.path}: {counts[0]} in {counts[1]}, {counts[2]}, {counts[3]}"


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
