"""The anomaly API on a running server, over what detection stored.

KPI facts for a day and a half of two services are written on the
embedded tier and ``Detection.run_once`` scores them before the server
starts: checkout's latency rises in the last fifteen minutes, and a third
of search's requests fail in the last ten. The data ends at the last 12:00
UTC, so that the detectors see the same series whenever the tests run.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest

from flowguard.detection import Detection, DetectionSettings
from flowguard.service import prepare_database
from storage.rollups import refresh_rollups
from tests.conftest import Tier
from tests.servers import JSON_HEADERS, Server, get_json, post


def _last(hour: int) -> datetime:
    """The latest ``hour`` o'clock UTC that has passed."""
    now = datetime.now(UTC)
    at = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    return at if at <= now else at - timedelta(days=1)


NOW = _last(12)
HOURS = 30
INCIDENT = NOW - timedelta(minutes=15)
OUTAGE = NOW - timedelta(minutes=10)
BOUNDS_MS = (25.0, 50.0, 100.0, 200.0, 500.0, 1000.0, float("inf"))
FAST = (0.3, 0.45, 0.2, 0.04, 0.01, 0.0, 0.0)
SLOW = (0.02, 0.03, 0.05, 0.1, 0.2, 0.6, 0.0)
COLUMNS = (
    "id, service, kpi, started_at, ended_at, peak_at, peak_score, observed,"
    " expected, expected_low, expected_high, detectors, explanation, feedback,"
    " feedback_at"
)
STATUS = "service kpi warm buckets_seen buckets_needed last_bucket tolerance"
REQUEST_COLUMNS = "time, service, requests, errors, duration_sum_ms, min_ms, max_ms"
LATENCY_COLUMNS = "time, service, le_ms, count"
EXPLAINED = re.compile(
    r"p95 latency ([\d,.]+) ms, expected ([\d,.]+)-([\d,.]+) ms"
    r" for (\w+ \d\d:\d\d) UTC"
)
KPIS = {"throughput", "error_rate", "p95_latency", "log_volume", "error_logs"}


