"""Variable masking and tokenising of log messages for the template miner.

A message is masked as a whole string, with a few compiled regular
expressions, before it is cut into tokens: that keeps the per-record work in
C and makes most tokens repeat exactly, so later steps can use dictionaries.

1. Dates written with month names (``Jun  1 12:00:00``, ``01/Jun/2024:...``)
   become ``<*>``; they contain spaces, so token rules cannot see them whole.
2. Values with a known shape become ``<*>``: URLs, e-mail addresses, MAC
   and IPv6 addresses, and file paths.
3. Every run of characters between delimiters that contains a digit becomes
   ``<*>``: numbers, hex, UUIDs, IPv4 with port, times, durations, sizes,
   ids. A
   short list of technical words that contain digits (``ssh2``, ``IPv4``,
   ``HTTP/1.1``) and source locations (``kubelet.go:2417``) are kept: they
   name things, they are not values.
4. Wildcards next to each other, joined by punctuation or spaces, become one
   ``<*>``, so a variable that spans several tokens (a date and a time, a
   list of ids) counts as one token.

Tokens are then cut at whitespace, except that a quoted string or a
``[...]`` group is one token even when it holds spaces: the number of tokens
of a message then does not depend on the length of what is quoted.
"""

from __future__ import annotations

import random
import re
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

__all__ = [
    "WILDCARD",
    "Masker",
    "ShapeMemo",
    "alternation",
    "digit_shape",
    "mask",
    "split_template",
    "tokens",
]

WILDCARD = "<*>"

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*"
_CLOCK = r"\d{1,2}:\d\d(?::\d\d(?:[.,]\d+)?)?"
_TEXT_DATE = re.compile(
    rf"\b(?:{_DAY},? +)?{_MONTH} +\d{{1,2}}(?:,? +\d{{4}})?(?: +{_CLOCK})?"
    rf"(?: +\d{{4}})?\b"
    rf"|\b\d{{1,2}}/{_MONTH}/\d{{4}}(?::{_CLOCK})?(?: [+-]\d{{4}})?"
)
# Dates with month names sit in the header of a line; looking for one only
# in its first characters saves a scan of every line.
_DATE_REACH = 64
_MONTH_NAME = re.compile(_MONTH[3:-7])

# Characters that end a path or a URL: quotes, brackets, separators, and the
# backslash of an escaped quote.
_STOP = r"\s\"'<>()\[\]{},;|\\"
# Each shape is looked for only when a cheap test on the text passes.
_URL = re.compile(rf"\b[a-zA-Z][\w+.-]*://[^{_STOP}]*")
_LIKELY_EMAIL = re.compile(r"@[\w-]+\.")
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]++@[\w-]+(?:\.[\w-]+)+\b")
_LIKELY_MAC = re.compile(r":[0-9a-fA-F]{2}:[0-9a-fA-F]{2}:")
_MAC = re.compile(r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}(?![\w:])")
# IPv6: a "::" or seven colons; "8080:11:" is not one.
_IPV6 = re.compile(
    r"(?<![\w:.])(?=[0-9a-fA-F:]*::|(?:[0-9a-fA-F]{1,4}:){7})"
    r"(?:[0-9a-fA-F:]*[0-9a-fA-F]|[0-9a-fA-F:]*::)(?![\w:.])"
)
# An absolute path starts at a slash that follows no word, dot, colon or
# slash. It ends before a trailing colon or full stop, which belong to the
# sentence; a following word with a slash in it continues a path that holds
# a space (``/data/My Documents/notes.txt``), unless it is a protocol.
_PATH_BODY = (
    rf"(?:[^{_STOP}]*[^{_STOP}:.])?"
    # A protocol and version (HTTP/1.1) after a path is not part of it.
    rf"(?: (?![A-Z]+/[\d.]+(?![^{_STOP}]))[^{_STOP}/]+/[^{_STOP}]*[^{_STOP}:.])*"
)
_PATH = re.compile(rf"/(?<![\w.:/~-]/){_PATH_BODY}")
_RELATIVE_PATH = re.compile(rf"(?<![\w.~-])(?:~|\.\.?)/{_PATH_BODY}")
_WINDOWS_PATH = re.compile(r"\b[A-Za-z]:\\[^\s\"'<>|,;]*")

