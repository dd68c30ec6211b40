"""The processor chain: small steps between decoding and the writer.

A processor is a callable with one job, such as inferring severities or
turning cumulative sums into deltas. It receives the whole batch of one
export request and changes it in place. The chain for each signal is
named in configuration, in order; a name is either a built-in processor
or ``package.module:ClassName`` for one written elsewhere.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from flowguard.errors import ConfigError
from processing.batch import Batch

__all__ = [
    "Chain",
    "Committed",
    "Processor",
    "ProcessorContext",
    "build_chain",
    "in_turns",
]

logger = logging.getLogger(__name__)
_T = TypeVar("_T")


class Processor(Protocol):
    """One step of the chain; changes ``batch`` in place."""

    async def __call__(self, batch: Batch) -> None: ...


@runtime_checkable
class Committed(Protocol):
    """A processor that wants to know whether its batch was stored."""

    def committed(self, batch: Batch, stored: bool) -> None: ...


@dataclass(frozen=True, slots=True)
class ProcessorContext:
    """What a processor may need to build itself.

    ``services`` maps names such as ``"last_points"`` or ``"patterns"`` to
    the storage objects that answer processors' questions; ``options``
    holds the settings that concern processing.
    """

    options: dict[str, Any] = field(default_factory=dict)
    services: dict[str, Any] = field(default_factory=dict)


Factory = Callable[[ProcessorContext], Processor]

# Records a processor handles before letting other tasks run: a few
# milliseconds of work at most.
TURN = 64


async def in_turns(
    items: Sequence[_T], size: int = TURN
) -> AsyncIterator[Sequence[_T]]:
    """``items`` in slices of ``size``, letting the event loop run other
    tasks between slices.

    Processing a large batch takes tens of milliseconds; without turns the
    writer's round trips to the database wait all that time, and the
    database idles while the next batch is processed.
    """
    for start in range(0, len(items), size):
        if start:
            await asyncio.sleep(0)
        yield items[start : start + size]


@dataclass(slots=True)
class Chain:
    """The processors of each signal, run in order."""

    logs: Sequence[Processor] = ()
    metrics: Sequence[Processor] = ()

    async def run(self, batch: Batch) -> Batch:
        """Run the processors of ``batch.signal`` and seal the batch."""
        for processor in self._of(batch.signal):
            await processor(batch)
        return batch.seal()

    def committed(self, batch: Batch, stored: bool) -> None:
        """Tell the processors that want it whether ``batch`` was stored."""
        for processor in self._of(batch.signal):
            if isinstance(processor, Committed):
                processor.committed(batch, stored)

    def _of(self, signal: str) -> Sequence[Processor]:
        return self.logs if signal == "logs" else self.metrics


def _import(name: str) -> Factory:
    module_name, _, attribute = name.partition(":")
    try:
        module = importlib.import_module(module_name)
        found = getattr(module, attribute)
    except (ImportError, AttributeError) as exc:
        msg = (
            f"processor {name!r} cannot be loaded: {exc}; name a built-in "
            "processor or give package.module:ClassName"
        )
        raise ConfigError(msg) from None
    factory: Factory | None = getattr(found, "from_context", None)
    if callable(factory):
        return factory

    def build(_context: ProcessorContext) -> Processor:
        made: Processor = found()
        return made

    return build


def _factory(name: str, builtins: dict[str, str]) -> Factory:
    path = builtins.get(name, name)
    if ":" in path:
        return _import(path)
    msg = (
        f"unknown processor {name!r}; built-in ones are {sorted(builtins)}, "
        "or give package.module:ClassName"
    )
    raise ConfigError(msg)


def build_chain(
    log_names: Sequence[str],
    metric_names: Sequence[str],
    context: ProcessorContext,
    builtins: dict[str, str],
) -> Chain:
    """Build the chain from processor names; ``builtins`` maps short names
    to import paths.

    Raises:
        ConfigError: a name is neither built in nor importable.
    """
    logs = [_factory(name, builtins)(context) for name in log_names]
    metrics = [_factory(name, builtins)(context) for name in metric_names]
    logger.info("processors: logs %s, metrics %s", list(log_names), list(metric_names))
    return Chain(logs, metrics)
