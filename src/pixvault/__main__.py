from pixvault.cli import main

raise SystemExit(main())
