"""Severity of a log record: as sent, or inferred when the sender left it out.

A record that arrives with a SeverityNumber above 0 keeps its number and
text. Otherwise the severity is inferred, first source first:

1. the SeverityText (``warn``, ``E``, ``Information``, ``ERROR2``);
2. the body: a syslog ``<PRI>`` prefix, a klog/glog header (``E0601 ...``),
   an Android logcat line, a level word in a level position near the start
   (``[ERROR]``, ``level=warn``, ``"level":"error"``, `` ERROR ``,
   ``ERROR:root:``), a Python traceback, a Java stack trace or exception
   class, a Go panic;
3. the attributes: ``exception.*`` means ERROR; an HTTP status code of 5xx
   means ERROR and 4xx WARN;
4. the status code of an access-log line in the body.

Words map to numbers as in the OpenTelemetry log data model (appendix B,
"SeverityNumber example mappings"): TRACE 1, DEBUG 5, INFO 9, NOTICE 10
(INFO2), WARN 13, ERROR 17, CRITICAL 18 (ERROR2), ALERT 19 (ERROR3), FATAL
and EMERGENCY 21. Two choices of ours: PANIC is FATAL (21) because in Go,
PostgreSQL, logrus and the kernel a panic ends the process (the appendix
puts Zap's Panic at ERROR3); the single letter V and Serilog's VRB are
TRACE because they sit below DEBUG there, while the word "verbose" is DEBUG
as for Windows events in the appendix.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from processing._masking import ShapeMemo, alternation, digit_shape

__all__ = ["SHORT_NAMES", "Severity", "infer_severity", "severity_of_word"]

# Short names by SeverityNumber, from the OTel log data model.
SHORT_NAMES = (
    "UNSPECIFIED",
    *(
        f"{name}{step if step > 1 else ''}"
        for name in ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
        for step in range(1, 5)
    ),
)

TRACE, DEBUG, INFO, INFO2, WARN, ERROR, FATAL = 1, 5, 9, 10, 13, 17, 21

_WORDS = {
    "trace": TRACE, "trac": TRACE, "finest": TRACE, "vrb": TRACE,
    "debug": DEBUG, "debu": DEBUG, "dbg": DEBUG, "dbug": DEBUG, "finer": DEBUG,
    "verbose": DEBUG, "fine": DEBUG + 1,
    "info": INFO, "inf": INFO, "information": INFO, "informational": INFO,
    "notice": INFO2,
    "warn": WARN, "warning": WARN, "wrn": WARN,
    "error": ERROR, "err": ERROR, "eror": ERROR, "erro": ERROR, "severe": ERROR,
    "crit": ERROR + 1, "critical": ERROR + 1, "dpanic": ERROR + 1,
    "alert": ERROR + 2,
    "fatal": FATAL, "fata": FATAL, "ftl": FATAL, "emerg": FATAL,
    "emergency": FATAL, "panic": FATAL, "pani": FATAL,
}  # fmt: skip
# Levels only in the SeverityText field or in a header that puts them at a
# fixed spot (klog, logcat): too common as plain words anywhere else.
_LETTERS = {"v": TRACE, "d": DEBUG, "i": INFO, "w": WARN, "e": ERROR, "f": FATAL,
            "a": FATAL, "config": DEBUG + 2, "fail": ERROR}  # fmt: skip
_SYSLOG = (FATAL, ERROR + 2, ERROR + 1, ERROR, WARN, INFO2, INFO, DEBUG)
_OTEL_NAME = re.compile(r"(trace|debug|info|warn|error|fatal)([1-4])?")

_HEAD = 200
_TRACE_REACH = 4096
_ACCESS_REACH = 512


_NOT_CAPITALS = frozenset(("inf", "fine", "finer", "finest"))
_LEVEL_WORD = alternation(list(_WORDS))
# In capitals and standing alone; INF and FINE are too common as words
# (infinity, "ALL FINE") and are read in the other positions only.
_UPPER_WORD = re.compile(
    rf"{alternation(w.upper() for w in _WORDS if w not in _NOT_CAPITALS)}(?![\w-])"
)
_BRACKETED = re.compile(
    rf"[\[<(]\s*(?:[\w.-]+:)?({_LEVEL_WORD})\s*[\]>)]", re.IGNORECASE
)
_FIELD_NAMES = ("level", "lvl", "severity", "@l")
_FIELD = re.compile(
    r"(?:level|lvl|severity|loglevel|log_level|levelname|@l)\"?\s*[=:]\s*\"?"
    rf"({_LEVEL_WORD})\b",
    re.IGNORECASE,
)
# At the very start, followed by a colon, bar or dash: "error: ...",
# "ERROR:root:...", .NET's "fail: ...".
_AT_START = re.compile(rf"\s*({_LEVEL_WORD}|fail)\s*(?::|\||-\s)", re.IGNORECASE)
# Right after a leading date and time, or a time: "2024-06-01 12:00:00 warn".
_AFTER_STAMP = re.compile(
    r"\[?(?:\d{2,4}[-/.]\d\d[-/.]\d\d[T ])?\d\d:\d\d:\d\d[\d.,:]*"
    rf"(?:Z|[+-]\d\d:?\d\d)?\]?,?\s+({_LEVEL_WORD})\b",
    re.IGNORECASE,
)
_TABBED = re.compile(rf"\t({_LEVEL_WORD})\t", re.IGNORECASE)

_SYSLOG_PRI = re.compile(r"<(\d{1,3})>")
_KLOG = re.compile(r"([IWEF])\d{4} \d\d:\d\d:\d\d\.\d+\s")
_LOGCAT = re.compile(
    r"\s*(?:\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+)?"
    r"(?:\d+\s+\d+\s+([VDIWEFA])\s|([VDIWEFA])/[^\s:(]+\s*(?:\(\s*\d+\))?:)"
)
_EXCEPTION_LINE = re.compile(
    r"(?m)^\s*(?:[\w$]+\.)*[A-Z][\w$]*(?:Exception|Error)\b(?::|$)"
)
_GO_PANIC = re.compile(r"(?m)^(?:panic: |fatal error: )")
_ACCESS_STATUS = re.compile(r"\"[A-Z]+ [^\"]* HTTP/[\d.]+\" ([1-5]\d\d)\b")
_EXCEPTION_KEYS = ("exception.type", "exception.message", "exception.stacktrace")
_STATUS_KEYS = ("http.response.status_code", "http.status_code")


@dataclass(frozen=True, slots=True)
class Severity:
    """A record's severity: OTel SeverityNumber 0..24, its text, and whether
    FlowGuard inferred it."""

    number: int
    text: str
    inferred: bool


def severity_of_word(word: str) -> int:
    """The SeverityNumber a level word or letter stands for, or 0."""
    key = word.strip().strip("[]<>():").lower()
    found = _WORDS.get(key) or _LETTERS.get(key)
    if found:
        return found
    named = _OTEL_NAME.fullmatch(key)
    if named is None:
        return 0
    base = _WORDS[named.group(1)]
    return base + int(named.group(2) or 1) - 1


def infer_severity(
    number: int, text: str, body: str | None, attributes: Mapping[str, Any]
) -> Severity:
    """The severity to store for a record; see the module docstring."""
    if number > 0:
        return Severity(number, text, False)
    found = severity_of_word(text) if text else 0
    if not found and body:
        found = _from_body(body)
    if not found and attributes:
        found = _from_attributes(attributes)
    if not found and body and "HTTP/" in body:
        found = _from_access_log(body)
    if text:
        return Severity(found, text, True) if found else Severity(0, text, False)
    return _INFERRED[found] if found else _NOTHING


# Values are immutable, so the common answers are made once.
_NOTHING = Severity(0, "", False)
_INFERRED = tuple(Severity(number, SHORT_NAMES[number], True) for number in range(25))

# What a body says about its level depends on where its digits are, never on
# their values, except for the value of a syslog <PRI>: bodies of the same
# digit shape share the answer, and those that open with "<" are not kept.
_BODY_MEMO = ShapeMemo(16384)


def _from_body(body: str) -> int:
    if body[:1] == "<":
        return _read_body(body)
    shape = digit_shape(body)
    found = _BODY_MEMO.recall(shape)
    if found is None:
        found = _read_body(body)
        _BODY_MEMO.remember(shape, found)
    return int(found)


def _read_body(body: str) -> int:
    head = body[:_HEAD]
    found = _from_header(head) or _from_level_word(head)
    return found or _from_trace(body[:_TRACE_REACH])


def _from_header(head: str) -> int:
    """Syslog, klog and logcat headers, which say the level at a fixed spot."""
    first = head[:1]
    if first == "<":
        pri = _SYSLOG_PRI.match(head)
        if pri is not None and int(pri.group(1)) < 192:
            return _SYSLOG[int(pri.group(1)) % 8]
    if first in "IWEF" and head[1:2].isdigit():
        klog = _KLOG.match(head)
        if klog is not None:
            return _LETTERS[klog.group(1).lower()]
    if first.isdigit() or first == " " or head[1:2] == "/":
        logcat = _LOGCAT.match(head)
        if logcat is not None:
            return _LETTERS[(logcat.group(1) or logcat.group(2)).lower()]
    return 0


def _from_level_word(head: str) -> int:
    """The leftmost level word that stands where levels are written."""
    first = head[:1]
    if first.isalpha() or first.isspace():
        at_start = _AT_START.match(head)
        if at_start is not None:
            return severity_of_word(at_start.group(1))
    elif first.isdigit() or first == "[":
        stamped = _AFTER_STAMP.match(head)
        if stamped is not None:
            return severity_of_word(stamped.group(1))
    found = [
        (match.start(match.lastindex or 0), match.group(match.lastindex or 0))
        for match in _elsewhere(head)
        if match is not None
    ]
    return severity_of_word(min(found)[1]) if found else 0


def _elsewhere(head: str) -> Iterator[re.Match[str] | None]:
    """Level words in brackets, in level fields, between tabs, in capitals."""
    yield _BRACKETED.search(head)
    lowered = head.lower()
    if any(name in lowered for name in _FIELD_NAMES):
        yield _FIELD.search(head)
    if "\t" in head:
        yield _TABBED.search(head)
    yield _upper_word(head)


def _upper_word(head: str) -> re.Match[str] | None:
    """A level word in capitals, standing alone: `` ERROR ``, ``WARN:``."""
    for match in _UPPER_WORD.finditer(head):
        start = match.start()
        if start == 0 or not (head[start - 1].isalnum() or head[start - 1] in "_-"):
            return match
    return None


def _from_trace(text: str) -> int:
    """Stack traces and crashes of Python, Java and Go."""
    if "Traceback (most recent call last)" in text:
        return ERROR
    if ("panic: " in text or "fatal error: " in text) and _GO_PANIC.search(text):
        return FATAL
    if "Exception in thread" in text or "\tat " in text or "Caused by: " in text:
        return ERROR
    if ("Exception" in text or "Error" in text) and _EXCEPTION_LINE.search(text):
        return ERROR
    return 0


def _from_attributes(attributes: Mapping[str, Any]) -> int:
    if any(attributes.get(key) for key in _EXCEPTION_KEYS):
        return ERROR
    for key in _STATUS_KEYS:
        status = _status(attributes.get(key))
        if status:
            return _status_severity(status)
    return 0


def _status(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return 0


def _status_severity(status: int) -> int:
    if 500 <= status <= 599:
        return ERROR
    if 400 <= status <= 499:
        return WARN
    return 0


def _from_access_log(body: str) -> int:
    found = _ACCESS_STATUS.search(body, 0, _ACCESS_REACH)
    return _status_severity(int(found.group(1))) if found is not None else 0
