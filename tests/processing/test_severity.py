"""Severity inference: sent severities kept, levels found in text, bodies and
attributes, and words that only look like levels left alone."""

from __future__ import annotations

from typing import Any

import pytest

from processing.severity import SHORT_NAMES, Severity, infer_severity

TRACE, DEBUG, INFO, INFO2, WARN, ERROR, FATAL = 1, 5, 9, 10, 13, 17, 21

BODIES = [
    # syslog, with and without a <PRI> prefix
    ("<11>Jun  3 10:15:02 web01 app[311]: write failed", ERROR),
    ("<13>Jun  3 10:15:02 web01 cron[88]: job started", INFO2),
    ("<14>Jun  3 10:15:02 web01 systemd[1]: Started Session 4.", INFO),
    ("<28>Jun  3 10:15:02 web01 kernel: link flapping", WARN),
    ("<8>Jun  3 10:15:02 web01 kernel: system is unusable", FATAL),
    ("<191>Jun  3 10:15:02 web01 app: tracing", DEBUG),
    # Java: log4j, logback, java.util.logging, stack traces
    ("2024-06-03 10:15:02,311 ERROR [main] o.a.k.Consumer - commit failed", ERROR),
    ("2024-06-03 10:15:02.311  WARN 4242 --- [nio-8080-exec-1] c.e.Api : slow", WARN),
    ("10:15:02.311 [pool-1-thread-3] DEBUG com.example.Cache - miss for key 7", DEBUG),
    ("10:15:02.311 [main] INFO  com.example.App - started in 2.3 s", INFO),
    ("Jun 03, 2024 10:15:02 AM com.example.Loader load\nSEVERE: cannot load", ERROR),
    ("Jun 03, 2024 10:15:02 AM com.example.Loader load\nWARNING: retrying", WARN),
    ('Exception in thread "main" java.lang.IllegalStateException: closed', ERROR),
    ("java.net.ConnectException: Connection refused\n\tat sun.nio.ch.Net", ERROR),
    ("request failed\njava.io.IOException: reset\n\tat a.B.c(B.java:12)", ERROR),
    ("wrapped\nCaused by: java.lang.NullPointerException", ERROR),
    # Python logging and tracebacks
    ("ERROR:root:could not connect to db", ERROR),
    ("WARNING:urllib3.connectionpool:Retrying (Retry(total=2))", WARN),
    ("2024-06-03 10:15:02,311 - worker - CRITICAL - queue lost", ERROR + 1),
    ('Traceback (most recent call last):\n  File "app.py", line 3, in <module>', ERROR),
    ("ValueError: invalid literal for int() with base 10: 'x'", ERROR),
    # nginx and apache
    ("2024/06/03 10:15:02 [error] 311#311: *9 open() failed (2: No such file)", ERROR),
    ("2024/06/03 10:15:02 [warn] 311#311: *9 upstream response is buffered", WARN),
    ("2024/06/03 10:15:02 [crit] 311#311: *9 SSL_do_handshake() failed", ERROR + 1),
    ("2024/06/03 10:15:02 [emerg] 311#311: bind() to 0.0.0.0:80 failed", FATAL),
    ("[Mon Jun 03 10:15:02.311 2024] [core:error] [pid 311] AH00037: denied", ERROR),
    ("[Mon Jun 03 10:15:02.311 2024] [mpm_event:notice] [pid 311] AH00489", INFO2),
    ('10.0.0.7 - - [03/Jun/2024:10:15:02 +0000] "GET /a HTTP/1.1" 502 157', ERROR),
    ('10.0.0.7 - - [03/Jun/2024:10:15:02 +0000] "POST /b HTTP/1.1" 404 12', WARN),
    # Kubernetes klog and Go
    ("E0603 10:15:02.311000    4242 pod_workers.go:1298] Error syncing pod", ERROR),
    ("W0603 10:15:02.311000    4242 reflector.go:424] watch ended", WARN),
    ("I0603 10:15:02.311000    4242 kubelet.go:2417] SyncLoop ADD", INFO),
    ("F0603 10:15:02.311000    4242 server.go:262] failed to run Kubelet", FATAL),
    ("panic: runtime error: invalid memory address\n\ngoroutine 1 [running]:", FATAL),
    ("fatal error: all goroutines are asleep - deadlock!", FATAL),
    ('time="2024-06-03T10:15:02Z" level=warning msg="disk almost full"', WARN),
    ('t=2024-06-03T10:15:02+0000 lvl=eror msg="query failed"', ERROR),
    ("2024-06-03T10:15:02.311Z\terror\tstore/db.go:88\tquery failed", ERROR),
    ("ERRO[0003] container exited with code 1", ERROR),
    # Android logcat
    ("06-03 10:15:02.311  1234  5678 E AndroidRuntime: FATAL EXCEPTION: main", ERROR),
    ("06-03 10:15:02.311  1234  5678 W ActivityManager: slow operation", WARN),
    (" 1234  5678 D OkHttp: --> GET https://example.org/", DEBUG),
    ("E/BluetoothAdapter( 1234): binder is null", ERROR),
    ("06-03 10:15:02.311 V/AlarmManager: set alarm", TRACE),
    # JSON and other structured bodies
    ('{"level":"error","msg":"payment declined","order":17}', ERROR),
    ('{"ts":1717409702,"severity":"WARNING","message":"slow query"}', WARN),
    ("[2024-06-03 10:15:02] production.ERROR: Undefined index: id", ERROR),
    ("[12:00:00 INF] Now listening on: http://localhost:5000", INFO),
    ("fail: Microsoft.AspNetCore.Server.Kestrel[13] connection reset", ERROR),
    (
        "2024-04-22 19:27:36, Info                  CBS    Starting TrustedInstaller",
        INFO,
    ),
    ("2024-06-03 10:15:02.311 UTC [42] FATAL:  password authentication failed", FATAL),
]


