"""``python -m terrafusion_sync``."""

from terrafusion_sync.cli import main

raise SystemExit(main())
