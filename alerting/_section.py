"""Typed reading of one mapping of a rule file, with checks that collect.

A ``Section`` wraps a ``MapNode`` with a name for messages ("rule 'X'
(line 12)") and the keys it accepts. Each reader returns the value, or
None (or the default) when the key is missing or its value is wrong; the
reason goes to the shared error list with the line of the offending node.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Collection, Sequence

from alerting._yaml import ListNode, MapNode, Node, RuleError, Scalar, describe
from flowguard.durations import parse_duration

__all__ = ["NAME", "Section", "is_empty", "suggestion"]

# Alert, label and annotation names, as Prometheus writes label names.
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def suggestion(word: str, choices: Collection[str]) -> str:
    """The hint "; did you mean 'x'?" for the closest choice, or ''."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class Section:
    """The keys of one mapping, read with checks (see the module docstring).

    Keys outside ``accepted`` are reported when the section is made.
    """

    def __init__(
        self,
        node: MapNode,
        where: str,
        accepted: Sequence[str],
        errors: list[RuleError],
    ) -> None:
        self.node = node
        self.where = where
        self.errors = errors
        for key, line in node.key_lines.items():
            if key not in accepted:
                known = ", ".join(accepted)
                hint = suggestion(key, accepted)
                self.error(line, f"unknown key {key!r}{hint} (accepted keys: {known})")

    @property
    def line(self) -> int:
        """The line the mapping starts on."""
        return self.node.line

    def error(self, line: int, message: str) -> None:
        """Record a problem at ``line``, prefixed with where it is."""
        prefix = f"{self.where}: " if self.where else ""
        self.errors.append(RuleError(line, prefix + message))

    def has(self, key: str) -> bool:
        """Whether the key is written."""
        return key in self.node.entries

    def get(self, key: str) -> Node | None:
        """The key's value as written, or None."""
        return self.node.entries.get(key)

    def key_line(self, key: str) -> int:
        """The line of the key, or of the mapping when it is missing."""
        return self.node.key_lines.get(key, self.node.line)

    def wrong(self, node: Node, what: str, expected: str) -> None:
        """Report that ``node`` (called ``what``) is not ``expected``."""
        if not isinstance(node, Scalar) or node.ok:
            self.error(node.line, f"{what} must be {expected}, got {describe(node)}")

    def require(self, key: str, expected: str) -> None:
        """Report that the missing ``key`` is needed."""
        self.error(self.line, f"missing key {key!r}: {expected}")

    def text(self, key: str, required: bool = False) -> str | None:
        """A non-empty string."""
        node = self.get(key)
        if node is None:
            if required:
                self.require(key, "a non-empty string")
            return None
        return self.text_of(node, repr(key))

    def text_of(self, node: Node, what: str) -> str | None:
        """``node`` as a non-empty string."""
        if isinstance(node, Scalar) and isinstance(node.value, str) and node.value:
            return node.value
        self.wrong(node, what, "a non-empty string")
        return None

    def name(self, key: str, what: str) -> str | None:
        """A string matching ``NAME``; ``what`` says whose name it is."""
        text = self.text(key, required=True)
        if text is not None and NAME.match(text) is None:
            self.error(self.node.entries[key].line, _bad_name(what, text))
            return None
        return text

    def name_of(self, node: Node, what: str) -> str | None:
        """``node`` as a string matching ``NAME``."""
        text = self.text_of(node, what)
        if text is not None and NAME.match(text) is None:
            self.error(node.line, _bad_name(what, text))
            return None
        return text

    def choice(self, key: str, choices: Collection[str], what: str) -> str | None:
        """One of ``choices``; ``what`` names them in messages ("KPI")."""
        node = self.get(key)
        if node is None:
            return None
        return self.choice_of(node, choices, what)

    def choice_of(self, node: Node, choices: Collection[str], what: str) -> str | None:
        """``node`` as one of ``choices``."""
        text = self.text_of(node, what)
        if text is None or text in choices:
            return text
        hint = suggestion(text, choices)
        known = ", ".join(choices)
        message = f"unknown {what} {text!r}{hint} (expected one of: {known})"
        self.error(node.line, message)
        return None

    def number(self, key: str) -> float | None:
        """A finite number (not a boolean, not a quoted number)."""
        node = self.get(key)
        if node is None:
            return None
        value = _finite(node.value) if isinstance(node, Scalar) else None
        if value is not None:
            return value
        self.wrong(node, repr(key), "a finite number such as 0.05 or 1000 (unquoted)")
        return None

    def integer(self, key: str) -> int | None:
        """An integer (not a boolean, not a quoted number)."""
        node = self.get(key)
        if node is None:
            return None
        value = node.value if isinstance(node, Scalar) else None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        self.wrong(node, repr(key), "an integer (unquoted)")
        return None

    def boolean(self, key: str, default: bool) -> bool:
        """true or false."""
        node = self.get(key)
        if node is None:
            return default
        if isinstance(node, Scalar) and isinstance(node.value, bool):
            return node.value
        self.wrong(node, repr(key), "true or false")
        return default

    def duration_s(self, key: str, default_s: float, minimum_s: float = 1.0) -> float:
        """A duration such as ``15m``, in seconds, at least ``minimum_s``."""
        node = self.get(key)
        if node is None:
            return default_s
        if not isinstance(node, Scalar) or not isinstance(node.value, str):
            form = "a duration with a unit, such as 30s, 15m, 1h or 7d"
            self.wrong(node, repr(key), form)
            return default_s
        try:
            seconds = parse_duration(node.value).total_seconds()
        except ValueError as exc:
            self.error(node.line, f"{key!r}: {exc}")
            return default_s
        if seconds < minimum_s:
            least = f"at least {minimum_s:g}s" if minimum_s > 0 else "0s or more"
            self.error(node.line, f"{key!r} must be {least}, got {node.value!r}")
            return default_s
        return seconds

    def names(self, key: str, what: str, named: bool = False) -> tuple[str, ...] | None:
        """A string, or a list of strings (each matching ``NAME`` when
        ``named``); None when the key is missing."""
        node = self.get(key)
        if node is None:
            return None
        items = node.items if isinstance(node, ListNode) else (node,)
        if is_empty(node):
            items = ()
        read = self.name_of if named else self.text_of
        found = (read(item, what) for item in items)
        return tuple(text for text in found if text is not None)

    def items(self, key: str, what: str) -> tuple[Node, ...]:
        """The items of a list; a missing or empty value is no items."""
        node = self.get(key)
        if node is None or is_empty(node):
            return ()
        if isinstance(node, ListNode):
            return node.items
        self.wrong(node, repr(key), f"a list of {what}")
        return ()

    def mapping(self, key: str, what: str) -> MapNode | None:
        """A nested mapping; a missing or empty value is an empty one."""
        node = self.get(key)
        if node is None or is_empty(node):
            return MapNode({}, {}, self.key_line(key))
        if isinstance(node, MapNode):
            return node
        self.wrong(node, repr(key), f"a mapping of {what}")
        return None

    def strings(
        self, key: str, what: str, named: bool = True
    ) -> list[tuple[str, Scalar, str]]:
        """A mapping of names to strings: (name, value node, value) each.

        With ``named`` the names must match ``NAME`` (labels, annotations;
        attribute keys may have dots). Values must be strings.
        """
        node = self.mapping(key, f"{what}s to strings")
        if node is None:
            return []
        found = []
        for name, value in node.entries.items():
            line = node.key_lines[name]
            if named and NAME.match(name) is None:
                self.error(line, _bad_name(what, name))
                continue
            if isinstance(value, Scalar) and isinstance(value.value, str):
                found.append((name, value, value.value))
                continue
            quote = " (quote numbers and booleans)" if isinstance(value, Scalar) else ""
            self.wrong(value, f"{what} {name!r}", f"a string{quote}")
        return found


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def is_empty(node: Node) -> bool:
    """Whether ``node`` is written empty: nothing, ``[]`` or ``{}``."""
    if isinstance(node, Scalar):
        return node.ok and node.value is None
    if isinstance(node, ListNode):
        return not node.items
    return not node.entries


def _bad_name(what: str, text: str) -> str:
    return (
        f"{what} name {text!r} is not valid: expected letters, digits and _, "
        "not starting with a digit"
    )
