from study.run import main

raise SystemExit(main())
