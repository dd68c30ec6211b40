"""Rule files: what a valid file becomes, and what each mistake reports."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from alerting.model import (
    AbsentQuery,
    AnomalyQuery,
    KpiQuery,
    LogQuery,
    Matcher,
    MetricQuery,
    Route,
    Rule,
    RuleGroup,
    RuleSet,
    SqlQuery,
)
from alerting.rulefile import (
    RuleError,
    RuleFileError,
    load_rules,
    parse_matcher,
    parse_rules,
    render_template,
    warnings,
)
from flowguard.cli import main
from flowguard.errors import ConfigError

EXAMPLE = Path(__file__).parents[2] / "rules.example.yaml"
# The variables rules.example.yaml reads, all of them with defaults.
EXAMPLE_VARIABLES = ("ONCALL_CHAT_URL", "ONCALL_EMAIL_URL", "SMTP_HOST")

VALID = """\
groups:
  - name: checkout
    interval: 30s
    rules:
      - alert: HighErrorRate
        kpi: error_rate
        service: checkout
        window: 5m
        above: 0.05
        for: 2m
        labels: {severity: page}
        annotations:
          summary: "{{ labels.service }} error rate {{ value }}"
      - alert: LatencyAnomaly
        anomaly: {kpi: p95_latency}
        min_score: 0.9
      - alert: PaymentTimeouts
        logs: {text: timeout, min_severity: WARN, service: payments}
        window: 5m
        above: 20
      - alert: CheckoutSilent
        absent: {kpi: throughput, service: checkout}
        for: 10m
      - alert: QueueDepth
        metric: {name: queue.depth, where: {queue: orders}, agg: max, by: [queue]}
        window: 5m
        above: 1000
      - alert: Custom
        sql: "SELECT service, count(*) AS value FROM logs GROUP BY service"
        timeout: 10s
        above: 5
routes:
  - match: {severity: page}
    match_re: {service: "check.*"}
    matchers: ["team!=infra", 'env="prod"']
    notify: [oncall-slack, oncall-email]
    group_by: [alertname, service]
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 4h
    continue: false
  - notify: [team-email]
channels:
  oncall-slack: "slack://${SLACK_TOKEN_A}/${SLACK_TOKEN_B}/${SLACK_TOKEN_C}"
  oncall-email: "mailto://localhost:2525?to=oncall@example.com"
  team-email: "mailto://localhost:2525?to=team@example.com"