def _facts(minutes: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(kpi_requests rows, kpi_latency rows) for the minutes before NOW."""
    rng = np.random.default_rng(7)
    requests: list[tuple[Any, ...]] = []
    latency: list[tuple[Any, ...]] = []
    for k in range(minutes, 0, -1):
        at = NOW - timedelta(minutes=k) + timedelta(seconds=10)
        day = 2 * np.pi * (at.hour + at.minute / 60) / 24
        for service, base, error_share, shares in (
            ("checkout", 600, 0.01, SLOW if at >= INCIDENT else FAST),
            ("search", 300, 0.35 if at >= OUTAGE else 0.01, FAST),
        ):
            count = int(base + base / 3 * np.sin(day) + rng.normal(0, base / 40))
            errors = int(rng.binomial(count, error_share))
            requests.append((at, service, count, errors, 60.0 * count, 3.0, 2e3))
            counts = rng.multinomial(count, shares)
            latency += [
                (at, service, le, int(n))
                for le, n in zip(BOUNDS_MS, counts, strict=True)
                if n
            ]
    return requests, latency


async def _seed(url: str, minutes: int) -> None:
    """Write the facts, roll them up and score every minute."""
    await prepare_database(url)
    requests, latency = _facts(minutes)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for table, rows in (("kpi_requests", requests), ("kpi_latency", latency)):
            columns = REQUEST_COLUMNS if table == "kpi_requests" else LATENCY_COLUMNS
            copy = f"COPY {table} ({columns}) FROM STDIN"
            async with conn.cursor() as cur, cur.copy(copy) as rows_in:
                for row in rows:
                    await rows_in.write_row(row)
        await refresh_rollups(conn, NOW + timedelta(minutes=1), {})
        scored = await Detection(DetectionSettings(delay_s=0)).run_once(
            conn, NOW + timedelta(minutes=1)
        )
    assert scored == 2 * minutes


@dataclass(frozen=True, slots=True)
class Api:
    """A server over a database detection has scored."""

    server: Server
    url: str

    def get(self, path: str, *params: tuple[str, str]) -> tuple[int, Any]:
        """Status and JSON answer of a GET with these query parameters."""
        query = urllib.parse.urlencode(params)
        return get_json(f"{self.server.api}{path}?{query}")

    def ok(self, path: str, *params: tuple[str, str]) -> Any:
        """The JSON answer of a GET that must succeed."""
        status, answer = self.get(path, *params)
        assert status == 200, answer
        return answer

    def anomalies(self, *params: tuple[str, str]) -> Any:
        """The answer of GET /api/anomalies over the last two days."""
        return self.ok("/api/anomalies", ("since", "2d"), *params)

    def feedback(self, anomaly_id: object, body: bytes) -> tuple[int, Any]:
        """Status and JSON answer of a feedback POST."""
        path = f"{self.server.api}/api/anomalies/{anomaly_id}/feedback"
        status, _, answer = post(path, body, JSON_HEADERS)
        return status, json.loads(answer)

    def sql(self, query: str, *params: Any) -> list[dict[str, Any]]:
        """Rows of a query on the server's database, as dicts."""
        with psycopg.connect(self.url) as conn:
            cur = conn.execute(query, params)
            names = [c.name for c in cur.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _serve(tier: Tier, minutes: int) -> Iterator[Api]:
    url = tier.fresh_database()
    asyncio.run(_seed(url, minutes))
    server = Server(url).start()
    try:
        yield Api(server, url)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api(postgres_tier: Tier) -> Iterator[Api]:
    """A server over thirty hours of scored minutes of both services."""
    yield from _serve(postgres_tier, HOURS * 60)


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _one(api: Api, service: str, kpi: str) -> dict[str, Any]:
    found = api.anomalies(("service", service), ("kpi", kpi))["anomalies"]
    assert len(found) == 1, found
    return dict(found[0])


def test_the_latency_incident_is_listed_with_every_stored_field(api: Api) -> None:
    """The anomaly carries every field of its row, starts in the incident
    and reads as the latency it saw against the range it expected."""
    listed = api.anomalies()["anomalies"]
    # Nothing was anomalous before the first incident started.
    assert min(datetime.fromisoformat(a["started_at"]) for a in listed) >= INCIDENT
    anomaly = _one(api, "checkout", "p95_latency")
    (row,) = api.sql(f"SELECT {COLUMNS} FROM anomalies WHERE id = %s", anomaly["id"])
    times = ("started_at", "ended_at", "peak_at")
    assert anomaly == {k: _text(v) if k in times else v for k, v in row.items()}

    assert INCIDENT <= row["started_at"] <= INCIDENT + timedelta(minutes=3)
    assert row["started_at"] <= row["peak_at"] < row["ended_at"] <= NOW
    assert 0.9999 <= row["peak_score"] <= 1
    assert row["expected_low"] < row["expected"] < row["expected_high"] < 200
    assert row["observed"] > 500
    assert "streaming" in row["detectors"]
    assert (row["feedback"], row["feedback_at"]) == (None, None)
    said = EXPLAINED.fullmatch(row["explanation"])
    assert said, row["explanation"]
    numbers = [float(n.replace(",", "")) for n in said.groups()[:3]]
    seen = [row["observed"], row["expected_low"], row["expected_high"]]
    assert numbers == pytest.approx(seen, abs=0.5)
    assert said[4] == f"{row['peak_at']:%A %H:%M}"


def test_every_series_reports_its_warm_detector(api: Api) -> None:
    """After thirty hours every series of both services is warm, with how
    many buckets it has seen against the warm-up it needs."""
    detectors = api.anomalies()["detectors"]
    assert {(s["service"], s["kpi"]) for s in detectors} == {
        (service, kpi) for service in ("checkout", "search") for kpi in KPIS
    }
    last = _text(NOW - timedelta(minutes=1))
    for series in detectors:
        assert set(series) == set(STATUS.split())
        seen = (series["warm"], series["buckets_seen"], series["last_bucket"])
        assert seen == (True, HOURS * 60, last)
        assert series["buckets_needed"] == 288


def test_service_and_kpi_filters_narrow_anomalies_and_detectors(api: Api) -> None:
    """service= and kpi= keep only the matching anomalies and series, and
    repeated values combine."""
    every = api.anomalies()["anomalies"]
    assert {(a["service"], a["kpi"]) for a in every} >= {
        ("checkout", "p95_latency"),
        ("search", "error_rate"),
    }
    for params in (
        [("service", "checkout")],
        [("kpi", "error_rate")],
        [("service", "search"), ("kpi", "error_rate"), ("kpi", "throughput")],
        [("service", "checkout"), ("service", "search"), ("kpi", "p95_latency")],
    ):
        services = {v for k, v in params if k == "service"} or {"checkout", "search"}
        kpis = {v for k, v in params if k == "kpi"} or KPIS
        answer = api.anomalies(*params)
        wanted = [a for a in every if a["service"] in services and a["kpi"] in kpis]
        assert answer["anomalies"] == wanted, params
        assert {(s["service"], s["kpi"]) for s in answer["detectors"]} == {
            (service, kpi) for service in services for kpi in kpis
        }, params
    nobody = api.anomalies(("service", "nobody"))
    assert nobody == {"anomalies": [], "detectors": []}


def test_time_range_and_limit_bound_the_list(api: Api) -> None:
    """A range that ends before the incidents lists nothing; limit keeps
    the latest anomalies."""
    before = ("end", (INCIDENT - timedelta(minutes=1)).isoformat())
    assert api.ok("/api/anomalies", ("since", "1d"), before)["anomalies"] == []
    every = api.anomalies()["anomalies"]
    assert len(every) >= 2
    assert api.anomalies(("limit", "1"))["anomalies"] == every[:1]


def test_one_anomaly_by_id_is_the_listed_one(api: Api) -> None:
    """GET /api/anomalies/{id} returns the anomaly; a missing id is 404 to
    read and to judge, an id that is not a number 400."""
    listed = _one(api, "checkout", "p95_latency")
    assert api.ok(f"/api/anomalies/{listed['id']}") == listed
    missing = (404, {"error": "no anomaly 987654321"})
    assert api.get("/api/anomalies/987654321") == missing
    assert api.feedback(987654321, b'{"feedback": "confirmed"}') == missing
    status, answer = api.feedback("x1", b'{"feedback": "confirmed"}')
    assert status == 400 and "parameter 'id': got 'x1'" in answer["error"]


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("?kpi=latency", "parameter 'kpi': got 'latency', expected one of through"),
        ("?colour=red", "unknown parameter 'colour'; accepted: service, kpi"),
        ("?since=yesterday", "parameter 'since': got 'yesterday'"),
        ("?start=2026-01-01T00:00:00", "parameter 'start'"),
        ("?start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z", "a time before end"),
        ("?since=1d&start=2026-01-01T00:00:00Z", "'since' and 'start' exclude"),
        ("?limit=0", "parameter 'limit': got '0'"),
        ("/abc", "parameter 'id': got 'abc'"),
        ("/0", "parameter 'id': got '0'"),
        ("/99999999999999999999", "parameter 'id'"),
        # Past Python's limit on digits turned into an int.
        ("/" + "9" * 5000, "parameter 'id'"),
    ],
)
def test_bad_requests_are_refused_naming_the_parameter(
    api: Api, path: str, words: str
) -> None:
    """A bad parameter or id gets 400 naming it, and the server serves on."""
    status, answer = get_json(f"{api.server.api}/api/anomalies{path}")
    assert status == 400, answer
    assert words in answer["error"]
    assert api.anomalies(("kpi", "p95_latency"))["anomalies"]
    assert api.server.alive()


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"false positive", ("the body is not JSON", "false_positive, confirmed")),
        (b"", ("the body is not JSON",)),
        (b'{"feedback": "maybe"}', ("parameter 'feedback'", "maybe")),
        (b'{"verdict": "confirmed"}', ("parameter 'feedback'", "None")),
        (b'["false_positive"]', ("parameter 'feedback'", "a JSON object")),
    ],
)
def test_bad_feedback_is_refused_saying_what_was_wrong(
    api: Api, body: bytes, words: tuple[str, ...]
) -> None:
    """Feedback that is not JSON, or not a known verdict, gets 400 saying
    so and changes nothing; the server serves on."""
    listed = _one(api, "checkout", "p95_latency")
    status, answer = api.feedback(listed["id"], body)
    assert status == 400, answer
    assert all(word in answer["error"] for word in words), answer
    assert _one(api, "checkout", "p95_latency") == listed
    assert api.server.alive()


