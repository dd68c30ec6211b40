"""Alert instances and how one evaluation moves them.

An instance is one rule and one label set (its fingerprint). Its condition
true makes it pending; true for the rule's ``for`` makes it firing; false
again resolves a firing instance and forgets a pending one. ``advance`` is
pure, so live evaluation and the backtest step instances the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson

from alerting.model import Rule, Sample

__all__ = ["Change", "Instance", "advance", "fingerprint", "labels_of"]


@dataclass(slots=True)
class Instance:
    """One alert instance, as evaluation keeps it."""

    fingerprint: str
    rule: str
    group: str
    labels: dict[str, str]
    threshold: str
    active_since: datetime
    state: str = "pending"
    value: float | None = None
    peak_value: float | None = None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    last_evaluated_at: datetime | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    details: dict[str, object] = field(default_factory=dict)
    silenced: bool = False
    alert_id: int | None = None

    def observe(self, value: float | None, rule: Rule) -> None:
        """Take the value of one evaluation, keeping the worst as the peak."""
        self.value = value
        if value is None:
            return
        if self.peak_value is None or _worse(value, self.peak_value, rule):
            self.peak_value = value


def _worse(value: float, than: float, rule: Rule) -> bool:
    # A below-only rule breaches downwards; every other rule upwards.
    if rule.below is not None and rule.above is None:
        return value < than
    return value > than


@dataclass(frozen=True, slots=True)
class Change:
    """An instance that changed state in an evaluation: ``event`` is
    ``pending``, ``firing``, ``resolved`` or ``forgotten``."""

    instance: Instance
    event: str


def labels_of(rule: Rule, sample: Sample) -> dict[str, str]:
    """An instance's labels: the rule's name and labels, then the series'."""
    labels = {"alertname": rule.name, **rule.labels}
    labels.update(sample.labels)
    return labels


def fingerprint(group: str, labels: Mapping[str, str]) -> str:
    """A stable id of a label set within a rule group."""
    text = orjson.dumps([group, sorted(labels.items())])
    return hashlib.blake2b(text, digest_size=12).hexdigest()


def advance(
    rule: Rule,
    instances: MutableMapping[str, Instance],
    samples: Iterable[Sample],
    at: datetime,
) -> list[Change]:
    """Move the open instances of ``rule`` (pending and firing, by
    fingerprint) to the state its samples at ``at`` give them.

    ``instances`` holds only this rule's open instances; resolved and
    forgotten ones are removed from it and returned among the changes.
    """
    changes: list[Change] = []
    seen = set()
    for sample in samples:
        if not rule.breached(sample.value):
            continue
        labels = labels_of(rule, sample)
        key = fingerprint(rule.group, labels)
        seen.add(key)
        instance = instances.get(key)
        if instance is None:
            instance = Instance(key, rule.name, rule.group, labels, rule.threshold, at)
            instances[key] = instance
            changes.append(Change(instance, "pending"))
        instance.observe(sample.value, rule)
        instance.details = dict(sample.details)
        instance.last_evaluated_at = at
        if instance.state == "pending" and at - instance.active_since >= timedelta(
            seconds=rule.for_s
        ):
            instance.state = "firing"
            instance.fired_at = at
            changes.append(Change(instance, "firing"))
    for key in [k for k in instances if k not in seen]:
        instance = instances.pop(key)
        instance.last_evaluated_at = at
        if instance.state == "firing":
            instance.state = "resolved"
            instance.resolved_at = at
            changes.append(Change(instance, "resolved"))
        else:
            changes.append(Change(instance, "forgotten"))
    return changes
