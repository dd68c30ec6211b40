"""The log processors: severity inference, tags and patterns."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from processing.batch import Batch, LogEntry
from processing.chain import ProcessorContext, in_turns
from processing.patterns import TemplateMiner
from processing.severity import infer_severity
from processing.tags import tags_for

__all__ = [
    "PatternProcessor",
    "PatternStore",
    "SeverityProcessor",
    "TagProcessor",
]

logger = logging.getLogger(__name__)

# Only the first line of a body is mined: the lines after it are usually a
# stack trace or a dump, whose variety would split one event into many.
_MAX_MINED_CHARS = 2048


class SeverityProcessor:
    """Infers the severity of records sent without a severity number."""

    @classmethod
    def from_context(cls, context: ProcessorContext) -> SeverityProcessor:
        """The processor; it needs nothing from the context."""
        return cls()

    async def __call__(self, batch: Batch) -> None:
        """Set severity number and text, marked inferred, where missing."""
        async for part in in_turns(batch.logs):
            for entry in part:
                if entry.severity_number:
                    continue
                found = infer_severity(
                    0, entry.severity_text, entry.body, entry.attributes
                )
                if found.inferred:
                    entry.severity_number = found.number
                    entry.severity_text = found.text
                    entry.severity_inferred = True


class TagProcessor:
    """Tags records from the fixed vocabulary in ``processing.tags``."""

    @classmethod
    def from_context(cls, context: ProcessorContext) -> TagProcessor:
        """The processor; it needs nothing from the context."""
        return cls()

    async def __call__(self, batch: Batch) -> None:
        """Set the tags of every record."""
        async for part in in_turns(batch.logs):
            for entry in part:
                entry.tags = tags_for(
                    entry.severity_number, entry.body, entry.attributes
                )


class PatternStore(Protocol):
    """Stored patterns, as the pattern processor reads them."""

    async def recent(self, limit: int) -> list[tuple[str, int, str]]: ...

    async def find(
        self, keys: Sequence[tuple[str, str]]
    ) -> list[tuple[str, int, str]]: ...


def _mined_text(entry: LogEntry) -> str | None:
    # Structured bodies have no message to mine.
    if entry.body is None or entry.body_value is not None:
        return None
    return entry.body.partition("\n")[0][:_MAX_MINED_CHARS]


class PatternProcessor:
    """Assigns every record a pattern; new and changed patterns are stored
    with the batch.

    Patterns are loaded from storage on first use. While every stored
    pattern fits in memory the miner alone decides; once some are only in
    storage, a record the miner cannot match is first looked up there, so
    a known pattern is never re-created under a new id.
    """

    def __init__(
        self,
        store: PatternStore | None = None,
        max_patterns: int = 50_000,
        miner: TemplateMiner | None = None,
    ) -> None:
        self._miner = miner or TemplateMiner(max_patterns=max_patterns)
        self._max_patterns = max_patterns
        self._store = store
        self._loaded = store is None
        self._complete = True

    @classmethod
    def from_context(cls, context: ProcessorContext) -> PatternProcessor:
        """The processor with the pattern store the service provides."""
        max_patterns = int(context.options.get("pattern_max", 50_000))
        return cls(context.services.get("patterns"), max_patterns)

    async def __call__(self, batch: Batch) -> None:
        """Set ``pattern_id`` on every record with a text body."""
        if not self._loaded:
            await self._load()
        texts = [(e, t) for e in batch.logs if (t := _mined_text(e)) is not None]
        if not self._complete or self._miner.evicted:
            await self._adopt_stored(
                [(e, t) for e, t in texts if self._miner.match(e.service, t) is None]
            )
        async for part in in_turns(texts):
            for entry, text in part:
                self._add(batch, entry, text)

    async def _load(self) -> None:
        assert self._store is not None
        limit = self._max_patterns
        stored = await self._store.recent(limit + 1)
        self._complete = len(stored) <= limit
        for service, pattern_id, template in stored[-limit:]:
            self._miner.adopt(service, pattern_id, template)
        self._loaded = True
        logger.info("loaded %d log patterns", min(len(stored), limit))

    async def _adopt_stored(self, misses: list[tuple[LogEntry, str]]) -> None:
        if not misses or self._store is None:
            return
        keys = {(e.service, self._miner.lookup_key(e.service, t)) for e, t in misses}
        for service, pattern_id, template in await self._store.find(sorted(keys)):
            self._miner.adopt(service, pattern_id, template)

    def _add(self, batch: Batch, entry: LogEntry, text: str) -> None:
        found = self._miner.add(entry.service, text)
        entry.pattern_id = found.pattern_id
        if found.created or found.changed:
            # A pattern created and then changed in one batch keeps the time
            # of its first record.
            earlier = batch.patterns.get(found.pattern_id)
            first_seen = entry.time if earlier is None else min(earlier[4], entry.time)
            batch.patterns[found.pattern_id] = (
                found.pattern_id,
                entry.service,
                found.template,
                TemplateMiner.template_key(found.template),
                first_seen,
            )
