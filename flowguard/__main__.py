from __future__ import annotations

from flowguard.cli import main

raise SystemExit(main())