# Delimiters between the runs that step 3 looks at.
_DELIMITERS = r"\s=:|,;()\[\]{}<>\"'\\"
# Grouped by first letter, which keeps the test at each run short.
_KEPT_WORDS = (
    r"(?:s(?:sh[12]|ha(?:1|256|512)|3)|S(?:HA(?:1|256|512)|3)|[Ii][Pp]v[46]|"
    r"HTTP/[\d.]+|[Hh]ttp2|[Mm][Dd]5|[Uu][Tt][Ff]-?8|[Bb]ase64|[Xx]509|"
    r"[Ll]og4[Jj]2?|[Ee]xt[234]|a(?:md64|rm64|arch64)|x86(?:_64)?|i[36]86|"
    r"[Ww]in(?:32|64)|[Oo][Aa]uth2|[Kk]8s|[Pp]2[Pp])"
)
# A run is tried only at its first character, and only when it holds a
# digit; possessive quantifiers keep the scan linear.
_DIGIT_RUN = re.compile(
    rf"(?<![^{_DELIMITERS}])(?=[^{_DELIMITERS}\d]*+\d)"
    r"(?<!\.(?:go|py|rs|js|kt|cc|ts|rb|cs):)(?<!\.java:)(?<!\.scala:)"
    rf"(?!{_KEPT_WORDS}(?![^{_DELIMITERS}]))"
    rf"[^{_DELIMITERS}\d]*+\d(?:[^{_DELIMITERS}]*[^{_DELIMITERS}.])?"
)
# Wildcards joined by punctuation, or by spaces after at most a comma; a
# full stop and a space end a sentence, so they do not join.
_RUNS_OF_WILDCARDS = re.compile(r"<\*>(?:(?:[-:/,.#@_+]*|,?\s+)<\*>)+")
# Spaces just inside brackets are padding (``[   12.5]``), not content.
_PADDING = re.compile(r"(?<=[\[(])\s+|\s+(?=[\])])")

# A token is a run of non-space characters in which a double-quoted string,
# a single-quoted string (not an apostrophe) or a [...] group may hold spaces.
_UNIT = re.compile(
    r"""(?:[^\s"'\[]++|"(?:[^"\\]++|\\.)*+"|(?<!\w)'[^'\n]*+'(?!\w)"""
    r"""|\[[^\[\]\n]*+\]|["'\[])++"""
)
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
# Runs of digits right after a letter, except after the T between an ISO
# date and its time. The expression starts at a digit, which the engine
# finds fast, and looks back from there.
_DIGITS_AFTER_LETTER = re.compile(r"\d(?<=[A-SU-Za-z]\d)\d*|\d(?<=\DT\d)\d*")


def alternation(words: Iterable[str]) -> str:
    """An expression for any of the words, branching letter by letter, so
    that the engine tries few alternatives at each position."""
    tree: dict[str, Any] = {}
    for word in words:
        node = tree
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return _branch(tree)


def _branch(node: dict[str, Any]) -> str:
    parts = [re.escape(char) + _branch(child) for char, child in node.items() if char]
    if not parts:
        return ""
    body = parts[0] if len(parts) == 1 else f"(?:{'|'.join(parts)})"
    if "" not in node:
        return body
    return f"(?:{body})?" if len(parts) == 1 else f"{body}?"


def _shaped(text: str) -> str:
    # URLs, MAC and IPv6 addresses and Windows paths all hold a colon, and
    # no step adds one: a text without a colon skips their tests.
    colon = ":" in text
    if colon and "://" in text:
        text = _URL.sub(WILDCARD, text)
    if "@" in text and _LIKELY_EMAIL.search(text):
        text = _EMAIL.sub(WILDCARD, text)
    if colon and _LIKELY_MAC.search(text):
        text = _MAC.sub(WILDCARD, text)
    if colon and ("::" in text or text.count(":") >= 7):
        text = _IPV6.sub(WILDCARD, text)
    if "/" in text:
        text = _PATH.sub(WILDCARD, text)
        if "./" in text or "~/" in text:
            text = _RELATIVE_PATH.sub(WILDCARD, text)
    if colon and ":\\" in text:
        text = _WINDOWS_PATH.sub(WILDCARD, text)
    return text


