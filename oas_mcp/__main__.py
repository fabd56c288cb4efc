from oas_mcp.cli import main

raise SystemExit(main())