"""
SLACK = {"SLACK_TOKEN_A": "T000", "SLACK_TOKEN_B": "B000", "SLACK_TOKEN_C": "XXXX"}


def rule(body: str) -> str:
    """A file with one group holding one rule, whose body starts on line 5."""
    head = "groups:\n  - name: g\n    rules:\n      - alert: A\n"
    return head + "".join(f"        {line}\n" for line in body.splitlines())


def errors_of(text: str, environ: dict[str, str] | None = None) -> list[RuleError]:
    """The errors ``parse_rules`` raises for ``text``."""
    with pytest.raises(RuleFileError) as caught:
        parse_rules(text, "rules.yaml", environ={} if environ is None else environ)
    return caught.value.errors


CHANNEL = "channels:\n  team: json://localhost:9000/alerts\n"
BROKEN = [
    pytest.param(
        rule("kpi: errors\nabove: 1\nfoor: 2m"),
        7,
        "rule 'A' (line 4): unknown key 'foor'; did you mean 'for'?",
        id="unknown-key-with-suggestion",
    ),
    pytest.param(
        "group:\n  - name: g\n",
        1,
        "unknown key 'group'; did you mean 'groups'? (accepted keys: groups, "
        "routes, channels)",
        id="unknown-top-level-key",
    ),
    pytest.param(
        rule("logs: {txt: x}\nabove: 1"),
        5,
        "logs: unknown key 'txt'; did you mean 'text'?",
        id="unknown-key-in-kind",
    ),
    pytest.param(
        rule("kpi: errors\nabove: 1\nwindow: 5 minutes"),
        7,
        "'window': expected a duration such as 15m, 1h or 7d, got '5 minutes'",
        id="bad-duration",
    ),
    pytest.param(
        rule("kpi: errors\nabove: 1\nwindow: 90s"),
        7,
        "a kpi rule's 'window' must be whole minutes (1m or more)",
        id="kpi-window-in-seconds",
    ),
    pytest.param(
        rule("absent: {kpi: throughput}\nwindow: 30s"),
        6,
        "an absent rule's 'window' must be whole minutes",
        id="absent-window-under-a-minute",
    ),
    pytest.param(
        rule("kpi: errors\nabove: 1\nwindow: 3000000d"),
        7,
        "'window': expected a duration of at most 36500d (100 years)",
        id="window-past-a-hundred-years",
    ),
    pytest.param(
        rule("kpi: errors\nabove: 1\nfor: 5"),
        7,
        "'for' must be a duration with a unit",
        id="duration-without-unit",
    ),
    pytest.param(
        "groups:\n  - name: g\n    interval: 0s\n    rules: []\n",
        3,
        "group 'g' (line 2): 'interval' must be at least 1s, got '0s'",
        id="zero-interval",
    ),
    pytest.param(
        rule("kpi: errors\nlogs: {text: x}\nabove: 1"),
        6,
        "has both 'kpi' and 'logs'",
        id="two-kinds",
    ),
    pytest.param(
        rule("above: 1"),
        4,
        "missing what the rule watches: one of kpi, anomaly, logs",
        id="no-kind",
    ),
    pytest.param(
        rule("kpi: errors"),
        4,
        "a kpi rule needs 'above' or 'below'",
        id="missing-threshold",
    ),
    pytest.param(
        rule("absent: {kpi: throughput}\nbelow: 1"),
        6,
        "an absent rule takes no 'below'",
        id="threshold-on-absent",
    ),
    pytest.param(
        rule("anomaly: {}\nabove: 0.5"),
        6,
        "an anomaly rule takes no 'above'",
        id="threshold-on-anomaly",
    ),
    pytest.param(
        rule("kpi: errors\nabove: 1\nbelow: 5"),
        7,
        "'below' 5 is over 'above' 1, so every value fires",
        id="below-over-above",
    ),
    pytest.param(
        rule("kpi: error_ratio\nabove: 1"),
        5,
        "unknown KPI 'error_ratio'; did you mean 'error_rate'?",
        id="unknown-kpi",
    ),
    pytest.param(
        rule("anomaly: {kpi: requests}"),
        5,
        "unknown watched KPI 'requests'",
        id="anomaly-on-unwatched-kpi",
    ),
    pytest.param(
        rule("anomaly: {kpi: error_rate}\nmin_score: 1.5"),
        6,
        "'min_score' must be from 0 to 1, got 1.5",
        id="min-score-out-of-range",
    ),
    pytest.param(
        rule("metric: {name: 'queue depth'}\nabove: 1"),
        5,
        "metric name 'queue depth' is not a valid OTel instrument name",
        id="bad-metric-name",
    ),
    pytest.param(
        rule("metric: {name: queue.depth, agg: mean}\nabove: 1"),
        5,
        "unknown aggregation 'mean'",
        id="unknown-agg",
    ),
    pytest.param(
        rule("logs: {min_severity: LOUD}\nabove: 1"),
        5,
        "'min_severity' must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL",
        id="bad-severity",
    ),
    pytest.param(
        rule("logs: {tags: [timout]}\nabove: 1"),
        5,
        "unknown tag 'timout'; did you mean 'timeout'?",
        id="unknown-tag",
    ),
    pytest.param(
        rule("kpi: errors\nabove: '5'"),
        6,
        "'above' must be a finite number such as 0.05 or 1000 (unquoted), "
        "got the string '5'",
        id="string-threshold",
    ),
    pytest.param(
        rule("kpi: errors\nabove: 1\nlabels: {alertname: X}"),
        7,
        "label 'alertname' is reserved",
        id="reserved-label",
    ),
    pytest.param(
        rule("kpi: errors\nabove: 1\nlabels:\n  team-name: x"),
        8,
        "label name 'team-name' is not valid",
        id="bad-label-name",
    ),
    pytest.param(
        rule("kpi: errors\nabove: 1\nlabels: {priority: 1}"),
        7,
        "label 'priority' must be a string (quote numbers and booleans)",
        id="label-value-not-a-string",
    ),
    pytest.param(
        rule("kpi: errors\nabove: 1").replace("alert: A", "alert: 9lives"),
        4,
        "alert name '9lives' is not valid",
        id="bad-alert-name",
    ),
    pytest.param(
        rule("logs: {service: a}\nservice: b\nabove: 1"),
        6,
        "'service' is given in the rule and inside its kind",
        id="service-twice",
    ),
    pytest.param(
        rule("sql: SELECT 1 AS value; SELECT 2"),
        5,
        "sql: the query must be a single statement",
        id="sql-two-statements",
    ),
    pytest.param(
        rule("sql: UPDATE logs SET body = ''"),
        5,
        "sql: the query must start with SELECT or WITH (it only reads), got 'UPDATE'",
        id="sql-not-select",
    ),
    pytest.param(
        rule("sql: SELECT 1 AS value WHERE now() > %(since)s"),
        5,
        "unknown parameter '%(since)s'",
        id="sql-unknown-parameter",
    ),
    pytest.param(
        rule("sql: SELECT 1 AS value\nwindow: 5m"),
        6,
        "a sql rule takes no 'window'",
        id="window-on-sql",
    ),
    pytest.param(
        rule("kpi: errors\nabove: 1\ntimeout: 5s"),
        7,
        "'timeout' applies to sql rules only",
        id="timeout-on-kpi",
    ),
    pytest.param(
        rule("kpi: errors\nabove: 1\nannotations:\n  summary: '{{ value '"),
        8,
        "annotation 'summary' is not a valid template",
        id="template-syntax-error",
    ),
    pytest.param(
        rule(
            "kpi: errors\nabove: 1\nannotations:\n  summary: |\n"
            "    first line\n    {% if value %}high"
        ),
        10,
        "annotation 'summary' is not a valid template: Unexpected end of template",
        id="template-syntax-error-on-its-second-line",
    ),
    pytest.param(
        rule("kpi: errors\nabove: 1\nlabels:\n  team: '{{ labels.service }}'"),
        8,
        "label 'team' is a template; label values are fixed text",
        id="templated-label",
    ),
    pytest.param(
        rule("kpi: errors\nabove: ${ERROR_LIMIT}"),
        6,
        "environment variable 'ERROR_LIMIT' is not set",
        id="unset-variable",
    ),
    pytest.param(
        rule("kpi: errors\nabove: 1\nannotations: {a: '${not a name}'}"),
        7,
        "bad variable reference '${not a name}'",
        id="malformed-variable",
    ),
    pytest.param(
        rule("kpi: errors\nabove: 1\nabove: 2"),
        7,
        "duplicate key 'above'; it is first on line 6",
        id="duplicate-key",
    ),
    pytest.param(
        "groups:\n  - name: g\n    rules: []\n  - name: g\n    rules: []\n",
        4,
        "group 'g': duplicate group name; the first is on line 2",
        id="duplicate-group",
    ),
    pytest.param(
        rule("kpi: errors\nabove: 1") + "      - alert: A\n        kpi: errors\n",
        7,
        "rule 'A' (line 7): duplicate alert name; the first is on line 4",
        id="duplicate-alert-in-group",
    ),
    pytest.param(
        "groups:\n  - name: g\n    rules: [\n  - name: h\n",
        4,
        "not valid YAML",
        id="yaml-syntax-error",
    ),
    pytest.param(
        "routes:\n  - match_re: {service: 'check('}\n    notify: [team]\n" + CHANNEL,
        2,
        "route 1 (line 2): match_re 'service': bad regular expression 'check('",
        id="bad-regex-in-match-re",
    ),
    pytest.param(
        "routes:\n  - notify: [team]\n    matchers: ['service~=x']\n" + CHANNEL,
        3,
        "matcher 'service~=x': expected name=value, name!=value",
        id="bad-matcher-string",
    ),
    pytest.param(
        "routes:\n  - notify: [teem]\n" + CHANNEL,
        2,
        "unknown channel 'teem'; did you mean 'team'? (channels: team)",
        id="route-to-unknown-channel",
    ),
    pytest.param(
        "routes:\n  - match: {severity: page}\n" + CHANNEL,
        2,
        "route 1 (line 2): missing key 'notify'",
        id="route-without-notify",
    ),
    pytest.param(
        "routes:\n  - notify: [team]\n    continue: maybe\n" + CHANNEL,
        3,
        "'continue' must be true or false, got the string 'maybe'",
        id="continue-not-a-boolean",
    ),
    pytest.param(
        "channels:\n  pager: notaservice://x\n",
        2,
        "channel 'pager': apprise cannot use the URL 'notaservice://x'",
        id="url-apprise-cannot-parse",
    ),
    pytest.param(
        "- groups\n",
        1,
        "expected a mapping with groups, routes and channels, got a list",
        id="file-not-a-mapping",
    ),
]


class TestBrokenFiles:
    """Each mistake is reported with the line of the node at fault."""

    @pytest.mark.parametrize(("text", "line", "message"), BROKEN)
    def test_a_broken_file_reports_the_line_and_the_reason(
        self, text: str, line: int, message: str
    ) -> None:
        """The file's error list holds the expected message at its line."""
        found = errors_of(text)
        assert any(e.line == line and message in e.message for e in found), found

    def test_every_error_of_a_file_is_reported_at_once(self) -> None:
        """Mistakes in separate rules, routes and channels all come back."""
        text = (
            rule("kpi: errors\nabove: x")
            + "      - alert: B\n        absent: {kpi: nope}\n"
            + "routes:\n  - notify: [missing]\n"
            + "channels:\n  bad: notaservice://x\n"
        )
        found = errors_of(text)
        assert [e.line for e in found] == [6, 8, 10, 12]

    def test_the_error_lists_path_line_and_message_one_a_line(self) -> None:
        """str() of the error is "path:line: message" for each problem."""
        with pytest.raises(RuleFileError) as caught:
            parse_rules(rule("kpi: nope\nabove: x"), "rules.yaml", environ={})
        lines = str(caught.value).splitlines()
        assert len(lines) == 2
        assert lines[0].startswith("rules.yaml:5: rule 'A' (line 4): unknown KPI")
        assert lines[1].startswith("rules.yaml:6: rule 'A' (line 4): 'above'")
        assert isinstance(caught.value, ConfigError)

    def test_a_url_in_an_error_shows_only_its_scheme_and_host(self) -> None:
        """Credentials, paths and queries of a refused URL stay out of errors."""
        url = "notaservice://admin:hunter2@hooks.example.com/T0/secret?key=abc"
        (error,) = errors_of(f"channels:\n  pager: '{url}'\n")
        assert "'notaservice://hooks.example.com/...'" in error.message
        for secret in ("admin", "hunter2", "secret", "abc"):
            assert secret not in error.message

    def test_apprise_logs_nothing_while_urls_are_checked(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Apprise's own messages, which quote the URL, are held back."""
        caplog.set_level(logging.DEBUG)
        errors_of("channels:\n  pager: notaservice://token@x\n")
        assert not [r for r in caplog.records if r.name.startswith("apprise")]

    def test_a_missing_file_is_an_error_of_the_whole_file(self, tmp_path: Path) -> None:
        """A file that cannot be read gives one error without a line."""
        path = tmp_path / "rules.yaml"
        with pytest.raises(RuleFileError) as caught:
            load_rules(path)
        assert caught.value.errors[0].line == 0
        assert str(caught.value).startswith(f"{path}: cannot read the rule file")


class TestValidFiles:
    """What a valid file becomes."""

    def test_a_full_file_reads_into_exact_values(self) -> None:
        """Every kind, route and channel becomes the values model.py defines."""
        ruleset = parse_rules(VALID, "rules.yaml", environ=SLACK)
        rules = (
            Rule(
                "HighErrorRate",
                "checkout",
                KpiQuery("error_rate"),
                services=("checkout",),
                window_s=300.0,
                above=0.05,
                for_s=120.0,
                labels={"severity": "page"},
                annotations={"summary": "{{ labels.service }} error rate {{ value }}"},
                line=5,
            ),
            Rule(
                "LatencyAnomaly",
                "checkout",
                AnomalyQuery("p95_latency", 0.9),
                line=14,
            ),
            Rule(
                "PaymentTimeouts",
                "checkout",
                LogQuery(text="timeout", min_severity=13),
                services=("payments",),
                above=20.0,
                line=17,
            ),
            Rule(
                "CheckoutSilent",
                "checkout",
                AbsentQuery("throughput", 86400.0),
                services=("checkout",),
                for_s=600.0,
                line=21,
            ),
            Rule(
                "QueueDepth",
                "checkout",
                MetricQuery("queue.depth", (("queue", "orders"),), "max", ("queue",)),
                above=1000.0,
                line=24,
            ),
            Rule(
                "Custom",
                "checkout",
                SqlQuery(
                    "SELECT service, count(*) AS value FROM logs GROUP BY service",
                    10.0,
                ),
                above=5.0,
                line=28,
            ),
        )
        routes = (
            Route(
                matchers=(
                    Matcher("severity", "page", "="),
                    Matcher("service", "check.*", "=~"),
                    Matcher("team", "infra", "!="),
                    Matcher("env", "prod", "="),
                ),
                notify=("oncall-slack", "oncall-email"),
                group_by=("alertname", "service"),
                group_wait_s=30.0,
                group_interval_s=300.0,
                repeat_interval_s=14400.0,
                continue_=False,
                line=33,
            ),
            Route(notify=("team-email",), line=42),
        )
        channels = {
            "oncall-slack": "slack://T000/B000/XXXX",
            "oncall-email": "mailto://localhost:2525?to=oncall@example.com",
            "team-email": "mailto://localhost:2525?to=team@example.com",
        }
        expected = RuleSet(
            (RuleGroup("checkout", 30.0, rules),), routes, channels, "rules.yaml"
        )
        assert ruleset == expected
        assert [r.kind for r in ruleset.rules] == [
            "kpi",
            "anomaly",
            "logs",
            "absent",
            "metric",
            "sql",
        ]

    def test_left_out_keys_take_their_defaults(self) -> None:
        """A minimal group, rule and route use the documented defaults."""
        text = rule("kpi: errors\nabove: 1") + "routes:\n  - notify: [team]\n" + CHANNEL
        ruleset = parse_rules(text, environ={})
        only = Rule("A", "g", KpiQuery("errors"), above=1.0, line=4)
        assert ruleset.groups == (RuleGroup("g", 60.0, (only,)),)
        assert ruleset.routes == (Route(notify=("team",), line=8),)
        assert ruleset.path == "<string>"

    def test_kind_specific_keys_are_read(self) -> None:
        """Severity numbers, a single tag, attributes, lookback and min_score
        inside the anomaly mapping reach the queries."""
        text = rule(
            "logs: {min_severity: 17, tag: oom, pattern: 42, attributes: {k8s.pod: x}}"
            "\nabove: 0"
        ) + (
            "      - alert: B\n        anomaly: {min_score: 0.5}\n"
            "      - alert: C\n        absent: {kpi: logs, lookback: 2w}\n"
            "        service: [a, b]\n"
        )
        queries = [r.query for r in parse_rules(text, environ={}).rules]
        assert queries == [
            LogQuery(None, 17, 42, ("oom",), (("k8s.pod", "x"),)),
            AnomalyQuery(None, 0.5),
            AbsentQuery("logs", 14 * 86400.0),
        ]

    @pytest.mark.parametrize("text", ["", "# no rules yet\n", "groups: []\n"])
    def test_an_empty_file_is_an_empty_rule_set(self, text: str) -> None:
        """No text, only comments, or an empty list of groups: no rules."""
        assert parse_rules(text, "r.yaml", environ={}) == RuleSet(path="r.yaml")

    def test_merge_keys_share_labels_between_rules(self) -> None:
        """``<<: *anchor`` copies keys; keys written beside it win."""
        text = rule("kpi: errors\nabove: 1\nlabels: &shop {team: shop, tier: web}") + (
            "      - alert: B\n        kpi: errors\n        above: 1\n"
            "        labels:\n          <<: *shop\n          tier: db\n"
        )
        ruleset = parse_rules(text, environ={})
        assert [dict(r.labels) for r in ruleset.rules] == [
            {"team": "shop", "tier": "web"},
            {"team": "shop", "tier": "db"},
        ]

    def test_a_file_is_loaded_from_disk(self, tmp_path: Path) -> None:
        """load_rules reads the path and names it in the rule set."""
        path = tmp_path / "rules.yaml"
        path.write_text(VALID)
        assert load_rules(path, SLACK) == parse_rules(VALID, str(path), SLACK)


class TestEnvironment:
    """``${NAME}`` references in strings."""

    def test_variables_defaults_and_escapes_are_filled_in(self) -> None:
        """Set variables, defaults for unset or empty ones, and $${ escapes."""
        text = (
            "channels:\n"
            "  a: 'json://${HOST}/${PATH_PART:-alerts}'\n"
            "  b: 'json://${EMPTY:-fallback}:9000/x'\n"
            "  c: 'json://localhost/$${NOT_A_VARIABLE}'\n"
        )
        environ = {"HOST": "hooks.example.com", "EMPTY": ""}
        channels = parse_rules(text, environ=environ).channels
        assert channels == {
            "a": "json://hooks.example.com/alerts",
            "b": "json://fallback:9000/x",
            "c": "json://localhost/${NOT_A_VARIABLE}",
        }

    def test_a_plain_value_is_typed_after_substitution(self) -> None:
        """An unquoted ${LIMIT:-0.05} is a number, as if written so."""
        text = rule("kpi: error_rate\nabove: ${LIMIT:-0.05}\nbelow: ${FLOOR}")
        (found,) = parse_rules(text, environ={"FLOOR": "0.01"}).rules
        assert (found.above, found.below) == (0.05, 0.01)

    def test_each_unset_variable_is_named_with_its_line(self) -> None:
        """Two unset variables on two lines give two errors."""
        text = "channels:\n  a: 'json://${ONE}/x'\n  b: 'json://${TWO}/x'\n"
        found = [(e.line, e.message.split("'")[1]) for e in errors_of(text)]
        assert found == [(2, "ONE"), (3, "TWO")]

    def test_the_process_environment_is_the_default(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without an environ argument, os.environ fills in variables."""
        monkeypatch.setenv("FLOWGUARD_TEST_HOOK", "hooks.example.com")
        text = "channels:\n  a: 'json://${FLOWGUARD_TEST_HOOK}/x'\n"
        assert parse_rules(text).channels == {"a": "json://hooks.example.com/x"}


class TestWarnings:
    """Notes on valid files."""

    def test_rules_without_routes_and_unused_channels_are_noted(self) -> None:
        """Alerts that go nowhere and a channel nobody uses are pointed out."""
        ruleset = parse_rules(rule("kpi: errors\nabove: 1") + CHANNEL, environ={})
        assert warnings(ruleset) == [
            "no routes: alerts are recorded but no notification is sent",
            "channel 'team' is not used by any route",
        ]

    def test_a_catch_all_route_hiding_later_routes_is_noted(self) -> None:
        """Routes after one that takes every alert and stops are never used."""
        text = "routes:\n  - notify: [team]\n  - notify: [team]\n" + CHANNEL
        assert warnings(parse_rules(text, environ={})) == [
            "the routes from line 3 on are never used: the route on line 2 takes "
            "every alert and does not continue"
        ]


class TestCheckCommand:
    """``flowguard rules check FILE``."""

    def test_the_example_file_checks_clean(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """rules.example.yaml passes without any of its variables set."""
        for name in EXAMPLE_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        assert main(["rules", "check", str(EXAMPLE)]) == 0
        out, err = capsys.readouterr()
        assert out == f"{EXAMPLE}: 7 rules in 2 groups, 3 routes, 4 channels\n"
        assert err == ""

    def test_a_broken_file_prints_each_error_and_exits_1(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Errors go to stderr as FILE:LINE: message."""
        path = tmp_path / "rules.yaml"
        path.write_text(rule("kpi: errors\nabove: 1\nabov: 2"))
        assert main(["rules", "check", str(path)]) == 1
        out, err = capsys.readouterr()
        assert out == ""
        assert err.splitlines() == [
            f"{path}:7: rule 'A' (line 4): unknown key 'abov'; did you mean 'above'?"
            " (accepted keys: alert, kpi, anomaly, logs, absent, metric, sql, "
            "service, window, above, below, for, min_score, timeout, labels, "
            "annotations)",
            f"{path}: 1 error",
        ]

    def test_warnings_follow_the_summary(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A file with rules and no routes passes, with a warning line."""
        path = tmp_path / "rules.yaml"
        path.write_text(rule("kpi: errors\nabove: 1"))
        assert main(["rules", "check", str(path)]) == 0
        out, err = capsys.readouterr()
        assert out == f"{path}: 1 rule in 1 group, 0 routes, 0 channels\n"
        assert err == (
            f"{path}: warning: no routes: alerts are recorded but no notification "
            "is sent\n"
        )


class TestTemplates:
    """Annotations rendered at notification time."""

    def test_a_template_renders_with_its_context(self) -> None:
        """Labels, values and filters work as in Jinja."""
        text = "{{ labels.service }} fails {{ (value * 100) | round(1) }}%"
        context = {"labels": {"service": "checkout"}, "value": 0.2}
        assert render_template(text, context) == "checkout fails 20.0%"

    def test_a_missing_value_renders_as_nothing(self) -> None:
        """A label the alert does not have leaves an empty string."""
        assert render_template("[{{ labels.team }}]", {"labels": {}}) == "[]"

    @pytest.mark.parametrize(
        "text",
        [
            "{{ ''.__class__.__mro__ }}",
            "{{ labels.__init__.__globals__ }}",
            "{{ ().__class__.__base__.__subclasses__() }}",
        ],
    )
    def test_the_sandbox_blocks_reaching_python_internals(self, text: str) -> None:
        """Access to dunder attributes gives the error text, not a value."""
        rendered = render_template(text, {"labels": {}})
        assert rendered.startswith("(template error: ")
        assert "unsafe" in rendered

    def test_a_failing_template_gives_the_error_text(self) -> None:
        """Arithmetic on a missing value does not raise."""
        rendered = render_template("{{ value * 100 }}", {"value": None})
        assert rendered.startswith("(template error: ")


class TestMatchers:
    """Matchers written as strings, as routes and silences take them."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("service=checkout", Matcher("service", "checkout", "=")),
            ("team != infra", Matcher("team", "infra", "!=")),
            ('service=~"check.*"', Matcher("service", "check.*", "=~")),
            ("env!~prod|staging", Matcher("env", "prod|staging", "!~")),
            ("note=a=b", Matcher("note", "a=b", "=")),
        ],
    )
    def test_a_matcher_string_is_parsed(self, text: str, expected: Matcher) -> None:
        """Name, operator and value, with optional quotes and spaces."""
        assert parse_matcher(text) == expected

    @pytest.mark.parametrize("text", ["service", "=x", "service=~(", "9a=b"])
    def test_a_bad_matcher_string_raises_value_error(self, text: str) -> None:
        """No operator, no name, or a regex that does not compile."""
        with pytest.raises(ValueError, match=r"expected name=value|bad regular"):
            parse_matcher(text)
