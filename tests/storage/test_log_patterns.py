"""Log records get severities, tags and patterns that persist in the database."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from tests.servers import JSON_HEADERS, Server, post

MESSAGES = [
    "login succeeded for alice from 10.0.0.1",
    "login succeeded for bob from 10.0.0.7",
    "ERROR payment 4411 failed: card declined",
    "disk /var/lib/data is 91% full",
    "connection to db-2 timed out after 30s",
]


def _send(server: Server, bodies: list[str], service: str = "web") -> None:
    # No severity is sent: the server infers it.
    payload = {"logs": [{"service": service, "body": body} for body in bodies]}
    status, _, answer = post(
        f"{server.api}/api/ingest/logs", json.dumps(payload).encode(), JSON_HEADERS
    )
    assert status == 200, answer


def _rows(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def _pattern_of(url: str) -> dict[str, int]:
    rows = _rows(url, "SELECT body, pattern_id FROM logs")
    return {body: pattern_id for body, pattern_id in rows}


def test_records_get_inferred_severity_tags_and_stored_patterns(
    database_url: str,
) -> None:
    """Severity is inferred and marked, tags are set, and every pattern id a
    record carries is stored with its template and first sighting."""
    server = Server(database_url).start()
    try:
        _send(server, MESSAGES)
    finally:
        server.stop()
    rows = _rows(
        database_url,
        "SELECT l.body, l.severity_number, l.severity_inferred, l.tags,"
        " p.template, p.first_seen <= l.time"
        " FROM logs l JOIN log_patterns p USING (pattern_id)",
    )
    assert len(rows) == len(MESSAGES)
    by_body = {row[0]: row[1:] for row in rows}
    number, inferred, tags, _template, _first_seen_ok = by_body[MESSAGES[2]]
    assert (number, inferred) == (17, True)
    assert "error" in tags
    assert "timeout" in by_body[MESSAGES[4]][2]
    assert all(row[-1] for row in rows)
    logins = {by_body[MESSAGES[0]][3], by_body[MESSAGES[1]][3]}
    assert len(logins) == 1, logins


def test_patterns_survive_a_restart_with_the_same_ids(database_url: str) -> None:
    """A restarted server reuses the stored patterns instead of making new
    ones for the same messages."""
    first = Server(database_url).start()
    try:
        _send(first, MESSAGES)
    finally:
        first.stop()
    before = _pattern_of(database_url)
    second = Server(database_url).start()
    try:
        _send(second, [m.replace("alice", "carol") for m in MESSAGES], "web")
    finally:
        second.stop()
    after = _rows(database_url, "SELECT body, pattern_id FROM logs")
    for body, pattern_id in after:
        original = body.replace("carol", "alice")
        assert pattern_id == before[original], body
    count = _rows(database_url, "SELECT count(*) FROM log_patterns")[0][0]
    assert count == len(set(before.values()))


def test_evicted_patterns_come_back_from_storage_under_their_ids(
    database_url: str,
) -> None:
    """With room for two patterns in memory, older ones are evicted; their
    messages later get the stored ids back, not new patterns."""
    server = Server(database_url, FLOWGUARD_PATTERN_MAX="2").start()
    try:
        _send(server, MESSAGES)
        before = _pattern_of(database_url)
        _send(server, [m.replace("10.0.0", "10.9.9") for m in MESSAGES], "web")
    finally:
        server.stop()
    stored = _rows(database_url, "SELECT count(*) FROM log_patterns")[0][0]
    assert stored == len(set(before.values()))
    for body, pattern_id in _rows(database_url, "SELECT body, pattern_id FROM logs"):
        assert pattern_id == before[body.replace("10.9.9", "10.0.0")], body
