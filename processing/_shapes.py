"""Shapes of masked messages: how tokens generalise and how shapes align.

A shape is the list of tokens of a masked message, or of a pattern, where
``<*>`` stands for a variable. Patterns keep one shape per token count; the
functions here compare and merge them for ``processing.patterns``.
"""

from __future__ import annotations

import functools
import re

from processing._masking import WILDCARD

__all__ = ["Ends", "fits", "fold", "merge_token", "stretch"]

# A walk along two shapes passes a differing token only after this many
# equal ones; they are the route tokens, which never differ.
_FIRM = 2
# The least share of tokens two shapes of different lengths must have in
# common, outside their differing stretch, to be one pattern.
_MIN_COVER = 0.5
# A stretch that is the value of a label (``reason: ...``) must follow at
# least this many shared tokens, so that ``usb 1-1: <message>`` does not
# make every message of a component one pattern.
_LABELLED_START = 4
_PART_DELIMITERS = frozenset('=:|,;()[]{}"')
_KEY = re.compile(r"[A-Za-z_][\w.-]*[=:]")


def _split_parts(token: str) -> list[str]:
    parts: list[str] = []
    start = 0
    for index, char in enumerate(token):
        if char in _PART_DELIMITERS:
            parts.append(token[start:index])
            parts.append(char)
            start = index + 1
    parts.append(token[start:])
    return parts


def merge_token(old: str, new: str) -> str:
    """Generalise one token: keep the parts both share, wildcard the rest."""
    old_parts, new_parts = _split_parts(old), _split_parts(new)
    if len(old_parts) != len(new_parts) or len(old_parts) == 1:
        return WILDCARD
    merged = []
    for index, (mine, theirs) in enumerate(zip(old_parts, new_parts, strict=True)):
        if mine == theirs:
            merged.append(mine)
        elif index % 2:  # a delimiter differs: the structure is not the same
            return WILDCARD
        else:
            merged.append(WILDCARD)
    return "".join(merged)


@functools.lru_cache(maxsize=4096)
def _token_pattern(token: str) -> re.Pattern[str]:
    parts = (re.escape(part) for part in token.split(WILDCARD))
    return re.compile(".+?".join(parts), re.DOTALL)


def fits(known: str, token: str) -> bool:
    """Whether a token fits a pattern token that holds ``<*>``: a pattern
    token ``state=<*>`` takes ``state=RUNNING``."""
    return _token_pattern(known).fullmatch(token) is not None


def _collapse(shape: list[str]) -> list[str]:
    out: list[str] = []
    for token in shape:
        if token != WILDCARD or not out or out[-1] != WILDCARD:
            out.append(token)
    return out


def fold(first: list[str], second: list[str]) -> list[str]:
    """One template for two shapes of different lengths: their common start
    and end, with one ``<*>`` for the stretch between."""
    size = min(len(first), len(second))
    start: list[str] = []
    while len(start) < size:
        mine, theirs = first[len(start)], second[len(start)]
        if mine != theirs and WILDCARD not in (mine, theirs):
            break
        start.append(mine if mine == theirs else WILDCARD)
    end: list[str] = []
    while len(start) + len(end) < size:
        mine, theirs = first[-1 - len(end)], second[-1 - len(end)]
        if mine != theirs and WILDCARD not in (mine, theirs):
            break
        end.append(mine if mine == theirs else WILDCARD)
    return _collapse([*start, WILDCARD, *reversed(end)])


class Ends:
    """How two token lists of different lengths line up: a shared start and
    end, each allowing single differing tokens between equal ones (swaps),
    and the stretch between them on each side. ``tail`` aligns the lists
    by their starts only."""

    __slots__ = ("end", "known", "shape", "start", "swaps")

    def __init__(self, known: list[str], shape: list[str], *, tail: bool) -> None:
        self.known, self.shape = known, shape
        size = min(len(known), len(shape))
        self.swaps: list[int] = []
        self.start = self._walk(range(size), size)
        ends = range(-1, -1 - (size - self.start), -1)
        self.end = 0 if tail else self._walk(ends, size - self.start)

    def _walk(self, positions: range, limit: int) -> int:
        known, shape, count = self.known, self.shape, 0
        while count < limit:
            at = positions[count]
            if known[at] == shape[at]:
                count += 1
                continue
            after = count + 1
            if count < _FIRM or after >= limit:
                break
            if known[positions[after]] != shape[positions[after]]:
                break
            self.swaps.append(at)
            count += 1
        return count

    def stretches(self) -> tuple[list[str], list[str]]:
        """The differing stretch of each list."""
        known, shape, start, end = self.known, self.shape, self.start, self.end
        return known[start : len(known) - end], shape[start : len(shape) - end]

    def cover(self) -> float:
        """The share of tokens shared outside the stretch."""
        longest = max(len(self.known), len(self.shape))
        return (self.start + self.end - len(self.swaps)) / longest

    def stretched(self) -> list[str]:
        """The message's shape with its stretch and swaps as ``<*>``."""
        shape = list(self.shape)
        for at in self.swaps:
            shape[at] = WILDCARD
        for at in range(self.start, len(shape) - self.end):
            shape[at] = WILDCARD
        return shape


def _is_field(token: str) -> bool:
    return token.find("=") > 0


def _opens_value(ends: Ends, mine: list[str], theirs: list[str]) -> bool:
    """Whether the stretch is the free-text value of a label or key:
    ``reason: <text>``, ``name=<text>``."""
    start = ends.start
    key = _KEY.match(mine[0])
    if key is not None and theirs[0].startswith(key.group()):
        start += 1  # both stretches open with the same key
    elif not ends.known[ends.start - 1].endswith((":", "=")):
        return False
    shortest = min(len(ends.known), len(ends.shape))
    return start >= _LABELLED_START and 2 * start >= shortest


def _accepts(ends: Ends) -> bool:
    """Whether two lists differ only in one variable stretch."""
    if ends.start < _FIRM:
        return False
    mine, theirs = ends.stretches()
    if mine and theirs:
        return _opens_value(ends, mine, theirs)
    # Key=value fields that a statement may leave out.
    fields = all(_is_field(token) for token in mine or theirs)
    return fields and ends.cover() >= _MIN_COVER


def stretch(known: list[str], shape: list[str]) -> Ends | None:
    """The best way to see two lists as one pattern with a variable stretch,
    or None."""
    if known[:_FIRM] != shape[:_FIRM]:
        return None  # the shared start _accepts needs is missing
    best = None
    for tail in (False, True):
        ends = Ends(known, shape, tail=tail)
        if _accepts(ends) and (best is None or ends.cover() > best.cover()):
            best = ends
    return best
