"""``python -m terrafusion_sync``."""

from terrafusion_sync.cli import entry_point

entry_point()
