"""Storage: the pool and tiers, migrations, the writer, rollups, retention
and the read queries.

Each module names its public objects in ``__all__``; the package itself
re-exports nothing, so that importing one part does not load the others.
"""

from __future__ import annotations

__all__: list[str] = []