def _tolerances(api: Api, service: str) -> dict[str, float]:
    rows = api.sql(
        "SELECT kpi, tolerance FROM detector_state WHERE service = %s", service
    )
    return {row["kpi"]: row["tolerance"] for row in rows}


def test_a_false_positive_raises_the_tolerance_of_its_series(api: Api) -> None:
    """Confirming changes no tolerance; a false positive is recorded on the
    anomaly and widens its series' range enough to take in what it saw."""
    anomaly = _one(api, "search", "error_rate")
    assert set(_tolerances(api, "search").values()) == {1.0}

    status, confirmed = api.feedback(anomaly["id"], b'{"feedback": "confirmed"}')
    assert status == 200, confirmed
    assert confirmed["feedback"] == "confirmed"
    assert set(_tolerances(api, "search").values()) == {1.0}

    status, answer = api.feedback(anomaly["id"], b'{"feedback": "false_positive"}')
    assert status == 200, answer
    assert answer["feedback"] == "false_positive"
    assert datetime.fromisoformat(answer["feedback_at"]) > NOW
    assert {k: v for k, v in answer.items() if not k.startswith("feedback")} == {
        k: v for k, v in anomaly.items() if not k.startswith("feedback")
    }
    assert api.ok(f"/api/anomalies/{anomaly['id']}") == answer

    tolerance = _tolerances(api, "search")
    observed, expected = anomaly["observed"], anomaly["expected"]
    needed = 1.1 * (observed - expected) / (anomaly["expected_high"] - expected)
    assert tolerance.pop("error_rate") == pytest.approx(max(1.25, needed))
    assert set(tolerance.values()) == {1.0}
    assert set(_tolerances(api, "checkout").values()) == {1.0}


@pytest.fixture
def cold(postgres_tier: Tier) -> Iterator[Api]:
    """A server over five scored minutes: the detectors' cold start."""
    yield from _serve(postgres_tier, 5)


def test_a_cold_start_reports_detectors_not_warm_and_no_anomaly(cold: Api) -> None:
    """With five minutes of data no detector scores yet: the list is empty
    and every series says how far it is from warm."""
    answer = cold.anomalies()
    assert answer["anomalies"] == []
    assert len(answer["detectors"]) == 2 * len(KPIS)
    for series in answer["detectors"]:
        assert series["warm"] is False
        assert (series["buckets_seen"], series["buckets_needed"]) == (5, 288)
    assert cold.sql("SELECT count(*) AS n FROM kpi_scores WHERE warm") == [{"n": 0}]
