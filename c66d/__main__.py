from c66d.cli import main

raise SystemExit(main())
