"""Tags: a small, fixed vocabulary of what a log record is about.

Each tag has a one-line meaning in ``TAG_MEANINGS``; ``TAGS`` lists the
names in sorted order, which is also the order ``tags_for`` returns them in.
Tags come from the severity number, the body (the first 8 KiB, lowercased)
and the attributes. A phrase is looked for only after a cheap substring
test passes, so a record that mentions none of them costs a few ``in``
tests; and bodies that differ only in their digits share the answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from processing._masking import ShapeMemo, digit_shape

__all__ = ["TAGS", "TAG_MEANINGS", "tags_for"]

TAG_MEANINGS: Mapping[str, str] = MappingProxyType(
    {
        "connection": "a network connection failed: refused, reset, aborted, "
        "timed out, broken pipe, host or network unreachable",
        "crash": "a process crashed: segmentation fault, core dump, kernel or Go "
        "panic, fatal Android exception, crash loop",
        "disk": "storage trouble: no space left on device, quota exceeded, "
        "read-only file system, I/O error",
        "error": "severity ERROR or worse (SeverityNumber 17 and above)",
        "exception": "an exception: a stack trace or exception class in the body, "
        "or exception.* attributes",
        "http_4xx": "an HTTP 4xx response, from the status code attribute or an "
        "access-log line",
        "http_5xx": "an HTTP 5xx response, from the status code attribute or an "
        "access-log line",
        "oom": "out of memory: OutOfMemoryError, OOMKilled, the OOM killer, "
        "cannot allocate memory",
        "security": "an authentication, authorisation or certificate failure: "
        "failed password, invalid user, permission denied, unauthorized, "
        "forbidden, access denied, bad certificate",
        "timeout": "something timed out: timeout, timed out, deadline exceeded",
    }
)
TAGS: tuple[str, ...] = tuple(sorted(TAG_MEANINGS))

_REACH = 8192
_ERROR = 17
_STATUS_KEYS = ("http.response.status_code", "http.status_code")
_EXCEPTION_KEYS = ("exception.type", "exception.message", "exception.stacktrace")
_ACCESS_STATUS = re.compile(r"\"[a-z]+ [^\"]* http/[\d.]+\" ([45])\d\d\b")

# Per tag: substrings of the lowercased body of which one must occur, and
# the expression that then decides. Tags are in sorted order.
_BODY_RULES: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = (
    (
        "connection",
        ("conn", "pipe", "unreach", "no route"),
        re.compile(
            r"connection (?:refused|reset|aborted|broken|lost|closed by peer|timed out)"
            r"|broken pipe|no route to host|(?:network|host) (?:is )?unreachable"
            r"|econn(?:refused|reset|aborted)|e(?:host|net)unreach"
            r"|(?:could not|unable to|failed to) connect|connect\(\) failed"
        ),
    ),
    (
        "crash",
        ("seg", "core d", "sigabrt", "sigbus", "panic", "protection fault",
         "fatal exc", "crash"),
        re.compile(
            r"segfault|segmentation fault|core dumped|\bsig(?:segv|abrt|bus)\b"
            r"|kernel panic|(?m:^panic: )|general protection fault"
            r"|fatal exception|crashloopbackoff|\bcrashed\b"
        ),
    ),
    (
        "disk",
        ("space", "enospc", "quota", " full", "read-only", "i/o error", "input/output"),
        re.compile(
            r"no space left|enospc|disk (?:is )?full|file ?system (?:is )?full"
            r"|quota exceeded|disk quota|read-only file ?system"
            r"|\bi/o error|input/output error"
        ),
    ),
    (
        "exception",
        ("exception", "error", "traceback", "\tat ", "caused by"),
        # Class names need their capitals, so this one reads the body as is.
        re.compile(
            r"Traceback \(most recent call last\)|\n\s*at [\w$.<>]+\(|Caused by: "
            r"|[Ee]xception|EXCEPTION|Error(?<=[a-z0-9]Error)\b"
        ),
    ),
    (
        "oom",
        ("memory", "oom", "enomem"),
        re.compile(
            r"out ?of ?memory|oom[-_ ]?kill|cannot allocate memory"
            r"|\bmemoryerror\b|\benomem\b"
        ),
    ),
    (
        "security",
        ("auth", "passw", "invalid user", "denied", "forbidden", "certif", "x509",
         "handshake", "break-in"),
        re.compile(
            r"authentication fail|auth(?:entication)? failure|failed password"
            r"|invalid user|password mismatch|invalid credentials"
            r"|permission denied|access (?:is )?denied|unauthori[sz]ed"
            r"|not authori[sz]ed|forbidden|break-in attempt"
            r"|certificate (?:verify failed|has expired|expired|is not valid"
            r"|signed by unknown authority|revoked)|bad certificate|x509: "
            r"|handshake fail|ssl_do_handshake\(\) failed"
        ),
    ),
    (
        "timeout",
        ("timed", "timeout", "time out", "deadline"),
        re.compile(
            r"timed? ?out\b(?!\s*[=:]?\s*\d)|timeout(?:exception|error)"
            r"|deadline[ _]exceeded|etimedout"
        ),
    ),
)  # fmt: skip


def tags_for(
    severity_number: int, body: str | None, attributes: Mapping[str, Any]
) -> tuple[str, ...]:
    """The tags of a record, sorted, each once."""
    from_body = _tags_of_body(body) if body else ()
    if severity_number < _ERROR and not attributes:
        return from_body
    found = set(from_body)
    if severity_number >= _ERROR:
        found.add("error")
    if attributes:
        _attribute_tags(attributes, found)
    # Every tag found is one of TAGS, so sorting keeps their order.
    return tuple(sorted(found))


# The phrases depend on where a body's digits are, never on their values, so
# bodies of the same digit shape share them. The status code of an access
# log line is read apart, since its value counts.
_BODY_MEMO = ShapeMemo(16384)


def _tags_of_body(body: str) -> tuple[str, ...]:
    shape = digit_shape(body)
    found: tuple[str, ...] | None = _BODY_MEMO.recall(shape)
    if found is None:
        head = body[:_REACH]
        found = _phrase_tags(head, head.lower())
        _BODY_MEMO.remember(shape, found)
    if "HTTP/" in body or "http/" in body:
        access = _ACCESS_STATUS.search(body[:_REACH].lower())
        if access is not None:
            found = tuple(sorted((*found, f"http_{access.group(1)}xx")))
    return found


def _phrase_tags(head: str, text: str) -> tuple[str, ...]:
    found = []
    for tag, triggers, rule in _BODY_RULES:
        for trigger in triggers:
            if trigger in text:
                if rule.search(head if tag == "exception" else text):
                    found.append(tag)
                break
    return tuple(found)


def _attribute_tags(attributes: Mapping[str, Any], found: set[str]) -> None:
    for key in _EXCEPTION_KEYS:
        if attributes.get(key):
            found.add("exception")
            break
    for key in _STATUS_KEYS:
        status = attributes.get(key)
        if isinstance(status, str) and status.isdigit():
            status = int(status)
        if isinstance(status, int) and not isinstance(status, bool):
            if 400 <= status <= 599:
                found.add(f"http_{status // 100}xx")
            return
