"""Tags: a fixed vocabulary, found in bodies and attributes, sorted and once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from processing.tags import TAG_MEANINGS, TAGS, tags_for


def test_the_vocabulary_is_sorted_and_every_tag_has_a_one_line_meaning() -> None:
    """TAGS lists the meanings' names in order; each meaning is one line."""
    assert list(TAGS) == sorted(TAG_MEANINGS)
    assert len(TAGS) >= 10
    assert all(meaning and "\n" not in meaning for meaning in TAG_MEANINGS.values())


def test_the_documented_vocabulary_is_the_vocabulary_in_code() -> None:
    """docs/log-processing.md lists exactly the tags and meanings of the code."""
    doc = Path(__file__).parents[2] / "docs" / "log-processing.md"
    rows = re.findall(r"^\| `(\w+)` \| (.+) \|$", doc.read_text(), re.MULTILINE)
    assert dict(rows) == dict(TAG_MEANINGS)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("java.net.SocketTimeoutException: Read timed out", {"exception", "timeout"}),
        ("upstream timed out (110: Connection timed out)", {"timeout", "connection"}),
        (
            "rpc error: code = DeadlineExceeded desc = context deadline exceeded",
            {"timeout"},
        ),
        ("Expiring session 0x1, timeout of 30000ms exceeded", {"timeout"}),
        ("java.lang.OutOfMemoryError: Java heap space", {"exception", "oom"}),
        ("Memory cgroup out of memory: Killed process 811 (java)", {"oom"}),
        ("Container app was OOMKilled", {"oom"}),
        ("python3 invoked oom-killer: gfp_mask=0x100cca", {"oom"}),
        ("fork: Cannot allocate memory", {"oom"}),
        ('"GET /api HTTP/1.1" 503 0', {"http_5xx"}),
        ('"POST /login HTTP/1.1" 401 12', {"http_4xx"}),
        ("pam_unix(sshd:auth): authentication failure; rhost=10.0.0.9", {"security"}),
        ("Failed password for root from 10.0.0.9 port 22 ssh2", {"security"}),
        ("Invalid user oracle from 10.0.0.9 port 4242", {"security"}),
        ("open(/etc/shadow): Permission denied", {"security"}),
        ("401 Unauthorized: token expired", {"security"}),
        ("access forbidden by rule, client: 10.0.0.9", {"security"}),
        ("Access denied for user 'app'@'10.0.0.9'", {"security"}),
        ("x509: certificate signed by unknown authority", {"security"}),
        ("SSL certificate verify failed", {"security"}),
        ("connect() failed (111: Connection refused)", {"connection"}),
        ("recv() failed (104: Connection reset by peer)", {"connection"}),
        ("write tcp 10.0.0.1:80: broken pipe", {"connection"}),
        ("dial tcp 10.9.9.9:5432: connect: no route to host", {"connection"}),
        ("write /var/lib/db/wal: No space left on device", {"disk"}),
        ("EXT4-fs error: Remounting filesystem read-only file system", {"disk"}),
        ("Buffer I/O error on dev sda1, logical block 0", {"disk"}),
        ("node[4242]: segfault at 0 ip 0000 sp 0000 error 4", {"crash"}),
        ("Segmentation fault (core dumped)", {"crash"}),
        ("panic: runtime error: index out of range", {"crash"}),
        ("Kernel panic - not syncing: Fatal exception", {"crash", "exception"}),
        ("Back-off restarting failed container: CrashLoopBackOff", {"crash"}),
        ('Traceback (most recent call last):\n  File "a.py", line 1', {"exception"}),
        ("failed\n\tat com.example.Api.handle(Api.java:42)", {"exception"}),
        ("caught end of stream exception", {"exception"}),
    ],
)
def test_bodies_get_the_tags_their_phrases_mean(body: str, expected: set[str]) -> None:
    """Each body is tagged with exactly the expected tags."""
    assert set(tags_for(9, body, {})) == expected


@pytest.mark.parametrize(
    "body",
    [
        "Accepted publickey for deploy from 10.0.0.9 port 22 ssh2",
        "Established session 0x1 with negotiated timeout 30000 for client",
        "read timeout=30s write timeout=30s",
        "missing timeouts for frontend 'www'",
        "error_count=0 no_error",
        "memory usage 41%",
        "connection established to 10.0.0.1:5432",
        "set default namespace",
        '"GET / HTTP/1.1" 200 512',
    ],
)
def test_ordinary_lines_get_no_tags(body: str) -> None:
    """Settings, counters and successes are not tagged."""
    assert tags_for(9, body, {}) == ()


def test_error_severity_adds_the_error_tag() -> None:
    """SeverityNumber 17 and above is tagged error, 16 and below is not."""
    assert tags_for(17, "done", {}) == ("error",)
    assert tags_for(21, None, {}) == ("error",)
    assert tags_for(16, "done", {}) == ()


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"exception.type": "ValueError"}, ("exception",)),
        ({"http.response.status_code": 502}, ("http_5xx",)),
        ({"http.status_code": "403"}, ("http_4xx",)),
        ({"http.response.status_code": 200}, ()),
        ({"http.response.status_code": True}, ()),
    ],
)
def test_attributes_add_exception_and_status_tags(
    attributes: dict[str, Any], expected: tuple[str, ...]
) -> None:
    """exception.* attributes and HTTP status attributes are tagged."""
    assert tags_for(9, "", attributes) == expected


def test_tags_come_sorted_and_once() -> None:
    """Tags found twice, from the body and the attributes, appear once, in
    vocabulary order."""
    found = tags_for(
        18,
        'timed out\n\tat a.B(B.java:1)\n"GET / HTTP/1.1" 504 0',
        {"exception.type": "TimeoutError", "http.response.status_code": 504},
    )
    assert found == ("error", "exception", "http_5xx", "timeout")
    assert list(found) == sorted(set(found))


def test_bodies_of_one_digit_shape_keep_their_own_status_tags() -> None:
    """Access lines that differ only in digits get the tag of their own
    status code."""
    line = '10.0.0.7 - - [03/Jun/2024:10:15:02 +0000] "GET / HTTP/1.1" {} 1'
    assert tags_for(0, line.format(503), {}) == ("http_5xx",)
    assert tags_for(0, line.format(403), {}) == ("http_4xx",)
    assert tags_for(0, line.format(203), {}) == ()
