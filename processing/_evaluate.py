"""Grouping quality of the template miner on labelled log lines.

A fixture is a CSV file per system with the columns ``line`` and ``group``,
where ``group`` names the log statement that printed the line. Two scores,
both between 0 and 1:

- grouping accuracy (GA): a message counts as right when the set of
  messages in its predicted group is exactly the set in its true group;
  GA is the share of messages that are right;
- group F1: precision is the share of predicted groups that exactly equal a
  true group, recall the share of true groups exactly found, F1 their
  harmonic mean.

Scores of several systems are pooled: their messages and groups are
counted together, so a bigger system weighs more.

Three methods are compared: the miner as configured by default, the
miner with its improvements switched off (closest to classic Drain), and a
baseline that masks every token holding a digit and groups equal results.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from processing.patterns import TemplateMiner

__all__ = [
    "DATA_DIR",
    "DEVELOPMENT",
    "HELD_OUT",
    "METHODS",
    "NO_SCORES",
    "Scores",
    "classic_miner",
    "digit_baseline",
    "load_system",
    "mine",
    "pooled",
    "score",
    "score_systems",
]

DATA_DIR = Path(__file__).resolve().parent.parent / "tests/processing/data/log_groups"
# The miner was developed on the first half; the second half was kept for
# checks (see docs/log-processing.md for how far it stayed unseen).
DEVELOPMENT = ("hdfs", "linux", "apache", "openssh", "openstack", "spark", "cbs")
HELD_OUT = (
    "scheduler", "nginx", "android", "zookeeper", "kubelet", "healthapp", "proxy",
)  # fmt: skip

_HAS_DIGIT = re.compile(r"\S*\d\S*")


@dataclass(frozen=True, slots=True)
class Scores:
    """How well predicted groups match true groups, as counts."""

    messages: int
    right_messages: int
    true_groups: int
    predicted_groups: int
    exact_groups: int

    @property
    def grouping_accuracy(self) -> float:
        """The share of messages whose predicted group is exactly right."""
        return self.right_messages / self.messages if self.messages else 0.0

    @property
    def precision(self) -> float:
        """The share of predicted groups that equal a true group."""
        groups = self.predicted_groups
        return self.exact_groups / groups if groups else 0.0

    @property
    def recall(self) -> float:
        """The share of true groups that were found exactly."""
        return self.exact_groups / self.true_groups if self.true_groups else 0.0

    @property
    def f1(self) -> float:
        """The harmonic mean of precision and recall."""
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0

    def __add__(self, other: Scores) -> Scores:
        """Pool the counts of two sets of systems."""
        return Scores(
            self.messages + other.messages,
            self.right_messages + other.right_messages,
            self.true_groups + other.true_groups,
            self.predicted_groups + other.predicted_groups,
            self.exact_groups + other.exact_groups,
        )


NO_SCORES = Scores(0, 0, 0, 0, 0)


def load_system(path: Path) -> tuple[list[str], list[str]]:
    """The lines and their true group labels from one fixture file."""
    with path.open(newline="", encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    return [row["line"] for row in rows], [row["group"] for row in rows]


def _members(labels: Sequence[Hashable]) -> dict[Hashable, frozenset[int]]:
    groups: dict[Hashable, set[int]] = defaultdict(set)
    for index, label in enumerate(labels):
        groups[label].add(index)
    return {label: frozenset(members) for label, members in groups.items()}


def score(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> Scores:
    """Compare predicted groups with true groups, message by message."""
    true_groups = _members(truth)
    predicted_groups = _members(predicted)
    exact = set(true_groups.values()) & set(predicted_groups.values())
    return Scores(
        messages=len(truth),
        right_messages=sum(len(members) for members in exact),
        true_groups=len(true_groups),
        predicted_groups=len(predicted_groups),
        exact_groups=len(exact),
    )


def pooled(scores: Iterable[Scores]) -> Scores:
    """The scores of several systems taken as one set of messages and groups."""
    return sum(scores, NO_SCORES)


def digit_baseline(lines: Sequence[str]) -> list[str]:
    """Groups by the line with every token that holds a digit masked."""
    return [" ".join(_HAS_DIGIT.sub("<*>", line).split()) for line in lines]


def classic_miner() -> TemplateMiner:
    """The miner without its improvements: closest to classic Drain."""
    return TemplateMiner(
        similarity=0.4,
        mask_variables=False,
        merge_lengths=False,
        skip_wildcards=False,
    )


def mine(lines: Sequence[str], miner: TemplateMiner) -> list[int]:
    """The pattern id of every line, fed in order to one miner."""
    return [miner.add("", line).pattern_id for line in lines]


METHODS: dict[str, Callable[[Sequence[str]], Sequence[Hashable]]] = {
    "miner": lambda lines: mine(lines, TemplateMiner()),
    "classic": lambda lines: mine(lines, classic_miner()),
    "digits": digit_baseline,
}


def score_systems(
    data_dir: Path, systems: Sequence[str], method: str
) -> dict[str, Scores]:
    """Scores of one method on each named system of a fixture folder."""
    group = METHODS[method]
    results = {}
    for name in systems:
        lines, truth = load_system(data_dir / f"{name}.csv")
        results[name] = score(truth, group(lines))
    return results
