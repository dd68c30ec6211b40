"""``GET /api/ledger``: what was accepted, rejected and refused, per service."""

from __future__ import annotations

import json

import pytest

from tests.servers import JSON_HEADERS, Server, get_json, post


def test_ledger_counts_per_service_outcome_and_reason(small_server: Server) -> None:
    """Accepted and rejected records appear per service, with numbers in
    reasons replaced so that rows stay few."""
    request = {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": "billing"}}
                    ]
                },
                "scopeLogs": [
                    {
                        "logRecords": [
                            {"body": {"stringValue": "ok 1"}},
                            {"body": {"stringValue": "ok 2"}},
                            {"body": {"stringValue": "bad"}, "spanId": "abcd"},
                        ]
                    }
                ],
            }
        ]
    }
    status, _, _ = post(
        f"{small_server.otlp_http}/v1/logs", json.dumps(request).encode(), JSON_HEADERS
    )
    assert status == 200

    status, answer = get_json(f"{small_server.api}/api/ledger?since=15m")

    assert status == 200
    assert answer["since_s"] == 900
    rows = {(r["service"], r["outcome"], r["reason"]): r for r in answer["rows"]}
    accepted = rows[("billing", "accepted", "")]
    assert (accepted["signal"], accepted["records"], accepted["requests"]) == (
        "logs",
        2,
        1,
    )
    rejected = rows[("billing", "rejected", "span_id must be N bytes, got N")]
    assert rejected["records"] == 1


@pytest.mark.parametrize("since", ["yesterday", "5", "-1h", "1y"])
def test_ledger_refuses_a_bad_duration(small_server: Server, since: str) -> None:
    """A duration not of the form 90s, 15m, 1h, 7d or 2w gets 400 naming it."""
    status, answer = get_json(f"{small_server.api}/api/ledger?since={since}")
    assert status == 400
    assert repr(since) in answer["error"]
