"""Alert instances, their history, group state and notifications, stored.

The evaluator is the only writer of ``alerts``, ``alert_events`` and
``alert_groups``; the API reads them. Notifications are written by the
deliveries as they end.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerting.dispatch import GroupState
from alerting.state import Change, Instance

__all__ = [
    "list_alerts",
    "load_groups",
    "load_open",
    "load_resolved",
    "record_notification",
    "save_changes",
    "save_groups",
]

_COLUMNS = (
    "id, fingerprint, rule, rule_group, labels, state, value, peak_value,"
    " threshold, annotations, details, active_since, fired_at, resolved_at,"
    " last_evaluated_at, silenced"
)


def _instance(row: dict[str, Any]) -> Instance:
    return Instance(
        fingerprint=row["fingerprint"],
        rule=row["rule"],
        group=row["rule_group"],
        labels=row["labels"],
        threshold=row["threshold"],
        active_since=row["active_since"],
        state=row["state"],
        value=row["value"],
        peak_value=row["peak_value"],
        fired_at=row["fired_at"],
        resolved_at=row["resolved_at"],
        last_evaluated_at=row["last_evaluated_at"],
        annotations=row["annotations"],
        details=row["details"],
        silenced=row["silenced"],
        alert_id=row["id"],
    )


async def load_open(conn: psycopg.AsyncConnection) -> list[Instance]:
    """Every pending and firing instance."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM alerts WHERE state <> 'resolved'")
        return [_instance(row) for row in await cur.fetchall()]


async def load_resolved(
    conn: psycopg.AsyncConnection, alert_ids: Sequence[int]
) -> list[Instance]:
    """Resolved instances by id (those a group has yet to announce)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM alerts WHERE id = ANY(%s) AND state = 'resolved'",
            (list(alert_ids),),
        )
        return [_instance(row) for row in await cur.fetchall()]


def _json(value: object) -> Jsonb:
    # Details may hold times and numbers from the database.
    return Jsonb(value, dumps=lambda v: orjson.dumps(v, default=str).decode())


async def save_changes(
    conn: psycopg.AsyncConnection,
    changes: Sequence[Change],
    touched: Iterable[Instance],
    at: datetime,
) -> None:
    """Store one round: new instances get their ids, every instance in
    ``touched`` is updated, forgotten ones are deleted, and each change is
    an event. Runs in the caller's transaction."""
    for change in changes:
        instance = change.instance
        if change.event == "forgotten":
            if instance.alert_id is not None:
                await conn.execute(
                    "DELETE FROM alerts WHERE id = %s", (instance.alert_id,)
                )
            continue
        if instance.alert_id is None:
            cur = await conn.execute(
                "INSERT INTO alerts (fingerprint, rule, rule_group, labels, state,"
                " threshold, active_since, last_evaluated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (
                    instance.fingerprint,
                    instance.rule,
                    instance.group,
                    Jsonb(instance.labels),
                    instance.state,
                    instance.threshold,
                    instance.active_since,
                    at,
                ),
            )
            row = await cur.fetchone()
            assert row is not None
            instance.alert_id = int(row[0])
    async with conn.cursor() as cur:
        await cur.executemany(
            "UPDATE alerts SET state = %s, value = %s, peak_value = %s,"
            " annotations = %s, details = %s, fired_at = %s, resolved_at = %s,"
            " last_evaluated_at = %s, silenced = %s WHERE id = %s",
            [
                (
                    i.state,
                    i.value,
                    i.peak_value,
                    Jsonb(i.annotations),
                    _json(i.details),
                    i.fired_at,
                    i.resolved_at,
                    i.last_evaluated_at,
                    i.silenced,
                    i.alert_id,
                )
                for i in touched
                if i.alert_id is not None
            ],
        )
        await cur.executemany(
            "INSERT INTO alert_events (alert_id, at, event, value)"
            " VALUES (%s, %s, %s, %s)",
            [
                (c.instance.alert_id, at, c.event, c.instance.value)
                for c in changes
                if c.event != "forgotten" and c.instance.alert_id is not None
            ],
        )


async def load_groups(conn: psycopg.AsyncConnection) -> list[GroupState]:
    """The dispatcher's stored groups."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT route_key, group_key, group_labels, created_at, flushed_at,"
            " sent FROM alert_groups"
        )
        return [GroupState(**row) for row in await cur.fetchall()]


async def save_groups(
    conn: psycopg.AsyncConnection,
    changed: Iterable[GroupState],
    removed: Iterable[tuple[str, str]],
) -> None:
    """Store changed groups and delete ended ones."""
    async with conn.cursor() as cur:
        await cur.executemany(
            "DELETE FROM alert_groups WHERE route_key = %s AND group_key = %s",
            list(removed),
        )
        await cur.executemany(
            "INSERT INTO alert_groups (route_key, group_key, group_labels,"
            " created_at, flushed_at, sent) VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (route_key, group_key) DO UPDATE SET"
            " group_labels = excluded.group_labels, created_at = excluded.created_at,"
            " flushed_at = excluded.flushed_at, sent = excluded.sent",
            [
                (
                    g.route_key,
                    g.group_key,
                    Jsonb(g.group_labels),
                    g.created_at,
                    g.flushed_at,
                    Jsonb(g.sent),
                )
                for g in changed
            ],
        )


async def record_notification(
    conn: psycopg.AsyncConnection,
    *,
    at: datetime,
    kind: str,
    channel: str,
    group_labels: dict[str, str],
    alert_ids: Sequence[int],
    title: str,
    ok: bool,
    attempts: int,
    error: str | None,
    delivered_at: datetime | None,
) -> None:
    """Store how one notification went on one channel."""
    await conn.execute(
        "INSERT INTO notifications (at, kind, channel, group_labels, alert_ids,"
        " title, ok, attempts, error, delivered_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            at,
            kind,
            channel,
            Jsonb(group_labels),
            list(alert_ids),
            title,
            ok,
            attempts,
            error,
            delivered_at,
        ),
    )


async def list_alerts(
    conn: psycopg.AsyncConnection,
    states: Sequence[str],
    since: datetime,
    limit: int,
) -> list[dict[str, Any]]:
    """Instances active at or after ``since`` (still open, or resolved
    since), newest first, each with its events and notifications."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM alerts"
            " WHERE (state <> 'resolved' OR resolved_at >= %(since)s)"
            " AND (cardinality(%(states)s::text[]) = 0 OR state = ANY(%(states)s))"
            " ORDER BY active_since DESC, id DESC LIMIT %(limit)s",
            {"since": since, "states": list(states), "limit": limit},
        )
        alerts = await cur.fetchall()
        ids = [a["id"] for a in alerts]
        await cur.execute(
            "SELECT alert_id, at, event, value FROM alert_events"
            " WHERE alert_id = ANY(%s) ORDER BY at, id",
            (ids,),
        )
        events = await cur.fetchall()
        await cur.execute(
            "SELECT id, at, kind, channel, ok, attempts, error, delivered_at,"
            " alert_ids FROM notifications WHERE alert_ids && %s::bigint[]"
            " ORDER BY at, id",
            (ids,),
        )
        notifications = await cur.fetchall()
    by_id = {a["id"]: a | {"history": [], "notifications": []} for a in alerts}
    for event in events:
        by_id[event.pop("alert_id")]["history"].append(event)
    for sent in notifications:
        for alert_id in sent.pop("alert_ids"):
            if alert_id in by_id:
                by_id[alert_id]["notifications"].append(sent)
    return list(by_id.values())
