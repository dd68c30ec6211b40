"""One evaluator's rounds: evaluate due rule groups, store what changed,
and hand what to send to the notifier.

``AlertEngine.run_once(conn, now)`` is one tick. Each rule group is
evaluated at the times of its interval's grid (multiples of the interval
since the Unix epoch), the same times the backtest replays, so the two
agree. Silences are read at every tick, and the dispatcher decides what
to send at every tick, so group waits and repeat intervals keep their
time whatever the rule intervals are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import psycopg

from alerting.dispatch import Dispatch, Dispatcher
from alerting.model import Notification, Rule, RuleSet
from alerting.queries import QueryCache, RuleQueryError, evaluate
from alerting.rulefile import render_template
from alerting.state import Change, Instance, advance
from flowguard._ratelimit import RateLimitedWarning
from storage.alerts import (
    load_groups,
    load_open,
    load_resolved,
    save_changes,
    save_groups,
)
from storage.silences import Silence, active_silences

__all__ = ["AlertEngine", "RuleStatus", "grid_time"]

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RuleKey = tuple[str, str]
# Sends a notification to the named channels, in the background.
Submit = Callable[[Notification, tuple[str, ...]], None]


def grid_time(now: datetime, interval_s: float) -> datetime:
    """The latest multiple of ``interval_s`` since the epoch at or before
    ``now``: the evaluation time of a group with that interval."""
    step = timedelta(seconds=interval_s)
    return _EPOCH + ((now - _EPOCH) // step) * step


@dataclass(slots=True)
class RuleStatus:
    """How a rule's last evaluation went."""

    evaluated_at: datetime | None = None
    error: str | None = None
    series: int = 0


