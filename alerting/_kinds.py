"""What each kind of rule watches: the ``kpi``, ``anomaly``, ``logs``,
``absent``, ``metric`` and ``sql`` keys of a rule, read into queries."""

from __future__ import annotations

import re
from collections.abc import Callable

from alerting._section import Section
from alerting._yaml import Scalar
from alerting.model import (
    KPIS,
    METRIC_AGGS,
    SEVERITIES,
    AbsentQuery,
    AnomalyQuery,
    KpiQuery,
    LogQuery,
    MetricQuery,
    Query,
    SqlQuery,
)
from processing.anomaly.watched import WATCHED_KPIS
from processing.tags import TAGS

__all__ = ["KINDS", "read_query"]

# A query, and the services named inside the kind's mapping (None when the
# mapping has no ``service``).
Found = tuple[Query | None, tuple[str, ...] | None]

KINDS = ("kpi", "anomaly", "logs", "absent", "metric", "sql")
# OTel instrument name syntax (the OTel metrics API specification).
_METRIC_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_./-]{0,254}$")
_MAX_SEVERITY = 24
# Text the database does not read as SQL: string literals, quoted names,
# comments and dollar-quoted bodies; a ';' inside them ends nothing.
_SQL_QUOTED = re.compile(
    r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/"
    r"|\$(?P<tag>[A-Za-z_]\w*)?\$.*?\$(?P=tag)?\$",
    re.S,
)
_PERCENT = re.compile(r"%\((\w*)\)s|%%|%")


def read_query(section: Section, kind: str) -> Found:
    """The query of a rule of ``kind``, read from its key in ``section``."""
    return _READERS[kind](section)


def _inner(section: Section, kind: str, accepted: tuple[str, ...]) -> Section | None:
    node = section.mapping(kind, "the keys " + ", ".join(accepted))
    if node is None:
        return None
    return Section(node, f"{section.where}, {kind}", accepted, section.errors)


def _kpi(section: Section) -> Found:
    kpi = section.choice("kpi", KPIS, "KPI")
    return (None if kpi is None else KpiQuery(kpi)), None


def _anomaly(section: Section) -> Found:
    inner = _inner(section, "anomaly", ("kpi", "min_score"))
    if inner is None:
        return None, None
    kpi = inner.choice("kpi", tuple(WATCHED_KPIS), "watched KPI")
    if inner.has("min_score") and section.has("min_score"):
        message = "'min_score' is given in the rule and under anomaly; keep one"
        section.error(section.key_line("min_score"), message)
    holder = inner if inner.has("min_score") else section
    score = holder.number("min_score")
    if score is not None and not 0.0 <= score <= 1.0:
        message = f"'min_score' must be from 0 to 1, got {score:g}"
        holder.error(holder.key_line("min_score"), message)
    return AnomalyQuery(kpi, score or 0.0), None


def _logs(section: Section) -> Found:
    accepted = ("text", "min_severity", "pattern", "tags", "tag", "attributes")
    inner = _inner(section, "logs", (*accepted, "service"))
    if inner is None:
        return None, None
    attributes = inner.strings("attributes", "attribute", named=False)
    query = LogQuery(
        text=inner.text("text"),
        min_severity=_severity(inner),
        pattern_id=inner.integer("pattern"),
        tags=_tags(inner),
        attributes=tuple((key, value) for key, _, value in attributes),
    )
    return query, inner.names("service", "a service name")


def _severity(inner: Section) -> int | None:
    node = inner.get("min_severity")
    if node is None:
        return None
    value = node.value if isinstance(node, Scalar) else None
    if isinstance(value, int) and not isinstance(value, bool):
        if 1 <= value <= _MAX_SEVERITY:
            return value
    elif isinstance(value, str) and value.upper() in SEVERITIES:
        return SEVERITIES[value.upper()]
    names = ", ".join(SEVERITIES)
    expected = f"one of {names}, or a severity number from 1 to {_MAX_SEVERITY}"
    inner.wrong(node, "'min_severity'", expected)
    return None


def _tags(inner: Section) -> tuple[str, ...]:
    if inner.has("tag"):
        if inner.has("tags"):
            inner.error(inner.key_line("tag"), "give 'tag' or 'tags', not both")
        tag = inner.choice("tag", TAGS, "tag")
        return () if tag is None else (tag,)
    found = (inner.choice_of(item, TAGS, "tag") for item in inner.items("tags", "tags"))
    return tuple(tag for tag in found if tag is not None)


def _absent(section: Section) -> Found:
    inner = _inner(section, "absent", ("kpi", "service", "lookback"))
    if inner is None:
        return None, None
    if not inner.has("kpi"):
        inner.require("kpi", "the KPI that should have data: " + ", ".join(KPIS))
    kpi = inner.choice("kpi", KPIS, "KPI")
    lookback_s = inner.duration_s("lookback", 86400.0)
    services = inner.names("service", "a service name")
    return (None if kpi is None else AbsentQuery(kpi, lookback_s)), services


def _metric(section: Section) -> Found:
    inner = _inner(section, "metric", ("name", "where", "agg", "by", "service"))
    if inner is None:
        return None, None
    name = inner.text("name", required=True)
    if name is not None and _METRIC_NAME.match(name) is None:
        message = (
            f"metric name {name!r} is not a valid OTel instrument name: expected "
            "a letter, then up to 254 letters, digits, '_', '.', '/' or '-'"
        )
        inner.error(inner.key_line("name"), message)
    where = inner.strings("where", "attribute", named=False)
    query = MetricQuery(
        name=name or "",
        where=tuple((key, value) for key, _, value in where),
        agg=inner.choice("agg", METRIC_AGGS, "aggregation") or "max",
        by=inner.names("by", "an attribute name") or (),
    )
    return (None if name is None else query), inner.names("service", "a service name")


def _sql(section: Section) -> Found:
    node = section.get("sql")
    assert node is not None
    text = section.text_of(node, "'sql'")
    timeout_s = section.duration_s("timeout", 10.0)
    if text is None:
        return None, None
    problem = _sql_problem(text)
    if problem is not None:
        section.error(node.line, f"sql: {problem}")
    return SqlQuery(text.strip(), timeout_s), None


def _sql_problem(text: str) -> str | None:
    """Why ``text`` cannot be a rule's query, or None; the database checks
    the rest when the rule runs."""
    bare = _SQL_QUOTED.sub(" ", text).strip()
    first = bare.split(None, 1)[0].upper() if bare else ""
    if first not in ("SELECT", "WITH"):
        return (
            "the query must start with SELECT or WITH (it only reads), "
            f"got {first or 'nothing'!r}"
        )
    if ";" in bare.rstrip(";"):
        return "the query must be a single statement: ';' is allowed only at the end"
    uses_at = "%(at)s" in text
    for match in _PERCENT.finditer(text):
        if match[1] is not None and match[1] != "at":
            return (
                f"unknown parameter {match[0]!r}: the only parameter is %(at)s, "
                "the evaluation time"
            )
        if match[0] == "%" and uses_at:
            return "a query using %(at)s must write a literal % as %%"
    return None


_READERS: dict[str, Callable[[Section], Found]] = {
    "kpi": _kpi,
    "anomaly": _anomaly,
    "logs": _logs,
    "absent": _absent,
    "metric": _metric,
    "sql": _sql,
}
