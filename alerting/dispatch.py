"""Routing and grouping: which alerts are sent, together, and when.

An alert goes to the first route whose matchers accept its labels (and to
later ones while a matched route says ``continue``). Within a route, alerts
with the same values of the route's ``group_by`` labels form a group, and
a group notifies:

- first after ``group_wait``, so that alerts starting together go out
  together;
- then, when alerts joined or resolved, at most once per
  ``group_interval``;
- while nothing changed and some alert still fires, a reminder every
  ``repeat_interval``;
- once, when its last alert resolved, and then it ends.

An alert that resolves before its group ever named it firing is never
sent. Silenced alerts stay in their group but are left out of what is
sent. Nothing here reads a clock: the caller passes the time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson

from alerting.model import AlertView, Notification, Route
from alerting.state import Instance

__all__ = ["Dispatch", "Dispatcher", "GroupState", "route_key"]

GroupId = tuple[str, str]


@dataclass(slots=True)
class GroupState:
    """One group of one route: ``sent`` maps the fingerprints its last
    notification named firing to their alert ids."""

    route_key: str
    group_key: str
    group_labels: dict[str, str]
    created_at: datetime
    flushed_at: datetime | None = None
    sent: dict[str, int | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Dispatch:
    """A notification to send to the route's channels."""

    route: Route
    notification: Notification
    alert_ids: tuple[int, ...]


def route_key(index: int, route: Route) -> str:
    """A route's identity across reloads: its place and what it matches,
    sends to and groups by (its timers may change without losing state)."""
    text = orjson.dumps(
        [
            index,
            sorted((m.name, m.op, m.value) for m in route.matchers),
            list(route.notify),
            list(route.group_by),
        ]
    )
    return hashlib.blake2b(text, digest_size=8).hexdigest()


class Dispatcher:
    """Keeps every group's state and says what to send at each tick."""

    def __init__(
        self,
        routes: Sequence[Route],
        link: Callable[[Instance], str] = lambda _: "",
        groups: Iterable[GroupState] = (),
    ) -> None:
        self._routes = [(route_key(i, r), r) for i, r in enumerate(routes)]
        self._link = link
        self.groups: dict[GroupId, GroupState] = {
            (g.route_key, g.group_key): g for g in groups
        }
        # Resolved instances some group still has to announce.
        self._resolved: dict[str, Instance] = {}
        self.changed: set[GroupId] = set()
        self.removed: set[GroupId] = set()

    def set_routes(self, routes: Sequence[Route]) -> None:
        """Use new routes; groups of routes that are gone end unannounced."""
        self._routes = [(route_key(i, r), r) for i, r in enumerate(routes)]
        keys = {key for key, _ in self._routes}
        for gid in [gid for gid in self.groups if gid[0] not in keys]:
            del self.groups[gid]
            self.removed.add(gid)

    def remember(self, instances: Iterable[Instance]) -> None:
        """Resolved instances whose groups may still have to announce them."""
        for instance in instances:
            self._resolved[instance.fingerprint] = instance

    def referenced(self) -> set[str]:
        """Fingerprints some group last announced as firing."""
        return {fp for group in self.groups.values() for fp in group.sent}

    def tick(self, firing: Iterable[Instance], now: datetime) -> list[Dispatch]:
        """What to send at ``now``, given every firing instance."""
        members: dict[GroupId, list[Instance]] = {}
        for instance in firing:
            for key, route in self._matching(instance.labels):
                gid = (key, _group_key(route, instance.labels))
                members.setdefault(gid, []).append(instance)
                if gid not in self.groups and not instance.silenced:
                    self.groups[gid] = GroupState(
                        key, gid[1], _group_labels(route, instance.labels), now
                    )
                    self.changed.add(gid)
        routes = dict(self._routes)
        sends = []
        for gid, group in list(self.groups.items()):
            found = self._flush(routes[gid[0]], group, members.get(gid, []), now)
            if found is not None:
                sends.append(found)
        live = self.referenced()
        self._resolved = {k: v for k, v in self._resolved.items() if k in live}
        return sends

    def _matching(self, labels: dict[str, str]) -> list[tuple[str, Route]]:
        found = []
        for key, route in self._routes:
            if route.matches(labels):
                found.append((key, route))
                if not route.continue_:
                    break
        return found

    def _flush(
        self, route: Route, group: GroupState, members: list[Instance], now: datetime
    ) -> Dispatch | None:
        gid = (group.route_key, group.group_key)
        firing = {i.fingerprint: i for i in members if not i.silenced}
        silenced = {i.fingerprint for i in members if i.silenced}
        gone = [fp for fp in group.sent if fp not in firing and fp not in silenced]
        # An alert that resolved while silenced is not announced: it leaves
        # the group without a word, as its firing would have been kept quiet.
        resolved_by = self._resolved
        muted = {fp for fp in gone if fp in resolved_by and resolved_by[fp].silenced}
        if muted:
            group.sent = {fp: i for fp, i in group.sent.items() if fp not in muted}
            gone = [fp for fp in gone if fp not in muted]
            self.changed.add(gid)
        if group.flushed_at is None:
            if not firing:
                self._end(gid)
                return None
            if now < group.created_at + _s(route.group_wait_s):
                return None
            kind = "firing"
        elif firing.keys() - group.sent.keys() or gone:
            if now < group.flushed_at + _s(route.group_interval_s):
                return None
            kind = "firing" if firing else "resolved"
        elif firing and now >= group.flushed_at + _s(route.repeat_interval_s):
            kind = "reminder"
        else:
            if not firing and not silenced:
                self._end(gid)
            return None

        resolved = [self._resolved[fp] for fp in gone if fp in self._resolved]
        views = [self._view(i) for i in firing.values()]
        views += [self._view(i) for i in resolved]
        ids = [i.alert_id for i in (*firing.values(), *resolved) if i.alert_id]
        group.sent = {fp: i.alert_id for fp, i in firing.items()} | {
            fp: group.sent[fp] for fp in silenced if fp in group.sent
        }
        group.flushed_at = now
        self.changed.add(gid)
        if not firing and not silenced:
            self._end(gid)
        notification = Notification(kind, group.group_labels, tuple(views), now)
        return Dispatch(route, notification, tuple(ids))

    def _end(self, gid: GroupId) -> None:
        self.groups.pop(gid, None)
        self.changed.discard(gid)
        self.removed.add(gid)

    def _view(self, instance: Instance) -> AlertView:
        return AlertView(
            rule=instance.rule,
            labels=dict(instance.labels),
            value=instance.value,
            threshold=instance.threshold,
            annotations=dict(instance.annotations),
            state=instance.state,
            started_at=instance.fired_at or instance.active_since,
            resolved_at=instance.resolved_at,
            link=self._link(instance),
            silenced=instance.silenced,
            alert_id=instance.alert_id,
        )


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def _group_labels(route: Route, labels: dict[str, str]) -> dict[str, str]:
    return {name: labels.get(name, "") for name in route.group_by}


def _group_key(route: Route, labels: dict[str, str]) -> str:
    return orjson.dumps(sorted(_group_labels(route, labels).items())).decode()