class AlertEngine:
    """Evaluates rules, keeps alert instances, and dispatches
    notifications, for the process that holds the evaluation lock."""

    def __init__(
        self,
        rules: RuleSet,
        submit: Submit | None = None,
        public_url: str = "",
    ) -> None:
        self.rules = rules
        self._submit = submit
        self._public_url = public_url.rstrip("/")
        self._open: dict[RuleKey, dict[str, Instance]] = {}
        self._orphans: list[Instance] = []
        self._last_at: dict[str, datetime] = {}
        self._dispatcher = Dispatcher(rules.routes, self._link)
        self._loaded = False
        self._next_rules: RuleSet | None = None
        self.status: dict[RuleKey, RuleStatus] = {}
        self._failed = RateLimitedWarning(
            logger, "rule %r of group %r cannot be evaluated: %s", 60.0
        )

    def reload(self, rules: RuleSet) -> None:
        """Use new rules from the next tick on: a tick under way keeps the
        rules it started with. Instances of rules that are gone resolve at
        that tick, so their groups announce it."""
        self._next_rules = rules

    def _use(self, rules: RuleSet) -> None:
        self.rules = rules
        self._dispatcher.set_routes(rules.routes)
        kept = {(r.group, r.name) for r in rules.rules}
        for key in [k for k in self._open if k not in kept]:
            self._orphans.extend(self._open.pop(key).values())
        self.status = {k: v for k, v in self.status.items() if k in kept}

    def forget(self) -> None:
        """Drop what is held in memory: another process may have evaluated
        since, so the next tick reads the stored state again."""
        self._open.clear()
        self._orphans.clear()
        self._last_at.clear()
        self._dispatcher = Dispatcher(self.rules.routes, self._link)
        self._loaded = False

    async def run_once(self, conn: psycopg.AsyncConnection, now: datetime) -> int:
        """One tick at ``now``; the number of rules evaluated."""
        if self._next_rules is not None:
            rules, self._next_rules = self._next_rules, None
            self._use(rules)
        if not self._loaded:
            await self._load(conn)
        changes: list[Change] = []
        touched: list[Instance] = []
        evaluated = await self._evaluate_due(conn, now, changes, touched)
        changes += self._resolve_orphans(now)
        silences = await active_silences(conn, now)
        changes += self._apply_silences(silences, touched)
        if changes or touched:
            async with conn.transaction():
                await save_changes(conn, changes, _unique(touched, changes), now)
        self._dispatcher.remember(c.instance for c in changes if c.event == "resolved")
        sends = self._dispatcher.tick(self._firing(), now)
        await self._save_groups(conn)
        for send in sends:
            self._send(send)
        return evaluated

    async def _load(self, conn: psycopg.AsyncConnection) -> None:
        rules = {(r.group, r.name) for r in self.rules.rules}
        for instance in await load_open(conn):
            key = (instance.group, instance.rule)
            if key in rules:
                self._open.setdefault(key, {})[instance.fingerprint] = instance
            else:
                self._orphans.append(instance)
        groups = await load_groups(conn)
        self._dispatcher = Dispatcher(self.rules.routes, self._link, groups)
        self._dispatcher.set_routes(self.rules.routes)
        ids = [i for g in groups for i in g.sent.values() if i is not None]
        self._dispatcher.remember(await load_resolved(conn, ids))
        self._loaded = True

    async def _evaluate_due(
        self,
        conn: psycopg.AsyncConnection,
        now: datetime,
        changes: list[Change],
        touched: list[Instance],
    ) -> int:
        cache = QueryCache()
        evaluated = 0
        for group in self.rules.groups:
            at = grid_time(now, group.interval_s)
            last = self._last_at.get(group.name)
            if last is not None and at <= last:
                continue
            self._last_at[group.name] = at
            for rule in group.rules:
                found = await self._evaluate(conn, rule, at, cache)
                if found is None:
                    continue
                evaluated += 1
                changes += found
                opened = self._open.get((rule.group, rule.name), {})
                touched += opened.values()
                touched += (c.instance for c in found if c.event == "resolved")
        return evaluated

    async def _evaluate(
        self,
        conn: psycopg.AsyncConnection,
        rule: Rule,
        at: datetime,
        cache: QueryCache,
    ) -> list[Change] | None:
        status = self.status.setdefault((rule.group, rule.name), RuleStatus())
        try:
            samples = (await evaluate(conn, rule, [at], cache))[at]
        except RuleQueryError as exc:
            # The rule's instances keep their state until it reads again.
            status.error = str(exc)
            self._failed(rule.name, rule.group, exc)
            return None
        status.evaluated_at, status.error, status.series = at, None, len(samples)
        opened = self._open.setdefault((rule.group, rule.name), {})
        found = advance(rule, opened, samples, at)
        for instance in opened.values():
            instance.annotations = _annotations(rule, instance)
        return found

    def _resolve_orphans(self, now: datetime) -> list[Change]:
        changes = []
        for instance in self._orphans:
            if instance.state == "firing":
                instance.state, instance.resolved_at = "resolved", now
                changes.append(Change(instance, "resolved"))
            else:
                changes.append(Change(instance, "forgotten"))
        self._orphans.clear()
        return changes

    def _apply_silences(
        self, silences: list[Silence], touched: list[Instance]
    ) -> list[Change]:
        changes = []
        for opened in self._open.values():
            for instance in opened.values():
                silenced = any(s.silences(instance.labels) for s in silences)
                if silenced != instance.silenced:
                    instance.silenced = silenced
                    touched.append(instance)
                    event = "silenced" if silenced else "unsilenced"
                    changes.append(Change(instance, event))
        return changes

    def _firing(self) -> list[Instance]:
        return [
            instance
            for opened in self._open.values()
            for instance in opened.values()
            if instance.state == "firing"
        ]

    async def _save_groups(self, conn: psycopg.AsyncConnection) -> None:
        dispatcher = self._dispatcher
        if not dispatcher.changed and not dispatcher.removed:
            return
        changed = [dispatcher.groups[gid] for gid in dispatcher.changed]
        async with conn.transaction():
            await save_groups(conn, changed, dispatcher.removed)
        dispatcher.changed.clear()
        dispatcher.removed.clear()

    def _send(self, send: Dispatch) -> None:
        if self._submit is None or not send.route.notify:
            return
        self._submit(send.notification, send.route.notify)

    def _link(self, instance: Instance) -> str:
        """The KPIs of the alert's service around the time it started."""
        started = instance.fired_at or instance.active_since
        query = {
            "start": _rfc3339(started - timedelta(hours=1)),
            "end": _rfc3339(started + timedelta(hours=1)),
        }
        service = instance.labels.get("service")
        if not service:
            return f"{self._public_url}/api/alerts?{urlencode({'since': '1d'})}"
        return f"{self._public_url}/api/kpis?{urlencode({'service': service, **query})}"


def _annotations(rule: Rule, instance: Instance) -> dict[str, str]:
    context = {
        "labels": instance.labels,
        "value": instance.value,
        "threshold": rule.threshold,
        "rule": rule.name,
        "details": instance.details,
        "started_at": _rfc3339(instance.active_since),
    }
    return {
        name: render_template(text, context) for name, text in rule.annotations.items()
    }


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _unique(touched: Iterable[Instance], changes: Iterable[Change]) -> list[Instance]:
    seen: dict[int, Instance] = {}
    for instance in (*touched, *(c.instance for c in changes)):
        seen[id(instance)] = instance
    return list(seen.values())
