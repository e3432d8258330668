from __future__ import annotations

from study.report.cli import main

raise SystemExit(main())