def _digit_runs(text: str) -> str:
    """Step 3: every run that holds a digit becomes ``<*>``.

    The expression is tried at every character, so only the stretch from
    the space before the first digit to the space after the last one is
    scanned: outside it no run holds a digit. Spaces end runs and the look
    behinds never reach across one, so the stretch masks as the whole text
    does. Only ASCII digits are looked for in C; text with other
    characters, which may hold other digits, is scanned whole.
    """
    if not text.isascii():
        return _DIGIT_RUN.sub(WILDCARD, text)
    # In ASCII text a byte is a character, and a zero byte of the shape a
    # digit; bytes are searched from either end in C.
    shape = text.encode().translate(_DIGITS_TO_ZERO)
    last = shape.rfind(b"0")
    if last < 0:
        return text
    first = shape.find(b"0")
    start = text.rfind(" ", 0, first) + 1
    end = text.find(" ", last)
    if end < 0:
        end = len(text)
    stretch = _DIGIT_RUN.sub(WILDCARD, text[start:end])
    return f"{text[:start]}{stretch}{text[end:]}"


def _padded(text: str) -> bool:
    """Whether a bracket has a space just inside it."""
    # Spaces are common, so a two-character test that starts with one scans
    # slowly; most texts hold no bracket at all, which a one-character test
    # finds out at the speed of memchr.
    opening = ("[" in text or "(" in text) and ("[ " in text or "( " in text)
    return opening or (("]" in text or ")" in text) and (" ]" in text or " )" in text))


def mask(message: str) -> str:
    """The message with every variable part replaced by ``<*>``."""
    text = message
    if _MONTH_NAME.search(text, 0, _DATE_REACH):
        text = _TEXT_DATE.sub(WILDCARD, text)
    text = _digit_runs(_shaped(text))
    if "<*>" in text:
        text = _RUNS_OF_WILDCARDS.sub(WILDCARD, text)
    if _padded(text):
        text = _PADDING.sub("", text)
    return text


def tokens(message: str, *, masked: bool = True) -> list[str]:
    """The tokens of a message, masked unless told otherwise.

    Without masking the message is cut at whitespace only, as classic
    template miners do.
    """
    if not masked:
        return message.split()
    return split_template(mask(message))


def split_template(text: str) -> list[str]:
    """Cut masked text, or a template, into tokens; quotes and [...] stay whole."""
    if '"' in text or "'" in text or "[" in text:
        return _UNIT.findall(text)
    return text.split()


def digit_shape(text: str) -> bytes:
    """The text as UTF-8 with every ASCII digit made 0.

    Bytes translate runs in C at one table lookup per byte; digits outside
    ASCII stay as they are, which only makes two texts look different.
    """
    last_text, last_shape = _last_shape[0]
    if last_text is text:
        return last_shape
    shape = text.encode("utf-8", "surrogatepass").translate(_DIGITS_TO_ZERO)
    _last_shape[0] = (text, shape)
    return shape


# A memo answering fewer than one lookup in this many keeps each new result
# with this chance; see ShapeMemo.
_SPARSE_BELOW = 10
_SPARSE_SHARE = 1 / 16

# Severity, tags and the miner look at the same body in turn, so the last
# shape is kept; as one tuple, so that threads never see half of it.
_last_shape: list[tuple[str | None, bytes]] = [(None, b"")]


