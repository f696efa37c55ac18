"""Koppel's one typed settings object (docs/architecture.md#configuration)."""

from config.settings import Settings, get_settings

__all__ = ["Settings", "get_settings"]
