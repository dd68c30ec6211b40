"""What a rule file says, as values: groups of rules, routes and channels.

``alerting.rulefile`` builds these from YAML and checks them; the evaluator,
the backtest and the dispatcher only read them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "KPIS",
    "METRIC_AGGS",
    "SEVERITIES",
    "AbsentQuery",
    "AlertView",
    "AnomalyQuery",
    "KpiQuery",
    "LogQuery",
    "Matcher",
    "MetricQuery",
    "Notification",
    "Query",
    "Route",
    "Rule",
    "RuleGroup",
    "RuleSet",
    "Sample",
    "SqlQuery",
]

# The KPIs a rule can watch, computed over the rule's window from the
# mergeable parts in the minute rollups (never averaged from minute ratios).
KPIS = (
    "requests",
    "errors",
    "error_rate",
    "throughput",
    "p50_latency",
    "p95_latency",
    "p99_latency",
    "mean_latency",
    "logs",
    "error_logs",
    "warn_logs",
)
METRIC_AGGS = ("sum", "avg", "min", "max", "last", "count", "rate")
# Severity names a log rule accepts, with the lowest OTel severity number
# of each range (the OTel log data model).
SEVERITIES = {"TRACE": 1, "DEBUG": 5, "INFO": 9, "WARN": 13, "ERROR": 17, "FATAL": 21}


@dataclass(frozen=True, slots=True)
class KpiQuery:
    """A KPI of each service, over the rule's window."""

    kpi: str


@dataclass(frozen=True, slots=True)
class AnomalyQuery:
    """The highest anomaly score of each service's KPI over the window,
    counting only buckets the detectors marked anomalous."""

    kpi: str | None = None
    min_score: float = 0.0


@dataclass(frozen=True, slots=True)
class LogQuery:
    """The number of matching log records of each service in the window."""

    text: str | None = None
    min_severity: int | None = None
    pattern_id: int | None = None
    tags: tuple[str, ...] = ()
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class AbsentQuery:
    """True for each service with no data for the KPI in the window: a
    service named by the rule, or one that sent data in ``lookback_s``."""

    kpi: str
    lookback_s: float = 86400.0


@dataclass(frozen=True, slots=True)
class MetricQuery:
    """An aggregate of a metric's points in the window, per service and the
    attributes named in ``by``."""

    name: str
    where: tuple[tuple[str, str], ...] = ()
    agg: str = "max"
    by: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SqlQuery:
    """A read-only query returning label columns and a ``value`` column.

    The query may use ``%(at)s``, the evaluation time; only such queries
    can be replayed by the backtest.
    """

    sql: str
    timeout_s: float = 10.0

    @property
    def replayable(self) -> bool:
        """Whether the query reads the evaluation time."""
        return "%(at)s" in self.sql


Query = KpiQuery | AnomalyQuery | LogQuery | AbsentQuery | MetricQuery | SqlQuery


@dataclass(frozen=True, slots=True)
class Rule:
    """One alert rule.

    ``services`` empty means every service. ``above`` and ``below`` are
    thresholds on the query's value (exclusive); a rule without either
    fires on every series its query returns (anomaly, absent and sql rules
    use this). ``line`` is where the rule starts in its file.
    """

    name: str
    group: str
    query: Query
    services: tuple[str, ...] = ()
    window_s: float = 300.0
    above: float | None = None
    below: float | None = None
    for_s: float = 0.0
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    line: int = 0

    @property
    def kind(self) -> str:
        """The rule's kind as written in the file: kpi, anomaly, logs, ..."""
        return _KINDS[type(self.query)]

    @property
    def threshold(self) -> str:
        """The condition in words, for notifications: "above 0.05"."""
        parts = []
        if self.above is not None:
            parts.append(f"above {self.above:g}")
        if self.below is not None:
            parts.append(f"below {self.below:g}")
        return " or ".join(parts) or _KIND_CONDITION[type(self.query)]

    def breached(self, value: float | None) -> bool:
        """Whether ``value`` meets the rule's condition."""
        if self.above is None and self.below is None:
            return True
        if value is None:
            return False
        if self.above is not None and value > self.above:
            return True
        return self.below is not None and value < self.below


_KINDS: dict[type, str] = {
    KpiQuery: "kpi",
    AnomalyQuery: "anomaly",
    LogQuery: "logs",
    AbsentQuery: "absent",
    MetricQuery: "metric",
    SqlQuery: "sql",
}
_KIND_CONDITION: dict[type, str] = {
    KpiQuery: "any value",
    AnomalyQuery: "an anomaly",
    LogQuery: "any record",
    AbsentQuery: "no data",
    MetricQuery: "any value",
    SqlQuery: "a row",
}


@dataclass(frozen=True, slots=True)
class RuleGroup:
    """Rules evaluated together every ``interval_s``."""

    name: str
    interval_s: float = 60.0
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True, slots=True)
class Matcher:
    """A label matcher: ``op`` is ``=``, ``!=``, ``=~`` or ``!~`` (regular
    expressions match the whole value)."""

    name: str
    value: str
    op: str = "="

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy the matcher; a missing label is ''."""
        found = labels.get(self.name, "")
        if self.op == "=":
            return found == self.value
        if self.op == "!=":
            return found != self.value
        hit = re.fullmatch(self.value, found) is not None
        return hit if self.op == "=~" else not hit


@dataclass(frozen=True, slots=True)
class Route:
    """Where alerts whose labels match go, and how they are grouped.

    An alert takes the first route that matches, and also later ones
    while the matched route says ``continue_``.
    """

    matchers: tuple[Matcher, ...] = ()
    notify: tuple[str, ...] = ()
    group_by: tuple[str, ...] = ("alertname",)
    group_wait_s: float = 30.0
    group_interval_s: float = 300.0
    repeat_interval_s: float = 4 * 3600.0
    continue_: bool = False
    line: int = 0

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether every matcher accepts ``labels``."""
        return all(m.matches(labels) for m in self.matchers)


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A whole rule file, checked."""

    groups: tuple[RuleGroup, ...] = ()
    routes: tuple[Route, ...] = ()
    channels: Mapping[str, str] = field(default_factory=dict)
    path: str = ""

    @property
    def rules(self) -> tuple[Rule, ...]:
        """Every rule, in file order."""
        return tuple(rule for group in self.groups for rule in group.rules)


@dataclass(frozen=True, slots=True)
class Sample:
    """One series a query returned at an evaluation time: its labels, its
    value, and details for templates (an anomaly's explanation, say)."""

    labels: Mapping[str, str]
    value: float | None
    details: Mapping[str, object] = field(default_factory=dict)
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AlertView:
    """One alert as a notification shows it.

    ``state`` is ``firing`` or ``resolved``; ``link`` opens the service's
    KPIs around the alert's time.
    """

    rule: str
    labels: Mapping[str, str]
    value: float | None
    threshold: str
    annotations: Mapping[str, str]
    state: str
    started_at: datetime
    resolved_at: datetime | None = None
    link: str = ""
    silenced: bool = False
    alert_id: int | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    """What one group sends at once to its route's channels.

    ``kind`` is ``firing`` (new or changed alerts), ``reminder`` (still
    firing after the repeat interval), ``resolved`` (every alert of the
    group resolved) or ``test``. ``group_labels`` are the values of the
    route's ``group_by`` labels shared by the alerts.
    """

    kind: str
    group_labels: Mapping[str, str]
    alerts: tuple[AlertView, ...]
    at: datetime