class ShapeMemo(OrderedDict[bytes, Any]):
    """Results of a function of a text that looks at where its digits are but
    never at their values, by ``digit_shape``; bounded, oldest out first.

    Keeping a result costs about a fifth of what an answer saves, and is
    wasted where shapes do not come back, as in lines that each hold a
    fresh hex id. So a memo that answered fewer than one in
    ``_SPARSE_BELOW`` of its last ``size`` lookups keeps a new result only
    with the chance ``_SPARSE_SHARE``, until it answers more again. A shape
    that does come back is still kept after a few turns, and then stays
    longer, since fewer results push it out. The draw is random, so that a
    shape coming back at a fixed period is not missed every time. Results
    are the same either way.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self._lookups = 0
        self._answers = 0
        self._sparse = False
        self._draw = random.Random(size).random

    def recall(self, shape: bytes) -> Any:
        """The result kept for a shape, or None."""
        found = self.get(shape)
        # Threads may lose a count now and then; the counts only steer
        # what is kept.
        self._lookups += 1
        if found is not None:
            self._answers += 1
        return found

    def taking(self) -> bool:
        """Whether a result offered now would be kept."""
        if self.size <= 0:
            return False
        if self._lookups >= self.size:
            self._sparse = self._answers * _SPARSE_BELOW < self._lookups
            self._lookups = self._answers = 0
        return not self._sparse or self._draw() < _SPARSE_SHARE

    def remember(self, shape: bytes, value: Any) -> None:
        """Keep a result if ``taking``."""
        if self.taking():
            self.keep(shape, value)

    def keep(self, shape: bytes, value: Any) -> None:
        """Keep a result, forgetting the oldest past the size; for a caller
        that asked ``taking`` first, so as to build the result only then."""
        if len(self) >= self.size:
            # Not contextlib.suppress: this runs for nearly every new body, and
            # a context manager costs more than the dictionary work here.
            try:  # noqa: SIM105
                self.popitem(last=False)
            except (KeyError, RuntimeError):
                # Another thread took the oldest first; the bound still holds.
                pass
        self[shape] = value

    def clear(self) -> None:
        """Forget every result, and how often the memo answered."""
        super().clear()
        self._lookups = self._answers = 0
        self._sparse = False


class _Masked:
    """A remembered result: the message it came from, the tokens joined, and
    where that message's digits follow letters, found when first needed.

    Tokens are kept as one string and cut again on use: a list would keep
    dozens of objects alive per entry, and freeing them long after, when
    the entry leaves the memo, costs more than cutting one string.
    """

    __slots__ = ("joined", "masked", "message", "spans")

    def __init__(self, message: str, masked: str, joined: str) -> None:
        self.message = message
        self.joined = joined
        # Whitespace-free tokens come back from the joined text; quoted
        # strings and [...] groups may hold spaces, so for them the masked
        # text is kept and cut as at first.
        quoted = '"' in masked or "'" in masked or "[" in masked
        self.masked = masked if quoted else None
        self.spans: tuple[tuple[int, int], ...] | None = None

    def serves(self, message: str) -> bool:
        """Whether a message of the same digit shape has the same digits
        after letters, and so masks the same."""
        mine = self.message
        if message == mine:
            # A line sent again: one comparison in C instead of one a span.
            return True
        spans = self.spans
        if spans is None:
            found = _DIGITS_AFTER_LETTER.finditer(mine)
            spans = self.spans = tuple(match.span() for match in found)
        return all(message[start:end] == mine[start:end] for start, end in spans)

    def tokens(self) -> tuple[list[str], str]:
        """The tokens, and them joined by spaces."""
        masked = self.masked
        found = self.joined.split() if masked is None else split_template(masked)
        return found, self.joined


class Masker:
    """Masks messages and remembers results by the shape of their digits.

    Masking looks at where digits are, never at their values, except where
    digits follow a letter (``ssh2`` is kept, ``ssh3`` is not) or survive
    masking (a source line such as ``kubelet.go:2417``). So a result without
    surviving digits is remembered under the message's ``digit_shape``, and
    serves every later message of that shape whose digits after letters are
    the same: a stream of lines that differ in numbers, addresses and times
    masks each shape once. Where digits follow letters depends on the shape
    alone, so they are compared at the places found in the remembered
    message, and only when its shape comes again: a message of a new shape
    is not searched for them. The result is always exactly what ``tokens``
    gives.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._known = ShapeMemo(size)

    def tokens(self, message: str) -> tuple[list[str], str]:
        """The masked tokens of a message, and them joined by spaces."""
        key = digit_shape(message)
        known: _Masked | None = self._known.recall(key)
        if known is not None and known.serves(message):
            return known.tokens()
        masked = mask(message)
        found = split_template(masked)
        joined = " ".join(found)
        # Digits other than ASCII are part of the shape as they are: only
        # ASCII digits that survive masking make a result one of a kind.
        if self._known.taking() and b"0" not in digit_shape(joined):
            self._known.keep(key, _Masked(message, masked, joined))
        return found, joined