@pytest.mark.parametrize(("body", "expected"), BODIES)
def test_body_level_is_found_in_common_formats(body: str, expected: int) -> None:
    """Each real-world line yields the SeverityNumber its format means."""
    found = infer_severity(0, "", body, {})
    assert (found.number, found.inferred) == (expected, True)


def test_the_table_covers_forty_lines() -> None:
    """The table above keeps at least forty real-world lines."""
    assert len(BODIES) >= 40


@pytest.mark.parametrize(
    "body",
    [
        "no errors found",
        "error_count=0 warnings=0",
        "retrying after warning cleared",
        "Errors: 0, Failures: 0",
        "1 error occurred while fetching, retrying",
        "ErrorHandler initialised with 3 retries",
        "the alert threshold is 90%",
        "user typed 'fatal' in the search box",
        '10.0.0.7 - - [03/Jun/2024:10:15:02 +0000] "GET / HTTP/1.1" 200 612',
        "Connection closed by 10.0.0.7 port 22 [preauth]",
    ],
)
def test_level_words_out_of_place_infer_nothing(body: str) -> None:
    """A level word in running text, or a plain success line, is no level."""
    assert infer_severity(0, "", body, {}) == Severity(0, "", False)


@pytest.mark.parametrize(
    ("number", "text"), [(5, "debug"), (17, "ERROR"), (9, ""), (21, "whatever")]
)
def test_a_sent_severity_number_is_kept_as_sent(number: int, text: str) -> None:
    """A SeverityNumber above 0 is kept with its text, whatever the body says."""
    found = infer_severity(number, text, "FATAL: disk on fire", {"exception.type": "X"})
    assert found == Severity(number, text, False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("warn", WARN),
        ("Warning", WARN),
        ("WRN", WARN),
        ("err", ERROR),
        ("E", ERROR),
        ("W", WARN),
        ("D", DEBUG),
        ("V", TRACE),
        ("Information", INFO),
        ("notice", INFO2),
        ("crit", ERROR + 1),
        ("alert", ERROR + 2),
        ("emerg", FATAL),
        ("panic", FATAL),
        ("severe", ERROR),
        ("fine", DEBUG + 1),
        ("finer", DEBUG),
        ("finest", TRACE),
        ("ERROR2", ERROR + 1),
        ("INFO4", INFO + 3),
    ],
)
def test_severity_text_alone_sets_the_number(text: str, expected: int) -> None:
    """A level word, abbreviation or letter in SeverityText is read, and the
    text is kept as sent."""
    assert infer_severity(0, text, "plain body", {}) == Severity(expected, text, True)


def test_unknown_severity_text_falls_through_to_the_body() -> None:
    """Text that names no level is kept while the body supplies the number."""
    assert infer_severity(0, "custom", "[ERROR] boom", {}) == Severity(
        ERROR, "custom", True
    )


def test_an_inferred_level_gets_the_otel_short_name_when_text_is_empty() -> None:
    """With no SeverityText the text becomes the data model's short name."""
    assert infer_severity(0, "", "[crit] x", {}).text == "ERROR2"
    assert infer_severity(0, "", "NOTICE: y", {}).text == "INFO2"
    assert SHORT_NAMES[9] == "INFO"
    assert SHORT_NAMES[24] == "FATAL4"


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"exception.type": "java.io.IOException"}, ERROR),
        ({"exception.message": "boom"}, ERROR),
        ({"exception.stacktrace": "Traceback ..."}, ERROR),
        ({"http.response.status_code": 503}, ERROR),
        ({"http.response.status_code": 429}, WARN),
        ({"http.status_code": "500"}, ERROR),
        ({"http.status_code": 404}, WARN),
    ],
)
def test_attributes_set_the_level_when_the_body_says_nothing(
    attributes: dict[str, Any], expected: int
) -> None:
    """Exception attributes mean ERROR; a 5xx status ERROR and 4xx WARN."""
    assert infer_severity(0, "", "request done", attributes).number == expected


@pytest.mark.parametrize(
    "attributes",
    [
        {"http.response.status_code": 200},
        {"http.status_code": "302"},
        {"http.response.status_code": True},
        {"exception.type": ""},
    ],
)
def test_harmless_attributes_infer_nothing(attributes: dict[str, Any]) -> None:
    """A success status, a boolean or an empty exception field is no level."""
    assert infer_severity(0, "", "request done", attributes).number == 0


def test_the_body_wins_over_attributes() -> None:
    """A level in the body is taken before the attributes are read."""
    found = infer_severity(0, "", "INFO handled", {"http.response.status_code": 500})
    assert found.number == INFO


def test_a_level_far_from_the_start_is_not_a_level() -> None:
    """Only the first 200 characters are read for level positions."""
    assert infer_severity(0, "", "x" * 300 + " [ERROR] late", {}).number == 0


def test_bodies_of_one_digit_shape_keep_their_own_numbers() -> None:
    """Bodies that differ only in digits still get their own syslog and
    access-log severities."""
    assert infer_severity(0, "", "<11>boot", {}).number == ERROR
    assert infer_severity(0, "", "<14>boot", {}).number == INFO
    line = '10.0.0.7 - - [03/Jun/2024:10:15:02 +0000] "GET / HTTP/1.1" {} 1'
    assert infer_severity(0, "", line.format(503), {}).number == ERROR
    assert infer_severity(0, "", line.format(203), {}).number == 0
