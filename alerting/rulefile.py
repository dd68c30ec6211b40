"""Rule files: alert rules, routes and channels in YAML, read and checked.

``load_rules`` reads a file into a ``RuleSet`` (``alerting.model``) or
raises ``RuleFileError`` listing every problem found, each with its line.
docs/rules.md explains the file with examples; this is the reference.

Top level: ``groups`` (list), ``routes`` (list), ``channels`` (mapping).
Each may be left out; an empty file is a valid file with no rules.

A group:
    ``name`` (required, unique in the file); ``interval``, how often its
    rules run (default ``1m``, at least ``1s``); ``rules`` (required, a list).

A rule:
    ``alert`` (required): the name, letters, digits and ``_``, not starting
    with a digit; unique in its group. Exactly one key saying what the rule
    watches:

    - ``kpi: <name>``: a KPI of each service (``model.KPIS``).
    - ``anomaly: {kpi, min_score}``: anomalies the detectors found; ``kpi``
      is one of the watched KPIs (throughput, error_rate, p95_latency,
      log_volume, error_logs), any when left out; ``min_score`` from 0 to
      1 may also be written beside ``anomaly``.
    - ``logs: {text, min_severity, pattern, tags | tag, attributes,
      service}``: the number of matching log records. ``text`` is a
      substring of the body, in any case; ``min_severity`` a name (TRACE,
      DEBUG, INFO, WARN, ERROR, FATAL) or a number 1-24; ``pattern`` a
      pattern id; ``tags`` (or ``tag``, one) tags the record must all
      have; ``attributes`` a mapping the record's attributes must contain.
    - ``absent: {kpi, service, lookback}``: fires for each service with no
      data for ``kpi`` in the window: the services named, or those that
      sent data within ``lookback`` (default ``1d``).
    - ``metric: {name, where, agg, by, service}``: an aggregate of a
      metric's points; ``name`` in OTel instrument name syntax, ``where`` a
      mapping of attributes the points must have, ``agg`` one of
      ``model.METRIC_AGGS`` (default ``max``), ``by`` attribute keys that
      split the result into series.
    - ``sql: <query>``: one SELECT (or WITH) statement returning label
      columns and a ``value`` column; ``%(at)s`` is the evaluation time.

    Then: ``service``, a name or a list (default every service; also
    accepted inside ``logs``, ``absent`` and ``metric``, but not in both
    places; not for ``sql``). ``window`` (default ``5m``; not for ``sql``;
    whole minutes for ``kpi``, ``absent`` and ``anomaly``).
    ``above`` and ``below``: numbers the value must be above or below to
    fire; ``kpi``, ``logs`` and ``metric`` rules need one or both,
    ``anomaly`` and ``absent`` rules take neither, ``sql`` rules without
    one fire for each row. ``for``: how long the condition must hold
    before the alert fires (default ``0s``). ``min_score`` (anomaly only).
    ``timeout`` (sql only, default ``10s``). ``labels``: a mapping of
    label names to strings, added to each alert (``alertname`` and
    ``service`` are set by FlowGuard and may not be given).
    ``annotations``: a mapping of names to Jinja templates (sandboxed),
    rendered at each evaluation of a pending or firing alert; label
    values are fixed text, not templates.

A route:
    ``match`` (label: value, equal), ``match_re`` (label: regular
    expression matching the whole value), ``matchers`` (a list of
    ``name=value``, ``name!=value``, ``name=~regex``, ``name!~regex``): all
    must accept an alert's labels. ``notify`` (required): channel names.
    ``group_by`` (default ``[alertname]``), ``group_wait`` (default
    ``30s``), ``group_interval`` (default ``5m``), ``repeat_interval``
    (default ``4h``), ``continue`` (default false: an alert stops at the
    first route that matches).

A channel:
    a name (letters, digits, ``_``, ``.``, ``-``) and an apprise URL.

In every string, ``${NAME}`` is the environment variable's value,
``${NAME:-default}`` gives a default for an unset or empty variable, and
``$${`` is a literal ``${``. Durations are written ``90s``, ``15m``,
``1h``, ``7d`` or ``2w``; all but ``for`` are at least ``1s``. Unknown keys
are errors.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from alerting._kinds import KINDS, read_query
from alerting._routes import parse_matcher, read_channels, read_routes
from alerting._section import Section, is_empty
from alerting._yaml import MapNode, Node, RuleError, Scalar, describe, read_yaml
from alerting.model import Rule, RuleGroup, RuleSet
from flowguard.errors import ConfigError

__all__ = [
    "RuleError",
    "RuleFileError",
    "load_rules",
    "parse_matcher",
    "parse_rules",
    "render_template",
    "warnings",
]

_TOP_KEYS = ("groups", "routes", "channels")
_GROUP_KEYS = ("name", "interval", "rules")
_RULE_KEYS = (
    "alert",
    *KINDS,
    "service",
    "window",
    "above",
    "below",
    "for",
    "min_score",
    "timeout",
    "labels",
    "annotations",
)
_RESERVED = {"alertname": "the rule's name", "service": "the service's name"}
_NEEDS_THRESHOLD = ("kpi", "logs", "metric")
# Kinds that read the one-minute rollups or detector buckets.
_MINUTE_KINDS = ("kpi", "absent", "anomaly")
_NO_THRESHOLD = {
    "anomaly": "it fires on each anomaly; use min_score to choose which",
    "absent": "it fires for each service without data",
}
# Templates come from the rule file, so they render in Jinja's sandbox;
# a missing value renders as nothing rather than failing the notification.
_TEMPLATES = SandboxedEnvironment(autoescape=False)


class RuleFileError(ConfigError):
    """A rule file has errors; ``errors`` lists each with its line."""

    def __init__(self, errors: Sequence[RuleError], path: str) -> None:
        self.errors = list(errors)
        self.path = path
        super().__init__("\n".join(_located(path, error) for error in self.errors))

    def __reduce__(self) -> tuple[type[RuleFileError], tuple[list[RuleError], str]]:
        # The default rebuilds an exception from its message alone.
        return (RuleFileError, (self.errors, self.path))


def _located(path: str, error: RuleError) -> str:
    if error.line <= 0:
        return f"{path}: {error.message}"
    return f"{path}:{error.line}: {error.message}"


def load_rules(path: str | Path, environ: Mapping[str, str] | None = None) -> RuleSet:
    """The rule file at ``path``, checked; ``environ`` (default the process
    environment) fills in ``${NAME}`` references.

    Raises:
        RuleFileError: the file cannot be read or has errors.
    """
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        error = RuleError(0, f"cannot read the rule file: {exc.strerror or exc}")
        raise RuleFileError([error], name) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        error = RuleError(line, f"the file is not UTF-8 text: {exc.reason}")
        raise RuleFileError([error], name) from None
    return parse_rules(text, name, environ)


def parse_rules(
    text: str, path: str = "<string>", environ: Mapping[str, str] | None = None
) -> RuleSet:
    """A rule file's text, checked; ``path`` names it in errors.

    Raises:
        RuleFileError: the text has errors.
    """
    errors: list[RuleError] = []
    root = read_yaml(text, os.environ if environ is None else environ, errors)
    ruleset = _ruleset(root, path, errors)
    if errors:
        raise RuleFileError(sorted(errors, key=lambda error: error.line), path)
    return ruleset


def render_template(text: str, context: Mapping[str, object]) -> str:
    """An annotation rendered with ``context``; a template that fails gives
    "(template error: ...)" instead of raising."""
    try:
        return _template(text).render(dict(context))
    # A template is the rule file's code: whatever it raises must not stop
    # the notification it belongs to.
    except Exception as exc:
        return f"(template error: {exc})"


@functools.lru_cache(maxsize=1024)
def _template(text: str) -> jinja2.Template:
    return _TEMPLATES.from_string(text)


def warnings(ruleset: RuleSet) -> list[str]:
    """Notes on a valid rule set that may be mistakes."""
    notes = []
    if ruleset.rules and not ruleset.routes:
        notes.append("no routes: alerts are recorded but no notification is sent")
    used = {name for route in ruleset.routes for name in route.notify}
    notes.extend(
        f"channel {name!r} is not used by any route"
        for name in ruleset.channels
        if name not in used
    )
    routes = ruleset.routes
    for route, later in itertools.pairwise(routes):
        if not route.matchers and not route.continue_:
            notes.append(
                f"the routes from line {later.line} on are never used: the route "
                f"on line {route.line} takes every alert and does not continue"
            )
            break
    return notes


def _ruleset(root: Node | None, path: str, errors: list[RuleError]) -> RuleSet:
    if root is None or is_empty(root):
        return RuleSet(path=path)
    if not isinstance(root, MapNode):
        got = describe(root)
        message = f"expected a mapping with groups, routes and channels, got {got}"
        errors.append(RuleError(root.line, message))
        return RuleSet(path=path)
    top = Section(root, "", _TOP_KEYS, errors)
    channels = read_channels(top)
    groups = _groups(top)
    routes = read_routes(top, channels)
    return RuleSet(groups, routes, channels, path)


def _peek(node: MapNode, key: str) -> str | None:
    """The string under ``key``, before it is checked, to name the node."""
    value = node.entries.get(key)
    if isinstance(value, Scalar) and isinstance(value.value, str) and value.value:
        return value.value
    return None


def _groups(top: Section) -> tuple[RuleGroup, ...]:
    groups = []
    first_lines: dict[str, int] = {}
    for index, node in enumerate(top.items("groups", "groups"), 1):
        if not isinstance(node, MapNode):
            top.wrong(node, f"group {index}", "a mapping with name, interval, rules")
            continue
        group = _group(node, index, top.errors)
        if group is None:
            continue
        line = node.key_lines["name"]
        first = first_lines.get(group.name)
        if first is not None:
            message = f"duplicate group name; the first is on line {first}"
            top.error(line, f"group {group.name!r}: {message}")
            continue
        first_lines[group.name] = line
        groups.append(group)
    return tuple(groups)


def _group(node: MapNode, index: int, errors: list[RuleError]) -> RuleGroup | None:
    name = _peek(node, "name")
    where = f"group {name or index!r} (line {node.line})"
    section = Section(node, where, _GROUP_KEYS, errors)
    name = section.text("name", required=True)
    interval_s = section.duration_s("interval", 60.0)
    if not section.has("rules"):
        section.require("rules", "a list of rules")
    rules = _rules(section, name)
    return None if name is None else RuleGroup(name, interval_s, rules)


def _rules(group: Section, name: str | None) -> tuple[Rule, ...]:
    rules = []
    first_lines: dict[str, int] = {}
    for index, node in enumerate(group.items("rules", "rules"), 1):
        if not isinstance(node, MapNode):
            group.wrong(node, f"rule {index}", "a mapping with alert and a kind")
            continue
        alert = _peek(node, "alert")
        where = f"rule {alert or index!r} (line {node.line})"
        section = Section(node, where, _RULE_KEYS, group.errors)
        rule = _rule(section, name or "")
        if rule is None:
            continue
        if rule.name in first_lines:
            first = first_lines[rule.name]
            message = f"duplicate alert name; the first is on line {first}"
            section.error(section.key_line("alert"), message)
            continue
        first_lines[rule.name] = rule.line
        rules.append(rule)
    return tuple(rules)


def _rule(section: Section, group: str) -> Rule | None:
    name = section.name("alert", "alert")
    kind = _kind(section)
    query, inner_services = (None, None) if kind is None else read_query(section, kind)
    if kind is not None:
        _check_kind_keys(section, kind)
    services = _services(section, inner_services)
    above, below = _thresholds(section)
    window_s = section.duration_s("window", 300.0)
    if kind in _MINUTE_KINDS and window_s % 60:
        article = "an" if kind[0] in "aeiou" else "a"
        message = (
            f"{article} {kind} rule's 'window' must be whole minutes (1m or "
            "more): it reads one-minute rollups"
        )
        section.error(section.key_line("window"), message)
    for_s = section.duration_s("for", 0.0, minimum_s=0.0)
    labels = _labels(section)
    annotations = _annotations(section)
    if name is None or query is None:
        return None
    return Rule(
        name=name,
        group=group,
        query=query,
        services=services,
        window_s=window_s,
        above=above,
        below=below,
        for_s=for_s,
        labels=labels,
        annotations=annotations,
        line=section.line,
    )


def _kind(section: Section) -> str | None:
    kinds = [kind for kind in KINDS if section.has(kind)]
    if len(kinds) == 1:
        return kinds[0]
    if not kinds:
        choices = ", ".join(KINDS)
        section.error(section.line, f"missing what the rule watches: one of {choices}")
        return None
    message = (
        f"has both {kinds[0]!r} and {kinds[1]!r}; a rule watches one thing, "
        "so write one rule for each"
    )
    section.error(section.key_line(kinds[1]), message)
    return None


def _check_kind_keys(section: Section, kind: str) -> None:
    """Keys that only some kinds of rule take."""
    has_threshold = section.has("above") or section.has("below")
    if kind in _NEEDS_THRESHOLD and not has_threshold:
        message = f"a {kind} rule needs 'above' or 'below' (or both): when it fires"
        section.error(section.line, message)
    for key in ("above", "below"):
        if kind in _NO_THRESHOLD and section.has(key):
            message = f"an {kind} rule takes no {key!r}: {_NO_THRESHOLD[kind]}"
            section.error(section.key_line(key), message)
    if kind != "anomaly" and section.has("min_score"):
        message = "'min_score' applies to anomaly rules only"
        section.error(section.key_line("min_score"), message)
    if kind != "sql" and section.has("timeout"):
        message = "'timeout' applies to sql rules only"
        section.error(section.key_line("timeout"), message)
    for key in ("window", "service"):
        if kind == "sql" and section.has(key):
            message = (
                f"a sql rule takes no {key!r}: its query chooses its own rows "
                "and time range"
            )
            section.error(section.key_line(key), message)


def _services(section: Section, inner: tuple[str, ...] | None) -> tuple[str, ...]:
    outer = section.names("service", "a service name")
    if outer is not None and inner is not None:
        message = "'service' is given in the rule and inside its kind; keep one"
        section.error(section.key_line("service"), message)
    return outer or inner or ()


def _thresholds(section: Section) -> tuple[float | None, float | None]:
    above, below = section.number("above"), section.number("below")
    if above is not None and below is not None and below > above:
        message = (
            f"'below' {below:g} is over 'above' {above:g}, so every value fires "
            "the rule (it fires when the value is above OR below)"
        )
        section.error(section.key_line("below"), message)
    return above, below


def _labels(section: Section) -> dict[str, str]:
    labels = {}
    for name, node, value in section.strings("labels", "label"):
        if name in _RESERVED:
            message = f"label {name!r} is reserved: it is set to {_RESERVED[name]}"
            section.error(node.line, message)
            continue
        if "{{" in value or "{%" in value:
            # A label is part of the alert's identity, so it cannot change
            # with each evaluation as a rendered template would.
            message = (
                f"label {name!r} is a template; label values are fixed text "
                "(templates belong in annotations)"
            )
            section.error(node.line, message)
            continue
        labels[name] = value
    return labels


def _annotations(section: Section) -> dict[str, str]:
    annotations = {}
    for name, node, value in section.strings("annotations", "annotation"):
        _check_template(section, node, f"annotation {name!r}")
        annotations[name] = value
    return annotations


def _check_template(section: Section, node: Scalar, what: str) -> None:
    try:
        _template(str(node.value))
    except jinja2.TemplateSyntaxError as exc:
        line = node.text_line((exc.lineno or 1) - 1)
        section.error(line, f"{what} is not a valid template: {exc.message or exc}")
