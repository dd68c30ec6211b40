"""Alert states and notification timing, without a database or a clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerting.dispatch import Dispatcher
from alerting.model import KpiQuery, Matcher, Route, Rule, Sample
from alerting.state import Instance, advance

T0 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
RULE = Rule("HighErrorRate", "checkout", KpiQuery("error_rate"), above=0.05, for_s=60)
ROUTE = Route(
    notify=("team",),
    group_by=("alertname",),
    group_wait_s=30,
    group_interval_s=300,
    repeat_interval_s=3600,
)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _samples(**values: float) -> list[Sample]:
    return [Sample({"service": name}, value) for name, value in values.items()]


class Run:
    """Evaluates one rule every 30 s and ticks the dispatcher every 5 s."""

    def __init__(self, rule: Rule = RULE, routes: tuple[Route, ...] = (ROUTE,)):
        self.rule = rule
        self.opened: dict[str, Instance] = {}
        self.dispatcher = Dispatcher(routes)
        self.sent: list[tuple[float, str, list[tuple[str, str]]]] = []
        self.events: list[tuple[float, str, str]] = []
        self._next_id = 1

    def until(self, end_s: float, values: dict[str, float], start_s: float) -> None:
        t = start_s
        while t < end_s:
            if t % 30 == 0:
                changes = advance(self.rule, self.opened, _samples(**values), _at(t))
                for change in changes:
                    if change.instance.alert_id is None:
                        change.instance.alert_id = self._next_id
                        self._next_id += 1
                    service = change.instance.labels["service"]
                    self.events.append((t, change.event, service))
                self.dispatcher.remember(
                    c.instance for c in changes if c.event == "resolved"
                )
            firing = [i for i in self.opened.values() if i.state == "firing"]
            for send in self.dispatcher.tick(firing, _at(t)):
                views = [
                    (v.labels["service"], v.state) for v in send.notification.alerts
                ]
                self.sent.append((t, send.notification.kind, sorted(views)))
            t += 5


def test_an_alert_is_pending_for_its_for_then_fires_and_resolves() -> None:
    """The condition must hold for `for` before firing; false again resolves."""
    run = Run()
    run.until(150, {"checkout": 0.2}, 0)
    run.until(200, {"checkout": 0.0}, 150)
    assert run.events == [
        (0, "pending", "checkout"),
        (60, "firing", "checkout"),
        (150, "resolved", "checkout"),
    ]


def test_a_condition_that_ends_before_for_never_fires() -> None:
    """A pending alert whose condition ends is forgotten, never sent."""
    run = Run()
    run.until(60, {"checkout": 0.2}, 0)
    run.until(400, {"checkout": 0.0}, 60)
    assert [e[1] for e in run.events] == ["pending", "forgotten"]
    assert run.sent == []


def test_notifications_are_firing_then_reminders_then_one_resolved() -> None:
    """Not one per evaluation: group wait, repeat interval, one resolved."""
    run = Run()
    run.until(2 * 3600 + 100, {"checkout": 0.2}, 0)
    run.until(3 * 3600, {"checkout": 0.0}, 2 * 3600 + 100)
    firing_at = 60
    assert run.sent == [
        (firing_at + 30, "firing", [("checkout", "firing")]),
        (firing_at + 30 + 3600, "reminder", [("checkout", "firing")]),
        (firing_at + 30 + 7200, "reminder", [("checkout", "firing")]),
        # Resolved at the first evaluation after the values drop (7320 s),
        # sent one group interval after the last reminder.
        (firing_at + 30 + 7200 + 300, "resolved", [("checkout", "resolved")]),
    ]


def test_two_services_breaching_together_share_one_notification() -> None:
    """Grouped by alertname, two services' alerts go out together."""
    run = Run()
    run.until(300, {"checkout": 0.2, "payments": 0.3}, 0)
    assert run.sent == [
        (90, "firing", [("checkout", "firing"), ("payments", "firing")])
    ]


def test_a_change_in_a_group_waits_for_the_group_interval() -> None:
    """A second service joining is sent one group interval after the first."""
    run = Run()
    run.until(120, {"checkout": 0.2}, 0)
    run.until(900, {"checkout": 0.2, "payments": 0.3}, 120)
    assert [(t, kind) for t, kind, _ in run.sent] == [(90, "firing"), (390, "firing")]
    assert run.sent[1][2] == [("checkout", "firing"), ("payments", "firing")]


def test_grouping_by_service_sends_each_service_apart() -> None:
    """group_by service gives one group, and one notification, per service."""
    route = Route(notify=("team",), group_by=("alertname", "service"), group_wait_s=30)
    run = Run(routes=(route,))
    run.until(200, {"checkout": 0.2, "payments": 0.3}, 0)
    assert sorted(views for _, _, views in run.sent) == [
        [("checkout", "firing")],
        [("payments", "firing")],
    ]


def test_a_silenced_alert_is_not_sent_but_stays_recorded() -> None:
    """Silenced alerts fire as usual but no notification names them."""
    run = Run()
    run.until(60, {"checkout": 0.2}, 0)
    for instance in run.opened.values():
        instance.silenced = True
    run.until(4000, {"checkout": 0.2}, 60)
    assert [e[1] for e in run.events] == ["pending", "firing"]
    assert run.sent == []


def test_an_alert_sent_then_silenced_resolves_without_a_word() -> None:
    """Once silenced, an alert that was announced firing is not announced
    resolved either; its sibling that was never silenced is."""
    run = Run()
    run.until(120, {"checkout": 0.2, "payments": 0.3}, 0)
    assert run.sent == [
        (90, "firing", [("checkout", "firing"), ("payments", "firing")])
    ]
    for instance in run.opened.values():
        instance.silenced = instance.labels["service"] == "checkout"
    run.until(600, {"checkout": 0.0, "payments": 0.0}, 120)
    assert run.sent[1:] == [(390, "resolved", [("payments", "resolved")])]
    assert run.dispatcher.groups == {}


def test_an_alert_resolving_before_group_wait_is_never_sent() -> None:
    """Nothing is sent for an alert that resolved before its group waited."""
    rule = Rule("Spike", "g", KpiQuery("error_rate"), above=0.05)
    route = Route(notify=("team",), group_wait_s=60)
    run = Run(rule, (route,))
    run.until(30, {"checkout": 0.2}, 0)
    run.until(600, {"checkout": 0.0}, 30)
    assert [e[1] for e in run.events] == ["pending", "firing", "resolved"]
    assert run.sent == []


def test_the_first_matching_route_wins_unless_it_continues() -> None:
    """Routes are tried in order; continue lets later routes match too."""
    page = Route(matchers=(Matcher("service", "check.*", "=~"),), notify=("oncall",))
    rest = Route(notify=("team",))
    run = Run(routes=(page, rest))
    run.until(200, {"checkout": 0.2, "payments": 0.3}, 0)
    assert sorted(views for _, _, views in run.sent) == [
        [("checkout", "firing")],
        [("payments", "firing")],
    ]
    both = Route(
        matchers=(Matcher("service", "checkout"),), notify=("oncall",), continue_=True
    )
    run = Run(routes=(both, rest))
    run.until(200, {"checkout": 0.2}, 0)
    assert len(run.sent) == 2
