"""Koppel's one typed settings object (DESIGN.md #8)."""

from config.settings import Settings, get_settings

__all__ = ["Settings", "get_settings"]
