"""The read API (logs, metric series and points, KPIs, patterns) on a running
server, checked against SQL on the same database."""

from __future__ import annotations

import json
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.clusters import Cluster
from tests.conftest import TIERS, Tier
from tests.servers import JSON_HEADERS, Server, get_json, post
from tests.wait import until

TRACE_1 = "5b8efff798038103d269b633813fc60c"
TRACE_2 = "0af7651916cd43dd8448eb211c80319c"
KPI_FIELDS = {
    "requests",
    "errors",
    "error_rate",
    "throughput_rps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "mean_ms",
    "logs",
    "error_logs",
    "warn_logs",
    "new_patterns",
}
LOG_FIELDS = {
    "time",
    "observed_time",
    "service",
    "severity_number",
    "severity_text",
    "severity_inferred",
    "body",
    "body_value",
    "attributes",
    "resource",
    "scope_name",
    "scope_version",
    "scope_attributes",
    "trace_id",
    "span_id",
    "flags",
    "dropped_attributes_count",
    "event_name",
    "schema_url",
    "pattern_id",
    "tags",
}


@dataclass(frozen=True, slots=True)
class Loaded:
    """A server holding the data set below, and where that data starts."""

    server: Server
    url: str
    base: datetime

    def at(self, seconds: float) -> datetime:
        """The time ``seconds`` after the start of the data."""
        return self.base + timedelta(seconds=seconds)

    def get(self, path: str, *params: tuple[str, Any]) -> tuple[int, Any]:
        """Status and JSON answer of a GET with these query parameters."""
        query = urllib.parse.urlencode([(k, str(v)) for k, v in params])
        return get_json(f"{self.server.api}{path}?{query}")

    def ok(self, path: str, *params: tuple[str, Any]) -> Any:
        """The JSON answer of a GET that must succeed."""
        status, answer = self.get(path, *params)
        assert status == 200, answer
        return answer

    def sql(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Rows of a query on the server's database."""
        with psycopg.connect(self.url) as conn:
            return conn.execute(query, params).fetchall()

    def window(self) -> tuple[tuple[str, str], tuple[str, str]]:
        """start and end parameters around all of the data."""
        return ("start", _text(self.at(-60))), ("end", _text(self.at(180)))


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _send(server: Server, kind: str, items: list[dict[str, Any]]) -> None:
    body = json.dumps({kind: items}, default=_text).encode()
    status, _, answer = post(f"{server.api}/api/ingest/{kind}", body, JSON_HEADERS)
    assert status == 200, answer
    assert json.loads(answer)["accepted"] == len(items)


def _log(t: datetime, service: str, severity: str, body: str, **extra: Any) -> Any:
    return {"time": t, "service": service, "severity": severity, "body": body, **extra}


def _load_logs(data: Loaded) -> None:
    at = data.at
    _send(
        data.server,
        "logs",
        [
            _log(
                at(10),
                "checkout",
                "ERROR",
                "payment failed for order 42",
                attributes={"order.id": 42, "paid": False, "region": "eu"},
                trace_id=TRACE_1,
                span_id="eee19b7ec3c1b174",
            ),
            _log(
                at(20),
                "checkout",
                "WARN",
                "retrying payment",
                attributes={"order.id": "42", "region": "us"},
                trace_id=TRACE_1,
            ),
            _log(at(30), "checkout", "INFO", "50% off_sale applied", attributes={}),
            _log(at(40), "checkout", "INFO", "500 offXsale", attributes={"paid": True}),
            _log(
                at(50), "checkout", "DEBUG", "cache warm", attributes={"paid": "true"}
            ),
            _log(at(15), "search", "FATAL", "index corrupted", trace_id=TRACE_2),
            *(_log(at(60), "pager", "INFO", f"page item {i % 10}") for i in range(22)),
            _log(at(59), "pager", "INFO", "page item before"),
            _log(at(61), "pager", "INFO", "page item after"),
            *(
                _log(at(70 + i), "auth", "INFO", f"user {i} logged in from 10.0.0.{i}")
                for i in range(6)
            ),
            _log(at(80), "auth", "ERROR", "disk full on /dev/sda1"),
        ],
    )


def _point(name: str, t: datetime, value: float, **extra: Any) -> dict[str, Any]:
    return {"name": name, "time": t, "value": value, "service": "worker", **extra}


def _load_metrics(data: Loaded) -> None:
    at = data.at
    delta = {"kind": "sum", "temporality": "delta", "monotonic": True}
    _send(
        data.server,
        "metrics",
        [
            _point("jobs.done", at(5), 3, attributes={"queue": "a"}, **delta),
            _point("jobs.done", at(20), 4, attributes={"queue": "a"}, **delta),
            _point("jobs.done", at(65), 10, attributes={"queue": "a"}, **delta),
            _point("jobs.done", at(30), 5, attributes={"queue": "b"}, **delta),
            _point("queue.depth", at(10), 4, kind="gauge", attributes={"queue": "a"}),
            _point("queue.depth", at(40), 8, kind="gauge", attributes={"queue": "a"}),
            _point("queue.depth", at(10), 10, kind="gauge", attributes={"queue": "b"}),
        ],
    )
    # Cumulative points go one request at a time, in order, as an SDK sends.
    for seconds, total in ((10, 100), (40, 150), (70, 400)):
        cumulative = {
            "kind": "sum",
            "temporality": "cumulative",
            "start_time": at(-3600),
        }
        _send(
            data.server,
            "metrics",
            [_point("bytes.sent", at(seconds), total, **cumulative)],
        )
    histogram = {
        "name": "http.server.request.duration",
        "kind": "histogram",
        "temporality": "delta",
        "unit": "s",
        "service": "shop",
        "bounds": [0.1, 0.5, 1.0],
    }
    _send(
        data.server,
        "metrics",
        [
            {
                **histogram,
                "time": at(10),
                "counts": [0, 10, 0, 0],
                "sum": 2.0,
                "attributes": {"http.response.status_code": 200},
            },
            {
                **histogram,
                "time": at(20),
                "counts": [0, 0, 2, 0],
                "sum": 1.5,
                "attributes": {"http.response.status_code": 500},
            },
        ],
    )


@pytest.fixture(scope="module", params=TIERS)
def loaded(request: pytest.FixtureRequest) -> Iterator[Loaded]:
    """A server of each tier with logs and metrics of the last two minutes."""
    fixture = {
        "timescale-apache": "apache_tier",
        "postgres": "postgres_tier",
        "timescale": "timescale_tier",
    }[request.param]
    tier: Tier = request.getfixturevalue(fixture)
    url = tier.fresh_database()
    server = Server(url, FLOWGUARD_ROLLUP_REFRESH_S="1").start()
    now = datetime.now(UTC)
    # Two whole minutes that have passed, recent enough for the rollup
    # refresh, which looks back five minutes, to include them.
    base = now.replace(second=0, microsecond=0) - timedelta(minutes=2)
    data = Loaded(server, url, base)
    try:
        _load_logs(data)
        _load_metrics(data)
        yield data
    finally:
        server.stop()


def _all_pages(data: Loaded, limit: int, *params: tuple[str, Any]) -> list[Any]:
    items: list[Any] = []
    cursor: str | None = None
    while True:
        extra = (("cursor", cursor),) if cursor else ()
        page = data.ok("/api/logs", *params, ("limit", limit), *extra)
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def _newest_first(items: list[Any]) -> bool:
    times = [datetime.fromisoformat(item["time"]) for item in items]
    return times == sorted(times, reverse=True)


class TestLogs:
    """``GET /api/logs``."""

    @pytest.mark.parametrize(
        ("params", "condition", "bodies"),
        [
            (
                [("service", "search")],
                "service = 'search'",
                {"index corrupted"},
            ),
            (
                [("service", "search"), ("service", "checkout")],
                "service IN ('search', 'checkout')",
                None,
            ),
            (
                [("min_severity", "Error")],
                "severity_number >= 17",
                {
                    "payment failed for order 42",
                    "index corrupted",
                    "disk full on /dev/sda1",
                },
            ),
            ([("min_severity", "warn")], "severity_number >= 13", None),
            ([("min_severity", "21")], "severity_number >= 21", {"index corrupted"}),
            (
                [("trace_id", TRACE_1.upper())],
                f"trace_id = '{TRACE_1}'",
                {"payment failed for order 42", "retrying payment"},
            ),
            (
                [("attr.order.id", "42")],
                "attributes->'order.id' IN ('42', '\"42\"')",
                {"payment failed for order 42", "retrying payment"},
            ),
            (
                [("attr.paid", "true")],
                "attributes->'paid' IN ('true', '\"true\"')",
                {"500 offXsale", "cache warm"},
            ),
            (
                [("attr.order.id", "42"), ("attr.region", "eu")],
                'attributes @> \'{"order.id": 42, "region": "eu"}\'',
                {"payment failed for order 42"},
            ),
            (
                [("q", "50% OFF_sale")],
                "body = '50% off_sale applied'",
                {"50% off_sale applied"},
            ),
            ([("q", "_")], "body LIKE '%\\_%'", {"50% off_sale applied"}),
            ([("q", "Payment")], "body ILIKE '%payment%'", None),
        ],
    )
    def test_each_filter_returns_the_records_sql_finds(
        self,
        loaded: Loaded,
        params: list[tuple[str, str]],
        condition: str,
        bodies: set[str] | None,
    ) -> None:
        """Each filter returns exactly the records its SQL condition selects,
        newest first."""
        answer = loaded.ok("/api/logs", *loaded.window(), *params, ("limit", 1000))

        found = Counter((i["time"], i["body"]) for i in answer["items"])
        rows = loaded.sql(f"SELECT time, body FROM logs WHERE {condition}")
        assert found == Counter((_text(t), body) for t, body in rows)
        assert found
        assert _newest_first(answer["items"])
        assert answer["next_cursor"] is None
        if bodies is not None:
            assert {i["body"] for i in answer["items"]} == bodies

    def test_items_carry_every_stored_field(self, loaded: Loaded) -> None:
        """An item has every column of its row, times as RFC 3339 UTC."""
        answer = loaded.ok("/api/logs", *loaded.window(), ("trace_id", TRACE_1))
        item = next(i for i in answer["items"] if i["severity_text"] == "ERROR")

        assert set(item) == LOG_FIELDS
        assert item["time"] == _text(loaded.at(10))
        assert item["attributes"] == {"order.id": 42, "paid": False, "region": "eu"}
        assert item["resource"]["service.name"] == "checkout"
        assert (item["trace_id"], item["span_id"]) == (TRACE_1, "eee19b7ec3c1b174")
        assert (item["severity_number"], item["service"]) == (17, "checkout")
        assert isinstance(item["tags"], list)
        [(tags, pattern_id)] = loaded.sql(
            "SELECT tags, pattern_id FROM logs WHERE span_id = 'eee19b7ec3c1b174'"
        )
        assert (item["tags"], item["pattern_id"]) == (tags or [], pattern_id)

    @pytest.mark.parametrize("limit", [1, 4, 7])
    def test_pages_return_every_record_once_in_order(
        self, loaded: Loaded, limit: int
    ) -> None:
        """Following next_cursor yields every record exactly once, newest
        first, even with many records of one time and identical copies."""
        items = _all_pages(loaded, limit, *loaded.window(), ("service", "pager"))

        rows = loaded.sql("SELECT time, body FROM logs WHERE service = 'pager'")
        assert len(items) == len(rows) == 24
        found = Counter((i["time"], i["body"]) for i in items)
        assert found == Counter((_text(t), body) for t, body in rows)
        assert _newest_first(items)
        assert items[0]["body"] == "page item after"
        assert items[-1]["body"] == "page item before"

    def test_pages_over_every_service_match_sql(self, loaded: Loaded) -> None:
        """Paging without filters yields what a count over the range finds."""
        items = _all_pages(loaded, 5, *loaded.window())

        [(count,)] = loaded.sql(
            "SELECT count(*) FROM logs WHERE time >= %s AND time < %s",
            (loaded.at(-60), loaded.at(180)),
        )
        assert len(items) == count == 37
        assert _newest_first(items)

    def test_tags_filter_needs_every_tag(self, loaded: Loaded) -> None:
        """tag=X returns the records tagged X; two tags need both."""
        rows = loaded.sql("SELECT DISTINCT tags FROM logs WHERE tags IS NOT NULL")
        assert rows, "no record was tagged"
        tags = max((r[0] for r in rows), key=len)

        for wanted in ([tags[0]], tags[:2]):
            params = [("tag", tag) for tag in wanted]
            answer = loaded.ok("/api/logs", *loaded.window(), *params, ("limit", 1000))
            [(count,)] = loaded.sql(
                "SELECT count(*) FROM logs WHERE tags @> %s", (wanted,)
            )
            assert len(answer["items"]) == count > 0
            assert all(set(wanted) <= set(i["tags"]) for i in answer["items"])

    def test_limit_over_a_thousand_is_refused(self, loaded: Loaded) -> None:
        """A page size over 1000 gets 400 naming limit and the value."""
        status, answer = loaded.get("/api/logs", ("limit", 1001))
        assert status == 400
        assert "'limit'" in answer["error"] and "'1001'" in answer["error"]


class TestPatterns:
    """``GET /api/patterns``."""

    def test_counts_match_the_records_of_each_pattern(self, loaded: Loaded) -> None:
        """Each pattern's count and last record are those of its records in
        the range, the most frequent first, and new patterns are marked."""
        answer = loaded.ok("/api/patterns", *loaded.window(), ("service", "auth"))

        rows = loaded.sql(
            "SELECT pattern_id, count(*), max(time) FROM logs"
            " WHERE service = 'auth' AND pattern_id IS NOT NULL GROUP BY pattern_id"
        )
        patterns = answer["patterns"]
        found = {p["pattern_id"]: (p["count"], p["last_seen"]) for p in patterns}
        assert found == {pid: (n, _text(last)) for pid, n, last in rows}
        counts = [p["count"] for p in patterns]
        assert counts == sorted(counts, reverse=True)
        assert counts[0] == 6
        assert all(p["new"] and p["service"] == "auth" for p in patterns)

    def test_pattern_filter_returns_its_records(self, loaded: Loaded) -> None:
        """pattern=<id> on /api/logs returns the records of that pattern."""
        top = loaded.ok("/api/patterns", *loaded.window())["patterns"][0]
        answer = loaded.ok(
            "/api/logs",
            *loaded.window(),
            ("pattern", top["pattern_id"]),
            ("limit", 1000),
        )
        assert len(answer["items"]) == top["count"]
        assert {i["pattern_id"] for i in answer["items"]} == {top["pattern_id"]}


class TestMetrics:
    """``GET /api/metrics/series`` and ``GET /api/metrics``."""

    @pytest.mark.parametrize(
        ("params", "condition"),
        [
            ([("name", "jobs.done")], "name = 'jobs.done'"),
            ([("name", "jobs.*")], "name LIKE 'jobs.%'"),
            ([("attr.queue", "a")], 'attributes @> \'{"queue": "a"}\''),
            ([("service", "shop")], "service = 'shop'"),
            (
                [("name", "queue.*"), ("attr.queue", "b")],
                "name = 'queue.depth' AND attributes->>'queue' = 'b'",
            ),
        ],
    )
    def test_series_search_finds_the_catalogue_rows(
        self, loaded: Loaded, params: list[tuple[str, str]], condition: str
    ) -> None:
        """Series search returns the catalogue rows the condition selects."""
        answer = loaded.ok("/api/metrics/series", *params)

        rows = loaded.sql(f"SELECT series_id FROM metric_series WHERE {condition}")
        assert sorted(s["series_id"] for s in answer["series"]) == sorted(
            r[0] for r in rows
        )
        assert answer["series"]
        assert {"name", "kind", "temporality", "attributes", "first_seen"} <= set(
            answer["series"][0]
        )

    def _points(self, loaded: Loaded, *params: tuple[str, Any]) -> Any:
        window = (("start", _text(loaded.base)), ("end", _text(loaded.at(120))))
        answer = loaded.ok("/api/metrics", *window, ("step", "1m"), *params)
        assert answer["step"] == "1m"
        return answer["series"]

    def test_sum_of_a_delta_counter_per_step_is_what_was_sent(
        self, loaded: Loaded
    ) -> None:
        """agg=sum adds the deltas of every matching series per step."""
        [series] = self._points(loaded, ("name", "jobs.done"), ("agg", "sum"))
        assert series["group"]["series_count"] == 2
        assert series["points"] == [
            [_text(loaded.base), 12.0],
            [_text(loaded.at(60)), 10.0],
        ]

    def test_rate_and_attribute_filter_on_a_counter(self, loaded: Loaded) -> None:
        """agg=rate is the increase per second; attr.<key> narrows the series."""
        [series] = self._points(
            loaded, ("name", "jobs.done"), ("agg", "rate"), ("attr.queue", "a")
        )
        assert [v for _, v in series["points"]] == pytest.approx([7 / 60, 10 / 60])

    def test_cumulative_counter_sums_its_converted_deltas(self, loaded: Loaded) -> None:
        """A cumulative counter sums the increases found at ingest."""
        [series] = self._points(loaded, ("name", "bytes.sent"), ("agg", "sum"))
        assert [v for _, v in series["points"]] == [150.0, 250.0]
        [(total,)] = loaded.sql(
            "SELECT sum(p.delta) FROM metric_points p JOIN metric_series s"
            " USING (series_id) WHERE s.name = 'bytes.sent'"
        )
        assert total == 400.0

    @pytest.mark.parametrize(
        ("agg", "value"), [("avg", 8.0), ("sum", 16.0), ("max", 10.0)]
    )
    def test_gauge_combines_the_level_of_each_series(
        self, loaded: Loaded, agg: str, value: float
    ) -> None:
        """For a gauge, each series' level in a step is combined across series."""
        [series] = self._points(loaded, ("name", "queue.depth"), ("agg", agg))
        assert series["points"] == [[_text(loaded.base), value]]

    def test_raw_points_of_one_series(self, loaded: Loaded) -> None:
        """Without agg, series_id returns the points as stored."""
        [series_id] = [
            s["series_id"]
            for s in loaded.ok("/api/metrics/series", ("name", "jobs.done"))["series"]
            if s["attributes"] == {"queue": "a"}
        ]
        answer = loaded.ok(
            "/api/metrics", ("series_id", series_id), ("start", _text(loaded.base))
        )
        assert answer["step"] is None
        [series] = answer["series"]
        assert series["series_id"] == series_id
        assert series["points"] == [
            [_text(loaded.at(5)), 3.0],
            [_text(loaded.at(20)), 4.0],
            [_text(loaded.at(65)), 10.0],
        ]

    @pytest.mark.parametrize(("q", "low", "high"), [(0.5, 0.1, 0.5), (0.99, 0.5, 1.0)])
    def test_histogram_quantile_lies_in_the_bucket_of_its_rank(
        self, loaded: Loaded, q: float, low: float, high: float
    ) -> None:
        """agg=quantile merges the buckets of the series and interpolates in
        the bucket holding the rank."""
        [series] = self._points(
            loaded,
            ("name", "http.server.request.duration"),
            ("agg", "quantile"),
            ("q", q),
        )
        assert series["group"]["bounds"] == [0.1, 0.5, 1.0]
        [[_, value]] = series["points"]
        assert low <= value <= high

    def test_histogram_sum_counts_observations(self, loaded: Loaded) -> None:
        """agg=sum on a histogram counts its observations per step."""
        [series] = self._points(
            loaded, ("name", "http.server.request.duration"), ("agg", "sum")
        )
        assert series["points"] == [[_text(loaded.base), 12.0]]

    @pytest.mark.parametrize(
        ("since", "step"), [("1h", "30s"), ("1d", "5m"), ("7d", "1h")]
    )
    def test_default_step_keeps_about_300_points(
        self, loaded: Loaded, since: str, step: str
    ) -> None:
        """The default step is the smallest of the offered ones giving at
        most 300 steps."""
        answer = loaded.ok(
            "/api/metrics", ("name", "jobs.done"), ("agg", "sum"), ("since", since)
        )
        assert answer["step"] == step
        assert sum(v for _, v in answer["series"][0]["points"]) == 22.0

    @pytest.mark.parametrize(
        ("params", "words"),
        [
            ([("name", "queue.depth"), ("agg", "rate")], "agg=rate needs"),
            (
                [("name", "jobs.done"), ("agg", "quantile"), ("q", "0.5")],
                "needs histograms",
            ),
            (
                [("name", "jobs.done"), ("agg", "median")],
                "parameter 'agg': got 'median'",
            ),
            ([("name", "jobs.done")], "parameter 'agg' is required"),
            ([("name", "jobs.done"), ("agg", "sum"), ("q", "0.5")], "parameter 'q'"),
            ([("agg", "sum")], "exactly one of series_id"),
            ([("name", "x"), ("agg", "quantile"), ("q", "1.5")], "'1.5'"),
            (
                [("name", "x"), ("agg", "sum"), ("step", "1s"), ("since", "7d")],
                "'step'",
            ),
        ],
    )
    def test_aggregations_that_do_not_apply_are_refused(
        self, loaded: Loaded, params: list[tuple[str, str]], words: str
    ) -> None:
        """A combination the series cannot answer gets 400 saying why."""
        status, answer = loaded.get("/api/metrics", *params)
        assert status == 400
        assert words in answer["error"]


class TestKpis:
    """``GET /api/kpis``."""

    def test_minute_kpis_per_service(self, loaded: Loaded) -> None:
        """Requests, errors, latency and log counts arrive per service and
        minute once the rollups are refreshed."""

        def refreshed() -> Any:
            answer = loaded.ok(
                "/api/kpis", ("service", "shop"), ("service", "checkout")
            )
            services = answer["services"]
            requests = sum(r["requests"] for r in services.get("shop", []))
            logs = sum(r["logs"] for r in services.get("checkout", []))
            return answer if (requests, logs) == (12, 5) else None

        answer = until(refreshed, timeout_s=60, what="KPIs of shop and checkout")

        assert (answer["step"], answer["source"]) == ("1m", "kpi_1m")
        assert set(answer["services"]) == {"shop", "checkout"}
        [row] = [r for r in answer["services"]["shop"] if r["requests"]]
        assert set(row) == {"bucket", *KPI_FIELDS}
        assert row["bucket"] == _text(loaded.base)
        assert (row["requests"], row["errors"]) == (12, 2)
        assert row["error_rate"] == pytest.approx(2 / 12)
        assert row["throughput_rps"] == pytest.approx(12 / 60)
        assert 100 <= row["p50_ms"] <= 500 <= row["p99_ms"] <= 1000
        [logs] = [r for r in answer["services"]["checkout"] if r["logs"]]
        assert (logs["logs"], logs["error_logs"], logs["warn_logs"]) == (5, 1, 1)

    @pytest.mark.parametrize(
        ("params", "step"),
        [
            ([("since", "7d")], "1h"),
            ([("since", "6h")], "1m"),
            ([("step", "1h")], "1h"),
        ],
    )
    def test_step_follows_the_range_or_the_request(
        self, loaded: Loaded, params: list[tuple[str, str]], step: str
    ) -> None:
        """Ranges up to 6h read kpi_1m, longer ones kpi_1h, unless step says."""
        answer = loaded.ok("/api/kpis", *params)
        assert (answer["step"], answer["source"]) == (step, f"kpi_{step}")


@pytest.mark.parametrize(
    ("path", "params", "words"),
    [
        ("/api/logs", [("limit", "0")], "parameter 'limit': got '0'"),
        ("/api/logs", [("limit", "ten")], "an integer from 1 to 1000"),
        ("/api/logs", [("since", "yesterday")], "parameter 'since': got 'yesterday'"),
        ("/api/logs", [("since", "0s")], "longer than zero"),
        ("/api/logs", [("start", "2026-13-01T00:00:00Z")], "parameter 'start'"),
        ("/api/logs", [("start", "2026-01-01T00:00:00")], "RFC 3339"),
        ("/api/logs", [("since", "1h"), ("start", "2026-01-01T00:00:00Z")], "exclude"),
        ("/api/logs", [("min_severity", "loud")], "parameter 'min_severity'"),
        ("/api/logs", [("min_severity", "25")], "1 to 24"),
        ("/api/logs", [("trace_id", "abc")], "parameter 'trace_id': got 'abc'"),
        ("/api/logs", [("cursor", "bm9wZQ")], "parameter 'cursor'"),
        ("/api/logs", [("pattern", "x")], "parameter 'pattern'"),
        ("/api/logs", [("limit", "5"), ("limit", "6")], "one value"),
        ("/api/logs", [("colour", "red")], "unknown parameter 'colour'"),
        ("/api/metrics/series", [("limit", "5000")], "parameter 'limit'"),
        (
            "/api/kpis",
            [("step", "5m")],
            "parameter 'step': got '5m', expected 1m or 1h",
        ),
        ("/api/kpis", [("step", "1m"), ("since", "30d")], "parameter 'step'"),
        ("/api/patterns", [("q", "x")], "unknown parameter 'q'"),
        ("/api/logs", [("text", "a\x00b")], "without NUL characters"),
        ("/api/logs", [("since", "3000000d")], "at most 36500d"),
    ],
)
def test_bad_parameters_are_named_in_the_error(
    loaded: Loaded, path: str, params: list[tuple[str, str]], words: str
) -> None:
    """A bad parameter gets 400 with a message naming it and what was sent."""
    status, answer = loaded.get(path, *params)
    assert status == 400
    assert words in answer["error"]


def test_unreachable_database_answers_503_with_retry_after(
    own_cluster: Cluster,
) -> None:
    """With the database stopped, a read gets 503 and a Retry-After hint."""
    server = Server(own_cluster.create_database("reads"), FLOWGUARD_RETRY_AFTER_S="2")
    server.start()
    try:
        status, _ = get_json(f"{server.api}/api/logs")
        assert status == 200
        own_cluster.stop()
        status, headers, body = post(f"{server.api}/api/logs", b"", method="GET")
        assert status == 503
        assert headers["Retry-After"] == "2"
        assert "database unavailable" in json.loads(body)["error"]
    finally:
        server.stop()
