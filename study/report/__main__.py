from study.report.cli import main

raise SystemExit(main())
