"""Configuration: one settings class, read once at start and passed down."""

from config.settings import Settings, get_settings

__all__ = ["Settings", "get_settings"]
