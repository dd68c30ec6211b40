"""Processing: from decoded OTLP requests to the rows the writer stores.

``logs`` and ``metrics`` flatten requests into a ``batch.Batch``; the
``chain`` of processors then changes it in place: ``severity``, ``tags``
and ``patterns`` for logs (see ``log_processors``), ``temporality`` and
``kpis`` for metrics. Each module names its public objects in
``__all__``; the package itself re-exports nothing, so that importing one
step does not load the others.
"""

from __future__ import annotations

__all__: list[str] = []
